// The Script's vocabulary (script.h): holding and releasing messages, client
// writes and reads recorded in the history, faults, narration for the
// explained trace, and the checks when a scenario finishes.
#include "sim/scenarios/script.h"

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "sim/checker/checker.h"

namespace seqsim::sim::scenario_internal {

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

void Script::OnTrace(const std::string& line, LogMark mark) {
  r_->trace.push_back(line);
  if (!setup_done_) return;
  // "<ms> <who> <text>"
  const size_t a = line.find(' ');
  const size_t b = a == std::string::npos ? a : line.find(' ', a + 1);
  if (b == std::string::npos) return;
  const std::string who = line.substr(a + 1, b - a - 1);
  const std::string text = line.substr(b + 1);
  // Decisions worth reading: the actors' own words and the script's, not the
  // routine lines (transport chatter, heartbeats), by the mark each line was
  // logged with.
  if (who.empty() || mark == LogMark::kRoutine) return;
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
           .actor = who, .mark = LogMarkName(mark), .text = words}});
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
  world_.set_trace(
      [this](const std::string& line, LogMark mark) { OnTrace(line, mark); });
  world_.set_message_observer([this](const MessageEvent& m) { OnMessage(m); });
  world_.set_rpc_observer(
      [this](const std::string& caller, const std::string& callee,
             const pb::Envelope& request, const pb::Envelope& response) {
        OnRpc(caller, callee, request, response);
      });
  world_.set_after_event([this](const EventInfo&) { CheckPrimaries(); });
  world_.AddActor(kCoordinatorId, CoordinatorFactory());
  for (int n = 1; n <= 3; ++n) {
    const NodeOptions options = SimNodeOptions(n, unsafe_);
    world_.AddActor(options.id, [options, this](Env* env) {
      return std::make_unique<HoldingNode>(env, options, this);
    });
  }
  WaitAllJoined(world_, 3, absl::Seconds(10));
  if (!CreateIndexAndWait(world_, SimNodeId(1), kLabIndex, /*shards=*/1,
                          /*replicas=*/2, /*max_attempts=*/1,
                          absl::Seconds(10)) ||
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
  Say(absl::StrCat("index [", kLabIndex, "] is green: primary ", primary_,
                   ", replicas ", replicas_[0], " and ", replicas_[1],
                   ", term ", PrimaryTerm()));
  return true;
}

const pb::ShardRouting* Script::Routing() {
  Coordinator* c = coordinator();
  if (c == nullptr) return nullptr;
  for (const auto& index : c->state().indices()) {
    if (index.name() == kLabIndex && index.shards_size() > 0)
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
  const pb::ShardCopy* primary = PrimaryCopy(*r);
  return primary != nullptr ? primary->node_id() : "";
}

bool Script::WaitGreen(int64_t limit_ms) {
  return WaitIndexGreen(world_, kLabIndex, absl::Milliseconds(limit_ms));
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
  w->set_index(kLabIndex);
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
  request.mutable_get()->set_index(kLabIndex);
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
  request.mutable_search()->add_indices(kLabIndex);
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

}  // namespace seqsim::sim::scenario_internal
