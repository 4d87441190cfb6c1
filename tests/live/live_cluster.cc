#include "tests/live/live_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/cluster_view.h"
#include "common/env.h"
#include "gtest/gtest.h"

namespace seqsim::testing {
namespace {

namespace fs = std::filesystem;

std::vector<char*> CArgs(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& arg : args) out.push_back(arg.data());
  out.push_back(nullptr);
  return out;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

// Ports handed out by the kernel for port 0 and for outgoing connections come
// from the ephemeral range; a port picked there can be taken by any client
// connection before the child binds it. Pick below that range instead, at
// random, and check it binds.
int PickFreePort() {
  static std::mutex mu;
  static std::mt19937 random(std::random_device{}());
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  if (low <= 11000) low = 32768;
  // Ports handed out before may be free right now only because their process
  // has not bound them yet: never hand one out twice.
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port =
        10000 + static_cast<int>(random() % static_cast<unsigned>(low - 10000));
    if (handed_out.contains(port)) continue;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::close(fd);
    if (rc == 0) {
      handed_out.insert(port);
      return port;
    }
  }
  return 0;
}

std::string BinDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return self.parent_path().string();
}

ProcessResult RunToCompletion(const std::vector<std::string>& argv,
                              absl::Duration timeout) {
  ProcessResult result;
  char path[] = "/tmp/seqsim-run-XXXXXX";
  int out_fd = ::mkstemp(path);
  if (out_fd < 0) return result;
  std::vector<std::string> args = argv;
  std::vector<char*> c_args = CArgs(args);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    ::execv(c_args[0], c_args.data());
    ::_exit(127);
  }
  ::close(out_fd);
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (absl::Now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      status = -1;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (status != -1 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  result.output = ReadAll(path);
  ::unlink(path);
  return result;
}

LiveCluster::LiveCluster(LiveClusterOptions options)
    : options_(options), bin_dir_(BinDir()) {
  std::string base = fs::temp_directory_path().string() + "/seqsim-live-XXXXXX";
  std::vector<char> buffer(base.begin(), base.end());
  buffer.push_back('\0');
  char* made = ::mkdtemp(buffer.data());
  root_ = made != nullptr ? std::string(made) : base;
  // The cluster identity, as scripts/cluster.sh up makes it.
  absl::StatusOr<ClusterIdentity> fresh = NewClusterIdentity();
  EXPECT_TRUE(fresh.ok()) << fresh.status();
  if (fresh.ok()) {
    absl::Status written =
        WriteClusterIdentity(*fresh, root_ + "/cluster.identity");
    EXPECT_TRUE(written.ok()) << written;
  }
  if (options_.tls) {
    std::vector<std::string> names = {"coordinator", "seqsim-test"};
    for (int n = 1; n <= options_.nodes; ++n) names.push_back(NodeId(n));
    std::vector<std::string> certs = {
        "/bin/bash", std::string(SEQSIM_SOURCE_DIR) + "/scripts/tls-certs.sh",
        root_ + "/tls"};
    certs.insert(certs.end(), names.begin(), names.end());
    ProcessResult made_certs = RunToCompletion(certs, absl::Seconds(60));
    EXPECT_EQ(made_certs.exit_code, 0) << made_certs.output;
    for (const std::string& name : names) {
      ProcessResult copied = RunToCompletion(
          {bin_dir_ + "/seqsim-ctl", "identity",
           "--from=" + root_ + "/cluster.identity", "--tls_ca=ca.pem",
           "--tls_cert=" + name + ".pem", "--tls_key=" + name + ".key",
           "--out=" + IdentityPath(name)},
          absl::Seconds(30));
      EXPECT_EQ(copied.exit_code, 0) << copied.output;
    }
  }
  absl::StatusOr<std::shared_ptr<const ClusterIdentity>> loaded =
      LoadClusterIdentity(IdentityPath());
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  if (loaded.ok()) identity_ = *loaded;
  transport_ = std::make_unique<Transport>("seqsim-test", identity_);
  coordinator_port_ = PickFreePort();
  for (int n = 1; n <= options_.nodes; ++n) {
    grpc_ports_.push_back(PickFreePort());
    rest_ports_.push_back(options_.rest ? PickFreePort() : 0);
  }
}

LiveCluster::~LiveCluster() {
  for (auto& [n, pid] : node_pids_) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      Reap(pid);
    }
  }
  if (coordinator_pid_ > 0) {
    ::kill(coordinator_pid_, SIGKILL);
    Reap(coordinator_pid_);
  }
  if (::testing::Test::HasFailure()) {
    DumpLogs();
    std::cerr << "LiveCluster: data and logs kept in " << root_ << "\n";
  } else {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
}

