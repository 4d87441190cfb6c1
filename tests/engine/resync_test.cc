// R7 (resync, trim, gap filling on promotion) and R9 (retained ops, snapshot
// recovery).
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

void Apply(ShardEngine& engine, const pb::Operation& op) {
  absl::StatusOr<ApplyOutcome> outcome = engine.ApplyOnReplica(op);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
}

// Same documents (tombstones included), checkpoints and term.
void ExpectSameCopy(const ShardEngine& a, const ShardEngine& b) {
  auto docs_a = a.AllDocs();
  auto docs_b = b.AllDocs();
  ASSERT_EQ(docs_a.size(), docs_b.size());
  for (size_t i = 0; i < docs_a.size(); ++i) {
    EXPECT_EQ(docs_a[i].first, docs_b[i].first);
    EXPECT_EQ(docs_a[i].second.source, docs_b[i].second.source)
        << docs_a[i].first;
    EXPECT_EQ(docs_a[i].second.version, docs_b[i].second.version)
        << docs_a[i].first;
    EXPECT_EQ(docs_a[i].second.seq_no, docs_b[i].second.seq_no)
        << docs_a[i].first;
    EXPECT_EQ(docs_a[i].second.term, docs_b[i].second.term) << docs_a[i].first;
    EXPECT_EQ(docs_a[i].second.deleted, docs_b[i].second.deleted)
        << docs_a[i].first;
  }
  EXPECT_EQ(a.local_checkpoint(), b.local_checkpoint());
  EXPECT_EQ(a.max_seq_no(), b.max_seq_no());
  EXPECT_EQ(a.doc_count(), b.doc_count());
}

TEST(R7Resync, OperationsAboveAreInSeqNoOrderWithTheirTerms) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  Apply(*replica, IndexOp("b", 2, 1, 1, "{}"));
  Apply(*replica, IndexOp("a", 0, 1, 1, "{}"));
  Apply(*replica, DeleteOp("a", 1, 1, 2));
  auto ops = replica->OperationsAbove(0);
  ASSERT_TRUE(ops.ok());
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[0].seq_no(), 1);
  EXPECT_EQ((*ops)[0].type(), pb::OP_DELETE);
  EXPECT_EQ((*ops)[1].seq_no(), 2);
  EXPECT_TRUE(replica->HasOperationsAbove(-1));
}

TEST(R7Trim, DropsOlderTermOperationsAboveBoundAndRollsDocumentsBack) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  Apply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})"));
  Apply(*replica, IndexOp("1", 1, 1, 2, R"({"v":2})"));
  Apply(*replica,
        IndexOp("1", 2, 1, 3, R"({"v":3})"));  // never reached the new primary
  Apply(*replica, DeleteOp("2", 3, 1, 1));     // neither did this
  replica->UpdateGlobalCheckpoint(0);
  // The new primary (term 2) had ops up to seq_no 1.
  ASSERT_TRUE(replica->CheckAndAdvanceTerm(2).ok());
  ASSERT_TRUE(replica->TrimOperationsAbove(1, 2).ok());
  const StoredDoc* doc = replica->Get("1");
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->source, R"({"v":2})");
  EXPECT_EQ(doc->version, 2);
  EXPECT_EQ(doc->seq_no, 1);
  EXPECT_EQ(replica->GetIncludingTombstone("2"), nullptr);
  EXPECT_EQ(replica->local_checkpoint(), 1);
  EXPECT_EQ(replica->max_seq_no(), 1);
  EXPECT_EQ(replica->retained_ops(), 2);
  // The trimmed seq_nos can be filled again by the new primary.
  EXPECT_EQ(*replica->ApplyOnReplica(IndexOp("3", 2, 2, 1, "{}")),
            ApplyOutcome::kApplied);
}

TEST(R7Trim, KeepsOperationsOfTheNewTerm) {
  sim::SimDisk disk;
  auto replica = OpenEngine(&disk);
  Apply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})"));
  Apply(*replica,
        IndexOp("1", 1, 2, 2, R"({"v":2})"));    // resynced under term 2
  Apply(*replica, IndexOp("2", 2, 1, 1, "{}"));  // stale leftover from term 1
  ASSERT_TRUE(replica->TrimOperationsAbove(0, 2).ok());
  EXPECT_EQ(replica->Get("1")->source, R"({"v":2})");
  EXPECT_EQ(replica->Get("2"), nullptr);
  EXPECT_EQ(replica->local_checkpoint(), 1);
}

