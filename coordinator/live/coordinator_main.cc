// seqsim-coordinator: the coordinator process. Serves the Coordination service
// (and Admin for fault injection) over gRPC, runs the Coordinator actor on its
// executor and keeps the cluster state under --data_dir. SIGTERM / SIGINT shut
// it down cleanly.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/live/connection_watch.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/identity.h"
#include "common/live/live_env.h"
#include "common/live/posix_disk.h"
#include "common/live/process.h"
#include "common/live/server_adapters.h"
#include "common/live/transport.h"
#include "coordinator/logic/coordinator.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "IPv4 address to listen on");
ABSL_FLAG(int32_t, port, 9400, "gRPC port");
ABSL_FLAG(std::string, data_dir, "data/coordinator",
          "Directory for the durable cluster state");
ABSL_FLAG(int32_t, heartbeat_timeout_ms, 500,
          "A node silent for this long is declared dead and its primaries fail "
          "over (ms)");
ABSL_FLAG(int32_t, check_interval_ms, 50,
          "How often dead nodes are looked for (ms)");
ABSL_FLAG(bool, watch_connections, true,
          "Declare a node dead as soon as its connection drops and its port "
          "refuses new ones (a killed process), as Elasticsearch does, "
          "instead of waiting for --heartbeat_timeout_ms");
ABSL_FLAG(int32_t, rpc_timeout_ms, 2000,
          "Timeout of publications to nodes (ms)");
ABSL_FLAG(std::string, cluster_name, "seqsim", "Cluster name (GET / shows it)");

ABSL_FLAG(int32_t, dead_node_grace_s, 300,
          "A dead node with no shard copies leaves the cluster state after "
          "this many seconds without a heartbeat");
ABSL_FLAG(std::string, log_file, "",
          "Write the log to this file, rotated at --log_max_mb with "
          "--log_max_files older files kept (empty: stderr)");
ABSL_FLAG(int32_t, log_max_mb, 64, "Size at which --log_file is rotated (MiB)");
ABSL_FLAG(int32_t, log_max_files, 3,
          "Rotated log files kept besides --log_file");
ABSL_FLAG(std::string, cluster_identity, "", seqsim::kIdentityFlagHelp);

