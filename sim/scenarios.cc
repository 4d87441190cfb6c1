#include "sim/scenarios.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/logic/coordinator.h"
#include "nlohmann/json.hpp"
#include "node/logic/node.h"
#include "sim/checker.h"
#include "sim/history.h"
#include "sim/lab.h"
#include "sim/sim_world.h"
#include "sim/timeline/render.h"

namespace seqsim::sim {
namespace {

constexpr char kIndex[] = "lab";
constexpr uint64_t kSeed = 7;

std::string NodeName(int n) { return absl::StrCat("node-", n); }

bool HasError(const pb::Error& e) { return !e.type().empty(); }

// {"v":N} -> N; kNil otherwise.
int64_t SourceValue(const std::string& source) {
  int64_t v = 0;
  if (absl::StartsWith(source, "{\"v\":") && absl::EndsWith(source, "}") &&
      absl::SimpleAtoi(source.substr(5, source.size() - 6), &v))
    return v;
  return kNil;
}

// "index(doc 7, seq_no 6, term 1)" for the drawing's labels.
std::string OpLabel(const pb::Operation& op) {
  if (op.type() == pb::OP_NOOP) {
    return absl::StrCat("noop seq ", op.seq_no(), " term ", op.primary_term());
  }
  return absl::StrCat(op.type() == pb::OP_DELETE ? "delete" : "index", " doc ",
                      op.id(), " seq ", op.seq_no(), " term ",
                      op.primary_term());
}

// The first operation a replication message carries, if any.
const pb::Operation* FirstOp(const pb::Envelope& m) {
  if (m.has_replicate() && m.replicate().ops_size() > 0)
    return &m.replicate().ops(0);
  if (m.has_resync() && m.resync().ops_size() > 0) return &m.resync().ops(0);
  return nullptr;
}

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
  void OnTrace(const std::string& line);
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

void HoldingNode::Handle(const pb::Envelope& request, RespondFn respond) {
  int64_t message_id = 0;
  if (script_->TakeHold(id_, &message_id)) {
    held_.push_back({message_id, request, std::move(respond)});
    return;
  }
  node_->Handle(request, std::move(respond));
}

void Script::OnMessage(const MessageEvent& m) {
  // The drawing starts once the index is green: the setup is not the lesson.
  if (!setup_done_) return;
  const timeline::Micros t = m.time_ns / 1000;
  const auto id = static_cast<timeline::MessageId>(m.id);
  switch (m.kind) {
    case MessageEvent::kSend: {
      timeline::SendEvent e{.id = id,
                            .from = m.from,
                            .to = m.to,
                            .op = BodyName(m.message->body_case())};
      if (const pb::Operation* op = FirstOp(*m.message)) {
        e.label = OpLabel(*op);
        e.seq_no = op->seq_no();
        e.term = op->primary_term();
      } else if (m.message->has_write()) {
        const pb::WriteRequest& w = m.message->write();
        e.label = absl::StrCat(
            w.kind() == pb::WriteRequest::DELETE ? "delete" : "index", " doc ",
            w.id(), " ", w.source());
      } else if (m.message->has_write_response()) {
        const pb::WriteResponse& w = m.message->write_response();
        e.label = HasError(w.error())
                      ? absl::StrCat(w.error().status(), " ", w.error().type())
                      : absl::StrCat(w.result(), " seq ", w.seq_no());
      }
      r_->timeline.push_back({t, std::move(e)});
      break;
    }
    case MessageEvent::kDeliver: {
      auto rule = hold_.find(m.to);
      if (!m.reply && rule != hold_.end() && rule->second(*m.message)) {
        hold_next_[m.to] = id;
        const pb::Operation* op = FirstOp(*m.message);
        const std::string what =
            op ? OpLabel(*op) : BodyName(m.message->body_case());
        world_.Trace("lab",
                     absl::StrCat("holds ", what, " on its way to ", m.to));
        r_->timeline.push_back(
            {t, timeline::MarkEvent{.actor = m.to,
                                    .mark = "held",
                                    .text = absl::StrCat("held: ", what)}});
        break;
      }
      r_->timeline.push_back({t, timeline::DeliverEvent{.id = id, .to = m.to}});
      break;
    }
    case MessageEvent::kDrop:
      r_->timeline.push_back(
          {t, timeline::DropEvent{.id = id, .reason = m.reason}});
      break;
  }
}

// Which trace lines are decisions worth reading: the actors' own words and
// the script's, without transport chatter and heartbeats.
bool IsDecision(const std::string& who, const std::string& text) {
  if (who.empty()) return false;
  static const char* const kNoise[] = {"recv ", "reply ",      "timer",
                                       "start", "timeout rpc", "heartbeat"};
  for (const char* n : kNoise) {
    if (absl::StartsWith(text, n)) return false;
  }
  if (absl::StrContains(text, "heartbeat")) return false;
  return true;
}

std::string MarkFor(const std::string& text) {
  if (absl::StrContains(text, " ignores ")) return "stale";
  if (absl::StrContains(text, " rejects ")) return "rejected";
  if (absl::StrContains(text, "promote")) return "promoted";
  if (absl::StrContains(text, "stale primary") ||
      absl::StrContains(text, "stops being primary"))
    return "fenced";
  if (absl::StrContains(text, " replaces ") ||
      absl::StrContains(text, " applies resync") ||
      absl::StrContains(text, "trim"))
    return "applied";
  return "note";
}

void Script::OnTrace(const std::string& line) {
  r_->trace.push_back(line);
  if (!setup_done_) return;
  // "<ms> <who> <text>"
  const size_t a = line.find(' ');
  const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
  if (b == std::string::npos) return;
  const std::string who = line.substr(a + 1, b - a - 1);
  const std::string text = line.substr(b + 1);
  if (!IsDecision(who, text)) return;
  // The actors' lines already begin with their name.
  r_->explained.push_back(absl::StartsWith(text, who + " ")
                              ? absl::StrCat(line.substr(0, a), " ", text)
                              : line);
  if (who == "lab" || absl::StartsWith(who, "client")) return;
  std::string words = text;
  if (absl::StartsWith(words, "coordinator: ")) words = words.substr(13);
  r_->timeline.push_back(
      {world_.now_ns() / 1000,
       timeline::MarkEvent{
           .actor = who, .mark = MarkFor(text), .text = words}});
}

void Script::OnRpc(const std::string& caller, const std::string& callee,
                   const pb::Envelope& request, const pb::Envelope& response) {
  int64_t term = 0;
  const char* what = nullptr;
  if (request.has_replicate()) {
    term = request.replicate().primary_term();
    what = "replicate";
  } else if (request.has_resync()) {
    term = request.resync().primary_term();
    what = "resync";
  } else {
    return;
  }
  if (!response.has_replicate_response()) return;
  const pb::ReplicateResponse& rr = response.replicate_response();
  if (!HasError(rr.error()) && rr.primary_term() > term) {
    Violation(
        "replica-term-fencing",
        absl::StrCat(callee, " acked a ", what, " from ", caller, " with term ",
                     term, " below its own term ", rr.primary_term()));
  }
}

void Script::CheckPrimaries() {
  if (world_.stopped()) return;
  std::map<int64_t, std::string> by_term;
  for (const auto& id : world_.actor_ids()) {
    if (id == kCoordinatorId || world_.IsPaused(id)) continue;
    Node* n = node(id);
    if (n == nullptr) continue;
    const pb::NodeStatusResponse status = n->Status();
    for (const auto& s : status.shards()) {
      if (s.role() != "primary") continue;
      auto [it, inserted] = by_term.emplace(s.primary_term(), id);
      if (!inserted) {
        Violation("one-primary-per-term",
                  absl::StrCat(it->second, " and ", id,
                               " are both primary in term ", s.primary_term()));
        return;
      }
    }
  }
}

void Script::Violation(const std::string& name, const std::string& detail) {
  if (!r_->violation.empty()) return;
  r_->violation = name;
  r_->detail = detail;
  world_.Trace("lab", absl::StrCat("VIOLATION ", name, ": ", detail));
  world_.Stop(absl::StrCat(name, ": ", detail));
}

bool Script::Setup() {
  world_.set_trace([this](const std::string& line) { OnTrace(line); });
  world_.set_message_observer([this](const MessageEvent& m) { OnMessage(m); });
  world_.set_rpc_observer(
      [this](const std::string& caller, const std::string& callee,
             const pb::Envelope& request, const pb::Envelope& response) {
        OnRpc(caller, callee, request, response);
      });
  world_.set_after_event([this](const EventInfo&) { CheckPrimaries(); });
  CoordinatorOptions coordinator_options;
  world_.AddActor(kCoordinatorId, [coordinator_options](Env* env) {
    return std::make_unique<Coordinator>(env, coordinator_options);
  });
  for (int n = 1; n <= 3; ++n) {
    NodeOptions options;
    options.id = NodeName(n);
    options.grpc_address = absl::StrCat("sim:", options.id);
    options.rest_address = absl::StrCat("sim-rest:", options.id);
    options.rpc_timeout = absl::Seconds(1);
    options.write_timeout = absl::Seconds(2);
    options.unsafe = unsafe_;
    world_.AddActor(options.id, [options, this](Env* env) {
      return std::make_unique<HoldingNode>(env, options, this);
    });
  }
  bool created = false;
  world_.RunUntilTrue(
      [this]() {
        Coordinator* c = coordinator();
        if (c == nullptr) return false;
        int alive = 0;
        for (const auto& n : c->state().nodes()) alive += n.alive() ? 1 : 0;
        return alive == 3;
      },
      absl::Seconds(10));
  pb::Envelope request;
  request.mutable_create_index()->set_index(kIndex);
  request.mutable_create_index()->set_number_of_shards(1);
  request.mutable_create_index()->set_number_of_replicas(2);
  world_.ClientSend(
      "setup", NodeName(1), std::move(request),
      [&created](const absl::StatusOr<pb::Envelope>& reply) {
        created = reply.ok() && reply->has_create_index_response() &&
                  !HasError(reply->create_index_response().error());
      },
      absl::Seconds(5));
  if (!world_.RunUntilTrue([&]() { return created; }, absl::Seconds(10)) ||
      !WaitGreen(20000)) {
    Violation("setup", "the index did not turn green");
    return false;
  }
  const pb::ShardRouting* routing = Routing();
  for (const auto& copy : routing->copies()) {
    if (copy.primary()) {
      primary_ = copy.node_id();
    } else {
      replicas_.push_back(copy.node_id());
    }
  }
  std::sort(replicas_.begin(), replicas_.end());
  if (primary_.empty() || replicas_.size() != 2) {
    Violation("setup", "expected one primary and two replicas");
    return false;
  }
  setup_done_ = true;
  Say(absl::StrCat("index [", kIndex, "] is green: primary ", primary_,
                   ", replicas ", replicas_[0], " and ", replicas_[1],
                   ", term ", PrimaryTerm()));
  return true;
}

const pb::ShardRouting* Script::Routing() {
  Coordinator* c = coordinator();
  if (c == nullptr) return nullptr;
  for (const auto& index : c->state().indices()) {
    if (index.name() == kIndex && index.shards_size() > 0)
      return &index.shards(0);
  }
  return nullptr;
}

int64_t Script::PrimaryTerm() {
  const pb::ShardRouting* r = Routing();
  return r ? r->primary_term() : 0;
}

std::string Script::CurrentPrimary() {
  const pb::ShardRouting* r = Routing();
  if (r == nullptr) return "";
  for (const auto& copy : r->copies()) {
    if (copy.primary()) return copy.node_id();
  }
  return "";
}

bool Script::WaitGreen(int64_t limit_ms) {
  return WaitFor(
      [this]() {
        Coordinator* c = coordinator();
        return c != nullptr &&
               ComputeHealth(c->state(), kIndex).status == "green";
      },
      limit_ms);
}

std::string Script::WaitForNewPrimary(int64_t term, int64_t limit_ms) {
  WaitFor([&]() { return PrimaryTerm() > term && !CurrentPrimary().empty(); },
          limit_ms);
  return PrimaryTerm() > term ? CurrentPrimary() : "";
}

std::shared_ptr<Reply> Script::Write(const std::string& client,
                                     const std::string& to,
                                     const std::string& id, int64_t value,
                                     WriteOptions o) {
  auto reply = std::make_shared<Reply>();
  pb::Envelope request;
  pb::WriteRequest* w = request.mutable_write();
  w->set_index(kIndex);
  w->set_id(id);
  w->set_kind(o.kind);
  std::string what = absl::StrCat("delete doc ", id);
  if (o.kind != pb::WriteRequest::DELETE) {
    w->set_source(absl::StrCat("{\"v\":", value, "}"));
    what = absl::StrCat("index doc ", id, " {\"v\":", value, "}");
  }
  if (o.if_seq_no >= -1) {
    w->set_if_seq_no(o.if_seq_no);
    w->set_if_primary_term(o.if_primary_term);
    absl::StrAppend(&what, " if_seq_no=", o.if_seq_no,
                    " if_primary_term=", o.if_primary_term);
  }
  if (o.external_version >= 0) {
    w->set_version(o.external_version);
    w->set_version_type(pb::VERSION_EXTERNAL);
    absl::StrAppend(&what, " version=", o.external_version,
                    " version_type=external");
  }
  world_.Trace(client, absl::StrCat("sends ", what, " to ", to));
  r_->timeline.push_back(
      {world_.now_ns() / 1000,
       timeline::ClientEvent{
           .process = client,
           .type = "invoke",
           .f = o.kind == pb::WriteRequest::DELETE ? "delete" : "write",
           .key = id,
           .value =
               o.kind == pb::WriteRequest::DELETE ? "" : absl::StrCat(value)}});
  const bool is_delete = o.kind == pb::WriteRequest::DELETE;
  const Fn f = is_delete                                 ? Fn::kDelete
               : o.kind == pb::WriteRequest::CREATE      ? Fn::kCreate
               : o.if_seq_no >= -1 && o.expected != kNil ? Fn::kCas
                                                         : Fn::kWrite;
  const int64_t process = next_process_++;
  const int64_t history_value = is_delete ? kNil : value;
  Record(process, EventType::kInvoke, f, id, history_value, o.expected);
  world_.ClientSend(
      client, to, std::move(request),
      [this, reply, client, id, value, is_delete, f, process, history_value,
       expected = o.expected](const absl::StatusOr<pb::Envelope>& answer) {
        reply->done = true;
        std::string type = "info";
        if (!answer.ok()) {
          reply->error = answer.status().ToString(
              absl::StatusToStringMode::kWithNoExtraData);
          Record(process, EventType::kInfo, f, id, history_value, expected);
        } else if (HasError(answer->write_response().error())) {
          const pb::Error& e = answer->write_response().error();
          reply->error =
              absl::StrCat(e.status(), " ", e.type(), ": ", e.reason());
          type = e.status() >= 400 && e.status() < 500 ? "fail" : "info";
          HistoryEvent& done = Record(
              process, type == "fail" ? EventType::kFail : EventType::kInfo, f,
              id, history_value, expected);
          if (e.status() == 409 &&
              e.type() == "version_conflict_engine_exception" &&
              (f == Fn::kCas || f == Fn::kCreate))
            done.outcome = Outcome::kConflict;
        } else {
          HistoryEvent& done =
              Record(process, EventType::kOk, f, id, history_value, expected);
          if (is_delete && answer->write_response().result() == "not_found")
            done.outcome = Outcome::kNotFound;
          reply->ok = true;
          reply->write = answer->write_response();
          type = "ok";
          auto& acked = acked_[id];
          if (acked_.count(id) == 0 || reply->write.seq_no() >= acked.first) {
            acked = {reply->write.seq_no(), is_delete ? -1 : value};
          }
        }
        world_.Trace(client,
                     reply->ok
                         ? absl::StrCat("gets ", reply->write.result(), " doc ",
                                        id, ": seq_no ", reply->write.seq_no(),
                                        ", term ", reply->write.primary_term(),
                                        ", version ", reply->write.version())
                         : absl::StrCat("gets an error for doc ", id, ": ",
                                        reply->error));
        r_->timeline.push_back(
            {world_.now_ns() / 1000,
             timeline::ClientEvent{
                 .process = client,
                 .type = type,
                 .f = is_delete ? "delete" : "write",
                 .key = id,
                 .value = is_delete ? "" : absl::StrCat(value)}});
      },
      absl::Seconds(3));
  return reply;
}

std::shared_ptr<Reply> Script::Get(const std::string& client,
                                   const std::string& to, const std::string& id,
                                   bool prefer_local) {
  auto reply = std::make_shared<Reply>();
  pb::Envelope request;
  request.mutable_get()->set_index(kIndex);
  request.mutable_get()->set_id(id);
  request.mutable_get()->set_prefer_local(prefer_local);
  const bool narrate = !absl::StartsWith(client, "final");
  if (narrate)
    world_.Trace(client, absl::StrCat("reads doc ", id, " from ", to));
  const int64_t process = next_process_++;
  Record(process, EventType::kInvoke, Fn::kRead, id, kNil, kNil);
  world_.ClientSend(
      client, to, std::move(request),
      [this, reply, client, id, narrate,
       process](const absl::StatusOr<pb::Envelope>& answer) {
        reply->done = true;
        if (!answer.ok()) {
          reply->error = answer.status().ToString(
              absl::StatusToStringMode::kWithNoExtraData);
          Record(process, EventType::kInfo, Fn::kRead, id, kNil, kNil);
        } else if (HasError(answer->get_response().error())) {
          const pb::Error& e = answer->get_response().error();
          reply->error =
              absl::StrCat(e.status(), " ", e.type(), ": ", e.reason());
          Record(process, EventType::kFail, Fn::kRead, id, kNil, kNil);
        } else {
          reply->ok = true;
          reply->get = answer->get_response();
          Record(process, EventType::kOk, Fn::kRead, id,
                 reply->get.found() ? SourceValue(reply->get.source()) : kNil,
                 kNil);
        }
        if (!narrate) return;
        world_.Trace(
            client,
            !reply->ok ? absl::StrCat("read error: ", reply->error)
            : reply->get.found()
                ? absl::StrCat("reads doc ", id, " = ", reply->get.source(),
                               " (seq_no ", reply->get.seq_no(), ", term ",
                               reply->get.primary_term(), ")")
                : absl::StrCat("reads doc ", id, ": not found"));
      },
      absl::Seconds(3));
  return reply;
}

std::vector<std::string> Script::SearchOn(const std::string& client,
                                          const std::string& to,
                                          const std::string& node,
                                          bool narrate) {
  pb::Envelope request;
  request.mutable_search()->add_indices(kIndex);
  request.mutable_search()->set_size(100);
  request.mutable_search()->mutable_query()->mutable_match_all();
  request.mutable_search()->set_preference(absl::StrCat("_only_nodes:", node));
  auto ids = std::make_shared<std::vector<std::string>>();
  auto done = std::make_shared<bool>(false);
  world_.ClientSend(
      client, to, std::move(request),
      [ids, done](const absl::StatusOr<pb::Envelope>& answer) {
        *done = true;
        if (!answer.ok()) return;
        for (const pb::SearchHit& hit : answer->search_response().hits())
          ids->push_back(hit.id());
      },
      absl::Seconds(3));
  WaitFor([done]() { return *done; }, 3000);
  if (!narrate) return *ids;
  world_.Trace(
      client,
      absl::StrCat("searches ", node, "'s copy: ",
                   ids->empty()
                       ? std::string("no hits")
                       : absl::StrCat("doc ", absl::StrJoin(*ids, ", doc "))));
  return *ids;
}

int Script::HeldCount(const std::string& node) {
  HoldingNode* h = holder(node);
  return h ? static_cast<int>(h->held().size()) : 0;
}

bool Script::Release(const std::string& node, int64_t seq_no) {
  HoldingNode* h = holder(node);
  if (h == nullptr) return false;
  auto& held = h->held();
  for (auto it = held.begin(); it != held.end(); ++it) {
    const pb::Operation* op = FirstOp(it->request);
    if (op == nullptr || op->seq_no() != seq_no) continue;
    HoldingNode::Held m = std::move(*it);
    held.erase(it);
    world_.Trace("lab", absl::StrCat("releases ", OpLabel(*op), " to ", node));
    r_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::DeliverEvent{.id = m.message_id, .to = node}});
    h->node()->Handle(m.request, std::move(m.respond));
    h->node()->Flush();
    return true;
  }
  return false;
}

