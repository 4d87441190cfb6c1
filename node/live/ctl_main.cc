// seqsim-ctl: a small gRPC client for operating a live seqsim cluster.
//
//   seqsim-ctl status --nodes=127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302
//   seqsim-ctl health --coordinator=127.0.0.1:9400 [--wait=green
//   --timeout_ms=30000] seqsim-ctl state --coordinator=127.0.0.1:9400
//   seqsim-ctl partition --node=127.0.0.1:9300 --peers=node-2,node-3
//   seqsim-ctl delay --node=127.0.0.1:9300 --peers=node-2 --delay_ms=200
//   seqsim-ctl drop --node=127.0.0.1:9300 --peers=node-2 --probability=0.2
//   seqsim-ctl duplicate --node=127.0.0.1:9300 --peers=node-2 --probability=0.3
//   seqsim-ctl heal --node=127.0.0.1:9300
//   seqsim-ctl create-index --node=127.0.0.1:9300 --index=books --shards=1
//   --replicas=2 seqsim-ctl write --node=127.0.0.1:9300 --index=books --id=1
//   --json='{"title":"x"}' seqsim-ctl get --node=127.0.0.1:9300 --index=books
//   --id=1
//   seqsim-ctl identity --out=data/cluster.identity [--from=FILE]
//   [--tls_ca=ca.pem --tls_cert=node.pem --tls_key=node.key]
// Every command but `identity` presents --cluster_identity on its calls.
//
// Exit status: 0 on success, 1 when a process is unreachable, a request fails
// or a wait times out (with a one-line message on stderr), 2 on bad usage.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/cluster_view.h"
#include "common/env.h"
#include "common/live/identity.h"
#include "common/live/process.h"
#include "common/live/transport.h"

ABSL_FLAG(std::string, nodes, "127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302",
          "status: comma-separated gRPC addresses of the nodes");
ABSL_FLAG(std::string, node, "127.0.0.1:9300",
          "gRPC address of the node to talk to");
ABSL_FLAG(std::string, coordinator, "127.0.0.1:9400",
          "gRPC address of the coordinator");
ABSL_FLAG(std::string, wait, "",
          "health: wait until the status is at least this (green|yellow)");
ABSL_FLAG(int32_t, min_nodes, 0,
          "health --wait: also wait until this many nodes are alive");
ABSL_FLAG(int32_t, timeout_ms, 5000,
          "Per-request timeout, and the bound of health --wait");
ABSL_FLAG(std::string, peers, "",
          "partition/delay: comma-separated peer ids (node-2,coordinator)");
ABSL_FLAG(int32_t, delay_ms, 100, "delay: added latency (ms)");
ABSL_FLAG(double, probability, 0.1,
          "drop, duplicate: chance per message, within [0, 1]");
ABSL_FLAG(std::string, index, "", "Index name");
ABSL_FLAG(std::string, id, "", "Document id");
ABSL_FLAG(std::string, json, "{}", "write: the document (JSON)");
ABSL_FLAG(int32_t, shards, 1, "create-index: number of shards");
ABSL_FLAG(int32_t, replicas, 1, "create-index: number of replicas");
ABSL_FLAG(int32_t, count, 1000, "load: number of writes");
ABSL_FLAG(std::string, cluster_identity, "", seqsim::kIdentityFlagHelp);
ABSL_FLAG(std::string, out, "",
          "identity: the file to create (mode 0600; never overwritten)");
ABSL_FLAG(std::string, from, "",
          "identity: copy the cluster uuid and secret of this identity file "
          "(another host's or another node's file of the same cluster)");
ABSL_FLAG(std::string, tls_ca, "",
          "identity: the cluster CA certificate (PEM) for mutual TLS");
ABSL_FLAG(std::string, tls_cert, "",
          "identity: this process's certificate (PEM, signed by the CA)");
ABSL_FLAG(std::string, tls_key, "", "identity: this process's private key");
ABSL_FLAG(int32_t, concurrency, 16, "load: writes in flight at once");

namespace seqsim {
namespace {

constexpr char kProgram[] = "seqsim-ctl";

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kProgram, message.c_str());
  std::fflush(nullptr);
  ::_exit(1);
}

absl::Duration Timeout() {
  return absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
}

std::vector<std::string> SplitList(const std::string& list) {
  return absl::StrSplit(list, ',', absl::SkipWhitespace());
}

