#include "experiment/cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/cluster_view.h"
#include "common/env.h"
#include "common/live/identity.h"

namespace seqsim::experiment {
namespace {

namespace fs = std::filesystem;

constexpr char kCoordinator[] = "coordinator";

std::string ReadTail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

int PortOf(const std::string& address) {
  std::vector<std::string> parts = absl::StrSplit(address, ':');
  return parts.size() == 2 ? std::atoi(parts[1].c_str()) : 0;
}

// True (and reaped) if `pid` has exited.
bool Exited(pid_t pid, int* status) {
  return ::waitpid(pid, status, WNOHANG) == pid;
}

void Reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

// Ports handed out for port 0 and outgoing connections come from the ephemeral
// range, where any client connection may take a port before the child binds
// it: pick below that range, at random, and check that it binds.
int PickFreePort() {
  static std::mutex mu;
  static std::mt19937 random(std::random_device{}());
  static std::set<int> handed_out;
  int low = 32768;
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  range >> low;
  if (low <= 11000) low = 32768;
  std::lock_guard<std::mutex> lock(mu);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port =
        10000 + static_cast<int>(random() % static_cast<unsigned>(low - 10000));
    if (handed_out.contains(port)) continue;
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    const int rc =
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::close(fd);
    if (rc == 0) {
      handed_out.insert(port);
      return port;
    }
  }
  return 0;
}

std::unique_ptr<Transport> NewRunnerTransport(
    std::shared_ptr<const ClusterIdentity> identity = nullptr) {
  return std::make_unique<Transport>("seqsim-experiment", std::move(identity));
}

ExperimentCluster::ExperimentCluster(ClusterOptions options)
    : options_(std::move(options)), transport_(NewRunnerTransport()) {
  if (owns_processes()) {
    for (int n = 1; n <= options_.nodes; ++n)
      node_ids_.push_back(absl::StrCat("node-", n));
  }
}

ExperimentCluster::~ExperimentCluster() { Shutdown(); }

std::string ExperimentCluster::GrpcAddress(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = grpc_addresses_.find(node);
  return it == grpc_addresses_.end() ? "" : it->second;
}

std::string ExperimentCluster::RestAddress(const std::string& node) const {
  absl::MutexLock lock(&mu_);
  auto it = rest_addresses_.find(node);
  return it == rest_addresses_.end() ? "" : it->second;
}

std::string ExperimentCluster::CoordinatorAddress() const {
  absl::MutexLock lock(&mu_);
  return coordinator_address_;
}

std::vector<std::string> ExperimentCluster::NodeArgv(int n) const {
  const std::string id = absl::StrCat("node-", n);
  const std::string grpc = GrpcAddress(id);
  const std::string rest = RestAddress(id);
  std::vector<std::string> argv = {
      options_.bin_dir + "/seqsim-node",
      absl::StrCat("--id=", id),
      "--host=127.0.0.1",
      absl::StrCat("--grpc_port=", PortOf(grpc)),
      absl::StrCat("--rest_port=", PortOf(rest)),
      absl::StrCat("--coordinator=", CoordinatorAddress()),
      absl::StrCat("--data_dir=", options_.data_dir, "/", id),
      absl::StrCat("--heartbeat_interval_ms=", options_.heartbeat_interval_ms),
      absl::StrCat("--rpc_timeout_ms=", options_.rpc_timeout_ms),
      absl::StrCat("--write_timeout_ms=", options_.write_timeout_ms)};
  if (!options_.unsafe.empty())
    argv.push_back(absl::StrCat("--unsafe=", options_.unsafe));
  if (!identity_path_.empty())
    argv.push_back(absl::StrCat("--cluster_identity=", identity_path_));
  return argv;
}

std::vector<std::string> ExperimentCluster::CoordinatorArgv() const {
  std::vector<std::string> argv = {
      options_.bin_dir + "/seqsim-coordinator",
      "--host=127.0.0.1",
      absl::StrCat("--port=", PortOf(CoordinatorAddress())),
      absl::StrCat("--data_dir=", options_.data_dir, "/coordinator"),
      absl::StrCat("--heartbeat_timeout_ms=", options_.heartbeat_timeout_ms),
      absl::StrCat("--check_interval_ms=", options_.check_interval_ms),
      absl::StrCat("--rpc_timeout_ms=", options_.rpc_timeout_ms),
      "--cluster_name=seqsim-experiment"};
  if (!identity_path_.empty())
    argv.push_back(absl::StrCat("--cluster_identity=", identity_path_));
  return argv;
}

std::string ExperimentCluster::LogPath(const std::string& name) const {
  return absl::StrCat(options_.log_dir, "/", name, ".log");
}

pid_t ExperimentCluster::Spawn(const std::vector<std::string>& argv,
                               const std::string& log) {
  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (std::string& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  const int log_fd =
      ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The runner may have died between fork and prctl.
    if (::getppid() != parent) ::_exit(1);
    // The runner's SIGINT handling stays the runner's: a Ctrl-C in the
    // terminal reaches the whole process group, the runner stops the children.
    ::setpgid(0, 0);
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

absl::Status ExperimentCluster::StartProcess(const std::string& name,
                                             absl::Duration timeout) {
  const bool coordinator = name == kCoordinator;
  const int n = coordinator ? 0 : std::atoi(name.c_str() + 5);
  bool first_start;
  {
    absl::MutexLock lock(&mu_);
    first_start = !procs_.contains(name);
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (first_start) {
      absl::MutexLock lock(&mu_);
      if (coordinator) {
        coordinator_address_ = absl::StrCat("127.0.0.1:", PickFreePort());
      } else {
        grpc_addresses_[name] = absl::StrCat("127.0.0.1:", PickFreePort());
        rest_addresses_[name] = absl::StrCat("127.0.0.1:", PickFreePort());
      }
    }
    const pid_t pid =
        Spawn(coordinator ? CoordinatorArgv() : NodeArgv(n), LogPath(name));
    if (pid < 0) return absl::InternalError("fork failed");
    {
      absl::MutexLock lock(&mu_);
      procs_[name] = Proc{pid, false, false};
    }
    const absl::Time deadline = absl::Now() + timeout;
    int status = 0;
    bool exited = false;
    while (absl::Now() < deadline) {
      if (Exited(pid, &status)) {
        exited = true;
        break;
      }
      if (coordinator ? State(absl::Milliseconds(500)).ok()
                      : NodeStatus(name, absl::Milliseconds(500)).ok()) {
        return absl::OkStatus();
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    {
      absl::MutexLock lock(&mu_);
      procs_[name].pid = -1;
    }
    if (!exited) {
      ::kill(pid, SIGKILL);
      Reap(pid);
      return absl::UnavailableError(absl::StrCat(
          name, " did not answer within ", absl::FormatDuration(timeout),
          "; log tail:\n", LogTail(name)));
    }
    // A first start that lost its port to another process picks other ports;
    // a restart keeps the ports its peers know.
    if (!first_start) {
      return absl::UnavailableError(
          absl::StrCat(name, " exited at restart; log tail:\n", LogTail(name)));
    }
  }
  return absl::UnavailableError(
      absl::StrCat(name, " could not start; log tail:\n", LogTail(name)));
}

absl::Status ExperimentCluster::Attach(absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    coordinator_address_ = options_.attach;
  }
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<pb::ClusterState> state = State();
  while (!state.ok() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(200));
    state = State();
  }
  if (!state.ok()) {
    return absl::UnavailableError(
        absl::StrCat("--attach=", options_.attach,
                     ": no coordinator answers: ", state.status().message()));
  }
  absl::MutexLock lock(&mu_);
  for (const pb::NodeInfo& node : state->nodes()) {
    node_ids_.push_back(node.id());
    grpc_addresses_[node.id()] = node.grpc_address();
    rest_addresses_[node.id()] = node.rest_address();
  }
  if (node_ids_.empty())
    return absl::UnavailableError("the attached cluster has no nodes");
  return absl::OkStatus();
}

absl::Status ExperimentCluster::Start(absl::Duration timeout) {
  if (!owns_processes()) {
    absl::StatusOr<std::shared_ptr<const ClusterIdentity>> identity =
        IdentityFromFlag(options_.identity_file);
    if (!identity.ok()) return identity.status();
    transport_ = NewRunnerTransport(*identity);
    if (absl::Status s = Attach(timeout); !s.ok()) return s;
  } else {
    std::error_code ec;
    fs::create_directories(options_.data_dir, ec);
    fs::create_directories(options_.log_dir, ec);
    // Internal gRPC is authenticated (issue 13): a new identity per cluster,
    // presented by every process and by this runner's fault RPCs.
    absl::StatusOr<ClusterIdentity> fresh = NewClusterIdentity();
    if (!fresh.ok()) return fresh.status();
    identity_path_ = absl::StrCat(options_.data_dir, "/cluster.identity");
    fs::remove(identity_path_, ec);
    if (absl::Status s = WriteClusterIdentity(*fresh, identity_path_);
        !s.ok()) {
      return s;
    }
    absl::StatusOr<std::shared_ptr<const ClusterIdentity>> identity =
        LoadClusterIdentity(identity_path_);
    if (!identity.ok()) return identity.status();
    transport_ = NewRunnerTransport(*identity);
    for (const char* binary : {"seqsim-node", "seqsim-coordinator"}) {
      const std::string path = absl::StrCat(options_.bin_dir, "/", binary);
      if (::access(path.c_str(), X_OK) != 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(path,
                         " is not an executable (build first, or pass "
                         "--bin_dir)"));
      }
    }
    if (absl::Status s = StartProcess(kCoordinator, timeout); !s.ok()) return s;
    for (const std::string& id : node_ids_) {
      if (absl::Status s = StartProcess(id, timeout); !s.ok()) return s;
    }
  }
  if (!WaitGreen(timeout)) {
    return absl::UnavailableError(absl::StrCat(
        "the cluster did not become green within ",
        absl::FormatDuration(timeout), " with ", node_ids_.size(), " nodes"));
  }
  return absl::OkStatus();
}

void ExperimentCluster::Shutdown() {
  std::vector<pid_t> pids;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [name, proc] : procs_) {
      if (proc.pid <= 0) continue;
      ::kill(proc.pid, SIGCONT);
      ::kill(proc.pid, SIGTERM);
      pids.push_back(proc.pid);
      proc.pid = -1;
    }
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  for (pid_t pid : pids) {
    int status = 0;
    while (!Exited(pid, &status) && absl::Now() < deadline)
      absl::SleepFor(absl::Milliseconds(20));
    if (::kill(pid, 0) == 0) {
      ::kill(pid, SIGKILL);
      Reap(pid);
    }
  }
}

bool ExperimentCluster::Kill(const std::string& name) {
  pid_t pid;
  {
    absl::MutexLock lock(&mu_);
    auto it = procs_.find(name);
    if (it == procs_.end() || it->second.pid <= 0) return false;
    pid = it->second.pid;
    it->second.pid = -1;
    it->second.paused = false;
    it->second.killed_by_us = true;
  }
  ::kill(pid, SIGKILL);
  Reap(pid);
  return true;
}

bool ExperimentCluster::Restart(const std::string& name) {
  {
    absl::MutexLock lock(&mu_);
    auto it = procs_.find(name);
    if (shut_down_ || it == procs_.end() || it->second.pid > 0) return false;
  }
  return StartProcess(name, absl::Seconds(20)).ok();
}

bool ExperimentCluster::Pause(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = procs_.find(name);
  if (it == procs_.end() || it->second.pid <= 0 || it->second.paused)
    return false;
  ::kill(it->second.pid, SIGSTOP);
  it->second.paused = true;
  return true;
}

bool ExperimentCluster::Resume(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = procs_.find(name);
  if (it == procs_.end() || it->second.pid <= 0 || !it->second.paused)
    return false;
  ::kill(it->second.pid, SIGCONT);
  it->second.paused = false;
  return true;
}

bool ExperimentCluster::Running(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  if (!owns_processes()) return true;
  auto it = procs_.find(name);
  return it != procs_.end() && it->second.pid > 0;
}

bool ExperimentCluster::Paused(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = procs_.find(name);
  return it != procs_.end() && it->second.paused;
}

std::vector<std::string> ExperimentCluster::CheckCrashes() {
  std::vector<std::string> crashes;
  absl::MutexLock lock(&mu_);
  for (auto& [name, proc] : procs_) {
    if (proc.pid <= 0) continue;
    int status = 0;
    if (!Exited(proc.pid, &status)) continue;
    proc.pid = -1;
    std::string how = WIFSIGNALED(status)
                          ? absl::StrCat("killed by signal ", WTERMSIG(status))
                          : absl::StrCat("exit status ", WEXITSTATUS(status));
    crashes.push_back(absl::StrCat(name, " exited on its own (", how, ")"));
  }
  return crashes;
}

absl::Status ExperimentCluster::Fault(const std::string& node,
                                      pb::FaultRequest::Action action,
                                      const std::vector<std::string>& peers,
                                      int delay_ms, double probability) {
  pb::Envelope request;
  pb::FaultRequest* fault = request.mutable_fault();
  fault->set_action(action);
  for (const std::string& peer : peers) fault->add_peers(peer);
  fault->set_delay_ms(delay_ms);
  fault->set_probability(probability);
  absl::StatusOr<pb::Envelope> reply = transport_->CallSync(
      node, GrpcAddress(node), std::move(request), absl::Seconds(2));
  if (!reply.ok()) return reply.status();
  if (reply->fault_response().has_error()) {
    return absl::InvalidArgumentError(reply->fault_response().error().reason());
  }
  return absl::OkStatus();
}

void ExperimentCluster::HealNetwork() {
  for (const std::string& node : node_ids_) {
    if (!Running(node) || Paused(node)) continue;
    (void)Fault(node, pb::FaultRequest::HEAL, {});
  }
}

absl::StatusOr<pb::ClusterState> ExperimentCluster::State(
    absl::Duration timeout) {
  pb::Envelope request;
  request.mutable_get_cluster_state();
  absl::StatusOr<pb::Envelope> reply = transport_->CallSync(
      kCoordinatorId, CoordinatorAddress(), std::move(request), timeout);
  if (!reply.ok()) return reply.status();
  return reply->get_cluster_state_response().state();
}

absl::StatusOr<pb::NodeStatusResponse> ExperimentCluster::NodeStatus(
    const std::string& node, absl::Duration timeout) {
  pb::Envelope request;
  request.mutable_node_status();
  absl::StatusOr<pb::Envelope> reply = transport_->CallSync(
      node, GrpcAddress(node), std::move(request), timeout);
  if (!reply.ok()) return reply.status();
  // Another process may hold the port (ours lost it at start): not our node.
  if (reply->node_status_response().node_id() != node) {
    return absl::UnavailableError(
        absl::StrCat("port of ", node, " answered as ",
                     reply->node_status_response().node_id()));
  }
  return reply->node_status_response();
}

absl::StatusOr<pb::GetResponse> ExperimentCluster::GetLocal(
    const std::string& node, const std::string& index, const std::string& id) {
  pb::Envelope request;
  pb::GetRequest* get = request.mutable_get();
  get->set_index(index);
  get->set_id(id);
  get->set_prefer_local(true);
  absl::StatusOr<pb::Envelope> reply = transport_->CallSync(
      node, GrpcAddress(node), std::move(request), absl::Seconds(5));
  if (!reply.ok()) return reply.status();
  return reply->get_response();
}

absl::Status ExperimentCluster::CreateIndex(const std::string& index,
                                            int shards, int replicas) {
  pb::Envelope request;
  pb::CreateIndexRequest* create = request.mutable_create_index();
  create->set_index(index);
  create->set_number_of_shards(shards);
  create->set_number_of_replicas(replicas);
  absl::StatusOr<pb::Envelope> reply =
      transport_->CallSync(kCoordinatorId, CoordinatorAddress(),
                           std::move(request), absl::Seconds(10));
  if (!reply.ok()) return reply.status();
  const pb::CreateIndexResponse& response = reply->create_index_response();
  if (!response.error().type().empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(response.error().type(), ": ", response.error().reason()));
  }
  return absl::OkStatus();
}

bool ExperimentCluster::WaitGreen(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<pb::ClusterState> state = State();
    if (state.ok()) {
      int alive = 0;
      for (const pb::NodeInfo& node : state->nodes())
        alive += node.alive() ? 1 : 0;
      if (alive >= static_cast<int>(node_ids_.size()) &&
          ComputeHealth(*state).status == "green") {
        return true;
      }
    }
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(100));
  }
}

std::vector<std::string> ExperimentCluster::LogFiles() const {
  std::vector<std::string> files;
  if (!owns_processes()) return files;
  files.push_back(LogPath(kCoordinator));
  for (const std::string& id : node_ids_) files.push_back(LogPath(id));
  return files;
}

std::string ExperimentCluster::LogTail(const std::string& name,
                                       size_t bytes) const {
  return ReadTail(LogPath(name), bytes);
}

}  // namespace seqsim::experiment
