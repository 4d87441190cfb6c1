// SimWorld's faults (sim_world.h): crash and restart of an actor, pause and
// resume, blocked links (partitions) and healing them.
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sim/world/sim_world.h"
#include "sim/world/sim_world_internal.h"

namespace seqsim::sim {

void SimWorld::Crash(const std::string& id) {
  const int index = EndpointIndex(id);
  if (index < 0 || !endpoints_[index]->is_actor || !endpoints_[index]->up)
    return;
  Endpoint& e = *endpoints_[index];
  if (tracing()) Trace(id, "crash");
  // Outgoing RPCs die with the process; callers waiting on it see the
  // connection reset.
  // In RPC id order: the errors draw latencies from the seeded generator.
  std::vector<uint64_t> ids;
  for (const auto& [rpc, pending] : rpcs_) {
    if (pending.caller == index || pending.callee == index) ids.push_back(rpc);
  }
  std::sort(ids.begin(), ids.end());
  std::vector<ReplyFn> dead_callbacks;
  for (uint64_t rpc : ids) {
    auto it = rpcs_.find(rpc);
    if (it->second.caller == index) {
      dead_callbacks.push_back(std::move(it->second.on_reply));
      rpcs_.erase(it);
      continue;
    }
    SendError(rpc, it->second.caller,
              absl::UnavailableError(absl::StrCat("connection reset: ", id)),
              Latency(index, it->second.caller));
  }
  for (uint32_t slot : e.held) TakeEvent(slot);
  e.held.clear();
  for (uint32_t slot : e.busy_held) TakeEvent(slot);
  e.busy_held.clear();
  e.busy_until = 0;
  e.release_pending = false;
  e.timers.clear();
  e.actor.reset();
  dead_callbacks.clear();
  e.up = false;
  e.paused = false;
  ++e.incarnation;
  e.disk->Crash(network_.torn_writes ? &rng_ : nullptr);
}

void SimWorld::Restart(const std::string& id) {
  const int index = EndpointIndex(id);
  if (index < 0 || !endpoints_[index]->is_actor || endpoints_[index]->up)
    return;
  Endpoint& e = *endpoints_[index];
  ++e.incarnation;
  e.env->Reseed(DeriveSeed(seed_, id, e.incarnation));
  if (tracing()) Trace(id, "restart");
  StartActor(index);
}

void SimWorld::Pause(const std::string& id) {
  const int index = EndpointIndex(id);
  if (index < 0 || !endpoints_[index]->is_actor || !endpoints_[index]->up)
    return;
  if (tracing()) Trace(id, "pause");
  endpoints_[index]->paused = true;
}

void SimWorld::Resume(const std::string& id) {
  const int index = EndpointIndex(id);
  if (index < 0 || !endpoints_[index]->paused) return;
  Endpoint& e = *endpoints_[index];
  e.paused = false;
  if (tracing())
    Trace(id, absl::StrCat("resume (", e.held.size(), " events held)"));
  for (uint32_t slot : e.held) Push(now_ns_, slot);
  e.held.clear();
}

void SimWorld::SetLinkBlocked(const std::string& from, const std::string& to,
                              bool blocked) {
  int a = EndpointIndex(from);
  int b = EndpointIndex(to);
  if (a < 0) a = ClientEndpoint(from);
  if (b < 0) b = ClientEndpoint(to);
  if (blocked) {
    blocked_.insert({a, b});
  } else {
    blocked_.erase({a, b});
  }
}

bool SimWorld::IsLinkBlocked(const std::string& from,
                             const std::string& to) const {
  const int a = EndpointIndex(from);
  const int b = EndpointIndex(to);
  return a >= 0 && b >= 0 && blocked_.count({a, b}) > 0;
}

void SimWorld::HealLinks() { blocked_.clear(); }

}  // namespace seqsim::sim
