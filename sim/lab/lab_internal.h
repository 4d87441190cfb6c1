// The lab's run, shared by the files of sim/lab: class Lab drives one seeded
// run (lab.h) — setup and phases in lab.cc, the client workload in
// workload.cc, the nemesis in nemesis.cc, the invariant checks (R1..R12 as
// the lab observes them: one-primary-per-term, replica-term-fencing,
// gcp-below-in-sync-lcp, acked-write-on-in-sync, same-ops-up-to-gcp,
// quiet-down-convergence) in invariants.cc. The run's configuration, its
// replay command and summary.json are in config.cc. Internal to sim/lab.
//
// Thread-safety: a Lab is used by one thread; RunLab makes one per run.
#ifndef SEQSIM_SIM_LAB_LAB_INTERNAL_H_
#define SEQSIM_SIM_LAB_LAB_INTERNAL_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/logic/coordinator.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node.h"
#include "node/logic/routing.h"
#include "sim/checker/history.h"
#include "sim/harness/cluster.h"
#include "sim/lab/lab.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim::lab_internal {

// History processes from this one up are the final reads after quiet-down
// (not counted as client operations).
constexpr int64_t kFinalReadProcess = 1000000;

// {"v":123} -> 123; kNil if absent.
int64_t ParseValue(const std::string& source);

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
    return FindIndex(state, kLabIndex);
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
  // A nemesis action, in the faults list and on the timeline as the start or
  // the end (a heal, restart or resume) of a fault.
  enum class FaultEdge { kStart, kEnd };
  void Note(const std::string& what, FaultEdge edge = FaultEdge::kStart);
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

}  // namespace seqsim::sim::lab_internal

#endif  // SEQSIM_SIM_LAB_LAB_INTERNAL_H_
