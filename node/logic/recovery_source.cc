// Node::State: recovery (R9), the primary's side. Replays the operations above
// the target's local checkpoint when the history still holds them, or sends a
// full copy otherwise, while new writes keep flowing to the target; then marks
// it in sync and reports it started to the coordinator.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

namespace {

// Operations per recovery_ops message.
constexpr size_t kRecoveryBatch = 128;

}  // namespace

void Node::State::HandleStartRecovery(const pb::Envelope& envelope,
                                      RespondFn respond) {
  const pb::StartRecoveryRequest& request = envelope.start_recovery();
  auto fail = [&respond](pb::Error error) {
    pb::Envelope reply;
    *reply.mutable_start_recovery_response()->mutable_error() =
        std::move(error);
    respond(std::move(reply));
  };
  LocalCopy* copy = FindCopyByRef(request.shard());
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
    fail(RetryableError(absl::StrCat(
        me(), " is not the primary of ",
        ShardName(request.shard().index(), request.shard().shard()))));
    return;
  }
  const pb::IndexMeta* index = FindIndexByUuid(copy->key.first);
  const pb::ShardRouting* routing =
      index ? FindRouting(*index, copy->key.second) : nullptr;
  // The target's copy must be the same assignment in this node's cluster
  // state (a copy failed and assigned again is another one).
  bool assigned = false;
  if (routing != nullptr) {
    for (const auto& shard_copy : routing->copies()) {
      if (shard_copy.node_id() == request.target_node() &&
          shard_copy.allocation_id() == request.allocation_id()) {
        assigned = true;
      }
    }
  }
  if (!assigned) {
    fail(RetryableError(
        absl::StrCat(request.target_node(), " holds no copy of ", Name(*copy),
                     " with allocation [", request.allocation_id(),
                     "] in cluster state version ", cluster_state.version())));
    return;
  }
  auto ctx = std::make_shared<RecoveryCtx>();
  ctx->key = copy->key;
  ctx->incarnation = copy->incarnation;
  ctx->target = request.target_node();
  ctx->allocation_id = request.allocation_id();
  ctx->id = next_recovery_id++;
  copy->recovery_ids[ctx->target] = ctx->id;
  ctx->deadline = env->Now() + options.write_timeout;
  ctx->respond = std::move(respond);
  ShardEngine& engine = *copy->engine;
  const SeqNo target_lcp = request.local_checkpoint();
  if (target_lcp >= kNoOpsPerformed && engine.HasOperationsAbove(target_lcp)) {
    absl::StatusOr<std::vector<pb::Operation>> ops =
        engine.OperationsAbove(target_lcp);
    if (ops.ok()) {
      ctx->mode = "ops";
      // Track first: from now on the target receives every new write (R9).
      copy->tracker->AddTracking(ctx->target, target_lcp);
      ctx->ops = std::move(*ops);
      Log(absl::StrCat(me(), " recovers ", Name(*copy), " on ", ctx->target,
                       " by operations: ", ctx->ops.size(),
                       " ops above its local checkpoint ", target_lcp));
      SendRecoveryBatch(ctx);
      return;
    }
  }
  // File-based: the snapshot first; tracking starts once it is installed.
  ctx->mode = "file";
  // The documents as of the global checkpoint; what is above it follows as
  // operations (trimmable on the target, see SnapshotAtGlobalCheckpoint).
  std::vector<pb::Operation> docs = engine.SnapshotAtGlobalCheckpoint();
  const SeqNo snapshot_lcp = engine.global_checkpoint();
  ctx->docs_copied = std::count_if(
      docs.begin(), docs.end(),
      [&](const pb::Operation& op) { return op.seq_no() <= snapshot_lcp; });
  const SeqNo snapshot_max = engine.max_seq_no();
  pb::Envelope snapshot;
  pb::RecoverySnapshotRequest* body = snapshot.mutable_recovery_snapshot();
  body->mutable_shard()->set_index(copy->index);
  body->mutable_shard()->set_shard(copy->key.second);
  body->set_primary_term(engine.term());
  for (auto& doc : docs) *body->add_docs() = std::move(doc);
  body->set_max_seq_no(snapshot_max);
  body->set_local_checkpoint(snapshot_lcp);
  body->set_global_checkpoint(engine.global_checkpoint());
  body->set_primary_node(me());
  Log(absl::StrCat(me(), " recovers ", Name(*copy), " on ", ctx->target,
                   " by a full copy: ", ctx->docs_copied,
                   " docs (its local checkpoint ", target_lcp,
                   " is below the retained history)"));
  Send(
      ctx->target, std::move(snapshot),
      [this, ctx, snapshot_max](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy =
            RecoveryGoesOn(ctx, reply, "the target rejected the snapshot");
        if (copy == nullptr) return;
        copy->tracker->AddTracking(
            ctx->target, reply->replicate_response().local_checkpoint());
        // The snapshot carried every operation up to snapshot_max; a target
        // that kept its own copy instead goes on from its checkpoint.
        SeqNo above = std::min(snapshot_max,
                               reply->replicate_response().local_checkpoint());
        if (!copy->engine->HasOperationsAbove(above)) above = snapshot_max;
        absl::StatusOr<std::vector<pb::Operation>> ops =
            copy->engine->OperationsAbove(above);
        if (ops.ok()) ctx->ops = std::move(*ops);
        SendRecoveryBatch(ctx);
      },
      options.write_timeout);
}

