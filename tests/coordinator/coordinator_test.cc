// The coordinator's rules, each checked by driving the pure Coordinator through
// a TestEnv.
#include "coordinator/logic/coordinator.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/es_error.h"
#include "common/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/test_env.h"

namespace seqsim {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TestEnv;
using ::testing::UnorderedElementsAre;

constexpr absl::Duration kTick = absl::Milliseconds(50);

// A coordinator and the test's side of its world: nodes that join, heartbeat
// and answer publications.
class Harness {
 public:
  explicit Harness(CoordinatorOptions options = {}) : options_(options) {
    Boot();
  }

  void Boot() {
    coordinator_ = std::make_unique<Coordinator>(&env, options_);
    coordinator_->Start();
  }
  // Simulates a crash and restart of the coordinator process: same disk, new
  // actor.
  void Restart() {
    coordinator_.reset();
    env.outbox.clear();
    Boot();
  }

  Coordinator& coordinator() { return *coordinator_; }
  const pb::ClusterState& state() { return coordinator_->state(); }

  // The coordinator's answer: at once, or (an index-admin change, answered
  // once the nodes applied it) after the nodes apply what was published.
  pb::Envelope Call(pb::Envelope request) {
    auto reply = std::make_shared<std::optional<pb::Envelope>>();
    coordinator_->Handle(std::move(request), [this, reply](pb::Envelope r) {
      env.events.push_back("respond");
      *reply = std::move(r);
    });
    if (!reply->has_value()) DeliverPublications();
    EXPECT_TRUE(reply->has_value()) << "the coordinator did not answer";
    return reply->value_or(pb::Envelope());
  }

  pb::JoinResponse Join(const std::string& id, bool reconnect = false) {
    pb::Envelope request;
    request.set_from(id);
    request.mutable_join()->set_reconnect(reconnect);
    request.mutable_join()->mutable_node()->set_id(id);
    request.mutable_join()->mutable_node()->set_grpc_address(
        absl::StrCat("127.0.0.1:930", std::string(1, id.back())));
    pb::JoinResponse response = Call(std::move(request)).join_response();
    ExpectNodeKeepsItsInSyncCopies(id, response.state());
    return response;
  }

  // A node deletes a copy that a state it applies does not assign to it: no
  // state may reach a node that names it in-sync but gives it no copy.
  static void ExpectNodeKeepsItsInSyncCopies(const std::string& node,
                                             const pb::ClusterState& state) {
    for (const pb::IndexMeta& index : state.indices()) {
      for (const pb::ShardRouting& routing : index.shards()) {
        bool in_sync = false;
        bool has_copy = false;
        for (const std::string& id : routing.in_sync()) in_sync |= id == node;
        for (const pb::ShardCopy& copy : routing.copies()) {
          has_copy |= copy.node_id() == node;
        }
        EXPECT_TRUE(!in_sync || has_copy)
            << "state v" << state.version() << " sent to " << node
            << " names it in sync for [" << index.name() << "]["
            << routing.shard() << "] without a copy";
      }
    }
  }

  pb::HeartbeatResponse Heartbeat(const std::string& id, int64_t applied = -1) {
    pb::Envelope request;
    request.set_from(id);
    request.mutable_heartbeat()->set_node_id(id);
    request.mutable_heartbeat()->set_state_version(
        applied < 0 ? state().version() : applied);
    return Call(std::move(request)).heartbeat_response();
  }

  pb::CreateIndexResponse CreateIndex(const std::string& name, int shards = 1,
                                      int replicas = 1,
                                      bool auto_created = false) {
    pb::Envelope request;
    request.set_from("node-1");
    request.mutable_create_index()->set_index(name);
    request.mutable_create_index()->set_number_of_shards(shards);
    request.mutable_create_index()->set_number_of_replicas(replicas);
    request.mutable_create_index()->set_auto_created(auto_created);
    return Call(std::move(request)).create_index_response();
  }

  pb::DeleteIndexResponse DeleteIndex(const std::string& name) {
    pb::Envelope request;
    request.mutable_delete_index()->set_index(name);
    return Call(std::move(request)).delete_index_response();
  }

  pb::ShardFailedResponse ShardFailed(const std::string& index, int shard,
                                      const std::string& failed_node,
                                      int64_t term) {
    pb::Envelope request;
    auto* failed = request.mutable_shard_failed();
    failed->mutable_shard()->set_index(index);
    failed->mutable_shard()->set_shard(shard);
    failed->set_failed_node(failed_node);
    failed->set_primary_term(term);
    failed->set_reason("replica write failed");
    failed->set_sender("primary");
    return Call(std::move(request)).shard_failed_response();
  }

  // Reports `node`'s copy started; `allocation` defaults to the allocation id
  // of its current assignment.
  pb::ShardStartedResponse ShardStarted(
      const std::string& index, int shard, const std::string& node,
      int64_t term, std::optional<std::string> allocation = std::nullopt) {
    if (!allocation.has_value()) {
      const pb::ShardCopy* copy = Copy(index, shard, node);
      allocation = copy != nullptr ? copy->allocation_id() : "";
    }
    pb::Envelope request;
    auto* started = request.mutable_shard_started();
    started->mutable_shard()->set_index(index);
    started->mutable_shard()->set_shard(shard);
    started->set_node_id(node);
    started->set_primary_term(term);
    started->set_allocation_id(*allocation);
    return Call(std::move(request)).shard_started_response();
  }

  // Every node in `nodes` applies whatever was published to it (in send order).
  void DeliverPublications(const std::set<std::string>& failing = {}) {
    for (int round = 0; round < 10 && !env.outbox.empty(); ++round) {
      for (TestEnv::Sent& sent : env.TakeSent()) {
        if (!sent.request.has_publish() || failing.count(sent.to) > 0) {
          sent.on_reply(absl::UnavailableError("unreachable"));
          continue;
        }
        ExpectNodeKeepsItsInSyncCopies(sent.to, sent.request.publish().state());
        int64_t version = sent.request.publish().state().version();
        if (version > applied_[sent.to])
          applied_states_[sent.to] = sent.request.publish().state();
        applied_[sent.to] = std::max(applied_[sent.to], version);
        pb::Envelope reply;
        reply.set_from(sent.to);
        reply.mutable_publish_response()->set_applied_version(
            applied_[sent.to]);
        sent.on_reply(std::move(reply));
      }
    }
  }

  // Lets `duration` pass in ticks; `alive` nodes heartbeat and apply
  // publications each tick.
  void Run(absl::Duration duration, const std::vector<std::string>& alive) {
    for (absl::Duration t = absl::ZeroDuration(); t < duration; t += kTick) {
      env.Advance(kTick);
      DeliverPublications();
      for (const std::string& id : alive) Heartbeat(id, applied_[id]);
      DeliverPublications();
    }
  }

  // The newest state `node` applied (through DeliverPublications).
  const pb::ClusterState& applied_state(const std::string& node) {
    return applied_states_[node];
  }

  const pb::IndexMeta& Index(const std::string& name) {
    for (const pb::IndexMeta& index : state().indices()) {
      if (index.name() == name) return index;
    }
    ADD_FAILURE() << "no index " << name;
    static pb::IndexMeta none;
    return none;
  }
  const pb::ShardRouting& Routing(const std::string& index, int shard = 0) {
    return Index(index).shards(shard);
  }
  std::string PrimaryNode(const std::string& index, int shard = 0) {
    for (const pb::ShardCopy& copy : Routing(index, shard).copies()) {
      if (copy.primary()) return copy.node_id();
    }
    return "";
  }
  std::vector<std::string> InSync(const std::string& index, int shard = 0) {
    const auto& ids = Routing(index, shard).in_sync();
    return std::vector<std::string>(ids.begin(), ids.end());
  }
  const pb::ShardCopy* Copy(const std::string& index, int shard,
                            const std::string& node) {
    for (const pb::ShardCopy& copy : Routing(index, shard).copies()) {
      if (copy.node_id() == node) return &copy;
    }
    return nullptr;
  }
  std::string ReplicaOn(const std::string& index, int shard = 0) {
    for (const pb::ShardCopy& copy : Routing(index, shard).copies()) {
      if (!copy.primary()) return copy.node_id();
    }
    return "";
  }

