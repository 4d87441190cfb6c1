// Node actor tests: one or more Nodes and a scripted coordinator in a
// deterministic in-memory world (test_cluster.h). Each test names the rule of
// DESIGN.md section 3 it checks.
#include "node/logic/node.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/es_error.h"
#include "node/engine/shard_engine.h"
#include "node/logic/routing.h"
#include "tests/logic/test_cluster.h"

namespace seqsim {
namespace {

using testing::CopySpec;
using testing::FakeCoordinator;
using testing::Index;
using testing::Message;
using testing::Routing;
using testing::TestCluster;

class NodeTest : public ::testing::Test {
 protected:
  void Boot(const std::vector<std::string>& ids,
            const std::function<void(NodeOptions&)>& tweak = nullptr) {
    coordinator_ =
        std::make_unique<FakeCoordinator>(cluster_.AddEnv(kCoordinatorId), ids);
    cluster_.AddActor(kCoordinatorId, coordinator_.get());
    for (const auto& id : ids) {
      NodeOptions options;
      options.id = id;
      options.grpc_address = "127.0.0.1:" + id;
      options.heartbeat_interval = absl::Milliseconds(100);
      options.rpc_timeout = absl::Seconds(2);
      options.write_timeout = absl::Seconds(5);
      if (tweak) tweak(options);
      options_[id] = options;
      nodes_[id] = std::make_unique<Node>(cluster_.AddEnv(id), options);
      cluster_.AddActor(id, nodes_[id].get());
    }
    for (const auto& id : ids) nodes_[id]->Start();
    cluster_.DeliverAll();
  }

  // Replaces the indices of the coordinator's state, bumps the version and
  // publishes it (to `only`, or to every node), delivering everything.
  void Publish(const std::vector<pb::IndexMeta>& indices,
               const std::vector<std::string>& only = {}, bool deliver = true) {
    coordinator_->state.clear_indices();
    for (const auto& index : indices)
      *coordinator_->state.add_indices() = index;
    coordinator_->Bump();
    coordinator_->Publish(only);
    if (deliver) cluster_.DeliverAll();
  }

  // idx: one shard, primary node-1, replicas node-2 and node-3, all in sync.
  pb::IndexMeta ThreeCopies(int64_t term = 1) {
    return Index("idx", 2,
                 {Routing(0, term, {{"node-1", true}, {"node-2"}, {"node-3"}},
                          {"node-1", "node-2", "node-3"})});
  }

  static pb::Envelope WriteEnvelope(const std::string& index,
                                    const std::string& id,
                                    const std::string& source) {
    pb::Envelope envelope;
    envelope.mutable_write()->set_index(index);
    envelope.mutable_write()->set_id(id);
    envelope.mutable_write()->set_source(source);
    return envelope;
  }

  std::shared_ptr<std::optional<pb::Envelope>> Write(
      const std::string& to, const std::string& id, const std::string& source,
      const std::string& index = "idx") {
    return cluster_.Client(to, WriteEnvelope(index, id, source));
  }

  // Delivers the first pending request of `body` to `to`, then its reply.
  void DeliverRoundTrip(pb::Envelope::BodyCase body, const std::string& to) {
    auto index = cluster_.FindRequest(body, "", to);
    ASSERT_TRUE(index.has_value()) << "no pending request to " << to;
    const uint64_t call_id = cluster_.queue[*index].call_id;
    cluster_.Deliver(*index);
    auto reply = cluster_.Find(
        [&](const Message& m) { return m.is_reply && m.call_id == call_id; });
    ASSERT_TRUE(reply.has_value()) << "no reply from " << to;
    cluster_.Deliver(*reply);
  }

  void DeliverClientRequest(const std::string& to) {
    auto index = cluster_.FindRequest(pb::Envelope::kWrite, "client", to);
    ASSERT_TRUE(index.has_value());
    cluster_.Deliver(*index);
  }

  pb::ShardStatus StatusOf(const std::string& node,
                           const std::string& index = "idx", int shard = 0) {
    const pb::NodeStatusResponse all = nodes_[node]->Status();
    for (const auto& status : all.shards()) {
      if (status.index() == index && status.shard() == shard) return status;
    }
    return pb::ShardStatus();
  }

  pb::GetResponse LocalGet(const std::string& node, const std::string& id) {
    pb::Envelope envelope;
    envelope.mutable_get()->set_index("idx");
    envelope.mutable_get()->set_id(id);
    envelope.mutable_get()->set_prefer_local(true);
    auto slot = cluster_.Client(node, envelope);
    cluster_.DeliverAll();
    return slot->has_value() ? (*slot)->get_response() : pb::GetResponse();
  }

  // _refresh on every node: their copies become searchable.
  void RefreshAll() {
    for (const auto& [id, node] : nodes_) {
      pb::Envelope refresh;
      refresh.mutable_refresh();
      cluster_.Client(id, refresh);
    }
    cluster_.DeliverAll();
  }

  // The ids a match_all search finds on node `via` with `preference`.
  std::vector<std::string> SearchIds(const std::string& via,
                                     const std::string& preference = "") {
    pb::Envelope search;
    search.mutable_search()->add_indices("idx");
    search.mutable_search()->set_size(100);
    search.mutable_search()->set_preference(preference);
    auto reply = cluster_.Client(via, search);
    cluster_.DeliverAll();
    std::vector<std::string> ids;
    if (!reply->has_value()) return {"<no reply>"};
    const pb::SearchResponse& response = (*reply)->search_response();
    if (HasError(response.error()))
      return {"<" + response.error().reason() + ">"};
    for (const pb::SearchHit& hit : response.hits()) ids.push_back(hit.id());
    return ids;
  }

  bool Logged(const std::string& needle) const {
    return std::any_of(cluster_.log.begin(), cluster_.log.end(),
                       [&](const std::string& line) {
                         return absl::StrContains(line, needle);
                       });
  }
  std::string Log() const { return absl::StrJoin(cluster_.log, "\n"); }

  TestCluster cluster_;
  std::unique_ptr<FakeCoordinator> coordinator_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::map<std::string, NodeOptions> options_;
};

// ---- routing
// ----------------------------------------------------------------------------

TEST(Routing, HashIsElasticsearchsMurmur3OfTheUtf16CodeUnits) {
  // Elasticsearch's own known values (Murmur3HashFunctionTests).
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("hell")), 0x5a0cb7c3u);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("hello")), 0xd7c31989u);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("hello w")), 0x22ab2984u);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("hello wo")), 0xdf0ca123u);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("hello wor")), 0xe7744d61u);
  EXPECT_EQ(static_cast<uint32_t>(
                EsRoutingHash("The quick brown fox jumps over the lazy dog")),
            0xe07db09cu);
  EXPECT_EQ(static_cast<uint32_t>(
                EsRoutingHash("The quick brown fox jumps over the lazy cog")),
            0x4e63d2adu);
  // Beyond ASCII: one code unit (U+00E9), two (CJK), a surrogate pair
  // (U+1F600), from an independent implementation of the same definition.
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("\xc3\xa9")), 0x41e915ffu);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("\xe6\x97\xa5\xe6\x9c\xac")),
            0xa4a1f0f3u);
  EXPECT_EQ(static_cast<uint32_t>(EsRoutingHash("\xf0\x9f\x98\x80")),
            0x56065e39u);
  // Invalid UTF-8 hashes like U+FFFD, and never crashes.
  EXPECT_EQ(EsRoutingHash("\xff"), EsRoutingHash("\xef\xbf\xbd"));
  EXPECT_EQ(EsRoutingHash("\xe6\x97"), EsRoutingHash("\xef\xbf\xbd"));
}

TEST(Routing, RoutingNumShardsIsTheLargestShardsTimesPowerOfTwoUpTo1024) {
  EXPECT_EQ(RoutingNumShards(1), 1024);
  EXPECT_EQ(RoutingNumShards(2), 1024);
  EXPECT_EQ(RoutingNumShards(3), 768);
  EXPECT_EQ(RoutingNumShards(5), 640);
  EXPECT_EQ(RoutingNumShards(7), 896);
  EXPECT_EQ(RoutingNumShards(100), 800);
  EXPECT_EQ(RoutingNumShards(1000), 2000);  // always splittable at least once
}

TEST(Routing, ShardIsFloorModOfTheHashOverRoutingShardsDividedByTheFactor) {
  // "1": hash 0xf879cc33 = -126235597; floorMod(., 768) = 563; 563 / 256 = 2.
  EXPECT_EQ(ShardForRouting("1", 3), 2);
  EXPECT_EQ(ShardForRouting("2", 3), 1);
  EXPECT_EQ(ShardForRouting("3", 3), 1);
  EXPECT_EQ(ShardForRouting("1", 5), 4);
  EXPECT_EQ(ShardForRouting("user-17", 10), 9);
  EXPECT_EQ(ShardForRouting("kimchy", 7), 4);
  EXPECT_EQ(ShardForRouting("\xf0\x9f\x98\x80", 7), 6);
  EXPECT_EQ(ShardForId("anything", 1), 0);
  EXPECT_EQ(ShardForId("anything", 0), 0);
}

TEST_F(NodeTest, JoinAppliesTheStateFromTheJoinReply) {
  Boot({"node-1"});
  EXPECT_EQ(nodes_["node-1"]->cluster_state().version(), 1);
  EXPECT_EQ(coordinator_->received.size(), 1u);
  EXPECT_TRUE(coordinator_->received[0].has_join());
}

TEST_F(NodeTest, JoinIsRetriedUntilTheCoordinatorAnswers) {
  cluster_.down.insert(kCoordinatorId);
  Boot({"node-1"});
  EXPECT_FALSE(nodes_["node-1"]->Status().coordinator_reachable());
  cluster_.RunFor(absl::Milliseconds(350));
  cluster_.down.clear();
  ASSERT_TRUE(cluster_.RunUntil(
      [&] { return nodes_["node-1"]->Status().coordinator_reachable(); }));
  EXPECT_EQ(nodes_["node-1"]->cluster_state().version(),
            coordinator_->state.version());
}

TEST_F(NodeTest, ClusterStatesApplyInVersionOrderOnly) {
  Boot({"node-1"});
  pb::Envelope newer;
  *newer.mutable_publish()->mutable_state() = coordinator_->state;
  newer.mutable_publish()->mutable_state()->set_version(5);
  pb::Envelope older = newer;
  older.mutable_publish()->mutable_state()->set_version(4);
  cluster_.Client("node-1", newer, kCoordinatorId);
  cluster_.Client("node-1", older, kCoordinatorId);
  cluster_.DeliverAll();
  EXPECT_EQ(nodes_["node-1"]->cluster_state().version(), 5);
  EXPECT_TRUE(
      Logged("node-1 ignores cluster state version 4: it applied version 5"))
      << Log();
}

