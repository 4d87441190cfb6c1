// seqsim-lab: seeded runs of the whole cluster in one process (DESIGN.md
// section 4).
//
//   seqsim-lab run --seed=N [--scenario=NAME] [--nemesis=...] [--unsafe=...]
//   [--out=DIR] seqsim-lab sweep --seeds=A-B [--nemesis=all] [--unsafe=...]
//   [--jobs=N] seqsim-lab check FILE [--time-limit-ms=N] [--porcupine=OUT]
//
// Exit codes: run/sweep 0 = every run passed, 1 = some run failed; check 0 =
// linearizable, 1 = not linearizable, 2 = unknown; 2 for a bad flag.
//
// Flags are Abseil flags (as in seqsim-node, seqsim-coordinator, seqsim-ctl),
// spelt with dashes on the command line; each command checks the values it
// takes and rejects the flags it does not take.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "sim/checker/checker.h"
#include "sim/checker/history.h"
#include "sim/lab/lab.h"
#include "sim/scenarios/scenarios.h"
#include "sim/timeline/events.h"
#include "sim/timeline/render.h"

// Every value is text; "" = not given (see LabFlags). Help: `seqsim-lab
// --help` prints kUsage.
ABSL_FLAG(std::string, seed, "", "run: the seed (required), 0..2^63-1");
ABSL_FLAG(std::string, seeds, "", "sweep: the seeds, A-B or N (required)");
ABSL_FLAG(std::string, scenario, "",
          "a seeded scenario (run, sweep; default: default) or a scripted one "
          "(run; see `seqsim-lab scenarios`)");
ABSL_FLAG(std::string, nemesis, "",
          "none|partition|kill|pause|reorder|all (default: none for run, all "
          "for sweep)");
ABSL_FLAG(std::string, unsafe, "",
          "planted bugs, comma-separated (no-fencing, no-seqno-check, "
          "early-ack, no-resync, no-conflict-barrier, early-gc)");
ABSL_FLAG(std::string, out, "",
          "run: the output directory (default lab-SEED, scenario-NAME)");
ABSL_FLAG(std::string, nodes, "", "nodes, 1..9 (default 3)");
ABSL_FLAG(std::string, replicas, "",
          "replicas per shard, 0..nodes-1 (default 2)");
ABSL_FLAG(std::string, shards, "", "shards, 1..16 (default 1)");
ABSL_FLAG(std::string, clients, "", "clients, 1..64 (default 4)");
ABSL_FLAG(std::string, keys, "", "keys, 1..1000 (default 3)");
ABSL_FLAG(std::string, deletes, "",
          "percent of client operations that are deletes, 0..100 (default 0)");
ABSL_FLAG(std::string, gc_deletes_ms, "",
          "--gc-deletes-ms: index.gc_deletes in ms (default 60000)");
ABSL_FLAG(std::string, lease_period_ms, "",
          "--lease-period-ms: retention-lease period in ms (default 43200000)");
ABSL_FLAG(std::string, translog_generation_bytes, "",
          "--translog-generation-bytes: translog generation size (default "
          "67108864)");
ABSL_FLAG(std::string, flush_threshold_bytes, "",
          "--flush-threshold-bytes: translog flush threshold (default "
          "67108864)");
ABSL_FLAG(std::string, workload_ms, "",
          "--workload-ms: client traffic after green, 100..600000 (default "
          "4000)");
ABSL_FLAG(std::string, fsync_us, "",
          "--fsync-us: fsync time, LO-HI or N microseconds, 0 = no time "
          "(default 500-3000)");
ABSL_FLAG(std::string, jobs, "",
          "sweep: runs in parallel, 1..256 (default: hardware threads)");
ABSL_FLAG(std::string, time_limit_ms, "",
          "--time-limit-ms: check: the checker's time limit, 1..3600000 "
          "(default 30000)");
ABSL_FLAG(std::string, porcupine, "",
          "check: also write the history as Porcupine JSON to this file");