  // Brings up nodes, creates `index` and starts every replica (the primary's
  // recovery ends).
  void ClusterWithStartedIndex(const std::vector<std::string>& nodes,
                               const std::string& index, int shards,
                               int replicas) {
    for (const std::string& id : nodes) Join(id);
    DeliverPublications();
    ASSERT_TRUE(CreateIndex(index, shards, replicas).acknowledged());
    DeliverPublications();
    for (int s = 0; s < shards; ++s) {
      const pb::ShardRouting routing = Routing(index, s);
      for (const pb::ShardCopy& copy : routing.copies()) {
        if (copy.state() == pb::ShardCopy::INITIALIZING) {
          ASSERT_TRUE(
              ShardStarted(index, s, copy.node_id(), routing.primary_term())
                  .acknowledged());
        }
      }
    }
    DeliverPublications();
  }

  TestEnv env;

 private:
  CoordinatorOptions options_;
  std::unique_ptr<Coordinator> coordinator_;
  std::map<std::string, int64_t> applied_;
  std::map<std::string, pb::ClusterState> applied_states_;
};

// Invariants every cluster state must hold.
void ExpectRoutingInvariants(const pb::ClusterState& state) {
  for (const pb::IndexMeta& index : state.indices()) {
    for (const pb::ShardRouting& routing : index.shards()) {
      std::set<std::string> nodes;
      int primaries = 0;
      for (const pb::ShardCopy& copy : routing.copies()) {
        EXPECT_TRUE(nodes.insert(copy.node_id()).second)
            << "two copies of [" << index.name() << "][" << routing.shard()
            << "] on " << copy.node_id();
        if (copy.primary()) {
          ++primaries;
          EXPECT_EQ(copy.state(), pb::ShardCopy::STARTED);
          EXPECT_THAT(routing.in_sync(), Contains(copy.node_id()));
        }
        if (copy.state() == pb::ShardCopy::INITIALIZING) {
          EXPECT_THAT(routing.in_sync(),
                      ::testing::Not(Contains(copy.node_id())));
        }
      }
      EXPECT_LE(primaries, 1);
      EXPECT_LE(routing.copies_size(), 1 + index.number_of_replicas());
    }
  }
}

// ---- allocation
// ---------------------------------------------------------------------------

TEST(Allocation, NewIndexPrimariesStartInSyncWithTermOneAndReplicasInitialize) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  pb::CreateIndexResponse created = h.CreateIndex("idx", 1, 1);
  EXPECT_TRUE(created.acknowledged());
  EXPECT_TRUE(created.shards_acknowledged());
  const pb::ShardRouting& routing = h.Routing("idx");
  EXPECT_EQ(routing.primary_term(), 1);
  ASSERT_EQ(routing.copies_size(), 2);
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_EQ(h.Copy("idx", 0, "node-1")->state(), pb::ShardCopy::STARTED);
  EXPECT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  EXPECT_EQ(h.Index("idx").uuid().size(), 22u);
}

TEST(Allocation, NeverPutsTwoCopiesOfAShardOnOneNode) {
  Harness h;
  for (const char* id : {"node-1", "node-2", "node-3"}) h.Join(id);
  ASSERT_TRUE(
      h.CreateIndex("wide", 5, 4).acknowledged());  // 5 copies wanted, 3 nodes
  ExpectRoutingInvariants(h.state());
  for (const pb::ShardRouting& routing : h.Index("wide").shards()) {
    EXPECT_EQ(routing.copies_size(), 3);
  }
  ClusterHealth health = ComputeHealth(h.state(), "wide");
  EXPECT_EQ(health.status, "yellow");
  EXPECT_EQ(health.unassigned_shards, 5 * 2);
}

TEST(Allocation, SpreadsPrimariesOverNodesWithFewestCopies) {
  Harness h;
  for (const char* id : {"node-1", "node-2", "node-3"}) h.Join(id);
  ASSERT_TRUE(h.CreateIndex("idx", 3, 0).acknowledged());
  std::set<std::string> primaries;
  for (int s = 0; s < 3; ++s) primaries.insert(h.PrimaryNode("idx", s));
  EXPECT_EQ(primaries.size(), 3u);
}

TEST(Allocation, InvariantsHoldThroughSeededRandomFailuresAndRestarts) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Harness h;
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull;
    auto next = [&rng](int n) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      return static_cast<int>((rng >> 33) % n);
    };
    std::vector<std::string> all = {"node-1", "node-2", "node-3", "node-4"};
    std::set<std::string> up(all.begin(), all.end());
    h.ClusterWithStartedIndex(all, "idx", 3, 2);
    int64_t last_version = h.state().version();
    std::map<int, int64_t> last_term;
    for (int step = 0; step < 30; ++step) {
      int action = next(4);
      std::string node = all[next(4)];
      if (action == 0 && up.size() > 1) {
        up.erase(node);  // goes silent
      } else if (action == 1 && up.count(node) == 0) {
        up.insert(node);
        int how = next(3);
        if (how == 0) h.Join(node);  // restarted
        if (how == 1) h.Join(node, /*reconnect=*/true);
        // how == 2: just heartbeats again
      } else if (action == 2) {
        // A recovering copy finishes.
        for (int s = 0; s < 3; ++s) {
          const pb::ShardRouting routing = h.Routing("idx", s);
          for (const pb::ShardCopy& copy : routing.copies()) {
            if (copy.state() == pb::ShardCopy::INITIALIZING &&
                up.count(copy.node_id())) {
              h.ShardStarted("idx", s, copy.node_id(), routing.primary_term());
            }
          }
        }
      } else if (action == 3) {
        h.Restart();
        for (const std::string& id : up) h.Heartbeat(id, 0);
      }
      h.Run(absl::Milliseconds(700),
            std::vector<std::string>(up.begin(), up.end()));
      ExpectRoutingInvariants(h.state());
      EXPECT_GT(h.state().version(), last_version - 1);
      last_version = h.state().version();
      for (int s = 0; s < 3; ++s) {
        EXPECT_GE(h.Routing("idx", s).primary_term(), last_term[s]);
        last_term[s] = h.Routing("idx", s).primary_term();
      }
    }
  }
}

// ---- promotion (R7)
// -------------------------------------------------------------------------

TEST(Promotion, MissedHeartbeatsPromoteAnInSyncReplicaAndBumpTheTerm) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 1);
  ASSERT_EQ(h.PrimaryNode("idx"), "node-1");
  const std::string replica = h.ReplicaOn("idx");
  ASSERT_THAT(h.InSync("idx"), UnorderedElementsAre("node-1", replica));

  h.Run(absl::Milliseconds(700), {"node-2", "node-3"});  // node-1 goes silent

  EXPECT_EQ(h.PrimaryNode("idx"), replica);
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_THAT(h.InSync("idx"), Contains(replica));
  EXPECT_THAT(h.InSync("idx"), ::testing::Not(Contains("node-1")));
  EXPECT_EQ(h.Copy("idx", 0, "node-1"), nullptr);
  EXPECT_FALSE(h.state().nodes(0).alive());
  bool logged = false;
  for (const std::string& line : h.env.log) {
    if (absl::StrContains(line, absl::StrCat("promote ", replica,
                                             " to primary of [idx][0]")) &&
        absl::StrContains(line, "term 1 -> 2")) {
      logged = true;
    }
  }
  EXPECT_TRUE(logged);
  // A replacement replica is allocated on the remaining node.
  EXPECT_EQ(h.Routing("idx").copies_size(), 2);
  ExpectRoutingInvariants(h.state());
}

