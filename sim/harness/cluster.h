// The simulated-cluster harness: what the lab's seeded runs (sim/lab) and the
// scripted scenarios (sim/scenarios) both need to boot the real Coordinator
// and Node actors in a SimWorld — the node names and options, the coordinator
// factory, the one index they run on ("lab"), and the waits until every node
// has joined, the index is created and it is green.
//
// Every wait runs the world (SimWorld::RunUntilTrue) and reads the
// coordinator's cluster state only; none draws from the world's generator
// itself, so a caller that switches to these helpers replays the same seed
// byte for byte.
//
// Thread-safety: none; call from the thread that runs the world.
#ifndef SEQSIM_SIM_HARNESS_CLUSTER_H_
#define SEQSIM_SIM_HARNESS_CLUSTER_H_

#include <string>

#include "absl/time/time.h"
#include "common/unsafe.h"
#include "coordinator/logic/coordinator.h"
#include "node/logic/node.h"
#include "proto/seqsim.pb.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim {

// The index every simulated run writes to.
inline constexpr char kLabIndex[] = "lab";

// "node-<n>" (n from 1).
std::string SimNodeId(int n);

// The options of simulated node `n`: its id, sim addresses, a 1s RPC and a 2s
// write timeout, and the planted bugs `unsafe`; everything else default.
NodeOptions SimNodeOptions(int n, const UnsafeModes& unsafe);

// Makes the Coordinator actor (for SimWorld::AddActor(kCoordinatorId, ...)).
SimWorld::ActorFactory CoordinatorFactory(CoordinatorOptions options = {});

// The live Coordinator actor, or nullptr if it is down.
Coordinator* SimCoordinator(const SimWorld& world);

// The index `name` in `state`, or nullptr.
const pb::IndexMeta* FindIndex(const pb::ClusterState& state,
                               const std::string& name);

// Runs `world` until the coordinator counts `nodes` alive nodes; false if
// `limit` passes first.
bool WaitAllJoined(SimWorld& world, int nodes, absl::Duration limit);

// Sends create_index(index, shards, replicas) from client "setup" to `via`,
// again 200ms after each failure up to `max_attempts` sends, and runs `world`
// until one succeeds; false if `limit` passes first. On false the caller
// must stop the world (a retry may still be scheduled).
bool CreateIndexAndWait(SimWorld& world, const std::string& via,
                        const std::string& index, int shards, int replicas,
                        int max_attempts, absl::Duration limit);

// Whether the coordinator `c` (may be nullptr) reports `index` green.
bool IndexGreen(const Coordinator* c, const std::string& index);

// Runs `world` until `index` is green; false if `limit` passes first.
bool WaitIndexGreen(SimWorld& world, const std::string& index,
                    absl::Duration limit);

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_HARNESS_CLUSTER_H_
