#include "common/live/transport.h"

#include <chrono>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/env.h"

namespace seqsim {

struct Transport::Peer {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Documents::Stub> documents;
  std::unique_ptr<pb::Replication::Stub> replication;
  std::unique_ptr<pb::Coordination::Stub> coordination;
  std::unique_ptr<pb::Publication::Stub> publication;
  std::unique_ptr<pb::Admin::Stub> admin;
};

namespace {

template <typename Request, typename Response>
struct CallState {
  grpc::ClientContext context;
  Request request;
  Response response;
};

// Starts one typed unary call. `start(context, request, response, on_done)`
// issues it on a stub; `field(envelope)` is the reply's slot in an Envelope.
template <typename Request, typename Response, typename Start, typename Field>
void Invoke(const std::string& self_id, const ClusterIdentity* identity,
            const std::string& to, Request request, absl::Duration timeout,
            Start start, Field field, Transport::Callback done) {
  auto call = std::make_shared<CallState<Request, Response>>();
  call->request = std::move(request);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             absl::ToChronoMilliseconds(timeout));
  call->context.AddMetadata(kFromMetadataKey, self_id);
  AttachIdentity(identity, &call->context);
  start(&call->context, &call->request, &call->response,
        [call, to, field, done = std::move(done)](grpc::Status status) {
          if (!status.ok()) {
            done(FromGrpcStatus(status));
            return;
          }
          pb::Envelope reply;
          reply.set_from(to);
          field(&reply)->Swap(&call->response);
          done(std::move(reply));
        });
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return absl::OkStatus();
    case grpc::StatusCode::UNAVAILABLE: {
      // gRPC gives one code for a refused connection and for a reset after
      // the request went out; only its words tell them apart, so they are read
      // here, where they originate, and turned into the typed mark.
      const std::string lower = absl::AsciiStrToLower(status.error_message());
      absl::Status out = absl::UnavailableError(status.error_message());
      if (absl::StrContains(lower, "connection refused") ||
          absl::StrContains(lower, "failed to connect")) {
        out = MarkNeverDelivered(std::move(out));
      }
      return out;
    }
    case grpc::StatusCode::CANCELLED:
      return absl::UnavailableError(status.error_message());
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(status.error_message());
    default:
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
  }
}

Transport::Transport(std::string self_id,
                     std::shared_ptr<const ClusterIdentity> identity)
    : self_id_(std::move(self_id)), identity_(std::move(identity)) {}

Transport::~Transport() = default;

std::shared_ptr<Transport::Peer> Transport::PeerFor(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(address);
  if (it != peers_.end()) return it->second;
  grpc::ChannelArguments args;
  // A restarted peer is found again quickly (failover must take well under a
  // second).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  args.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  auto peer = std::make_shared<Peer>();
  peer->channel = NewIdentityChannel(identity_.get(), address, args);
  peer->documents = pb::Documents::NewStub(peer->channel);
  peer->replication = pb::Replication::NewStub(peer->channel);
  peer->coordination = pb::Coordination::NewStub(peer->channel);
  peer->publication = pb::Publication::NewStub(peer->channel);
  peer->admin = pb::Admin::NewStub(peer->channel);
  peers_[address] = peer;
  return peer;
}

