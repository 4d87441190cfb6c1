// The timeline's layout (layout.h): text helpers, lanes, and BuildLayout,
// which turns a run's events into rows, arrows, dots, bands, client bars and
// checkpoint charts.
#include "sim/timeline/layout.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace seqsim::timeline::render_internal {

// Number of UTF-8 code points (for width estimates).
int CodePoints(const std::string& s) {
  int n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// At most max_chars code points, with an ellipsis when cut; never splits a
// UTF-8 sequence.
std::string Truncate(const std::string& s, int max_chars) {
  if (CodePoints(s) <= max_chars) return s;
  std::string out;
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = s[i];
    if ((c & 0xC0) != 0x80 && ++n > max_chars - 1) break;
    out += s[i];
  }
  return out + "\xE2\x80\xA6";  // …
}

std::string OneLine(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

std::string FormatTime(Micros t) {
  return absl::StrFormat("%.3f ms", t / 1000.0);
}

// Splits text into lines of at most width code points, at spaces; blank lines
// are kept.
std::vector<std::string> Wrap(const std::string& text, int width) {
  std::vector<std::string> lines;
  std::istringstream paragraphs(text);
  std::string paragraph;
  while (std::getline(paragraphs, paragraph)) {
    std::istringstream words(paragraph);
    std::string word, line;
    bool any = false;
    while (words >> word) {
      any = true;
      if (!line.empty() && CodePoints(line) + 1 + CodePoints(word) > width) {
        lines.push_back(line);
        line.clear();
      }
      line += line.empty() ? word : " " + word;
    }
    if (!line.empty()) lines.push_back(line);
    if (!any) lines.push_back("");
  }
  return lines;
}

bool IsClient(const std::string& actor) {
  return actor.rfind("client", 0) == 0;
}

std::string ClientLane(const std::string& process) {
  if (IsClient(process)) return process;
  return "client-" + process;
}

namespace {

// Clients first, then the coordinator, then everything else; "node-2" before
// "node-10".
auto ActorSortKey(const std::string& name) {
  int rank = name.rfind("client", 0) == 0 ? 0 : name == "coordinator" ? 1 : 2;
  size_t digits = name.size();
  while (digits > 0 &&
         std::isdigit(static_cast<unsigned char>(name[digits - 1])))
    --digits;
  int64_t number = -1;
  if (digits < name.size() && name.size() - digits < 18) {
    number = std::stoll(name.substr(digits));
  }
  return std::make_tuple(rank, name.substr(0, digits), number, name);
}

// Normalizes a deliver outcome to the four drawn kinds.
std::string OutcomeClass(const std::string& outcome) {
  if (outcome == "applied" || outcome == "stale" || outcome == "rejected")
    return outcome;
  return "ok";
}

std::string MarkClass(const std::string& mark) {
  static const std::set<std::string> kKnown = {
      "applied", "stale", "rejected", "dropped", "promoted",
      "fenced",  "crash", "restart",  "pause",   "resume"};
  return kKnown.count(mark) ? mark : "other";
}

std::string ShortLabel(const SendEvent& send) {
  std::string label = send.op;
  if (send.seq_no) absl::StrAppend(&label, " seq ", *send.seq_no);
  if (send.term) absl::StrAppend(&label, " t", *send.term);
  return label;
}

std::string DescribeSend(const SendEvent& send) {
  return absl::StrCat(send.from, " \xE2\x86\x92 ", send.to, " ", send.op,
                      send.label.empty() ? "" : ": ", send.label);
}

}  // namespace

Layout BuildLayout(const std::vector<Event>& events,
                   const RenderOptions& options) {
  Layout layout;
  std::set<std::string> actors;
  auto add_actor = [&](const std::string& a) {
    if (!a.empty()) actors.insert(IsClient(a) ? kClientsLane : a);
  };
  std::map<MessageId, SentMessage> sent;
  struct OpenOp {
    int row = 0, slot = 0;
    ClientEvent invoke;
  };
  std::map<std::string, OpenOp> open_ops;  // by process
  std::vector<bool> slot_busy;
  auto take_slot = [&]() {
    size_t slot = 0;
    while (slot < slot_busy.size() && slot_busy[slot]) ++slot;
    if (slot == slot_busy.size()) slot_busy.push_back(false);
    slot_busy[slot] = true;
    layout.client_slots =
        std::max(layout.client_slots, static_cast<int>(slot_busy.size()));
    return static_cast<int>(slot);
  };
  auto op_text = [](const ClientEvent& cl) {
    return absl::StrCat(cl.f, " ", cl.key, cl.value.empty() ? "" : " ",
                        cl.value);
  };
  std::vector<Band> open_bands;

  auto new_row = [&](const Event& e, std::string text, std::string css) {
    layout.rows.push_back({e.t, OneLine(std::move(text)), std::move(css)});
    return static_cast<int>(layout.rows.size()) - 1;
  };

  const std::set<std::string> hidden_ops(options.hidden_ops.begin(),
                                         options.hidden_ops.end());
  std::set<MessageId> hidden_ids;
  const size_t max_rows = std::max(1, options.max_rows);
  for (const Event& e : events) {
    if (const auto* s = std::get_if<SendEvent>(&e.body);
        s != nullptr && hidden_ops.count(s->op)) {
      hidden_ids.insert(s->id);
      continue;
    }
    if (const auto* d = std::get_if<DeliverEvent>(&e.body);
        d != nullptr && hidden_ids.count(d->id)) {
      continue;
    }
    if (const auto* d = std::get_if<DropEvent>(&e.body);
        d != nullptr && hidden_ids.count(d->id)) {
      continue;
    }
    if (layout.rows.size() >= max_rows) {
      ++layout.omitted;
      continue;
    }
    if (const auto* s = std::get_if<SendEvent>(&e.body)) {
      add_actor(s->from);
      add_actor(s->to);
      int row = new_row(e, DescribeSend(*s), "n-send");
      sent[s->id] = {row, *s, false};
    } else if (const auto* d = std::get_if<DeliverEvent>(&e.body)) {
      auto it = sent.find(d->id);
      std::string to = d->to;
      if (to.empty() && it != sent.end()) to = it->second.send.to;
      add_actor(to);
      std::string outcome = OutcomeClass(d->outcome);
      std::string what = it == sent.end()
                             ? absl::StrCat("message #", d->id)
                             : absl::StrCat(it->second.send.op, " #", d->id,
                                            " from ", it->second.send.from);
      std::string text = absl::StrCat(to, " receives ", what);
      if (!d->outcome.empty()) absl::StrAppend(&text, ": ", d->outcome);
      if (!d->detail.empty())
        absl::StrAppend(&text, " \xE2\x80\x94 ", d->detail);
      int row = new_row(e, text, "n-" + outcome);
      if (it != sent.end()) {
        it->second.resolved = true;
        const SendEvent& s = it->second.send;
        layout.arrows.push_back(
            {"delivered", outcome, s.from, to, it->second.row, row,
             ShortLabel(s),
             absl::StrCat("#", d->id, " ", DescribeSend(s), " | sent ",
                          FormatTime(layout.rows[it->second.row].t),
                          ", delivered ", FormatTime(e.t),
                          d->outcome.empty() ? "" : " | ", d->outcome,
                          d->detail.empty() ? "" : ": ", d->detail)});
      }
    } else if (const auto* drop = std::get_if<DropEvent>(&e.body)) {
      auto it = sent.find(drop->id);
      std::string text = absl::StrCat("network drops message #", drop->id);
      if (it != sent.end()) {
        absl::StrAppend(&text, " ", it->second.send.op, " ",
                        it->second.send.from, " \xE2\x86\x92 ",
                        it->second.send.to);
      }
      if (!drop->reason.empty()) absl::StrAppend(&text, ": ", drop->reason);
      int row = new_row(e, text, "n-dropped");
      if (it != sent.end()) {
        it->second.resolved = true;
        const SendEvent& s = it->second.send;
        layout.arrows.push_back(
            {"dropped", "dropped", s.from, s.to, it->second.row, row,
             ShortLabel(s),
             absl::StrCat("#", drop->id, " ", DescribeSend(s), " | DROPPED at ",
                          FormatTime(e.t), drop->reason.empty() ? "" : ": ",
                          drop->reason)});
      }
    } else if (const auto* m = std::get_if<MarkEvent>(&e.body)) {
      add_actor(m->actor);
      std::string text = m->text.empty() ? m->mark : m->text;
      if (text.rfind(m->actor + " ", 0) !=
          0) {  // say who, unless the text does
        text = absl::StrCat(m->actor, ": ", text);
      }
      int row = new_row(e, text, "n-mark m-" + MarkClass(m->mark));
      layout.dots.push_back(
          {m->actor, MarkClass(m->mark),
           absl::StrCat(m->mark, " @ ", FormatTime(e.t), ": ", m->text), row});
    } else if (const auto* c = std::get_if<CheckpointEvent>(&e.body)) {
      add_actor(c->actor);
      int row = layout.rows.empty()
                    ? new_row(e,
                              absl::StrCat(
                                  c->actor, " ", c->shard, ": max_seq_no ",
                                  c->max_seq_no, ", local checkpoint ",
                                  c->local_checkpoint, ", global checkpoint ",
                                  c->global_checkpoint, ", term ", c->term,
                                  c->role.empty() ? "" : ", ", c->role),
                              "")
                    : static_cast<int>(layout.rows.size()) - 1;
      layout.checkpoints[{c->shard, c->actor}].push_back({row, e.t, *c});
    } else if (const auto* n = std::get_if<NemesisEvent>(&e.body)) {
      for (const std::string& node : n->nodes) add_actor(node);
      std::string text = absl::StrCat("nemesis ", n->action, " ", n->fault);
      if (!n->nodes.empty())
        absl::StrAppend(&text, " [", absl::StrJoin(n->nodes, ", "), "]");
      int row = new_row(e, text, "n-nemesis");
      if (n->action == "start") {
        open_bands.push_back({n->nodes, n->fault, row, -1});
      } else {
        // Ends the latest open fault of the same kind on the same nodes (else
        // of the same kind).
        auto match = open_bands.rend();
        for (auto it = open_bands.rbegin(); it != open_bands.rend(); ++it) {
          if (it->fault == n->fault && it->nodes == n->nodes) {
            match = it;
            break;
          }
        }
        if (match == open_bands.rend()) {
          match =
              std::find_if(open_bands.rbegin(), open_bands.rend(),
                           [&](const Band& b) { return b.fault == n->fault; });
        }
        if (match != open_bands.rend()) {
          match->to_row = row;
          layout.bands.push_back(*match);
          open_bands.erase(std::next(match).base());
        }
      }
    } else if (const auto* cl = std::get_if<ClientEvent>(&e.body)) {
      std::string process = ClientLane(cl->process);
      add_actor(process);
      std::string op = op_text(*cl);
      int row = new_row(e, absl::StrCat(process, " ", cl->type, " ", op),
                        "n-client c-" + cl->type);
      auto it = open_ops.find(process);
      if (cl->type == "invoke") {
        if (it !=
            open_ops.end()) {  // invoked again: the first outcome is unknown
          layout.bars.push_back(
              {"info", op_text(it->second.invoke),
               absl::StrCat(process, " ", op_text(it->second.invoke),
                            " \xE2\x86\x92 superseded"),
               it->second.slot, it->second.row, row});
          slot_busy[it->second.slot] = false;
        }
        open_ops[process] = {row, take_slot(), *cl};
      } else {
        int from = row, slot;
        if (it != open_ops.end()) {
          from = it->second.row;
          slot = it->second.slot;
          open_ops.erase(it);
        } else {
          slot = take_slot();
        }
        slot_busy[slot] = false;
        std::string outcome =
            cl->type == "ok" || cl->type == "fail" ? cl->type : "info";
        layout.bars.push_back(
            {outcome, op,
             absl::StrCat(process, " ", op, " \xE2\x86\x92 ", cl->type, " (",
                          FormatTime(layout.rows[from].t), " .. ",
                          FormatTime(e.t), ")"),
             slot, from, row});
      }
    }
  }
  // What never finished: open faults, unanswered operations, messages still in
  // flight.
  for (const Band& band : open_bands) layout.bands.push_back(band);
  for (const auto& [process, open] : open_ops) {
    std::string op = op_text(open.invoke);
    layout.bars.push_back(
        {"open", op,
         absl::StrCat(process, " ", op, " \xE2\x86\x92 no answer by the end"),
         open.slot, open.row, -1});
  }
  if (layout.omitted > 0) {
    layout.rows.push_back(
        {layout.rows.back().t,
         absl::StrCat("\xE2\x80\xA6 ", layout.omitted,
                      " more events not drawn (see events.jsonl)"),
         "n-omitted"});
  }
  for (const auto& [id, message] : sent) {
    if (message.resolved) continue;
    layout.arrows.push_back(
        {"inflight", "inflight", message.send.from, message.send.to,
         message.row, -1, ShortLabel(message.send),
         absl::StrCat("#", id, " ", DescribeSend(message.send),
                      layout.omitted > 0 ? " | not delivered in the drawn part"
                                         : " | still in flight at the end")});
  }

  layout.actors.assign(actors.begin(), actors.end());
  std::sort(layout.actors.begin(), layout.actors.end(),
            [](const std::string& a, const std::string& b) {
              return ActorSortKey(a) < ActorSortKey(b);
            });
  for (size_t i = 0; i < layout.actors.size(); ++i) {
    layout.lane_of[layout.actors[i]] = static_cast<int>(i);
  }
  return layout;
}

}  // namespace seqsim::timeline::render_internal
