// Server adapters: the gRPC callback services of a node and of the coordinator.
//
// Each handler first checks the call's cluster credentials (UNAUTHENTICATED;
// common/live/identity.h) and the request (common/validation.h,
// INVALID_ARGUMENT), then translates and nothing else (DESIGN.md section 2):
// it wraps the
// typed request in an Envelope whose `from` is the caller's `x-seqsim-from`
// metadata, posts `actor->Handle(envelope, respond)` to the actor's Executor
// and finishes the call when the actor responds. A caller that the FaultTable
// partitions is answered UNAVAILABLE without reaching the actor. Admin.Fault is
// the transport's own: it edits the FaultTable. A request the actor drops
// (shutdown) is answered UNAVAILABLE.
//
// Thread-safety: handlers run on gRPC threads and touch only the thread-safe
// Executor and FaultTable; no lock is held across a callback.
#ifndef SEQSIM_COMMON_LIVE_SERVER_ADAPTERS_H_
#define SEQSIM_COMMON_LIVE_SERVER_ADAPTERS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/env.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/identity.h"
#include "grpcpp/grpcpp.h"
#include "proto/seqsim.grpc.pb.h"

namespace seqsim {

// What a service needs to reach its actor. The pointers outlive the services.
struct ActorHost {
  std::string id;
  Actor* actor = nullptr;
  std::shared_ptr<Executor> executor;
  std::shared_ptr<FaultTable> faults;
  // If set, sees every reply of the actor before it is sent (on the executor
  // thread): a node's LivenessBeacon reads its publish replies.
  std::function<void(const pb::Envelope& reply)> reply_observer;
  // Checks every call's cluster credentials before anything else (null: no
  // authentication).
  std::shared_ptr<CallAuthenticator> authenticator;
};

class DocumentsService final : public pb::Documents::CallbackService {
 public:
  explicit DocumentsService(ActorHost host) : host_(std::move(host)) {}
  grpc::ServerUnaryReactor* Write(grpc::CallbackServerContext* context,
                                  const pb::WriteRequest* request,
                                  pb::WriteResponse* response) override;
  grpc::ServerUnaryReactor* Bulk(grpc::CallbackServerContext* context,
                                 const pb::BulkRequest* request,
                                 pb::BulkResponse* response) override;
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context,
                                const pb::GetRequest* request,
                                pb::GetResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const pb::SearchRequest* request,
                                   pb::SearchResponse* response) override;
  grpc::ServerUnaryReactor* ShardSearch(grpc::CallbackServerContext* context,
                                        const pb::SearchRequest* request,
                                        pb::SearchResponse* response) override;
  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* context,
                                    const pb::RefreshRequest* request,
                                    pb::RefreshResponse* response) override;
  grpc::ServerUnaryReactor* CreateIndex(
      grpc::CallbackServerContext* context,
      const pb::CreateIndexRequest* request,
      pb::CreateIndexResponse* response) override;
  grpc::ServerUnaryReactor* DeleteIndex(
      grpc::CallbackServerContext* context,
      const pb::DeleteIndexRequest* request,
      pb::DeleteIndexResponse* response) override;
  grpc::ServerUnaryReactor* UpdateIndices(
      grpc::CallbackServerContext* context,
      const pb::UpdateIndicesRequest* request,
      pb::UpdateIndicesResponse* response) override;

 private:
  const ActorHost host_;
};

class ReplicationService final : public pb::Replication::CallbackService {
 public:
  explicit ReplicationService(ActorHost host) : host_(std::move(host)) {}
  grpc::ServerUnaryReactor* Replicate(grpc::CallbackServerContext* context,
                                      const pb::ReplicateRequest* request,
                                      pb::ReplicateResponse* response) override;
  grpc::ServerUnaryReactor* Resync(grpc::CallbackServerContext* context,
                                   const pb::ResyncRequest* request,
                                   pb::ReplicateResponse* response) override;
  grpc::ServerUnaryReactor* StartRecovery(
      grpc::CallbackServerContext* context,
      const pb::StartRecoveryRequest* request,
      pb::StartRecoveryResponse* response) override;
  grpc::ServerUnaryReactor* RecoverySnapshot(
      grpc::CallbackServerContext* context,
      const pb::RecoverySnapshotRequest* request,
      pb::ReplicateResponse* response) override;
  grpc::ServerUnaryReactor* RecoveryOps(
      grpc::CallbackServerContext* context,
      const pb::RecoveryOpsRequest* request,
      pb::ReplicateResponse* response) override;

