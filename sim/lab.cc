#include "sim/lab.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "coordinator/logic/coordinator.h"
#include "nlohmann/json.hpp"
#include "node/engine/shard_engine.h"
#include "node/logic/node.h"
#include "node/logic/routing.h"
#include "sim/sim_world.h"

namespace seqsim::sim {
namespace {

constexpr char kIndex[] = "lab";
constexpr int64_t kFinalReadProcess = 1000000;

std::string NodeId(int n) { return absl::StrCat("node-", n); }

// {"v":123} -> 123; kNil if absent.
int64_t ParseValue(const std::string& source) {
  const size_t at = source.find("\"v\":");
  if (at == std::string::npos) return kNil;
  size_t i = at + 4;
  while (i < source.size() && source[i] == ' ') ++i;
  bool negative = false;
  if (i < source.size() && source[i] == '-') {
    negative = true;
    ++i;
  }
  int64_t v = 0;
  bool any = false;
  while (i < source.size() && source[i] >= '0' && source[i] <= '9') {
    v = v * 10 + (source[i] - '0');
    any = true;
    ++i;
  }
  if (!any) return kNil;
  return negative ? -v : v;
}

bool HasError(const pb::Error& e) { return !e.type().empty(); }

class Lab {
 public:
  Lab(const LabConfig& config, LabResult* result)
      : config_(config),
        result_(result),
        world_(config.seed),
        rng_(DeriveSeed(config.seed, "lab")) {}

  void Run() {
    RunPhases();
    result_->events = world_.events();
    result_->deliveries = world_.deliveries();
    result_->fsyncs = world_.fsyncs();
    result_->batched_events = world_.batched_events();
    result_->virtual_ns = world_.now_ns();
  }

 private:
  void RunPhases();
  struct Client {
    int index = 0;
    int64_t process = 0;
    int generation = 0;
    // The node this client believes holds the primary, as of
    // believed_at_ns: the client learns the routing from the coordinator at
    // most once a second, so after a failover it may still send to a deposed
    // primary (what R11 is about).
    std::string believed_primary;
    int64_t believed_at_ns = -1;
  };

  // world_.actor() of a node or the coordinator. The invariant checks ask
  // after every event, so each answer is kept until the Lab next adds,
  // crashes or restarts an actor (only the Lab does, through the helpers
  // below, which forget every kept answer).
  Node* node(const std::string& id) {
    for (size_t i = 0; i < node_ids_.size(); ++i) {
      if (node_ids_[i] == id) return NodeAt(i);
    }
    return static_cast<Node*>(world_.actor(id));
  }
  Node* NodeAt(size_t i) {
    if (node_cache_.size() != node_ids_.size())
      node_cache_.assign(node_ids_.size(), {false, nullptr});
    auto& [known, n] = node_cache_[i];
    if (!known) {
      n = static_cast<Node*>(world_.actor(node_ids_[i]));
      known = true;
    }
    return n;
  }
  Coordinator* coordinator() {
    if (!coordinator_known_) {
      coordinator_ = static_cast<Coordinator*>(world_.actor(kCoordinatorId));
      coordinator_known_ = true;
    }
    return coordinator_;
  }
  void ForgetActors() {
    node_cache_.clear();
    coordinator_known_ = false;
    // A new actor may reuse an old one's address: cluster-state caches too.
    plan_valid_ = false;
    for (ShardPlan& plan : plan_) plan.applied_valid = false;
  }
  void AddActor(const std::string& id, SimWorld::ActorFactory factory) {
    world_.AddActor(id, std::move(factory));
    ForgetActors();
  }
  void Crash(const std::string& id) {
    world_.Crash(id);
    ForgetActors();
  }
  void Restart(const std::string& id) {
    world_.Restart(id);
    ForgetActors();
  }
  const pb::IndexMeta* LabIndex(const pb::ClusterState& state) const {
    for (const auto& index : state.indices()) {
      if (index.name() == kIndex) return &index;
    }
    return nullptr;
  }
  std::string PrimaryNode();
  // `c`'s belief of where the primary of `key`'s shard is (refreshed at most
  // once a second of virtual time); "" if unknown.
  const std::string& BelievedPrimary(Client* c, const std::string& key);
  std::string Key(int k) const { return absl::StrCat("k", k); }
  int ShardOf(const std::string& key) const {
    return ShardForId(key, config_.shards);
  }

  bool Setup();
  // Workload.
  void ScheduleNext(Client* c);
  void Issue(Client* c);
  void Read(Client* c, const std::string& key, const std::string& to,
            bool then_cas);
  void Delete(Client* c, const std::string& key, const std::string& to);
  void Write(Client* c, const std::string& key, const std::string& to, bool cas,
             int64_t expected, int64_t seq_no, int64_t term);
  void Record(EventType type, int64_t process, Fn f, const std::string& key,
              int64_t value, int64_t expected = kNil,
              Outcome outcome = Outcome::kNone);
  void Indeterminate(Client* c) {
    ++c->generation;
    c->process =
        c->index + static_cast<int64_t>(config_.clients) * c->generation;
  }
  void Done(Client* c) {
    --busy_;
    ScheduleNext(c);
  }
  // Nemesis.
  void ScheduleNemesis(int64_t start_ns, int64_t end_ns);
  void Fault(const std::string& kind, int64_t heal_after_ns);
  void HealAll();
  void Note(const std::string& what);
  // Invariants.
  void CheckInvariants();
  void RefreshInputs();
  void ObserveRpc(const std::string& caller, const std::string& callee,
                  const pb::Envelope& request, const pb::Envelope& response);
  void Violation(const std::string& name, const std::string& detail);
  std::string EventText() const;
  bool Converged(std::string* why);
  void FinalReads();

