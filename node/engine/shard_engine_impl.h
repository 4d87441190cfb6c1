// ShardEngine's state and the write, apply and history logic behind it
// (R1 stamping, R2 concurrency control, R4/R5 out-of-order apply, R6
// checkpoints, R10 translog; the searchable view of refresh). Internal to
// node/engine: only shard_engine.cc includes it; shard_engine.h is the
// interface.
#ifndef SEQSIM_NODE_ENGINE_SHARD_ENGINE_IMPL_H_
#define SEQSIM_NODE_ENGINE_SHARD_ENGINE_IMPL_H_

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/engine/json_source.h"
#include "node/engine/local_checkpoint_tracker.h"
#include "node/engine/op_history.h"
#include "node/engine/shard_engine.h"
#include "node/engine/translog.h"

namespace seqsim {
// Helpers of the Impl (Elasticsearch's sentinel versions, request checks).
namespace engine_internal {

// Elasticsearch's sentinel versions (Versions.java).
inline constexpr Version kMatchAny = -3;
inline constexpr Version kMatchDeleted = -4;
inline constexpr size_t kMaxIdBytes = 512;

inline const char* VersionTypeName(pb::VersionType type) {
  switch (type) {
    case pb::VERSION_EXTERNAL:
      return "EXTERNAL";
    case pb::VERSION_EXTERNAL_GTE:
      return "EXTERNAL_GTE";
    default:
      return "INTERNAL";
  }
}

inline bool ValidVersionForWrites(pb::VersionType type, Version version) {
  if (type == pb::VERSION_INTERNAL) {
    return version > 0 || version == kMatchAny || version == kMatchDeleted;
  }
  return version >= 0;
}

// DocWriteRequest.validateSeqNoBasedCASParams.
inline void ValidateCasParams(pb::VersionType type, Version version,
                              SeqNo if_seq_no, PrimaryTerm if_term,
                              std::vector<std::string>* messages) {
  if (!ValidVersionForWrites(type, version)) {
    messages->push_back(absl::StrCat("illegal version value [", version,
                                     "] for version type [",
                                     VersionTypeName(type), "]"));
  }
  if (type == pb::VERSION_INTERNAL && version != kMatchAny &&
      version != kMatchDeleted) {
    messages->push_back(
        "internal versioning can not be used for optimistic concurrency "
        "control. "
        "Please use `if_seq_no` and `if_primary_term` instead");
  }
  if (if_seq_no != kUnassignedSeqNo &&
      (type != pb::VERSION_INTERNAL || version != kMatchAny)) {
    messages->push_back("compare and write operations can not use versioning");
  }
  if (if_term == kUnassignedTerm && if_seq_no != kUnassignedSeqNo) {
    messages->push_back("ifSeqNo is set, but primary term is [0]");
  }
  if (if_term != kUnassignedTerm && if_seq_no == kUnassignedSeqNo) {
    messages->push_back(absl::StrCat(
        "ifSeqNo is unassigned, but primary term is [", if_term, "]"));
  }
}

inline void ValidateId(const std::string& id,
                       std::vector<std::string>* messages) {
  if (id.size() > kMaxIdBytes) {
    messages->push_back(
        absl::StrCat("id [", id, "] is too long, must be no longer than ",
                     kMaxIdBytes, " bytes but was: ", id.size()));
  }
}

inline pb::Operation OpFromDoc(const std::string& id, const StoredDoc& doc) {
  pb::Operation op;
  op.set_seq_no(doc.seq_no);
  op.set_primary_term(doc.term);
  op.set_version(doc.version);
  op.set_type(doc.deleted ? pb::OP_DELETE : pb::OP_INDEX);
  op.set_id(id);
  if (!doc.deleted) op.set_source(doc.source);
  if (!doc.routing.empty()) op.set_routing(doc.routing);
  return op;
}

}  // namespace engine_internal

struct ShardEngine::Impl {
  Impl(Disk* disk_in, EngineOptions options_in)
      : disk(disk_in), options(std::move(options_in)) {}