void Script::ReleaseAll(const std::string& node) {
  HoldingNode* h = holder(node);
  if (h == nullptr) return;
  while (!h->held().empty()) {
    HoldingNode::Held m = std::move(h->held().front());
    h->held().erase(h->held().begin());
    r_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::DeliverEvent{.id = m.message_id, .to = node}});
    h->node()->Handle(m.request, std::move(m.respond));
    h->node()->Flush();
  }
}

void Script::Crash(const std::string& node) {
  const int held = HeldCount(node);
  Say(absl::StrCat(
      "crash ", node,
      held > 0 ? absl::StrCat(" (", held, " held messages are lost with it)")
               : ""));
  Nemesis("start", "kill", node);
  hold_.erase(node);
  world_.Crash(node);
}

bool Script::Converged(std::string* why) {
  const pb::ShardRouting* routing = Routing();
  if (routing == nullptr) {
    *why = "no routing";
    return false;
  }
  int64_t max_seq_no = -2, lcp = -2, docs = -2;
  for (const auto& member : routing->in_sync()) {
    Node* n = node(member);
    if (n == nullptr) {
      *why = absl::StrCat(member, " is down");
      return false;
    }
    const pb::NodeStatusResponse status = n->Status();
    for (const auto& s : status.shards()) {
      if (max_seq_no == -2) {
        max_seq_no = s.max_seq_no();
        lcp = s.local_checkpoint();
        docs = s.docs();
      }
      if (s.max_seq_no() != max_seq_no || s.local_checkpoint() != lcp ||
          s.docs() != docs || lcp != max_seq_no) {
        *why = absl::StrCat(member, " has max_seq_no/lcp/docs ", s.max_seq_no(),
                            "/", s.local_checkpoint(), "/", s.docs(),
                            ", others ", max_seq_no, "/", lcp, "/", docs);
        return false;
      }
    }
  }
  return true;
}