  const LabConfig config_;
  LabResult* const result_;
  SimWorld world_;
  Rng rng_;
  std::vector<std::string> node_ids_;
  // See node() and coordinator(): (looked up, actor) by node_ids_ index.
  std::vector<std::pair<bool, Node*>> node_cache_;
  bool coordinator_known_ = false;
  Coordinator* coordinator_ = nullptr;
  std::vector<Client> clients_;
  int64_t workload_end_ns_ = 0;
  int busy_ = 0;
  int64_t next_value_ = 1;
  // Highest acked (seq_no) per shard, for acked-write-on-in-sync.
  std::map<int, int64_t> acked_max_seq_no_;
  // same-ops-up-to-gcp, per (shard, in-sync copy): the seq_no up to which the
  // copy was found to hold the primary's operations, and what it was compared
  // with (a new primary, term or engine starts the comparison over).
  struct Agreement {
    std::string primary;
    int64_t term = 0;
    const ShardEngine* primary_engine = nullptr;
    const ShardEngine* engine = nullptr;
    int64_t verified = kNoOpsPerformed;
  };
  std::map<std::pair<int, std::string>, Agreement> agreement_;
  // Bumped whenever agreement_ may have changed.
  uint64_t agreement_epoch_ = 0;
  // The last CheckSameOps call that found every member verified: while
  // agreement_ is unchanged, the same call finds the same.
  struct VerifiedCall {
    bool valid = false;
    uint64_t epoch = 0;
    int shard = 0;
    std::string primary;
    int64_t term = 0;
    int64_t known_gcp = 0;
    std::vector<std::string> members;
  };
  VerifiedCall last_verified_;
  // Invariant inputs as of the last check (see CheckInvariants): per node (in
  // node_ids_ order) the fields of its status the checks read, and the
  // coordinator's cluster state by (incarnation, version).
  struct CopyInput {
    std::string index_uuid;
    int32_t shard = 0;
    const char* role = "";  // ShardStatus.role
    bool primary = false;   // role == "primary"
    int64_t primary_term = 0;
    int64_t max_seq_no = 0;
    int64_t local_checkpoint = 0;
    int64_t global_checkpoint = 0;
    bool in_sync = false;
  };
  struct NodeInput {
    bool up = false;  // a live Node whose status was read
    int64_t state_version = 0;
    std::vector<CopyInput> copies;
  };
  std::vector<NodeInput> inputs_;
  std::vector<int> node_endpoints_;  // SimWorld endpoint index per node
  int coordinator_endpoint_ = -1;
  std::vector<Node::CopySummary> scratch_summaries_;
  bool inputs_changed_ = true;
  bool refresh_all_ = true;
  // Reads node `i`'s status into inputs_[i]; true if a field the checks read
  // changed.
  bool RefreshNode(size_t i);
  // `known_gcp`: the primary's global checkpoint as its status shows it.
  // `pn`: the primary's Node (or nullptr).
  void CheckSameOps(int shard, const std::string& primary, Node* pn,
                    int64_t term, int64_t known_gcp,
                    const std::vector<const std::string*>& members);
  // Reused by CheckInvariants (no allocation per event).
  struct CopyRef {
    const std::string* node;
    const CopyInput* status;
  };
  std::vector<CopyRef> scratch_copies_;
  std::vector<const std::string*> scratch_both_;
  // What CheckInvariants reads from cluster states, per shard of the
  // coordinator's lab index; node names as indices into node_ids_ (-1: not a
  // lab node). Kept until the coordinator's state changes (RefreshPlan), the
  // primary's in-sync set until the primary's applied state changes.
  struct ShardPlan {
    int shard = 0;
    std::string primary;  // "" if none
    int primary_index = -1;
    int64_t primary_term = 0;
    std::vector<int> coordinator_in_sync;  // routing order, lab nodes only
    std::vector<bool> coordinator_in_sync_mask;  // by node index
    bool applied_valid = false;
    const Node* applied_from = nullptr;
    int64_t applied_version = -1;
    std::vector<int> primary_in_sync;  // sorted by name, unique
  };
  int NodeIndex(const std::string& id) const;
  // Rebuilds plan_ if the coordinator's state changed; false if it knows no
  // lab index.
  bool RefreshPlan(const Coordinator* c);
  const std::vector<int>& PrimaryInSync(ShardPlan& plan, const Node* pn);
  bool plan_valid_ = false;
  bool plan_has_index_ = false;
  const Coordinator* plan_coordinator_ = nullptr;
  int64_t plan_state_version_ = -1;
  std::string plan_uuid_;
  size_t plan_shard_count_ = 0;
  std::vector<ShardPlan> plan_;
  std::vector<const CopyInput*> copy_table_;  // [node * shards + shard]
  static inline const std::vector<int> kNoMembers;
};

void Lab::Note(const std::string& what) {
  if (config_.trace) {
    const bool end = absl::StartsWith(what, "heal") ||
                     absl::StartsWith(what, "restart") ||
                     absl::StartsWith(what, "resume");
    result_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::NemesisEvent{.action = end ? "end" : "start",
                                .fault = what}});
  }
  result_->faults.push_back(
      absl::StrCat(FormatMillis(world_.now_ns()), " ", what));
  world_.Trace("nemesis", what);
}

void Lab::Record(EventType type, int64_t process, Fn f, const std::string& key,
                 int64_t value, int64_t expected, Outcome outcome) {
  if (config_.trace) {
    std::string text = value == kNil ? "" : absl::StrCat(value);
    if (f == Fn::kCas) {
      text =
          absl::StrCat("[", expected == kNil ? "nil" : absl::StrCat(expected),
                       " ", value == kNil ? "nil" : absl::StrCat(value), "]");
    }
    result_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::ClientEvent{
             .process = absl::StrCat(process),
             .type = EventTypeName(type),
             .f = FnName(f),
             .key = key,
             .value = outcome == Outcome::kNone
                          ? text
                          : absl::StrCat(text, " ", OutcomeName(outcome))}});
  }
  HistoryEvent e;
  e.process = process;
  e.type = type;
  e.f = f;
  e.key = key;
  e.value = value;
  e.expected = expected;
  e.outcome = outcome;
  e.time = world_.now_ns();
  if (world_.tracing())
    world_.Trace(absl::StrCat("client-", process), ToJsonLine(e));
  if (type == EventType::kOk && process < kFinalReadProcess) ++result_->ops_ok;
  if (type == EventType::kFail) ++result_->ops_fail;
  if (type == EventType::kInfo) ++result_->ops_info;
  result_->history.push_back(std::move(e));
}

std::string Lab::PrimaryNode() {
  Coordinator* c = coordinator();
  if (c == nullptr) return "";
  const pb::IndexMeta* index = LabIndex(c->state());
  if (index == nullptr || index->shards_size() == 0) return "";
  const pb::ShardRouting& routing =
      index->shards(static_cast<int>(rng_.Below(index->shards_size())));
  for (const auto& copy : routing.copies()) {
    if (copy.primary()) return copy.node_id();
  }
  return "";
}

const std::string& Lab::BelievedPrimary(Client* c, const std::string& key) {
  constexpr int64_t kRefreshNs = 1000 * 1000000LL;
  if (c->believed_at_ns < 0 ||
      world_.now_ns() - c->believed_at_ns >= kRefreshNs) {
    c->believed_at_ns = world_.now_ns();
    c->believed_primary.clear();
    Coordinator* coord = coordinator();
    const pb::IndexMeta* index =
        coord != nullptr ? LabIndex(coord->state()) : nullptr;
    if (index != nullptr) {
      for (const auto& routing : index->shards()) {
        if (routing.shard() != ShardOf(key)) continue;
        for (const auto& copy : routing.copies()) {
          if (copy.primary()) c->believed_primary = copy.node_id();
        }
      }
    }
  }
  return c->believed_primary;
}

bool Lab::Setup() {
  // A crash keeps the synced bytes plus a random prefix of the unsynced tail (a
  // torn write), which the translog must detect and cut off on restart.
  world_.network().torn_writes = true;
  world_.disk_options().min_sync = config_.fsync_min;
  world_.disk_options().max_sync = config_.fsync_max;
  world_.disk_options().sync_jitter = config_.fsync_jitter;
  CoordinatorOptions coordinator_options;
  AddActor(kCoordinatorId, [coordinator_options](Env* env) {
    return std::make_unique<Coordinator>(env, coordinator_options);
  });
  for (int n = 1; n <= config_.nodes; ++n) {
    NodeOptions options;
    options.id = NodeId(n);
    options.grpc_address = absl::StrCat("sim:", options.id);
    options.rest_address = absl::StrCat("sim-rest:", options.id);
    options.rpc_timeout = absl::Seconds(1);
    options.write_timeout = absl::Seconds(2);
    options.unsafe = config_.unsafe;
    options.gc_deletes = config_.gc_deletes;
    options.retention_lease_period = config_.retention_lease_period;
    options.translog_generation_threshold_bytes =
        static_cast<uint64_t>(config_.translog_generation_bytes);
    options.flush_threshold_bytes =
        static_cast<uint64_t>(config_.flush_threshold_bytes);
    node_ids_.push_back(options.id);
    AddActor(options.id, [options](Env* env) {
      return std::make_unique<Node>(env, options);
    });
  }
  auto all_joined = [this]() {
    Coordinator* c = coordinator();
    if (c == nullptr) return false;
    int alive = 0;
    for (const auto& n : c->state().nodes()) alive += n.alive() ? 1 : 0;
    return alive == config_.nodes;
  };
  if (!world_.RunUntilTrue(all_joined, absl::Seconds(10))) {
    Violation("setup", "the nodes did not all join the coordinator within 10s");
    return false;
  }
  bool created = false;
  int attempts = 0;
  std::function<void()> create = [&]() {
    pb::Envelope request;
    request.mutable_create_index()->set_index(kIndex);
    request.mutable_create_index()->set_number_of_shards(config_.shards);
    request.mutable_create_index()->set_number_of_replicas(config_.replicas);
    ++attempts;
    world_.ClientSend(
        "setup", node_ids_[0], std::move(request),
        [&](const absl::StatusOr<pb::Envelope>& reply) {
          if (reply.ok() && reply->has_create_index_response() &&
              !HasError(reply->create_index_response().error())) {
            created = true;
          } else if (attempts < 20) {
            world_.Schedule(absl::Milliseconds(200), [&]() { create(); });
          }
        },
        absl::Seconds(5));
  };
  create();
  if (!world_.RunUntilTrue([&]() { return created; }, absl::Seconds(20))) {
    Violation("setup", "index creation did not succeed within 20s");
    return false;
  }
  auto green = [this]() {
    Coordinator* c = coordinator();
    return c != nullptr && ComputeHealth(c->state(), kIndex).status == "green";
  };
  if (!world_.RunUntilTrue(green, absl::Seconds(20))) {
    Violation("setup", "the index did not turn green within 20s");
    return false;
  }
  return true;
}

