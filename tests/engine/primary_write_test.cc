// R1 (stamping) and R2 (concurrency control on the primary), with
// Elasticsearch's exact errors (ES-SEMANTICS.md).
#include <limits>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "node/engine/json_source.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

constexpr char kConflict[] = "version_conflict_engine_exception";
constexpr char kValidation[] = "action_request_validation_exception";

WriteResult MustWrite(ShardEngine& engine, const pb::WriteRequest& request) {
  absl::StatusOr<WriteResult> result = engine.PrimaryWrite(request);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : WriteResult{};
}

TEST(R1Stamping, NewDocumentGetsVersionOneSeqNoZeroAndCurrentTerm) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk, 3);
  WriteResult result = MustWrite(*engine, IndexRequest("1", R"({"a":1})"));
  EXPECT_EQ(result.result, "created");
  EXPECT_EQ(result.op.seq_no(), 0);
  EXPECT_EQ(result.op.primary_term(), 3);
  EXPECT_EQ(result.op.version(), 1);
  EXPECT_TRUE(result.replicate);
  const StoredDoc* doc = engine->Get("1");
  ASSERT_NE(doc, nullptr);
  EXPECT_EQ(doc->source, R"({"a":1})");
  EXPECT_EQ(doc->version, 1);
  EXPECT_EQ(doc->seq_no, 0);
  EXPECT_EQ(doc->term, 3);
  EXPECT_EQ(engine->max_seq_no(), 0);
  EXPECT_EQ(engine->local_checkpoint(), 0);
}

TEST(R1Stamping, EveryIndexAndDeleteTakesNextSeqNoAndBumpsVersion) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  EXPECT_EQ(MustWrite(*engine, IndexRequest("1", "{}")).op.version(), 1);
  WriteResult second = MustWrite(*engine, IndexRequest("1", R"({"b":2})"));
  EXPECT_EQ(second.result, "updated");
  EXPECT_EQ(second.op.version(), 2);
  EXPECT_EQ(second.op.seq_no(), 1);
  MustWrite(*engine, IndexRequest("other", "{}"));
  WriteResult deleted = MustWrite(*engine, DeleteRequest("1"));
  EXPECT_EQ(deleted.result, "deleted");
  EXPECT_EQ(deleted.op.type(), pb::OP_DELETE);
  EXPECT_EQ(deleted.op.version(), 3);
  EXPECT_EQ(deleted.op.seq_no(), 3);
  EXPECT_EQ(engine->Get("1"), nullptr);
  EXPECT_EQ(engine->doc_count(), 1);
}

TEST(R1Stamping, DeleteOfMissingDocumentIsNotFoundButConsumesSeqNo) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  WriteResult result = MustWrite(*engine, DeleteRequest("ghost"));
  EXPECT_EQ(result.result, "not_found");
  EXPECT_EQ(result.op.version(), 1);
  EXPECT_EQ(result.op.seq_no(), 0);
  EXPECT_TRUE(result.replicate);
  EXPECT_EQ(engine->max_seq_no(), 0);
  // A second delete of the tombstone bumps its version.
  WriteResult again = MustWrite(*engine, DeleteRequest("ghost"));
  EXPECT_EQ(again.result, "not_found");
  EXPECT_EQ(again.op.version(), 2);
  EXPECT_EQ(again.op.seq_no(), 1);
}

TEST(R1Stamping, IndexAfterDeleteIsCreatedWithTombstoneVersionPlusOne) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, IndexRequest("1", "{}"));
  MustWrite(*engine, DeleteRequest("1"));
  WriteResult result = MustWrite(*engine, IndexRequest("1", "{}"));
  EXPECT_EQ(result.result, "created");
  EXPECT_EQ(result.op.version(), 3);
}

TEST(R2CompareAndSet, MatchingSeqNoAndTermSucceeds) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk, 2);
  MustWrite(*engine, IndexRequest("1", "{}"));
  WriteResult result =
      MustWrite(*engine, WithCas(IndexRequest("1", R"({"x":1})"), 0, 2));
  EXPECT_EQ(result.op.seq_no(), 1);
  EXPECT_EQ(result.op.version(), 2);
}