void Script::Finish(const std::vector<std::string>& ids) {
  if (world_.stopped()) return;
  hold_.clear();
  for (const auto& id : world_.actor_ids()) {
    ReleaseAll(id);
    if (world_.IsPaused(id)) world_.Resume(id);
    if (!world_.IsUp(id)) world_.Restart(id);
  }
  world_.HealLinks();
  std::string why;
  const bool converged =
      WaitGreen(15000) && WaitFor([&]() { return Converged(&why); }, 15000);
  if (world_.stopped()) return;
  if (!converged) {
    Violation("quiet-down-convergence",
              absl::StrCat("the copies did not converge: ", why));
    return;
  }
  const pb::ShardRouting* routing = Routing();
  std::vector<std::string> members(routing->in_sync().begin(),
                                   routing->in_sync().end());
  std::sort(members.begin(), members.end());
  std::map<std::string, std::shared_ptr<Reply>> reads;
  for (const auto& id : ids) {
    for (const auto& member : members) {
      reads[absl::StrCat(member, " doc ", id)] =
          Get("final-reader", member, id, /*prefer_local=*/true);
    }
  }
  WaitFor(
      [&]() {
        for (const auto& [k, reply] : reads) {
          if (!reply->done) return false;
        }
        return true;
      },
      10000);
  Say("final reads from every in-sync copy:");
  for (const auto& id : ids) {
    std::string first_text, first_member;
    for (const auto& member : members) {
      const Reply& reply = *reads[absl::StrCat(member, " doc ", id)];
      const std::string text =
          !reply.ok ? absl::StrCat("error ", reply.error)
          : reply.get.found()
              ? absl::StrCat("seq_no ", reply.get.seq_no(), " term ",
                             reply.get.primary_term(), " version ",
                             reply.get.version(), " ", reply.get.source())
              : "not found";
      r_->final_docs[absl::StrCat(member, " doc ", id)] = text;
      Say(absl::StrCat("  ", member, " doc ", id, ": ", text));
      if (first_member.empty()) {
        first_member = member;
        first_text = text;
      } else if (text != first_text) {
        Violation("quiet-down-convergence",
                  absl::StrCat("in-sync copies differ on doc ", id, ": ",
                               first_member, " has {", first_text, "}, ",
                               member, " has {", text, "}"));
        return;
      }
    }
    auto acked = acked_.find(id);
    if (acked == acked_.end()) continue;
    const auto [seq_no, value] = acked->second;
    const Reply& first = *reads[absl::StrCat(members.front(), " doc ", id)];
    const bool found = first.ok && first.get.found();
    const bool holds =
        value < 0
            ? (!found || first.get.seq_no() > seq_no)
            : (found &&
               (first.get.seq_no() > seq_no ||
                first.get.source() == absl::StrCat("{\"v\":", value, "}")));
    if (!holds) {
      Violation("acked-write-lost",
                absl::StrCat("the write acknowledged with seq_no ", seq_no,
                             " for doc ", id, " (",
                             value < 0 ? std::string("a delete")
                                       : absl::StrCat("{\"v\":", value, "}"),
                             ") is not what the copies hold: ", first_text));
      return;
    }
  }  // Every answer the clients got, the definite 409s included (a claim about
  // the document: R11), must fit one order of the operations.
  const CheckResult check = CheckLinearizable(history_);
  if (check.verdict != Verdict::kLinearizable)
    Violation("linearizable", check.explanation);
}