void Lab::ScheduleNext(Client* c) {
  const int64_t think = rng_.Range(0, 20) * 1000000;
  if (world_.now_ns() + think >= workload_end_ns_ || world_.stopped()) return;
  world_.Schedule(absl::Nanoseconds(think), [this, c]() { Issue(c); });
}

void Lab::Issue(Client* c) {
  if (world_.stopped()) return;
  ++busy_;
  const std::string key = Key(static_cast<int>(rng_.Below(config_.keys)));
  const std::string& to = node_ids_[rng_.Below(node_ids_.size())];
  // Drawn only when deletes are on: runs without them replay unchanged.
  if (config_.delete_percent > 0 &&
      rng_.Below(100) < static_cast<uint64_t>(config_.delete_percent)) {
    Delete(c, key, to);
    return;
  }
  const uint64_t r = rng_.Below(100);
  if (r < 35) {
    Read(c, key, to, false);
  } else if (r < 70) {
    Write(c, key, to, false, kNil, 0, 0);
  } else {
    Read(c, key, to, true);
  }
}

void Lab::Read(Client* c, const std::string& key, const std::string& to,
               bool then_cas) {
  const int64_t process = c->process;
  Record(EventType::kInvoke, process, Fn::kRead, key, kNil);
  pb::Envelope request;
  request.mutable_get()->set_index(kIndex);
  request.mutable_get()->set_id(key);
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, to, then_cas,
       process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok()) {
          Record(EventType::kInfo, process, Fn::kRead, key, kNil);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::GetResponse& get = reply->get_response();
        if (HasError(get.error()) || !reply->has_get_response()) {
          Record(EventType::kFail, process, Fn::kRead, key, kNil);
          Done(c);
          return;
        }
        const int64_t value = get.found() ? ParseValue(get.source()) : kNil;
        Record(EventType::kOk, process, Fn::kRead, key, value);
        if (then_cas && get.found() && value != kNil &&
            world_.now_ns() < workload_end_ns_) {
          // Half the CAS go where the client believes the primary is (a
          // correct expectation sent to a primary that may have been deposed
          // since: R11), half through the node that answered the read.
          std::string cas_to = to;
          if (rng_.Chance(0.5)) {
            const std::string& believed = BelievedPrimary(c, key);
            if (!believed.empty()) cas_to = believed;
          }
          Write(c, key, cas_to, true, value, get.seq_no(), get.primary_term());
          return;
        }
        Done(c);
      },
      config_.client_timeout);
}

void Lab::Write(Client* c, const std::string& key, const std::string& to,
                bool cas, int64_t expected, int64_t seq_no, int64_t term) {
  const int64_t process = c->process;
  const int64_t value = next_value_++;
  const Fn f = cas ? Fn::kCas : Fn::kWrite;
  Record(EventType::kInvoke, process, f, key, value, expected);
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(kIndex);
  write->set_id(key);
  write->set_kind(pb::WriteRequest::INDEX);
  write->set_source(absl::StrCat("{\"v\":", value, "}"));
  if (cas) {
    write->set_if_seq_no(seq_no);
    write->set_if_primary_term(term);
  }
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, f, value, expected,
       process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() && NeverDelivered(reply.status())) {
          // The request never reached a node: it certainly did not happen.
          Record(EventType::kFail, process, f, key, value, expected);
          Done(c);
          return;
        }
        if (!reply.ok() || !reply->has_write_response()) {
          Record(EventType::kInfo, process, f, key, value, expected);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::WriteResponse& response = reply->write_response();
        if (HasError(response.error())) {
          const int status = response.error().status();
          if (world_.tracing()) {
            world_.Trace(
                absl::StrCat("client-", process),
                absl::StrCat("error ", status, " ", response.error().type(),
                             ": ", response.error().reason()));
          }
          // 4xx (a 409 version conflict included) is a definite failure: nodes
          // retry a forwarded write only when the primary was never reached, so
          // a CAS that did apply never comes back as a conflict with its own
          // effect.
          //
          // A 409 is more than "no effect": it is a claim that the document
          // was not at the expected version, which the checker verifies (R11:
          // a deposed primary must not answer it from its stale copy).
          if (status == 409 &&
              response.error().type() == "version_conflict_engine_exception") {
            Record(EventType::kFail, process, f, key, value, expected,
                   Outcome::kConflict);
          } else if (status >= 400 && status < 500) {
            Record(EventType::kFail, process, f, key, value, expected);
          } else {
            Record(EventType::kInfo, process, f, key, value, expected);
            Indeterminate(c);
          }
          Done(c);
          return;
        }
        Record(EventType::kOk, process, f, key, value, expected);
        int64_t& acked = acked_max_seq_no_[ShardOf(key)];
        if (response.seq_no() > acked) {
          acked = response.seq_no();
          inputs_changed_ = true;
        }
        if (config_.check_every_event) CheckInvariants();
        Done(c);
      },
      config_.client_timeout);
}

void Lab::Delete(Client* c, const std::string& key, const std::string& to) {
  const int64_t process = c->process;
  Record(EventType::kInvoke, process, Fn::kDelete, key, kNil);
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(kIndex);
  write->set_id(key);
  write->set_kind(pb::WriteRequest::DELETE);
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() && NeverDelivered(reply.status())) {
          Record(EventType::kFail, process, Fn::kDelete, key, kNil);
          Done(c);
          return;
        }
        if (!reply.ok() || !reply->has_write_response()) {
          Record(EventType::kInfo, process, Fn::kDelete, key, kNil);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::WriteResponse& response = reply->write_response();
        if (HasError(response.error())) {
          const int status = response.error().status();
          if (status >= 400 && status < 500) {
            Record(EventType::kFail, process, Fn::kDelete, key, kNil);
          } else {
            Record(EventType::kInfo, process, Fn::kDelete, key, kNil);
            Indeterminate(c);
          }
          Done(c);
          return;
        }
        // "deleted": the document existed; "not_found": it was absent (a
        // delete of a missing document still consumes a seq_no).
        Record(EventType::kOk, process, Fn::kDelete, key, kNil, kNil,
               response.result() == "not_found" ? Outcome::kNotFound
                                                : Outcome::kNone);
        int64_t& acked = acked_max_seq_no_[ShardOf(key)];
        if (response.seq_no() > acked) {
          acked = response.seq_no();
          inputs_changed_ = true;
        }
        if (config_.check_every_event) CheckInvariants();
        Done(c);
      },
      config_.client_timeout);
}