// Issue 17: the state does not keep every node that ever left.
TEST(NodeLeft, ADeadNodeWithoutCopiesLeavesTheStateAfterTheGracePeriod) {
  CoordinatorOptions options;
  options.dead_node_grace = absl::Seconds(2);
  Harness h(options);
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 1);
  auto has = [&](const std::string& id) {
    for (const pb::NodeInfo& node : h.state().nodes()) {
      if (node.id() == id) return true;
    }
    return false;
  };
  h.Run(absl::Seconds(1), {"node-1", "node-2"});  // node-3 goes silent
  ASSERT_TRUE(has("node-3"));                     // dead, still listed
  h.Run(absl::Milliseconds(500), {"node-1", "node-2"});
  EXPECT_TRUE(has("node-3"));  // 1.5 s silent: within the grace period
  h.Run(absl::Seconds(1), {"node-1", "node-2"});
  EXPECT_FALSE(has("node-3"));
  EXPECT_TRUE(has("node-1") && has("node-2"));
  EXPECT_TRUE(std::any_of(
      h.env.log.begin(), h.env.log.end(), [](const std::string& line) {
        return absl::StrContains(line,
                                 "node-3 left the cluster: dead with no "
                                 "shard copies for more than 2s");
      }));
  ExpectRoutingInvariants(h.state());
  // It can come back: it joins as a new node.
  h.Join("node-3");
  EXPECT_TRUE(has("node-3"));
}

TEST(Promotion, PicksTheLowestNodeIdAmongInSyncReplicas) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 2);
  ASSERT_EQ(h.PrimaryNode("idx"), "node-1");
  h.Run(absl::Milliseconds(700), {"node-2", "node-3"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
}

TEST(Promotion, NeverPromotesAnOutOfSyncCopy) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  h.DeliverPublications();
  ASSERT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::INITIALIZING);

  h.Run(absl::Milliseconds(700), {"node-2"});  // the primary dies mid-recovery

  EXPECT_EQ(h.PrimaryNode("idx"), "");
  EXPECT_EQ(h.Routing("idx").primary_term(), 1);
  EXPECT_THAT(h.InSync("idx"),
              ElementsAre("node-1"));  // the only complete copy
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "red");
}

TEST(Promotion,
     LastInSyncCopyGetsThePrimaryBackWithANewTermWhenItsNodeReturns) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1"}, "idx", 1, 0);
  h.Run(absl::Milliseconds(700), {});
  ASSERT_EQ(h.PrimaryNode("idx"), "");
  h.Join("node-1");
  h.Run(absl::Milliseconds(200), {"node-1"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "green");
}

TEST(Promotion, RejoinAfterRestartFailsTheNodesCopiesAndMovesTheTermOn) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  h.Join("node-1");  // node-1 restarted while still considered alive
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-2"));
  // Its copy stays in place as a recovering replica (it may replay operations).
  ASSERT_NE(h.Copy("idx", 0, "node-1"), nullptr);
  EXPECT_EQ(h.Copy("idx", 0, "node-1")->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-2"));
}

TEST(Promotion, ReconnectJoinKeepsTheNodesCopiesAndTerms) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  const int64_t version = h.state().version();
  h.Join("node-1", /*reconnect=*/true);
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_EQ(h.Routing("idx").primary_term(), 1);
  EXPECT_THAT(h.InSync("idx"), UnorderedElementsAre("node-1", "node-2"));
  EXPECT_EQ(h.state().version(), version);  // nothing changed
}

TEST(Promotion, ReconnectAfterBeingDeclaredDeadGetsAFreshRecoveringReplica) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  h.Run(absl::Milliseconds(700), {"node-2"});
  ASSERT_EQ(h.PrimaryNode("idx"), "node-2");
  h.Join("node-1", /*reconnect=*/true);
  h.Run(absl::Milliseconds(200), {"node-1", "node-2"});
  ASSERT_NE(h.Copy("idx", 0, "node-1"), nullptr);
  EXPECT_EQ(h.Copy("idx", 0, "node-1")->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-2"));
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
}

TEST(Promotion, RestartedNodeWithTheOnlyInSyncCopyKeepsThePrimaryWithANewTerm) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-2", 1).acknowledged());
  ASSERT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  pb::JoinResponse joined = h.Join("node-1");  // restarted
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  EXPECT_EQ(joined.state().version(), h.state().version());
}

TEST(Promotion, RestartedReplicaLeavesTheInSyncSetAndRecovers) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  h.Join("node-2");  // restarted
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_EQ(h.Routing("idx").primary_term(), 1);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  EXPECT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::INITIALIZING);
}

TEST(Promotion, DeadNodeWithTheLastInSyncCopyNeverSeesAStateWithoutIt) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 0);
  const std::string holder = h.PrimaryNode("idx");
  const std::string other = holder == "node-1" ? "node-2" : "node-1";
  h.Run(absl::Milliseconds(700), {other});  // holder declared dead: red
  ASSERT_EQ(h.PrimaryNode("idx"), "");
  h.Run(absl::Milliseconds(200), {holder, other});  // heartbeats again
  EXPECT_EQ(h.PrimaryNode("idx"), holder);
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  // Checked on every delivery by the harness: no state reached `holder` without
  // its copy.
}

TEST(Promotion, NeverMovesAPrimaryBeforeHeartbeatTimeoutSinceItsLastHeartbeat) {
  // The lease a primary may rely on: no promotion until heartbeat_timeout has
  // passed since the coordinator last heard from it.
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  h.Heartbeat("node-1");
  const absl::Duration last_heard = h.env.Now();
  const absl::Duration timeout = CoordinatorOptions().heartbeat_timeout;
  while (h.env.Now() + absl::Milliseconds(1) < last_heard + timeout) {
    h.env.Advance(absl::Milliseconds(1));
    h.Heartbeat("node-2");
    ASSERT_EQ(h.PrimaryNode("idx"), "node-1")
        << absl::FormatDuration(h.env.Now());
  }
  h.Run(absl::Milliseconds(200), {"node-2"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
}

TEST(Promotion, NodeWhoseProcessIsGoneIsDeadAtOnceWithoutWaitingForHeartbeats) {
  // The live runtime's ConnectionWatch reports a node whose connection dropped
  // and whose port refuses: promotion (R7) follows at once, not after
  // heartbeat_timeout.
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 1);
  h.Heartbeat("node-1");
  const std::string replica = h.ReplicaOn("idx");
  const int64_t version = h.state().version();
  h.coordinator().NodeUnreachable("node-1", h.env.Now(), "refuses connections");
  EXPECT_EQ(h.PrimaryNode("idx"), replica);
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_FALSE(h.state().nodes(0).alive());
  EXPECT_GT(h.state().version(), version);
  bool logged = false;
  for (const std::string& line : h.env.log)
    logged |= absl::StrContains(line, "node-1 refuses connections: dead");
  EXPECT_TRUE(logged);
  ExpectRoutingInvariants(h.state());
}

TEST(Promotion, UnreachableReportOlderThanTheNodesLastHeartbeatChangesNothing) {
  // A node that restarted and heartbeat after the connection loss was seen is
  // back: the stale report must not kill it. Unknown nodes are ignored too.
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  const absl::Duration lost_at = h.env.Now();
  h.env.Advance(absl::Milliseconds(5));
  h.Heartbeat("node-1");
  const int64_t version = h.state().version();
  h.coordinator().NodeUnreachable("node-1", lost_at, "refuses connections");
  h.coordinator().NodeUnreachable("node-9", h.env.Now(), "refuses");
  EXPECT_EQ(h.PrimaryNode("idx"), "node-1");
  EXPECT_TRUE(h.state().nodes(0).alive());
  EXPECT_EQ(h.state().version(), version);
}

TEST(ShardFailed, PrimaryReportingItsOwnCopyHandsThePrimaryToAnInSyncReplica) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-1", 1).acknowledged());
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-2"));
}

