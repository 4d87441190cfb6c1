// The live runtime's building blocks: executor batching (group commit), timers,
// the POSIX disk's durability operations, the fault table, the port check.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/posix_disk.h"
#include "common/live/process.h"
#include "common/live/server_adapters.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace seqsim {
namespace {

TEST(Executor, FlushRunsOnceAfterABatchOfQueuedTasks) {
  Executor executor("test");
  std::vector<std::string> events;  // executor thread only until `done`
  executor.SetFlushHook([&] { events.push_back("flush"); });
  for (int i = 0; i < 5; ++i) {
    executor.Post([&, i] { events.push_back("task" + std::to_string(i)); });
  }
  absl::Notification done;
  executor.Post([&] { done.Notify(); });
  executor.Start();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  executor.Stop();
  // Every task queued before Start() ran in one batch, followed by exactly one
  // flush.
  ASSERT_EQ(events.size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(events[i], "task" + std::to_string(i));
  EXPECT_EQ(events[5], "flush");
}

TEST(Executor, TimersRunInDeadlineOrderAndCancelledTimersNeverRun) {
  Executor executor("test");
  executor.Start();
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  executor.After(absl::Milliseconds(60), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(3);
    done.Notify();
  });
  uint64_t cancelled = executor.After(absl::Milliseconds(30), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(99);
  });
  executor.After(absl::Milliseconds(20), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  executor.After(absl::Milliseconds(40), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
  });
  executor.Cancel(cancelled);
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  executor.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

// Issue 12, section 7: timer deadlines are read on the executor's clock (the
// steady clock by default, as LiveEnv::Now), never on the wall clock.
TEST(Executor, TimersFollowTheInjectedMonotonicClockNotTheWallClock) {
  std::atomic<int64_t> now_ms{1000};
  Executor executor("test", [&] { return absl::Milliseconds(now_ms.load()); });
  executor.Start();
  absl::Notification fired;
  executor.After(absl::Hours(1), [&] { fired.Notify(); });
  // A round trip through the queue: the timer is not due on the clock yet.
  absl::Notification round_trip;
  executor.Post([&] { round_trip.Notify(); });
  ASSERT_TRUE(round_trip.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(fired.HasBeenNotified());
  // The hour passes on the clock, not on the wall.
  now_ms += 3600 * 1000;
  executor.Post([] {});  // wakes the thread to look at the clock again
  EXPECT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  executor.Stop();
  const absl::Duration steady = Executor::SteadyNow();
  EXPECT_LE(steady, Executor::SteadyNow());
}

// Issue 12, section 5: a timer (a heartbeat) that falls due while a long batch
// runs is not held back until the batch ends.
TEST(Executor, ATimerDueDuringALongBatchRunsBeforeTheRestOfTheBatch) {
  std::atomic<int64_t> now_ms{0};
  Executor executor("test", [&] { return absl::Milliseconds(now_ms.load()); });
  std::vector<std::string> order;  // executor thread only until `done`
  absl::Notification done;
  executor.After(absl::Milliseconds(20), [&] { order.push_back("timer"); });
  for (int i = 0; i < 5; ++i) {
    executor.Post([&, i] {
      now_ms += 30;  // a slow task of the batch
      order.push_back("task" + std::to_string(i));
    });
  }
  executor.Post([&] { done.Notify(); });
  executor.Start();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  executor.Stop();
  EXPECT_EQ(order, (std::vector<std::string>{"task0", "timer", "task1", "task2",
                                             "task3", "task4"}));
}

TEST(Executor, PostAfterStopDropsTheTask) {
  Executor executor("test");
  executor.Start();
  executor.Stop();
  std::atomic<bool> ran{false};
  EXPECT_FALSE(executor.Post([&] { ran = true; }));
  EXPECT_FALSE(ran.load());
}

class PosixDiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char path[] = "/tmp/seqsim-disk-XXXXXX";
    root_ = ::mkdtemp(path);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_;
};

TEST_F(PosixDiskTest, AppendedBytesAreReadBackAndTruncateCutsTheTail) {
  PosixDisk disk(root_);
  auto file = disk.OpenAppend("shards/books/0/translog");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("hello ").ok());
  ASSERT_TRUE((*file)->Append("world").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  EXPECT_EQ((*file)->Size(), 11u);
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(*disk.ReadFile("shards/books/0/translog"), "hello world");
  ASSERT_TRUE(disk.Truncate("shards/books/0/translog", 5).ok());
  EXPECT_EQ(*disk.ReadFile("shards/books/0/translog"), "hello");
  auto reopened = disk.OpenAppend("shards/books/0/translog");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Size(), 5u);
  EXPECT_EQ(disk.List("shards/books/0"), std::vector<std::string>{"translog"});
}