void Lab::ScheduleNemesis(int64_t start_ns, int64_t end_ns) {
  if (config_.nemesis == "none") return;
  static const std::vector<std::string> kAll = {"partition", "kill", "pause",
                                                "reorder"};
  int64_t t = start_ns + rng_.Range(100, 400) * 1000000;
  while (t + 300 * 1000000LL < end_ns) {
    const std::string kind = config_.nemesis == "all"
                                 ? kAll[rng_.Below(kAll.size())]
                                 : config_.nemesis;
    const int64_t duration =
        std::min<int64_t>(rng_.Range(300, 1500) * 1000000, end_ns - t);
    world_.Schedule(absl::Nanoseconds(t - world_.now_ns()),
                    [this, kind, duration]() { Fault(kind, duration); });
    t += duration + rng_.Range(100, 500) * 1000000;
  }
}

void Lab::Fault(const std::string& kind, int64_t heal_after_ns) {
  if (world_.stopped()) return;
  const std::string& any = node_ids_[rng_.Below(node_ids_.size())];
  std::string primary = PrimaryNode();
  if (primary.empty()) primary = any;
  const std::string victim = rng_.Chance(0.6) ? primary : any;
  std::vector<std::string> everyone = node_ids_;
  everyone.push_back(kCoordinatorId);
  if (kind == "partition") {
    const uint64_t how = rng_.Below(4);
    if (how == 0) {
      Note(absl::StrCat("partition: isolate ", victim));
      for (const auto& other : everyone) {
        if (other == victim) continue;
        world_.SetLinkBlocked(victim, other, true);
        world_.SetLinkBlocked(other, victim, true);
      }
    } else if (how == 1) {
      Note(absl::StrCat("partition: isolate primary ", primary,
                        " from the coordinator only"));
      world_.SetLinkBlocked(primary, kCoordinatorId, true);
      world_.SetLinkBlocked(kCoordinatorId, primary, true);
    } else if (how == 2) {
      std::string other =
          any == victim ? node_ids_[(rng_.Below(node_ids_.size()))] : any;
      if (other == victim) other = kCoordinatorId;
      Note(absl::StrCat("partition: asymmetric, ", victim, " cannot reach ",
                        other));
      world_.SetLinkBlocked(victim, other, true);
    } else {
      Note(absl::StrCat("partition: ", victim,
                        " and the coordinator cannot reach the others"));
      for (const auto& other : node_ids_) {
        if (other == victim) continue;
        for (const auto& side : {victim, std::string(kCoordinatorId)}) {
          world_.SetLinkBlocked(side, other, true);
          world_.SetLinkBlocked(other, side, true);
        }
      }
    }
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this]() {
      Note("heal partition");
      world_.HealLinks();
    });
  } else if (kind == "kill") {
    const std::string target =
        rng_.Chance(0.15) ? std::string(kCoordinatorId) : victim;
    std::string cut;
    if (target == primary && rng_.Chance(0.5)) {
      // The primary dies mid-replication: for a few ms before the crash its
      // operations reach one replica and not the other (what resync and trim
      // exist for).
      cut = node_ids_[rng_.Below(node_ids_.size())];
      if (cut == target) cut = "";
    }
    int64_t delay = 0;
    if (!cut.empty()) {
      delay = rng_.Range(5, 60) * 1000000;
      Note(absl::StrCat("kill ", target, " in ", delay / 1000000,
                        " ms; until then ", target, " cannot reach ", cut));
      world_.SetLinkBlocked(target, cut, true);
    }
    world_.Schedule(absl::Nanoseconds(delay), [this, target, cut]() {
      if (!cut.empty()) world_.SetLinkBlocked(target, cut, false);
      Note(absl::StrCat("kill ", target));
      Crash(target);
    });
    world_.Schedule(absl::Nanoseconds(std::max(heal_after_ns, delay + 1)),
                    [this, target]() {
                      Note(absl::StrCat("restart ", target));
                      Restart(target);
                    });
  } else if (kind == "pause") {
    Note(absl::StrCat("pause ", victim));
    world_.Pause(victim);
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this, victim]() {
      Note(absl::StrCat("resume ", victim));
      world_.Resume(victim);
    });
  } else if (kind == "reorder") {
    Note("reorder: delay, duplicate and drop messages");
    world_.network().reorder = 0.4;
    world_.network().duplicate = 0.15;
    world_.network().drop = 0.03;
    world_.network().reorder_max_delay = absl::Milliseconds(30);
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this]() {
      Note("heal reorder");
      world_.network().reorder = 0;
      world_.network().duplicate = 0;
      world_.network().drop = 0;
    });
  }
}

void Lab::HealAll() {
  world_.HealLinks();
  world_.network().reorder = 0;
  world_.network().duplicate = 0;
  world_.network().drop = 0;
  for (const auto& id : world_.actor_ids()) {
    if (!world_.IsUp(id)) Restart(id);
    if (world_.IsPaused(id)) world_.Resume(id);
  }
  Note("heal everything");
}

std::string Lab::EventText() const {
  const EventInfo& e = world_.last_event();
  std::string text =
      absl::StrCat("after the event at ", FormatMillis(e.time_ns), " ms");
  if (!e.actor.empty()) absl::StrAppend(&text, " on ", e.actor);
  switch (e.kind) {
    case EventInfo::kStart:
      absl::StrAppend(&text, " (start)");
      break;
    case EventInfo::kTimer:
      absl::StrAppend(&text, " (timer)");
      break;
    case EventInfo::kRequest:
      absl::StrAppend(&text, " (", BodyName(e.body), " from ", e.from, ")");
      break;
    case EventInfo::kReply:
      absl::StrAppend(&text, " (reply ", BodyName(e.body), " from ", e.from,
                      ")");
      break;
    case EventInfo::kTimeout:
      absl::StrAppend(&text, " (rpc timeout)");
      break;
    case EventInfo::kWorld:
      absl::StrAppend(&text, " (client or nemesis step)");
      break;
  }
  return text;
}

void Lab::Violation(const std::string& name, const std::string& detail) {
  if (!result_->violation.empty()) return;
  result_->violation = name;
  result_->detail = detail;
  world_.Stop(absl::StrCat(name, ": ", detail));
}

void Lab::ObserveRpc(const std::string& caller, const std::string& callee,
                     const pb::Envelope& request,
                     const pb::Envelope& response) {
  int64_t term = 0;
  const char* what = nullptr;
  switch (request.body_case()) {
    case pb::Envelope::kReplicate:
      term = request.replicate().primary_term();
      what = "replicate";
      break;
    case pb::Envelope::kResync:
      term = request.resync().primary_term();
      what = "resync";
      break;
    case pb::Envelope::kRecoveryOps:
      term = request.recovery_ops().primary_term();
      what = "recovery_ops";
      break;
    default:
      return;
  }
  if (!response.has_replicate_response()) return;
  const pb::ReplicateResponse& r = response.replicate_response();
  if (!HasError(r.error()) && r.primary_term() > term) {
    Violation("replica-term-fencing",
              absl::StrCat(callee, " acked a ", what, " from ", caller,
                           " with term ", term, " below its own term ",
                           r.primary_term(), ", ", EventText()));
  }
}