void LiveCluster::Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

pid_t LiveCluster::Spawn(const std::string& binary,
                         const std::vector<std::string>& args,
                         const std::string& log) {
  std::vector<std::string> argv = {bin_dir_ + "/" + binary};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_args = CArgs(argv);
  int log_fd =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    ::execv(c_args[0], c_args.data());
    ::_exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  return pid;
}

HttpResult HttpRequest(int port, const std::string& method,
                       const std::string& path, const std::string& body,
                       absl::Duration timeout) {
  HttpResult result;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return result;
  timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
      0) {
    ::close(fd);
    return result;
  }
  std::string request = absl::StrCat(
      method, " ", path,
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
      body.empty() ? ""
                   : absl::StrCat("Content-Type: application/json\r\n"
                                  "Content-Length: ",
                                  body.size(), "\r\n"),
      "\r\n", body);
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n =
        ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return result;
    }
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n <= 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t space = response.find(' ');
  size_t end = response.find("\r\n\r\n");
  if (space == std::string::npos || end == std::string::npos) return result;
  result.status = std::atoi(response.c_str() + space + 1);
  result.body = response.substr(end + 4);
  return result;
}

void LiveCluster::Start() {
  StartCoordinator();
  for (int n = 1; n <= options_.nodes; ++n) StartNode(n);
  ASSERT_TRUE(WaitGreen()) << "cluster did not become green with "
                           << options_.nodes << " nodes";
}

std::string LiveCluster::IdentityPath(const std::string& process) const {
  if (!options_.tls) return root_ + "/cluster.identity";
  return absl::StrCat(root_, "/tls/", process, ".identity");
}

void LiveCluster::StartCoordinator() {
  // A first start that loses its port to another process picks another one; a
  // restart keeps the port the nodes know.
  const bool first_start = !coordinator_started_;
  coordinator_started_ = true;
  for (int attempt = 0; attempt < 5; ++attempt) {
    coordinator_pid_ = Spawn(
        "seqsim-coordinator",
        {"--host=127.0.0.1", absl::StrCat("--port=", coordinator_port_),
         absl::StrCat("--data_dir=", root_, "/coordinator"),
         absl::StrCat("--heartbeat_timeout_ms=", options_.heartbeat_timeout_ms),
         absl::StrCat("--check_interval_ms=", options_.check_interval_ms),
         absl::StrCat("--rpc_timeout_ms=", options_.rpc_timeout_ms),
         "--cluster_name=live-test",
         "--cluster_identity=" + IdentityPath("coordinator")},
        root_ + "/coordinator.log");
    bool exited = false;
    // Answers GetClusterState once it listens.
    WaitFor([&] { return State().ok() || (exited = Exited(coordinator_pid_)); },
            absl::Seconds(30));
    if (!exited) return;
    coordinator_pid_ = -1;
    if (!first_start) return;
    coordinator_port_ = PickFreePort();
  }
}

bool LiveCluster::Exited(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) == pid;
}

