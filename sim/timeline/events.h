// The lab's structured event log: what happened during one run, in the order
// it happened, so that the run can be drawn (timeline.html, timeline.svg) and
// exported (ShiViz). The lab writes it with EventLog; seqsim-timeline reads it.
//
// File: DIR/events.jsonl. One JSON object per line, UTF-8, '\n' after every
// line. Keys are written in the fixed order listed below ("t" and "kind"
// first), integers as JSON numbers, everything else as JSON strings, so a seed
// replays to the same bytes. Lines come in the order the simulator processed
// the events; "t" never decreases.
//
// Every line:
//   t        virtual time, microseconds since the start of the run (>= 0)
//   kind     send | deliver | drop | mark | checkpoint | nemesis | client
//
// kind "send": an actor hands a message to the simulated network.
//   id       message id (integer), unique within the run; a later deliver or
//            drop names it. A reply is a message of its own, with its own id.
//   from     sender: "node-1", "coordinator", "client-0", ...
//   to       receiver
//   op       one word: replicate | resync | publish | heartbeat | write |
//            ack | recover | shard-failed | ... (drawn on the arrow)
//   label    one line for humans, e.g. "index doc 7 seq 6 term 1"
//   seq_no   optional integer: the operation's seq_no, if the message has one
//   term     optional integer: the primary term the message carries
//
// kind "deliver": the network hands message id to its receiver (a duplicate
// is delivered twice).
//   id, to
//   outcome  what the receiver did: "applied" | "stale" | "rejected" | "ok"
//            | "" (nothing to say)
//   detail   optional words, e.g. "holds seq_no 8 for doc 7"
//
// kind "drop": the network loses message id.
//   id
//   reason   e.g. "partition node-1|node-3", "random drop", "receiver down"
//
// kind "mark": a decision or state change of one actor, and why.
//   actor    the actor it happened on
//   mark     applied | stale | rejected | dropped | promoted | fenced |
//            crash | restart | pause | resume (others: a neutral mark)
//   text     e.g. "n3 ignores index(doc 7, seq_no 6, term 1): it holds
//            seq_no 8"
//
// kind "checkpoint": one shard copy's replication state, after it changed.
//   actor, shard ("idx/0": index name / shard number)
//   max_seq_no, local_checkpoint, global_checkpoint   integers, -1 = none
//   term     integer
//   role     primary | replica | recovering | "" (unassigned)
//
// kind "nemesis": a fault starts or ends.
//   action   start | end
//   fault    partition | kill | pause | drop | clock | ... (an end names the
//            fault it ends)
//   nodes    array of actor names it affects ([] = the whole cluster)
//
// kind "client": a client operation event, as in the history (Jepsen style).
//   process  the client process, as a string ("0"); one operation in flight
//            per process
//   type     invoke | ok | fail | info (info: outcome unknown, e.g. timeout)
//   f        read | write | cas | delete | ...
//   key      the document id
//   value    the value written or read, as text ("" if none), e.g. "[1 2]"
//
// Readers ignore keys they do not know and skip lines whose kind they do not
// know, so the format grows by adding keys and kinds.
//
// Writing, from the lab (every struct member has a default, so designated
// initializers may leave fields out):
//   EventLog log(&events_file);
//   log.Send(now_us, {.id = 7, .from = "node-1", .to = "node-3",
//                     .op = "replicate", .label = "index doc 7 seq 6 term 1",
//                     .seq_no = 6, .term = 1});
//   log.Deliver(later_us, {.id = 7, .to = "node-3", .outcome = "stale",
//                          .detail = "holds seq_no 8 for doc 7"});
// and at the end: RenderToDirectory(log.events(), options, dir) (render.h).
//
// Thread-safety: EventLog is not thread-safe; the lab writes from its single
// event loop.

#ifndef SEQSIM_SIM_TIMELINE_EVENTS_H_
#define SEQSIM_SIM_TIMELINE_EVENTS_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seqsim::timeline {

