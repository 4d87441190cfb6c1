// ExperimentCluster: the live cluster an experiment runs against. Either it
// starts its own (seqsim-coordinator + N seqsim-node, fork/exec of the binaries
// in --bin_dir, free loopback ports, its own data directory, logs under the
// result folder) and kills every process it started when it goes away (and if
// the runner dies: PR_SET_PDEATHSIG), or it attaches to a running cluster
// through its coordinator (then it can inject only network faults: it owns no
// process).
//
// Process faults (kill, pause, restart) go through signals to the children;
// network faults through the nodes' Admin.Fault RPC
// (common/live/fault_table.h). Every gRPC client of the runner is made by
// MakeTransport(), and every argv by NodeArgv() / CoordinatorArgv(), so that a
// flag all binaries need (e.g. a cluster identity) is added in one place.
//
// Thread-safety: every method may be called from any thread (the nemesis and
// the monitor use it concurrently); process bookkeeping is behind mu_.
#ifndef SEQSIM_EXPERIMENT_CLUSTER_H_
#define SEQSIM_EXPERIMENT_CLUSTER_H_

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/live/transport.h"
#include "proto/seqsim.pb.h"

namespace seqsim::experiment {

struct ClusterOptions {
  int nodes = 3;
  std::string bin_dir;   // where seqsim-node and seqsim-coordinator are
  std::string data_dir;  // node-N/ and coordinator/ go here
  std::string log_dir;   // node-N.log and coordinator.log go here
  std::string unsafe;    // --unsafe=... for every node ("" = none)
  int heartbeat_interval_ms = 50;
  int heartbeat_timeout_ms = 500;
  int check_interval_ms = 25;
  int rpc_timeout_ms = 1000;
  int write_timeout_ms = 5000;
  // Attach instead of starting: the coordinator's host:port ("" = start).
  std::string attach;
  // The attached cluster's identity file (scripts/cluster.sh up makes
  // DATA/cluster.identity); "" = unauthenticated. A cluster this runner starts
  // gets a new identity in data_dir/cluster.identity.
  std::string identity_file;
};

// A loopback port that was free a moment ago, below the ephemeral range and
// never handed out twice by this process; 0 if none was found.
int PickFreePort();

// The one place where the runner's gRPC client is made.
std::unique_ptr<Transport> MakeTransport();

class ExperimentCluster {
 public:
  explicit ExperimentCluster(ClusterOptions options);
  ~ExperimentCluster();  // Shutdown()

  // Starts (or attaches to) the cluster and waits until it is green with every
  // node alive. kUnavailable with the reason (and the log tail) otherwise.
  absl::Status Start(absl::Duration timeout);
  // SIGCONTs, then SIGTERMs every started process; SIGKILLs what is left after
  // a short grace period. Idempotent.
  void Shutdown();

  bool owns_processes() const { return options_.attach.empty(); }
  int nodes() const { return static_cast<int>(node_ids_.size()); }
  const std::vector<std::string>& node_ids() const { return node_ids_; }
  std::string GrpcAddress(const std::string& node) const;
  std::string CoordinatorAddress() const;
  // REST host:port of `node`.
  std::string RestAddress(const std::string& node) const;

  // argv of each process (binary first). The one place they are built.
  std::vector<std::string> NodeArgv(int n) const;
  std::vector<std::string> CoordinatorArgv() const;

  // Process faults ("coordinator" or a node id). Each returns false (and does
  // nothing) when the process is not in a state the action applies to.
  bool Kill(const std::string& name);     // SIGKILL + reap
  bool Restart(const std::string& name);  // start again, same ports and data
  bool Pause(const std::string& name);    // SIGSTOP
  bool Resume(const std::string& name);   // SIGCONT
  bool Running(const std::string& name) const;
  bool Paused(const std::string& name) const;
  // Processes that exited while the runner had not killed them, with their
  // exit status: a crash. Reaps them.
  std::vector<std::string> CheckCrashes();

  // Admin.Fault on `node`.
  absl::Status Fault(const std::string& node, pb::FaultRequest::Action action,
                     const std::vector<std::string>& peers, int delay_ms = 0,
                     double probability = 0);
  // Clears every network fault on every running, unpaused node.
  void HealNetwork();

  absl::StatusOr<pb::ClusterState> State(
      absl::Duration timeout = absl::Seconds(2));
  absl::StatusOr<pb::NodeStatusResponse> NodeStatus(
      const std::string& node, absl::Duration timeout = absl::Seconds(2));
  // The document as `node`'s own copy holds it (prefer_local).
  absl::StatusOr<pb::GetResponse> GetLocal(const std::string& node,
                                           const std::string& index,
                                           const std::string& id);
  absl::Status CreateIndex(const std::string& index, int shards, int replicas);
  // Green, with every node of the cluster alive.
  bool WaitGreen(absl::Duration timeout);

  // Where each process logs (attach: none).
  std::vector<std::string> LogFiles() const;
  // The last `bytes` of a process's log.
  std::string LogTail(const std::string& name, size_t bytes = 2000) const;

 private:
  struct Proc {
    pid_t pid = -1;
    bool paused = false;
    bool killed_by_us = false;
  };
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log);
  std::string LogPath(const std::string& name) const;
  absl::Status StartProcess(const std::string& name, absl::Duration timeout);
  absl::Status Attach(absl::Duration timeout);

  const ClusterOptions options_;
  std::vector<std::string> node_ids_;
  // Made by Start() with the cluster's identity.
  std::unique_ptr<Transport> transport_;
  std::string identity_path_;  // passed to every process it starts

  mutable absl::Mutex mu_;
  std::string coordinator_address_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> grpc_addresses_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> rest_addresses_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Proc> procs_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_CLUSTER_H_