// Issue 13: a cluster state is applied only from the coordinator of the
// node's cluster, and only if it can follow the applied one; a refused one
// changes nothing and says why (FAILED_PRECONDITION in Envelope.refused).
TEST_F(NodeTest, ClusterStateIsRefusedUnlessItCanFollowFromTheCoordinator) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  const int64_t applied = nodes_["node-1"]->cluster_state().version();
  ASSERT_GT(applied, 0);
  auto publish = [&](const std::string& from, int64_t version,
                     const std::string& uuid, int64_t term) {
    pb::Envelope request;
    pb::ClusterState* state = request.mutable_publish()->mutable_state();
    *state = coordinator_->state;
    state->set_version(version);
    state->set_cluster_uuid(uuid);
    state->mutable_indices(0)->mutable_shards(0)->set_primary_term(term);
    auto reply = cluster_.Client("node-1", request, from);
    cluster_.DeliverAll();
    return reply;
  };
  const std::string uuid = coordinator_->state.cluster_uuid();
  struct Case {
    std::string from;
    int64_t version;
    std::string uuid;
    int64_t term;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"node-2", applied + 1, uuid, 1, "not the coordinator"},
           {kCoordinatorId, applied + 1, "another-cluster", 1, "of cluster"},
           {kCoordinatorId, 2147483647, uuid, 1, "versions ahead"},
           {kCoordinatorId, applied + 1, uuid, 0, "lowers [idx][0]"}}) {
    auto reply = publish(c.from, c.version, c.uuid, c.term);
    ASSERT_TRUE(reply->has_value()) << c.why;
    EXPECT_EQ((*reply)->refused(),
              static_cast<int>(absl::StatusCode::kFailedPrecondition))
        << c.why;
    EXPECT_TRUE(
        absl::StrContains((*reply)->publish_response().error().reason(), c.why))
        << (*reply)->DebugString();
    EXPECT_EQ(nodes_["node-1"]->cluster_state().version(), applied) << c.why;
  }
  EXPECT_EQ(nodes_["node-1"]->Status().shards_size(), 1);
  // The coordinator's next state still applies.
  Publish({ThreeCopies(2)});
  EXPECT_GT(nodes_["node-1"]->cluster_state().version(), applied);
}

TEST_F(NodeTest, PublishSetsPeerAddressesAndOpensAssignedCopies) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  EXPECT_EQ(cluster_.env("node-1")->peers["node-2"], "127.0.0.1:node-2");
  EXPECT_EQ(StatusOf("node-1").role(), "primary");
  EXPECT_EQ(StatusOf("node-2").role(), "replica");
  EXPECT_EQ(StatusOf("node-1").primary_term(), 1);
  EXPECT_TRUE(
      cluster_.env("node-2")->mem_disk().Exists("shards/uuid-idx/0/meta"));
}

// ---- write path
// ---------------------------------------------------------------------------

TEST_F(NodeTest, WriteOnNonPrimaryIsForwardedToThePrimaryAndTheReplyRelayed) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto reply = Write("node-2", "doc-1", R"({"n":1})");
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  const pb::WriteResponse& response = (*reply)->write_response();
  EXPECT_FALSE(HasError(response.error())) << response.error().reason();
  EXPECT_EQ(response.result(), "created");
  EXPECT_EQ(response.seq_no(), 0);
  EXPECT_EQ(response.primary_term(), 1);
  EXPECT_EQ(response.version(), 1);
  EXPECT_EQ(response.shards().total(), 3);
  EXPECT_EQ(response.shards().successful(), 3);
  EXPECT_EQ(StatusOf("node-1").max_seq_no(), 0);
  EXPECT_EQ(StatusOf("node-3").docs(), 1);
}

TEST_F(NodeTest, R3_PrimaryAcksOnlyAfterEveryInSyncReplicaAnswered) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto reply = Write("node-1", "doc-1", R"({"n":1})");
  DeliverClientRequest("node-1");
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate), 2);
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  EXPECT_FALSE(reply->has_value()) << "acked before node-3 answered";
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-3");
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().shards().successful(), 3);
  EXPECT_EQ((*reply)->write_response().shards().failed(), 0);
}

TEST_F(NodeTest, R3_WritesArePipelinedWithoutWaitingForReplicaRoundTrips) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto first = Write("node-1", "a", R"({"n":1})");
  auto second = Write("node-1", "b", R"({"n":2})");
  DeliverClientRequest("node-1");
  DeliverClientRequest("node-1");
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate), 4);
  cluster_.DeliverAll();
  ASSERT_TRUE(first->has_value() && second->has_value());
  EXPECT_EQ((*second)->write_response().seq_no(), 1);
}

TEST_F(NodeTest, R3_ReplicaFailureIsReportedAndTheAckWaitsForTheCoordinator) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  cluster_.down.insert("node-3");
  auto reply = Write("node-1", "doc-1", R"({"n":1})");
  DeliverClientRequest("node-1");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  DeliverRoundTrip(pb::Envelope::kReplicate,
                   "node-3");  // fails: node-3 is down
  auto failed = cluster_.FindRequest(pb::Envelope::kShardFailed, "node-1",
                                     kCoordinatorId);
  ASSERT_TRUE(failed.has_value()) << Log();
  EXPECT_EQ(cluster_.queue[*failed].envelope.shard_failed().failed_node(),
            "node-3");
  EXPECT_EQ(cluster_.queue[*failed].envelope.shard_failed().primary_term(), 1);
  EXPECT_FALSE(reply->has_value())
      << "acked before the coordinator removed node-3";
  DeliverRoundTrip(pb::Envelope::kShardFailed, kCoordinatorId);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  const pb::ShardsInfo& shards = (*reply)->write_response().shards();
  EXPECT_EQ(shards.total(), 3);
  EXPECT_EQ(shards.successful(), 2);
  EXPECT_EQ(shards.failed(), 1);
  ASSERT_EQ(shards.failures_size(), 1);
  EXPECT_EQ(shards.failures(0).node(), "node-3");
}

TEST_F(NodeTest,
       R8_ReplicaRejectingWithNewerTermMakesPrimaryFailEveryInFlightWrite) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  // The coordinator promoted node-2 (term 2); node-1 has not heard of it.
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"});
  auto first = Write("node-1", "a", R"({"n":1})");
  auto second = Write("node-1", "b", R"({"n":2})");
  cluster_.DeliverAll();
  ASSERT_TRUE(first->has_value() && second->has_value());
  EXPECT_TRUE(HasError((*first)->write_response().error()));
  EXPECT_TRUE(HasError((*second)->write_response().error()));
  EXPECT_EQ((*first)->write_response().error().type(),
            "write_outcome_unknown_exception");
  EXPECT_EQ((*first)->write_response().error().status(), 503);
  EXPECT_EQ((*first)->write_response().shards().successful(), 0);
  EXPECT_EQ(StatusOf("node-1").role(), "stale");
  EXPECT_TRUE(
      Logged("node-2 rejects replicate(term 1) from node-1 for [idx][0]: its "
             "term is 2"))
      << Log();
  EXPECT_TRUE(Logged("node-1 is a stale primary of [idx][0] (term 1)"))
      << Log();
}

TEST_F(NodeTest,
       R8_CoordinatorRefusingShardFailedMakesPrimaryStaleAndAckNothing) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  coordinator_->reject_shard_failed = true;
  cluster_.down.insert("node-3");
  auto reply = Write("node-1", "a", R"({"n":1})");
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_TRUE(HasError((*reply)->write_response().error()));
  EXPECT_EQ(StatusOf("node-1").role(), "stale");
  // A newer state making node-1 primary again (term 2) lifts the fence.
  cluster_.down.clear();
  Publish({ThreeCopies(2)});
  EXPECT_EQ(StatusOf("node-1").role(), "primary");
  auto again = Write("node-1", "b", R"({"n":2})");
  cluster_.DeliverAll();
  ASSERT_TRUE(again->has_value());
  EXPECT_FALSE(HasError((*again)->write_response().error()));
  EXPECT_EQ((*again)->write_response().primary_term(), 2);
}

TEST_F(NodeTest,
       R7_PromotedPrimaryFillsGapsResyncsAboveGlobalCheckpointAndReplicasTrim) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto a = Write("node-1", "a", R"({"v":"a"})");
  cluster_.RunFor(absl::Milliseconds(250));  // replicate, then an idle gcp sync
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ(StatusOf("node-3").global_checkpoint(), 0);

  // b (seq_no 1) reaches node-3 only; c (seq_no 2) reaches node-2 only.
  Write("node-1", "b", R"({"v":"b"})");
  DeliverClientRequest("node-1");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-3");
  cluster_.Drop(
      *cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-2"));
  Write("node-1", "c", R"({"v":"c"})");
  DeliverClientRequest("node-1");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  cluster_.Drop(
      *cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-3"));
  EXPECT_EQ(StatusOf("node-2").local_checkpoint(), 0);  // gap at seq_no 1
  EXPECT_EQ(StatusOf("node-2").max_seq_no(), 2);

  // node-1 fails; node-2 is promoted with term 2.
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"}, /*deliver=*/false);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-2"));
  auto resync = cluster_.FindRequest(pb::Envelope::kResync, "node-2", "node-3");
  ASSERT_TRUE(resync.has_value()) << Log();
  const pb::ResyncRequest& request = cluster_.queue[*resync].envelope.resync();
  EXPECT_EQ(request.primary_term(), 2);
  EXPECT_EQ(request.global_checkpoint(), 0);
  EXPECT_EQ(request.trim_above_seq_no(), 2);
  ASSERT_EQ(request.ops_size(), 2);
  EXPECT_EQ(request.ops(0).type(),
            pb::OP_NOOP);  // the gap, filled under term 2
  EXPECT_EQ(request.ops(0).primary_term(), 2);
  EXPECT_EQ(request.ops(1).id(), "c");
  EXPECT_TRUE(
      Logged("node-2 promoted to primary of [idx][0] term 2: filled 1 gaps "
             "with no-ops, "
             "resync 2 ops above gcp 0, trim above 2"))
      << Log();
  cluster_.DeliverAll();

  EXPECT_EQ(StatusOf("node-2").local_checkpoint(), 2);
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 2);
  EXPECT_EQ(StatusOf("node-3").primary_term(), 2);
  EXPECT_FALSE(LocalGet("node-3", "b").found())
      << "b was never acked and is not on the primary";
  EXPECT_TRUE(LocalGet("node-3", "c").found());
  EXPECT_EQ(StatusOf("node-3").docs(), StatusOf("node-2").docs());
}

TEST_F(NodeTest, R7_NoResyncPlantedBugSkipsResync) {
  Boot({"node-1", "node-2", "node-3"},
       [](NodeOptions& o) { o.unsafe.no_resync = true; });
  Publish({ThreeCopies()});
  Write("node-1", "a", R"({"v":"a"})");
  cluster_.DeliverAll();
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"}, /*deliver=*/false);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-2"));
  EXPECT_FALSE(cluster_.FindRequest(pb::Envelope::kResync).has_value());
}

