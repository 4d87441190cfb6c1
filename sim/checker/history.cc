#include "sim/checker/history.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace seqsim::sim {
namespace {

using Json = nlohmann::ordered_json;

Json ValueJson(int64_t v) { return v == kNil ? Json(nullptr) : Json(v); }

}  // namespace

const char* EventTypeName(EventType type) {
  switch (type) {
    case EventType::kInvoke:
      return "invoke";
    case EventType::kOk:
      return "ok";
    case EventType::kFail:
      return "fail";
    case EventType::kInfo:
      return "info";
  }
  return "?";
}

const char* FnName(Fn f) {
  switch (f) {
    case Fn::kRead:
      return "read";
    case Fn::kWrite:
      return "write";
    case Fn::kCas:
      return "cas";
    case Fn::kCreate:
      return "create";
    case Fn::kUpdate:
      return "update";
    case Fn::kDelete:
      return "delete";
  }
  return "?";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kNone:
      return "";
    case Outcome::kConflict:
      return "conflict";
    case Outcome::kNotFound:
      return "not_found";
    case Outcome::kNoop:
      return "noop";
  }
  return "?";
}

std::string ToJsonLine(const HistoryEvent& e) {
  std::string value;
  if (e.f == Fn::kCas) {
    value = absl::StrCat(
        "[", e.expected == kNil ? "null" : absl::StrCat(e.expected), ",",
        e.value == kNil ? "null" : absl::StrCat(e.value), "]");
  } else {
    value = e.value == kNil ? "null" : absl::StrCat(e.value);
  }
  return absl::StrCat(
      "{\"process\":", e.process, ",\"type\":\"", EventTypeName(e.type),
      "\",\"f\":\"", FnName(e.f), "\",\"key\":", Json(e.key).dump(),
      ",\"value\":", value, ",\"time\":", e.time,
      e.outcome == Outcome::kNone
          ? std::string()
          : absl::StrCat(",\"result\":\"", OutcomeName(e.outcome), "\""),
      "}");
}

absl::StatusOr<HistoryEvent> ParseJsonLine(const std::string& line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("not a JSON object");
  HistoryEvent e;
  if (!j.contains("process") || !j["process"].is_number_integer()) {
    return absl::InvalidArgumentError("\"process\" must be an integer");
  }
  e.process = j["process"].get<int64_t>();
  const Json& type = j.contains("type") ? j["type"] : Json();
  if (type == "invoke") {
    e.type = EventType::kInvoke;
  } else if (type == "ok") {
    e.type = EventType::kOk;
  } else if (type == "fail") {
    e.type = EventType::kFail;
  } else if (type == "info") {
    e.type = EventType::kInfo;
  } else {
    return absl::InvalidArgumentError(
        "\"type\" must be invoke, ok, fail or info");
  }
  const Json& f = j.contains("f") ? j["f"] : Json();
  if (f == "read") {
    e.f = Fn::kRead;
  } else if (f == "write") {
    e.f = Fn::kWrite;
  } else if (f == "cas") {
    e.f = Fn::kCas;
  } else if (f == "create") {
    e.f = Fn::kCreate;
  } else if (f == "update") {
    e.f = Fn::kUpdate;
  } else if (f == "delete") {
    e.f = Fn::kDelete;
  } else {
    return absl::InvalidArgumentError(
        "\"f\" must be read, write, cas, create, update or delete");
  }
  if (j.contains("key")) {
    if (j["key"].is_string()) {
      e.key = j["key"].get<std::string>();
    } else {
      e.key = j["key"].dump();
    }
  }
  auto scalar = [](const Json& v, int64_t* out) -> absl::Status {
    if (v.is_null()) {
      *out = kNil;
    } else if (v.is_number_integer()) {
      *out = v.get<int64_t>();
    } else {
      return absl::InvalidArgumentError("values must be integers or null");
    }
    return absl::OkStatus();
  };
  const Json value = j.contains("value") ? j["value"] : Json();
  if (e.f == Fn::kCas && value.is_array()) {
    if (value.size() != 2)
      return absl::InvalidArgumentError("cas value must be [expected, new]");
    if (auto s = scalar(value[0], &e.expected); !s.ok()) return s;
    if (auto s = scalar(value[1], &e.value); !s.ok()) return s;
  } else if (auto s = scalar(value, &e.value); !s.ok()) {
    return s;
  }
  if (j.contains("result") && !j["result"].is_null()) {
    const Json& r = j["result"];
    if (r == "conflict") {
      e.outcome = Outcome::kConflict;
    } else if (r == "not_found") {
      e.outcome = Outcome::kNotFound;
    } else if (r == "noop") {
      e.outcome = Outcome::kNoop;
    } else {
      return absl::InvalidArgumentError(
          "\"result\" must be conflict, not_found or noop");
    }
  }
  if (j.contains("time")) {
    if (!j["time"].is_number())
      return absl::InvalidArgumentError("\"time\" must be a number");
    e.time = j["time"].get<int64_t>();
  }
  return e;
}

