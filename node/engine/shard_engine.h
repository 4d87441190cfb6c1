// ShardEngine: one shard copy (primary or replica) as a pure state machine.
//
// What it is for: the replication rules R1, R2, R4, R5, R6, R7
// (resync/trim/no-op support), R9 (operations retained for recovery, snapshot
// install) and R10 (translog) of DESIGN.md, with no threads, sockets, sleeps or
// clock reads. The live node and the lab drive it through the same calls; the
// node logic (node/node.h) decides when to call what.
//
// Thread-safety: none. One actor owns a ShardEngine and calls it from one
// thread at a time.
//
// Invariants:
//   - local_checkpoint() <= max_seq_no(); every seq_no <= local_checkpoint() is
//   processed.
//   - global_checkpoint() only advances (except on a snapshot install) and is
//     <= local_checkpoint() on the primary.
//   - a document's stored (seq_no, term) is the newest operation processed for
//   its id,
//     tombstones (deletes) included.
//   - every processed operation is in the translog; operations are durable only
//   after Sync().
//   - a request rejected by a check on the primary consumes no seq_no and
//   changes nothing.
#ifndef SEQSIM_NODE_ENGINE_SHARD_ENGINE_H_
#define SEQSIM_NODE_ENGINE_SHARD_ENGINE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/env.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

using SeqNo = int64_t;
using PrimaryTerm = int64_t;
using Version = int64_t;

inline constexpr SeqNo kUnassignedSeqNo = -2;
inline constexpr SeqNo kNoOpsPerformed = -1;
inline constexpr PrimaryTerm kUnassignedTerm = 0;

// A document as one copy stores it. A delete leaves a tombstone (deleted =
// true) that keeps its seq_no and term so that an older operation can never
// resurrect the document (R5).
struct StoredDoc {
  std::string source;   // JSON bytes; empty for a tombstone
  std::string routing;  // the `routing` it was written with; empty: none
  Version version = 0;
  SeqNo seq_no = kUnassignedSeqNo;
  PrimaryTerm term = kUnassignedTerm;
  bool deleted = false;
  // The engine's refresh generation of this entry's last change (the
  // searchable view; see ShardEngine::Refresh).
  uint64_t change_gen = 0;
};

// What a primary write did.
struct WriteResult {
  pb::Operation
      op;  // the stamped operation, to replicate (a rejected request has none)
  std::string result;  // created | updated | deleted | not_found | noop
  // For an update: the document after the update (for `get` in the reply).
  std::string source;
  // False for an update that changed nothing ("noop"): no seq_no consumed,
  // nothing to replicate.
  bool replicate = true;
};

// The outcome of one replica-side apply, for traces and tests.
enum class ApplyOutcome {
  kApplied,  // the document changed
  kStale,    // processed and recorded, document untouched (older seq_no / term)
  kAlreadyProcessed,  // this seq_no was processed before: nothing recorded
                      // again
  kNoOp,              // a no-op operation, recorded and processed
};

struct EngineOptions {
  // Translog file, relative to the Disk's root, e.g. "shards/idx/0/translog"
  // (generation files and the snapshot are named after it: see Translog).
  std::string translog_path;
  // index.translog.generation_threshold_size (Elasticsearch: 64mb).
  uint64_t translog_generation_threshold_bytes = uint64_t{64} << 20;
  // index.translog.flush_threshold_size: a Sync() that leaves more than this
  // (and more than the last snapshot's size) in the translog's generations
  // flushes (Flush()). Elasticsearch's default is 512mb; seqsim's snapshot is
  // a full dump, so 64mb keeps a restart's replay short.
  uint64_t flush_threshold_bytes = uint64_t{64} << 20;
  // Index name and uuid and shard number, for error bodies.
  std::string index;
  std::string index_uuid;
  int shard = 0;
  // Planted bugs for the lab (--unsafe=...); never set in the live cluster.
  bool unsafe_no_fencing =
      false;  // replicas accept operations with older terms
  bool unsafe_no_seqno_check = false;  // replicas apply whatever arrives last
  // PruneTombstones ignores the global checkpoint (a planted bug: an older
  // operation still in flight can resurrect a deleted document).
  bool unsafe_early_gc = false;
  // History retention for operations-based recovery (R9): -1 keeps every
  // operation; a value N >= 0 discards history operations with seq_no <=
  // global_checkpoint() - N, so that a copy far enough behind needs a full-copy
  // (file-based) recovery.
  int64_t retain_ops_below_global_checkpoint = -1;
  // Open() starts with SetRetainedSeqNo(max): the replay keeps only the
  // history above the global checkpoint (what a replica keeps; a primary's
  // leases are not persisted, and its node sets the retention again). Off
  // (the default, for engine tests): the replay keeps every operation.
  bool discard_history_on_replay = false;
};

