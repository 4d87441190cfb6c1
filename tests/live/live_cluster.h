// LiveCluster: a real seqsim cluster for integration tests. Starts
// seqsim-coordinator and N seqsim-node processes (fork/exec of the binaries
// next to the test binary) on free loopback ports with temporary data
// directories and short timings, with a cluster identity of its own (every
// process and the harness's Transport present it: authentication is on), talks
// to them over gRPC, and kills every child
// it started when it goes away (and if the test process dies:
// PR_SET_PDEATHSIG).
//
// Thread-safety: the harness is used from the test's thread; Call* may also be
// used from a helper thread (the Transport is thread-safe).
#ifndef SEQSIM_TESTS_LIVE_LIVE_CLUSTER_H_
#define SEQSIM_TESTS_LIVE_LIVE_CLUSTER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/live/identity.h"
#include "common/live/transport.h"
#include "proto/seqsim.pb.h"

namespace seqsim::testing {

// A loopback port that was free a moment ago (bind port 0, read it, close).
int PickFreePort();
// The directory of the running test binary (the seqsim binaries are built next
// to it).
std::string BinDir();

// Runs `argv` to completion (bounded by `timeout`), returning {exit code,
// stderr}.
struct ProcessResult {
  int exit_code = -1;  // -1: killed after the timeout or by a signal
  std::string output;  // stdout + stderr
};
ProcessResult RunToCompletion(const std::vector<std::string>& argv,
                              absl::Duration timeout);

// One HTTP/1.1 request on its own connection (Connection: close), bounded by
// `timeout`: {status (0 if no answer), body}.
struct HttpResult {
  int status = 0;
  std::string body;
};
HttpResult HttpRequest(int port, const std::string& method,
                       const std::string& path, const std::string& body = "",
                       absl::Duration timeout = absl::Seconds(30));

struct LiveClusterOptions {
  int nodes = 3;
  int heartbeat_interval_ms = 50;
  int heartbeat_timeout_ms = 400;
  int check_interval_ms = 25;
  int rpc_timeout_ms = 1000;
  int write_timeout_ms = 5000;
  // Nodes also serve REST on a free port each (RestPort); off: --rest_port=0.
  bool rest = false;
  // Internal gRPC over mutual TLS (scripts/tls-certs.sh makes a CA and a
  // certificate per process); off: the shared-secret identity alone.
  bool tls = false;
  // Extra flags for every seqsim-node (e.g. "--gc_deletes=1s").
  std::vector<std::string> node_flags;
};

class LiveCluster {
 public:
  explicit LiveCluster(LiveClusterOptions options = {});
  ~LiveCluster();  // SIGKILLs every child, removes the data unless the test
                   // failed

  // Starts the coordinator and every node; true when all are up and joined.
  void Start();

  void StartCoordinator();
  void StartNode(int n);   // 1-based; same ports and data dir on a restart
  void KillCoordinator();  // SIGKILL + reap
  void KillNode(int n);    // SIGKILL + reap
  void PauseNode(int n);   // SIGSTOP
  void ResumeNode(int n);  // SIGCONT
  bool NodeRunning(int n) const;

  std::string NodeId(int n) const { return "node-" + std::to_string(n); }
  int NodeNumber(const std::string& id) const;  // "node-2" -> 2
  std::string NodeAddress(int n) const;
  int RestPort(int n) const { return rest_ports_[n - 1]; }  // 0 without rest
  // The text of node n's log (every start appends to it).
  std::string NodeLog(int n) const;
  std::string CoordinatorAddress() const;
  const std::string& data_dir() const { return root_; }
  // The cluster identity file every process gets (--cluster_identity), and
  // the harness's own (with TLS, each process has its own file).
  std::string IdentityPath(const std::string& process = "seqsim-test") const;
  const std::shared_ptr<const ClusterIdentity>& identity() const {
    return identity_;
  }

  // RPCs (from "seqsim-test").
  absl::StatusOr<pb::Envelope> CallNode(
      int n, pb::Envelope request, absl::Duration timeout = absl::Seconds(10));
  absl::StatusOr<pb::Envelope> CallCoordinator(
      pb::Envelope request, absl::Duration timeout = absl::Seconds(5));
  Transport& transport() { return *transport_; }

  absl::StatusOr<pb::ClusterState> State();
  absl::StatusOr<pb::NodeStatusResponse> NodeStatus(int n);
  absl::StatusOr<pb::WriteResponse> Write(int via, const std::string& index,
                                          const std::string& id,
                                          const std::string& json);
  // Reads from node n's local copy when it has one.
  absl::StatusOr<pb::GetResponse> GetLocal(int n, const std::string& index,
                                           const std::string& id);
  absl::Status CreateIndex(const std::string& index, int shards, int replicas);
  void Fault(int n, pb::FaultRequest::Action action,
             const std::vector<std::string>& peers);

  // Polls `condition` every 50 ms until it holds or `timeout` passes; false on
  // timeout.
  static bool WaitFor(const std::function<bool()>& condition,
                      absl::Duration timeout);
  // Cluster health (ComputeHealth) is green with every node alive.
  bool WaitGreen(absl::Duration timeout = absl::Seconds(60));

  // From the coordinator's state: the routing of index/shard (nullopt if
  // unreachable).
  std::optional<pb::ShardRouting> Routing(const std::string& index,
                                          int shard = 0);
  // Node number of the primary of index/shard, 0 if none.
  int PrimaryOf(const std::string& index, int shard = 0);
  // The shard's status on node n, if n is up and holds a copy.
  std::optional<pb::ShardStatus> CopyStatus(int n, const std::string& index,
                                            int shard = 0);

  // Prints the last lines of every process log (called on failure).
  void DumpLogs() const;

 private:
  pid_t Spawn(const std::string& binary, const std::vector<std::string>& args,
              const std::string& log);
  static void Reap(pid_t pid);
  // True (and reaped) if `pid` has exited.
  static bool Exited(pid_t pid);

  const LiveClusterOptions options_;
  std::string root_;
  std::string bin_dir_;
  int coordinator_port_ = 0;
  std::vector<int> grpc_ports_;  // index n-1
  std::vector<int> rest_ports_;  // index n-1; 0 without options_.rest
  pid_t coordinator_pid_ = -1;
  bool coordinator_started_ = false;
  std::map<int, pid_t> node_pids_;
  std::shared_ptr<const ClusterIdentity> identity_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace seqsim::testing

#endif  // SEQSIM_TESTS_LIVE_LIVE_CLUSTER_H_
