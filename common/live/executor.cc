#include "common/live/executor.h"

#include <vector>

namespace seqsim {

Executor::Executor(std::string name) : name_(std::move(name)) {}

Executor::~Executor() { Stop(); }

void Executor::SetFlushHook(Task flush) { flush_ = std::move(flush); }

void Executor::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

bool Executor::Post(Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      queue_.push_back(std::move(task));
      return true;
    }
  }
  task = nullptr;  // destroyed outside the lock
  return false;
}

uint64_t Executor::After(absl::Duration delay, Task task) {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      uint64_t id = next_timer_id_++;
      absl::Time deadline = absl::Now() + delay;
      timers_.emplace(std::make_pair(deadline, id), std::move(task));
      timer_deadlines_[id] = deadline;
      timers_changed_ = true;
      return id;
    }
  }
  task = nullptr;
  return 0;
}

void Executor::Cancel(uint64_t id) {
  Task cancelled;
  {
    absl::MutexLock lock(&mu_);
    auto it = timer_deadlines_.find(id);
    if (it == timer_deadlines_.end()) return;
    auto timer = timers_.find(std::make_pair(it->second, id));
    if (timer != timers_.end()) {
      cancelled = std::move(timer->second);
      timers_.erase(timer);
    }
    timer_deadlines_.erase(it);
  }
  // `cancelled` is destroyed here, without the lock held.
}

void Executor::Stop() {
  std::deque<Task> dropped;
  std::map<std::pair<absl::Time, uint64_t>, Task> dropped_timers;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    dropped.swap(queue_);
    dropped_timers.swap(timers_);
    timer_deadlines_.clear();
  }
  // `dropped` and `dropped_timers` are destroyed here, without the lock held.
}

bool Executor::InExecutorThread() const {
  return std::this_thread::get_id() == thread_.get_id();
}

void Executor::Loop() {
  std::vector<Task> batch;
  while (true) {
    batch.clear();
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (stopping_) return;
        absl::Time now = absl::Now();
        while (!timers_.empty() && timers_.begin()->first.first <= now) {
          auto node = timers_.extract(timers_.begin());
          timer_deadlines_.erase(node.key().second);
          batch.push_back(std::move(node.mapped()));
        }
        while (!queue_.empty()) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (!batch.empty()) break;
        absl::Time deadline = timers_.empty() ? absl::InfiniteFuture()
                                              : timers_.begin()->first.first;
        timers_changed_ = false;
        auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stopping_ || !queue_.empty() || timers_changed_;
        };
        mu_.AwaitWithDeadline(absl::Condition(&wake), deadline);
      }
    }
    for (Task& task : batch) {
      task();
      task = nullptr;
    }
    if (flush_) flush_();
  }
}

}  // namespace seqsim
