// Issue 13: a bounded gRPC fuzz run against a real 3-node cluster. For every
// service and method, a fixed seed draws messages of four kinds:
//   - random messages (every field drawn, huge and negative numbers, invalid
//     enum values, random bytes) made invalid by one crafted field (a name
//     that is not UTF-8, too long or a path; a shard out of range; a bad
//     action): answered INVALID_ARGUMENT;
//   - the bytes of a random message of another type parsed as this method's
//     request (wrong types), likewise made invalid;
//   - forged publishes and joins that are well formed (a state of version
//     2^31 or of another cluster, a join naming another node):
//     FAILED_PRECONDITION;
//   - any of those without the cluster identity: UNAUTHENTICATED.
// Read-only methods (Get, Search, ShardSearch, NodeStatus, GetClusterState)
// also get fully random messages, answered with any orderly code.
// Afterwards every process is up and the cluster's documents, copies and state
// are unchanged. SEQSIM_FUZZ_COUNT (messages per method, default 2000) and
// SEQSIM_FUZZ_SEED (default 13) make a longer run: bench/grpc_fuzz.sh.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/env.h"
#include "common/live/identity.h"
#include "common/live/transport.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "gtest/gtest.h"
#include "tests/live/live_cluster.h"

namespace seqsim::testing {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

int64_t EnvNumber(const char* name, int64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoll(text, nullptr, 10);
}

// SplitMix64: the test's own generator (standard distributions differ by
// library; the seed must replay the same messages).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }

  int64_t Number() {
    static constexpr int64_t kSpecial[] = {0,
                                           -1,
                                           -2,
                                           1,
                                           2,
                                           1'000'000,
                                           2147483647,
                                           -2147483647 - 1,
                                           INT64_MAX,
                                           INT64_MIN,
                                           int64_t{1} << 53};
    if (OneIn(2)) return kSpecial[Below(std::size(kSpecial))];
    return static_cast<int64_t>(Next()) >> Below(64);
  }

  std::string Bytes() {
    static const char* kWords[] = {"canary", "node-1",    "coordinator",
                                   "{}",     "{\"a\":1}", "_all",
                                   "*",      "\xff",      ""};
    if (OneIn(3)) return kWords[Below(std::size(kWords))];
    std::string out(Below(24), '\0');
    const bool ascii = OneIn(2);
    for (char& c : out)
      c = static_cast<char>(ascii ? 'a' + Below(26) : Below(256));
    return out;
  }

 private:
  uint64_t state_;
};

