#include "common/live/liveness.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "common/env.h"
#include "common/live/executor.h"
#include "common/live/transport.h"
#include "grpcpp/grpcpp.h"
#include "proto/seqsim.grpc.pb.h"

namespace seqsim {
namespace {

void RaiseTo(std::atomic<int64_t>* value, int64_t candidate) {
  int64_t seen = value->load();
  while (candidate > seen && !value->compare_exchange_weak(seen, candidate)) {
  }
}

int64_t SteadyNs() { return absl::ToInt64Nanoseconds(Executor::SteadyNow()); }

}  // namespace

LivenessBeacon::LivenessBeacon(LivenessOptions options,
                               std::shared_ptr<FaultTable> faults)
    : options_(std::move(options)), faults_(std::move(faults)) {}

LivenessBeacon::~LivenessBeacon() { Stop(); }

void LivenessBeacon::ObserveOutgoing(const pb::Envelope& request) {
  if (!request.has_heartbeat()) return;
  actor_heartbeat_ns_.store(SteadyNs());
  RaiseTo(&reported_version_, request.heartbeat().state_version());
}

void LivenessBeacon::ObserveReply(const pb::Envelope& reply) {
  if (!reply.has_publish_response() ||
      !reply.publish_response().error().type().empty()) {
    return;
  }
  // Only once the actor heartbeats itself: a publish reply alone does not
  // start the beacon.
  if (reported_version_.load() < 0) return;
  RaiseTo(&reported_version_, reply.publish_response().applied_version());
}

void LivenessBeacon::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { Loop(); });
}

void LivenessBeacon::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void LivenessBeacon::Loop() {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  std::unique_ptr<pb::Coordination::Stub> coordinator =
      pb::Coordination::NewStub(NewIdentityChannel(
          options_.identity.get(), options_.coordinator_address, args));
  auto next = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    next += absl::ToChronoNanoseconds(options_.interval);
    // A slow reply does not push the beats after it back.
    next = std::max(next, std::chrono::steady_clock::now());
    wake_.wait_until(lock, next, [this] { return stopping_; });
    if (stopping_) return;
    const int64_t version = reported_version_.load();
    if (version < 0) continue;  // not joined yet
    if (SteadyNs() - actor_heartbeat_ns_.load() >
        absl::ToInt64Nanoseconds(options_.actor_stall_limit)) {
      continue;  // the actor is wedged, not busy: let the coordinator know
    }
    if (faults_->IsPartitioned(kCoordinatorId)) continue;
    if (faults_->DelayFor(kCoordinatorId) > absl::ZeroDuration()) continue;
    pb::HeartbeatRequest heartbeat;
    heartbeat.set_node_id(options_.node_id);
    heartbeat.set_state_version(version);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(options_.rpc_timeout));
    context.AddMetadata(kFromMetadataKey, options_.node_id);
    AttachIdentity(options_.identity.get(), &context);
    in_flight_ = &context;  // Stop() cancels it
    lock.unlock();
    pb::HeartbeatResponse response;
    // The reply changes nothing here: the actor's own heartbeats act on it.
    (void)coordinator->Heartbeat(&context, heartbeat, &response);
    ++sent_;
    lock.lock();
    in_flight_ = nullptr;
  }
}

}  // namespace seqsim
