#include "node/engine/shard_engine.h"

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
#include "node/engine/translog.h"

namespace seqsim {
namespace {

// Elasticsearch's sentinel versions (Versions.java).
constexpr Version kMatchAny = -3;
constexpr Version kMatchDeleted = -4;
constexpr size_t kMaxIdBytes = 512;

const char* VersionTypeName(pb::VersionType type) {
  switch (type) {
    case pb::VERSION_EXTERNAL:
      return "EXTERNAL";
    case pb::VERSION_EXTERNAL_GTE:
      return "EXTERNAL_GTE";
    default:
      return "INTERNAL";
  }
}

bool ValidVersionForWrites(pb::VersionType type, Version version) {
  if (type == pb::VERSION_INTERNAL) {
    return version > 0 || version == kMatchAny || version == kMatchDeleted;
  }
  return version >= 0;
}

// DocWriteRequest.validateSeqNoBasedCASParams.
void ValidateCasParams(pb::VersionType type, Version version, SeqNo if_seq_no,
                       PrimaryTerm if_term,
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

void ValidateId(const std::string& id, std::vector<std::string>* messages) {
  if (id.size() > kMaxIdBytes) {
    messages->push_back(
        absl::StrCat("id [", id, "] is too long, must be no longer than ",
                     kMaxIdBytes, " bytes but was: ", id.size()));
  }
}

pb::Operation OpFromDoc(const std::string& id, const StoredDoc& doc) {
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

}  // namespace

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
      base_ops.insert_or_assign(op.id(),
                                OpFromDoc(op.id(), doc).SerializeAsString());
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
                   OpFromDoc(*id, *doc).SerializeAsString(), &content);
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
      result.op = OpFromDoc(request.id(), *doc);
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

ShardEngine::ShardEngine(Disk* disk, EngineOptions options)
    : impl_(std::make_unique<Impl>(disk, std::move(options))) {}

ShardEngine::~ShardEngine() = default;

absl::StatusOr<std::unique_ptr<ShardEngine>> ShardEngine::Open(
    Disk* disk, EngineOptions options) {
  if (disk == nullptr)
    return absl::InvalidArgumentError("ShardEngine::Open: no disk");
  if (options.translog_path.empty()) {
    return absl::InvalidArgumentError("ShardEngine::Open: empty translog_path");
  }
  std::unique_ptr<ShardEngine> engine(
      new ShardEngine(disk, std::move(options)));
  Impl& impl = *engine->impl_;
  impl.replaying = true;
  if (impl.options.discard_history_on_replay) {
    impl.retained_seq_no = std::numeric_limits<SeqNo>::max();
  }
  pb::Operation scratch;
  TranslogOptions translog_options;
  translog_options.generation_threshold_bytes =
      impl.options.translog_generation_threshold_bytes;
  ASSIGN_OR_RETURN(
      impl.translog,
      Translog::Open(disk, impl.options.translog_path, translog_options,
                     [&](const TranslogRecord& record) {
                       return impl.Replay(record, &scratch);
                     }));
  impl.replaying = false;
  // As Elasticsearch does on recovery from store: assume every op may have been
  // an update.
  impl.AdvanceMsu(impl.checkpoints.max_seq_no());
  impl.Refresh();
  return engine;
}

PrimaryTerm ShardEngine::term() const { return impl_->term; }

bool ShardEngine::AdvanceTerm(PrimaryTerm term) {
  return impl_->AdvanceTerm(term);
}

absl::Status ShardEngine::Validate(const pb::WriteRequest& request) {
  if (request.has_if_seq_no() && request.if_seq_no() < 0 &&
      request.if_seq_no() != kUnassignedSeqNo) {
    return IllegalArgument(
        absl::StrCat("sequence numbers must be non negative. got [",
                     request.if_seq_no(), "]."));
  }
  if (request.has_if_primary_term() && request.if_primary_term() < 0) {
    return IllegalArgument(
        absl::StrCat("primary term must be non negative. got [",
                     request.if_primary_term(), "]"));
  }
  const SeqNo if_seq_no =
      request.has_if_seq_no() ? request.if_seq_no() : kUnassignedSeqNo;
  const PrimaryTerm if_term = request.has_if_primary_term()
                                  ? request.if_primary_term()
                                  : kUnassignedTerm;
  Version version = request.has_version() ? request.version() : kMatchAny;
  const pb::VersionType type = request.version_type();
  std::vector<std::string> messages;
  switch (request.kind()) {
    case pb::WriteRequest::CREATE:
      if (request.source().empty()) messages.push_back("source is missing");
      if (type != pb::VERSION_INTERNAL) {
        messages.push_back(
            "create operations only support internal versioning. use index "
            "instead");
        return ValidationFailed(messages);
      }
      if (version != kMatchAny) {
        messages.push_back(
            "create operations do not support explicit versions. use index "
            "instead");
        return ValidationFailed(messages);
      }
      if (if_seq_no != kUnassignedSeqNo || if_term != kUnassignedTerm) {
        messages.push_back(
            "create operations do not support compare and set. use index "
            "instead");
        return ValidationFailed(messages);
      }
      version = kMatchDeleted;
      if (request.id().empty()) messages.push_back("id is missing");
      ValidateCasParams(type, version, if_seq_no, if_term, &messages);
      ValidateId(request.id(), &messages);
      break;
    case pb::WriteRequest::INDEX:
      if (request.source().empty()) messages.push_back("source is missing");
      if (request.id().empty()) messages.push_back("id is missing");
      ValidateCasParams(type, version, if_seq_no, if_term, &messages);
      ValidateId(request.id(), &messages);
      break;
    case pb::WriteRequest::DELETE:
      if (request.id().empty()) messages.push_back("id is missing");
      ValidateCasParams(type, version, if_seq_no, if_term, &messages);
      ValidateId(request.id(), &messages);
      break;
    case pb::WriteRequest::UPDATE:
      // RestUpdateAction refuses version / version_type outright.
      if (request.has_version() || type != pb::VERSION_INTERNAL) {
        return ValidationFailed(
            {"internal versioning can not be used for optimistic concurrency "
             "control. "
             "Please use `if_seq_no` and `if_primary_term` instead"});
      }
      if (request.id().empty()) messages.push_back("id is missing");
      ValidateCasParams(type, version, if_seq_no, if_term, &messages);
      ValidateId(request.id(), &messages);
      if (if_seq_no != kUnassignedSeqNo) {
        if (request.retry_on_conflict() > 0) {
          messages.push_back("compare and write operations can not be retried");
        }
        if (request.doc_as_upsert()) {
          messages.push_back(
              "compare and write operations can not be used with upsert");
        }
        if (request.has_upsert()) {
          messages.push_back(
              "upsert requests don't support `if_seq_no` and "
              "`if_primary_term`");
        }
      }
      if (request.update_doc().empty())
        messages.push_back("script or doc is missing");
      break;
    default:
      return IllegalArgument(
          absl::StrCat("unknown write kind [", request.kind(), "]"));
  }
  if (!messages.empty()) return ValidationFailed(messages);
  return absl::OkStatus();
}

absl::StatusOr<WriteResult> ShardEngine::PrimaryWrite(
    const pb::WriteRequest& request) {
  RETURN_IF_ERROR(Validate(request));
  RETURN_IF_ERROR(impl_->sticky_failure);
  auto found = impl_->docs.find(request.id());
  StoredDoc* doc = found == impl_->docs.end() ? nullptr : &found->second;
  switch (request.kind()) {
    case pb::WriteRequest::INDEX:
    case pb::WriteRequest::CREATE:
      return impl_->Index(request, doc);
    case pb::WriteRequest::DELETE:
      return impl_->Delete(request, doc);
    case pb::WriteRequest::UPDATE:
      return impl_->Update(request, doc);
    default:
      return IllegalArgument(
          absl::StrCat("unknown write kind [", request.kind(), "]"));
  }
}

absl::Status ShardEngine::CheckAndAdvanceTerm(PrimaryTerm request_term) {
  if (request_term < impl_->term && !impl_->options.unsafe_no_fencing) {
    return EsStatus(absl::StatusCode::kFailedPrecondition,
                    "illegal_state_exception",
                    absl::StrCat("operation primary term [", request_term,
                                 "] is too old (current [", impl_->term, "])"));
  }
  impl_->AdvanceTerm(request_term);
  return absl::OkStatus();
}

absl::StatusOr<ApplyOutcome> ShardEngine::ApplyOnReplica(
    const pb::Operation& op) {
  RETURN_IF_ERROR(impl_->sticky_failure);
  return impl_->ApplyOnReplica(op);
}

SeqNo ShardEngine::max_seq_no() const {
  return impl_->checkpoints.max_seq_no();
}
SeqNo ShardEngine::local_checkpoint() const {
  return impl_->checkpoints.checkpoint();
}
SeqNo ShardEngine::global_checkpoint() const {
  return impl_->global_checkpoint;
}
void ShardEngine::UpdateGlobalCheckpoint(SeqNo gcp) {
  impl_->UpdateGlobalCheckpoint(gcp);
}
SeqNo ShardEngine::max_seq_no_of_updates_or_deletes() const {
  return impl_->max_seq_no_of_updates_or_deletes;
}
void ShardEngine::AdvanceMaxSeqNoOfUpdatesOrDeletes(SeqNo seq_no) {
  impl_->AdvanceMsu(seq_no);
}

bool ShardEngine::HasOperationsAbove(SeqNo above) const {
  return above >= impl_->history_floor;
}

std::optional<pb::Operation> ShardEngine::OperationAt(SeqNo seq_no) const {
  const std::optional<std::string_view> bytes = impl_->history.Find(seq_no);
  if (!bytes.has_value()) return std::nullopt;
  pb::Operation op;
  if (!op.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())))
    return std::nullopt;
  return op;
}