TEST(R2CompareAndSet, StaleSeqNoIs409WithExactReason) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk, 2);
  MustWrite(*engine, IndexRequest("1", "{}"));
  MustWrite(*engine, IndexRequest("1", "{}"));
  ExpectEsError(
      engine->PrimaryWrite(WithCas(IndexRequest("1", "{}"), 0, 2)).status(),
      kConflict, 409,
      "[1]: version conflict, required seqNo [0], primary term [2]. current "
      "document has seqNo [1] and primary term [2]");
  ExpectEsError(
      engine->PrimaryWrite(WithCas(IndexRequest("1", "{}"), 1, 1)).status(),
      kConflict, 409,
      "[1]: version conflict, required seqNo [1], primary term [1]. current "
      "document has seqNo [1] and primary term [2]");
  ExpectEsError(
      engine->PrimaryWrite(WithCas(DeleteRequest("1"), 0, 2)).status(),
      kConflict, 409,
      "[1]: version conflict, required seqNo [0], primary term [2]. current "
      "document has seqNo [1] and primary term [2]");
}

TEST(R2CompareAndSet, MissingOrDeletedDocumentIs409NoDocumentFound) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  const std::string reason =
      "[1]: version conflict, required seqNo [0], primary term [1]. but no "
      "document was "
      "found";
  ExpectEsError(
      engine->PrimaryWrite(WithCas(IndexRequest("1", "{}"), 0, 1)).status(),
      kConflict, 409, reason);
  MustWrite(*engine, IndexRequest("1", "{}"));
  MustWrite(*engine, DeleteRequest("1"));
  ExpectEsError(
      engine->PrimaryWrite(WithCas(IndexRequest("1", "{}"), 0, 1)).status(),
      kConflict, 409, reason);
}

TEST(R2Validation, IfSeqNoWithoutPrimaryTermIs400) {
  pb::WriteRequest request = IndexRequest("1", "{}");
  request.set_if_seq_no(5);
  ExpectEsError(
      ShardEngine::Validate(request), kValidation, 400,
      "Validation Failed: 1: ifSeqNo is set, but primary term is [0];");
}

TEST(R2Validation, PrimaryTermWithoutIfSeqNoIs400) {
  pb::WriteRequest request = IndexRequest("1", "{}");
  request.set_if_primary_term(4);
  ExpectEsError(
      ShardEngine::Validate(request), kValidation, 400,
      "Validation Failed: 1: ifSeqNo is unassigned, but primary term is [4];");
}

TEST(R2Validation, IfSeqNoWithVersionIs400CompareAndWriteCanNotUseVersioning) {
  pb::WriteRequest request = WithCas(IndexRequest("1", "{}"), 1, 1);
  request.set_version(3);
  request.set_version_type(pb::VERSION_EXTERNAL);
  ExpectEsError(ShardEngine::Validate(request), kValidation, 400,
                "Validation Failed: 1: compare and write operations can not "
                "use versioning;");
}

TEST(R2Validation, InternalVersionIs400AndMessagesAreNumbered) {
  pb::WriteRequest request = IndexRequest("1", "{}");
  request.set_version(2);
  ExpectEsError(ShardEngine::Validate(request), kValidation, 400,
                "Validation Failed: 1: internal versioning can not be used for "
                "optimistic "
                "concurrency control. Please use `if_seq_no` and "
                "`if_primary_term` instead;");
  request.set_if_seq_no(
      1);  // now also mixes if_seq_no with a version, without a term
  ExpectEsError(
      ShardEngine::Validate(request), kValidation, 400,
      "Validation Failed: 1: internal versioning can not be used for "
      "optimistic "
      "concurrency control. Please use `if_seq_no` and `if_primary_term` "
      "instead;2: compare and write operations can not use versioning;3: "
      "ifSeqNo is set, but primary term is [0];");
}

TEST(R2Validation, NegativeExternalVersionIs400IllegalVersionValue) {
  pb::WriteRequest request = IndexRequest("1", "{}");
  request.set_version(-5);
  request.set_version_type(pb::VERSION_EXTERNAL);
  ExpectEsError(ShardEngine::Validate(request), kValidation, 400,
                "Validation Failed: 1: illegal version value [-5] for version "
                "type [EXTERNAL];");
}

