// Node::State: refresh and search. Each copy refreshes on its own timer
// (index.refresh_interval) and answers refresh=wait_for; _refresh, the search
// of one shard copy and the coordinating node's fan-out over every shard
// (routing, preference, merge).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"
#include "node/logic/preference.h"
#include "node/logic/query.h"
#include "node/logic/routing.h"

namespace seqsim {

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
    bool wanted = request.indices().empty();
    for (const std::string& name : request.indices()) {
      wanted = wanted || copy->index == name;
    }
    if (!wanted) continue;
    // A recovering copy refreshes too (Elasticsearch replicates a refresh to
    // every copy the primary tracks, recovering ones included), so a write
    // it received before `_refresh` is searchable once it is started; it
    // counts as successful only once started.
    RefreshCopy(copy.get());
    if (copy->role != Role::kRecovering) ++refreshed;
  }
  return refreshed;
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
          routing ? PickCopy(*preference, StartedCopyNodes(*routing), me(),
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

}  // namespace seqsim
