// Issue 13: only the cluster may speak on internal gRPC, and no message can
// crash, wedge or rewrite it. Each forged message of the issue (a publish of
// version 2147483647 with no indices, a join of an invented node, an index
// name that is not UTF-8, a replicate of a huge seq_no) against a real
// 3-node cluster: refused with the right code, nothing changed, every
// process up.
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/live/identity.h"
#include "common/live/transport.h"
#include "gtest/gtest.h"
#include "tests/live/live_cluster.h"

namespace seqsim::testing {
namespace {

constexpr char kDoc[] = R"({"title":"Dune"})";

// A cluster with index "canary" (1 shard, 2 replicas) holding one document.
class ForgedMessages : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<LiveCluster>();
    ASSERT_NO_FATAL_FAILURE(cluster_->Start());
    ASSERT_TRUE(cluster_->CreateIndex("canary", 1, 2).ok());
    ASSERT_TRUE(cluster_->WaitGreen());
    absl::StatusOr<pb::WriteResponse> written =
        cluster_->Write(1, "canary", "1", kDoc);
    ASSERT_TRUE(written.ok()) << written.status();
    ASSERT_TRUE(written->error().type().empty()) << written->error().reason();
    absl::StatusOr<pb::ClusterState> state = cluster_->State();
    ASSERT_TRUE(state.ok());
    state_before_ = *state;
  }

  void TearDown() override {
    if (HasFailure() && cluster_ != nullptr) cluster_->DumpLogs();
  }

  // A transport that claims to be `from` and presents `identity`.
  std::unique_ptr<Transport> As(
      const std::string& from,
      std::shared_ptr<const ClusterIdentity> identity) {
    return std::make_unique<Transport>(from, std::move(identity));
  }

  absl::StatusOr<pb::Envelope> Send(Transport& transport, int node,
                                    pb::Envelope request) {
    const std::string to = node == 0 ? kCoordinatorId : cluster_->NodeId(node);
    const std::string address = node == 0 ? cluster_->CoordinatorAddress()
                                          : cluster_->NodeAddress(node);
    return transport.CallSync(to, address, std::move(request),
                              absl::Seconds(5));
  }

  // Every process runs, the cluster is green, the canary document is on every
  // copy, the coordinator's nodes and indices are as before, and every node
  // still applies new states (a new index reaches all of them).
  void ExpectClusterUnchanged() {
    for (int n = 1; n <= 3; ++n) {
      EXPECT_TRUE(cluster_->NodeRunning(n)) << "node-" << n << " died";
    }
    ASSERT_TRUE(cluster_->WaitGreen(absl::Seconds(30)));
    absl::StatusOr<pb::ClusterState> state = cluster_->State();
    ASSERT_TRUE(state.ok());
    ASSERT_EQ(state->nodes_size(), state_before_.nodes_size());
    for (int i = 0; i < state->nodes_size(); ++i) {
      EXPECT_EQ(state->nodes(i).id(), state_before_.nodes(i).id());
    }
    ASSERT_EQ(state->indices_size(), state_before_.indices_size());
    EXPECT_EQ(state->indices(0).name(), "canary");
    EXPECT_EQ(state->cluster_uuid(), state_before_.cluster_uuid());
    for (int n = 1; n <= 3; ++n) {
      absl::StatusOr<pb::GetResponse> got =
          cluster_->GetLocal(n, "canary", "1");
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(got->found()) << "node-" << n << " lost the document";
      EXPECT_EQ(got->source(), kDoc);
    }
    ASSERT_TRUE(cluster_->CreateIndex("after", 1, 2).ok());
    EXPECT_TRUE(cluster_->WaitGreen(absl::Seconds(30)))
        << "a node no longer applies the coordinator's states";
  }

  std::unique_ptr<LiveCluster> cluster_;
  pb::ClusterState state_before_;
};

pb::Envelope ForgedPublish(const std::string& cluster_uuid) {
  pb::Envelope request;
  pb::ClusterState* state = request.mutable_publish()->mutable_state();
  state->set_version(2147483647);
  state->set_cluster_name("live-test");
  state->set_cluster_uuid(cluster_uuid);
  return request;
}

