// The coordinator's index admin: create index (Elasticsearch's name rules,
// shard and replica counts, cluster.max_shards_per_node), delete index, and
// alias updates applied all or none. Not a replication rule: the index-admin
// API family. See coordinator_state.h.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "common/index_name.h"
#include "common/validation.h"
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {
namespace {

constexpr int kMaxShards = 1024;

// Elasticsearch's cluster.max_shards_per_node (default 1000) times the nodes
// in the cluster: a new index whose copies (shards x (1 + replicas), counted in
// 64 bits so that no replica count overflows) would pass it is refused with
// ES's 400 validation_exception (ShardLimitValidator).
constexpr int64_t kMaxShardsPerNode = 1000;

absl::Status CheckShardLimitAdding(const pb::ClusterState& state,
                                   int64_t adding) {
  int64_t open = 0;
  for (const pb::IndexMeta& index : state.indices()) {
    open += static_cast<int64_t>(index.number_of_shards()) *
            (1 + static_cast<int64_t>(index.number_of_replicas()));
  }
  const int64_t limit =
      kMaxShardsPerNode * std::max<int64_t>(1, state.nodes_size());
  if (open + adding <= limit) return absl::OkStatus();
  return EsStatus(
      absl::StatusCode::kInvalidArgument, "validation_exception",
      absl::StrCat("Validation Failed: 1: this action would add [", adding,
                   "] shards, but this cluster currently has [", open, "]/[",
                   limit, "] maximum normal shards open;"),
      400);
}

absl::Status CheckShardLimit(const pb::ClusterState& state, int shards,
                             int replicas) {
  return CheckShardLimitAdding(state, static_cast<int64_t>(shards) *
                                          (1 + static_cast<int64_t>(replicas)));
}

pb::Error IndexError(const absl::Status& status, const std::string& index,
                     const std::string& uuid) {
  return ToError(status, index, uuid.empty() ? "_na_" : uuid);
}

}  // namespace

pb::Envelope Coordinator::State::HandleCreateIndex(
    const pb::CreateIndexRequest& request) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_create_index_response();
  const std::string& name = request.index();
  response->set_index(name);
  // Elasticsearch's rules (common/index_name.h), in the same (Elasticsearch
  // 8) wording as the REST layer, which validates first.
  absl::Status valid = ValidateIndexName(name);
  if (!valid.ok()) {
    *response->mutable_error() = IndexError(valid, name, "");
    return reply;
  }
  for (const pb::IndexMeta& index : cluster.indices()) {
    if (std::find(index.aliases().begin(), index.aliases().end(), name) !=
        index.aliases().end()) {
      *response->mutable_error() =
          IndexError(EsStatus(absl::StatusCode::kInvalidArgument,
                              "invalid_index_name_exception",
                              absl::StrCat("Invalid index name [", name,
                                           "], already exists as alias")),
                     name, "");
      return reply;
    }
  }
  if (pb::IndexMeta* existing = FindIndexByName(&cluster, name)) {
    if (request.auto_created()) {
      response->set_acknowledged(true);
      response->set_shards_acknowledged(true);
      return reply;
    }
    *response->mutable_error() =
        IndexError(EsStatus(absl::StatusCode::kAlreadyExists,
                            "resource_already_exists_exception",
                            absl::StrCat("index [", name, "/", existing->uuid(),
                                         "] already exists"),
                            400),
                   name, existing->uuid());
    return reply;
  }
  int shards = request.number_of_shards() == 0 ? 1 : request.number_of_shards();
  int replicas =
      request.number_of_replicas() == -1 ? 1 : request.number_of_replicas();
  if (shards < 1 || shards > kMaxShards) {
    *response->mutable_error() =
        IndexError(IllegalArgument(absl::StrCat(
                       "Failed to parse value [", shards,
                       "] for setting [index.number_of_shards] must be ",
                       shards < 1 ? ">= 1" : "<= 1024")),
                   name, "");
    return reply;
  }
  if (replicas < 0) {
    *response->mutable_error() =
        IndexError(IllegalArgument(absl::StrCat(
                       "Failed to parse value [", replicas,
                       "] for setting [index.number_of_replicas] must be "
                       ">= 0")),
                   name, "");
    return reply;
  }
  if (absl::Status limit = CheckShardLimit(cluster, shards, replicas);
      !limit.ok()) {
    *response->mutable_error() = IndexError(limit, name, "");
    return reply;
  }
  // The body's aliases, set with the index: an alias may not name an index
  // (this one included), as ApplyAliasActions words it.
  std::vector<std::string> aliases(request.aliases().begin(),
                                   request.aliases().end());
  std::sort(aliases.begin(), aliases.end());
  aliases.erase(std::unique(aliases.begin(), aliases.end()), aliases.end());
  for (const std::string& alias : aliases) {
    if (alias == name || FindIndexByName(&cluster, alias) != nullptr) {
      *response->mutable_error() = IndexError(
          EsStatus(absl::StatusCode::kInvalidArgument,
                   "invalid_alias_name_exception",
                   absl::StrCat("Invalid alias name [", alias,
                                "]: an index or data stream exists with the "
                                "same name as the alias")),
          name, "");
      return reply;
    }
  }
  pb::ClusterState next = cluster;
  pb::IndexMeta* index = next.add_indices();
  index->set_name(name);
  index->set_uuid(NewUuid(env));
  index->set_number_of_shards(shards);
  index->set_number_of_replicas(replicas);
  index->set_refresh_interval_ms(request.refresh_interval_ms());
  index->set_max_result_window(request.max_result_window());
  index->set_creation_date_ms(env->WallMillis());
  for (int i = 0; i < shards; ++i) index->add_shards()->set_shard(i);
  for (const std::string& alias : aliases) *index->add_aliases() = alias;
  std::string why = absl::StrCat(
      "create index [", name, "/", index->uuid(), "] with ", shards,
      " shard(s) and ", replicas, " replica(s)",
      request.auto_created() ? " (auto-created)" : "",
      aliases.empty()
          ? ""
          : absl::StrCat(" and alias(es) [", absl::StrJoin(aliases, ","), "]"));
  Log(why);
  Allocate(&next);
  absl::Status committed = Commit(std::move(next), why);
  if (!committed.ok()) {
    *response->mutable_error() = IndexError(committed, name, "");
    return reply;
  }
  bool primaries_started = true;
  for (const pb::ShardRouting& routing :
       FindIndexByName(&cluster, name)->shards()) {
    bool started = false;
    for (const pb::ShardCopy& copy : routing.copies()) {
      if (copy.primary() && copy.state() == pb::ShardCopy::STARTED)
        started = true;
    }
    primaries_started = primaries_started && started;
  }
  response->set_acknowledged(true);
  response->set_shards_acknowledged(primaries_started);
  return reply;
}