  Disk* const disk;
  const EngineOptions options;
  std::unique_ptr<Translog> translog;
  // A translog append that failed inside a void method; reported by Sync().
  absl::Status sticky_failure;
  // The last flush that failed (the generations it would have replaced stay).
  absl::Status last_flush_failure;
  bool replaying = false;

  PrimaryTerm term = kUnassignedTerm;
  SeqNo global_checkpoint = kNoOpsPerformed;
  SeqNo max_seq_no_of_updates_or_deletes = kNoOpsPerformed;
  LocalCheckpointTracker checkpoints;
  // Live documents and tombstones, by id. Unordered for speed: every iteration
  // that can be observed goes through SortedDocs(), so no order depends on
  // hashing.
  absl::flat_hash_map<std::string, StoredDoc> docs;
  int64_t live_docs = 0;
  // Bytes of the live documents' ids and sources (_cat's store columns).
  int64_t live_bytes = 0;
  // Last operation processed for each retained seq_no. Every processed seq_no
  // above history_floor is here; operations at or below it may have been
  // discarded.
  // Stored serialized (the bytes already built for the translog) in one arena,
  // so an insert (in or out of order) allocates nothing per op; the history is
  // parsed only for resync, recovery and trim.
  OpHistory history;
  // Reused buffer for serializing an operation in Record().
  std::string record_scratch;
  SeqNo history_floor = kNoOpsPerformed;
  // For ids whose document came from a retained operation (above
  // history_floor) that replaced a state no longer in the history: that older
  // state as an operation, serialized. A trim (only ever above the global
  // checkpoint, so above the floor's reach) rolls a document back to it when
  // no retained operation for the id remains. Only ids changed within the
  // retained history have an entry: an entry goes once the history no longer
  // holds the id's newer operation.
  absl::flat_hash_map<std::string, std::string> base_ops;
  // The searchable view. `generation` counts refreshes; a stored document
  // whose change_gen is the current generation changed since the last
  // refresh, and `unrefreshed` holds its state at that refresh if it had one
  // (a document new since then has no entry: a bulk of new documents costs
  // no copy). Not kept while replaying (Open() refreshes at the end).
  uint64_t generation = 1;
  absl::flat_hash_map<std::string, StoredDoc> unrefreshed;
  int64_t changes_since_refresh = 0;
  int64_t refreshed_live_docs = 0;
  SeqNo refreshed_max_seq_no = kNoOpsPerformed;
  int64_t refresh_count = 0;

  // Called before `doc` (just created when `inserted`) changes: keeps its
  // state as of the last refresh on its first change since.
  void BeforeChange(const std::string& id, bool inserted, StoredDoc& doc) {
    if (replaying || doc.change_gen == generation) return;
    if (!inserted) unrefreshed.try_emplace(id, doc);
    doc.change_gen = generation;
    ++changes_since_refresh;
  }

  // The state of `id` as of the last refresh, or nullptr (absent then).
  const StoredDoc* Refreshed(const std::string& id) const {
    auto it = docs.find(id);
    if (it != docs.end() && it->second.change_gen != generation)
      return &it->second;
    auto old = unrefreshed.find(id);
    return old == unrefreshed.end() ? nullptr : &old->second;
  }

  void Refresh() {
    ++generation;
    unrefreshed.clear();
    changes_since_refresh = 0;
    refreshed_live_docs = live_docs;
    refreshed_max_seq_no = checkpoints.max_seq_no();
    ++refresh_count;
  }
  // The lowest seq_no the history must keep (SetRetainedSeqNo): history below
  // min(global_checkpoint + 1, retained_seq_no) is dropped.
  SeqNo retained_seq_no = 0;
  // Tombstones by the seq_no of their delete, for PruneTombstones; an entry
  // whose document changed since is skipped (and dropped) when reached.
  absl::btree_map<SeqNo, std::string> tombstones;

