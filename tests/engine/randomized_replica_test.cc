// R5 + R6, randomized: a replica fed the primary's operations in any order,
// with duplicates, ends identical to the primary, and both match a simple
// reference model (std::map).
#include <algorithm>
#include <map>
#include <set>

#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace seqsim::testing {
namespace {

// splitmix64: a tiny seeded generator with the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

// What one document should look like, computed without the engine.
struct ModelDoc {
  bool live = false;
  int64_t version = 0;
  int64_t seq_no = -2;
  int64_t term = 0;
  std::string source;
};

std::string Source(uint64_t n) { return "{\"n\":" + std::to_string(n) + "}"; }

void ExpectMatchesModel(const ShardEngine& engine,
                        const std::map<std::string, ModelDoc>& model,
                        uint64_t seed) {
  auto docs = engine.AllDocs();
  ASSERT_EQ(docs.size(), model.size()) << "seed " << seed;
  auto it = model.begin();
  for (const auto& [id, doc] : docs) {
    const auto& [model_id, expected] = *it++;
    EXPECT_EQ(id, model_id) << "seed " << seed;
    EXPECT_EQ(!doc.deleted, expected.live) << "seed " << seed << " id " << id;
    EXPECT_EQ(doc.version, expected.version) << "seed " << seed << " id " << id;
    EXPECT_EQ(doc.seq_no, expected.seq_no) << "seed " << seed << " id " << id;
    EXPECT_EQ(doc.term, expected.term) << "seed " << seed << " id " << id;
    EXPECT_EQ(doc.source, expected.live ? expected.source : "")
        << "seed " << seed << " id " << id;
  }
}

TEST(R5RandomizedReplica,
     AnyOrderWithDuplicatesConvergesToThePrimaryAndTheModel) {
  const std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Rng rng(seed);
    sim::SimDisk primary_disk;
    auto primary = OpenPrimary(&primary_disk, 1);
    std::map<std::string, ModelDoc> model;
    std::vector<pb::Operation> ops;
    int64_t next_seq_no = 0;
    int64_t term = 1;
    const int requests = 50 + static_cast<int>(rng.Below(150));
    for (int r = 0; r < requests; ++r) {
      if (rng.Below(40) == 0) primary->AdvanceTerm(++term);
      const std::string& id = ids[rng.Below(ids.size())];
      const uint64_t value = rng.Below(3);
      const auto found = model.find(id);
      const bool exists = found != model.end();
      const bool live = exists && found->second.live;
      const uint64_t choice = rng.Below(10);
      pb::WriteRequest request;
      bool expect_ok = true;
      bool expect_noop = false;
      if (choice < 4) {
        request = IndexRequest(id, Source(value));
      } else if (choice < 6) {
        request = DeleteRequest(id);
      } else if (choice < 9) {
        request = UpdateRequest(id, Source(value));
        expect_ok = live;
        expect_noop = live && found->second.source == Source(value);
      } else {
        // Compare-and-set, right or (sometimes) wrong.
        const int64_t seq_no = live ? found->second.seq_no : 0;
        request = WithCas(IndexRequest(id, Source(value)),
                          seq_no + static_cast<int64_t>(rng.Below(2)), term);
        expect_ok = live && request.if_seq_no() == found->second.seq_no &&
                    found->second.term == term;
      }
      absl::StatusOr<WriteResult> result = primary->PrimaryWrite(request);
      ASSERT_EQ(result.ok(), expect_ok)
          << "seed " << seed << " request " << r << ": " << result.status();
      if (!expect_ok) continue;
      if (expect_noop) {
        EXPECT_EQ(result->result, "noop") << "seed " << seed;
        EXPECT_FALSE(result->replicate);
        continue;
      }
      ModelDoc& doc = model[id];
      doc.version = exists ? doc.version + 1 : 1;
      doc.seq_no = next_seq_no++;
      doc.term = term;
      doc.live = request.kind() != pb::WriteRequest::DELETE;
      doc.source = doc.live ? Source(value) : "";
      EXPECT_EQ(result->op.seq_no(), doc.seq_no) << "seed " << seed;
      EXPECT_EQ(result->op.version(), doc.version) << "seed " << seed;
      ops.push_back(result->op);
    }
    ExpectMatchesModel(*primary, model, seed);
    ASSERT_EQ(primary->local_checkpoint(), next_seq_no - 1);

    // Deliver in a seeded random order, with duplicates.
    std::vector<pb::Operation> delivery = ops;
    for (const pb::Operation& op : ops) {
      if (rng.Below(3) == 0) delivery.push_back(op);
    }
    for (size_t i = delivery.size(); i > 1; --i)
      std::swap(delivery[i - 1], delivery[rng.Below(i)]);
    sim::SimDisk replica_disk;
    auto replica = OpenEngine(&replica_disk);
    std::set<int64_t> seen;
    for (const pb::Operation& op : delivery) {
      absl::StatusOr<ApplyOutcome> outcome = replica->ApplyOnReplica(op);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      const bool first = seen.insert(op.seq_no()).second;
      EXPECT_EQ(*outcome == ApplyOutcome::kAlreadyProcessed, !first)
          << "seed " << seed;
      // The local checkpoint is the top of the contiguous prefix of what
      // arrived.
      int64_t expected_checkpoint = -1;
      while (seen.contains(expected_checkpoint + 1)) ++expected_checkpoint;
      ASSERT_EQ(replica->local_checkpoint(), expected_checkpoint)
          << "seed " << seed;
    }
    ExpectMatchesModel(*replica, model, seed);
    EXPECT_EQ(replica->local_checkpoint(), primary->local_checkpoint())
        << "seed " << seed;
    EXPECT_EQ(replica->max_seq_no(), primary->max_seq_no()) << "seed " << seed;
    EXPECT_EQ(replica->doc_count(), primary->doc_count()) << "seed " << seed;

    // And the replica's translog replays to the same state.
    ASSERT_TRUE(replica->Sync().ok());
    replica.reset();
    replica_disk.Crash();
    auto reopened = OpenEngine(&replica_disk);
    ExpectMatchesModel(*reopened, model, seed);
    EXPECT_EQ(reopened->local_checkpoint(), primary->local_checkpoint())
        << "seed " << seed;
  }
}

}  // namespace
}  // namespace seqsim::testing