void LiveCluster::StartNode(int n) {
  // A first start that loses its port to another process picks another one.
  const bool first_start = !node_pids_.contains(n);
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::vector<std::string> flags = {
        absl::StrCat("--id=", NodeId(n)),
        "--host=127.0.0.1",
        absl::StrCat("--grpc_port=", grpc_ports_[n - 1]),
        absl::StrCat("--rest_port=", rest_ports_[n - 1]),
        absl::StrCat("--coordinator=", CoordinatorAddress()),
        absl::StrCat("--data_dir=", root_, "/", NodeId(n)),
        absl::StrCat("--heartbeat_interval_ms=",
                     options_.heartbeat_interval_ms),
        absl::StrCat("--rpc_timeout_ms=", options_.rpc_timeout_ms),
        absl::StrCat("--write_timeout_ms=", options_.write_timeout_ms),
        "--cluster_identity=" + IdentityPath(NodeId(n))};
    flags.insert(flags.end(), options_.node_flags.begin(),
                 options_.node_flags.end());
    node_pids_[n] = Spawn("seqsim-node", flags,
                          absl::StrCat(root_, "/", NodeId(n), ".log"));
    bool exited = false;
    WaitFor(
        [&] { return NodeStatus(n).ok() || (exited = Exited(node_pids_[n])); },
        absl::Seconds(30));
    if (!exited) return;
    node_pids_[n] = -1;
    if (!first_start) return;
    grpc_ports_[n - 1] = PickFreePort();
    if (options_.rest) rest_ports_[n - 1] = PickFreePort();
  }
}

