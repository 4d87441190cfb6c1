// Node::State: admin requests. Create and delete index through the
// coordinator, waiting for active shards as Elasticsearch does.
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"

namespace seqsim {

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
    const pb::ShardCopy* primary = PrimaryCopy(routing);
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

template <typename Response>
void Node::State::ForwardToCoordinator(
    pb::Envelope forward, RespondFn respond, bool (pb::Envelope::*has)() const,
    const Response& (pb::Envelope::*get)() const,
    Response* (pb::Envelope::*mutable_get)()) {
  auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
  Send(
      kCoordinatorId, std::move(forward),
      [shared_respond, has, get,
       mutable_get](const absl::StatusOr<pb::Envelope>& reply) {
        pb::Envelope done;
        Response* response = (done.*mutable_get)();
        if (!reply.ok() || !((*reply).*has)()) {
          *response->mutable_error() = ToError(EsStatus(
              absl::StatusCode::kUnavailable, "master_not_discovered_exception",
              "the coordinator is unreachable", 503));
        } else {
          *response = ((*reply).*get)();
        }
        (*shared_respond)(std::move(done));
      },
      options.rpc_timeout);
}

void Node::State::HandleDeleteIndex(const pb::Envelope& request,
                                    RespondFn respond) {
  pb::Envelope envelope;
  *envelope.mutable_delete_index() = request.delete_index();
  ForwardToCoordinator(std::move(envelope), std::move(respond),
                       &pb::Envelope::has_delete_index_response,
                       &pb::Envelope::delete_index_response,
                       &pb::Envelope::mutable_delete_index_response);
}

// Alias and settings updates go to the coordinator as they are.
void Node::State::HandleUpdateIndices(const pb::Envelope& request,
                                      RespondFn respond) {
  pb::Envelope envelope;
  *envelope.mutable_update_indices() = request.update_indices();
  ForwardToCoordinator(std::move(envelope), std::move(respond),
                       &pb::Envelope::has_update_indices_response,
                       &pb::Envelope::update_indices_response,
                       &pb::Envelope::mutable_update_indices_response);
}

}  // namespace seqsim
