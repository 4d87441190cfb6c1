// The scripted scenarios' vocabulary, shared by the files of sim/scenarios: a
// Script drives the real Coordinator and three HoldingNodes (Nodes whose
// incoming messages it may hold and release in any order) in a SimWorld,
// narrates decisions for the explained trace, records the clients' history
// and checks the outcome invariants (one primary per term, acked writes kept,
// copies converged, linearizable) when it finishes. The scenarios themselves
// (scenarios.cc) are written in this vocabulary; run.cc runs one into an
// output folder. Internal to sim/scenarios.
//
// Thread-safety: a Script is used by one thread; RunScripted makes one per
// run.
#ifndef SEQSIM_SIM_SCENARIOS_SCRIPT_H_
#define SEQSIM_SIM_SCENARIOS_SCRIPT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/logic/coordinator.h"
#include "node/logic/node.h"
#include "sim/checker/history.h"
#include "sim/harness/cluster.h"
#include "sim/scenarios/scenarios.h"
#include "sim/timeline/events.h"
#include "sim/world/sim_world.h"

namespace seqsim::sim::scenario_internal {

// Every scripted scenario runs with this seed: the same build prints the
// same explained trace byte for byte.
constexpr uint64_t kSeed = 7;

// {"v":N} -> N; kNil otherwise.
int64_t SourceValue(const std::string& source);

// "index(doc 7, seq_no 6, term 1)" for the drawing's labels.
std::string OpLabel(const pb::Operation& op);

// The first operation a replication message carries, if any.
const pb::Operation* FirstOp(const pb::Envelope& m);

class Script;

// A Node whose incoming messages the script may hold (delivered by the
// network, not yet handled) and later release in any order.
class HoldingNode final : public Actor {
 public:
  HoldingNode(Env* env, const NodeOptions& options, Script* script)
      : node_(std::make_unique<Node>(env, options)),
        script_(script),
        id_(options.id) {}
  void Start() override { node_->Start(); }
  void Handle(const pb::Envelope& request, RespondFn respond) override;
  void Flush() override { node_->Flush(); }
  Node* node() { return node_.get(); }

  struct Held {
    int64_t message_id = 0;
    pb::Envelope request;
    RespondFn respond;
  };
  std::vector<Held>& held() { return held_; }

 private:
  std::unique_ptr<Node> node_;
  Script* const script_;
  const std::string id_;
  std::vector<Held> held_;
};

struct WriteOptions {
  pb::WriteRequest::Kind kind = pb::WriteRequest::INDEX;
  int64_t if_seq_no = -2;  // -2 = no CAS
  int64_t if_primary_term = 0;
  int64_t external_version = -1;  // -1 = internal versioning
  // A CAS: the value of the version it expects, for the history (kNil: the
  // history records the CAS as a plain write, and a conflict as no effect).
  int64_t expected = kNil;
};

struct Reply {
  bool done = false;
  bool ok = false;  // a successful write / found-or-not read
  pb::WriteResponse write;
  pb::GetResponse get;
  std::string error;  // "409 version_conflict_engine_exception: ..." or status
};

class Script {
 public:
  Script(const ScriptedScenario& scenario, const UnsafeModes& unsafe,
         ScriptedResult* result)
      : scenario_(scenario), unsafe_(unsafe), r_(result), world_(kSeed) {}

  // ---- Setup and roles
  bool Setup();
  std::string P() const { return primary_; }
  std::string R(int i) const { return replicas_[i]; }

