// Node::State: the state and the methods of one node's logic behind the Node
// facade (node.h). Internal to node/logic: only its .cc files include it.
//
// Thread-safety: none; the runtime calls Node one event at a time, and every
// method here runs inside such an event. Nothing blocks, reads a clock or opens
// a socket: everything goes through `env`.
//
// Members are grouped by concern; each group's heading names the file that
// defines its methods:
//   node_state.cc           plumbing: RetryLater, look-ups, Status
//   shard_copies.cc         shard copies on disk: open, close, reopen at start
//   search.cc               refresh, shard search and the search fan-out
//   membership.cc           join, heartbeats, fetching cluster states
//   cluster_state_apply.cc  applying cluster states in version order: roles,
//                           in-sync sets (R3), started copies
//   write_routing.cc        client writes: routing, reroute (R12), auto-create,
//                           forwards, bulk and batches (issue 15)
//   primary_write.cc        the primary (R1-R3, R6, R8, R10, R11)
//   retention.cc            history retention (R9) and tombstone GC (R5), the
//                           global checkpoint sync (R6)
//   replica_apply.cc        the replica side: fencing (R4), apply (R5), R6
//   promotion_resync.cc     promotion and resync (R7)
//   recovery_target.cc      recovery (R9), the recovering copy's side
//   recovery_source.cc      recovery (R9), the primary's side
//   reads.cc                GET routing, preference, ReadLocal
//   read_barrier.cc         the read barrier of real-time GET and R11
//   admin.cc                create and delete index
//   dispatch.cc             Handle: the dispatch table
//   durability.cc           durability (R10): group commit, async fsync
// The value types (LocalCopy and the request contexts) are in local_copy.h, the
// helpers several files share in node_util.h.
//
// Decisions beyond the DESIGN.md rules, each found by the lab's checks:
//   - GET on the primary is linearizable: it answers only after a read barrier
//     (every in-sync replica confirms the term with an empty replicate, and the
//     document's seq_no is at or below the global checkpoint).
//   - A forwarded write is retried on a new primary only when the Send failed
//     with "connection refused" (never delivered); a reset or a timeout is an
//     unknown outcome (503/504), never a second apply.
//   - A replica that adopts a newer term while holding operations above its
//     global checkpoint reports its local checkpoint capped at the global
//     checkpoint until the new primary's resync has trimmed them; a newer-term
//     operation at an already processed seq_no replaces an older-term one.
//   - A recovered copy is marked in sync on the primary (it holds back the gcp
//     and writes wait for it) when its local checkpoint reaches both the gcp
//     and the last acknowledged seq_no, before shard_started is sent; older
//     cluster states do not unmark it.
//   - fsync_per_request = false: Flush() releases replies without fsync and
//     translogs are fsynced every kAsyncSyncInterval (ES's async durability:
//     an acknowledged write can be lost by a crash).
//
// Every wait is a continuation: an RPC reply callback, a timer, a cluster-state
// waiter, or a durability waiter released by Flush(). Callbacks hold a weak
// "alive" token so that nothing runs after the Node is destroyed, and they
// re-look-up shard copies by key (a copy can be closed while a reply is in
// flight).
#ifndef SEQSIM_NODE_LOGIC_NODE_STATE_H_
#define SEQSIM_NODE_LOGIC_NODE_STATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "node/logic/local_copy.h"
#include "node/logic/node.h"
#include "node/logic/node_util.h"
#include "node/logic/query.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

struct Node::State {
  State(Env* env, NodeOptions options)
      : env(env), options(std::move(options)) {}

  Env* env;
  NodeOptions options;
  std::shared_ptr<int> alive = std::make_shared<int>(0);

  pb::ClusterState cluster_state;
  bool has_state = false;
  // Readers of the coordinator's state (_cluster/health, _cat) waiting on the
  // one get_cluster_state in flight to the coordinator: concurrent reads share
  // it, so 500 health waits polling every 100 ms cost one RPC at a time, not
  // 5,000 a second.
  std::vector<RespondFn> coordinator_state_readers;
  bool joined = false;
  bool join_in_flight = false;
  bool heartbeat_failed = false;
  bool coordinator_reachable = false;
  bool heartbeat_running = false;

