// Node::State: the primary's write path. Stamps the operation (R1) after the
// engine's concurrency checks (R2), replicates it to every in-sync and
// recovering copy with the global checkpoint (R3, R6), acknowledges only when
// every in-sync copy applied it and it is durable (R3, R10), gives answers that
// change nothing only after the read barrier (R11), asks the coordinator to
// fail copies that failed, and stops acting as primary when its term is stale
// or it is demoted, failing every write in flight as an unknown outcome (R8,
// R12).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/engine/replication_tracker.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::Demote(LocalCopy* copy, const std::string& why) {
  Log(LogMark::kFenced,
      absl::StrCat(me(), " stops being primary of ", Name(*copy), ": ", why));
  FailInFlight(copy, absl::StrCat(Name(*copy), " is no longer primary on ",
                                  me(), ": ", why));
  copy->tracker.reset();
  copy->stale = false;
  copy->reporting.clear();
  copy->role = Role::kReplica;
}

void Node::State::FenceStale(LocalCopy* copy, const std::string& why) {
  if (copy->stale || copy->role != Role::kPrimary) return;
  copy->stale = true;
  Log(LogMark::kFenced,
      absl::StrCat(me(), " is a stale primary of ", Name(*copy), " (term ",
                   copy->engine->term(), "): ", why, "; fails ",
                   copy->inflight.size(),
                   " in-flight writes and acks nothing"));
  FailInFlight(copy, absl::StrCat(Name(*copy), " primary term [",
                                  copy->engine->term(), "] is stale: ", why));
}

void Node::State::FailInFlight(LocalCopy* copy, const std::string& why) {
  const pb::Error error =
      OutcomeUnknownError(why, copy->index, copy->key.first, copy->key.second);
  auto inflight = std::move(copy->inflight);
  copy->inflight.clear();
  for (auto& [id, write] : inflight) {
    pb::WriteResponse response;
    response.set_index(write->response.index());
    response.set_id(write->response.id());
    *response.mutable_error() = error;
    if (write->done) write->done(std::move(response));
  }
}