class ShardEngine {
 public:
  // Creates an empty copy, or recovers one from the translog at
  // options.translog_path: replays every intact record (a torn or corrupt tail
  // is cut off the file), rebuilding the documents, the local checkpoint,
  // max_seq_no, the term and the global checkpoint.
  static absl::StatusOr<std::unique_ptr<ShardEngine>> Open(
      Disk* disk, EngineOptions options);
  ~ShardEngine();
  ShardEngine(const ShardEngine&) = delete;
  ShardEngine& operator=(const ShardEngine&) = delete;

  // ---- Terms
  // --------------------------------------------------------------------------
  PrimaryTerm term() const;
  // Adopts `term` if higher than the current one (persisted in the translog).
  // Returns true if the term changed.
  bool AdvanceTerm(PrimaryTerm term);

  // ---- Primary path (R1, R2)
  // -------------------------------------------------------------- Runs every
  // Elasticsearch check of `request` (validation 400, version conflicts 409,
  // missing documents 404) against the stored document; on success stamps
  // seq_no = max_seq_no()+1, the current term and the new _version, applies it
  // locally and appends it to the translog. `request.kind()` INDEX, CREATE,
  // DELETE or UPDATE. A DELETE of a missing document succeeds with result
  // "not_found" and still consumes a seq_no (its op is a delete with
  // version 1... as ES). An UPDATE merges `update_doc` into the stored _source
  // (or indexes `upsert` / the doc when missing, per doc_as_upsert); an update
  // that changes nothing returns result "noop" with replicate == false (only
  // when request.detect_noop() is set, as in Elasticsearch; the REST layer
  // defaults it to true). retry_on_conflict: the node actor runs one request at
  // a time, so an update's read-merge-write is atomic here and can never race
  // another write; the only conflicts an update can meet come from if_seq_no /
  // if_primary_term, which Elasticsearch forbids to retry (400 "compare and
  // write operations can not be retried"). So retry_on_conflict is validated
  // but never needs a retry loop. Errors: 400 (Validate,
  // mapper_parsing_exception "failed to parse" for a source that is not a JSON
  // object), 409 version_conflict_engine_exception, 404
  // document_missing_exception; a translog append failure returns its Disk
  // status.
  absl::StatusOr<WriteResult> PrimaryWrite(const pb::WriteRequest& request);

  // Validation only (400s), without touching state; PrimaryWrite calls it
  // first.
  static absl::Status Validate(const pb::WriteRequest& request);

  // ---- Replica path (R4, R5)
  // -------------------------------------------------------------- Fencing:
  // FailedPrecondition with reason
  //   "operation primary term [X] is too old (current [Y])"
  // when `request_term` < term(); a higher term is adopted first.
  absl::Status CheckAndAdvanceTerm(PrimaryTerm request_term);
  // Applies one operation received from the primary (after
  // CheckAndAdvanceTerm). Changes the document only if op is newer than what it
  // holds: higher seq_no, or equal seq_no and higher term. Records the seq_no
  // as processed either way and appends to the translog.
  absl::StatusOr<ApplyOutcome> ApplyOnReplica(const pb::Operation& op);

  // ---- Checkpoints (R6)
  // -------------------------------------------------------------------
  SeqNo max_seq_no() const;
  SeqNo local_checkpoint() const;
  SeqNo global_checkpoint() const;
  // Adopts `gcp` if it is higher than the current global checkpoint (never
  // above the local checkpoint on this copy's own knowledge: it is capped at
  // local_checkpoint()).
  void UpdateGlobalCheckpoint(SeqNo gcp);
  SeqNo max_seq_no_of_updates_or_deletes() const;
  void AdvanceMaxSeqNoOfUpdatesOrDeletes(SeqNo seq_no);

