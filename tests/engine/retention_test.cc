// Bounded memory (issue 17): history retention (R9) and tombstone GC (R5) in
// the shard engine, and retention leases in the ReplicationTracker.
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "node/engine/replication_tracker.h"
#include "node/engine/shard_engine.h"
#include "sim/world/sim_disk.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim {
namespace {

using testing::DeleteOp;
using testing::DeleteRequest;
using testing::IndexOp;
using testing::IndexRequest;
using testing::OpenEngine;
using testing::OpenPrimary;

ApplyOutcome Apply(ShardEngine& engine, const pb::Operation& op) {
  absl::StatusOr<ApplyOutcome> outcome = engine.ApplyOnReplica(op);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return outcome.ok() ? *outcome : ApplyOutcome::kStale;
}

// ---- history retention
// ------------------------------------------------------------------------------

TEST(R9Retention, DropsHistoryBelowTheGlobalCheckpointAndTheRetainedSeqNo) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  for (int i = 0; i < 10; ++i) {
    Apply(*replica, IndexOp(absl::StrCat("d", i), i, 1, 1, R"({"n":1})"));
  }
  replica->UpdateGlobalCheckpoint(7);
  // The default keeps everything.
  EXPECT_EQ(replica->retained_ops(), 10);
  // A lease at 4: seq_no 4.. stay.
  replica->SetRetainedSeqNo(4);
  EXPECT_EQ(replica->retained_ops(), 6);
  EXPECT_TRUE(replica->HasOperationsAbove(3));
  EXPECT_FALSE(replica->HasOperationsAbove(2));
  // No lease: everything above the global checkpoint stays.
  replica->SetRetainedSeqNo(std::numeric_limits<SeqNo>::max());
  EXPECT_EQ(replica->retained_ops(), 2);
  EXPECT_TRUE(replica->HasOperationsAbove(7));
  EXPECT_FALSE(replica->HasOperationsAbove(6));
  // The documents themselves are all still there.
  EXPECT_EQ(replica->doc_count(), 10);
}

TEST(R9Retention, TrimRollsBackToAStateWhoseOperationWasDropped) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  replica->SetRetainedSeqNo(std::numeric_limits<SeqNo>::max());
  Apply(*replica, IndexOp("a", 0, 1, 1, R"({"v":1})"));
  Apply(*replica, IndexOp("b", 1, 1, 1, R"({"w":1})"));
  replica->UpdateGlobalCheckpoint(1);  // drops seq_no 0 and 1
  EXPECT_EQ(replica->retained_ops(), 0);
  EXPECT_EQ(replica->retained_base_ops(), 0);
  // Unacknowledged operations of term 1 that a term-2 primary never had.
  Apply(*replica, IndexOp("a", 2, 1, 2, R"({"v":2})"));
  Apply(*replica, DeleteOp("b", 3, 1, 2));
  EXPECT_EQ(replica->retained_base_ops(), 2);
  ASSERT_TRUE(replica->TrimOperationsAbove(1, 2).ok());
  ASSERT_NE(replica->Get("a"), nullptr);
  EXPECT_EQ(replica->Get("a")->source, R"({"v":1})");
  ASSERT_NE(replica->Get("b"), nullptr);
  EXPECT_EQ(replica->Get("b")->source, R"({"w":1})");
  EXPECT_EQ(replica->local_checkpoint(), 1);
  // The same after a restart (the trim rewrote the translog).
  disk.Crash();
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->Get("a")->source, R"({"v":1})");
  EXPECT_EQ(reopened->Get("b")->source, R"({"w":1})");
}

