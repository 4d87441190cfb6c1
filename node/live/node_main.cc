// seqsim-node: one node process. Serves gRPC (Documents, Replication,
// Publication, Admin) and the Elasticsearch REST API, runs the Node actor on
// its executor, keeps its translog under
// --data_dir, and joins the coordinator. SIGTERM / SIGINT shut it down cleanly.
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/env.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/identity.h"
#include "common/live/live_env.h"
#include "common/live/liveness.h"
#include "common/live/posix_disk.h"
#include "common/live/process.h"
#include "common/live/server_adapters.h"
#include "common/live/transport.h"
#include "common/unsafe.h"
#include "common/validation.h"
#include "node/live/live_dispatcher.h"
#include "node/logic/node.h"
#include "node/rest/rest_util.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#ifdef SEQSIM_HAVE_REST
#include "node/rest/rest_server.h"
#endif

ABSL_FLAG(std::string, id, "node-1",
          "Node id, as it appears in the cluster state (node-N)");
ABSL_FLAG(std::string, host, "127.0.0.1",
          "IPv4 address to listen on (gRPC and REST)");
ABSL_FLAG(int32_t, grpc_port, 9300, "gRPC port");
ABSL_FLAG(int32_t, rest_port, 9200,
          "Elasticsearch REST port (0 = no REST server)");
ABSL_FLAG(std::string, coordinator, "127.0.0.1:9400",
          "Coordinator gRPC address host:port");
ABSL_FLAG(std::string, data_dir, "data/node-1",
          "Directory for this node's durable state");
ABSL_FLAG(int32_t, heartbeat_interval_ms, 100,
          "Heartbeat period to the coordinator (ms)");
ABSL_FLAG(int32_t, rpc_timeout_ms, 2000,
          "Timeout of node-to-node and coordinator RPCs (ms)");
ABSL_FLAG(
    int32_t, write_timeout_ms, 30000,
    "How long a write waits for its primary / active shards before 503 (ms)");
ABSL_FLAG(
    std::string, fsync, "request",
    "Translog durability: request (fsync before every ack, grouped) or async");
ABSL_FLAG(bool, batch_per_flush, true,
          "Replicate the writes of one executor batch in one request per "
          "replica, and forward them in one bulk per primary's node");

ABSL_FLAG(std::string, gc_deletes, "60s",
          "index.gc_deletes: how long a deleted document's tombstone is kept "
          "(once its delete is below the global checkpoint); an Elasticsearch "
          "time value (500ms, 60s, 5m, 1h; -1 keeps tombstones forever)");
ABSL_FLAG(std::string, retention_lease_period, "12h",
          "index.soft_deletes.retention_lease.period: how long a primary keeps "
          "the history a copy that left needs for an operations-based "
          "recovery; an Elasticsearch time value");

ABSL_FLAG(std::string, translog_generation_threshold_size, "64mb",
          "index.translog.generation_threshold_size: the translog rolls to a "
          "new generation file once the current one holds this much (a byte "
          "size: 512kb, 64mb, 1gb)");
ABSL_FLAG(std::string, translog_flush_threshold_size, "64mb",
          "index.translog.flush_threshold_size: once the translog holds this "
          "much (and at least the last snapshot's size) a flush writes a "
          "durable snapshot of each shard copy and deletes the generations it "
          "covers; a restart replays only what came after it");

ABSL_FLAG(std::string, log_file, "",
          "Write the log to this file, rotated at --log_max_mb with "
          "--log_max_files older files kept (empty: stderr)");
ABSL_FLAG(int32_t, log_max_mb, 64, "Size at which --log_file is rotated (MiB)");
ABSL_FLAG(int32_t, log_max_files, 3,
          "Rotated log files kept besides --log_file");
ABSL_FLAG(std::string, cluster_identity, "", seqsim::kIdentityFlagHelp);
ABSL_FLAG(
    std::string, unsafe, "",
    "Planted bugs for fault-injection experiments, comma-separated: "
    "no-fencing, no-seqno-check, early-ack, no-resync, "
    "no-conflict-barrier, early-gc. Each switches off one replication rule; "
    "off unless given here (never in a real cluster)");