// ---- shard failed (R8)
// ----------------------------------------------------------------------

TEST(ShardFailed, StaleTermIsAnsweredNoLongerPrimaryAndChangesNothing) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 2);
  h.Run(absl::Milliseconds(700), {"node-2", "node-3"});  // node-1 dies: term 2
  ASSERT_EQ(h.Routing("idx").primary_term(), 2);
  const pb::ClusterState before = h.state();

  pb::ShardFailedResponse response = h.ShardFailed("idx", 0, "node-3", 1);

  EXPECT_FALSE(response.acknowledged());
  EXPECT_EQ(response.error().status(), 409);
  EXPECT_THAT(response.error().reason(), HasSubstr("no longer primary"));
  EXPECT_EQ(response.error().type(), "no_longer_primary_shard_exception");
  EXPECT_EQ(h.state().SerializeAsString(), before.SerializeAsString());
}

TEST(ShardFailed,
     CurrentTermRemovesFromInSyncAndAcksOnlyAfterPersistingAndPublishing) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_THAT(h.InSync("idx"), UnorderedElementsAre("node-1", "node-2"));
  const int64_t version = h.state().version();
  h.env.events.clear();

  pb::ShardFailedResponse response = h.ShardFailed("idx", 0, "node-2", 1);

  EXPECT_TRUE(response.acknowledged());
  EXPECT_FALSE(HasError(response.error()));
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  EXPECT_EQ(h.Copy("idx", 0, "node-2"), nullptr);
  EXPECT_EQ(h.state().version(), version + 1);
  EXPECT_EQ(response.state_version(), version + 1);
  const std::string v = absl::StrCat(" v", version + 1);
  EXPECT_THAT(
      h.env.events,
      ElementsAre("write cluster_state.pb",
                  absl::StrCat("send publish to node-1", v),
                  absl::StrCat("send publish to node-2", v), "respond"));
}

TEST(ShardFailed, IsIdempotentForAnAlreadyRemovedCopy) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-2", 1).acknowledged());
  const int64_t version = h.state().version();
  pb::ShardFailedResponse again = h.ShardFailed("idx", 0, "node-2", 1);
  EXPECT_TRUE(again.acknowledged());
  EXPECT_EQ(h.state().version(), version);
}

TEST(ShardFailed, FailedCopyIsReassignedOnlyAfterItsNodeAppliedTheRemoval) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-2", 1).acknowledged());
  EXPECT_EQ(h.Copy("idx", 0, "node-2"), nullptr);
  h.Run(absl::Milliseconds(150), {"node-1", "node-2"});
  ASSERT_NE(h.Copy("idx", 0, "node-2"), nullptr);
  EXPECT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
}

TEST(ShardFailed, UnknownIndexIsIndexNotFound) {
  Harness h;
  h.Join("node-1");
  pb::ShardFailedResponse response = h.ShardFailed("nope", 0, "node-1", 1);
  EXPECT_EQ(response.error().type(), "index_not_found_exception");
  EXPECT_EQ(response.error().status(), 404);
}

// ---- shard started (R9)
// ---------------------------------------------------------------------

TEST(ShardStarted, AddsTheRecoveredCopyToTheInSyncSetAndMarksItStarted) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "yellow");
  const int64_t version = h.state().version();
  h.env.events.clear();

  pb::ShardStartedResponse response = h.ShardStarted("idx", 0, "node-2", 1);

  EXPECT_TRUE(response.acknowledged());
  EXPECT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::STARTED);
  EXPECT_THAT(h.InSync("idx"), UnorderedElementsAre("node-1", "node-2"));
  EXPECT_EQ(h.state().version(), version + 1);
  EXPECT_EQ(h.env.events.front(), "write cluster_state.pb");
  EXPECT_EQ(h.env.events.back(), "respond");
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "green");
}

TEST(ShardStarted, StaleTermIsRefusedAndChangesNothing) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  const int64_t version = h.state().version();
  pb::ShardStartedResponse response = h.ShardStarted("idx", 0, "node-2", 7);
  EXPECT_FALSE(response.acknowledged());
  EXPECT_THAT(response.error().reason(), HasSubstr("no longer primary"));
  EXPECT_EQ(h.state().version(), version);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
}

// A late shard-started of an earlier assignment: the copy failed and was
// assigned again to the same node, which has not recovered since. Starting it
// would put a copy that lacks acknowledged writes in the in-sync set.
TEST(ShardStarted, LateStartOfAnEarlierAssignmentIsRefusedAndChangesNothing) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  const std::string first = h.Copy("idx", 0, "node-2")->allocation_id();
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-2", 1).acknowledged());
  h.Run(absl::Milliseconds(150), {"node-1", "node-2"});
  const pb::ShardCopy* again = h.Copy("idx", 0, "node-2");
  ASSERT_NE(again, nullptr);
  ASSERT_EQ(again->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_NE(again->allocation_id(), first);
  const int64_t version = h.state().version();

  pb::ShardStartedResponse response =
      h.ShardStarted("idx", 0, "node-2", 1, first);

  EXPECT_FALSE(response.acknowledged());
  EXPECT_EQ(response.error().type(), "shard_not_found_exception");
  EXPECT_THAT(response.error().reason(), HasSubstr(first));
  EXPECT_EQ(h.state().version(), version);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-1"));
  EXPECT_EQ(h.Copy("idx", 0, "node-2")->state(), pb::ShardCopy::INITIALIZING);
  // The current assignment still starts.
  EXPECT_TRUE(h.ShardStarted("idx", 0, "node-2", 1).acknowledged());
  EXPECT_THAT(h.InSync("idx"), UnorderedElementsAre("node-1", "node-2"));
}

TEST(ShardStarted, CopyNotAssignedToTheNodeIsRefused) {
  Harness h;
  h.Join("node-1");
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  pb::ShardStartedResponse response = h.ShardStarted("idx", 0, "node-9", 1);
  EXPECT_FALSE(response.acknowledged());
  EXPECT_TRUE(HasError(response.error()));
}

// ---- persistence and restart
// ----------------------------------------------------------------