TEST(R9Retention, KeptStatesForTrimsGoOnceTheirNewerOperationIsDropped) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  replica->SetRetainedSeqNo(std::numeric_limits<SeqNo>::max());
  // Updates of the same documents, over and over: what is kept for trims
  // stays bounded by the retained history.
  SeqNo seq_no = 0;
  for (int round = 0; round < 50; ++round) {
    for (int d = 0; d < 5; ++d) {
      Apply(*replica, IndexOp(absl::StrCat("d", d), seq_no, 1, round + 1,
                              absl::StrCat(R"({"r":)", round, "}")));
      ++seq_no;
    }
    replica->UpdateGlobalCheckpoint(seq_no - 3);
  }
  EXPECT_LE(replica->retained_ops(), 3);
  EXPECT_LE(replica->retained_base_ops(), 3);
  replica->UpdateGlobalCheckpoint(seq_no - 1);
  EXPECT_EQ(replica->retained_ops(), 0);
  EXPECT_EQ(replica->retained_base_ops(), 0);
}

// ---- tombstone GC
// -----------------------------------------------------------------------------------

TEST(R5TombstoneGc, DropsOnlyTombstonesAtOrBelowTheGlobalCheckpoint) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  Apply(*replica, IndexOp("a", 0, 1, 1, R"({"v":1})"));
  Apply(*replica, DeleteOp("a", 1, 1, 2));
  Apply(*replica, IndexOp("b", 2, 1, 1, R"({"v":1})"));
  Apply(*replica, DeleteOp("b", 3, 1, 2));
  replica->UpdateGlobalCheckpoint(2);
  EXPECT_EQ(replica->tombstone_count(), 2);
  // gc_deletes has passed for both deletes, but only "a"'s is below the gcp.
  EXPECT_EQ(replica->PruneTombstones(3), 1);
  EXPECT_EQ(replica->GetIncludingTombstone("a"), nullptr);
  ASSERT_NE(replica->GetIncludingTombstone("b"), nullptr);
  EXPECT_TRUE(replica->GetIncludingTombstone("b")->deleted);
  replica->UpdateGlobalCheckpoint(3);
  EXPECT_EQ(replica->PruneTombstones(3), 1);
  EXPECT_EQ(replica->tombstone_count(), 0);
}

TEST(R5TombstoneGc, AnOlderOperationArrivingAfterTheGcNeverResurrects) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  // The delete (seq_no 2) arrives before the older index of the same
  // document (seq_no 1): R5 keeps the tombstone's seq_no.
  Apply(*replica, IndexOp("x", 0, 1, 1, R"({"v":0})"));
  Apply(*replica, DeleteOp("a", 2, 1, 2));
  Apply(*replica, IndexOp("a", 1, 1, 1, R"({"v":1})"));
  replica->UpdateGlobalCheckpoint(2);
  EXPECT_EQ(replica->PruneTombstones(2), 1);
  // Duplicates of the older operation (a retried replicate, a resync, a
  // recovery batch) are refused as processed before the document is looked
  // up.
  EXPECT_EQ(Apply(*replica, IndexOp("a", 1, 1, 1, R"({"v":1})")),
            ApplyOutcome::kAlreadyProcessed);
  EXPECT_EQ(replica->Get("a"), nullptr);
  // A newer one applies, as after any delete.
  EXPECT_EQ(Apply(*replica, IndexOp("a", 3, 1, 1, R"({"v":3})")),
            ApplyOutcome::kApplied);
  ASSERT_NE(replica->Get("a"), nullptr);
}

TEST(R5TombstoneGc, PlantedEarlyGcDropsAboveTheCheckpointAndResurrects) {
  sim::SimDisk disk;
  EngineOptions options = testing::Options();
  options.unsafe_early_gc = true;
  auto replica = OpenEngine(&disk, options);
  Apply(*replica, DeleteOp("a", 2, 1, 2));  // seq_no 0 and 1 still in flight
  EXPECT_EQ(replica->PruneTombstones(2), 1);
  EXPECT_EQ(Apply(*replica, IndexOp("a", 1, 1, 1, R"({"v":1})")),
            ApplyOutcome::kApplied);
  EXPECT_NE(replica->Get("a"), nullptr);  // the deleted document is back
}

