// Helpers shared by the engine tests: request builders and an engine on a
// sim::SimDisk.
#ifndef SEQSIM_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define SEQSIM_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <memory>
#include <string>

#include "common/es_error.h"
#include "gtest/gtest.h"
#include "node/engine/shard_engine.h"
#include "sim/world/sim_disk.h"

namespace seqsim::testing {

inline constexpr char kTranslog[] = "shards/idx/0/translog";

inline EngineOptions Options(std::string path = kTranslog) {
  EngineOptions options;
  options.translog_path = std::move(path);
  options.index = "idx";
  options.index_uuid = "uuid";
  return options;
}

inline std::unique_ptr<ShardEngine> OpenEngine(
    sim::SimDisk* disk, EngineOptions options = Options()) {
  absl::StatusOr<std::unique_ptr<ShardEngine>> engine =
      ShardEngine::Open(disk, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

// A primary at term `term`.
inline std::unique_ptr<ShardEngine> OpenPrimary(sim::SimDisk* disk,
                                                PrimaryTerm term = 1) {
  auto engine = OpenEngine(disk);
  engine->AdvanceTerm(term);
  return engine;
}

inline pb::WriteRequest IndexRequest(const std::string& id,
                                     const std::string& source) {
  pb::WriteRequest request;
  request.set_index("idx");
  request.set_id(id);
  request.set_kind(pb::WriteRequest::INDEX);
  request.set_source(source);
  return request;
}

inline pb::WriteRequest CreateRequest(const std::string& id,
                                      const std::string& source) {
  pb::WriteRequest request = IndexRequest(id, source);
  request.set_kind(pb::WriteRequest::CREATE);
  return request;
}

inline pb::WriteRequest DeleteRequest(const std::string& id) {
  pb::WriteRequest request;
  request.set_index("idx");
  request.set_id(id);
  request.set_kind(pb::WriteRequest::DELETE);
  return request;
}

inline pb::WriteRequest UpdateRequest(const std::string& id,
                                      const std::string& doc) {
  pb::WriteRequest request;
  request.set_index("idx");
  request.set_id(id);
  request.set_kind(pb::WriteRequest::UPDATE);
  request.set_update_doc(doc);
  request.set_detect_noop(true);
  return request;
}

inline pb::WriteRequest WithCas(pb::WriteRequest request, int64_t seq_no,
                                int64_t term) {
  request.set_if_seq_no(seq_no);
  request.set_if_primary_term(term);
  return request;
}

inline pb::Operation IndexOp(const std::string& id, int64_t seq_no,
                             int64_t term, int64_t version,
                             const std::string& source) {
  pb::Operation op;
  op.set_seq_no(seq_no);
  op.set_primary_term(term);
  op.set_version(version);
  op.set_type(pb::OP_INDEX);
  op.set_id(id);
  op.set_source(source);
  return op;
}

inline pb::Operation DeleteOp(const std::string& id, int64_t seq_no,
                              int64_t term, int64_t version) {
  pb::Operation op;
  op.set_seq_no(seq_no);
  op.set_primary_term(term);
  op.set_version(version);
  op.set_type(pb::OP_DELETE);
  op.set_id(id);
  return op;
}

inline pb::Operation NoOp(int64_t seq_no, int64_t term) {
  pb::Operation op;
  op.set_seq_no(seq_no);
  op.set_primary_term(term);
  op.set_type(pb::OP_NOOP);
  op.set_noop_reason("test");
  return op;
}

// Expects `status` to be an Elasticsearch error of `type`, HTTP `http` and
// exact `reason`.
inline void ExpectEsError(const absl::Status& status, const std::string& type,
                          int http, const std::string& reason) {
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(EsType(status), type);
  EXPECT_EQ(HttpStatus(status), http);
  EXPECT_EQ(std::string(status.message()), reason);
}

}  // namespace seqsim::testing

#endif  // SEQSIM_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
