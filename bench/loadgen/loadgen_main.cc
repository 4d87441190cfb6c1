// seqsim-loadgen: the load of issue 15 against a live seqsim cluster (REST,
// keep-alive, one connection per client worker, workers round-robin over the
// nodes) or against etcd (v3 gRPC, workers round-robin over the members).
//
//   seqsim-loadgen p1       read then CAS, closed loop, for --seconds
//   seqsim-loadgen bulk     NDJSON batches from --senders, then every
//                           acknowledged id read back
//   seqsim-loadgen failover a write every --interval_ms through a node (member)
//                           that is not the primary (leader), SIGKILL/SIGSTOP
//                           of the primary's node (leader) after --before_s,
//                           time to the first acknowledgement under a higher
//                           term
//
// A progress line goes to stderr every second; one summary line to stdout at
// the end (key=value, or JSON with --json). Exit status 0 when the run
// completed (errors are counted, not fatal), 2 on bad flags, 1 when the run
// could not be done.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/loadgen/http_client.h"
#include "bench/loadgen/store.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, target, "seqsim", "seqsim or etcd");
ABSL_FLAG(std::string, nodes,
          "http://127.0.0.1:9200,http://127.0.0.1:9201,http://127.0.0.1:9202",
          "Comma-separated endpoints: seqsim REST URLs, or etcd client "
          "addresses (HOST:PORT)");
ABSL_FLAG(std::string, index, "",
          "seqsim index / etcd key prefix (default: lg-MODE-<unix time>)");
ABSL_FLAG(bool, create, true, "seqsim: create the index first and wait green");
ABSL_FLAG(int32_t, shards, 1, "seqsim: number_of_shards of the created index");
ABSL_FLAG(int32_t, replicas, 2,
          "seqsim: number_of_replicas of the created index");
ABSL_FLAG(int32_t, clients, 64, "p1: client workers (one connection each)");
ABSL_FLAG(int32_t, docs, -1,
          "p1: distinct documents (default 1000); bulk: documents to load "
          "(default 200000)");
ABSL_FLAG(int32_t, doc_bytes, -1,
          "Size of each document's source (default p1 100, bulk 200)");
ABSL_FLAG(double, seconds, 10, "p1: length of the measured window");
ABSL_FLAG(int32_t, batch, 1000, "bulk: documents per request");
ABSL_FLAG(int32_t, senders, 4, "bulk: concurrent senders");
ABSL_FLAG(bool, verify, true, "bulk/failover: read back every acked id");
ABSL_FLAG(int32_t, interval_ms, 5, "failover: one write every N ms");
ABSL_FLAG(std::string, signal, "kill",
          "failover: kill (SIGKILL) or stop "
          "(SIGSTOP, SIGCONT at the end)");
ABSL_FLAG(std::string, pids, "",
          "failover: comma-separated pids of the --nodes processes, same "
          "order (empty: no signal, a fault-free run)");
ABSL_FLAG(double, before_s, 1, "failover: writes before the signal");
ABSL_FLAG(double, after_s, 3, "failover: writes after the signal");
ABSL_FLAG(int32_t, max_inflight, 1000, "failover: writes in flight at most");
ABSL_FLAG(double, timeout_s, 30, "Per-request timeout (failover: patience)");
ABSL_FLAG(bool, json, false, "Print the summary as one JSON object");
ABSL_FLAG(bool, progress, true, "Print a progress line every second");
ABSL_FLAG(int32_t, seed, 1, "Seed of the workers' key choice");