TEST(Restart, ReloadsPersistedTermsAndInSyncSets) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 2);
  h.Run(absl::Milliseconds(700), {"node-2", "node-3"});  // term 2, node-1 gone
  const pb::ClusterState before = h.state();
  ASSERT_EQ(h.Routing("idx").primary_term(), 2);

  h.Restart();

  ASSERT_TRUE(h.coordinator().start_status().ok());
  EXPECT_EQ(h.state().cluster_uuid(), before.cluster_uuid());
  EXPECT_EQ(h.state().version(), before.version() + 1);
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  std::vector<std::string> in_sync = h.InSync("idx");
  EXPECT_EQ(in_sync, std::vector<std::string>(
                         before.indices(0).shards(0).in_sync().begin(),
                         before.indices(0).shards(0).in_sync().end()));
  for (const pb::NodeInfo& node : h.state().nodes()) EXPECT_FALSE(node.alive());
  // Nodes that heartbeat are alive again and keep their copies.
  h.Run(absl::Milliseconds(300), {"node-2", "node-3"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_EQ(ComputeHealth(h.state()).number_of_nodes, 2);
}

TEST(Restart, NodesThatNeverComeBackAreDeclaredDead) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  h.Restart();
  h.Run(absl::Milliseconds(700), {"node-2"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
  EXPECT_EQ(h.Routing("idx").primary_term(), 2);
  EXPECT_THAT(h.InSync("idx"), ElementsAre("node-2"));
}

TEST(Restart, CorruptStateFileFailsStartClearlyWithoutCrashing) {
  Harness h;
  h.Join("node-1");
  ASSERT_TRUE(h.env.memory_disk()
                  .WriteFileAtomic("cluster_state.pb", "\xff\xff garbage")
                  .ok());
  h.Restart();
  absl::Status status = h.coordinator().start_status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()), HasSubstr("corrupt"));
  EXPECT_THAT(h.env.log.back(), HasSubstr("cannot start"));
  pb::JoinResponse response = h.Join("node-1");
  EXPECT_EQ(response.error().status(), 500);
}

TEST(Restart, ClusterUuidIsRandomOnceAndKept) {
  Harness h;
  const std::string uuid = h.state().cluster_uuid();
  EXPECT_EQ(uuid.size(), 22u);
  h.Restart();
  EXPECT_EQ(h.state().cluster_uuid(), uuid);
}

TEST(Persistence, DiskFailureAnswersAnErrorAndKeepsTheOldState) {
  Harness h;
  h.Join("node-1");
  const int64_t version = h.state().version();
  h.env.memory_disk().FailAtomicWrites(absl::UnavailableError("disk full"));
  pb::CreateIndexResponse response = h.CreateIndex("idx");
  EXPECT_FALSE(response.acknowledged());
  EXPECT_EQ(response.error().status(), 500);
  EXPECT_EQ(h.state().version(), version);
  EXPECT_EQ(h.state().indices_size(), 0);
}

// ---- versions and publication
// ---------------------------------------------------------------

TEST(StateVersion, StrictlyIncreasesOnEveryChangeAndAcrossRestarts) {
  Harness h;
  std::vector<int64_t> versions = {h.state().version()};
  auto record = [&] { versions.push_back(h.state().version()); };
  h.Join("node-1");
  record();
  h.Join("node-2");
  record();
  h.CreateIndex("a");
  record();
  h.ShardStarted("a", 0, "node-2", 1);
  record();
  h.Restart();
  record();
  h.DeleteIndex("a");
  record();
  for (size_t i = 1; i < versions.size(); ++i) {
    EXPECT_GT(versions[i], versions[i - 1]) << "step " << i;
  }
  EXPECT_EQ(pb::ClusterState().version(), 0);
  EXPECT_GE(versions.front(), 1);
}

TEST(Publication, EveryNewStateGoesToEveryAliveNodeOneAtATimeInOrder) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  h.DeliverPublications();
  h.CreateIndex("a");
  h.CreateIndex(
      "b");  // published to each node only once "a"'s publication is answered
  std::vector<TestEnv::Sent> sent = h.env.TakeSent();
  ASSERT_EQ(sent.size(), 2u);
  for (TestEnv::Sent& s : sent) {
    int64_t version = s.request.publish().state().version();
    pb::Envelope reply;
    reply.mutable_publish_response()->set_applied_version(version);
    s.on_reply(std::move(reply));
  }
  std::vector<TestEnv::Sent> latest = h.env.TakeSent();
  ASSERT_EQ(latest.size(), 2u);
  for (const TestEnv::Sent& s : latest) {
    EXPECT_EQ(s.request.publish().state().version(), h.state().version());
  }
}

TEST(Publication, FailedPublicationIsRetriedWhileTheNodeIsAlive) {
  Harness h;
  h.Join("node-1");
  h.DeliverPublications({"node-1"});  // fails
  EXPECT_TRUE(h.env.outbox.empty());
  h.env.Advance(kTick);
  ASSERT_EQ(h.env.outbox.size(), 1u);
  EXPECT_EQ(h.env.outbox[0].to, "node-1");
  EXPECT_EQ(h.env.outbox[0].request.publish().state().version(),
            h.state().version());
}

TEST(Heartbeat, UnknownNodeIsToldToRejoin) {
  Harness h;
  pb::HeartbeatResponse response = h.Heartbeat("node-7", 0);
  EXPECT_TRUE(response.rejoin());
}

TEST(Heartbeat, NodeBehindGetsTheLatestStateAgain) {
  Harness h;
  h.Join("node-1");
  h.DeliverPublications();
  pb::HeartbeatResponse response = h.Heartbeat("node-1", 0);
  EXPECT_FALSE(response.rejoin());
  EXPECT_EQ(response.state_version(), h.state().version());
  ASSERT_EQ(h.env.outbox.size(), 1u);
  EXPECT_EQ(h.env.outbox[0].request.publish().state().version(),
            h.state().version());
}

TEST(Heartbeat, KeepsANodeAliveAndSilenceKillsIt) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  h.Run(absl::Seconds(2), {"node-1", "node-2"});
  EXPECT_EQ(ComputeHealth(h.state()).number_of_nodes, 2);
  h.Run(absl::Milliseconds(600), {"node-1"});
  EXPECT_EQ(ComputeHealth(h.state()).number_of_nodes, 1);
  EXPECT_TRUE(h.state().nodes(0).alive());
  EXPECT_FALSE(h.state().nodes(1).alive());
}

TEST(Heartbeat, AStalledCoordinatorDoesNotBlameTheNodesForItsOwnSilence) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  const int64_t term = h.Routing("idx").primary_term();
  // The coordinator's timers run late (paused process): one check after 2s.
  h.env.Stall(absl::Seconds(2));
  for (const pb::NodeInfo& node : h.state().nodes()) EXPECT_TRUE(node.alive());
  EXPECT_EQ(h.Routing("idx").primary_term(), term);
  // Nodes that stay silent after that are still declared dead.
  h.Run(absl::Milliseconds(700), {"node-2"});
  EXPECT_EQ(h.PrimaryNode("idx"), "node-2");
}

// ---- index admin
// ----------------------------------------------------------------------------

TEST(IndexName, MustBeLowercase) {
  Harness h;
  pb::CreateIndexResponse response = h.CreateIndex("Foo");
  EXPECT_EQ(response.error().status(), 400);
  EXPECT_EQ(response.error().type(), "invalid_index_name_exception");
  EXPECT_EQ(response.error().reason(),
            "Invalid index name [Foo], must be lowercase");
  EXPECT_EQ(response.error().index(), "Foo");
  EXPECT_EQ(response.error().index_uuid(), "_na_");
}