void Node::State::ExecutePrimaryWrite(LocalCopy* copy,
                                      const std::shared_ptr<WriteCtx>& ctx) {
  ShardEngine& engine = *copy->engine;
  absl::StatusOr<WriteResult> result = engine.PrimaryWrite(ctx->request);
  if (!result.ok()) {
    pb::Error error = ToError(result.status(), copy->index, copy->key.first,
                              copy->key.second);
    const int status = HttpStatus(result.status());
    if (status == 409 || status == 404) {
      // A version conflict or a missing document: a read (R11).
      AnswerAfterBarrier(copy, ctx, [error = std::move(error)]() mutable {
        pb::WriteResponse response;
        *response.mutable_error() = std::move(error);
        return response;
      });
      return;
    }
    FailWrite(ctx, std::move(error));
    return;
  }
  pb::WriteResponse response;
  response.set_index(copy->index);
  response.set_id(ctx->request.id());
  response.set_result(result->result);
  response.set_version(result->op.version());
  response.set_seq_no(result->op.seq_no());
  response.set_primary_term(result->op.primary_term());
  if (ctx->request.return_source()) {
    response.set_source(result->source);
    response.set_found(!result->source.empty());
  }
  if (!result->replicate) {
    // An update that changed nothing: no seq_no consumed, nothing to
    // replicate.
    if (const StoredDoc* doc = engine.Get(ctx->request.id())) {
      response.set_version(doc->version);
      response.set_seq_no(doc->seq_no);
      response.set_primary_term(doc->term);
    }
    response.mutable_shards()->set_total(0);
    AnswerAfterBarrier(copy, ctx, [response = std::move(response)]() mutable {
      return std::move(response);
    });
    return;
  }
  pb::Operation op = std::move(result->op);
  // refresh=true: this copy refreshes now, the replicas as they apply it.
  // wait_for: the answer waits for this copy's next refresh; the replicas
  // refresh as they apply it, so it is searchable on every copy when
  // acknowledged (Elasticsearch's replicas wait for their own refresh).
  const std::string& refresh = ctx->request.refresh();
  const bool replicas_refresh = refresh == "true" || refresh == "wait_for";
  if (refresh == "true") RefreshCopy(copy);
  ReplicationTracker& tracker = *copy->tracker;
  tracker.UpdateLocalCheckpoint(me(), engine.local_checkpoint());
  engine.UpdateGlobalCheckpoint(tracker.GlobalCheckpoint());

  const uint64_t write_id = next_write_id++;
  auto write = std::make_unique<InFlightWrite>();
  write->id = write_id;
  write->awaiting.Assign(tracker.in_sync_replicas());
  // The tracker's list: sending changes no replication group.
  const std::vector<std::string>& targets = tracker.replication_targets();
  write->unanswered.Assign(targets);
  const pb::IndexMeta* index = FindIndexByUuid(copy->key.first);
  const int total = 1 + (index ? index->number_of_replicas() : 0);
  response.mutable_shards()->set_total(total);
  write->done = [this, ctx, wait_for = refresh == "wait_for",
                 incarnation = copy->incarnation](pb::WriteResponse&& r) {
    LocalCopy* copy =
        wait_for && !r.has_error() ? FindCopy(incarnation) : nullptr;
    if (copy == nullptr) {
      FinishWrite(ctx, std::move(r));
      return;
    }
    const SeqNo seq_no = r.seq_no();
    WhenRefreshed(copy, seq_no, [this, ctx, r = std::move(r)]() mutable {
      FinishWrite(ctx, std::move(r));
    });
  };
  if (options.unsafe.early_ack) {
    // Planted bug (R3/R10 off): ack right after the local apply.
    pb::WriteResponse early = response;
    early.mutable_shards()->set_successful(total);
    Log(absl::StrCat(me(), " acks ", OpText(op),
                     " before replicas apply it (unsafe early_ack)"));
    write->done(std::move(early));
    write->done = nullptr;
  }
  write->response = std::move(response);
  copy->inflight.Add(write_id, std::move(write));

  // One request for every target (the last one takes it); in a bulk scope
  // one request per target for the whole batch.
  if (!targets.empty() && (batch_depth > 0 || options.batch_per_flush)) {
    QueueReplication(copy, targets, std::move(op), write_id, replicas_refresh);
  } else if (!targets.empty()) {
    pb::Envelope replicate = ReplicateEnvelope(*copy);
    replicate.mutable_replicate()->add_ops()->Swap(&op);
    if (replicas_refresh) replicate.mutable_replicate()->set_refresh(true);
    for (size_t i = 0; i + 1 < targets.size(); ++i) {
      SendReplicateEnvelope(copy, targets[i], pb::Envelope(replicate),
                            write_id);
    }
    SendReplicateEnvelope(copy, targets.back(), std::move(replicate), write_id);
  }
  const uint64_t incarnation = copy->incarnation;
  WhenDurable(*copy, [this, incarnation, write_id](absl::Status synced) {
    LocalCopy* copy = FindCopy(incarnation);
    if (copy == nullptr) return;
    auto it = copy->inflight.find(write_id);
    if (it == copy->inflight.end()) return;
    if (!synced.ok()) {
      pb::WriteResponse failed;
      failed.set_index(it->second->response.index());
      failed.set_id(it->second->response.id());
      *failed.mutable_error() =
          ToError(synced, copy->index, copy->key.first, copy->key.second);
      auto done = std::move(it->second->done);
      copy->inflight.erase(it);
      if (done) done(std::move(failed));
      return;
    }
    it->second->durable = true;
    MaybeComplete(copy, write_id);
  });
}

void Node::State::AnswerAfterBarrier(
    LocalCopy* copy, const std::shared_ptr<WriteCtx>& ctx,
    absl::AnyInvocable<pb::WriteResponse()> answer) {
  if (options.unsafe.no_conflict_barrier) {
    FinishWrite(ctx, answer());
    return;
  }
  const StoredDoc* doc = copy->engine->GetIncludingTombstone(ctx->request.id());
  const SeqNo needed = doc != nullptr ? doc->seq_no : kNoOpsPerformed;
  ReadBarrier(copy->incarnation, copy->engine->term(), needed, ctx->deadline,
              [this, ctx, answer = std::move(answer)](
                  const absl::Status& confirmed) mutable {
                if (confirmed.ok()) {
                  FinishWrite(ctx, answer());
                  return;
                }
                pb::Error why = RetryableError(absl::StrCat(
                    "[", ctx->request.index(), "][", ctx->request.shard(),
                    "] primary on ", me(),
                    " could not confirm its term: ", confirmed.message()));
                if (ctx->forwarded) {
                  FailWrite(ctx, std::move(why));
                } else {
                  RetryWrite(ctx, std::move(why));
                }
              });
}

