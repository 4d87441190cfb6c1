// The binaries fail fast with one clear line and exit code 2 on bad setup
// (DESIGN.md 1).
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/live/live_cluster.h"

namespace seqsim::testing {
namespace {

// Holds a listening socket on a free loopback port (bound with SO_REUSEPORT,
// as cpp-httplib binds, if `reuseport`).
class BusyPort {
 public:
  explicit BusyPort(bool reuseport = false) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (reuseport)
      ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::listen(fd_, 4);
    socklen_t length = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
  }
  ~BusyPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string TempDir() {
  char path[] = "/tmp/seqsim-flags-XXXXXX";
  char* made = ::mkdtemp(path);
  return made != nullptr ? made : "/tmp";
}

ProcessResult Node(std::vector<std::string> flags) {
  std::vector<std::string> argv = {BinDir() + "/seqsim-node"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return RunToCompletion(argv, absl::Seconds(30));
}

TEST(NodeProcess, BusyGrpcPortExitsWithCodeTwoAndNamesThePort) {
  BusyPort busy;
  ProcessResult result =
      Node({absl::StrCat("--grpc_port=", busy.port()), "--rest_port=0",
            absl::StrCat("--data_dir=", TempDir())});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find(absl::StrCat("seqsim-node: port ", busy.port(),
                                            " on 127.0.0.1 is already in use")),
            std::string::npos)
      << result.output;
}

TEST(NodeProcess, BusyRestPortExitsWithCodeTwoAndNamesThePort) {
  BusyPort busy;
  ProcessResult result = Node({absl::StrCat("--grpc_port=", PickFreePort()),
                               absl::StrCat("--rest_port=", busy.port()),
                               absl::StrCat("--data_dir=", TempDir())});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find(absl::StrCat("port ", busy.port(),
                                            " on 127.0.0.1 is already in use")),
            std::string::npos)
      << result.output;
}

// A listener that allows SO_REUSEPORT sharing is still a busy port: the node
// does not start beside it (its REST server would share the port silently).
TEST(NodeProcess, ReuseportListenerOnRestPortStillExitsWithBusyPort) {
  BusyPort busy(/*reuseport=*/true);
  ProcessResult result = Node({absl::StrCat("--grpc_port=", PickFreePort()),
                               absl::StrCat("--rest_port=", busy.port()),
                               absl::StrCat("--data_dir=", TempDir())});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find(absl::StrCat("seqsim-node: port ", busy.port(),
                                            " on 127.0.0.1 is already in use")),
            std::string::npos)
      << result.output;
}