namespace seqsim::loadgen {
namespace {

using json = nlohmann::json;

struct Latencies {
  std::vector<int64_t> us;
  void Add(absl::Duration d) { us.push_back(absl::ToInt64Microseconds(d)); }
  void Merge(const Latencies& o) {
    us.insert(us.end(), o.us.begin(), o.us.end());
  }
  // Percentile in ms (q in [0,1]); sorts in place.
  double Ms(double q) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    size_t i = std::min(
        us.size() - 1, static_cast<size_t>(q * static_cast<double>(us.size())));
    if (q >= 1) i = us.size() - 1;
    return static_cast<double>(us[i]) / 1000.0;
  }
};

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double LoadAverage() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

std::string Source(int64_t n, int bytes) {
  std::string s = absl::StrCat("{\"n\":", n, ",\"pad\":\"");
  int pad = bytes - static_cast<int>(s.size()) - 2;
  s.append(static_cast<size_t>(std::max(pad, 1)), 'x');
  s.append("\"}");
  return s;
}

// Prints `line()` to stderr once a second until stopped.
class Progress {
 public:
  template <typename F>
  explicit Progress(F line) {
    if (!absl::GetFlag(FLAGS_progress)) return;
    thread_ = std::thread([this, line] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, std::chrono::seconds(1),
                           [this] { return done_; })) {
        std::fprintf(stderr, "%s\n", line().c_str());
      }
    });
  }
  ~Progress() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

void PrintSummary(const std::string& mode, const json& j) {
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << j.dump() << std::endl;
    return;
  }
  std::string line = absl::StrCat("seqsim-loadgen ", mode);
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::string v = it.value().is_string() ? it.value().get<std::string>()
                                           : it.value().dump();
    absl::StrAppend(&line, " ", it.key(), "=", v);
  }
  std::cout << line << std::endl;
}

// ---- p1: read then CAS ----------------------------------------------------

int RunP1(Store& store) {
  const int clients = absl::GetFlag(FLAGS_clients);
  const int docs =
      absl::GetFlag(FLAGS_docs) > 0 ? absl::GetFlag(FLAGS_docs) : 1000;
  const int doc_bytes =
      absl::GetFlag(FLAGS_doc_bytes) > 0 ? absl::GetFlag(FLAGS_doc_bytes) : 100;
  const absl::Duration window = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  if (clients < 1 || docs < 1 || window <= absl::ZeroDuration()) {
    std::cerr << "seqsim-loadgen: p1 needs --clients, --docs, --seconds > 0\n";
    return 2;
  }
  std::atomic<int64_t> cycles{0}, oks{0}, conflicts{0}, errors{0};
  std::atomic<bool> stop{false};
  std::vector<Latencies> cas_lat(clients), read_lat(clients);
  std::vector<int64_t> connects(clients, 0);
  std::mutex err_mu;
  std::string first_error;
  const double cpu0 = CpuSeconds();
  const absl::Time start = absl::Now();
  const absl::Time end = start + window;
  std::vector<std::thread> workers;
  for (int w = 0; w < clients; ++w) {
    workers.emplace_back([&, w] {
      std::unique_ptr<Session> s = store.NewSession(w);
      std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 1000003 + w);
      std::uniform_int_distribution<int> pick(0, docs - 1);
      int64_t n = 0;
      auto note_error = [&](const std::string& e) {
        errors.fetch_add(1);
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.empty()) first_error = e;
      };
      while (!stop.load(std::memory_order_relaxed) && absl::Now() < end) {
        std::string key = absl::StrFormat("k%06d", pick(rng));
        absl::Time t0 = absl::Now();
        absl::StatusOr<Seen> seen = s->Read(key);
        absl::Time t1 = absl::Now();
        if (!seen.ok()) {
          note_error(absl::StrCat("read: ", seen.status().message()));
          continue;
        }
        read_lat[w].Add(t1 - t0);
        WriteResult r =
            s->CompareAndSet(key, *seen, Source(++n * clients + w, doc_bytes));
        absl::Time t2 = absl::Now();
        if (r.outcome == Outcome::kError) {
          note_error(absl::StrCat("cas: ", r.error));
          continue;
        }
        cas_lat[w].Add(t2 - t1);
        (r.outcome == Outcome::kOk ? oks : conflicts).fetch_add(1);
        if (t2 <= end) cycles.fetch_add(1);
      }
      connects[w] = s->connects();
    });
  }
  Progress progress([&] {
    double t = absl::ToDoubleSeconds(absl::Now() - start);
    return absl::StrFormat(
        "[p1 %s %5.1fs] cycles %d (%.0f/s) ok %d conflicts %d errors %d",
        store.name(), t, cycles.load(), cycles.load() / std::max(t, 1e-3),
        oks.load(), conflicts.load(), errors.load());
  });
  absl::SleepFor(window);
  stop = true;
  for (std::thread& t : workers) t.join();
  progress.Stop();
  const absl::Duration elapsed = absl::Now() - start;
  Latencies cas, read;
  for (int w = 0; w < clients; ++w) {
    cas.Merge(cas_lat[w]);
    read.Merge(read_lat[w]);
  }
  int64_t conns = 0;
  for (int64_t c : connects) conns += c;
  json j;
  j["target"] = store.name();
  j["clients"] = clients;
  j["docs"] = docs;
  j["window_s"] = absl::ToDoubleSeconds(window);
  j["cycles"] = cycles.load();
  j["cycles_per_s"] = std::round(cycles.load() / absl::ToDoubleSeconds(window));
  j["ok"] = oks.load();
  j["conflicts"] = conflicts.load();
  j["errors"] = errors.load();
  j["cas_p50_ms"] = std::round(cas.Ms(0.5) * 10) / 10;
  j["cas_p99_ms"] = std::round(cas.Ms(0.99) * 10) / 10;
  j["cas_max_ms"] = std::round(cas.Ms(1.0) * 10) / 10;
  j["read_p50_ms"] = std::round(read.Ms(0.5) * 10) / 10;
  j["read_p99_ms"] = std::round(read.Ms(0.99) * 10) / 10;
  j["drain_s"] =
      std::round(absl::ToDoubleSeconds(elapsed - window) * 100) / 100;
  j["connections"] = conns;
  j["client_cpu_s"] = std::round((CpuSeconds() - cpu0) * 100) / 100;
  j["load_avg"] = LoadAverage();
  if (!first_error.empty()) j["first_error"] = first_error.substr(0, 200);
  PrintSummary("p1", j);
  return 0;
}