  // Documents in id order.
  std::vector<std::pair<const std::string*, const StoredDoc*>> SortedDocs()
      const {
    std::vector<std::pair<const std::string*, const StoredDoc*>> sorted;
    sorted.reserve(docs.size());
    for (const auto& [id, doc] : docs) sorted.emplace_back(&id, &doc);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    return sorted;
  }

  // ---- state changes ----
  void SetDoc(const pb::Operation& op) {
    auto [it, inserted] = docs.try_emplace(op.id());
    SetDocAt(op, inserted, &it->second);
  }

  // SetDoc on an entry already looked up (`inserted`: it was just created).
  void SetDocAt(const pb::Operation& op, bool inserted, StoredDoc* doc_ptr) {
    StoredDoc& doc = *doc_ptr;
    BeforeChange(op.id(), inserted, doc);
    if (!inserted && doc.seq_no <= history_floor && op.seq_no() > doc.seq_no) {
      // The state replaced is no longer in the history: keep it for a trim.
      base_ops.insert_or_assign(
          op.id(),
          engine_internal::OpFromDoc(op.id(), doc).SerializeAsString());
    }
    const bool was_live = !inserted && !doc.deleted;
    if (was_live)
      live_bytes -= static_cast<int64_t>(op.id().size() + doc.source.size());
    doc.deleted = op.type() == pb::OP_DELETE;
    if (doc.deleted) {
      doc.source.clear();
    } else {
      doc.source = op.source();
    }
    doc.routing = doc.deleted ? std::string() : op.routing();
    doc.version = op.version();
    doc.seq_no = op.seq_no();
    doc.term = op.primary_term();
    live_docs += (doc.deleted ? 0 : 1) - (was_live ? 1 : 0);
    if (!doc.deleted) {
      live_bytes += static_cast<int64_t>(op.id().size() + doc.source.size());
    } else {
      tombstones.insert_or_assign(doc.seq_no, op.id());
    }
  }

  void EraseDoc(const std::string& id) {
    auto it = docs.find(id);
    if (it == docs.end()) return;
    BeforeChange(id, /*inserted=*/false, it->second);
    if (!it->second.deleted) {
      --live_docs;
      live_bytes -= static_cast<int64_t>(id.size() + it->second.source.size());
    }
    docs.erase(it);
  }

  absl::Status AppendRecord(RecordKind kind, std::string_view body) {
    if (replaying) return absl::OkStatus();
    return translog->Append(kind, body);
  }

  void AppendOrRemember(RecordKind kind, std::string_view body) {
    absl::Status status = AppendRecord(kind, body);
    if (!status.ok() && sticky_failure.ok()) sticky_failure = status;
  }

  // Appends `op` to the translog, then records it in the history and marks it
  // processed. `serialized`, if given, is op's serialized bytes (a replayed
  // record's body): they are used as they are instead of serializing op again.
  absl::Status Record(const pb::Operation& op,
                      const std::string_view* serialized = nullptr) {
    std::string_view bytes;
    if (serialized != nullptr) {
      bytes = *serialized;
    } else {
      record_scratch.clear();
      op.AppendToString(&record_scratch);
      bytes = record_scratch;
    }
    if (!replaying) {
      RETURN_IF_ERROR(translog->Append(RecordKind::kOperation, bytes));
    }
    history.Put(op.seq_no(), bytes);
    checkpoints.MarkProcessed(op.seq_no());
    return absl::OkStatus();
  }

  void AdvanceMsu(SeqNo seq_no) {
    if (seq_no > max_seq_no_of_updates_or_deletes)
      max_seq_no_of_updates_or_deletes = seq_no;
  }

  bool AdvanceTerm(PrimaryTerm new_term) {
    if (new_term <= term) return false;
    term = new_term;
    char body[8];
    AppendOrRemember(RecordKind::kTerm, EncodeInt64(new_term, body));
    return true;
  }

