// Executor: the one thread that runs an actor (DESIGN.md section 2: an actor's
// state is touched by one thread at a time; gRPC threads never touch it).
//
// The thread drains its task queue in batches: it takes every task queued so
// far (plus every timer that is due), runs them in order, then calls the flush
// hook once. With the actor's Flush() as the hook this is the group commit:
// many concurrent writes handled in one batch share one translog fsync.
//
// Thread-safety: Post/After/Cancel/Stop may be called from any thread. Tasks
// posted after Stop() are destroyed without running (their destructors run on
// the caller's thread).
#ifndef SEQSIM_COMMON_LIVE_EXECUTOR_H_
#define SEQSIM_COMMON_LIVE_EXECUTOR_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace seqsim {

class Executor {
 public:
  using Task = absl::AnyInvocable<void()>;

  explicit Executor(std::string name);
  ~Executor();  // Stop()s.
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Sets the hook run after each batch. Call before Start().
  void SetFlushHook(Task flush);
  // Starts the thread. Tasks posted before Start() run in the first batch.
  void Start();
  // Queues `task`; false (and `task` destroyed) once stopped.
  bool Post(Task task);
  // Runs `task` on the executor after `delay`; returns an id for Cancel (0 once
  // stopped).
  uint64_t After(absl::Duration delay, Task task);
  // Cancels a pending timer; no-op if it already ran or is unknown.
  void Cancel(uint64_t id);
  // Stops the thread after the batch in progress; pending tasks and timers are
  // destroyed. Must not be called from the executor thread.
  void Stop();
  // True on the executor's own thread.
  bool InExecutorThread() const;

 private:
  void Loop();

  const std::string name_;
  Task flush_;  // constant after Start()
  std::thread thread_;

  mutable absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  // Pending timers ordered by (deadline, id): ties run in the order they were
  // set.
  std::map<std::pair<absl::Time, uint64_t>, Task> timers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, absl::Time> timer_deadlines_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_timer_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool timers_changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_EXECUTOR_H_