absl::StatusOr<pb::Envelope> Call(Transport& transport, const std::string& to,
                                  const std::string& address,
                                  pb::Envelope request) {
  return transport.CallSync(to, address, std::move(request), Timeout());
}

std::string Unreachable(const std::string& what, const std::string& address,
                        const absl::Status& status) {
  return absl::StrCat(what, " at ", address, " is unreachable (",
                      status.message(), ")");
}

int Status(Transport& transport) {
  std::vector<std::string> addresses = SplitList(absl::GetFlag(FLAGS_nodes));
  if (addresses.empty()) Fail("status needs --nodes=host:port,...");
  std::printf("%-8s %-22s %-12s %5s %-10s %5s %10s %10s %10s %8s %7s\n", "node",
              "address", "index", "shard", "role", "term", "max_seq_no",
              "local_cp", "global_cp", "docs", "in_sync");
  int unreachable = 0;
  for (const std::string& address : addresses) {
    pb::Envelope request;
    request.mutable_node_status();
    absl::StatusOr<pb::Envelope> reply =
        Call(transport, "node", address, request);
    if (!reply.ok()) {
      ++unreachable;
      std::printf(
          "%-8s %-22s %s\n", "?", address.c_str(),
          absl::StrCat("unreachable: ", reply.status().message()).c_str());
      continue;
    }
    const pb::NodeStatusResponse& status = reply->node_status_response();
    if (status.shards().empty()) {
      std::printf("%-8s %-22s %s\n", status.node_id().c_str(), address.c_str(),
                  "(no shard copies)");
    }
    for (const pb::ShardStatus& shard : status.shards()) {
      std::printf(
          "%-8s %-22s %-12s %5d %-10s %5lld %10lld %10lld %10lld %8lld %7s\n",
          status.node_id().c_str(), address.c_str(), shard.index().c_str(),
          shard.shard(), shard.role().c_str(),
          static_cast<long long>(shard.primary_term()),
          static_cast<long long>(shard.max_seq_no()),
          static_cast<long long>(shard.local_checkpoint()),
          static_cast<long long>(shard.global_checkpoint()),
          static_cast<long long>(shard.docs()), shard.in_sync() ? "yes" : "no");
    }
    if (status.state_waiters() > 0) {
      std::printf("%-8s %-22s requests waiting for a cluster state: %lld\n",
                  status.node_id().c_str(), address.c_str(),
                  static_cast<long long>(status.state_waiters()));
    }
    if (!status.partitioned().empty()) {
      std::printf("%-8s %-22s partitioned from: %s\n", status.node_id().c_str(),
                  address.c_str(),
                  absl::StrJoin(status.partitioned(), ",").c_str());
    }
  }
  if (unreachable > 0) {
    std::fprintf(stderr, "%s: %d of %zu nodes unreachable\n", kProgram,
                 unreachable, addresses.size());
    return 1;
  }
  return 0;
}

int Rank(const std::string& status) {
  if (status == "green") return 2;
  if (status == "yellow") return 1;
  return 0;
}

int Health(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_coordinator);
  const std::string wait = absl::GetFlag(FLAGS_wait);
  const int min_nodes = absl::GetFlag(FLAGS_min_nodes);
  if (!wait.empty() && wait != "green" && wait != "yellow" && wait != "red") {
    std::fprintf(stderr, "%s: --wait=%s must be green, yellow or red\n",
                 kProgram, wait.c_str());
    return kExitBadSetup;
  }
  const absl::Time deadline = absl::Now() + Timeout();
  std::string last;
  while (true) {
    pb::Envelope request;
    request.mutable_get_cluster_state();
    absl::Duration left =
        std::max(deadline - absl::Now(), absl::Milliseconds(200));
    absl::StatusOr<pb::Envelope> reply = transport.CallSync(
        kCoordinatorId, address, request, std::min(left, absl::Seconds(2)));
    if (reply.ok()) {
      const pb::ClusterState& state =
          reply->get_cluster_state_response().state();
      ClusterHealth health = ComputeHealth(state);
      const int alive = health.number_of_nodes;  // the alive ones
      last = absl::StrFormat(
          "cluster %s status %s nodes %d (alive %d) active_primary_shards %d "
          "active_shards %d "
          "initializing %d unassigned %d version %d",
          state.cluster_name(), health.status, state.nodes_size(), alive,
          health.active_primary_shards, health.active_shards,
          health.initializing_shards, health.unassigned_shards,
          state.version());
      if (wait.empty() ||
          (Rank(health.status) >= Rank(wait) && alive >= min_nodes)) {
        std::printf("%s\n", last.c_str());
        return 0;
      }
    } else {
      last = Unreachable("coordinator", address, reply.status());
      if (wait.empty()) Fail(last);
    }
    if (absl::Now() >= deadline) {
      Fail(absl::StrCat(
          "timed out after ", absl::GetFlag(FLAGS_timeout_ms),
          "ms waiting for status ", wait,
          min_nodes > 0 ? absl::StrCat(" with ", min_nodes, " nodes") : "",
          "; last: ", last));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
}

int State(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_coordinator);
  pb::Envelope request;
  request.mutable_get_cluster_state();
  absl::StatusOr<pb::Envelope> reply =
      Call(transport, kCoordinatorId, address, request);
  if (!reply.ok()) Fail(Unreachable("coordinator", address, reply.status()));
  std::cout << reply->get_cluster_state_response().state().DebugString();
  return 0;
}