bool Lab::RefreshNode(size_t i) {
  NodeInput& input = inputs_[i];
  Node* n = NodeAt(i);
  if (n == nullptr) {
    const bool was_up = input.up;
    input.up = false;
    input.copies.clear();
    return was_up;
  }
  std::vector<Node::CopySummary>& fresh = scratch_summaries_;
  n->CopySummaries(&fresh);
  // The fields the invariants read (docs is not one of them).
  auto same = [](const CopyInput& x, const Node::CopySummary& y) {
    return x.shard == y.shard && x.primary_term == y.primary_term &&
           x.max_seq_no == y.max_seq_no &&
           x.local_checkpoint == y.local_checkpoint &&
           x.global_checkpoint == y.global_checkpoint &&
           x.in_sync == y.in_sync &&
           (x.role == y.role || std::strcmp(x.role, y.role) == 0) &&
           x.index_uuid == *y.index_uuid;
  };
  if (input.up && input.state_version == n->state_version() &&
      std::equal(input.copies.begin(), input.copies.end(), fresh.begin(),
                 fresh.end(), same)) {
    return false;
  }
  input.up = true;
  input.state_version = n->state_version();
  input.copies.resize(fresh.size());
  for (size_t k = 0; k < fresh.size(); ++k) {
    CopyInput& c = input.copies[k];
    const Node::CopySummary& f = fresh[k];
    c.index_uuid = *f.index_uuid;
    c.shard = f.shard;
    c.role = f.role;
    c.primary = std::strcmp(f.role, "primary") == 0;
    c.primary_term = f.primary_term;
    c.max_seq_no = f.max_seq_no;
    c.local_checkpoint = f.local_checkpoint;
    c.global_checkpoint = f.global_checkpoint;
    c.in_sync = f.in_sync;
  }
  return true;
}

void Lab::RefreshInputs() {
  // An actor changes only its own state, in its own events; world events
  // (faults, restarts, harness steps) may change any. Endpoints are compared
  // by index (stable once added), not by name.
  const int actor = world_.last_event_endpoint();
  const bool all = refresh_all_ ||
                   world_.last_event_kind() == EventInfo::kWorld || actor < 0;
  refresh_all_ = false;
  if (node_endpoints_.size() != node_ids_.size()) {
    node_endpoints_.clear();
    for (const std::string& id : node_ids_)
      node_endpoints_.push_back(world_.endpoint_index(id));
  }
  if (coordinator_endpoint_ < 0)
    coordinator_endpoint_ = world_.endpoint_index(kCoordinatorId);
  if (all || actor == coordinator_endpoint_) inputs_changed_ = true;
  inputs_.resize(node_ids_.size());
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (all) {
      if (RefreshNode(i)) inputs_changed_ = true;
    } else if (node_endpoints_[i] == actor) {
      if (RefreshNode(i)) inputs_changed_ = true;
      break;  // node ids are distinct
    }
  }
}

// Runs after every event, so it is the lab's hot path: the node statuses are
// cached and refreshed only for the actor the event ran on, the checks run
// only when an input changed (a node's shard status or applied state, the
// coordinator, an acked write), and what they read from cluster states (the
// routing, the in-sync sets) is kept until those states change (RefreshPlan).
// The verdicts are the same as checking every time from scratch: the checks
// are functions of those inputs.
void Lab::CheckInvariants() {
  if (world_.stopped()) return;
  RefreshInputs();
  if (!inputs_changed_) return;
  inputs_changed_ = false;
  // One primary per shard and term, over every copy in node order (a
  // handful: linear scans, no allocation).
  using Copy = CopyRef;
  std::vector<Copy>& all = scratch_copies_;
  all.clear();
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    const std::string& id = node_ids_[i];
    if (!inputs_[i].up) continue;
    for (const CopyInput& shard : inputs_[i].copies) {
      if (shard.primary) {
        for (const Copy& other : all) {
          const CopyInput& o = *other.status;
          if (o.primary && o.shard == shard.shard &&
              o.primary_term == shard.primary_term &&
              o.index_uuid == shard.index_uuid) {
            Violation(
                "one-primary-per-term",
                absl::StrCat(*other.node, " and ", id, " are both primary of [",
                             kIndex, "][", shard.shard, "] in term ",
                             shard.primary_term, ", ", EventText()));
            return;
          }
        }
      }
      all.push_back({&id, &shard});
    }
  }
  Coordinator* c = coordinator();
  if (c == nullptr) return;
  if (!RefreshPlan(c)) return;  // the coordinator knows no lab index
  // Each node's copy of each shard of the coordinator's lab index (the first
  // in node order, as the checks have always read it).
  const size_t shards = plan_shard_count_;
  copy_table_.assign(node_ids_.size() * shards, nullptr);
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (!inputs_[i].up) continue;
    for (const CopyInput& copy : inputs_[i].copies) {
      if (copy.shard < 0 || static_cast<size_t>(copy.shard) >= shards ||
          copy.index_uuid != plan_uuid_)
        continue;
      const CopyInput*& slot = copy_table_[i * shards + copy.shard];
      if (slot == nullptr) slot = &copy;
    }
  }
  for (ShardPlan& plan : plan_) {
    const int shard = plan.shard;
    // The status of node `index`'s copy of this shard, or nullptr.
    auto copy_of = [&](int index) -> const CopyInput* {
      if (index < 0 || shard < 0 || static_cast<size_t>(shard) >= shards)
        return nullptr;
      return copy_table_[index * shards + shard];
    };
    bool any_copy = false;
    for (size_t i = 0; i < node_ids_.size() && !any_copy; ++i)
      any_copy = copy_of(static_cast<int>(i)) != nullptr;
    if (!any_copy) continue;
    const CopyInput* p = copy_of(plan.primary_index);
    const bool primary_current =
        p != nullptr && p->primary && p->primary_term == plan.primary_term;
    // The global checkpoint is bounded by the copies in sync both for the
    // primary (the cluster state it applied, what its tracker counts) and for
    // the coordinator (a copy the coordinator has removed may already be wiped
    // for a file-based recovery).
    Node* pn = nullptr;
    const std::vector<int>* primary_in_sync = &kNoMembers;
    if (primary_current) {
      pn = NodeAt(plan.primary_index);
      primary_in_sync = &PrimaryInSync(plan, pn);
    }
    // Members in sync for both, with a copy, in name order.
    std::vector<const std::string*>& members = scratch_both_;
    members.clear();
    for (int member : *primary_in_sync) {
      const CopyInput* y = copy_of(member);
      if (y == nullptr || !plan.coordinator_in_sync_mask[member]) continue;
      if (p->global_checkpoint > y->local_checkpoint) {
        Violation(
            "gcp-below-in-sync-lcp",
            absl::StrCat("primary ", plan.primary, " has global checkpoint ",
                         p->global_checkpoint, " but in-sync copy ",
                         node_ids_[member], " has local checkpoint ",
                         y->local_checkpoint, ", ", EventText()));
        return;
      }
      members.push_back(&node_ids_[member]);
    }
    if (primary_current) {
      CheckSameOps(shard, plan.primary, pn, plan.primary_term,
                   p->global_checkpoint, members);
      if (world_.stopped()) return;
    }
    auto acked = acked_max_seq_no_.find(shard);
    if (acked == acked_max_seq_no_.end()) continue;
    for (int member : plan.coordinator_in_sync) {
      const CopyInput* y = copy_of(member);
      if (y == nullptr) continue;
      if (y->max_seq_no < acked->second) {
        Violation(
            "acked-write-on-in-sync",
            absl::StrCat("a write with seq_no ", acked->second, " on [", kIndex,
                         "][", shard, "] was acknowledged but in-sync copy ",
                         node_ids_[member], " has max_seq_no ", y->max_seq_no,
                         ", ", EventText()));
        return;
      }
    }
  }
}

int Lab::NodeIndex(const std::string& id) const {
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (node_ids_[i] == id) return static_cast<int>(i);
  }
  return -1;
}

