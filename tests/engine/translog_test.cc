// R10: the translog is durable after Sync (group commit), replays after a
// restart, and a torn or corrupt tail is cut off instead of being replayed.
#include "node/engine/translog.h"

#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

void Write(ShardEngine& engine, const pb::WriteRequest& request) {
  ASSERT_TRUE(engine.PrimaryWrite(request).ok());
}

TEST(R10Translog, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(""), 0u);
}

TEST(R10Translog, Crc32cMatchesTheIscsiTestVectors) {
  // RFC 3720, B.4.
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string ascending;
  std::string descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Crc32c(zeros), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(ones), 0x62A8AB43u);
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(Crc32c(descending), 0x113FDB5Cu);
}

// Bit by bit, the definition: reflected polynomial 0x82F63B78.
uint32_t Crc32cBitwise(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

TEST(R10Translog, Crc32cMatchesTheDefinitionAtEveryLengthAndAlignment) {
  std::string bytes;
  uint32_t x = 12345;
  for (int i = 0; i < 200; ++i) {
    x = x * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(x >> 16));
  }
  for (size_t start = 0; start < 8; ++start) {
    for (size_t n = 0; start + n <= bytes.size(); n += 3) {
      const std::string_view data(bytes.data() + start, n);
      ASSERT_EQ(Crc32c(data), Crc32cBitwise(data)) << start << " " << n;
    }
  }
}

TEST(R10Translog, ReplayRebuildsDocumentsCheckpointsTermAndGlobalCheckpoint) {
  sim::SimDisk disk;
  {
    auto primary = OpenPrimary(&disk, 4);
    Write(*primary, IndexRequest("1", R"({"a":1})"));
    Write(*primary, IndexRequest("2", R"({"b":1})"));
    Write(*primary, UpdateRequest("1", R"({"c":2})"));
    Write(*primary, DeleteRequest("2"));
    primary->UpdateGlobalCheckpoint(2);
    ASSERT_TRUE(primary->Sync().ok());
  }
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->term(), 4);
  EXPECT_EQ(reopened->max_seq_no(), 3);
  EXPECT_EQ(reopened->local_checkpoint(), 3);
  EXPECT_EQ(reopened->global_checkpoint(), 2);
  ASSERT_NE(reopened->Get("1"), nullptr);
  EXPECT_EQ(reopened->Get("1")->source, R"({"a":1,"c":2})");
  EXPECT_EQ(reopened->Get("1")->version, 2);
  EXPECT_EQ(reopened->Get("2"), nullptr);
  EXPECT_EQ(reopened->GetIncludingTombstone("2")->version, 2);
  EXPECT_EQ(reopened->retained_ops(), 4);
  // Versions continue from the replayed state.
  auto next = reopened->PrimaryWrite(IndexRequest("2", "{}"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->op.seq_no(), 4);
  EXPECT_EQ(next->op.version(), 3);
}

TEST(R10Translog, SyncedOperationsSurviveACrashUnsyncedOnesDoNot) {
  sim::SimDisk disk;
  {
    auto primary = OpenPrimary(&disk);
    Write(*primary, IndexRequest("acked", "{}"));
    ASSERT_TRUE(primary->Sync().ok());
    Write(*primary, IndexRequest("not-acked", "{}"));
    EXPECT_TRUE(primary->NeedsSync());
  }
  disk.Crash();
  auto reopened = OpenEngine(&disk);
  EXPECT_NE(reopened->Get("acked"), nullptr);
  EXPECT_EQ(reopened->Get("not-acked"), nullptr);
  EXPECT_EQ(reopened->max_seq_no(), 0);
}

TEST(R10Translog, SyncIsOneFsyncPerBatchOfWrites) {
  sim::SimDisk disk;
  auto primary = OpenPrimary(&disk);
  ASSERT_TRUE(primary->Sync().ok());
  const int before = disk.syncs();
  for (int i = 0; i < 64; ++i)
    Write(*primary, IndexRequest(std::to_string(i), "{}"));
  EXPECT_TRUE(primary->NeedsSync());
  ASSERT_TRUE(primary->Sync().ok());
  EXPECT_EQ(disk.syncs(), before + 1);
  EXPECT_FALSE(primary->NeedsSync());
  ASSERT_TRUE(primary->Sync().ok());  // nothing new: no fsync
  EXPECT_EQ(disk.syncs(), before + 1);
  EXPECT_EQ(disk.SyncedBytes(kTranslog), disk.FileSize(kTranslog));
}

