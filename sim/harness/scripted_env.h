// ScriptedEnv: the SimWorld env for unit tests that drive one actor by hand
// (tests/coordinator). The actor runs on a hosted endpoint of a SimWorld
// (SimWorld::AddHostedEnv): its clock, timers, SimDisk and random source are
// the world's. What the sim env does not have and such tests need is added
// here: the actor's outgoing RPCs are not put on the simulated network but
// kept in an outbox for the test to inspect and answer (each `on_reply` is
// the test's to call, at most once), and its log lines are kept in order.
//
// Advance(delta) runs the world up to now + delta (every timer due by then,
// in (time, sequence) order, each at its own time); Stall(delta) pauses the
// actor for delta, so its overdue timers then run late, at the new time.
//
// Thread-safety: none; one test thread.
#ifndef SEQSIM_SIM_HARNESS_SCRIPTED_ENV_H_
#define SEQSIM_SIM_HARNESS_SCRIPTED_ENV_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "proto/seqsim.pb.h"
#include "sim/world/sim_disk.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim {

class ScriptedEnv : public Env {
 public:
  struct Sent {
    std::string to;
    pb::Envelope request;
    ReplyFn on_reply;
  };

  // The actor's endpoint is `id` in a world seeded with `seed`.
  explicit ScriptedEnv(const std::string& id = kCoordinatorId,
                       uint64_t seed = 1);
  ~ScriptedEnv() override = default;

  absl::Duration Now() override { return env_->Now(); }
  int64_t WallMillis() override { return env_->WallMillis(); }
  TimerId After(absl::Duration delay, absl::AnyInvocable<void()> fn) override {
    return env_->After(delay, std::move(fn));
  }
  void Cancel(TimerId id) override { env_->Cancel(id); }
  // Kept in `outbox` (after OnSend); nothing goes on the network.
  void Send(const std::string& to, pb::Envelope request, ReplyFn on_reply,
            absl::Duration timeout) override;
  void SetPeerAddress(const std::string& id,
                      const std::string& address) override {
    addresses[id] = address;
  }
  uint64_t RandomU64() override { return env_->RandomU64(); }
  Disk* disk() override { return env_->disk(); }
  // Kept in `log`; also on stderr with SEQSIM_TEST_VERBOSE set.
  void Log(std::string_view line) override;

  // Runs every timer that falls due within `delta`, in order; now += delta.
  void Advance(absl::Duration delta);
  // The actor's process stalls for `delta` (paused, starved): the clock moves
  // on and every overdue timer then runs late, at the new time.
  void Stall(absl::Duration delta);
  // Takes every RPC sent so far and not yet taken.
  std::vector<Sent> TakeSent();
  int pending_timers() const { return world_.pending_timers(id_); }

  SimWorld& world() { return world_; }
  SimDisk& memory_disk() { return *world_.disk(id_); }

  std::vector<std::string> log;
  std::map<std::string, std::string> addresses;
  std::vector<Sent> outbox;

 protected:
  // Sees each request as it is sent, before it joins the outbox.
  virtual void OnSend(const std::string& to, const pb::Envelope& request) {
    (void)to;
    (void)request;
  }

 private:
  const std::string id_;
  SimWorld world_;
  Env* env_ = nullptr;  // the world's SimEnv for id_
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_HARNESS_SCRIPTED_ENV_H_
