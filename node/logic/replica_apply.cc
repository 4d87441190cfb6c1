// Node::State: the replica side. Fences every request from a primary (R4: a
// lower term is rejected, a higher one adopted), applies operations in any
// order (R5: only a newer seq_no changes a document), reports the local
// checkpoint (R6) once the operations are durable (R10), and handles
// replicate.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

namespace {

// As the logs name them.
const char* FromPrimaryName(FromPrimary kind) {
  switch (kind) {
    case FromPrimary::kReplicate:
      return "replicate";
    case FromPrimary::kResync:
      return "resync";
    case FromPrimary::kRecoverySnapshot:
      return "recovery_snapshot";
    case FromPrimary::kRecoveryOps:
      return "recovery_ops";
  }
  return "request";
}

}  // namespace

absl::Status Node::State::Fence(LocalCopy* copy, PrimaryTerm term,
                                SeqNo request_gcp, FromPrimary kind,
                                const std::string& from) {
  const char* what = FromPrimaryName(kind);
  ShardEngine& engine = *copy->engine;
  if (term > engine.term()) {
    if (copy->role == Role::kPrimary && !copy->stale) {
      FenceStale(copy, absl::StrCat(from, " sent ", what, " with term ", term));
    }
    const PrimaryTerm old_term = engine.term();
    engine.UpdateGlobalCheckpoint(request_gcp);
    absl::Status adopted = engine.CheckAndAdvanceTerm(term);
    if (adopted.ok()) {
      const bool above_gcp = engine.max_seq_no() > engine.global_checkpoint();
      if (above_gcp && !options.unsafe.no_resync &&
          kind != FromPrimary::kResync) {
        copy->awaiting_resync_term = term;
      }
      Log(absl::StrCat(
          me(), " adopts term ", term, " for ", Name(*copy), " from ", from,
          " (was ", old_term, ")",
          above_gcp
              ? absl::StrCat("; its operations above global checkpoint ",
                             engine.global_checkpoint(), " wait for the resync")
              : ""));
    }
    return adopted;
  }
  absl::Status fenced = engine.CheckAndAdvanceTerm(term);
  if (!fenced.ok()) {
    Log(LogMark::kRejected,
        absl::StrCat(me(), " rejects ", what, "(term ", term, ") from ", from,
                     " for ", Name(*copy), ": its term is ",
                     copy->engine->term()));
  }
  return fenced;
}

absl::Status Node::State::ReplaceOlderTermOp(LocalCopy* copy,
                                             const pb::Operation& op) {
  ShardEngine& engine = *copy->engine;
  absl::StatusOr<std::vector<pb::Operation>> above =
      engine.OperationsAbove(op.seq_no() - 1);
  if (!above.ok() || above->empty() || above->front().seq_no() != op.seq_no() ||
      above->front().primary_term() >= op.primary_term()) {
    Log(LogMark::kStale,
        absl::StrCat(me(), " ignores ", OpText(op), ": seq_no ", op.seq_no(),
                     " was already processed"));
    return absl::OkStatus();
  }
  const pb::Operation held = above->front();
  absl::Status trimmed =
      engine.TrimOperationsAbove(op.seq_no() - 1, op.primary_term());
  if (!trimmed.ok()) return trimmed;
  absl::StatusOr<ApplyOutcome> applied = engine.ApplyOnReplica(op);
  if (!applied.ok()) return applied.status();
  for (size_t i = 1; i < above->size(); ++i) {
    const pb::Operation& kept = (*above)[i];
    if (kept.primary_term() >= op.primary_term()) continue;  // not trimmed
    absl::StatusOr<ApplyOutcome> again = engine.ApplyOnReplica(kept);
    if (!again.ok()) return again.status();
  }
  Log(LogMark::kApplied,
      absl::StrCat(me(), " replaces ", OpText(held), " with ", OpText(op),
                   ": same seq_no, newer term"));
  return absl::OkStatus();
}

void Node::State::ApplyOps(
    LocalCopy* copy,
    const google::protobuf::RepeatedPtrField<pb::Operation>& ops,
    absl::Status* status) {
  ShardEngine& engine = *copy->engine;
  for (const pb::Operation& op : ops) {
    const StoredDoc* held =
        op.type() == pb::OP_NOOP ? nullptr : engine.Get(op.id());
    const SeqNo held_seq_no = held ? held->seq_no : kUnassignedSeqNo;
    absl::StatusOr<ApplyOutcome> outcome = engine.ApplyOnReplica(op);
    if (!outcome.ok()) {
      *status = outcome.status();
      return;
    }
    if (*outcome == ApplyOutcome::kStale) {
      Log(LogMark::kStale,
          absl::StrCat(me(), " ignores ", OpText(op), ": it holds ",
                       held ? absl::StrCat("seq_no ", held_seq_no)
                            : "a newer tombstone"));
    } else if (*outcome == ApplyOutcome::kAlreadyProcessed) {
      absl::Status replaced = ReplaceOlderTermOp(copy, op);
      if (!replaced.ok()) {
        *status = replaced;
        return;
      }
    }
  }
}