void Node::State::MaybeComplete(LocalCopy* copy, uint64_t write_id) {
  auto it = copy->inflight.find(write_id);
  if (it == copy->inflight.end()) return;
  InFlightWrite& write = *it->second;
  if (!write.durable || !write.awaiting.empty() || copy->stale) return;
  pb::WriteResponse response = std::move(write.response);
  copy->max_acked_seq_no = std::max(copy->max_acked_seq_no, response.seq_no());
  pb::ShardsInfo* shards = response.mutable_shards();
  shards->set_successful(write.successful);
  shards->set_failed(static_cast<int32_t>(write.failures.size()));
  for (const auto& failure : write.failures) *shards->add_failures() = failure;
  auto done = std::move(write.done);
  copy->inflight.erase(it);
  if (done) done(std::move(response));
}

void Node::State::SendReplicate(LocalCopy* copy, const std::string& target,
                                std::vector<pb::Operation> ops,
                                uint64_t write_id) {
  pb::Envelope envelope = ReplicateEnvelope(*copy);
  for (auto& op : ops) *envelope.mutable_replicate()->add_ops() = std::move(op);
  SendReplicateEnvelope(copy, target, std::move(envelope), write_id);
}

pb::Envelope Node::State::ReplicateEnvelope(const LocalCopy& copy) {
  const ShardEngine& engine = *copy.engine;
  pb::Envelope envelope;
  pb::ReplicateRequest* replicate = envelope.mutable_replicate();
  replicate->mutable_shard()->set_index(copy.index);
  replicate->mutable_shard()->set_shard(copy.key.second);
  replicate->set_primary_term(engine.term());
  replicate->set_global_checkpoint(engine.global_checkpoint());
  replicate->set_max_seq_no_of_updates_or_deletes(
      engine.max_seq_no_of_updates_or_deletes());
  replicate->set_primary_node(me());
  return envelope;
}

void Node::State::SendReplicateEnvelope(LocalCopy* copy,
                                        const std::string& target,
                                        pb::Envelope&& envelope,
                                        uint64_t write_id) {
  const uint64_t incarnation = copy->incarnation;
  const PrimaryTerm term = copy->engine->term();
  Send(
      target, std::move(envelope),
      [this, incarnation, target, write_id,
       term](const absl::StatusOr<pb::Envelope>& reply) {
        OnReplicaReply(incarnation, target, write_id, term, reply);
      },
      options.rpc_timeout);
}

void Node::State::OnReplicaReply(uint64_t incarnation,
                                 const std::string& target, uint64_t write_id,
                                 PrimaryTerm term,
                                 const absl::StatusOr<pb::Envelope>& reply) {
  LocalCopy* copy = FindCopy(incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
      copy->engine->term() != term) {
    return;
  }
  std::string failure;
  if (!reply.ok()) {
    failure = std::string(reply.status().message());
    if (failure.empty())
      failure =
          reply.status().ToString(absl::StatusToStringMode::kWithNoExtraData);
  } else if (!reply->has_replicate_response()) {
    failure = "unexpected reply to replicate";
  } else {
    const pb::ReplicateResponse& response = reply->replicate_response();
    if (HasError(response.error())) {
      if (response.primary_term() > term) {
        FenceStale(copy, absl::StrCat(target, " rejected its operation: ",
                                      response.error().reason()));
        return;
      }
      failure = response.error().reason();
    } else {
      copy->tracker->UpdateLocalCheckpoint(target, response.local_checkpoint());
      copy->tracker->UpdateReportedGlobalCheckpoint(
          target, response.global_checkpoint());
      copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
      // Leases follow every reply: a copy that fails right after its first
      // answers still has one (the tick alone could miss it).
      copy->engine->SetRetainedSeqNo(copy->tracker->RenewLeases(
          env->Now(), options.retention_lease_period));
      if (write_id != 0) {
        auto it = copy->inflight.find(write_id);
        if (it != copy->inflight.end() &&
            it->second->unanswered.erase(target) > 0) {
          ++it->second->successful;
          it->second->awaiting.erase(target);
          MaybeComplete(copy, write_id);
        }
      }
      return;
    }
  }
  OnReplicaFailed(copy, target, failure, write_id);
}