TEST(IndexName, RejectsElasticsearchsForbiddenNames) {
  Harness h;
  struct Case {
    std::string name;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"_x", "must not start with '_', '-', or '+'"},
      {"-x", "must not start with '_', '-', or '+'"},
      {"+x", "must not start with '_', '-', or '+'"},
      {"a*b",
       "must not contain the following characters "
       "[' ','\"','*',',','/','<','>','?','\\','|']"},
      {"a b", "must not contain the following characters"},
      {"a,b", "must not contain the following characters"},
      {"a/b", "must not contain the following characters"},
      {"a#b", "must not contain '#'"},
      {"a:b", "must not contain ':'"},
      {".", "must not be '.' or '..'"},
      {"..", "must not be '.' or '..'"},
      {"", "must not be empty"},
      {std::string(256, 'a'), "index name is too long, (256 > 255)"},
  };
  for (const Case& c : cases) {
    pb::CreateIndexResponse response = h.CreateIndex(c.name);
    EXPECT_EQ(response.error().type(), "invalid_index_name_exception")
        << c.name;
    EXPECT_THAT(response.error().reason(),
                HasSubstr(absl::StrCat("Invalid index name [", c.name, "], ")));
    EXPECT_THAT(response.error().reason(), HasSubstr(c.reason)) << c.name;
  }
  EXPECT_EQ(h.state().indices_size(), 0);
  EXPECT_TRUE(h.CreateIndex(std::string(255, 'a')).acknowledged());
  EXPECT_TRUE(h.CreateIndex(".hidden-ok").acknowledged());
}

TEST(IndexAdmin, ExistingIndexIsResourceAlreadyExistsUnlessAutoCreated) {
  Harness h;
  h.Join("node-1");
  ASSERT_TRUE(h.CreateIndex("idx").acknowledged());
  const std::string uuid = h.Index("idx").uuid();
  const int64_t version = h.state().version();
  pb::CreateIndexResponse again = h.CreateIndex("idx");
  EXPECT_EQ(again.error().status(), 400);
  EXPECT_EQ(again.error().type(), "resource_already_exists_exception");
  EXPECT_EQ(again.error().reason(),
            absl::StrCat("index [idx/", uuid, "] already exists"));
  EXPECT_EQ(again.error().index_uuid(), uuid);
  EXPECT_TRUE(h.CreateIndex("idx", 1, 1, /*auto_created=*/true).acknowledged());
  EXPECT_EQ(h.state().version(), version);
}

TEST(IndexAdmin, DefaultsAreOneShardOneReplica) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  ASSERT_TRUE(h.CreateIndex("idx", 0, -1).acknowledged());
  EXPECT_EQ(h.Index("idx").number_of_shards(), 1);
  EXPECT_EQ(h.Index("idx").number_of_replicas(), 1);
}

TEST(IndexAdmin, BadShardCountsAreIllegalArguments) {
  Harness h;
  EXPECT_EQ(h.CreateIndex("a", -1, 1).error().type(),
            "illegal_argument_exception");
  EXPECT_EQ(h.CreateIndex("a", 1025, 1).error().type(),
            "illegal_argument_exception");
  EXPECT_EQ(h.CreateIndex("a", 1, -2).error().type(),
            "illegal_argument_exception");
  EXPECT_EQ(h.state().indices_size(), 0);
}

// Issue 12, section 6: a replica count that would overflow `1 + replicas`, or
// more copies than the cluster's shard limit (1000 per node), is ES's
// validation_exception and changes nothing.
TEST(IndexAdmin, AbsurdCopyCountsAreRefusedByTheShardLimit) {
  Harness h;
  h.Join("node-1");
  h.Join("node-2");
  const int64_t version = h.state().version();
  pb::CreateIndexResponse huge = h.CreateIndex("a", 1, 2147483647);
  EXPECT_EQ(huge.error().status(), 400);
  EXPECT_EQ(huge.error().type(), "validation_exception");
  EXPECT_EQ(huge.error().reason(),
            "Validation Failed: 1: this action would add [2147483648] shards, "
            "but this cluster currently has [0]/[2000] maximum normal shards "
            "open;");
  EXPECT_EQ(h.CreateIndex("b", 1024, 1000).error().type(),
            "validation_exception");
  ASSERT_TRUE(h.CreateIndex("c", 1000, 0).acknowledged());
  pb::CreateIndexResponse over = h.CreateIndex("d", 1001, 0);
  EXPECT_EQ(over.error().reason(),
            "Validation Failed: 1: this action would add [1001] shards, but "
            "this cluster currently has [1000]/[2000] maximum normal shards "
            "open;");
  ASSERT_TRUE(h.CreateIndex("e", 500, 1).error().type().empty());
  EXPECT_EQ(h.state().indices_size(), 2);
  EXPECT_GT(h.state().version(), version);
}

TEST(Membership, JoinWithAReservedIdIsRefusedAndChangesNothing) {
  Harness h;
  for (const char* id : {"coordinator", "client"}) {
    pb::Envelope request;
    request.set_from(id);
    request.mutable_join()->mutable_node()->set_id(id);
    request.mutable_join()->mutable_node()->set_grpc_address("127.0.0.1:1");
    pb::JoinResponse response = h.Call(std::move(request)).join_response();
    EXPECT_EQ(response.error().type(), "illegal_argument_exception") << id;
  }
  EXPECT_EQ(h.state().nodes_size(), 0);
}

TEST(IndexAdmin, DeleteMissingIndexIsIndexNotFound) {
  Harness h;
  pb::DeleteIndexResponse response = h.DeleteIndex("x");
  EXPECT_EQ(response.error().status(), 404);
  EXPECT_EQ(response.error().type(), "index_not_found_exception");
  EXPECT_EQ(response.error().reason(), "no such index [x]");
}

TEST(IndexAdmin, DeleteRemovesTheIndexAndPublishes) {
  Harness h;
  h.Join("node-1");
  h.DeliverPublications();
  ASSERT_TRUE(h.CreateIndex("idx").acknowledged());
  h.DeliverPublications();
  pb::DeleteIndexResponse response = h.DeleteIndex("idx");
  EXPECT_TRUE(response.acknowledged());
  EXPECT_EQ(h.state().indices_size(), 0);
  EXPECT_EQ(h.applied_state("node-1").indices_size(), 0);
}

// Elasticsearch acknowledges a cluster-state update once the nodes have
// applied it: a deletion is answered only when every alive node has applied
// the state without the index, so a write sent after the answer cannot reach
// a node that still routes to the deleted index's shards (and be acknowledged
// there, then lost). A node that does not apply it within ack_timeout is not
// waited for any longer: acknowledged false, the deletion stays committed.
TEST(IndexAdmin, DeleteIsAnsweredOnceEveryAliveNodeAppliedIt) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2"}, "idx", 1, 1);
  ASSERT_TRUE(h.CreateIndex("other").acknowledged());
  h.DeliverPublications();
  auto answered = [&](const std::string& index) {
    auto reply = std::make_shared<std::optional<pb::Envelope>>();
    pb::Envelope request;
    request.mutable_delete_index()->set_index(index);
    h.coordinator().Handle(std::move(request),
                           [reply](pb::Envelope r) { *reply = std::move(r); });
    return reply;
  };
  auto reply = answered("idx");
  EXPECT_FALSE(reply->has_value());  // published, applied by no node yet
  EXPECT_EQ(h.state().indices_size(), 1);
  h.DeliverPublications({"node-2"});  // node-1 applies it, node-2 fails to
  EXPECT_FALSE(reply->has_value());
  h.env.Advance(absl::Milliseconds(100));  // the retry to node-2
  h.DeliverPublications();
  ASSERT_TRUE(reply->has_value());
  EXPECT_TRUE((*reply)->delete_index_response().acknowledged());

  // node-2 keeps heartbeating but never applies the next state.
  auto late = answered("other");
  for (absl::Duration t; t < absl::Milliseconds(1200);
       t += absl::Milliseconds(50)) {
    EXPECT_FALSE(late->has_value()) << t;
    h.env.Advance(absl::Milliseconds(50));
    h.Heartbeat("node-1");
    h.Heartbeat("node-2", h.state().version() - 1);
    h.DeliverPublications({"node-2"});
    if (late->has_value()) break;
  }
  ASSERT_TRUE(late->has_value());
  EXPECT_FALSE((*late)->delete_index_response().acknowledged());
  EXPECT_FALSE(HasError((*late)->delete_index_response().error()));
  EXPECT_EQ(h.state().indices_size(), 0);
}