// ---- The scenarios --------------------------------------------------------

// out-of-order: replica receives seq_no 7, 8, then 6 for doc 7.
void OutOfOrder(Script& s) {
  const std::string target = s.R(1);
  s.Say("six writes to doc 7 take seq_no 0..5, in order, on every copy");
  for (int v = 0; v < 6; ++v) {
    auto w = s.Write("client-A", s.P(), "7", v);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.DrawFromHere("doc 7 was written 6 times (seq_no 0..5) on every copy");
  s.Say(absl::StrCat("from now on the link ", s.P(), " -> ", target,
                     " holds replication messages"));
  s.HoldReplication(target, {});
  std::vector<std::shared_ptr<Reply>> writes;
  for (int v = 6; v <= 8; ++v) {
    writes.push_back(s.Write("client-A", s.P(), "7", v));
    s.Advance(2);
  }
  s.Advance(5);
  s.StopHolding(target);
  s.Say(absl::StrCat(target, " holds ", s.HeldCount(target),
                     " messages; release them in the order 7, 8, 6"));
  for (int64_t seq : {7, 8, 6}) {
    s.Release(target, seq);
    s.Advance(2);
  }
  s.WaitFor(
      [&]() {
        return std::all_of(writes.begin(), writes.end(),
                           [](const auto& w) { return w->done; });
      },
      5000);
  s.Fact("acked",
         absl::StrCat(std::count_if(writes.begin(), writes.end(),
                                    [](const auto& w) { return w->ok; })));
  s.Finish({"7"});
}

// delete-tombstone: an old index arriving after the delete does not
// resurrect the document.
void DeleteTombstone(Script& s) {
  const std::string target = s.R(1);
  auto w = s.Write("client-A", s.P(), "7", 1);
  s.WaitFor([w]() { return w->done; }, 3000);
  s.Say(absl::StrCat("the link ", s.P(), " -> ", target,
                     " now holds replication messages"));
  s.HoldReplication(target, {});
  auto index = s.Write("client-A", s.P(), "7", 2);
  s.Advance(2);
  auto del = s.Write("client-B", s.P(), "7", 0,
                     WriteOptions{.kind = pb::WriteRequest::DELETE});
  s.Advance(5);
  s.StopHolding(target);
  s.Say(absl::StrCat("release the delete (seq_no 2) to ", target,
                     " first, then the older index (seq_no 1)"));
  s.Release(target, 2);
  s.Advance(2);
  s.Release(target, 1);
  s.WaitFor([&]() { return index->done && del->done; }, 5000);
  s.Finish({"7"});
}

// lost-update: read-modify-write without and with CAS.
void LostUpdate(Script& s) {
  s.Say(
      "part 1: two clients increment a counter by read-modify-write, "
      "without CAS");
  auto init = s.Write("client-A", s.P(), "counter", 0);
  s.WaitFor([init]() { return init->done; }, 3000);
  auto ra = s.Get("client-A", s.R(0), "counter");
  auto rb = s.Get("client-B", s.R(1), "counter");
  s.WaitFor([&]() { return ra->done && rb->done; }, 3000);
  auto wa = s.Write("client-A", s.R(0), "counter", 1);
  auto wb = s.Write("client-B", s.R(1), "counter", 1);
  s.WaitFor([&]() { return wa->done && wb->done; }, 3000);
  auto check = s.Get("client-A", s.P(), "counter");
  s.WaitFor([&]() { return check->done; }, 3000);
  s.Say(absl::StrCat("two increments were acknowledged but the counter is ",
                     check->get.source(), ": one update was lost"));
  s.Fact("without-cas", check->get.source());

  s.Say("part 2: the same with if_seq_no/if_primary_term (CAS)");
  auto init2 = s.Write("client-A", s.P(), "counter-cas", 0);
  s.WaitFor([init2]() { return init2->done; }, 3000);
  auto ra2 = s.Get("client-A", s.R(0), "counter-cas");
  auto rb2 = s.Get("client-B", s.R(1), "counter-cas");
  s.WaitFor([&]() { return ra2->done && rb2->done; }, 3000);
  auto wa2 = s.Write("client-A", s.R(0), "counter-cas", 1,
                     WriteOptions{.if_seq_no = ra2->get.seq_no(),
                                  .if_primary_term = ra2->get.primary_term()});
  s.WaitFor([&]() { return wa2->done; }, 3000);
  auto wb2 = s.Write("client-B", s.R(1), "counter-cas", 1,
                     WriteOptions{.if_seq_no = rb2->get.seq_no(),
                                  .if_primary_term = rb2->get.primary_term()});
  s.WaitFor([&]() { return wb2->done; }, 3000);
  s.Fact("cas-loser-error", wb2->error);
  s.Say("client-B lost the race: it reads again and retries");
  auto rb3 = s.Get("client-B", s.R(1), "counter-cas");
  s.WaitFor([&]() { return rb3->done; }, 3000);
  auto wb3 = s.Write("client-B", s.R(1), "counter-cas", 2,
                     WriteOptions{.if_seq_no = rb3->get.seq_no(),
                                  .if_primary_term = rb3->get.primary_term()});
  s.WaitFor([&]() { return wb3->done; }, 3000);
  auto check2 = s.Get("client-A", s.P(), "counter-cas");
  s.WaitFor([&]() { return check2->done; }, 3000);
  s.Say(absl::StrCat("with CAS both increments count: the counter is ",
                     check2->get.source()));
  s.Fact("with-cas", check2->get.source());
  s.Finish({"counter", "counter-cas"});
}

// Holds the coordinator's messages to `old_primary`, pauses it and waits until
// the coordinator promotes another copy; returns the new primary's node.
std::string PauseUntilReplaced(Script& s, const std::string& old_primary) {
  s.Say(absl::StrCat("hold the coordinator's messages to ", old_primary,
                     " so that it wakes up not knowing what happened"));
  s.Hold(old_primary,
         [](const pb::Envelope& m) { return m.from() == kCoordinatorId; });
  s.Pause(old_primary);
  const std::string promoted = s.WaitForNewPrimary(1, 10000);
  s.Say(absl::StrCat("the coordinator promoted ", promoted, " in term ",
                     s.PrimaryTerm()));
  s.Fact("promoted", promoted);
  return promoted;
}

// stale-primary: the primary is paused, a replica is promoted, the old
// primary wakes up and is fenced by its replicas.
void StalePrimary(Script& s) {
  const std::string old_primary = s.P();
  auto w = s.Write("client-A", old_primary, "7", 1);
  s.WaitFor([w]() { return w->done; }, 3000);
  const std::string promoted = PauseUntilReplaced(s, old_primary);
  s.Advance(200);
  auto stale =
      s.Write("client-B", old_primary, "7", 2);  // waits in the paused node
  s.Advance(10);
  s.Resume(old_primary);
  s.WaitFor([stale]() { return stale->done; }, 5000);
  s.Fact("stale-write", stale->ok ? "ok" : stale->error);
  s.Finish({"7"});
}

// deposed-cas: a CAS with a correct expectation reaches the primary after a
// replica was promoted in its place (issue 12, R11).
void DeposedCas(Script& s) {
  const std::string old_primary = s.P();
  auto a = s.Write("client-A", old_primary, "x", 1);
  s.WaitFor([a]() { return a->done; }, 3000);
  const std::string promoted = PauseUntilReplaced(s, old_primary);
  s.Advance(200);  // the new primary applies the new cluster state
  auto b = s.Write("client-B", promoted, "x", 2);
  s.WaitFor([b]() { return b->done; }, 3000);
  s.Fact("x=B", b->ok ? absl::StrCat("seq_no ", b->write.seq_no(), " term ",
                                     b->write.primary_term())
                      : b->error);
  auto read = s.Get("client-C", promoted, "x");
  s.WaitFor([read]() { return read->done; }, 3000);
  s.Say(absl::StrCat("client-C sends its CAS with the version it read to ",
                     old_primary, ", which it still believes is the primary"));
  auto cas = s.Write("client-C", old_primary, "x", 3,
                     WriteOptions{.if_seq_no = read->get.seq_no(),
                                  .if_primary_term = read->get.primary_term(),
                                  .expected = SourceValue(read->get.source())});
  s.Advance(10);
  s.Resume(old_primary);
  s.Advance(5);
  s.Say(
      absl::StrCat("stop holding the coordinator's messages to ", old_primary));
  s.StopHolding(old_primary);
  s.ReleaseAll(old_primary);
  s.WaitFor([cas]() { return cas->done; }, 5000);
  s.Fact("deposed-cas", cas->ok
                            ? absl::StrCat("ok seq_no ", cas->write.seq_no(),
                                           " term ", cas->write.primary_term())
                            : cas->error);
  s.Finish({"x"});
}

// resync: the primary dies with operations above the global checkpoint that
// the replicas hold differently.
void Resync(Script& s) {
  for (int i = 0; i < 5; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.Say(absl::StrCat("seq_no 0..4 are on every copy; now ", s.R(0),
                     " will miss seq_no 6 and ", s.R(1), " seq_no 7"));
  s.HoldReplication(s.R(0), {6});
  s.HoldReplication(s.R(1), {7});
  std::vector<std::shared_ptr<Reply>> writes;
  for (int i = 5; i < 8; ++i) {
    writes.push_back(s.Write("client-A", s.P(), absl::StrCat("d", i), i));
    s.Advance(2);
  }
  s.Advance(5);
  const std::string old_primary = s.P();
  s.Crash(old_primary);
  s.StopHolding(s.R(0));
  s.StopHolding(s.R(1));
  const std::string promoted = s.WaitForNewPrimary(1, 10000);
  s.Fact("promoted", promoted);
  s.Advance(300);
  s.Restart(old_primary);
  s.Finish({"d5", "d6", "d7"});
}

// recovery: a replica is down while writes go on, comes back and replays
// the missed operations from its local checkpoint.
void Recovery(Script& s) {
  for (int i = 0; i < 3; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  const std::string victim = s.R(1);
  s.Crash(victim);
  for (int i = 3; i < 6; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.Advance(100);
  s.Restart(victim);
  s.WaitGreen(10000);
  s.Finish({"d0", "d3", "d5"});
}

// external-version: syncing from a source of truth with external versions.
void ExternalVersion(Script& s) {
  s.Say(
      "a sync job copies product p1 from a database whose row version is "
      "the document version");
  struct Step {
    int64_t version;
    int64_t value;
  };
  std::vector<std::string> results;
  for (const Step& step :
       {Step{5, 50}, Step{7, 70}, Step{6, 60}, Step{7, 71}}) {
    auto w = s.Write("client-sync", s.P(), "p1", step.value,
                     WriteOptions{.external_version = step.version});
    s.WaitFor([w]() { return w->done; }, 3000);
    results.push_back(w->ok ? w->write.result() : w->error.substr(0, 3));
  }
  s.Fact("results", absl::StrJoin(results, ","));
  s.Finish({"p1"});
}

// acked-write: the primary dies right after a write; the client only hears
// "ok" if every in-sync copy has the write.
void AckedWrite(Script& s) {
  auto w0 = s.Write("client-A", s.P(), "7", 1);
  s.WaitFor([w0]() { return w0->done; }, 3000);
  s.Say("both replicas' links now hold replication messages");
  s.HoldReplication(s.R(0), {});
  s.HoldReplication(s.R(1), {});
  auto w = s.Write("client-A", s.P(), "7", 2);
  s.Advance(20);
  s.Say(w->done ? "client-A already has an answer, before any replica has "
                  "the write"
                : "client-A has no answer yet: the write is not on the "
                  "replicas");
  s.Fact("answered-before-crash", w->done && w->ok ? "yes" : "no");
  const std::string old_primary = s.P();
  s.Crash(old_primary);
  s.StopHolding(s.R(0));
  s.StopHolding(s.R(1));
  // The held messages die with the primary's links.
  s.Say("the replication messages still held are lost");
  s.WaitForNewPrimary(1, 10000);
  s.Advance(300);
  s.Restart(old_primary);
  s.Finish({"7"});
}

// Refresh: GET is real-time, search sees each copy's last refresh, and the
// copies refresh at their own moments.
void NearRealTime(Script& s) {
  s.Say("index.refresh_interval is 1s: every copy refreshes on its own timer");
  const std::vector<std::string> nodes = {s.P(), s.R(0), s.R(1)};
  // Polls every copy's search every 10 ms (quietly) until each shows `id`;
  // says when each does. Returns the copies in that order, with the times.
  auto watch = [&](const std::string& id) {
    std::vector<std::pair<std::string, absl::Duration>> order;
    bool lag = false;
    for (int step = 0; step < 300 && order.size() < nodes.size(); ++step) {
      for (const std::string& node : nodes) {
        bool known = false;
        for (const auto& [n, t] : order) known = known || n == node;
        if (known) continue;
        const std::vector<std::string> ids =
            s.SearchOn("searcher", s.P(), node, /*narrate=*/false);
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
        order.emplace_back(node, s.Now());
        s.Say(
            absl::StrCat(node, "'s copy refreshed: its search shows doc ", id));
        if (node == s.P() && order.size() == 1 && !lag) {
          // The primary shows it; the replicas' searches do not yet, while
          // their GETs do.
          lag = true;
          s.SearchOn("searcher", s.P(), s.R(0), /*narrate=*/true);
          auto got = s.Get("reader", s.R(0), id, /*prefer_local=*/true);
          s.WaitFor([&] { return got->done; }, 3000);
          s.Fact("replica-search-lags-primary",
                 got->ok && got->get.found() ? "yes" : "no");
          s.Say(absl::StrCat(s.R(0), "'s search misses doc ", id,
                             " while its GET finds it: its copy has the "
                             "write, its last refresh does not"));
        }
      }
      s.Advance(10);
    }
    return order;
  };
  auto w = s.Write("writer", s.P(), "7", 1);
  s.WaitFor([&] { return w->done; }, 5000);
  s.Fact("write-acked", w->done && w->ok ? "yes" : "no");
  auto got = s.Get("reader", s.R(0), "7", /*prefer_local=*/true);
  s.WaitFor([&] { return got->done; }, 3000);
  s.Fact("replica-get-current", got->ok && got->get.found() ? "yes" : "no");
  s.SearchOn("searcher", s.P(), s.R(0), /*narrate=*/true);
  const auto first = watch("7");
  s.Fact("searchable-everywhere", first.size() == nodes.size() ? "yes" : "no");
  if (first.size() != nodes.size()) return s.Finish({"7"});
  // Written just after the refresh that comes before the primary's, the next
  // write is searchable on the primary first.
  size_t primary_at = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i].first == s.P()) primary_at = i;
  }
  const absl::Duration before = primary_at == 0
                                    ? first.back().second - absl::Seconds(1)
                                    : first[primary_at - 1].second;
  s.Say(
      absl::StrCat("doc 8 is written just after ",
                   first[(primary_at + first.size() - 1) % first.size()].first,
                   "'s next refresh, before the primary's"));
  s.AdvanceTo(before + absl::Seconds(1) + absl::Milliseconds(2));
  auto w8 = s.Write("writer", s.P(), "8", 1);
  s.WaitFor([&] { return w8->done; }, 5000);
  watch("8");
  s.Finish({"7", "8"});
}

struct Entry {
  ScriptedScenario info;
  std::function<void(Script&)> run;
};

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> kEntries = {
      {{"out-of-order",
        "a replica receives seq_no 7 and 8 before 6 for the same doc",
        "The primary indexes doc 7 three times (seq_no 6, 7, 8) and replicates "
        "each operation in its own message. The link to one replica holds the "
        "three messages and releases them in the order 7, 8, 6. The replica "
        "applies 7, then 8, and when 6 finally arrives it compares seq_nos: it "
        "already holds seq_no 8 for doc 7, so operation 6 is stale and only "
        "fills its place in the history (the local checkpoint still advances "
        "to 8). Every copy ends with the seq_no 8 version: replicas order "
        "operations by seq_no, not by arrival.",
        "no-seqno-check",
        "With --unsafe=no-seqno-check the replica applies whatever arrives "
        "last: the late seq_no 6 overwrites seq_no 8 on that copy, and the "
        "copies disagree on doc 7.",
        "quiet-down-convergence"},
       OutOfOrder},
      {{"delete-tombstone",
        "an old index arriving after a delete does not resurrect the doc",
        "Doc 7 is indexed (seq_no 1) and then deleted (seq_no 2). One replica "
        "receives the delete first: it removes the document but keeps a "
        "tombstone that remembers seq_no 2. When the older index (seq_no 1) "
        "arrives, the replica compares it with the tombstone and ignores it. "
        "Without tombstones the late index would bring the deleted document "
        "back on that copy.",
        "no-seqno-check",
        "With --unsafe=no-seqno-check the late index is applied after the "
        "delete and the document comes back to life on one copy only.",
        "quiet-down-convergence"},
       DeleteTombstone},
      {{"lost-update",
        "read-modify-write loses an update without CAS; with if_seq_no the "
        "loser gets 409 and retries",
        "Two clients increment a counter: each reads it, adds one and writes "
        "it back. Without concurrency control both write 1: two acknowledged "
        "increments, one lost update, and nothing in the cluster is wrong (it "
        "did what it was told). With if_seq_no/if_primary_term from the read, "
        "the primary checks that the document is still the one that was read: "
        "the second writer gets 409 version_conflict_engine_exception, reads "
        "again and retries, and the counter ends at 2.",
        "", "", ""},
       LostUpdate},
      {{"stale-primary",
        "a paused primary is replaced; when it wakes up its replicas fence it",
        "The primary is paused (think of a long garbage collection) and stops "
        "sending heartbeats. The coordinator promotes a replica with primary "
        "term 2 and the other replica follows it. The old primary wakes up "
        "still believing it is primary in term 1 and accepts a write; it "
        "replicates the operation with term 1, and every replica rejects it: "
        "operation primary term [1] is too old (current [2]). The old primary "
        "learns it is stale, steps down, and the write is never acknowledged "
        "as done by the stale primary. The primary term fences the old "
        "primary.",
        "no-fencing",
        "With --unsafe=no-fencing the replicas accept the stale primary's "
        "term-1 operation: a replica acknowledges an operation from a term "
        "below its own, and the old primary tells the client the write "
        "succeeded on a history the new primary does not share.",
        "replica-term-fencing"},
       StalePrimary},
      {{"deposed-cas",
        "a CAS reaches a deposed primary: it must not answer 409 from its "
        "stale copy",
        "The primary P holds x = {\"v\":1}. P is paused and a replica is "
        "promoted in term 2; x = {\"v\":2} is written through the new "
        "primary. A client reads x with its seq_no and term and sends a CAS "
        "with exactly that expectation to P, which it still believes is the "
        "primary. P's copy of x is the overwritten version, so a conflict "
        "check against it would answer 409 although the expectation is right. "
        "A 409 needs no replication, so it is a read of the document (R11): P "
        "gives it only after its in-sync copies confirm its term. They have "
        "moved to term 2, so P learns it is stale and the CAS is rerouted to "
        "the new primary (R12), where it succeeds, or answered as unknown "
        "(5xx); never with a definite wrong answer.",
        "no-conflict-barrier",
        "With --unsafe=no-conflict-barrier P answers the CAS at once from its "
        "stale copy: 409 \"current document has seqNo [0] and primary term "
        "[1]\" while x is at the expected seq_no and term. The 409 claims x "
        "was not at the expected version at any instant of the CAS, which no "
        "order of the operations explains: the history is not linearizable.",
        "linearizable"},
       DeposedCas},
      {{"resync",
        "promotion with operations above the global checkpoint: resync, trim, "
        "gap no-op",
        "Seq_no 0..4 are on every copy. The primary then writes seq_no 5, 6 "
        "and 7, but one replica misses 6 and the other misses 7, and the "
        "primary crashes before any of them is acknowledged. The coordinator "
        "promotes a replica with term 2. Its operations above the global "
        "checkpoint are not known to be on every copy, so it resyncs them to "
        "the other replica; a hole in its history (the seq_no it never "
        "received) is filled with a no-op; the other replica trims what the "
        "new primary does not have, and the copies agree again.",
        "no-resync",
        "With --unsafe=no-resync the new primary skips the resync and the "
        "trim: each replica keeps its own version of the operations above the "
        "global checkpoint, and the copies never agree.",
        "quiet-down-convergence"},
       Resync},
      {{"recovery",
        "a replica misses writes while down and replays them from its local "
        "checkpoint",
        "A replica crashes; the primary reports it failed and goes on with the "
        "other copies. The replica restarts with its translog, which ends at "
        "its local checkpoint. The primary recovers it operations-based: it "
        "sends only the operations above that checkpoint, then marks the copy "
        "in sync once it holds every acknowledged write, and the index is "
        "green again.",
        "", "", ""},
       Recovery},
      {{"external-version",
        "version_type=external: replays of older versions get 409",
        "A sync job copies rows from a database and uses the row version as "
        "the document version (version_type=external). Version 5 creates the "
        "document, version 7 updates it. A late replay of version 6 and a "
        "duplicate of version 7 are refused with 409 "
        "version_conflict_engine_exception: with external versions the "
        "document only moves forward, whatever order the sync sends in.",
        "", "", ""},
       ExternalVersion},
      {{"acked-write",
        "the primary dies right after a write: ok means every in-sync copy "
        "has it",
        "The links to both replicas hold the replication of a write, and the "
        "primary crashes. The client has no answer: a primary acknowledges a "
        "write only after every in-sync copy has it, so the write was never "
        "promised. The promoted replica does not have it and that is "
        "correct.",
        "early-ack",
        "With --unsafe=early-ack the primary answers ok before the replicas "
        "have the write; it then crashes, the promoted replica never had the "
        "write, and an acknowledged write is lost.",
        "acked-write-lost"},
       AckedWrite},
      {{"near-real-time",
        "GET is real-time, search sees each copy's last refresh: a replica's "
        "search lags its primary's",
        "Doc 7 is written and acknowledged by every copy, and a GET through a "
        "replica finds it at once: GET reads the copy's current state. Search "
        "does not: it reads what the copy's last refresh made searchable, and "
        "every copy refreshes on its own timer (index.refresh_interval, 1s "
        "here). Searching every copy every 10 ms shows doc 7 appear copy by "
        "copy, in the order of their timers. Doc 8 is then written just before "
        "the primary's refresh: the primary's search shows it while a "
        "replica's search does not, though a GET on that replica finds it. "
        "Search is near-real-time and per copy, not linearizable: that is why "
        "it is not in the checked history, and why refresh=wait_for exists.",
        "", "", ""},
       NearRealTime},
  };
  return kEntries;
}

