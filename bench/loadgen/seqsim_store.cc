// seqsim through its Elasticsearch REST API, one keep-alive connection per
// session, sessions spread round-robin over the nodes.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/loadgen/http_client.h"
#include "bench/loadgen/store.h"
#include "nlohmann/json.hpp"

namespace seqsim::loadgen {
namespace {

using json = nlohmann::json;

// The integer after `"field":` in a flat JSON reply (the hot path avoids a
// full parse; the keys are unique in these replies).
bool FindInt(const std::string& body, absl::string_view field, int64_t* out) {
  std::string needle = absl::StrCat("\"", field, "\"");
  size_t at = body.find(needle);
  if (at == std::string::npos) return false;
  at = body.find(':', at + needle.size());
  if (at == std::string::npos) return false;
  ++at;
  while (at < body.size() && (body[at] == ' ' || body[at] == '\n')) ++at;
  size_t end = at;
  while (end < body.size() && (body[end] == '-' || isdigit(body[end]))) ++end;
  return absl::SimpleAtoi(absl::string_view(body).substr(at, end - at), out);
}

std::string Brief(const HttpResponse& r) {
  return absl::StrCat(r.status, " ", r.body.substr(0, 300));
}

class SeqsimSession final : public Session {
 public:
  SeqsimSession(HostPort server, std::string index, absl::Duration timeout)
      : conn_(std::move(server)), index_(std::move(index)), timeout_(timeout) {}

  absl::StatusOr<Seen> Read(const std::string& key) override {
    auto r =
        conn_.Do("GET", absl::StrCat("/", index_, "/_doc/", key), "", timeout_);
    if (!r.ok()) return r.status();
    Seen seen;
    if (r->status == 404) return seen;
    if (r->status != 200 || !FindInt(r->body, "_seq_no", &seen.a) ||
        !FindInt(r->body, "_primary_term", &seen.b)) {
      return absl::InternalError(absl::StrCat("GET: ", Brief(*r)));
    }
    seen.found = true;
    return seen;
  }

  WriteResult CompareAndSet(const std::string& key, const Seen& seen,
                            const std::string& value) override {
    std::string target =
        seen.found
            ? absl::StrCat("/", index_, "/_doc/", key, "?if_seq_no=", seen.a,
                           "&if_primary_term=", seen.b)
            : absl::StrCat("/", index_, "/_doc/", key, "?op_type=create");
    return Write(target, value);
  }

  WriteResult Put(const std::string& key, const std::string& value) override {
    return Write(absl::StrCat("/", index_, "/_doc/", key), value);
  }

  BulkResult Bulk(
      const std::vector<std::pair<std::string, std::string>>& items) override {
    BulkResult out;
    out.item_ok.assign(items.size(), false);
    body_.clear();
    for (const auto& [id, source] : items) {
      absl::StrAppend(&body_, "{\"index\":{\"_id\":\"", id, "\"}}\n", source,
                      "\n");
    }
    auto r = conn_.Do("POST", absl::StrCat("/", index_, "/_bulk"), body_,
                      timeout_, "application/x-ndjson");
    if (!r.ok()) {
      out.status = r.status();
      return out;
    }
    if (r->status != 200) {
      out.status = absl::InternalError(absl::StrCat("_bulk: ", Brief(*r)));
      return out;
    }
    json reply = json::parse(r->body, nullptr, false);
    if (reply.is_discarded() || !reply.contains("items") ||
        reply["items"].size() != items.size()) {
      out.status =
          absl::InternalError(absl::StrCat("_bulk reply: ", Brief(*r)));
      return out;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      const json& item = reply["items"][i]["index"];
      int status = item.value("status", 0);
      std::string id = item.value("_id", "");
      out.item_ok[i] = (status == 200 || status == 201) && id == items[i].first;
      if (!out.item_ok[i] && out.first_item_error.empty())
        out.first_item_error = item.dump().substr(0, 300);
    }
    return out;
  }

  absl::StatusOr<int64_t> CountPresent(
      const std::vector<std::string>& keys) override {
    // Search sees what a refresh made visible: refresh once, before the first
    // read-back (the load is over by then), as an Elasticsearch client would.
    if (!refreshed_) {
      auto refreshed = conn_.Do("POST", absl::StrCat("/", index_, "/_refresh"),
                                "", timeout_);
      if (!refreshed.ok()) return refreshed.status();
      if (refreshed->status != 200)
        return absl::InternalError(
            absl::StrCat("_refresh: ", Brief(*refreshed)));
      refreshed_ = true;
    }
    json ids = json::array();
    for (const std::string& k : keys) ids.push_back(k);
    json query = {{"query", {{"ids", {{"values", ids}}}}},
                  {"size", keys.size()},
                  {"_source", false}};
    auto r = conn_.Do("POST", absl::StrCat("/", index_, "/_search"),
                      query.dump(), timeout_);
    if (!r.ok()) return r.status();
    json reply = json::parse(r->body, nullptr, false);
    if (r->status != 200 || reply.is_discarded())
      return absl::InternalError(absl::StrCat("_search: ", Brief(*r)));
    if (reply["_shards"].value("failed", 1) != 0)
      return absl::InternalError(absl::StrCat("_search: ", Brief(*r)));
    int64_t present = 0;
    for (const json& hit : reply["hits"]["hits"]) {
      (void)hit;
      ++present;
    }
    return present;
  }

