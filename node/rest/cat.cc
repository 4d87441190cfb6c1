// The _cat APIs (Api members, see api.h): _cat/shards (with the copies'
// max_seq_no, local and global checkpoints of R6) and _cat/indices, as text
// tables or JSON with Elasticsearch's columns, aliases, h=, v, bytes=.
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
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

namespace {

std::string HostOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

struct CatColumn {
  std::string name;
  std::vector<std::string> aliases;
  bool numeric;
};
using CatRow = std::map<std::string, std::optional<std::string>>;

absl::StatusOr<Reply> CatTable(const Ctx& c,
                               const std::vector<CatColumn>& columns,
                               const std::vector<std::string>& defaults,
                               const std::vector<CatRow>& rows) {
  std::vector<const CatColumn*> shown;
  auto find = [&](const std::string& name) -> const CatColumn* {
    for (const CatColumn& column : columns) {
      if (column.name == name) return &column;
      for (const std::string& alias : column.aliases) {
        if (alias == name) return &column;
      }
    }
    return nullptr;
  };
  if (c.Has("h")) {
    for (absl::string_view raw :
         absl::StrSplit(c.Param("h"), ',', absl::SkipEmpty())) {
      std::string name(absl::StripAsciiWhitespace(raw));
      const CatColumn* column = find(name);
      if (column == nullptr) {
        return IllegalArgument(absl::StrCat("Unknown header [", name, "]"));
      }
      shown.push_back(column);
    }
  } else {
    for (const std::string& name : defaults) shown.push_back(find(name));
  }
  std::string format = c.Has("format") ? c.Param("format") : "text";
  if (format == "json") {
    Reply out;
    out.body = Json::array();
    for (const CatRow& row : rows) {
      Json object = Json::object();
      for (const CatColumn* column : shown) {
        auto it = row.find(column->name);
        object[column->name] = it != row.end() && it->second.has_value()
                                   ? Json(*it->second)
                                   : Json(nullptr);
      }
      out.body.push_back(std::move(object));
    }
    return out;
  }
  if (format != "text" && format != "txt") {
    return IllegalArgument(absl::StrCat("Unsupported format [", format, "]"));
  }
  ASSIGN_OR_RETURN(bool header, BoolParam(c, "v", false));
  std::vector<std::vector<std::string>> table;
  if (header) {
    std::vector<std::string> names;
    for (const CatColumn* column : shown) names.push_back(column->name);
    table.push_back(names);
  }
  for (const CatRow& row : rows) {
    std::vector<std::string> cells;
    for (const CatColumn* column : shown) {
      auto it = row.find(column->name);
      cells.push_back(it != row.end() && it->second.has_value() ? *it->second
                                                                : "");
    }
    table.push_back(cells);
  }
  std::vector<size_t> widths(shown.size(), 0);
  for (const auto& cells : table) {
    for (size_t i = 0; i < cells.size(); ++i)
      widths[i] = std::max(widths[i], cells[i].size());
  }
  std::string text;
  for (size_t r = 0; r < table.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < shown.size(); ++i) {
      const std::string& cell = table[r][i];
      std::string pad(widths[i] - cell.size(), ' ');
      bool right = shown[i]->numeric && !(header && r == 0);
      std::string padded = right ? pad + cell : cell + pad;
      if (i > 0) line += " ";
      line += padded;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    text += line + "\n";
  }
  Reply out;
  out.text = text;
  return out;
}

std::string Str(int64_t value) { return absl::StrCat(value); }

// A byte-size cell: in the `bytes=` unit when one is given (whole units, as
// Elasticsearch's RestTable), else human-readable ("4.5kb"); an unknown unit
// reads as none.
std::string SizeCell(const Ctx& c, int64_t bytes) {
  if (c.Has("bytes")) {
    if (std::optional<int64_t> unit = rest::ByteUnitSize(c.Param("bytes"))) {
      return Str(bytes / *unit);
    }
  }
  return rest::ByteSizeString(bytes);
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::CatShards(const Ctx& c,
                                                      std::string indices) {
  // Elasticsearch reads the elected master's state unless local=true.
  CO_ASSIGN_OR_RETURN(bool local, BoolParam(c, "local", false));
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(!local));
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto resolved = ResolveIndices(state, indices, &missing, options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  std::map<std::string, pb::NodeStatusResponse> statuses =
      co_await NodeStatuses(state);
  std::map<std::string, std::string> ips;
  for (const pb::NodeInfo& node : state.nodes())
    ips[node.id()] = HostOf(node.rest_address());
  std::vector<CatRow> rows;
  for (const pb::IndexMeta* index : *resolved) {
    std::vector<const pb::ShardRouting*> shards;
    for (const pb::ShardRouting& shard : index->shards())
      shards.push_back(&shard);
    std::sort(shards.begin(), shards.end(),
              [](auto* a, auto* b) { return a->shard() < b->shard(); });
    for (const pb::ShardRouting* shard : shards) {
      bool has_primary = false;
      int assigned = 0;
      std::vector<const pb::ShardCopy*> copies;
      for (const pb::ShardCopy& copy : shard->copies()) copies.push_back(&copy);
      std::stable_sort(copies.begin(), copies.end(), [](auto* a, auto* b) {
        return a->primary() && !b->primary();
      });
      for (const pb::ShardCopy* copy : copies) {
        ++assigned;
        has_primary = has_primary || copy->primary();
        CatRow row;
        row["index"] = index->name();
        row["shard"] = Str(shard->shard());
        row["prirep"] = std::string(copy->primary() ? "p" : "r");
        row["state"] = copy->state() == pb::ShardCopy::STARTED ? "STARTED"
                                                               : "INITIALIZING";
        row["ip"] = ips[copy->node_id()];
        row["node"] = copy->node_id();
        auto status = statuses.find(copy->node_id());
        if (status != statuses.end()) {
          for (const pb::ShardStatus& s : status->second.shards()) {
            if (s.index() != index->name() || s.shard() != shard->shard())
              continue;
            // What search sees, as Elasticsearch counts docs: the copy's
            // last refresh.
            row["docs"] = Str(s.refreshed_docs());
            row["refresh.total"] = Str(s.refresh_total());
            row["store"] = SizeCell(c, s.store_bytes());
            row["seq_no.max"] = Str(s.max_seq_no());
            row["seq_no.local_checkpoint"] = Str(s.local_checkpoint());
            row["seq_no.global_checkpoint"] = Str(s.global_checkpoint());
          }
        }
        rows.push_back(std::move(row));
      }
      for (int i = assigned; i < 1 + index->number_of_replicas(); ++i) {
        CatRow row;
        row["index"] = index->name();
        row["shard"] = Str(shard->shard());
        row["prirep"] = std::string(has_primary ? "r" : "p");
        has_primary = true;
        row["state"] = "UNASSIGNED";
        rows.push_back(std::move(row));
      }
    }
  }
  static const std::vector<CatColumn> kColumns = {
      {"index", {"i", "idx"}, false},
      {"shard", {"s", "sh"}, true},
      {"prirep", {"p", "pr", "primaryOrReplica"}, false},
      {"state", {"st"}, false},
      {"docs", {"d", "dc"}, true},
      {"store", {"sto"}, true},
      {"ip", {}, false},
      {"node", {"n"}, false},
      {"seq_no.max", {"sqm", "maxSeqNo"}, true},
      {"seq_no.local_checkpoint", {"sql", "localCheckpoint"}, true},
      {"seq_no.global_checkpoint", {"sqg", "globalCheckpoint"}, true},
      {"refresh.total", {"rto", "refreshTotal"}, true},
  };
  co_return CatTable(
      c, kColumns,
      {"index", "shard", "prirep", "state", "docs", "store", "ip", "node"},
      rows);
}

asio::awaitable<absl::StatusOr<Reply>> Api::CatIndices(const Ctx& c,
                                                       std::string indices) {
  // Elasticsearch reads the elected master's state unless local=true.
  CO_ASSIGN_OR_RETURN(bool local, BoolParam(c, "local", false));
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(!local));
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto resolved = ResolveIndices(state, indices, &missing, options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  std::map<std::string, pb::NodeStatusResponse> statuses =
      co_await NodeStatuses(state);
  // health=green|yellow|red keeps the indices of that health.
  std::string health_filter;
  if (c.Has("health")) {
    health_filter = absl::AsciiStrToLower(c.Param("health"));
    if (health_filter != "green" && health_filter != "yellow" &&
        health_filter != "red") {
      co_return IllegalArgument(absl::StrCat("unknown cluster health status [",
                                             c.Param("health"), "]"));
    }
  }
  std::vector<CatRow> rows;
  for (const pb::IndexMeta* index : *resolved) {
    const std::string health = ComputeHealth(state, index->name()).status;
    if (!health_filter.empty() && health != health_filter) continue;
    int64_t docs = 0, store = 0, primary_store = 0;
    bool counted = false;
    for (const pb::ShardRouting& shard : index->shards()) {
      for (const pb::ShardCopy& copy : shard.copies()) {
        auto status = statuses.find(copy.node_id());
        if (status == statuses.end()) continue;
        for (const pb::ShardStatus& s : status->second.shards()) {
          if (s.index() != index->name() || s.shard() != shard.shard()) {
            continue;
          }
          store += s.store_bytes();
          if (!copy.primary()) continue;
          primary_store += s.store_bytes();
          docs += s.refreshed_docs();
          counted = true;
        }
      }
    }
    CatRow row;
    row["health"] = health;
    row["status"] = "open";
    row["index"] = index->name();
    row["uuid"] = index->uuid();
    row["pri"] = Str(std::max(1, index->number_of_shards()));
    row["rep"] = Str(index->number_of_replicas());
    if (counted) {
      row["docs.count"] = Str(docs);
      row["store.size"] = SizeCell(c, store);
      row["pri.store.size"] = SizeCell(c, primary_store);
    }
    row["docs.deleted"] = "0";
    rows.push_back(std::move(row));
  }
  std::sort(rows.begin(), rows.end(), [](const CatRow& a, const CatRow& b) {
    return a.at("index") < b.at("index");
  });
  static const std::vector<CatColumn> kColumns = {
      {"health", {"h"}, false},
      {"status", {"s"}, false},
      {"index", {"i", "idx"}, false},
      {"uuid", {"id"}, false},
      {"pri", {"p", "shards.primary"}, true},
      {"rep", {"r", "shards.replica"}, true},
      {"docs.count", {"dc", "docsCount"}, true},
      {"docs.deleted", {"dd", "docsDeleted"}, true},
      {"store.size", {"ss", "storeSize"}, true},
      {"pri.store.size", {}, true},
  };
  co_return CatTable(
      c, kColumns,
      {"health", "status", "index", "uuid", "pri", "rep", "docs.count",
       "docs.deleted", "store.size", "pri.store.size"},
      rows);
}

}  // namespace seqsim::rest
