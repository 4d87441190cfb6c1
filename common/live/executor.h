// Executor: the one thread that runs an actor (DESIGN.md section 2: an actor's
// state is touched by one thread at a time; gRPC threads never touch it).
//
// The thread drains its task queue in batches: it takes every task queued so
// far (plus every timer that is due), runs them in order, then calls the flush
// hook once. With the actor's Flush() as the hook this is the group commit:
// many concurrent writes handled in one batch share one translog fsync.
//
// Timers come first: a timer that falls due while a batch runs is run between
// two tasks of that batch, not after the whole batch. A node's heartbeats and
// the coordinator's failure checks are timers, so a long batch of bulk
// requests delays them by one task at most (issue 12, section 5).
//
// Timer deadlines are on the steady clock (the Env::Now of LiveEnv; tests may
// inject another clock), and the thread sleeps on a condition variable whose
// timed wait uses CLOCK_MONOTONIC: a wall-clock step neither fires a timer
// early nor holds it back. (Abseil 20220623's timed waits use CLOCK_REALTIME,
// hence std::mutex and std::condition_variable here.)
//
// Thread-safety: Post/After/Cancel/Stop may be called from any thread. Tasks
// posted after Stop() are destroyed without running (their destructors run on
// the caller's thread).
#ifndef SEQSIM_COMMON_LIVE_EXECUTOR_H_
#define SEQSIM_COMMON_LIVE_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace seqsim {

class Executor {
 public:
  using Task = absl::AnyInvocable<void()>;
  // A monotonic clock: time since an arbitrary origin.
  using Clock = std::function<absl::Duration()>;

  // The steady clock (std::chrono::steady_clock), as LiveEnv::Now reads it.
  static absl::Duration SteadyNow();

  explicit Executor(std::string name, Clock clock = SteadyNow);
  ~Executor();  // Stop()s.
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Sets the hook run after each batch. Call before Start().
  void SetFlushHook(Task flush);
  // Starts the thread. Tasks posted before Start() run in the first batch.
  void Start();
  // Queues `task`; false (and `task` destroyed) once stopped.
  bool Post(Task task);
  // Runs `task` on the executor once `delay` has passed on the clock; returns
  // an id for Cancel (0 once stopped).
  uint64_t After(absl::Duration delay, Task task);
  // Cancels a pending timer; no-op if it already ran or is unknown.
  void Cancel(uint64_t id);
  // Stops the thread after the batch in progress; pending tasks and timers are
  // destroyed. Must not be called from the executor thread.
  void Stop();
  // True on the executor's own thread.
  bool InExecutorThread() const;

 private:
  using TimerKey = std::pair<absl::Duration, uint64_t>;  // (deadline, id)

  void Loop();
  // Moves every timer due at `now` into `out`. Requires mu_ held.
  void TakeDueTimers(absl::Duration now, std::vector<Task>* out);
  // Refreshes next_deadline_ns_ from timers_. Requires mu_ held.
  void NoteNextDeadline();

  // Constant after construction (flush_: after Start()).
  const std::string name_;
  const Clock clock_;
  Task flush_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_;  // signalled with mu_ for every change below
  // Guarded by mu_.
  std::deque<Task> queue_;
  // Pending timers ordered by (deadline, id): ties run in the order they were
  // set.
  std::map<TimerKey, Task> timers_;
  absl::flat_hash_map<uint64_t, absl::Duration> timer_deadlines_;
  uint64_t next_timer_id_ = 1;
  bool timers_changed_ = false;
  bool stopping_ = false;
  bool started_ = false;
  // The earliest timer deadline in ns (INT64_MAX: none), written with mu_ held
  // and read without it between the tasks of a batch.
  std::atomic<int64_t> next_deadline_ns_{INT64_MAX};
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_EXECUTOR_H_
