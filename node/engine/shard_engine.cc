#include "node/engine/shard_engine.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "node/engine/shard_engine_impl.h"

namespace seqsim {

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
  Version version =
      request.has_version() ? request.version() : engine_internal::kMatchAny;
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
      if (version != engine_internal::kMatchAny) {
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
      version = engine_internal::kMatchDeleted;
      if (request.id().empty()) messages.push_back("id is missing");
      engine_internal::ValidateCasParams(type, version, if_seq_no, if_term,
                                         &messages);
      engine_internal::ValidateId(request.id(), &messages);
      break;
    case pb::WriteRequest::INDEX:
      if (request.source().empty()) messages.push_back("source is missing");
      if (request.id().empty()) messages.push_back("id is missing");
      engine_internal::ValidateCasParams(type, version, if_seq_no, if_term,
                                         &messages);
      engine_internal::ValidateId(request.id(), &messages);
      break;
    case pb::WriteRequest::DELETE:
      if (request.id().empty()) messages.push_back("id is missing");
      engine_internal::ValidateCasParams(type, version, if_seq_no, if_term,
                                         &messages);
      engine_internal::ValidateId(request.id(), &messages);
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
      engine_internal::ValidateCasParams(type, version, if_seq_no, if_term,
                                         &messages);
      engine_internal::ValidateId(request.id(), &messages);
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
    ops.push_back(engine_internal::OpFromDoc(*id, *doc));
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
      ops.push_back(engine_internal::OpFromDoc(*id, *doc));
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