TEST_F(PosixDiskTest, WriteFileAtomicReplacesTheWholeFile) {
  PosixDisk disk(root_);
  ASSERT_TRUE(disk.WriteFileAtomic("state/cluster_state.pb", "version 1").ok());
  ASSERT_TRUE(disk.WriteFileAtomic("state/cluster_state.pb", "v2").ok());
  EXPECT_EQ(*disk.ReadFile("state/cluster_state.pb"), "v2");
  EXPECT_EQ(disk.List("state"), std::vector<std::string>{"cluster_state.pb"});
  EXPECT_TRUE(disk.Exists("state/cluster_state.pb"));
  ASSERT_TRUE(disk.Remove("state/cluster_state.pb").ok());
  EXPECT_FALSE(disk.Exists("state/cluster_state.pb"));
  EXPECT_EQ(disk.ReadFile("state/cluster_state.pb").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(disk.RemoveAll("state").ok());
  ASSERT_TRUE(disk.RemoveAll("never-existed").ok());
}

TEST_F(PosixDiskTest, ReadAtReadsBoundedPiecesAndNothingPastTheEnd) {
  PosixDisk disk(root_);
  ASSERT_TRUE(disk.WriteFileAtomic("t", "0123456789").ok());
  EXPECT_EQ(*disk.ReadAt("t", 0, 4), "0123");
  EXPECT_EQ(*disk.ReadAt("t", 8, 4), "89");
  EXPECT_EQ(*disk.ReadAt("t", 10, 4), "");
  EXPECT_EQ(disk.ReadAt("missing", 0, 4).status().code(),
            absl::StatusCode::kNotFound);
}

// Issue 17: --log_file rotates at --log_max_mb and keeps --log_max_files.
TEST_F(PosixDiskTest, ProcessLogRotatesAndKeepsABoundedNumberOfFiles) {
  const std::string log = root_ + "/logs/node-1.log";
  std::filesystem::create_directories(root_ + "/logs");
  InstallProcessLogger("seqsim-test", "rotating-test", log, /*max_megabytes=*/1,
                       /*max_files=*/2);
  const std::string line(1000, 'x');
  for (int i = 0; i < 4000; ++i) spdlog::info("{} {}", i, line);
  spdlog::default_logger()->flush();
  EXPECT_TRUE(std::filesystem::exists(log));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/logs/node-1.1.log"));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/logs/node-1.2.log"));
  EXPECT_FALSE(std::filesystem::exists(root_ + "/logs/node-1.3.log"));
  for (const auto& entry :
       std::filesystem::directory_iterator(root_ + "/logs")) {
    EXPECT_LE(std::filesystem::file_size(entry.path()), (1u << 20) + 2000u)
        << entry.path();
  }
  spdlog::set_default_logger(spdlog::stderr_color_mt("after-rotating-test"));
  spdlog::drop("rotating-test");
}

TEST(FaultTable, PartitionIsTwoWayUntilHealAndDelayIsPerPeer) {
  FaultTable faults;
  pb::FaultRequest partition;
  partition.set_action(pb::FaultRequest::PARTITION);
  partition.add_peers("node-2");
  partition.add_peers("coordinator");
  pb::FaultResponse response = faults.Apply(partition);
  EXPECT_EQ(std::vector<std::string>(response.partitioned().begin(),
                                     response.partitioned().end()),
            (std::vector<std::string>{"coordinator", "node-2"}));
  EXPECT_TRUE(faults.IsPartitioned("node-2"));
  EXPECT_FALSE(faults.IsPartitioned("node-3"));
  faults.Delay({"node-3"}, absl::Milliseconds(200));
  EXPECT_EQ(faults.DelayFor("node-3"), absl::Milliseconds(200));
  EXPECT_EQ(faults.DelayFor("node-2"), absl::ZeroDuration());
  pb::FaultRequest heal;
  heal.set_action(pb::FaultRequest::HEAL);
  EXPECT_TRUE(faults.Apply(heal).partitioned().empty());
  EXPECT_FALSE(faults.IsPartitioned("node-2"));
  EXPECT_EQ(faults.DelayFor("node-3"), absl::ZeroDuration());
}