  void UpdateGlobalCheckpoint(SeqNo gcp) {
    gcp = std::min(gcp, checkpoints.checkpoint());
    if (gcp <= global_checkpoint) return;
    global_checkpoint = gcp;
    char body[8];
    AppendOrRemember(RecordKind::kGlobalCheckpoint, EncodeInt64(gcp, body));
    DiscardHistory();
  }

  // Applies the retention policy: drops the history below
  // min(global checkpoint + 1, retained_seq_no), and below
  // global checkpoint - retain_ops_below_global_checkpoint + 1 when that is
  // set.
  void DiscardHistory() {
    SeqNo bound = std::min(global_checkpoint, retained_seq_no - 1);
    const int64_t retain = options.retain_ops_below_global_checkpoint;
    if (retain >= 0) bound = std::max(bound, global_checkpoint - retain);
    if (bound <= history_floor) return;
    pb::Operation op;
    history.ForEach([&](SeqNo seq_no, std::string_view bytes) {
      if (seq_no > bound) return false;
      if (!op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) ||
          op.type() == pb::OP_NOOP)
        return true;
      // A trim can still roll the document back to this operation only while
      // the document holds a newer, retained one.
      auto doc = docs.find(op.id());
      if (doc != docs.end() && doc->second.seq_no > bound) {
        base_ops.insert_or_assign(op.id(), std::string(bytes));
      } else {
        base_ops.erase(op.id());
      }
      return true;
    });
    history.EraseAtOrBelow(bound);
    history_floor = bound;
  }

  // Drops tombstones whose delete has seq_no <= min(bound, global
  // checkpoint) (unsafe_early_gc: <= bound, ignoring the global checkpoint).
  int64_t PruneTombstones(SeqNo bound) {
    if (!options.unsafe_early_gc) bound = std::min(bound, global_checkpoint);
    int64_t pruned = 0;
    for (auto it = tombstones.begin();
         it != tombstones.end() && it->first <= bound;
         it = tombstones.erase(it)) {
      auto doc = docs.find(it->second);
      if (doc == docs.end() || !doc->second.deleted ||
          doc->second.seq_no != it->first) {
        continue;  // changed since: not this tombstone any more
      }
      docs.erase(doc);
      ++pruned;
    }
    return pruned;
  }

  // The replica rule (R5), also used to replay the translog (`serialized`: as
  // for Record()).
  absl::StatusOr<ApplyOutcome> ApplyOnReplica(
      const pb::Operation& op, const std::string_view* serialized = nullptr) {
    if (op.seq_no() < 0) {
      return IllegalArgument(
          absl::StrCat("operation has no seq_no [", op.seq_no(), "]"));
    }
    const bool processed = checkpoints.IsProcessed(op.seq_no());
    if (processed && !options.unsafe_no_seqno_check)
      return ApplyOutcome::kAlreadyProcessed;
    if (op.type() == pb::OP_NOOP) {
      if (processed) return ApplyOutcome::kAlreadyProcessed;
      RETURN_IF_ERROR(Record(op, serialized));
      return ApplyOutcome::kNoOp;
    }
    bool newer = true;
    // One lookup serves the R5 check and the update (Record() does not touch
    // the documents, so the pointer stays valid).
    StoredDoc* doc = nullptr;
    if (!options.unsafe_no_seqno_check) {
      auto it = docs.find(op.id());
      if (it != docs.end()) {
        doc = &it->second;
        newer = op.seq_no() > doc->seq_no ||
                (op.seq_no() == doc->seq_no && op.primary_term() > doc->term);
      }
    }
    RETURN_IF_ERROR(Record(op, serialized));
    if (op.type() == pb::OP_DELETE) AdvanceMsu(op.seq_no());
    if (!newer) return ApplyOutcome::kStale;
    if (doc != nullptr) {
      SetDocAt(op, /*inserted=*/false, doc);
    } else {
      SetDoc(op);
    }
    return ApplyOutcome::kApplied;
  }

