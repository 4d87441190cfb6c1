// Node: the public facade of the node logic (node.h). Every call goes to
// Node::State (node_state.h), whose methods live in one file per concern.
//
// The Node::State methods that have no file of their own yet follow, in the
// order of the former single file.
#include "node/logic/node.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/engine/shard_engine.h"
#include "node/logic/local_copy.h"
#include "node/logic/node_state.h"
#include "node/logic/preference.h"
#include "node/logic/query.h"
#include "node/logic/routing.h"

namespace seqsim {

namespace {

// Operations per recovery_ops message.
constexpr size_t kRecoveryBatch = 128;

// The nodes of a shard's started copies, in routing order.
std::vector<std::string> StartedNodes(const pb::ShardRouting& routing) {
  std::vector<std::string> nodes;
  for (const pb::ShardCopy& copy : routing.copies()) {
    if (copy.state() == pb::ShardCopy::STARTED) nodes.push_back(copy.node_id());
  }
  return nodes;
}

absl::Status NoNodesWithCriteria(const Preference& preference,
                                 const std::string& index, int shard) {
  return EsStatus(
      absl::StatusCode::kInvalidArgument, "illegal_argument_exception",
      absl::StrCat("no data nodes with criteria [",
                   absl::StrJoin(preference.nodes, ","), "] found for shard: [",
                   index, "][", shard, "]"));
}

}  // namespace

int64_t Node::State::RefreshIntervalMs(const LocalCopy& copy) {
  const pb::IndexMeta* index = FindIndexByUuid(copy.key.first);
  if (index == nullptr || index->refresh_interval_ms() == 0)
    return kDefaultRefreshMs;
  return index->refresh_interval_ms();
}

absl::Duration Node::State::FirstRefreshDelay(const LocalCopy& copy) {
  const int64_t ms = RefreshIntervalMs(copy);
  const int64_t interval = ms > 0 ? ms : kDefaultRefreshMs;
  const uint32_t h = Murmur3X86_32(
      absl::StrCat(me(), "/", copy.key.first, "/", copy.key.second), 0);
  return absl::Milliseconds(std::max<int64_t>(1, interval * (h % 1000) / 1000));
}

void Node::State::ScheduleRefresh(const LocalCopy& copy) {
  const int64_t ms = RefreshIntervalMs(copy);
  // Disabled: look again at the default pace (the setting may be another
  // on the next state).
  ScheduleRefresh(copy, absl::Milliseconds(ms > 0 ? ms : kDefaultRefreshMs));
}

void Node::State::ScheduleRefresh(const LocalCopy& copy, absl::Duration delay) {
  const uint64_t incarnation = copy.incarnation;
  After(delay, [this, incarnation]() {
    LocalCopy* copy = FindCopy(incarnation);
    if (copy == nullptr) return;
    if (RefreshIntervalMs(*copy) > 0 &&
        copy->engine->unrefreshed_changes() > 0) {
      RefreshCopy(copy);
    }
    ScheduleRefresh(*copy);
  });
}

void Node::State::RefreshCopy(LocalCopy* copy) {
  copy->engine->Refresh();
  const SeqNo visible = copy->engine->refreshed_max_seq_no();
  std::vector<absl::AnyInvocable<void()>> ready;
  auto& waiters = copy->refresh_waiters;
  for (auto it = waiters.begin(); it != waiters.end();) {
    if (it->first <= visible) {
      ready.push_back(std::move(it->second));
      it = waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& fn : ready) fn();
}

void Node::State::WhenRefreshed(LocalCopy* copy, SeqNo seq_no,
                                absl::AnyInvocable<void()> fn) {
  if (copy->engine->refreshed_max_seq_no() >= seq_no) {
    fn();
    return;
  }
  copy->refresh_waiters.emplace_back(seq_no, std::move(fn));
  if (copy->refresh_waiters.size() >= kMaxRefreshListeners) RefreshCopy(copy);
}

int Node::State::RefreshLocal(const pb::RefreshRequest& request) {
  int refreshed = 0;
  for (auto& [key, copy] : copies) {
    if (copy->role == Role::kRecovering) continue;
    bool wanted = request.indices().empty();
    for (const std::string& name : request.indices()) {
      wanted = wanted || copy->index == name;
    }
    if (!wanted) continue;
    RefreshCopy(copy.get());
    ++refreshed;
  }
  return refreshed;
}

void Node::State::MaybeStartRecovery(LocalCopy* copy) {
  if (copy->role != Role::kRecovering) return;
  const pb::IndexMeta* index = FindIndexByUuid(copy->key.first);
  const pb::ShardRouting* routing =
      index ? FindRouting(*index, copy->key.second) : nullptr;
  const pb::ShardCopy* primary = routing ? PrimaryOf(*routing) : nullptr;
  if (primary == nullptr || primary->state() != pb::ShardCopy::STARTED ||
      primary->node_id() == me()) {
    return;  // the next cluster state retries
  }
  // A running recovery from the current primary goes on; one from a former
  // primary is abandoned (its reply will be ignored). One that succeeded
  // stands: the copy waits for the cluster state that starts it.
  if (copy->recovery_running && copy->recovery_source == primary->node_id() &&
      copy->engine->term() >= routing->primary_term()) {
    return;
  }
  const pb::ShardCopy* mine = nullptr;
  for (const pb::ShardCopy& c : routing->copies()) {
    if (c.node_id() == me()) mine = &c;
  }
  if (mine != nullptr && copy->recovered_term == routing->primary_term() &&
      copy->recovered_from == primary->node_id() &&
      copy->recovered_allocation == mine->allocation_id()) {
    return;
  }
  ShardEngine& engine = *copy->engine;
  engine.AdvanceTerm(routing->primary_term());
  // Operations above the global checkpoint from older terms may never have
  // been acknowledged and may differ from the primary's history: drop them,
  // the primary sends what it has.
  if (engine.max_seq_no() > engine.global_checkpoint()) {
    absl::Status trimmed =
        engine.TrimOperationsAbove(engine.global_checkpoint(), engine.term());
    if (!trimmed.ok()) {
      Log(absl::StrCat(me(), " cannot trim ", Name(*copy), ": ",
                       trimmed.ToString()));
    }
  }
  copy->recovery_running = true;
  copy->recovery_source = primary->node_id();
  const uint64_t attempt = ++copy->recovery_attempt;
  const std::string primary_node = primary->node_id();
  pb::Envelope envelope;
  pb::StartRecoveryRequest* start = envelope.mutable_start_recovery();
  start->mutable_shard()->set_index(copy->index);
  start->mutable_shard()->set_shard(copy->key.second);
  start->set_target_node(me());
  start->set_local_checkpoint(engine.local_checkpoint());
  start->set_target_term(engine.term());
  if (mine != nullptr) start->set_allocation_id(mine->allocation_id());
  Log(absl::StrCat(me(), " asks ", primary_node, " to recover ", Name(*copy),
                   " above local checkpoint ", engine.local_checkpoint()));
  const CopyKey key = copy->key;
  const uint64_t incarnation = copy->incarnation;
  const std::string allocation = start->allocation_id();
  Send(
      primary_node, std::move(envelope),
      [this, key, incarnation, attempt, primary_node,
       recovery_term = engine.term(),
       allocation](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy = FindCopy(key, incarnation);
        if (copy == nullptr || copy->recovery_attempt != attempt) return;
        copy->recovery_running = false;
        if (reply.ok() && reply->has_start_recovery_response() &&
            !HasError(reply->start_recovery_response().error())) {
          const pb::StartRecoveryResponse& response =
              reply->start_recovery_response();
          Log(absl::StrCat(me(), " recovered ", Name(*copy), " from ",
                           primary_node, " (", response.mode(), ": ",
                           response.ops_sent(), " ops, ",
                           response.docs_copied(), " docs copied)"));
          copy->recovered_allocation = allocation;
          copy->recovered_from = primary_node;
          copy->recovered_term = recovery_term;
          return;  // the coordinator marks the copy STARTED
        }
        std::string why =
            !reply.ok() ? reply.status().ToString(
                              absl::StatusToStringMode::kWithNoExtraData)
            : reply->has_start_recovery_response()
                ? reply->start_recovery_response().error().reason()
                : "unexpected reply";
        Log(absl::StrCat(me(), " recovery of ", Name(*copy), " failed: ", why,
                         "; retries"));
        // Only this attempt's retry: a newer attempt (started meanwhile by
        // a cluster state) schedules its own if it fails.
        After(RetryDelay(), [this, key, incarnation, attempt]() {
          LocalCopy* copy = FindCopy(key, incarnation);
          if (copy != nullptr && copy->recovery_attempt == attempt)
            MaybeStartRecovery(copy);
        });
      },
      options.write_timeout);
}

void Node::State::HandleRecoverySnapshot(const pb::Envelope& envelope,
                                         RespondFn respond) {
  const pb::RecoverySnapshotRequest& request = envelope.recovery_snapshot();
  LocalCopy* copy = FindAndFence(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      FromPrimary::kRecoverySnapshot, envelope.from(), respond);
  if (copy == nullptr) return;
  // Only the recovery this copy is running installs a snapshot, once: a
  // delayed or duplicated one, or one of a recovery started by a repeated
  // start_recovery after this copy caught up, would roll back a copy that
  // may already count as in sync. It is answered as if installed, with the
  // checkpoints the copy holds: the primary goes on from there.
  // One start_recovery asks for one snapshot: a second one in the same
  // attempt comes from a duplicated start_recovery.
  if (copy->role != Role::kRecovering || !copy->recovery_running ||
      copy->recovery_source != envelope.from() ||
      copy->installed_snapshot_attempt == copy->recovery_attempt) {
    Log(absl::StrCat(me(), " keeps its copy of ", Name(*copy),
                     " instead of a recovery snapshot from ", envelope.from(),
                     " that its running recovery does not expect (local "
                     "checkpoint ",
                     copy->engine->local_checkpoint(), ")"));
    ReplyAfterDurable(copy, std::move(respond));
    return;
  }
  copy->installed_snapshot_attempt = copy->recovery_attempt;
  std::vector<pb::Operation> docs(request.docs().begin(), request.docs().end());
  absl::Status installed = copy->engine->InstallSnapshot(
      docs, request.max_seq_no(), request.local_checkpoint(),
      request.global_checkpoint(), request.primary_term());
  if (!installed.ok()) {
    RespondReplicaError(copy, installed, respond);
    return;
  }
  Log(absl::StrCat(me(), " installs a snapshot of ", Name(*copy), " from ",
                   envelope.from(), ": documents at global checkpoint ",
                   request.local_checkpoint(), " and ",
                   copy->engine->retained_ops(),
                   " operations above it; max_seq_no ", request.max_seq_no(),
                   ", local checkpoint ", copy->engine->local_checkpoint()));
  ReplyAfterDurable(copy, std::move(respond));
}

void Node::State::HandleRecoveryOps(const pb::Envelope& envelope,
                                    RespondFn respond) {
  const pb::RecoveryOpsRequest& request = envelope.recovery_ops();
  LocalCopy* copy = FenceAndApply(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      request.ops(), FromPrimary::kRecoveryOps, envelope.from(), respond);
  if (copy == nullptr) return;
  copy->engine->UpdateGlobalCheckpoint(request.global_checkpoint());
  ReplyAfterDurable(copy, std::move(respond));
}

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
        LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
        if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
          FailRecovery(ctx, "this node is no longer primary");
          return;
        }
        if (!reply.ok() || !reply->has_replicate_response() ||
            HasError(reply->replicate_response().error())) {
          FailRecovery(
              ctx, !reply.ok() ? reply.status().ToString(
                                     absl::StatusToStringMode::kWithNoExtraData)
                               : "the target rejected the snapshot");
          return;
        }
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
  pb::Envelope envelope;
  pb::RecoveryOpsRequest* body = envelope.mutable_recovery_ops();
  body->mutable_shard()->set_index(copy->index);
  body->mutable_shard()->set_shard(copy->key.second);
  body->set_primary_term(copy->engine->term());
  body->set_global_checkpoint(copy->engine->global_checkpoint());
  body->set_primary_node(me());
  const size_t end = std::min(ctx->ops.size(), ctx->next + kRecoveryBatch);
  for (size_t i = ctx->next; i < end; ++i) *body->add_ops() = ctx->ops[i];
  ctx->next = end;
  Send(
      ctx->target, std::move(envelope),
      [this, ctx](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy = FindCopy(ctx->key, ctx->incarnation);
        if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
          FailRecovery(ctx, "this node is no longer primary");
          return;
        }
        if (!reply.ok() || !reply->has_replicate_response() ||
            HasError(reply->replicate_response().error())) {
          FailRecovery(
              ctx, !reply.ok() ? reply.status().ToString(
                                     absl::StatusToStringMode::kWithNoExtraData)
                               : "the target rejected recovery ops");
          return;
        }
        copy->tracker->UpdateLocalCheckpoint(
            ctx->target, reply->replicate_response().local_checkpoint());
        SendRecoveryBatch(ctx);
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

pb::Envelope Node::State::GetReply(pb::GetResponse&& response) {
  pb::Envelope envelope;
  *envelope.mutable_get_response() = std::move(response);
  return envelope;
}

void Node::State::StartGet(const pb::GetRequest& request, bool forwarded,
                           RespondFn respond) {
  auto ctx = std::make_shared<GetCtx>();
  ctx->request = request;
  ctx->forwarded = forwarded;
  ctx->deadline = env->Now() + options.rpc_timeout;
  ctx->respond = std::move(respond);
  RouteGet(ctx);
}

void Node::State::FinishGet(const std::shared_ptr<GetCtx>& ctx,
                            pb::GetResponse&& response) {
  if (!ctx->respond) return;
  if (response.index().empty()) response.set_index(ctx->request.index());
  if (response.id().empty()) response.set_id(ctx->request.id());
  auto respond = std::move(ctx->respond);
  ctx->respond = nullptr;
  respond(GetReply(std::move(response)));
}

void Node::State::RetryGet(const std::shared_ptr<GetCtx>& ctx,
                           const std::string& why) {
  RetryGet(ctx, RetryableError(why));
}

void Node::State::RetryGet(const std::shared_ptr<GetCtx>& ctx, pb::Error why) {
  if (env->Now() >= ctx->deadline) {
    pb::GetResponse response;
    *response.mutable_error() = std::move(why);
    FinishGet(ctx, std::move(response));
    return;
  }
  RetryLater([this, ctx]() { RouteGet(ctx); });
}

void Node::State::RouteGet(const std::shared_ptr<GetCtx>& ctx) {
  if (!has_state) {
    RetryGet(ctx, NoStateError());
    return;
  }
  const pb::IndexMeta* index = FindIndex(ctx->request.index());
  if (index == nullptr) {
    pb::GetResponse response;
    *response.mutable_error() =
        ToError(IndexNotFound(ctx->request.index()), ctx->request.index());
    FinishGet(ctx, std::move(response));
    return;
  }
  const int shard =
      ShardForRouting(ctx->request.routing().empty() ? ctx->request.id()
                                                     : ctx->request.routing(),
                      index->number_of_shards());
  ctx->request.set_shard(shard);
  LocalCopy* local = FindCopy(index->uuid(), shard);
  if (!ctx->request.preference().empty()) {
    PreferredRead(*index, shard, local, ctx);
    return;
  }
  if (local != nullptr && local->role == Role::kPrimary && !local->stale) {
    PrimaryRead(local, ctx);
    return;
  }
  if (local != nullptr && ctx->request.prefer_local() &&
      local->role == Role::kReplica) {
    FinishGet(ctx, ReadLocal(*local, ctx->request));
    return;
  }
  const pb::ShardRouting* routing = FindRouting(*index, shard);
  const pb::ShardCopy* primary = routing ? PrimaryOf(*routing) : nullptr;
  if (primary == nullptr || primary->state() != pb::ShardCopy::STARTED ||
      primary->node_id() == me() || ctx->forwarded) {
    if (ctx->forwarded && !(primary == nullptr || primary->node_id() == me())) {
      pb::GetResponse response;
      *response.mutable_error() = RetryableError(absl::StrCat(
          me(), " is not the primary of ", ShardName(index->name(), shard)));
      FinishGet(ctx, std::move(response));
      return;
    }
    RetryGet(ctx, absl::StrCat(ShardName(index->name(), shard),
                               " primary shard is not active"));
    return;
  }
  pb::Envelope envelope;
  *envelope.mutable_get() = ctx->request;
  ForwardGet(ctx, primary->node_id(), std::move(envelope), "primary node ");
}

void Node::State::ForwardGet(const std::shared_ptr<GetCtx>& ctx,
                             const std::string& node, pb::Envelope&& envelope,
                             const char* what) {
  Send(
      node, std::move(envelope),
      [this, ctx, node, what](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() || !reply->has_get_response()) {
          RetryGet(ctx, absl::StrCat(what, node, " is unreachable"));
          return;
        }
        const pb::GetResponse& response = reply->get_response();
        if (HasError(response.error()) &&
            response.error().type() == kRetryableType) {
          RetryGet(ctx, response.error().reason());
          return;
        }
        FinishGet(ctx, pb::GetResponse(response));
      },
      options.rpc_timeout);
}

void Node::State::PreferredRead(const pb::IndexMeta& index, int shard,
                                LocalCopy* local,
                                const std::shared_ptr<GetCtx>& ctx) {
  absl::StatusOr<Preference> preference =
      ParsePreference(ctx->request.preference());
  if (!preference.ok()) {
    pb::GetResponse response;
    *response.mutable_error() = ToError(preference.status(), index.name());
    FinishGet(ctx, std::move(response));
    return;
  }
  const pb::ShardRouting* routing = FindRouting(index, shard);
  std::optional<std::string> node =
      routing ? PickCopy(*preference, StartedNodes(*routing), me(),
                         search_rotation++)
              : std::nullopt;
  if (!node.has_value()) {
    pb::GetResponse response;
    *response.mutable_error() =
        ToError(preference->kind == Preference::Kind::kOnlyNodes
                    ? NoNodesWithCriteria(*preference, index.name(), shard)
                    : EsStatus(absl::StatusCode::kUnavailable,
                               "no_shard_available_action_exception",
                               absl::StrCat("No shard available for [get [",
                                            index.name(), "][", shard, "]]")),
                index.name());
    FinishGet(ctx, std::move(response));
    return;
  }
  if (*node == me()) {
    if (local == nullptr || local->role == Role::kRecovering) {
      RetryGet(ctx, absl::StrCat(me(), " has no started copy of ",
                                 ShardName(index.name(), shard)));
      return;
    }
    FinishGet(ctx, ReadLocal(*local, ctx->request));
    return;
  }
  if (ctx->forwarded) {
    pb::GetResponse response;
    *response.mutable_error() = RetryableError(absl::StrCat(
        me(), " holds no chosen copy of ", ShardName(index.name(), shard)));
    FinishGet(ctx, std::move(response));
    return;
  }
  // The chosen node reads its own copy.
  pb::Envelope envelope;
  *envelope.mutable_get() = ctx->request;
  envelope.mutable_get()->set_preference("_only_local");
  ForwardGet(ctx, *node, std::move(envelope), "node ");
}

void Node::State::PrimaryRead(LocalCopy* copy,
                              const std::shared_ptr<GetCtx>& ctx) {
  auto value =
      std::make_shared<pb::GetResponse>(ReadLocal(*copy, ctx->request));
  const SeqNo needed = value->found() ? value->seq_no() : kNoOpsPerformed;
  ReadBarrier(copy->incarnation, copy->engine->term(), needed, ctx->deadline,
              [this, ctx, value](const absl::Status& confirmed) {
                if (confirmed.ok()) {
                  FinishGet(ctx, std::move(*value));
                } else {
                  RetryGet(ctx, std::string(confirmed.message()));
                }
              });
}

void Node::State::ReadBarrier(uint64_t incarnation, PrimaryTerm term,
                              SeqNo needed, absl::Duration deadline,
                              BarrierDone done) {
  LocalCopy* copy = FindCopy(incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
      copy->engine->term() != term) {
    done(absl::UnavailableError("the primary changed during the read"));
    return;
  }
  copy->tracker->UpdateLocalCheckpoint(me(), copy->engine->local_checkpoint());
  copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
  // The tracker's list: sending changes no replication group.
  const std::vector<std::string>& replicas = copy->tracker->in_sync_replicas();
  if (replicas.empty() && needed <= copy->engine->global_checkpoint()) {
    done(absl::OkStatus());
    return;
  }
  auto round = std::make_shared<ReadBarrierRound>();
  round->incarnation = incarnation;
  round->term = term;
  round->needed = needed;
  round->deadline = deadline;
  round->pending = static_cast<int>(replicas.size());
  round->done = std::move(done);
  if (options.batch_per_flush && !replicas.empty()) {
    // One round per copy and executor batch, started after every read of
    // the batch was taken (issue 15): sent by SendBatches().
    QueueReadBarrier(std::move(round));
    return;
  }
  if (replicas.empty()) {
    round->pending = 1;
    SettleReadBarrier(round);
    return;
  }
  for (const std::string& target : replicas) {
    pb::Envelope envelope;
    pb::ReplicateRequest* replicate = envelope.mutable_replicate();
    replicate->mutable_shard()->set_index(copy->index);
    replicate->mutable_shard()->set_shard(copy->key.second);
    replicate->set_primary_term(term);
    replicate->set_global_checkpoint(copy->engine->global_checkpoint());
    replicate->set_max_seq_no_of_updates_or_deletes(
        copy->engine->max_seq_no_of_updates_or_deletes());
    replicate->set_primary_node(me());
    Send(
        target, std::move(envelope),
        [this, target, round](const absl::StatusOr<pb::Envelope>& reply) {
          LocalCopy* copy = FindCopy(round->incarnation);
          const bool ok = reply.ok() && reply->has_replicate_response() &&
                          !HasError(reply->replicate_response().error());
          if (!ok) round->failed = true;
          if (copy != nullptr) {
            // Same bookkeeping as a replication reply: fencing on a newer
            // term, checkpoints on success, shard_failed on failure.
            OnReplicaReply(round->incarnation, target, 0, round->term, reply);
          }
          SettleReadBarrier(round);
        },
        options.rpc_timeout);
  }
}

void Node::State::QueueReadBarrier(std::shared_ptr<ReadBarrierRound> round) {
  for (PendingBarriers& p : pending_barriers) {
    if (p.incarnation == round->incarnation && p.term == round->term) {
      p.rounds.push_back(std::move(round));
      return;
    }
  }
  PendingBarriers& p = pending_barriers.emplace_back();
  p.incarnation = round->incarnation;
  p.term = round->term;
  p.rounds.push_back(std::move(round));
}

void Node::State::SendReadBarriers() {
  std::vector<PendingBarriers> batches;
  batches.swap(pending_barriers);
  for (PendingBarriers& batch : batches) {
    LocalCopy* copy = FindCopy(batch.incarnation);
    if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
        copy->engine->term() != batch.term) {
      for (auto& round : batch.rounds)
        round->done(
            absl::UnavailableError("the primary changed during the read"));
      continue;
    }
    const std::vector<std::string>& replicas =
        copy->tracker->in_sync_replicas();
    auto rounds =
        std::make_shared<std::vector<std::shared_ptr<ReadBarrierRound>>>(
            std::move(batch.rounds));
    for (auto& round : *rounds)
      round->pending = std::max<int>(1, static_cast<int>(replicas.size()));
    if (replicas.empty()) {
      for (auto& round : *rounds) SettleReadBarrier(round);
      continue;
    }
    for (const std::string& target : replicas) {
      pb::Envelope envelope;
      pb::ReplicateRequest* replicate = envelope.mutable_replicate();
      replicate->mutable_shard()->set_index(copy->index);
      replicate->mutable_shard()->set_shard(copy->key.second);
      replicate->set_primary_term(batch.term);
      replicate->set_global_checkpoint(copy->engine->global_checkpoint());
      replicate->set_max_seq_no_of_updates_or_deletes(
          copy->engine->max_seq_no_of_updates_or_deletes());
      replicate->set_primary_node(me());
      const uint64_t incarnation = batch.incarnation;
      const PrimaryTerm term = batch.term;
      Send(
          target, std::move(envelope),
          [this, target, rounds, incarnation,
           term](const absl::StatusOr<pb::Envelope>& reply) {
            const bool ok = reply.ok() && reply->has_replicate_response() &&
                            !HasError(reply->replicate_response().error());
            for (auto& round : *rounds) {
              if (!ok) round->failed = true;
            }
            if (FindCopy(incarnation) != nullptr)
              OnReplicaReply(incarnation, target, 0, term, reply);
            for (auto& round : *rounds) SettleReadBarrier(round);
          },
          options.rpc_timeout);
    }
  }
}