TEST_F(NodeTest, R5_ReplicaAppliesOutOfOrderOperationsByKeepingTheNewest) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  auto first = Write("node-1", "x", R"({"v":1})");
  auto second = Write("node-1", "x", R"({"v":2})");
  DeliverClientRequest("node-1");
  DeliverClientRequest("node-1");
  ASSERT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 2);
  // The second operation (seq_no 1) overtakes the first (seq_no 0).
  auto late =
      *cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-2");
  Message held = cluster_.Take(late);
  cluster_.DeliverAll();
  cluster_.queue.push_back(std::move(held));
  cluster_.DeliverAll();
  ASSERT_TRUE(first->has_value() && second->has_value());
  pb::GetResponse doc = LocalGet("node-2", "x");
  EXPECT_EQ(doc.source(), R"({"v":2})");
  EXPECT_EQ(doc.seq_no(), 1);
  EXPECT_EQ(StatusOf("node-2").local_checkpoint(), 1);
  EXPECT_TRUE(Logged(
      "node-2 ignores index(doc x, seq_no 0, term 1): it holds seq_no 1"))
      << Log();
}

TEST_F(NodeTest, R4_NewerTermOperationReplacesAnOlderTermOneAtTheSameSeqNo) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  Write("node-1", "a", R"({"v":"a"})");
  cluster_.RunFor(absl::Milliseconds(250));  // gcp 0 reaches node-2
  Write("node-1", "b", R"({"v":"b"})");      // seq_no 1, term 1: never acked
  DeliverClientRequest("node-1");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  ASSERT_EQ(StatusOf("node-2").global_checkpoint(), 0);

  // A new primary (term 2) stamped a different operation with seq_no 1.
  pb::Envelope replicate;
  pb::ReplicateRequest* request = replicate.mutable_replicate();
  request->mutable_shard()->set_index("idx");
  request->set_primary_term(2);
  request->set_global_checkpoint(0);
  pb::Operation* op = request->add_ops();
  op->set_seq_no(1);
  op->set_primary_term(2);
  op->set_version(1);
  op->set_id("c");
  op->set_source(R"({"v":"c"})");
  auto reply = cluster_.Client("node-2", replicate);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_FALSE(HasError((*reply)->replicate_response().error()));
  EXPECT_FALSE(LocalGet("node-2", "b").found());
  EXPECT_TRUE(LocalGet("node-2", "c").found());
  EXPECT_TRUE(
      Logged("node-2 replaces index(doc b, seq_no 1, term 1) with "
             "index(doc c, seq_no 1, term 2)"))
      << Log();
}

TEST_F(NodeTest, R6_ReplicaAwaitingResyncReportsLocalCheckpointCappedAtGcp) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  Write("node-1", "a", "{}");
  cluster_.RunFor(absl::Milliseconds(250));
  Write("node-1", "b", "{}");  // seq_no 1 on node-2, above its gcp 0
  DeliverClientRequest("node-1");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  ASSERT_EQ(StatusOf("node-2").local_checkpoint(), 1);

  // The new primary's first request (an empty replicate, term 2) arrives
  // before its resync: seq_no 1 may still be trimmed, so it is not reported.
  pb::Envelope empty;
  empty.mutable_replicate()->mutable_shard()->set_index("idx");
  empty.mutable_replicate()->set_primary_term(2);
  empty.mutable_replicate()->set_global_checkpoint(0);
  auto before = cluster_.Client("node-2", empty);
  cluster_.DeliverAll();
  ASSERT_TRUE(before->has_value());
  EXPECT_EQ((*before)->replicate_response().local_checkpoint(), 0);

  pb::Envelope resync;
  resync.mutable_resync()->mutable_shard()->set_index("idx");
  resync.mutable_resync()->set_primary_term(2);
  resync.mutable_resync()->set_global_checkpoint(0);
  resync.mutable_resync()->set_trim_above_seq_no(1);
  auto after = cluster_.Client("node-2", resync);
  cluster_.DeliverAll();
  ASSERT_TRUE(after->has_value());
  EXPECT_EQ((*after)->replicate_response().local_checkpoint(), 1);
}

TEST_F(NodeTest, R8_StalePrimaryNeverServesAStaleRead) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  Write("node-1", "a", R"({"v":1})");
  cluster_.DeliverAll();
  // node-2 is promoted and overwrites a; node-1 has not heard of it.
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"});
  auto overwrite = Write("node-2", "a", R"({"v":2})");
  cluster_.DeliverAll();
  ASSERT_TRUE(overwrite->has_value());
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  auto reply = cluster_.Client("node-1", get);
  cluster_.RunUntil([&] { return reply->has_value(); });
  ASSERT_TRUE(reply->has_value());
  EXPECT_NE((*reply)->get_response().source(), R"({"v":1})") << Log();
  EXPECT_TRUE(Logged("node-1 is a stale primary of [idx][0] (term 1)"))
      << Log();
}

TEST_F(NodeTest, GetOnThePrimaryWaitsForAReadBarrierOfInSyncReplicas) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  Write("node-1", "a", R"({"v":1})");
  cluster_.RunFor(absl::Milliseconds(250));
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  auto reply = cluster_.Client("node-1", get);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kGet, "client"));
  EXPECT_FALSE(reply->has_value());
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 1);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_TRUE((*reply)->get_response().found());
}

TEST_F(NodeTest, ForwardedWriteIsRetriedOnlyWhenThePrimaryWasNeverReached) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  // The connection resets after node-1 got the write: unknown outcome, no
  // retry (a retry could apply it twice).
  auto reset = Write("node-2", "a", "{}");
  DeliverClientRequest("node-2");
  auto forwarded =
      cluster_.FindRequest(pb::Envelope::kWrite, "node-2", "node-1");
  ASSERT_TRUE(forwarded.has_value());
  Message message = cluster_.Take(*forwarded);
  cluster_.queue.push_back(Message{"node-1",
                                   "node-2",
                                   {},
                                   true,
                                   message.call_id,
                                   absl::UnavailableError("connection reset")});
  cluster_.DeliverAll();
  ASSERT_TRUE(reset->has_value());
  EXPECT_EQ((*reset)->write_response().error().type(),
            "node_disconnected_exception");
  EXPECT_EQ(StatusOf("node-1").max_seq_no(), -1);

  // Refused: it never arrived, so it is retried once node-1 is back.
  cluster_.down.insert("node-1");
  auto refused = Write("node-2", "b", "{}");
  cluster_.RunFor(absl::Milliseconds(300));
  EXPECT_FALSE(refused->has_value());
  cluster_.down.clear();
  cluster_.RunUntil([&] { return refused->has_value(); });
  ASSERT_TRUE(refused->has_value());
  EXPECT_FALSE(HasError((*refused)->write_response().error()));
}

// ---- R11: answers without replication are reads
// ------------------------------------------------------------

// x = A is on every copy (term 1, primary node-1); then node-1 is cut off:
// node-2 is promoted (term 2) and node-1 does not hear of it. x = B is written
// through the new primary. Returns B's reply.
class DeposedPrimaryTest : public NodeTest {
 protected:
  void SetUp() override {}
  pb::WriteResponse Depose(
      const std::function<void(NodeOptions&)>& tweak = nullptr,
      const std::string& b_source = R"({"v":"B"})",
      pb::WriteRequest::Kind b_kind = pb::WriteRequest::INDEX) {
    Boot({"node-1", "node-2", "node-3"}, tweak);
    Publish({ThreeCopies()});
    auto a = Write("node-1", "x", R"({"v":"A"})");
    cluster_.RunFor(absl::Milliseconds(250));  // replicate, then a gcp sync
    EXPECT_TRUE(a->has_value());
    Publish({Index("idx", 2,
                   {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                            {"node-2", "node-3"})})},
            {"node-2", "node-3"});
    pb::Envelope b = WriteEnvelope("idx", "x", b_source);
    b.mutable_write()->set_kind(b_kind);
    auto reply = cluster_.Client("node-2", b);
    cluster_.DeliverAll();
    EXPECT_TRUE(reply->has_value());
    EXPECT_EQ(StatusOf("node-1").role(), "primary") << "node-1 still thinks so";
    return reply->has_value() ? (*reply)->write_response()
                              : pb::WriteResponse();
  }

  // Sends `request` to node-1 and runs until it is answered.
  pb::WriteResponse AskDeposed(pb::Envelope request,
                               const std::string& to = "node-1") {
    auto reply = cluster_.Client(to, std::move(request));
    cluster_.RunUntil([&] { return reply->has_value(); });
    EXPECT_TRUE(reply->has_value());
    return reply->has_value() ? (*reply)->write_response()
                              : pb::WriteResponse();
  }

  pb::Envelope CasOnB(const pb::WriteResponse& b) {
    pb::Envelope cas = WriteEnvelope("idx", "x", R"({"v":"C"})");
    cas.mutable_write()->set_if_seq_no(b.seq_no());
    cas.mutable_write()->set_if_primary_term(b.primary_term());
    return cas;
  }
};

// The issue's reproduction: the CAS names the document's current version
// (written by the new primary), so a 409 from the deposed primary would be a
// definite wrong answer. Its barrier finds its term superseded, and the write
// goes to the new primary, where the CAS succeeds.
TEST_F(DeposedPrimaryTest, R11_CasConflictOnADeposedPrimaryIsReroutedNot409) {
  const pb::WriteResponse b = Depose();
  ASSERT_FALSE(HasError(b.error())) << b.error().reason();
  ASSERT_EQ(b.primary_term(), 2);
  const pb::WriteResponse cas = AskDeposed(CasOnB(b));
  EXPECT_NE(cas.error().status(), 409) << cas.error().reason();
  EXPECT_FALSE(HasError(cas.error())) << cas.error().reason();
  EXPECT_EQ(cas.result(), "updated");
  EXPECT_EQ(cas.primary_term(), 2);
  EXPECT_EQ(cas.seq_no(), b.seq_no() + 1);
  EXPECT_TRUE(Logged("node-1 is a stale primary of [idx][0] (term 1)"))
      << Log();
}

// The same CAS forwarded by a node that still routes by the old state: the
// deposed primary hands it back as retryable (nothing was executed), so that
// the coordinating node routes it again.
TEST_F(DeposedPrimaryTest,
       R11_ForwardedConflictOnADeposedPrimaryIsRetriedOnTheNewPrimary) {
  const pb::WriteResponse b = Depose();
  // The CAS reaches node-1 as forwarded by node-3 (as node-3 would have done
  // by the old routing).
  auto reply = cluster_.Client("node-1", CasOnB(b));
  auto index = cluster_.FindRequest(pb::Envelope::kWrite, "client", "node-1");
  ASSERT_TRUE(index.has_value());
  cluster_.queue[*index].envelope.set_from("node-3");
  cluster_.Deliver(*index);
  cluster_.RunUntil([&] { return reply->has_value(); });
  ASSERT_TRUE(reply->has_value());
  const pb::WriteResponse& response = (*reply)->write_response();
  EXPECT_EQ(response.error().type(), "unavailable_shards_exception")
      << "a retryable refusal, not a 409: " << response.error().reason();
  EXPECT_EQ(StatusOf("node-2").max_seq_no(), b.seq_no()) << "nothing applied";
}