namespace seqsim {
namespace {

constexpr char kProgram[] = "seqsim-coordinator";

void CheckPositive(const char* flag, int value) {
  if (value <= 0)
    FailSetup(kProgram, absl::StrCat("--", flag, "=", value, " must be > 0"));
}

int Run(int argc, char** argv) {
  DisableMutexDeadlockDetection();
  UseLeanAllocator();
  BlockTerminationSignals();
  absl::SetProgramUsageMessage(
      "owns the seqsim cluster state.\n"
      "Example: seqsim-coordinator --port=9400 --data_dir=data/coordinator");
  std::vector<char*> positional = ParseFlagsOrExit(kProgram, argc, argv);
  if (positional.size() > 1) {
    FailSetup(kProgram, absl::StrCat("unexpected argument '", positional[1],
                                     "'; --help lists the flags"));
  }
  const std::string host = absl::GetFlag(FLAGS_host);
  const int port = absl::GetFlag(FLAGS_port);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string cluster_name = absl::GetFlag(FLAGS_cluster_name);
  if (port < 1 || port > 65535) {
    FailSetup(kProgram,
              absl::StrCat("--port=", port, " is not a port (1..65535)"));
  }
  CheckPositive("heartbeat_timeout_ms",
                absl::GetFlag(FLAGS_heartbeat_timeout_ms));
  CheckPositive("check_interval_ms", absl::GetFlag(FLAGS_check_interval_ms));
  CheckPositive("rpc_timeout_ms", absl::GetFlag(FLAGS_rpc_timeout_ms));
  if (cluster_name.empty())
    FailSetup(kProgram, "--cluster_name must not be empty");
  if (data_dir.empty()) FailSetup(kProgram, "--data_dir must not be empty");
  if (absl::Status status = CheckWritableDir(data_dir); !status.ok()) {
    FailSetup(kProgram, absl::StrCat("data dir ", data_dir,
                                     " is not usable: ", status.message()));
  }
  absl::StatusOr<std::shared_ptr<const ClusterIdentity>> identity =
      IdentityFromFlag(absl::GetFlag(FLAGS_cluster_identity));
  if (!identity.ok())
    FailSetup(kProgram, std::string(identity.status().message()));
  if (absl::Status status = CheckPortFree(host, port); !status.ok()) {
    FailSetup(kProgram, std::string(status.message()));
  }

  InstallProcessLogger(kProgram, kCoordinatorId, absl::GetFlag(FLAGS_log_file),
                       absl::GetFlag(FLAGS_log_max_mb),
                       absl::GetFlag(FLAGS_log_max_files));

  CoordinatorOptions options;
  options.cluster_name = cluster_name;
  options.heartbeat_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_timeout_ms));
  options.check_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_check_interval_ms));
  options.rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_timeout_ms));
  CheckPositive("dead_node_grace_s", absl::GetFlag(FLAGS_dead_node_grace_s));
  options.dead_node_grace =
      absl::Seconds(absl::GetFlag(FLAGS_dead_node_grace_s));
  if (*identity != nullptr) options.cluster_uuid = (*identity)->cluster_uuid;

  auto executor = std::make_shared<Executor>(kCoordinatorId);
  auto faults = std::make_shared<FaultTable>();
  auto transport = std::make_shared<Transport>(kCoordinatorId, *identity);
  auto env =
      std::make_unique<LiveEnv>(kCoordinatorId, executor, transport, faults,
                                std::make_unique<PosixDisk>(data_dir));
  auto coordinator = std::make_unique<Coordinator>(env.get(), options);
  Coordinator* coordinator_ptr = coordinator.get();
  // A killed node is declared dead as soon as its connection drops and its
  // port refuses (common/live/connection_watch.h), not after the heartbeat
  // timeout.
  std::weak_ptr<Executor> weak_executor = executor;
  auto watch = std::make_unique<ConnectionWatch>(
      *identity, [weak_executor, coordinator_ptr](const std::string& node_id,
                                                  absl::Duration observed_at,
                                                  const std::string& reason) {
        if (auto executor = weak_executor.lock()) {
          executor->Post([coordinator_ptr, node_id, observed_at, reason] {
            coordinator_ptr->NodeUnreachable(node_id, observed_at, reason);
          });
        }
      });
  ConnectionWatch* watch_ptr = watch.get();
  const bool watch_connections = absl::GetFlag(FLAGS_watch_connections);
  executor->SetFlushHook([coordinator_ptr, watch_ptr, watch_connections,
                          version = int64_t{-1}]() mutable {
    coordinator_ptr->Flush();
    const pb::ClusterState& state = coordinator_ptr->state();
    if (!watch_connections || state.version() == version) return;
    version = state.version();
    std::map<std::string, std::string> nodes;
    for (const pb::NodeInfo& node : state.nodes())
      nodes[node.id()] = node.grpc_address();
    watch_ptr->SetNodes(std::move(nodes));
  });

  ActorHost actor_host{
      kCoordinatorId,
      coordinator_ptr,
      executor,
      faults,
      /*reply_observer=*/nullptr,
      std::make_shared<CallAuthenticator>(*identity, kCoordinatorId)};
  CoordinationService coordination(actor_host);
  AdminService admin(actor_host, /*forward_node_status=*/false);
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      StartGrpcServer(host, port, {&coordination, &admin}, identity->get());
  if (!server.ok()) FailSetup(kProgram, std::string(server.status().message()));

  // Start() reloads the persisted cluster state; a corrupt or unreadable state
  // file makes it refuse to serve, and the process exits with the reason
  // instead of answering 500s.
  std::promise<absl::Status> started;
  std::future<absl::Status> start_status = started.get_future();
  executor->Post([coordinator_ptr, &started] {
    coordinator_ptr->Start();
    started.set_value(coordinator_ptr->start_status());
  });
  executor->Start();
  if (watch_connections) watch->Start();
  if (absl::Status status = start_status.get(); !status.ok()) {
    FailSetup(kProgram, absl::StrCat("cannot start from ", data_dir, ": ",
                                     status.message()));
  }
  if (*identity == nullptr) {
    spdlog::warn(
        "coordinator: no --cluster_identity: internal gRPC is NOT "
        "authenticated");
  }
  spdlog::info(
      "coordinator up: gRPC {}:{} ({}) cluster {} data {} heartbeat_timeout "
      "{}ms",
      host, port,
      *identity == nullptr ? "unauthenticated"
      : (*identity)->tls() ? "mutual TLS + cluster secret"
                           : "cluster secret",
      cluster_name, data_dir, absl::GetFlag(FLAGS_heartbeat_timeout_ms));

  int signal_number = WaitForTerminationSignal();
  spdlog::info("coordinator stopping on signal {}", signal_number);
  watch->Stop();
  executor->Stop();
  coordinator.reset();
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  spdlog::info("coordinator stopped");
  spdlog::shutdown();
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace seqsim

int main(int argc, char** argv) { return seqsim::Run(argc, argv); }
