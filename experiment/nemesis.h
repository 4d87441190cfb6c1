// Nemesis: the faults of an experiment, on a schedule drawn from --seed.
//
// The schedule (PlanSchedule) is a pure function of (kinds, seed, duration,
// interval): the same seed gives the same fault kinds, targets (as roles:
// "primary", "replica", "coordinator", a partition's shape) and times. Process
// faults (kill, pause, coordinator) and network faults (partition, delay)
// run on two tracks of their own, so a network fault can be under way when a
// process fault starts (a kill while the primary's links are slow). Within a
// track faults follow one another: each lasts part of --nemesis-interval and
// is healed before the next starts. Targets are resolved when a fault starts,
// from the coordinator's routing at that moment (which node holds the
// primary), so the nodes named in nemesis.jsonl may differ between runs.
//
//   kill        SIGKILL the target node (primary | replica | random node), and
//               start it again (same data) at the end
//   pause       SIGSTOP the target (primary | replica | coordinator), SIGCONT
//               at the end
//   coordinator SIGKILL the coordinator, start it again (its state on disk)
//   partition   through the nodes' fault RPC: isolate the primary | isolate a
//               replica | cut the primary off from the coordinator only | a
//               majority/minority split of nodes and coordinator
//   delay       delay the primary's traffic to its replicas by 50-300 ms
//   drop        lose 10-40% of the primary's messages to its replicas (half
//               of the losses drop the request, half its reply)
//   duplicate   send 20-60% of the primary's replication messages twice
//
// Thread-safety: Nemesis is driven from one thread (the runner's main thread:
// the processes it restarts die with the thread that started them,
// PR_SET_PDEATHSIG).
#ifndef SEQSIM_EXPERIMENT_NEMESIS_H_
#define SEQSIM_EXPERIMENT_NEMESIS_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "experiment/cluster.h"
#include "experiment/history_recorder.h"

namespace seqsim::experiment {

const std::vector<std::string>& NemesisKinds();
// "kill,pause" | "all" | "none" -> kinds; InvalidArgument naming an unknown
// one.
absl::StatusOr<std::vector<std::string>> ParseNemesis(const std::string& list);

struct PlannedFault {
  int64_t start_ms = 0;  // since the workload started
  int64_t end_ms = 0;
  std::string kind;        // kill | pause | coordinator | partition | delay |
                           // drop | duplicate
  std::string target;      // primary | replica | node | coordinator | isolate-
                           // primary | isolate-replica | primary-coordinator |
                           // majority-minority
  int delay_ms = 0;        // delay only
  double probability = 0;  // drop, duplicate: chance per message
  int64_t pick = 0;        // a random number to pick among equal candidates
};

std::vector<PlannedFault> PlanSchedule(const std::vector<std::string>& kinds,
                                       uint64_t seed, absl::Duration duration,
                                       absl::Duration interval);

// One line of nemesis.jsonl: a fault started or ended.
struct NemesisRecord {
  int64_t time_ns = 0;  // history time (HistoryRecorder::NowNs)
  std::string action;   // start | end | skip
  std::string kind;
  std::string target;
  std::vector<std::string> nodes;  // processes it touched
  std::string detail;
};
std::string NemesisJsonLine(const NemesisRecord& record);

class Nemesis {
 public:
  Nemesis(ExperimentCluster* cluster, HistoryRecorder* clock, std::string index,
          int shards, std::vector<PlannedFault> schedule);

  // Starts and ends every fault due by `elapsed` (time since the workload
  // started). Call often.
  void Tick(absl::Duration elapsed);
  // Ends every fault under way, then heals everything: resumes paused
  // processes, restarts killed ones, clears network faults on every node.
  void HealAll();

  const std::vector<NemesisRecord>& records() const { return records_; }
  // A short description of the faults under way, for the progress line.
  std::string Active() const;
  int faults_started() const { return started_; }

 private:
  struct Running {
    PlannedFault fault;
    std::vector<std::string> nodes;
  };
  void Begin(const PlannedFault& fault);
  void End(Running& running);
  // The node holding the primary of a shard chosen by `pick`, or "".
  std::string Primary(int64_t pick);
  std::vector<std::string> Replicas(int64_t pick);
  void Record(const std::string& action, const PlannedFault& fault,
              const std::vector<std::string>& nodes, std::string detail);

  ExperimentCluster* const cluster_;
  HistoryRecorder* const clock_;
  const std::string index_;
  const int shards_;
  const std::vector<PlannedFault> schedule_;
  size_t next_ = 0;
  std::vector<Running> running_;
  // Nodes whose network faults could not be cleared at a fault's end (paused
  // then): cleared as soon as they answer again.
  std::set<std::string> pending_heal_;
  std::vector<NemesisRecord> records_;
  int started_ = 0;
};

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_NEMESIS_H_