TEST_F(DeposedPrimaryTest, R11_CreateOfADeletedDocOnADeposedPrimaryIsNot409) {
  const pb::WriteResponse deleted =
      Depose(nullptr, "", pb::WriteRequest::DELETE);
  ASSERT_EQ(deleted.result(), "deleted");
  pb::Envelope create = WriteEnvelope("idx", "x", R"({"v":"C"})");
  create.mutable_write()->set_kind(pb::WriteRequest::CREATE);
  const pb::WriteResponse created = AskDeposed(create);
  EXPECT_FALSE(HasError(created.error())) << created.error().reason();
  EXPECT_EQ(created.result(), "created");
  EXPECT_EQ(created.primary_term(), 2);
}

TEST_F(DeposedPrimaryTest, R11_UpdateOnADeposedPrimaryIsNotANoop) {
  Depose();
  pb::Envelope update;
  update.mutable_write()->set_index("idx");
  update.mutable_write()->set_id("x");
  update.mutable_write()->set_kind(pb::WriteRequest::UPDATE);
  update.mutable_write()->set_update_doc(R"({"v":"A"})");
  update.mutable_write()->set_detect_noop(true);
  const pb::WriteResponse updated = AskDeposed(update);
  EXPECT_FALSE(HasError(updated.error())) << updated.error().reason();
  EXPECT_EQ(updated.result(), "updated") << "x is B: setting A changes it";
  EXPECT_EQ(updated.primary_term(), 2);
}

TEST_F(DeposedPrimaryTest, R11_NoConflictBarrierPlantedBugAnswers409AtOnce) {
  const pb::WriteResponse b =
      Depose([](NodeOptions& o) { o.unsafe.no_conflict_barrier = true; });
  const pb::WriteResponse cas = AskDeposed(CasOnB(b));
  EXPECT_EQ(cas.error().status(), 409);
  EXPECT_EQ(cas.error().type(), "version_conflict_engine_exception");
}

// On a primary that is still current the 409 is given after the barrier: one
// empty replicate per in-sync replica, answered under its term.
TEST_F(NodeTest, R11_ConflictIsAnsweredOnlyAfterTheReplicasConfirmTheTerm) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  Write("node-1", "x", R"({"v":1})");
  cluster_.RunFor(absl::Milliseconds(250));
  pb::Envelope create = WriteEnvelope("idx", "x", R"({"v":2})");
  create.mutable_write()->set_kind(pb::WriteRequest::CREATE);
  auto reply = cluster_.Client("node-1", create);
  DeliverClientRequest("node-1");
  EXPECT_FALSE(reply->has_value()) << "answered before the barrier";
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 1);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().error().status(), 409);
  EXPECT_EQ(StatusOf("node-1").max_seq_no(), 0) << "no seq_no consumed";
}

// ---- R12: reroute
// ------------------------------------------------------------------------------

// node-2 forwards a write to node-1, which is paused (the request sits
// undelivered). Once node-2 applies the state that promotes another copy it
// answers at once with the unknown-outcome 503 instead of waiting for the
// write timeout.
TEST_F(NodeTest, R12_ForwardedWriteToAReplacedPrimaryIsAnsweredAtOnce) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto reply = Write("node-2", "a", R"({"n":1})");
  DeliverClientRequest("node-2");
  auto forwarded =
      cluster_.FindRequest(pb::Envelope::kWrite, "node-2", "node-1");
  ASSERT_TRUE(forwarded.has_value());
  Message paused = cluster_.Take(*forwarded);  // node-1 never reads it
  cluster_.RunFor(absl::Milliseconds(500));
  EXPECT_FALSE(reply->has_value());
  const absl::Duration promoted_at = cluster_.now();
  cluster_.down.insert("node-1");
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"});
  ASSERT_TRUE(reply->has_value()) << Log();
  EXPECT_EQ(cluster_.now(), promoted_at);
  const pb::WriteResponse& response = (*reply)->write_response();
  EXPECT_EQ(response.error().type(), "write_outcome_unknown_exception");
  EXPECT_EQ(response.error().status(), 503);
  EXPECT_TRUE(absl::StrContains(response.error().reason(),
                                "primary node node-1 was replaced"))
      << response.error().reason();
  // A new write goes to the new primary.
  auto next = Write("node-3", "b", R"({"n":2})");
  cluster_.DeliverAll();
  ASSERT_TRUE(next->has_value());
  EXPECT_EQ((*next)->write_response().primary_term(), 2);
  // node-1 resumes and handles the held write under its old term: its
  // replicas refuse it, it is never acknowledged, and node-2 ignores the late
  // reply (the client was answered once).
  cluster_.down.clear();
  cluster_.queue.push_back(std::move(paused));
  cluster_.DeliverAll();
  EXPECT_EQ(StatusOf("node-1").role(), "stale");
  EXPECT_EQ((*reply)->write_response().error().type(),
            "write_outcome_unknown_exception");
  EXPECT_FALSE(LocalGet("node-2", "a").found());
}

TEST_F(NodeTest, R12_BulkItemsForwardedToAReplacedPrimaryAreAnsweredAtOnce) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  pb::Envelope bulk;
  for (const char* id : {"a", "b"}) {
    pb::WriteRequest* item = bulk.mutable_bulk()->add_items();
    item->set_index("idx");
    item->set_id(id);
    item->set_source("{}");
  }
  auto reply = cluster_.Client("node-2", bulk);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kBulk, "client"));
  // Both items travel in one per-node bulk (issue 15).
  ASSERT_EQ(cluster_.CountRequests(pb::Envelope::kBulk, "node-1"), 1);
  while (auto index =
             cluster_.FindRequest(pb::Envelope::kBulk, "node-2", "node-1")) {
    cluster_.Take(*index);  // node-1 is paused
  }
  cluster_.down.insert("node-1");
  Publish({Index("idx", 2,
                 {Routing(0, 2, {{"node-2", true}, {"node-3"}},
                          {"node-2", "node-3"})})},
          {"node-2", "node-3"});
  ASSERT_TRUE(reply->has_value()) << Log();
  const pb::BulkResponse& response = (*reply)->bulk_response();
  ASSERT_EQ(response.items_size(), 2);
  for (const auto& item : response.items()) {
    EXPECT_EQ(item.error().type(), "write_outcome_unknown_exception");
  }
}

// ---- bulk batches (issue 15)
// -------------------------------------------------------------------

pb::Envelope BulkOf(int items) {
  pb::Envelope bulk;
  for (int i = 0; i < items; ++i) {
    pb::WriteRequest* item = bulk.mutable_bulk()->add_items();
    item->set_index("idx");
    item->set_id(absl::StrCat("doc-", i));
    item->set_source(absl::StrCat(R"({"n":)", i, "}"));
  }
  return bulk;
}

// A bulk sent to a node that holds no primary crosses to the primary's node
// as one request, and the primary replicates the whole batch in one request
// per replica; every item is still stamped, replicated and acknowledged on its
// own (its own seq_no, _shards of 3).
TEST_F(NodeTest, R3_BulkItemsOfOneShardTravelAsOneRequestPerNode) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto reply = cluster_.Client("node-2", BulkOf(10));
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kBulk, "client"));
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kWrite), 0);
  auto forwarded =
      cluster_.FindRequest(pb::Envelope::kBulk, "node-2", "node-1");
  ASSERT_TRUE(forwarded.has_value()) << Log();
  EXPECT_EQ(cluster_.queue[*forwarded].envelope.bulk().items_size(), 10);
  cluster_.Deliver(*forwarded);
  ASSERT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 1);
  ASSERT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-3"), 1);
  auto replicate =
      cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-3");
  EXPECT_EQ(cluster_.queue[*replicate].envelope.replicate().ops_size(), 10);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value()) << Log();
  const pb::BulkResponse& response = (*reply)->bulk_response();
  ASSERT_EQ(response.items_size(), 10);
  for (int i = 0; i < 10; ++i) {
    const pb::WriteResponse& item = response.items(i);
    EXPECT_FALSE(item.has_error()) << item.error().reason();
    EXPECT_EQ(item.id(), absl::StrCat("doc-", i));
    EXPECT_EQ(item.seq_no(), i);
    EXPECT_EQ(item.shards().total(), 3);
    EXPECT_EQ(item.shards().successful(), 3);
  }
  EXPECT_EQ(StatusOf("node-3").docs(), 10);
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 9);
  EXPECT_TRUE(LocalGet("node-3", "doc-9").found());
}

// R3 for a batch: a replica that fails the batch is reported once, and every
// item waits for the coordinator to remove it, then reports it in _shards.
TEST_F(NodeTest, R3_ABulkBatchWaitsForTheCoordinatorLikeSingleWrites) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  cluster_.down.insert("node-3");
  auto reply = cluster_.Client("node-1", BulkOf(4));
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kBulk, "client"));
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-2");
  DeliverRoundTrip(pb::Envelope::kReplicate, "node-3");  // fails: down
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kShardFailed), 1);
  EXPECT_FALSE(reply->has_value())
      << "acked before the coordinator removed node-3";
  DeliverRoundTrip(pb::Envelope::kShardFailed, kCoordinatorId);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value()) << Log();
  const pb::BulkResponse& response = (*reply)->bulk_response();
  ASSERT_EQ(response.items_size(), 4);
  for (const pb::WriteResponse& item : response.items()) {
    EXPECT_FALSE(item.has_error()) << item.error().reason();
    EXPECT_EQ(item.shards().successful(), 2);
    ASSERT_EQ(item.shards().failures_size(), 1);
    EXPECT_EQ(item.shards().failures(0).node(), "node-3");
  }
}

// The live runtime's batch_per_flush: the writes a node handles in one
// executor batch (before its Flush) are forwarded to the primary's node in one
// bulk and replicated in one request per replica; each is still answered on
// its own.
TEST_F(NodeTest, R3_BatchPerFlushSendsOneExecutorBatchTogether) {
  Boot({"node-1", "node-2", "node-3"},
       [](NodeOptions& options) { options.batch_per_flush = true; });
  Publish({ThreeCopies()});
  cluster_.auto_flush = false;
  auto a = Write("node-2", "a", R"({"n":1})");
  auto b = Write("node-2", "b", R"({"n":2})");
  DeliverClientRequest("node-2");
  DeliverClientRequest("node-2");
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kBulk, "node-1"), 0)
      << "sent before the batch ended";
  nodes_["node-2"]->Flush();
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kWrite, "node-1"), 0);
  auto forwarded =
      cluster_.FindRequest(pb::Envelope::kBulk, "node-2", "node-1");
  ASSERT_TRUE(forwarded.has_value()) << Log();
  EXPECT_EQ(cluster_.queue[*forwarded].envelope.bulk().items_size(), 2);
  cluster_.Deliver(*forwarded);
  nodes_["node-1"]->Flush();
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-3"), 1);
  cluster_.auto_flush = true;
  cluster_.DeliverAll();
  ASSERT_TRUE(a->has_value() && b->has_value()) << Log();
  EXPECT_EQ((*a)->write_response().seq_no(), 0);
  EXPECT_EQ((*b)->write_response().seq_no(), 1);
  EXPECT_EQ((*b)->write_response().shards().successful(), 3);
  EXPECT_EQ(StatusOf("node-3").docs(), 2);
}