void Node::State::OnReplicaFailed(LocalCopy* copy, const std::string& target,
                                  const std::string& reason,
                                  uint64_t write_id) {
  if (write_id != 0) {
    auto it = copy->inflight.find(write_id);
    if (it != copy->inflight.end()) {
      it->second->unanswered.erase(target);
      pb::ShardFailure failure;
      failure.set_index(copy->index);
      failure.set_shard(copy->key.second);
      failure.set_node(target);
      failure.set_reason(reason);
      failure.set_status("INTERNAL_SERVER_ERROR");
      failure.set_primary(false);
      it->second->failures.push_back(std::move(failure));
    }
  }
  if (!copy->tracker->IsInSync(target)) {
    if (copy->tracker->IsTracked(target)) {
      Log(absl::StrCat(me(), " stops replicating ", Name(*copy),
                       " to recovering copy on ", target, ": ", reason));
      copy->tracker->RemoveTracking(target);
      SendShardFailed(copy->key, copy->incarnation, target, reason);
    }
    return;
  }
  if (copy->reporting.count(target) > 0)
    return;  // already reported; the write waits
  copy->reporting.insert(target);
  Log(absl::StrCat(me(), " reports ", target, "'s copy of ", Name(*copy),
                   " failed (", reason,
                   "): waits for the coordinator before acking"));
  SendShardFailed(copy->key, copy->incarnation, target, reason);
}

void Node::State::SendShardFailed(const CopyKey& key, uint64_t incarnation,
                                  const std::string& target,
                                  const std::string& reason) {
  LocalCopy* copy = FindCopy(key, incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) return;
  pb::Envelope envelope;
  pb::ShardFailedRequest* failed = envelope.mutable_shard_failed();
  failed->mutable_shard()->set_index(copy->index);
  failed->mutable_shard()->set_shard(key.second);
  failed->set_failed_node(target);
  failed->set_primary_term(copy->engine->term());
  failed->set_reason(reason);
  failed->set_sender(me());
  const PrimaryTerm term = copy->engine->term();
  Send(
      kCoordinatorId, std::move(envelope),
      [this, key, incarnation, target, reason,
       term](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy = FindCopy(key, incarnation);
        if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
            copy->engine->term() != term) {
          return;
        }
        const bool waited = copy->reporting.count(target) > 0;
        if (!reply.ok() || !reply->has_shard_failed_response()) {
          if (!waited) return;
          After(RetryDelay(), [this, key, incarnation, target, reason]() {
            LocalCopy* copy = FindCopy(key, incarnation);
            if (copy != nullptr && copy->reporting.count(target) > 0) {
              SendShardFailed(key, incarnation, target, reason);
            }
          });
          return;
        }
        const pb::ShardFailedResponse& response =
            reply->shard_failed_response();
        if (HasError(response.error())) {
          FenceStale(copy,
                     absl::StrCat("the coordinator refused shard_failed: ",
                                  response.error().reason()));
          return;
        }
        if (!waited) return;
        Log(absl::StrCat(me(), " learns the coordinator removed ", target,
                         " from the in-sync set of ", Name(*copy)));
        copy->reporting.erase(target);
        // Writes that saw this copy fail stop waiting for it.
        std::vector<uint64_t> ids;
        for (auto& [id, write] : copy->inflight) {
          for (const auto& failure : write->failures) {
            if (failure.node() == target) write->awaiting.erase(target);
          }
          ids.push_back(id);
        }
        // A newer recovery of the same node (a fresh copy) is not undone.
        if (copy->recovery_ids.count(target) == 0 &&
            copy->pending_in_sync.count(target) == 0) {
          copy->in_sync_nodes.erase(target);
          RefreshInSync(copy);
          copy->tracker->RemoveTracking(target);
          DropUnsyncedWaits(copy);
        }
        for (uint64_t id : ids) MaybeComplete(copy, id);
      },
      options.rpc_timeout);
}

}  // namespace seqsim