void Node::State::SettleReadBarrier(
    const std::shared_ptr<ReadBarrierRound>& round) {
  if (--round->pending > 0) return;
  LocalCopy* copy = FindCopy(round->incarnation);
  if (round->failed || copy == nullptr || copy->stale ||
      copy->role != Role::kPrimary || copy->engine->term() != round->term) {
    round->done(
        absl::UnavailableError("a replica did not confirm the primary's term"));
    return;
  }
  copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
  if (round->needed <= copy->engine->global_checkpoint()) {
    round->done(absl::OkStatus());
    return;
  }
  if (env->Now() >= round->deadline) {
    round->done(absl::UnavailableError(
        "the document's last write is not yet on every copy"));
    return;
  }
  After(absl::Milliseconds(1), [this, round]() {
    ReadBarrier(round->incarnation, round->term, round->needed, round->deadline,
                std::move(round->done));
  });
}

pb::GetResponse Node::State::ReadLocal(LocalCopy& copy,
                                       const pb::GetRequest& request) {
  const std::string& id = request.id();
  if (request.refresh()) RefreshCopy(&copy);
  pb::GetResponse response;
  response.set_index(copy.index);
  response.set_id(id);
  const StoredDoc* doc = request.not_realtime() ? copy.engine->GetRefreshed(id)
                                                : copy.engine->Get(id);
  if (doc == nullptr) {
    response.set_found(false);
    return response;
  }
  response.set_index_uuid(copy.key.first);
  response.set_shard(copy.key.second);
  response.set_found(true);
  response.set_version(doc->version);
  response.set_seq_no(doc->seq_no);
  response.set_primary_term(doc->term);
  response.set_source(doc->source);
  response.set_routing(doc->routing);
  return response;
}