TEST(NodeProcess, BadFlagValueExitsWithCodeTwoAndSaysWhy) {
  ProcessResult fsync = Node({"--fsync=sometimes", "--rest_port=0"});
  EXPECT_EQ(fsync.exit_code, 2) << fsync.output;
  EXPECT_NE(fsync.output.find("--fsync=sometimes must be request or async"),
            std::string::npos)
      << fsync.output;

  ProcessResult port = Node({"--grpc_port=abc"});
  EXPECT_EQ(port.exit_code, 2) << port.output;
  EXPECT_NE(port.output.find("grpc_port"), std::string::npos) << port.output;
  EXPECT_NE(port.output.find("seqsim-node: bad flag"), std::string::npos)
      << port.output;

  ProcessResult range = Node({"--grpc_port=70000"});
  EXPECT_EQ(range.exit_code, 2) << range.output;
  EXPECT_NE(range.output.find("--grpc_port=70000 is not a port"),
            std::string::npos)
      << range.output;

  ProcessResult gc = Node({"--gc_deletes=soon", "--rest_port=0"});
  EXPECT_EQ(gc.exit_code, 2) << gc.output;
  EXPECT_NE(gc.output.find("--gc_deletes=soon is not a time value"),
            std::string::npos)
      << gc.output;

  ProcessResult size =
      Node({"--translog_flush_threshold_size=0mb", "--rest_port=0"});
  EXPECT_EQ(size.exit_code, 2) << size.output;
  EXPECT_NE(size.output.find(
                "--translog_flush_threshold_size=0mb is not a byte size"),
            std::string::npos)
      << size.output;

  ProcessResult unknown = Node({"--no_such_flag=1"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no_such_flag"), std::string::npos)
      << unknown.output;
}

// Issue 12, section 6: the coordinator's id and the anonymous caller's id are
// not node ids.
TEST(NodeProcess, ReservedIdsAreRefusedAtStartUp) {
  for (const std::string id : {"coordinator", "client"}) {
    ProcessResult result =
        Node({"--id=" + id, absl::StrCat("--grpc_port=", PickFreePort()),
              "--rest_port=0", absl::StrCat("--data_dir=", TempDir())});
    EXPECT_EQ(result.exit_code, 2) << result.output;
    EXPECT_NE(result.output.find("seqsim-node: --id: node id '" + id +
                                 "' is reserved"),
              std::string::npos)
        << result.output;
  }
}

TEST(NodeProcess, UnusableDataDirExitsWithCodeTwo) {
  ProcessResult result =
      Node({absl::StrCat("--grpc_port=", PickFreePort()), "--rest_port=0",
            "--data_dir=/proc/seqsim-cannot-create"});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(
      result.output.find(
          "seqsim-node: data dir /proc/seqsim-cannot-create is not usable"),
      std::string::npos)
      << result.output;
}

TEST(NodeProcess, HelpListsTheFlags) {
  ProcessResult result = Node({"--help"});
  for (const char* flag : {"grpc_port", "rest_port", "coordinator", "data_dir",
                           "heartbeat_interval_ms", "fsync"}) {
    EXPECT_NE(result.output.find(flag), std::string::npos) << flag << "\n"
                                                           << result.output;
  }
}

TEST(CoordinatorProcess, BusyPortExitsWithCodeTwoAndNamesThePort) {
  BusyPort busy;
  ProcessResult result = RunToCompletion(
      {BinDir() + "/seqsim-coordinator", absl::StrCat("--port=", busy.port()),
       absl::StrCat("--data_dir=", TempDir())},
      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(
      result.output.find(absl::StrCat("seqsim-coordinator: port ", busy.port(),
                                      " on 127.0.0.1 is already in use")),
      std::string::npos)
      << result.output;
}

TEST(CoordinatorProcess, BadFlagValueExitsWithCodeTwo) {
  ProcessResult result = RunToCompletion(
      {BinDir() + "/seqsim-coordinator", "--heartbeat_timeout_ms=-5"},
      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("--heartbeat_timeout_ms=-5 must be > 0"),
            std::string::npos)
      << result.output;
}

TEST(CoordinatorProcess, CorruptStateFileExitsWithCodeTwoAndSaysWhy) {
  std::string dir = TempDir();
  {
    std::ofstream state(dir + "/cluster_state.pb", std::ios::binary);
    state << "\xff\xff this is not a cluster state";
  }
  int port = PickFreePort();
  ProcessResult result = RunToCompletion(
      {BinDir() + "/seqsim-coordinator", absl::StrCat("--port=", port),
       absl::StrCat("--data_dir=", dir)},
      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_NE(result.output.find("seqsim-coordinator: cannot start from"),
            std::string::npos)
      << result.output;
}

TEST(CtlProcess, UnreachableCoordinatorExitsNonZeroWithMessage) {
  int port = PickFreePort();
  ProcessResult result = RunToCompletion(
      {BinDir() + "/seqsim-ctl", "health",
       absl::StrCat("--coordinator=127.0.0.1:", port), "--timeout_ms=500"},
      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_NE(result.output.find(absl::StrCat("coordinator at 127.0.0.1:", port,
                                            " is unreachable")),
            std::string::npos)
      << result.output;
}

}  // namespace
}  // namespace seqsim::testing
