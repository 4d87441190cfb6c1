// SimWorld: virtual time, deterministic delivery, faults, and the in-memory
// disk.
#include "sim/world/sim_world.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace seqsim::sim {
namespace {

// Answers every request with a write_response whose id echoes the request's id;
// counts timer firings; "ping" requests make it ping `peer_` and record the
// outcome.
class EchoActor final : public Actor {
 public:
  EchoActor(Env* env, std::vector<std::string>* log) : env_(env), log_(log) {}
  void Start() override {
    log_->push_back(env_->disk()->Exists("marker") ? "restarted" : "start");
  }
  void Handle(const pb::Envelope& request, RespondFn respond) override {
    pb::Envelope reply;
    reply.mutable_write_response()->set_id(request.write().id());
    if (request.write().id() == "sync") {
      auto file = env_->disk()->OpenAppend("marker");
      if (file.ok()) {
        (void)(*file)->Append("x");
        (void)(*file)->Sync();
      }
    }
    if (request.write().id() == "later") {
      env_->After(
          absl::Milliseconds(10),
          [respond = std::move(respond), reply]() mutable { respond(reply); });
      return;
    }
    respond(reply);
  }
  void Flush() override { ++flushes; }
  int flushes = 0;

 private:
  Env* env_;
  std::vector<std::string>* log_;
};

pb::Envelope Write(const std::string& id) {
  pb::Envelope e;
  e.mutable_write()->set_id(id);
  return e;
}

TEST(SimWorld, DeliversRequestAndReplyThroughVirtualTime) {
  SimWorld world(1);
  std::vector<std::string> log;
  world.AddActor("node-1", [&](Env* env) {
    return std::make_unique<EchoActor>(env, &log);
  });
  std::string got;
  world.ClientSend(
      "client-1", "node-1", Write("a"),
      [&](const absl::StatusOr<pb::Envelope>& r) {
        got = r.ok() ? r->write_response().id() : r.status().ToString();
      },
      absl::Seconds(1));
  EXPECT_TRUE(world.RunUntilQuiescent(absl::Seconds(10)));
  EXPECT_EQ(got, "a");
  EXPECT_GT(world.now_ns(), 0);
  EXPECT_LT(world.now_ns(),
            1000000000);  // the timeout event is skipped, not waited for
  EXPECT_EQ(log, std::vector<std::string>{"start"});
}

TEST(SimWorld, DelayedRespondRunsAfterTimer) {
  SimWorld world(2);
  std::vector<std::string> log;
  world.AddActor("node-1", [&](Env* env) {
    return std::make_unique<EchoActor>(env, &log);
  });
  std::string got;
  world.ClientSend(
      "c", "node-1", Write("later"),
      [&](const absl::StatusOr<pb::Envelope>& r) {
        got = r->write_response().id();
      },
      absl::Seconds(1));
  world.RunUntilQuiescent(absl::Seconds(10));
  EXPECT_EQ(got, "later");
  EXPECT_GE(world.now_ns(), 10000000);
}

TEST(SimWorld, CrashedActorAnswersUnavailableAndRestartKeepsSyncedBytes) {
  SimWorld world(3);
  std::vector<std::string> log;
  world.AddActor("node-1", [&](Env* env) {
    return std::make_unique<EchoActor>(env, &log);
  });
  world.ClientSend(
      "c", "node-1", Write("sync"), [](const absl::StatusOr<pb::Envelope>&) {},
      absl::Seconds(1));
  world.RunUntilQuiescent(absl::Seconds(1));
  auto file = world.disk("node-1")->OpenAppend("volatile");
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("lost").ok());
  world.Crash("node-1");
  EXPECT_FALSE(world.IsUp("node-1"));
  EXPECT_EQ(*world.disk("node-1")->ReadFile("volatile"), "");
  absl::Status status;
  world.ClientSend(
      "c", "node-1", Write("x"),
      [&](const absl::StatusOr<pb::Envelope>& r) { status = r.status(); },
      absl::Seconds(1));
  world.RunUntilQuiescent(absl::Seconds(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  world.Restart("node-1");
  world.RunUntilQuiescent(absl::Seconds(1));
  EXPECT_EQ(log, (std::vector<std::string>{"start", "restarted"}));
}

TEST(SimWorld, BlockedLinkTimesOutWithDeadlineExceeded) {
  SimWorld world(4);
  std::vector<std::string> log;
  world.AddActor("node-1", [&](Env* env) {
    return std::make_unique<EchoActor>(env, &log);
  });
  world.SetLinkBlocked("c", "node-1", true);
  absl::Status status;
  world.ClientSend(
      "c", "node-1", Write("x"),
      [&](const absl::StatusOr<pb::Envelope>& r) { status = r.status(); },
      absl::Milliseconds(500));
  world.RunUntilQuiescent(absl::Seconds(2));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(world.now_ns(), 500000000);
}

TEST(SimWorld, PausedActorReceivesNothingUntilResume) {
  SimWorld world(5);
  std::vector<std::string> log;
  world.AddActor("node-1", [&](Env* env) {
    return std::make_unique<EchoActor>(env, &log);
  });
  world.RunUntilQuiescent(absl::Seconds(1));
  world.Pause("node-1");
  std::string got;
  world.ClientSend(
      "c", "node-1", Write("p"),
      [&](const absl::StatusOr<pb::Envelope>& r) {
        got = r.ok() ? "ok" : "err";
      },
      absl::Seconds(10));
  world.RunUntil(absl::Seconds(2));
  EXPECT_EQ(got, "");
  world.Resume("node-1");
  world.RunUntil(absl::Seconds(3));
  EXPECT_EQ(got, "ok");
}

std::string RunTrace(uint64_t seed) {
  SimWorld world(seed);
  world.network().reorder = 0.3;
  world.network().duplicate = 0.2;
  world.network().drop = 0.1;
  std::string trace;
  world.set_trace([&](const std::string& line, LogMark) {
    absl::StrAppend(&trace, line, "\n");
  });
  std::vector<std::string> log;
  for (int n = 1; n <= 3; ++n) {
    world.AddActor(absl::StrCat("node-", n), [&](Env* env) {
      return std::make_unique<EchoActor>(env, &log);
    });
  }
  for (int i = 0; i < 50; ++i) {
    world.ClientSend(
        absl::StrCat("c", i % 4), absl::StrCat("node-", 1 + i % 3),
        Write(absl::StrCat(i)), [](const absl::StatusOr<pb::Envelope>&) {},
        absl::Milliseconds(100));
  }
  world.RunUntilQuiescent(absl::Seconds(10));
  return trace;
}

TEST(SimWorld, SameSeedGivesIdenticalTrace) {
  const std::string a = RunTrace(42);
  EXPECT_EQ(a, RunTrace(42));
  EXPECT_NE(a, RunTrace(43));
  EXPECT_NE(a.find("recv write"), std::string::npos);
}

// Appends every request to a log and answers only after an fsync, one fsync
// per Flush() for everything handled since the last one: a group commit.
class GroupCommitActor final : public Actor {
 public:
  explicit GroupCommitActor(Env* env) : env_(env) {}
  void Start() override { file_ = *env_->disk()->OpenAppend("log"); }
  void Handle(const pb::Envelope& request, RespondFn respond) override {
    (void)file_->Append(request.write().id());
    waiting_.push_back(std::move(respond));
  }
  void Flush() override {
    if (waiting_.empty()) return;
    (void)file_->Sync();
    ++syncs;
    for (RespondFn& respond : waiting_) {
      pb::Envelope reply;
      reply.mutable_write_response()->set_id(absl::StrCat(
          "synced at ", absl::ToInt64Microseconds(env_->Now()), "us"));
      respond(std::move(reply));
    }
    waiting_.clear();
  }
  int syncs = 0;

 private:
  Env* env_;
  std::unique_ptr<WritableFile> file_;
  std::vector<RespondFn> waiting_;
};

// A world whose links all take exactly 100 µs and whose disks take `sync` per
// fsync, with a GroupCommitActor as node-1 (returned; gone after a crash).
GroupCommitActor* AddGroupCommitNode(SimWorld& world, absl::Duration sync) {
  world.network().min_latency = absl::Microseconds(100);
  world.network().max_latency = absl::Microseconds(100);
  world.network().jitter = absl::ZeroDuration();
  world.disk_options().min_sync = sync;
  world.disk_options().max_sync = sync;
  world.AddActor("node-1", [](Env* env) {
    return std::make_unique<GroupCommitActor>(env);
  });
  return static_cast<GroupCommitActor*>(world.actor("node-1"));
}

// With fsync time: what reaches a node while it fsyncs waits, then runs as one
// batch with one fsync (the live executor's group commit), and replies leave
// when the fsync is done.
TEST(SimWorld, FsyncTimeDelaysRepliesAndBatchesWhatArrivesMeanwhile) {
  SimWorld world(3);
  GroupCommitActor* node = AddGroupCommitNode(world, absl::Milliseconds(2));
  std::vector<std::string> replies;
  auto send = [&](const std::string& id) {
    world.ClientSend(
        "client-1", "node-1", Write(id),
        [&, id](const absl::StatusOr<pb::Envelope>& r) {
          replies.push_back(absl::StrCat(
              id, ": ", r.ok() ? r->write_response().id() : "error",
              ", back at ", absl::ToInt64Microseconds(world.Now()), "us"));
        },
        absl::Seconds(1));
  };
  send("a");  // reaches node-1 at 100us, fsync until 2100us
  world.Schedule(absl::Microseconds(500), [&] {
    send("b");  // reach node-1 at 600us, while it fsyncs
    send("c");
    send("d");
  });
  EXPECT_TRUE(world.RunUntilQuiescent(absl::Seconds(10)));

  EXPECT_EQ(replies,
            (std::vector<std::string>{"a: synced at 2100us, back at 2200us",
                                      "b: synced at 4100us, back at 4200us",
                                      "c: synced at 4100us, back at 4200us",
                                      "d: synced at 4100us, back at 4200us"}));
  EXPECT_EQ(node->syncs, 2);
  EXPECT_EQ(world.fsyncs(), 2u);
  EXPECT_EQ(world.batched_events(), 3u);
}

// Without fsync time (the default) every event is its own batch: one fsync
// each, and replies leave at once.
TEST(SimWorld, WithoutFsyncTimeEveryRequestIsItsOwnBatch) {
  SimWorld world(3);
  GroupCommitActor* node = AddGroupCommitNode(world, absl::ZeroDuration());
  int answered = 0;
  for (const char* id : {"a", "b", "c"}) {
    world.ClientSend(
        "client-1", "node-1", Write(id),
        [&](const absl::StatusOr<pb::Envelope>& r) {
          EXPECT_EQ(r->write_response().id(), "synced at 100us");
          ++answered;
        },
        absl::Seconds(1));
  }
  EXPECT_TRUE(world.RunUntilQuiescent(absl::Seconds(10)));
  EXPECT_EQ(answered, 3);
  EXPECT_EQ(node->syncs, 3);
  EXPECT_EQ(world.batched_events(), 0u);
}

// A node that crashes while it fsyncs: what it synced stays on disk, but its
// replies had not left yet, and what waited for it is lost; callers see the
// connection reset.
TEST(SimWorld, CrashDuringFsyncKeepsSyncedBytesAndLosesRepliesAndTheBatch) {
  SimWorld world(4);
  AddGroupCommitNode(world, absl::Milliseconds(2));
  std::vector<std::string> outcomes;
  auto send = [&](const std::string& id) {
    world.ClientSend(
        "client-1", "node-1", Write(id),
        [&, id](const absl::StatusOr<pb::Envelope>& r) {
          outcomes.push_back(absl::StrCat(
              id, r.ok() ? " ok" : absl::StrCat(" ", r.status().message())));
        },
        absl::Seconds(1));
  };
  send("a");  // handled at 100us, in fsync until 2100us
  world.Schedule(absl::Microseconds(500), [&] { send("b"); });
  world.Schedule(absl::Microseconds(1000), [&] { world.Crash("node-1"); });
  EXPECT_TRUE(world.RunUntilQuiescent(absl::Seconds(10)));
  EXPECT_EQ(outcomes, (std::vector<std::string>{"a connection reset: node-1",
                                                "b connection reset: node-1"}));
  EXPECT_EQ(world.disk("node-1")->SyncedBytes("log"), 1u);  // "a"
}

TEST(SimDisk, CrashKeepsOnlySyncedBytesAndListsDirectories) {
  SimDisk disk;
  auto f = disk.OpenAppend("shards/idx/0/translog");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abc").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("def").ok());
  ASSERT_TRUE(disk.WriteFileAtomic("state", "s").ok());
  EXPECT_EQ(disk.List("shards"), std::vector<std::string>{"idx"});
  EXPECT_EQ(disk.List(""), (std::vector<std::string>{"shards", "state"}));
  EXPECT_TRUE(disk.Exists("shards/idx"));
  disk.Crash();
  EXPECT_EQ(*disk.ReadFile("shards/idx/0/translog"), "abc");
  EXPECT_EQ(*disk.ReadFile("state"), "s");
  ASSERT_TRUE(disk.RemoveAll("shards").ok());
  EXPECT_FALSE(disk.Exists("shards/idx/0/translog"));
}

TEST(SimDisk, TestHooksCountFsyncsTearAnExactTailAndFailAtomicWrites) {
  SimDisk disk;
  auto f = disk.OpenAppend("log");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Append("abc").ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->Append("defgh").ok());
  EXPECT_EQ(disk.syncs(), 1);
  EXPECT_EQ(disk.SyncedBytes("log"), 3u);
  EXPECT_EQ(disk.FileSize("log"), 8u);
  disk.TearTail("log", 2);
  EXPECT_EQ(*disk.ReadFile("log"), "abcde");
  EXPECT_EQ(disk.SyncedBytes("log"), 5u);
  ASSERT_NE(disk.MutableBytes("log"), nullptr);
  (*disk.MutableBytes("log"))[0] = 'X';
  EXPECT_EQ(*disk.ReadFile("log"), "Xbcde");
  EXPECT_EQ(disk.MutableBytes("missing"), nullptr);

  std::vector<std::string> writes;
  disk.OnAtomicWrite([&](const std::string& path) { writes.push_back(path); });
  disk.FailAtomicWrites(absl::UnavailableError("disk full"));
  EXPECT_EQ(disk.WriteFileAtomic("state", "s").code(),
            absl::StatusCode::kUnavailable);
  EXPECT_FALSE(disk.Exists("state"));
  disk.FailAtomicWrites(absl::OkStatus());
  ASSERT_TRUE(disk.WriteFileAtomic("state", "s").ok());
  EXPECT_EQ(writes, std::vector<std::string>{"state"});
}

// The reused envelopes of EnvelopeCache give exactly what a fresh parse gives:
// nothing of the previous message of the same body survives (fields, optional
// presence, repeated elements, the sender), a different body or a bad message
// in between changes nothing.
TEST(EnvelopeCache, ReusedEnvelopesParseLikeFreshOnes) {
  pb::Envelope big;
  big.set_from("node-1");
  pb::ReplicateRequest* r = big.mutable_replicate();
  r->mutable_shard()->set_index("idx");
  r->set_primary_term(3);
  r->set_primary_node("node-1");
  for (int i = 0; i < 3; ++i) {
    pb::Operation* op = r->add_ops();
    op->set_seq_no(i);
    op->set_id(absl::StrCat("doc-", i));
  }
  pb::Envelope small;
  small.mutable_replicate()->set_global_checkpoint(7);
  small.mutable_replicate()->add_ops()->set_seq_no(9);
  pb::Envelope cas;
  cas.mutable_write()->set_id("a");
  cas.mutable_write()->set_if_seq_no(0);
  cas.mutable_write()->set_if_primary_term(1);
  pb::Envelope plain;
  plain.mutable_write()->set_id("b");
  // The sender comes last on the wire, as SimWorld stamps it.
  std::string plain_bytes = plain.SerializeAsString();
  pb::Envelope from_only;
  from_only.set_from("node-2");
  plain_bytes += from_only.SerializeAsString();
  plain.set_from("node-2");

  EnvelopeCache cache;
  const std::vector<std::pair<std::string, const pb::Envelope*>> sequence = {
      {big.SerializeAsString(), &big}, {small.SerializeAsString(), &small},
      {cas.SerializeAsString(), &cas}, {"\xff\xff not a message", nullptr},
      {plain_bytes, &plain},           {big.SerializeAsString(), &big},
      {cas.SerializeAsString(), &cas}, {small.SerializeAsString(), &small}};
  for (const auto& [bytes, want] : sequence) {
    const absl::StatusOr<pb::Envelope>* got = cache.Parse(bytes);
    if (want == nullptr) {
      EXPECT_EQ(got, nullptr);
      continue;
    }
    ASSERT_NE(got, nullptr);
    ASSERT_TRUE(got->ok());
    EXPECT_EQ((*got)->DebugString(), want->DebugString());
    EXPECT_EQ((*got)->SerializeAsString(), want->SerializeAsString());
  }
  const absl::StatusOr<pb::Envelope>* write = cache.Parse(plain_bytes);
  ASSERT_NE(write, nullptr);
  EXPECT_FALSE((*write)->write().has_if_seq_no());
  EXPECT_FALSE((*write)->write().has_if_primary_term());
}

}  // namespace
}  // namespace seqsim::sim
