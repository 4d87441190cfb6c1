// The lab's configuration: nemesis and scenario names, validation, flag value
// parsers, the replay command and summary.json.
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "sim/lab/lab.h"

namespace seqsim::sim {

const std::vector<std::string>& NemesisNames() {
  static const std::vector<std::string> kNames = {"none",  "partition", "kill",
                                                  "pause", "reorder",   "all"};
  return kNames;
}

const std::map<std::string, Scenario>& Scenarios() {
  static const std::map<std::string, Scenario> kScenarios = {
      {"default", [](LabConfig*) {}},
      {"primary-failover",
       [](LabConfig* c) {
         if (c->nemesis == "none") c->nemesis = "kill";
       }},
      {"stale-primary",
       [](LabConfig* c) {
         if (c->nemesis == "none") c->nemesis = "partition";
       }},
      {"single-key-contention",
       [](LabConfig* c) {
         c->keys = 1;
         c->clients = 6;
       }},
      // Bounded memory with tiny thresholds (issue 17): a fifth of the
      // operations are deletes, tombstones are collected 2 ms after their
      // delete, retention leases expire 200 ms after a copy was last
      // tracked, so copies that come back after a kill or partition often
      // need a full copy; translogs roll and flush every few operations, so
      // restarts load snapshots.
      // Values given on the command line are kept.
      {"tiny-gc",
       [](LabConfig* c) {
         const LabConfig defaults;
         if (c->delete_percent == defaults.delete_percent) {
           c->delete_percent = 20;
         }
         if (c->gc_deletes == defaults.gc_deletes) {
           c->gc_deletes = absl::Milliseconds(2);
         }
         if (c->retention_lease_period == defaults.retention_lease_period) {
           c->retention_lease_period = absl::Milliseconds(200);
         }
         // A new translog generation every few operations, a flush (a
         // snapshot of the copy) every few dozen.
         if (c->translog_generation_bytes ==
             defaults.translog_generation_bytes) {
           c->translog_generation_bytes = 512;
         }
         if (c->flush_threshold_bytes == defaults.flush_threshold_bytes) {
           c->flush_threshold_bytes = 4096;
         }
       }},
  };
  return kScenarios;
}

absl::StatusOr<UnsafeModes> ParseUnsafe(const std::string& list) {
  return ParseUnsafeModes(list);
}

std::string UnsafeName(const UnsafeModes& m) { return UnsafeModesName(m); }

absl::Status ValidateConfig(const LabConfig& config) {
  const auto& names = NemesisNames();
  if (std::find(names.begin(), names.end(), config.nemesis) == names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --nemesis '", config.nemesis, "' (expected ",
                     absl::StrJoin(names, "|"), ")"));
  }
  if (Scenarios().count(config.scenario) == 0) {
    std::vector<std::string> known;
    for (const auto& [name, fn] : Scenarios()) known.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --scenario '", config.scenario,
                     "' (known: ", absl::StrJoin(known, ", "), ")"));
  }
  if (config.nodes < 1 || config.nodes > 9) {
    return absl::InvalidArgumentError("--nodes must be 1..9");
  }
  if (config.replicas < 0 || config.replicas >= config.nodes) {
    return absl::InvalidArgumentError("--replicas must be 0..nodes-1");
  }
  if (config.delete_percent < 0 || config.delete_percent > 100) {
    return absl::InvalidArgumentError("--deletes must be 0..100");
  }
  if (config.translog_generation_bytes < 1 ||
      config.flush_threshold_bytes < 1) {
    return absl::InvalidArgumentError(
        "--translog-generation-bytes and --flush-threshold-bytes must be >= "
        "1");
  }
  if (config.gc_deletes < absl::ZeroDuration() ||
      config.retention_lease_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--gc-deletes-ms and --lease-period-ms must be >= 0");
  }
  if (config.clients < 1 || config.keys < 1 || config.shards < 1) {
    return absl::InvalidArgumentError(
        "--clients, --keys and --shards must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<absl::Duration, absl::Duration>> ParseFsyncRange(
    const std::string& value) {
  const std::vector<std::string> parts = absl::StrSplit(value, '-');
  int64_t lo = 0, hi = 0;
  const bool ok = (parts.size() == 1 || parts.size() == 2) &&
                  absl::SimpleAtoi(parts.front(), &lo) &&
                  absl::SimpleAtoi(parts.back(), &hi) && lo >= 0 && hi >= lo &&
                  hi <= 1000000;
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--fsync-us must be N or LO-HI microseconds with 0 <= LO <= HI <= "
        "1000000, got '",
        value, "'"));
  }
  return std::make_pair(absl::Microseconds(lo), absl::Microseconds(hi));
}

