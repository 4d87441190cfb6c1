#include "common/live/server_adapters.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/live/transport.h"
#include "common/validation.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"

namespace seqsim {
namespace {

std::string CallerId(grpc::CallbackServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kFromMetadataKey);
  if (it == metadata.end()) return "client";
  return std::string(it->second.data(), it->second.size());
}

// The reason of a refused reply: its body's `error.reason` (every response
// that can be refused has one).
std::string RefusalReason(const google::protobuf::Message& response) {
  const google::protobuf::FieldDescriptor* field =
      response.GetDescriptor()->FindFieldByName("error");
  if (field == nullptr || field->message_type() != pb::Error::descriptor())
    return "refused";
  const auto& error = static_cast<const pb::Error&>(
      response.GetReflection()->GetMessage(response, field));
  return error.reason();
}

// The refusal of an invalid request (common/validation.h); not logged (a
// fuzzer would fill the log).
grpc::Status Invalid(const absl::Status& status) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      std::string(status.message()));
}

grpc::Status Authenticate(const ActorHost& host,
                          grpc::CallbackServerContext* context) {
  if (host.authenticator == nullptr) return grpc::Status::OK;
  return host.authenticator->Check(context->client_metadata());
}

// Finishes one unary call exactly once: with the actor's reply (moved into the
// typed response by `fill`), or UNAVAILABLE if the reply is dropped (the actor
// or executor went away first).
class Finisher {
 public:
  using Fill = std::function<grpc::Status(pb::Envelope&)>;
  Finisher(grpc::ServerUnaryReactor* reactor, Fill fill)
      : reactor_(reactor), fill_(std::move(fill)) {}
  ~Finisher() {
    if (!finished_.exchange(true)) {
      reactor_->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "request dropped: shutting down"));
    }
  }
  void Finish(pb::Envelope& reply) {
    if (finished_.exchange(true)) return;
    reactor_->Finish(fill_(reply));
  }

 private:
  grpc::ServerUnaryReactor* const reactor_;
  const Fill fill_;
  std::atomic<bool> finished_{false};
};

// Hands `request` to the host's actor; the reply's `has`/`mutable` field fills
// `response`.
template <typename Response>
grpc::ServerUnaryReactor* Serve(const ActorHost& host,
                                grpc::CallbackServerContext* context,
                                pb::Envelope request, Response* response,
                                bool (pb::Envelope::*has)() const,
                                Response* (pb::Envelope::*field)()) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status auth = Authenticate(host, context); !auth.ok()) {
    reactor->Finish(auth);
    return reactor;
  }
  std::string from = CallerId(context);
  if (host.faults->IsPartitioned(from)) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 absl::StrCat("partitioned from ", from)));
    return reactor;
  }
  if (absl::Status valid = ValidateMessage(request); !valid.ok()) {
    reactor->Finish(Invalid(valid));
    return reactor;
  }
  request.set_from(from);
  auto finisher = std::make_shared<Finisher>(
      reactor,
      [response, has, field, from, faults = host.faults](pb::Envelope& reply) {
        if (faults->IsPartitioned(from)) {
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("partitioned from ", from));
        }
        if (!(reply.*has)()) {
          return grpc::Status(grpc::StatusCode::INTERNAL,
                              absl::StrCat("actor answered with envelope body ",
                                           reply.body_case()));
        }
        if (reply.refused() != 0) {
          return grpc::Status(static_cast<grpc::StatusCode>(reply.refused()),
                              RefusalReason(*(reply.*field)()));
        }
        response->Swap((reply.*field)());
        return grpc::Status::OK;
      });
  Actor* actor = host.actor;
  host.executor->Post([actor, request = std::move(request), finisher,
                       observer = host.reply_observer]() mutable {
    actor->Handle(request,
                  [finisher = std::move(finisher),
                   observer = std::move(observer)](pb::Envelope reply) mutable {
                    if (observer) observer(reply);
                    finisher->Finish(reply);
                  });
  });
  return reactor;
}

}  // namespace