// Draws every field of `message` (half of them set; repeated: 0-3 elements;
// nested messages to `depth`).
void Randomize(Message* message, Random& random, int depth) {
  const Reflection* reflection = message->GetReflection();
  const auto* descriptor = message->GetDescriptor();
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    if (random.OneIn(2)) continue;
    const int count =
        field->is_repeated() ? static_cast<int>(random.Below(4)) : 1;
    for (int k = 0; k < count; ++k) {
      const bool repeated = field->is_repeated();
      switch (field->cpp_type()) {
        case FieldDescriptor::CPPTYPE_INT32:
        case FieldDescriptor::CPPTYPE_UINT32: {
          const auto value = static_cast<int32_t>(random.Number());
          repeated ? reflection->AddInt32(message, field, value)
                   : reflection->SetInt32(message, field, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_INT64:
        case FieldDescriptor::CPPTYPE_UINT64: {
          const int64_t value = random.Number();
          repeated ? reflection->AddInt64(message, field, value)
                   : reflection->SetInt64(message, field, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_BOOL:
          repeated ? reflection->AddBool(message, field, random.OneIn(2))
                   : reflection->SetBool(message, field, random.OneIn(2));
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          // Open enums: unknown values reach the server as they are.
          const int value = random.OneIn(4) ? static_cast<int>(random.Number())
                                            : static_cast<int>(random.Below(4));
          repeated ? reflection->AddEnumValue(message, field, value)
                   : reflection->SetEnumValue(message, field, value);
          break;
        }
        case FieldDescriptor::CPPTYPE_STRING:
          repeated ? reflection->AddString(message, field, random.Bytes())
                   : reflection->SetString(message, field, random.Bytes());
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth <= 0) break;
          Randomize(repeated ? reflection->AddMessage(message, field)
                             : reflection->MutableMessage(message, field),
                    random, depth - 1);
          break;
        default:
          break;
      }
    }
  }
}

// A value no validator accepts as an index name or a node id.
std::string BadName(Random& random) {
  static const char* kBad[] = {"\xff", "a\xc0\x80", "\xed\xa0\x80", "a/b",
                               "../x", "",          "..",           "x\\y"};
  if (random.OneIn(8)) return std::string(300, 'a');
  return kBad[random.Below(std::size(kBad))];
}

void BreakShard(pb::ShardRef* shard, Random& random) {
  if (random.OneIn(3)) {
    shard->set_shard(random.OneIn(2)
                         ? -1 - static_cast<int>(random.Below(9))
                         : 1024 + static_cast<int>(random.Below(9)));
  } else {
    shard->set_index(BadName(random));
  }
}

// One fuzzed method: how its body is set in an Envelope, where it goes, and
// how one of its messages is made invalid (null: read-only, may stay random).
struct Method {
  std::string name;
  bool to_coordinator;
  std::function<Message*(pb::Envelope*)> body;
  std::function<void(pb::Envelope*, Random&)> make_invalid;
};

std::vector<Method> Methods() {
  std::vector<Method> methods;
  auto add = [&](std::string name, bool to_coordinator,
                 std::function<Message*(pb::Envelope*)> body,
                 std::function<void(pb::Envelope*, Random&)> make_invalid) {
    methods.push_back({std::move(name), to_coordinator, std::move(body),
                       std::move(make_invalid)});
  };
  add(
      "Documents/Write", false,
      [](pb::Envelope* e) { return e->mutable_write(); },
      [](pb::Envelope* e, Random& r) {
        e->mutable_write()->set_index(BadName(r));
      });
  add(
      "Documents/Bulk", false,
      [](pb::Envelope* e) { return e->mutable_bulk(); },
      [](pb::Envelope* e, Random& r) {
        pb::BulkRequest* bulk = e->mutable_bulk();
        if (bulk->items_size() == 0) bulk->add_items();
        bulk->mutable_items(r.Below(bulk->items_size()))->set_index(BadName(r));
      });
  add(
      "Documents/Get", false, [](pb::Envelope* e) { return e->mutable_get(); },
      nullptr);
  add(
      "Documents/Search", false,
      [](pb::Envelope* e) { return e->mutable_search(); }, nullptr);
  add(
      "Documents/ShardSearch", false,
      [](pb::Envelope* e) { return e->mutable_shard_search(); }, nullptr);
  add(
      "Documents/Refresh", false,
      [](pb::Envelope* e) { return e->mutable_refresh(); },
      [](pb::Envelope* e, Random& r) {
        e->mutable_refresh()->add_indices(BadName(r));
      });
  for (bool coordinator : {false, true}) {
    const std::string service = coordinator ? "Coordination/" : "Documents/";
    add(
        service + "CreateIndex", coordinator,
        [](pb::Envelope* e) { return e->mutable_create_index(); },
        [](pb::Envelope* e, Random& r) {
          e->mutable_create_index()->set_index(BadName(r));
        });
    add(
        service + "DeleteIndex", coordinator,
        [](pb::Envelope* e) { return e->mutable_delete_index(); },
        [](pb::Envelope* e, Random& r) {
          e->mutable_delete_index()->set_index(BadName(r));
        });
  }
  add(
      "Replication/Replicate", false,
      [](pb::Envelope* e) { return e->mutable_replicate(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_replicate()->mutable_shard(), r);
      });
  add(
      "Replication/Resync", false,
      [](pb::Envelope* e) { return e->mutable_resync(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_resync()->mutable_shard(), r);
      });
  add(
      "Replication/StartRecovery", false,
      [](pb::Envelope* e) { return e->mutable_start_recovery(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_start_recovery()->mutable_shard(), r);
      });
  add(
      "Replication/RecoverySnapshot", false,
      [](pb::Envelope* e) { return e->mutable_recovery_snapshot(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_recovery_snapshot()->mutable_shard(), r);
      });
  add(
      "Replication/RecoveryOps", false,
      [](pb::Envelope* e) { return e->mutable_recovery_ops(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_recovery_ops()->mutable_shard(), r);
      });
  add(
      "Publication/Publish", false,
      [](pb::Envelope* e) { return e->mutable_publish(); },
      [](pb::Envelope* e, Random& r) {
        pb::ClusterState* state = e->mutable_publish()->mutable_state();
        if (r.OneIn(2)) {
          state->set_cluster_uuid(BadName(r));
        } else {
          state->set_version(-static_cast<int64_t>(r.Below(3)));
        }
      });
  add(
      "Coordination/Join", true,
      [](pb::Envelope* e) { return e->mutable_join(); },
      [](pb::Envelope* e, Random& r) {
        e->mutable_join()->mutable_node()->set_id(BadName(r));
      });
  add(
      "Coordination/Heartbeat", true,
      [](pb::Envelope* e) { return e->mutable_heartbeat(); },
      [](pb::Envelope* e, Random& r) {
        e->mutable_heartbeat()->set_node_id(BadName(r));
      });
  add(
      "Coordination/ShardFailed", true,
      [](pb::Envelope* e) { return e->mutable_shard_failed(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_shard_failed()->mutable_shard(), r);
      });
  add(
      "Coordination/ShardStarted", true,
      [](pb::Envelope* e) { return e->mutable_shard_started(); },
      [](pb::Envelope* e, Random& r) {
        BreakShard(e->mutable_shard_started()->mutable_shard(), r);
      });
  add(
      "Coordination/GetClusterState", true,
      [](pb::Envelope* e) { return e->mutable_get_cluster_state(); }, nullptr);
  for (bool coordinator : {false, true}) {
    const std::string where = coordinator ? " (coordinator)" : "";
    add(
        "Admin/Fault" + where, coordinator,
        [](pb::Envelope* e) { return e->mutable_fault(); },
        [](pb::Envelope* e, Random& r) {
          if (r.OneIn(3)) {
            e->mutable_fault()->set_action(
                static_cast<pb::FaultRequest::Action>(5 + r.Below(100)));
          } else if (r.OneIn(2)) {
            e->mutable_fault()->set_action(r.OneIn(2)
                                               ? pb::FaultRequest::DROP
                                               : pb::FaultRequest::DUPLICATE);
            e->mutable_fault()->set_probability(
                r.OneIn(2) ? -0.5 - static_cast<double>(r.Below(9))
                           : 1.5 + static_cast<double>(r.Below(9)));
          } else {
            e->mutable_fault()->set_delay_ms(-1 - static_cast<int>(r.Below(9)));
          }
        });
    add(
        "Admin/NodeStatus" + where, coordinator,
        [](pb::Envelope* e) { return e->mutable_node_status(); }, nullptr);
  }
  return methods;
}

// Sends many calls with a bounded number in flight and checks each answer.
class Fuzzer {
 public:
  explicit Fuzzer(LiveCluster& cluster) : cluster_(cluster) {}

  using Check = std::function<bool(absl::StatusCode)>;

  void Fire(Transport& transport, const Method& method, int node,
            pb::Envelope request, Check check, std::string expected) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](int* n) { return *n < kWindow; }, &in_flight_));
      ++in_flight_;
    }
    const std::string to =
        method.to_coordinator ? kCoordinatorId : cluster_.NodeId(node);
    const std::string address = method.to_coordinator
                                    ? cluster_.CoordinatorAddress()
                                    : cluster_.NodeAddress(node);
    const std::string label = method.name;
    transport.Call(
        to, address, std::move(request), absl::Seconds(10),
        [this, check = std::move(check), label,
         expected = std::move(expected)](absl::StatusOr<pb::Envelope> reply) {
          absl::MutexLock lock(&mu_);
          --in_flight_;
          ++answered_;
          if (!check(reply.status().code())) {
            if (failures_.size() < 20) {
              failures_.push_back(absl::StrCat(label, ": expected ", expected,
                                               ", got ",
                                               reply.status().ToString()));
            }
            ++failed_;
          }
        });
  }

  // Waits for every answer; returns the failures (at most 20 kept).
  std::vector<std::string> Drain(int64_t* answered, int64_t* failed) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &in_flight_));
    *answered = answered_;
    *failed = failed_;
    return failures_;
  }

 private:
  static constexpr int kWindow = 32;
  LiveCluster& cluster_;
  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t answered_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> failures_ ABSL_GUARDED_BY(mu_);
};