namespace seqsim::sim {
namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  seqsim-lab run --seed=N [--scenario=NAME] "
    "[--nemesis=none|partition|kill|pause|"
    "reorder|all]\n"
    "                 "
    "[--unsafe=no-fencing|no-seqno-check|early-ack|no-resync|no-conflict-"
    "barrier|early-gc] "
    "[--out=DIR]\n"
    "                 [--nodes=3] [--replicas=2] [--shards=1] [--clients=4] "
    "[--keys=3]\n"
    "                 [--workload-ms=4000] [--fsync-us=500-3000 | "
    "--fsync-us=0]\n"
    "                 [--deletes=PERCENT] [--gc-deletes-ms=60000] "
    "[--lease-period-ms=43200000]\n"
    "                 [--translog-generation-bytes=67108864] "
    "[--flush-threshold-bytes=67108864]\n"
    "  seqsim-lab sweep --seeds=A-B [--nemesis=all] [--unsafe=...] [--jobs=N] "
    "[same options]\n"
    "  seqsim-lab check FILE [--time-limit-ms=30000] [--porcupine=OUT.json]\n"
    "  seqsim-lab scenarios\n";

int BadFlag(const std::string& message) {
  std::cerr << "seqsim-lab: " << message << "\n" << kUsage;
  return 2;
}

// The flags, one Abseil flag each. Values are text: each command reads the
// flags it knows and checks them itself (TakeInt, TakeLabFlags), so that a bad
// value gives seqsim-lab's own message and exit code 2, never Abseil's exit.
// On the command line a flag is spelt with dashes (--gc-deletes-ms); the
// Abseil name has underscores.
struct LabFlag {
  const char* name;  // as on the command line
  absl::Flag<std::string>* flag;
};

const std::vector<LabFlag>& LabFlags() {
  static const std::vector<LabFlag> kFlags = {
      {"seed", &FLAGS_seed},
      {"seeds", &FLAGS_seeds},
      {"scenario", &FLAGS_scenario},
      {"nemesis", &FLAGS_nemesis},
      {"unsafe", &FLAGS_unsafe},
      {"out", &FLAGS_out},
      {"nodes", &FLAGS_nodes},
      {"replicas", &FLAGS_replicas},
      {"shards", &FLAGS_shards},
      {"clients", &FLAGS_clients},
      {"keys", &FLAGS_keys},
      {"deletes", &FLAGS_deletes},
      {"gc-deletes-ms", &FLAGS_gc_deletes_ms},
      {"lease-period-ms", &FLAGS_lease_period_ms},
      {"translog-generation-bytes", &FLAGS_translog_generation_bytes},
      {"flush-threshold-bytes", &FLAGS_flush_threshold_bytes},
      {"workload-ms", &FLAGS_workload_ms},
      {"fsync-us", &FLAGS_fsync_us},
      {"jobs", &FLAGS_jobs},
      {"time-limit-ms", &FLAGS_time_limit_ms},
      {"porcupine", &FLAGS_porcupine},
  };
  return kFlags;
}

// The flags given after the command, by their command-line name (a flag given
// twice keeps its last value), and the positional arguments in order.
struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
};