absl::StatusOr<query::ShardResult> Node::State::SearchLocal(
    const LocalCopy& copy, const pb::SearchRequest& request) {
  bool by_doc = false;
  for (const auto& key : request.sort()) by_doc |= key.field() == "_doc";
  if (request.query().kind_case() == pb::Query::kIds && !by_doc) {
    // An ids query looks each id up instead of copying and scanning every
    // live document: reading back 1,000 ids of a 200k-document shard costs
    // 1,000 look-ups.
    std::vector<std::string> ids(request.query().ids().values().begin(),
                                 request.query().ids().values().end());
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    std::vector<std::pair<std::string, StoredDoc>> docs;
    for (std::string& id : ids) {
      if (const StoredDoc* doc = copy.engine->GetRefreshed(id))
        docs.emplace_back(std::move(id), *doc);
    }
    return query::SearchShard(request, copy.index, copy.key.second, docs);
  }
  return query::SearchShard(request, copy.index, copy.key.second,
                            copy.engine->RefreshedLiveDocs());
}

void Node::State::HandleShardSearch(const pb::SearchRequest& request,
                                    RespondFn respond) {
  pb::Envelope envelope;
  pb::SearchResponse* response = envelope.mutable_search_response();
  for (const std::string& name : request.indices()) {
    pb::ShardRef ref;
    ref.set_index(name);
    ref.set_shard(request.shard());
    LocalCopy* copy = FindCopyByRef(ref);
    if (copy == nullptr) {
      *response->mutable_error() = ToError(NoSuchShard(ref), name);
      break;
    }
    absl::StatusOr<query::ShardResult> result = SearchLocal(*copy, request);
    if (!result.ok()) {
      *response->mutable_error() = ToError(result.status(), name);
      break;
    }
    response->set_total(response->total() + result->total);
    for (auto& hit : result->hits) *response->add_hits() = std::move(hit);
  }
  respond(std::move(envelope));
}

