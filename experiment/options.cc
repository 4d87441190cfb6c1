#include "experiment/options.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/unsafe.h"
#include "experiment/nemesis.h"
#include "experiment/workload.h"

namespace seqsim::experiment {
namespace {

std::string Normalize(std::string name) {
  std::replace(name.begin(), name.end(), '_', '-');
  return name;
}

absl::Status Bad(const std::string& flag, const std::string& value,
                 const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", value, ": ", why));
}

absl::StatusOr<int> IntIn(const std::string& flag, const std::string& value,
                          int lo, int hi) {
  int v = 0;
  if (!absl::SimpleAtoi(value, &v) || v < lo || v > hi)
    return Bad(flag, value,
               absl::StrCat("expected an integer in ", lo, "..", hi));
  return v;
}

absl::StatusOr<double> PositiveSeconds(const std::string& flag,
                                       const std::string& value, double hi) {
  double v = 0;
  if (!absl::SimpleAtod(value, &v) || !std::isfinite(v) || v <= 0 || v > hi) {
    return Bad(flag, value, absl::StrCat("expected seconds, > 0 and <= ", hi));
  }
  return v;
}

}  // namespace

std::string Usage() {
  return absl::StrCat(
      "seqsim-experiment: a live fault-injection experiment. Starts its own "
      "cluster (or attaches to one),\nruns a workload of concurrent REST "
      "clients and a seeded nemesis, heals, checks the history and\nthe "
      "copies, and writes a result folder (history.jsonl, porcupine.json, "
      "nemesis.jsonl,\nresults.json, timeline.html, latency.svg, "
      "availability.svg, logs/).\n"
      "Exit status: 0 valid, 1 invalid, 2 unknown or error.\n\n"
      "Usage: seqsim-experiment [--flag=value ...]\n\n"
      "  --workload=NAME          ",
      absl::StrJoin(WorkloadNames(), " | "),
      " (default register)\n"
      "  --nemesis=KINDS          comma-separated: ",
      absl::StrJoin(NemesisKinds(), ","),
      "; or all, none\n"
      "                           (default kill,pause,partition)\n"
      "  --seed=N                 seeds the fault schedule and the clients' "
      "choices (default 1)\n"
      "  --time=SECONDS           how long the workload runs (default 30)\n"
      "  --clients=N              concurrent clients (default 5)\n"
      "  --rate=OPS               operations per second, all clients "
      "(default 100)\n"
      "  --keys=N                 documents (register, inventory, external; "
      "default 3)\n"
      "  --nemesis-interval=SECONDS  mean time between faults on a track "
      "(default 5)\n"
      "  --nodes=N --shards=N --replicas=N   cluster and index shape "
      "(default 3, 1, 2)\n"
      "  --unsafe=MODES           planted bugs for every node: ",
      absl::StrJoin(UnsafeModeNames(), ","),
      "\n"
      "  --out=DIR                result folder (default "
      "experiments/<workload>-seed<N>-<time>)\n"
      "  --attach=HOST:PORT       use the running cluster of this coordinator "
      "(network faults only)\n"
      "  --cluster-identity=FILE  with --attach: the cluster's identity file "
      "(cluster.sh makes DATA/cluster.identity)\n"
      "  --bin-dir=DIR            where seqsim-node and seqsim-coordinator "
      "are (default: next to this binary)\n"
      "  --request-timeout=SECONDS   per REST request (default 5)\n"
      "  --heal-timeout=SECONDS   wait for green after healing (default 60)\n"
      "  --checker-time-limit=SECONDS   linearizability search budget "
      "(default 60)\n"
      "  --heartbeat-timeout-ms=N coordinator's failure detection (default "
      "500)\n"
      "  --bulk-size=N            items per _bulk request (default 5)\n"
      "  --keep-data              keep the nodes' data folders of a valid run\n"
      "  --dry-run                print the fault schedule --seed gives (JSON "
      "lines) and exit\n"
      "  --help                   this text\n");
}

absl::StatusOr<ExperimentOptions> ParseOptions(
    const std::vector<std::string>& argv) {
  ExperimentOptions o;
  std::map<std::string, std::function<absl::Status(const std::string&)>>
      setters;
  auto seconds = [](absl::Duration* d, const char* flag, double hi) {
    return [d, flag, hi](const std::string& v) -> absl::Status {
      absl::StatusOr<double> s = PositiveSeconds(flag, v, hi);
      if (!s.ok()) return s.status();
      *d = absl::Seconds(*s);
      return absl::OkStatus();
    };
  };
  auto integer = [](int* out, const char* flag, int lo, int hi) {
    return [out, flag, lo, hi](const std::string& v) -> absl::Status {
      absl::StatusOr<int> i = IntIn(flag, v, lo, hi);
      if (!i.ok()) return i.status();
      *out = *i;
      return absl::OkStatus();
    };
  };
  setters["workload"] = [&](const std::string& v) -> absl::Status {
    const auto& names = WorkloadNames();
    if (std::find(names.begin(), names.end(), v) == names.end())
      return Bad("workload", v,
                 absl::StrCat("expected ", absl::StrJoin(names, ", ")));
    o.workload = v;
    return absl::OkStatus();
  };
  setters["nemesis"] = [&](const std::string& v) -> absl::Status {
    absl::StatusOr<std::vector<std::string>> kinds = ParseNemesis(v);
    if (!kinds.ok()) return kinds.status();
    o.nemesis = *kinds;
    return absl::OkStatus();
  };
  setters["seed"] = [&](const std::string& v) -> absl::Status {
    if (!absl::SimpleAtoi(v, &o.seed))
      return Bad("seed", v, "expected a non-negative integer");
    return absl::OkStatus();
  };
  setters["time"] = seconds(&o.time, "time", 86400);
  setters["nemesis-interval"] =
      seconds(&o.nemesis_interval, "nemesis-interval", 3600);
  setters["request-timeout"] =
      seconds(&o.request_timeout, "request-timeout", 600);
  setters["heal-timeout"] = seconds(&o.heal_timeout, "heal-timeout", 3600);
  setters["checker-time-limit"] =
      seconds(&o.checker_time_limit, "checker-time-limit", 3600);
  setters["clients"] = integer(&o.clients, "clients", 1, 200);
  setters["keys"] = integer(&o.keys, "keys", 1, 1000);
  setters["nodes"] = integer(&o.nodes, "nodes", 1, 9);
  setters["shards"] = integer(&o.shards, "shards", 1, 16);
  setters["replicas"] = integer(&o.replicas, "replicas", 0, 8);
  setters["bulk-size"] = integer(&o.bulk_size, "bulk-size", 1, 1000);
  setters["heartbeat-timeout-ms"] =
      integer(&o.heartbeat_timeout_ms, "heartbeat-timeout-ms", 50, 60000);
  setters["rate"] = [&](const std::string& v) -> absl::Status {
    double r = 0;
    if (!absl::SimpleAtod(v, &r) || !std::isfinite(r) || r <= 0 || r > 100000)
      return Bad("rate", v, "expected operations per second, > 0");
    o.rate = r;
    return absl::OkStatus();
  };
  setters["unsafe"] = [&](const std::string& v) -> absl::Status {
    absl::StatusOr<UnsafeModes> modes = ParseUnsafeModes(v);
    if (!modes.ok()) return modes.status();
    o.unsafe = UnsafeModesName(*modes);
    return absl::OkStatus();
  };
  setters["out"] = [&](const std::string& v) -> absl::Status {
    if (v.empty()) return Bad("out", v, "expected a folder");
    o.out = v;
    return absl::OkStatus();
  };
  setters["attach"] = [&](const std::string& v) -> absl::Status {
    std::vector<std::string> parts = absl::StrSplit(v, ':');
    int port = 0;
    if (parts.size() != 2 || parts[0].empty() ||
        !absl::SimpleAtoi(parts[1], &port) || port < 1 || port > 65535)
      return Bad("attach", v, "expected the coordinator's host:port");
    o.attach = v;
    return absl::OkStatus();
  };
  setters["cluster-identity"] = [&](const std::string& v) -> absl::Status {
    if (v.empty()) return Bad("cluster-identity", v, "expected a file");
    o.cluster_identity = v;
    return absl::OkStatus();
  };
  setters["bin-dir"] = [&](const std::string& v) -> absl::Status {
    o.bin_dir = v;
    return absl::OkStatus();
  };
  const std::map<std::string, bool*> switches = {
      {"help", &o.help}, {"keep-data", &o.keep_data}, {"dry-run", &o.dry_run}};
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument '", arg, "'; --help lists the flags"));
    }
    const size_t eq = arg.find('=');
    const std::string name = Normalize(arg.substr(2, eq - 2));
    if (auto sw = switches.find(name); sw != switches.end()) {
      if (eq != std::string::npos) {
        const std::string v = arg.substr(eq + 1);
        if (v != "true" && v != "false")
          return Bad(name, v, "expected true or false");
        *sw->second = v == "true";
      } else {
        *sw->second = true;
      }
      continue;
    }
    auto setter = setters.find(name);
    if (setter == setters.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, "; --help lists the flags"));
    }
    std::string value;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argv.size()) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
    if (absl::Status s = setter->second(value); !s.ok()) return s;
  }
  if (o.replicas >= o.nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("--replicas=", o.replicas, " needs more than ", o.replicas,
                     " nodes (--nodes=", o.nodes, ")"));
  }
  if (!o.attach.empty()) {
    for (const std::string& kind : o.nemesis) {
      if (kind == "kill" || kind == "pause" || kind == "coordinator") {
        return absl::InvalidArgumentError(absl::StrCat(
            "--nemesis=", kind,
            " needs processes this runner started; with --attach only "
            "partition and delay are possible"));
      }
    }
    if (!o.unsafe.empty()) {
      return absl::InvalidArgumentError(
          "--unsafe is given to the nodes this runner starts; with --attach "
          "start the nodes with --unsafe yourself");
    }
  }
  return o;
}

std::string ReplayFlags(const ExperimentOptions& o) {
  std::string flags = absl::StrCat(
      "--workload=", o.workload, " --nemesis=",
      o.nemesis.empty() ? std::string("none") : absl::StrJoin(o.nemesis, ","),
      " --seed=", o.seed, " --time=", absl::ToDoubleSeconds(o.time),
      " --clients=", o.clients, " --rate=", o.rate, " --keys=", o.keys,
      " --nemesis-interval=", absl::ToDoubleSeconds(o.nemesis_interval));
  if (o.nodes != 3) absl::StrAppend(&flags, " --nodes=", o.nodes);
  if (o.shards != 1) absl::StrAppend(&flags, " --shards=", o.shards);
  if (o.replicas != 2) absl::StrAppend(&flags, " --replicas=", o.replicas);
  if (!o.unsafe.empty()) absl::StrAppend(&flags, " --unsafe=", o.unsafe);
  return flags;
}

}  // namespace seqsim::experiment
