#include "common/cluster_view.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace seqsim {

ClusterHealth ComputeHealth(const pb::ClusterState& state,
                            const std::string& index) {
  ClusterHealth health;
  for (const pb::NodeInfo& node : state.nodes()) {
    if (node.alive()) {
      ++health.number_of_nodes;
      ++health.number_of_data_nodes;
    }
  }
  bool found = false;
  bool red = false;
  bool yellow = false;
  for (const pb::IndexMeta& meta : state.indices()) {
    if (!index.empty() && meta.name() != index) continue;
    found = true;
    for (const pb::ShardRouting& routing : meta.shards()) {
      int expected = 1 + meta.number_of_replicas();
      int assigned = 0;
      int started = 0;
      bool primary_active = false;
      for (const pb::ShardCopy& copy : routing.copies()) {
        ++assigned;
        if (copy.state() == pb::ShardCopy::STARTED) {
          ++started;
          ++health.active_shards;
          if (copy.primary()) {
            ++health.active_primary_shards;
            primary_active = true;
          }
        } else {
          ++health.initializing_shards;
        }
      }
      health.unassigned_shards += std::max(0, expected - assigned);
      if (!primary_active) {
        red = true;
      } else if (started < expected) {
        yellow = true;
      }
    }
  }
  if (!index.empty() && !found) red = true;
  health.status = red ? "red" : yellow ? "yellow" : "green";
  return health;
}

const pb::IndexMeta* FindIndexByName(const pb::ClusterState& state,
                                     absl::string_view name) {
  for (const pb::IndexMeta& index : state.indices()) {
    if (index.name() == name) return &index;
  }
  return nullptr;
}

pb::IndexMeta* FindIndexByName(pb::ClusterState* state,
                               absl::string_view name) {
  for (pb::IndexMeta& index : *state->mutable_indices()) {
    if (index.name() == name) return &index;
  }
  return nullptr;
}

const pb::IndexMeta* FindIndexByUuid(const pb::ClusterState& state,
                                     absl::string_view uuid) {
  for (const pb::IndexMeta& index : state.indices()) {
    if (index.uuid() == uuid) return &index;
  }
  return nullptr;
}

const pb::ShardRouting* FindShardRouting(const pb::IndexMeta& index,
                                         int shard) {
  for (const pb::ShardRouting& routing : index.shards()) {
    if (routing.shard() == shard) return &routing;
  }
  return nullptr;
}

pb::ShardRouting* FindShardRouting(pb::IndexMeta* index, int shard) {
  for (pb::ShardRouting& routing : *index->mutable_shards()) {
    if (routing.shard() == shard) return &routing;
  }
  return nullptr;
}

const pb::ShardCopy* PrimaryCopy(const pb::ShardRouting& routing) {
  for (const pb::ShardCopy& copy : routing.copies()) {
    if (copy.primary()) return &copy;
  }
  return nullptr;
}

pb::ShardCopy* PrimaryCopy(pb::ShardRouting* routing) {
  for (pb::ShardCopy& copy : *routing->mutable_copies()) {
    if (copy.primary()) return &copy;
  }
  return nullptr;
}

const pb::ShardCopy* CopyOnNode(const pb::ShardRouting& routing,
                                absl::string_view node) {
  for (const pb::ShardCopy& copy : routing.copies()) {
    if (copy.node_id() == node) return &copy;
  }
  return nullptr;
}

pb::ShardCopy* CopyOnNode(pb::ShardRouting* routing, absl::string_view node) {
  for (pb::ShardCopy& copy : *routing->mutable_copies()) {
    if (copy.node_id() == node) return &copy;
  }
  return nullptr;
}

const pb::NodeInfo* FindNodeInfo(const pb::ClusterState& state,
                                 absl::string_view id) {
  for (const pb::NodeInfo& node : state.nodes()) {
    if (node.id() == id) return &node;
  }
  return nullptr;
}

pb::NodeInfo* FindNodeInfo(pb::ClusterState* state, absl::string_view id) {
  for (pb::NodeInfo& node : *state->mutable_nodes()) {
    if (node.id() == id) return &node;
  }
  return nullptr;
}

bool InInSyncSet(const pb::ShardRouting& routing, absl::string_view node) {
  return std::find(routing.in_sync().begin(), routing.in_sync().end(), node) !=
         routing.in_sync().end();
}

bool IsStartedInSync(const pb::ShardRouting& routing,
                     const pb::ShardCopy& copy) {
  return copy.state() == pb::ShardCopy::STARTED &&
         InInSyncSet(routing, copy.node_id());
}

bool IsNodeAlive(const pb::ClusterState& state, absl::string_view id) {
  const pb::NodeInfo* node = FindNodeInfo(state, id);
  return node != nullptr && node->alive();
}

int CopiesOnNode(const pb::ClusterState& state, absl::string_view id) {
  int count = 0;
  for (const pb::IndexMeta& index : state.indices()) {
    for (const pb::ShardRouting& routing : index.shards()) {
      for (const pb::ShardCopy& copy : routing.copies()) {
        if (copy.node_id() == id) ++count;
      }
    }
  }
  return count;
}

std::vector<std::string> StartedCopyNodes(const pb::ShardRouting& routing) {
  std::vector<std::string> nodes;
  for (const pb::ShardCopy& copy : routing.copies()) {
    if (copy.state() == pb::ShardCopy::STARTED) nodes.push_back(copy.node_id());
  }
  return nodes;
}

std::string ShardName(absl::string_view index, int shard) {
  return absl::StrCat("[", index, "][", shard, "]");
}

}  // namespace seqsim
