#include "common/live/executor.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>

namespace seqsim {

absl::Duration Executor::SteadyNow() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

Executor::Executor(std::string name, Clock clock)
    : name_(std::move(name)), clock_(std::move(clock)) {}

Executor::~Executor() { Stop(); }

void Executor::SetFlushHook(Task flush) { flush_ = std::move(flush); }

void Executor::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] {
    // Named for top -H and perf: "exec:<actor>" (the kernel keeps 15 bytes).
    pthread_setname_np(pthread_self(), ("exec:" + name_).substr(0, 15).c_str());
    Loop();
  });
}

bool Executor::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      wake_.notify_one();
      return true;
    }
  }
  task = nullptr;  // destroyed outside the lock
  return false;
}

uint64_t Executor::After(absl::Duration delay, Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      uint64_t id = next_timer_id_++;
      absl::Duration deadline = clock_() + delay;
      timers_.emplace(std::make_pair(deadline, id), std::move(task));
      timer_deadlines_[id] = deadline;
      timers_changed_ = true;
      NoteNextDeadline();
      wake_.notify_one();
      return id;
    }
  }
  task = nullptr;
  return 0;
}

void Executor::Cancel(uint64_t id) {
  Task cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end()) return;
    auto timer = timers_.find(std::make_pair(it->second, id));
    if (timer != timers_.end()) {
      cancelled = std::move(timer->second);
      timers_.erase(timer);
    }
    timer_deadlines_.erase(it);
    NoteNextDeadline();
  }
  // `cancelled` is destroyed here, without the lock held.
}

void Executor::Stop() {
  std::deque<Task> dropped;
  std::map<TimerKey, Task> dropped_timers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(queue_);
    dropped_timers.swap(timers_);
    timer_deadlines_.clear();
    NoteNextDeadline();
  }
  // `dropped` and `dropped_timers` are destroyed here, without the lock held.
}

bool Executor::InExecutorThread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

void Executor::NoteNextDeadline() {
  next_deadline_ns_.store(
      timers_.empty() ? INT64_MAX
                      : absl::ToInt64Nanoseconds(timers_.begin()->first.first),
      std::memory_order_relaxed);
}

void Executor::TakeDueTimers(absl::Duration now, std::vector<Task>* out) {
  while (!timers_.empty() && timers_.begin()->first.first <= now) {
    auto node = timers_.extract(timers_.begin());
    timer_deadlines_.erase(node.key().second);
    out->push_back(std::move(node.mapped()));
  }
  NoteNextDeadline();
}

void Executor::Loop() {
  std::vector<Task> batch;
  std::vector<Task> due;
  while (true) {
    batch.clear();
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (true) {
        if (stopping_) return;
        TakeDueTimers(clock_(), &batch);
        while (!queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (!batch.empty()) break;
        timers_changed_ = false;
        auto woken = [this] {
          return stopping_ || !queue_.empty() || timers_changed_;
        };
        if (timers_.empty()) {
          wake_.wait(lock, woken);
        } else {
          // Sleeps on the steady clock until the first deadline (measured on
          // clock_), or until something changes.
          const absl::Duration left = timers_.begin()->first.first - clock_();
          wake_.wait_until(lock,
                           std::chrono::steady_clock::now() +
                               absl::ToChronoNanoseconds(
                                   std::max(left, absl::ZeroDuration())),
                           woken);
        }
      }
    }
    for (Task& task : batch) {
      task();
      task = nullptr;
      // Timers that fell due meanwhile run before the rest of the batch.
      if (next_deadline_ns_.load(std::memory_order_relaxed) <=
          absl::ToInt64Nanoseconds(clock_())) {
        due.clear();
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (!stopping_) TakeDueTimers(clock_(), &due);
        }
        for (Task& timer : due) {
          timer();
          timer = nullptr;
        }
      }
    }
    if (flush_) flush_();
  }
}

}  // namespace seqsim
