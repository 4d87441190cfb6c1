// The value types of the node logic (internal to node/logic): the key of a
// shard copy, the per-copy state a node keeps for each copy it hosts
// (LocalCopy: role, in-sync set and replication tracker of a primary (R3, R6),
// writes in flight (R3, R8), recovery progress (R9), tombstone GC samples
// (R5)), and the contexts of the requests that wait: WriteCtx (a client write,
// R12), GetCtx (a GET) and RecoveryCtx (the primary's side of a recovery, R9).
//
// Thread-safety: none; touched by Node::State only, one event at a time.
#ifndef SEQSIM_NODE_LOGIC_LOCAL_COPY_H_
#define SEQSIM_NODE_LOGIC_LOCAL_COPY_H_

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "node/engine/replication_tracker.h"
#include "node/engine/shard_engine.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

using CopyKey = std::pair<std::string, int>;  // (index uuid, shard)
using CopyKeyView = std::pair<std::string_view, int>;

// Orders copies as std::less<CopyKey> does, and finds them by a CopyKeyView
// too (no copy of the uuid per look-up).
struct CopyKeyLess {
  using is_transparent = void;
  static CopyKeyView View(const CopyKey& key) {
    return {key.first, key.second};
  }
  static CopyKeyView View(const CopyKeyView& key) { return key; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) < View(b);
  }
};

enum class Role { kNone, kPrimary, kReplica, kRecovering };

inline const char* RoleName(Role role, bool stale) {
  if (stale) return "stale";
  switch (role) {
    case Role::kPrimary:
      return "primary";
    case Role::kReplica:
      return "replica";
    case Role::kRecovering:
      return "recovering";
    case Role::kNone:
    default:
      return "unassigned";
  }
}

// A set of node ids, in order, as a sorted vector: a write waits on a handful
// of copies, and this costs no allocation for up to four ids (node ids fit in
// std::string's own buffer).
class NodeIdSet {
 public:
  using Ids = absl::InlinedVector<std::string, 4>;
  using iterator = Ids::iterator;
  iterator begin() { return ids_.begin(); }
  iterator end() { return ids_.end(); }
  bool empty() const { return ids_.empty(); }
  size_t count(const std::string& id) const {
    return std::binary_search(ids_.begin(), ids_.end(), id) ? 1 : 0;
  }
  void insert(const std::string& id) {
    auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
    if (it == ids_.end() || *it != id) ids_.insert(it, id);
  }
  size_t erase(const std::string& id) {
    auto it = std::lower_bound(ids_.begin(), ids_.end(), id);
    if (it == ids_.end() || *it != id) return 0;
    ids_.erase(it);
    return 1;
  }
  iterator erase(iterator it) { return ids_.erase(it); }
  // Replaces the set with `sorted_ids` (sorted, no duplicates).
  void Assign(const std::vector<std::string>& sorted_ids) {
    ids_.assign(sorted_ids.begin(), sorted_ids.end());
  }

 private:
  Ids ids_;
};

// One write on the primary, from local apply to the client's ack.
struct InFlightWrite {
  uint64_t id = 0;
  pb::WriteResponse response;
  // In-sync replicas that have neither answered OK nor been removed from the
  // in-sync set.
  NodeIdSet awaiting;
  // Every copy the operation was sent to that has not answered yet.
  NodeIdSet unanswered;
  bool durable = false;
  int successful = 1;  // the primary
  std::vector<pb::ShardFailure> failures;
  absl::AnyInvocable<void(pb::WriteResponse&&)> done;
};

// A primary copy's writes in flight by id, in id order: a vector sorted by id
// (ids are handed out in increasing order, so a new write goes at the end; a
// copy has a handful in flight). The std::map subset the node uses.
class InFlightWrites {
 public:
  using Entry = std::pair<uint64_t, std::unique_ptr<InFlightWrite>>;
  using iterator = std::vector<Entry>::iterator;
  iterator begin() { return writes_.begin(); }
  iterator end() { return writes_.end(); }
  bool empty() const { return writes_.empty(); }
  size_t size() const { return writes_.size(); }
  void clear() { writes_.clear(); }
  iterator find(uint64_t id) {
    auto it = std::lower_bound(writes_.begin(), writes_.end(), id,
                               [](const Entry& entry, uint64_t wanted) {
                                 return entry.first < wanted;
                               });
    return it != writes_.end() && it->first == id ? it : writes_.end();
  }
  iterator erase(iterator it) { return writes_.erase(it); }
  // Adds write `id`, greater than every id held.
  void Add(uint64_t id, std::unique_ptr<InFlightWrite> write) {
    writes_.emplace_back(id, std::move(write));
  }