// Alias actions (POST /_aliases, PUT/DELETE /{index}/_alias/{name}) and
// dynamic settings (PUT /{index}/_settings) on a copy `next` of the state:
// every action applies, in order, or none does (as Elasticsearch's
// MetadataIndexAliasesService and MetadataUpdateSettingsService). An error
// names the first action that cannot apply.
absl::Status Coordinator::State::ApplyAliasActions(
    const pb::UpdateIndicesRequest& request, pb::ClusterState* next,
    std::vector<std::string>* changes, pb::Error* error) {
  for (const pb::AliasAction& action : request.alias_actions()) {
    pb::IndexMeta* index = FindIndexByName(next, action.index());
    if (index == nullptr) {
      *error = IndexError(IndexNotFound(action.index()), action.index(), "");
      return absl::InvalidArgumentError("alias action");
    }
    auto* aliases = index->mutable_aliases();
    auto at = std::find(aliases->begin(), aliases->end(), action.alias());
    if (action.remove()) {
      if (at == aliases->end()) {
        *error = ToError(
            EsStatus(absl::StatusCode::kNotFound, "aliases_not_found_exception",
                     absl::StrCat("aliases [", action.alias(), "] missing")));
        return absl::InvalidArgumentError("alias action");
      }
      aliases->erase(at);
      changes->push_back(absl::StrCat("remove alias [", action.alias(),
                                      "] from [", action.index(), "]"));
      continue;
    }
    if (FindIndexByName(next, action.alias()) != nullptr) {
      *error = IndexError(
          EsStatus(absl::StatusCode::kInvalidArgument,
                   "invalid_alias_name_exception",
                   absl::StrCat("Invalid alias name [", action.alias(),
                                "]: an index or data stream exists with the "
                                "same name as the alias")),
          index->name(), index->uuid());
      return absl::InvalidArgumentError("alias action");
    }
    if (at == aliases->end()) {
      *aliases->Add() = action.alias();
      std::sort(aliases->begin(), aliases->end());
    }
    changes->push_back(absl::StrCat("add alias [", action.alias(), "] to [",
                                    action.index(), "]"));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::State::ApplySettings(
    const pb::UpdateIndicesRequest& request, pb::ClusterState* next,
    std::vector<std::string>* changes, pb::Error* error) {
  int64_t adding = 0;
  for (const std::string& name : request.settings_indices()) {
    pb::IndexMeta* index = FindIndexByName(next, name);
    if (index == nullptr) {
      *error = IndexError(IndexNotFound(name), name, "");
      return absl::InvalidArgumentError("settings");
    }
    if (request.has_refresh_interval_ms() &&
        index->refresh_interval_ms() != request.refresh_interval_ms()) {
      index->set_refresh_interval_ms(request.refresh_interval_ms());
      changes->push_back(absl::StrCat(
          "set index.refresh_interval of [", name, "] to ",
          request.refresh_interval_ms() == 0 ? std::string("the default (1s)")
          : request.refresh_interval_ms() < 0
              ? std::string("-1 (no scheduled refresh)")
              : absl::StrCat(request.refresh_interval_ms(), "ms")));
    }
    if (request.has_max_result_window() &&
        index->max_result_window() != request.max_result_window()) {
      index->set_max_result_window(request.max_result_window());
      changes->push_back(
          absl::StrCat("set index.max_result_window of [", name, "] to ",
                       request.max_result_window() == 0
                           ? std::string("the default (10000)")
                           : absl::StrCat(request.max_result_window())));
    }
    if (request.has_number_of_replicas() &&
        index->number_of_replicas() != request.number_of_replicas()) {
      adding += static_cast<int64_t>(index->number_of_shards()) *
                (request.number_of_replicas() - index->number_of_replicas());
      changes->push_back(absl::StrCat("set index.number_of_replicas of [", name,
                                      "] from ", index->number_of_replicas(),
                                      " to ", request.number_of_replicas()));
      index->set_number_of_replicas(request.number_of_replicas());
      for (pb::ShardRouting& routing : *index->mutable_shards()) {
        RemoveExcessReplicas(next, *index, &routing);
      }
    }
  }
  if (adding > 0) {
    // Elasticsearch checks the shard limit on a replica increase too.
    if (absl::Status limit = CheckShardLimitAdding(cluster, adding);
        !limit.ok()) {
      *error = ToError(limit);
      return limit;
    }
    Allocate(next);
  }
  return absl::OkStatus();
}

pb::Envelope Coordinator::State::HandleUpdateIndices(
    const pb::UpdateIndicesRequest& request) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_update_indices_response();
  pb::ClusterState next = cluster;
  std::vector<std::string> changes;
  if (!ApplyAliasActions(request, &next, &changes, response->mutable_error())
           .ok() ||
      !ApplySettings(request, &next, &changes, response->mutable_error())
           .ok()) {
    return reply;
  }
  if (changes.empty()) {  // Elasticsearch acknowledges a no-op update
    response->set_acknowledged(true);
    return reply;
  }
  const std::string why = absl::StrJoin(changes, ", ");
  Log(why);
  absl::Status committed = Commit(std::move(next), why);
  if (!committed.ok()) {
    *response->mutable_error() = ToError(committed);
    return reply;
  }
  response->set_acknowledged(true);
  return reply;
}

pb::Envelope Coordinator::State::HandleDeleteIndex(
    const pb::DeleteIndexRequest& request) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_delete_index_response();
  const std::string& name = request.index();
  pb::ClusterState next = cluster;
  auto* indices = next.mutable_indices();
  auto it =
      std::find_if(indices->begin(), indices->end(),
                   [&](const pb::IndexMeta& i) { return i.name() == name; });
  if (it == indices->end()) {
    *response->mutable_error() = IndexError(IndexNotFound(name), name, "");
    return reply;
  }
  std::string why = absl::StrCat("delete index [", name, "/", it->uuid(), "]");
  indices->erase(it);
  absl::Status committed = Commit(std::move(next), why);
  if (!committed.ok()) {
    *response->mutable_error() = ToError(committed);
    return reply;
  }
  PruneHoldoffs();
  response->set_acknowledged(true);
  return reply;
}

}  // namespace seqsim