// Defines Service::Method: wraps the request into the envelope's `req_field`
// and answers from its `resp_field`.
#define SEQSIM_SERVE(Service, Method, Request, Response, req_field,       \
                     resp_field)                                          \
  grpc::ServerUnaryReactor* Service::Method(                              \
      grpc::CallbackServerContext* context, const Request* request,       \
      Response* response) {                                               \
    pb::Envelope envelope;                                                \
    *envelope.mutable_##req_field() = *request;                           \
    return Serve<Response>(host_, context, std::move(envelope), response, \
                           &pb::Envelope::has_##resp_field,               \
                           &pb::Envelope::mutable_##resp_field);          \
  }

SEQSIM_SERVE(DocumentsService, Write, pb::WriteRequest, pb::WriteResponse,
             write, write_response)
SEQSIM_SERVE(DocumentsService, Bulk, pb::BulkRequest, pb::BulkResponse, bulk,
             bulk_response)
SEQSIM_SERVE(DocumentsService, Get, pb::GetRequest, pb::GetResponse, get,
             get_response)
SEQSIM_SERVE(DocumentsService, Search, pb::SearchRequest, pb::SearchResponse,
             search, search_response)
SEQSIM_SERVE(DocumentsService, ShardSearch, pb::SearchRequest,
             pb::SearchResponse, shard_search, search_response)
SEQSIM_SERVE(DocumentsService, CreateIndex, pb::CreateIndexRequest,
             pb::CreateIndexResponse, create_index, create_index_response)
SEQSIM_SERVE(DocumentsService, DeleteIndex, pb::DeleteIndexRequest,
             pb::DeleteIndexResponse, delete_index, delete_index_response)
SEQSIM_SERVE(DocumentsService, UpdateIndices, pb::UpdateIndicesRequest,
             pb::UpdateIndicesResponse, update_indices, update_indices_response)
SEQSIM_SERVE(DocumentsService, Refresh, pb::RefreshRequest, pb::RefreshResponse,
             refresh, refresh_response)

SEQSIM_SERVE(ReplicationService, Replicate, pb::ReplicateRequest,
             pb::ReplicateResponse, replicate, replicate_response)
SEQSIM_SERVE(ReplicationService, Resync, pb::ResyncRequest,
             pb::ReplicateResponse, resync, replicate_response)
SEQSIM_SERVE(ReplicationService, StartRecovery, pb::StartRecoveryRequest,
             pb::StartRecoveryResponse, start_recovery, start_recovery_response)
SEQSIM_SERVE(ReplicationService, RecoverySnapshot, pb::RecoverySnapshotRequest,
             pb::ReplicateResponse, recovery_snapshot, replicate_response)
SEQSIM_SERVE(ReplicationService, RecoveryOps, pb::RecoveryOpsRequest,
             pb::ReplicateResponse, recovery_ops, replicate_response)

SEQSIM_SERVE(PublicationService, Publish, pb::PublishRequest,
             pb::PublishResponse, publish, publish_response)

SEQSIM_SERVE(CoordinationService, Join, pb::JoinRequest, pb::JoinResponse, join,
             join_response)
SEQSIM_SERVE(CoordinationService, Heartbeat, pb::HeartbeatRequest,
             pb::HeartbeatResponse, heartbeat, heartbeat_response)
SEQSIM_SERVE(CoordinationService, ShardFailed, pb::ShardFailedRequest,
             pb::ShardFailedResponse, shard_failed, shard_failed_response)
SEQSIM_SERVE(CoordinationService, ShardStarted, pb::ShardStartedRequest,
             pb::ShardStartedResponse, shard_started, shard_started_response)
SEQSIM_SERVE(CoordinationService, CreateIndex, pb::CreateIndexRequest,
             pb::CreateIndexResponse, create_index, create_index_response)
SEQSIM_SERVE(CoordinationService, DeleteIndex, pb::DeleteIndexRequest,
             pb::DeleteIndexResponse, delete_index, delete_index_response)
SEQSIM_SERVE(CoordinationService, UpdateIndices, pb::UpdateIndicesRequest,
             pb::UpdateIndicesResponse, update_indices, update_indices_response)
SEQSIM_SERVE(CoordinationService, GetClusterState, pb::GetClusterStateRequest,
             pb::GetClusterStateResponse, get_cluster_state,
             get_cluster_state_response)

#undef SEQSIM_SERVE

grpc::ServerUnaryReactor* AdminService::Fault(
    grpc::CallbackServerContext* context, const pb::FaultRequest* request,
    pb::FaultResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status auth = Authenticate(host_, context); !auth.ok()) {
    reactor->Finish(auth);
    return reactor;
  }
  pb::Envelope envelope;
  *envelope.mutable_fault() = *request;
  if (absl::Status valid = ValidateMessage(envelope); !valid.ok()) {
    reactor->Finish(Invalid(valid));
    return reactor;
  }
  *response = host_.faults->Apply(*request);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::NodeStatus(
    grpc::CallbackServerContext* context, const pb::NodeStatusRequest* request,
    pb::NodeStatusResponse* response) {
  if (!forward_node_status_) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (grpc::Status auth = Authenticate(host_, context); !auth.ok()) {
      reactor->Finish(auth);
      return reactor;
    }
    response->set_node_id(host_.id);
    for (const std::string& peer : host_.faults->Partitioned())
      response->add_partitioned(peer);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  pb::Envelope envelope;
  *envelope.mutable_node_status() = *request;
  return Serve<pb::NodeStatusResponse>(
      host_, context, std::move(envelope), response,
      &pb::Envelope::has_node_status_response,
      &pb::Envelope::mutable_node_status_response);
}

namespace {

// True if /proc/net/tcp or tcp6 lists a socket in LISTEN state on `port`, on
// any local address.
bool HasListener(int port) {
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      // "  sl  local_address rem_address   st ..." with
      // local_address = HEXADDR:HEXPORT and st = 0A for LISTEN.
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      if (!(fields >> slot >> local >> remote >> state)) continue;
      size_t colon = local.rfind(':');
      if (colon == std::string::npos || state != "0A") continue;
      if (std::strtol(local.c_str() + colon + 1, nullptr, 16) == port)
        return true;
    }
  }
  return false;
}

}  // namespace

absl::Status CheckPortFree(const std::string& host, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ::close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat("host ", host, " is not an IPv4 address"));
  }
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  int err = errno;
  ::close(fd);
  if (rc == 0) return absl::OkStatus();
  // SO_REUSEADDR lets a bind pass a TIME-WAIT (or FIN-WAIT) connection only if
  // that connection's socket had SO_REUSEADDR too: the leftovers of a killed
  // server that listened with SO_REUSEPORT alone still refuse this bind,
  // although the server's own listener will bind fine. So a refused bind means
  // "in use" only when something really listens on the port.
  if (err == EADDRINUSE && !HasListener(port)) return absl::OkStatus();
  if (err == EADDRINUSE) {
    return absl::UnavailableError(
        absl::StrCat("port ", port, " on ", host, " is already in use"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot bind ", host, ":", port, ": ", std::strerror(err)));
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& host, int port,
    const std::vector<grpc::Service*>& services,
    const ClusterIdentity* identity) {
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  builder.SetMaxSendMessageSize(kMaxGrpcMessageBytes);
  int bound_port = 0;
  builder.AddListeningPort(absl::StrCat(host, ":", port),
                           ServerCredentials(identity), &bound_port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || bound_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("port ", port, " on ", host, " is already in use"));
  }
  return server;
}

}  // namespace seqsim