namespace seqsim {
namespace {

constexpr char kProgram[] = "seqsim-node";

void CheckPort(const char* flag, int port) {
  if (port < 1 || port > 65535) {
    FailSetup(kProgram,
              absl::StrCat("--", flag, "=", port, " is not a port (1..65535)"));
  }
}

void CheckPositive(const char* flag, int value) {
  if (value <= 0)
    FailSetup(kProgram, absl::StrCat("--", flag, "=", value, " must be > 0"));
}

void CheckHostPort(const char* flag, const std::string& address) {
  std::vector<std::string> parts = absl::StrSplit(address, ':');
  int port = 0;
  if (parts.size() != 2 || parts[0].empty() ||
      !absl::SimpleAtoi(parts[1], &port) || port < 1 || port > 65535) {
    FailSetup(kProgram,
              absl::StrCat("--", flag, "=", address, " is not host:port"));
  }
}

// An Elasticsearch time value ("500ms", "60s", "5m", "12h", "1d", "0";
// "-1" = forever) of flag `flag`, or a setup failure.
absl::Duration TimeValueFlag(const char* flag, const std::string& value) {
  absl::StatusOr<absl::Duration> parsed = rest::ParseTimeValue(flag, value);
  if (parsed.ok()) return *parsed;
  FailSetup(kProgram, absl::StrCat("--", flag, "=", value,
                                   " is not a time value (e.g. 500ms, 60s, "
                                   "5m, 12h, -1)"));
}

// An Elasticsearch byte size ("512b", "64kb", "64mb", "1gb"; case-insensitive,
// k/m/g alone too) of flag `flag`, > 0, or a setup failure.
uint64_t ByteSizeFlag(const char* flag, const std::string& value) {
  std::string lower = value;
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  struct Unit {
    const char* suffix;
    uint64_t scale;
  };
  static const Unit kUnits[] = {
      {"kb", uint64_t{1} << 10},
      {"mb", uint64_t{1} << 20},
      {"gb", uint64_t{1} << 30},
      {"tb", uint64_t{1} << 40},
      {"k", uint64_t{1} << 10},
      {"m", uint64_t{1} << 20},
      {"g", uint64_t{1} << 30},
      {"t", uint64_t{1} << 40},
      {"b", 1},
  };
  for (const Unit& unit : kUnits) {
    const std::string suffix = unit.suffix;
    if (lower.size() <= suffix.size() ||
        lower.compare(lower.size() - suffix.size(), suffix.size(), suffix) !=
            0) {
      continue;
    }
    uint64_t amount = 0;
    if (absl::SimpleAtoi(lower.substr(0, lower.size() - suffix.size()),
                         &amount) &&
        amount > 0 && amount <= (uint64_t{1} << 50) / unit.scale) {
      return amount * unit.scale;
    }
    break;
  }
  FailSetup(kProgram, absl::StrCat("--", flag, "=", value,
                                   " is not a byte size > 0 (e.g. 512kb, "
                                   "64mb, 1gb)"));
}

int Run(int argc, char** argv) {
  DisableMutexDeadlockDetection();
  const bool tcmalloc = UseLeanAllocator();
  BlockTerminationSignals();
  absl::SetProgramUsageMessage(
      "one seqsim node (gRPC + Elasticsearch REST).\n"
      "Example: seqsim-node --id=node-1 --grpc_port=9300 --rest_port=9200 "
      "--coordinator=127.0.0.1:9400 --data_dir=data/node-1");
  std::vector<char*> positional = ParseFlagsOrExit(kProgram, argc, argv);
  if (positional.size() > 1) {
    FailSetup(kProgram, absl::StrCat("unexpected argument '", positional[1],
                                     "'; --help lists the flags"));
  }

  const std::string id = absl::GetFlag(FLAGS_id);
  const std::string host = absl::GetFlag(FLAGS_host);
  const int grpc_port = absl::GetFlag(FLAGS_grpc_port);
  const int rest_port = absl::GetFlag(FLAGS_rest_port);
  const std::string coordinator = absl::GetFlag(FLAGS_coordinator);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string fsync = absl::GetFlag(FLAGS_fsync);
  if (absl::Status valid = ValidateNodeId(id); !valid.ok()) {
    FailSetup(kProgram, absl::StrCat("--id: ", valid.message()));
  }
  CheckPort("grpc_port", grpc_port);
  if (rest_port != 0) CheckPort("rest_port", rest_port);
  if (rest_port == grpc_port)
    FailSetup(kProgram, "--rest_port and --grpc_port must differ");
  CheckHostPort("coordinator", coordinator);
  CheckPositive("heartbeat_interval_ms",
                absl::GetFlag(FLAGS_heartbeat_interval_ms));
  CheckPositive("rpc_timeout_ms", absl::GetFlag(FLAGS_rpc_timeout_ms));
  CheckPositive("write_timeout_ms", absl::GetFlag(FLAGS_write_timeout_ms));
  if (fsync != "request" && fsync != "async") {
    FailSetup(kProgram,
              absl::StrCat("--fsync=", fsync, " must be request or async"));
  }
  absl::StatusOr<UnsafeModes> unsafe =
      ParseUnsafeModes(absl::GetFlag(FLAGS_unsafe));
  if (!unsafe.ok()) FailSetup(kProgram, std::string(unsafe.status().message()));
  if (data_dir.empty()) FailSetup(kProgram, "--data_dir must not be empty");
  if (absl::Status status = CheckWritableDir(data_dir); !status.ok()) {
    FailSetup(kProgram, absl::StrCat("data dir ", data_dir,
                                     " is not usable: ", status.message()));
  }
  absl::StatusOr<std::shared_ptr<const ClusterIdentity>> identity =
      IdentityFromFlag(absl::GetFlag(FLAGS_cluster_identity));
  if (!identity.ok())
    FailSetup(kProgram, std::string(identity.status().message()));
  // Every flag value is checked before the ports are probed: a bad value is
  // named as such even when the port is taken.
  const absl::Duration gc_deletes =
      TimeValueFlag("gc_deletes", absl::GetFlag(FLAGS_gc_deletes));
  const absl::Duration retention_lease_period = TimeValueFlag(
      "retention_lease_period", absl::GetFlag(FLAGS_retention_lease_period));
  const auto generation_threshold_bytes =
      ByteSizeFlag("translog_generation_threshold_size",
                   absl::GetFlag(FLAGS_translog_generation_threshold_size));
  const auto flush_threshold_bytes =
      ByteSizeFlag("translog_flush_threshold_size",
                   absl::GetFlag(FLAGS_translog_flush_threshold_size));
  if (absl::Status status = CheckPortFree(host, grpc_port); !status.ok()) {
    FailSetup(kProgram, std::string(status.message()));
  }
  if (rest_port != 0) {
    if (absl::Status status = CheckPortFree(host, rest_port); !status.ok()) {
      FailSetup(kProgram, std::string(status.message()));
    }
  }

  InstallProcessLogger(kProgram, id, absl::GetFlag(FLAGS_log_file),
                       absl::GetFlag(FLAGS_log_max_mb),
                       absl::GetFlag(FLAGS_log_max_files));

  NodeOptions options;
  options.id = id;
  options.grpc_address = absl::StrCat(host, ":", grpc_port);
  options.rest_address =
      rest_port != 0 ? absl::StrCat(host, ":", rest_port) : "";
  options.heartbeat_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_interval_ms));
  options.rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_timeout_ms));
  options.write_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_write_timeout_ms));
  options.fsync_per_request = fsync == "request";
  options.batch_per_flush = absl::GetFlag(FLAGS_batch_per_flush);
  if (*identity != nullptr) options.cluster_uuid = (*identity)->cluster_uuid;
  options.unsafe = *unsafe;
  options.gc_deletes = gc_deletes;
  options.retention_lease_period = retention_lease_period;
  options.translog_generation_threshold_bytes = generation_threshold_bytes;
  options.flush_threshold_bytes = flush_threshold_bytes;
  const std::string unsafe_name = UnsafeModesName(*unsafe);
  if (!unsafe_name.empty()) {
    spdlog::error(
        "UNSAFE: {} runs with planted bugs --unsafe={}: rules switched off: "
        "{}. It can lose acknowledged writes or serve stale data; for "
        "fault-injection experiments only",
        id, unsafe_name, UnsafeRulesBroken(*unsafe));
  }

  auto executor = std::make_shared<Executor>(id);
  auto faults = std::make_shared<FaultTable>();
  auto transport = std::make_shared<Transport>(id, *identity);
  auto env = std::make_unique<LiveEnv>(id, executor, transport, faults,
                                       std::make_unique<PosixDisk>(data_dir));
  env->SetPeerAddress(kCoordinatorId, coordinator);
  // Heartbeats from a thread of their own, so that a busy actor is not taken
  // for a dead one (common/live/liveness.h).
  LivenessOptions liveness;
  liveness.node_id = id;
  liveness.coordinator_address = coordinator;
  liveness.interval = options.heartbeat_interval;
  liveness.rpc_timeout = options.rpc_timeout;
  liveness.identity = *identity;
  auto beacon = std::make_shared<LivenessBeacon>(liveness, faults);
  env->SetSendObserver([beacon](const pb::Envelope& request) {
    beacon->ObserveOutgoing(request);
  });
  auto node = std::make_unique<Node>(env.get(), options);
  Node* node_ptr = node.get();
  executor->SetFlushHook([node_ptr] { node_ptr->Flush(); });

  ActorHost actor_host{
      id,
      node_ptr,
      executor,
      faults,
      [beacon](const pb::Envelope& reply) { beacon->ObserveReply(reply); },
      std::make_shared<CallAuthenticator>(*identity, id)};
  DocumentsService documents(actor_host);
  ReplicationService replication(actor_host);
  PublicationService publication(actor_host);
  AdminService admin(actor_host, /*forward_node_status=*/true);
  absl::StatusOr<std::unique_ptr<grpc::Server>> server = StartGrpcServer(
      host, grpc_port, {&documents, &replication, &publication, &admin},
      identity->get());
  if (!server.ok()) FailSetup(kProgram, std::string(server.status().message()));

  LiveDispatcher dispatcher(node_ptr, executor, transport, faults, id,
                            options.rpc_timeout);
