// LivenessBeacon: the heartbeats of a node process that no request work can
// hold back (issue 12, section 5).
//
// The Node actor sends its own heartbeats from its executor: they carry the
// cluster-state version it applied and their replies make it rejoin or catch
// up. Under load that thread is busy (bulk batches, translog replay on a copy
// open, fsyncs) and its heartbeats can come late enough for the coordinator to
// declare a merely busy node dead. The beacon is a thread of its own that
// sends, every interval, the same Heartbeat RPC straight through the Transport,
// never through the executor. What it reports is only what the coordinator
// already heard from the node: the highest state version of the actor's own
// heartbeats and of its publish replies. So the coordinator's view of the
// node's applied state never moves back, and a node that has not joined yet
// (no heartbeat of its own so far) sends nothing.
//
// Liveness comes from the process, as Elasticsearch's follower checks answer
// on the transport thread: SIGSTOP, SIGKILL or a partition from the
// coordinator (the FaultTable) silences the beacon too. An actor that is wedged
// rather than busy is not kept alive for ever: the beacon falls silent once the
// actor has sent no heartbeat of its own for `actor_stall_limit`.
//
// Thread-safety: Observe* may be called from any thread; Start/Stop from one.
#ifndef SEQSIM_COMMON_LIVE_LIVENESS_H_
#define SEQSIM_COMMON_LIVE_LIVENESS_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/live/fault_table.h"
#include "common/live/identity.h"
#include "grpcpp/grpcpp.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

struct LivenessOptions {
  std::string node_id;
  std::string coordinator_address;  // host:port
  absl::Duration interval = absl::Milliseconds(100);
  absl::Duration rpc_timeout = absl::Seconds(2);
  absl::Duration actor_stall_limit = absl::Seconds(30);
  // Presented on every heartbeat (null: unauthenticated).
  std::shared_ptr<const ClusterIdentity> identity;
};

class LivenessBeacon {
 public:
  LivenessBeacon(LivenessOptions options, std::shared_ptr<FaultTable> faults);
  ~LivenessBeacon();  // Stop()s.
  LivenessBeacon(const LivenessBeacon&) = delete;
  LivenessBeacon& operator=(const LivenessBeacon&) = delete;

  // Sees every request the actor sends (LiveEnv): its heartbeats.
  void ObserveOutgoing(const pb::Envelope& request);
  // Sees every reply the actor gives (server adapters): its publish replies.
  void ObserveReply(const pb::Envelope& reply);

  void Start();
  void Stop();

  // Heartbeats the beacon has sent (for tests and logs).
  int64_t sent() const { return sent_.load(); }

 private:
  void Loop();

  const LivenessOptions options_;
  const std::shared_ptr<FaultTable> faults_;

  // The highest state version the node reported (-1: no heartbeat of the
  // actor's own yet), and when the actor last sent one (steady ns).
  std::atomic<int64_t> reported_version_{-1};
  std::atomic<int64_t> actor_heartbeat_ns_{0};
  std::atomic<int64_t> sent_{0};

  std::mutex mu_;
  std::condition_variable wake_;
  // Guarded by mu_.
  bool stopping_ = false;
  grpc::ClientContext* in_flight_ = nullptr;  // the heartbeat being sent
  std::thread thread_;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_LIVENESS_H_
