#include "sim/harness/cluster.h"

#include <functional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"

namespace seqsim::sim {
namespace {

// One create_index attempt and its retries (see CreateIndexAndWait).
struct CreateIndexCall {
  SimWorld* world = nullptr;
  std::string via;
  std::string index;
  int shards = 1;
  int replicas = 0;
  int max_attempts = 1;
  int attempts = 0;
  bool created = false;
};

void SendCreateIndex(const std::shared_ptr<CreateIndexCall>& call) {
  pb::Envelope request;
  request.mutable_create_index()->set_index(call->index);
  request.mutable_create_index()->set_number_of_shards(call->shards);
  request.mutable_create_index()->set_number_of_replicas(call->replicas);
  ++call->attempts;
  call->world->ClientSend(
      "setup", call->via, std::move(request),
      [call](const absl::StatusOr<pb::Envelope>& reply) {
        if (reply.ok() && reply->has_create_index_response() &&
            !HasError(reply->create_index_response().error())) {
          call->created = true;
        } else if (call->attempts < call->max_attempts) {
          call->world->Schedule(absl::Milliseconds(200),
                                [call]() { SendCreateIndex(call); });
        }
      },
      absl::Seconds(5));
}

}  // namespace

std::string SimNodeId(int n) { return absl::StrCat("node-", n); }

NodeOptions SimNodeOptions(int n, const UnsafeModes& unsafe) {
  NodeOptions options;
  options.id = SimNodeId(n);
  options.grpc_address = absl::StrCat("sim:", options.id);
  options.rest_address = absl::StrCat("sim-rest:", options.id);
  options.rpc_timeout = absl::Seconds(1);
  options.write_timeout = absl::Seconds(2);
  options.unsafe = unsafe;
  return options;
}

SimWorld::ActorFactory CoordinatorFactory(CoordinatorOptions options) {
  return [options](Env* env) {
    return std::make_unique<Coordinator>(env, options);
  };
}

Coordinator* SimCoordinator(const SimWorld& world) {
  return static_cast<Coordinator*>(world.actor(kCoordinatorId));
}

const pb::IndexMeta* FindIndex(const pb::ClusterState& state,
                               const std::string& name) {
  for (const auto& index : state.indices()) {
    if (index.name() == name) return &index;
  }
  return nullptr;
}

bool WaitAllJoined(SimWorld& world, int nodes, absl::Duration limit) {
  return world.RunUntilTrue(
      [&world, nodes]() {
        Coordinator* c = SimCoordinator(world);
        if (c == nullptr) return false;
        int alive = 0;
        for (const auto& n : c->state().nodes()) alive += n.alive() ? 1 : 0;
        return alive == nodes;
      },
      limit);
}

bool CreateIndexAndWait(SimWorld& world, const std::string& via,
                        const std::string& index, int shards, int replicas,
                        int max_attempts, absl::Duration limit) {
  auto call = std::make_shared<CreateIndexCall>();
  call->world = &world;
  call->via = via;
  call->index = index;
  call->shards = shards;
  call->replicas = replicas;
  call->max_attempts = max_attempts;
  SendCreateIndex(call);
  return world.RunUntilTrue([&call]() { return call->created; }, limit);
}

bool IndexGreen(const Coordinator* c, const std::string& index) {
  return c != nullptr && ComputeHealth(c->state(), index).status == "green";
}

bool WaitIndexGreen(SimWorld& world, const std::string& index,
                    absl::Duration limit) {
  return world.RunUntilTrue(
      [&world, &index]() { return IndexGreen(SimCoordinator(world), index); },
      limit);
}

}  // namespace seqsim::sim
