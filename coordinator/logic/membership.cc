// The coordinator's membership and failure detection: joins (a restarted
// node's copies recover, a reconnect changes only liveness), heartbeats, nodes
// declared dead after heartbeat_timeout of silence or when their process is
// gone (their primaries promoted, R7), dead nodes without copies forgotten
// after dead_node_grace. See coordinator_state.h.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "common/validation.h"
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {

void Coordinator::State::ScheduleCheck() {
  std::weak_ptr<bool> alive = life;
  check_scheduled = true;
  check_timer = env->After(options.check_interval, [this, alive] {
    if (alive.expired()) return;
    check_scheduled = false;
    CheckNodes();
    ScheduleCheck();
  });
}

void Coordinator::State::CheckNodes() {
  PruneHoldoffs();
  std::vector<std::string> reasons;
  bool heartbeat_deaths = false;  // a reason is a node's missed heartbeats
  const absl::Duration now = env->Now();
  // A coordinator that was itself stalled (paused, starved) has not been
  // listening: the nodes' silence is its own. Everyone gets a fresh timeout.
  const absl::Duration stalled = now - last_check;
  last_check = now;
  if (stalled > options.check_interval + options.heartbeat_timeout / 2) {
    Log(LogMark::kRoutine,
        absl::StrCat(
            "no failure check for ",
            absl::FormatDuration(absl::Trunc(stalled, absl::Milliseconds(1))),
            " (this coordinator was stalled): every node gets a "
            "fresh heartbeat timeout"));
    for (auto& [id, peer] : peers) peer.last_seen = now;
  }
  // Most checks find every node on time and nothing to allocate: then the
  // state is not copied (the full pass below would change nothing).
  // How long a node has been silent (a node this coordinator never heard
  // of starts its count now).
  auto silent_for = [&](const std::string& id) {
    auto [it, inserted] = peers.try_emplace(id);
    if (inserted) it->second.last_seen = now;
    return now - it->second.last_seen;
  };
  bool any_dead = false;
  for (const pb::NodeInfo& node : cluster.nodes()) {
    bool holds_copies = CopiesOnNode(cluster, node.id()) > 0;
    if (!node.alive() && !holds_copies) {
      if (silent_for(node.id()) > options.dead_node_grace) {
        any_dead = true;  // to be forgotten
        break;
      }
      continue;
    }
    const Peer& peer = peers[node.id()];
    if (now - peer.last_seen > options.heartbeat_timeout ||
        (node.alive() && !peer.unreachable.empty())) {
      any_dead = true;
      break;
    }
  }
  if (!any_dead && !AllocationPending(cluster)) return;
  pb::ClusterState next = cluster;
  for (pb::NodeInfo& node : *next.mutable_nodes()) {
    bool holds_copies = CopiesOnNode(next, node.id()) > 0;
    if (!node.alive() && !holds_copies) continue;
    const Peer& peer = peers[node.id()];
    absl::Duration silent = now - peer.last_seen;
    const bool gone = node.alive() && !peer.unreachable.empty();
    if (silent <= options.heartbeat_timeout && !gone) continue;
    std::string why =
        silent > options.heartbeat_timeout
            ? absl::StrCat(node.id(), " missed heartbeats for ",
                           absl::FormatDuration(
                               absl::Trunc(silent, absl::Milliseconds(1))),
                           ": dead")
            : absl::StrCat(node.id(), " ", peer.unreachable, ": dead");
    // The failure detector's own words (missed heartbeats) are routine in
    // the teaching views; the removals they cause are the decisions.
    const LogMark mark =
        silent > options.heartbeat_timeout ? LogMark::kRoutine : LogMark::kNote;
    if (mark == LogMark::kRoutine) heartbeat_deaths = true;
    Log(mark, why);
    node.set_alive(false);
    RemoveNodeCopies(&next, node.id(), absl::StrCat(node.id(), " is dead"));
    reasons.push_back(why);
  }
  // Dead nodes without copies, silent for longer than the grace period,
  // leave the state.
  auto* nodes = next.mutable_nodes();
  for (int i = 0; i < nodes->size();) {
    const pb::NodeInfo& node = nodes->Get(i);
    if (node.alive() || CopiesOnNode(next, node.id()) > 0 ||
        silent_for(node.id()) <= options.dead_node_grace) {
      ++i;
      continue;
    }
    std::string why =
        absl::StrCat(node.id(),
                     " left the cluster: dead with no shard copies for more "
                     "than ",
                     absl::FormatDuration(options.dead_node_grace));
    Log(why);
    reasons.push_back(why);
    peers.erase(node.id());
    nodes->erase(nodes->begin() + i);
  }
  Allocate(&next);
  if (SameContent(&next)) return;
  if (reasons.empty()) reasons.push_back("allocation");
  absl::Status committed =
      Commit(std::move(next), absl::StrJoin(reasons, "; "),
             heartbeat_deaths ? LogMark::kRoutine : LogMark::kNote);
  (void)committed;  // logged by Commit; retried on the next check
}

pb::Envelope Coordinator::State::HandleJoin(const pb::JoinRequest& join,
                                            const std::string& from) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_join_response();
  const std::string& id = join.node().id();
  // A node joins as itself: a join naming another node (an invented one, or
  // a real one whose place it would take) changes nothing (issue 13).
  if (!id.empty() && from != id) {
    *response->mutable_error() = ToError(EsStatus(
        absl::StatusCode::kFailedPrecondition, "illegal_state_exception",
        absl::StrCat("join of node [", id,
                     "] refused: it comes from another sender"),
        409));
    reply.set_refused(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    return reply;
  }
  if (id.empty()) {
    *response->mutable_error() =
        ToError(IllegalArgument("join without a node id"));
    return reply;
  }
  if (absl::Status valid = ValidateNodeId(id); !valid.ok()) {
    *response->mutable_error() = ToError(IllegalArgument(valid.message()));
    return reply;
  }
  if (!join.node().grpc_address().empty()) {
    env->SetPeerAddress(id, join.node().grpc_address());
  }
  // What the node holds is logged as information only: allocation decides.
  std::vector<std::string> held;
  for (const pb::LocalShardInfo& info : join.shards()) {
    held.push_back(absl::StrCat(
        ShardName(info.shard().index(), info.shard().shard()), " (term ",
        info.primary_term(), ", max_seq_no ", info.max_seq_no(),
        ", local checkpoint ", info.local_checkpoint(), ")"));
  }
  const std::string holding =
      held.empty() ? " holding no copies"
                   : absl::StrCat(" holding ", absl::StrJoin(held, ", "));
  pb::ClusterState next = cluster;
  pb::NodeInfo* node = FindNodeInfo(&next, id);
  std::string why;
  if (node == nullptr) {
    pb::NodeInfo added = join.node();
    added.set_alive(true);
    auto* nodes = next.mutable_nodes();
    nodes->Add(std::move(added));
    std::sort(nodes->begin(), nodes->end(),
              [](const pb::NodeInfo& a, const pb::NodeInfo& b) {
                return a.id() < b.id();
              });
    why = absl::StrCat(id, " joined");
  } else {
    // A node that restarted may have lost unsynced operations: its copies
    // leave the in-sync set or move to a new term. A node that only lost
    // touch (reconnect) keeps them as they are.
    if (!join.reconnect()) RestartNodeCopies(&next, id);
    node->set_grpc_address(join.node().grpc_address());
    node->set_rest_address(join.node().rest_address());
    node->set_alive(true);
    why = absl::StrCat(
        id, join.reconnect() ? " reconnected" : " rejoined after a restart");
  }
  Log(absl::StrCat(why, holding));
  Peer& peer = peers[id];
  peer.last_seen = env->Now();
  peer.unreachable.clear();
  peer.applied_version = 0;
  Allocate(&next);
  if (!SameContent(&next)) {
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = ToError(committed);
      return reply;
    }
  }
  *response->mutable_state() = cluster;
  return reply;
}