TEST_F(ForgedMessages, CallsWithoutTheIdentityAreUnauthenticatedAndLoggedOnce) {
  std::unique_ptr<Transport> intruder = As("intruder", nullptr);
  for (int i = 0; i < 20; ++i) {
    pb::Envelope request;
    request.mutable_node_status();
    absl::StatusOr<pb::Envelope> reply = Send(*intruder, 1, request);
    ASSERT_EQ(reply.status().code(), absl::StatusCode::kUnauthenticated)
        << reply.status();
  }
  pb::Envelope state_request;
  state_request.mutable_get_cluster_state();
  EXPECT_EQ(Send(*intruder, 0, state_request).status().code(),
            absl::StatusCode::kUnauthenticated);
  // Right cluster uuid, wrong secret.
  auto wrong = std::make_shared<ClusterIdentity>(*cluster_->identity());
  wrong->secret = std::string(64, 'a');
  std::unique_ptr<Transport> guesser = As("guesser", wrong);
  pb::Envelope request;
  request.mutable_node_status();
  absl::StatusOr<pb::Envelope> reply = Send(*guesser, 2, request);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(
      absl::StrContains(reply.status().message(), "wrong cluster secret"))
      << reply.status();
  // One log line for the 20 refused calls of "intruder" (the log is flushed
  // every second).
  auto count = [&] {
    const std::string log = cluster_->NodeLog(1);
    size_t found = 0;
    for (size_t at = log.find("from intruder"); at != std::string::npos;
         at = log.find("from intruder", at + 1)) {
      ++found;
    }
    return found;
  };
  EXPECT_TRUE(
      LiveCluster::WaitFor([&] { return count() >= 1; }, absl::Seconds(10)));
  EXPECT_EQ(count(), 1u) << cluster_->NodeLog(1);
}