TEST(R7Trim, TrimmedStateSurvivesRestart) {
  sim::SimDisk disk;
  {
    auto replica = OpenEngine(&disk);
    ASSERT_TRUE(replica->CheckAndAdvanceTerm(1).ok());
    Apply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})"));
    Apply(*replica, IndexOp("1", 1, 1, 2, R"({"v":2})"));
    ASSERT_TRUE(replica->CheckAndAdvanceTerm(2).ok());
    ASSERT_TRUE(replica->TrimOperationsAbove(0, 2).ok());
    Apply(*replica, IndexOp("9", 1, 2, 1, "{}"));
    ASSERT_TRUE(replica->Sync().ok());
  }
  disk.Crash();
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->term(), 2);
  EXPECT_EQ(reopened->Get("1")->source, R"({"v":1})");
  EXPECT_NE(reopened->Get("9"), nullptr);
  EXPECT_EQ(reopened->local_checkpoint(), 1);
  EXPECT_EQ(reopened->retained_ops(), 2);
}

TEST(R7Trim, RollsBackToStateWhoseHistoryWasDiscarded) {
  sim::SimDisk disk;
  EngineOptions options = Options();
  options.retain_ops_below_global_checkpoint = 0;
  auto replica = OpenEngine(&disk, options);
  Apply(*replica, IndexOp("1", 0, 1, 1, R"({"v":1})"));
  Apply(*replica, IndexOp("2", 1, 1, 1, R"({"w":1})"));
  Apply(*replica, DeleteOp("2", 2, 1, 2));
  replica->UpdateGlobalCheckpoint(2);  // discards seq_no 0..2 from the history
  EXPECT_EQ(replica->retained_ops(), 0);
  Apply(*replica, IndexOp("1", 3, 1, 2, R"({"v":2})"));
  Apply(*replica, IndexOp("2", 4, 1, 3, R"({"w":2})"));
  ASSERT_TRUE(replica->TrimOperationsAbove(2, 2).ok());
  ASSERT_NE(replica->Get("1"), nullptr);
  EXPECT_EQ(replica->Get("1")->source, R"({"v":1})");
  EXPECT_EQ(replica->Get("1")->seq_no, 0);
  EXPECT_EQ(replica->Get("2"), nullptr);
  EXPECT_EQ(replica->GetIncludingTombstone("2")->seq_no, 2);
  // The rolled-back state and what it rests on survive a restart.
  replica.reset();
  auto reopened = OpenEngine(&disk, options);
  EXPECT_EQ(reopened->Get("1")->source, R"({"v":1})");
  EXPECT_EQ(reopened->local_checkpoint(), 2);
  Apply(*reopened, IndexOp("1", 3, 2, 2, R"({"v":3})"));
  ASSERT_TRUE(reopened->TrimOperationsAbove(2, 3).ok());
  EXPECT_EQ(reopened->Get("1")->source, R"({"v":1})");
}