// Splits argv[first..] as seqsim-lab always has: "--name=value";
// "--name value" when the next argument does not start with "--", else
// "--name" with an empty value; anything else is positional. The known flags
// are then parsed by Abseil (as --abseil_name=value) and read back from it;
// unknown names stay in `flags` for the command to reject by name.
absl::StatusOr<Args> ParseArgs(int argc, char** argv, int first) {
  std::vector<std::pair<std::string, std::string>> given;
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      if (eq == std::string::npos) {
        if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
          given.emplace_back(a.substr(2), argv[++i]);
        } else {
          given.emplace_back(a.substr(2), "");
        }
      } else {
        given.emplace_back(a.substr(2, eq - 2), a.substr(eq + 1));
      }
    } else {
      args.positional.push_back(a);
    }
  }
  std::vector<std::string> abseil_args = {argv[0]};
  std::map<std::string, absl::Flag<std::string>*> known;
  for (const auto& [name, value] : given) {
    const LabFlag* lab_flag = nullptr;
    for (const LabFlag& f : LabFlags()) {
      if (name == f.name) lab_flag = &f;
    }
    if (lab_flag == nullptr) {
      args.flags[name] = value;
      continue;
    }
    std::string abseil_name = name;
    std::replace(abseil_name.begin(), abseil_name.end(), '-', '_');
    abseil_args.push_back(absl::StrCat("--", abseil_name, "=", value));
    known[name] = lab_flag->flag;
  }
  // Only text flags with '=' values: Abseil's parse cannot fail here.
  std::vector<char*> abseil_argv;
  for (std::string& a : abseil_args) abseil_argv.push_back(a.data());
  absl::ParseCommandLine(static_cast<int>(abseil_argv.size()),
                         abseil_argv.data());
  for (const auto& [name, flag] : known)
    args.flags[name] = absl::GetFlag(*flag);
  return args;
}

absl::Status TakeInt(Args* args, const std::string& name, int64_t lo,
                     int64_t hi, int64_t* out) {
  auto it = args->flags.find(name);
  if (it == args->flags.end()) return absl::OkStatus();
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v) || v < lo || v > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer in [", lo, ", ", hi,
                     "], got '", it->second, "'"));
  }
  *out = v;
  args->flags.erase(it);
  return absl::OkStatus();
}

// Reads the options shared by run and sweep into `config`; removes them from
// `args`.
absl::Status TakeLabFlags(Args* args, LabConfig* config) {
  auto take = [&](const std::string& name, std::string* out) {
    auto it = args->flags.find(name);
    if (it == args->flags.end()) return;
    *out = it->second;
    args->flags.erase(it);
  };
  take("scenario", &config->scenario);
  take("nemesis", &config->nemesis);
  std::string unsafe;
  take("unsafe", &unsafe);
  auto modes = ParseUnsafe(unsafe);
  if (!modes.ok()) return modes.status();
  config->unsafe = *modes;
  // Each integer flag: its name, its range, the field it sets (checked in
  // this order, so the first bad one is the one reported).
  const struct {
    const char* name;
    int64_t lo, hi;
    int* field;
  } ints[] = {
      {"nodes", 1, 9, &config->nodes},
      {"replicas", 0, 8, &config->replicas},
      {"shards", 1, 16, &config->shards},
      {"clients", 1, 64, &config->clients},
      {"keys", 1, 1000, &config->keys},
      {"deletes", 0, 100, &config->delete_percent},
  };
  for (const auto& flag : ints) {
    int64_t v = *flag.field;
    if (auto s = TakeInt(args, flag.name, flag.lo, flag.hi, &v); !s.ok())
      return s;
    *flag.field = static_cast<int>(v);
  }
  constexpr int64_t kBig = int64_t{1} << 40;
  const struct {
    const char* name;
    int64_t lo, hi;
    absl::Duration* field;
  } millis[] = {
      {"gc-deletes-ms", 0, kBig, &config->gc_deletes},
      {"lease-period-ms", 0, kBig, &config->retention_lease_period},
  };
  for (const auto& flag : millis) {
    int64_t v = absl::ToInt64Milliseconds(*flag.field);
    if (auto s = TakeInt(args, flag.name, flag.lo, flag.hi, &v); !s.ok())
      return s;
    *flag.field = absl::Milliseconds(v);
  }
  for (auto [name, field] :
       {std::pair<const char*, int64_t*>{"translog-generation-bytes",
                                         &config->translog_generation_bytes},
        std::pair<const char*, int64_t*>{"flush-threshold-bytes",
                                         &config->flush_threshold_bytes}}) {
    if (auto s = TakeInt(args, name, 1, kBig, field); !s.ok()) return s;
  }
  int64_t v = absl::ToInt64Milliseconds(config->workload);
  if (auto s = TakeInt(args, "workload-ms", 100, 600000, &v); !s.ok()) return s;
  config->workload = absl::Milliseconds(v);
  std::string fsync;
  take("fsync-us", &fsync);
  if (!fsync.empty()) {
    auto range = ParseFsyncRange(fsync);
    if (!range.ok()) return range.status();
    config->fsync_min = range->first;
    config->fsync_max = range->second;
    if (range->second == absl::ZeroDuration())
      config->fsync_jitter = absl::ZeroDuration();
  }
  return ValidateConfig(*config);
}

