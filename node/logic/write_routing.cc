// Node::State: client writes, the coordinating side. Routes a write to its
// shard's primary (locally or forwarded to the primary's node), creates a
// missing index, routes a write again when it certainly was not executed and
// answers an unknown outcome when it cannot know (R12), and runs bulk requests;
// with batch_per_flush the writes of one executor batch travel in one request
// per target (issue 15).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"
#include "node/logic/routing.h"

namespace seqsim {

namespace {

int StartedCopies(const pb::ShardRouting& routing) {
  int started = 0;
  for (const auto& copy : routing.copies()) {
    if (copy.state() == pb::ShardCopy::STARTED) ++started;
  }
  return started;
}

}  // namespace

void Node::State::StartWrite(
    const pb::WriteRequest& request, bool forwarded,
    absl::AnyInvocable<void(pb::WriteResponse&&)> done) {
  auto ctx = std::make_shared<WriteCtx>();
  absl::Duration timeout = request.timeout_ms() > 0
                               ? absl::Milliseconds(request.timeout_ms())
                               : options.write_timeout;
  ctx->deadline = env->Now() + timeout;
  ctx->request = request;
  ctx->forwarded = forwarded;
  ctx->done = std::move(done);
  RouteWrite(ctx);
}

void Node::State::FinishWrite(const std::shared_ptr<WriteCtx>& ctx,
                              pb::WriteResponse&& response) {
  if (!ctx->done) return;
  auto done = std::move(ctx->done);
  ctx->done = nullptr;
  if (response.index().empty()) response.set_index(ctx->request.index());
  if (response.id().empty()) response.set_id(ctx->request.id());
  done(std::move(response));
}

void Node::State::FailWrite(const std::shared_ptr<WriteCtx>& ctx,
                            pb::Error error) {
  pb::WriteResponse response;
  *response.mutable_error() = std::move(error);
  FinishWrite(ctx, std::move(response));
}

void Node::State::RetryWrite(const std::shared_ptr<WriteCtx>& ctx,
                             pb::Error why) {
  ctx->last_error = std::move(why);
  if (env->Now() >= ctx->deadline) {
    pb::Error error = ctx->last_error;
    if (error.type() != kNoStateType) {
      error.set_reason(absl::StrCat(error.reason(), " Timeout: [",
                                    absl::FormatDuration(options.write_timeout),
                                    "]"));
    }
    FailWrite(ctx, std::move(error));
    return;
  }
  RetryLater([this, ctx]() { RouteWrite(ctx); });
}

void Node::State::RouteWrite(const std::shared_ptr<WriteCtx>& ctx) {
  if (!ctx->done) return;  // answered meanwhile (R12: abandoned forward)
  if (!has_state) {
    RetryWrite(ctx, NoStateError());
    return;
  }
  const pb::WriteRequest& request = ctx->request;
  const pb::IndexMeta* index = FindIndex(request.index());
  if (index == nullptr) {
    if (!ctx->create_sent) {
      ctx->create_sent = true;
      AutoCreateIndex(ctx);
      return;
    }
    RetryWrite(ctx, RetryableError(absl::StrCat("[", request.index(),
                                                "] index is being created")));
    return;
  }
  const int shard = ShardForRouting(
      request.routing().empty() ? request.id() : request.routing(),
      index->number_of_shards());
  ctx->request.set_shard(shard);
  const pb::ShardRouting* routing = FindRouting(*index, shard);
  const pb::ShardCopy* primary = routing ? PrimaryCopy(*routing) : nullptr;
  if (primary == nullptr || primary->state() != pb::ShardCopy::STARTED) {
    RetryWrite(ctx,
               RetryableError(absl::StrCat("[", index->name(), "][", shard,
                                           "] primary shard is not active")));
    return;
  }
  if (primary->node_id() != me()) {
    if (ctx->forwarded) {
      // The sender routed by an older or newer state than ours; it retries.
      FailWrite(ctx,
                RetryableError(absl::StrCat(me(), " is not the primary of ",
                                            ShardName(index->name(), shard))));
      return;
    }
    ForwardWrite(ctx, primary->node_id(), routing->primary_term());
    return;
  }
  // wait_for_active_shards: a check before the write starts.
  int required = 1;
  const std::string& wait = request.wait_for_active_shards();
  const int total = 1 + index->number_of_replicas();
  if (wait == "all") {
    required = total;
  } else if (!wait.empty() && (!absl::SimpleAtoi(wait, &required) ||
                               required < 0 || required > total)) {
    FailWrite(ctx, ToError(IllegalArgument(absl::StrCat(
                       "invalid wait_for_active_shards[", wait,
                       "]: cannot be greater than number of shard copies [",
                       total, "]"))));
    return;
  }
  const int active = StartedCopies(*routing);
  if (active < required) {
    RetryWrite(ctx, RetryableError(absl::StrCat(
                        "[", index->name(), "][", shard,
                        "] Not enough active copies to meet shard count of [",
                        wait == "all" ? "ALL" : absl::StrCat(required),
                        "] (have ", active, ", needed ", required, ").")));
    return;
  }
  LocalCopy* copy = FindCopy(index->uuid(), shard);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale) {
    // Nothing was stamped: a forwarded write goes back to its coordinating
    // node at once, which routes it by its own (maybe newer) state.
    pb::Error why = RetryableError(absl::StrCat(
        ShardName(index->name(), shard), " primary on ", me(),
        copy != nullptr && copy->stale ? " is stale" : " is not ready"));
    if (ctx->forwarded) {
      FailWrite(ctx, std::move(why));
    } else {
      RetryWrite(ctx, std::move(why));
    }
    return;
  }
  ExecutePrimaryWrite(copy, ctx);
}

