// An in-memory Env for driving the pure coordinator logic in unit tests: a
// virtual clock the test advances, captured outgoing RPCs the test answers, an
// in-memory Disk, a seeded random source, and an event list recording persists
// and sends in the order they happened.
#ifndef SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_
#define SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/env.h"
#include "sim/world/sim_disk.h"

namespace seqsim::testing {

class TestEnv final : public Env {
 public:
  struct Sent {
    std::string to;
    pb::Envelope request;
    ReplyFn on_reply;
  };

  TestEnv();

  absl::Duration Now() override { return now_; }
  int64_t WallMillis() override {
    return 1700000000000 + absl::ToInt64Milliseconds(now_);
  }
  TimerId After(absl::Duration delay, absl::AnyInvocable<void()> fn) override;
  void Cancel(TimerId id) override;
  void Send(const std::string& to, pb::Envelope request, ReplyFn on_reply,
            absl::Duration timeout) override;
  void SetPeerAddress(const std::string& id,
                      const std::string& address) override {
    addresses[id] = address;
  }
  uint64_t RandomU64() override;
  Disk* disk() override { return &disk_; }
  void Log(std::string_view line) override;

  // Moves the clock forward by `delta`, running every timer that falls due, in
  // order.
  void Advance(absl::Duration delta);
  // The actor's process stalls for `delta` (paused, starved): the clock moves
  // on and every overdue timer then runs late, at the new time.
  void Stall(absl::Duration delta);
  // Takes every RPC sent so far and not yet taken.
  std::vector<Sent> TakeSent();
  int pending_timers() const { return static_cast<int>(timers_.size()); }

  sim::SimDisk& memory_disk() { return disk_; }
  std::vector<std::string> log;
  std::vector<std::string>
      events;  // "write <path>", "send <kind> to <node> v<version>"
  std::map<std::string, std::string> addresses;
  std::vector<Sent> outbox;

 private:
  absl::Duration now_ = absl::ZeroDuration();
  uint64_t next_seq_ = 1;
  uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  // (due time, sequence) -> (id, fn)
  std::map<std::pair<absl::Duration, uint64_t>,
           std::pair<TimerId, absl::AnyInvocable<void()>>>
      timers_;
  std::map<TimerId, std::pair<absl::Duration, uint64_t>> timer_keys_;
  sim::SimDisk disk_;
};

}  // namespace seqsim::testing

#endif  // SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_