std::string LiveCluster::NodeLog(int n) const {
  std::ifstream in(absl::StrCat(root_, "/", NodeId(n), ".log"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void LiveCluster::KillCoordinator() {
  if (coordinator_pid_ <= 0) return;
  ::kill(coordinator_pid_, SIGKILL);
  Reap(coordinator_pid_);
  coordinator_pid_ = -1;
}

void LiveCluster::KillNode(int n) {
  auto it = node_pids_.find(n);
  if (it == node_pids_.end() || it->second <= 0) return;
  ::kill(it->second, SIGKILL);
  Reap(it->second);
  it->second = -1;
}

void LiveCluster::PauseNode(int n) { ::kill(node_pids_.at(n), SIGSTOP); }
void LiveCluster::ResumeNode(int n) { ::kill(node_pids_.at(n), SIGCONT); }

bool LiveCluster::NodeRunning(int n) const {
  auto it = node_pids_.find(n);
  return it != node_pids_.end() && it->second > 0;
}

int LiveCluster::NodeNumber(const std::string& id) const {
  if (id.rfind("node-", 0) != 0) return 0;
  return std::atoi(id.c_str() + 5);
}

std::string LiveCluster::NodeAddress(int n) const {
  return absl::StrCat("127.0.0.1:", grpc_ports_[n - 1]);
}

std::string LiveCluster::CoordinatorAddress() const {
  return absl::StrCat("127.0.0.1:", coordinator_port_);
}

absl::StatusOr<pb::Envelope> LiveCluster::CallNode(int n, pb::Envelope request,
                                                   absl::Duration timeout) {
  return transport_->CallSync(NodeId(n), NodeAddress(n), std::move(request),
                              timeout);
}

absl::StatusOr<pb::Envelope> LiveCluster::CallCoordinator(
    pb::Envelope request, absl::Duration timeout) {
  return transport_->CallSync(kCoordinatorId, CoordinatorAddress(),
                              std::move(request), timeout);
}

absl::StatusOr<pb::ClusterState> LiveCluster::State() {
  pb::Envelope request;
  request.mutable_get_cluster_state();
  absl::StatusOr<pb::Envelope> reply =
      CallCoordinator(request, absl::Seconds(2));
  if (!reply.ok()) return reply.status();
  return reply->get_cluster_state_response().state();
}

absl::StatusOr<pb::NodeStatusResponse> LiveCluster::NodeStatus(int n) {
  pb::Envelope request;
  request.mutable_node_status();
  absl::StatusOr<pb::Envelope> reply = CallNode(n, request, absl::Seconds(2));
  if (!reply.ok()) return reply.status();
  // Another process may hold this port (ours lost it at start): not our node.
  if (reply->node_status_response().node_id() != NodeId(n)) {
    return absl::UnavailableError(
        absl::StrCat("port of ", NodeId(n), " answered as ",
                     reply->node_status_response().node_id()));
  }
  return reply->node_status_response();
}

absl::StatusOr<pb::WriteResponse> LiveCluster::Write(int via,
                                                     const std::string& index,
                                                     const std::string& id,
                                                     const std::string& json) {
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(index);
  write->set_id(id);
  write->set_kind(pb::WriteRequest::INDEX);
  write->set_source(json);
  absl::StatusOr<pb::Envelope> reply =
      CallNode(via, request, absl::Seconds(20));
  if (!reply.ok()) return reply.status();
  return reply->write_response();
}

absl::StatusOr<pb::GetResponse> LiveCluster::GetLocal(int n,
                                                      const std::string& index,
                                                      const std::string& id) {
  pb::Envelope request;
  pb::GetRequest* get = request.mutable_get();
  get->set_index(index);
  get->set_id(id);
  get->set_prefer_local(true);
  absl::StatusOr<pb::Envelope> reply = CallNode(n, request, absl::Seconds(5));
  if (!reply.ok()) return reply.status();
  return reply->get_response();
}

absl::Status LiveCluster::CreateIndex(const std::string& index, int shards,
                                      int replicas) {
  pb::Envelope request;
  pb::CreateIndexRequest* create = request.mutable_create_index();
  create->set_index(index);
  create->set_number_of_shards(shards);
  create->set_number_of_replicas(replicas);
  absl::StatusOr<pb::Envelope> reply =
      CallCoordinator(request, absl::Seconds(10));
  if (!reply.ok()) return reply.status();
  const pb::CreateIndexResponse& response = reply->create_index_response();
  if (!response.error().type().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(response.error().type(), ": ", response.error().reason()));
  }
  return absl::OkStatus();
}

void LiveCluster::Fault(int n, pb::FaultRequest::Action action,
                        const std::vector<std::string>& peers) {
  pb::Envelope request;
  request.mutable_fault()->set_action(action);
  for (const std::string& peer : peers)
    request.mutable_fault()->add_peers(peer);
  absl::StatusOr<pb::Envelope> reply = CallNode(n, request, absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << "fault injection on " << NodeId(n) << ": "
                          << reply.status();
}

bool LiveCluster::WaitFor(const std::function<bool()>& condition,
                          absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (condition()) return true;
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
}

bool LiveCluster::WaitGreen(absl::Duration timeout) {
  return WaitFor(
      [this] {
        absl::StatusOr<pb::ClusterState> state = State();
        if (!state.ok()) return false;
        int alive = 0;
        for (const pb::NodeInfo& node : state->nodes())
          alive += node.alive() ? 1 : 0;
        return alive >= options_.nodes &&
               ComputeHealth(*state).status == "green";
      },
      timeout);
}

std::optional<pb::ShardRouting> LiveCluster::Routing(const std::string& index,
                                                     int shard) {
  absl::StatusOr<pb::ClusterState> state = State();
  if (!state.ok()) return std::nullopt;
  for (const pb::IndexMeta& meta : state->indices()) {
    if (meta.name() != index) continue;
    for (const pb::ShardRouting& routing : meta.shards()) {
      if (routing.shard() == shard) return routing;
    }
  }
  return std::nullopt;
}

int LiveCluster::PrimaryOf(const std::string& index, int shard) {
  std::optional<pb::ShardRouting> routing = Routing(index, shard);
  if (!routing.has_value()) return 0;
  const pb::ShardCopy* primary = PrimaryCopy(*routing);
  return primary != nullptr ? NodeNumber(primary->node_id()) : 0;
}

std::optional<pb::ShardStatus> LiveCluster::CopyStatus(int n,
                                                       const std::string& index,
                                                       int shard) {
  absl::StatusOr<pb::NodeStatusResponse> status = NodeStatus(n);
  if (!status.ok()) return std::nullopt;
  for (const pb::ShardStatus& copy : status->shards()) {
    if (copy.index() == index && copy.shard() == shard) return copy;
  }
  return std::nullopt;
}

void LiveCluster::DumpLogs() const {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(root_, ec)) {
    if (entry.path().extension() != ".log") continue;
    std::string content = ReadAll(entry.path().string());
    size_t start = content.size() > 6000 ? content.size() - 6000 : 0;
    std::cerr << "----- tail of " << entry.path().string() << "\n"
              << content.substr(start) << "\n";
  }
}

}  // namespace seqsim::testing