  // ---- The script's vocabulary
  void Say(const std::string& text) {
    world_.Trace("lab", text);
    r_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::MarkEvent{.actor = "lab", .mark = "note", .text = text}});
  }
  // The picture starts here: what was drawn so far (a warm-up that is not the
  // lesson) is replaced by one note saying what happened before.
  void DrawFromHere(const std::string& before) {
    r_->timeline.clear();
    r_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::MarkEvent{
             .actor = "lab", .mark = "note", .text = "before: " + before}});
  }
  void Advance(int64_t ms) {
    world_.RunUntil(world_.Now() + absl::Milliseconds(ms));
  }
  bool WaitFor(const std::function<bool()>& done, int64_t limit_ms) {
    return world_.RunUntilTrue(done, absl::Milliseconds(limit_ms));
  }
  std::shared_ptr<Reply> Write(const std::string& client, const std::string& to,
                               const std::string& id, int64_t value,
                               WriteOptions o = {});
  std::shared_ptr<Reply> Get(const std::string& client, const std::string& to,
                             const std::string& id, bool prefer_local = false);
  // A match_all search through `to` answered by `node`'s copy
  // (preference=_only_nodes:node); waits for the answer and returns the ids
  // found. Search reads each copy's last refresh: it is not a linearizable
  // read, so it stays out of the checked history.
  std::vector<std::string> SearchOn(const std::string& client,
                                    const std::string& to,
                                    const std::string& node, bool narrate);
  absl::Duration Now() { return world_.Now(); }
  void AdvanceTo(absl::Duration when) {
    if (when > world_.Now()) world_.RunUntil(when);
  }
  // Holds, on `node`, every incoming message that `match` accepts.
  void Hold(const std::string& node,
            std::function<bool(const pb::Envelope&)> match) {
    hold_[node] = std::move(match);
  }
  void StopHolding(const std::string& node) { hold_.erase(node); }
  // Holds replication (replicate/resync) messages on node whose first op has
  // a seq_no in `seq_nos` (empty = all).
  void HoldReplication(const std::string& node, std::set<int64_t> seq_nos) {
    Hold(node, [seq_nos](const pb::Envelope& m) {
      const pb::Operation* op = FirstOp(m);
      return op != nullptr &&
             (seq_nos.empty() || seq_nos.count(op->seq_no()) > 0);
    });
  }
  int HeldCount(const std::string& node);
  // Releases the held replication message whose first op has `seq_no`.
  bool Release(const std::string& node, int64_t seq_no);
  // Releases every held message on node, oldest first.
  void ReleaseAll(const std::string& node);
  void Pause(const std::string& node) {
    Say(absl::StrCat("pause ", node, " (a long garbage collection)"));
    Nemesis("start", "pause", node);
    world_.Pause(node);
  }
  void Resume(const std::string& node) {
    Say(absl::StrCat("resume ", node));
    Nemesis("end", "pause", node);
    world_.Resume(node);
  }
  void Crash(const std::string& node);
  void Restart(const std::string& node) {
    Say(absl::StrCat("restart ", node));
    Nemesis("end", "kill", node);
    world_.Restart(node);
  }
  // Waits until the coordinator has given the shard a primary in a term above
  // `term`; returns its node ("" on timeout).
  std::string WaitForNewPrimary(int64_t term, int64_t limit_ms);
  int64_t PrimaryTerm();
  std::string CurrentPrimary();
  bool WaitGreen(int64_t limit_ms);
  // Heals everything, waits until green and the copies agree, then reads
  // `ids` from every in-sync copy and checks the outcome invariants.
  void Finish(const std::vector<std::string>& ids);
  void Fact(const std::string& name, const std::string& value) {
    r_->facts[name] = value;
  }
  void Violation(const std::string& name, const std::string& detail);
  bool stopped() const { return world_.stopped(); }
  const UnsafeModes& unsafe() const { return unsafe_; }

  // For HoldingNode.
  bool TakeHold(const std::string& node, int64_t* message_id) {
    auto it = hold_next_.find(node);
    if (it == hold_next_.end()) return false;
    *message_id = it->second;
    hold_next_.erase(it);
    return true;
  }

 private:
  HoldingNode* holder(const std::string& id) {
    if (id == kCoordinatorId) return nullptr;
    return static_cast<HoldingNode*>(world_.actor(id));
  }
  Node* node(const std::string& id) {
    HoldingNode* h = holder(id);
    return h ? h->node() : nullptr;
  }
  Coordinator* coordinator() {
    return static_cast<Coordinator*>(world_.actor(kCoordinatorId));
  }
  const pb::ShardRouting* Routing();
  void Nemesis(const std::string& action, const std::string& fault,
               const std::string& node) {
    r_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::NemesisEvent{
             .action = action, .fault = fault, .nodes = {node}}});
  }
  void OnMessage(const MessageEvent& m);
  void OnTrace(const std::string& line, LogMark mark);
  void OnRpc(const std::string& caller, const std::string& callee,
             const pb::Envelope& request, const pb::Envelope& response);
  void CheckPrimaries();
  bool Converged(std::string* why);

  const ScriptedScenario& scenario_;
  const UnsafeModes unsafe_;
  ScriptedResult* const r_;
  SimWorld world_;
  bool setup_done_ = false;
  std::string primary_;
  std::vector<std::string> replicas_;
  std::map<std::string, std::function<bool(const pb::Envelope&)>> hold_;
  std::map<std::string, int64_t> hold_next_;
  // Acknowledged writes: doc -> (seq_no, value or -1 for a delete), the
  // highest seq_no acknowledged.
  std::map<std::string, std::pair<int64_t, int64_t>> acked_;
  // The clients' operations, one process per operation, checked for
  // linearizability by Finish.
  std::vector<HistoryEvent> history_;
  int64_t next_process_ = 0;
  HistoryEvent& Record(int64_t process, EventType type, Fn f,
                       const std::string& id, int64_t value, int64_t expected) {
    HistoryEvent& e = history_.emplace_back();
    e.process = process;
    e.type = type;
    e.f = f;
    e.key = id;
    e.value = value;
    e.expected = expected;
    e.time = world_.now_ns();
    return e;
  }
};

// A scenario: what `seqsim-lab scenarios` lists, and the script it runs.
struct Entry {
  ScriptedScenario info;
  std::function<void(Script&)> run;
};

// Every scenario, in teaching order (scenarios.cc).
const std::vector<Entry>& Entries();
// The scenario `name`, or nullptr.
const Entry* FindEntry(const std::string& name);

}  // namespace seqsim::sim::scenario_internal

#endif  // SEQSIM_SIM_SCENARIOS_SCRIPT_H_