TEST(R10Translog, TornTailIsCutOffAndNeverReplayed) {
  for (size_t keep : {1, 5, 8, 9, 20}) {
    sim::SimDisk disk;
    {
      auto primary = OpenPrimary(&disk);
      Write(*primary, IndexRequest("1", R"({"v":1})"));
      ASSERT_TRUE(primary->Sync().ok());
      Write(
          *primary,
          IndexRequest("1", R"({"v":2,"padding":"xxxxxxxxxxxxxxxxxxxxxxxx"})"));
    }
    const size_t synced = disk.SyncedBytes(kTranslog);
    disk.TearTail(kTranslog, keep);
    ASSERT_GT(disk.FileSize(kTranslog), synced);
    auto reopened = OpenEngine(&disk);
    EXPECT_EQ(reopened->Get("1")->source, R"({"v":1})") << "keep " << keep;
    EXPECT_EQ(reopened->max_seq_no(), 0);
    EXPECT_EQ(disk.FileSize(kTranslog), synced) << "the torn tail is truncated";
    // New records append after the cut and replay fine.
    Write(*reopened, IndexRequest("2", "{}"));
    ASSERT_TRUE(reopened->Sync().ok());
    reopened.reset();
    auto again = OpenEngine(&disk);
    EXPECT_NE(again->Get("2"), nullptr);
    EXPECT_EQ(again->max_seq_no(), 1);
  }
}

TEST(R10Translog, CorruptRecordIsDetectedByChecksumAndCutOff) {
  sim::SimDisk disk;
  {
    auto primary = OpenPrimary(&disk);
    Write(*primary, IndexRequest("1", R"({"v":1})"));
    ASSERT_TRUE(primary->Sync().ok());
    Write(*primary, IndexRequest("2", R"({"v":2})"));
    Write(*primary, IndexRequest("3", R"({"v":3})"));
    ASSERT_TRUE(primary->Sync().ok());
  }
  // Flip one byte inside the payload of the record holding doc "2".
  std::string* raw = disk.MutableBytes(kTranslog);
  ASSERT_NE(raw, nullptr);
  const size_t at = raw->find(R"({"v":2})");
  ASSERT_NE(at, std::string::npos);
  (*raw)[at + 5] = '9';
  auto reopened = OpenEngine(&disk);
  EXPECT_NE(reopened->Get("1"), nullptr);
  EXPECT_EQ(reopened->Get("2"), nullptr);
  EXPECT_EQ(reopened->Get("3"),
            nullptr);  // nothing after the corruption is trusted
  EXPECT_EQ(reopened->max_seq_no(), 0);
  EXPECT_LT(disk.FileSize(kTranslog), at);
}

TEST(R10Translog, GarbageLengthIsTreatedAsATornTail) {
  std::string content;
  EncodeRecord(RecordKind::kTerm, std::string(8, '\1'), &content);
  const size_t good = content.size();
  content += std::string("\xff\xff\xff\x7f\0\0\0\0garbage", 15);
  DecodedTranslog decoded = DecodeTranslog(content);
  EXPECT_EQ(decoded.records.size(), 1u);
  EXPECT_EQ(decoded.intact_bytes, good);
}

TEST(R10Translog, ReplicaReplayKeepsOutOfOrderOutcome) {
  sim::SimDisk disk;
  {
    auto replica = OpenEngine(&disk);
    ASSERT_TRUE(replica->ApplyOnReplica(DeleteOp("1", 2, 1, 3)).ok());
    ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("1", 1, 1, 2, "{}")).ok());
    ASSERT_TRUE(replica->ApplyOnReplica(IndexOp("1", 0, 1, 1, "{}")).ok());
    ASSERT_TRUE(replica->Sync().ok());
  }
  auto reopened = OpenEngine(&disk);
  EXPECT_EQ(reopened->Get("1"), nullptr);
  EXPECT_EQ(reopened->GetIncludingTombstone("1")->seq_no, 2);
  EXPECT_EQ(reopened->local_checkpoint(), 2);
}

}  // namespace
}  // namespace seqsim::testing
