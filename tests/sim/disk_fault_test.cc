// Disk faults in the lab (issue 12, section 7; R10): a translog fsync that
// fails loses the unsynced bytes (as Linux does), a later fsync must never
// report them durable, and a copy whose fsync fails stops serving and is failed
// at the coordinator, as Elasticsearch fails the shard.
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "coordinator/logic/coordinator.h"
#include "gtest/gtest.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node.h"
#include "sim/world/sim_disk.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim {
namespace {

TEST(SimDisk, FailedSyncLosesTheUnsyncedBytesEvenIfALaterSyncSucceeds) {
  SimDisk disk;
  auto file = disk.OpenAppend("translog");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("abc").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append("def").ok());
  disk.FailSyncs(absl::DataLossError("EIO"));
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kDataLoss);
  disk.FailSyncs(absl::OkStatus());
  // The kernel marked the pages clean: the next fsync has nothing to do and
  // succeeds, yet "def" never reached the disk.
  EXPECT_TRUE((*file)->Sync().ok());
  EXPECT_EQ(*disk.ReadFile("translog"), "abcdef");
  disk.Crash();
  EXPECT_EQ(*disk.ReadFile("translog"), "abc");
}

TEST(ShardEngineDisk, AFailedFsyncIsFinalAndRefusesLaterWrites) {
  SimDisk disk;
  EngineOptions options;
  options.translog_path = "shards/idx/0/translog";
  options.index = "idx";
  options.index_uuid = "uuid";
  absl::StatusOr<std::unique_ptr<ShardEngine>> engine =
      ShardEngine::Open(&disk, options);
  ASSERT_TRUE(engine.ok()) << engine.status();
  (*engine)->AdvanceTerm(1);
  pb::WriteRequest write;
  write.set_index("idx");
  write.set_id("1");
  write.set_source(R"({"a":1})");
  ASSERT_TRUE((*engine)->PrimaryWrite(write).ok());
  disk.FailSyncs(absl::DataLossError("EIO"));
  EXPECT_FALSE((*engine)->Sync().ok());
  disk.FailSyncs(absl::OkStatus());
  // The lost operation is never reported durable, and nothing is stamped on
  // top of it.
  EXPECT_FALSE((*engine)->Sync().ok());
  write.set_id("2");
  EXPECT_FALSE((*engine)->PrimaryWrite(write).ok());
}

// A 3-node lab cluster with one index of 1 shard and 2 replicas.
class LabDiskFault : public ::testing::Test {
 protected:
  void SetUp() override {
    world_.AddActor(kCoordinatorId, [](Env* env) {
      return std::make_unique<Coordinator>(env, CoordinatorOptions{});
    });
    for (int n = 1; n <= 3; ++n) {
      NodeOptions options;
      options.id = absl::StrCat("node-", n);
      options.grpc_address = absl::StrCat("sim:", options.id);
      options.rpc_timeout = absl::Seconds(1);
      options.write_timeout = absl::Seconds(2);
      world_.AddActor(options.id, [options](Env* env) {
        return std::make_unique<Node>(env, options);
      });
    }
    ASSERT_TRUE(world_.RunUntilTrue(
        [this] {
          int alive = 0;
          for (const auto& node : State().nodes()) alive += node.alive();
          return alive == 3;
        },
        absl::Seconds(10)));
    pb::Envelope create;
    create.mutable_create_index()->set_index("books");
    create.mutable_create_index()->set_number_of_shards(1);
    create.mutable_create_index()->set_number_of_replicas(2);
    world_.ClientSend(
        "client", "node-1", std::move(create),
        [](absl::StatusOr<pb::Envelope>) {}, absl::Seconds(5));
    ASSERT_TRUE(world_.RunUntilTrue(
        [this] { return ComputeHealth(State(), "books").status == "green"; },
        absl::Seconds(30)));
  }