  std::map<CopyKey, std::unique_ptr<LocalCopy>, CopyKeyLess> copies;
  // The same copies by incarnation (unique per node), in increasing order
  // (incarnations are handed out in increasing order, so a new copy goes at
  // the end): callbacks find their copy by an integer and need not keep its
  // key.
  std::vector<std::pair<uint64_t, LocalCopy*>> copies_by_incarnation;
  uint64_t next_incarnation = 1;
  uint64_t next_write_id = 1;
  uint64_t next_recovery_id = 1;

  // Called once after the next applied cluster state.
  std::vector<std::shared_ptr<absl::AnyInvocable<void()>>> state_waiters;
  size_t compact_waiters_at = 64;  // RetryLater drops the waiters that ran
  // R12: forwarded writes waiting for their reply, by attempt (CheckForwards).
  std::map<uint64_t, std::shared_ptr<WriteCtx>> forwards;
  // Released by Flush() once the copy's translog is durable; by the
  // incarnation of the copy.
  using DurableWaiters =
      std::vector<std::pair<uint64_t, absl::AnyInvocable<void(absl::Status)>>>;
  DurableWaiters durable_waiters;
  // Flush()'s buffer between calls (keeps its capacity).
  DurableWaiters spare_waiters;

  // ---- plumbing: callbacks, timers, look-ups, status
  // Defined in node_state.cc.
  // -------------------------------------------------------------------------
  template <typename F>
  auto Guarded(F fn) {
    std::weak_ptr<int> token = alive;
    return [token, fn = std::move(fn)](auto&&... args) mutable {
      if (token.expired()) return;
      fn(std::forward<decltype(args)>(args)...);
    };
  }

  void Log(const std::string& line) { env->Log(line); }
  // A line recording a replication decision of kind `mark` (the lab's
  // teaching views draw it; see LogMark).
  void Log(LogMark mark, const std::string& line) { env->Log(mark, line); }
  const std::string& me() const { return options.id; }
  absl::Duration RetryDelay() const;

  // Send and After take the callback's own type, so that Guarded wraps it
  // directly: one type-erased (heap) callback per call instead of two.
  template <typename OnReply>
  void Send(const std::string& to, pb::Envelope&& envelope, OnReply on_reply,
            absl::Duration timeout) {
    envelope.set_from(me());
    env->Send(to, std::move(envelope), Guarded(std::move(on_reply)), timeout);
  }

  template <typename Fn>
  void After(absl::Duration delay, Fn fn) {
    env->After(delay, Guarded(std::move(fn)));
  }

  // Runs `fn` once: after the next applied cluster state or after RetryDelay(),
  // whichever comes first.
  void RetryLater(absl::AnyInvocable<void()> fn);

  void WhenDurable(const LocalCopy& copy,
                   absl::AnyInvocable<void(absl::Status)> fn);

  bool IsNode(const std::string& id) const;

  const pb::IndexMeta* FindIndex(const std::string& name) const;
  const pb::IndexMeta* FindIndexByUuid(const std::string& uuid) const;
  static const pb::ShardRouting* FindRouting(const pb::IndexMeta& index,
                                             int shard);
  LocalCopy* FindCopy(const CopyKey& key);
  LocalCopy* FindCopy(std::string_view uuid, int shard);
  // The copy opened as `incarnation`, if it is still open (an incarnation
  // belongs to one key: the same as FindCopy(its key) with that incarnation).
  std::vector<std::pair<uint64_t, LocalCopy*>>::const_iterator FindIncarnation(
      uint64_t incarnation) const;
  LocalCopy* FindCopy(uint64_t incarnation) const;
  LocalCopy* FindCopy(const CopyKey& /*key*/, uint64_t incarnation) const;
  // A local copy by index name (the wire's ShardRef), resolved through the
  // applied state; falls back to any local copy with that index name.
  LocalCopy* FindCopyByRef(const pb::ShardRef& ref);
  std::string Name(const LocalCopy& copy) const;

  pb::NodeStatusResponse Status() const;

  // ---- shard copies on disk (replayed at restart, R10)
  // Defined in shard_copies.cc.
  // -------------------------------------------------------------------------
  absl::StatusOr<LocalCopy*> OpenCopy(const std::string& uuid,
                                      const std::string& index, int shard);