Fuzzer::Check Is(absl::StatusCode code) {
  return [code](absl::StatusCode got) { return got == code; };
}

// A read-only call may be answered in any orderly way; not with a crash, a
// hang or a dropped connection.
bool Orderly(absl::StatusCode code) {
  return code == absl::StatusCode::kOk ||
         code == absl::StatusCode::kInvalidArgument ||
         code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kNotFound;
}

// Every message of a random other type, as bytes, parsed as `target`.
void WrongType(Message* target, Random& random) {
  static const std::vector<std::function<Message*(pb::Envelope*)>> kBodies = {
      [](pb::Envelope* e) { return e->mutable_write(); },
      [](pb::Envelope* e) { return e->mutable_replicate(); },
      [](pb::Envelope* e) { return e->mutable_publish(); },
      [](pb::Envelope* e) { return e->mutable_join(); },
      [](pb::Envelope* e) { return e->mutable_recovery_snapshot(); },
      [](pb::Envelope* e) { return e->mutable_fault(); },
      [](pb::Envelope* e) { return e->mutable_search(); }};
  pb::Envelope other;
  Message* body = kBodies[random.Below(kBodies.size())](&other);
  Randomize(body, random, 3);
  std::string bytes = body->SerializeAsString();
  if (random.OneIn(4) && !bytes.empty()) {
    bytes[random.Below(bytes.size())] ^=
        static_cast<char>(1 + random.Below(255));
  }
  target->Clear();
  (void)target->ParseFromString(bytes);  // a failed parse leaves a partial one
}