std::optional<std::string_view> ShardEngine::OperationBytesAt(
    SeqNo seq_no) const {
  return impl_->history.Find(seq_no);
}

absl::StatusOr<std::vector<pb::Operation>> ShardEngine::OperationsAbove(
    SeqNo above) const {
  if (!HasOperationsAbove(above)) {
    return absl::FailedPreconditionError(
        absl::StrCat("operations above seq_no [", above,
                     "] are no longer retained (history starts above [",
                     impl_->history_floor, "])"));
  }
  std::vector<pb::Operation> ops;
  SeqNo unreadable = kUnassignedSeqNo;
  const bool read = impl_->history.ForEachAbove(
      above, [&](SeqNo seq_no, std::string_view bytes) {
        pb::Operation& op = ops.emplace_back();
        if (!op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
          unreadable = seq_no;
          return false;
        }
        return true;
      });
  if (!read) {
    return absl::DataLossError(
        absl::StrCat("history operation ", unreadable, " is unreadable"));
  }
  return ops;
}

absl::Status ShardEngine::TrimOperationsAbove(SeqNo above_seq_no,
                                              PrimaryTerm term) {
  Impl& impl = *impl_;
  absl::btree_set<SeqNo> dropped;
  absl::btree_set<std::string> ids;
  impl.history.EraseAboveIf(
      above_seq_no, [&](SeqNo seq_no, std::string_view bytes) {
        pb::Operation op;
        op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
        if (op.primary_term() >= term) return false;
        dropped.insert(seq_no);
        if (op.type() != pb::OP_NOOP) ids.insert(op.id());
        return true;
      });
  if (dropped.empty()) return absl::OkStatus();
  // Forget the dropped seq_nos as processed: every processed seq_no above the
  // new checkpoint is in the history (the floor is at or below the global
  // checkpoint, which is at or below any trim bound).
  const SeqNo checkpoint =
      std::min(impl.checkpoints.checkpoint(), *dropped.begin() - 1);
  impl.checkpoints.Reset(checkpoint, checkpoint);
  impl.history.ForEachAbove(checkpoint, [&](SeqNo seq_no, std::string_view) {
    impl.checkpoints.MarkProcessed(seq_no);
    return true;
  });
  // Roll back documents whose current state came from a dropped operation.
  absl::btree_set<std::string> rollback;
  for (const std::string& id : ids) {
    auto doc = impl.docs.find(id);
    if (doc != impl.docs.end() && dropped.contains(doc->second.seq_no))
      rollback.insert(id);
  }
  if (!rollback.empty()) {
    impl.history.ForEachDescending([&](SeqNo, std::string_view bytes) {
      pb::Operation op;
      if (op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
          op.type() != pb::OP_NOOP && rollback.erase(op.id()) > 0) {
        impl.SetDoc(op);
      }
      return !rollback.empty();
    });
  }
  for (const std::string& id : rollback) {
    pb::Operation op;
    auto base = impl.base_ops.find(id);
    if (base != impl.base_ops.end() && op.ParseFromString(base->second)) {
      impl.SetDoc(op);
      impl.base_ops.erase(base);
    } else {
      impl.EraseDoc(id);
    }
  }
  return impl.RewriteTranslog();
}