 private:
  const ActorHost host_;
};

class PublicationService final : public pb::Publication::CallbackService {
 public:
  explicit PublicationService(ActorHost host) : host_(std::move(host)) {}
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const pb::PublishRequest* request,
                                    pb::PublishResponse* response) override;

 private:
  const ActorHost host_;
};

class CoordinationService final : public pb::Coordination::CallbackService {
 public:
  explicit CoordinationService(ActorHost host) : host_(std::move(host)) {}
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context,
                                 const pb::JoinRequest* request,
                                 pb::JoinResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const pb::HeartbeatRequest* request,
                                      pb::HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* ShardFailed(
      grpc::CallbackServerContext* context,
      const pb::ShardFailedRequest* request,
      pb::ShardFailedResponse* response) override;
  grpc::ServerUnaryReactor* ShardStarted(
      grpc::CallbackServerContext* context,
      const pb::ShardStartedRequest* request,
      pb::ShardStartedResponse* response) override;
  grpc::ServerUnaryReactor* CreateIndex(
      grpc::CallbackServerContext* context,
      const pb::CreateIndexRequest* request,
      pb::CreateIndexResponse* response) override;
  grpc::ServerUnaryReactor* DeleteIndex(
      grpc::CallbackServerContext* context,
      const pb::DeleteIndexRequest* request,
      pb::DeleteIndexResponse* response) override;
  grpc::ServerUnaryReactor* UpdateIndices(
      grpc::CallbackServerContext* context,
      const pb::UpdateIndicesRequest* request,
      pb::UpdateIndicesResponse* response) override;
  grpc::ServerUnaryReactor* GetClusterState(
      grpc::CallbackServerContext* context,
      const pb::GetClusterStateRequest* request,
      pb::GetClusterStateResponse* response) override;

 private:
  const ActorHost host_;
};

// Admin: Fault edits the FaultTable; NodeStatus is the actor's node_status when
// `forward_node_status` (nodes), else answered here with the id and the
// partitioned peers (the coordinator).
class AdminService final : public pb::Admin::CallbackService {
 public:
  AdminService(ActorHost host, bool forward_node_status)
      : host_(std::move(host)), forward_node_status_(forward_node_status) {}
  grpc::ServerUnaryReactor* Fault(grpc::CallbackServerContext* context,
                                  const pb::FaultRequest* request,
                                  pb::FaultResponse* response) override;
  grpc::ServerUnaryReactor* NodeStatus(
      grpc::CallbackServerContext* context,
      const pb::NodeStatusRequest* request,
      pb::NodeStatusResponse* response) override;

 private:
  const ActorHost host_;
  const bool forward_node_status_;
};

// "port 9300 on 127.0.0.1 is already in use" (kUnavailable) if a socket
// listens on `port` (with or without SO_REUSEPORT). Connections left in
// TIME-WAIT by a killed or stopped server never count: a restart right after a
// kill succeeds.
absl::Status CheckPortFree(const std::string& host, int port);

// Builds and starts a gRPC server on host:port with `services` and server
// reflection. SO_REUSEPORT is off, so a second server on the same port fails
// instead of sharing it. Messages up to kMaxGrpcMessageBytes pass both ways.
// With a TLS `identity` it listens with mutual TLS (ServerCredentials); the
// services check each call's credentials (ActorHost::authenticator).
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const std::string& host, int port,
    const std::vector<grpc::Service*>& services,
    const ClusterIdentity* identity = nullptr);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_SERVER_ADAPTERS_H_