  void CloseCopy(const CopyKey& key, bool remove_data, const std::string& why);

  void OpenCopiesOnDisk();

  // ---- membership: join, heartbeats, fetching the cluster state
  // Defined in membership.cc.
  // -------------------------------------------------------------------------
  void SendJoin();

  void StartHeartbeats();

  void Heartbeat();

  // A client's read of the cluster state (_cluster/health, _cat): the
  // coordinator's current state when `from_coordinator` (as Elasticsearch
  // reads the elected master's), else this node's applied one. A node without
  // a state yet answers 503, as Elasticsearch does before its state is
  // recovered, never an empty cluster.
  void HandleGetClusterState(const pb::GetClusterStateRequest& request,
                             RespondFn respond);

  // Catches up with a state whose publication this node missed.
  void FetchClusterState();

  // ---- cluster state: apply in version order, roles, in-sync sets (R3)
  // Defined in cluster_state_apply.cc.
  // -------------------------------------------------------------------------
  // How far a cluster state's version may jump past the applied one. The
  // coordinator bumps it once per change; a node that missed a million
  // changes is not a real case, a forged state of version 2^31 is (issue 13).
  static constexpr int64_t kMaxStateVersionLead = 1'000'000;

  // OK if `state`, sent by `from`, may be applied after the applied state: it
  // comes from the coordinator of this node's cluster, does not jump more than
  // kMaxStateVersionLead versions, and lowers no shard's primary term
  // (kFailedPrecondition).
  absl::Status CheckStateCanFollow(const pb::ClusterState& state,
                                   const std::string& from) const;

  // ApplyState if CheckStateCanFollow allows it, else logs why and returns
  // the refusal.
  absl::Status ApplyCheckedState(const pb::ClusterState& state,
                                 const std::string& from);

  void ApplyState(const pb::ClusterState& state);

  void ApplyShard(const pb::IndexMeta& index, const pb::ShardRouting& routing,
                  const pb::ShardCopy& mine);

  // The tracker's in-sync set: the cluster state's plus copies marked in sync.
  void RefreshInSync(LocalCopy* copy);

  // Writes stop waiting for copies that are neither in sync nor marked.
  void DropUnsyncedWaits(LocalCopy* copy);

  // Same term, new routing: refresh the in-sync set; writes no longer wait for
  // copies the coordinator removed from it (R3).
  void UpdateReplicationGroup(LocalCopy* copy, const pb::ShardRouting& routing);

  void ReportStarted(const CopyKey& key, uint64_t incarnation,
                     const std::string& node, PrimaryTerm term,
                     const std::string& allocation_id);

  // ---- promotion and resync (R7)
  // Defined in promotion_resync.cc.
  // -------------------------------------------------------------------------
  void BecomePrimary(LocalCopy* copy, const pb::ShardRouting& routing);
  void SendResync(LocalCopy* copy, const std::string& target,
                  const std::vector<pb::Operation>& ops, SeqNo gcp,
                  SeqNo trim_above);

  void HandleResync(const pb::Envelope& envelope, RespondFn respond);

  // ---- client writes: routing, reroute (R12), forwards, bulk batches
  // Defined in write_routing.cc.
  // -------------------------------------------------------------------------
  void StartWrite(const pb::WriteRequest& request, bool forwarded,
                  absl::AnyInvocable<void(pb::WriteResponse&&)> done);

  // `response` is moved from (it is never the ctx's own).
  void FinishWrite(const std::shared_ptr<WriteCtx>& ctx,
                   pb::WriteResponse&& response);

  void FailWrite(const std::shared_ptr<WriteCtx>& ctx, pb::Error error);

  // Waits for a newer state (or a short delay) and routes again, until the
  // deadline.
  void RetryWrite(const std::shared_ptr<WriteCtx>& ctx, pb::Error why);

  void RouteWrite(const std::shared_ptr<WriteCtx>& ctx);

  void AutoCreateIndex(const std::shared_ptr<WriteCtx>& ctx);

