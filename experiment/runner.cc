#include "experiment/runner.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "experiment/checks.h"
#include "experiment/cluster.h"
#include "experiment/history_recorder.h"
#include "experiment/monitor.h"
#include "experiment/nemesis.h"
#include "experiment/report.h"
#include "experiment/workload.h"
#include "nlohmann/json.hpp"
#include "sim/timeline/render.h"

namespace seqsim::experiment {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr char kIndex[] = "experiment";

std::atomic<int> interrupted{0};

void OnSignal(int signal_number) {
  interrupted = signal_number;
  // A second one ends the runner at once (the children die with it).
  ::signal(signal_number, SIG_DFL);
}

std::string BinDirOfSelf() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return self.parent_path().string();
}

std::string DefaultOut(const ExperimentOptions& o) {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
  return absl::StrCat("experiments/", o.workload, "-seed", o.seed, "-", stamp);
}

void Progress(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

struct Counts {
  int64_t invoked = 0, ok = 0, fail = 0, info = 0;
};

Counts CountOps(const std::vector<CompletedOp>& ops, int64_t invoked) {
  Counts c;
  c.invoked = invoked;
  for (const CompletedOp& op : ops) {
    if (op.type == sim::EventType::kOk) {
      ++c.ok;
    } else if (op.type == sim::EventType::kFail) {
      ++c.fail;
    } else {
      ++c.info;
    }
  }
  return c;
}

Json ValidJson(CheckStatus status) {
  if (status == CheckStatus::kPass) return true;
  if (status == CheckStatus::kFail) return false;
  return "unknown";
}

Json ScheduleJson(const std::vector<PlannedFault>& schedule) {
  Json out = Json::array();
  for (const PlannedFault& f : schedule) {
    Json j = {{"start_ms", f.start_ms},
              {"end_ms", f.end_ms},
              {"fault", f.kind},
              {"target", f.target}};
    if (f.kind == "delay") j["delay_ms"] = f.delay_ms;
    if (f.kind == "drop" || f.kind == "duplicate")
      j["probability"] = f.probability;
    out.push_back(j);
  }
  return out;
}

}  // namespace

std::string ScheduleText(const ExperimentOptions& o) {
  std::string text;
  for (const Json& j : ScheduleJson(
           PlanSchedule(o.nemesis, o.seed, o.time, o.nemesis_interval)))
    absl::StrAppend(&text, j.dump(), "\n");
  return text;
}