  // ---- Resync and recovery (R7, R9)
  // ------------------------------------------------------- Every retained
  // operation with seq_no > `above`, in seq_no order (the last operation
  // processed for each seq_no). Fails with FailedPrecondition if some are no
  // longer retained.
  absl::StatusOr<std::vector<pb::Operation>> OperationsAbove(SeqNo above) const;
  // True if every operation above `above` is still retained (ops-based recovery
  // possible).
  bool HasOperationsAbove(SeqNo above) const;
  // The operation retained for `seq_no` (the last one processed for it), or
  // nullopt if none is: never processed, trimmed, or discarded by retention /
  // below an installed snapshot. For the lab's invariant checks.
  std::optional<pb::Operation> OperationAt(SeqNo seq_no) const;
  // The serialized bytes of OperationAt(seq_no), or nullopt if none is
  // retained; valid until the engine next changes. Equal bytes mean equal
  // operations (the lab compares copies without parsing).
  std::optional<std::string_view> OperationBytesAt(SeqNo seq_no) const;
  // Drops operations above `above_seq_no` whose term is older than `term`
  // (resync trim): they are forgotten as processed, and documents they set are
  // rolled back to the newest remaining operation for that id (retained, or
  // discarded by retention / installed by a snapshot), or removed if none
  // remains. Only retained operations can be dropped: operations at or below
  // a snapshot's local checkpoint are never trimmed. Rewrites the translog
  // (atomically) when something was dropped; a no-op otherwise.
  absl::Status TrimOperationsAbove(SeqNo above_seq_no, PrimaryTerm term);
  // New primary: fills every gap below max_seq_no() with a no-op under the
  // current term
  // ("filling gaps"); returns the no-ops it created (to replicate).
  absl::StatusOr<std::vector<pb::Operation>> FillGapsWithNoOps();
  // Every live document and tombstone as operations (the current state).
  std::vector<pb::Operation> Snapshot() const;
  // Full-copy recovery: every document as it was at the global checkpoint,
  // as operations (a document changed above it is given in its state at the
  // checkpoint, rebuilt from the history and the states kept for trims, or
  // left out if it did not exist then), followed by every retained operation
  // above the checkpoint in seq_no order. The target installs it with local
  // checkpoint = global_checkpoint() (InstallSnapshot): the operations above
  // it enter its history, trimmable there. Operations above the global
  // checkpoint may be unacknowledged and a later resync may have to drop them
  // (R7), which a document state copied with them could not undo.
  std::vector<pb::Operation> SnapshotAtGlobalCheckpoint() const;
  // Replaces this copy's content with `docs` (from
  // SnapshotAtGlobalCheckpoint() on the primary: documents at or below
  // `local_checkpoint`, then operations above it, applied by the replica rule
  // and kept in the history) and sets the checkpoints; the translog is
  // rewritten (flushed) to hold exactly this state.
  absl::Status InstallSnapshot(const std::vector<pb::Operation>& docs,
                               SeqNo max_seq_no, SeqNo local_checkpoint,
                               SeqNo global_checkpoint, PrimaryTerm term);

  // ---- Reads
  // ------------------------------------------------------------------------------
  // The live document (not a tombstone), or nullptr.
  const StoredDoc* Get(const std::string& id) const;
  // The stored entry for `id`, tombstones included, or nullptr.
  const StoredDoc* GetIncludingTombstone(const std::string& id) const;
  // Every stored entry (live documents and tombstones) in id order.
  std::vector<std::pair<std::string, StoredDoc>> AllDocs() const;
  // Number of operations retained in the history (for recovery and tests).
  int64_t retained_ops() const;
  // Entries kept for trims whose history is gone (bounded by the retained
  // history; for tests and memory accounting).
  int64_t retained_base_ops() const;