// Issue 13, finding 1: one made-up Publish of version 2147483647 with no
// indices made every node delete every shard and ignore every real state.
TEST_F(ForgedMessages, ForgedPublishIsRefusedAndChangesNothing) {
  const std::string uuid = state_before_.cluster_uuid();
  // Without the identity.
  std::unique_ptr<Transport> anonymous = As(kCoordinatorId, nullptr);
  for (int n = 1; n <= 3; ++n) {
    EXPECT_EQ(Send(*anonymous, n, ForgedPublish(uuid)).status().code(),
              absl::StatusCode::kUnauthenticated);
  }
  // With the identity, from a sender that is not the coordinator.
  std::unique_ptr<Transport> member = As("seqsim-test", cluster_->identity());
  EXPECT_EQ(Send(*member, 1, ForgedPublish(uuid)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Claiming to be the coordinator: another cluster's state, then a version
  // no real coordinator can reach from the applied one.
  std::unique_ptr<Transport> impostor =
      As(kCoordinatorId, cluster_->identity());
  absl::StatusOr<pb::Envelope> other =
      Send(*impostor, 2, ForgedPublish("AAAAAAAAAAAAAAAAAAAAAA"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "of cluster"))
      << other.status();
  for (int n = 1; n <= 3; ++n) {
    absl::StatusOr<pb::Envelope> reply =
        Send(*impostor, n, ForgedPublish(uuid));
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition)
        << reply.status();
    EXPECT_TRUE(absl::StrContains(reply.status().message(), "versions ahead"))
        << reply.status();
  }
  // A malformed state (an index name that is a path) is invalid.
  pb::Envelope bad = ForgedPublish(uuid);
  pb::ClusterState* state = bad.mutable_publish()->mutable_state();
  state->set_version(state_before_.version() + 1);
  *state->mutable_indices() = state_before_.indices();
  state->mutable_indices(0)->set_name("../../etc");
  EXPECT_EQ(Send(*impostor, 3, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (int n = 1; n <= 3; ++n) {
    EXPECT_FALSE(absl::StrContains(cluster_->NodeLog(n), "index deleted"))
        << cluster_->NodeLog(n);
  }
  ExpectClusterUnchanged();
}

// Issue 13, finding 2: made-up joins added phantom nodes.
TEST_F(ForgedMessages, ForgedJoinIsRefusedAndAddsNoNode) {
  for (const char* id : {"node-9", "node-2"}) {
    pb::Envelope join;
    join.mutable_join()->mutable_node()->set_id(id);
    join.mutable_join()->mutable_node()->set_grpc_address("127.0.0.1:1");
    std::unique_ptr<Transport> anonymous = As(id, nullptr);
    EXPECT_EQ(Send(*anonymous, 0, join).status().code(),
              absl::StatusCode::kUnauthenticated);
    // A member of the cluster may only join as itself.
    std::unique_ptr<Transport> member = As("seqsim-test", cluster_->identity());
    absl::StatusOr<pb::Envelope> reply = Send(*member, 0, join);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition)
        << reply.status();
  }
  // Nor beat for another node (it would keep a dead node alive).
  pb::Envelope beat;
  beat.mutable_heartbeat()->set_node_id("node-2");
  std::unique_ptr<Transport> other = As("seqsim-test", cluster_->identity());
  EXPECT_EQ(Send(*other, 0, beat).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // An invalid node id or address.
  std::unique_ptr<Transport> member = As("node-9", cluster_->identity());
  pb::Envelope join;
  join.mutable_join()->mutable_node()->set_id("node-9");
  join.mutable_join()->mutable_node()->set_grpc_address("\xff:9300");
  EXPECT_EQ(Send(*member, 0, join).status().code(),
            absl::StatusCode::kInvalidArgument);
  ExpectClusterUnchanged();
}

// Issue 13, finding 3: an index name whose bytes are not UTF-8 was
// auto-created and killed every node given a copy, on every restart.
TEST_F(ForgedMessages, NonUtf8IndexNameIsRefusedByWriteAndCreateIndex) {
  const std::string bad_name = "bad\xff\xfe";
  std::unique_ptr<Transport> member = As("seqsim-test", cluster_->identity());
  pb::Envelope write;
  write.mutable_write()->set_index(bad_name);
  write.mutable_write()->set_id("1");
  write.mutable_write()->set_source(kDoc);
  for (int n = 1; n <= 3; ++n) {
    absl::StatusOr<pb::Envelope> reply = Send(*member, n, write);
    EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument)
        << reply.status();
    EXPECT_TRUE(absl::StrContains(reply.status().message(), "UTF-8"))
        << reply.status();
  }
  pb::Envelope create;
  create.mutable_create_index()->set_index(bad_name);
  create.mutable_create_index()->set_number_of_replicas(2);
  EXPECT_EQ(Send(*member, 0, create).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Send(*member, 1, create).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A restart finds nothing to trip on either.
  cluster_->KillNode(3);
  cluster_->StartNode(3);
  ExpectClusterUnchanged();
}

// Issue 13, finding 4: a replicate request of a huge seq_no would make a later
// promotion fill gaps for ever.
TEST_F(ForgedMessages, ReplicateWithAHugeSeqNoIsRefusedAndChangesNothing) {
  const int primary = cluster_->PrimaryOf("canary");
  ASSERT_NE(primary, 0);
  const int replica = primary == 1 ? 2 : 1;
  std::optional<pb::ShardRouting> routing = cluster_->Routing("canary");
  ASSERT_TRUE(routing.has_value());
  std::optional<pb::ShardStatus> before =
      cluster_->CopyStatus(replica, "canary");
  ASSERT_TRUE(before.has_value());
  std::unique_ptr<Transport> member =
      As(cluster_->NodeId(primary), cluster_->identity());
  for (int64_t seq_no : {int64_t{1} << 40, int64_t{2'000'000}, int64_t{-7}}) {
    pb::Envelope replicate;
    pb::ReplicateRequest* request = replicate.mutable_replicate();
    request->mutable_shard()->set_index("canary");
    request->set_primary_term(routing->primary_term());
    request->set_global_checkpoint(0);
    request->set_primary_node(cluster_->NodeId(primary));
    pb::Operation* op = request->add_ops();
    op->set_seq_no(seq_no);
    op->set_primary_term(routing->primary_term());
    op->set_version(2);
    op->set_id("1");
    op->set_source(R"({"title":"forged"})");
    absl::StatusOr<pb::Envelope> reply = Send(*member, replica, replicate);
    if (reply.ok()) {
      // Refused by the copy (its checkpoint is the replica's to judge).
      EXPECT_TRUE(absl::StrContains(
          reply->replicate_response().error().reason(), "out of range"))
          << seq_no << ": " << reply->replicate_response().DebugString();
    } else {
      EXPECT_EQ(reply.status().code(), absl::StatusCode::kInvalidArgument)
          << seq_no << ": " << reply.status();
    }
  }
  std::optional<pb::ShardStatus> after =
      cluster_->CopyStatus(replica, "canary");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->max_seq_no(), before->max_seq_no());
  EXPECT_EQ(after->local_checkpoint(), before->local_checkpoint());
  ExpectClusterUnchanged();
}

// The coordinator keeps its cluster: started with another cluster's identity
// on its data directory, it says so and exits instead of serving.
TEST(ClusterIdentityLive, CoordinatorRefusesTheStateOfAnotherCluster) {
  LiveClusterOptions options;
  options.nodes = 1;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  cluster.KillCoordinator();
  absl::StatusOr<ClusterIdentity> other = NewClusterIdentity();
  ASSERT_TRUE(other.ok());
  const std::string other_path = cluster.data_dir() + "/other.identity";
  ASSERT_TRUE(WriteClusterIdentity(*other, other_path).ok());
  ProcessResult result =
      RunToCompletion({BinDir() + "/seqsim-coordinator",
                       absl::StrCat("--port=", PickFreePort()),
                       "--data_dir=" + cluster.data_dir() + "/coordinator",
                       "--cluster_identity=" + other_path},
                      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "belongs to cluster"))
      << result.output;
}

TEST(ClusterIdentityLive, IdentityReadableByOthersIsRefusedAtStartUp) {
  absl::StatusOr<ClusterIdentity> identity = NewClusterIdentity();
  ASSERT_TRUE(identity.ok());
  const std::string dir = ::testing::TempDir() + "/auth-open-identity";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/cluster.identity";
  ASSERT_TRUE(WriteClusterIdentity(*identity, path).ok());
  std::filesystem::permissions(path, std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  ProcessResult result = RunToCompletion(
      {BinDir() + "/seqsim-node", absl::StrCat("--grpc_port=", PickFreePort()),
       "--rest_port=0", "--data_dir=" + dir + "/node",
       "--cluster_identity=" + path},
      absl::Seconds(30));
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_TRUE(absl::StrContains(result.output, "readable by others"))
      << result.output;
}

// Durable state that fails validation on restart (a shard directory of an
// index whose name is a path, a uuid that is not one) is reported and skipped:
// the node starts, joins and serves instead of crash-looping.
TEST(ClusterIdentityLive, InvalidShardMetadataOnDiskIsReportedNotFatal) {
  LiveClusterOptions options;
  options.nodes = 1;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  cluster.KillNode(1);
  const std::string shards = cluster.data_dir() + "/node-1/shards";
  for (const auto& [uuid, name] :
       std::vector<std::pair<std::string, std::string>>{
           {"AAAAAAAAAAAAAAAAAAAAAA", "../../escape"},
           {"not a uuid", "fine"}}) {
    std::filesystem::create_directories(shards + "/" + uuid + "/0");
    std::ofstream(shards + "/" + uuid + "/0/meta")
        << R"({"index":")" << name << R"(","index_uuid":")" << uuid
        << R"(","shard":0})";
  }
  cluster.StartNode(1);
  ASSERT_TRUE(cluster.NodeRunning(1)) << cluster.NodeLog(1);
  EXPECT_TRUE(cluster.WaitGreen());
  const std::string log = cluster.NodeLog(1);
  EXPECT_TRUE(
      absl::StrContains(log, "cannot open shards/AAAAAAAAAAAAAAAAAAAAAA/0"))
      << log;
  EXPECT_TRUE(absl::StrContains(log, "is a path")) << log;
  EXPECT_TRUE(absl::StrContains(log, "not URL-safe base64")) << log;
  ASSERT_TRUE(cluster.CreateIndex("books", 1, 0).ok());
  EXPECT_TRUE(cluster.WaitGreen());
}