 private:
  std::vector<Entry> writes_;
};

// One shard copy hosted by this node.
struct LocalCopy {
  CopyKey key;
  std::string index;
  uint64_t incarnation = 0;
  std::unique_ptr<ShardEngine> engine;
  Role role = Role::kNone;
  bool in_sync = false;
  PrimaryTerm assigned_term =
      kUnassignedTerm;  // term of the routing last applied
  // Primary only.
  std::unique_ptr<ReplicationTracker> tracker;
  std::set<std::string> in_sync_nodes;  // from the cluster state
  // Recovered copies this primary reported started: counted in sync (they hold
  // back the global checkpoint and every write waits for them) until the
  // cluster state lists them (R9).
  // Value: the cluster-state version that lists the copy in sync (from the
  // shard_started reply; INT64_MAX until then). Older states, which this
  // primary may still apply, do not unmark it.
  std::map<std::string, int64_t> pending_in_sync;
  // The current recovery of each target (a duplicated or retried
  // start_recovery supersedes the previous one; only the current one may
  // undo tracking when it fails).
  std::map<std::string, uint64_t> recovery_ids;
  bool stale = false;  // R8: learnt that its term is superseded
  InFlightWrites inflight;
  // refresh=wait_for answers waiting for a refresh of this copy that covers
  // their seq_no.
  std::vector<std::pair<SeqNo, absl::AnyInvocable<void()>>> refresh_waiters;
  std::set<std::string>
      reporting;  // replicas reported to the coordinator, ack pending
  SeqNo last_synced_gcp = kUnassignedSeqNo;
  // Highest seq_no this primary acknowledged to a client.
  SeqNo max_acked_seq_no = kNoOpsPerformed;
  bool started_sent = false;  // a fresh primary reported itself started
  // Recovering copy only.
  bool recovery_running = false;
  // Replica: adopted this term while holding operations above the global
  // checkpoint from older terms; until the new primary's resync trims them,
  // replies report the local checkpoint capped at the global checkpoint, so
  // that the primary never counts an operation that the trim will drop (R6).
  PrimaryTerm awaiting_resync_term = kUnassignedTerm;
  std::string recovery_source;  // the primary the running recovery talks to
  // The recovery attempt that installed a snapshot last: a second snapshot
  // in the same attempt is not installed.
  uint64_t installed_snapshot_attempt = 0;
  uint64_t recovery_attempt = 0;  // replies of older attempts are ignored
  // The assignment (allocation id), primary and term of the recovery that
  // succeeded: that primary has put the copy in its in-sync set, so while all
  // three stay the same the copy must not recover again (a new recovery
  // starts by trimming older-term operations above the copy's global
  // checkpoint, which may be acknowledged writes by now). A copy assigned
  // again has a new allocation id and recovers anew.
  std::string recovered_allocation;
  std::string recovered_from;
  PrimaryTerm recovered_term = kUnassignedTerm;
  // Tombstone GC (index.gc_deletes): samples (time, max_seq_no) of this copy,
  // oldest first; the newest one at least gc_deletes old bounds which deletes
  // are old enough to collect (gc_bound).
  std::deque<std::pair<absl::Duration, SeqNo>> gc_samples;
  SeqNo gc_bound = kNoOpsPerformed;
  absl::Duration next_gc = absl::ZeroDuration();
};

struct WriteCtx {
  pb::WriteRequest request;
  absl::Duration deadline;
  bool forwarded = false;
  bool create_sent = false;
  pb::Error last_error;
  absl::AnyInvocable<void(pb::WriteResponse&&)> done;
  // R12: the forward waiting for its reply (0: none), the node and the
  // primary term it was sent to. Replies of an abandoned attempt are ignored.
  uint64_t forward_attempt = 0;
  std::string forward_node;
  int64_t forward_term = 0;
};

struct GetCtx {
  pb::GetRequest request;
  absl::Duration deadline;
  bool forwarded = false;
  RespondFn respond;
};

struct RecoveryCtx {
  uint64_t id = 0;
  CopyKey key;
  uint64_t incarnation = 0;
  std::string target;
  std::string allocation_id;  // the target copy's
  std::string mode;
  std::vector<pb::Operation> ops;
  size_t next = 0;
  int64_t docs_copied = 0;
  // The target answered the finalize step (it refreshed).
  bool finalized = false;
  absl::Duration deadline;
  RespondFn respond;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_LOCAL_COPY_H_
