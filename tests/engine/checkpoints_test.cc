// R6: local checkpoint with gaps, global checkpoint,
// max_seq_no_of_updates_or_deletes.
#include <set>
#include <vector>

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
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("a", 0, 1, 1, "{}")).ok());
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("b", 2, 1, 1, "{}")).ok());
  EXPECT_EQ(replica->local_checkpoint(), 0);
  EXPECT_EQ(replica->max_seq_no(), 2);
  ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("c", 1, 1, 1, "{}")).ok());
  EXPECT_EQ(replica->local_checkpoint(), 2);
}

TEST(R6GlobalCheckpoint, OnlyAdvancesAndIsCappedAtLocalCheckpoint) {
  sim::SimDisk disk;
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
  sim::SimDisk disk;
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
  sim::SimDisk disk;
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

namespace seqsim::testing {
namespace {

// The tracker against a std::set reference, with near and absurdly far seq_nos.
TEST(R6LocalCheckpoint, MatchesSetReferenceUnderRandomArrivals) {
  const int64_t far = (int64_t{1} << 22) + 100;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    uint64_t x = seed * 0x9E3779B97F4A7C15ull;
    auto next = [&x](uint64_t n) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      return (x >> 33) % n;
    };
    LocalCheckpointTracker tracker;
    std::set<int64_t> processed;
    bool filled = false;  // [3000, far - 50) processed, in order, at fill_at
    auto is_processed = [&](int64_t s) {
      return processed.contains(s) || (filled && s >= 3000 && s < far - 50);
    };
    std::vector<int64_t> seq_nos;
    for (int64_t s = 0; s < 3000; ++s) seq_nos.push_back(s);
    for (int64_t s = far - 50; s < far + 50; ++s) seq_nos.push_back(s);
    for (size_t i = seq_nos.size(); i > 1; --i) {
      std::swap(seq_nos[i - 1], seq_nos[next(i)]);
    }
    const size_t fill_at = next(seq_nos.size());
    int64_t expected = -1;
    for (size_t i = 0; i < seq_nos.size(); ++i) {
      if (i == fill_at) {
        for (int64_t s = 3000; s < far - 50; ++s) tracker.MarkProcessed(s);
        filled = true;
      }
      tracker.MarkProcessed(seq_nos[i]);
      tracker.MarkProcessed(seq_nos[i]);  // duplicates change nothing
      processed.insert(seq_nos[i]);
      while (is_processed(expected + 1)) ++expected;
      ASSERT_EQ(tracker.checkpoint(), expected)
          << "seed " << seed << " step " << i;
      const int64_t probe = seq_nos[next(seq_nos.size())];
      ASSERT_EQ(tracker.IsProcessed(probe), is_processed(probe))
          << "seed " << seed;
    }
    EXPECT_EQ(tracker.checkpoint(), far + 49);
    EXPECT_EQ(tracker.pending_above_checkpoint(), 0u);
    EXPECT_EQ(tracker.max_seq_no(), far + 49);
  }
}

}  // namespace
}  // namespace seqsim::testing
