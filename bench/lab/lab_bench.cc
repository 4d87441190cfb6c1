// Lab benchmarks: how fast the simulator delivers messages, how much faster
// than real time a whole-cluster run goes, and how long the checker takes on a
// 100k-operation history.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "sim/checker/checker.h"
#include "sim/checker/history.h"
#include "sim/lab/lab.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Keeps `window` RPCs in flight to the next actor of the ring, forever.
class PingActor final : public Actor {
 public:
  PingActor(Env* env, std::string next, int window)
      : env_(env), next_(std::move(next)), window_(window) {}
  void Start() override {
    for (int i = 0; i < window_; ++i) Ping();
  }
  void Handle(const pb::Envelope& request, RespondFn respond) override {
    pb::Envelope reply;
    reply.mutable_write_response()->set_id(request.write().id());
    respond(std::move(reply));
  }
  void Flush() override {}

 private:
  void Ping() {
    pb::Envelope request;
    request.mutable_write()->set_index("bench");
    request.mutable_write()->set_id("doc");
    env_->Send(next_, std::move(request),
               [this](const absl::StatusOr<pb::Envelope>&) { Ping(); });
  }
  Env* env_;
  std::string next_;
  int window_;
};

// Raw SimWorld: request + reply deliveries through the wire form, per CPU
// second.
void BM_WorldDeliveries(benchmark::State& state) {
  uint64_t deliveries = 0;
  double virtual_seconds = 0;
  double real_seconds = 0;
  for (auto _ : state) {
    SimWorld world(1);
    for (int n = 1; n <= 3; ++n) {
      const std::string next = absl::StrCat("node-", n % 3 + 1);
      world.AddActor(absl::StrCat("node-", n), [next](Env* env) {
        return std::make_unique<PingActor>(env, next, 8);
      });
    }
    const auto start = std::chrono::steady_clock::now();
    world.RunUntil(absl::Seconds(10));
    real_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    deliveries += world.deliveries();
    virtual_seconds += 10;
  }
  state.counters["deliveries_per_sec"] = benchmark::Counter(
      static_cast<double>(deliveries), benchmark::Counter::kIsRate);
  state.counters["virtual_real_ratio"] = virtual_seconds / real_seconds;
}
BENCHMARK(BM_WorldDeliveries)->Unit(benchmark::kMillisecond);

// A whole lab run (3 nodes, coordinator, 4 clients, 4 s of traffic) with the
// given nemesis; arg 1 = invariants after every event, 0 = only the final
// checks.
void BM_LabRun(benchmark::State& state, const std::string& nemesis) {
  uint64_t events = 0, deliveries = 0;
  double virtual_seconds = 0, real_seconds = 0, cpu_seconds = 0;
  uint64_t seed = 1;
  for (auto _ : state) {
    LabConfig config;
    config.seed = seed++;
    config.nemesis = nemesis;
    config.check_every_event = state.range(0) != 0;
    const double cpu_start = ThreadCpuSeconds();
    const LabResult r = RunLab(config);
    cpu_seconds += ThreadCpuSeconds() - cpu_start;
    events += r.events;
    deliveries += r.deliveries;
    virtual_seconds += r.virtual_ns / 1e9;
    real_seconds += r.wall_seconds;
  }
  state.counters["events_per_sec"] = benchmark::Counter(
      static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["deliveries_per_sec"] = benchmark::Counter(
      static_cast<double>(deliveries), benchmark::Counter::kIsRate);
  state.counters["virtual_real_ratio"] = virtual_seconds / real_seconds;
  // Virtual time per CPU second of this thread: what the run costs, whatever
  // else the (shared) machine is doing.
  state.counters["virtual_cpu_ratio"] = virtual_seconds / cpu_seconds;
}
BENCHMARK_CAPTURE(BM_LabRun, none, std::string("none"))
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_LabRun, all, std::string("all"))
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond);

// A linearizable history of `ops` operations on 5 keys by 8 processes whose
// operations overlap their neighbours' (reads, writes and CAS on a real
// register). With `claims`, half the CAS expect an overwritten value and
// fail with result "conflict" (a claim the checker verifies), and 2% of the
// writes time out ("info") after taking effect.
std::vector<HistoryEvent> MakeHistory(int ops, bool claims = false) {
  Rng rng(42);
  std::vector<int64_t> value(5, kNil);
  std::vector<int64_t> previous(5, kNil);
  struct Timed {
    int64_t time;
    int64_t order;
    HistoryEvent e;
  };
  std::vector<Timed> events;
  int64_t next_value = 1;
  for (int i = 0; i < ops; ++i) {
    const int64_t lin = 10LL * i;
    const int key = static_cast<int>(rng.Below(5));
    HistoryEvent inv;
    inv.process = i % 8;
    inv.key = absl::StrCat("k", key);
    const uint64_t r = rng.Below(3);
    HistoryEvent done = inv;
    done.type = EventType::kOk;
    if (r == 0 || value[key] == kNil) {
      inv.f = Fn::kRead;
      done.f = Fn::kRead;
      done.value = value[key];
    } else if (r == 1) {
      inv.f = done.f = Fn::kWrite;
      inv.value = done.value = next_value++;
      previous[key] = value[key];
      value[key] = inv.value;
      if (claims && rng.Below(50) == 0) done.type = EventType::kInfo;
    } else if (claims && previous[key] != kNil && rng.Below(2) == 0) {
      inv.f = done.f = Fn::kCas;
      inv.expected = done.expected = previous[key];
      inv.value = done.value = next_value++;
      done.type = EventType::kFail;
      done.outcome = Outcome::kConflict;
    } else {
      inv.f = done.f = Fn::kCas;
      inv.expected = done.expected = value[key];
      inv.value = done.value = next_value++;
      previous[key] = value[key];
      value[key] = inv.value;
    }
    inv.time = lin - rng.Range(0, 35);
    done.time = lin + rng.Range(0, 35);
    events.push_back({inv.time, 2LL * i, inv});
    events.push_back({done.time, 2LL * i + 1, done});
  }
  std::sort(events.begin(), events.end(), [](const Timed& a, const Timed& b) {
    return a.time != b.time ? a.time < b.time : a.order < b.order;
  });
  std::vector<HistoryEvent> history;
  history.reserve(events.size());
  for (auto& t : events) history.push_back(std::move(t.e));
  return history;
}

void BM_Checker(benchmark::State& state) {
  const std::vector<HistoryEvent> history =
      MakeHistory(static_cast<int>(state.range(0)), state.range(1) != 0);
  for (auto _ : state) {
    const CheckResult r = CheckLinearizable(history, absl::Seconds(60));
    if (r.verdict != Verdict::kLinearizable)
      state.SkipWithError(r.explanation.c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
// Arg 1: 1 = with CAS conflicts and timed-out writes (see MakeHistory).
BENCHMARK(BM_Checker)
    ->Args({10000, 0})
    ->Args({100000, 0})
    ->Args({10000, 1})
    ->Args({100000, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace seqsim::sim

BENCHMARK_MAIN();