int Fault(Transport& transport, pb::FaultRequest::Action action) {
  const std::string address = absl::GetFlag(FLAGS_node);
  pb::Envelope request;
  pb::FaultRequest* fault = request.mutable_fault();
  fault->set_action(action);
  if (action != pb::FaultRequest::HEAL) {
    std::vector<std::string> peers = SplitList(absl::GetFlag(FLAGS_peers));
    if (peers.empty()) {
      std::fprintf(stderr, "%s: needs --peers=node-2,...\n", kProgram);
      return kExitBadSetup;
    }
    for (const std::string& peer : peers) fault->add_peers(peer);
    fault->set_delay_ms(absl::GetFlag(FLAGS_delay_ms));
    fault->set_probability(absl::GetFlag(FLAGS_probability));
  }
  absl::StatusOr<pb::Envelope> reply =
      Call(transport, "node", address, request);
  if (!reply.ok()) Fail(Unreachable("node", address, reply.status()));
  if (reply->fault_response().has_error()) {
    std::fprintf(stderr, "%s: %s refused the fault: %s\n", kProgram,
                 address.c_str(),
                 reply->fault_response().error().reason().c_str());
    return kExitBadSetup;
  }
  std::printf(
      "%s partitioned from: [%s]\n", address.c_str(),
      absl::StrJoin(reply->fault_response().partitioned(), ",").c_str());
  return 0;
}

void RequireFlag(const char* name, const std::string& value) {
  if (value.empty()) {
    std::fprintf(stderr, "%s: needs --%s\n", kProgram, name);
    std::fflush(nullptr);
    ::_exit(kExitBadSetup);
  }
}

int CreateIndex(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_node);
  RequireFlag("index", absl::GetFlag(FLAGS_index));
  pb::Envelope request;
  pb::CreateIndexRequest* create = request.mutable_create_index();
  create->set_index(absl::GetFlag(FLAGS_index));
  create->set_number_of_shards(absl::GetFlag(FLAGS_shards));
  create->set_number_of_replicas(absl::GetFlag(FLAGS_replicas));
  absl::StatusOr<pb::Envelope> reply =
      Call(transport, "node", address, request);
  if (!reply.ok()) Fail(Unreachable("node", address, reply.status()));
  const pb::CreateIndexResponse& response = reply->create_index_response();
  if (!response.error().type().empty()) {
    Fail(
        absl::StrCat(response.error().type(), ": ", response.error().reason()));
  }
  std::printf("created index %s (acknowledged %s)\n", response.index().c_str(),
              response.acknowledged() ? "true" : "false");
  return 0;
}

int Write(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_node);
  RequireFlag("index", absl::GetFlag(FLAGS_index));
  RequireFlag("id", absl::GetFlag(FLAGS_id));
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(absl::GetFlag(FLAGS_index));
  write->set_id(absl::GetFlag(FLAGS_id));
  write->set_kind(pb::WriteRequest::INDEX);
  write->set_source(absl::GetFlag(FLAGS_json));
  absl::StatusOr<pb::Envelope> reply =
      Call(transport, "node", address, request);
  if (!reply.ok()) Fail(Unreachable("node", address, reply.status()));
  const pb::WriteResponse& response = reply->write_response();
  if (!response.error().type().empty()) {
    Fail(absl::StrCat(response.error().status(), " ", response.error().type(),
                      ": ", response.error().reason()));
  }
  std::printf("%s %s/%s version %lld seq_no %lld term %lld shards %d/%d\n",
              response.result().c_str(), response.index().c_str(),
              response.id().c_str(), static_cast<long long>(response.version()),
              static_cast<long long>(response.seq_no()),
              static_cast<long long>(response.primary_term()),
              response.shards().successful(), response.shards().total());
  return 0;
}

