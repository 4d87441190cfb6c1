// R6: local checkpoint with gaps, global checkpoint,
// max_seq_no_of_updates_or_deletes.
#include "gtest/gtest.h"
#include "node/engine/local_checkpoint_tracker.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

TEST(R6LocalCheckpoint, AdvancesOnlyOverContiguousProcessedSeqNos) {
  LocalCheckpointTracker tracker;
  EXPECT_EQ(tracker.checkpoint(), -1);
  tracker.MarkProcessed(1);
  tracker.MarkProcessed(3);
  EXPECT_EQ(tracker.checkpoint(), -1);
  EXPECT_EQ(tracker.max_seq_no(), 3);
  EXPECT_TRUE(tracker.IsProcessed(3));
  EXPECT_FALSE(tracker.IsProcessed(2));
  tracker.MarkProcessed(0);
  EXPECT_EQ(tracker.checkpoint(), 1);
  tracker.MarkProcessed(2);
  EXPECT_EQ(tracker.checkpoint(), 3);
  EXPECT_EQ(tracker.pending_above_checkpoint(), 0u);
  tracker.MarkProcessed(2);  // duplicate
  EXPECT_EQ(tracker.checkpoint(), 3);
}

TEST(R6LocalCheckpoint, EngineCheckpointWaitsForTheGap) {
  MemDisk disk;
  auto replica = OpenEngine(&disk);
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("a", 0, 1, 1, "{}")).ok());
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("b", 2, 1, 1, "{}")).ok());
  EXPECT_EQ(replica->local_checkpoint(), 0);
  EXPECT_EQ(replica->max_seq_no(), 2);
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("c", 1, 1, 1, "{}")).ok());
  EXPECT_EQ(replica->local_checkpoint(), 2);
}

TEST(R6GlobalCheckpoint, OnlyAdvancesAndIsCappedAtLocalCheckpoint) {
  MemDisk disk;
  auto replica = OpenEngine(&disk);
  for (int s = 0; s < 5; ++s) {
    ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("a", s, 1, s + 1, "{}")).ok());
  }
  EXPECT_EQ(replica->global_checkpoint(), -1);
  replica->UpdateGlobalCheckpoint(2);
  EXPECT_EQ(replica->global_checkpoint(), 2);
  replica->UpdateGlobalCheckpoint(1);
  EXPECT_EQ(replica->global_checkpoint(), 2);
  replica->UpdateGlobalCheckpoint(99);
  EXPECT_EQ(replica->global_checkpoint(), 4);
}

TEST(R6GlobalCheckpoint, SurvivesRestart) {
  MemDisk disk;
  {
    auto replica = OpenEngine(&disk);
    for (int s = 0; s < 3; ++s) {
      ASSERT_TRUE(
          replica->ApplyOnReplica(IndexOp("a", s, 1, s + 1, "{}")).ok());
    }
    replica->UpdateGlobalCheckpoint(1);
    ASSERT_TRUE(replica->Sync().ok());
  }
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->global_checkpoint(), 1);
  EXPECT_EQ(reopened->local_checkpoint(), 2);
}

TEST(R6MaxSeqNoOfUpdatesOrDeletes, AdvancesOnOverwritesAndDeletesOnly) {
  MemDisk disk;
  auto primary = OpenPrimary(&disk);
  ASSERT_TRUE(
      primary->PrimaryWrite(IndexRequest("1", "{}")).ok());  // seq 0, a create
  EXPECT_EQ(primary->max_seq_no_of_updates_or_deletes(), -1);
  ASSERT_TRUE(
      primary->PrimaryWrite(IndexRequest("1", "{}")).ok());  // seq 1, an update
  EXPECT_EQ(primary->max_seq_no_of_updates_or_deletes(), 1);
  ASSERT_TRUE(
      primary->PrimaryWrite(IndexRequest("2", "{}")).ok());  // seq 2, a create
  EXPECT_EQ(primary->max_seq_no_of_updates_or_deletes(), 1);
  ASSERT_TRUE(primary->PrimaryWrite(DeleteRequest("2")).ok());  // seq 3
  EXPECT_EQ(primary->max_seq_no_of_updates_or_deletes(), 3);
  primary->AdvanceMaxSeqNoOfUpdatesOrDeletes(10);
  primary->AdvanceMaxSeqNoOfUpdatesOrDeletes(5);
  EXPECT_EQ(primary->max_seq_no_of_updates_or_deletes(), 10);
}

}  // namespace
}  // namespace seqsim::testing