int RunExperiment(const ExperimentOptions& o) {
  interrupted = 0;
  ::signal(SIGINT, OnSignal);
  ::signal(SIGTERM, OnSignal);
  ::signal(SIGPIPE, SIG_IGN);

  const std::string out = o.out.empty() ? DefaultOut(o) : o.out;
  std::error_code ec;
  fs::create_directories(out + "/logs", ec);
  if (ec) {
    Progress(absl::StrCat("seqsim-experiment: cannot create ", out, ": ",
                          ec.message()));
    return kExitUnknown;
  }
  const std::string flags = ReplayFlags(o);
  Progress(absl::StrCat("seqsim-experiment: ", flags, " -> ", out));

  Json results;
  results["valid"] = "unknown";
  results["workload"] = o.workload;
  results["nemesis"] = o.nemesis;
  results["seed"] = o.seed;
  results["unsafe"] = o.unsafe;
  results["time_s"] = absl::ToDoubleSeconds(o.time);
  results["clients"] = o.clients;
  results["rate"] = o.rate;
  results["keys"] = o.keys;
  results["nemesis_interval_s"] = absl::ToDoubleSeconds(o.nemesis_interval);
  results["nodes"] = o.nodes;
  results["shards"] = o.shards;
  results["replicas"] = o.replicas;
  results["replay"] = absl::StrCat("scripts/experiment.sh ", flags);

  auto finish_unknown = [&](const std::string& why) {
    results["valid"] = "unknown";
    results["error"] = why;
    (void)WriteFile(out + "/results.json", results.dump(2) + "\n");
    Progress(absl::StrCat("seqsim-experiment: UNKNOWN: ", why, " (", out,
                          "/results.json)"));
    return kExitUnknown;
  };

  ClusterOptions cluster_options;
  cluster_options.nodes = o.nodes;
  cluster_options.bin_dir = o.bin_dir.empty() ? BinDirOfSelf() : o.bin_dir;
  cluster_options.data_dir = out + "/data";
  cluster_options.log_dir = out + "/logs";
  cluster_options.unsafe = o.unsafe;
  cluster_options.heartbeat_timeout_ms = o.heartbeat_timeout_ms;
  cluster_options.attach = o.attach;
  cluster_options.identity_file = o.cluster_identity;
  ExperimentCluster cluster(cluster_options);
  if (absl::Status s = cluster.Start(absl::Seconds(60)); !s.ok())
    return finish_unknown(absl::StrCat("cluster start: ", s.message()));
  if (absl::Status s = cluster.CreateIndex(kIndex, o.shards, o.replicas);
      !s.ok()) {
    return finish_unknown(absl::StrCat("create index: ", s.message()));
  }
  if (!cluster.WaitGreen(absl::Seconds(60)))
    return finish_unknown("the index did not become green");
  Progress(absl::StrCat("cluster green: coordinator ",
                        cluster.CoordinatorAddress(), ", ", cluster.nodes(),
                        " nodes, index ", kIndex, " (", o.shards, " shard(s), ",
                        o.replicas, " replica(s))",
                        o.unsafe.empty() ? "" : ", UNSAFE=" + o.unsafe));

  HistoryRecorder recorder;
  std::vector<std::string> rest;
  for (const std::string& node : cluster.node_ids())
    rest.push_back(cluster.RestAddress(node));
  WorkloadOptions wo;
  wo.kind = o.workload;
  wo.index = kIndex;
  wo.clients = o.clients;
  wo.keys = o.keys;
  wo.rate = o.rate;
  wo.request_timeout = o.request_timeout;
  wo.seed = o.seed;
  wo.bulk_size = o.bulk_size;
  wo.shards = o.shards;
  Workload workload(wo, rest, &recorder);
  if (absl::Status s = workload.Setup(); !s.ok())
    return finish_unknown(std::string(s.message()));

  const std::vector<PlannedFault> schedule =
      PlanSchedule(o.nemesis, o.seed, o.time, o.nemesis_interval);
  results["schedule"] = ScheduleJson(schedule);
  Nemesis nemesis(&cluster, &recorder, kIndex, o.shards, schedule);
  Monitor monitor(&cluster, &recorder, kIndex);
  monitor.Start();

  // The workload and the faults.
  const int64_t workload_start_ns = recorder.NowNs();
  const absl::Time start = absl::Now();
  workload.Start();
  std::vector<std::string> crashes;
  absl::Time next_progress = start + absl::Seconds(2);
  while (interrupted == 0) {
    const absl::Duration elapsed = absl::Now() - start;
    if (elapsed >= o.time) break;
    nemesis.Tick(elapsed);
    for (std::string& crash : cluster.CheckCrashes())
      crashes.push_back(std::move(crash));
    if (absl::Now() >= next_progress) {
      next_progress += absl::Seconds(2);
      std::vector<CompletedOp> ops = PairOperations(recorder.Events(), 0);
      Counts c = CountOps(ops, workload.ops_started());
      Progress(absl::StrFormat(
          "[%5.1fs/%gs] ops %d: ok %d, fail %d, info %d | faults %d | now: %s",
          absl::ToDoubleSeconds(elapsed), absl::ToDoubleSeconds(o.time),
          c.ok + c.fail + c.info, c.ok, c.fail, c.info,
          nemesis.faults_started(), nemesis.Active()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  workload.Stop();
  const int64_t workload_end_ns = recorder.NowNs();
  Progress(absl::StrCat("workload stopped after ",
                        absl::FormatDuration(absl::Now() - start),
                        "; healing every fault"));
  nemesis.HealAll();
  if (interrupted != 0) {
    monitor.Stop();
    cluster.Shutdown();
    return finish_unknown(absl::StrCat(
        "interrupted by signal ", interrupted.load(), "; nothing checked"));
  }

  // Heal, wait for green, read back.
  const absl::Time heal_start = absl::Now();
  const bool green = cluster.WaitGreen(o.heal_timeout);
  const double heal_seconds = absl::ToDoubleSeconds(absl::Now() - heal_start);
  Progress(
      green ? absl::StrFormat("green again after %.1f s", heal_seconds)
            : absl::StrFormat("NOT green %.0f s after healing", heal_seconds));
  const absl::Time check_start = absl::Now();
  if (green) workload.FinalReads();
  FinalState final_state =
      ReadFinalState(cluster, kIndex, o.shards, workload.Ids(),
                     green ? absl::Seconds(30) : absl::Seconds(5));
  monitor.Stop();
  for (std::string& crash : cluster.CheckCrashes())
    crashes.push_back(std::move(crash));

  CheckInput input;
  input.workload = o.workload;
  input.history = recorder.Events();
  input.acks = recorder.Acks();
  input.tally = workload.Tally();
  input.final_state = std::move(final_state);
  input.crashes = crashes;
  input.checker_time_limit = o.checker_time_limit;
  sim::CheckResult linearizability;
  std::vector<CheckOutcome> checks = RunChecks(input, &linearizability);
  if (!green) {
    checks.push_back({"green-after-heal", CheckStatus::kUnknown,
                      absl::StrCat("the cluster was not green ",
                                   absl::FormatDuration(o.heal_timeout),
                                   " after every fault was healed")});
  }
  const double check_seconds = absl::ToDoubleSeconds(absl::Now() - check_start);

  CheckStatus verdict = CheckStatus::kPass;
  std::vector<std::string> failed;
  for (const CheckOutcome& c : checks) {
    if (c.status == CheckStatus::kFail) {
      verdict = CheckStatus::kFail;
      failed.push_back(c.name);
    } else if (c.status == CheckStatus::kUnknown &&
               verdict == CheckStatus::kPass) {
      verdict = CheckStatus::kUnknown;
    }
  }

  // The result folder.
  const std::vector<sim::HistoryEvent>& history = input.history;
  std::vector<CompletedOp> ops =
      PairOperations(history, Workload::kSetupProcess);
  for (CompletedOp& op : ops) {
    op.invoke_ns -= workload_start_ns;
    op.complete_ns -= workload_start_ns;
  }
  Counts counts = CountOps(ops, workload.ops_started());
  std::vector<NemesisRecord> nemesis_records = nemesis.records();
  std::vector<NemesisRecord> shifted = nemesis_records;
  for (NemesisRecord& r : shifted) r.time_ns -= workload_start_ns;
  const int64_t span_ns = workload_end_ns - workload_start_ns;
  std::vector<FaultBand> bands = FaultBands(shifted, span_ns);

  results["valid"] = ValidJson(verdict);
  results["failed_checks"] = failed;
  Json checks_json = Json::array();
  for (const CheckOutcome& c : checks) {
    checks_json.push_back({{"name", c.name},
                           {"status", CheckStatusName(c.status)},
                           {"detail", c.detail}});
  }
  results["checks"] = checks_json;
  Json by_f = Json::object();
  for (const CompletedOp& op : ops) {
    Json& f = by_f[sim::FnName(op.f)];
    if (f.is_null()) f = {{"ok", 0}, {"fail", 0}, {"info", 0}};
    f[sim::EventTypeName(op.type)] =
        f[sim::EventTypeName(op.type)].get<int>() + 1;
  }
  const int64_t completed = counts.ok + counts.fail + counts.info;
  results["ops"] = {{"completed", completed},
                    {"ok", counts.ok},
                    {"fail", counts.fail},
                    {"info", counts.info},
                    {"by_f", by_f}};
  results["acknowledged_writes"] = input.acks.size();
  results["availability"] = completed == 0 ? 0.0
                                           : static_cast<double>(counts.ok) /
                                                 static_cast<double>(completed);
  results["faults_started"] = nemesis.faults_started();
  results["history_events"] = history.size();
  results["linearizability"] = {
      {"verdict", sim::VerdictName(linearizability.verdict)},
      {"operations", linearizability.operations},
      {"keys", linearizability.keys}};
  Json terms = Json::object();
  for (const auto& [shard, term] : monitor.Terms())
    terms[absl::StrCat(shard)] = term;
  results["primary_terms"] = terms;
  results["heal_seconds"] = heal_seconds;
  results["check_seconds"] = check_seconds;
  results["crashes"] = crashes;

  std::string nemesis_lines;
  for (const NemesisRecord& r : nemesis_records)
    absl::StrAppend(&nemesis_lines, NemesisJsonLine(r), "\n");
  std::vector<std::string> write_errors;
  auto write = [&](const std::string& name, const std::string& content) {
    if (absl::Status s = WriteFile(out + "/" + name, content); !s.ok())
      write_errors.push_back(std::string(s.message()));
  };
  write("history.jsonl", sim::FormatHistory(history));
  write("porcupine.json", sim::ToPorcupineJson(history) + "\n");
  write("nemesis.jsonl", nemesis_lines);
  const std::string title = absl::StrCat("seqsim-experiment ", flags);
  write("latency.svg", LatencySvg(ops, bands, span_ns, title));
  write("availability.svg",
        AvailabilitySvg(ops, bands, span_ns,
                        std::max<int64_t>(1000000000, span_ns / 120), title));
  timeline::RenderOptions render;
  render.title = title;
  render.explanation = absl::StrCat(
      "A live experiment: ", o.clients, " REST clients (", o.workload,
      " workload) against ", cluster.nodes(),
      " seqsim-node processes and a coordinator, with the nemesis ",
      o.nemesis.empty() ? std::string("none") : absl::StrJoin(o.nemesis, ","),
      ". Bars are client operations (green ok, red fail, orange "
      "indeterminate), shaded bands are faults, the step charts are each "
      "copy's checkpoints as sampled every 250 ms, and marks show term "
      "changes.\n\nVerdict: ",
      verdict == CheckStatus::kPass ? "valid"
      : verdict == CheckStatus::kFail
          ? "INVALID (" + absl::StrJoin(failed, ", ") + ")"
          : "unknown");
  render.max_rows = 4000;
  if (absl::Status s = timeline::RenderToDirectory(
          TimelineEvents(history, nemesis_records, monitor.Events()), render,
          out);
      !s.ok()) {
    write_errors.push_back(std::string(s.message()));
  }
  if (!write_errors.empty()) results["write_errors"] = write_errors;
  write("results.json", results.dump(2) + "\n");

  cluster.Shutdown();
  if (verdict == CheckStatus::kPass && !o.keep_data && o.attach.empty())
    fs::remove_all(out + "/data", ec);

  std::string line = absl::StrFormat(
      "%s: %s workload, nemesis %s, %d ops (ok %d, fail %d, info %d), "
      "availability %.1f%%, %d faults, checked in %.1f s",
      verdict == CheckStatus::kPass   ? "VALID"
      : verdict == CheckStatus::kFail ? "INVALID"
                                      : "UNKNOWN",
      o.workload,
      o.nemesis.empty() ? std::string("none") : absl::StrJoin(o.nemesis, ","),
      completed, counts.ok, counts.fail, counts.info,
      100.0 * results["availability"].get<double>(), nemesis.faults_started(),
      check_seconds);
  for (const CheckOutcome& c : checks) {
    if (c.status != CheckStatus::kPass)
      absl::StrAppend(&line, "\n  ", c.name, " ", CheckStatusName(c.status),
                      ": ", c.detail);
  }
  Progress(absl::StrCat(line, "\n  results: ", out, "/results.json"));
  if (verdict == CheckStatus::kPass) return kExitValid;
  if (verdict == CheckStatus::kFail) return kExitInvalid;
  return kExitUnknown;
}

}  // namespace seqsim::experiment