  // R12: while a forwarded write waits for its reply, every applied cluster
  // state is checked; once it names another primary (or a newer term, or no
  // primary) the node the write went to may have stamped it and may never
  // answer (paused, cut off): the client gets the unknown-outcome 503 at once
  // instead of waiting for the timeout. Not retried: it may have been applied.
  void CheckForwards();

  void ForwardWrite(const std::shared_ptr<WriteCtx>& ctx,
                    const std::string& primary_node, int64_t term);

  // The answer to a forwarded write (attempt `attempt` to `primary_node`).
  void OnForwardReply(const std::shared_ptr<WriteCtx>& ctx,
                      const std::string& primary_node, uint64_t attempt,
                      const absl::StatusOr<pb::Envelope>& reply);

  // While HandleBulk routes its items (batch_depth > 0), the items that reach
  // a local primary are replicated in one ReplicateRequest per target, and the
  // items forwarded to another node travel in one BulkRequest per node, as
  // Elasticsearch groups a bulk per shard. Every item keeps its own write id,
  // forward attempt and R12 check, so each is answered as if it had been sent
  // on its own. Single writes never batch.
  int batch_depth = 0;
  struct PendingReplication {
    uint64_t incarnation = 0;
    PrimaryTerm term = 0;
    std::vector<std::string> targets;
    std::vector<pb::Operation> ops;
    std::vector<uint64_t> write_ids;
    bool refresh = false;  // some write asked refresh=true or wait_for
  };
  std::vector<PendingReplication> pending_replication;
  struct PendingForward {
    std::string node;
    absl::Duration remaining;  // the longest of the items'
    pb::Envelope bulk;
    std::vector<std::pair<std::shared_ptr<WriteCtx>, uint64_t>> writes;
  };
  std::vector<PendingForward> pending_forwards;

  void QueueReplication(LocalCopy* copy,
                        const std::vector<std::string>& targets,
                        pb::Operation&& op, uint64_t write_id, bool refresh);

  void QueueForward(const std::string& node,
                    const std::shared_ptr<WriteCtx>& ctx, uint64_t attempt,
                    absl::Duration remaining, pb::WriteRequest&& write);

  // Sends what the bulk scope queued.
  void SendBatches();

  struct BulkCtx {
    pb::BulkResponse response;
    int pending = 0;
    int64_t started_ms = 0;
    RespondFn respond;
  };
  void HandleBulk(const pb::BulkRequest& request, bool from_node,
                  RespondFn respond);

  // ---- client writes: the primary (R1-R3, R6, R8, R10, R11)
  // Defined in primary_write.cc.
  // -------------------------------------------------------------------------
  void Demote(LocalCopy* copy, const std::string& why);
  // R8: this primary learnt its term is superseded. It fails every write in
  // flight and acks nothing until a cluster state makes it primary again with a
  // newer term.
  void FenceStale(LocalCopy* copy, const std::string& why);
  // R8/R12: every write in flight on `copy` was stamped and may have reached
  // some copies: each is answered as an unknown outcome, never retried.
  void FailInFlight(LocalCopy* copy, const std::string& why);
  void ExecutePrimaryWrite(LocalCopy* copy,
                           const std::shared_ptr<WriteCtx>& ctx);

  // R11: an answer that needs no replication (a 409, an update's 404 or
  // noop) claims the document's state as this primary read it. It is given
  // only after the read barrier confirms this primary's term with its in-sync
  // copies and the state read is on all of them; if it does not hold (a newer
  // term exists), the request was not executed and is routed again (R12): a
  // forwarded one goes back to its coordinating node as retryable. A delete
  // of a missing document consumes a seq_no and is replicated (its
  // not_found is confirmed by the replication round), so it needs no barrier.
  // `answer` makes the reply. unsafe.no_conflict_barrier answers at once.
  void AnswerAfterBarrier(LocalCopy* copy, const std::shared_ptr<WriteCtx>& ctx,
                          absl::AnyInvocable<pb::WriteResponse()> answer);

  void MaybeComplete(LocalCopy* copy, uint64_t write_id);

  void SendReplicate(LocalCopy* copy, const std::string& target,
                     std::vector<pb::Operation> ops, uint64_t write_id);