const Entry* FindEntry(const std::string& name) {
  for (const Entry& e : Entries()) {
    if (e.info.name == name) return &e;
  }
  return nullptr;
}

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

const std::vector<ScriptedScenario>& ScriptedScenarios() {
  static const std::vector<ScriptedScenario> kList = []() {
    std::vector<ScriptedScenario> list;
    for (const Entry& e : Entries()) list.push_back(e.info);
    return list;
  }();
  return kList;
}

const ScriptedScenario* FindScriptedScenario(const std::string& name) {
  const Entry* e = FindEntry(name);
  return e ? &e->info : nullptr;
}

ScriptedResult RunScripted(const std::string& name, const UnsafeModes& unsafe) {
  ScriptedResult result;
  const Entry* entry = FindEntry(name);
  if (entry == nullptr) {
    result.violation = "setup";
    result.detail = absl::StrCat("unknown scenario ", name);
    return result;
  }
  result.explanation = entry->info.explanation;
  if (!UnsafeName(unsafe).empty() && !entry->info.unsafe_explanation.empty()) {
    absl::StrAppend(&result.explanation, "\n\n",
                    entry->info.unsafe_explanation);
  }
  {
    Script script(entry->info, unsafe, &result);
    if (script.Setup()) entry->run(script);
  }
  result.passed = result.violation.empty();
  return result;
}