std::string ReplayCommand(const LabConfig& config) {
  const LabConfig defaults;
  std::string cmd = absl::StrCat("seqsim-lab run --seed=", config.seed);
  if (config.scenario != "default")
    absl::StrAppend(&cmd, " --scenario=", config.scenario);
  absl::StrAppend(&cmd, " --nemesis=", config.nemesis);
  const std::string unsafe = UnsafeName(config.unsafe);
  if (!unsafe.empty()) absl::StrAppend(&cmd, " --unsafe=", unsafe);
  auto flag = [&](const char* name, int64_t value, int64_t default_value) {
    if (value != default_value) absl::StrAppend(&cmd, " --", name, "=", value);
  };
  flag("nodes", config.nodes, defaults.nodes);
  flag("replicas", config.replicas, defaults.replicas);
  flag("shards", config.shards, defaults.shards);
  flag("clients", config.clients, defaults.clients);
  flag("keys", config.keys, defaults.keys);
  flag("deletes", config.delete_percent, defaults.delete_percent);
  flag("gc-deletes-ms", absl::ToInt64Milliseconds(config.gc_deletes),
       absl::ToInt64Milliseconds(defaults.gc_deletes));
  flag("lease-period-ms",
       absl::ToInt64Milliseconds(config.retention_lease_period),
       absl::ToInt64Milliseconds(defaults.retention_lease_period));
  flag("translog-generation-bytes", config.translog_generation_bytes,
       defaults.translog_generation_bytes);
  flag("flush-threshold-bytes", config.flush_threshold_bytes,
       defaults.flush_threshold_bytes);
  flag("workload-ms", absl::ToInt64Milliseconds(config.workload),
       absl::ToInt64Milliseconds(defaults.workload));
  if (config.fsync_min != defaults.fsync_min ||
      config.fsync_max != defaults.fsync_max) {
    const int64_t lo = absl::ToInt64Microseconds(config.fsync_min);
    const int64_t hi = absl::ToInt64Microseconds(config.fsync_max);
    absl::StrAppend(&cmd, " --fsync-us=",
                    hi == 0 ? std::string("0") : absl::StrCat(lo, "-", hi));
  }
  absl::StrAppend(&cmd, " --out=lab-", config.seed);
  return cmd;
}

std::string SummaryJson(const LabConfig& config, const LabResult& result) {
  nlohmann::ordered_json j;
  j["seed"] = config.seed;
  j["scenario"] = config.scenario;
  j["nemesis"] = config.nemesis;
  j["unsafe"] = UnsafeName(config.unsafe);
  j["passed"] = result.passed;
  j["violation"] = result.violation;
  j["detail"] = result.detail;
  j["replay"] = result.replay;
  j["operations"] = {{"ok", result.ops_ok},
                     {"fail", result.ops_fail},
                     {"info", result.ops_info}};
  j["linearizability"] = VerdictName(result.check.verdict);
  j["events"] = result.events;
  j["deliveries"] = result.deliveries;
  j["fsyncs"] = result.fsyncs;
  j["batched_events"] = result.batched_events;
  j["virtual_ms"] = result.virtual_ns / 1000000;
  j["wall_ms"] = static_cast<int64_t>(result.wall_seconds * 1000);
  j["faults"] = result.faults;
  return j.dump(2);
}

}  // namespace seqsim::sim