pb::Envelope Coordinator::State::HandleHeartbeat(
    const pb::HeartbeatRequest& heartbeat, const std::string& from) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_heartbeat_response();
  // A node beats for itself: a heartbeat naming another node would keep a
  // dead node "alive" (issue 13).
  if (!heartbeat.node_id().empty() && heartbeat.node_id() != from) {
    *response->mutable_error() = ToError(EsStatus(
        absl::StatusCode::kFailedPrecondition, "illegal_state_exception",
        absl::StrCat("heartbeat of node [", heartbeat.node_id(),
                     "] refused: it comes from another sender"),
        409));
    reply.set_refused(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    return reply;
  }
  const std::string id =
      heartbeat.node_id().empty() ? from : heartbeat.node_id();
  pb::NodeInfo* known = FindNodeInfo(&cluster, id);
  if (known == nullptr) {
    response->set_rejoin(true);
    response->set_state_version(cluster.version());
    return reply;
  }
  Peer& peer = peers[id];
  peer.last_seen = env->Now();
  peer.unreachable.clear();
  peer.applied_version = heartbeat.state_version();
  SettleAcks();
  if (!known->alive()) {
    // Back after being declared dead, or after this coordinator restarted.
    pb::ClusterState next = cluster;
    FindNodeInfo(&next, id)->set_alive(true);
    Allocate(&next);
    absl::Status committed =
        Commit(std::move(next), absl::StrCat(id, " is alive again (heartbeat)"),
               LogMark::kRoutine);
    if (!committed.ok()) *response->mutable_error() = ToError(committed);
  } else if (heartbeat.state_version() < cluster.version()) {
    PublishTo(id);  // no-op when a publication is in flight
  }
  response->set_state_version(cluster.version());
  return reply;
}

}  // namespace seqsim