absl::Status RejectLeftovers(const Args& args) {
  if (args.flags.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown flag --", args.flags.begin()->first));
}

bool WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return static_cast<bool>(out);
}

void PrintResult(const LabConfig& config, const LabResult& r,
                 std::ostream& out) {
  out << "seed " << config.seed << " nemesis=" << config.nemesis
      << (UnsafeName(config.unsafe).empty()
              ? ""
              : " unsafe=" + UnsafeName(config.unsafe))
      << ": " << (r.passed ? "PASSED" : "FAILED") << "\n";
  out << "  operations: " << r.ops_ok << " ok, " << r.ops_fail << " fail, "
      << r.ops_info << " info; " << r.events << " events, " << r.deliveries
      << " deliveries, " << r.virtual_ns / 1000000 << " ms virtual in "
      << static_cast<int64_t>(r.wall_seconds * 1000) << " ms\n";
  if (!r.faults.empty()) out << "  faults: " << r.faults.size() << "\n";
  if (!r.passed) {
    out << "  violation: " << r.violation << "\n  " << r.detail << "\n";
    out << "  replay: " << r.replay << "\n";
  }
}

int Run(Args args) {
  // Scripted teaching scenarios (sim/scenarios/scenarios.h): a fixed schedule,
  // no seed.
  if (auto it = args.flags.find("scenario");
      it != args.flags.end() && FindScriptedScenario(it->second) != nullptr) {
    auto modes =
        ParseUnsafe(args.flags.count("unsafe") ? args.flags["unsafe"] : "");
    if (!modes.ok()) return BadFlag(std::string(modes.status().message()));
    const std::string out_dir =
        args.flags.count("out") ? args.flags["out"] : "scenario-" + it->second;
    return RunScriptedCommand(it->second, *modes, out_dir, std::cout);
  }
  LabConfig config;
  int64_t seed = -1;
  if (auto s = TakeInt(&args, "seed", 0, INT64_MAX, &seed); !s.ok())
    return BadFlag(s.ToString());
  if (seed < 0) return BadFlag("run needs --seed=N");
  config.seed = static_cast<uint64_t>(seed);
  if (auto s = TakeLabFlags(&args, &config); !s.ok())
    return BadFlag(std::string(s.message()));
  std::string out_dir = absl::StrCat("lab-", seed);
  if (auto it = args.flags.find("out"); it != args.flags.end()) {
    out_dir = it->second;
    args.flags.erase(it);
  }
  if (out_dir.empty()) return BadFlag("--out needs a directory");
  if (auto s = RejectLeftovers(args); !s.ok())
    return BadFlag(std::string(s.message()));
  if (!args.positional.empty())
    return BadFlag("unexpected argument " + args.positional[0]);
  config.trace = true;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) {
    std::cerr << "seqsim-lab: cannot create " << out_dir << ": " << ec.message()
              << "\n";
    return 2;
  }
  const LabResult r = RunLab(config);
  const std::filesystem::path dir(out_dir);
  std::string trace;
  for (const auto& line : r.trace) absl::StrAppend(&trace, line, "\n");
  const bool written =
      WriteFile(dir / "history.jsonl", FormatHistory(r.history)) &&
      WriteFile(dir / "trace.log", trace) &&
      WriteFile(dir / "summary.json", SummaryJson(config, r) + "\n") &&
      WriteFile(dir / "porcupine.json", ToPorcupineJson(r.history) + "\n");
  if (!written) {
    std::cerr << "seqsim-lab: cannot write to " << out_dir << "\n";
    return 2;
  }
  // The drawing (events.jsonl, timeline.html/svg): a failure here is only a
  // warning.
  if (auto st = timeline::WriteEventsFile((dir / "events.jsonl").string(),
                                          r.timeline);
      !st.ok()) {
    std::cerr << "seqsim-lab: warning: events.jsonl: " << st.message() << "\n";
  }
  timeline::RenderOptions render;
  render.title = absl::StrCat("seqsim lab seed ", config.seed, " nemesis ",
                              config.nemesis);
  render.hidden_ops = {"heartbeat", "heartbeat_response"};
  if (auto st = timeline::RenderToDirectory(r.timeline, render, out_dir);
      !st.ok()) {
    std::cerr << "seqsim-lab: warning: timeline: " << st.message() << "\n";
  }
  PrintResult(config, r, std::cout);
  std::cout << "  wrote " << out_dir
            << "/{history.jsonl,trace.log,summary.json,porcupine.json,events."
               "jsonl,timeline.html,timeline.svg}\n";
  return r.passed ? 0 : 1;
}