bool Lab::RefreshPlan(const Coordinator* c) {
  const pb::ClusterState& state = c->state();
  if (plan_valid_ && plan_coordinator_ == c &&
      plan_state_version_ == state.version())
    return plan_has_index_;
  plan_valid_ = true;
  plan_coordinator_ = c;
  plan_state_version_ = state.version();
  plan_.clear();
  plan_shard_count_ = 0;
  const pb::IndexMeta* index = LabIndex(state);
  plan_has_index_ = index != nullptr;
  if (index == nullptr) return false;
  plan_uuid_ = index->uuid();
  for (const auto& routing : index->shards()) {
    ShardPlan& plan = plan_.emplace_back();
    plan.shard = routing.shard();
    if (plan.shard >= 0)
      plan_shard_count_ =
          std::max(plan_shard_count_, static_cast<size_t>(plan.shard) + 1);
    for (const auto& copy : routing.copies()) {
      if (copy.primary()) plan.primary = copy.node_id();
    }
    plan.primary_index = NodeIndex(plan.primary);
    plan.primary_term = routing.primary_term();
    plan.coordinator_in_sync_mask.assign(node_ids_.size(), false);
    for (const auto& member : routing.in_sync()) {
      const int i = NodeIndex(member);
      if (i < 0) continue;  // not a lab node: it has no copy to check
      plan.coordinator_in_sync.push_back(i);
      plan.coordinator_in_sync_mask[i] = true;
    }
  }
  return true;
}

const std::vector<int>& Lab::PrimaryInSync(ShardPlan& plan, const Node* pn) {
  const int64_t version = pn == nullptr ? -1 : pn->state_version();
  if (plan.applied_from == pn && plan.applied_version == version &&
      plan.applied_valid)
    return plan.primary_in_sync;
  plan.applied_from = pn;
  plan.applied_version = version;
  plan.applied_valid = true;
  // The primary's in-sync set as it applied it: sorted by name, without
  // duplicates, lab nodes only (others have no copy to check).
  std::vector<int>& members = plan.primary_in_sync;
  members.clear();
  const pb::IndexMeta* applied =
      pn != nullptr ? LabIndex(pn->cluster_state()) : nullptr;
  if (applied != nullptr) {
    for (const auto& r : applied->shards()) {
      if (r.shard() != plan.shard) continue;
      for (const auto& member : r.in_sync()) {
        const int i = NodeIndex(member);
        if (i >= 0) members.push_back(i);
      }
    }
  }
  std::sort(members.begin(), members.end(),
            [&](int a, int b) { return node_ids_[a] < node_ids_[b]; });
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return members;
}

// same-ops-up-to-gcp (the formal model's SameTranslogUpToGlobalCheckPoint):
// every in-sync copy holds the primary's operation (seq_no, term, type, id) for
// every seq_no up to the primary's global checkpoint. Incremental: a copy is
// compared only above the seq_no it last agreed up to. Seq_nos that one side no
// longer retains (history discarded, below an installed snapshot) are skipped.
void Lab::CheckSameOps(int shard, const std::string& primary, Node* pn,
                       int64_t term, int64_t known_gcp,
                       const std::vector<const std::string*>& members) {
  VerifiedCall& last = last_verified_;
  if (last.valid && last.epoch == agreement_epoch_ && last.shard == shard &&
      last.term == term && last.known_gcp == known_gcp &&
      last.primary == primary &&
      std::equal(
          members.begin(), members.end(), last.members.begin(),
          last.members.end(),
          [](const std::string* m, const std::string& n) { return *m == n; })) {
    return;
  }
  for (auto it = agreement_.lower_bound({shard, std::string()});
       it != agreement_.end() && it->first.first == shard;) {
    const bool member = std::any_of(
        members.begin(), members.end(),
        [&](const std::string* m) { return *m == it->first.second; });
    if (member) {
      ++it;
    } else {
      it = agreement_.erase(it);
      ++agreement_epoch_;
    }
  }
  // Most events move no global checkpoint: nothing new to compare.
  const bool all_verified =
      std::all_of(members.begin(), members.end(), [&](const std::string* m) {
        if (*m == primary) return true;
        auto it = agreement_.find({shard, *m});
        return it != agreement_.end() && it->second.primary == primary &&
               it->second.term == term && it->second.verified >= known_gcp;
      });
  if (all_verified) {
    last.valid = true;
    last.epoch = agreement_epoch_;
    last.shard = shard;
    last.primary = primary;
    last.term = term;
    last.known_gcp = known_gcp;
    last.members.resize(members.size());
    for (size_t i = 0; i < members.size(); ++i) last.members[i] = *members[i];
    return;
  }
  ++agreement_epoch_;  // the comparisons below may change it
  const ShardEngine* pe = pn != nullptr ? pn->engine(kIndex, shard) : nullptr;
  if (pe == nullptr) return;
  const int64_t gcp = pe->global_checkpoint();
  for (const std::string* m : members) {
    const std::string& member = *m;
    if (member == primary) continue;
    Node* n = node(member);
    const ShardEngine* e = n != nullptr ? n->engine(kIndex, shard) : nullptr;
    if (e == nullptr) {
      agreement_.erase({shard, member});
      continue;
    }
    Agreement& a = agreement_[{shard, member}];
    if (a.primary != primary || a.term != term || a.primary_engine != pe ||
        a.engine != e) {
      a = Agreement{primary, term, pe, e, kNoOpsPerformed};
    }
    for (int64_t s = a.verified + 1; s <= gcp; ++s) {
      // Identical bytes are the same operation: no need to parse them.
      const std::optional<std::string_view> want_bytes =
          pe->OperationBytesAt(s);
      if (want_bytes.has_value() && want_bytes == e->OperationBytesAt(s))
        continue;
      const std::optional<pb::Operation> want = pe->OperationAt(s);
      const std::optional<pb::Operation> got = e->OperationAt(s);
      if (!want.has_value() || !got.has_value()) {
        // Missing where history is still retained on both sides: diverged.
        if (want.has_value() == got.has_value() ||
            !pe->HasOperationsAbove(s - 1) || !e->HasOperationsAbove(s - 1))
          continue;
      } else if (want->primary_term() == got->primary_term() &&
                 want->type() == got->type() && want->id() == got->id() &&
                 want->seq_no() == got->seq_no()) {
        continue;
      }
      auto describe = [](const std::optional<pb::Operation>& op) {
        if (!op.has_value()) return std::string("nothing");
        return absl::StrCat(pb::OpType_Name(op->type()), " [", op->id(),
                            "] term ", op->primary_term());
      };
      Violation("same-ops-up-to-gcp",
                absl::StrCat("[", kIndex, "][", shard, "] seq_no ", s,
                             " (<= global checkpoint ", gcp, " of primary ",
                             primary, "): primary holds ", describe(want),
                             " but in-sync copy ", member, " holds ",
                             describe(got), ", ", EventText()));
      return;
    }
    a.verified = std::max(a.verified, gcp);
  }
}