// Virtual time, microseconds since the start of the run.
using Micros = int64_t;
using MessageId = int64_t;

struct SendEvent {
  MessageId id = 0;
  std::string from = {};
  std::string to = {};
  std::string op = {};
  std::string label = {};
  std::optional<int64_t> seq_no = {};
  std::optional<int64_t> term = {};
};

struct DeliverEvent {
  MessageId id = 0;
  std::string to = {};
  std::string outcome = {};  // "applied" | "stale" | "rejected" | "ok" | ""
  std::string detail = {};
};

struct DropEvent {
  MessageId id = 0;
  std::string reason = {};
};

struct MarkEvent {
  std::string actor = {};
  std::string mark = {};  // applied | stale | rejected | dropped | promoted |
                          // fenced | crash | ...
  std::string text = {};
};

struct CheckpointEvent {
  std::string actor = {};
  std::string shard = {};  // "idx/0"
  int64_t max_seq_no = -1;
  int64_t local_checkpoint = -1;
  int64_t global_checkpoint = -1;
  int64_t term = 0;
  std::string role = {};  // primary | replica | recovering | ""
};

struct NemesisEvent {
  std::string action = {};  // start | end
  std::string fault = {};
  std::vector<std::string> nodes = {};
};

struct ClientEvent {
  std::string process = {};
  std::string type = {};  // invoke | ok | fail | info
  std::string f = {};
  std::string key = {};
  std::string value = {};
};

using EventBody = std::variant<SendEvent, DeliverEvent, DropEvent, MarkEvent,
                               CheckpointEvent, NemesisEvent, ClientEvent>;

struct Event {
  Micros t = 0;
  EventBody body = {};
};

// The "kind" word of an event: "send", "deliver", ...
std::string KindName(const Event& event);

// One event as its JSON line, without the trailing newline. Deterministic:
// fixed key order.
std::string ToJsonLine(const Event& event);

// Parses one line. kInvalidArgument for malformed JSON or a missing/ill-typed
// "t" or "kind"; kNotFound for an unknown kind (callers skip those). Missing
// optional keys take defaults.
absl::StatusOr<Event> ParseJsonLine(const std::string& line);

// Reads a whole events.jsonl stream: skips blank lines and unknown kinds; the
// first malformed line fails the read with its line number.
absl::StatusOr<std::vector<Event>> ReadEvents(std::istream& in);
absl::StatusOr<std::vector<Event>> ReadEventsFile(const std::string& path);

// The writer the lab calls, one method per kind. Keeps every event in memory
// (events()) and, when given a stream, also writes each as a line as it comes
// (flushed per line, so a run that dies still leaves its log). The stream, if
// any, must outlive the EventLog.
class EventLog {
 public:
  EventLog() = default;
  explicit EventLog(std::ostream* out) : out_(out) {}

  void Send(Micros t, SendEvent e) { Append({t, std::move(e)}); }
  void Deliver(Micros t, DeliverEvent e) { Append({t, std::move(e)}); }
  void Drop(Micros t, DropEvent e) { Append({t, std::move(e)}); }
  void Mark(Micros t, MarkEvent e) { Append({t, std::move(e)}); }
  void Checkpoint(Micros t, CheckpointEvent e) { Append({t, std::move(e)}); }
  void Nemesis(Micros t, NemesisEvent e) { Append({t, std::move(e)}); }
  void Client(Micros t, ClientEvent e) { Append({t, std::move(e)}); }
  void Append(Event event);

  const std::vector<Event>& events() const { return events_; }

 private:
  std::ostream* out_ = nullptr;  // not owned; may be null
  std::vector<Event> events_;
};

// Writes events as events.jsonl to path (truncates). kUnavailable if the file
// cannot be written.
absl::Status WriteEventsFile(const std::string& path,
                             const std::vector<Event>& events);

}  // namespace seqsim::timeline

#endif  // SEQSIM_SIM_TIMELINE_EVENTS_H_