// One case per request body: the stub, the method, and the reply's Envelope
// field.
#define SEQSIM_CALL(kCase, req_field, stub, Method, Request, Response, \
                    resp_field)                                        \
  case pb::Envelope::kCase: {                                          \
    Request typed = std::move(*request.mutable_##req_field());         \
    Invoke<Request, Response>(                                         \
        self_id_, identity_.get(), to, std::move(typed), timeout,      \
        [peer](grpc::ClientContext* c, const Request* q, Response* r,  \
               std::function<void(grpc::Status)> cb) {                 \
          peer->stub->async()->Method(c, q, r, std::move(cb));         \
        },                                                             \
        [](pb::Envelope* e) { return e->mutable_##resp_field(); },     \
        std::move(done));                                              \
    return;                                                            \
  }

void Transport::Call(const std::string& to, const std::string& address,
                     pb::Envelope request, absl::Duration timeout,
                     Callback done) {
  std::shared_ptr<Peer> peer = PeerFor(address);
  const bool to_coordinator = to == kCoordinatorId;
  if (to_coordinator) {
    switch (request.body_case()) {
      SEQSIM_CALL(kCreateIndex, create_index, coordination, CreateIndex,
                  pb::CreateIndexRequest, pb::CreateIndexResponse,
                  create_index_response)
      SEQSIM_CALL(kDeleteIndex, delete_index, coordination, DeleteIndex,
                  pb::DeleteIndexRequest, pb::DeleteIndexResponse,
                  delete_index_response)
      SEQSIM_CALL(kUpdateIndices, update_indices, coordination, UpdateIndices,
                  pb::UpdateIndicesRequest, pb::UpdateIndicesResponse,
                  update_indices_response)
      default:
        break;
    }
  }
  switch (request.body_case()) {
    SEQSIM_CALL(kWrite, write, documents, Write, pb::WriteRequest,
                pb::WriteResponse, write_response)
    SEQSIM_CALL(kBulk, bulk, documents, Bulk, pb::BulkRequest, pb::BulkResponse,
                bulk_response)
    SEQSIM_CALL(kGet, get, documents, Get, pb::GetRequest, pb::GetResponse,
                get_response)
    SEQSIM_CALL(kSearch, search, documents, Search, pb::SearchRequest,
                pb::SearchResponse, search_response)
    SEQSIM_CALL(kShardSearch, shard_search, documents, ShardSearch,
                pb::SearchRequest, pb::SearchResponse, search_response)
    SEQSIM_CALL(kRefresh, refresh, documents, Refresh, pb::RefreshRequest,
                pb::RefreshResponse, refresh_response)
    SEQSIM_CALL(kCreateIndex, create_index, documents, CreateIndex,
                pb::CreateIndexRequest, pb::CreateIndexResponse,
                create_index_response)
    SEQSIM_CALL(kDeleteIndex, delete_index, documents, DeleteIndex,
                pb::DeleteIndexRequest, pb::DeleteIndexResponse,
                delete_index_response)
    SEQSIM_CALL(kUpdateIndices, update_indices, documents, UpdateIndices,
                pb::UpdateIndicesRequest, pb::UpdateIndicesResponse,
                update_indices_response)
    SEQSIM_CALL(kReplicate, replicate, replication, Replicate,
                pb::ReplicateRequest, pb::ReplicateResponse, replicate_response)
    SEQSIM_CALL(kResync, resync, replication, Resync, pb::ResyncRequest,
                pb::ReplicateResponse, replicate_response)
    SEQSIM_CALL(kStartRecovery, start_recovery, replication, StartRecovery,
                pb::StartRecoveryRequest, pb::StartRecoveryResponse,
                start_recovery_response)
    SEQSIM_CALL(kRecoverySnapshot, recovery_snapshot, replication,
                RecoverySnapshot, pb::RecoverySnapshotRequest,
                pb::ReplicateResponse, replicate_response)
    SEQSIM_CALL(kRecoveryOps, recovery_ops, replication, RecoveryOps,
                pb::RecoveryOpsRequest, pb::ReplicateResponse,
                replicate_response)
    SEQSIM_CALL(kJoin, join, coordination, Join, pb::JoinRequest,
                pb::JoinResponse, join_response)
    SEQSIM_CALL(kHeartbeat, heartbeat, coordination, Heartbeat,
                pb::HeartbeatRequest, pb::HeartbeatResponse, heartbeat_response)
    SEQSIM_CALL(kShardFailed, shard_failed, coordination, ShardFailed,
                pb::ShardFailedRequest, pb::ShardFailedResponse,
                shard_failed_response)
    SEQSIM_CALL(kShardStarted, shard_started, coordination, ShardStarted,
                pb::ShardStartedRequest, pb::ShardStartedResponse,
                shard_started_response)
    SEQSIM_CALL(kGetClusterState, get_cluster_state, coordination,
                GetClusterState, pb::GetClusterStateRequest,
                pb::GetClusterStateResponse, get_cluster_state_response)
    SEQSIM_CALL(kPublish, publish, publication, Publish, pb::PublishRequest,
                pb::PublishResponse, publish_response)
    SEQSIM_CALL(kFault, fault, admin, Fault, pb::FaultRequest,
                pb::FaultResponse, fault_response)
    SEQSIM_CALL(kNodeStatus, node_status, admin, NodeStatus,
                pb::NodeStatusRequest, pb::NodeStatusResponse,
                node_status_response)
    default:
      done(absl::InvalidArgumentError(absl::StrCat(
          "no gRPC method for envelope body ", request.body_case())));
      return;
  }
}

#undef SEQSIM_CALL

absl::StatusOr<pb::Envelope> Transport::CallSync(const std::string& to,
                                                 const std::string& address,
                                                 pb::Envelope request,
                                                 absl::Duration timeout) {
  struct Result {
    absl::Notification done;
    absl::StatusOr<pb::Envelope> reply;
  };
  auto result = std::make_shared<Result>();
  Call(to, address, std::move(request), timeout,
       [result](absl::StatusOr<pb::Envelope> reply) {
         result->reply = std::move(reply);
         result->done.Notify();
       });
  result->done.WaitForNotification();
  return std::move(result->reply);
}

}  // namespace seqsim