TEST(R2Validation, CreateWithExternalVersioningIs400) {
  pb::WriteRequest request = CreateRequest("1", "{}");
  request.set_version(5);
  request.set_version_type(pb::VERSION_EXTERNAL);
  ExpectEsError(ShardEngine::Validate(request), kValidation, 400,
                "Validation Failed: 1: create operations only support internal "
                "versioning. "
                "use index instead;");
}

TEST(R2Validation, CreateWithIfSeqNoIs400) {
  ExpectEsError(ShardEngine::Validate(WithCas(CreateRequest("1", "{}"), 0, 1)),
                kValidation, 400,
                "Validation Failed: 1: create operations do not support "
                "compare and set. use "
                "index instead;");
}

TEST(R2Validation, UpdateWithIfSeqNoAndRetryOnConflictIs400) {
  pb::WriteRequest request = WithCas(UpdateRequest("1", R"({"a":1})"), 0, 1);
  request.set_retry_on_conflict(3);
  ExpectEsError(
      ShardEngine::Validate(request), kValidation, 400,
      "Validation Failed: 1: compare and write operations can not be retried;");
}

TEST(R2Validation, RejectedRequestConsumesNoSeqNoAndChangesNothing) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, IndexRequest("1", R"({"v":1})"));
  ASSERT_TRUE(engine->Sync().ok());
  const size_t bytes = disk.FileSize(kTranslog);
  pb::WriteRequest bad_version = IndexRequest("1", R"({"v":2})");
  bad_version.set_version(7);
  EXPECT_FALSE(engine->PrimaryWrite(bad_version).ok());
  EXPECT_FALSE(
      engine->PrimaryWrite(WithCas(IndexRequest("1", R"({"v":2})"), 9, 1))
          .ok());
  EXPECT_FALSE(engine->PrimaryWrite(CreateRequest("1", R"({"v":2})")).ok());
  EXPECT_FALSE(engine->PrimaryWrite(IndexRequest("1", "not json")).ok());
  EXPECT_FALSE(
      engine->PrimaryWrite(UpdateRequest("missing", R"({"v":2})")).ok());
  EXPECT_EQ(engine->max_seq_no(), 0);
  EXPECT_EQ(engine->Get("1")->source, R"({"v":1})");
  EXPECT_EQ(engine->Get("1")->version, 1);
  EXPECT_EQ(disk.FileSize(kTranslog), bytes);
  EXPECT_FALSE(engine->NeedsSync());
  EXPECT_EQ(MustWrite(*engine, IndexRequest("2", "{}")).op.seq_no(), 1);
}

TEST(R2Create, ExistingDocumentIs409WithCurrentVersion) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, IndexRequest("1", "{}"));
  MustWrite(*engine, IndexRequest("1", "{}"));
  ExpectEsError(
      engine->PrimaryWrite(CreateRequest("1", "{}")).status(), kConflict, 409,
      "[1]: version conflict, document already exists (current version [2])");
}

TEST(R2Create, MissingOrDeletedDocumentIsCreated) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  EXPECT_EQ(MustWrite(*engine, CreateRequest("1", "{}")).result, "created");
  MustWrite(*engine, DeleteRequest("1"));
  WriteResult again = MustWrite(*engine, CreateRequest("1", "{}"));
  EXPECT_EQ(again.result, "created");
  EXPECT_EQ(again.op.version(), 3);
}

pb::WriteRequest External(pb::WriteRequest request, int64_t version,
                          pb::VersionType type = pb::VERSION_EXTERNAL) {
  request.set_version(version);
  request.set_version_type(type);
  return request;
}

TEST(R2ExternalVersioning, MissingDocumentTakesTheGivenVersion) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  WriteResult result =
      MustWrite(*engine, External(IndexRequest("1", "{}"), 42));
  EXPECT_EQ(result.result, "created");
  EXPECT_EQ(result.op.version(), 42);
  EXPECT_EQ(engine->Get("1")->version, 42);
}