TEST(FaultTable, DropAndDuplicateArePerPeerUntilHealAndBadValuesAreRefused) {
  FaultTable faults;
  pb::FaultRequest drop;
  drop.set_action(pb::FaultRequest::DROP);
  drop.add_peers("node-2");
  drop.set_probability(1.0);
  EXPECT_FALSE(faults.Apply(drop).has_error());
  pb::FaultRequest duplicate;
  duplicate.set_action(pb::FaultRequest::DUPLICATE);
  duplicate.add_peers("node-3");
  duplicate.set_probability(1.0);
  EXPECT_FALSE(faults.Apply(duplicate).has_error());
  int requests_lost = 0;
  int replies_lost = 0;
  for (int i = 0; i < 200; ++i) {
    const FaultTable::Loss loss = faults.NextLoss("node-2");
    ASSERT_NE(loss, FaultTable::Loss::kNone);
    (loss == FaultTable::Loss::kRequest ? requests_lost : replies_lost)++;
    EXPECT_EQ(faults.NextLoss("node-3"), FaultTable::Loss::kNone);
    EXPECT_TRUE(faults.NextDuplicated("node-3"));
    EXPECT_FALSE(faults.NextDuplicated("node-2"));
  }
  // Both halves of a loss happen: the sender cannot tell which it was.
  EXPECT_GT(requests_lost, 0);
  EXPECT_GT(replies_lost, 0);

  for (double bad : {-0.1, 1.5, std::nan("")}) {
    pb::FaultRequest refused = drop;
    refused.set_probability(bad);
    refused.clear_peers();
    refused.add_peers("node-4");
    pb::FaultResponse response = faults.Apply(refused);
    ASSERT_TRUE(response.has_error()) << bad;
    EXPECT_EQ(response.error().status(), 400);
    EXPECT_EQ(faults.NextLoss("node-4"), FaultTable::Loss::kNone);
  }
  pb::FaultRequest heal;
  heal.set_action(pb::FaultRequest::HEAL);
  faults.Apply(heal);
  EXPECT_EQ(faults.NextLoss("node-2"), FaultTable::Loss::kNone);
  EXPECT_FALSE(faults.NextDuplicated("node-3"));
}

namespace port_check {

// A loopback listener bound with SO_REUSEPORT only (as cpp-httplib binds), on
// an OS-chosen port.
int ReuseportListener(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  EXPECT_EQ(::listen(fd, 16), 0);
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  *port = ntohs(address.sin_port);
  return fd;
}

// Connects to 127.0.0.1:port and returns the client socket.
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(
      ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  return fd;
}

}  // namespace port_check

TEST(CheckPortFree, ConnectionsInTimeWaitDoNotMakeThePortBusy) {
  int port = 0;
  int listener = port_check::ReuseportListener(&port);
  // Ten connection-per-request exchanges, each closed by the server first:
  // every one leaves a TIME-WAIT entry on the server's port.
  for (int i = 0; i < 10; ++i) {
    int client = port_check::Connect(port);
    int served = ::accept(listener, nullptr, nullptr);
    ASSERT_GE(served, 0);
    ::close(served);
    char byte;
    EXPECT_EQ(::read(client, &byte, 1), 0);  // the server's FIN
    ::close(client);
  }
  ::close(listener);  // the server is gone; only TIME-WAIT remains
  absl::Status status = CheckPortFree("127.0.0.1", port);
  EXPECT_TRUE(status.ok()) << status;
}

TEST(CheckPortFree, AListenerIsBusyEvenWithReuseport) {
  int port = 0;
  int listener = port_check::ReuseportListener(&port);
  absl::Status status = CheckPortFree("127.0.0.1", port);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(status.message(),
            absl::StrCat("port ", port, " on 127.0.0.1 is already in use"));
  ::close(listener);
}

}  // namespace
}  // namespace seqsim