  const pb::ClusterState& State() {
    return static_cast<Coordinator*>(world_.actor(kCoordinatorId))->state();
  }
  const pb::ShardRouting& Routing() { return State().indices(0).shards(0); }
  std::string Primary() {
    for (const auto& copy : Routing().copies())
      if (copy.primary()) return copy.node_id();
    return "";
  }
  bool InSync(const std::string& node) {
    for (const auto& id : Routing().in_sync())
      if (id == node) return true;
    return false;
  }

  // Sends an index request through `via`; the reply lands in the result.
  std::shared_ptr<std::optional<pb::WriteResponse>> Write(
      const std::string& via, const std::string& id) {
    auto reply = std::make_shared<std::optional<pb::WriteResponse>>();
    pb::Envelope request;
    request.mutable_write()->set_index("books");
    request.mutable_write()->set_id(id);
    request.mutable_write()->set_source(R"({"title":"x"})");
    world_.ClientSend(
        "client", via, std::move(request),
        [reply](absl::StatusOr<pb::Envelope> result) {
          pb::WriteResponse response;
          if (result.ok()) {
            response = result->write_response();
          } else {
            response.mutable_error()->set_type("transport");
          }
          *reply = response;
        },
        absl::Seconds(5));
    return reply;
  }

  SimWorld world_{12};
};

TEST_F(LabDiskFault,
       PrimaryWhoseFsyncFailsAcksNothingAndIsFailedAtTheCoordinator) {
  auto first = Write("node-1", "a");
  ASSERT_TRUE(world_.RunUntilTrue([&] { return first->has_value(); },
                                  absl::Seconds(10)));
  ASSERT_EQ((*first)->error().type(), "") << (*first)->error().reason();
  const std::string primary = Primary();
  const int64_t term = Routing().primary_term();

  world_.disk(primary)->FailSyncs(absl::DataLossError("EIO"));
  auto lost = Write(primary, "b");
  ASSERT_TRUE(world_.RunUntilTrue([&] { return lost->has_value(); },
                                  absl::Seconds(10)));
  EXPECT_NE((*lost)->error().type(), "")
      << "a write whose fsync failed was acknowledged";

  // The coordinator fails the copy: another in-sync replica becomes primary
  // with a new term, and the failed node leaves the in-sync set.
  ASSERT_TRUE(world_.RunUntilTrue(
      [&] {
        return Primary() != primary && Routing().primary_term() > term &&
               !InSync(primary);
      },
      absl::Seconds(10)))
      << "the copy whose fsync failed is still " << Primary() << " primary";

  // The cluster goes on with the other copies; the healed node recovers.
  world_.disk(primary)->FailSyncs(absl::OkStatus());
  auto after = Write(Primary(), "c");
  ASSERT_TRUE(world_.RunUntilTrue([&] { return after->has_value(); },
                                  absl::Seconds(10)));
  EXPECT_EQ((*after)->error().type(), "") << (*after)->error().reason();
  EXPECT_TRUE(world_.RunUntilTrue(
      [&] { return ComputeHealth(State(), "books").status == "green"; },
      absl::Seconds(60)));
}

TEST_F(LabDiskFault, ReplicaWhoseFsyncFailsStopsServingAndLeavesTheInSyncSet) {
  const std::string primary = Primary();
  std::string replica;
  for (const auto& copy : Routing().copies())
    if (!copy.primary()) replica = copy.node_id();
  world_.disk(replica)->FailSyncs(absl::DataLossError("EIO"));
  auto write = Write(primary, "a");
  ASSERT_TRUE(world_.RunUntilTrue([&] { return write->has_value(); },
                                  absl::Seconds(10)));
  // The write is acknowledged by the two healthy copies once the failed one
  // is out of the in-sync set.
  EXPECT_EQ((*write)->error().type(), "") << (*write)->error().reason();
  EXPECT_FALSE(InSync(replica));
  world_.disk(replica)->FailSyncs(absl::OkStatus());
  EXPECT_TRUE(world_.RunUntilTrue(
      [&] { return ComputeHealth(State(), "books").status == "green"; },
      absl::Seconds(60)));
}

}  // namespace
}  // namespace seqsim::sim