void Node::State::HandleSearch(pb::SearchRequest request, RespondFn respond) {
  auto ctx = std::make_shared<SearchCtx>();
  ctx->started_ms = env->WallMillis();
  ctx->respond = std::move(respond);
  std::vector<const pb::IndexMeta*> indices;
  if (request.indices().empty()) {
    for (const auto& index : cluster_state.indices()) indices.push_back(&index);
  } else {
    for (const std::string& name : request.indices()) {
      const pb::IndexMeta* index = FindIndex(name);
      if (index == nullptr) {
        pb::Envelope envelope;
        *envelope.mutable_search_response()->mutable_error() =
            ToError(IndexNotFound(name), name);
        auto done = std::move(ctx->respond);
        done(std::move(envelope));
        return;
      }
      indices.push_back(index);
    }
  }
  absl::StatusOr<Preference> preference = ParsePreference(request.preference());
  if (!preference.ok()) {
    pb::Envelope envelope;
    *envelope.mutable_search_response()->mutable_error() =
        ToError(preference.status());
    auto done = std::move(ctx->respond);
    done(std::move(envelope));
    return;
  }
  ctx->request = std::move(request);
  struct Target {
    std::string index;
    std::string uuid;
    int shard;
    std::string node;
  };
  std::vector<Target> targets;
  for (const pb::IndexMeta* index : indices) {
    // `routing` values narrow the search to the shards they route to.
    std::vector<bool> routed(std::max(1, index->number_of_shards()),
                             ctx->request.routing().empty());
    for (const std::string& value : ctx->request.routing()) {
      routed[ShardForRouting(value, index->number_of_shards())] = true;
    }
    for (int shard = 0; shard < index->number_of_shards(); ++shard) {
      if (!routed[shard]) continue;
      if (!preference->shards.empty() && !preference->shards.count(shard))
        continue;
      // The copy that serves this shard (preference), among started ones.
      const pb::ShardRouting* routing = FindRouting(*index, shard);
      std::optional<std::string> node =
          routing ? PickCopy(*preference, StartedNodes(*routing), me(),
                             search_rotation++)
                  : std::nullopt;
      if (!node.has_value() &&
          preference->kind == Preference::Kind::kOnlyNodes) {
        pb::Envelope envelope;
        *envelope.mutable_search_response()->mutable_error() =
            ToError(NoNodesWithCriteria(*preference, index->name(), shard));
        auto done = std::move(ctx->respond);
        done(std::move(envelope));
        return;
      }
      if (!node.has_value() &&
          preference->kind == Preference::Kind::kOnlyLocal) {
        continue;  // not searched, as Elasticsearch skips it
      }
      targets.push_back(
          {index->name(), index->uuid(), shard, node.value_or("")});
    }
  }
  ctx->pending = static_cast<int>(targets.size()) + 1;
  for (const Target& target : targets) {
    auto fail = [ctx, target](const std::string& reason) {
      pb::ShardFailure failure;
      failure.set_index(target.index);
      failure.set_shard(target.shard);
      failure.set_node(target.node);
      failure.set_reason(reason);
      failure.set_status("SERVICE_UNAVAILABLE");
      ctx->failures.push_back(std::move(failure));
    };
    if (target.node.empty()) {
      fail("no active copy of the shard");
      FinishSearchPart(ctx);
      continue;
    }
    if (target.node == me()) {
      LocalCopy* copy = FindCopy({target.uuid, target.shard});
      if (copy == nullptr) {
        fail("no local copy");
      } else {
        absl::StatusOr<query::ShardResult> result =
            SearchLocal(*copy, ctx->request);
        if (!result.ok()) {
          ctx->query_error = ToError(result.status(), target.index);
        } else {
          ctx->total += result->total;
          for (auto& hit : result->hits) ctx->hits.push_back(std::move(hit));
        }
        ++ctx->successful;
      }
      FinishSearchPart(ctx);
      continue;
    }
    pb::Envelope envelope;
    pb::SearchRequest* shard_search = envelope.mutable_shard_search();
    shard_search->add_indices(target.index);
    *shard_search->mutable_query() = ctx->request.query();
    *shard_search->mutable_sort() = ctx->request.sort();
    *shard_search->mutable_search_after() = ctx->request.search_after();
    shard_search->set_from(ctx->request.from());
    shard_search->set_size(ctx->request.size());
    shard_search->set_shard(target.shard);
    Send(
        target.node, std::move(envelope),
        [this, ctx, fail](const absl::StatusOr<pb::Envelope>& reply) mutable {
          if (!reply.ok() || !reply->has_search_response()) {
            fail(reply.ok() ? "unexpected reply"
                            : reply.status().ToString(
                                  absl::StatusToStringMode::kWithNoExtraData));
          } else if (reply->search_response().error().status() == 400) {
            ctx->query_error = reply->search_response().error();
            ++ctx->successful;
          } else if (HasError(reply->search_response().error())) {
            fail(reply->search_response().error().reason());
          } else {
            ctx->total += reply->search_response().total();
            for (const auto& hit : reply->search_response().hits())
              ctx->hits.push_back(hit);
            ++ctx->successful;
          }
          FinishSearchPart(ctx);
        },
        options.rpc_timeout);
  }
  FinishSearchPart(ctx);
}

