// The coordinator's persistence and publication of the cluster state: every
// change gets the next version and is persisted before it is published or
// acknowledged (versions strictly increase, across restarts too); each node
// gets the states one at a time, newest last, retried while it is alive; on
// start the persisted state is reloaded (terms and in-sync sets kept, every
// node not alive until it is heard from). See coordinator_state.h.
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
#include "common/validation.h"
#include "coordinator/logic/coordinator_state.h"

namespace seqsim {

bool Coordinator::State::SameContent(pb::ClusterState* next) {
  const int64_t version = next->version();
  next->set_version(cluster.version());
  compare_next.clear();
  compare_current.clear();
  next->AppendToString(&compare_next);
  cluster.AppendToString(&compare_current);
  next->set_version(version);
  return compare_next == compare_current;
}

absl::Status Coordinator::State::Commit(pb::ClusterState next,
                                        const std::string& why, LogMark mark) {
  next.set_version(cluster.version() + 1);
  next.set_coordinator(kCoordinatorId);
  std::string bytes;
  if (!next.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the cluster state");
  }
  absl::Status written =
      env->disk()->WriteFileAtomic(options.state_path, bytes);
  if (!written.ok()) {
    Log(absl::StrCat("could not persist cluster state version ", next.version(),
                     " (", why, "): ", written.ToString(),
                     "; change discarded"));
    return absl::InternalError(absl::StrCat(
        "failed to persist the cluster state: ", written.message()));
  }
  cluster = std::move(next);
  Log(mark,
      absl::StrCat("cluster state version ", cluster.version(), ": ", why));
  for (const pb::NodeInfo& node : cluster.nodes()) {
    if (node.alive()) PublishTo(node.id());
  }
  SettleAcks();  // a node no longer alive is no longer waited for
  return absl::OkStatus();
}

bool Coordinator::State::AppliedByAliveNodes(int64_t version) {
  for (const pb::NodeInfo& node : cluster.nodes()) {
    if (!node.alive()) continue;
    auto peer = peers.find(node.id());
    if (peer == peers.end() || peer->second.applied_version < version)
      return false;
  }
  return true;
}

namespace {

bool IsAcknowledgedAdminReply(const pb::Envelope& reply) {
  if (reply.has_delete_index_response()) {
    return !HasError(reply.delete_index_response().error()) &&
           reply.delete_index_response().acknowledged();
  }
  if (reply.has_update_indices_response()) {
    return !HasError(reply.update_indices_response().error()) &&
           reply.update_indices_response().acknowledged();
  }
  return false;
}

void SetUnacknowledged(pb::Envelope* reply) {
  if (reply->has_delete_index_response())
    reply->mutable_delete_index_response()->set_acknowledged(false);
  if (reply->has_update_indices_response())
    reply->mutable_update_indices_response()->set_acknowledged(false);
}

}  // namespace

void Coordinator::State::AnswerWhenApplied(pb::Envelope reply,
                                           RespondFn respond) {
  const int64_t version = cluster.version();
  if (!IsAcknowledgedAdminReply(reply) || AppliedByAliveNodes(version)) {
    respond(std::move(reply));
    return;
  }
  ack_waiters.push_back(AckWaiter{.version = version,
                                  .deadline = env->Now() + options.ack_timeout,
                                  .reply = std::move(reply),
                                  .respond = std::move(respond)});
  std::weak_ptr<bool> alive = life;
  env->After(options.ack_timeout, [this, alive] {
    if (alive.expired()) return;
    SettleAcks();
  });
}

void Coordinator::State::SettleAcks() {
  if (ack_waiters.empty()) return;
  const absl::Duration now = env->Now();
  std::vector<AckWaiter> ready;
  for (auto it = ack_waiters.begin(); it != ack_waiters.end();) {
    const bool applied = AppliedByAliveNodes(it->version);
    if (applied || now >= it->deadline) {
      if (!applied) {
        Log(absl::StrCat("answers a change of version ", it->version,
                         " unacknowledged: not every alive node applied it "
                         "within ",
                         absl::FormatDuration(options.ack_timeout)));
        SetUnacknowledged(&it->reply);
      }
      ready.push_back(std::move(*it));
      it = ack_waiters.erase(it);
    } else {
      ++it;
    }
  }
  for (AckWaiter& waiter : ready) waiter.respond(std::move(waiter.reply));
}

void Coordinator::State::PublishTo(const std::string& node) {
  Peer& peer = peers[node];
  if (peer.publish_in_flight) return;
  if (peer.retry_scheduled) {
    env->Cancel(peer.retry_timer);
    peer.retry_scheduled = false;
  }
  peer.publish_in_flight = true;
  int64_t version = cluster.version();
  pb::Envelope request;
  request.set_from(kCoordinatorId);
  *request.mutable_publish()->mutable_state() = cluster;
  std::weak_ptr<bool> alive = life;
  env->Send(
      node, std::move(request),
      [this, alive, node, version](const absl::StatusOr<pb::Envelope>& reply) {
        if (alive.expired()) return;
        OnPublishReply(node, version, reply);
      },
      options.rpc_timeout);
}

void Coordinator::State::OnPublishReply(
    const std::string& node, int64_t version,
    const absl::StatusOr<pb::Envelope>& reply) {
  Peer& peer = peers[node];
  peer.publish_in_flight = false;
  bool applied = false;
  if (reply.ok() && reply->has_publish_response() &&
      !HasError(reply->publish_response().error())) {
    peer.applied_version = reply->publish_response().applied_version();
    applied = peer.applied_version >= version;
    peer.publish_failures = 0;
    SettleAcks();
  } else if (peer.publish_failures++ == 0) {
    std::string why = !reply.ok()
                          ? reply.status().ToString(
                                absl::StatusToStringMode::kWithNoExtraData)
                      : reply->has_publish_response()
                          ? reply->publish_response().error().reason()
                          : "unexpected reply";
    Log(absl::StrCat("publication of version ", version, " to ", node,
                     " failed: ", why, "; retrying while it is alive"));
  }
  if (!IsNodeAlive(cluster, node) || peer.applied_version >= cluster.version())
    return;
  if (applied) {
    PublishTo(node);  // a newer state was committed meanwhile
  } else {
    ScheduleRetry(node);
  }
}

void Coordinator::State::ScheduleRetry(const std::string& node) {
  Peer& peer = peers[node];
  if (peer.retry_scheduled) return;
  peer.retry_scheduled = true;
  std::weak_ptr<bool> alive = life;
  peer.retry_timer = env->After(options.check_interval, [this, alive, node] {
    if (alive.expired()) return;
    Peer& p = peers[node];
    p.retry_scheduled = false;
    if (IsNodeAlive(cluster, node) && p.applied_version < cluster.version()) {
      PublishTo(node);
    }
  });
}

absl::Status Coordinator::State::Load() {
  absl::StatusOr<std::string> bytes = env->disk()->ReadFile(options.state_path);
  if (absl::IsNotFound(bytes.status())) {
    pb::ClusterState fresh;
    fresh.set_cluster_name(options.cluster_name);
    fresh.set_cluster_uuid(options.cluster_uuid.empty() ? NewUuid(env)
                                                        : options.cluster_uuid);
    Log(absl::StrCat("no cluster state at [", options.state_path,
                     "]: new cluster [", options.cluster_name, "] uuid [",
                     fresh.cluster_uuid(), "]"));
    return Commit(std::move(fresh), "new cluster");
  }
  if (!bytes.ok()) {
    return absl::Status(
        bytes.status().code(),
        absl::StrCat("cannot read the cluster state file [", options.state_path,
                     "]: ", bytes.status().message()));
  }
  pb::ClusterState loaded;
  if (!loaded.ParseFromString(*bytes) || loaded.cluster_uuid().empty() ||
      loaded.version() < 1) {
    return absl::DataLossError(
        absl::StrCat("the cluster state file [", options.state_path,
                     "] is corrupt (", bytes->size(),
                     " bytes that are not a cluster state); refusing to "
                     "start: restore it or wipe "
                     "the coordinator's data directory"));
  }
  if (!options.cluster_uuid.empty() &&
      loaded.cluster_uuid() != options.cluster_uuid) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the cluster state file [", options.state_path,
        "] belongs to cluster [", loaded.cluster_uuid(),
        "] but the cluster identity names cluster [", options.cluster_uuid,
        "]; refusing to start: use that cluster's identity or wipe the "
        "coordinator's data directory"));
  }
  if (absl::Status valid = ValidateClusterState(loaded); !valid.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the cluster state file [", options.state_path,
        "] holds an invalid cluster state (", valid.message(),
        "); refusing to start: restore it or wipe the coordinator's data "
        "directory"));
  }
  cluster = loaded;
  if (loaded.cluster_name() != options.cluster_name) {
    Log(absl::StrCat("stored cluster name [", loaded.cluster_name(),
                     "] differs from the configured [", options.cluster_name,
                     "]: using the configured one"));
    loaded.set_cluster_name(options.cluster_name);
  }
  const absl::Duration now = env->Now();
  for (pb::NodeInfo& node : *loaded.mutable_nodes()) {
    node.set_alive(false);  // until it heartbeats or joins again
    if (!node.grpc_address().empty()) {
      env->SetPeerAddress(node.id(), node.grpc_address());
    }
    peers[node.id()].last_seen = now;  // it has heartbeat_timeout to come back
  }
  return Commit(
      std::move(loaded),
      absl::StrCat("restarted from persisted version ", cluster.version(),
                   " of cluster [", cluster.cluster_uuid(),
                   "]: terms and in-sync sets kept; every node is not alive "
                   "until it heartbeats or joins"));
}

}  // namespace seqsim