int Sweep(Args args) {
  LabConfig config;
  auto seeds_it = args.flags.find("seeds");
  if (seeds_it == args.flags.end()) return BadFlag("sweep needs --seeds=A-B");
  const std::string range = seeds_it->second;
  args.flags.erase(seeds_it);
  int64_t first, last;
  const size_t dash = range.find('-');
  if (dash == std::string::npos && absl::SimpleAtoi(range, &first) &&
      first >= 0) {
    last = first;  // one seed
  } else if (dash == std::string::npos ||
             !absl::SimpleAtoi(range.substr(0, dash), &first) ||
             !absl::SimpleAtoi(range.substr(dash + 1), &last) || first < 0 ||
             last < first) {
    return BadFlag("--seeds must be A-B with 0 <= A <= B (or N), got '" +
                   range + "'");
  }
  int64_t jobs = std::max(1u, std::thread::hardware_concurrency());
  if (auto s = TakeInt(&args, "jobs", 1, 256, &jobs); !s.ok())
    return BadFlag(s.ToString());
  config.nemesis = "all";
  if (auto s = TakeLabFlags(&args, &config); !s.ok())
    return BadFlag(std::string(s.message()));
  if (auto s = RejectLeftovers(args); !s.ok())
    return BadFlag(std::string(s.message()));
  if (!args.positional.empty())
    return BadFlag("unexpected argument " + args.positional[0]);

  const int64_t total = last - first + 1;
  std::atomic<int64_t> next{first};
  std::mutex mu;
  int64_t done = 0;
  std::vector<int64_t> failed;
  uint64_t deliveries = 0, events = 0;
  double run_seconds = 0;
  int64_t virtual_ns = 0;
  const bool tty = isatty(fileno(stderr));
  auto progress = [&]() {
    const int width = 40;
    const int filled = static_cast<int>(width * done / total);
    std::cerr << "\r[" << std::string(filled, '#')
              << std::string(width - filled, ' ') << "] " << done << "/"
              << total << " failed " << failed.size() << (tty ? "" : "\n")
              << std::flush;
  };
  auto worker = [&]() {
    for (;;) {
      const int64_t seed = next.fetch_add(1);
      if (seed > last) return;
      LabConfig c = config;
      c.seed = static_cast<uint64_t>(seed);
      LabResult r = RunLab(c);
      std::lock_guard<std::mutex> lock(mu);
      ++done;
      deliveries += r.deliveries;
      events += r.events;
      run_seconds += r.wall_seconds;
      virtual_ns += r.virtual_ns;
      if (!r.passed) {
        failed.push_back(seed);
        std::cerr << "\r" << std::string(70, ' ') << "\r";
        std::cout << "seed " << seed << " FAILED: " << r.violation << ": "
                  << r.detail << "\n"
                  << "  replay: " << r.replay << "\n"
                  << std::flush;
      }
      if (tty || done == total || done % 50 == 0) progress();
    }
  };
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int64_t i = 0; i < std::min(jobs, total); ++i)
    threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  if (tty) std::cerr << "\n";
  std::sort(failed.begin(), failed.end());
  nlohmann::ordered_json j;
  j["seeds"] = total;
  j["passed"] = total - static_cast<int64_t>(failed.size());
  j["failed"] = failed.size();
  j["failed_seeds"] = failed;
  j["events"] = events;
  j["deliveries"] = deliveries;
  j["events_per_sec"] =
      run_seconds > 0 ? static_cast<int64_t>(events / run_seconds) : 0;
  j["deliveries_per_sec"] =
      run_seconds > 0 ? static_cast<int64_t>(deliveries / run_seconds) : 0;
  j["virtual_real_ratio"] =
      run_seconds > 0 ? static_cast<int64_t>(virtual_ns / 1e9 / run_seconds)
                      : 0;
  j["wall_seconds"] = static_cast<int64_t>(wall * 1000) / 1000.0;
  std::cout << j.dump() << "\n";
  return failed.empty() ? 0 : 1;
}

