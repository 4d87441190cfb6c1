// Read-only views of a cluster state that the coordinator, the node logic, the
// REST layer, seqsim-ctl and the lab share: cluster health (Elasticsearch's
// _cluster/health colours) and the routing-table look-ups (an index by name or
// uuid, a shard's routing, its primary, the copy on a node, its started and
// in-sync copies, a node's entry). They implement no replication rule; they
// only read what the coordinator's rules (R7, R8) wrote into the state.
//
// Thread-safety: pure functions over the state they are given. A returned
// pointer points into that state and lives as long as it is not changed.
#ifndef SEQSIM_COMMON_CLUSTER_VIEW_H_
#define SEQSIM_COMMON_CLUSTER_VIEW_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// ---- health

// Cluster health from a cluster state: "green" (every copy started), "yellow"
// (every primary started, some replica not), "red" (some primary unassigned or
// not started).
struct ClusterHealth {
  std::string status;
  int active_primary_shards = 0;
  int active_shards = 0;
  int initializing_shards = 0;
  int unassigned_shards = 0;
  int number_of_nodes = 0;
  int number_of_data_nodes = 0;
};
// The health of `index` (red when it does not exist), or of every index when
// `index` is empty.
ClusterHealth ComputeHealth(const pb::ClusterState& state,
                            const std::string& index = "");

// ---- look-ups (nullptr when absent)

// The index named `name` (not an alias).
const pb::IndexMeta* FindIndexByName(const pb::ClusterState& state,
                                     absl::string_view name);
pb::IndexMeta* FindIndexByName(pb::ClusterState* state, absl::string_view name);
// The index whose uuid is `uuid`.
const pb::IndexMeta* FindIndexByUuid(const pb::ClusterState& state,
                                     absl::string_view uuid);
// The routing of shard number `shard` of `index`.
const pb::ShardRouting* FindShardRouting(const pb::IndexMeta& index, int shard);
pb::ShardRouting* FindShardRouting(pb::IndexMeta* index, int shard);
// The shard's primary copy.
const pb::ShardCopy* PrimaryCopy(const pb::ShardRouting& routing);
pb::ShardCopy* PrimaryCopy(pb::ShardRouting* routing);
// The shard's copy on `node`.
const pb::ShardCopy* CopyOnNode(const pb::ShardRouting& routing,
                                absl::string_view node);
pb::ShardCopy* CopyOnNode(pb::ShardRouting* routing, absl::string_view node);
// The entry of node `id`.
const pb::NodeInfo* FindNodeInfo(const pb::ClusterState& state,
                                 absl::string_view id);
pb::NodeInfo* FindNodeInfo(pb::ClusterState* state, absl::string_view id);

// ---- predicates and counts

// Whether `node` is in the shard's in-sync set.
bool InInSyncSet(const pb::ShardRouting& routing, absl::string_view node);
// Whether `copy` (a copy of `routing`) is started and in the in-sync set: a
// copy that may be promoted (R7).
bool IsStartedInSync(const pb::ShardRouting& routing,
                     const pb::ShardCopy& copy);
// Whether node `id` is in the state and alive (false for an unknown node).
bool IsNodeAlive(const pb::ClusterState& state, absl::string_view id);
// How many shard copies, of every index, are assigned to node `id`.
int CopiesOnNode(const pb::ClusterState& state, absl::string_view id);
// The nodes of a shard's started copies, in routing order.
std::vector<std::string> StartedCopyNodes(const pb::ShardRouting& routing);

// Elasticsearch's ShardId.toString(): "[index][shard]".
std::string ShardName(absl::string_view index, int shard);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_CLUSTER_VIEW_H_
