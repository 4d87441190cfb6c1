// _search and _count (Api members, see api.h): the body and URL parameters
// read as Elasticsearch reads them (query DSL and sort in query_dsl.h), the
// index expression resolved, hits rendered with their sort values and
// scores. No replication rule: a search reads what each copy last refreshed.
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <cstdint>
#include <limits>
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
#include "node/rest/query_dsl.h"

namespace seqsim::rest {

namespace {

// index.max_result_window's default.
constexpr int64_t kDefaultMaxResultWindow = 10000;

std::string ResultWindowTooLarge(int64_t window, uint64_t asked) {
  return absl::StrCat(
      "Result window is too large, from + size must be less than or equal "
      "to: [",
      window, "] but was [", asked,
      "]. See the scroll api for a more efficient way to request large data "
      "sets. This limit can be set by changing the [index.max_result_window] "
      "index level setting.");
}

// `routing` (a comma list) and `preference` of _search and _count.
void SetRoutingAndPreference(const Ctx& c, pb::SearchRequest& search) {
  if (c.Has("routing")) {
    for (absl::string_view value :
         absl::StrSplit(c.Param("routing"), ',', absl::SkipEmpty())) {
      search.add_routing(std::string(value));
    }
  }
  if (c.Has("preference")) search.set_preference(c.Param("preference"));
}

}  // namespace

asio::awaitable<absl::StatusOr<pb::SearchResponse>> Api::RunSearch(
    const Ctx& c, const std::string& indices, pb::SearchRequest search,
    std::optional<Reply>* refused) {
  SetRoutingAndPreference(c, search);
  bool none = false;
  if (std::optional<Reply> bad =
          co_await ResolveSearchIndices(c, indices, search, &none)) {
    *refused = std::move(bad);
    co_return pb::SearchResponse();
  }
  // An expression that resolves to no index searches nothing (a request
  // without indices would search them all).
  if (none) co_return pb::SearchResponse();
  pb::Envelope request;
  *request.mutable_search() = std::move(search);
  CO_ASSIGN_OR_RETURN(
      pb::SearchResponse response,
      co_await CallFor<pb::SearchResponse>(std::move(request), "a search"));
  if (HasError(response.error())) {
    *refused = SearchErrorReply(response.error());
  }
  co_return response;
}

asio::awaitable<std::optional<Reply>> Api::ResolveSearchIndices(
    const Ctx& c, const std::string& indices, pb::SearchRequest& search,
    bool* none) {
  absl::StatusOr<IndicesOptions> options = IndicesOptionsOf(c);
  if (!options.ok()) co_return StatusReply(options.status());
  absl::StatusOr<pb::ClusterState> state = co_await GetState();
  if (!state.ok()) co_return StatusReply(state.status());
  pb::Error missing;
  auto resolved = ResolveIndices(*state, indices, &missing, *options);
  if (!resolved.ok()) co_return ErrorReply(missing);
  search.clear_indices();
  for (const pb::IndexMeta* index : *resolved)
    search.add_indices(index->name());
  *none = resolved->empty();
  // index.max_result_window of each searched index (the default 10000 is
  // checked before): an ids query with more values, then from + size over
  // it, are refused as Elasticsearch's shards refuse them (the query is
  // built before the window is checked).
  auto window_of = [](const pb::IndexMeta* index) -> int64_t {
    return index->max_result_window() > 0 ? index->max_result_window()
                                          : kDefaultMaxResultWindow;
  };
  for (const pb::IndexMeta* index : *resolved) {
    const int64_t window = window_of(index);
    if (search.query().has_ids() &&
        search.query().ids().values_size() > window) {
      pb::Error error = rest::MakeError(
          400, "query_shard_exception",
          absl::StrCat("failed to create query: Too many ids specified, "
                       "allowed max result window is [",
                       window, "]"));
      error.set_index(index->name());
      co_return SearchPhaseFailure(error);
    }
  }
  for (const pb::IndexMeta* index : *resolved) {
    const int64_t window = window_of(index);
    const int64_t asked = static_cast<int64_t>(search.from()) +
                          static_cast<int64_t>(search.size());
    if (asked > window) {
      co_return StatusReply(IllegalArgument(
          ResultWindowTooLarge(window, static_cast<uint64_t>(asked))));
    }
  }
  co_return std::nullopt;
}

asio::awaitable<absl::StatusOr<Reply>> Api::Search(const Ctx& c,
                                                   std::string indices) {
  pb::SearchRequest search;
  int64_t size = 10, from = 0;
  bool seq_no_primary_term = false, version = false, total_as_int = false;
  bool track_scores = false;
  SourceSpec source;
  // stored_fields: "_none_" drops the hits' metadata too; any other list
  // (no field is stored apart from _source) drops the source unless asked.
  std::optional<std::vector<std::string>> stored_fields;
  // track_total_hits: true counts all, false none, N up to N (default 10000).
  std::optional<int64_t> track_total_hits = 10000;
  search.mutable_query()->mutable_match_all();
  if (!IsBlank(c.req.body)) {
    CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
    std::optional<Json> body = ParseJson(c.req.body);
    if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
    for (auto it = body->begin(); it != body->end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      auto integer = [&](int64_t* out) -> absl::Status {
        std::optional<int64_t> n = JsonInteger(value);
        if (!n.has_value()) {
          return ParsingError(
              absl::StrCat("[", key, "] failed to parse field"));
        }
        *out = *n;
        return absl::OkStatus();
      };
      if (key == "query") {
        search.clear_query();
        CO_RETURN_IF_ERROR(rest::ParseQuery(value, *search.mutable_query()));
      } else if (key == "sort") {
        search.clear_sort();
        CO_RETURN_IF_ERROR(rest::ParseSort(value, *search.mutable_sort()));
      } else if (key == "search_after") {
        if (!value.is_array()) {
          co_return ParsingError("[search_after] failed to parse field");
        }
        search.clear_search_after();
        for (const Json& v : value) {
          pb::SortValue* after = search.add_search_after();
          // The sentinels a missing value prints as (SortValueJson) read
          // back as missing.
          if (v.is_null() || v == "Infinity" || v == "-Infinity" ||
              v == std::numeric_limits<int64_t>::max() ||
              v == std::numeric_limits<int64_t>::min()) {
            after->set_missing(true);
          } else if (v.is_number_integer()) {
            after->set_long_value(v.get<int64_t>());
          } else if (v.is_number()) {
            after->set_double_value(v.get<double>());
          } else if (v.is_string()) {
            after->set_string_value(rest::ValidUtf8(v.get<std::string>()));
          } else if (v.is_boolean()) {
            after->set_long_value(v.get<bool>() ? 1 : 0);
          } else {
            co_return ParsingError("[search_after] failed to parse field");
          }
        }
      } else if (key == "track_scores") {
        if (!value.is_boolean()) {
          co_return ParsingError("[track_scores] failed to parse field");
        }
        track_scores = value.get<bool>();
      } else if (key == "size") {
        CO_RETURN_IF_ERROR(integer(&size));
      } else if (key == "from") {
        CO_RETURN_IF_ERROR(integer(&from));
      } else if (key == "seq_no_primary_term" || key == "version") {
        if (!value.is_boolean()) {
          co_return ParsingError(
              absl::StrCat("[", key, "] failed to parse field"));
        }
        (key == "version" ? version : seq_no_primary_term) = value.get<bool>();
      } else if (key == "_source") {
        CO_ASSIGN_OR_RETURN(source, SourceSpecFromJson(value, "_source"));
      } else if (key == "stored_fields") {
        std::vector<std::string> fields;
        if (value.is_string()) {
          fields.push_back(value.get<std::string>());
        } else if (value.is_array()) {
          for (const Json& field : value) {
            if (!field.is_string()) {
              co_return ParsingError(
                  "Expected [VALUE_STRING] in [stored_fields] but found [" +
                  TokenName(field) + "]");
            }
            fields.push_back(field.get<std::string>());
          }
        } else {
          co_return ParsingError(absl::StrCat(
              "Unknown key for a ", TokenName(value), " in [stored_fields]."));
        }
        stored_fields = std::move(fields);
      } else if (key == "track_total_hits") {
        if (value.is_boolean()) {
          track_total_hits = value.get<bool>() ? std::optional<int64_t>()
                                               : std::optional<int64_t>(-1);
        } else if (value.is_number_integer()) {
          track_total_hits = value.get<int64_t>();
          if (*track_total_hits < 0) {
            co_return IllegalArgument(
                "[track_total_hits] parameter must be positive or equals to "
                "-1, got " +
                absl::StrCat(*track_total_hits));
          }
        } else {
          co_return ParsingError(
              absl::StrCat("[track_total_hits] failed to parse field"));
        }
      } else if (key == "timeout") {
        // Accepted: a seqsim search never times out before it is answered.
      } else {
        co_return ParsingError(absl::StrCat(
            "Unknown key for a ", TokenName(value), " in [", key, "]."));
      }
    }
  }
  // Elasticsearch 8 reads size=-1 in the URL as "the default size" (with a
  // deprecation warning); other negatives are refused below.
  bool default_size_warning = false;
  if (c.Has("size")) {
    int64_t url_size = 0;
    CO_ASSIGN_OR_RETURN(url_size, rest::ParseInt("size", c.Param("size")));
    if (url_size == -1) {
      default_size_warning = true;
    } else {
      size = url_size;
    }
  }
  if (c.Has("from")) {
    CO_ASSIGN_OR_RETURN(from, rest::ParseInt("from", c.Param("from")));
  }
  if (c.Has("search_type")) {
    // RestSearchAction: only these two; seqsim runs both the same way (no
    // relevance model, so no distributed term frequencies to gather).
    const std::string search_type = c.Param("search_type");
    if (search_type != "query_then_fetch" &&
        search_type != "dfs_query_then_fetch") {
      co_return IllegalArgument(
          absl::StrCat("No search type for [", search_type, "]"));
    }
  }
  if (c.Has("seq_no_primary_term")) {
    CO_ASSIGN_OR_RETURN(
        seq_no_primary_term,
        rest::ParseBool("seq_no_primary_term", c.Param("seq_no_primary_term")));
  }
  if (c.Has("version")) {
    CO_ASSIGN_OR_RETURN(version,
                        rest::ParseBool("version", c.Param("version")));
  }
  CO_ASSIGN_OR_RETURN(total_as_int,
                      BoolParam(c, "rest_total_hits_as_int", false));
  if (c.Has("sort")) {
    // Added after the body's keys, as RestSearchAction adds them.
    CO_RETURN_IF_ERROR(
        rest::ParseSortParam(c.Param("sort"), *search.mutable_sort()));
  }
  CO_ASSIGN_OR_RETURN(track_scores, BoolParam(c, "track_scores", track_scores));
  if (SourceSpec from_url = SourceSpecFromParams(c); from_url.given) {
    source = std::move(from_url);
  }
  if (c.Has("stored_fields"))
    stored_fields = CommaList(c.Param("stored_fields"));
  if (c.Has("track_total_hits")) {
    const std::string value = c.Param("track_total_hits");
    if (value == "true" || value.empty()) {
      track_total_hits.reset();
    } else if (value == "false") {
      track_total_hits = -1;
    } else {
      CO_ASSIGN_OR_RETURN(int64_t n, rest::ParseInt("track_total_hits", value));
      if (n < 0) {
        co_return IllegalArgument(absl::StrCat(
            "[track_total_hits] parameter must be positive or equals to -1, "
            "got ",
            n));
      }
      track_total_hits = n;
    }
  }
  if (total_as_int && track_total_hits.has_value() && *track_total_hits != -1 &&
      *track_total_hits != 10000) {
    // Elasticsearch: an exact int total needs every hit counted.
    co_return IllegalArgument(
        "[rest_total_hits_as_int] cannot be used if the tracking of total "
        "hits is not accurate, got " +
        absl::StrCat(*track_total_hits));
  }
  if (search.search_after_size() > 0) {
    if (search.sort_size() == 0) {
      co_return IllegalArgument("Sort must contain at least one field.");
    }
    if (search.search_after_size() != search.sort_size()) {
      co_return IllegalArgument(
          absl::StrCat("search_after has ", search.search_after_size(),
                       " value(s) but sort has ", search.sort_size(), "."));
    }
    if (from != 0) {
      co_return ValidationFailed(
          {"`from` parameter must be set to 0 when `search_after` is used"});
    }
  }
  bool no_metadata = false;
  if (stored_fields.has_value()) {
    no_metadata = std::find(stored_fields->begin(), stored_fields->end(),
                            "_none_") != stored_fields->end();
    if (no_metadata && source.given && source.fetch) {
      co_return EsStatus(absl::StatusCode::kInvalidArgument,
                         "search_phase_execution_exception",
                         "[stored_fields] cannot be disabled if [_source] is "
                         "requested");
    }
    if (!source.given) {
      source.fetch = std::find(stored_fields->begin(), stored_fields->end(),
                               "_source") != stored_fields->end();
    }
  }
  if (size < 0) {
    co_return IllegalArgument(absl::StrCat(
        "[size] parameter cannot be negative, found [", size, "]"));
  }
  if (from < 0) {
    co_return IllegalArgument(absl::StrCat(
        "[from] parameter cannot be negative but was [", from, "]"));
  }
  // Both are non-negative here, so their sum fits in 64 unsigned bits.
  const uint64_t window =
      static_cast<uint64_t>(from) + static_cast<uint64_t>(size);
  if (window > kDefaultMaxResultWindow) {
    co_return IllegalArgument(
        ResultWindowTooLarge(kDefaultMaxResultWindow, window));
  }
  search.set_size(static_cast<int32_t>(size));
  search.set_from(static_cast<int32_t>(from));
  std::optional<Reply> refused;
  CO_ASSIGN_OR_RETURN(const pb::SearchResponse response,
                      co_await RunSearch(c, indices, search, &refused));
  if (refused.has_value()) co_return *std::move(refused);
  HitsShown shown;
  shown.track_scores = track_scores;
  shown.total_as_int = total_as_int;
  shown.track_total_hits = track_total_hits;
  shown.no_metadata = no_metadata;
  shown.version = version;
  shown.seq_no_primary_term = seq_no_primary_term;
  shown.source = source;
  Reply out;
  out.body = SearchBody(response, search.sort(), shown);
  if (default_size_warning) {
    out.headers.emplace_back(
        "Warning",
        "299 Elasticsearch-8.11.0 \"Using search size of -1 is deprecated and "
        "will be removed in future versions. Instead, don't use the `size` "
        "parameter if you don't want to set it explicitly.\"");
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::Count(const Ctx& c,
                                                  std::string indices) {
  pb::SearchRequest search;
  search.mutable_query()->mutable_match_all();
  if (!IsBlank(c.req.body)) {
    CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
    std::optional<Json> body = ParseJson(c.req.body);
    if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
    for (auto it = body->begin(); it != body->end(); ++it) {
      if (it.key() != "query") {
        co_return ParsingError(
            absl::StrCat("request does not support [", it.key(), "]"));
      }
      search.clear_query();
      CO_RETURN_IF_ERROR(rest::ParseQuery(it.value(), *search.mutable_query()));
    }
  }
  search.set_size(0);
  std::optional<Reply> refused;
  CO_ASSIGN_OR_RETURN(
      const pb::SearchResponse response,
      co_await RunSearch(c, indices, std::move(search), &refused));
  if (refused.has_value()) co_return *std::move(refused);
  Reply out;
  out.body["count"] = response.total();
  out.body["_shards"] = SearchShardsJson(response.shards());
  co_return out;
}

}  // namespace seqsim::rest