// ---- bulk -------------------------------------------------------------------

std::string DocId(int64_t i) { return absl::StrFormat("d%09d", i); }

int RunBulk(Store& store) {
  const int64_t docs =
      absl::GetFlag(FLAGS_docs) > 0 ? absl::GetFlag(FLAGS_docs) : 200000;
  const int doc_bytes =
      absl::GetFlag(FLAGS_doc_bytes) > 0 ? absl::GetFlag(FLAGS_doc_bytes) : 200;
  const int batch = absl::GetFlag(FLAGS_batch);
  const int senders = absl::GetFlag(FLAGS_senders);
  if (batch < 1 || senders < 1) {
    std::cerr << "seqsim-loadgen: bulk needs --batch and --senders > 0\n";
    return 2;
  }
  const int64_t batches = (docs + batch - 1) / batch;
  std::vector<std::vector<bool>> acked(static_cast<size_t>(batches));
  std::atomic<int64_t> next{0}, items_ok{0}, items_failed{0}, request_errors{0};
  std::vector<Latencies> lat(senders);
  std::mutex err_mu;
  std::string first_error;
  const double cpu0 = CpuSeconds();
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < senders; ++w) {
    threads.emplace_back([&, w] {
      std::unique_ptr<Session> s = store.NewSession(w);
      std::vector<std::pair<std::string, std::string>> items;
      for (int64_t b; (b = next.fetch_add(1)) < batches;) {
        items.clear();
        for (int64_t i = b * batch; i < std::min(docs, (b + 1) * batch); ++i)
          items.emplace_back(DocId(i), Source(i, doc_bytes));
        absl::Time t0 = absl::Now();
        BulkResult r = s->Bulk(items);
        lat[w].Add(absl::Now() - t0);
        acked[b] = r.item_ok;
        int64_t ok = std::count(r.item_ok.begin(), r.item_ok.end(), true);
        items_ok += ok;
        items_failed += static_cast<int64_t>(items.size()) - ok;
        if (!r.status.ok()) ++request_errors;
        std::lock_guard<std::mutex> lock(err_mu);
        if (first_error.empty() && !r.status.ok())
          first_error = std::string(r.status.message());
        if (first_error.empty() && !r.first_item_error.empty())
          first_error = r.first_item_error;
      }
    });
  }
  {
    Progress progress([&] {
      double t = absl::ToDoubleSeconds(absl::Now() - start);
      return absl::StrFormat(
          "[bulk %s %5.1fs] acked %d (%.0f docs/s) failed %d", store.name(), t,
          items_ok.load(), items_ok.load() / std::max(t, 1e-3),
          items_failed.load());
    });
    for (std::thread& t : threads) t.join();
  }
  const double load_s = absl::ToDoubleSeconds(absl::Now() - start);
  const double load_cpu = CpuSeconds() - cpu0;
  // Read back every acknowledged id, a batch at a time, from every endpoint
  // in turn.
  int64_t verified = 0, missing = 0, verify_errors = 0;
  double verify_s = 0;
  if (absl::GetFlag(FLAGS_verify)) {
    absl::Time v0 = absl::Now();
    std::atomic<int64_t> vnext{0}, vpresent{0}, vmissing{0}, verrs{0};
    std::vector<std::thread> checkers;
    for (int w = 0; w < senders; ++w) {
      checkers.emplace_back([&, w] {
        std::unique_ptr<Session> s = store.NewSession(w);
        std::vector<std::string> ids;
        for (int64_t b; (b = vnext.fetch_add(1)) < batches;) {
          ids.clear();
          for (size_t i = 0; i < acked[b].size(); ++i)
            if (acked[b][i])
              ids.push_back(DocId(b * batch + static_cast<int64_t>(i)));
          if (ids.empty()) continue;
          absl::StatusOr<int64_t> n = s->CountPresent(ids);
          if (!n.ok()) {
            ++verrs;
            vmissing += static_cast<int64_t>(ids.size());
            std::lock_guard<std::mutex> lock(err_mu);
            if (first_error.empty())
              first_error = absl::StrCat("verify: ", n.status().message());
            continue;
          }
          vpresent += *n;
          vmissing += static_cast<int64_t>(ids.size()) - *n;
        }
      });
    }
    for (std::thread& t : checkers) t.join();
    verified = vpresent;
    missing = vmissing;
    verify_errors = verrs;
    verify_s = absl::ToDoubleSeconds(absl::Now() - v0);
  }
  Latencies all;
  for (auto& l : lat) all.Merge(l);
  json j;
  j["target"] = store.name();
  j["docs"] = docs;
  j["doc_bytes"] = doc_bytes;
  j["batch"] = batch;
  j["senders"] = senders;
  j["acked"] = items_ok.load();
  j["item_failures"] = items_failed.load();
  j["request_errors"] = request_errors.load();
  j["load_s"] = std::round(load_s * 100) / 100;
  j["docs_per_s"] = std::round(items_ok.load() / load_s);
  j["batch_p50_ms"] = std::round(all.Ms(0.5) * 10) / 10;
  j["batch_max_ms"] = std::round(all.Ms(1.0) * 10) / 10;
  if (absl::GetFlag(FLAGS_verify)) {
    j["verified"] = verified;
    j["missing"] = missing;
    j["verify_errors"] = verify_errors;
    j["verify_s"] = std::round(verify_s * 100) / 100;
  }
  j["client_cpu_s"] = std::round(load_cpu * 100) / 100;
  j["load_avg"] = LoadAverage();
  if (!first_error.empty()) j["first_error"] = first_error.substr(0, 200);
  PrintSummary("bulk", j);
  return 0;
}

