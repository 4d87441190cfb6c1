#include "coordinator/logic/coordinator.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {

// A 22-character URL-safe base64 id from 128 random bits, like Elasticsearch's
// UUIDs.
std::string NewUuid(Env* env) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t words[2] = {env->RandomU64(), env->RandomU64()};
  std::string id;
  int bit = 0;
  for (int i = 0; i < 22; ++i) {
    int value = 0;
    for (int b = 0; b < 6; ++b, ++bit) {
      int word = (bit / 64) % 2;
      value = (value << 1) | static_cast<int>((words[word] >> (bit % 64)) & 1u);
    }
    id.push_back(kAlphabet[value]);
  }
  return id;
}

pb::Envelope Coordinator::State::Reply() {
  pb::Envelope reply;
  reply.set_from(kCoordinatorId);
  return reply;
}

pb::Envelope Coordinator::State::ErrorReply(const pb::Envelope& request,
                                            const pb::Error& error) {
  pb::Envelope reply = Reply();
  switch (request.body_case()) {
    case pb::Envelope::kJoin:
      *reply.mutable_join_response()->mutable_error() = error;
      break;
    case pb::Envelope::kHeartbeat:
      *reply.mutable_heartbeat_response()->mutable_error() = error;
      break;
    case pb::Envelope::kShardFailed:
      *reply.mutable_shard_failed_response()->mutable_error() = error;
      break;
    case pb::Envelope::kShardStarted:
      *reply.mutable_shard_started_response()->mutable_error() = error;
      break;
    case pb::Envelope::kCreateIndex:
      *reply.mutable_create_index_response()->mutable_error() = error;
      break;
    case pb::Envelope::kDeleteIndex:
      *reply.mutable_delete_index_response()->mutable_error() = error;
      break;
    case pb::Envelope::kUpdateIndices:
      *reply.mutable_update_indices_response()->mutable_error() = error;
      break;
    case pb::Envelope::kGetClusterState:
      reply.mutable_get_cluster_state_response();
      break;
    default:
      break;
  }
  return reply;
}

Coordinator::Coordinator(Env* env, CoordinatorOptions options)
    : state_(std::make_unique<State>(env, std::move(options))) {}

Coordinator::~Coordinator() {
  if (state_->check_scheduled) state_->env->Cancel(state_->check_timer);
  for (auto& [id, peer] : state_->peers) {
    if (peer.retry_scheduled) state_->env->Cancel(peer.retry_timer);
  }
}

void Coordinator::NodeUnreachable(const std::string& node_id,
                                  absl::Duration observed_at,
                                  const std::string& reason) {
  State& s = *state_;
  if (!s.start_status.ok()) return;
  const pb::NodeInfo* node = FindNodeInfo(s.cluster, node_id);
  if (node == nullptr || !node->alive()) return;
  State::Peer& peer = s.peers[node_id];
  if (peer.last_seen > observed_at) return;  // heard from since: back
  peer.unreachable = reason.empty() ? "is unreachable" : reason;
  s.CheckNodes();
}

void Coordinator::Start() {
  State& s = *state_;
  s.start_status = s.Load();
  if (!s.start_status.ok()) {
    s.Log(absl::StrCat("cannot start: ", s.start_status.ToString()));
    return;
  }
  s.last_check = s.env->Now();
  s.ScheduleCheck();
}

void Coordinator::Handle(const pb::Envelope& request, RespondFn respond) {
  State& s = *state_;
  if (!s.start_status.ok()) {
    respond(s.ErrorReply(
        request, ToError(EsStatus(absl::StatusCode::kInternal, "exception",
                                  absl::StrCat("coordinator failed to start: ",
                                               s.start_status.message()),
                                  500))));
    return;
  }
  switch (request.body_case()) {
    case pb::Envelope::kJoin:
      respond(s.HandleJoin(request.join(), request.from()));
      return;
    case pb::Envelope::kHeartbeat:
      respond(s.HandleHeartbeat(request.heartbeat(), request.from()));
      return;
    case pb::Envelope::kShardFailed:
      respond(s.HandleShardFailed(request.shard_failed()));
      return;
    case pb::Envelope::kShardStarted:
      respond(s.HandleShardStarted(request.shard_started()));
      return;
    case pb::Envelope::kCreateIndex:
      respond(s.HandleCreateIndex(request.create_index()));
      return;
    case pb::Envelope::kDeleteIndex:
      s.AnswerWhenApplied(s.HandleDeleteIndex(request.delete_index()),
                          std::move(respond));
      return;
    case pb::Envelope::kUpdateIndices:
      s.AnswerWhenApplied(s.HandleUpdateIndices(request.update_indices()),
                          std::move(respond));
      return;
    case pb::Envelope::kGetClusterState: {
      pb::Envelope reply = s.Reply();
      *reply.mutable_get_cluster_state_response()->mutable_state() = s.cluster;
      respond(std::move(reply));
      return;
    }
    default: {
      s.Log(absl::StrCat(
          "ignore a request the coordinator does not serve (body ",
          static_cast<int>(request.body_case()), ") from ", request.from()));
      respond(s.Reply());
      return;
    }
  }
}

// Every change is persisted and published as it is made; nothing waits for a
// flush.
void Coordinator::Flush() {}

const pb::ClusterState& Coordinator::state() const { return state_->cluster; }

absl::Status Coordinator::start_status() const { return state_->start_status; }

}  // namespace seqsim