TEST(GrpcFuzz, EveryMethodRefusesBadMessagesAndTheClusterStaysUnchanged) {
  const int64_t per_method = EnvNumber("SEQSIM_FUZZ_COUNT", 2000);
  const uint64_t seed =
      static_cast<uint64_t>(EnvNumber("SEQSIM_FUZZ_SEED", 13));
  LiveClusterOptions options;
  // Generous failure detection: the fuzz load must not be what moves a
  // primary (the state is compared afterwards).
  options.heartbeat_timeout_ms = 3000;
  LiveCluster cluster(options);
  ASSERT_NO_FATAL_FAILURE(cluster.Start());
  ASSERT_TRUE(cluster.CreateIndex("canary", 1, 2).ok());
  ASSERT_TRUE(cluster.WaitGreen());
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<pb::WriteResponse> written =
        cluster.Write(1 + i % 3, "canary", absl::StrCat("doc-", i),
                      absl::StrCat("{\"n\":", i, "}"));
    ASSERT_TRUE(written.ok() && written->error().type().empty());
  }
  absl::StatusOr<pb::ClusterState> before = cluster.State();
  ASSERT_TRUE(before.ok());
  std::vector<pb::ShardStatus> copies_before;
  for (int n = 1; n <= 3; ++n) {
    std::optional<pb::ShardStatus> copy = cluster.CopyStatus(n, "canary");
    ASSERT_TRUE(copy.has_value());
    copies_before.push_back(*copy);
  }

  Transport member("fuzzer", cluster.identity());
  Transport impostor(kCoordinatorId, cluster.identity());
  Transport anonymous("fuzzer", nullptr);
  Random random(seed);
  Fuzzer fuzzer(cluster);
  const std::vector<Method> methods = Methods();
  for (const Method& method : methods) {
    for (int64_t i = 0; i < per_method; ++i) {
      const int node = 1 + static_cast<int>(random.Below(3));
      pb::Envelope request;
      Message* body = method.body(&request);
      const uint64_t kind = random.Below(16);
      if (kind < 3) {
        WrongType(body, random);
      } else {
        Randomize(body, random, 3);
      }
      if (kind == 15) {  // no identity at all
        fuzzer.Fire(anonymous, method, node, std::move(request),
                    Is(absl::StatusCode::kUnauthenticated), "UNAUTHENTICATED");
        continue;
      }
      if (kind == 14 && method.name == "Publication/Publish") {
        // Well formed, from "the coordinator": of another cluster or far
        // ahead of the applied version.
        pb::Envelope forged;
        *forged.mutable_publish()->mutable_state() = *before;
        if (random.OneIn(2)) {
          forged.mutable_publish()->mutable_state()->set_cluster_uuid(
              "AAAAAAAAAAAAAAAAAAAAAA");
        } else {
          forged.mutable_publish()->mutable_state()->set_version(
              before->version() + 2'000'000 + random.Below(1u << 30));
        }
        forged.mutable_publish()->mutable_state()->clear_indices();
        fuzzer.Fire(impostor, method, node, std::move(forged),
                    Is(absl::StatusCode::kFailedPrecondition),
                    "FAILED_PRECONDITION");
        continue;
      }
      if (kind == 14 && method.name == "Coordination/Join") {
        pb::Envelope forged;
        forged.mutable_join()->mutable_node()->set_id(
            absl::StrCat("node-", 4 + random.Below(1000)));
        forged.mutable_join()->mutable_node()->set_grpc_address("127.0.0.1:1");
        fuzzer.Fire(member, method, node, std::move(forged),
                    Is(absl::StatusCode::kFailedPrecondition),
                    "FAILED_PRECONDITION");
        continue;
      }
      if (method.make_invalid == nullptr) {
        fuzzer.Fire(member, method, node, std::move(request), Orderly,
                    "an orderly answer");
        continue;
      }
      method.make_invalid(&request, random);
      fuzzer.Fire(member, method, node, std::move(request),
                  Is(absl::StatusCode::kInvalidArgument), "INVALID_ARGUMENT");
    }
  }
  int64_t answered = 0;
  int64_t failed = 0;
  std::vector<std::string> failures = fuzzer.Drain(&answered, &failed);
  EXPECT_EQ(answered, per_method * static_cast<int64_t>(methods.size()));
  EXPECT_EQ(failed, 0);
  for (const std::string& failure : failures) ADD_FAILURE() << failure;
  std::printf("fuzz: seed %llu, %lld messages (%lld per method, %zu methods)\n",
              static_cast<unsigned long long>(seed),
              static_cast<long long>(answered),
              static_cast<long long>(per_method), methods.size());

  // Every process up; nodes, indices, terms, in-sync sets, copies and
  // documents as before.
  for (int n = 1; n <= 3; ++n) EXPECT_TRUE(cluster.NodeRunning(n)) << n;
  absl::StatusOr<pb::ClusterState> after = cluster.State();
  ASSERT_TRUE(after.ok()) << "the coordinator no longer answers";
  EXPECT_EQ(after->cluster_uuid(), before->cluster_uuid());
  ASSERT_EQ(after->nodes_size(), before->nodes_size());
  for (int i = 0; i < after->nodes_size(); ++i) {
    EXPECT_EQ(after->nodes(i).id(), before->nodes(i).id());
    EXPECT_EQ(after->nodes(i).grpc_address(), before->nodes(i).grpc_address());
  }
  ASSERT_EQ(after->indices_size(), 1);
  const pb::ShardRouting& routing_after = after->indices(0).shards(0);
  const pb::ShardRouting& routing_before = before->indices(0).shards(0);
  EXPECT_EQ(after->indices(0).uuid(), before->indices(0).uuid());
  EXPECT_EQ(routing_after.primary_term(), routing_before.primary_term());
  EXPECT_EQ(routing_after.in_sync_size(), routing_before.in_sync_size());
  for (int n = 1; n <= 3; ++n) {
    std::optional<pb::ShardStatus> copy = cluster.CopyStatus(n, "canary");
    ASSERT_TRUE(copy.has_value()) << n;
    EXPECT_EQ(copy->max_seq_no(), copies_before[n - 1].max_seq_no()) << n;
    EXPECT_EQ(copy->primary_term(), copies_before[n - 1].primary_term()) << n;
    EXPECT_EQ(copy->docs(), copies_before[n - 1].docs()) << n;
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<pb::GetResponse> got =
          cluster.GetLocal(n, "canary", absl::StrCat("doc-", i));
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(got->found());
      EXPECT_EQ(got->source(), absl::StrCat("{\"n\":", i, "}"));
    }
  }
  for (int n = 1; n <= 3; ++n) {
    absl::StatusOr<pb::NodeStatusResponse> status = cluster.NodeStatus(n);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->partitioned_size(), 0) << "a fuzzed Fault partitioned";
  }
  EXPECT_TRUE(cluster.WaitGreen(absl::Seconds(30)));
  if (HasFailure()) cluster.DumpLogs();
}

}  // namespace
}  // namespace seqsim::testing