absl::StatusOr<std::vector<pb::Operation>> ShardEngine::FillGapsWithNoOps() {
  Impl& impl = *impl_;
  std::vector<pb::Operation> noops;
  const SeqNo max = impl.checkpoints.max_seq_no();
  for (SeqNo seq_no = impl.checkpoints.checkpoint() + 1; seq_no <= max;
       ++seq_no) {
    if (impl.checkpoints.IsProcessed(seq_no)) continue;
    pb::Operation op;
    op.set_seq_no(seq_no);
    op.set_primary_term(impl.term);
    op.set_type(pb::OP_NOOP);
    op.set_noop_reason("filling gaps");
    RETURN_IF_ERROR(impl.Record(op));
    noops.push_back(std::move(op));
  }
  return noops;
}

std::vector<pb::Operation> ShardEngine::Snapshot() const {
  std::vector<pb::Operation> ops;
  ops.reserve(impl_->docs.size());
  for (const auto& [id, doc] : impl_->SortedDocs()) {
    ops.push_back(OpFromDoc(*id, *doc));
  }
  return ops;
}

std::vector<pb::Operation> ShardEngine::SnapshotAtGlobalCheckpoint() const {
  const Impl& impl = *impl_;
  const SeqNo gcp = impl.global_checkpoint;
  // The newest retained operation at or below the checkpoint, per id, for the
  // ids whose document changed above it.
  absl::flat_hash_map<std::string, pb::Operation> at_gcp;
  bool changed_above = false;
  for (const auto& [id, doc] : impl.docs) {
    if (doc.seq_no > gcp) changed_above = true;
  }
  if (changed_above) {
    pb::Operation op;
    impl.history.ForEach([&](SeqNo seq_no, std::string_view bytes) {
      if (seq_no > gcp) return false;
      if (op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) &&
          op.type() != pb::OP_NOOP) {
        auto doc = impl.docs.find(op.id());
        if (doc != impl.docs.end() && doc->second.seq_no > gcp) {
          at_gcp.insert_or_assign(op.id(), op);
        }
      }
      return true;
    });
  }
  std::vector<pb::Operation> ops;
  ops.reserve(impl.docs.size());
  for (const auto& [id, doc] : impl.SortedDocs()) {
    if (doc->seq_no <= gcp) {
      ops.push_back(OpFromDoc(*id, *doc));
      continue;
    }
    if (auto it = at_gcp.find(*id); it != at_gcp.end()) {
      ops.push_back(it->second);
      continue;
    }
    auto base = impl.base_ops.find(*id);
    pb::Operation op;
    if (base != impl.base_ops.end() && op.ParseFromString(base->second) &&
        op.seq_no() <= gcp) {
      ops.push_back(std::move(op));
    }
    // Else the id had no document at the checkpoint.
  }
  // Then every retained operation above the checkpoint, in seq_no order.
  impl.history.ForEachAbove(gcp, [&](SeqNo, std::string_view bytes) {
    pb::Operation& op = ops.emplace_back();
    if (!op.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      ops.pop_back();
    }
    return true;
  });
  return ops;
}

