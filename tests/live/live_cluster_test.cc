// Live-cluster scenarios (issue 4): real seqsim-coordinator and seqsim-node
// processes on loopback, faults injected with signals (SIGSTOP / SIGKILL) and
// Admin.Fault, every check a wait on a condition with a generous deadline.
#include "tests/live/live_cluster.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/seqsim.grpc.pb.h"

namespace seqsim::testing {
namespace {

constexpr char kIndex[] = "books";

std::string Doc(int i) {
  return absl::StrCat("{\"n\":", i, ",\"title\":\"book ", i, "\"}");
}

// Writes `count` documents d-<first>.. through node `via`; each must be
// acknowledged.
void WriteAcked(LiveCluster& cluster, int via, int first, int count,
                int min_successful) {
  for (int i = first; i < first + count; ++i) {
    absl::StatusOr<pb::WriteResponse> reply =
        cluster.Write(via, kIndex, absl::StrCat("d-", i), Doc(i));
    ASSERT_TRUE(reply.ok())
        << "write d-" << i << " via node-" << via << ": " << reply.status();
    ASSERT_EQ(reply->error().type(), "")
        << "write d-" << i << ": " << reply->error().type() << " "
        << reply->error().reason();
    EXPECT_GE(reply->shards().successful(), min_successful) << "write d-" << i;
  }
}

// Every copy on `nodes` is in sync with the same max_seq_no, local and global
// checkpoint.
bool Converged(LiveCluster& cluster, const std::vector<int>& nodes,
               std::string* why) {
  std::optional<pb::ShardStatus> first;
  for (int n : nodes) {
    std::optional<pb::ShardStatus> copy = cluster.CopyStatus(n, kIndex);
    if (!copy.has_value()) {
      *why = absl::StrCat("node-", n, " has no copy or is unreachable");
      return false;
    }
    *why = absl::StrCat(
        "node-", n, " ", copy->role(), " term ", copy->primary_term(), " max ",
        copy->max_seq_no(), " lcp ", copy->local_checkpoint(), " gcp ",
        copy->global_checkpoint(), " in_sync ", copy->in_sync());
    if (!copy->in_sync() || copy->local_checkpoint() != copy->max_seq_no() ||
        copy->global_checkpoint() != copy->max_seq_no()) {
      return false;
    }
    if (!first.has_value()) {
      first = copy;
    } else if (copy->max_seq_no() != first->max_seq_no() ||
               copy->primary_term() != first->primary_term()) {
      return false;
    }
  }
  std::optional<pb::ShardRouting> routing = cluster.Routing(kIndex);
  if (!routing.has_value() ||
      routing->in_sync_size() != static_cast<int>(nodes.size())) {
    *why = "coordinator's in-sync set is not every copy";
    return false;
  }
  return true;
}

void ExpectConverged(LiveCluster& cluster, const std::vector<int>& nodes,
                     absl::Duration timeout = absl::Seconds(60)) {
  std::string why;
  EXPECT_TRUE(LiveCluster::WaitFor(
      [&] { return Converged(cluster, nodes, &why); }, timeout))
      << "copies did not converge: " << why;
}

// Documents d-<0..count> read from each node's local copy are identical.
void ExpectSameDocuments(LiveCluster& cluster, const std::vector<int>& nodes,
                         const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    std::optional<pb::GetResponse> reference;
    for (int n : nodes) {
      absl::StatusOr<pb::GetResponse> got = cluster.GetLocal(n, kIndex, id);
      ASSERT_TRUE(got.ok())
          << "get " << id << " on node-" << n << ": " << got.status();
      EXPECT_TRUE(got->found()) << id << " missing on node-" << n;
      if (!reference.has_value()) {
        reference = *got;
        continue;
      }
      EXPECT_EQ(got->seq_no(), reference->seq_no()) << id << " on node-" << n;
      EXPECT_EQ(got->primary_term(), reference->primary_term())
          << id << " on node-" << n;
      EXPECT_EQ(got->version(), reference->version()) << id << " on node-" << n;
      EXPECT_EQ(got->source(), reference->source()) << id << " on node-" << n;
    }
  }
}

std::vector<std::string> Ids(int first, int count) {
  std::vector<std::string> ids;
  for (int i = first; i < first + count; ++i)
    ids.push_back(absl::StrCat("d-", i));
  return ids;
}

int OtherThan(int a, int b = 0) {
  for (int n = 1; n <= 3; ++n) {
    if (n != a && n != b) return n;
  }
  return 0;
}

void StartWithIndex(LiveCluster& cluster) {
  cluster.Start();
  if (::testing::Test::HasFatalFailure()) return;
  absl::Status created = cluster.CreateIndex(kIndex, 1, 2);
  ASSERT_TRUE(created.ok()) << created;
  ASSERT_TRUE(cluster.WaitGreen())
      << "index " << kIndex << " did not become green";
  ASSERT_NE(cluster.PrimaryOf(kIndex), 0);
}

TEST(LiveReplication, WriteIsAckedByAllThreeCopiesAndCopiesAreIdentical) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<pb::WriteResponse> reply =
        cluster.Write(1 + i % 3, kIndex, absl::StrCat("d-", i), Doc(i));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->error().type(), "") << reply->error().reason();
    EXPECT_EQ(reply->shards().total(), 3);
    EXPECT_EQ(reply->shards().successful(), 3);
    EXPECT_EQ(reply->seq_no(), i);
    EXPECT_EQ(reply->primary_term(), 1);
  }
  ExpectConverged(cluster, {1, 2, 3});
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 20));
}

