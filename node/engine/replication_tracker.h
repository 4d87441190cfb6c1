// ReplicationTracker: the primary's view of its replication group (R3, R6, R9).
//
// Tracks, per copy (by node id), its last known local checkpoint and whether it
// is in the in-sync set or only tracked (recovering, "pending in sync"). The
// global checkpoint is the minimum local checkpoint over the in-sync copies,
// the primary included, and only advances.
//
// Thread-safety: none; owned by one actor. Pure: no clock, no I/O.
#ifndef SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_
#define SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace seqsim {

class ReplicationTracker {
 public:
  // `primary` is the node id of the primary copy; it is always in sync.
  explicit ReplicationTracker(std::string primary);

  // Replaces the in-sync set (from the cluster state); the primary stays in it.
  // Copies that leave the set are forgotten unless still tracked as recovering.
  void SetInSync(const std::set<std::string>& in_sync);
  // Starts tracking a recovering copy: it receives new writes but does not hold
  // back the global checkpoint until it is marked in sync.
  void AddTracking(const std::string& node, int64_t local_checkpoint);
  void RemoveTracking(const std::string& node);
  // Records a copy's local checkpoint (from a replication reply); ignores
  // regressions.
  void UpdateLocalCheckpoint(const std::string& node, int64_t local_checkpoint);

  bool IsInSync(const std::string& node) const;
  bool IsTracked(const std::string& node) const;
  // In-sync copies other than the primary, in name order.
  std::vector<std::string> InSyncReplicas() const;
  // Every copy writes go to: in-sync replicas and recovering copies, in name
  // order.
  std::vector<std::string> ReplicationTargets() const;
  int64_t LocalCheckpointOf(const std::string& node) const;

  // min(local checkpoint over in-sync copies); never lower than a value
  // returned before.
  int64_t GlobalCheckpoint();

 private:
  const std::string primary_;
  std::set<std::string> in_sync_;
  std::map<std::string, int64_t>
      checkpoints_;  // every tracked copy, in sync or not
  int64_t global_checkpoint_ = -1;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_
