// Elasticsearch's JSON at the REST layer: replies, error bodies, stored
// sources, document bodies (see es_json.h).
#include "node/rest/es_json.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <cstdint>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/es_error.h"

namespace seqsim::rest {

Reply ErrorReply(const pb::Error& error) {
  Reply reply;
  reply.status = error.status() == 0 ? 500 : error.status();
  reply.body = rest::ErrorBody(error);
  reply.error = true;
  return reply;
}

Reply StatusReply(const absl::Status& status) {
  return ErrorReply(ToError(status));
}

// {"error":"MESSAGE","status":N}: the shape Elasticsearch's RestController
// gives the errors it raises before any handler runs (405, 406).
Reply SimpleErrorReply(int status, const std::string& message) {
  Reply reply;
  reply.status = status;
  reply.body["error"] = message;
  reply.body["status"] = status;
  reply.error = true;
  return reply;
}

// Parses `text` as JSON; nullopt when it is not valid JSON or nests deeper
// than rest::kMaxJsonDepth (callers that answer the depth error check
// rest::CheckJsonDepth first).
std::optional<Json> ParseJson(const std::string& text) {
  if (!rest::CheckJsonDepth(text).ok()) return std::nullopt;
  Json parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// Stored sources travel through a reply's Json as marked strings and are
// written out byte for byte when the reply is rendered (Elasticsearch returns
// the source as sent: 123456789012345678901234567890 is not re-serialized as
// a double). The mark starts with a per-process random id no document holds.
const std::string& RawMark() {
  static const std::string* const mark =
      new std::string(absl::StrCat("\x01", rest::GenerateId(), "\x01"));
  return *mark;
}

bool IsRawSource(const Json& value) {
  return value.is_string() &&
         absl::StartsWith(value.get_ref<const std::string&>(), RawMark());
}

// Replaces every marked source under `value` by its parsed form (for
// filter_path paths that select fields inside a source).
void ParseRawSources(Json& value) {
  if (IsRawSource(value)) {
    value = Json::parse(
        value.get_ref<const std::string&>().substr(RawMark().size()), nullptr,
        /*allow_exceptions=*/false);
    return;
  }
  if (value.is_structured()) {
    for (Json& child : value) ParseRawSources(child);
  }
}

// Replaces every marked source under `value` by a short token (mark, '#',
// position in `raw`) and moves its bytes to `raw`.
void ExtractRawSources(Json& value, std::vector<std::string>& raw) {
  if (IsRawSource(value)) {
    raw.push_back(value.get_ref<const std::string&>().substr(RawMark().size()));
    value = Json(absl::StrCat(RawMark(), "#", raw.size() - 1));
    return;
  }
  if (value.is_structured()) {
    for (Json& child : value) ExtractRawSources(child, raw);
  }
}

// `text` (a rendered reply) with each token of ExtractRawSources replaced by
// its source, pretty-printed at the token's depth when `pretty`.
std::string SpliceRawSources(const std::string& text,
                             const std::vector<std::string>& raw, bool pretty) {
  if (raw.empty()) return text;
  const std::string token =
      Json(absl::StrCat(RawMark(), "#"))
          .dump(-1, ' ', false, Json::error_handler_t::replace);
  // The dumped token without its closing quote (the mark escaped, then #).
  const std::string open = token.substr(0, token.size() - 1);
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t found = text.find(open, at);
    if (found == std::string::npos) break;
    size_t end = found + open.size();
    size_t index = 0;
    while (end < text.size() && absl::ascii_isdigit(text[end])) {
      index = index * 10 + static_cast<size_t>(text[end] - '0');
      ++end;
    }
    if (end >= text.size() || text[end] != '"' || index >= raw.size()) {
      out.append(text, at, end - at);
      at = end;
      continue;
    }
    out.append(text, at, found - at);
    if (pretty) {
      const size_t line = out.rfind('\n');
      size_t spaces = 0;
      for (size_t k = line == std::string::npos ? 0 : line + 1;
           k < out.size() && out[k] == ' '; ++k) {
        ++spaces;
      }
      out += rest::PrettyRawJson(raw[index], static_cast<int>(spaces / 2));
    } else {
      out += raw[index];
    }
    at = end + 1;
  }
  out.append(text, at, std::string::npos);
  return out;
}

// A stored document for embedding in a reply: written out as stored when it
// is JSON, else kept as a string.
Json SourceJson(const std::string& bytes) {
  if (rest::CheckJsonDepth(bytes).ok() && Json::accept(bytes)) {
    return Json(absl::StrCat(RawMark(), bytes));
  }
  return Json(bytes);
}

// The source to show under `spec`: as stored when nothing is filtered, else
// filtered (nullopt when not fetched).
std::optional<Json> ShownSource(const std::string& bytes,
                                const SourceSpec& spec) {
  if (!spec.fetch) return std::nullopt;
  if (spec.includes.empty() && spec.excludes.empty()) return SourceJson(bytes);
  std::optional<Json> parsed = ParseJson(bytes);
  if (!parsed.has_value()) return Json(bytes);
  return rest::FilterSource(*parsed, spec.includes, spec.excludes);
}

std::string TokenName(const Json& value) {
  if (value.is_object()) return "START_OBJECT";
  if (value.is_array()) return "START_ARRAY";
  if (value.is_string()) return "VALUE_STRING";
  if (value.is_boolean()) return "VALUE_BOOLEAN";
  if (value.is_null()) return "VALUE_NULL";
  return "VALUE_NUMBER";
}

Json ShardsJson(const pb::ShardsInfo& shards) {
  Json out = Json::object();
  out["total"] = shards.total();
  out["successful"] = shards.successful();
  out["failed"] = shards.failed();
  if (shards.failures_size() > 0) {
    Json failures = Json::array();
    for (const pb::ShardFailure& failure : shards.failures()) {
      Json f = Json::object();
      f["_index"] = failure.index();
      f["_shard"] = failure.shard();
      f["_node"] = failure.node();
      f["reason"] = Json{{"type", "exception"}, {"reason", failure.reason()}};
      f["status"] = failure.status();
      f["primary"] = failure.primary();
      failures.push_back(std::move(f));
    }
    out["failures"] = std::move(failures);
  }
  return out;
}

// 404 for a write with require_alias=true to `index`, which is not an alias.
pb::Error RequireAliasError(const std::string& index) {
  pb::Error error =
      rest::MakeError(404, "index_not_found_exception",
                      absl::StrCat("no such index [", index,
                                   "] and [require_alias] request "
                                   "flag is [true] and [",
                                   index, "] is not an alias"));
  error.set_index(index);
  error.set_index_uuid("_na_");
  return error;
}

int WriteHttpStatus(const pb::WriteResponse& response) {
  if (response.result() == "created") return 201;
  if (response.result() == "not_found") return 404;
  return 200;
}

// _index, _id, _version, result, _shards, _seq_no, _primary_term (+ get for
// update, its _source shaped by `source`).
Json WriteJson(const pb::WriteResponse& response,
               const pb::WriteRequest& request, const SourceSpec& source) {
  Json out = Json::object();
  out["_index"] = response.index().empty() ? request.index() : response.index();
  out["_id"] = response.id().empty() ? request.id() : response.id();
  out["_version"] = response.version();
  out["result"] = response.result();
  // refresh=true: Elasticsearch refreshed the copies before answering.
  if (request.refresh() == "true" && response.result() != "noop") {
    out["forced_refresh"] = true;
  }
  out["_shards"] = ShardsJson(response.shards());
  out["_seq_no"] = response.seq_no();
  out["_primary_term"] = response.primary_term();
  if (request.kind() == pb::WriteRequest::UPDATE && request.return_source() &&
      !response.source().empty()) {
    Json get = Json::object();
    get["_seq_no"] = response.seq_no();
    get["_primary_term"] = response.primary_term();
    get["found"] = true;
    if (std::optional<Json> shown = ShownSource(response.source(), source)) {
      get["_source"] = *std::move(shown);
    }
    out["get"] = std::move(get);
  }
  return out;
}

// A shard's refusal of the query (a sort on a text field, ...), as
// Elasticsearch reports it when every shard fails the query phase.
Reply SearchPhaseFailure(const pb::Error& error) {
  Json cause = Json::object();
  cause["type"] = error.type();
  cause["reason"] = error.reason();
  Json failure = Json::object();
  failure["shard"] = 0;
  failure["index"] = error.index();
  failure["reason"] = cause;
  if (!error.shard().empty()) {
    int shard = 0;
    if (absl::SimpleAtoi(error.shard(), &shard)) failure["shard"] = shard;
  }
  Json inner = Json::object();
  inner["root_cause"] = Json::array({cause});
  inner["type"] = "search_phase_execution_exception";
  inner["reason"] = "all shards failed";
  inner["phase"] = "query";
  inner["grouped"] = true;
  inner["failed_shards"] = Json::array({failure});
  inner["caused_by"] = cause;
  Reply reply;
  reply.status = error.status();
  reply.body["error"] = std::move(inner);
  reply.body["status"] = error.status();
  reply.error = true;
  return reply;
}

// A search or count's error: a shard's refusal of the query (it names its
// index) as a search-phase failure; the coordinating node's own refusals (a
// bad preference) as plain errors.
Reply SearchErrorReply(const pb::Error& error) {
  if (error.status() == 400 && !error.index().empty())
    return SearchPhaseFailure(error);
  return ErrorReply(error);
}

// A hit's sort value as Elasticsearch prints it; a missing one as the value
// Elasticsearch substitutes (Long.MAX_VALUE / MIN_VALUE for numbers sorted
// last / first, infinities for doubles, null for strings).
Json SortValueJson(const pb::SortValue& value, const pb::SortField& key,
                   bool numeric, bool floating) {
  if (value.has_long_value()) return value.long_value();
  if (value.has_double_value()) return value.double_value();
  if (value.has_string_value()) return value.string_value();
  const bool high = key.missing_first() == key.descending();
  if (floating) return high ? "Infinity" : "-Infinity";
  if (numeric) {
    return high ? std::numeric_limits<int64_t>::max()
                : std::numeric_limits<int64_t>::min();
  }
  return nullptr;
}

void AddGetFields(const pb::GetResponse& get, const SourceSpec& source,
                  Json& body) {
  if (!get.found()) {
    body["found"] = false;
    return;
  }
  body["_version"] = get.version();
  body["_seq_no"] = get.seq_no();
  body["_primary_term"] = get.primary_term();
  if (!get.routing().empty()) body["_routing"] = get.routing();
  body["found"] = true;
  if (std::optional<Json> shown = ShownSource(get.source(), source)) {
    body["_source"] = *std::move(shown);
  }
}

Json SearchShardsJson(const pb::ShardsInfo& shards) {
  Json out = Json::object();
  out["total"] = shards.total();
  out["successful"] = shards.successful();
  out["skipped"] = 0;
  out["failed"] = shards.failed();
  return out;
}

Json SearchBody(const pb::SearchResponse& response,
                const google::protobuf::RepeatedPtrField<pb::SortField>& sort,
                const HitsShown& options) {
  const bool track_scores = options.track_scores;
  const bool total_as_int = options.total_as_int;
  const std::optional<int64_t>& track_total_hits = options.track_total_hits;
  const bool no_metadata = options.no_metadata;
  const bool version = options.version;
  const bool seq_no_primary_term = options.seq_no_primary_term;
  const SourceSpec& source = options.source;
  // Scores: every hit scores 1.0 (no relevance model); with a sort they are
  // left out unless a key is _score or track_scores asks for them.
  bool scored = sort.empty() || track_scores;
  for (const pb::SortField& key : sort) scored |= key.field() == "_score";
  const Json score = scored ? Json(1.0) : Json(nullptr);
  const bool max_score_shown =
      sort.empty() || track_scores || sort[0].field() == "_score";
  // Per sort key: whether any hit holds a number (a long or a double), which
  // decides how a missing value prints.
  std::vector<bool> numeric(sort.size()), floating(sort.size());
  for (const pb::SearchHit& hit : response.hits()) {
    for (int i = 0; i < hit.sort_values_size() && i < sort.size(); ++i) {
      numeric[i] = numeric[i] || hit.sort_values(i).has_long_value() ||
                   hit.sort_values(i).has_double_value();
      floating[i] = floating[i] || hit.sort_values(i).has_double_value();
    }
  }
  Json out = Json::object();
  out["took"] = response.took_ms();
  out["timed_out"] = false;
  out["_shards"] = SearchShardsJson(response.shards());
  Json hits = Json::object();
  if (total_as_int) {
    // Elasticsearch prints -1 when the total is not tracked at all.
    hits["total"] = track_total_hits == std::optional<int64_t>(-1)
                        ? Json(-1)
                        : Json(response.total());
  } else if (!track_total_hits.has_value() ||
             response.total() <= *track_total_hits) {
    hits["total"] = Json{{"value", response.total()}, {"relation", "eq"}};
  } else if (*track_total_hits >= 0) {
    hits["total"] = Json{{"value", *track_total_hits}, {"relation", "gte"}};
  }
  hits["max_score"] =
      response.hits_size() > 0 && max_score_shown ? Json(1.0) : Json(nullptr);
  Json list = Json::array();
  for (const pb::SearchHit& hit : response.hits()) {
    Json h = Json::object();
    h["_index"] = hit.index();
    if (!no_metadata) {
      h["_id"] = hit.id();
      if (version) h["_version"] = hit.version();
      if (seq_no_primary_term) {
        h["_seq_no"] = hit.seq_no();
        h["_primary_term"] = hit.primary_term();
      }
    }
    h["_score"] = score;
    if (!no_metadata) {
      if (!hit.routing().empty()) h["_routing"] = hit.routing();
      if (std::optional<Json> shown = ShownSource(hit.source(), source)) {
        h["_source"] = *std::move(shown);
      }
    }
    if (!sort.empty()) {
      Json values = Json::array();
      for (int i = 0; i < sort.size() && i < hit.sort_values_size(); ++i) {
        values.push_back(SortValueJson(hit.sort_values(i), sort[i], numeric[i],
                                       floating[i]));
      }
      h["sort"] = std::move(values);
    }
    list.push_back(std::move(h));
  }
  hits["hits"] = std::move(list);
  out["hits"] = std::move(hits);
  return out;
}

}  // namespace seqsim::rest
