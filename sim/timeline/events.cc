#include "sim/timeline/events.h"

#include <fstream>
#include <sstream>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace seqsim::timeline {
namespace {

using OrderedJson = nlohmann::ordered_json;

struct KindVisitor {
  std::string operator()(const SendEvent&) const { return "send"; }
  std::string operator()(const DeliverEvent&) const { return "deliver"; }
  std::string operator()(const DropEvent&) const { return "drop"; }
  std::string operator()(const MarkEvent&) const { return "mark"; }
  std::string operator()(const CheckpointEvent&) const { return "checkpoint"; }
  std::string operator()(const NemesisEvent&) const { return "nemesis"; }
  std::string operator()(const ClientEvent&) const { return "client"; }
};

// Adds the body's keys, in the documented order, after "t" and "kind".
struct BodyWriter {
  OrderedJson& j;
  void operator()(const SendEvent& e) const {
    j["id"] = e.id;
    j["from"] = e.from;
    j["to"] = e.to;
    j["op"] = e.op;
    j["label"] = e.label;
    if (e.seq_no) j["seq_no"] = *e.seq_no;
    if (e.term) j["term"] = *e.term;
  }
  void operator()(const DeliverEvent& e) const {
    j["id"] = e.id;
    j["to"] = e.to;
    j["outcome"] = e.outcome;
    j["detail"] = e.detail;
  }
  void operator()(const DropEvent& e) const {
    j["id"] = e.id;
    j["reason"] = e.reason;
  }
  void operator()(const MarkEvent& e) const {
    j["actor"] = e.actor;
    j["mark"] = e.mark;
    j["text"] = e.text;
  }
  void operator()(const CheckpointEvent& e) const {
    j["actor"] = e.actor;
    j["shard"] = e.shard;
    j["max_seq_no"] = e.max_seq_no;
    j["local_checkpoint"] = e.local_checkpoint;
    j["global_checkpoint"] = e.global_checkpoint;
    j["term"] = e.term;
    j["role"] = e.role;
  }
  void operator()(const NemesisEvent& e) const {
    j["action"] = e.action;
    j["fault"] = e.fault;
    j["nodes"] = e.nodes;
  }
  void operator()(const ClientEvent& e) const {
    j["process"] = e.process;
    j["type"] = e.type;
    j["f"] = e.f;
    j["key"] = e.key;
    j["value"] = e.value;
  }
};

// A string field; numbers and other JSON values are taken as their JSON text.
std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<int64_t> OptInt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_number_unsigned())
    return static_cast<int64_t>(it->get<uint64_t>());
  if (it->is_number_float()) return static_cast<int64_t>(it->get<double>());
  return std::nullopt;
}

int64_t Int(const nlohmann::json& j, const char* key, int64_t fallback) {
  return OptInt(j, key).value_or(fallback);
}

}  // namespace

std::string KindName(const Event& event) {
  return std::visit(KindVisitor{}, event.body);
}

std::string ToJsonLine(const Event& event) {
  OrderedJson j;
  j["t"] = event.t;
  j["kind"] = KindName(event);
  std::visit(BodyWriter{j}, event.body);
  return j.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
}

absl::StatusOr<Event> ParseJsonLine(const std::string& line) {
  nlohmann::json j =
      nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("not a JSON object");
  }
  std::optional<int64_t> t = OptInt(j, "t");
  if (!t) return absl::InvalidArgumentError("missing integer \"t\"");
  auto kind_it = j.find("kind");
  if (kind_it == j.end() || !kind_it->is_string()) {
    return absl::InvalidArgumentError("missing string \"kind\"");
  }
  const std::string kind = kind_it->get<std::string>();
  Event event;
  event.t = *t;
  if (kind == "send") {
    event.body = SendEvent{
        Int(j, "id", 0), Str(j, "from"),      Str(j, "to"),     Str(j, "op"),
        Str(j, "label"), OptInt(j, "seq_no"), OptInt(j, "term")};
  } else if (kind == "deliver") {
    event.body = DeliverEvent{Int(j, "id", 0), Str(j, "to"), Str(j, "outcome"),
                              Str(j, "detail")};
  } else if (kind == "drop") {
    event.body = DropEvent{Int(j, "id", 0), Str(j, "reason")};
  } else if (kind == "mark") {
    event.body = MarkEvent{Str(j, "actor"), Str(j, "mark"), Str(j, "text")};
  } else if (kind == "checkpoint") {
    event.body = CheckpointEvent{Str(j, "actor"),
                                 Str(j, "shard"),
                                 Int(j, "max_seq_no", -1),
                                 Int(j, "local_checkpoint", -1),
                                 Int(j, "global_checkpoint", -1),
                                 Int(j, "term", 0),
                                 Str(j, "role")};
  } else if (kind == "nemesis") {
    NemesisEvent nemesis{Str(j, "action"), Str(j, "fault"), {}};
    auto nodes = j.find("nodes");
    if (nodes != j.end() && nodes->is_array()) {
      for (const auto& node : *nodes) {
        nemesis.nodes.push_back(node.is_string() ? node.get<std::string>()
                                                 : node.dump());
      }
    }
    event.body = std::move(nemesis);
  } else if (kind == "client") {
    event.body = ClientEvent{Str(j, "process"), Str(j, "type"), Str(j, "f"),
                             Str(j, "key"), Str(j, "value")};
  } else {
    return absl::NotFoundError(absl::StrCat("unknown kind \"", kind, "\""));
  }
  return event;
}

absl::StatusOr<std::vector<Event>> ReadEvents(std::istream& in) {
  std::vector<Event> events;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    absl::StatusOr<Event> event = ParseJsonLine(line);
    if (absl::IsNotFound(event.status())) continue;
    if (!event.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "events line ", line_number, ": ", event.status().message()));
    }
    events.push_back(*std::move(event));
  }
  return events;
}

absl::StatusOr<std::vector<Event>> ReadEventsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  return ReadEvents(in);
}

void EventLog::Append(Event event) {
  if (out_ != nullptr) {
    *out_ << ToJsonLine(event) << '\n';
    out_->flush();
  }
  events_.push_back(std::move(event));
}

absl::Status WriteEventsFile(const std::string& path,
                             const std::vector<Event>& events) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  for (const Event& event : events) out << ToJsonLine(event) << '\n';
  out.flush();
  if (!out) return absl::UnavailableError(absl::StrCat("write failed: ", path));
  return absl::OkStatus();
}

}  // namespace seqsim::timeline
