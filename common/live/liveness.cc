#include "common/live/liveness.h"

#include <chrono>
#include <utility>

#include "common/env.h"
#include "common/live/executor.h"

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
                               std::shared_ptr<Transport> transport,
                               std::shared_ptr<FaultTable> faults)
    : options_(std::move(options)),
      transport_(std::move(transport)),
      faults_(std::move(faults)) {}

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
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void LivenessBeacon::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, absl::ToChronoNanoseconds(options_.interval),
                   [this] { return stopping_; });
    if (stopping_) return;
    const int64_t version = reported_version_.load();
    if (version < 0) continue;  // not joined yet
    if (SteadyNs() - actor_heartbeat_ns_.load() >
        absl::ToInt64Nanoseconds(options_.actor_stall_limit)) {
      continue;  // the actor is wedged, not busy: let the coordinator know
    }
    if (faults_->IsPartitioned(kCoordinatorId)) continue;
    if (faults_->DelayFor(kCoordinatorId) > absl::ZeroDuration()) continue;
    pb::Envelope heartbeat;
    heartbeat.set_from(options_.node_id);
    heartbeat.mutable_heartbeat()->set_node_id(options_.node_id);
    heartbeat.mutable_heartbeat()->set_state_version(version);
    lock.unlock();
    transport_->Call(kCoordinatorId, options_.coordinator_address,
                     std::move(heartbeat), options_.rpc_timeout,
                     [](absl::StatusOr<pb::Envelope>) {});
    ++sent_;
    lock.lock();
  }
}

}  // namespace seqsim