// ---- failover ---------------------------------------------------------------

struct Ack {
  absl::Time sent;
  absl::Time answered;
  Outcome outcome;
  int64_t term;
  int64_t seq;
};

int RunFailover(Store& store) {
  const absl::Duration interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_interval_ms));
  const int max_inflight = absl::GetFlag(FLAGS_max_inflight);
  const std::string signal_name = absl::GetFlag(FLAGS_signal);
  if (signal_name != "kill" && signal_name != "stop") {
    std::cerr << "seqsim-loadgen: --signal must be kill or stop\n";
    return 2;
  }
  std::vector<pid_t> pids;
  for (absl::string_view p :
       absl::StrSplit(absl::GetFlag(FLAGS_pids), ',', absl::SkipEmpty())) {
    int32_t pid = 0;
    if (!absl::SimpleAtoi(p, &pid) || pid <= 1) {
      std::cerr << "seqsim-loadgen: bad pid in --pids: " << p << "\n";
      return 2;
    }
    pids.push_back(pid);
  }
  if (!pids.empty() && static_cast<int>(pids.size()) != store.endpoints()) {
    std::cerr << "seqsim-loadgen: --pids needs one pid per --nodes endpoint\n";
    return 2;
  }
  absl::StatusOr<Leader> leader = store.FindLeader();
  if (!leader.ok()) {
    std::cerr << "seqsim-loadgen: " << leader.status().message() << "\n";
    return 1;
  }
  const int writer_endpoint = (leader->endpoint + 1) % store.endpoints();
  const int signal_number = signal_name == "kill" ? SIGKILL : SIGSTOP;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int64_t, absl::Time>> queue;  // guarded by mu
  bool closing = false;                              // guarded by mu
  int idle = 0;                                      // guarded by mu
  std::vector<Ack> acks;                             // guarded by mu
  std::atomic<int64_t> sent{0}, skipped{0}, answered{0}, errors{0};
  std::string first_error;  // guarded by mu
  std::vector<std::thread> workers;
  auto worker_main = [&] {
    std::unique_ptr<Session> s = store.NewSession(writer_endpoint);
    for (;;) {
      std::pair<int64_t, absl::Time> tick;
      {
        std::unique_lock<std::mutex> lock(mu);
        ++idle;
        cv.wait(lock, [&] { return closing || !queue.empty(); });
        --idle;
        if (queue.empty()) return;
        tick = queue.front();
        queue.pop_front();
      }
      WriteResult r = s->Put(DocId(tick.first), Source(tick.first, 100));
      absl::Time now = absl::Now();
      ++answered;
      std::lock_guard<std::mutex> lock(mu);
      if (r.outcome != Outcome::kOk) {
        ++errors;
        if (first_error.empty()) first_error = r.error;
      }
      acks.push_back(Ack{tick.second, now, r.outcome, r.term, tick.first});
    }
  };
  const absl::Time start = absl::Now();
  const absl::Time signal_at =
      start + absl::Seconds(absl::GetFlag(FLAGS_before_s));
  const absl::Time stop_at =
      signal_at + absl::Seconds(absl::GetFlag(FLAGS_after_s));
  absl::Time signalled = absl::InfinitePast();
  Progress progress([&] {
    return absl::StrFormat(
        "[failover %s %5.1fs] sent %d answered %d errors %d skipped %d",
        store.name(), absl::ToDoubleSeconds(absl::Now() - start), sent.load(),
        answered.load(), errors.load(), skipped.load());
  });
  int64_t seq = 0;
  for (absl::Time tick = start; tick < stop_at; tick += interval) {
    absl::SleepFor(tick - absl::Now());
    if (!pids.empty() && signalled == absl::InfinitePast() &&
        absl::Now() >= signal_at) {
      kill(pids[leader->endpoint], signal_number);
      signalled = absl::Now();
    }
    std::lock_guard<std::mutex> lock(mu);
    int64_t inflight = sent.load() - answered.load();
    if (inflight >= max_inflight) {
      ++skipped;
      continue;
    }
    queue.emplace_back(seq++, absl::Now());
    ++sent;
    if (idle == 0) workers.emplace_back(worker_main);
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    closing = true;
  }
  cv.notify_all();
  for (std::thread& t : workers) t.join();  // bounded by --timeout_s
  progress.Stop();
  if (signal_number == SIGSTOP && signalled != absl::InfinitePast())
    kill(pids[leader->endpoint], SIGCONT);

  // Term before the signal: the highest term acknowledged before it.
  int64_t term_before = leader->term;
  for (const Ack& a : acks)
    if (a.outcome == Outcome::kOk && a.answered < signalled)
      term_before = std::max(term_before, a.term);
  absl::Time first_new = absl::InfiniteFuture();
  int64_t ok = 0, new_term = term_before;
  Latencies lat;
  std::vector<std::string> acked_ids;
  for (const Ack& a : acks) {
    lat.Add(a.answered - a.sent);
    if (a.outcome != Outcome::kOk) continue;
    ++ok;
    acked_ids.push_back(DocId(a.seq));
    if (a.term > term_before && a.answered < first_new) {
      first_new = a.answered;
      new_term = a.term;
    }
  }
  int64_t missing = -1;
  if (absl::GetFlag(FLAGS_verify)) {
    std::unique_ptr<Session> s = store.NewSession(writer_endpoint);
    missing = 0;
    for (size_t i = 0; i < acked_ids.size(); i += 1000) {
      std::vector<std::string> chunk(
          acked_ids.begin() + i,
          acked_ids.begin() + std::min(acked_ids.size(), i + 1000));
      absl::StatusOr<int64_t> n = s->CountPresent(chunk);
      missing += n.ok() ? static_cast<int64_t>(chunk.size()) - *n
                        : static_cast<int64_t>(chunk.size());
    }
  }
  json j;
  j["target"] = store.name();
  j["signal"] = pids.empty() ? "none" : signal_name;
  j["victim"] = leader->name;
  j["term_before"] = term_before;
  j["term_after"] = new_term;
  if (signalled != absl::InfinitePast() && first_new != absl::InfiniteFuture())
    j["failover_ms"] =
        std::round(absl::ToDoubleMilliseconds(first_new - signalled) * 10) / 10;
  else
    j["failover_ms"] = nullptr;
  j["sent"] = sent.load();
  j["acked"] = ok;
  j["errors"] = errors.load();
  j["unanswered"] = sent.load() - answered.load();
  j["skipped"] = skipped.load();
  j["write_p50_ms"] = std::round(lat.Ms(0.5) * 10) / 10;
  j["write_max_ms"] = std::round(lat.Ms(1.0) * 10) / 10;
  if (missing >= 0) j["acked_missing"] = missing;
  j["load_avg"] = LoadAverage();
  if (!first_error.empty()) j["first_error"] = first_error.substr(0, 200);
  PrintSummary("failover", j);
  return 0;
}

}  // namespace
}  // namespace seqsim::loadgen