absl::Status ShardEngine::InstallSnapshot(
    const std::vector<pb::Operation>& docs, SeqNo max_seq_no,
    SeqNo local_checkpoint, SeqNo global_checkpoint, PrimaryTerm term) {
  Impl& impl = *impl_;
  impl.docs.clear();
  impl.live_docs = 0;
  impl.live_bytes = 0;
  impl.history.clear();
  impl.base_ops.clear();
  impl.tombstones.clear();
  impl.checkpoints.Reset(local_checkpoint, max_seq_no);
  impl.history_floor = local_checkpoint;
  impl.global_checkpoint = std::min(global_checkpoint, local_checkpoint);
  impl.term = std::max(impl.term, term);
  impl.max_seq_no_of_updates_or_deletes = impl.checkpoints.max_seq_no();
  // Documents (at or below the local checkpoint) first, then the history
  // above it, applied by the replica rule (R5): it stays trimmable.
  impl.replaying = true;  // the rewrite below records everything
  absl::Status applied;
  for (const pb::Operation& op : docs) {
    if (op.seq_no() > local_checkpoint) {
      absl::StatusOr<ApplyOutcome> outcome = impl.ApplyOnReplica(op);
      if (!outcome.ok() && applied.ok()) applied = outcome.status();
      continue;
    }
    if (op.type() != pb::OP_NOOP) impl.SetDoc(op);
  }
  impl.replaying = false;
  impl.AdvanceMsu(impl.checkpoints.max_seq_no());
  RETURN_IF_ERROR(applied);
  // A finished full-copy recovery is searchable at once.
  impl.Refresh();
  return impl.RewriteTranslog();
}

const StoredDoc* ShardEngine::Get(const std::string& id) const {
  const StoredDoc* doc = GetIncludingTombstone(id);
  return doc == nullptr || doc->deleted ? nullptr : doc;
}

const StoredDoc* ShardEngine::GetIncludingTombstone(
    const std::string& id) const {
  auto it = impl_->docs.find(id);
  return it == impl_->docs.end() ? nullptr : &it->second;
}