  // A replicate request without operations under the copy's current term and
  // checkpoints.
  pb::Envelope ReplicateEnvelope(const LocalCopy& copy);

  // Sends `envelope` (from ReplicateEnvelope) to `target`; the reply goes to
  // OnReplicaReply.
  void SendReplicateEnvelope(LocalCopy* copy, const std::string& target,
                             pb::Envelope&& envelope, uint64_t write_id);

  // A reply to replicate or resync (write_id 0: no client write waits on it).
  void OnReplicaReply(uint64_t incarnation, const std::string& target,
                      uint64_t write_id, PrimaryTerm term,
                      const absl::StatusOr<pb::Envelope>& reply);

  // A replica failed an operation (or did not answer). R3: the write waits
  // until the coordinator has removed it from the in-sync set.
  void OnReplicaFailed(LocalCopy* copy, const std::string& target,
                       const std::string& reason, uint64_t write_id);

  void SendShardFailed(const CopyKey& key, uint64_t incarnation,
                       const std::string& target, const std::string& reason);

  // ---- bounded memory: retention (R9), tombstone GC (R5), gcp sync (R6)
  // Defined in retention.cc.
  // -------------------------------------------------------------------------
  // Renews the retention leases of a primary and drops the history below
  // min(global checkpoint + 1, every live lease); a replica keeps what is
  // above its global checkpoint (leases live on the primary only). Then
  // collects the tombstones that are old enough.
  void MaintainCopy(LocalCopy* copy);

  // Drops the tombstones of deletes processed at least gc_deletes ago and at
  // or below the global checkpoint. Cheap when not due: called after every
  // replicate as well as on the tick, so that short lab settings collect
  // promptly.
  void CollectTombstones(LocalCopy* copy, absl::Duration now);

  // Idle global-checkpoint sync: an empty replicate when the gcp moved since
  // last sent.
  void GlobalCheckpointSyncTick();

  // ---- replica side: fencing (R4), apply (R5), local checkpoint (R6)
  // Defined in replica_apply.cc.
  // -------------------------------------------------------------------------
  // Fencing for replicate/resync/recovery; returns the reply to send on
  // rejection. Fencing (R4): a lower term is rejected, a higher one adopted.
  // Operations of older terms above the global checkpoint stay until the new
  // primary's resync trims them, or a newer-term operation replaces one
  // (ApplyOps).
  absl::Status Fence(LocalCopy* copy, PrimaryTerm term, SeqNo request_gcp,
                     FromPrimary kind, const std::string& from);

  // `op` arrived for a seq_no this copy processed before. If the operation held
  // there is from an older term, it was never acknowledged (the primary of
  // op's term does not have it) and op replaces it: equal seq_no, higher term
  // wins. Only that one operation is replaced: older-term operations above it
  // are trimmed and applied again (they may be acknowledged ones).
  absl::Status ReplaceOlderTermOp(LocalCopy* copy, const pb::Operation& op);

  void ApplyOps(LocalCopy* copy,
                const google::protobuf::RepeatedPtrField<pb::Operation>& ops,
                absl::Status* status);

  static SeqNo ReportedLocalCheckpoint(const LocalCopy& copy);

  // The reply reports the term under which the request was handled: a term
  // learnt while the fsync ran (a batch on a busy disk) does not make an
  // operation that was accepted under the old term look unfenced.
  void ReplyAfterDurable(LocalCopy* copy, RespondFn respond);

  void RespondReplicaError(LocalCopy* copy, const absl::Status& status,
                           RespondFn& respond);

  absl::Status NoSuchShard(const pb::ShardRef& ref);

  // Every request from a primary to a copy starts here: finds the copy and
  // fences the request's term (R4). On failure it answers the error itself and
  // returns nullptr.
  LocalCopy* FindAndFence(const pb::ShardRef& shard, PrimaryTerm term,
                          SeqNo gcp, FromPrimary kind, const std::string& from,
                          RespondFn& respond);

  // The replica side shared by replicate and recovery_ops: finds the copy,
  // fences the request's term (R4) and applies its operations (R5). On any
  // failure it answers the error itself and returns nullptr.
  LocalCopy* FenceAndApply(
      const pb::ShardRef& shard, PrimaryTerm term, SeqNo gcp,
      const google::protobuf::RepeatedPtrField<pb::Operation>& ops,
      FromPrimary kind, const std::string& from, RespondFn& respond);

