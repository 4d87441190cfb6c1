// Monitor: samples every node's shard copies (role, term, checkpoints) a few
// times a second while an experiment runs, for the timeline's checkpoint
// charts and term-change marks. Purely an observer: the checks do not use it.
//
// Thread-safety: Start/Stop from one thread; the sampler runs on its own.
#ifndef SEQSIM_EXPERIMENT_MONITOR_H_
#define SEQSIM_EXPERIMENT_MONITOR_H_

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "experiment/cluster.h"
#include "experiment/history_recorder.h"
#include "sim/timeline/events.h"

namespace seqsim::experiment {

class Monitor {
 public:
  Monitor(ExperimentCluster* cluster, HistoryRecorder* clock, std::string index,
          absl::Duration period = absl::Milliseconds(250));
  ~Monitor();  // Stop()
  void Start();
  void Stop();

  // Checkpoint events (one per change of a copy) and "promoted" marks (a
  // shard's primary term went up), in time order.
  std::vector<timeline::Event> Events() const;
  // Highest primary term seen per shard.
  std::map<int, int64_t> Terms() const;

 private:
  void Sample();

  ExperimentCluster* const cluster_;
  HistoryRecorder* const clock_;
  const std::string index_;
  const absl::Duration period_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::vector<timeline::Event> events_ ABSL_GUARDED_BY(mu_);
  // (node, shard) -> last (max_seq_no, lcp, gcp, term, role) drawn.
  std::map<std::pair<std::string, int>,
           std::tuple<int64_t, int64_t, int64_t, int64_t, std::string>>
      last_ ABSL_GUARDED_BY(mu_);
  std::map<int, int64_t> terms_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_MONITOR_H_
