// The coordinator's routing decisions, made on a copy `next` of the cluster
// state: a removed copy leaves the in-sync set only while another started
// in-sync copy remains (the last one may hold acknowledged writes no one else
// has); restarted copies recover or keep the primary with term + 1; missing
// copies are placed (fewest copies first, never two copies of a shard on one
// node); a lost primary is replaced by a started in-sync replica with term + 1
// (R7), never by an out-of-sync copy. See coordinator_state.h.
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
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {
namespace {

void EraseId(google::protobuf::RepeatedPtrField<std::string>* ids,
             const std::string& id) {
  for (int i = 0; i < ids->size(); ++i) {
    if (ids->Get(i) == id) {
      ids->erase(ids->begin() + i);
      return;
    }
  }
}

}  // namespace

void Coordinator::State::RemoveCopy(pb::ClusterState* next,
                                    const pb::IndexMeta& index,
                                    pb::ShardRouting* routing,
                                    const std::string& node,
                                    const std::string& why) {
  auto* copies = routing->mutable_copies();
  bool was_primary = false;
  bool found = false;
  for (int i = 0; i < copies->size(); ++i) {
    if (copies->Get(i).node_id() == node) {
      was_primary = copies->Get(i).primary();
      copies->erase(copies->begin() + i);
      found = true;
      break;
    }
  }
  if (!found) return;
  holdoff[{index.uuid(), routing->shard(), node}] = next->version() + 1;
  bool other_in_sync = false;
  for (const pb::ShardCopy& copy : routing->copies()) {
    if (IsStartedInSync(*routing, copy)) {
      other_in_sync = true;
    }
  }
  std::string line = absl::StrCat(
      "remove ", was_primary ? "primary" : "replica", " of ",
      ShardName(index.name(), routing->shard()), " on ", node, " (", why, ")");
  if (InInSyncSet(*routing, node)) {
    if (other_in_sync) {
      EraseId(routing->mutable_in_sync(), node);
      absl::StrAppend(&line, "; out of the in-sync set");
    } else {
      absl::StrAppend(&line,
                      "; it stays in the in-sync set: no other in-sync copy ",
                      "remains, so no other copy may become primary");
    }
  }
  Log(line);
}

void Coordinator::State::RemoveNodeCopies(pb::ClusterState* next,
                                          const std::string& node,
                                          const std::string& why) {
  for (pb::IndexMeta& index : *next->mutable_indices()) {
    for (pb::ShardRouting& routing : *index.mutable_shards()) {
      RemoveCopy(next, index, &routing, node, why);
    }
  }
}

void Coordinator::State::RestartNodeCopies(pb::ClusterState* next,
                                           const std::string& node) {
  for (pb::IndexMeta& index : *next->mutable_indices()) {
    for (pb::ShardRouting& routing : *index.mutable_shards()) {
      pb::ShardCopy* copy = CopyOnNode(&routing, node);
      if (copy == nullptr) continue;
      const std::string shard = ShardName(index.name(), routing.shard());
      bool other_in_sync = false;
      for (const pb::ShardCopy& other : routing.copies()) {
        if (other.node_id() != node && IsStartedInSync(routing, other)) {
          other_in_sync = true;
        }
      }
      if (other_in_sync) {
        Log(absl::StrCat(node, " restarted: its ",
                         copy->primary() ? "primary" : "replica", " of ", shard,
                         " leaves the in-sync set and recovers as a replica"));
        copy->set_primary(false);
        copy->set_state(pb::ShardCopy::INITIALIZING);
        EraseId(routing.mutable_in_sync(), node);
      } else if (copy->primary()) {
        const int64_t old_term = routing.primary_term();
        routing.set_primary_term(old_term + 1);
        Log(absl::StrCat(node, " restarted holding the only in-sync copy of ",
                         shard, ": it stays primary, term ", old_term, " -> ",
                         routing.primary_term()));
      } else if (InInSyncSet(routing, node) &&
                 copy->state() == pb::ShardCopy::STARTED) {
        Log(LogMark::kPromoted,
            absl::StrCat(node, " restarted holding the only in-sync copy of ",
                         shard, " (a replica): it may be promoted"));
      } else {
        copy->set_state(pb::ShardCopy::INITIALIZING);
        Log(absl::StrCat(node, " restarted: its copy of ", shard,
                         " recovers from the primary"));
      }
    }
  }
}

bool Coordinator::State::HeldOff(const pb::IndexMeta& index, int shard,
                                 const std::string& node) {
  auto it = holdoff.find({index.uuid(), shard, node});
  if (it == holdoff.end()) return false;
  return peers[node].applied_version < it->second;
}

void Coordinator::State::PruneHoldoffs() {
  for (auto it = holdoff.begin(); it != holdoff.end();) {
    const auto& [uuid, shard, node] = it->first;
    const bool index_exists = FindIndexByUuid(cluster, uuid) != nullptr;
    if (!index_exists || peers[node].applied_version >= it->second) {
      it = holdoff.erase(it);
    } else {
      ++it;
    }
  }
}

std::string Coordinator::State::PickNode(const pb::ClusterState& next,
                                         const pb::IndexMeta& index,
                                         const pb::ShardRouting& routing) {
  std::string best;
  int best_count = 0;
  for (const pb::NodeInfo& node : next.nodes()) {  // sorted by id
    if (!node.alive() || CopyOnNode(routing, node.id()) != nullptr) continue;
    if (HeldOff(index, routing.shard(), node.id())) continue;
    int count = CopiesOnNode(next, node.id());
    if (best.empty() || count < best_count) {
      best = node.id();
      best_count = count;
    }
  }
  return best;
}

void Coordinator::State::Allocate(pb::ClusterState* next) {
  for (pb::IndexMeta& index : *next->mutable_indices()) {
    for (pb::ShardRouting& routing : *index.mutable_shards()) {
      if (PrimaryCopy(&routing) == nullptr)
        AssignPrimary(next, index, &routing);
    }
    for (pb::ShardRouting& routing : *index.mutable_shards()) {
      if (PrimaryCopy(&routing) == nullptr)
        continue;  // a replica needs a primary
      while (routing.copies_size() < 1 + index.number_of_replicas()) {
        std::string node = PickNode(*next, index, routing);
        if (node.empty()) break;  // stays unassigned (yellow)
        AddCopy(&routing, node, /*primary=*/false, pb::ShardCopy::INITIALIZING);
        Log(absl::StrCat("assign replica of ",
                         ShardName(index.name(), routing.shard()), " to ", node,
                         " (initializing: recovers from the primary)"));
      }
    }
  }
}

pb::ShardCopy* Coordinator::State::AddCopy(pb::ShardRouting* routing,
                                           const std::string& node,
                                           bool primary,
                                           pb::ShardCopy::State state) {
  pb::ShardCopy* copy = routing->add_copies();
  copy->set_node_id(node);
  copy->set_primary(primary);
  copy->set_state(state);
  copy->set_allocation_id(
      absl::StrCat(node, "@v", cluster.version() + 1, "/", routing->shard()));
  return copy;
}

void Coordinator::State::AssignPrimary(pb::ClusterState* next,
                                       const pb::IndexMeta& index,
                                       pb::ShardRouting* routing) {
  const std::string shard = ShardName(index.name(), routing->shard());
  const int64_t old_term = routing->primary_term();
  // A brand-new shard: no copy ever held data.
  if (routing->in_sync().empty()) {
    std::string node = PickNode(*next, index, *routing);
    if (node.empty()) return;
    AddCopy(routing, node, /*primary=*/true, pb::ShardCopy::STARTED);
    routing->set_primary_term(old_term + 1);
    routing->add_in_sync(node);
    Log(absl::StrCat("assign new primary of ", shard, " to ", node, ", term ",
                     routing->primary_term()));
    return;
  }
  // Promote a started in-sync replica: an alive one first, then the lowest
  // node id (R7).
  pb::ShardCopy* chosen = nullptr;
  for (pb::ShardCopy& copy : *routing->mutable_copies()) {
    if (!IsStartedInSync(*routing, copy)) continue;
    bool better = chosen == nullptr ||
                  (IsNodeAlive(*next, copy.node_id()) &&
                   !IsNodeAlive(*next, chosen->node_id())) ||
                  (IsNodeAlive(*next, copy.node_id()) ==
                       IsNodeAlive(*next, chosen->node_id()) &&
                   copy.node_id() < chosen->node_id());
    if (better) chosen = &copy;
  }
  if (chosen != nullptr) {
    chosen->set_primary(true);
    routing->set_primary_term(old_term + 1);
    Log(LogMark::kPromoted,
        absl::StrCat("promote ", chosen->node_id(), " to primary of ", shard,
                     " (in-sync replica), term ", old_term, " -> ",
                     routing->primary_term()));
    DropStaleInSync(routing);
    return;
  }
  // No started in-sync copy is assigned: a node of the in-sync set that is
  // back gets the primary again with a new term. Never an out-of-sync copy.
  std::string back;
  for (const std::string& id : routing->in_sync()) {
    // No hold-off here: the node must get its copy back before it ever sees
    // a state without it (it would delete the only complete data).
    if (!IsNodeAlive(*next, id) || CopyOnNode(routing, id) != nullptr) continue;
    if (back.empty() || id < back) back = id;
  }
  if (back.empty()) return;  // red until an in-sync copy returns
  AddCopy(routing, back, /*primary=*/true, pb::ShardCopy::STARTED);
  routing->set_primary_term(old_term + 1);
  Log(absl::StrCat("reassign primary of ", shard, " to ", back,
                   " (its copy is in sync and it is back), term ", old_term,
                   " -> ", routing->primary_term()));
  DropStaleInSync(routing);
}

// Removes the replicas of `routing` beyond index.number_of_replicas:
// recovering copies first, then started copies out of the in-sync set, then
// in-sync ones (Elasticsearch drops initializing before started replicas),
// the highest node id first within each kind; never the primary.
void Coordinator::State::RemoveExcessReplicas(pb::ClusterState* next,
                                              const pb::IndexMeta& index,
                                              pb::ShardRouting* routing) {
  while (routing->copies_size() > 1 + index.number_of_replicas()) {
    std::string victim;
    int victim_rank = -1;
    for (const pb::ShardCopy& copy : routing->copies()) {
      if (copy.primary()) continue;
      const int rank = copy.state() == pb::ShardCopy::INITIALIZING ? 2
                       : InInSyncSet(*routing, copy.node_id())     ? 0
                                                                   : 1;
      if (rank > victim_rank ||
          (rank == victim_rank && copy.node_id() > victim)) {
        victim = copy.node_id();
        victim_rank = rank;
      }
    }
    if (victim.empty()) return;
    RemoveCopy(next, index, routing, victim,
               "index.number_of_replicas lowered");
  }
}

void Coordinator::State::DropStaleInSync(pb::ShardRouting* routing) {
  std::vector<std::string> keep;
  for (const std::string& id : routing->in_sync()) {
    if (CopyOnNode(routing, id) != nullptr) keep.push_back(id);
  }
  routing->clear_in_sync();
  for (std::string& id : keep) routing->add_in_sync(std::move(id));
}

bool Coordinator::State::AllocationPending(const pb::ClusterState& state) {
  for (const pb::IndexMeta& index : state.indices()) {
    for (const pb::ShardRouting& routing : index.shards()) {
      if (PrimaryCopy(routing) == nullptr) {
        // What AssignPrimary would do.
        if (routing.in_sync().empty()) {
          if (!PickNode(state, index, routing).empty()) return true;
          continue;
        }
        for (const pb::ShardCopy& copy : routing.copies()) {
          if (IsStartedInSync(routing, copy)) return true;
        }
        for (const std::string& id : routing.in_sync()) {
          if (IsNodeAlive(state, id) && CopyOnNode(routing, id) == nullptr)
            return true;
        }
        continue;  // no primary: no replica is placed
      }
      if (routing.copies_size() < 1 + index.number_of_replicas() &&
          !PickNode(state, index, routing).empty())
        return true;
    }
  }
  return false;
}

}  // namespace seqsim