// batch_per_flush: the real-time GETs a primary takes in one executor batch
// share one read-barrier round (one empty replicate per in-sync replica), and
// each is answered once that round confirmed the term.
TEST_F(NodeTest, R11_BatchPerFlushGetsShareOneReadBarrierRound) {
  Boot({"node-1", "node-2", "node-3"},
       [](NodeOptions& options) { options.batch_per_flush = true; });
  Publish({ThreeCopies()});
  auto written = Write("node-1", "a", R"({"n":1})");
  cluster_.DeliverAll();
  ASSERT_TRUE(written->has_value());
  cluster_.auto_flush = false;
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  std::vector<std::shared_ptr<std::optional<pb::Envelope>>> replies;
  for (int i = 0; i < 3; ++i) replies.push_back(cluster_.Client("node-1", get));
  while (auto index = cluster_.FindRequest(pb::Envelope::kGet, "client"))
    cluster_.Deliver(*index);
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate), 0);
  nodes_["node-1"]->Flush();
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 1);
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-3"), 1);
  for (const auto& reply : replies) EXPECT_FALSE(reply->has_value());
  cluster_.auto_flush = true;
  cluster_.DeliverAll();
  for (const auto& reply : replies) {
    ASSERT_TRUE(reply->has_value()) << Log();
    EXPECT_TRUE((*reply)->get_response().found());
    EXPECT_EQ((*reply)->get_response().seq_no(), 0);
  }
}

// ---- a node without a cluster state
// ----------------------------------------------------------------

// Just started and not joined yet: a document request is not answered
// "index_not_found" (the index exists); it waits for the first state.
TEST_F(NodeTest, NoStateDocumentRequestsWaitForTheFirstClusterState) {
  cluster_.down.insert(kCoordinatorId);
  Boot({"node-1"});
  coordinator_->state.clear_indices();
  *coordinator_->state.add_indices() =
      Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})});
  coordinator_->Bump();
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  auto got = cluster_.Client("node-1", get);
  auto written = Write("node-1", "a", "{}");
  pb::Envelope search;
  search.mutable_search()->add_indices("idx");
  search.mutable_search()->set_size(10);
  auto found = cluster_.Client("node-1", search);
  cluster_.RunFor(absl::Milliseconds(300));
  EXPECT_FALSE(got->has_value());
  EXPECT_FALSE(written->has_value());
  EXPECT_FALSE(found->has_value());
  cluster_.down.clear();
  cluster_.RunUntil([&] {
    return got->has_value() && written->has_value() && found->has_value();
  });
  ASSERT_TRUE(got->has_value() && written->has_value() && found->has_value());
  EXPECT_FALSE(HasError((*got)->get_response().error()))
      << (*got)->get_response().error().type();
  EXPECT_EQ((*written)->write_response().result(), "created");
  EXPECT_FALSE(HasError((*found)->search_response().error()));
}

// Issue 17: requests retrying while no new cluster state comes (here: no
// state at all, the coordinator is down) do not pile up in the node's list of
// state waiters; it holds about as many entries as requests really wait.
TEST_F(NodeTest, StateWaitersStayBoundedWhileRequestsRetryWithoutANewState) {
  cluster_.down.insert(kCoordinatorId);
  Boot({"node-1"}, [](NodeOptions& o) { o.write_timeout = absl::Seconds(30); });
  std::vector<std::shared_ptr<std::optional<pb::Envelope>>> gets;
  for (int i = 0; i < 20; ++i) {
    pb::Envelope get;
    get.mutable_get()->set_index("idx");
    get.mutable_get()->set_id(absl::StrCat("d", i));
    gets.push_back(cluster_.Client("node-1", get));
  }
  // Until their deadline, each retries every heartbeat interval (100 ms).
  int64_t most = 0;
  int steps = 0;
  auto waiting = [&] {
    return std::any_of(gets.begin(), gets.end(),
                       [](const auto& got) { return !got->has_value(); });
  };
  while (waiting() && steps < 600) {
    cluster_.RunFor(absl::Milliseconds(100));
    most = std::max(most, nodes_["node-1"]->Status().state_waiters());
    ++steps;
  }
  EXPECT_GE(steps, 20) << "the requests retried for at least 2 s";
  EXPECT_GE(most, 20);
  EXPECT_LE(most, 128) << "the retries of 20 requests kept " << most;
}

TEST_F(NodeTest, NoStateDocumentRequestsFailWith503ClusterBlockAtTheDeadline) {
  cluster_.down.insert(kCoordinatorId);
  Boot({"node-1"});
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  auto got = cluster_.Client("node-1", get);
  pb::Envelope bulk;
  pb::WriteRequest* item = bulk.mutable_bulk()->add_items();
  item->set_index("idx");
  item->set_id("a");
  item->set_source("{}");
  auto bulked = cluster_.Client("node-1", bulk);
  pb::Envelope search;
  search.mutable_search()->add_indices("idx");
  auto found = cluster_.Client("node-1", search);
  cluster_.RunUntil([&] {
    return got->has_value() && bulked->has_value() && found->has_value();
  });
  ASSERT_TRUE(got->has_value() && bulked->has_value() && found->has_value());
  for (const pb::Error* error : {&(*got)->get_response().error(),
                                 &(*bulked)->bulk_response().items(0).error(),
                                 &(*found)->search_response().error()}) {
    EXPECT_EQ(error->type(), "cluster_block_exception");
    EXPECT_EQ(error->status(), 503);
    EXPECT_EQ(error->reason(),
              "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
              "initialized];");
  }
  EXPECT_FALSE(nodes_["node-1"]->Status().coordinator_reachable());
}

// ---- recovery
// -------------------------------------------------------------------------------

// Three nodes; [idx][0] on node-1 (primary) and node-2, both in sync, holding
// the acknowledged documents a, b and c: node-3 is the copy to recover.
class RecoveryTest : public NodeTest {
 protected:
  void SetUp() override {
    Boot({"node-1", "node-2", "node-3"});
    Publish({Index("idx", 2,
                   {Routing(0, 1, {{"node-1", true}, {"node-2"}},
                            {"node-1", "node-2"})})});
    for (const char* id : {"a", "b", "c"}) Write("node-1", id, R"({"n":1})");
    cluster_.DeliverAll();
  }
};

TEST_F(RecoveryTest, R9_OperationsBasedRecoveryThenShardStarted) {
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}, {"node-3", false, false}},
               {"node-1", "node-2"})})});
  cluster_.RunUntil([&] { return StatusOf("node-3").role() == "replica"; });
  EXPECT_EQ(StatusOf("node-3").role(), "replica") << Log();
  EXPECT_EQ(StatusOf("node-3").docs(), 3);
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 2);
  EXPECT_TRUE(Logged("node-1 recovers [idx][0] on node-3 by operations: 3 ops"))
      << Log();
  EXPECT_TRUE(Logged("node-3 recovered [idx][0] from node-1 (ops: 3 ops"))
      << Log();
  // Now in sync: the next write waits for node-3 too.
  auto reply = Write("node-1", "d", R"({"n":1})");
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().shards().successful(), 3);
}

// A copy whose recovery succeeded is in the primary's in-sync set even before
// the cluster state that starts it arrives. A state that still shows it
// initializing (published before the coordinator handled the start, reordered)
// must not make it recover again: a new recovery starts by trimming
// older-term operations above its global checkpoint, which may be
// acknowledged writes by then (found by the lab with slow disks).
TEST_F(RecoveryTest, R9_RecoveredCopyDoesNotRecoverAgainBeforeItIsStarted) {
  const pb::IndexMeta initializing = Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}, {"node-3", false, false}},
               {"node-1", "node-2"})});
  Publish({initializing}, {}, /*deliver=*/false);
  // Everything runs, except that once node-1 has marked node-3's copy in sync
  // no publication reaches node-3: the state that starts its copy is held.
  auto held = [&](const Message& m) {
    return m.to == "node-3" && !m.is_reply &&
           m.envelope.body_case() == pb::Envelope::kPublish &&
           Logged("node-1 marks node-3's copy");
  };
  for (int step = 0; step < 10000 && !Logged("node-3 recovered [idx][0]");
       ++step) {
    auto next = cluster_.Find([&](const Message& m) { return !held(m); });
    if (!next.has_value()) break;
    cluster_.Deliver(*next);
  }
  while (auto index = cluster_.Find(held)) cluster_.Drop(*index);
  ASSERT_TRUE(Logged("node-3 recovered [idx][0] from node-1")) << Log();
  EXPECT_EQ(StatusOf("node-3").role(), "recovering");
  EXPECT_EQ(StatusOf("node-3").max_seq_no(), 2);

  // A newer state that still shows node-3 initializing.
  Publish({initializing}, {"node-3"});
  cluster_.RunFor(absl::Seconds(1));
  int asked = 0;
  for (const std::string& line : cluster_.log) {
    asked += absl::StrContains(line, "node-3 asks node-1 to recover") ? 1 : 0;
  }
  EXPECT_EQ(asked, 1) << Log();
  EXPECT_EQ(StatusOf("node-3").max_seq_no(), 2);
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 2);
}

// A lost shard-started: the primary cannot know whether the coordinator listed
// the copy in sync, so it keeps the copy marked (writes keep waiting for it)
// and the copy still ends up started.
TEST_F(NodeTest, R9_LostShardStartedStillEndsWithTheCopyStarted) {
  Boot({"node-1", "node-2", "node-3"});
  Publish(
      {Index("idx", 2,
             {Routing(0, 1,
                      {{"node-1", true}, {"node-2"}, {"node-3", false, false}},
                      {"node-1", "node-2"})})},
      {}, /*deliver=*/false);
  auto started = [&](const Message& m) {
    return !m.is_reply && m.to == kCoordinatorId &&
           m.envelope.body_case() == pb::Envelope::kShardStarted;
  };
  for (int step = 0; step < 10000; ++step) {
    if (auto lost = cluster_.Find(started)) {
      cluster_.Drop(*lost);  // lost: node-1 never hears back
      break;
    }
    if (!cluster_.DeliverNext()) break;
  }
  ASSERT_TRUE(Logged("node-1 marks node-3's copy")) << Log();
  EXPECT_EQ(coordinator_->state.indices(0).shards(0).in_sync_size(), 2);
  // The report times out and node-1 keeps the mark; the report is made again
  // and this time the coordinator starts the copy.
  cluster_.RunUntil([&] { return StatusOf("node-3").role() == "replica"; });
  EXPECT_TRUE(Logged("node-1 keeps node-3's copy of [idx][0] marked in sync"))
      << Log();
  EXPECT_EQ(coordinator_->state.indices(0).shards(0).in_sync_size(), 3);
  EXPECT_EQ(StatusOf("node-3").role(), "replica") << Log();
}

