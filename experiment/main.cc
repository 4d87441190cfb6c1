// seqsim-experiment: a live fault-injection experiment (experiment/runner.h).
// scripts/experiment.sh builds it if needed and runs it; --help lists the
// flags.
#include <cstdio>
#include <string>
#include <vector>

#include "experiment/options.h"
#include "experiment/runner.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  absl::StatusOr<seqsim::experiment::ExperimentOptions> options =
      seqsim::experiment::ParseOptions(args);
  if (!options.ok()) {
    std::fprintf(stderr, "seqsim-experiment: %s\n",
                 std::string(options.status().message()).c_str());
    return seqsim::experiment::kExitUnknown;
  }
  if (options->help) {
    std::fputs(seqsim::experiment::Usage().c_str(), stdout);
    return 0;
  }
  if (options->dry_run) {
    std::fputs(seqsim::experiment::ScheduleText(*options).c_str(), stdout);
    return 0;
  }
  return seqsim::experiment::RunExperiment(*options);
}