int Get(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_node);
  RequireFlag("index", absl::GetFlag(FLAGS_index));
  RequireFlag("id", absl::GetFlag(FLAGS_id));
  pb::Envelope request;
  pb::GetRequest* get = request.mutable_get();
  get->set_index(absl::GetFlag(FLAGS_index));
  get->set_id(absl::GetFlag(FLAGS_id));
  absl::StatusOr<pb::Envelope> reply =
      Call(transport, "node", address, request);
  if (!reply.ok()) Fail(Unreachable("node", address, reply.status()));
  const pb::GetResponse& response = reply->get_response();
  if (!response.error().type().empty()) {
    Fail(absl::StrCat(response.error().status(), " ", response.error().type(),
                      ": ", response.error().reason()));
  }
  if (!response.found()) {
    std::printf("not found %s/%s\n", response.index().c_str(),
                response.id().c_str());
    return 1;
  }
  std::printf("found %s/%s version %lld seq_no %lld term %lld %s\n",
              response.index().c_str(), response.id().c_str(),
              static_cast<long long>(response.version()),
              static_cast<long long>(response.seq_no()),
              static_cast<long long>(response.primary_term()),
              response.source().c_str());
  return 0;
}

// Writes --count documents with --concurrency in flight and prints throughput
// and latency: the group commit shows as throughput growing with concurrency at
// the same fsync cost.
int Load(Transport& transport) {
  const std::string address = absl::GetFlag(FLAGS_node);
  const std::string index = absl::GetFlag(FLAGS_index);
  RequireFlag("index", index);
  const int count = absl::GetFlag(FLAGS_count);
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  if (count <= 0) {
    std::fprintf(stderr, "%s: --count must be > 0\n", kProgram);
    return kExitBadSetup;
  }
  const std::string prefix =
      absl::StrCat("load-", absl::ToUnixMillis(absl::Now()), "-");
  std::atomic<int> next{0};
  std::atomic<int> finished_lanes{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  int failed = 0;
  std::string first_error;
  absl::Notification done;
  std::function<void()> issue = [&] {
    const int i = next++;
    if (i >= count) {
      if (++finished_lanes == concurrency) done.Notify();
      return;
    }
    pb::Envelope request;
    pb::WriteRequest* write = request.mutable_write();
    write->set_index(index);
    write->set_id(absl::StrCat(prefix, i));
    write->set_source(absl::StrCat("{\"n\":", i, "}"));
    const absl::Time start = absl::Now();
    transport.Call(
        "node", address, std::move(request), Timeout(),
        [&, start](absl::StatusOr<pb::Envelope> reply) {
          {
            std::lock_guard<std::mutex> lock(mu);
            if (reply.ok() && reply->write_response().error().type().empty()) {
              latencies_ms.push_back(
                  absl::ToDoubleMilliseconds(absl::Now() - start));
            } else {
              if (failed++ == 0) {
                first_error = reply.ok()
                                  ? reply->write_response().error().reason()
                                  : std::string(reply.status().message());
              }
            }
          }
          issue();
        });
  };
  const absl::Time start = absl::Now();
  for (int lane = 0; lane < concurrency; ++lane) issue();
  done.WaitForNotification();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::lock_guard<std::mutex> lock(mu);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto percentile = [&](double p) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<size_t>(p * latencies_ms.size()))];
  };
  std::printf(
      "%d writes, concurrency %d: %zu acked, %d failed in %.2f s = %.0f "
      "writes/s; "
      "latency p50 %.1f ms p99 %.1f ms\n",
      count, concurrency, latencies_ms.size(), failed, seconds,
      latencies_ms.size() / seconds, percentile(0.5), percentile(0.99));
  if (failed > 0)
    std::fprintf(stderr, "%s: first failure: %s\n", kProgram,
                 first_error.c_str());
  return failed > 0 ? 1 : 0;
}