void Node::State::AutoCreateIndex(const std::shared_ptr<WriteCtx>& ctx) {
  pb::Envelope envelope;
  pb::CreateIndexRequest* create = envelope.mutable_create_index();
  create->set_index(ctx->request.index());
  create->set_number_of_shards(1);
  create->set_number_of_replicas(1);
  create->set_auto_created(true);
  Log(absl::StrCat(me(), " auto-creates index [", ctx->request.index(), "]"));
  Send(
      kCoordinatorId, std::move(envelope),
      [this, ctx](const absl::StatusOr<pb::Envelope>& reply) {
        if (reply.ok() && reply->has_create_index_response()) {
          const pb::Error& error = reply->create_index_response().error();
          if (HasError(error) &&
              error.type() != "resource_already_exists_exception") {
            FailWrite(ctx, error);
            return;
          }
        } else {
          ctx->create_sent = false;  // ask again on the next attempt
        }
        RetryWrite(ctx,
                   RetryableError(absl::StrCat("[", ctx->request.index(),
                                               "] index is being created")));
      },
      options.rpc_timeout);
}

void Node::State::CheckForwards() {
  std::vector<std::shared_ptr<WriteCtx>> replaced;
  for (auto it = forwards.begin(); it != forwards.end();) {
    const WriteCtx& ctx = *it->second;
    const pb::IndexMeta* index = FindIndex(ctx.request.index());
    const pb::ShardRouting* routing =
        index ? FindRouting(*index, ctx.request.shard()) : nullptr;
    const pb::ShardCopy* primary = routing ? PrimaryCopy(*routing) : nullptr;
    if (primary != nullptr && primary->node_id() == ctx.forward_node &&
        routing->primary_term() == ctx.forward_term) {
      ++it;
      continue;
    }
    replaced.push_back(std::move(it->second));
    it = forwards.erase(it);
  }
  for (const std::shared_ptr<WriteCtx>& ctx : replaced) {
    ctx->forward_attempt = 0;
    const pb::IndexMeta* index = FindIndex(ctx->request.index());
    Log(absl::StrCat(me(), " stops waiting for ", ctx->forward_node,
                     " on a write of [", ctx->request.index(), "][",
                     ctx->request.id(), "]: cluster state version ",
                     cluster_state.version(), " replaced it as primary"));
    FailWrite(ctx, OutcomeUnknownError(
                       absl::StrCat("primary node ", ctx->forward_node,
                                    " was replaced (primary term [",
                                    ctx->forward_term, "]) before it answered"),
                       ctx->request.index(), index ? index->uuid() : "",
                       ctx->request.shard()));
  }
}

