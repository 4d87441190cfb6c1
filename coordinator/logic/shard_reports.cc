// Shard-failed and shard-started reports to the coordinator. A report whose
// primary term is not the shard's current one is refused (stale, R8): only a
// request from the current term removes a copy from the in-sync set. A
// shard-started report of the copy's current allocation ends its recovery: the
// copy is started and joins the in-sync set (R9). See coordinator_state.h.
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
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {

absl::Status Coordinator::State::FindShard(const pb::ShardRef& ref,
                                           pb::ClusterState* state,
                                           pb::IndexMeta** index,
                                           pb::ShardRouting** routing) {
  *index = FindIndexByName(state, ref.index());
  if (*index == nullptr) return IndexNotFound(ref.index());
  for (pb::ShardRouting& r : *(*index)->mutable_shards()) {
    if (r.shard() == ref.shard()) {
      *routing = &r;
      return absl::OkStatus();
    }
  }
  return EsStatus(
      absl::StatusCode::kNotFound, "shard_not_found_exception",
      absl::StrCat("no such shard ", ShardName(ref.index(), ref.shard())), 404);
}

absl::Status Coordinator::State::CheckTerm(const pb::ShardRouting& routing,
                                           const pb::ShardRef& ref,
                                           int64_t term) {
  if (term == routing.primary_term()) return absl::OkStatus();
  return EsStatus(absl::StatusCode::kFailedPrecondition,
                  "no_longer_primary_shard_exception",
                  absl::StrCat(ShardName(ref.index(), ref.shard()),
                               " no longer primary: primary term [", term,
                               "] did not match current primary term [",
                               routing.primary_term(), "]"),
                  409);
}

template <typename Response>
bool Coordinator::State::FindCurrentShard(
    const pb::ShardRef& ref, int64_t term, const std::string& what,
    const std::string& from, pb::ClusterState* next, pb::IndexMeta** index,
    pb::ShardRouting** routing, Response* response) {
  absl::Status found = FindShard(ref, next, index, routing);
  if (!found.ok()) {
    *response->mutable_error() = ToError(found, ref.index(), "_na_");
    return false;
  }
  absl::Status current = CheckTerm(**routing, ref, term);
  if (current.ok()) return true;
  Log(absl::StrCat("refuse ", what, " on ",
                   ShardName((*index)->name(), (*routing)->shard()), from,
                   ": term ", term, " is stale (current ",
                   (*routing)->primary_term(), ")"));
  *response->mutable_error() =
      ToError(current, (*index)->name(), (*index)->uuid(), (*routing)->shard());
  response->set_state_version(cluster.version());
  return false;
}

pb::Envelope Coordinator::State::HandleShardFailed(
    const pb::ShardFailedRequest& request) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_shard_failed_response();
  pb::ClusterState next = cluster;
  pb::IndexMeta* index = nullptr;
  pb::ShardRouting* routing = nullptr;
  if (!FindCurrentShard(
          request.shard(), request.primary_term(),
          absl::StrCat("shard-failed for ", request.failed_node()),
          absl::StrCat(" from ", request.sender()), &next, &index, &routing,
          response)) {
    return reply;
  }
  const std::string shard = ShardName(index->name(), routing->shard());
  if (CopyOnNode(routing, request.failed_node()) == nullptr) {
    response->set_acknowledged(true);  // already removed
    response->set_state_version(cluster.version());
    return reply;
  }
  std::string why =
      absl::StrCat("shard failed: ", request.failed_node(), "'s copy of ",
                   shard, " reported by ", request.sender(), " in term ",
                   request.primary_term(), ": ", request.reason());
  RemoveCopy(&next, *index, routing, request.failed_node(), why);
  Allocate(&next);
  absl::Status committed = Commit(std::move(next), why);
  if (!committed.ok()) {
    *response->mutable_error() = ToError(committed);
    return reply;
  }
  response->set_acknowledged(true);
  response->set_state_version(cluster.version());
  return reply;
}

pb::Envelope Coordinator::State::HandleShardStarted(
    const pb::ShardStartedRequest& request) {
  pb::Envelope reply = Reply();
  auto* response = reply.mutable_shard_started_response();
  pb::ClusterState next = cluster;
  pb::IndexMeta* index = nullptr;
  pb::ShardRouting* routing = nullptr;
  if (!FindCurrentShard(request.shard(), request.primary_term(),
                        absl::StrCat("shard-started for ", request.node_id()),
                        "", &next, &index, &routing, response)) {
    return reply;
  }
  const std::string shard = ShardName(index->name(), routing->shard());
  pb::ShardCopy* copy = CopyOnNode(routing, request.node_id());
  if (copy == nullptr) {
    *response->mutable_error() =
        ToError(EsStatus(absl::StatusCode::kFailedPrecondition,
                         "shard_not_found_exception",
                         absl::StrCat("no copy of ", shard, " is assigned to ",
                                      request.node_id()),
                         409),
                index->name(), index->uuid(), routing->shard());
    response->set_state_version(cluster.version());
    return reply;
  }
  // A shard-started of an earlier assignment (the copy failed and was
  // assigned again meanwhile, so it has not recovered since): refused.
  if (!copy->allocation_id().empty() &&
      request.allocation_id() != copy->allocation_id()) {
    Log(absl::StrCat("refuse shard-started for ", request.node_id(), " on ",
                     shard, ": allocation [", request.allocation_id(),
                     "] is not its current allocation [", copy->allocation_id(),
                     "]"));
    *response->mutable_error() = ToError(
        EsStatus(
            absl::StatusCode::kFailedPrecondition, "shard_not_found_exception",
            absl::StrCat("no copy of ", shard, " with allocation [",
                         request.allocation_id(), "] on ", request.node_id()),
            409),
        index->name(), index->uuid(), routing->shard());
    response->set_state_version(cluster.version());
    return reply;
  }
  if (IsStartedInSync(*routing, *copy)) {
    response->set_acknowledged(true);  // already started
    response->set_state_version(cluster.version());
    return reply;
  }
  copy->set_state(pb::ShardCopy::STARTED);
  if (!InInSyncSet(*routing, request.node_id())) {
    routing->add_in_sync(request.node_id());
  }
  std::string why = absl::StrCat(
      request.node_id(), "'s copy of ", shard,
      " recovered to local checkpoint ", request.local_checkpoint(),
      ": started and in sync (term ", request.primary_term(), ")");
  absl::Status committed = Commit(std::move(next), why);
  if (!committed.ok()) {
    *response->mutable_error() = ToError(committed);
    return reply;
  }
  response->set_acknowledged(true);
  response->set_state_version(cluster.version());
  return reply;
}

}  // namespace seqsim