bool Lab::Converged(std::string* why) {
  if (busy_ > 0) {
    *why = absl::StrCat(busy_, " client operations still in flight");
    return false;
  }
  Coordinator* c = coordinator();
  if (c == nullptr) {
    *why = "the coordinator is down";
    return false;
  }
  const ClusterHealth health = ComputeHealth(c->state(), kIndex);
  if (health.status != "green") {
    *why = absl::StrCat("health is ", health.status);
    return false;
  }
  const pb::IndexMeta* index = LabIndex(c->state());
  if (index == nullptr) {
    *why = "the index is gone";
    return false;
  }
  for (const auto& routing : index->shards()) {
    std::string first;
    int64_t max_seq_no = 0, lcp = 0, gcp = 0, docs = 0;
    for (const auto& member : routing.in_sync()) {
      Node* n = node(member);
      if (n == nullptr) {
        *why = absl::StrCat(member, " is down");
        return false;
      }
      std::vector<Node::CopySummary>& shards = scratch_summaries_;
      n->CopySummaries(&shards);
      const Node::CopySummary* s = nullptr;
      for (const auto& shard : shards) {
        if (*shard.index_uuid == index->uuid() &&
            shard.shard == routing.shard())
          s = &shard;
      }
      if (s == nullptr) {
        *why = absl::StrCat(member, " has no copy of shard ", routing.shard());
        return false;
      }
      if (first.empty()) {
        first = member;
        max_seq_no = s->max_seq_no;
        lcp = s->local_checkpoint;
        gcp = s->global_checkpoint;
        docs = s->docs;
      }
      // Contents must agree (same ops, no gaps, same documents). A replica's
      // copy of the global checkpoint may lag (it only learns it from the
      // primary), so it is not compared.
      if (s->max_seq_no != max_seq_no || s->local_checkpoint != lcp ||
          s->docs != docs || lcp != max_seq_no) {
        if (member == first) {
          *why = absl::StrCat("shard ", routing.shard(), ": in-sync copy ",
                              member, " has max_seq_no/lcp/gcp ", max_seq_no,
                              "/", lcp, "/", gcp);
          return false;
        }
        *why =
            absl::StrCat("shard ", routing.shard(),
                         " in-sync copies (max_seq_no/lcp/gcp/docs): ", first,
                         " ", max_seq_no, "/", lcp, "/", gcp, "/", docs, ", ",
                         member, " ", s->max_seq_no, "/", s->local_checkpoint,
                         "/", s->global_checkpoint, "/", s->docs);
        return false;
      }
    }
  }
  return true;
}

void Lab::FinalReads() {
  Coordinator* c = coordinator();
  const pb::IndexMeta* index = c ? LabIndex(c->state()) : nullptr;
  if (index == nullptr) return;
  struct Answer {
    std::string node;
    std::string text;
  };
  std::map<std::string, std::vector<Answer>> answers;
  int pending = 0;
  int64_t process = kFinalReadProcess;
  for (int k = 0; k < config_.keys; ++k) {
    const std::string key = Key(k);
    const pb::ShardRouting* routing = nullptr;
    for (const auto& r : index->shards()) {
      if (r.shard() == ShardOf(key)) routing = &r;
    }
    if (routing == nullptr) continue;
    for (const auto& member : routing->in_sync()) {
      pb::Envelope request;
      request.mutable_get()->set_index(kIndex);
      request.mutable_get()->set_id(key);
      request.mutable_get()->set_prefer_local(true);
      ++pending;
      const int64_t p = process++;
      Record(EventType::kInvoke, p, Fn::kRead, key, kNil);
      world_.ClientSend(
          "final-reader", member, std::move(request),
          [this, &answers, &pending, key, member,
           p](const absl::StatusOr<pb::Envelope>& reply) {
            --pending;
            std::string text;
            if (!reply.ok() || HasError(reply->get_response().error())) {
              text = reply.ok()
                         ? reply->get_response().error().reason()
                         : reply.status().ToString(
                               absl::StatusToStringMode::kWithNoExtraData);
              Record(EventType::kFail, p, Fn::kRead, key, kNil);
            } else {
              const pb::GetResponse& g = reply->get_response();
              text = g.found() ? absl::StrCat("version ", g.version(),
                                              " seq_no ", g.seq_no(), " term ",
                                              g.primary_term(), " ", g.source())
                               : "not found";
              Record(EventType::kOk, p, Fn::kRead, key,
                     g.found() ? ParseValue(g.source()) : kNil);
            }
            answers[key].push_back({member, text});
          },
          absl::Seconds(5));
    }
  }
  world_.RunUntilTrue([&]() { return pending == 0; }, absl::Seconds(10));
  for (const auto& [key, list] : answers) {
    for (const Answer& a : list) {
      if (a.text != list.front().text) {
        Violation("quiet-down-convergence",
                  absl::StrCat("in-sync copies differ on ", key,
                               " after quiet-down: ", list.front().node,
                               " has {", list.front().text, "}, ", a.node,
                               " has {", a.text, "}"));
        return;
      }
    }
  }
}

void Lab::RunPhases() {
  if (config_.trace) {
    world_.set_trace(
        [this](const std::string& line) { result_->trace.push_back(line); });
    world_.set_message_observer([this](const MessageEvent& m) {
      const timeline::Micros t = m.time_ns / 1000;
      const auto id = static_cast<timeline::MessageId>(m.id);
      switch (m.kind) {
        case MessageEvent::kSend:
          result_->timeline.push_back(
              {t, timeline::SendEvent{.id = id,
                                      .from = m.from,
                                      .to = m.to,
                                      .op = BodyName(m.message->body_case())}});
          break;
        case MessageEvent::kDeliver:
          result_->timeline.push_back(
              {t, timeline::DeliverEvent{.id = id, .to = m.to}});
          break;
        case MessageEvent::kDrop:
          result_->timeline.push_back(
              {t, timeline::DropEvent{.id = id, .reason = m.reason}});
          break;
      }
    });
  }
  world_.set_rpc_observer(
      [this](const std::string& caller, const std::string& callee,
             const pb::Envelope& request, const pb::Envelope& response) {
        ObserveRpc(caller, callee, request, response);
      },
      // The requests ObserveRpc checks.
      {pb::Envelope::kReplicate, pb::Envelope::kResync,
       pb::Envelope::kRecoveryOps});
  if (config_.check_every_event) {
    world_.set_after_event([this](const EventInfo&) { CheckInvariants(); },
                           /*names=*/false);
  }
  if (!Setup()) return;
  const int64_t start = world_.now_ns();
  workload_end_ns_ = start + absl::ToInt64Nanoseconds(config_.workload);
  clients_.resize(config_.clients);
  for (int i = 0; i < config_.clients; ++i) {
    clients_[i].index = i;
    clients_[i].process = i;
    ScheduleNext(&clients_[i]);
  }
  ScheduleNemesis(start, workload_end_ns_);
  world_.RunUntil(absl::Nanoseconds(workload_end_ns_));
  if (world_.stopped()) return;
  HealAll();
  std::string why;
  const bool converged = world_.RunUntilTrue([&]() { return Converged(&why); },
                                             config_.quiet_down);
  if (world_.stopped()) return;
  if (!converged) {
    Violation("quiet-down-convergence",
              absl::StrCat("copies did not converge within ",
                           absl::FormatDuration(config_.quiet_down),
                           " after faults healed: ", why));
    return;
  }
  // Once more from scratch: every retained operation up to the global
  // checkpoint, on every in-sync copy (the only check of it when invariants
  // are not checked after every event).
  agreement_.clear();
  ++agreement_epoch_;
  refresh_all_ = true;
  inputs_changed_ = true;
  CheckInvariants();
  if (world_.stopped()) return;
  FinalReads();
  if (world_.stopped()) return;
  // Every operation is checked, reads under faults included: a GET is served by
  // the primary behind a read barrier (its in-sync replicas confirm its term),
  // so a deposed primary cannot answer a stale or dirty read.
  result_->check =
      CheckLinearizable(result_->history, config_.checker_time_limit);
  if (result_->check.verdict == Verdict::kNotLinearizable) {
    Violation("linearizable", result_->check.explanation);
  } else if (result_->check.verdict == Verdict::kUnknown) {
    Violation("linearizable-unknown", result_->check.explanation);
  }
  if (result_->violation.empty()) world_.Trace("lab", "run passed");
}

}  // namespace

const std::vector<std::string>& NemesisNames() {
  static const std::vector<std::string> kNames = {"none",  "partition", "kill",
                                                  "pause", "reorder",   "all"};
  return kNames;
}