// Issue 12, section 6: an internal write on a document whose external _version
// is the largest long would overflow `version + 1`: 400, nothing changes.
TEST(R1Stamping, InternalWriteOnTheLargestVersionIs400AndChangesNothing) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  const int64_t max = std::numeric_limits<int64_t>::max();
  MustWrite(*engine, External(IndexRequest("1", R"({"a":1})"), max));
  const std::string reason = absl::StrCat(
      "[1]: version [", max,
      "] is the largest _version; an internal write can not increment it");
  for (const pb::WriteRequest& request :
       {IndexRequest("1", R"({"a":2})"), DeleteRequest("1"),
        UpdateRequest("1", R"({"a":3})")}) {
    absl::StatusOr<WriteResult> result = engine->PrimaryWrite(request);
    ExpectEsError(result.status(), "illegal_argument_exception", 400, reason);
  }
  EXPECT_EQ(engine->max_seq_no(), 0);
  EXPECT_EQ(engine->Get("1")->version, max);
  EXPECT_EQ(engine->Get("1")->source, R"({"a":1})");
}

TEST(R2ExternalVersioning, OnlyAStrictlyHigherVersionIsAccepted) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, External(IndexRequest("1", "{}"), 10));
  ExpectEsError(
      engine->PrimaryWrite(External(IndexRequest("1", "{}"), 10)).status(),
      kConflict, 409,
      "[1]: version conflict, current version [10] is higher or equal to the "
      "one "
      "provided [10]");
  ExpectEsError(
      engine->PrimaryWrite(External(IndexRequest("1", "{}"), 3)).status(),
      kConflict, 409,
      "[1]: version conflict, current version [10] is higher or equal to the "
      "one "
      "provided [3]");
  EXPECT_EQ(
      MustWrite(*engine, External(IndexRequest("1", "{}"), 11)).op.version(),
      11);
  WriteResult deleted = MustWrite(*engine, External(DeleteRequest("1"), 20));
  EXPECT_EQ(deleted.op.version(), 20);
  // The tombstone keeps its version for external checks.
  EXPECT_FALSE(
      engine->PrimaryWrite(External(IndexRequest("1", "{}"), 15)).ok());
}

TEST(R2ExternalVersioning, ExternalGteAcceptsEqualButNotLower) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine,
            External(IndexRequest("1", "{}"), 10, pb::VERSION_EXTERNAL_GTE));
  EXPECT_EQ(MustWrite(*engine, External(IndexRequest("1", "{}"), 10,
                                        pb::VERSION_EXTERNAL_GTE))
                .op.version(),
            10);
  ExpectEsError(engine
                    ->PrimaryWrite(External(IndexRequest("1", "{}"), 9,
                                            pb::VERSION_EXTERNAL_GTE))
                    .status(),
                kConflict, 409,
                "[1]: version conflict, current version [10] is higher than "
                "the one provided [9]");
}

TEST(R2Update, MergesPartialDocumentRecursively) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine,
            IndexRequest("1", R"({"a":1,"o":{"x":1,"y":2},"l":[1,2]})"));
  WriteResult result = MustWrite(
      *engine, UpdateRequest("1", R"({"o":{"y":3,"z":4},"l":[3],"b":true})"));
  EXPECT_EQ(result.result, "updated");
  EXPECT_EQ(result.op.version(), 2);
  EXPECT_EQ(result.op.seq_no(), 1);
  EXPECT_EQ(result.source,
            R"({"a":1,"o":{"x":1,"y":3,"z":4},"l":[3],"b":true})");
  EXPECT_EQ(result.op.source(), result.source);
  EXPECT_EQ(engine->Get("1")->source, result.source);
}

TEST(R2Update, UpdateThatChangesNothingIsNoopWithoutSeqNo) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, IndexRequest("1", R"({"a":1,"o":{"x":1}})"));
  WriteResult result =
      MustWrite(*engine, UpdateRequest("1", R"({"o":{"x":1}})"));
  EXPECT_EQ(result.result, "noop");
  EXPECT_FALSE(result.replicate);
  EXPECT_EQ(result.op.seq_no(), 0);
  EXPECT_EQ(result.op.version(), 1);
  EXPECT_EQ(engine->max_seq_no(), 0);
  // Without detect_noop the update is indexed anyway.
  pb::WriteRequest forced = UpdateRequest("1", R"({"o":{"x":1}})");
  forced.set_detect_noop(false);
  EXPECT_EQ(MustWrite(*engine, forced).result, "updated");
  EXPECT_EQ(engine->max_seq_no(), 1);
}

TEST(R2Update, MissingDocumentIs404DocumentMissing) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  ExpectEsError(engine->PrimaryWrite(UpdateRequest("9", R"({"a":1})")).status(),
                "document_missing_exception", 404, "[9]: document missing");
  EXPECT_EQ(engine->max_seq_no(), -1);
}

