// R10 with bounded disk and restart time (issue 17): the translog rolls to a
// new generation at a size threshold, a flush writes a durable snapshot and
// deletes the generations it covers, a restart loads the snapshot and replays
// only what came after it, reading files in bounded pieces; corrupt files
// give a clear error.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "node/engine/shard_engine.h"
#include "node/engine/translog.h"
#include "sim/world/sim_disk.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim {
namespace {

using testing::DeleteRequest;
using testing::IndexRequest;
using testing::kTranslog;
using testing::OpenEngine;

constexpr char kDir[] = "shards/idx/0";

// A Disk that refuses to read a translog file whole: restarts must stream.
class NoWholeReadsDisk final : public Disk {
 public:
  explicit NoWholeReadsDisk(sim::SimDisk* disk) : disk_(disk) {}
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) override {
    return disk_->OpenAppend(path);
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    if (absl::StrContains(path, "translog")) {
      ADD_FAILURE() << "read whole: " << path;
      return absl::InternalError("whole read");
    }
    return disk_->ReadFile(path);
  }
  absl::StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset,
                                     size_t length) override {
    max_read = std::max(max_read, length);
    return disk_->ReadAt(path, offset, length);
  }
  absl::Status WriteFileAtomic(const std::string& path,
                               std::string_view content) override {
    return disk_->WriteFileAtomic(path, content);
  }
  absl::Status Truncate(const std::string& path, uint64_t size) override {
    return disk_->Truncate(path, size);
  }
  absl::Status Remove(const std::string& path) override {
    return disk_->Remove(path);
  }
  absl::Status RemoveAll(const std::string& path) override {
    return disk_->RemoveAll(path);
  }
  bool Exists(const std::string& path) override { return disk_->Exists(path); }
  std::vector<std::string> List(const std::string& dir) override {
    return disk_->List(dir);
  }
  size_t max_read = 0;

 private:
  sim::SimDisk* disk_;
};

EngineOptions SmallThresholds(uint64_t generation, uint64_t flush) {
  EngineOptions options = testing::Options();
  options.translog_generation_threshold_bytes = generation;
  options.flush_threshold_bytes = flush;
  return options;
}