  // Appends the whole state as translog records (term, base, documents,
  // history) to `*out`.
  void AppendDump(std::string* out) const {
    std::string& content = *out;
    std::string body;
    PutInt64(term, &body);
    EncodeRecord(RecordKind::kTerm, body, &content);
    body.clear();
    PutInt64(checkpoints.checkpoint(), &body);
    PutInt64(checkpoints.max_seq_no(), &body);
    PutInt64(history_floor, &body);
    PutInt64(global_checkpoint, &body);
    PutInt64(max_seq_no_of_updates_or_deletes, &body);
    EncodeRecord(RecordKind::kBase, body, &content);
    for (const auto& [id, doc] : SortedDocs()) {
      EncodeRecord(RecordKind::kDocument,
                   engine_internal::OpFromDoc(*id, *doc).SerializeAsString(),
                   &content);
    }
    std::vector<const std::string*> base_ids;
    base_ids.reserve(base_ops.size());
    for (const auto& [id, bytes] : base_ops) base_ids.push_back(&id);
    std::sort(
        base_ids.begin(), base_ids.end(),
        [](const std::string* a, const std::string* b) { return *a < *b; });
    for (const std::string* id : base_ids) {
      EncodeRecord(RecordKind::kBaseOperation, base_ops.at(*id), &content);
    }
    history.ForEach([&](SeqNo, std::string_view bytes) {
      EncodeRecord(RecordKind::kHistory, bytes, &content);
      return true;
    });
  }

  // Flush: the whole state becomes the translog's durable snapshot, and the
  // generations it covers are deleted (also how a trim or a snapshot install
  // replaces the translog).
  absl::Status RewriteTranslog() {
    std::string content = translog->SnapshotHeader();
    content.reserve(static_cast<size_t>(translog->snapshot_bytes()));
    AppendDump(&content);
    return translog->Commit(content);
  }

  // A flush once the generations since the last one hold more than the flush
  // threshold, and at least as much as the snapshot (so that a flush never
  // writes more than twice what was appended since the previous one).
  void MaybeFlush() {
    const uint64_t uncommitted = translog->uncommitted_bytes();
    if (uncommitted < options.flush_threshold_bytes ||
        uncommitted < translog->snapshot_bytes()) {
      return;
    }
    absl::Status flushed = RewriteTranslog();
    if (!flushed.ok()) last_flush_failure = flushed;
  }

  // `scratch`: an operation reused across records (parsing into it reuses its
  // strings' buffers).
  absl::Status Replay(const TranslogRecord& record, pb::Operation* scratch) {
    auto corrupt = [&] {
      return absl::DataLossError(absl::StrCat(
          "translog ", options.translog_path, ": malformed record of kind ",
          static_cast<int>(record.kind)));
    };
    size_t offset = 0;
    switch (record.kind) {
      case RecordKind::kOperation:
      case RecordKind::kDocument:
      case RecordKind::kHistory:
      case RecordKind::kBaseOperation: {
        pb::Operation& op = *scratch;
        if (!op.ParseFromArray(record.body.data(),
                               static_cast<int>(record.body.size()))) {
          return corrupt();
        }
        if (record.kind == RecordKind::kOperation) {
          // The body is op's serialization (Record() wrote it): the history
          // keeps those bytes.
          return ApplyOnReplica(op, &record.body).status();
        }
        if (record.kind == RecordKind::kDocument) {
          SetDoc(op);
        } else if (record.kind == RecordKind::kBaseOperation) {
          base_ops.insert_or_assign(op.id(), std::string(record.body));
        } else {
          history.Put(op.seq_no(), record.body);
          checkpoints.MarkProcessed(op.seq_no());
        }
        return absl::OkStatus();
      }
      case RecordKind::kTerm: {
        int64_t value = 0;
        if (!GetInt64(record.body, &offset, &value)) return corrupt();
        term = std::max(term, value);
        return absl::OkStatus();
      }
      case RecordKind::kGlobalCheckpoint: {
        int64_t value = 0;
        if (!GetInt64(record.body, &offset, &value)) return corrupt();
        UpdateGlobalCheckpoint(value);
        return absl::OkStatus();
      }
      case RecordKind::kSnapshotHeader:
        return absl::OkStatus();  // consumed by the Translog itself
      case RecordKind::kBase: {
        int64_t lcp = 0, max_seq_no = 0, floor = 0, gcp = 0, msu = 0;
        if (!GetInt64(record.body, &offset, &lcp) ||
            !GetInt64(record.body, &offset, &max_seq_no) ||
            !GetInt64(record.body, &offset, &floor) ||
            !GetInt64(record.body, &offset, &gcp) ||
            !GetInt64(record.body, &offset, &msu)) {
          return corrupt();
        }
        docs.clear();
        live_docs = 0;
        live_bytes = 0;
        history.clear();
        base_ops.clear();
        tombstones.clear();
        checkpoints.Reset(lcp, max_seq_no);
        history_floor = floor;
        global_checkpoint = gcp;
        max_seq_no_of_updates_or_deletes = msu;
        return absl::OkStatus();
      }
    }
    return corrupt();
  }