TEST(R5TombstoneGc, AWriteAfterTheGcStartsAtVersionOne) {
  sim::SimDisk disk;
  auto primary = OpenPrimary(&disk);
  ASSERT_TRUE(primary->PrimaryWrite(IndexRequest("a", R"({"v":1})")).ok());
  ASSERT_TRUE(primary->PrimaryWrite(DeleteRequest("a")).ok());
  primary->UpdateGlobalCheckpoint(1);
  absl::StatusOr<WriteResult> again =
      primary->PrimaryWrite(IndexRequest("a", R"({"v":2})"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->op.version(), 3);  // the tombstone kept version 2
  ASSERT_TRUE(primary->PrimaryWrite(DeleteRequest("a")).ok());
  primary->UpdateGlobalCheckpoint(3);
  EXPECT_EQ(primary->PruneTombstones(3), 1);
  absl::StatusOr<WriteResult> fresh =
      primary->PrimaryWrite(IndexRequest("a", R"({"v":3})"));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->result, "created");
  EXPECT_EQ(fresh->op.version(), 1);  // as Elasticsearch after gc_deletes
}

// ---- retention leases
// -------------------------------------------------------------------------------

TEST(R9RetentionLease, EachTrackedCopyRetainsFromWhatItSurelyHolds) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-1", "node-2", "node-3"});
  tracker.UpdateLocalCheckpoint("node-1", 20);
  tracker.UpdateLocalCheckpoint("node-2", 20);
  tracker.UpdateLocalCheckpoint("node-3", 12);
  tracker.UpdateReportedGlobalCheckpoint("node-2", 9);
  const absl::Duration period = absl::Hours(12);
  // Global checkpoint 12; node-2's lease is at its reported gcp + 1 (10),
  // node-3's at its local checkpoint + 1 (13, no gcp reported yet).
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(1), period), 10);
  ASSERT_EQ(tracker.leases().size(), 2u);
  EXPECT_EQ(tracker.leases()[0].holder, "node-2");
  EXPECT_EQ(tracker.leases()[0].retaining_seq_no, 10);
  EXPECT_EQ(tracker.leases()[1].retaining_seq_no, 13);
  tracker.UpdateReportedGlobalCheckpoint("node-2", 12);
  tracker.UpdateLocalCheckpoint("node-3", 20);
  tracker.UpdateReportedGlobalCheckpoint("node-3", 20);
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(2), period), 13);
}

TEST(R9RetentionLease, ACopyThatLeftIsRetainedForOnePeriodOnly) {
  ReplicationTracker tracker("node-1");
  tracker.SetInSync({"node-1", "node-2"});
  tracker.UpdateLocalCheckpoint("node-1", 5);
  tracker.UpdateLocalCheckpoint("node-2", 5);
  tracker.UpdateReportedGlobalCheckpoint("node-2", 5);
  const absl::Duration period = absl::Seconds(10);
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(1), period), 6);
  tracker.SetInSync({"node-1"});  // node-2 fails and leaves
  tracker.UpdateLocalCheckpoint("node-1", 50);
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(5), period), 6);
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(11), period), 6);
  // Not renewed for more than the period: gone.
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(12), period), 51);
  EXPECT_TRUE(tracker.leases().empty());
}

TEST(R9RetentionLease, NeverMovesBackAndAnInheritedLeaseExpires) {
  ReplicationTracker tracker("node-2");
  tracker.SetInSync({"node-2"});
  tracker.UpdateLocalCheckpoint("node-2", 30);
  const absl::Duration period = absl::Seconds(10);
  tracker.AddLease("inherited at promotion", 21, absl::Seconds(0));
  tracker.AddLease("inherited at promotion", 15, absl::Seconds(1));
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(2), period), 21);
  tracker.AddTracking("node-3", 25);  // a recovering copy
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(3), period), 21);
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(12), period), 26);
  tracker.UpdateLocalCheckpoint("node-3", 10);  // a regression is ignored
  EXPECT_EQ(tracker.RenewLeases(absl::Seconds(13), period), 26);
}

}  // namespace
}  // namespace seqsim