  // How far above a replica's local checkpoint (or the request's global
  // checkpoint, whichever is higher: a recovering copy is far behind) a
  // replicated operation's seq_no may be. Honest primaries stay well within
  // it (the gap is the operations in flight); a bogus seq_no beyond it would
  // make this copy, once promoted, fill that many no-ops (R7) before serving.
  static constexpr SeqNo kMaxReplicatedSeqNoLead = 1'000'000;

  // 400 if an operation of `request` is beyond kMaxReplicatedSeqNoLead.
  static absl::Status CheckReplicatedSeqNos(const pb::ReplicateRequest& request,
                                            const LocalCopy& copy);

  void HandleReplicate(const pb::Envelope& envelope, RespondFn respond);

  // ---- recovery (R9): target side
  // Defined in recovery_target.cc.
  // -------------------------------------------------------------------------
  void MaybeStartRecovery(LocalCopy* copy);

  void HandleRecoverySnapshot(const pb::Envelope& envelope, RespondFn respond);

  void HandleRecoveryOps(const pb::Envelope& envelope, RespondFn respond);

  // ---- recovery (R9): primary side
  // Defined in recovery_source.cc.
  // -------------------------------------------------------------------------
  void HandleStartRecovery(const pb::Envelope& envelope, RespondFn respond);

  void FailRecovery(const std::shared_ptr<RecoveryCtx>& ctx,
                    const std::string& why);

  // `definite`: the target is certainly not in sync anywhere, so this
  // primary stops counting and tracking it (only for the target's current
  // recovery).
  // A definite failure may come after the target was answered (a retried
  // shard-started refused): the bookkeeping still happens.
  void FailRecovery(const std::shared_ptr<RecoveryCtx>& ctx, bool definite,
                    const std::string& why);

  void SendRecoveryBatch(const std::shared_ptr<RecoveryCtx>& ctx);

  // The target is in sync once its local checkpoint reaches the global
  // checkpoint.
  // The recovery's finalize step: the target refreshes, then FinishRecovery
  // checks again and marks it in sync.
  void SendFinalize(const std::shared_ptr<RecoveryCtx>& ctx);
  // One RecoveryOpsRequest to the target: the next batch of ctx->ops, or
  // the finalize step; its answer records the target's local checkpoint and
  // goes on (the next batch, or FinishRecovery), or fails the recovery.
  void SendRecoveryOps(const std::shared_ptr<RecoveryCtx>& ctx, bool finalize);
  // The primary's copy if the recovery goes on after the target's answer to
  // a snapshot or ops request; otherwise the recovery fails (`rejected` is
  // the reason when the target refused) and nullptr.
  LocalCopy* RecoveryGoesOn(const std::shared_ptr<RecoveryCtx>& ctx,
                            const absl::StatusOr<pb::Envelope>& reply,
                            const char* rejected);
  void FinishRecovery(const std::shared_ptr<RecoveryCtx>& ctx);

  // Reports the recovered target started, until the coordinator answers:
  // without an answer it may or may not have listed the copy in sync, so the
  // copy stays marked (and tracked) here and the report is sent again while
  // this is still the target's current recovery. A definite refusal (e.g. the
  // copy was failed and assigned again: another allocation id) unmarks it.
  void SendShardStarted(const std::shared_ptr<RecoveryCtx>& ctx,
                        SeqNo target_lcp);

  // ---- reads: GET routing, preference, local reads
  // Defined in reads.cc.
  // -------------------------------------------------------------------------
  static pb::Envelope GetReply(pb::GetResponse&& response);

  void StartGet(const pb::GetRequest& request, bool forwarded,
                RespondFn respond);

  // `response` is moved from.
  void FinishGet(const std::shared_ptr<GetCtx>& ctx,
                 pb::GetResponse&& response);

  void RetryGet(const std::shared_ptr<GetCtx>& ctx, const std::string& why);
  void RetryGet(const std::shared_ptr<GetCtx>& ctx, pb::Error why);

  void RouteGet(const std::shared_ptr<GetCtx>& ctx);