TEST(LiveFailover,
     PausedPrimaryIsReplacedWithHigherTermAndFencedWhenItResumes) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 10, 3));
  const int old_primary = cluster.PrimaryOf(kIndex);
  const int64_t old_term = cluster.Routing(kIndex)->primary_term();
  const int other = OtherThan(old_primary);
  ASSERT_TRUE(cluster.NodeStatus(old_primary)
                  .ok());  // the test's channel to it is connected

  cluster.PauseNode(old_primary);
  const absl::Time paused_at = absl::Now();
  int new_primary = 0;
  ASSERT_TRUE(LiveCluster::WaitFor(
      [&] {
        std::optional<pb::ShardRouting> routing = cluster.Routing(kIndex);
        new_primary = cluster.PrimaryOf(kIndex);
        return routing.has_value() && new_primary != 0 &&
               new_primary != old_primary &&
               routing->primary_term() == old_term + 1;
      },
      absl::Seconds(20)))
      << "no replica was promoted with term " << old_term + 1;
  std::cout << "failover: node-" << new_primary << " promoted "
            << absl::ToInt64Milliseconds(absl::Now() - paused_at)
            << " ms after node-" << old_primary << " was paused\n";

  for (int i = 10; i < 20; ++i) {
    absl::StatusOr<pb::WriteResponse> reply =
        cluster.Write(other, kIndex, absl::StrCat("d-", i), Doc(i));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->error().type(), "") << reply->error().reason();
    EXPECT_EQ(reply->primary_term(), old_term + 1);
    EXPECT_GE(reply->shards().successful(), 2);
  }

  // A write queued on the stale primary while it is paused: once it resumes it
  // must not be acknowledged under the old term.
  struct Pending {
    absl::Notification done;
    absl::StatusOr<pb::Envelope> reply;
  };
  auto pending = std::make_shared<Pending>();
  pb::Envelope stale;
  stale.mutable_write()->set_index(kIndex);
  stale.mutable_write()->set_id("stale-1");
  stale.mutable_write()->set_source("{\"stale\":true}");
  cluster.transport().Call(
      cluster.NodeId(old_primary), cluster.NodeAddress(old_primary), stale,
      absl::Seconds(30), [pending](absl::StatusOr<pb::Envelope> reply) {
        pending->reply = std::move(reply);
        pending->done.Notify();
      });
  absl::SleepFor(
      absl::Milliseconds(100));  // let the request reach the paused process
  cluster.ResumeNode(old_primary);
  ASSERT_TRUE(pending->done.WaitForNotificationWithTimeout(absl::Seconds(40)));
  if (!pending->reply.ok()) {
    std::cout << "write sent to the stale primary: " << pending->reply.status()
              << "\n";
  } else {
    const pb::WriteResponse& response = pending->reply->write_response();
    std::cout << "write sent to the stale primary: error ["
              << response.error().type() << " " << response.error().reason()
              << "] term " << response.primary_term() << "\n";
  }
  if (pending->reply.ok() &&
      pending->reply->write_response().error().type().empty()) {
    EXPECT_GT(pending->reply->write_response().primary_term(), old_term)
        << "the resumed stale primary acknowledged a write under its old term";
  }

  ExpectConverged(cluster, {1, 2, 3});
  std::optional<pb::ShardStatus> rejoined =
      cluster.CopyStatus(old_primary, kIndex);
  ASSERT_TRUE(rejoined.has_value());
  EXPECT_EQ(rejoined->role(), "replica");
  EXPECT_EQ(rejoined->primary_term(), old_term + 1);
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 20));
}

