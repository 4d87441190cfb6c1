// Node: the pure logic of one seqsim node (DESIGN.md sections 2-3), an Actor
// driven by an Env.
//
// Hosts any number of shard copies (ShardEngine), applies cluster states in
// version order, routes client requests to the shard's primary, replicates as
// primary (R3, R8, R10), applies as replica (R4, R5), resyncs after promotion
// (R7), recovers copies (R9).
//
// Thread-safety: none; the runtime (live executor or lab event loop) calls it
// one event at a time. It never blocks, reads a clock or opens a socket:
// everything goes through Env.
//
// R11 (answers without replication are reads): a 409 of any kind (if_seq_no /
// if_primary_term mismatch, create on an existing document, external
// version), an update's 404 document_missing_exception and an update's
// "noop" claim the document's state and change nothing. The primary gives
// them only after the read barrier that real-time GET uses: every in-sync
// replica answers an empty replicate under the primary's term, and the
// document's seq_no is at or below the global checkpoint. If the barrier
// fails (a replica holds a newer term: the primary is fenced, R8) the request
// was not executed and is routed again (R12). A delete of a missing document
// consumes a seq_no and is replicated like any delete (as in Elasticsearch),
// so its "not_found" is already confirmed by the replication round.
// UnsafeModes::no_conflict_barrier answers at once (a planted bug).
//
// R12 (reroute) and the unknown outcome. A write is routed again, by the
// next cluster state (or after a short delay) until its deadline, only when it
// certainly was not executed: the connection to the primary's node was
// refused; the primary refused it before stamping (not primary yet, stale:
// HTTP 503 unavailable_shards_exception, which a coordinating node retries);
// the R11 barrier failed. Every other write whose primary fails keeps its
// single attempt and is answered promptly with
//   HTTP 503, type "write_outcome_unknown_exception", reason "<why>; the
//   write may or may not have been applied"
// when (a) the primary that stamped it loses its term while the write is in
// flight (demoted by a cluster state, fenced by a replica or the coordinator,
// or its copy closed), or (b) the write was forwarded to another node and
// this node applies a cluster state that names another primary or a newer
// term before that node answered (a paused or cut-off primary: the client is
// answered within a cluster-state publication, not at the write timeout).
// Such a write may be applied (the old primary may have stamped it and
// replicated it to a copy that is promoted and resyncs it) or not, so it is
// never retried: a retry could apply it twice. A retry keyed by a request id
// stamped into the operation would be safe only if the new primary could
// tell, from a history that certainly holds every older-term operation it
// kept, whether the attempt survives; a copy recovered from a snapshot or
// with discarded history cannot, so this is not done.
// Transport failures after the request was sent keep their own types:
// 503 node_disconnected_exception (reset) and 504 timeout_exception.
//
// No cluster state yet (just started, not joined): writes, bulk items, GETs
// and searches wait for the first state until their deadline (writes: the
// request timeout or write_timeout; GET and search: rpc_timeout), then fail
// as Elasticsearch does while the state is not recovered: HTTP 503
// cluster_block_exception "blocked by: [SERVICE_UNAVAILABLE/1/state not
// recovered / initialized];".
#ifndef SEQSIM_NODE_LOGIC_NODE_H_
#define SEQSIM_NODE_LOGIC_NODE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/env.h"
#include "common/unsafe.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

class ShardEngine;

struct NodeOptions {
  std::string id;  // "node-1"
  std::string
      grpc_address;  // advertised to the coordinator, e.g. "127.0.0.1:9300"
  std::string rest_address;  // e.g. "127.0.0.1:9200"
  absl::Duration heartbeat_interval = absl::Milliseconds(100);
  absl::Duration rpc_timeout = absl::Seconds(2);
  // How long a write waits for a primary / active shards before failing 503.
  absl::Duration write_timeout = absl::Seconds(30);
  // false = async translog durability (fsync on a timer, not per request).
  bool fsync_per_request = true;
  // History kept below the global checkpoint for operations-based recovery
  // (EngineOptions::retain_ops_below_global_checkpoint); -1 keeps everything.
  int64_t retain_ops_below_global_checkpoint = -1;
  // Retention leases (index.soft_deletes.retention_lease.period): a primary
  // keeps the history a copy that left may need for an operations-based
  // recovery for this long after the copy was last tracked; below every live
  // lease and the global checkpoint the history is dropped (ReplicationTracker
  // and ShardEngine::SetRetainedSeqNo).
  absl::Duration retention_lease_period = absl::Hours(12);
  // Tombstone GC (index.gc_deletes): a deleted document's tombstone is dropped
  // once this long has passed since the delete and the delete is at or below
  // the global checkpoint (ShardEngine::PruneTombstones says why R5 holds).
  // absl::InfiniteDuration() keeps tombstones forever.
  absl::Duration gc_deletes = absl::Seconds(60);
  // Translog generations and flush (EngineOptions of the same names:
  // index.translog.generation_threshold_size and flush_threshold_size).
  uint64_t translog_generation_threshold_bytes = uint64_t{64} << 20;
  uint64_t flush_threshold_bytes = uint64_t{64} << 20;
  // Live runtime (issue 15): the writes handled in one executor batch are
  // replicated in one request per target, and the writes forwarded to one
  // primary's node travel in one bulk, sent when Flush() starts (before the
  // translog fsync). Off in the lab: its runs and goldens stay as they are.
  bool batch_per_flush = false;
  // The cluster this node belongs to (its cluster identity's uuid): cluster
  // states of another cluster are refused. Empty (the lab, no identity): the
  // uuid of the first state applied is kept for the life of the process.
  std::string cluster_uuid;
  UnsafeModes unsafe;
};

class Node final : public Actor {
 public:
  Node(Env* env, NodeOptions options);
  ~Node() override;

  void Start() override;
  void Handle(const pb::Envelope& request, RespondFn respond) override;
  void Flush() override;

  // Introspection (tests, lab invariants, NodeStatus).
  pb::NodeStatusResponse Status() const;
  // One entry of Status().shards() without the proto: the lab reads these
  // after every event, so they cost no allocation. `index_uuid` points into
  // the node and `role` is a literal; both stay valid until the copy closes.
  struct CopySummary {
    const std::string* index_uuid = nullptr;
    int32_t shard = 0;
    const char* role = "";
    int64_t primary_term = 0;
    int64_t max_seq_no = 0;
    int64_t local_checkpoint = 0;
    int64_t global_checkpoint = 0;
    int64_t docs = 0;
    bool in_sync = false;
  };
  // Status().state_version().
  int64_t state_version() const;
  // Replaces `*out` with Status().shards() as summaries, in the same order.
  void CopySummaries(std::vector<CopySummary>* out) const;
  const pb::ClusterState& cluster_state() const;
  const std::string& id() const;
  // The engine of this node's copy of shard `shard` of index `index` (by
  // name; the copy of the applied state's index when several exist), or
  // nullptr if this node holds no copy. For the lab's invariant checks.
  const ShardEngine* engine(const std::string& index, int shard) const;

  struct State;  // defined in node_state.h

 private:
  std::unique_ptr<State> state_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_NODE_H_