  // Sends the GET to `node`; its answer finishes `ctx`, or a retryable error
  // (or no answer) retries it.
  void ForwardGet(const std::shared_ptr<GetCtx>& ctx, const std::string& node,
                  pb::Envelope&& envelope, const char* what);

  // GET with `preference`: the chosen copy answers from its own state,
  // without the read barrier (a replica may be behind its primary).
  void PreferredRead(const pb::IndexMeta& index, int shard, LocalCopy* local,
                     const std::shared_ptr<GetCtx>& ctx);

  // A linearizable real-time GET on the primary. The document is read now; it
  // is returned only after a read barrier: every in-sync replica answered an
  // empty replicate under this primary's term (none has adopted a newer term,
  // so no newer primary can have acknowledged a write), and the document's
  // seq_no is at or below the global checkpoint (the value read is on every
  // in-sync copy: an unacknowledged write can no longer be lost). A stale
  // primary therefore never serves a stale or dirty read.
  void PrimaryRead(LocalCopy* copy, const std::shared_ptr<GetCtx>& ctx);

  // GET on this copy: real-time (the current state), or with realtime=false
  // what its last refresh made searchable; refresh=true refreshes it first.
  pb::GetResponse ReadLocal(LocalCopy& copy, const pb::GetRequest& request);

  // ---- the read barrier of real-time GET and of R11
  // Defined in read_barrier.cc.
  // -------------------------------------------------------------------------
  // Called once: OK when the barrier held, else why it did not.
  using BarrierDone = absl::AnyInvocable<void(const absl::Status&)>;
  // One read barrier round, shared by its replies.
  struct ReadBarrierRound {
    uint64_t incarnation = 0;
    PrimaryTerm term = kUnassignedTerm;
    SeqNo needed = kNoOpsPerformed;
    absl::Duration deadline;
    int pending = 0;
    bool failed = false;
    BarrierDone done;
  };
  // The read barrier (GET, and R11's answers without replication): `done`
  // gets OK once every in-sync replica answered an empty replicate under
  // `term` (none has adopted a newer term, so no newer primary can have
  // acknowledged a write) and `needed` is at or below the global checkpoint
  // (the state read is on every in-sync copy: an unacknowledged write it
  // shows can no longer be lost). It fails if the copy is no longer primary
  // of `term`, a replica did not confirm (a newer term fences this primary:
  // R8), or the global checkpoint does not reach `needed` by `deadline`.
  void ReadBarrier(uint64_t incarnation, PrimaryTerm term, SeqNo needed,
                   absl::Duration deadline, BarrierDone done);
  // Read barriers of one executor batch (batch_per_flush), by copy.
  struct PendingBarriers {
    uint64_t incarnation = 0;
    PrimaryTerm term = kUnassignedTerm;
    std::vector<std::shared_ptr<ReadBarrierRound>> rounds;
  };
  std::vector<PendingBarriers> pending_barriers;
  void QueueReadBarrier(std::shared_ptr<ReadBarrierRound> round);
  // One empty replicate per in-sync replica settles every queued round of
  // the copy, as if each had sent its own.
  void SendReadBarriers();
  // One reply of the round is in: once all are, answers, fails, or waits
  // for the global checkpoint to cover `needed`.
  void SettleReadBarrier(const std::shared_ptr<ReadBarrierRound>& round);

  // ---- refresh (the searchable view of each copy) and search
  // Defined in search.cc.
  // -------------------------------------------------------------------------
  // Each copy refreshes on its own timer, every index.refresh_interval
  // (default 1s; -1: never on schedule), so copies of one shard make writes
  // searchable at different moments. GET stays real-time.
  static constexpr int64_t kDefaultRefreshMs = 1000;
  // index.max_refresh_listeners: more wait_for answers force a refresh.
  static constexpr size_t kMaxRefreshListeners = 1000;

  int64_t RefreshIntervalMs(const LocalCopy& copy);

  // A copy's first scheduled refresh comes a fraction of the interval after
  // it opens, the fraction fixed by the node, index and shard (a hash, not a
  // random draw, so the lab's runs do not change): copies of one shard
  // refresh at different phases, as copies that started at different moments
  // do in Elasticsearch.
  absl::Duration FirstRefreshDelay(const LocalCopy& copy);

