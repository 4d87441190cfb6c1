// Checks: what an experiment verifies once the faults are healed and the
// cluster is green again. Each check has a name (the one results.json and the
// verdict line print) and passes, fails or is unknown (could not be decided).
//
//   linearizable               the history, per document, with the lab's
//                              checker (sim/checker/checker.h); indeterminate
//                              operations may have happened at any time after
//                              their invocation, or never (Jepsen's rule)
//   acknowledged-writes-present
//                              every acknowledged write is still there: no
//                              two acknowledged operations of a shard share a
//                              seq_no (the later one took the place of a lost
//                              one), every in-sync copy reaches the highest
//                              acknowledged seq_no, and each document ends with
//                              its last acknowledged value or with the value of
//                              a write that had not completed before it began
//   inventory / external / bulk
//                              the workload's invariant (workload.h)
//   copies-converged           every in-sync copy of every shard reaches the
//                              same max_seq_no, local and global checkpoints
//                              and term, and holds the same documents (seq_no,
//                              term, version, source), compared document by
//                              document
//   no-crash                   no process exited that the nemesis did not kill
//
// Thread-safety: pure functions plus blocking calls on the cluster.
#ifndef SEQSIM_EXPERIMENT_CHECKS_H_
#define SEQSIM_EXPERIMENT_CHECKS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "experiment/cluster.h"
#include "experiment/history_recorder.h"
#include "experiment/workload.h"
#include "sim/checker/checker.h"
#include "sim/checker/history.h"

namespace seqsim::experiment {

enum class CheckStatus { kPass, kFail, kUnknown };
const char* CheckStatusName(CheckStatus status);

struct CheckOutcome {
  std::string name;
  CheckStatus status = CheckStatus::kPass;
  std::string detail;
};

// One copy's document as that copy holds it.
struct CopyDoc {
  bool found = false;
  int64_t seq_no = -1;
  int64_t term = 0;
  int64_t version = 0;
  std::string source;
  int64_t value = sim::kNil;  // source's "v"
};

// What the final phase read from the cluster.
struct FinalState {
  bool converged = false;
  std::string convergence_detail;
  // id -> node -> the document on that node's in-sync copy.
  std::map<std::string, std::map<std::string, CopyDoc>> docs;
  // shard -> node -> max_seq_no of its in-sync copy.
  std::map<int, std::map<std::string, int64_t>> max_seq_no;
};

// Waits (bounded by `timeout`) until the in-sync copies of every shard of
// `index` agree on max_seq_no, checkpoints and term, then reads every id from
// every in-sync copy.
FinalState ReadFinalState(ExperimentCluster& cluster, const std::string& index,
                          int shards, const std::vector<std::string>& ids,
                          absl::Duration timeout);

struct CheckInput {
  std::string workload;
  std::vector<sim::HistoryEvent> history;
  std::vector<AckedWrite> acks;
  WorkloadTally tally;
  FinalState final_state;
  std::vector<std::string> crashes;
  absl::Duration checker_time_limit = absl::Seconds(60);
};

std::vector<CheckOutcome> RunChecks(const CheckInput& input,
                                    sim::CheckResult* linearizability);

// The individual checks (exposed for tests).
CheckOutcome CheckAckedWrites(const std::vector<sim::HistoryEvent>& history,
                              const std::vector<AckedWrite>& acks,
                              const FinalState& final_state,
                              const std::string& workload);
CheckOutcome CheckInventory(const WorkloadTally& tally,
                            const FinalState& final_state);
CheckOutcome CheckExternal(const WorkloadTally& tally,
                           const FinalState& final_state);
CheckOutcome CheckBulk(const WorkloadTally& tally,
                       const FinalState& final_state);
CheckOutcome CheckConverged(const FinalState& final_state);

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_CHECKS_H_
