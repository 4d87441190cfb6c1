// ReplicationTracker: the primary's view of its replication group (R3, R6, R9).
//
// Tracks, per copy (by node id), its last known local checkpoint and whether it
// is in the in-sync set or only tracked (recovering, "pending in sync"). The
// global checkpoint is the minimum local checkpoint over the in-sync copies,
// the primary included, and only advances.
//
// A group holds a handful of copies: they live in one vector sorted by node id
// (no node per copy, no string-keyed map look-up to walk the in-sync set), and
// the lists of replicas writes go to are kept up to date as the group changes,
// so that the write path reads them without building them.
//
// Retention leases (R9, Elasticsearch's peer-recovery retention leases): the
// primary holds a lease per copy it replicates to, retaining every operation
// from min(the copy's local checkpoint, the global checkpoint the copy
// reported) + 1. Elasticsearch renews a peer-recovery lease at the copy's
// global checkpoint + 1, not its local checkpoint + 1: a copy that restarts
// trims what it holds above its global checkpoint (R7) and asks for
// everything above it, so a lease at the local checkpoint would often be one
// operation-range short. Leases are renewed while the copy is tracked (in
// sync or recovering), never move back, and expire once not renewed for the
// lease period (index.soft_deletes.retention_lease.period, 12h by default).
// The history below min(global checkpoint + 1, every live lease) may be
// dropped; a copy that comes back behind it recovers by a full copy.
// Unlike Elasticsearch, leases are not replicated to the replicas: after a
// promotion, the new primary holds one lease from its own global checkpoint + 1
// for a lease period in their stead (AddLease), and builds leases anew for the
// copies it tracks.
//
// Thread-safety: none; owned by one actor. Pure: no clock (time is passed in),
// no I/O.
#ifndef SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_
#define SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

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
  std::vector<std::string> InSyncReplicas() const { return in_sync_replicas_; }
  // Every copy writes go to: in-sync replicas and recovering copies, in name
  // order.
  std::vector<std::string> ReplicationTargets() const { return targets_; }
  // The same lists without a copy; valid until the group next changes (any
  // non-const call but UpdateLocalCheckpoint and GlobalCheckpoint).
  const std::vector<std::string>& in_sync_replicas() const {
    return in_sync_replicas_;
  }
  const std::vector<std::string>& replication_targets() const {
    return targets_;
  }
  int64_t LocalCheckpointOf(const std::string& node) const;

  // min(local checkpoint over in-sync copies); never lower than a value
  // returned before.
  int64_t GlobalCheckpoint();

  // ---- Retention leases
  // Records the global checkpoint a copy reported (its replication reply);
  // ignores regressions and copies that are not tracked.
  void UpdateReportedGlobalCheckpoint(const std::string& node, int64_t gcp);
  struct Lease {
    std::string holder;  // node id of the copy
    int64_t retaining_seq_no = 0;
    absl::Duration renewed;  // when it was last renewed (the caller's clock)
  };
  // Renews the lease of every tracked copy but the primary as of `now`, drops
  // the leases not renewed since `now - period`, and returns the lowest seq_no
  // the primary must still retain: min(GlobalCheckpoint() + 1, every lease).
  int64_t RenewLeases(absl::Duration now, absl::Duration period);
  // Adds (or renews, never moving it back) the lease of `holder`, a name that
  // is no copy's: RenewLeases never renews it, so it expires one period after
  // `now`.
  void AddLease(const std::string& holder, int64_t retaining_seq_no,
                absl::Duration now);
  // The holders whose leases expired since the last call (for log lines).
  std::vector<std::string> TakeExpiredLeases() {
    return std::exchange(expired_, {});
  }
  // The live leases, by holder (as of the last RenewLeases).
  const std::vector<Lease>& leases() const { return leases_; }

 private:
  struct Copy {
    std::string node;
    int64_t checkpoint = 0;
    bool in_sync = false;
    int64_t reported_gcp = -2;  // unknown until the copy's first reply
  };
  // The copy of `node`, or nullptr if it is not tracked.
  Copy* Find(const std::string& node);
  const Copy* Find(const std::string& node) const;
  // Rebuilds in_sync_replicas_ and targets_ from copies_.
  void RebuildLists();

  const std::string primary_;
  // Every tracked copy (in sync or not), the primary included, by node id.
  std::vector<Copy> copies_;
  std::vector<std::string> in_sync_replicas_;
  std::vector<std::string> targets_;
  int64_t global_checkpoint_ = -1;
  std::vector<Lease> leases_;  // sorted by holder
  std::vector<std::string> expired_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_REPLICATION_TRACKER_H_
