#include "experiment/workload.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "node/logic/routing.h"
#include "sim/world/rng.h"

namespace seqsim::experiment {
namespace {

using Json = nlohmann::json;
using sim::EventType;
using sim::Fn;
using sim::HistoryEvent;
using sim::kNil;
using sim::Outcome;

// The "v" of a document's _source; kNil if absent.
int64_t SourceValue(const Json& body) {
  if (!body.is_object() || !body.contains("_source")) return kNil;
  const Json& source = body["_source"];
  if (!source.is_object() || !source.contains("v") ||
      !source["v"].is_number_integer())
    return kNil;
  return source["v"].get<int64_t>();
}

int64_t IntField(const Json& body, const char* name, int64_t fallback = -1) {
  if (!body.is_object() || !body.contains(name) ||
      !body[name].is_number_integer())
    return fallback;
  return body[name].get<int64_t>();
}

Json ParseBody(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

std::string ValueDoc(int64_t v) { return absl::StrCat("{\"v\":", v, "}"); }

}  // namespace

const std::vector<std::string>& WorkloadNames() {
  static const std::vector<std::string> kNames = {"register", "inventory",
                                                  "external", "bulk"};
  return kNames;
}

std::string KeyId(const std::string& kind, int k) {
  if (kind == "inventory") return absl::StrCat("item-", k);
  if (kind == "external") return absl::StrCat("ext-", k);
  return absl::StrCat("key-", k);
}

// ---------------------------------------------------------------------------
// RestClient

struct RestClient::Conn {
  std::unique_ptr<httplib::Client> client;
};

RestClient::RestClient(std::vector<std::string> rest_addresses,
                       absl::Duration timeout)
    : addresses_(std::move(rest_addresses)), timeout_(timeout) {
  for (const std::string& address : addresses_) {
    std::vector<std::string> parts = absl::StrSplit(address, ':');
    auto conn = std::make_unique<Conn>();
    const int port = parts.size() == 2 ? std::atoi(parts[1].c_str()) : 0;
    conn->client = std::make_unique<httplib::Client>(
        parts.empty() ? "127.0.0.1" : parts[0], port);
    conn->client->set_keep_alive(true);
    const int64_t us = absl::ToInt64Microseconds(timeout_);
    conn->client->set_connection_timeout(us / 1000000, us % 1000000);
    conn->client->set_read_timeout(us / 1000000, us % 1000000);
    conn->client->set_write_timeout(us / 1000000, us % 1000000);
    conns_.push_back(std::move(conn));
  }
}

RestClient::~RestClient() = default;

RestAnswer RestClient::Do(size_t node, const std::string& method,
                          const std::string& path, const std::string& body,
                          const std::string& content_type) {
  RestAnswer answer;
  httplib::Client& client = *conns_.at(node)->client;
  httplib::Result result(nullptr, httplib::Error::Unknown);
  if (method == "GET") {
    result = client.Get(path.c_str());
  } else if (method == "PUT") {
    result = client.Put(path.c_str(), body, content_type.c_str());
  } else if (method == "POST") {
    result = client.Post(path.c_str(), body, content_type.c_str());
  } else if (method == "DELETE") {
    result = client.Delete(path.c_str());
  }
  if (result) {
    answer.kind = RestAnswer::Kind::kAnswered;
    answer.status = result->status;
    answer.body = result->body;
    return answer;
  }
  const httplib::Error error = result.error();
  answer.error = httplib::to_string(error);
  // Not connected: the request never left this process.
  answer.kind = error == httplib::Error::Connection ||
                        error == httplib::Error::ConnectionTimeout
                    ? RestAnswer::Kind::kNotSent
                    : RestAnswer::Kind::kIndeterminate;
  // Whatever state the connection is in, start the next request afresh.
  client.stop();
  return answer;
}

// ---------------------------------------------------------------------------
// Workload

struct Workload::Client {
  int index = 0;
  int64_t process = 0;
  sim::Rng rng{1};
  std::unique_ptr<RestClient> rest;
  std::vector<std::pair<std::string, int64_t>> bulk_ids;  // acked (id, value)

