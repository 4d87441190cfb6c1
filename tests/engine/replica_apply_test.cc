// R4 (fencing on a replica) and R5 (out-of-order apply on a replica).
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

ApplyOutcome MustApply(ShardEngine& engine, const pb::Operation& op) {
  absl::StatusOr<ApplyOutcome> outcome = engine.ApplyOnReplica(op);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return outcome.ok() ? *outcome : ApplyOutcome::kAlreadyProcessed;
}

TEST(R4Fencing, OlderTermIsRejectedWithExactReason) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  ASSERT_TRUE(replica->CheckAndAdvanceTerm(3).ok());
  absl::Status status = replica->CheckAndAdvanceTerm(2);
  ExpectEsError(status, "illegal_state_exception", 409,
                "operation primary term [2] is too old (current [3])");
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(replica->term(), 3);
}

TEST(R4Fencing, NewerTermIsAdoptedAndPersisted) {
  sim::SimDisk disk;
  {
    auto replica = OpenEngine(&disk);
    ASSERT_TRUE(replica->CheckAndAdvanceTerm(1).ok());
    ASSERT_TRUE(replica->CheckAndAdvanceTerm(5).ok());
    EXPECT_EQ(replica->term(), 5);
    EXPECT_TRUE(replica->CheckAndAdvanceTerm(5).ok());
    ASSERT_TRUE(replica->Sync().ok());
  }
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->term(), 5);
}

TEST(R4Fencing, UnsafeNoFencingAcceptsOlderTerms) {
  sim::SimDisk disk;
  EngineOptions options = Options();
  options.unsafe_no_fencing = true;
  auto replica = OpenEngine(&disk, options);
  ASSERT_TRUE(replica->CheckAndAdvanceTerm(3).ok());
  EXPECT_TRUE(replica->CheckAndAdvanceTerm(1).ok());
  EXPECT_EQ(replica->term(), 3);
}

TEST(R5ReplicaApply, OutOfOrderOperationsEndAtTheNewest) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 2, 1, 3, R"({"v":3})")),
            ApplyOutcome::kApplied);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})")),
            ApplyOutcome::kStale);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 1, 1, 2, R"({"v":2})")),
            ApplyOutcome::kStale);
  const StoredDoc* doc = replica->Get("1");
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->source, R"({"v":3})");
  EXPECT_EQ(doc->version, 3);
  EXPECT_EQ(doc->seq_no, 2);
  EXPECT_EQ(replica->local_checkpoint(), 2);
}

TEST(R5ReplicaApply, OlderIndexAfterDeleteDoesNotResurrect) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  EXPECT_EQ(MustApply(*replica, DeleteOp("1", 1, 1, 2)),
            ApplyOutcome::kApplied);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 1, 1, "{}")),
            ApplyOutcome::kStale);
  EXPECT_EQ(replica->Get("1"), nullptr);
  const StoredDoc* tombstone = replica->GetIncludingTombstone("1");
  ASSERT_NE(tombstone, nullptr);
  EXPECT_TRUE(tombstone->deleted);
  EXPECT_EQ(tombstone->seq_no, 1);
  EXPECT_EQ(tombstone->version, 2);
  EXPECT_EQ(replica->doc_count(), 0);
}

TEST(R5ReplicaApply, StaleOperationIsRecordedAndMarkedProcessed) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  MustApply(*replica, IndexOp("1", 1, 1, 2, "{}"));
  EXPECT_EQ(replica->local_checkpoint(), -1);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 1, 1, "{}")),
            ApplyOutcome::kStale);
  EXPECT_EQ(replica->local_checkpoint(), 1);
  EXPECT_EQ(replica->retained_ops(), 2);
  auto ops = replica->OperationsAbove(-1);
  ASSERT_TRUE(ops.ok());
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[0].seq_no(), 0);
  EXPECT_TRUE(replica->NeedsSync());
}

TEST(R5ReplicaApply, AlreadyProcessedSeqNoRecordsNothing) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  MustApply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})"));
  ASSERT_TRUE(replica->Sync().ok());
  const size_t bytes = disk.FileSize(kTranslog);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})")),
            ApplyOutcome::kAlreadyProcessed);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 2, 1, R"({"other":1})")),
            ApplyOutcome::kAlreadyProcessed);
  EXPECT_EQ(disk.FileSize(kTranslog), bytes);
  EXPECT_FALSE(replica->NeedsSync());
  EXPECT_EQ(replica->retained_ops(), 1);
  EXPECT_EQ(replica->Get("1")->source, R"({"v":1})");
}

TEST(R5ReplicaApply, SameSeqNoHigherTermIsNewer) {
  // After a trim forgot seq_no 3 from term 1, the resync brings seq_no 3 from
  // term 2.
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  for (int s = 0; s <= 2; ++s)
    MustApply(*replica, IndexOp("a", s, 1, s + 1, "{}"));
  MustApply(*replica, IndexOp("1", 3, 1, 1, R"({"old":1})"));
  ASSERT_TRUE(replica->TrimOperationsAbove(2, 2).ok());
  EXPECT_EQ(replica->Get("1"), nullptr);
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 3, 2, 1, R"({"new":1})")),
            ApplyOutcome::kApplied);
  EXPECT_EQ(replica->Get("1")->source, R"({"new":1})");
  EXPECT_EQ(replica->Get("1")->term, 2);
}

TEST(R5ReplicaApply, NoOpIsProcessedWithoutDocument) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  MustApply(*replica, IndexOp("1", 1, 1, 1, "{}"));
  EXPECT_EQ(MustApply(*replica, NoOp(0, 1)), ApplyOutcome::kNoOp);
  EXPECT_EQ(replica->local_checkpoint(), 1);
  EXPECT_EQ(MustApply(*replica, NoOp(0, 1)), ApplyOutcome::kAlreadyProcessed);
  EXPECT_EQ(replica->doc_count(), 1);
}

TEST(R5ReplicaApply, UnsafeNoSeqnoCheckLetsAStaleOperationOverwrite) {
  sim::SimDisk disk;
  EngineOptions options = Options();
  options.unsafe_no_seqno_check = true;
  auto replica = OpenEngine(&disk, options);
  MustApply(*replica, DeleteOp("1", 1, 1, 2));
  EXPECT_EQ(MustApply(*replica, IndexOp("1", 0, 1, 1, "{}")),
            ApplyOutcome::kApplied);
  ASSERT_NE(replica->Get("1"), nullptr);  // resurrected: the bug R5 prevents
}

TEST(R5ReplicaApply, OperationWithoutSeqNoIsRejected) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  EXPECT_FALSE(replica->ApplyOnReplica(IndexOp("1", -2, 1, 1, "{}")).ok());
  EXPECT_EQ(replica->max_seq_no(), -1);
}

}  // namespace
}  // namespace seqsim::testing
