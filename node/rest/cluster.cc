// The cluster APIs (Api members, see api.h): _cluster/health (waiting for a
// status or a node count, from the coordinator's state unless local=true)
// and GET / (the node and cluster names, the version Elasticsearch clients
// check).
#include "common/cluster_view.h"
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/this_coro.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

namespace {

// How often a _cluster/health wait re-reads the cluster state.
constexpr absl::Duration kHealthPollInterval = absl::Milliseconds(100);

int HealthRank(const std::string& status) {
  if (status == "green") return 2;
  if (status == "yellow") return 1;
  return 0;
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::Health(const Ctx& c,
                                                   std::string index) {
  std::string wanted;
  if (c.Has("wait_for_status")) {
    wanted = c.Param("wait_for_status");
    if (wanted != "green" && wanted != "yellow" && wanted != "red") {
      co_return IllegalArgument(
          absl::StrCat("unknown cluster health status [", wanted, "]"));
    }
  }
  absl::Duration timeout = absl::Seconds(30);
  if (c.Has("timeout")) {
    CO_ASSIGN_OR_RETURN(timeout,
                        rest::ParseTimeValue("timeout", c.Param("timeout")));
  }
  // wait_for_nodes: N, >=N, <=N, >N, <N (and ge(N), le(N), gt(N), lt(N)).
  std::string nodes_op;
  int nodes_wanted = -1;
  if (c.Has("wait_for_nodes")) {
    std::string spec = c.Param("wait_for_nodes");
    for (const char* op : {">=", "<=", ">", "<"}) {
      if (absl::StartsWith(spec, op)) {
        nodes_op = op;
        spec = spec.substr(nodes_op.size());
        break;
      }
    }
    for (const auto& [fn, op] :
         {std::pair<const char*, const char*>{"ge(", ">="},
          {"le(", "<="},
          {"gt(", ">"},
          {"lt(", "<"}}) {
      if (nodes_op.empty() && absl::StartsWith(spec, fn) &&
          absl::EndsWith(spec, ")")) {
        nodes_op = op;
        spec = spec.substr(3, spec.size() - 4);
      }
    }
    if (!absl::SimpleAtoi(spec, &nodes_wanted) || nodes_wanted < 0) {
      co_return IllegalArgument(absl::StrCat("failed to parse wait_for_nodes [",
                                             c.Param("wait_for_nodes"), "]"));
    }
  }
  auto nodes_ok = [&](int n) {
    if (nodes_wanted < 0) return true;
    if (nodes_op == ">=") return n >= nodes_wanted;
    if (nodes_op == "<=") return n <= nodes_wanted;
    if (nodes_op == ">") return n > nodes_wanted;
    if (nodes_op == "<") return n < nodes_wanted;
    return n == nodes_wanted;
  };
  // Elasticsearch reads the elected master's state unless local=true.
  CO_ASSIGN_OR_RETURN(bool local, BoolParam(c, "local", false));
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  const absl::Time deadline = absl::Now() + timeout;
  pb::ClusterState state;
  ClusterHealth health;
  bool satisfied = false;
  while (true) {
    absl::StatusOr<pb::ClusterState> read = co_await GetState(!local);
    // Without a cluster state (or coordinator) yet, Elasticsearch's health
    // waits for one until its timeout, then answers the 503.
    const bool unavailable = !read.ok() && HttpStatus(read.status()) == 503;
    if (!read.ok() && (!unavailable || absl::Now() >= deadline)) {
      co_return read.status();
    }
    if (unavailable) {
      asio::steady_timer pause(
          co_await asio::this_coro::executor,
          ToChrono(std::min(kHealthPollInterval, deadline - absl::Now())));
      boost::system::error_code ec;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    state = *std::move(read);
    bool index_known = index.empty();
    if (!index_known) {
      // The health of the indices the expression names (none, for a
      // wildcard that matches nothing: green); a missing name is red.
      pb::Error missing;
      auto resolved = ResolveIndices(state, index, &missing, options);
      index_known = resolved.ok();
      if (index_known) {
        pb::ClusterState named = state;
        named.clear_indices();
        for (const pb::IndexMeta* meta : *resolved)
          *named.add_indices() = *meta;
        health = ComputeHealth(named, "");
      }
    } else {
      health = ComputeHealth(state, "");
    }
    if (!index_known) {
      health = ComputeHealth(state, "\x01no-such-index");
      health.status = "red";
    }
    satisfied = (wanted.empty() || (index_known && HealthRank(health.status) >=
                                                       HealthRank(wanted))) &&
                nodes_ok(health.number_of_nodes);
    if (satisfied || absl::Now() >= deadline) break;
    asio::steady_timer pause(
        co_await asio::this_coro::executor,
        ToChrono(std::min(kHealthPollInterval, deadline - absl::Now())));
    boost::system::error_code ec;
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  Reply out;
  out.status = satisfied ? 200 : 408;
  Json& body = out.body;
  body["cluster_name"] = state.cluster_name().empty()
                             ? dispatcher_->ClusterName()
                             : state.cluster_name();
  body["status"] = health.status.empty() ? "red" : health.status;
  body["timed_out"] = !satisfied;
  body["number_of_nodes"] = health.number_of_nodes;
  body["number_of_data_nodes"] = health.number_of_data_nodes;
  body["active_primary_shards"] = health.active_primary_shards;
  body["active_shards"] = health.active_shards;
  body["relocating_shards"] = 0;
  body["initializing_shards"] = health.initializing_shards;
  body["unassigned_shards"] = health.unassigned_shards;
  body["delayed_unassigned_shards"] = 0;
  body["number_of_pending_tasks"] = 0;
  body["number_of_in_flight_fetch"] = 0;
  body["task_max_waiting_in_queue_millis"] = 0;
  const int total = health.active_shards + health.initializing_shards +
                    health.unassigned_shards;
  body["active_shards_percent_as_number"] =
      total == 0 ? 100.0 : 100.0 * health.active_shards / total;
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::Root(const Ctx& c) {
  (void)c;
  std::string cluster_uuid = "_na_";
  std::string cluster_name = dispatcher_->ClusterName();
  absl::StatusOr<pb::ClusterState> state = co_await GetState();
  if (state.ok()) {
    if (!state->cluster_uuid().empty()) cluster_uuid = state->cluster_uuid();
    if (!state->cluster_name().empty()) cluster_name = state->cluster_name();
  }
  Reply out;
  out.body["name"] = dispatcher_->NodeId();
  out.body["cluster_name"] = cluster_name;
  out.body["cluster_uuid"] = cluster_uuid;
  Json version = Json::object();
  version["number"] = "8.11.0";
  version["build_flavor"] = "default";
  version["build_type"] = "tar";
  version["build_hash"] = "d9ec3fa628c7b0ba3d25692e277ba26814820b20";
  version["build_date"] = "2023-11-04T10:04:57.184859352Z";
  version["build_snapshot"] = false;
  version["lucene_version"] = "9.8.0";
  version["minimum_wire_compatibility_version"] = "7.17.0";
  version["minimum_index_compatibility_version"] = "7.0.0";
  out.body["version"] = std::move(version);
  out.body["tagline"] = "You Know, for Search";
  co_return out;
}

}  // namespace seqsim::rest