TEST_F(NodeTest, R9_FileBasedRecoveryWhenHistoryIsNoLongerRetained) {
  Boot({"node-1", "node-2", "node-3"},
       [](NodeOptions& o) { o.retain_ops_below_global_checkpoint = 0; });
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  for (const char* id : {"a", "b", "c"}) Write("node-1", id, R"({"n":1})");
  cluster_.RunFor(absl::Milliseconds(300));
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}, {"node-3", false, false}},
               {"node-1", "node-2"})})});
  cluster_.RunUntil([&] { return StatusOf("node-3").role() == "replica"; });
  EXPECT_EQ(StatusOf("node-3").role(), "replica") << Log();
  EXPECT_EQ(StatusOf("node-3").docs(), 3);
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 2);
  EXPECT_TRUE(
      Logged("node-1 recovers [idx][0] on node-3 by a full copy: 3 docs"))
      << Log();
  EXPECT_TRUE(Logged("(file: ")) << Log();
}

// Retention leases (issue 17): a copy that leaves keeps its history on the
// primary for one lease period; it recovers by operations within it, by a
// full copy after it (the primary dropped the history then).
class NodeRetentionTest : public NodeTest,
                          public ::testing::WithParamInterface<bool> {};

TEST_P(NodeRetentionTest, R9_ACopyBackAfterItsLeaseExpiredRecoversByFullCopy) {
  const bool expire = GetParam();
  Boot({"node-1", "node-2", "node-3"},
       [](NodeOptions& o) { o.retention_lease_period = absl::Seconds(2); });
  auto all = [] {
    return Index("idx", 2,
                 {Routing(0, 1, {{"node-1", true}, {"node-2"}, {"node-3"}},
                          {"node-1", "node-2", "node-3"})});
  };
  Publish({all()});
  for (const char* id : {"a", "b"}) Write("node-1", id, R"({"n":1})");
  cluster_.RunFor(absl::Milliseconds(300));
  ASSERT_EQ(StatusOf("node-3").local_checkpoint(), 1) << Log();
  // node-3 fails: out of the routing; its data stays on its disk.
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  for (const char* id : {"c", "d", "e"}) Write("node-1", id, R"({"n":1})");
  cluster_.RunFor(expire ? absl::Seconds(3) : absl::Milliseconds(500));
  EXPECT_EQ(nodes_["node-1"]->engine("idx", 0)->history_floor(), expire ? 4 : 1)
      << Log();
  // node-3 comes back as a recovering replica.
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}, {"node-3", false, false}},
               {"node-1", "node-2"})})});
  cluster_.RunUntil([&] { return StatusOf("node-3").role() == "replica"; });
  EXPECT_EQ(StatusOf("node-3").docs(), 5) << Log();
  EXPECT_EQ(StatusOf("node-3").local_checkpoint(), 4);
  if (expire) {
    EXPECT_TRUE(
        Logged("node-1 recovers [idx][0] on node-3 by a full copy: 5 "
               "docs (its local checkpoint 1 is below the retained "
               "history)"))
        << Log();
  } else {
    EXPECT_TRUE(
        Logged("node-1 recovers [idx][0] on node-3 by operations: 3 "
               "ops above its local checkpoint 1"))
        << Log();
  }
}

INSTANTIATE_TEST_SUITE_P(LeaseExpired, NodeRetentionTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "expired" : "alive";
                         });

TEST_F(NodeTest, R5_TombstonesAreCollectedAfterGcDeletesOnEveryCopy) {
  Boot({"node-1", "node-2"},
       [](NodeOptions& o) { o.gc_deletes = absl::Milliseconds(500); });
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  Write("node-1", "a", R"({"n":1})");
  cluster_.RunFor(absl::Milliseconds(100));
  pb::Envelope del;
  del.mutable_write()->set_index("idx");
  del.mutable_write()->set_id("a");
  del.mutable_write()->set_kind(pb::WriteRequest::DELETE);
  auto deleted = cluster_.Client("node-1", del);
  cluster_.RunFor(absl::Milliseconds(200));
  ASSERT_TRUE(deleted->has_value());
  EXPECT_EQ((*deleted)->write_response().result(), "deleted");
  for (const char* node : {"node-1", "node-2"}) {
    EXPECT_EQ(nodes_[node]->engine("idx", 0)->tombstone_count(), 1) << node;
  }
  cluster_.RunFor(absl::Seconds(1));
  for (const char* node : {"node-1", "node-2"}) {
    EXPECT_EQ(nodes_[node]->engine("idx", 0)->tombstone_count(), 0)
        << node << Log();
  }
}

TEST_F(NodeTest, R9_WritesDuringRecoveryReachTheRecoveringCopy) {
  Boot({"node-1", "node-2"});
  Publish({Index("idx", 1, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  Write("node-1", "a", R"({"n":1})");
  cluster_.DeliverAll();
  Publish({Index("idx", 1,
                 {Routing(0, 1, {{"node-1", true}, {"node-2", false, false}},
                          {"node-1"})})},
          {}, /*deliver=*/false);
  // Deliver up to the start of recovery, then write while it runs.
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-1"));
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-2"));
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kStartRecovery, "node-2", "node-1"));
  auto reply = Write("node-1", "b", R"({"n":2})");
  DeliverClientRequest("node-1");
  EXPECT_EQ(cluster_.CountRequests(pb::Envelope::kReplicate, "node-2"), 1);
  cluster_.RunUntil([&] { return StatusOf("node-2").role() == "replica"; });
  EXPECT_EQ(StatusOf("node-2").docs(), 2) << Log();
  ASSERT_TRUE(reply->has_value());
}

// Elasticsearch refreshes a shard at the end of its recovery: a replica is
// searchable as soon as it is started, whatever reached it while it recovered
// (recovery batches and live writes), even with no scheduled refresh.
TEST_F(NodeTest, R9_ARecoveredCopyIsSearchableOnceStarted) {
  Boot({"node-1", "node-2"});
  pb::IndexMeta alone =
      Index("idx", 1, {Routing(0, 1, {{"node-1", true}}, {"node-1"})});
  alone.set_refresh_interval_ms(-1);
  Publish({alone});
  Write("node-1", "a", R"({"n":1})");
  cluster_.DeliverAll();
  RefreshAll();
  pb::IndexMeta two =
      Index("idx", 1,
            {Routing(0, 1, {{"node-1", true}, {"node-2", false, false}},
                     {"node-1"})});
  two.set_refresh_interval_ms(-1);
  Publish({two}, {}, /*deliver=*/false);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-1"));
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-2"));
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kStartRecovery, "node-2", "node-1"));
  Write("node-1", "b", R"({"n":2})");
  DeliverClientRequest("node-1");
  cluster_.RunUntil([&] { return StatusOf("node-2").role() == "replica"; });
  EXPECT_EQ(SearchIds("node-1", "_only_nodes:node-2"),
            (std::vector<std::string>{"a", "b"}))
      << Log();
  EXPECT_EQ(StatusOf("node-2").refreshed_docs(), 2);
}

// _refresh reaches a copy still recovering, as Elasticsearch replicates a
// refresh to every copy its primary tracks: a write it received before the
// refresh is in its searchable view when it is started.
TEST_F(NodeTest, R9_RefreshReachesARecoveringCopy) {
  Boot({"node-1", "node-2"});
  pb::IndexMeta two =
      Index("idx", 1,
            {Routing(0, 1, {{"node-1", true}, {"node-2", false, false}},
                     {"node-1"})});
  two.set_refresh_interval_ms(-1);
  Publish({two}, {}, /*deliver=*/false);
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-1"));
  cluster_.Deliver(*cluster_.FindRequest(pb::Envelope::kPublish, "", "node-2"));
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kStartRecovery, "node-2", "node-1"));
  Write("node-1", "a", R"({"n":1})");
  DeliverClientRequest("node-1");
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-2"));
  ASSERT_EQ(StatusOf("node-2").role(), "recovering");
  ASSERT_EQ(StatusOf("node-2").docs(), 1);
  pb::Envelope refresh;
  refresh.mutable_refresh();
  cluster_.Client("node-2", refresh);
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kRefresh, "client", "node-2"));
  EXPECT_EQ(StatusOf("node-2").role(), "recovering");
  EXPECT_EQ(StatusOf("node-2").refreshed_docs(), 1);
}

// ---- durability
// ------------------------------------------------------------------------------

TEST_F(NodeTest, R10_PrimaryAcksOnlyAfterFlushSyncedItsTranslog) {
  Boot({"node-1"});
  Publish({Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  cluster_.auto_flush = false;
  const int syncs = cluster_.env("node-1")->mem_disk().syncs();
  auto reply = Write("node-1", "a", R"({"n":1})");
  cluster_.DeliverAll();
  EXPECT_FALSE(reply->has_value());
  EXPECT_EQ(cluster_.env("node-1")->mem_disk().syncs(), syncs);
  nodes_["node-1"]->Flush();
  EXPECT_GT(cluster_.env("node-1")->mem_disk().syncs(), syncs);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().result(), "created");
}

TEST_F(NodeTest, R10_ReplicaRepliesOnlyAfterItsTranslogIsSynced) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  cluster_.auto_flush = false;
  auto reply = Write("node-1", "a", R"({"n":1})");
  DeliverClientRequest("node-1");
  nodes_["node-1"]->Flush();
  cluster_.Deliver(
      *cluster_.FindRequest(pb::Envelope::kReplicate, "node-1", "node-2"));
  EXPECT_FALSE(
      cluster_.Find([](const Message& m) { return m.is_reply; }).has_value());
  nodes_["node-2"]->Flush();
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().shards().successful(), 2);
}