// Writes a new cluster identity (or a copy of --from's uuid and secret) to
// --out, with the TLS file names if given.
int MakeIdentity() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) Fail("identity needs --out=FILE");
  ClusterIdentity identity;
  if (const std::string from = absl::GetFlag(FLAGS_from); !from.empty()) {
    absl::StatusOr<std::shared_ptr<const ClusterIdentity>> base =
        LoadClusterIdentity(from);
    if (!base.ok()) Fail(std::string(base.status().message()));
    identity.cluster_uuid = (*base)->cluster_uuid;
    identity.secret = (*base)->secret;
  } else {
    absl::StatusOr<ClusterIdentity> fresh = NewClusterIdentity();
    if (!fresh.ok()) Fail(std::string(fresh.status().message()));
    identity = std::move(*fresh);
  }
  absl::Status written = WriteClusterIdentity(
      identity, out, absl::GetFlag(FLAGS_tls_ca), absl::GetFlag(FLAGS_tls_cert),
      absl::GetFlag(FLAGS_tls_key));
  if (!written.ok()) Fail(std::string(written.message()));
  // Read back: the TLS files must exist and be PEM.
  absl::StatusOr<std::shared_ptr<const ClusterIdentity>> check =
      LoadClusterIdentity(out);
  if (!check.ok()) {
    ::unlink(out.c_str());
    Fail(std::string(check.status().message()));
  }
  std::printf("cluster identity %s: cluster uuid %s%s\n", out.c_str(),
              identity.cluster_uuid.c_str(),
              (*check)->tls() ? ", mutual TLS" : "");
  return 0;
}

int Run(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "COMMAND [flags]: operate a live seqsim cluster over gRPC.\n"
      "Commands: status, health, state, partition, delay, drop, duplicate, "
      "heal, create-index, write, get, load, identity.\n"
      "Examples:\n"
      "  seqsim-ctl status "
      "--nodes=127.0.0.1:9300,127.0.0.1:9301,127.0.0.1:9302\n"
      "  seqsim-ctl health --coordinator=127.0.0.1:9400 --wait=green "
      "--timeout_ms=30000\n"
      "  seqsim-ctl partition --node=127.0.0.1:9300 --peers=node-2\n"
      "  seqsim-ctl heal --node=127.0.0.1:9300\n"
      "  seqsim-ctl identity --out=data/cluster.identity\n"
      "Every command but identity takes --cluster_identity=FILE.");
  std::vector<char*> positional = ParseFlagsOrExit(kProgram, argc, argv);
  if (positional.size() != 2) {
    std::fprintf(
        stderr,
        "%s: expected one command (status, health, state, partition, delay, "
        "heal, create-index, write, get, load, identity); --help lists the "
        "flags\n",
        kProgram);
    return kExitBadSetup;
  }
  if (absl::GetFlag(FLAGS_timeout_ms) <= 0) {
    std::fprintf(stderr, "%s: --timeout_ms must be > 0\n", kProgram);
    return kExitBadSetup;
  }
  const std::string command = positional[1];
  if (command == "identity") {
    const int made = MakeIdentity();
    std::fflush(nullptr);
    ::_exit(made);
  }
  absl::StatusOr<std::shared_ptr<const ClusterIdentity>> identity =
      IdentityFromFlag(absl::GetFlag(FLAGS_cluster_identity));
  if (!identity.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProgram,
                 std::string(identity.status().message()).c_str());
    return kExitBadSetup;
  }
  Transport transport("seqsim-ctl", *identity);
  int code = kExitBadSetup;
  if (command == "status") {
    code = Status(transport);
  } else if (command == "health") {
    code = Health(transport);
  } else if (command == "state") {
    code = State(transport);
  } else if (command == "partition") {
    code = Fault(transport, pb::FaultRequest::PARTITION);
  } else if (command == "delay") {
    code = Fault(transport, pb::FaultRequest::DELAY);
  } else if (command == "drop") {
    code = Fault(transport, pb::FaultRequest::DROP);
  } else if (command == "duplicate") {
    code = Fault(transport, pb::FaultRequest::DUPLICATE);
  } else if (command == "heal") {
    code = Fault(transport, pb::FaultRequest::HEAL);
  } else if (command == "create-index") {
    code = CreateIndex(transport);
  } else if (command == "write") {
    code = Write(transport);
  } else if (command == "get") {
    code = Get(transport);
  } else if (command == "load") {
    code = Load(transport);
  } else {
    std::fprintf(stderr,
                 "%s: unknown command '%s'; --help lists the commands\n",
                 kProgram, command.c_str());
  }
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace
}  // namespace seqsim

int main(int argc, char** argv) { return seqsim::Run(argc, argv); }
