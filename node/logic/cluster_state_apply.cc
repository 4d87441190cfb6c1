// Node::State: applying cluster states. Refuses states that may not follow the
// applied one (another cluster, a forged version, a lowered primary term),
// applies the rest in version order: closes copies no longer assigned, gives
// each local copy its role (primary, replica, recovering), keeps a primary's
// in-sync set and replication group in step (R3: writes stop waiting for
// copies removed from it), and reports started copies to the coordinator.
// Promotion itself (R7) is in promotion_resync.cc, demotion (R8) in
// primary_write.cc.
#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/env.h"
#include "node/logic/node_state.h"

namespace seqsim {

absl::Status Node::State::CheckStateCanFollow(const pb::ClusterState& state,
                                              const std::string& from) const {
  // Its form (names, uuids, ranges) was checked where it entered
  // (ValidateMessage at the gRPC adapter); this is what needs the node's
  // own state.
  if (from != kCoordinatorId) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster state version ", state.version(), " refused: it comes from [",
        from, "], not the coordinator"));
  }
  const std::string& cluster = !options.cluster_uuid.empty()
                                   ? options.cluster_uuid
                               : has_state ? cluster_state.cluster_uuid()
                                           : state.cluster_uuid();
  if (state.cluster_uuid() != cluster) {
    return absl::FailedPreconditionError(
        absl::StrCat("cluster state version ", state.version(),
                     " refused: it is of cluster [", state.cluster_uuid(),
                     "], this node belongs to cluster [", cluster, "]"));
  }
  if (!has_state || state.version() <= cluster_state.version())
    return absl::OkStatus();
  if (state.version() - cluster_state.version() > kMaxStateVersionLead) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cluster state version ", state.version(), " refused: it is more than ",
        kMaxStateVersionLead, " versions ahead of the applied version ",
        cluster_state.version()));
  }
  for (const pb::IndexMeta& index : state.indices()) {
    const pb::IndexMeta* applied = FindIndexByUuid(index.uuid());
    if (applied == nullptr) continue;
    for (const pb::ShardRouting& routing : index.shards()) {
      const pb::ShardRouting* before = FindRouting(*applied, routing.shard());
      if (before != nullptr &&
          routing.primary_term() < before->primary_term()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cluster state version ", state.version(), " refused: it lowers ",
            ShardName(index.name(), routing.shard()), "'s primary term from ",
            before->primary_term(), " to ", routing.primary_term()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Node::State::ApplyCheckedState(const pb::ClusterState& state,
                                            const std::string& from) {
  if (absl::Status can = CheckStateCanFollow(state, from); !can.ok()) {
    Log(absl::StrCat(me(), " ", can.message()));
    return can;
  }
  ApplyState(state);
  return absl::OkStatus();
}

void Node::State::ApplyState(const pb::ClusterState& state) {
  if (has_state && state.version() <= cluster_state.version()) {
    if (state.version() < cluster_state.version()) {
      Log(LogMark::kStale,
          absl::StrCat(me(), " ignores cluster state version ", state.version(),
                       ": it applied version ", cluster_state.version()));
    }
    return;
  }
  cluster_state = state;
  has_state = true;
  // "<me> applies cluster state version <v>; [<index>][<shard>] term <t>
  // copies <node>(P|R[,init]) ... in-sync [<node>,...]" for every shard,
  // built in one string.
  std::string line =
      absl::StrCat(me(), " applies cluster state version ", state.version());
  for (const auto& index : state.indices()) {
    for (const auto& routing : index.shards()) {
      absl::StrAppend(&line, "; [", index.name(), "][", routing.shard(),
                      "] term ", routing.primary_term(), " copies ");
      const char* separator = "";
      for (const auto& copy : routing.copies()) {
        absl::StrAppend(
            &line, separator, copy.node_id(), copy.primary() ? "(P" : "(R",
            copy.state() == pb::ShardCopy::STARTED ? ")" : ",init)");
        separator = " ";
      }
      absl::StrAppend(&line, " in-sync [",
                      absl::StrJoin(routing.in_sync(), ","), "]");
    }
  }
  Log(line);
  for (const auto& node : state.nodes()) {
    if (node.id() != me() && !node.grpc_address().empty()) {
      env->SetPeerAddress(node.id(), node.grpc_address());
    }
  }
  // Copies whose index is gone or that are no longer assigned here.
  std::vector<std::pair<CopyKey, std::string>> to_close;
  for (const auto& [key, copy] : copies) {
    const pb::IndexMeta* index = FindIndexByUuid(key.first);
    if (index == nullptr) {
      to_close.emplace_back(key, "index deleted");
      continue;
    }
    const pb::ShardRouting* routing = FindRouting(*index, key.second);
    const bool assigned =
        routing != nullptr && CopyOnNode(*routing, me()) != nullptr;
    if (!assigned)
      to_close.emplace_back(key, "no longer assigned to this node");
  }
  // A deleted index's data goes; a copy merely unassigned keeps its files, so
  // that when this node gets the shard again (a restarted or partitioned
  // replica) it recovers by operations above its own local checkpoint instead
  // of copying everything (R9).
  for (const auto& [key, why] : to_close)
    CloseCopy(key, /*remove_data=*/why == "index deleted", why);

  for (const auto& index : state.indices()) {
    for (const auto& routing : index.shards()) {
      for (const auto& shard_copy : routing.copies()) {
        if (shard_copy.node_id() == me())
          ApplyShard(index, routing, shard_copy);
      }
    }
  }
  CheckForwards();
  auto waiters = std::move(state_waiters);
  state_waiters.clear();
  for (auto& waiter : waiters) {
    if (!*waiter) continue;  // its timer ran it
    auto fn = std::move(*waiter);
    *waiter = nullptr;
    fn();
  }
}

void Node::State::ApplyShard(const pb::IndexMeta& index,
                             const pb::ShardRouting& routing,
                             const pb::ShardCopy& mine) {
  absl::StatusOr<LocalCopy*> opened =
      OpenCopy(index.uuid(), index.name(), routing.shard());
  if (!opened.ok()) {
    Log(absl::StrCat(me(), " cannot open ",
                     ShardName(index.name(), routing.shard()), ": ",
                     opened.status().ToString()));
    return;
  }
  LocalCopy* copy = *opened;
  copy->in_sync = std::find(routing.in_sync().begin(), routing.in_sync().end(),
                            me()) != routing.in_sync().end();
  if (mine.primary()) {
    if (copy->role != Role::kPrimary ||
        routing.primary_term() > copy->assigned_term) {
      BecomePrimary(copy, routing);
    } else {
      UpdateReplicationGroup(copy, routing);
    }
    if (mine.state() == pb::ShardCopy::INITIALIZING && !copy->started_sent) {
      ReportStarted(copy->key, copy->incarnation, me(), routing.primary_term(),
                    mine.allocation_id());
    }
  } else {
    if (copy->role == Role::kPrimary)
      Demote(copy, "the cluster state names another primary");
    // A replica adopts a new term from the new primary's first request (see
    // Fence), which carries the global checkpoint to roll back to.
    if (mine.state() == pb::ShardCopy::STARTED) {
      copy->role = Role::kReplica;
    } else {
      copy->role = Role::kRecovering;
      MaybeStartRecovery(copy);
    }
  }
  copy->assigned_term = routing.primary_term();
}

void Node::State::RefreshInSync(LocalCopy* copy) {
  std::set<std::string> in_sync = copy->in_sync_nodes;
  for (const auto& [node, version] : copy->pending_in_sync) {
    in_sync.insert(node);
  }
  copy->tracker->SetInSync(in_sync);
}

void Node::State::DropUnsyncedWaits(LocalCopy* copy) {
  std::vector<uint64_t> ids;
  for (auto& [id, write] : copy->inflight) {
    for (auto it = write->awaiting.begin(); it != write->awaiting.end();) {
      it = copy->tracker->IsInSync(*it) ? std::next(it)
                                        : write->awaiting.erase(it);
    }
    ids.push_back(id);
  }
  for (uint64_t id : ids) MaybeComplete(copy, id);
}

void Node::State::UpdateReplicationGroup(LocalCopy* copy,
                                         const pb::ShardRouting& routing) {
  std::set<std::string> in_sync(routing.in_sync().begin(),
                                routing.in_sync().end());
  in_sync.insert(me());
  std::set<std::string> assigned;
  for (const auto& shard_copy : routing.copies())
    assigned.insert(shard_copy.node_id());
  copy->in_sync_nodes = in_sync;
  if (copy->stale) return;
  const int64_t version = cluster_state.version();
  for (auto it = copy->pending_in_sync.begin();
       it != copy->pending_in_sync.end();) {
    // Listed: the state took over. A state at least as new as the one that
    // listed it, without it: the coordinator has since removed it.
    it = in_sync.count(it->first) > 0 || version >= it->second
             ? copy->pending_in_sync.erase(it)
             : std::next(it);
  }
  RefreshInSync(copy);
  for (const std::string& target : copy->tracker->ReplicationTargets()) {
    if (assigned.count(target) == 0 &&
        copy->pending_in_sync.count(target) == 0) {
      copy->tracker->RemoveTracking(target);
    }
  }
  for (auto it = copy->reporting.begin(); it != copy->reporting.end();) {
    it = in_sync.count(*it) == 0 ? copy->reporting.erase(it) : std::next(it);
  }
  DropUnsyncedWaits(copy);
}

void Node::State::ReportStarted(const CopyKey& key, uint64_t incarnation,
                                const std::string& node, PrimaryTerm term,
                                const std::string& allocation_id) {
  LocalCopy* copy = FindCopy(key, incarnation);
  if (copy == nullptr) return;
  if (node == me()) copy->started_sent = true;
  pb::Envelope envelope;
  pb::ShardStartedRequest* started = envelope.mutable_shard_started();
  started->mutable_shard()->set_index(copy->index);
  started->mutable_shard()->set_shard(key.second);
  started->set_node_id(node);
  started->set_primary_term(term);
  started->set_allocation_id(allocation_id);
  started->set_local_checkpoint(node == me() ? copy->engine->local_checkpoint()
                                : copy->tracker
                                    ? copy->tracker->LocalCheckpointOf(node)
                                    : kNoOpsPerformed);
  Send(
      kCoordinatorId, std::move(envelope),
      [this, key, incarnation,
       node](const absl::StatusOr<pb::Envelope>& reply) {
        if (node != me()) return;
        LocalCopy* copy = FindCopy(key, incarnation);
        if (copy == nullptr) return;
        if (!reply.ok())
          copy->started_sent = false;  // retried on the next state
      },
      options.rpc_timeout);
}

}  // namespace seqsim