// Mutual TLS (nodes on several hosts): the cluster replicates over TLS, and a
// client with the secret but without a certificate of the cluster's CA gets
// no answer.
TEST(ClusterIdentityLive, ClusterRunsOverMutualTls) {
  LiveClusterOptions options;
  options.tls = true;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  ASSERT_TRUE(cluster.identity()->tls());
  ASSERT_TRUE(cluster.CreateIndex("books", 1, 2).ok());
  ASSERT_TRUE(cluster.WaitGreen());
  absl::StatusOr<pb::WriteResponse> written =
      cluster.Write(2, "books", "1", kDoc);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->shards().successful(), 3) << written->DebugString();
  for (int n = 1; n <= 3; ++n) {
    absl::StatusOr<pb::GetResponse> got = cluster.GetLocal(n, "books", "1");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(got->found());
  }
  auto plaintext = std::make_shared<ClusterIdentity>(*cluster.identity());
  plaintext->tls_ca_pem.clear();
  plaintext->tls_cert_pem.clear();
  plaintext->tls_key_pem.clear();
  Transport transport("seqsim-test", plaintext);
  pb::Envelope request;
  request.mutable_node_status();
  absl::StatusOr<pb::Envelope> reply = transport.CallSync(
      cluster.NodeId(1), cluster.NodeAddress(1), request, absl::Seconds(2));
  EXPECT_FALSE(reply.ok());
  if (HasFailure()) cluster.DumpLogs();
}

}  // namespace
}  // namespace seqsim::testing
