// Node::State::Handle: the dispatch table from each request of the wire to
// its handler: client writes, bulk, GET, search, refresh, admin, the requests
// between nodes (replicate, resync, recovery, shard search), cluster-state
// publication and node status (a fault request is refused: the transport
// handles faults).
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::Handle(const pb::Envelope& request, RespondFn respond) {
  // Only client requests ask whether they came from another node.
  switch (request.body_case()) {
    case pb::Envelope::kWrite: {
      const bool from_node = IsNode(request.from());
      auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
      StartWrite(request.write(), from_node,
                 [shared_respond](pb::WriteResponse&& response) {
                   pb::Envelope envelope;
                   *envelope.mutable_write_response() = std::move(response);
                   (*shared_respond)(std::move(envelope));
                 });
      return;
    }
    case pb::Envelope::kBulk:
      HandleBulk(request.bulk(), IsNode(request.from()), std::move(respond));
      return;
    case pb::Envelope::kGet: {
      const bool from_node = IsNode(request.from());
      StartGet(request.get(), from_node, std::move(respond));
      return;
    }
    case pb::Envelope::kSearch: {
      if (has_state) {
        HandleSearch(request.search(), std::move(respond));
        return;
      }
      // No cluster state yet: wait for the first one (or fail as ES does).
      auto search = std::make_shared<pb::SearchRequest>(request.search());
      auto shared_respond = std::make_shared<RespondFn>(std::move(respond));
      auto fn = std::make_shared<absl::AnyInvocable<void(bool)>>(
          [this, search, shared_respond](bool ready) {
            if (ready) {
              HandleSearch(std::move(*search), std::move(*shared_respond));
              return;
            }
            pb::Envelope envelope;
            *envelope.mutable_search_response()->mutable_error() =
                NoStateError();
            (*shared_respond)(std::move(envelope));
          });
      WaitUntil([this]() { return has_state; },
                env->Now() + options.rpc_timeout, fn);
      return;
    }
    case pb::Envelope::kRefresh: {
      pb::Envelope envelope;
      envelope.mutable_refresh_response()->set_refreshed(
          RefreshLocal(request.refresh()));
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kShardSearch:
      HandleShardSearch(request.shard_search(), std::move(respond));
      return;
    case pb::Envelope::kCreateIndex:
      HandleCreateIndex(request, std::move(respond));
      return;
    case pb::Envelope::kDeleteIndex:
      HandleDeleteIndex(request, std::move(respond));
      return;
    case pb::Envelope::kUpdateIndices:
      HandleUpdateIndices(request, std::move(respond));
      return;
    case pb::Envelope::kReplicate:
      HandleReplicate(request, std::move(respond));
      return;
    case pb::Envelope::kResync:
      HandleResync(request, std::move(respond));
      return;
    case pb::Envelope::kStartRecovery:
      HandleStartRecovery(request, std::move(respond));
      return;
    case pb::Envelope::kRecoverySnapshot:
      HandleRecoverySnapshot(request, std::move(respond));
      return;
    case pb::Envelope::kRecoveryOps:
      HandleRecoveryOps(request, std::move(respond));
      return;
    case pb::Envelope::kPublish: {
      pb::Envelope envelope;
      if (absl::Status can =
              ApplyCheckedState(request.publish().state(), request.from());
          !can.ok()) {
        *envelope.mutable_publish_response()->mutable_error() =
            ToError(EsStatus(
                can.code(), "illegal_state_exception", can.message(),
                can.code() == absl::StatusCode::kInvalidArgument ? 400 : 409));
        envelope.mutable_publish_response()->set_applied_version(
            has_state ? cluster_state.version() : 0);
        envelope.set_refused(static_cast<int>(can.code()));
        respond(std::move(envelope));
        return;
      }
      envelope.mutable_publish_response()->set_applied_version(
          has_state ? cluster_state.version() : 0);
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kGetClusterState:
      HandleGetClusterState(request.get_cluster_state(), std::move(respond));
      return;
    case pb::Envelope::kNodeStatus: {
      pb::Envelope envelope;
      *envelope.mutable_node_status_response() = Status();
      respond(std::move(envelope));
      return;
    }
    case pb::Envelope::kFault: {
      pb::Envelope envelope;
      *envelope.mutable_fault_response()->mutable_error() =
          ToError(IllegalArgument(
              "faults are handled by the transport, not by the node logic"));
      respond(std::move(envelope));
      return;
    }
    default: {
      Log(absl::StrCat(me(), " cannot handle message ", request.body_case(),
                       " from ", request.from()));
      pb::Envelope envelope;
      *envelope.mutable_write_response()->mutable_error() =
          ToError(IllegalArgument("unsupported message"));
      respond(std::move(envelope));
      return;
    }
  }
}

}  // namespace seqsim