int main(int argc, char** argv) {
  using namespace seqsim::loadgen;
  absl::SetProgramUsageMessage(
      "seqsim-loadgen p1|bulk|failover [--target=seqsim|etcd] [--nodes=...] "
      "[flags]: the load of issue 15 (see bench/README.md)");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    std::cerr << "usage: seqsim-loadgen p1|bulk|failover [flags] (--help)\n";
    return 2;
  }
  const std::string mode = args[1];
  if (mode != "p1" && mode != "bulk" && mode != "failover") {
    std::cerr << "seqsim-loadgen: unknown mode '" << mode
              << "' (p1, bulk or failover)\n";
    return 2;
  }
  StoreOptions options;
  for (absl::string_view e :
       absl::StrSplit(absl::GetFlag(FLAGS_nodes), ',', absl::SkipEmpty()))
    options.endpoints.emplace_back(e);
  if (options.endpoints.empty()) {
    std::cerr << "seqsim-loadgen: --nodes is empty\n";
    return 2;
  }
  options.space = absl::GetFlag(FLAGS_index);
  if (options.space.empty())
    options.space =
        absl::StrCat("lg-", mode, "-", absl::ToUnixSeconds(absl::Now()));
  options.timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));
  const std::string target = absl::GetFlag(FLAGS_target);
  std::unique_ptr<Store> store;
  if (target == "seqsim") {
    for (const std::string& e : options.endpoints) {
      if (!ParseHostPort(e).ok()) {
        std::cerr << "seqsim-loadgen: bad --nodes entry '" << e << "'\n";
        return 2;
      }
    }
    store = NewSeqsimStore(options);
  } else if (target == "etcd") {
    store = NewEtcdStore(options);
  } else {
    std::cerr << "seqsim-loadgen: --target must be seqsim or etcd\n";
    return 2;
  }
  if (target == "etcd" || absl::GetFlag(FLAGS_create)) {
    absl::Status s = store->Prepare(absl::GetFlag(FLAGS_shards),
                                    absl::GetFlag(FLAGS_replicas));
    if (!s.ok()) {
      std::cerr << "seqsim-loadgen: " << s.message() << "\n";
      return 1;
    }
  }
  if (mode == "p1") return RunP1(*store);
  if (mode == "bulk") return RunBulk(*store);
  return RunFailover(*store);
}
