// Node::State: GET. Routes a GET to a copy (the primary, or the copy a
// preference picks), forwards it to another node or retries it on the next
// cluster state, and reads a local copy (real-time, from the engine). The
// primary's real-time read waits for the read barrier (read_barrier.cc).
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"
#include "node/logic/preference.h"
#include "node/logic/routing.h"

namespace seqsim {

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
  const pb::ShardCopy* primary = routing ? PrimaryCopy(*routing) : nullptr;
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
      routing ? PickCopy(*preference, StartedCopyNodes(*routing), me(),
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

}  // namespace seqsim