void Node::State::FinishSearchPart(const std::shared_ptr<SearchCtx>& ctx) {
  if (--ctx->pending > 0 || !ctx->respond) return;
  pb::Envelope envelope;
  pb::SearchResponse* response = envelope.mutable_search_response();
  if (ctx->query_error.has_value()) {
    *response->mutable_error() = *ctx->query_error;
    auto respond = std::move(ctx->respond);
    ctx->respond = nullptr;
    respond(std::move(envelope));
    return;
  }
  const auto& sort = ctx->request.sort();
  std::sort(ctx->hits.begin(), ctx->hits.end(),
            [&sort](const pb::SearchHit& a, const pb::SearchHit& b) {
              return query::HitLess(sort, a, b);
            });
  response->set_total(ctx->total);
  const size_t from = static_cast<size_t>(std::max(0, ctx->request.from()));
  const size_t size = static_cast<size_t>(std::max(0, ctx->request.size()));
  for (size_t i = from; i < ctx->hits.size() && i < from + size; ++i) {
    *response->add_hits() = ctx->hits[i];
  }
  pb::ShardsInfo* shards = response->mutable_shards();
  shards->set_total(ctx->successful + static_cast<int>(ctx->failures.size()));
  shards->set_successful(ctx->successful);
  shards->set_failed(static_cast<int>(ctx->failures.size()));
  for (const auto& failure : ctx->failures) *shards->add_failures() = failure;
  response->set_took_ms(env->WallMillis() - ctx->started_ms);
  auto respond = std::move(ctx->respond);
  ctx->respond = nullptr;
  respond(std::move(envelope));
}