LocalCopy* Node::State::RecoveryGoesOn(
    const std::shared_ptr<RecoveryCtx>& ctx,
    const absl::StatusOr<pb::Envelope>& reply, const char* rejected) {
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
    FailRecovery(ctx, "this node is no longer primary");
    return nullptr;
  }
  if (!reply.ok() || !reply->has_replicate_response() ||
      HasError(reply->replicate_response().error())) {
    FailRecovery(ctx, !reply.ok()
                          ? reply.status().ToString(
                                absl::StatusToStringMode::kWithNoExtraData)
                          : rejected);
    return nullptr;
  }
  return copy;
}

void Node::State::FailRecovery(const std::shared_ptr<RecoveryCtx>& ctx,
                               const std::string& why) {
  FailRecovery(ctx, /*definite=*/true, why);
}

void Node::State::FailRecovery(const std::shared_ptr<RecoveryCtx>& ctx,
                               bool definite, const std::string& why) {
  if (!ctx->respond && !definite) return;
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  auto current = copy ? copy->recovery_ids.find(ctx->target)
                      : std::map<std::string, uint64_t>::iterator();
  if (copy != nullptr && !definite) {
    Log(absl::StrCat(me(), " keeps ", ctx->target, "'s copy of ", Name(*copy),
                     " marked in sync: ", why));
  } else if (copy != nullptr && current != copy->recovery_ids.end() &&
             current->second == ctx->id) {
    copy->recovery_ids.erase(current);
    if (copy->tracker && copy->pending_in_sync.erase(ctx->target) > 0) {
      RefreshInSync(copy);
      DropUnsyncedWaits(copy);
    }
    if (copy->tracker && !copy->tracker->IsInSync(ctx->target)) {
      copy->tracker->RemoveTracking(ctx->target);
    }
    Log(absl::StrCat(me(), " fails the recovery of ", Name(*copy), " on ",
                     ctx->target, ": ", why));
  }
  if (!ctx->respond) return;
  pb::Envelope reply;
  *reply.mutable_start_recovery_response()->mutable_error() =
      RetryableError(absl::StrCat("recovery failed: ", why));
  auto respond = std::move(ctx->respond);
  ctx->respond = nullptr;
  respond(std::move(reply));
}

void Node::State::SendRecoveryBatch(const std::shared_ptr<RecoveryCtx>& ctx) {
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
    FailRecovery(ctx, "this node is no longer primary");
    return;
  }
  if (ctx->next >= ctx->ops.size()) {
    FinishRecovery(ctx);
    return;
  }
  SendRecoveryOps(ctx, /*finalize=*/false);
}

void Node::State::SendFinalize(const std::shared_ptr<RecoveryCtx>& ctx) {
  if (FindCopy(ctx->key, ctx->incarnation) == nullptr) return;
  SendRecoveryOps(ctx, /*finalize=*/true);
}

void Node::State::SendRecoveryOps(const std::shared_ptr<RecoveryCtx>& ctx,
                                  bool finalize) {
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  pb::Envelope envelope;
  pb::RecoveryOpsRequest* body = envelope.mutable_recovery_ops();
  body->mutable_shard()->set_index(copy->index);
  body->mutable_shard()->set_shard(copy->key.second);
  body->set_primary_term(copy->engine->term());
  body->set_global_checkpoint(copy->engine->global_checkpoint());
  body->set_primary_node(me());
  if (finalize) {
    body->set_finalize(true);
  } else {
    const size_t end = std::min(ctx->ops.size(), ctx->next + kRecoveryBatch);
    for (size_t i = ctx->next; i < end; ++i) *body->add_ops() = ctx->ops[i];
    ctx->next = end;
  }
  Send(
      ctx->target, std::move(envelope),
      [this, ctx, finalize](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy = RecoveryGoesOn(
            ctx, reply,
            finalize ? "the target rejected the recovery's finalize"
                     : "the target rejected recovery ops");
        if (copy == nullptr) return;
        copy->tracker->UpdateLocalCheckpoint(
            ctx->target, reply->replicate_response().local_checkpoint());
        if (finalize) {
          ctx->finalized = true;
          FinishRecovery(ctx);
        } else {
          SendRecoveryBatch(ctx);
        }
      },
      options.rpc_timeout);
}