TEST(LiveFailover,
     KilledPrimaryIsReplacedWhenItsConnectionDropsNotAfterTimeout) {
  // The coordinator watches each node's connection (common/live/
  // connection_watch.h): a SIGKILLed primary is replaced as soon as its port
  // refuses, long before a 60 s heartbeat timeout would notice. A paused node
  // keeps its connection, so the timeout still decides for it (the test
  // above).
  LiveClusterOptions options;
  options.heartbeat_timeout_ms = 60000;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 10, 3));
  const int old_primary = cluster.PrimaryOf(kIndex);
  const int64_t old_term = cluster.Routing(kIndex)->primary_term();
  const int other = OtherThan(old_primary);

  cluster.KillNode(old_primary);
  const absl::Time killed_at = absl::Now();
  ASSERT_TRUE(LiveCluster::WaitFor(
      [&] {
        std::optional<pb::ShardRouting> routing = cluster.Routing(kIndex);
        const int primary = cluster.PrimaryOf(kIndex);
        return routing.has_value() && primary != 0 && primary != old_primary &&
               routing->primary_term() == old_term + 1;
      },
      absl::Seconds(30)))
      << "no replica was promoted within half the heartbeat timeout";
  std::cout << "failover: promoted "
            << absl::ToInt64Milliseconds(absl::Now() - killed_at)
            << " ms after node-" << old_primary << " was killed\n";
  std::ifstream log_file(cluster.data_dir() + "/coordinator.log");
  const std::string log((std::istreambuf_iterator<char>(log_file)),
                        std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("refuses new ones (its process is gone): dead"),
            std::string::npos);
  for (int i = 10; i < 15; ++i) {
    absl::StatusOr<pb::WriteResponse> reply =
        cluster.Write(other, kIndex, absl::StrCat("d-", i), Doc(i));
    ASSERT_TRUE(reply.ok()) << reply.status();
    ASSERT_EQ(reply->error().type(), "") << reply->error().reason();
    EXPECT_EQ(reply->primary_term(), old_term + 1);
  }
  // The killed node comes back as a replica and catches up.
  cluster.StartNode(old_primary);
  ASSERT_TRUE(cluster.WaitGreen());
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 15));
}

TEST(LiveRecovery, KilledReplicaRestartsAndCatchesUpByReplayingOperations) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 10, 3));
  const int primary = cluster.PrimaryOf(kIndex);
  const int replica = OtherThan(primary);
  cluster.KillNode(replica);
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, primary, 10, 20, 2));
  cluster.StartNode(replica);
  ExpectConverged(cluster, {1, 2, 3});
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 30));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, replica, 30, 5, 3));
}

// Issue 17: a replica that stays away longer than the retention lease comes
// back behind the primary's retained history and recovers by a full copy; its
// translog is then a snapshot plus generations, and a restart of it loads them.
TEST(LiveRecovery, ReplicaBackAfterItsLeaseExpiredRecoversByAFullCopy) {
  LiveClusterOptions options;
  options.node_flags = {"--retention_lease_period=1s",
                        "--translog_generation_threshold_size=2kb",
                        "--translog_flush_threshold_size=8kb"};
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 20, 3));
  const int primary = cluster.PrimaryOf(kIndex);
  const int replica = OtherThan(primary);
  cluster.KillNode(replica);
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, primary, 20, 40, 2));
  const std::string dropped =
      absl::StrCat(cluster.NodeId(primary), " drops the retention lease of ",
                   cluster.NodeId(replica));
  ASSERT_TRUE(LiveCluster::WaitFor(
      [&] { return absl::StrContains(cluster.NodeLog(primary), dropped); },
      absl::Seconds(20)))
      << cluster.NodeLog(primary);
  // One more write moves the global checkpoint past what the lease held.
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, primary, 60, 1, 2));
  cluster.StartNode(replica);
  ExpectConverged(cluster, {1, 2, 3});
  EXPECT_TRUE(absl::StrContains(
      cluster.NodeLog(primary),
      absl::StrCat("recovers [", kIndex, "][0] on ", cluster.NodeId(replica),
                   " by a full copy")))
      << cluster.NodeLog(primary);
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 61));
  // The full copy left a snapshot (and the generations after it) on the
  // replica; a restart loads them.
  int snapshots = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           absl::StrCat(cluster.data_dir(), "/", cluster.NodeId(replica)))) {
    if (entry.path().filename() == "translog.snapshot") ++snapshots;
  }
  EXPECT_EQ(snapshots, 1);
  cluster.KillNode(replica);
  cluster.StartNode(replica);
  ExpectConverged(cluster, {1, 2, 3});
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 61));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, replica, 61, 5, 3));
}