std::vector<std::pair<std::string, StoredDoc>> ShardEngine::LiveDocs() const {
  std::vector<std::pair<std::string, StoredDoc>> live;
  live.reserve(impl_->live_docs);
  for (const auto& [id, doc] : impl_->SortedDocs()) {
    if (!doc->deleted) live.emplace_back(*id, *doc);
  }
  return live;
}

std::vector<std::pair<std::string, StoredDoc>> ShardEngine::AllDocs() const {
  std::vector<std::pair<std::string, StoredDoc>> all;
  all.reserve(impl_->docs.size());
  for (const auto& [id, doc] : impl_->SortedDocs()) all.emplace_back(*id, *doc);
  return all;
}

int64_t ShardEngine::doc_count() const { return impl_->live_docs; }

void ShardEngine::Refresh() { impl_->Refresh(); }

const StoredDoc* ShardEngine::GetRefreshed(const std::string& id) const {
  const StoredDoc* doc = impl_->Refreshed(id);
  return doc == nullptr || doc->deleted ? nullptr : doc;
}

std::vector<std::pair<std::string, StoredDoc>> ShardEngine::RefreshedLiveDocs()
    const {
  const Impl& impl = *impl_;
  std::vector<std::pair<std::string, StoredDoc>> live;
  live.reserve(impl.refreshed_live_docs);
  for (const auto& [id, doc] : impl.docs) {
    if (doc.change_gen != impl.generation && !doc.deleted)
      live.emplace_back(id, doc);
  }
  // Changed since the refresh (erased ones included): their state then.
  for (const auto& [id, doc] : impl.unrefreshed) {
    if (!doc.deleted) live.emplace_back(id, doc);
  }
  std::sort(live.begin(), live.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return live;
}

int64_t ShardEngine::refreshed_doc_count() const {
  return impl_->refreshed_live_docs;
}
SeqNo ShardEngine::refreshed_max_seq_no() const {
  return impl_->refreshed_max_seq_no;
}
int64_t ShardEngine::refresh_count() const { return impl_->refresh_count; }
int64_t ShardEngine::unrefreshed_changes() const {
  return impl_->changes_since_refresh;
}
int64_t ShardEngine::live_bytes() const { return impl_->live_bytes; }

ShardEngine::Counters ShardEngine::counters() const {
  const Impl& impl = *impl_;
  return Counters{impl.term, impl.checkpoints.max_seq_no(),
                  impl.checkpoints.checkpoint(), impl.global_checkpoint,
                  impl.live_docs};
}
int64_t ShardEngine::retained_ops() const { return impl_->history.size(); }
int64_t ShardEngine::retained_base_ops() const {
  return static_cast<int64_t>(impl_->base_ops.size());
}

void ShardEngine::SetRetainedSeqNo(SeqNo seq_no) {
  impl_->retained_seq_no = seq_no;
  impl_->DiscardHistory();
}
SeqNo ShardEngine::retained_seq_no() const { return impl_->retained_seq_no; }
SeqNo ShardEngine::history_floor() const { return impl_->history_floor; }

int64_t ShardEngine::PruneTombstones(SeqNo at_or_below) {
  return impl_->PruneTombstones(at_or_below);
}
int64_t ShardEngine::tombstone_count() const {
  return static_cast<int64_t>(impl_->docs.size()) - impl_->live_docs;
}

bool ShardEngine::NeedsSync() const { return impl_->translog->NeedsSync(); }

absl::Status ShardEngine::Sync() {
  RETURN_IF_ERROR(impl_->sticky_failure);
  absl::Status status = impl_->translog->Sync();
  // A failed fsync is final: the kernel may have dropped the dirty pages, and
  // a later fsync would report success for bytes that never reached the disk.
  if (!status.ok()) {
    impl_->sticky_failure = status;
    return status;
  }
  impl_->MaybeFlush();
  return status;
}

absl::Status ShardEngine::Flush() {
  RETURN_IF_ERROR(impl_->sticky_failure);
  absl::Status flushed = impl_->RewriteTranslog();
  if (!flushed.ok()) impl_->last_flush_failure = flushed;
  return flushed;
}

ShardEngine::TranslogStats ShardEngine::translog_stats() const {
  const Translog& translog = *impl_->translog;
  TranslogStats stats;
  stats.generation = translog.generation();
  stats.generations = translog.generation_count();
  stats.uncommitted_bytes = translog.uncommitted_bytes();
  stats.snapshot_bytes = translog.snapshot_bytes();
  stats.last_flush_failure = impl_->last_flush_failure;
  return stats;
}

const EngineOptions& ShardEngine::options() const { return impl_->options; }

}  // namespace seqsim