void Node::State::WaitUntil(
    std::function<bool()> predicate, absl::Duration deadline,
    std::shared_ptr<absl::AnyInvocable<void(bool)>> fn) {
  if (predicate()) {
    (*fn)(true);
    return;
  }
  if (env->Now() >= deadline) {
    (*fn)(false);
    return;
  }
  RetryLater([this, predicate, deadline, fn]() {
    WaitUntil(predicate, deadline, fn);
  });
}

bool Node::State::IndexActive(const std::string& name) {
  const pb::IndexMeta* index = FindIndex(name);
  if (index == nullptr) return false;
  for (const auto& routing : index->shards()) {
    const pb::ShardCopy* primary = PrimaryOf(routing);
    if (primary == nullptr || primary->state() != pb::ShardCopy::STARTED)
      return false;
  }
  return true;
}

void Node::State::HandleCreateIndex(const pb::Envelope& request,
                                    RespondFn respond) {
  pb::Envelope envelope;
  *envelope.mutable_create_index() = request.create_index();
  const std::string name = request.create_index().index();
  auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
  Send(
      kCoordinatorId, std::move(envelope),
      [this, name, shared_respond](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() || !reply->has_create_index_response()) {
          pb::Envelope failed;
          *failed.mutable_create_index_response()->mutable_error() =
              ToError(EsStatus(absl::StatusCode::kUnavailable,
                               "master_not_discovered_exception",
                               "the coordinator is unreachable", 503));
          (*shared_respond)(std::move(failed));
          return;
        }
        pb::CreateIndexResponse response = reply->create_index_response();
        if (HasError(response.error())) {
          pb::Envelope failed;
          *failed.mutable_create_index_response() = std::move(response);
          (*shared_respond)(std::move(failed));
          return;
        }
        auto fn = std::make_shared<absl::AnyInvocable<void(bool)>>(
            [name, shared_respond](bool active) {
              pb::Envelope done;
              pb::CreateIndexResponse* body =
                  done.mutable_create_index_response();
              body->set_acknowledged(true);
              body->set_shards_acknowledged(active);
              body->set_index(name);
              (*shared_respond)(std::move(done));
            });
        WaitUntil([this, name]() { return IndexActive(name); },
                  env->Now() + options.write_timeout, fn);
      },
      options.rpc_timeout);
}