int Check(Args args) {
  if (args.positional.size() != 1)
    return BadFlag("check needs exactly one FILE");
  int64_t limit_ms = 30000;
  if (auto s = TakeInt(&args, "time-limit-ms", 1, 3600000, &limit_ms);
      !s.ok()) {
    return BadFlag(s.ToString());
  }
  std::string porcupine;
  if (auto it = args.flags.find("porcupine"); it != args.flags.end()) {
    porcupine = it->second;
    args.flags.erase(it);
  }
  if (auto s = RejectLeftovers(args); !s.ok())
    return BadFlag(std::string(s.message()));
  std::ifstream in(args.positional[0], std::ios::binary);
  if (!in) {
    std::cerr << "seqsim-lab: cannot read " << args.positional[0] << "\n";
    return 2;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto history = ParseHistory(buffer.str());
  if (!history.ok()) {
    std::cerr << "seqsim-lab: " << args.positional[0] << ": "
              << history.status().message() << "\n";
    return 2;
  }
  if (!porcupine.empty() &&
      !WriteFile(porcupine, ToPorcupineJson(*history) + "\n")) {
    std::cerr << "seqsim-lab: cannot write " << porcupine << "\n";
    return 2;
  }
  const CheckResult r =
      CheckLinearizable(*history, absl::Milliseconds(limit_ms));
  std::cout << VerdictName(r.verdict) << " (" << r.operations
            << " operations on " << r.keys << " keys)\n";
  if (!r.explanation.empty()) std::cout << r.explanation << "\n";
  switch (r.verdict) {
    case Verdict::kLinearizable:
      return 0;
    case Verdict::kNotLinearizable:
      return 1;
    case Verdict::kUnknown:
      return 2;
  }
  return 2;
}

}  // namespace
}  // namespace seqsim::sim

int main(int argc, char** argv) {
  using namespace seqsim::sim;
  absl::SetProgramUsageMessage(kUsage);
  if (argc < 2) return BadFlag("missing command");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  auto args = ParseArgs(argc, argv, 2);
  if (!args.ok()) return BadFlag(std::string(args.status().message()));
  if (args->flags.count("help") > 0) {
    std::cout << kUsage;
    return 0;
  }
  if (command == "run") return Run(*std::move(args));
  if (command == "sweep") return Sweep(*std::move(args));
  if (command == "check") return Check(*std::move(args));
  if (command == "scenarios") {
    PrintScriptedScenarios(std::cout);
    std::cout
        << "seeded scenarios (seqsim-lab run --seed=N --scenario=NAME):\n";
    for (const auto& [name, fn] : Scenarios()) {
      if (FindScriptedScenario(name) == nullptr)
        std::cout << "  " << name << "\n";
    }
    return 0;
  }
  return BadFlag("unknown command '" + command + "'");
}