TEST_F(NodeTest, R10_ConcurrentWritesShareOneFsync) {
  Boot({"node-1"});
  Publish({Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  cluster_.auto_flush = false;
  std::vector<std::shared_ptr<std::optional<pb::Envelope>>> replies;
  for (int i = 0; i < 5; ++i)
    replies.push_back(Write("node-1", absl::StrCat("d", i), "{}"));
  cluster_.DeliverAll();
  const int syncs = cluster_.env("node-1")->mem_disk().syncs();
  nodes_["node-1"]->Flush();
  EXPECT_EQ(cluster_.env("node-1")->mem_disk().syncs(), syncs + 1);
  cluster_.DeliverAll();
  for (const auto& reply : replies) EXPECT_TRUE(reply->has_value());
}

TEST_F(NodeTest, R3_EarlyAckPlantedBugAcksBeforeReplicasAnswer) {
  Boot({"node-1", "node-2"}, [](NodeOptions& o) { o.unsafe.early_ack = true; });
  Publish({Index(
      "idx", 1,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  auto reply = Write("node-1", "a", R"({"n":1})");
  DeliverClientRequest("node-1");
  cluster_.Deliver(*cluster_.Find(
      [](const Message& m) { return m.is_reply && m.to == "client"; }));
  EXPECT_TRUE(reply->has_value());
}

// ---- reads, admin, auto-create
// -----------------------------------------------------------------

TEST_F(NodeTest, GetIsServedByThePrimaryAndMissingIndexIs404) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  Write("node-3", "a", R"({"n":7})");
  cluster_.DeliverAll();
  pb::Envelope get;
  get.mutable_get()->set_index("idx");
  get.mutable_get()->set_id("a");
  auto found = cluster_.Client("node-2", get);
  get.mutable_get()->set_index("nope");
  auto missing = cluster_.Client("node-2", get);
  cluster_.DeliverAll();
  ASSERT_TRUE(found->has_value() && missing->has_value());
  EXPECT_TRUE((*found)->get_response().found());
  EXPECT_EQ((*found)->get_response().source(), R"({"n":7})");
  EXPECT_EQ((*found)->get_response().version(), 1);
  EXPECT_EQ((*missing)->get_response().error().type(),
            "index_not_found_exception");
  EXPECT_EQ((*missing)->get_response().error().status(), 404);
}

TEST_F(NodeTest, SearchFansOutToEveryShardPrimaryAndMergesHits) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({Index("idx", 0,
                 {Routing(0, 1, {{"node-1", true}}, {"node-1"}),
                  Routing(1, 1, {{"node-2", true}}, {"node-2"})})});
  for (int i = 0; i < 6; ++i) {
    Write("node-3", absl::StrCat("d", i),
          absl::StrCat(R"({"color":")", i % 2 ? "red" : "blue", R"(","n":)", i,
                       "}"));
  }
  cluster_.DeliverAll();
  EXPECT_GT(StatusOf("node-1").docs(), 0);
  EXPECT_GT(StatusOf("node-2", "idx", 1).docs(), 0);
  RefreshAll();

  pb::Envelope search;
  search.mutable_search()->add_indices("idx");
  search.mutable_search()->mutable_query()->mutable_match_all();
  search.mutable_search()->set_size(10);
  auto all = cluster_.Client("node-3", search);
  search.mutable_search()->mutable_query()->mutable_term()->set_field("color");
  search.mutable_search()->mutable_query()->mutable_term()->set_value_json(
      R"("red")");
  auto red = cluster_.Client("node-3", search);
  search.mutable_search()->mutable_query()->mutable_ids()->add_values("d4");
  auto by_id = cluster_.Client("node-3", search);
  cluster_.DeliverAll();
  ASSERT_TRUE(all->has_value() && red->has_value() && by_id->has_value());
  const pb::SearchResponse& everything = (*all)->search_response();
  EXPECT_EQ(everything.total(), 6);
  ASSERT_EQ(everything.hits_size(), 6);
  // Elasticsearch's order of equal scores: by shard, then index order (here
  // the order of the writes).
  for (int i = 0; i + 1 < everything.hits_size(); ++i) {
    const pb::SearchHit& a = everything.hits(i);
    const pb::SearchHit& b = everything.hits(i + 1);
    EXPECT_TRUE(a.shard() < b.shard() ||
                (a.shard() == b.shard() && a.id() < b.id()))
        << a.id() << " before " << b.id();
  }
  EXPECT_EQ(everything.shards().total(), 2);
  EXPECT_EQ(everything.shards().successful(), 2);
  EXPECT_EQ((*red)->search_response().total(), 3);
  EXPECT_EQ((*by_id)->search_response().total(), 1);
}

// Issue 16: a term query on _id matches the document with that id, as in
// Elasticsearch (it matched nothing: _id is not a field of the source).
TEST_F(NodeTest, TermQueryOnIdMatchesThatDocument) {
  Boot({"node-1"});
  Publish({Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  for (const char* id : {"1", "2", "x"}) Write("node-1", id, R"({"_id":"2"})");
  cluster_.DeliverAll();
  RefreshAll();
  auto term_search = [&](const std::string& value_json) {
    pb::Envelope search;
    search.mutable_search()->add_indices("idx");
    search.mutable_search()->set_size(10);
    search.mutable_search()->mutable_query()->mutable_term()->set_field("_id");
    search.mutable_search()->mutable_query()->mutable_term()->set_value_json(
        value_json);
    auto reply = cluster_.Client("node-1", search);
    cluster_.DeliverAll();
    return reply;
  };
  auto by_string = term_search(R"("1")");
  auto by_number = term_search("2");
  auto none = term_search(R"("nosuch")");
  ASSERT_TRUE(by_string->has_value() && by_number->has_value() &&
              none->has_value());
  ASSERT_EQ((*by_string)->search_response().hits_size(), 1);
  EXPECT_EQ((*by_string)->search_response().hits(0).id(), "1");
  ASSERT_EQ((*by_number)->search_response().hits_size(), 1);
  EXPECT_EQ((*by_number)->search_response().hits(0).id(), "2");
  EXPECT_EQ((*none)->search_response().total(), 0);
  // The status's store size: the live documents' ids and sources.
  EXPECT_EQ(StatusOf("node-1").store_bytes(),
            3 * static_cast<int64_t>(std::string(R"({"_id":"2"})").size()) + 3);
}

// ---- refresh and preference (issue 16)
// ----------------------------------------------------------------------------

TEST_F(NodeTest, EachCopyMakesWritesSearchableAtItsOwnRefreshGetIsRealTime) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  auto written = Write("node-1", "a", R"({"v":1})");
  cluster_.DeliverAll();
  ASSERT_TRUE(written->has_value());
  // Acknowledged by every copy, but no copy has refreshed since.
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_TRUE(SearchIds("node-1", absl::StrCat("_only_nodes:", node)).empty())
        << node;
  }
  EXPECT_TRUE(LocalGet("node-2", "a").found());  // GET is real-time
  EXPECT_EQ(StatusOf("node-2").refreshed_docs(), 0);
  cluster_.RunFor(absl::Milliseconds(1100));  // index.refresh_interval: 1s
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(SearchIds("node-3", absl::StrCat("_only_nodes:", node)),
              std::vector<std::string>{"a"})
        << node;
  }
  EXPECT_EQ(StatusOf("node-2").refreshed_docs(), 1);
  EXPECT_GE(StatusOf("node-2").refresh_total(), 1);
}

TEST_F(NodeTest, RefreshTrueMakesTheWriteSearchableOnEveryCopyWhenAcked) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  pb::Envelope write = WriteEnvelope("idx", "a", "{}");
  write.mutable_write()->set_refresh("true");
  auto written = cluster_.Client("node-2", write);
  cluster_.DeliverAll();
  ASSERT_TRUE(written->has_value());
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(SearchIds("node-1", absl::StrCat("_only_nodes:", node)),
              std::vector<std::string>{"a"})
        << node;
  }
}

TEST_F(NodeTest, RefreshWaitForAnswersAfterTheRefreshThatShowsTheWrite) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  pb::Envelope write = WriteEnvelope("idx", "a", "{}");
  write.mutable_write()->set_refresh("wait_for");
  auto written = cluster_.Client("node-1", write);
  cluster_.DeliverAll();
  EXPECT_FALSE(written->has_value());  // replicated, waiting for the refresh
  cluster_.RunUntil([&] { return written->has_value(); });
  ASSERT_TRUE(written->has_value());
  EXPECT_EQ((*written)->write_response().result(), "created");
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(SearchIds("node-1", absl::StrCat("_only_nodes:", node)),
              std::vector<std::string>{"a"})
        << node;
  }
}

TEST_F(NodeTest, RefreshIntervalMinusOneLeavesWritesUnsearchableUntilRefresh) {
  Boot({"node-1", "node-2", "node-3"});
  pb::IndexMeta index = ThreeCopies();
  index.set_refresh_interval_ms(-1);
  Publish({index});
  Write("node-1", "a", "{}");
  cluster_.RunFor(absl::Seconds(5));
  EXPECT_TRUE(SearchIds("node-1").empty());
  EXPECT_TRUE(LocalGet("node-1", "a").found());
  RefreshAll();
  EXPECT_EQ(SearchIds("node-1"), std::vector<std::string>{"a"});
}

TEST_F(NodeTest, PreferenceValuesAndErrorsAsElasticsearch) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  Write("node-1", "a", "{}");
  cluster_.DeliverAll();
  RefreshAll();
  EXPECT_EQ(SearchIds("node-2", "_local"), std::vector<std::string>{"a"});
  EXPECT_EQ(SearchIds("node-2", "_only_local"), std::vector<std::string>{"a"});
  EXPECT_EQ(SearchIds("node-2", "_prefer_nodes:node-9"),
            std::vector<std::string>{"a"});
  EXPECT_EQ(SearchIds("node-2", "_shards:0|_only_nodes:node-*"),
            std::vector<std::string>{"a"});
  EXPECT_TRUE(SearchIds("node-2", "_shards:1").empty());
  EXPECT_EQ(SearchIds("node-2", "my-session"), std::vector<std::string>{"a"});
  EXPECT_EQ(SearchIds("node-2", "_only_nodes:node-9"),
            std::vector<std::string>{
                "<no data nodes with criteria [node-9] found for shard: "
                "[idx][0]>"});
  EXPECT_EQ(SearchIds("node-2", "_primary"),
            std::vector<std::string>{"<no Preference for [_primary]>"});
}

// A GET with preference reads the chosen copy without the read barrier: a
// replica that has not applied a write yet answers with its older view.
TEST_F(NodeTest, GetWithPreferenceReadsThatCopyAndMaySeeAnOlderView) {
  Boot({"node-1", "node-2", "node-3"});
  Publish({ThreeCopies()});
  // Delivers everything except the replicate requests to node-2 (in flight).
  auto deliver_but_node2_replicates = [&] {
    for (;;) {
      auto next = cluster_.Find([](const Message& m) {
        return m.is_reply || m.to != "node-2" ||
               m.envelope.body_case() != pb::Envelope::kReplicate;
      });
      if (!next.has_value()) return;
      cluster_.Deliver(*next);
    }
  };
  Write("node-1", "a", "{}");
  deliver_but_node2_replicates();
  auto get_on = [&](const std::string& preference) {
    pb::Envelope get;
    get.mutable_get()->set_index("idx");
    get.mutable_get()->set_id("a");
    get.mutable_get()->set_preference(preference);
    auto reply = cluster_.Client("node-3", get);
    deliver_but_node2_replicates();
    return reply->has_value() ? (*reply)->get_response() : pb::GetResponse();
  };
  EXPECT_TRUE(get_on("_only_nodes:node-1").found());
  EXPECT_TRUE(get_on("_local").found());  // node-3 applied it
  pb::GetResponse behind = get_on("_only_nodes:node-2");
  EXPECT_FALSE(HasError(behind.error())) << behind.error().reason();
  EXPECT_FALSE(behind.found());
  cluster_.DeliverAll();
  EXPECT_TRUE(get_on("_only_nodes:node-2").found());
}

