// The shared read-only views of a cluster state (common/cluster_view.h):
// health colours and routing-table look-ups, on a hand-built state.
#include "common/cluster_view.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace seqsim {
namespace {

using ::testing::ElementsAre;

pb::ShardCopy* AddCopy(pb::ShardRouting* routing, const std::string& node,
                       bool primary, pb::ShardCopy::State state) {
  pb::ShardCopy* copy = routing->add_copies();
  copy->set_node_id(node);
  copy->set_primary(primary);
  copy->set_state(state);
  return copy;
}

// Two alive nodes and a dead one; index "books" (uuid u1) with shard 0 green
// (primary on node-1, replica on node-2) and shard 1 yellow (primary on
// node-2, replica on node-3 initializing); index "empty" (uuid u2) with one
// unassigned shard.
pb::ClusterState TwoIndices() {
  pb::ClusterState state;
  state.set_version(7);
  for (const char* id : {"node-1", "node-2", "node-3"}) {
    pb::NodeInfo* node = state.add_nodes();
    node->set_id(id);
    node->set_alive(std::string(id) != "node-3");
  }
  pb::IndexMeta* books = state.add_indices();
  books->set_name("books");
  books->set_uuid("u1");
  books->set_number_of_shards(2);
  books->set_number_of_replicas(1);
  pb::ShardRouting* s0 = books->add_shards();
  s0->set_shard(0);
  AddCopy(s0, "node-1", true, pb::ShardCopy::STARTED);
  AddCopy(s0, "node-2", false, pb::ShardCopy::STARTED);
  s0->add_in_sync("node-1");
  s0->add_in_sync("node-2");
  pb::ShardRouting* s1 = books->add_shards();
  s1->set_shard(1);
  AddCopy(s1, "node-3", false, pb::ShardCopy::INITIALIZING);
  AddCopy(s1, "node-2", true, pb::ShardCopy::STARTED);
  s1->add_in_sync("node-2");
  pb::IndexMeta* empty = state.add_indices();
  empty->set_name("empty");
  empty->set_uuid("u2");
  empty->set_number_of_shards(1);
  empty->set_number_of_replicas(0);
  empty->add_shards()->set_shard(0);
  return state;
}

TEST(ClusterHealth, ColoursFollowPrimariesAndReplicas) {
  const pb::ClusterState state = TwoIndices();
  ClusterHealth all = ComputeHealth(state);
  EXPECT_EQ(all.status, "red");  // "empty" has no primary
  EXPECT_EQ(all.number_of_nodes, 2);
  EXPECT_EQ(all.number_of_data_nodes, 2);
  EXPECT_EQ(all.active_primary_shards, 2);
  EXPECT_EQ(all.active_shards, 3);
  EXPECT_EQ(all.initializing_shards, 1);
  EXPECT_EQ(all.unassigned_shards, 1);
  EXPECT_EQ(ComputeHealth(state, "books").status, "yellow");
  EXPECT_EQ(ComputeHealth(state, "missing").status, "red");
  EXPECT_EQ(ComputeHealth(pb::ClusterState()).status, "green");
}

TEST(ClusterView, FindsIndicesShardsCopiesAndNodes) {
  pb::ClusterState state = TwoIndices();
  const pb::ClusterState& view = state;
  ASSERT_NE(FindIndexByName(view, "books"), nullptr);
  EXPECT_EQ(FindIndexByName(view, "books")->uuid(), "u1");
  EXPECT_EQ(FindIndexByName(view, "nope"), nullptr);
  EXPECT_EQ(FindIndexByName(&state, "empty"), &state.indices(1));
  EXPECT_EQ(FindIndexByUuid(view, "u2")->name(), "empty");
  EXPECT_EQ(FindIndexByUuid(view, "books"), nullptr);

  const pb::IndexMeta& books = *FindIndexByName(view, "books");
  const pb::ShardRouting* s1 = FindShardRouting(books, 1);
  ASSERT_NE(s1, nullptr);
  EXPECT_EQ(s1->shard(), 1);
  EXPECT_EQ(FindShardRouting(books, 2), nullptr);
  EXPECT_EQ(PrimaryCopy(*s1)->node_id(), "node-2");
  EXPECT_EQ(CopyOnNode(*s1, "node-3")->state(), pb::ShardCopy::INITIALIZING);
  EXPECT_EQ(CopyOnNode(*s1, "node-1"), nullptr);
  EXPECT_EQ(PrimaryCopy(FindIndexByName(view, "empty")->shards(0)), nullptr);

  pb::ShardRouting* mutable_s1 =
      FindShardRouting(FindIndexByName(&state, "books"), 1);
  PrimaryCopy(mutable_s1)->set_primary(false);
  CopyOnNode(mutable_s1, "node-3")->set_primary(true);
  EXPECT_EQ(PrimaryCopy(state.indices(0).shards(1))->node_id(), "node-3");

  EXPECT_EQ(FindNodeInfo(view, "node-2")->id(), "node-2");
  EXPECT_EQ(FindNodeInfo(view, "node-9"), nullptr);
  FindNodeInfo(&state, "node-2")->set_alive(false);
  EXPECT_FALSE(IsNodeAlive(state, "node-2"));
  EXPECT_TRUE(IsNodeAlive(state, "node-1"));
  EXPECT_FALSE(IsNodeAlive(state, "node-9"));
}

TEST(ClusterView, InSyncStartedAndCounts) {
  const pb::ClusterState state = TwoIndices();
  const pb::ShardRouting& s1 = state.indices(0).shards(1);
  EXPECT_TRUE(InInSyncSet(s1, "node-2"));
  EXPECT_FALSE(InInSyncSet(s1, "node-3"));
  EXPECT_TRUE(IsStartedInSync(s1, s1.copies(1)));
  EXPECT_FALSE(IsStartedInSync(s1, s1.copies(0)));
  EXPECT_THAT(StartedCopyNodes(s1), ElementsAre("node-2"));
  EXPECT_THAT(StartedCopyNodes(state.indices(0).shards(0)),
              ElementsAre("node-1", "node-2"));
  EXPECT_EQ(CopiesOnNode(state, "node-2"), 2);
  EXPECT_EQ(CopiesOnNode(state, "node-3"), 1);
  EXPECT_EQ(CopiesOnNode(state, "node-9"), 0);
  EXPECT_EQ(ShardName("books", 1), "[books][1]");
}

}  // namespace
}  // namespace seqsim
