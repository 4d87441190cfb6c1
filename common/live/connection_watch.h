// ConnectionWatch: notices at once that a node's process is gone, the way
// Elasticsearch's master treats a node whose transport connection drops.
//
// Missed heartbeats find every kind of failure, but only after the
// coordinator's heartbeat_timeout (500 ms by default): too slow a failover for
// the most common fault, a crashed or killed node (issue 15, P5). A killed
// process closes its sockets and its port refuses new connections, which a
// client sees within milliseconds. The watch keeps one gRPC channel per node
// (its own, not the transport's), and when a channel that was READY loses its
// connection and the reconnect is refused (TRANSIENT_FAILURE), it reports the
// node gone with the time it lost the connection. A paused (SIGSTOP) or
// partitioned node keeps its connection, and a restarted node reconnects:
// neither is reported; the heartbeats still decide for them.
//
// Thread-safety: SetNodes may be called from any thread; `on_gone` runs on
// the watch's own thread (post it to the actor's executor).
#ifndef SEQSIM_COMMON_LIVE_CONNECTION_WATCH_H_
#define SEQSIM_COMMON_LIVE_CONNECTION_WATCH_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/live/identity.h"

namespace seqsim {

class ConnectionWatch {
 public:
  // `observed_at` is on the steady clock (LiveEnv::Now).
  using OnGone =
      std::function<void(const std::string& node_id, absl::Duration observed_at,
                         const std::string& reason)>;

  ConnectionWatch(std::shared_ptr<const ClusterIdentity> identity,
                  OnGone on_gone);
  ~ConnectionWatch();  // Stop()s.
  ConnectionWatch(const ConnectionWatch&) = delete;
  ConnectionWatch& operator=(const ConnectionWatch&) = delete;

  void Start();
  void Stop();
  // The nodes to watch: id -> gRPC address. Nodes not listed are no longer
  // watched; a changed address starts a new channel.
  void SetNodes(std::map<std::string, std::string> nodes);

 private:
  struct Watch;
  void Loop();

  const std::shared_ptr<const ClusterIdentity> identity_;
  const OnGone on_gone_;
  std::thread thread_;

  absl::Mutex mu_;
  std::map<std::string, std::string> wanted_ ABSL_GUARDED_BY(mu_);
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_CONNECTION_WATCH_H_
