// The route table (Api::BuildRoutes, Api::RouteRequest, see api.h): each
// method + path pattern to its handler and the parameters it accepts, chosen
// as Elasticsearch's path trie chooses (most literal segments win), with its
// 400 for an unknown route, 405 for a wrong method, 406 for a body whose
// Content-Type is not read, and 400 for an unrecognized parameter.
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"

namespace seqsim::rest {

namespace {
const std::vector<std::string> kSettingsParams = {
    "timeout",          "master_timeout",   "ignore_unavailable",
    "allow_no_indices", "expand_wildcards", "local",
    "flat_settings"};

const std::vector<std::string> kWriteParams = {"op_type",
                                               "if_seq_no",
                                               "if_primary_term",
                                               "version",
                                               "version_type",
                                               "refresh",
                                               "wait_for_active_shards",
                                               "routing",
                                               "timeout",
                                               "pipeline",
                                               "require_alias",
                                               "require_data_stream"};
const std::vector<std::string> kGetParams = {
    "realtime", "refresh",          "routing",          "preference",
    "_source",  "_source_includes", "_source_excludes", "stored_fields",
    "version",  "version_type"};
const std::vector<std::string> kDeleteParams = {
    "if_seq_no", "if_primary_term",        "version", "version_type",
    "refresh",   "wait_for_active_shards", "routing", "timeout"};
const std::vector<std::string> kUpdateParams = {
    "retry_on_conflict",      "if_seq_no",        "if_primary_term", "refresh",
    "wait_for_active_shards", "routing",          "timeout",         "_source",
    "_source_includes",       "_source_excludes", "require_alias",   "lang"};
const std::vector<std::string> kBulkParams = {"refresh",
                                              "wait_for_active_shards",
                                              "routing",
                                              "timeout",
                                              "pipeline",
                                              "_source",
                                              "_source_includes",
                                              "_source_excludes",
                                              "require_alias",
                                              "require_data_stream",
                                              "list_executed_pipelines"};
const std::vector<std::string> kSearchParams = {"size",
                                                "_source_includes",
                                                "_source_excludes",
                                                "stored_fields",
                                                "from",
                                                "seq_no_primary_term",
                                                "version",
                                                "timeout",
                                                "track_total_hits",
                                                "ignore_unavailable",
                                                "allow_no_indices",
                                                "expand_wildcards",
                                                "preference",
                                                "routing",
                                                "rest_total_hits_as_int",
                                                "typed_keys",
                                                "sort",
                                                "track_scores",
                                                "_source",
                                                "request_cache",
                                                "search_type",
                                                "batched_reduce_size",
                                                "ccs_minimize_roundtrips",
                                                "allow_partial_search_results"};
const std::vector<std::string> kCountParams = {
    "ignore_unavailable", "allow_no_indices", "expand_wildcards", "preference",
    "routing"};
const std::vector<std::string> kMgetParams = {
    "realtime", "refresh",          "routing",          "preference",
    "_source",  "_source_includes", "_source_excludes", "stored_fields"};
const std::vector<std::string> kIndexAdminParams = {"wait_for_active_shards",
                                                    "timeout",
                                                    "master_timeout",
                                                    "ignore_unavailable",
                                                    "allow_no_indices",
                                                    "expand_wildcards",
                                                    "local",
                                                    "include_defaults",
                                                    "flat_settings",
                                                    "features"};
const std::vector<std::string> kCatParams = {"format",
                                             "h",
                                             "v",
                                             "s",
                                             "help",
                                             "bytes",
                                             "time",
                                             "local",
                                             "master_timeout",
                                             "expand_wildcards",
                                             "health",
                                             "pri"};
const std::vector<std::string> kHealthParams = {
    "wait_for_status",
    "timeout",
    "master_timeout",
    "level",
    "local",
    "wait_for_nodes",
    "wait_for_active_shards",
    "wait_for_no_relocating_shards",
    "wait_for_no_initializing_shards",
    "wait_for_events",
    "expand_wildcards"};
const std::vector<std::string> kRefreshParams = {
    "ignore_unavailable", "allow_no_indices", "expand_wildcards"};
const std::vector<std::string> kAliasParams = {
    "timeout",          "master_timeout",   "ignore_unavailable",
    "allow_no_indices", "expand_wildcards", "local"};
// Accepted on every route.
const std::set<std::string> kGlobalParams = {
    "pretty",      "human",  "error_trace",
    "filter_path", "source", "source_content_type"};

}  // namespace

void Api::BuildRoutes() {
  auto on = [this](std::vector<std::string> pattern,
                   std::vector<MethodHandler> handlers) {
    routes_.push_back({std::move(pattern), std::move(handlers)});
  };
  on({}, {{{"GET"}, {}, [this](const Ctx& c) { return Root(c); }}});
  on({"_bulk"}, {{{"POST", "PUT"}, kBulkParams, [this](const Ctx& c) {
                    return Bulk(c, "");
                  }}});
  on({"_search"}, {{{"GET", "POST"}, kSearchParams, [this](const Ctx& c) {
                      return Search(c, "");
                    }}});
  on({"_count"}, {{{"GET", "POST"}, kCountParams, [this](const Ctx& c) {
                     return Count(c, "");
                   }}});
  on({"_mget"}, {{{"GET", "POST"}, kMgetParams, [this](const Ctx& c) {
                    return MultiGet(c, "");
                  }}});
  on({"_refresh"}, {{{"POST", "GET"}, kRefreshParams, [this](const Ctx& c) {
                       return Refresh(c, "");
                     }}});
  on({"_cat", "shards"}, {{{"GET"}, kCatParams, [this](const Ctx& c) {
                             return CatShards(c, "");
                           }}});
  on({"_cat", "shards", "*"}, {{{"GET"}, kCatParams, [this](const Ctx& c) {
                                  return CatShards(c, c.segments[2]);
                                }}});
  on({"_cat", "indices"}, {{{"GET"}, kCatParams, [this](const Ctx& c) {
                              return CatIndices(c, "");
                            }}});
  on({"_cat", "indices", "*"}, {{{"GET"}, kCatParams, [this](const Ctx& c) {
                                   return CatIndices(c, c.segments[2]);
                                 }}});
  on({"_cluster", "health"}, {{{"GET"}, kHealthParams, [this](const Ctx& c) {
                                 return Health(c, "");
                               }}});
  on({"_cluster", "health", "*"},
     {{{"GET"}, kHealthParams, [this](const Ctx& c) {
         return Health(c, c.segments[2]);
       }}});
  on({"*"}, {{{"PUT"},
              kIndexAdminParams,
              [this](const Ctx& c) { return CreateIndex(c); }},
             {{"DELETE"},
              kIndexAdminParams,
              [this](const Ctx& c) { return DeleteIndex(c); }},
             {{"GET"}, kIndexAdminParams, [this](const Ctx& c) {
                return GetIndex(c);
              }}});
  on({"_settings"}, {{{"GET"},
                      kSettingsParams,
                      [this](const Ctx& c) { return GetSettings(c, "_all"); }},
                     {{"PUT"}, kSettingsParams, [this](const Ctx& c) {
                        return PutSettings(c, "_all");
                      }}});
  on({"*", "_settings"},
     {{{"GET"},
       kSettingsParams,
       [this](const Ctx& c) { return GetSettings(c, c.Index()); }},
      {{"PUT"}, kSettingsParams, [this](const Ctx& c) {
         return PutSettings(c, c.Index());
       }}});
  on({"_alias"}, {{{"GET"}, kAliasParams, [this](const Ctx& c) {
                     return GetAliases(c, "", "");
                   }}});
  on({"_alias", "*"}, {{{"GET"}, kAliasParams, [this](const Ctx& c) {
                          return GetAliases(c, "", c.segments[1]);
                        }}});
  on({"_aliases"}, {{{"POST"}, kAliasParams, [this](const Ctx& c) {
                       return UpdateAliases(c);
                     }}});
  on({"*", "_alias"}, {{{"GET"}, kAliasParams, [this](const Ctx& c) {
                          return GetAliases(c, c.Index(), "");
                        }}});
  for (const char* word : {"_alias", "_aliases"}) {
    on({"*", word, "*"},
       {{{"PUT", "POST"},
         kAliasParams,
         [this](const Ctx& c) { return PutOrDeleteAlias(c, false); }},
        {{"DELETE"},
         kAliasParams,
         [this](const Ctx& c) { return PutOrDeleteAlias(c, true); }},
        {{"GET"}, kAliasParams, [this](const Ctx& c) {
           return GetAliases(c, c.Index(), c.segments[2]);
         }}});
  }
  on({"*", "_doc"}, {{{"POST"}, kWriteParams, [this](const Ctx& c) {
                        return IndexDoc(c, false);
                      }}});
  on({"*", "_doc", "*"},
     {{{"PUT", "POST"},
       kWriteParams,
       [this](const Ctx& c) { return IndexDoc(c, false); }},
      {{"GET"}, kGetParams, [this](const Ctx& c) { return GetDoc(c, false); }},
      {{"DELETE"}, kDeleteParams, [this](const Ctx& c) {
         return DeleteDoc(c);
       }}});
  on({"*", "_create", "*"},
     {{{"PUT", "POST"}, kWriteParams, [this](const Ctx& c) {
         return IndexDoc(c, true);
       }}});
  on({"*", "_source", "*"},
     {{{"GET"}, kGetParams, [this](const Ctx& c) { return GetDoc(c, true); }}});
  on({"*", "_update", "*"}, {{{"POST"}, kUpdateParams, [this](const Ctx& c) {
                                return UpdateDoc(c);
                              }}});
  on({"*", "_bulk"}, {{{"POST", "PUT"}, kBulkParams, [this](const Ctx& c) {
                         return Bulk(c, c.Index());
                       }}});
  on({"*", "_search"}, {{{"GET", "POST"}, kSearchParams, [this](const Ctx& c) {
                           return Search(c, c.Index());
                         }}});
  on({"*", "_count"}, {{{"GET", "POST"}, kCountParams, [this](const Ctx& c) {
                          return Count(c, c.Index());
                        }}});
  on({"*", "_mget"}, {{{"GET", "POST"}, kMgetParams, [this](const Ctx& c) {
                         return MultiGet(c, c.Index());
                       }}});
  on({"*", "_refresh"},
     {{{"POST", "GET"}, kRefreshParams, [this](const Ctx& c) {
         return Refresh(c, c.Index());
       }}});
}

asio::awaitable<Reply> Api::RouteRequest(const http::Request& req) {
  Ctx c{req, {}};
  for (absl::string_view part :
       absl::StrSplit(req.path, '/', absl::SkipEmpty())) {
    c.segments.push_back(
        rest::ValidUtf8(std::string_view(part.data(), part.size())));
  }
  // The most specific patterns (most literal segments) win, as in
  // Elasticsearch's path trie.
  std::vector<const RouteEntry*> candidates;
  int best = -1;
  for (const RouteEntry& route : routes_) {
    if (route.pattern.size() != c.segments.size()) continue;
    int literals = 0;
    bool match = true;
    for (size_t i = 0; i < route.pattern.size() && match; ++i) {
      if (route.pattern[i] == "*") continue;
      match = route.pattern[i] == c.segments[i];
      ++literals;
    }
    if (!match) continue;
    if (literals > best) {
      best = literals;
      candidates.clear();
    }
    if (literals == best) candidates.push_back(&route);
  }
  const std::string client_method = req.method;
  const std::string method = client_method == "HEAD" ? "GET" : client_method;
  if (candidates.empty()) {
    co_return ErrorReply(
        rest::MakeError(400, "illegal_argument_exception",
                        absl::StrCat("no handler found for uri [", req.path,
                                     "] and method [", client_method, "]")));
  }
  std::vector<std::string> allowed;
  for (const RouteEntry* route : candidates) {
    for (const MethodHandler& handler : route->handlers) {
      for (const std::string& m : handler.methods) {
        allowed.push_back(m);
        if (m != method) continue;
        // As in Elasticsearch, once a handler is found and before its
        // parameters are read: a body must come with a Content-Type seqsim
        // reads, whatever the endpoint; requests without one are not checked.
        if (!req.body.empty()) {
          if (std::optional<std::string> refused =
                  rest::RefusedContentTypeMessage(
                      req.HeaderValues("Content-Type"))) {
            co_return SimpleErrorReply(406, *refused);
          }
        }
        std::set<std::string> unknown;
        for (const auto& [key, value] : req.params) {
          if (kGlobalParams.count(key) == 0 &&
              std::find(handler.params.begin(), handler.params.end(), key) ==
                  handler.params.end()) {
            unknown.insert(key);
          }
        }
        if (!unknown.empty()) {
          std::vector<std::string> quoted;
          for (const std::string& key : unknown)
            quoted.push_back(absl::StrCat("[", key, "]"));
          co_return StatusReply(IllegalArgument(absl::StrCat(
              "request [", req.path, "] contains unrecognized parameter",
              unknown.size() > 1 ? "s" : "", ": ",
              absl::StrJoin(quoted, ", "))));
        }
        absl::StatusOr<Reply> reply = co_await handler.handler(c);
        if (!reply.ok()) co_return StatusReply(reply.status());
        co_return *std::move(reply);
      }
    }
  }
  if (std::find(allowed.begin(), allowed.end(), "GET") != allowed.end()) {
    allowed.push_back("HEAD");
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  Reply reply = SimpleErrorReply(
      405, absl::StrCat("Incorrect HTTP method for uri [", req.path,
                        "] and method [", client_method, "], allowed: [",
                        absl::StrJoin(allowed, ", "), "]"));
  reply.headers.emplace_back("Allow", absl::StrJoin(allowed, ","));
  co_return reply;
}

}  // namespace seqsim::rest
