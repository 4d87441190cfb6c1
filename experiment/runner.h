// RunExperiment: one whole experiment, start to verdict (DESIGN.md section 1,
// scripts/experiment.sh):
//   1. start a cluster on free loopback ports (or attach), create the index;
//   2. run the workload and the seeded nemesis for --time, printing a
//      progress line every two seconds;
//   3. stop the clients, heal every fault, wait for green (--heal-timeout),
//      read every document through every node and from every in-sync copy;
//   4. run the checks (checks.h), write the result folder (report.h), print
//      a one-line verdict, stop every process it started.
// SIGINT or SIGTERM stops the run early (the processes are stopped, the
// verdict is "unknown"); a second one ends the runner at once (its children
// die with it: PR_SET_PDEATHSIG).
//
// Thread-safety: call from the main thread, once.
#ifndef SEQSIM_EXPERIMENT_RUNNER_H_
#define SEQSIM_EXPERIMENT_RUNNER_H_

#include <string>

#include "experiment/options.h"

namespace seqsim::experiment {

inline constexpr int kExitValid = 0;
inline constexpr int kExitInvalid = 1;
inline constexpr int kExitUnknown = 2;

// The fault schedule of `options` (--seed, --nemesis, --time,
// --nemesis-interval), one JSON object per line, as results.json lists it.
std::string ScheduleText(const ExperimentOptions& options);

// Returns the exit status: kExitValid, kExitInvalid or kExitUnknown.
int RunExperiment(const ExperimentOptions& options);

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_RUNNER_H_