TEST(R7FillGaps, NewPrimaryFillsEveryGapWithNoOpsUnderItsTerm) {
  sim::SimDisk disk;
  auto promoted = OpenEngine(&disk);
  Apply(*promoted, IndexOp("a", 0, 1, 1, "{}"));
  Apply(*promoted, IndexOp("b", 2, 1, 1, "{}"));
  Apply(*promoted, IndexOp("c", 5, 1, 1, "{}"));
  ASSERT_TRUE(promoted->CheckAndAdvanceTerm(2).ok());
  auto noops = promoted->FillGapsWithNoOps();
  ASSERT_TRUE(noops.ok());
  std::vector<int64_t> seq_nos;
  for (const pb::Operation& op : *noops) {
    EXPECT_EQ(op.type(), pb::OP_NOOP);
    EXPECT_EQ(op.primary_term(), 2);
    seq_nos.push_back(op.seq_no());
  }
  EXPECT_EQ(seq_nos, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(promoted->local_checkpoint(), 5);
  // The next write continues above max_seq_no.
  auto next = promoted->PrimaryWrite(IndexRequest("d", "{}"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->op.seq_no(), 6);
  EXPECT_EQ(next->op.primary_term(), 2);
}

TEST(R9Recovery, RetainedOperationsBringACopyUpToDate) {
  sim::SimDisk primary_disk;
  sim::SimDisk replica_disk;
  auto primary = OpenPrimary(&primary_disk);
  auto replica = OpenEngine(&replica_disk);
  for (int i = 0; i < 20; ++i) {
    auto result = primary->PrimaryWrite(
        i % 5 == 4 ? DeleteRequest(std::to_string(i % 3))
                   : IndexRequest(std::to_string(i % 3),
                                  "{\"i\":" + std::to_string(i) + "}"));
    ASSERT_TRUE(result.ok());
    if (i < 8) Apply(*replica, result->op);
  }
  ASSERT_TRUE(primary->HasOperationsAbove(replica->local_checkpoint()));
  auto ops = primary->OperationsAbove(replica->local_checkpoint());
  ASSERT_TRUE(ops.ok());
  EXPECT_EQ(ops->size(), 12u);
  for (const pb::Operation& op : *ops) Apply(*replica, op);
  ExpectSameCopy(*primary, *replica);
}

TEST(R9Recovery, DiscardedHistoryForcesAFullCopy) {
  sim::SimDisk disk;
  EngineOptions options = Options();
  options.retain_ops_below_global_checkpoint = 2;
  auto primary = OpenEngine(&disk, options);
  primary->AdvanceTerm(1);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(primary->PrimaryWrite(IndexRequest("a", "{}")).ok());
  primary->UpdateGlobalCheckpoint(8);  // discards seq_no <= 6
  EXPECT_EQ(primary->retained_ops(), 3);
  EXPECT_TRUE(primary->HasOperationsAbove(6));
  EXPECT_FALSE(primary->HasOperationsAbove(5));
  EXPECT_FALSE(primary->OperationsAbove(-1).ok());
  EXPECT_EQ(primary->OperationsAbove(6)->size(), 3u);
}

TEST(R9Recovery, SnapshotInstallThenOperationsMatchesThePrimary) {
  sim::SimDisk primary_disk;
  sim::SimDisk target_disk;
  EngineOptions options = Options();
  options.retain_ops_below_global_checkpoint = 0;
  auto primary = OpenEngine(&primary_disk, options);
  primary->AdvanceTerm(3);
  for (int i = 0; i < 30; ++i) {
    std::string id = std::to_string(i % 4);
    ASSERT_TRUE(
        primary
            ->PrimaryWrite(
                i % 7 == 6
                    ? DeleteRequest(id)
                    : IndexRequest(id, "{\"i\":" + std::to_string(i) + "}"))
            .ok());
  }
  primary->UpdateGlobalCheckpoint(29);
  auto target = OpenEngine(&target_disk);
  ASSERT_TRUE(target->ApplyOnReplica(IndexOp("stale", 0, 1, 1, "{}")).ok());
  ASSERT_FALSE(primary->HasOperationsAbove(target->local_checkpoint()));
  // Full copy, then writes continue and reach the target as operations.
  const SeqNo snapshot_checkpoint = primary->local_checkpoint();
  ASSERT_TRUE(target
                  ->InstallSnapshot(primary->Snapshot(), primary->max_seq_no(),
                                    primary->local_checkpoint(),
                                    primary->global_checkpoint(),
                                    primary->term())
                  .ok());
  for (int i = 0; i < 5; ++i) {
    auto result =
        primary->PrimaryWrite(IndexRequest("new" + std::to_string(i), "{}"));
    ASSERT_TRUE(result.ok());
  }
  auto ops = primary->OperationsAbove(snapshot_checkpoint);
  ASSERT_TRUE(ops.ok());
  for (const pb::Operation& op : *ops) Apply(*target, op);
  ExpectSameCopy(*primary, *target);
  EXPECT_EQ(target->term(), 3);
  EXPECT_EQ(target->GetIncludingTombstone("stale"), nullptr);
  EXPECT_FALSE(target->HasOperationsAbove(snapshot_checkpoint - 1));
  // And the installed copy survives a restart (the translog was rewritten).
  ASSERT_TRUE(target->Sync().ok());
  target.reset();
  target_disk.Crash();
  auto reopened = OpenEngine(&target_disk);
  ExpectSameCopy(*primary, *reopened);
  EXPECT_EQ(reopened->global_checkpoint(), 29);
}

}  // namespace
}  // namespace seqsim::testing