#ifdef SEQSIM_HAVE_REST
  std::unique_ptr<RestServer> rest;
  if (rest_port != 0) {
    RestOptions rest_options;
    rest_options.host = host;
    rest_options.port = rest_port;
    rest = std::make_unique<RestServer>(&dispatcher, rest_options);
    if (absl::Status status = rest->Start(); !status.ok()) {
      FailSetup(kProgram, std::string(status.message()));
    }
  }
#else
  if (rest_port != 0)
    spdlog::warn("built without the REST server; --rest_port ignored");
#endif

  executor->Post([node_ptr] { node_ptr->Start(); });
  executor->Start();
  beacon->Start();
  if (*identity == nullptr) {
    spdlog::warn(
        "{}: no --cluster_identity: internal gRPC is NOT authenticated", id);
  }
  spdlog::info(
      "{} up: gRPC {}:{} ({}) REST {} coordinator {} data {} fsync={} "
      "malloc={}{}",
      id, host, grpc_port,
      *identity == nullptr ? "unauthenticated"
      : (*identity)->tls() ? "mutual TLS + cluster secret"
                           : "cluster secret",
      rest_port != 0 ? absl::StrCat("http://", host, ":", rest_port) : "off",
      coordinator, data_dir, fsync, tcmalloc ? "tcmalloc" : "glibc",
      unsafe_name.empty() ? "" : absl::StrCat(" UNSAFE=", unsafe_name));

  int signal_number = WaitForTerminationSignal();
  spdlog::info("{} stopping on signal {}", id, signal_number);
#ifdef SEQSIM_HAVE_REST
  if (rest) rest->Stop();
#endif
  beacon->Stop();
  // The batch in progress finishes (with its flush); queued requests are
  // answered UNAVAILABLE.
  executor->Stop();
  node.reset();
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  spdlog::info("{} stopped", id);
  spdlog::shutdown();
  // gRPC's and the actor's stray callbacks may still hold references into what
  // was torn down above: leave without running static destructors.
  std::fflush(nullptr);
  ::_exit(0);
}

}  // namespace
}  // namespace seqsim

int main(int argc, char** argv) { return seqsim::Run(argc, argv); }