const std::map<std::string, Scenario>& Scenarios() {
  static const std::map<std::string, Scenario> kScenarios = {
      {"default", [](LabConfig*) {}},
      {"primary-failover",
       [](LabConfig* c) {
         if (c->nemesis == "none") c->nemesis = "kill";
       }},
      {"stale-primary",
       [](LabConfig* c) {
         if (c->nemesis == "none") c->nemesis = "partition";
       }},
      {"single-key-contention",
       [](LabConfig* c) {
         c->keys = 1;
         c->clients = 6;
       }},
      // Bounded memory with tiny thresholds (issue 17): a fifth of the
      // operations are deletes, tombstones are collected 2 ms after their
      // delete, retention leases expire 200 ms after a copy was last
      // tracked, so copies that come back after a kill or partition often
      // need a full copy; translogs roll and flush every few operations, so
      // restarts load snapshots.
      // Values given on the command line are kept.
      {"tiny-gc",
       [](LabConfig* c) {
         const LabConfig defaults;
         if (c->delete_percent == defaults.delete_percent) {
           c->delete_percent = 20;
         }
         if (c->gc_deletes == defaults.gc_deletes) {
           c->gc_deletes = absl::Milliseconds(2);
         }
         if (c->retention_lease_period == defaults.retention_lease_period) {
           c->retention_lease_period = absl::Milliseconds(200);
         }
         // A new translog generation every few operations, a flush (a
         // snapshot of the copy) every few dozen.
         if (c->translog_generation_bytes ==
             defaults.translog_generation_bytes) {
           c->translog_generation_bytes = 512;
         }
         if (c->flush_threshold_bytes == defaults.flush_threshold_bytes) {
           c->flush_threshold_bytes = 4096;
         }
       }},
  };
  return kScenarios;
}

absl::StatusOr<UnsafeModes> ParseUnsafe(const std::string& list) {
  return ParseUnsafeModes(list);
}

std::string UnsafeName(const UnsafeModes& m) { return UnsafeModesName(m); }

absl::Status ValidateConfig(const LabConfig& config) {
  const auto& names = NemesisNames();
  if (std::find(names.begin(), names.end(), config.nemesis) == names.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --nemesis '", config.nemesis, "' (expected ",
                     absl::StrJoin(names, "|"), ")"));
  }
  if (Scenarios().count(config.scenario) == 0) {
    std::vector<std::string> known;
    for (const auto& [name, fn] : Scenarios()) known.push_back(name);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --scenario '", config.scenario,
                     "' (known: ", absl::StrJoin(known, ", "), ")"));
  }
  if (config.nodes < 1 || config.nodes > 9) {
    return absl::InvalidArgumentError("--nodes must be 1..9");
  }
  if (config.replicas < 0 || config.replicas >= config.nodes) {
    return absl::InvalidArgumentError("--replicas must be 0..nodes-1");
  }
  if (config.delete_percent < 0 || config.delete_percent > 100) {
    return absl::InvalidArgumentError("--deletes must be 0..100");
  }
  if (config.translog_generation_bytes < 1 ||
      config.flush_threshold_bytes < 1) {
    return absl::InvalidArgumentError(
        "--translog-generation-bytes and --flush-threshold-bytes must be >= "
        "1");
  }
  if (config.gc_deletes < absl::ZeroDuration() ||
      config.retention_lease_period < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--gc-deletes-ms and --lease-period-ms must be >= 0");
  }
  if (config.clients < 1 || config.keys < 1 || config.shards < 1) {
    return absl::InvalidArgumentError(
        "--clients, --keys and --shards must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::pair<absl::Duration, absl::Duration>> ParseFsyncRange(
    const std::string& value) {
  const std::vector<std::string> parts = absl::StrSplit(value, '-');
  int64_t lo = 0, hi = 0;
  const bool ok = (parts.size() == 1 || parts.size() == 2) &&
                  absl::SimpleAtoi(parts.front(), &lo) &&
                  absl::SimpleAtoi(parts.back(), &hi) && lo >= 0 && hi >= lo &&
                  hi <= 1000000;
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--fsync-us must be N or LO-HI microseconds with 0 <= LO <= HI <= "
        "1000000, got '",
        value, "'"));
  }
  return std::make_pair(absl::Microseconds(lo), absl::Microseconds(hi));
}

std::string ReplayCommand(const LabConfig& config) {
  const LabConfig defaults;
  std::string cmd = absl::StrCat("seqsim-lab run --seed=", config.seed);
  if (config.scenario != "default")
    absl::StrAppend(&cmd, " --scenario=", config.scenario);
  absl::StrAppend(&cmd, " --nemesis=", config.nemesis);
  const std::string unsafe = UnsafeName(config.unsafe);
  if (!unsafe.empty()) absl::StrAppend(&cmd, " --unsafe=", unsafe);
  auto flag = [&](const char* name, int64_t value, int64_t default_value) {
    if (value != default_value) absl::StrAppend(&cmd, " --", name, "=", value);
  };
  flag("nodes", config.nodes, defaults.nodes);
  flag("replicas", config.replicas, defaults.replicas);
  flag("shards", config.shards, defaults.shards);
  flag("clients", config.clients, defaults.clients);
  flag("keys", config.keys, defaults.keys);
  flag("deletes", config.delete_percent, defaults.delete_percent);
  flag("gc-deletes-ms", absl::ToInt64Milliseconds(config.gc_deletes),
       absl::ToInt64Milliseconds(defaults.gc_deletes));
  flag("lease-period-ms",
       absl::ToInt64Milliseconds(config.retention_lease_period),
       absl::ToInt64Milliseconds(defaults.retention_lease_period));
  flag("translog-generation-bytes", config.translog_generation_bytes,
       defaults.translog_generation_bytes);
  flag("flush-threshold-bytes", config.flush_threshold_bytes,
       defaults.flush_threshold_bytes);
  flag("workload-ms", absl::ToInt64Milliseconds(config.workload),
       absl::ToInt64Milliseconds(defaults.workload));
  if (config.fsync_min != defaults.fsync_min ||
      config.fsync_max != defaults.fsync_max) {
    const int64_t lo = absl::ToInt64Microseconds(config.fsync_min);
    const int64_t hi = absl::ToInt64Microseconds(config.fsync_max);
    absl::StrAppend(&cmd, " --fsync-us=",
                    hi == 0 ? std::string("0") : absl::StrCat(lo, "-", hi));
  }
  absl::StrAppend(&cmd, " --out=lab-", config.seed);
  return cmd;
}

LabResult RunLab(const LabConfig& input) {
  LabConfig config = input;
  auto scenario = Scenarios().find(config.scenario);
  if (scenario != Scenarios().end()) scenario->second(&config);
  LabResult result;
  result.replay = ReplayCommand(input);
  const auto started = std::chrono::steady_clock::now();
  {
    Lab lab(config, &result);
    lab.Run();
  }
  result.passed = result.violation.empty();
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return result;
}

std::string SummaryJson(const LabConfig& config, const LabResult& result) {
  nlohmann::ordered_json j;
  j["seed"] = config.seed;
  j["scenario"] = config.scenario;
  j["nemesis"] = config.nemesis;
  j["unsafe"] = UnsafeName(config.unsafe);
  j["passed"] = result.passed;
  j["violation"] = result.violation;
  j["detail"] = result.detail;
  j["replay"] = result.replay;
  j["operations"] = {{"ok", result.ops_ok},
                     {"fail", result.ops_fail},
                     {"info", result.ops_info}};
  j["linearizability"] = VerdictName(result.check.verdict);
  j["events"] = result.events;
  j["deliveries"] = result.deliveries;
  j["fsyncs"] = result.fsyncs;
  j["batched_events"] = result.batched_events;
  j["virtual_ms"] = result.virtual_ns / 1000000;
  j["wall_ms"] = static_cast<int64_t>(result.wall_seconds * 1000);
  j["faults"] = result.faults;
  return j.dump(2);
}

}  // namespace seqsim::sim