absl::StatusOr<std::vector<HistoryEvent>> ParseHistory(
    const std::string& text) {
  std::vector<HistoryEvent> events;
  size_t start = 0;
  int line_no = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto e = ParseJsonLine(line);
    if (!e.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_no, ": ", e.status().message()));
    }
    events.push_back(*std::move(e));
  }
  return events;
}

std::string FormatHistory(const std::vector<HistoryEvent>& events) {
  std::string out;
  for (const auto& e : events) absl::StrAppend(&out, ToJsonLine(e), "\n");
  return out;
}

std::string ToPorcupineJson(const std::vector<HistoryEvent>& events) {
  int64_t end = 0;
  for (const auto& e : events) end = std::max(end, e.time);
  ++end;
  std::map<int64_t, size_t> open;  // process -> index of its invoke
  std::map<std::string, Json> by_key;
  std::vector<std::pair<size_t, Json>> pending;
  auto op_json = [&](const HistoryEvent& inv, int64_t ret,
                     const HistoryEvent* done) {
    Json op;
    op["ClientId"] = inv.process;
    op["Input"] = {{"Op", FnName(inv.f)},
                   {"Value", ValueJson(inv.value)},
                   {"Expected", ValueJson(inv.expected)}};
    op["Call"] = inv.time;
    Json out = {{"Ok", done != nullptr}};
    out["Value"] = done != nullptr && inv.f == Fn::kRead
                       ? ValueJson(done->value)
                       : Json(nullptr);
    if (done != nullptr && done->outcome != Outcome::kNone)
      out["Result"] = OutcomeName(done->outcome);
    op["Output"] = out;
    op["Return"] = ret;
    return op;
  };
  for (size_t i = 0; i < events.size(); ++i) {
    const HistoryEvent& e = events[i];
    if (e.type == EventType::kInvoke) {
      open[e.process] = i;
      continue;
    }
    auto it = open.find(e.process);
    if (it == open.end()) continue;
    const HistoryEvent& inv = events[it->second];
    open.erase(it);
    if (e.type == EventType::kFail && e.outcome == Outcome::kNone) continue;
    if (e.type == EventType::kOk || e.type == EventType::kFail) {
      by_key[inv.key].push_back(op_json(inv, e.time, &e));
    } else if (inv.f != Fn::kRead) {
      by_key[inv.key].push_back(op_json(inv, end, nullptr));
    }
  }
  for (const auto& [process, index] : open) {
    const HistoryEvent& inv = events[index];
    if (inv.f != Fn::kRead)
      by_key[inv.key].push_back(op_json(inv, end, nullptr));
  }
  Json all = Json::object();
  for (auto& [key, ops] : by_key) all[key] = std::move(ops);
  return all.dump(1);
}

}  // namespace seqsim::sim