void Node::State::HandleDeleteIndex(const pb::Envelope& request,
                                    RespondFn respond) {
  pb::Envelope envelope;
  *envelope.mutable_delete_index() = request.delete_index();
  auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
  Send(
      kCoordinatorId, std::move(envelope),
      [shared_respond](const absl::StatusOr<pb::Envelope>& reply) {
        pb::Envelope done;
        if (!reply.ok() || !reply->has_delete_index_response()) {
          *done.mutable_delete_index_response()->mutable_error() =
              ToError(EsStatus(absl::StatusCode::kUnavailable,
                               "master_not_discovered_exception",
                               "the coordinator is unreachable", 503));
        } else {
          *done.mutable_delete_index_response() =
              reply->delete_index_response();
        }
        (*shared_respond)(std::move(done));
      },
      options.rpc_timeout);
}

void Node::State::Handle(const pb::Envelope& request, RespondFn respond) {
  // Only client requests ask whether they came from another node.
  switch (request.body_case()) {
    case pb::Envelope::kWrite: {
      const bool from_node = IsNode(request.from());
      auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
      StartWrite(request.write(), from_node,
                 [shared_respond](pb::WriteResponse&& response) {
                   pb::Envelope envelope;
                   *envelope.mutable_write_response() = std::move(response);
                   (*shared_respond)(std::move(envelope));
                 });
      return;
    }
    case pb::Envelope::kBulk:
      HandleBulk(request.bulk(), IsNode(request.from()), std::move(respond));
      return;
    case pb::Envelope::kGet: {
      const bool from_node = IsNode(request.from());
      StartGet(request.get(), from_node, std::move(respond));
      return;
    }
    case pb::Envelope::kSearch: {
      if (has_state) {
        HandleSearch(request.search(), std::move(respond));
        return;
      }
      // No cluster state yet: wait for the first one (or fail as ES does).
      auto search = std::make_shared<pb::SearchRequest>(request.search());
      auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
      auto fn = std::make_shared<absl::AnyInvocable<void(bool)>>(
          [this, search, shared_respond](bool ready) {
            if (ready) {
              HandleSearch(std::move(*search), std::move(*shared_respond));
              return;
            }
            pb::Envelope envelope;
            *envelope.mutable_search_response()->mutable_error() =
                NoStateError();
            (*shared_respond)(std::move(envelope));
          });
      WaitUntil([this]() { return has_state; },
                env->Now() + options.rpc_timeout, fn);
      return;
    }
    case pb::Envelope::kRefresh: {
      pb::Envelope envelope;
      envelope.mutable_refresh_response()->set_refreshed(
          RefreshLocal(request.refresh()));
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kShardSearch:
      HandleShardSearch(request.shard_search(), std::move(respond));
      return;
    case pb::Envelope::kCreateIndex:
      HandleCreateIndex(request, std::move(respond));
      return;
    case pb::Envelope::kDeleteIndex:
      HandleDeleteIndex(request, std::move(respond));
      return;
    case pb::Envelope::kReplicate:
      HandleReplicate(request, std::move(respond));
      return;
    case pb::Envelope::kResync:
      HandleResync(request, std::move(respond));
      return;
    case pb::Envelope::kStartRecovery:
      HandleStartRecovery(request, std::move(respond));
      return;
    case pb::Envelope::kRecoverySnapshot:
      HandleRecoverySnapshot(request, std::move(respond));
      return;
    case pb::Envelope::kRecoveryOps:
      HandleRecoveryOps(request, std::move(respond));
      return;
    case pb::Envelope::kPublish: {
      pb::Envelope envelope;
      if (absl::Status can =
              ApplyCheckedState(request.publish().state(), request.from());
          !can.ok()) {
        *envelope.mutable_publish_response()->mutable_error() =
            ToError(EsStatus(
                can.code(), "illegal_state_exception", can.message(),
                can.code() == absl::StatusCode::kInvalidArgument ? 400 : 409));
        envelope.mutable_publish_response()->set_applied_version(
            has_state ? cluster_state.version() : 0);
        envelope.set_refused(static_cast<int>(can.code()));
        respond(std::move(envelope));
        return;
      }
      envelope.mutable_publish_response()->set_applied_version(
          has_state ? cluster_state.version() : 0);
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kGetClusterState:
      HandleGetClusterState(request.get_cluster_state(), std::move(respond));
      return;
    case pb::Envelope::kNodeStatus: {
      pb::Envelope envelope;
      *envelope.mutable_node_status_response() = Status();
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kFault: {
      pb::Envelope envelope;
      *envelope.mutable_fault_response()->mutable_error() =
          ToError(IllegalArgument(
              "faults are handled by the transport, not by the node logic"));
      respond(std::move(envelope));
      return;
    }
    default: {
      Log(absl::StrCat(me(), " cannot handle message ", request.body_case(),
                       " from ", request.from()));
      pb::Envelope envelope;
      *envelope.mutable_write_response()->mutable_error() =
          ToError(IllegalArgument("unsupported message"));
      respond(std::move(envelope));
      return;
    }
  }
}

// -----------------------------------------------------------------------------
// Node

Node::Node(Env* env, NodeOptions options)
    : state_(std::make_unique<State>(env, std::move(options))) {}

Node::~Node() = default;

void Node::Start() {
  state_->OpenCopiesOnDisk();
  state_->SendJoin();
}

void Node::Handle(const pb::Envelope& request, RespondFn respond) {
  state_->Handle(request, std::move(respond));
}

void Node::Flush() { state_->Flush(); }

pb::NodeStatusResponse Node::Status() const { return state_->Status(); }

int64_t Node::state_version() const {
  return state_->has_state ? state_->cluster_state.version() : 0;
}

void Node::CopySummaries(std::vector<CopySummary>* out) const {
  out->clear();
  for (const auto& [key, copy] : state_->copies) {
    CopySummary& s = out->emplace_back();
    s.index_uuid = &key.first;
    s.shard = key.second;
    s.role = RoleName(copy->role, copy->stale);
    const ShardEngine::Counters counters = copy->engine->counters();
    s.primary_term = counters.term;
    s.max_seq_no = counters.max_seq_no;
    s.local_checkpoint = counters.local_checkpoint;
    s.global_checkpoint = counters.global_checkpoint;
    s.docs = counters.docs;
    s.in_sync = copy->in_sync;
  }
}

const pb::ClusterState& Node::cluster_state() const {
  return state_->cluster_state;
}

const std::string& Node::id() const { return state_->options.id; }

const ShardEngine* Node::engine(const std::string& index, int shard) const {
  if (const pb::IndexMeta* meta = state_->FindIndex(index)) {
    auto it = state_->copies.find(CopyKeyView(meta->uuid(), shard));
    if (it != state_->copies.end()) return it->second->engine.get();
  }
  for (const auto& [key, copy] : state_->copies) {
    if (copy->index == index && key.second == shard) return copy->engine.get();
  }
  return nullptr;
}

}  // namespace seqsim