  // ---- primary path ----
  absl::Status CheckCas(const pb::WriteRequest& request,
                        const StoredDoc* doc) const {
    if (!request.has_if_seq_no() || request.if_seq_no() == kUnassignedSeqNo) {
      return absl::OkStatus();
    }
    if (doc == nullptr || doc->deleted) {
      return VersionConflict(absl::StrCat(
          "[", request.id(), "]: version conflict, required seqNo [",
          request.if_seq_no(), "], primary term [", request.if_primary_term(),
          "]. but no document was found"));
    }
    if (doc->seq_no != request.if_seq_no() ||
        doc->term != request.if_primary_term()) {
      return VersionConflict(absl::StrCat(
          "[", request.id(), "]: version conflict, required seqNo [",
          request.if_seq_no(), "], primary term [", request.if_primary_term(),
          "]. current document has seqNo [", doc->seq_no,
          "] and primary term [", doc->term, "]"));
    }
    return absl::OkStatus();
  }

  // Version checks and the new _version (VersionType.updateVersion).
  absl::StatusOr<Version> NextVersion(const pb::WriteRequest& request,
                                      const StoredDoc* doc) const {
    switch (request.version_type()) {
      case pb::VERSION_EXTERNAL:
        if (doc != nullptr && doc->version >= request.version()) {
          return VersionConflict(absl::StrCat(
              "[", request.id(), "]: version conflict, current version [",
              doc->version, "] is higher or equal to the one provided [",
              request.version(), "]"));
        }
        return request.version();
      case pb::VERSION_EXTERNAL_GTE:
        if (doc != nullptr && doc->version > request.version()) {
          return VersionConflict(absl::StrCat(
              "[", request.id(), "]: version conflict, current version [",
              doc->version, "] is higher than the one provided [",
              request.version(), "]"));
        }
        return request.version();
      default:
        return InternalNextVersion(request.id(), doc);
    }
  }

  // The internal _version after `doc` (previous + 1, 1 for a new document). A
  // document whose _version is already the largest long (set by an external
  // write) can not be bumped: 400, nothing changes (instead of a signed
  // overflow to a negative version).
  static absl::StatusOr<Version> InternalNextVersion(const std::string& id,
                                                     const StoredDoc* doc) {
    if (doc == nullptr) return 1;
    if (doc->version == std::numeric_limits<Version>::max()) {
      return IllegalArgument(absl::StrCat(
          "[", id, "]: version [", doc->version,
          "] is the largest _version; an internal write can not increment it"));
    }
    return doc->version + 1;
  }

  pb::Operation Stamp(pb::OpType type, const std::string& id,
                      Version version) const {
    pb::Operation op;
    op.set_seq_no(checkpoints.max_seq_no() + 1);
    op.set_primary_term(term);
    op.set_version(version);
    op.set_type(type);
    op.set_id(id);
    return op;
  }