  size_t PickNode() { return rng.Below(rest->nodes()); }
};

Workload::Workload(WorkloadOptions options,
                   std::vector<std::string> rest_addresses,
                   HistoryRecorder* recorder)
    : options_(std::move(options)),
      rest_addresses_(std::move(rest_addresses)),
      recorder_(recorder) {}

Workload::~Workload() { Stop(); }

namespace {

HistoryEvent Event(int64_t process, EventType type, Fn f,
                   const std::string& key, int64_t value,
                   int64_t expected = kNil, Outcome outcome = Outcome::kNone) {
  HistoryEvent e;
  e.process = process;
  e.type = type;
  e.f = f;
  e.key = key;
  e.value = value;
  e.expected = expected;
  e.outcome = outcome;
  return e;
}

// A write's outcome from its answer: ok (2xx), fail with a claim (409:
// conflict; a delete's 404 is an ok not_found), fail without effect (other
// 4xx, not sent), info (5xx, timeout, reset).
struct Classified {
  EventType type = EventType::kInfo;
  Outcome outcome = Outcome::kNone;
};

Classified ClassifyWrite(const RestAnswer& a, Fn f) {
  if (a.kind == RestAnswer::Kind::kNotSent) return {EventType::kFail};
  if (a.kind == RestAnswer::Kind::kIndeterminate) return {EventType::kInfo};
  if (a.status >= 200 && a.status < 300) return {EventType::kOk};
  if (a.status == 404 && f == Fn::kDelete)
    return {EventType::kOk, Outcome::kNotFound};
  if (a.status == 409 && (f == Fn::kCas || f == Fn::kCreate))
    return {EventType::kFail, Outcome::kConflict};
  if (a.status >= 400 && a.status < 500) return {EventType::kFail};
  return {EventType::kInfo};
}

}  // namespace

absl::Status Workload::Setup() {
  if (options_.kind != "inventory") return absl::OkStatus();
  RestClient rest(rest_addresses_, options_.request_timeout);
  for (int k = 0; k < options_.keys; ++k) {
    const std::string id = KeyId(options_.kind, k);
    // Retried: the index may still be settling its copies.
    RestAnswer a;
    for (int attempt = 0; attempt < 20; ++attempt) {
      recorder_->Record(Event(kSetupProcess, EventType::kInvoke, Fn::kWrite, id,
                              kInitialStock));
      a = rest.Do(0, "PUT", absl::StrCat("/", options_.index, "/_doc/", id),
                  ValueDoc(kInitialStock));
      Classified c = ClassifyWrite(a, Fn::kWrite);
      recorder_->Record(Event(kSetupProcess, c.type, Fn::kWrite, id,
                              kInitialStock, kNil, c.outcome));
      if (c.type == EventType::kOk) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    if (a.status < 200 || a.status >= 300) {
      return absl::UnavailableError(absl::StrCat(
          "setup: PUT ", id, " answered ", a.status, " ", a.error, a.body));
    }
  }
  return absl::OkStatus();
}

void Workload::Start() {
  for (int i = 0; i < options_.clients; ++i)
    threads_.emplace_back([this, i] { RunClient(i); });
}

void Workload::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void Workload::RunClient(int index) {
  Client c;
  c.index = index;
  c.process = index;
  c.rng = sim::Rng(sim::DeriveSeed(options_.seed, "client", index));
  c.rest =
      std::make_unique<RestClient>(rest_addresses_, options_.request_timeout);
  // Each client issues at most rate / clients operations a second, its slots
  // staggered by a random phase.
  const double per_client = std::max(0.01, options_.rate / options_.clients);
  const absl::Duration period = absl::Seconds(1.0 / per_client);
  absl::Time next = absl::Now() + period * c.rng.Real();
  while (!stop_) {
    const absl::Time now = absl::Now();
    if (next > now) {
      absl::SleepFor(std::min(next - now, absl::Milliseconds(100)));
      continue;
    }
    // A client that fell behind does not catch up in a burst.
    next = std::max(next + period, now);
    ++started_;
    if (options_.kind == "register") {
      Register(c);
    } else if (options_.kind == "inventory") {
      Inventory(c);
    } else if (options_.kind == "external") {
      External(c);
    } else {
      Bulk(c);
    }
  }
}

// One GET, recorded as a read. Returns true with value/seq/term when found;
// `answered` says whether the read completed definitely (ok).
namespace {
struct ReadResult {
  bool ok = false;
  bool found = false;
  int64_t value = kNil;
  int64_t seq_no = -1;
  int64_t term = 0;
};
}  // namespace

static ReadResult DoRead(HistoryRecorder* recorder, RestClient& rest,
                         size_t node, int64_t* process, int clients,
                         const std::string& index, const std::string& id) {
  recorder->Record(Event(*process, EventType::kInvoke, Fn::kRead, id, kNil));
  RestAnswer a = rest.Do(node, "GET", absl::StrCat("/", index, "/_doc/", id));
  ReadResult r;
  if (a.kind == RestAnswer::Kind::kAnswered &&
      (a.status == 200 || a.status == 404)) {
    Json body = ParseBody(a.body);
    r.ok = true;
    r.found = a.status == 200 && body.value("found", false);
    r.value = r.found ? SourceValue(body) : kNil;
    r.seq_no = IntField(body, "_seq_no");
    r.term = IntField(body, "_primary_term", 0);
    recorder->Record(Event(*process, EventType::kOk, Fn::kRead, id, r.value));
    return r;
  }
  if (a.kind == RestAnswer::Kind::kNotSent ||
      (a.kind == RestAnswer::Kind::kAnswered && a.status >= 400 &&
       a.status < 500)) {
    recorder->Record(Event(*process, EventType::kFail, Fn::kRead, id, kNil));
  } else {
    recorder->Record(Event(*process, EventType::kInfo, Fn::kRead, id, kNil));
    *process += clients;
  }
  return r;
}

void Workload::Register(Client& c) {
  const std::string id =
      KeyId(options_.kind, static_cast<int>(c.rng.Below(options_.keys)));
  const size_t node = c.PickNode();
  const double dice = c.rng.Real();
  const std::string doc_path = absl::StrCat("/", options_.index, "/_doc/", id);
  if (dice < 0.35) {
    DoRead(recorder_, *c.rest, node, &c.process, options_.clients,
           options_.index, id);
    return;
  }
  Fn f = Fn::kWrite;
  std::string method = "PUT", path = doc_path;
  int64_t value = next_value_++;
  int64_t expected = kNil;
  if (dice < 0.60) {
    f = Fn::kWrite;
  } else if (dice < 0.90) {
    ReadResult r = DoRead(recorder_, *c.rest, node, &c.process,
                          options_.clients, options_.index, id);
    if (!r.ok || stop_) return;
    if (r.found) {
      f = Fn::kCas;
      expected = r.value;
      path = absl::StrCat(doc_path, "?if_seq_no=", r.seq_no,
                          "&if_primary_term=", r.term);
    } else {
      f = Fn::kCreate;
      path = absl::StrCat("/", options_.index, "/_create/", id);
    }
  } else {
    f = Fn::kDelete;
    method = "DELETE";
    value = kNil;
  }
  const int64_t invoked = recorder_->Record(
      Event(c.process, EventType::kInvoke, f, id, value, expected));
  RestAnswer a =
      c.rest->Do(node, method, path, f == Fn::kDelete ? "" : ValueDoc(value));
  Classified cl = ClassifyWrite(a, f);
  const int64_t done = recorder_->Record(
      Event(c.process, cl.type, f, id, value, expected, cl.outcome));
  if (cl.type == EventType::kOk && cl.outcome == Outcome::kNone) {
    Json body = ParseBody(a.body);
    recorder_->RecordAck({id, ShardForId(id, options_.shards), f, value,
                          IntField(body, "_seq_no"),
                          IntField(body, "_primary_term", 0),
                          IntField(body, "_version", 0), invoked, done});
  }
  if (cl.type == EventType::kInfo) c.process += options_.clients;
}

void Workload::Inventory(Client& c) {
  const std::string id =
      KeyId(options_.kind, static_cast<int>(c.rng.Below(options_.keys)));
  const std::string doc_path = absl::StrCat("/", options_.index, "/_doc/", id);
  // Read, then CAS stock -> stock - 1; on a conflict read again (bounded).
  for (int attempt = 0; attempt < 10 && !stop_; ++attempt) {
    const size_t node = c.PickNode();
    ReadResult r = DoRead(recorder_, *c.rest, node, &c.process,
                          options_.clients, options_.index, id);
    if (!r.ok || !r.found || r.value == kNil || r.value <= 0) return;
    const int64_t next = r.value - 1;
    const int64_t invoked = recorder_->Record(
        Event(c.process, EventType::kInvoke, Fn::kCas, id, next, r.value));
    RestAnswer a = c.rest->Do(node, "PUT",
                              absl::StrCat(doc_path, "?if_seq_no=", r.seq_no,
                                           "&if_primary_term=", r.term),
                              ValueDoc(next));
    Classified cl = ClassifyWrite(a, Fn::kCas);
    const int64_t done = recorder_->Record(
        Event(c.process, cl.type, Fn::kCas, id, next, r.value, cl.outcome));
    if (cl.type == EventType::kOk) {
      Json body = ParseBody(a.body);
      recorder_->RecordAck({id, ShardForId(id, options_.shards), Fn::kCas, next,
                            IntField(body, "_seq_no"),
                            IntField(body, "_primary_term", 0),
                            IntField(body, "_version", 0), invoked, done});
      absl::MutexLock lock(&mu_);
      ++tally_.acked_decrements[id];
      return;
    }
    if (cl.type == EventType::kInfo) {
      c.process += options_.clients;
      absl::MutexLock lock(&mu_);
      ++tally_.unknown_decrements[id];
      return;
    }
    if (cl.outcome != Outcome::kConflict) return;
    absl::MutexLock lock(&mu_);
    ++tally_.cas_retries;
  }
}

void Workload::External(Client& c) {
  const std::string id =
      KeyId(options_.kind, static_cast<int>(c.rng.Below(options_.keys)));
  const size_t node = c.PickNode();
  if (c.rng.Real() < 0.3) {
    DoRead(recorder_, *c.rest, node, &c.process, options_.clients,
           options_.index, id);
    return;
  }
  // Versions increase across every client (one counter), so writers race:
  // the later version wins, an older one gets 409.
  const int64_t version = next_value_++;
  const int64_t invoked = recorder_->Record(
      Event(c.process, EventType::kInvoke, Fn::kWrite, id, version));
  RestAnswer a =
      c.rest->Do(node, "PUT",
                 absl::StrCat("/", options_.index, "/_doc/", id,
                              "?version=", version, "&version_type=external"),
                 ValueDoc(version));
  // A 409 (current version higher or equal) changed nothing: a fail without
  // a claim the register model could check.
  Classified cl = ClassifyWrite(a, Fn::kWrite);
  const int64_t done = recorder_->Record(
      Event(c.process, cl.type, Fn::kWrite, id, version, kNil, cl.outcome));
  if (cl.type == EventType::kOk) {
    Json body = ParseBody(a.body);
    recorder_->RecordAck({id, ShardForId(id, options_.shards), Fn::kWrite,
                          version, IntField(body, "_seq_no"),
                          IntField(body, "_primary_term", 0),
                          IntField(body, "_version", 0), invoked, done});
    absl::MutexLock lock(&mu_);
    int64_t& max = tally_.max_acked_version[id];
    max = std::max(max, version);
  } else if (cl.type == EventType::kInfo) {
    c.process += options_.clients;
    absl::MutexLock lock(&mu_);
    tally_.unknown_versions[id].push_back(version);
  }
}

void Workload::Bulk(Client& c) {
  const size_t node = c.PickNode();
  if (!c.bulk_ids.empty() && c.rng.Real() < 0.3) {
    const auto& [id, value] = c.bulk_ids[c.rng.Below(c.bulk_ids.size())];
    DoRead(recorder_, *c.rest, node, &c.process, options_.clients,
           options_.index, id);
    return;
  }
  // Each item is an operation of its own (a process of its own: one
  // operation outstanding per process), invoked and completed with the bulk.
  struct Item {
    std::string id;
    int64_t value;
    int64_t process;
  };
  std::vector<Item> items;
  std::string body;
  for (int i = 0; i < options_.bulk_size; ++i) {
    const int64_t value = next_value_++;
    Item item{absl::StrCat("bulk-", value), value, next_bulk_process_++};
    absl::StrAppend(&body, "{\"index\":{\"_index\":\"", options_.index,
                    "\",\"_id\":\"", item.id, "\"}}\n", ValueDoc(value), "\n");
    recorder_->Record(
        Event(item.process, EventType::kInvoke, Fn::kWrite, item.id, value));
    items.push_back(std::move(item));
  }
  const int64_t invoked = recorder_->NowNs();
  RestAnswer a =
      c.rest->Do(node, "POST", "/_bulk", body, "application/x-ndjson");
  Json reply = a.kind == RestAnswer::Kind::kAnswered && a.status == 200
                   ? ParseBody(a.body)
                   : Json();
  const Json* results = reply.is_object() && reply.contains("items") &&
                                reply["items"].is_array() &&
                                reply["items"].size() == items.size()
                            ? &reply["items"]
                            : nullptr;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& item = items[i];
    RestAnswer item_answer = a;
    Json result;
    if (results != nullptr) {
      result = (*results)[i].is_object() && (*results)[i].contains("index")
                   ? (*results)[i]["index"]
                   : Json();
      item_answer.kind = RestAnswer::Kind::kAnswered;
      item_answer.status = IntField(result, "status", 500);
    } else if (a.kind == RestAnswer::Kind::kAnswered &&
               (a.status < 400 || a.status >= 500)) {
      item_answer.kind = RestAnswer::Kind::kIndeterminate;
    }
    Classified cl = ClassifyWrite(item_answer, Fn::kWrite);
    const int64_t done = recorder_->Record(
        Event(item.process, cl.type, Fn::kWrite, item.id, item.value, kNil));
    if (cl.type == EventType::kOk) {
      recorder_->RecordAck({item.id, ShardForId(item.id, options_.shards),
                            Fn::kWrite, item.value, IntField(result, "_seq_no"),
                            IntField(result, "_primary_term", 0),
                            IntField(result, "_version", 0), invoked, done});
      c.bulk_ids.emplace_back(item.id, item.value);
      absl::MutexLock lock(&mu_);
      tally_.bulk_acked[item.id] = item.value;
    }
  }
}

void Workload::FinalReads() {
  RestClient rest(rest_addresses_, options_.request_timeout);
  int64_t process = kFinalReadProcess;
  const std::vector<std::string> ids =
      options_.kind == "bulk" ? std::vector<std::string>() : Ids();
  for (size_t node = 0; node < rest.nodes(); ++node) {
    for (const std::string& id : ids) {
      DoRead(recorder_, rest, node, &process, 1, options_.index, id);
      ++process;
    }
  }
}

std::vector<std::string> Workload::Ids() const {
  std::vector<std::string> ids;
  if (options_.kind == "bulk") {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, value] : tally_.bulk_acked) ids.push_back(id);
    return ids;
  }
  for (int k = 0; k < options_.keys; ++k)
    ids.push_back(KeyId(options_.kind, k));
  return ids;
}

WorkloadTally Workload::Tally() const {
  absl::MutexLock lock(&mu_);
  return tally_;
}

}  // namespace seqsim::experiment