  int64_t connects() const override { return conn_.connects(); }

 private:
  WriteResult Write(const std::string& target, const std::string& value) {
    WriteResult out;
    auto r = conn_.Do("PUT", target, value, timeout_);
    if (!r.ok()) {
      out.error = std::string(r.status().message());
      return out;
    }
    out.status = r->status;
    if (r->status == 200 || r->status == 201) {
      out.outcome = Outcome::kOk;
      FindInt(r->body, "_primary_term", &out.term);
    } else if (r->status == 409) {
      out.outcome = Outcome::kConflict;
    } else {
      out.error = Brief(*r);
    }
    return out;
  }

  HttpConnection conn_;
  std::string index_;
  absl::Duration timeout_;
  bool refreshed_ = false;  // CountPresent refreshed the index
  std::string body_;
};

class SeqsimStore final : public Store {
 public:
  explicit SeqsimStore(StoreOptions options) : options_(std::move(options)) {
    for (const std::string& e : options_.endpoints) {
      auto hp = ParseHostPort(e);
      servers_.push_back(hp.ok() ? *hp : HostPort{});
    }
  }

  absl::Status Prepare(int shards, int replicas) override {
    for (const HostPort& s : servers_) {
      if (s.port == 0) return absl::InvalidArgumentError("bad --nodes entry");
    }
    HttpConnection conn(servers_[0]);
    json settings = {
        {"settings",
         {{"number_of_shards", shards}, {"number_of_replicas", replicas}}}};
    auto r = conn.Do("PUT", absl::StrCat("/", options_.space), settings.dump(),
                     options_.timeout);
    if (!r.ok()) return r.status();
    if (r->status != 200)
      return absl::FailedPreconditionError(
          absl::StrCat("PUT /", options_.space, ": ", Brief(*r)));
    r = conn.Do("GET",
                absl::StrCat("/_cluster/health/", options_.space,
                             "?wait_for_status=green&timeout=60s"),
                "", absl::Seconds(70));
    if (!r.ok()) return r.status();
    if (r->status != 200 || r->body.find("\"green\"") == std::string::npos)
      return absl::UnavailableError(
          absl::StrCat("index not green: ", Brief(*r)));
    return absl::OkStatus();
  }

  std::unique_ptr<Session> NewSession(int endpoint) override {
    return std::make_unique<SeqsimSession>(servers_[endpoint % servers_.size()],
                                           options_.space, options_.timeout);
  }

  int endpoints() const override { return static_cast<int>(servers_.size()); }

  absl::StatusOr<Leader> FindLeader() override {
    HttpConnection conn(servers_[0]);
    auto r = conn.Do("GET",
                     absl::StrCat("/_cat/shards/", options_.space,
                                  "?format=json&h=shard,prirep,node"),
                     "", absl::Seconds(10));
    if (!r.ok()) return r.status();
    json rows = json::parse(r->body, nullptr, false);
    if (r->status != 200 || !rows.is_array())
      return absl::InternalError(absl::StrCat("_cat/shards: ", Brief(*r)));
    Leader leader;
    for (const json& row : rows) {
      if (row.value("shard", "") == "0" && row.value("prirep", "") == "p")
        leader.name = row.value("node", "");
    }
    if (leader.name.empty())
      return absl::UnavailableError("shard 0 has no primary");
    for (size_t i = 0; i < servers_.size(); ++i) {
      HttpConnection c(servers_[i]);
      auto root = c.Do("GET", "/", "", absl::Seconds(10));
      if (!root.ok() || root->status != 200) continue;
      json info = json::parse(root->body, nullptr, false);
      if (!info.is_discarded() && info.value("name", "") == leader.name)
        leader.endpoint = static_cast<int>(i);
    }
    if (leader.endpoint < 0)
      return absl::NotFoundError(absl::StrCat(
          "primary ", leader.name, " is none of the --nodes endpoints"));
    return leader;
  }

  std::string name() const override { return "seqsim"; }

 private:
  StoreOptions options_;
  std::vector<HostPort> servers_;
};

}  // namespace

std::unique_ptr<Store> NewSeqsimStore(StoreOptions options) {
  return std::make_unique<SeqsimStore>(std::move(options));
}

}  // namespace seqsim::loadgen