  // ---- History retention (R9) and tombstone GC (R5)
  // History retention: every operation with seq_no >= min(global_checkpoint()
  // + 1, seq_no) is kept; those below are dropped from memory, now and as the
  // global checkpoint advances (the node passes the retention leases' minimum
  // on a primary, a value above every seq_no on a replica). The default, 0,
  // keeps everything. After a drop HasOperationsAbove(below the floor) is
  // false: a copy that needs those recovers by a full copy.
  void SetRetainedSeqNo(SeqNo seq_no);
  SeqNo retained_seq_no() const;
  // Every processed operation above history_floor() is in the history.
  SeqNo history_floor() const;
  // Tombstone GC (Elasticsearch's index.gc_deletes): forgets every tombstone
  // whose delete has seq_no <= min(at_or_below, global_checkpoint()); the node
  // passes the newest seq_no processed at least gc_deletes ago. Returns how
  // many were dropped. Afterwards the id is unknown: a write to it starts at
  // _version 1, as in Elasticsearch after gc_deletes.
  //
  // Why R5 still holds (an older operation never resurrects a deleted
  // document) for every operation this copy can still receive: a tombstone
  // at seq_no t is dropped only when t <= global checkpoint <= local
  // checkpoint (UpdateGlobalCheckpoint caps it), so every seq_no <= t is
  // already processed here. An operation older than the delete (seq_no < t)
  // that arrives later, out of order, a duplicate, a resync or a recovery
  // batch, is therefore refused as already processed before its document is
  // even looked up; one that is not processed has seq_no > local checkpoint
  // >= t and is newer than the delete, so applying it is what R5 asks. The
  // local checkpoint never falls back below t: a trim (resync, recovery,
  // replacement by a newer term) drops only operations above the global
  // checkpoint, and a snapshot install replaces the whole copy with a
  // primary's documents and a local checkpoint that is at least the primary's
  // global checkpoint, at or above every tombstone that primary dropped.
  // A trim that rolls a document back after its tombstone was dropped finds
  // the delete in the retained history, or nothing: both mean "deleted".
  int64_t PruneTombstones(SeqNo at_or_below);
  // Tombstones currently held.
  int64_t tombstone_count() const;
  // Live documents in id order.
  std::vector<std::pair<std::string, StoredDoc>> LiveDocs() const;
  int64_t doc_count() const;
  // Bytes of the live documents' ids and sources (the store size _cat shows).
  int64_t live_bytes() const;
  // term(), max_seq_no(), local_checkpoint(), global_checkpoint() and
  // doc_count() in one call (read after every lab event).
  struct Counters {
    PrimaryTerm term = kUnassignedTerm;
    SeqNo max_seq_no = kNoOpsPerformed;
    SeqNo local_checkpoint = kNoOpsPerformed;
    SeqNo global_checkpoint = kNoOpsPerformed;
    int64_t docs = 0;
  };
  Counters counters() const;

  // ---- Refresh: the searchable view (near-real-time search)
  // ---------------------------------------------------------------------
  // Search and realtime=false GET see the copy as of its last Refresh(), as a
  // Lucene reader sees the segments of the last refresh in Elasticsearch; GET
  // (real-time) and every replication rule see the current state. Each copy
  // refreshes on its own schedule, so a replica's search can lag its
  // primary's. The view costs one entry per document changed since the last
  // refresh (its state at that refresh); Refresh() drops them. Opening a copy
  // (translog replay) and installing a snapshot end with a refresh, as
  // Elasticsearch refreshes when a shard starts or a recovery finishes.
  void Refresh();
  // The document as the last refresh saw it (live only), or nullptr.
  const StoredDoc* GetRefreshed(const std::string& id) const;
  // Live documents of the last refresh, in id order.
  std::vector<std::pair<std::string, StoredDoc>> RefreshedLiveDocs() const;
  // Live documents of the last refresh (the `docs` of _cat/shards).
  int64_t refreshed_doc_count() const;
  // max_seq_no() at the last refresh: every operation at or below it that was
  // processed before that refresh is visible (refresh=wait_for).
  SeqNo refreshed_max_seq_no() const;
  // Refreshes of this copy so far (_cat/shards refresh.total).
  int64_t refresh_count() const;
  // Documents changed since the last refresh.
  int64_t unrefreshed_changes() const;

  // ---- Durability (R10)
  // ------------------------------------------------------------------- True if
  // operations were appended since the last Sync().
  bool NeedsSync() const;
  // fsyncs the translog once, covering every operation appended so far (group
  // commit); then rolls the translog generation or flushes when a threshold
  // is reached (a failed flush leaves the translog as it was and shows in
  // translog_stats()).
  absl::Status Sync();
  // Flush (seqsim's stand-in for a Lucene commit): writes the copy's whole
  // state (documents, tombstones, checkpoints, term, retained history) as the
  // translog's snapshot, durably and atomically, and deletes the generations
  // it covers. A restart then loads the snapshot and replays only what was
  // appended after it.
  absl::Status Flush();
  struct TranslogStats {
    int64_t generation = 0;   // the current generation
    int64_t generations = 0;  // generation files on disk
    uint64_t uncommitted_bytes = 0;
    uint64_t snapshot_bytes = 0;
    absl::Status last_flush_failure;
  };
  TranslogStats translog_stats() const;

  const EngineOptions& options() const;

 private:
  ShardEngine(Disk* disk, EngineOptions options);
  // (The implementation adds what it needs here.)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_SHARD_ENGINE_H_
