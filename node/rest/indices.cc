// The index APIs (Api members, see api.h): create, delete and get an index
// (settings, mappings accepted), aliases (PUT/DELETE /{index}/_alias/{name},
// POST /_aliases, GET _alias) and _refresh. Index creation and alias updates
// go to the coordinator, which owns the cluster state.
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <cstring>
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
#include "common/validation.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"
#include "node/rest/index_settings.h"

namespace seqsim::rest {

namespace {

// An alias name checked as Elasticsearch checks one (the rules of index
// names, in an invalid_alias_name_exception).
std::optional<pb::Error> BadAliasName(const std::string& alias) {
  std::optional<pb::Error> bad = rest::ValidateIndexName(alias);
  if (!bad.has_value()) return std::nullopt;
  std::string why = bad->reason();
  const std::string prefix = absl::StrCat("Invalid index name [", alias, "], ");
  if (absl::StartsWith(why, prefix)) why = why.substr(prefix.size());
  return rest::MakeError(
      400, "invalid_alias_name_exception",
      absl::StrCat("Invalid alias name [", alias, "]: ", why));
}

// An alias option Elasticsearch has and seqsim does not model (filter,
// routing, index_routing, search_routing, is_write_index, is_hidden, ...):
// refused with a 400 rather than silently dropped.
absl::Status UnsupportedAliasOption(const std::string& option,
                                    const std::string& alias) {
  return IllegalArgument(absl::StrCat("alias option [", option,
                                      "] is not supported by seqsim (alias [",
                                      alias, "])"));
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::CreateIndex(const Ctx& c) {
  if (std::optional<pb::Error> bad = rest::ValidateIndexName(c.Index())) {
    co_return ErrorReply(*bad);
  }
  pb::CreateIndexRequest create;
  create.set_index(c.Index());
  create.set_number_of_replicas(-1);
  if (!IsBlank(c.req.body)) {
    CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
    std::optional<Json> body = ParseJson(c.req.body);
    if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() == "mappings") continue;  // accepted, unused
      if (it.key() == "aliases") {
        // Set with the index; the names checked as the alias APIs check
        // them, an option seqsim does not model refused.
        if (!it.value().is_object()) co_return BodyUnparsable();
        for (auto alias = it.value().begin(); alias != it.value().end();
             ++alias) {
          if (std::optional<pb::Error> bad = BadAliasName(alias.key())) {
            co_return ErrorReply(*bad);
          }
          if (!alias.value().is_object()) co_return BodyUnparsable();
          if (!alias.value().empty()) {
            co_return UnsupportedAliasOption(alias.value().begin().key(),
                                             alias.key());
          }
          create.add_aliases(alias.key());
        }
        continue;
      }
      if (it.key() != "settings") {
        co_return EsStatus(
            absl::StatusCode::kInvalidArgument, "parse_exception",
            absl::StrCat("unknown key [", it.key(), "] for create index"));
      }
      if (!it.value().is_object()) co_return BodyUnparsable();
      for (const auto& [name, value] : FlattenIndexSettings(it.value())) {
        if (name == "refresh_interval") {
          CO_ASSIGN_OR_RETURN(int64_t ms, RefreshIntervalMsOf(value));
          create.set_refresh_interval_ms(ms);
          continue;
        }
        if (name == "max_result_window") {
          std::optional<int64_t> n = JsonInteger(value);
          if (!n.has_value() || *n < 1 || *n > 2147483647) {
            co_return IllegalArgument(absl::StrCat(
                "Failed to parse value [",
                value.is_string() ? value.get<std::string>() : value.dump(),
                "] for setting [index.max_result_window] must be >= 1"));
          }
          create.set_max_result_window(static_cast<int32_t>(*n));
          continue;
        }
        if (name != "number_of_shards" && name != "number_of_replicas")
          continue;
        std::optional<int64_t> n = JsonInteger(value);
        const int64_t minimum = name == "number_of_shards" ? 1 : 0;
        if (!n.has_value() || *n < minimum || *n > 1024) {
          std::string shown =
              value.is_string() ? value.get<std::string>() : value.dump();
          co_return IllegalArgument(absl::StrCat(
              "Failed to parse value [", shown, "] for setting [index.", name,
              "] must be ", n.has_value() && *n > 1024 ? "<= 1024" : "",
              n.has_value() && *n > 1024 ? "" : absl::StrCat(">= ", minimum)));
        }
        if (name == "number_of_shards") {
          create.set_number_of_shards(static_cast<int32_t>(*n));
        } else {
          create.set_number_of_replicas(static_cast<int32_t>(*n));
        }
      }
    }
  }
  pb::Envelope request;
  *request.mutable_create_index() = create;
  std::optional<Reply> refused;
  CO_ASSIGN_OR_RETURN(const pb::CreateIndexResponse response,
                      co_await CallFor<pb::CreateIndexResponse>(
                          std::move(request), "create_index", &refused));
  if (refused.has_value()) co_return *std::move(refused);
  Reply out;
  out.body["acknowledged"] = response.acknowledged();
  out.body["shards_acknowledged"] = response.shards_acknowledged();
  out.body["index"] = response.index().empty() ? c.Index() : response.index();
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::DeleteIndex(const Ctx& c) {
  // action.destructive_requires_name (true by default in Elasticsearch 8):
  // an index deletion names every index it deletes.
  std::vector<std::string> names;
  for (absl::string_view part : absl::StrSplit(c.Index(), ',')) {
    if (part == "_all" || absl::StrContains(part, '*')) {
      co_return IllegalArgument(
          "Wildcard expressions or all indices are not allowed");
    }
    if (!part.empty()) names.emplace_back(part);
  }
  if (names.empty()) {
    co_return IllegalArgument(
        "Wildcard expressions or all indices are not allowed");
  }
  CO_ASSIGN_OR_RETURN(IndicesOptions options,
                      IndicesOptionsOf(c, {.ignore_unavailable = false,
                                           .allow_no_indices = false,
                                           .expand_open = true}));
  if (names.size() > 1 || options.ignore_unavailable) {
    // Every name is checked before any index goes.
    CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(true));
    pb::Error missing;
    auto resolved = ResolveIndices(state, c.Index(), &missing, options);
    if (!resolved.ok()) co_return ErrorReply(missing);
    names.clear();
    for (const pb::IndexMeta* index : *resolved) names.push_back(index->name());
  }
  bool acknowledged = true;
  for (const std::string& name : names) {
    pb::Envelope request;
    request.mutable_delete_index()->set_index(name);
    std::optional<Reply> refused;
    CO_ASSIGN_OR_RETURN(const pb::DeleteIndexResponse response,
                        co_await CallFor<pb::DeleteIndexResponse>(
                            std::move(request), "delete_index", &refused));
    if (refused.has_value()) co_return *std::move(refused);
    acknowledged = acknowledged && response.acknowledged();
  }
  Reply out;
  out.body["acknowledged"] = acknowledged;
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::GetIndex(const Ctx& c) {
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto indices = ResolveIndices(state, c.Index(), &missing, options);
  if (!indices.ok()) co_return ErrorReply(missing);
  Reply out;
  for (const pb::IndexMeta* index : *indices) {
    Json entry = Json::object();
    entry["aliases"] = Json::object();
    for (const std::string& alias : index->aliases())
      entry["aliases"][alias] = Json::object();
    entry["mappings"] = Json::object();
    entry["settings"] = IndexSettingsJson(*index);
    out.body[index->name()] = std::move(entry);
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::SendAliasActions(
    std::vector<pb::AliasAction> actions) {
  pb::UpdateIndicesRequest update;
  for (pb::AliasAction& action : actions)
    *update.add_alias_actions() = std::move(action);
  co_return co_await SendIndicesUpdate(std::move(update));
}

asio::awaitable<absl::StatusOr<Reply>> Api::SendIndicesUpdate(
    pb::UpdateIndicesRequest update) {
  pb::Envelope request;
  *request.mutable_update_indices() = std::move(update);
  std::optional<Reply> refused;
  CO_ASSIGN_OR_RETURN(const pb::UpdateIndicesResponse response,
                      co_await CallFor<pb::UpdateIndicesResponse>(
                          std::move(request), "an index update", &refused));
  if (refused.has_value()) co_return *std::move(refused);
  Reply out;
  out.body["acknowledged"] = response.acknowledged();
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::PutOrDeleteAlias(const Ctx& c,
                                                             bool remove) {
  const std::string& names = c.segments[2];
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(true));
  pb::Error missing;
  auto resolved = ResolveIndices(state, c.Index(), &missing, options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  std::vector<pb::AliasAction> actions;
  if (!remove) {
    if (std::optional<pb::Error> bad = BadAliasName(names)) {
      co_return ErrorReply(*bad);
    }
    if (!IsBlank(c.req.body)) {
      // The alias's options (filter, routing, ...): seqsim models none.
      CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
      std::optional<Json> body = ParseJson(c.req.body);
      if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
      if (!body->empty()) {
        co_return UnsupportedAliasOption(body->begin().key(), names);
      }
    }
    for (const pb::IndexMeta* index : *resolved) {
      pb::AliasAction& action = actions.emplace_back();
      action.set_index(index->name());
      action.set_alias(names);
    }
  } else {
    // Names and patterns ("_all", "*" for every alias) of the indices'
    // aliases; a name that matches none is missing.
    std::vector<std::string> unmatched;
    for (absl::string_view part :
         absl::StrSplit(names, ',', absl::SkipEmpty())) {
      const std::string pattern = part == "_all" ? "*" : std::string(part);
      bool matched = false;
      for (const pb::IndexMeta* index : *resolved) {
        for (const std::string& alias : index->aliases()) {
          if (!SimpleMatch(pattern, alias)) continue;
          matched = true;
          pb::AliasAction& action = actions.emplace_back();
          action.set_remove(true);
          action.set_index(index->name());
          action.set_alias(alias);
        }
      }
      if (!matched) unmatched.push_back(pattern);
    }
    if (!unmatched.empty() || actions.empty()) {
      if (unmatched.empty()) unmatched.push_back(names);
      co_return ErrorReply(rest::MakeError(
          404, "aliases_not_found_exception",
          absl::StrCat("aliases [", absl::StrJoin(unmatched, ","),
                       "] missing")));
    }
  }
  if (actions.empty()) {
    co_return ErrorReply(ToError(IndexNotFound(c.Index()), c.Index(), "_na_"));
  }
  co_return co_await SendAliasActions(std::move(actions));
}

asio::awaitable<absl::StatusOr<Reply>> Api::UpdateAliases(const Ctx& c) {
  if (IsBlank(c.req.body)) co_return BodyRequired();
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
  auto strings = [](const Json& action, const char* one,
                    const char* many) -> std::vector<std::string> {
    std::vector<std::string> out;
    if (action.contains(one) && action[one].is_string())
      out.push_back(action[one].get<std::string>());
    if (action.contains(many) && action[many].is_array()) {
      for (const Json& value : action[many]) {
        if (value.is_string()) out.push_back(value.get<std::string>());
      }
    }
    return out;
  };
  if (!body->contains("actions") || !(*body)["actions"].is_array() ||
      (*body)["actions"].empty()) {
    co_return ValidationFailed({"no aliases actions specified"});
  }
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(true));
  std::vector<pb::AliasAction> actions;
  for (const Json& item : (*body)["actions"]) {
    if (!item.is_object() || item.size() != 1) co_return BodyUnparsable();
    const std::string kind = item.begin().key();
    const Json& action = item.begin().value();
    if ((kind != "add" && kind != "remove") || !action.is_object()) {
      co_return IllegalArgument(
          absl::StrCat("Unsupported alias action [", kind, "]"));
    }
    std::vector<std::string> indices = strings(action, "index", "indices");
    std::vector<std::string> aliases = strings(action, "alias", "aliases");
    for (auto key = action.begin(); key != action.end(); ++key) {
      if (key.key() != "index" && key.key() != "indices" &&
          key.key() != "alias" && key.key() != "aliases") {
        co_return UnsupportedAliasOption(
            key.key(), aliases.empty() ? std::string() : aliases.front());
      }
    }
    if (indices.empty()) {
      co_return ValidationFailed({"One of [index] or [indices] is required"});
    }
    if (aliases.empty()) {
      co_return ValidationFailed({"One of [alias] or [aliases] is required"});
    }
    for (const std::string& expression : indices) {
      pb::Error missing;
      auto resolved = ResolveIndices(state, expression, &missing);
      if (!resolved.ok()) co_return ErrorReply(missing);
      for (const pb::IndexMeta* index : *resolved) {
        for (const std::string& alias : aliases) {
          if (kind == "add") {
            if (std::optional<pb::Error> bad = BadAliasName(alias)) {
              co_return ErrorReply(*bad);
            }
          }
          pb::AliasAction& out = actions.emplace_back();
          out.set_remove(kind == "remove");
          out.set_index(index->name());
          out.set_alias(alias);
        }
      }
    }
  }
  co_return co_await SendAliasActions(std::move(actions));
}

asio::awaitable<absl::StatusOr<Reply>> Api::GetAliases(const Ctx& c,
                                                       std::string indices,
                                                       std::string names) {
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
  pb::Error missing;
  auto resolved = ResolveIndices(state, indices, &missing, options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  std::vector<std::string> patterns;
  for (absl::string_view part : absl::StrSplit(names, ',', absl::SkipEmpty()))
    patterns.push_back(part == "_all" ? "*" : std::string(part));
  const bool every = patterns.empty();
  std::set<std::string> matched;
  Reply out;
  for (const pb::IndexMeta* index : *resolved) {
    Json aliases = Json::object();
    for (const std::string& alias : index->aliases()) {
      bool shown = every;
      for (const std::string& pattern : patterns) {
        if (SimpleMatch(pattern, alias)) {
          shown = true;
          matched.insert(pattern);
        }
      }
      if (shown) aliases[alias] = Json::object();
    }
    // Without names every index shows, with names only those that have one.
    if (every || !aliases.empty())
      out.body[index->name()] = Json{{"aliases", std::move(aliases)}};
  }
  std::vector<std::string> unmatched;
  for (const std::string& pattern : patterns) {
    if (!absl::StrContains(pattern, '*') && matched.count(pattern) == 0)
      unmatched.push_back(pattern);
  }
  if (!unmatched.empty()) {
    // Elasticsearch's RestGetAliasesAction: the error first, then what was
    // found.
    Json body = Json::object();
    body["error"] =
        absl::StrCat(unmatched.size() == 1 ? "alias [" : "aliases [",
                     absl::StrJoin(unmatched, ","), "] missing");
    body["status"] = 404;
    for (auto it = out.body.begin(); it != out.body.end(); ++it)
      body[it.key()] = it.value();
    out.body = std::move(body);
    out.status = 404;
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::Refresh(const Ctx& c,
                                                    std::string indices) {
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto resolved = ResolveIndices(state, indices, &missing, options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  // Every node refreshes its copies of the indices; a copy that is not
  // started (recovering, unassigned) counts in total but not as successful.
  pb::Envelope request;
  int total = 0, successful = 0;
  for (const pb::IndexMeta* index : *resolved) {
    total += std::max(1, index->number_of_shards()) *
             (1 + index->number_of_replicas());
    request.mutable_refresh()->add_indices(index->name());
  }
  if (!resolved->empty()) {
    for (const auto& [id, reply] : co_await AskEveryNode(state, request)) {
      if (reply.has_refresh_response())
        successful += reply.refresh_response().refreshed();
    }
  }
  successful = std::min(successful, total);
  Reply out;
  out.body["_shards"] =
      Json{{"total", total}, {"successful", successful}, {"failed", 0}};
  co_return out;
}

}  // namespace seqsim::rest
