// The Elasticsearch documentation's own examples, replayed against the engine.
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

// PUT /products/_doc/1567?if_seq_no=362&if_primary_term=2
TEST(R2EsExamples, CasWithIfSeqNo362AndPrimaryTerm2) {
  sim::SimDisk disk;
  auto primary = OpenPrimary(&disk, 2);
  for (int i = 0; i < 362; ++i) {
    ASSERT_TRUE(primary->PrimaryWrite(IndexRequest("other", "{}")).ok());
  }
  ASSERT_TRUE(
      primary->PrimaryWrite(IndexRequest("1567", R"({"product":"r2d2"})"))
          .ok());
  ASSERT_EQ(primary->Get("1567")->seq_no, 362);
  ASSERT_EQ(primary->Get("1567")->term, 2);

  auto ok = primary->PrimaryWrite(WithCas(
      IndexRequest("1567",
                   R"({"product":"r2d2","details":"A resourceful astromech"})"),
      362, 2));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->result, "updated");
  EXPECT_EQ(ok->op.seq_no(), 363);

  absl::Status conflict =
      primary
          ->PrimaryWrite(
              WithCas(IndexRequest("1567", R"({"product":"c3po"})"), 362, 2))
          .status();
  ExpectEsError(conflict, "version_conflict_engine_exception", 409,
                "[1567]: version conflict, required seqNo [362], primary term "
                "[2]. current "
                "document has seqNo [363] and primary term [2]");
}

// The movies example: PUT movies/_doc/109487 twice, then a CAS on the stale
// seq_no.
TEST(R1EsExamples, Movies109487VersionsSeqNosAndStaleCas) {
  sim::SimDisk disk;
  EngineOptions options = Options();
  options.index = "movies";
  options.index_uuid = "wXG1nDv9QWmH3P2ZHRa9dQ";
  auto primary = OpenEngine(&disk, options);
  primary->AdvanceTerm(1);
  pb::WriteRequest index = IndexRequest("109487", R"({"title":"Inception"})");
  index.set_index("movies");

  auto first = primary->PrimaryWrite(index);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->result, "created");
  const StoredDoc* doc = primary->Get("109487");  // GET movies/_doc/109487
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->version, 1);
  EXPECT_EQ(doc->seq_no, 0);
  EXPECT_EQ(doc->term, 1);
  EXPECT_EQ(doc->source, R"({"title":"Inception"})");

  auto second = primary->PrimaryWrite(index);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->result, "updated");
  EXPECT_EQ(second->op.version(), 2);
  EXPECT_EQ(second->op.seq_no(), 1);
  EXPECT_EQ(second->op.primary_term(), 1);

  absl::Status stale = primary->PrimaryWrite(WithCas(index, 0, 1)).status();
  const std::string reason =
      "[109487]: version conflict, required seqNo [0], primary term [1]. "
      "current document "
      "has seqNo [1] and primary term [1]";
  ExpectEsError(stale, "version_conflict_engine_exception", 409, reason);
  pb::Error error =
      ToError(stale, options.index, options.index_uuid, options.shard);
  EXPECT_EQ(error.status(), 409);
  EXPECT_EQ(error.type(), "version_conflict_engine_exception");
  EXPECT_EQ(error.reason(), reason);
  EXPECT_EQ(error.index(), "movies");
  EXPECT_EQ(error.shard(), "0");
  EXPECT_EQ(primary->Get("109487")->version, 2);
}

}  // namespace
}  // namespace seqsim::testing