std::unique_ptr<ShardEngine> OpenPrimaryWith(Disk* disk,
                                             const EngineOptions& options) {
  absl::StatusOr<std::unique_ptr<ShardEngine>> engine =
      ShardEngine::Open(disk, options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  (*engine)->AdvanceTerm(1);
  return std::move(*engine);
}

void WriteAndSync(ShardEngine& engine, const std::string& id, int n) {
  ASSERT_TRUE(engine
                  .PrimaryWrite(IndexRequest(
                      id, absl::StrCat(R"({"n":)", n, R"(,"pad":")",
                                       std::string(100, 'x'), R"("})")))
                  .ok());
  ASSERT_TRUE(engine.Sync().ok());
}

std::vector<std::string> TranslogFiles(sim::SimDisk& disk) {
  std::vector<std::string> files;
  for (const std::string& name : disk.List(kDir)) {
    if (absl::StartsWith(name, "translog")) files.push_back(name);
  }
  return files;
}

TEST(R10TranslogGenerations, RollsAtTheThresholdAndReplaysEveryGeneration) {
  sim::SimDisk disk;
  {
    auto engine =
        OpenPrimaryWith(&disk, SmallThresholds(500, uint64_t{1} << 40));
    for (int i = 0; i < 20; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
    EXPECT_GE(engine->translog_stats().generations, 4);
  }
  EXPECT_GE(TranslogFiles(disk).size(), 4u);
  disk.Crash();
  NoWholeReadsDisk streaming(&disk);
  auto reopened = OpenPrimaryWith(&streaming, SmallThresholds(500, 1 << 30));
  EXPECT_EQ(reopened->doc_count(), 20);
  EXPECT_EQ(reopened->local_checkpoint(), 19);
  EXPECT_EQ(reopened->Get("d7")->seq_no, 7);
}

TEST(R10TranslogGenerations, FlushSnapshotsAndDeletesCoveredGenerations) {
  sim::SimDisk disk;
  auto engine = OpenPrimaryWith(&disk, SmallThresholds(300, uint64_t{1} << 40));
  for (int i = 0; i < 10; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
  ASSERT_TRUE(engine->PrimaryWrite(DeleteRequest("d3")).ok());
  engine->UpdateGlobalCheckpoint(10);
  ASSERT_TRUE(engine->Flush().ok());
  const ShardEngine::TranslogStats stats = engine->translog_stats();
  EXPECT_EQ(stats.generations, 1);
  EXPECT_EQ(stats.uncommitted_bytes, 0u);
  EXPECT_GT(stats.snapshot_bytes, 0u);
  // Left: the snapshot and the (empty) generation after it.
  EXPECT_EQ(
      TranslogFiles(disk),
      (std::vector<std::string>{absl::StrCat("translog-", stats.generation),
                                "translog.snapshot"}));
  // Writes after the flush, synced, then a power loss.
  WriteAndSync(*engine, "after", 11);
  disk.Crash();
  NoWholeReadsDisk streaming(&disk);
  auto reopened = OpenPrimaryWith(&streaming, SmallThresholds(300, 1 << 30));
  EXPECT_EQ(reopened->doc_count(), 10);  // 10 written, d3 deleted, 1 after
  EXPECT_EQ(reopened->Get("d3"), nullptr);
  ASSERT_NE(reopened->GetIncludingTombstone("d3"), nullptr);
  EXPECT_EQ(reopened->Get("after")->seq_no, 11);
  EXPECT_EQ(reopened->local_checkpoint(), 11);
  EXPECT_EQ(reopened->global_checkpoint(), 10);
  EXPECT_EQ(reopened->term(), 1);
}

TEST(R10TranslogGenerations, PeriodicFlushKeepsTheTranslogBounded) {
  sim::SimDisk disk;
  auto engine = OpenPrimaryWith(&disk, SmallThresholds(1000, 4000));
  // Updates of 20 documents, over and over: the state stays small, so the
  // translog on disk must too.
  for (int i = 0; i < 600; ++i) {
    WriteAndSync(*engine, absl::StrCat("d", i % 20), i);
    engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
    engine->SetRetainedSeqNo(engine->global_checkpoint() + 1);
    const ShardEngine::TranslogStats stats = engine->translog_stats();
    EXPECT_LE(stats.uncommitted_bytes, 4000u + 1000u) << i;
    EXPECT_LE(stats.generations, 6) << i;
  }
  uint64_t on_disk = 0;
  for (const std::string& name : TranslogFiles(disk)) {
    on_disk += disk.FileSize(absl::StrCat(kDir, "/", name));
  }
  EXPECT_LT(on_disk, 20000u);
  disk.Crash();
  auto reopened = OpenPrimaryWith(&disk, SmallThresholds(1000, 4000));
  EXPECT_EQ(reopened->doc_count(), 20);
  EXPECT_EQ(reopened->local_checkpoint(), 599);
  EXPECT_EQ(reopened->Get("d19")->seq_no, 599);
}

TEST(R10TranslogGenerations, RestartReadsInBoundedPieces) {
  sim::SimDisk disk;
  {
    auto engine =
        OpenPrimaryWith(&disk, SmallThresholds(uint64_t{1} << 40, 1 << 30));
    for (int i = 0; i < 30000; ++i) {
      ASSERT_TRUE(
          engine
              ->PrimaryWrite(IndexRequest(
                  absl::StrCat("d", i),
                  absl::StrCat(R"({"pad":")", std::string(60, 'p'), R"("})")))
              .ok());
    }
    ASSERT_TRUE(engine->Sync().ok());
    ASSERT_GT(disk.FileSize(kTranslog), uint64_t{2} << 20);
  }
  NoWholeReadsDisk streaming(&disk);
  auto reopened =
      OpenPrimaryWith(&streaming, SmallThresholds(uint64_t{1} << 40, 1 << 30));
  EXPECT_EQ(reopened->doc_count(), 30000);
  EXPECT_LE(streaming.max_read, size_t{1} << 20);
}

TEST(R10TranslogGenerations,
     LeftoverGenerationsOfAnInterruptedFlushAreIgnored) {
  sim::SimDisk disk;
  auto engine = OpenPrimaryWith(&disk, SmallThresholds(300, uint64_t{1} << 40));
  for (int i = 0; i < 5; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
  // A copy of generation 0 as it was before the flush: as if the flush had
  // stopped right after its snapshot was renamed into place. (Replaying it
  // would change nothing, its seq_nos are processed; it must go.)
  const std::string old_generation = *disk.ReadFile(kTranslog);
  ASSERT_TRUE(engine->PrimaryWrite(DeleteRequest("d0")).ok());
  ASSERT_TRUE(engine->Sync().ok());
  ASSERT_TRUE(engine->Flush().ok());
  ASSERT_TRUE(disk.WriteFileAtomic(kTranslog, old_generation).ok());
  auto reopened = OpenPrimaryWith(&disk, SmallThresholds(300, 1 << 30));
  EXPECT_EQ(reopened->Get("d0"), nullptr);  // the stale index is not replayed
  EXPECT_EQ(reopened->doc_count(), 4);
  EXPECT_FALSE(disk.Exists(kTranslog));  // and it is deleted
}

TEST(R10TranslogGenerations, TornNewestGenerationIsCutOff) {
  sim::SimDisk disk;
  auto engine = OpenPrimaryWith(&disk, SmallThresholds(300, uint64_t{1} << 40));
  for (int i = 0; i < 6; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
  const std::string newest =
      absl::StrCat(kTranslog, "-", engine->translog_stats().generation);
  ASSERT_TRUE(engine->PrimaryWrite(IndexRequest("torn", R"({"n":1})")).ok());
  disk.TearTail(newest, 5);
  disk.Crash();
  auto reopened = OpenPrimaryWith(&disk, SmallThresholds(300, 1 << 30));
  EXPECT_EQ(reopened->doc_count(), 6);
  EXPECT_EQ(reopened->Get("torn"), nullptr);
  // Appends go on after the cut.
  WriteAndSync(*reopened, "next", 7);
  disk.Crash();
  EXPECT_NE(OpenPrimaryWith(&disk, SmallThresholds(300, 1 << 30))->Get("next"),
            nullptr);
}

TEST(R10TranslogGenerations, CorruptSnapshotOrOlderGenerationIsAClearError) {
  for (const bool snapshot : {true, false}) {
    SCOPED_TRACE(snapshot ? "snapshot" : "older generation");
    sim::SimDisk disk;
    auto engine =
        OpenPrimaryWith(&disk, SmallThresholds(300, uint64_t{1} << 40));
    for (int i = 0; i < 4; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
    if (snapshot) {
      ASSERT_TRUE(engine->Flush().ok());
    }
    for (int i = 4; i < 8; ++i) WriteAndSync(*engine, absl::StrCat("d", i), i);
    const std::string victim =
        snapshot ? absl::StrCat(kTranslog, ".snapshot") : kTranslog;
    std::string* bytes = disk.MutableBytes(victim);
    ASSERT_NE(bytes, nullptr);
    (*bytes)[bytes->size() / 2] ^= 0x5a;
    absl::StatusOr<std::unique_ptr<ShardEngine>> reopened =
        ShardEngine::Open(&disk, SmallThresholds(300, 1 << 30));
    ASSERT_FALSE(reopened.ok());
    EXPECT_TRUE(absl::IsDataLoss(reopened.status())) << reopened.status();
    EXPECT_TRUE(absl::StrContains(reopened.status().message(), victim))
        << reopened.status();
    EXPECT_TRUE(absl::StrContains(reopened.status().message(), "corrupt"))
        << reopened.status();
  }
}

TEST(R10TranslogGenerations, RecordReaderStopsAtATornRecord) {
  sim::SimDisk disk;
  std::string content;
  EncodeRecord(RecordKind::kTerm, std::string(8, '\1'), &content);
  EncodeRecord(RecordKind::kTerm, std::string(3000, '\2'), &content);
  const size_t whole = content.size();
  EncodeRecord(RecordKind::kTerm, std::string(8, '\3'), &content);
  content.resize(content.size() - 3);
  ASSERT_TRUE(disk.WriteFileAtomic("f", content).ok());
  RecordReader reader(&disk, "f", /*chunk_bytes=*/16);
  int records = 0;
  while (true) {
    absl::StatusOr<std::optional<TranslogRecord>> next = reader.Next();
    ASSERT_TRUE(next.ok());
    if (!next->has_value()) break;
    ++records;
  }
  EXPECT_EQ(records, 2);
  EXPECT_FALSE(reader.clean_end());
  EXPECT_EQ(reader.intact_bytes(), whole);
}

}  // namespace
}  // namespace seqsim