TEST(R2Update, DocAsUpsertOrUpsertIndexesWhenMissing) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  pb::WriteRequest doc_as_upsert = UpdateRequest("1", R"({"a":1})");
  doc_as_upsert.set_doc_as_upsert(true);
  WriteResult created = MustWrite(*engine, doc_as_upsert);
  EXPECT_EQ(created.result, "created");
  EXPECT_EQ(engine->Get("1")->source, R"({"a":1})");
  pb::WriteRequest upsert = UpdateRequest("2", R"({"a":1})");
  upsert.set_upsert(R"({"fresh":true})");
  upsert.set_has_upsert(true);
  EXPECT_EQ(MustWrite(*engine, upsert).result, "created");
  EXPECT_EQ(engine->Get("2")->source, R"({"fresh":true})");
  // With the document present the partial doc is merged instead.
  EXPECT_EQ(MustWrite(*engine, upsert).result, "updated");
  EXPECT_EQ(engine->Get("2")->source, R"({"fresh":true,"a":1})");
}

TEST(R2Update, HonoursIfSeqNoAndPrimaryTerm) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  MustWrite(*engine, IndexRequest("1", R"({"a":1})"));
  ExpectEsError(
      engine->PrimaryWrite(WithCas(UpdateRequest("1", R"({"a":2})"), 5, 1))
          .status(),
      kConflict, 409,
      "[1]: version conflict, required seqNo [5], primary term [1]. current "
      "document has seqNo [0] and primary term [1]");
  EXPECT_EQ(MustWrite(*engine, WithCas(UpdateRequest("1", R"({"a":2})"), 0, 1))
                .result,
            "updated");
}

TEST(R2Source, InvalidJsonIs400MapperParsingException) {
  sim::SimDisk disk;
  auto engine = OpenPrimary(&disk);
  ExpectEsError(engine->PrimaryWrite(IndexRequest("1", R"({"a":)")).status(),
                "mapper_parsing_exception", 400, "failed to parse");
  ExpectEsError(engine->PrimaryWrite(IndexRequest("1", "[1,2]")).status(),
                "mapper_parsing_exception", 400, "failed to parse");
  MustWrite(*engine, IndexRequest("1", "{}"));
  ExpectEsError(engine->PrimaryWrite(UpdateRequest("1", "{oops")).status(),
                "mapper_parsing_exception", 400, "failed to parse");
  EXPECT_EQ(engine->max_seq_no(), 0);
}

}  // namespace
}  // namespace seqsim::testing

namespace seqsim::testing {
namespace {

// The fast source validator agrees with a full JSON parser (nlohmann) on what
// is a JSON object.
TEST(R2Source, ValidatorAgreesWithReferenceParser) {
  const std::vector<std::string> cases = {
      "{}",
      " { } ",
      R"({"a":1})",
      R"({"a":-0.5e+10,"b":[1,2,{"c":null}],"d":true})",
      R"({"s":"esc \" \\ \/ \b \f \n \r \t \u00e9"})",
      "{\"u\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
      "",
      "   ",
      "[]",
      "1",
      "\"s\"",
      "null",
      R"({"a":})",
      R"({"a":1,})",
      R"({"a" 1})",
      R"({a:1})",
      R"({"a":01})",
      R"({"a":1.})",
      R"({"a":.5})",
      R"({"a":1e})",
      R"({"a":-})",
      R"({"a":tru})",
      R"({"a":"\x"})",
      R"({"a":"\u12g4"})",
      "{\"a\":\"\x01\"}",
      "{\"a\":\"\xff\"}",
      "{\"a\":\"\xc3\"}",
      "{\"a\":\"\xed\xa0\x80\"}",
      R"({"a":1} x)",
      R"({"a":1}{})",
      R"({"a":[1,2})",
      R"({"a":"open)",
      "{\"a\":1}\n",
      std::string(600, '[') + std::string(600, ']'),
      "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}"};
  for (const std::string& text : cases) {
    const bool reference =
        nlohmann::json::accept(text) && nlohmann::json::parse(text).is_object();
    EXPECT_EQ(ValidateSource(text).ok(), reference) << text;
  }
}

}  // namespace
}  // namespace seqsim::testing
