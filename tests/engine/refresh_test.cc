// The searchable view of a copy (issue 16: refresh and near-real-time search):
// search reads the state of the copy's last refresh, GET the current state.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

std::vector<std::string> RefreshedIds(const ShardEngine& engine) {
  std::vector<std::string> ids;
  for (const auto& [id, doc] : engine.RefreshedLiveDocs()) ids.push_back(id);
  return ids;
}

TEST(Refresh, WritesAreSearchableOnlyAfterTheNextRefreshGetIsRealTime) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("a", R"({"v":1})")).ok());
  EXPECT_NE(engine->Get("a"), nullptr);  // real-time
  EXPECT_EQ(engine->GetRefreshed("a"), nullptr);
  EXPECT_TRUE(RefreshedIds(*engine).empty());
  EXPECT_EQ(engine->refreshed_doc_count(), 0);
  EXPECT_EQ(engine->unrefreshed_changes(), 1);

  engine->Refresh();
  ASSERT_NE(engine->GetRefreshed("a"), nullptr);
  EXPECT_EQ(RefreshedIds(*engine), std::vector<std::string>{"a"});
  EXPECT_EQ(engine->refreshed_doc_count(), 1);
  EXPECT_EQ(engine->refreshed_max_seq_no(), 0);
  EXPECT_EQ(engine->unrefreshed_changes(), 0);
}

TEST(Refresh, AnUpdateOrDeleteShowsTheOldVersionUntilTheRefresh) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("a", R"({"v":1})")).ok());
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("b", R"({"v":1})")).ok());
  const int64_t refreshes = engine->refresh_count();
  engine->Refresh();
  EXPECT_EQ(engine->refresh_count(), refreshes + 1);
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("a", R"({"v":2})")).ok());
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("a", R"({"v":3})")).ok());
  ASSERT_TRUE(engine->PrimaryWrite(DeleteRequest("b")).ok());
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("c", R"({"v":1})")).ok());

  EXPECT_EQ(engine->Get("a")->source, R"({"v":3})");
  EXPECT_EQ(engine->GetRefreshed("a")->source, R"({"v":1})");
  EXPECT_EQ(engine->GetRefreshed("a")->version, 1);
  EXPECT_EQ(engine->Get("b"), nullptr);
  ASSERT_NE(engine->GetRefreshed("b"), nullptr);  // deleted, still searchable
  EXPECT_EQ(RefreshedIds(*engine), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(engine->refreshed_doc_count(), 2);

  engine->Refresh();
  EXPECT_EQ(engine->GetRefreshed("a")->source, R"({"v":3})");
  EXPECT_EQ(engine->GetRefreshed("b"), nullptr);
  EXPECT_EQ(RefreshedIds(*engine), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(engine->refreshed_doc_count(), 2);
  EXPECT_EQ(engine->refreshed_max_seq_no(), 5);
}

TEST(Refresh, OutOfOrderReplicaOpsBecomeSearchableTogetherAtTheRefresh) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  ASSERT_TRUE(replica->CheckAndAdvanceTerm(1).ok());
  ASSERT_TRUE(
      replica->ApplyOnReplica(IndexOp("a", 1, 1, 2, R"({"v":2})")).ok());
  ASSERT_TRUE(
      replica->ApplyOnReplica(IndexOp("a", 0, 1, 1, R"({"v":1})")).ok());
  EXPECT_EQ(replica->Get("a")->source, R"({"v":2})");
  EXPECT_EQ(replica->GetRefreshed("a"), nullptr);
  replica->Refresh();
  EXPECT_EQ(replica->GetRefreshed("a")->source, R"({"v":2})");
}

TEST(Refresh, OpeningACopyAndInstallingASnapshotEndWithARefresh) {
  sim::SimDisk disk;
  {
    auto engine = OpenPrimary(&disk);
    ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("a", "{}")).ok());
    ASSERT_TRUE(engine->Sync().ok());
  }
  auto reopened = OpenEngine(&disk);
  EXPECT_NE(reopened->GetRefreshed("a"), nullptr);
  EXPECT_EQ(reopened->refreshed_doc_count(), 1);

  sim::SimDisk other;
  auto target = OpenEngine(&other);
  ASSERT_TRUE(target
                  ->InstallSnapshot(reopened->Snapshot(),
                                    reopened->max_seq_no(),
                                    reopened->local_checkpoint(),
                                    reopened->global_checkpoint(), 1)
                  .ok());
  EXPECT_NE(target->GetRefreshed("a"), nullptr);
  EXPECT_EQ(target->refreshed_doc_count(), 1);
}

TEST(Refresh, AResyncTrimRollsBackTheCurrentStateNotTheRefreshedOne) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  ASSERT_TRUE(replica->CheckAndAdvanceTerm(1).ok());
  ASSERT_TRUE(
      replica->ApplyOnReplica(IndexOp("a", 0, 1, 1, R"({"v":1})")).ok());
  replica->UpdateGlobalCheckpoint(0);
  replica->Refresh();
  ASSERT_TRUE(
      replica->ApplyOnReplica(IndexOp("a", 1, 1, 2, R"({"v":2})")).ok());
  ASSERT_TRUE(replica->TrimOperationsAbove(0, 2).ok());
  EXPECT_EQ(replica->Get("a")->source, R"({"v":1})");
  EXPECT_EQ(replica->GetRefreshed("a")->source, R"({"v":1})");
}

}  // namespace
}  // namespace seqsim::testing