TEST(LiveFailover, KilledPrimaryLosesNoAcknowledgedWrite) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  const int old_primary = cluster.PrimaryOf(kIndex);
  const int64_t old_term = cluster.Routing(kIndex)->primary_term();
  const int via = OtherThan(old_primary);

  std::mutex mu;
  std::vector<std::string> acked;
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      std::string id = absl::StrCat("w-", i);
      absl::StatusOr<pb::WriteResponse> reply =
          cluster.Write(via, kIndex, id, Doc(i));
      if (reply.ok() && reply->error().type().empty()) {
        std::lock_guard<std::mutex> lock(mu);
        acked.push_back(id);
      }
    }
  });
  auto acked_count = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return acked.size();
  };
  bool warmed_up = LiveCluster::WaitFor([&] { return acked_count() >= 20; },
                                        absl::Seconds(30));
  cluster.KillNode(old_primary);
  const size_t at_kill = acked_count();
  bool promoted = LiveCluster::WaitFor(
      [&] {
        int primary = cluster.PrimaryOf(kIndex);
        return primary != 0 && primary != old_primary &&
               cluster.Routing(kIndex)->primary_term() > old_term;
      },
      absl::Seconds(20));
  bool resumed = LiveCluster::WaitFor(
      [&] { return acked_count() >= at_kill + 20; }, absl::Seconds(40));
  stop = true;
  writer.join();
  ASSERT_TRUE(warmed_up) << "writes were not acknowledged before the kill";
  ASSERT_TRUE(promoted)
      << "no replica was promoted after the primary was killed";
  EXPECT_TRUE(resumed) << "writes did not resume after failover ("
                       << acked_count() - at_kill << " acked since the kill)";

  const int new_primary = cluster.PrimaryOf(kIndex);
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(mu);
    ids = acked;
  }
  int missing = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<pb::GetResponse> got =
        cluster.GetLocal(new_primary, kIndex, id);
    ASSERT_TRUE(got.ok()) << got.status();
    if (!got->found()) {
      ++missing;
      ADD_FAILURE() << "acknowledged write " << id
                    << " is missing on the new primary node-" << new_primary;
    }
  }
  std::cout << ids.size() << " acknowledged writes, " << missing
            << " missing on the new primary\n";
}

TEST(LivePartition, PartitionedReplicaLeavesInSyncSetAndReturnsAfterHeal) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 5, 3));
  const int primary = cluster.PrimaryOf(kIndex);
  const int replica = OtherThan(primary);
  ASSERT_NO_FATAL_FAILURE(cluster.Fault(primary, pb::FaultRequest::PARTITION,
                                        {cluster.NodeId(replica)}));
  ASSERT_NO_FATAL_FAILURE(cluster.Fault(replica, pb::FaultRequest::PARTITION,
                                        {cluster.NodeId(primary)}));

  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, primary, 5, 10, 2));
  auto replica_in_sync = [&] {
    std::optional<pb::ShardRouting> routing = cluster.Routing(kIndex);
    if (!routing.has_value()) return false;
    for (const std::string& id : routing->in_sync()) {
      if (id == cluster.NodeId(replica)) return true;
    }
    return false;
  };
  EXPECT_TRUE(LiveCluster::WaitFor([&] { return !replica_in_sync(); },
                                   absl::Seconds(30)))
      << "the partitioned replica stayed in the in-sync set";

  ASSERT_NO_FATAL_FAILURE(cluster.Fault(primary, pb::FaultRequest::HEAL, {}));
  ASSERT_NO_FATAL_FAILURE(cluster.Fault(replica, pb::FaultRequest::HEAL, {}));
  EXPECT_TRUE(LiveCluster::WaitFor(replica_in_sync, absl::Seconds(60)))
      << "the replica did not return to the in-sync set after the heal";
  ExpectConverged(cluster, {1, 2, 3});
  ExpectSameDocuments(cluster, {1, 2, 3}, Ids(0, 15));
}