  // Records and applies a stamped index or delete; fills `result->op`.
  // `doc`: the entry held for op's id (looked up by the caller; Record()
  // leaves the documents alone), or nullptr if there is none.
  absl::Status Commit(pb::Operation&& op, StoredDoc* doc, WriteResult* result) {
    RETURN_IF_ERROR(Record(op));
    if (doc != nullptr || op.type() == pb::OP_DELETE) AdvanceMsu(op.seq_no());
    if (doc != nullptr) {
      SetDocAt(op, /*inserted=*/false, doc);
    } else {
      SetDoc(op);
    }
    result->op = std::move(op);
    return absl::OkStatus();
  }

  absl::StatusOr<WriteResult> Index(const pb::WriteRequest& request,
                                    StoredDoc* doc) {
    const bool live = doc != nullptr && !doc->deleted;
    RETURN_IF_ERROR(CheckCas(request, doc));
    if (request.kind() == pb::WriteRequest::CREATE && live) {
      return VersionConflict(
          absl::StrCat("[", request.id(),
                       "]: version conflict, document already exists "
                       "(current version [",
                       doc->version, "])"));
    }
    ASSIGN_OR_RETURN(Version version, NextVersion(request, doc));
    RETURN_IF_ERROR(ValidateSource(request.source()));
    WriteResult result;
    result.result = live ? "updated" : "created";
    pb::Operation op = Stamp(pb::OP_INDEX, request.id(), version);
    op.set_source(request.source());
    op.set_routing(request.routing());
    RETURN_IF_ERROR(Commit(std::move(op), doc, &result));
    return result;
  }

  absl::StatusOr<WriteResult> Delete(const pb::WriteRequest& request,
                                     StoredDoc* doc) {
    const bool live = doc != nullptr && !doc->deleted;
    RETURN_IF_ERROR(CheckCas(request, doc));
    ASSIGN_OR_RETURN(Version version, NextVersion(request, doc));
    WriteResult result;
    result.result = live ? "deleted" : "not_found";
    RETURN_IF_ERROR(
        Commit(Stamp(pb::OP_DELETE, request.id(), version), doc, &result));
    return result;
  }

  absl::StatusOr<WriteResult> Update(const pb::WriteRequest& request,
                                     StoredDoc* doc) {
    const bool live = doc != nullptr && !doc->deleted;
    WriteResult result;
    if (!live) {
      // Missing: index the upsert document (or the partial doc itself), else
      // 404.
      const std::string* upsert = nullptr;
      if (request.doc_as_upsert()) {
        upsert = &request.update_doc();
      } else if (request.has_upsert()) {
        upsert = &request.upsert();
      } else {
        return DocumentMissing(request.id());
      }
      RETURN_IF_ERROR(ValidateSource(*upsert));
      result.result = "created";
      result.source = *upsert;
      ASSIGN_OR_RETURN(Version version, InternalNextVersion(request.id(), doc));
      pb::Operation op = Stamp(pb::OP_INDEX, request.id(), version);
      op.set_source(*upsert);
      op.set_routing(request.routing());
      RETURN_IF_ERROR(Commit(std::move(op), doc, &result));
      return result;
    }
    RETURN_IF_ERROR(CheckCas(request, doc));
    std::string merged = doc->source;
    ASSIGN_OR_RETURN(bool changed, MergeSource(&merged, request.update_doc()));
    if (!changed && request.detect_noop()) {
      result.result = "noop";
      result.replicate = false;
      result.source = std::move(merged);
      result.op = engine_internal::OpFromDoc(request.id(), *doc);
      return result;
    }
    ASSIGN_OR_RETURN(Version version, InternalNextVersion(request.id(), doc));
    result.result = "updated";
    result.source = merged;
    pb::Operation op = Stamp(pb::OP_INDEX, request.id(), version);
    op.set_source(std::move(merged));
    op.set_routing(request.routing());
    RETURN_IF_ERROR(Commit(std::move(op), doc, &result));
    return result;
  }
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_SHARD_ENGINE_IMPL_H_