TEST_F(NodeTest, IdsSearchGivesEachLiveIdOnceInIndexOrder) {
  Boot({"node-1"});
  Publish({Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  for (const char* id : {"c", "b", "a", "gone"}) Write("node-1", id, "{}");
  pb::Envelope remove = WriteEnvelope("idx", "gone", "");
  remove.mutable_write()->set_kind(pb::WriteRequest::DELETE);
  cluster_.Client("node-1", remove);
  cluster_.DeliverAll();
  RefreshAll();

  pb::Envelope search;
  search.mutable_search()->add_indices("idx");
  search.mutable_search()->set_size(10);
  for (const char* id : {"c", "nosuch", "a", "gone", "c"}) {
    search.mutable_search()->mutable_query()->mutable_ids()->add_values(id);
  }
  auto reply = cluster_.Client("node-1", search);
  cluster_.DeliverAll();
  ASSERT_TRUE(reply->has_value());
  const pb::SearchResponse& found = (*reply)->search_response();
  EXPECT_EQ(found.total(), 2);
  ASSERT_EQ(found.hits_size(), 2);
  EXPECT_EQ(found.hits(0).id(), "c");  // written first
  EXPECT_EQ(found.hits(1).id(), "a");
}

TEST_F(NodeTest, WriteToUnknownIndexAutoCreatesItThenWrites) {
  Boot({"node-1", "node-2"});
  auto reply = Write("node-2", "a", R"({"n":1})", "logs");
  cluster_.RunUntil([&] { return reply->has_value(); });
  ASSERT_TRUE(reply->has_value());
  EXPECT_FALSE(HasError((*reply)->write_response().error()))
      << (*reply)->write_response().error().reason();
  EXPECT_EQ((*reply)->write_response().result(), "created");
  bool auto_created = false;
  for (const auto& request : coordinator_->received) {
    if (request.has_create_index())
      auto_created = request.create_index().auto_created();
  }
  EXPECT_TRUE(auto_created);
}

TEST_F(NodeTest, WaitForActiveShardsAllTimesOutWith503) {
  Boot({"node-1", "node-2"});
  Publish({Index(
      "idx", 2,
      {Routing(0, 1, {{"node-1", true}, {"node-2"}}, {"node-1", "node-2"})})});
  pb::Envelope envelope = WriteEnvelope("idx", "a", "{}");
  envelope.mutable_write()->set_wait_for_active_shards("all");
  envelope.mutable_write()->set_timeout_ms(500);
  auto reply = cluster_.Client("node-1", envelope);
  cluster_.RunUntil([&] { return reply->has_value(); });
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->write_response().error().type(),
            "unavailable_shards_exception");
  EXPECT_EQ((*reply)->write_response().error().status(), 503);
  EXPECT_EQ(StatusOf("node-1").max_seq_no(), -1) << "nothing written";
}

TEST_F(NodeTest, R10_RestartedNodeReopensItsCopiesAndReportsThemOnJoin) {
  Boot({"node-1"});
  Publish({Index("idx", 0, {Routing(0, 1, {{"node-1", true}}, {"node-1"})})});
  Write("node-1", "a", "{}");
  Write("node-1", "b", "{}");
  cluster_.DeliverAll();
  nodes_["node-1"] =
      std::make_unique<Node>(cluster_.env("node-1"), options_["node-1"]);
  cluster_.AddActor("node-1", nodes_["node-1"].get());
  nodes_["node-1"]->Start();
  EXPECT_EQ(StatusOf("node-1").max_seq_no(), 1);
  cluster_.DeliverAll();
  const pb::Envelope& join = coordinator_->received.back();
  ASSERT_TRUE(join.has_join());
  ASSERT_EQ(join.join().shards_size(), 1);
  EXPECT_EQ(join.join().shards(0).index_uuid(), "uuid-idx");
  EXPECT_EQ(join.join().shards(0).max_seq_no(), 1);
  EXPECT_EQ(StatusOf("node-1").docs(), 2);
}

TEST_F(NodeTest, HeartbeatWithRejoinMakesTheNodeJoinAgain) {
  Boot({"node-1"});
  size_t joins = 0;
  auto count_joins = [&] {
    joins = 0;
    for (const auto& r : coordinator_->received) joins += r.has_join();
  };
  cluster_.down.insert(kCoordinatorId);
  cluster_.RunFor(absl::Milliseconds(250));  // heartbeats fail
  cluster_.down.clear();
  cluster_.RunFor(absl::Milliseconds(250));
  count_joins();
  EXPECT_GE(joins, 2u);
}

TEST_F(NodeTest, NodeStatusAndFaultAreAnswered) {
  Boot({"node-1"});
  pb::Envelope status;
  status.mutable_node_status();
  pb::Envelope fault;
  fault.mutable_fault();
  auto status_reply = cluster_.Client("node-1", status);
  auto fault_reply = cluster_.Client("node-1", fault);
  cluster_.DeliverAll();
  ASSERT_TRUE(status_reply->has_value() && fault_reply->has_value());
  EXPECT_EQ((*status_reply)->node_status_response().node_id(), "node-1");
  EXPECT_TRUE(HasError((*fault_reply)->fault_response().error()));
}

// ---- cluster-state reads (_cluster/health, _cat)

pb::Envelope GetClusterState(bool from_coordinator) {
  pb::Envelope envelope;
  envelope.mutable_get_cluster_state()->set_from_coordinator(from_coordinator);
  return envelope;
}

TEST_F(NodeTest, NodeWithoutAClusterStateAnswers503StateNotRecovered) {
  coordinator_ = std::make_unique<FakeCoordinator>(
      cluster_.AddEnv(kCoordinatorId), std::vector<std::string>{"node-1"});
  cluster_.AddActor(kCoordinatorId, coordinator_.get());
  NodeOptions options;
  options.id = "node-1";
  options.grpc_address = "127.0.0.1:node-1";
  nodes_["node-1"] = std::make_unique<Node>(cluster_.AddEnv("node-1"), options);
  cluster_.AddActor("node-1", nodes_["node-1"].get());
  // Not started: it has not joined and holds no state.
  for (bool from_coordinator : {false, true}) {
    auto reply = cluster_.Client("node-1", GetClusterState(from_coordinator));
    cluster_.DeliverAll();
    ASSERT_TRUE(reply->has_value());
    const pb::GetClusterStateResponse& response =
        (*reply)->get_cluster_state_response();
    EXPECT_EQ(response.error().status(), 503);
    EXPECT_EQ(response.error().type(), "cluster_block_exception");
    EXPECT_EQ(response.error().reason(),
              "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
              "initialized];");
    EXPECT_EQ(response.state().nodes_size(), 0);
  }
}

TEST_F(NodeTest, ClusterStateReadIsTheCoordinatorsUnlessLocal) {
  Boot({"node-1", "node-2"});
  Publish({ThreeCopies()}, {"node-1", "node-2"});
  // The coordinator moves on; node-1 does not hear of it.
  coordinator_->state.clear_indices();
  coordinator_->Bump();
  const int64_t current = coordinator_->state.version();

  auto local = cluster_.Client("node-1", GetClusterState(false));
  cluster_.DeliverAll();
  ASSERT_TRUE(local->has_value());
  EXPECT_FALSE(HasError((*local)->get_cluster_state_response().error()));
  EXPECT_LT((*local)->get_cluster_state_response().state().version(), current);
  EXPECT_EQ((*local)->get_cluster_state_response().state().indices_size(), 1);

  auto master = cluster_.Client("node-1", GetClusterState(true));
  cluster_.DeliverAll();
  ASSERT_TRUE(master->has_value());
  EXPECT_FALSE(HasError((*master)->get_cluster_state_response().error()));
  EXPECT_EQ((*master)->get_cluster_state_response().state().version(), current);
  EXPECT_EQ((*master)->get_cluster_state_response().state().indices_size(), 0);
}

TEST_F(NodeTest, ConcurrentCoordinatorStateReadsShareOneRequest) {
  Boot({"node-1", "node-2"});
  Publish({ThreeCopies()}, {"node-1", "node-2"});
  // Many health waits at once: one get_cluster_state to the coordinator, and
  // every reader gets its answer.
  std::vector<decltype(cluster_.Client("node-1", GetClusterState(true)))>
      readers;
  for (int i = 0; i < 20; ++i) {
    readers.push_back(cluster_.Client("node-1", GetClusterState(true)));
  }
  for (int i = 0; i < 20; ++i) {
    auto request =
        cluster_.FindRequest(pb::Envelope::kGetClusterState, "", "node-1");
    ASSERT_TRUE(request.has_value());
    cluster_.Deliver(*request);
  }
  EXPECT_EQ(
      cluster_.CountRequests(pb::Envelope::kGetClusterState, kCoordinatorId),
      1);
  cluster_.DeliverAll();
  for (const auto& reader : readers) {
    ASSERT_TRUE(reader->has_value());
    EXPECT_FALSE(HasError((*reader)->get_cluster_state_response().error()));
    EXPECT_EQ((*reader)->get_cluster_state_response().state().version(),
              coordinator_->state.version());
  }
  // A read after that one finished asks again.
  auto later = cluster_.Client("node-1", GetClusterState(true));
  auto request =
      cluster_.FindRequest(pb::Envelope::kGetClusterState, "", "node-1");
  ASSERT_TRUE(request.has_value());
  cluster_.Deliver(*request);
  EXPECT_EQ(
      cluster_.CountRequests(pb::Envelope::kGetClusterState, kCoordinatorId),
      1);
  cluster_.DeliverAll();
  EXPECT_TRUE(later->has_value());
}

TEST_F(NodeTest, ClusterStateReadWithTheCoordinatorUnreachableIs503) {
  Boot({"node-1"});
  auto reply = cluster_.Client("node-1", GetClusterState(true));
  auto request =
      cluster_.FindRequest(pb::Envelope::kGetClusterState, "", "node-1");
  ASSERT_TRUE(request.has_value());
  cluster_.Deliver(*request);
  auto ask = cluster_.FindRequest(pb::Envelope::kGetClusterState, "node-1",
                                  kCoordinatorId);
  ASSERT_TRUE(ask.has_value());
  cluster_.Drop(*ask);
  cluster_.RunFor(absl::Seconds(3));
  ASSERT_TRUE(reply->has_value());
  EXPECT_EQ((*reply)->get_cluster_state_response().error().status(), 503);
  EXPECT_EQ((*reply)->get_cluster_state_response().error().type(),
            "master_not_discovered_exception");
}

}  // namespace
}  // namespace seqsim