TEST(LiveCoordinator, RestartedCoordinatorKeepsClusterStateAndNodesReconnect) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 5, 3));
  absl::StatusOr<pb::ClusterState> before = cluster.State();
  ASSERT_TRUE(before.ok()) << before.status();

  cluster.KillCoordinator();
  cluster.StartCoordinator();
  absl::StatusOr<pb::ClusterState> after = cluster.State();
  ASSERT_TRUE(after.ok()) << "restarted coordinator does not answer: "
                          << after.status();
  EXPECT_EQ(after->cluster_uuid(), before->cluster_uuid());
  EXPECT_GE(after->version(), before->version());
  ASSERT_EQ(after->indices_size(), before->indices_size());
  for (int i = 0; i < before->indices_size(); ++i) {
    EXPECT_EQ(after->indices(i).name(), before->indices(i).name());
    EXPECT_EQ(after->indices(i).uuid(), before->indices(i).uuid());
    for (int s = 0; s < before->indices(i).shards_size(); ++s) {
      EXPECT_EQ(after->indices(i).shards(s).primary_term(),
                before->indices(i).shards(s).primary_term());
    }
  }
  ASSERT_TRUE(cluster.WaitGreen())
      << "nodes did not reconnect to the restarted coordinator";
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 2, 5, 5, 3));
  ExpectConverged(cluster, {1, 2, 3});
}

// Issue 12, section 6: a replicate request whose seq_no is far above the
// replica's checkpoints is refused (400) and changes nothing, so that a later
// promotion of that replica never has to fill a gap of that size.
TEST(LiveInput, ReplicateWithAHugeSeqNoIsRefusedAndChangesNothing) {
  LiveCluster cluster;
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  ASSERT_NO_FATAL_FAILURE(WriteAcked(cluster, 1, 0, 3, 3));
  const int replica = OtherThan(cluster.PrimaryOf(kIndex));
  std::optional<pb::ShardStatus> before = cluster.CopyStatus(replica, kIndex);
  ASSERT_TRUE(before.has_value());
  pb::Envelope request;
  pb::ReplicateRequest* replicate = request.mutable_replicate();
  replicate->mutable_shard()->set_index(kIndex);
  replicate->mutable_shard()->set_shard(0);
  replicate->set_primary_term(before->primary_term());
  replicate->set_global_checkpoint(before->global_checkpoint());
  pb::Operation* op = replicate->add_ops();
  op->set_seq_no(int64_t{1} << 40);
  op->set_primary_term(before->primary_term());
  op->set_version(1);
  op->set_type(pb::OP_INDEX);
  op->set_id("far-away");
  op->set_source("{}");
  absl::StatusOr<pb::Envelope> reply = cluster.CallNode(replica, request);
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(reply->replicate_response().error().type(),
            "illegal_argument_exception")
      << reply->replicate_response().error().reason();
  std::optional<pb::ShardStatus> after = cluster.CopyStatus(replica, kIndex);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->max_seq_no(), before->max_seq_no());
  EXPECT_EQ(after->local_checkpoint(), before->local_checkpoint());
}

// Issue 12, section 6: a document above gRPC's default 4 MiB message size (but
// within REST's 100 MB) is replicated and read through every node.
TEST(LiveInput, SixMegabyteDocumentIsReplicatedAndReadThroughEveryNode) {
  LiveClusterOptions options;
  options.rest = true;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  const std::string blob(6 * 1024 * 1024, 'x');
  const std::string doc = absl::StrCat(R"({"blob":")", blob, R"("})");
  HttpResult put = HttpRequest(cluster.RestPort(1), "PUT",
                               absl::StrCat("/", kIndex, "/_doc/big"), doc);
  ASSERT_EQ(put.status, 201) << put.body.substr(0, 500);
  EXPECT_NE(put.body.find(R"("successful":3)"), std::string::npos)
      << put.body.substr(0, 500);
  for (int n = 1; n <= 3; ++n) {
    HttpResult get = HttpRequest(cluster.RestPort(n), "GET",
                                 absl::StrCat("/", kIndex, "/_doc/big"));
    EXPECT_EQ(get.status, 200)
        << "via node-" << n << ": " << get.body.substr(0, 500);
    EXPECT_NE(get.body.find(blob), std::string::npos) << "via node-" << n;
  }
  EXPECT_TRUE(cluster.WaitGreen());
  ExpectConverged(cluster, {1, 2, 3});
}

