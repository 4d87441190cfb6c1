// The command line of seqsim-experiment: --name=value or --name value, with
// '-' and '_' alike in names (--nemesis-interval = --nemesis_interval). Every
// bad flag gets one clear line; --help lists them all (Usage()).
//
// Thread-safety: pure functions.
#ifndef SEQSIM_EXPERIMENT_OPTIONS_H_
#define SEQSIM_EXPERIMENT_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace seqsim::experiment {

struct ExperimentOptions {
  std::string workload = "register";
  std::vector<std::string> nemesis = {"kill", "pause", "partition"};
  uint64_t seed = 1;
  absl::Duration time = absl::Seconds(30);
  int clients = 5;
  double rate = 100;
  int keys = 3;
  absl::Duration nemesis_interval = absl::Seconds(5);
  int nodes = 3;
  int shards = 1;
  int replicas = 2;
  std::string unsafe;            // as given to every node, "" = none
  std::string out;               // result folder ("" = experiments/<name>)
  std::string attach;            // coordinator host:port of a running cluster
  std::string cluster_identity;  // with --attach: its identity file
  std::string bin_dir;           // "" = next to this binary
  absl::Duration request_timeout = absl::Seconds(5);
  absl::Duration heal_timeout = absl::Seconds(60);
  absl::Duration checker_time_limit = absl::Seconds(60);
  int heartbeat_timeout_ms = 500;
  int bulk_size = 5;
  bool keep_data = false;
  bool dry_run = false;  // print the fault schedule and exit
  bool help = false;
};

std::string Usage();

// argv (argv[0] first) -> options; InvalidArgument with one line naming the
// flag otherwise.
absl::StatusOr<ExperimentOptions> ParseOptions(
    const std::vector<std::string>& argv);

// The flags that reproduce the experiment's schedule and workload.
std::string ReplayFlags(const ExperimentOptions& options);

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_OPTIONS_H_
