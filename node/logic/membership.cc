// Node::State: membership. Joins the coordinator with the copies on disk,
// heartbeats (joins again when the coordinator forgot this node), fetches a
// missed cluster state, and answers reads of the cluster state
// (_cluster/health, _cat) from the applied state or the coordinator's.
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::SendJoin() {
  if (join_in_flight) return;
  join_in_flight = true;
  pb::Envelope envelope;
  pb::JoinRequest* join = envelope.mutable_join();
  join->mutable_node()->set_id(me());
  join->mutable_node()->set_grpc_address(options.grpc_address);
  join->mutable_node()->set_rest_address(options.rest_address);
  join->mutable_node()->set_alive(true);
  // After a first successful join this process kept its copies intact.
  join->set_reconnect(joined);
  for (const auto& [key, copy] : copies) {
    pb::LocalShardInfo* info = join->add_shards();
    info->mutable_shard()->set_index(copy->index);
    info->mutable_shard()->set_shard(key.second);
    info->set_index_uuid(key.first);
    info->set_primary_term(copy->engine->term());
    info->set_max_seq_no(copy->engine->max_seq_no());
    info->set_local_checkpoint(copy->engine->local_checkpoint());
  }
  Log(absl::StrCat(me(), " joins the cluster with ", copies.size(),
                   " shard copies"));
  Send(
      kCoordinatorId, std::move(envelope),
      [this](const absl::StatusOr<pb::Envelope>& reply) {
        join_in_flight = false;
        if (!reply.ok() || !reply->has_join_response() ||
            HasError(reply->join_response().error())) {
          coordinator_reachable = false;
          After(RetryDelay(), [this]() { SendJoin(); });
          return;
        }
        // A reply to this node's own call to the coordinator.
        if (!ApplyCheckedState(reply->join_response().state(), kCoordinatorId)
                 .ok()) {
          coordinator_reachable = false;
          After(RetryDelay(), [this]() { SendJoin(); });
          return;
        }
        joined = true;
        coordinator_reachable = true;
        heartbeat_failed = false;
        StartHeartbeats();
      },
      options.rpc_timeout);
}

void Node::State::StartHeartbeats() {
  if (heartbeat_running) return;
  heartbeat_running = true;
  After(options.heartbeat_interval, [this]() { Heartbeat(); });
  After(options.heartbeat_interval, [this]() { GlobalCheckpointSyncTick(); });
  if (!options.fsync_per_request)
    After(kAsyncSyncInterval, [this]() { AsyncSyncTick(); });
}

void Node::State::Heartbeat() {
  After(options.heartbeat_interval, [this]() { Heartbeat(); });
  if (join_in_flight) return;
  pb::Envelope envelope;
  envelope.mutable_heartbeat()->set_node_id(me());
  envelope.mutable_heartbeat()->set_state_version(
      has_state ? cluster_state.version() : 0);
  Send(
      kCoordinatorId, std::move(envelope),
      [this](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() || !reply->has_heartbeat_response()) {
          if (!heartbeat_failed) {
            Log(LogMark::kRoutine,
                absl::StrCat(me(),
                             " misses a heartbeat reply from the coordinator"));
          }
          heartbeat_failed = true;
          coordinator_reachable = false;
          return;
        }
        coordinator_reachable = true;
        const pb::HeartbeatResponse& response = reply->heartbeat_response();
        if (response.rejoin() || heartbeat_failed) {
          Log(absl::StrCat(
              me(), response.rejoin()
                        ? " is unknown to the coordinator: joins again"
                        : " reaches the coordinator again: joins again"));
          heartbeat_failed = false;
          SendJoin();
          return;
        }
        if (response.state_version() >
            (has_state ? cluster_state.version() : 0)) {
          FetchClusterState();
        }
      },
      options.rpc_timeout);
}

void Node::State::HandleGetClusterState(
    const pb::GetClusterStateRequest& request, RespondFn respond) {
  pb::Envelope envelope;
  pb::GetClusterStateResponse* response =
      envelope.mutable_get_cluster_state_response();
  if (!has_state) {
    *response->mutable_error() = ToError(
        EsStatus(absl::StatusCode::kUnavailable, "cluster_block_exception",
                 "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
                 "initialized];",
                 503));
    respond(std::move(envelope));
    return;
  }
  if (!request.from_coordinator()) {
    *response->mutable_state() = cluster_state;
    respond(std::move(envelope));
    return;
  }
  coordinator_state_readers.push_back(std::move(respond));
  if (coordinator_state_readers.size() > 1) return;  // joins the read
  pb::Envelope ask;
  ask.mutable_get_cluster_state();
  Send(
      kCoordinatorId, std::move(ask),
      [this](const absl::StatusOr<pb::Envelope>& reply) {
        pb::Envelope envelope;
        pb::GetClusterStateResponse* response =
            envelope.mutable_get_cluster_state_response();
        if (reply.ok() && reply->has_get_cluster_state_response() &&
            reply->get_cluster_state_response().state().version() > 0) {
          *response->mutable_state() =
              reply->get_cluster_state_response().state();
        } else {
          *response->mutable_error() = ToError(EsStatus(
              absl::StatusCode::kUnavailable, "master_not_discovered_exception",
              reply.ok() ? "the coordinator has no cluster state"
                         : std::string(reply.status().message()),
              503));
        }
        std::vector<RespondFn> readers;
        readers.swap(coordinator_state_readers);
        for (size_t i = 0; i + 1 < readers.size(); ++i) {
          readers[i](pb::Envelope(envelope));
        }
        readers.back()(std::move(envelope));
      },
      options.rpc_timeout);
}

void Node::State::FetchClusterState() {
  pb::Envelope envelope;
  envelope.mutable_get_cluster_state();
  Send(
      kCoordinatorId, std::move(envelope),
      [this](const absl::StatusOr<pb::Envelope>& reply) {
        if (reply.ok() && reply->has_get_cluster_state_response()) {
          (void)ApplyCheckedState(reply->get_cluster_state_response().state(),
                                  kCoordinatorId);
        }
      },
      options.rpc_timeout);
}

}  // namespace seqsim