SeqNo Node::State::ReportedLocalCheckpoint(const LocalCopy& copy) {
  const SeqNo lcp = copy.engine->local_checkpoint();
  if (copy.awaiting_resync_term == kUnassignedTerm) return lcp;
  return std::min(lcp, copy.engine->global_checkpoint());
}

void Node::State::ReplyAfterDurable(LocalCopy* copy, RespondFn respond) {
  const uint64_t incarnation = copy->incarnation;
  const PrimaryTerm handled_term = copy->engine->term();
  WhenDurable(*copy, [this, incarnation, handled_term,
                      respond =
                          std::move(respond)](absl::Status synced) mutable {
    pb::Envelope envelope;
    pb::ReplicateResponse* response = envelope.mutable_replicate_response();
    LocalCopy* copy = FindCopy(incarnation);
    if (copy == nullptr) {
      *response->mutable_error() =
          ToError(EsStatus(absl::StatusCode::kNotFound,
                           "shard_not_found_exception", "shard closed", 404));
    } else {
      if (!synced.ok()) *response->mutable_error() = ToError(synced);
      response->set_local_checkpoint(ReportedLocalCheckpoint(*copy));
      response->set_global_checkpoint(copy->engine->global_checkpoint());
      response->set_primary_term(handled_term);
    }
    respond(std::move(envelope));
  });
}

void Node::State::RespondReplicaError(LocalCopy* copy,
                                      const absl::Status& status,
                                      RespondFn& respond) {
  pb::Envelope envelope;
  pb::ReplicateResponse* response = envelope.mutable_replicate_response();
  if (copy != nullptr) {
    *response->mutable_error() =
        ToError(status, copy->index, copy->key.first, copy->key.second);
    response->set_local_checkpoint(ReportedLocalCheckpoint(*copy));
    response->set_global_checkpoint(copy->engine->global_checkpoint());
    response->set_primary_term(copy->engine->term());
  } else {
    *response->mutable_error() = ToError(status);
  }
  respond(std::move(envelope));
}

absl::Status Node::State::NoSuchShard(const pb::ShardRef& ref) {
  return EsStatus(
      absl::StatusCode::kNotFound, "shard_not_found_exception",
      absl::StrCat("no such shard ", ShardName(ref.index(), ref.shard()),
                   " on ", me()),
      404);
}

LocalCopy* Node::State::FindAndFence(const pb::ShardRef& shard,
                                     PrimaryTerm term, SeqNo gcp,
                                     FromPrimary kind, const std::string& from,
                                     RespondFn& respond) {
  LocalCopy* copy = FindCopyByRef(shard);
  if (copy == nullptr) {
    RespondReplicaError(nullptr, NoSuchShard(shard), respond);
    return nullptr;
  }
  absl::Status fenced = Fence(copy, term, gcp, kind, from);
  if (!fenced.ok()) {
    RespondReplicaError(copy, fenced, respond);
    return nullptr;
  }
  return copy;
}

LocalCopy* Node::State::FenceAndApply(
    const pb::ShardRef& shard, PrimaryTerm term, SeqNo gcp,
    const google::protobuf::RepeatedPtrField<pb::Operation>& ops,
    FromPrimary kind, const std::string& from, RespondFn& respond) {
  LocalCopy* copy = FindAndFence(shard, term, gcp, kind, from, respond);
  if (copy == nullptr) return nullptr;
  absl::Status applied;
  ApplyOps(copy, ops, &applied);
  if (!applied.ok()) {
    RespondReplicaError(copy, applied, respond);
    return nullptr;
  }
  return copy;
}

absl::Status Node::State::CheckReplicatedSeqNos(
    const pb::ReplicateRequest& request, const LocalCopy& copy) {
  const SeqNo base =
      std::max(copy.engine->local_checkpoint(), request.global_checkpoint());
  for (const pb::Operation& op : request.ops()) {
    if (op.seq_no() < 0 ||
        op.seq_no() - std::max<SeqNo>(base, -1) > kMaxReplicatedSeqNoLead) {
      return IllegalArgument(absl::StrCat(
          "operation seq_no [", op.seq_no(), "] is out of range: more than [",
          kMaxReplicatedSeqNoLead, "] above the local checkpoint [",
          copy.engine->local_checkpoint(), "] and the global checkpoint [",
          request.global_checkpoint(), "], or negative"));
    }
  }
  return absl::OkStatus();
}

void Node::State::HandleReplicate(const pb::Envelope& envelope,
                                  RespondFn respond) {
  const pb::ReplicateRequest& request = envelope.replicate();
  if (LocalCopy* target = FindCopyByRef(request.shard())) {
    if (absl::Status bound = CheckReplicatedSeqNos(request, *target);
        !bound.ok()) {
      RespondReplicaError(target, bound, respond);
      return;
    }
  }
  LocalCopy* copy = FenceAndApply(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      request.ops(), FromPrimary::kReplicate, envelope.from(), respond);
  if (copy == nullptr) return;
  copy->engine->AdvanceMaxSeqNoOfUpdatesOrDeletes(
      request.max_seq_no_of_updates_or_deletes());
  copy->engine->UpdateGlobalCheckpoint(request.global_checkpoint());
  if (request.refresh()) RefreshCopy(copy);
  CollectTombstones(copy, env->Now());
  ReplyAfterDurable(copy, std::move(respond));
}

}  // namespace seqsim