void Node::State::ForwardWrite(const std::shared_ptr<WriteCtx>& ctx,
                               const std::string& primary_node, int64_t term) {
  const uint64_t attempt = next_write_id++;
  ctx->forward_attempt = attempt;
  ctx->forward_node = primary_node;
  ctx->forward_term = term;
  forwards[attempt] = ctx;
  pb::Envelope envelope;
  *envelope.mutable_write() = ctx->request;
  const absl::Duration remaining =
      std::max(ctx->deadline - env->Now(), absl::Milliseconds(1));
  envelope.mutable_write()->set_timeout_ms(static_cast<int32_t>(
      std::max<int64_t>(1, absl::ToInt64Milliseconds(remaining))));
  if (batch_depth > 0 || options.batch_per_flush) {
    QueueForward(primary_node, ctx, attempt, remaining,
                 std::move(*envelope.mutable_write()));
    return;
  }
  Send(
      primary_node, std::move(envelope),
      [this, ctx, primary_node,
       attempt](const absl::StatusOr<pb::Envelope>& reply) {
        OnForwardReply(ctx, primary_node, attempt, reply);
      },
      remaining + options.rpc_timeout);
}

void Node::State::OnForwardReply(const std::shared_ptr<WriteCtx>& ctx,
                                 const std::string& primary_node,
                                 uint64_t attempt,
                                 const absl::StatusOr<pb::Envelope>& reply) {
  if (ctx->forward_attempt != attempt) return;  // abandoned (R12)
  ctx->forward_attempt = 0;
  forwards.erase(attempt);
  if (!reply.ok()) {
    if (NeverDelivered(reply.status())) {
      RetryWrite(ctx, RetryableError(absl::StrCat("primary node ", primary_node,
                                                  " is unreachable")));
      return;
    }
    // The primary may have executed it (its reply was lost, or it
    // crashed after applying): retrying could apply it twice, so the
    // outcome is reported as unknown.
    FailWrite(
        ctx, ToError(EsStatus(
                 reply.status().code() == absl::StatusCode::kDeadlineExceeded
                     ? absl::StatusCode::kDeadlineExceeded
                     : absl::StatusCode::kUnavailable,
                 reply.status().code() == absl::StatusCode::kDeadlineExceeded
                     ? "timeout_exception"
                     : "node_disconnected_exception",
                 absl::StrCat("no reply from primary node ", primary_node, ": ",
                              reply.status().message()),
                 reply.status().code() == absl::StatusCode::kDeadlineExceeded
                     ? 504
                     : 503)));
    return;
  }
  if (!reply->has_write_response()) {
    FailWrite(ctx, ToError(absl::InternalError("unexpected reply to a write")));
    return;
  }
  const pb::WriteResponse& response = reply->write_response();
  if (HasError(response.error()) && response.error().type() == kRetryableType) {
    RetryWrite(ctx, response.error());
    return;
  }
  FinishWrite(ctx, pb::WriteResponse(response));
}

void Node::State::QueueReplication(LocalCopy* copy,
                                   const std::vector<std::string>& targets,
                                   pb::Operation&& op, uint64_t write_id,
                                   bool refresh) {
  PendingReplication* batch = nullptr;
  for (PendingReplication& p : pending_replication) {
    if (p.incarnation == copy->incarnation && p.term == copy->engine->term() &&
        p.targets == targets) {
      batch = &p;
    }
  }
  if (batch == nullptr) {
    batch = &pending_replication.emplace_back();
    batch->incarnation = copy->incarnation;
    batch->term = copy->engine->term();
    batch->targets = targets;
  }
  batch->ops.push_back(std::move(op));
  batch->write_ids.push_back(write_id);
  batch->refresh = batch->refresh || refresh;
}

void Node::State::QueueForward(const std::string& node,
                               const std::shared_ptr<WriteCtx>& ctx,
                               uint64_t attempt, absl::Duration remaining,
                               pb::WriteRequest&& write) {
  PendingForward* batch = nullptr;
  for (PendingForward& p : pending_forwards) {
    if (p.node == node) batch = &p;
  }
  if (batch == nullptr) {
    batch = &pending_forwards.emplace_back();
    batch->node = node;
    batch->remaining = remaining;
  }
  batch->remaining = std::max(batch->remaining, remaining);
  batch->bulk.mutable_bulk()->add_items()->Swap(&write);
  batch->writes.emplace_back(ctx, attempt);
}