pb::UpdateIndicesResponse UpdateAliases(
    Harness& h,
    const std::vector<std::tuple<bool, std::string, std::string>>& actions) {
  pb::Envelope request;
  for (const auto& [remove, index, alias] : actions) {
    pb::AliasAction* action =
        request.mutable_update_indices()->add_alias_actions();
    action->set_remove(remove);
    action->set_index(index);
    action->set_alias(alias);
  }
  return h.Call(std::move(request)).update_indices_response();
}

pb::UpdateIndicesResponse UpdateSettings(
    Harness& h, const std::vector<std::string>& indices,
    std::optional<int64_t> refresh_ms, std::optional<int> replicas) {
  pb::Envelope request;
  pb::UpdateIndicesRequest* update = request.mutable_update_indices();
  for (const std::string& index : indices) update->add_settings_indices(index);
  if (refresh_ms.has_value()) update->set_refresh_interval_ms(*refresh_ms);
  if (replicas.has_value()) update->set_number_of_replicas(*replicas);
  return h.Call(std::move(request)).update_indices_response();
}

// PUT /{index}/_settings: a higher number_of_replicas places new replicas
// (initializing, out of the in-sync set until they recover); a lower one
// removes replicas, never the primary and recovering ones first; an update
// naming a missing index changes nothing.
TEST(IndexAdmin, SettingsUpdateChangesReplicasAndRefreshInterval) {
  Harness h;
  h.ClusterWithStartedIndex({"node-1", "node-2", "node-3"}, "idx", 1, 0);
  ASSERT_EQ(h.Routing("idx").copies_size(), 1);
  const std::string primary = h.Routing("idx").copies(0).node_id();

  EXPECT_TRUE(UpdateSettings(h, {"idx"}, 250, 2).acknowledged());
  EXPECT_EQ(h.state().indices(0).refresh_interval_ms(), 250);
  EXPECT_EQ(h.state().indices(0).number_of_replicas(), 2);
  ASSERT_EQ(h.Routing("idx").copies_size(), 3);
  for (const pb::ShardCopy& copy : h.Routing("idx").copies()) {
    if (copy.primary()) {
      EXPECT_EQ(copy.node_id(), primary);
      continue;
    }
    EXPECT_EQ(copy.state(), pb::ShardCopy::INITIALIZING);
    EXPECT_EQ(std::count(h.Routing("idx").in_sync().begin(),
                         h.Routing("idx").in_sync().end(), copy.node_id()),
              0);
  }
  // One replica recovers; lowering to 1 replica removes the other, the one
  // still recovering, and keeps the started in-sync one.
  std::string started;
  for (const pb::ShardCopy& copy : h.Routing("idx").copies()) {
    if (!copy.primary() && started.empty()) started = copy.node_id();
  }
  ASSERT_TRUE(h.ShardStarted("idx", 0, started, h.Routing("idx").primary_term())
                  .acknowledged());
  EXPECT_TRUE(UpdateSettings(h, {"idx"}, std::nullopt, 1).acknowledged());
  ASSERT_EQ(h.Routing("idx").copies_size(), 2);
  EXPECT_NE(h.Copy("idx", 0, started), nullptr);
  EXPECT_NE(h.Copy("idx", 0, primary), nullptr);
  EXPECT_EQ(h.state().indices(0).refresh_interval_ms(), 250);

  // 0 replicas: the primary stays, alone in the in-sync set.
  EXPECT_TRUE(UpdateSettings(h, {"idx"}, 0, 0).acknowledged());
  ASSERT_EQ(h.Routing("idx").copies_size(), 1);
  EXPECT_TRUE(h.Routing("idx").copies(0).primary());
  EXPECT_EQ(h.Routing("idx").in_sync_size(), 1);
  EXPECT_EQ(h.state().indices(0).refresh_interval_ms(), 0);

  const int64_t version = h.state().version();
  pb::UpdateIndicesResponse missing =
      UpdateSettings(h, {"idx", "nope"}, 1000, 2);
  EXPECT_EQ(missing.error().status(), 404);
  EXPECT_EQ(missing.error().type(), "index_not_found_exception");
  EXPECT_EQ(h.state().version(), version);
  EXPECT_EQ(h.state().indices(0).number_of_replicas(), 0);
  // Setting what is already set is acknowledged and publishes nothing.
  EXPECT_TRUE(UpdateSettings(h, {"idx"}, 0, 0).acknowledged());
  EXPECT_EQ(h.state().version(), version);
}

std::vector<std::string> AliasesOf(Harness& h, const std::string& index) {
  for (const pb::IndexMeta& meta : h.state().indices()) {
    if (meta.name() == index)
      return {meta.aliases().begin(), meta.aliases().end()};
  }
  return {};
}

TEST(IndexAdmin, AliasActionsApplyTogetherOrNotAtAll) {
  Harness h;
  h.Join("node-1");
  h.DeliverPublications();
  ASSERT_TRUE(h.CreateIndex("logs-1").acknowledged());
  ASSERT_TRUE(h.CreateIndex("logs-2").acknowledged());
  h.DeliverPublications();
  const int64_t version = h.state().version();
  EXPECT_TRUE(UpdateAliases(h, {{false, "logs-1", "logs"},
                                {false, "logs-2", "logs"},
                                {false, "logs-1", "current"}})
                  .acknowledged());
  EXPECT_GT(h.state().version(), version);
  using Names = std::vector<std::string>;
  EXPECT_EQ(AliasesOf(h, "logs-1"), Names({"current", "logs"}));
  EXPECT_EQ(AliasesOf(h, "logs-2"), Names({"logs"}));
  EXPECT_EQ(h.applied_state("node-1").indices(0).aliases_size(), 2);
  // Moving an alias is one atomic change.
  EXPECT_TRUE(UpdateAliases(h, {{true, "logs-1", "current"},
                                {false, "logs-2", "current"}})
                  .acknowledged());
  EXPECT_EQ(AliasesOf(h, "logs-1"), Names({"logs"}));
  EXPECT_EQ(AliasesOf(h, "logs-2"), Names({"current", "logs"}));

  // A failing action leaves every alias as it was.
  const int64_t before = h.state().version();
  pb::UpdateIndicesResponse missing_index =
      UpdateAliases(h, {{false, "logs-1", "x"}, {false, "nope", "x"}});
  EXPECT_EQ(missing_index.error().status(), 404);
  EXPECT_EQ(missing_index.error().reason(), "no such index [nope]");
  pb::UpdateIndicesResponse missing_alias =
      UpdateAliases(h, {{false, "logs-1", "y"}, {true, "logs-1", "z"}});
  EXPECT_EQ(missing_alias.error().status(), 404);
  EXPECT_EQ(missing_alias.error().type(), "aliases_not_found_exception");
  EXPECT_EQ(missing_alias.error().reason(), "aliases [z] missing");
  pb::UpdateIndicesResponse index_name =
      UpdateAliases(h, {{false, "logs-1", "logs-2"}});
  EXPECT_EQ(index_name.error().status(), 400);
  EXPECT_EQ(index_name.error().type(), "invalid_alias_name_exception");
  EXPECT_EQ(index_name.error().reason(),
            "Invalid alias name [logs-2]: an index or data stream exists "
            "with the same name as the alias");
  EXPECT_EQ(h.state().version(), before);
  EXPECT_EQ(AliasesOf(h, "logs-1"), Names({"logs"}));

  // An index may not take an alias's name.
  pb::CreateIndexResponse taken = h.CreateIndex("logs");
  EXPECT_EQ(taken.error().status(), 400);
  EXPECT_EQ(taken.error().type(), "invalid_index_name_exception");
  EXPECT_EQ(taken.error().reason(),
            "Invalid index name [logs], already exists as alias");
  // Deleting an index takes its aliases with it.
  EXPECT_TRUE(h.DeleteIndex("logs-1").acknowledged());
  EXPECT_EQ(AliasesOf(h, "logs-2"), Names({"current", "logs"}));
}

