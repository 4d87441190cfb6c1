// HistoryRecorder: the experiment's history, in the lab's format
// (sim/checker/history.h), recorded by many client threads at once, plus the
// stamps (_seq_no, _primary_term, _version) of every acknowledged write, which
// the history format does not carry and the acknowledged-writes check needs.
//
// Times are nanoseconds on the steady clock since the recorder was made, so
// the history's "time" is monotonic even if the wall clock steps.
//
// Thread-safety: every method may be called from any thread.
#ifndef SEQSIM_EXPERIMENT_HISTORY_RECORDER_H_
#define SEQSIM_EXPERIMENT_HISTORY_RECORDER_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sim/checker/history.h"

namespace seqsim::experiment {

// What an acknowledged write (a definite "ok" that changed the document)
// was stamped with by its primary.
struct AckedWrite {
  std::string key;
  int shard = 0;
  sim::Fn f = sim::Fn::kWrite;
  int64_t value = sim::kNil;  // the value written (kNil for a delete)
  int64_t seq_no = -1;
  int64_t primary_term = 0;
  int64_t version = 0;
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;
};

class HistoryRecorder {
 public:
  HistoryRecorder() : origin_(std::chrono::steady_clock::now()) {}

  // Nanoseconds since construction.
  int64_t NowNs() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now() - origin_)
        .count();
  }

  // Appends `event`, stamping its time now; returns that time.
  int64_t Record(sim::HistoryEvent event) {
    absl::MutexLock lock(&mu_);
    event.time = NowNs();
    events_.push_back(std::move(event));
    return events_.back().time;
  }
  void RecordAck(AckedWrite ack) {
    absl::MutexLock lock(&mu_);
    acks_.push_back(std::move(ack));
  }

  std::vector<sim::HistoryEvent> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::vector<AckedWrite> Acks() const {
    absl::MutexLock lock(&mu_);
    return acks_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return events_.size();
  }

 private:
  const std::chrono::steady_clock::time_point origin_;
  mutable absl::Mutex mu_;
  std::vector<sim::HistoryEvent> events_ ABSL_GUARDED_BY(mu_);
  std::vector<AckedWrite> acks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_HISTORY_RECORDER_H_