  void ScheduleRefresh(const LocalCopy& copy);

  void ScheduleRefresh(const LocalCopy& copy, absl::Duration delay);

  void RefreshCopy(LocalCopy* copy);

  // Runs `fn` once a refresh of `copy` covers `seq_no`.
  void WhenRefreshed(LocalCopy* copy, SeqNo seq_no,
                     absl::AnyInvocable<void()> fn);

  // _refresh on this node: its copies of `indices` (every copy when empty).
  int RefreshLocal(const pb::RefreshRequest& request);

  // Spreads searches without preference over the started copies.
  uint64_t search_rotation = 0;
  // The query of `request` over the local copy (query.h evaluates it).
  absl::StatusOr<query::ShardResult> SearchLocal(
      const LocalCopy& copy, const pb::SearchRequest& request);
  // shard_search: the local copy of one shard (request.indices(0),
  // request.shard()).
  void HandleShardSearch(const pb::SearchRequest& request, RespondFn respond);
  struct SearchCtx {
    pb::SearchRequest request;
    int pending = 0;
    int successful = 0;
    std::vector<pb::ShardFailure> failures;
    std::vector<pb::SearchHit> hits;
    int64_t total = 0;
    // A shard's refusal of the query itself (400): the search fails with it.
    std::optional<pb::Error> query_error;
    int64_t started_ms = 0;
    RespondFn respond;
  };
  void HandleSearch(pb::SearchRequest request, RespondFn respond);
  void FinishSearchPart(const std::shared_ptr<SearchCtx>& ctx);

  // ---- admin: create and delete index
  // Defined in admin.cc.
  // -------------------------------------------------------------------------
  // Calls fn(true) once `predicate` holds after a state apply, or fn(false) at
  // `deadline`.
  void WaitUntil(std::function<bool()> predicate, absl::Duration deadline,
                 std::shared_ptr<absl::AnyInvocable<void(bool)>> fn);

  bool IndexActive(const std::string& name);

  void HandleCreateIndex(const pb::Envelope& request, RespondFn respond);

  void HandleDeleteIndex(const pb::Envelope& request, RespondFn respond);

  void HandleUpdateIndices(const pb::Envelope& request, RespondFn respond);
  // Sends `forward` to the coordinator as it is and answers with the reply's
  // `get` field, or a 503 master_not_discovered_exception in that field when
  // no such reply comes (admin.cc).
  template <typename Response>
  void ForwardToCoordinator(pb::Envelope forward, RespondFn respond,
                            bool (pb::Envelope::*has)() const,
                            const Response& (pb::Envelope::*get)() const,
                            Response* (pb::Envelope::*mutable_get)());

  // ---- dispatch
  // Defined in dispatch.cc.
  // -------------------------------------------------------------------------
  void Handle(const pb::Envelope& request, RespondFn respond);

  // ---- durability (R10): group commit, async fsync, failed fsync
  // Defined in durability.cc.
  // -------------------------------------------------------------------------
  void AsyncSyncTick();
  // The status of each copy Flush() synced, by incarnation (a handful: a
  // reused vector searched linearly; entries [0, flush_synced_count) are
  // current).
  std::vector<std::pair<uint64_t, absl::Status>> flush_synced;
  size_t flush_synced_count = 0;
  void SetSynced(uint64_t incarnation, absl::Status status);
  const absl::Status* FindSynced(uint64_t incarnation) const;

  // A copy whose translog fsync failed (R10): the bytes since the last good
  // fsync may be lost, and its engine refuses every later write and fsync. Like
  // Elasticsearch failing the shard, the node stops serving the copy (closes
  // it, keeping its files) and reports it failed to the coordinator, which
  // removes it from the in-sync set (a primary's in-sync replica takes over).
  void FailCopyOnDiskError(const CopyKey& key, uint64_t incarnation,
                           const absl::Status& status);
  static constexpr int kOwnCopyFailedAttempts = 50;
  void ReportOwnCopyFailed(pb::ShardFailedRequest failed, int attempts_left);

  void Flush();
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_NODE_STATE_H_