void Node::State::SendBatches() {
  std::vector<PendingReplication> replication;
  replication.swap(pending_replication);
  for (PendingReplication& batch : replication) {
    LocalCopy* copy = FindCopy(batch.incarnation);
    // Fenced or closed meanwhile: its writes in flight were failed then.
    if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
        copy->engine->term() != batch.term) {
      continue;
    }
    pb::Envelope replicate = ReplicateEnvelope(*copy);
    for (pb::Operation& op : batch.ops)
      replicate.mutable_replicate()->add_ops()->Swap(&op);
    if (batch.refresh) replicate.mutable_replicate()->set_refresh(true);
    auto ids = std::make_shared<const std::vector<uint64_t>>(
        std::move(batch.write_ids));
    for (size_t i = 0; i < batch.targets.size(); ++i) {
      const std::string& target = batch.targets[i];
      pb::Envelope envelope = i + 1 < batch.targets.size()
                                  ? pb::Envelope(replicate)
                                  : std::move(replicate);
      const uint64_t incarnation = copy->incarnation;
      const PrimaryTerm term = batch.term;
      Send(
          target, std::move(envelope),
          [this, incarnation, target, ids,
           term](const absl::StatusOr<pb::Envelope>& reply) {
            for (uint64_t id : *ids)
              OnReplicaReply(incarnation, target, id, term, reply);
          },
          options.rpc_timeout);
    }
  }
  std::vector<PendingForward> forwarded;
  forwarded.swap(pending_forwards);
  for (PendingForward& batch : forwarded) {
    // Items answered meanwhile (R12: a newer state replaced the primary)
    // are not sent: their "unknown" answer stays true.
    pb::Envelope bulk;
    std::vector<std::pair<std::shared_ptr<WriteCtx>, uint64_t>> live;
    for (size_t k = 0; k < batch.writes.size(); ++k) {
      if (batch.writes[k].first->forward_attempt != batch.writes[k].second)
        continue;
      bulk.mutable_bulk()->add_items()->Swap(
          batch.bulk.mutable_bulk()->mutable_items(static_cast<int>(k)));
      live.push_back(std::move(batch.writes[k]));
    }
    if (live.empty()) continue;
    batch.bulk = std::move(bulk);
    batch.writes = std::move(live);
    auto writes = std::make_shared<
        std::vector<std::pair<std::shared_ptr<WriteCtx>, uint64_t>>>(
        std::move(batch.writes));
    const std::string node = batch.node;
    Send(
        node, std::move(batch.bulk),
        [this, node, writes](const absl::StatusOr<pb::Envelope>& reply) {
          for (size_t k = 0; k < writes->size(); ++k) {
            const auto& [ctx, attempt] = (*writes)[k];
            if (!reply.ok()) {
              OnForwardReply(ctx, node, attempt, reply.status());
              continue;
            }
            pb::Envelope item;
            if (reply->has_bulk_response() &&
                k < static_cast<size_t>(reply->bulk_response().items_size())) {
              *item.mutable_write_response() =
                  reply->bulk_response().items(static_cast<int>(k));
            }
            OnForwardReply(ctx, node, attempt, item);
          }
        },
        batch.remaining + options.rpc_timeout);
  }
  // Read barriers last: their rounds start after the batch's writes went
  // out, so a replica's answer can already cover a write a read saw.
  if (!pending_barriers.empty()) SendReadBarriers();
}

void Node::State::HandleBulk(const pb::BulkRequest& request, bool from_node,
                             RespondFn respond) {
  auto ctx = std::make_shared<BulkCtx>();
  ctx->started_ms = env->WallMillis();
  ctx->respond = std::move(respond);
  ctx->pending = request.items_size() + 1;
  for (int i = 0; i < request.items_size(); ++i) ctx->response.add_items();
  auto finish_one = [this, ctx]() {
    if (--ctx->pending > 0 || !ctx->respond) return;
    ctx->response.set_took_ms(env->WallMillis() - ctx->started_ms);
    pb::Envelope envelope;
    *envelope.mutable_bulk_response() = std::move(ctx->response);
    auto respond = std::move(ctx->respond);
    ctx->respond = nullptr;
    respond(std::move(envelope));
  };
  ++batch_depth;
  for (int i = 0; i < request.items_size(); ++i) {
    StartWrite(request.items(i), from_node,
               [ctx, i, finish_one](pb::WriteResponse&& item) mutable {
                 *ctx->response.mutable_items(i) = std::move(item);
                 finish_one();
               });
  }
  if (--batch_depth == 0 && !options.batch_per_flush) SendBatches();
  finish_one();
}

}  // namespace seqsim