TEST(ClusterState, GetClusterStateAnswersTheCurrentState) {
  Harness h;
  h.Join("node-1");
  pb::Envelope request;
  request.mutable_get_cluster_state();
  pb::Envelope reply = h.Call(std::move(request));
  EXPECT_EQ(reply.get_cluster_state_response().state().version(),
            h.state().version());
  EXPECT_EQ(reply.get_cluster_state_response().state().nodes_size(), 1);
}

// ---- scenarios: exact expected decisions, to be read as lessons
// ----------------------------

TEST(Scenario, PrimaryLostReplicaPromotedReplacementRecoversRejoinerComesBack) {
  Harness h;
  for (const char* id : {"node-1", "node-2", "node-3"}) h.Join(id);
  h.DeliverPublications();
  ASSERT_TRUE(h.CreateIndex("idx", 1, 1).acknowledged());
  h.DeliverPublications();
  ASSERT_TRUE(h.ShardStarted("idx", 0, "node-2", 1).acknowledged());
  h.DeliverPublications();
  h.env.log.clear();

  h.Run(absl::Milliseconds(600), {"node-2", "node-3"});  // node-1 falls silent
  ASSERT_TRUE(h.ShardStarted("idx", 0, "node-3", 2).acknowledged());
  h.Join("node-1");  // node-1 restarts and joins again
  h.Run(absl::Milliseconds(100), {"node-1", "node-2", "node-3"});
  ASSERT_TRUE(h.ShardFailed("idx", 0, "node-1", 1).acknowledged() == false);

  EXPECT_THAT(
      h.env.log,
      ElementsAre(
          "coordinator: node-1 missed heartbeats for 550ms: dead",
          "coordinator: remove primary of [idx][0] on node-1 (node-1 is dead); "
          "out of the in-sync set",
          "coordinator: promote node-2 to primary of [idx][0] (in-sync "
          "replica), term 1 -> 2",
          "coordinator: assign replica of [idx][0] to node-3 (initializing: "
          "recovers from the primary)",
          "coordinator: cluster state version 7: node-1 missed heartbeats for "
          "550ms: dead",
          "coordinator: cluster state version 8: node-3's copy of [idx][0] "
          "recovered to local checkpoint 0: started and in sync (term 2)",
          "coordinator: node-1 rejoined after a restart holding no copies",
          "coordinator: cluster state version 9: node-1 rejoined after a "
          "restart",
          "coordinator: refuse shard-failed for node-1 on [idx][0] from "
          "primary: term 1 is stale (current 2)"));
  EXPECT_THAT(h.InSync("idx"), UnorderedElementsAre("node-2", "node-3"));
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "green");
}

// ---- health
// -----------------------------------------------------------------------------------

TEST(Health, GreenYellowRedFollowPrimariesAndReplicas) {
  Harness h;
  EXPECT_EQ(ComputeHealth(h.state()).status, "green");  // no indices
  h.Join("node-1");
  ASSERT_TRUE(h.CreateIndex("idx", 2, 1).acknowledged());
  ClusterHealth yellow = ComputeHealth(h.state(), "idx");
  EXPECT_EQ(yellow.status, "yellow");
  EXPECT_EQ(yellow.active_primary_shards, 2);
  EXPECT_EQ(yellow.active_shards, 2);
  EXPECT_EQ(yellow.unassigned_shards, 2);
  EXPECT_EQ(yellow.number_of_nodes, 1);

  h.Join("node-2");
  ClusterHealth initializing = ComputeHealth(h.state());
  EXPECT_EQ(initializing.status, "yellow");
  EXPECT_EQ(initializing.initializing_shards, 2);
  EXPECT_EQ(initializing.unassigned_shards, 0);
  h.ShardStarted("idx", 0, "node-2", 1);
  h.ShardStarted("idx", 1, "node-2", 1);
  ClusterHealth green = ComputeHealth(h.state());
  EXPECT_EQ(green.status, "green");
  EXPECT_EQ(green.active_shards, 4);
  EXPECT_EQ(green.number_of_data_nodes, 2);

  EXPECT_EQ(ComputeHealth(h.state(), "missing").status, "red");
}

TEST(Health, RedWhenAPrimaryIsUnassigned) {
  Harness h;
  ASSERT_TRUE(h.CreateIndex("idx", 1, 0).acknowledged());  // no node to hold it
  ClusterHealth health = ComputeHealth(h.state(), "idx");
  EXPECT_EQ(health.status, "red");
  EXPECT_EQ(health.unassigned_shards, 1);
  h.Join(
      "node-1");  // a brand-new shard's primary is assigned when a node arrives
  EXPECT_EQ(ComputeHealth(h.state(), "idx").status, "green");
  EXPECT_EQ(h.Routing("idx").primary_term(), 1);
}

// ---- aliases set at creation (bench/es_yaml.md (a)3)
// -----------------------------------------------------------------------------------

TEST(CreateIndex, SetsTheBodysAliasesSortedWithTheIndex) {
  Harness h;
  h.Join("node-1");
  pb::Envelope request;
  request.set_from("node-1");
  request.mutable_create_index()->set_index("backing");
  request.mutable_create_index()->set_number_of_replicas(0);
  request.mutable_create_index()->add_aliases("zeta");
  request.mutable_create_index()->add_aliases("alpha");
  request.mutable_create_index()->add_aliases("zeta");
  ASSERT_TRUE(
      h.Call(std::move(request)).create_index_response().acknowledged());
  const pb::IndexMeta& index = h.state().indices(0);
  EXPECT_THAT(
      std::vector<std::string>(index.aliases().begin(), index.aliases().end()),
      ElementsAre("alpha", "zeta"));
}

TEST(CreateIndex, RefusesAnAliasThatNamesAnIndexAndCreatesNothing) {
  Harness h;
  h.Join("node-1");
  ASSERT_TRUE(h.CreateIndex("other", 1, 0).acknowledged());
  for (const char* alias : {"other", "backing"}) {
    pb::Envelope request;
    request.set_from("node-1");
    request.mutable_create_index()->set_index("backing");
    request.mutable_create_index()->add_aliases("fine");
    request.mutable_create_index()->add_aliases(alias);
    pb::CreateIndexResponse response =
        h.Call(std::move(request)).create_index_response();
    EXPECT_FALSE(response.acknowledged()) << alias;
    EXPECT_EQ(response.error().type(), "invalid_alias_name_exception") << alias;
    EXPECT_EQ(response.error().reason(),
              absl::StrCat("Invalid alias name [", alias,
                           "]: an index or data stream exists with the same "
                           "name as the alias"));
    EXPECT_EQ(h.state().indices_size(), 1) << alias;
  }
}

TEST(CreateIndex, SetsMaxResultWindow) {
  Harness h;
  h.Join("node-1");
  pb::Envelope request;
  request.set_from("node-1");
  request.mutable_create_index()->set_index("tw");
  request.mutable_create_index()->set_max_result_window(2);
  ASSERT_TRUE(
      h.Call(std::move(request)).create_index_response().acknowledged());
  EXPECT_EQ(h.state().indices(0).max_result_window(), 2);
}

}  // namespace
}  // namespace seqsim