// Issue 12, section 5: a plain bulk load with the default failure-detection
// timings (those of scripts/cluster.sh) declares no node dead and bumps no
// term: busy nodes still heartbeat.
TEST(LiveLoad, BulkLoadDeclaresNoNodeDeadAndBumpsNoTerm) {
  LiveClusterOptions options;
  options.heartbeat_interval_ms = 100;
  options.heartbeat_timeout_ms = 500;
  options.check_interval_ms = 50;
  options.rpc_timeout_ms = 2000;
  options.write_timeout_ms = 30000;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(StartWithIndex(cluster));
  const int64_t term = cluster.Routing(kIndex)->primary_term();
  constexpr int kSenders = 4;
  constexpr int kBulksPerSender = 15;
  constexpr int kDocsPerBulk = 500;
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> senders;
  for (int s = 0; s < kSenders; ++s) {
    senders.emplace_back([&, s] {
      for (int b = 0; b < kBulksPerSender; ++b) {
        pb::Envelope request;
        for (int d = 0; d < kDocsPerBulk; ++d) {
          pb::WriteRequest* item = request.mutable_bulk()->add_items();
          item->set_index(kIndex);
          item->set_id(absl::StrCat("s", s, "-", b, "-", d));
          item->set_source(
              absl::StrCat(R"({"payload":")", std::string(180, 'p'), R"("})"));
        }
        absl::StatusOr<pb::Envelope> reply =
            cluster.CallNode(1 + s % 3, std::move(request), absl::Seconds(60));
        if (!reply.ok()) {
          failed += kDocsPerBulk;
          continue;
        }
        for (const pb::WriteResponse& item : reply->bulk_response().items()) {
          (item.error().type().empty() ? acked : failed) += 1;
        }
      }
    });
  }
  for (std::thread& sender : senders) sender.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(acked.load(), kSenders * kBulksPerSender * kDocsPerBulk);
  EXPECT_EQ(cluster.Routing(kIndex)->primary_term(), term)
      << "the primary moved under load";
  absl::StatusOr<pb::ClusterState> state = cluster.State();
  ASSERT_TRUE(state.ok()) << state.status();
  for (const pb::NodeInfo& node : state->nodes())
    EXPECT_TRUE(node.alive()) << node.id();
  std::ifstream log(cluster.data_dir() + "/coordinator.log");
  std::string line;
  while (std::getline(log, line)) {
    EXPECT_EQ(line.find("missed heartbeats"), std::string::npos) << line;
    EXPECT_EQ(line.find("process is gone"), std::string::npos) << line;
  }
}

// Issue 12, section 1: the connections a killed node leaves in TIME-WAIT on its
// REST and gRPC ports never block its restart, which comes at once (no wait).
TEST(LiveRestart, KilledNodeRestartsAtOnceAfterConnectionPerRequestClients) {
  LiveClusterOptions options;
  options.nodes = 1;
  options.rest = true;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  const int rest = cluster.RestPort(1);
  // 30 REST requests, each on its own connection, closed by the server.
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(HttpRequest(rest, "GET", "/").status, 200) << "request " << i;
  }
  // 30 gRPC channels of their own, still open when the node is killed.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < 30; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(
        cluster.NodeAddress(1), grpc::InsecureChannelCredentials(), args));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    AttachIdentity(cluster.identity().get(), &context);
    pb::NodeStatusRequest request;
    pb::NodeStatusResponse response;
    grpc::Status status = pb::Admin::NewStub(channels.back())
                              ->NodeStatus(&context, request, &response);
    ASSERT_TRUE(status.ok())
        << "channel " << i << ": " << status.error_message();
  }
  cluster.KillNode(1);
  cluster.StartNode(1);
  ASSERT_TRUE(cluster.NodeRunning(1))
      << "the restart right after the kill failed:\n"
      << cluster.NodeLog(1);
  EXPECT_EQ(cluster.NodeLog(1).find("already in use"), std::string::npos);
  EXPECT_EQ(HttpRequest(rest, "GET", "/").status, 200);
  EXPECT_TRUE(cluster.WaitGreen());
}

}  // namespace
}  // namespace seqsim::testing