void Node::State::FinishRecovery(const std::shared_ptr<RecoveryCtx>& ctx) {
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
      !copy->tracker->IsTracked(ctx->target)) {
    FailRecovery(
        ctx, "this node is no longer primary or stopped tracking the target");
    return;
  }
  // Only the target's current recovery marks it: one superseded by a newer
  // one (a duplicated or retried start_recovery) that ends after it would
  // mark the copy again with no report left to date the marking, and the
  // mark would outlive the copy.
  auto current = copy->recovery_ids.find(ctx->target);
  if (current == copy->recovery_ids.end() || current->second != ctx->id) {
    FailRecovery(ctx, "superseded by a newer recovery of the same copy");
    return;
  }
  copy->tracker->UpdateLocalCheckpoint(me(), copy->engine->local_checkpoint());
  const SeqNo gcp = copy->tracker->GlobalCheckpoint();
  copy->engine->UpdateGlobalCheckpoint(gcp);
  const SeqNo target_lcp = copy->tracker->LocalCheckpointOf(ctx->target);
  // In sync once it holds everything up to the global checkpoint (ES) and
  // every write already acknowledged (else a promotion of this copy right
  // after could lose one).
  const SeqNo needed = std::max(gcp, copy->max_acked_seq_no);
  if (target_lcp < needed) {
    if (env->Now() >= ctx->deadline) {
      FailRecovery(ctx, absl::StrCat("local checkpoint ", target_lcp,
                                     " never reached ", needed));
      return;
    }
    After(RetryDelay(), [this, ctx]() { FinishRecovery(ctx); });
    return;
  }
  if (!ctx->finalized) {
    SendFinalize(ctx);  // then here again, the checks above made again
    return;
  }
  Log(absl::StrCat(me(), " marks ", ctx->target, "'s copy of ", Name(*copy),
                   " in sync and reports it started: local checkpoint ",
                   target_lcp, " >= global checkpoint ", gcp,
                   " and last acknowledged seq_no ", copy->max_acked_seq_no));
  // From now on the copy holds back the global checkpoint and every write,
  // including those already sent to it, waits for its answer.
  copy->pending_in_sync[ctx->target] = std::numeric_limits<int64_t>::max();
  RefreshInSync(copy);
  for (auto& [id, write] : copy->inflight) {
    if (write->unanswered.count(ctx->target) > 0) {
      write->awaiting.insert(ctx->target);
    }
  }
  SendShardStarted(ctx, target_lcp);
}

void Node::State::SendShardStarted(const std::shared_ptr<RecoveryCtx>& ctx,
                                   SeqNo target_lcp) {
  LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) return;
  pb::Envelope envelope;
  pb::ShardStartedRequest* started = envelope.mutable_shard_started();
  started->mutable_shard()->set_index(copy->index);
  started->mutable_shard()->set_shard(copy->key.second);
  started->set_node_id(ctx->target);
  started->set_allocation_id(ctx->allocation_id);
  started->set_primary_term(copy->engine->term());
  started->set_local_checkpoint(target_lcp);
  Send(
      kCoordinatorId, std::move(envelope),
      [this, ctx, target_lcp](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() || !reply->has_shard_started_response() ||
            HasError(reply->shard_started_response().error())) {
          FailRecovery(ctx, /*definite=*/reply.ok(),
                       !reply.ok()
                           ? reply.status().ToString(
                                 absl::StatusToStringMode::kWithNoExtraData)
                       : reply->has_shard_started_response()
                           ? reply->shard_started_response().error().reason()
                           : "unexpected reply to shard_started");
          if (reply.ok()) return;
          After(RetryDelay(), [this, ctx, target_lcp]() {
            LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
            if (copy == nullptr) return;
            auto current = copy->recovery_ids.find(ctx->target);
            if (current != copy->recovery_ids.end() &&
                current->second == ctx->id) {
              SendShardStarted(ctx, target_lcp);
            }
          });
          return;
        }
        if (LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation)) {
          auto current = copy->recovery_ids.find(ctx->target);
          if (current != copy->recovery_ids.end() &&
              current->second == ctx->id) {
            // Only the current recovery's answer dates the marking.
            copy->recovery_ids.erase(current);
            auto it = copy->pending_in_sync.find(ctx->target);
            const int64_t listed =
                reply->shard_started_response().state_version();
            if (it != copy->pending_in_sync.end() && listed > 0) {
              it->second = listed;
            }
          }
        }
        if (!ctx->respond) return;
        pb::Envelope done;
        pb::StartRecoveryResponse* response =
            done.mutable_start_recovery_response();
        response->set_mode(ctx->mode);
        response->set_ops_sent(static_cast<int64_t>(ctx->ops.size()));
        response->set_docs_copied(ctx->docs_copied);
        auto respond = std::move(ctx->respond);
        ctx->respond = nullptr;
        respond(std::move(done));
      },
      options.rpc_timeout);
}

}  // namespace seqsim