std::string ExplainedText(const ScriptedScenario& scenario,
                          const UnsafeModes& unsafe,
                          const ScriptedResult& result) {
  std::string text = absl::StrCat("scenario ", scenario.name);
  const std::string modes = UnsafeName(unsafe);
  if (!modes.empty()) absl::StrAppend(&text, " --unsafe=", modes);
  absl::StrAppend(&text, "\n\n", result.explanation, "\n\n");
  absl::StrAppend(&text, "virtual ms  actor  decision\n");
  for (const auto& line : result.explained) absl::StrAppend(&text, line, "\n");
  absl::StrAppend(&text, "\n",
                  result.passed ? std::string("PASSED")
                                : absl::StrCat("FAILED: ", result.violation,
                                               ": ", result.detail),
                  "\n");
  return text;
}

int RunScriptedCommand(const std::string& name, const UnsafeModes& unsafe,
                       const std::string& out_dir, std::ostream& out) {
  const ScriptedScenario* scenario = FindScriptedScenario(name);
  if (scenario == nullptr) return 2;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const ScriptedResult r = RunScripted(name, unsafe);
  const std::filesystem::path dir(out_dir);
  std::string trace;
  for (const auto& line : r.trace) absl::StrAppend(&trace, line, "\n");
  nlohmann::ordered_json j;
  j["scenario"] = name;
  j["unsafe"] = UnsafeName(unsafe);
  j["passed"] = r.passed;
  j["violation"] = r.violation;
  j["detail"] = r.detail;
  j["facts"] = r.facts;
  j["final_docs"] = r.final_docs;
  const std::string explained = ExplainedText(*scenario, unsafe, r);
  if (!WriteFile(dir / "explained.txt", explained) ||
      !WriteFile(dir / "trace.log", trace) ||
      !WriteFile(dir / "summary.json", j.dump(2) + "\n")) {
    out << "seqsim-lab: cannot write to " << out_dir << "\n";
    return 2;
  }
  if (auto st = timeline::WriteEventsFile((dir / "events.jsonl").string(),
                                          r.timeline);
      !st.ok()) {
    out << "seqsim-lab: warning: events.jsonl: " << st.message() << "\n";
  }
  timeline::RenderOptions render;
  render.title = absl::StrCat(
      "scenario ", name,
      UnsafeName(unsafe).empty()
          ? ""
          : absl::StrCat(" --unsafe=", UnsafeName(unsafe)),
      r.passed ? ": PASSED" : absl::StrCat(": FAILED (", r.violation, ")"));
  render.explanation = r.explanation;
  if (!r.passed) {
    absl::StrAppend(&render.explanation, "\n\nFAILED: ", r.violation, ": ",
                    r.detail);
  }
  render.hidden_ops = {"heartbeat", "heartbeat_response"};
  if (auto st = timeline::RenderToDirectory(r.timeline, render, out_dir);
      !st.ok()) {
    out << "seqsim-lab: warning: timeline: " << st.message() << "\n";
  }
  for (const auto& line : r.explained) out << line << "\n";
  out << "\nscenario " << name
      << (UnsafeName(unsafe).empty() ? "" : " --unsafe=" + UnsafeName(unsafe))
      << ": " << (r.passed ? "PASSED" : "FAILED") << "\n";
  if (!r.passed)
    out << "  violation: " << r.violation << "\n  " << r.detail << "\n";
  out << "\n" << r.explanation << "\n\n";
  out << "  wrote " << out_dir
      << "/{explained.txt,trace.log,summary.json,events.jsonl,timeline.html,"
         "timeline.svg}\n";
  return r.passed ? 0 : 1;
}

void PrintScriptedScenarios(std::ostream& out) {
  out << "scripted scenarios (seqsim-lab run --scenario=NAME --out=DIR):\n";
  for (const ScriptedScenario& s : ScriptedScenarios()) {
    out << "  " << s.name << ": " << s.summary << "\n";
    if (!s.unsafe.empty()) {
      out << "      --unsafe=" << s.unsafe << " breaks it (fails "
          << s.unsafe_violation << ")\n";
    }
  }
}

}  // namespace seqsim::sim
