// The private parts of SimWorld (sim_world.h), shared by the files that
// implement it: sim_world.cc (actors, network, the event loop) and faults.cc
// (crash, restart, pause, partitions). Internal to sim/world.
#ifndef SEQSIM_SIM_WORLD_SIM_WORLD_INTERNAL_H_
#define SEQSIM_SIM_WORLD_SIM_WORLD_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "sim/world/rng.h"
#include "sim/world/sim_disk.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim {
namespace world_internal {

// Virtual wall clock: 2024-01-01T00:00:00Z plus virtual time (display only).
inline constexpr int64_t kEpochMillis = 1704067200000;

inline int64_t ToNs(absl::Duration d) {
  int64_t ns = absl::ToInt64Nanoseconds(d);
  return ns < 0 ? 0 : ns;
}

}  // namespace world_internal

struct SimWorld::Endpoint {
  std::string id;
  bool is_actor = false;
  ActorFactory factory;
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<SimEnvImpl> env;
  std::unique_ptr<Actor> actor;
  bool up = true;
  bool paused = false;
  uint64_t incarnation = 0;
  std::deque<uint32_t> held;  // event slots waiting for Resume()
  absl::flat_hash_set<TimerId> timers;
  // Fsync time: the actor is busy until busy_until; events that reach it
  // meanwhile wait in busy_held for one release event at busy_until.
  int64_t busy_until = 0;
  std::vector<uint32_t> busy_held;
  bool release_pending = false;
  int64_t sync_base = -1;  // base fsync time, drawn on first use
};

struct SimWorld::Event {
  EventInfo::Kind kind = EventInfo::kWorld;
  int target = -1;  // endpoint index; -1 = the world itself
  uint64_t incarnation = 0;
  uint64_t id = 0;  // rpc id (request, reply, timeout) or timer id
  int from = -1;
  bool release = false;  // runs target's busy_held as a batch
  bool is_error = false;
  absl::Status status;
  std::string bytes;
  absl::AnyInvocable<void()> fn;
};

struct SimWorld::PendingRpc {
  int caller = -1;
  uint64_t caller_incarnation = 0;
  int callee = -1;
  uint64_t callee_incarnation = 0;
  ReplyFn on_reply;
  std::string request_bytes;  // kept only when an RPC observer is set
};

class SimWorld::SimEnvImpl final : public Env {
 public:
  SimEnvImpl(SimWorld* world, int index, uint64_t seed)
      : world_(world), index_(index), rng_(seed) {}

  absl::Duration Now() override {
    // An actor that has spent time in fsync during this event sees it pass.
    return absl::Nanoseconds(world_->running_ == index_ ? world_->Departure()
                                                        : world_->now_ns());
  }
  int64_t WallMillis() override {
    return world_internal::kEpochMillis + world_->now_ns() / 1000000;
  }
  TimerId After(absl::Duration delay, absl::AnyInvocable<void()> fn) override {
    return world_->AddTimer(index_, delay, std::move(fn));
  }
  void Cancel(TimerId id) override { world_->CancelTimer(index_, id); }
  void Send(const std::string& to, pb::Envelope request, ReplyFn on_reply,
            absl::Duration timeout) override {
    world_->SendRequest(index_, world_->EndpointIndex(to), request,
                        std::move(on_reply), timeout);
  }
  void SetPeerAddress(const std::string&, const std::string&) override {}
  uint64_t RandomU64() override { return rng_.Next(); }
  Disk* disk() override { return world_->endpoints_[index_]->disk.get(); }
  void Log(std::string_view line) override {
    if (world_->tracing()) world_->Trace(world_->endpoints_[index_]->id, line);
  }
  void Log(LogMark mark, std::string_view line) override {
    if (world_->tracing())
      world_->Trace(world_->endpoints_[index_]->id, line, mark);
  }

  void Reseed(uint64_t seed) { rng_ = Rng(seed); }

 private:
  SimWorld* const world_;
  const int index_;
  Rng rng_;
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_WORLD_SIM_WORLD_INTERNAL_H_
