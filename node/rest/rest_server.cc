#include "node/rest/rest_server.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/this_coro.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "common/validation.h"
#include "coordinator/logic/coordinator.h"
#include "node/rest/co_status.h"
#include "node/rest/http_server.h"
#include "node/rest/query_dsl.h"
#include "node/rest/rest_util.h"
#include "spdlog/spdlog.h"

namespace seqsim {
namespace {

namespace asio = boost::asio;
using rest::Json;

constexpr absl::Duration kDefaultDispatchTimeout = absl::Seconds(60);
constexpr absl::Duration kNodeStatusTimeout = absl::Seconds(5);
// How often a _cluster/health wait re-reads the cluster state.
constexpr absl::Duration kHealthPollInterval = absl::Milliseconds(100);

// One HTTP answer before rendering (filter_path, pretty, content type).
struct Reply {
  int status = 200;
  Json body = Json::object();
  std::optional<std::string> text;  // text/plain (_cat tables) instead of JSON
  std::vector<std::pair<std::string, std::string>> headers;
  // An error body: Elasticsearch renders these without filter_path.
  bool error = false;
};

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

// The request as the handlers see it.
struct Ctx {
  const http::Request& req;
  std::vector<std::string> segments;

  bool Has(const std::string& key) const { return req.HasParam(key); }
  std::string Param(const std::string& key) const {
    return rest::ValidUtf8(req.Param(key));
  }
  const std::string& Index() const { return segments[0]; }
};

absl::StatusOr<bool> BoolParam(const Ctx& c, const std::string& key,
                               bool fallback) {
  if (!c.Has(key)) return fallback;
  return rest::ParseBool(key, c.Param(key));
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

bool IsBlank(const std::string& text) {
  return absl::StripAsciiWhitespace(text).empty();
}

absl::Status BodyRequired() {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  "request body is required");
}

absl::Status BodyUnparsable() {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  "Failed to parse content to map");
}

pb::Error DocumentUnparsable() {
  return rest::MakeError(400, "mapper_parsing_exception", "failed to parse");
}

// A JSON integer, or a string holding one (Elasticsearch accepts both in
// settings).
std::optional<int64_t> JsonInteger(const Json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  int64_t parsed = 0;
  if (value.is_string() &&
      absl::SimpleAtoi(value.get<std::string>(), &parsed)) {
    return parsed;
  }
  return std::nullopt;
}

std::string TokenName(const Json& value);

// What of `_source` a reply shows: Elasticsearch's FetchSourceContext.
struct SourceSpec {
  bool fetch = true;
  bool given = false;  // a _source parameter or field was present
  std::vector<std::string> includes;
  std::vector<std::string> excludes;
};

std::vector<std::string> CommaList(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(part);
    if (!trimmed.empty()) out.emplace_back(trimmed);
  }
  return out;
}

// `_source` ("true", "false" or includes), `_source_includes`,
// `_source_excludes` URL parameters.
SourceSpec SourceSpecFromParams(const Ctx& c) {
  SourceSpec spec;
  if (c.Has("_source")) {
    spec.given = true;
    const std::string value = c.Param("_source");
    if (value == "false") {
      spec.fetch = false;
    } else if (value != "true" && !value.empty()) {
      spec.includes = CommaList(value);
    }
  }
  if (c.Has("_source_includes")) {
    spec.given = true;
    spec.includes = CommaList(c.Param("_source_includes"));
  }
  if (c.Has("_source_excludes")) {
    spec.given = true;
    spec.excludes = CommaList(c.Param("_source_excludes"));
  }
  return spec;
}

// A `_source` field of a body: true/false, a pattern, a list of patterns, or
// {"includes": ..., "excludes": ...}.
absl::StatusOr<SourceSpec> SourceSpecFromJson(const Json& value,
                                              const std::string& where) {
  SourceSpec spec;
  spec.given = true;
  auto patterns = [&](const Json& list,
                      std::vector<std::string>* out) -> absl::Status {
    if (list.is_string()) {
      out->push_back(list.get<std::string>());
      return absl::OkStatus();
    }
    if (!list.is_array()) {
      return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                      absl::StrCat("Unknown key for a ", TokenName(list),
                                   " in [", where, "]."));
    }
    for (const Json& pattern : list) {
      if (!pattern.is_string()) {
        return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                        absl::StrCat("Unknown key for a ", TokenName(pattern),
                                     " in [", where, "]."));
      }
      out->push_back(pattern.get<std::string>());
    }
    return absl::OkStatus();
  };
  if (value.is_boolean()) {
    spec.fetch = value.get<bool>();
  } else if (value.is_string() || value.is_array()) {
    RETURN_IF_ERROR(patterns(value, &spec.includes));
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() == "includes" || it.key() == "include") {
        RETURN_IF_ERROR(patterns(it.value(), &spec.includes));
      } else if (it.key() == "excludes" || it.key() == "exclude") {
        RETURN_IF_ERROR(patterns(it.value(), &spec.excludes));
      } else {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "parsing_exception",
            absl::StrCat("Unknown key for a ", TokenName(it.value()), " in [",
                         it.key(), "]."));
      }
    }
  } else {
    return EsStatus(
        absl::StatusCode::kInvalidArgument, "parsing_exception",
        absl::StrCat("Expected one of [VALUE_BOOLEAN, VALUE_STRING, "
                     "START_ARRAY, START_OBJECT] but found [",
                     TokenName(value), "]"));
  }
  return spec;
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

// The node refused a write's index name because no such index exists or
// because it names an alias: the name may be an alias to resolve.
bool MayNameAnAlias(const pb::Error& error) {
  return error.type() == "index_not_found_exception" ||
         (error.type() == "invalid_index_name_exception" &&
          absl::EndsWith(error.reason(), "already exists as alias"));
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

std::string ContentTypeFor(const http::Request& req) {
  for (const char* header : {"Accept", "Content-Type"}) {
    std::string value = absl::AsciiStrToLower(req.Header(header));
    if (!absl::StrContains(value, "application/vnd.elasticsearch+")) continue;
    size_t at = value.find("compatible-with=");
    std::string version = "8";
    if (at != std::string::npos) {
      size_t start = at + strlen("compatible-with=");
      size_t end = start;
      while (end < value.size() && absl::ascii_isdigit(value[end])) ++end;
      if (end > start) version = value.substr(start, end - start);
    }
    return absl::StrCat("application/vnd.elasticsearch+json;compatible-with=",
                        version);
  }
  return "application/json; charset=UTF-8";
}

int HealthRank(const std::string& status) {
  if (status == "green") return 2;
  if (status == "yellow") return 1;
  return 0;
}

const pb::IndexMeta* FindIndex(const pb::ClusterState& state,
                               const std::string& name) {
  for (const pb::IndexMeta& index : state.indices()) {
    if (index.name() == name) return &index;
  }
  return nullptr;
}

// How an index expression resolves, as Elasticsearch's IndicesOptions:
// ignore_unavailable skips names that do not exist, allow_no_indices accepts
// an expression that resolves to nothing, expand_wildcards says which indices
// a wildcard reaches (every index here is open and none is hidden).
struct IndicesOptions {
  bool ignore_unavailable = false;
  bool allow_no_indices = true;
  bool expand_open = true;
};

// The options of the request's ignore_unavailable, allow_no_indices and
// expand_wildcards parameters, over `defaults`.
absl::StatusOr<IndicesOptions> IndicesOptionsOf(const Ctx& c,
                                                IndicesOptions defaults = {}) {
  IndicesOptions options = defaults;
  ASSIGN_OR_RETURN(
      options.ignore_unavailable,
      BoolParam(c, "ignore_unavailable", defaults.ignore_unavailable));
  ASSIGN_OR_RETURN(options.allow_no_indices,
                   BoolParam(c, "allow_no_indices", defaults.allow_no_indices));
  if (c.Has("expand_wildcards")) {
    options.expand_open = false;
    for (absl::string_view value :
         absl::StrSplit(c.Param("expand_wildcards"), ',')) {
      const std::string lower = absl::AsciiStrToLower(value);
      if (lower == "open" || lower == "all") {
        options.expand_open = true;
      } else if (lower == "none") {
        options.expand_open = false;
      } else if (lower != "closed" && lower != "hidden") {
        return IllegalArgument(
            absl::StrCat("No valid expand wildcard value [", value, "]"));
      }
    }
  }
  return options;
}

// Whether `name` matches `pattern`, whose '*' match any run of characters
// (Elasticsearch's Regex.simpleMatch).
bool SimpleMatch(absl::string_view pattern, absl::string_view name) {
  size_t p = 0, n = 0, star = absl::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

// The indices the alias `name` points to, in state order.
std::vector<std::string> AliasIndices(const pb::ClusterState& state,
                                      const std::string& name) {
  std::vector<std::string> out;
  for (const pb::IndexMeta& index : state.indices()) {
    if (std::find(index.aliases().begin(), index.aliases().end(), name) !=
        index.aliases().end())
      out.push_back(index.name());
  }
  return out;
}

bool IsAllExpression(const std::string& expression) {
  return expression.empty() || expression == "_all" || expression == "*";
}

// The indices an expression names, as Elasticsearch's
// IndexNameExpressionResolver: a comma list of names and '*' patterns, "_all"
// (or nothing) for every index, and, after a wildcard, "-name" or "-pattern"
// taking indices out again; in state order, each once. A missing name is an
// index_not_found error (unless ignore_unavailable), and so is an expression
// that resolves to nothing when allow_no_indices is false. The error's body
// goes to `missing`.
absl::StatusOr<std::vector<const pb::IndexMeta*>> ResolveIndices(
    const pb::ClusterState& state, const std::string& expression,
    pb::Error* missing, const IndicesOptions& options = {}) {
  std::set<std::string> chosen;
  auto not_found = [&](const std::string& name) -> absl::Status {
    *missing = ToError(IndexNotFound(name), name, "_na_");
    return IndexNotFound(name);
  };
  if (IsAllExpression(expression)) {
    if (options.expand_open) {
      for (const pb::IndexMeta& index : state.indices())
        chosen.insert(index.name());
    }
  } else {
    bool wildcard_seen = false;
    for (absl::string_view part : absl::StrSplit(expression, ',')) {
      const std::string name(part);
      if (name.empty()) continue;
      const bool exclusion = wildcard_seen && absl::StartsWith(name, "-");
      const std::string pattern = exclusion ? name.substr(1) : name;
      const bool wildcard = absl::StrContains(pattern, '*');
      if (exclusion) {
        for (auto it = chosen.begin(); it != chosen.end();) {
          it = SimpleMatch(pattern, *it) ? chosen.erase(it) : std::next(it);
        }
        continue;
      }
      if (wildcard) {
        wildcard_seen = true;
        bool matched = false;
        if (options.expand_open) {
          for (const pb::IndexMeta& index : state.indices()) {
            bool hit = SimpleMatch(pattern, index.name());
            for (const std::string& alias : index.aliases())
              hit = hit || SimpleMatch(pattern, alias);
            if (hit) {
              chosen.insert(index.name());
              matched = true;
            }
          }
        }
        if (!matched && !options.allow_no_indices) return not_found(name);
        continue;
      }
      if (FindIndex(state, name) != nullptr) {
        chosen.insert(name);
        continue;
      }
      // An alias names the indices it points to.
      std::vector<std::string> pointed = AliasIndices(state, name);
      if (pointed.empty()) {
        if (options.ignore_unavailable) continue;
        return not_found(name);
      }
      chosen.insert(pointed.begin(), pointed.end());
    }
  }
  std::vector<const pb::IndexMeta*> out;
  for (const pb::IndexMeta& index : state.indices()) {
    if (chosen.count(index.name()) > 0) out.push_back(&index);
  }
  if (out.empty() && !options.allow_no_indices) {
    return not_found(IsAllExpression(expression) ? "_all" : expression);
  }
  return out;
}

std::string HostOf(const std::string& address) {
  size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

class RestServer::Impl {
 public:
  Impl(Dispatcher* dispatcher, RestOptions options)
      : dispatcher_(dispatcher), options_(std::move(options)) {
    BuildRoutes();
  }

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  template <typename T>
  using Async = asio::awaitable<T>;
  using Handler = std::function<Async<absl::StatusOr<Reply>>(const Ctx&)>;
  struct MethodHandler {
    std::vector<std::string> methods;
    std::vector<std::string> params;
    Handler handler;
  };
  struct RouteEntry {
    std::vector<std::string> pattern;  // "*" matches any one segment
    std::vector<MethodHandler> handlers;
  };
  // Whether dispatcher replies may still be handed to the IO threads (false
  // once Stop() began).
  struct Liveness {
    absl::Mutex mu;
    bool alive ABSL_GUARDED_BY(mu) = true;
  };

  void BuildRoutes();
  Async<http::Response> Serve(http::Request& req);
  Async<Reply> RouteRequest(const http::Request& req);
  http::Response Render(const http::Request& req, const Reply& reply) const;
  http::Response ProtocolError(int status, const std::string& method,
                               const std::string& path) const;

  // Wraps `fn` so that it runs on the strand of `waiter->timer` (the waiting
  // request's) when the dispatcher replies, on whatever thread. The reply
  // holds `waiter` only weakly and no Asio object at all, since a dispatcher
  // may keep it after Stop() destroyed the IO context: a reply after Stop(),
  // or after the request stopped waiting, is dropped.
  template <typename Waiter>
  DispatchReply ResumeOn(
      const std::shared_ptr<Waiter>& waiter,
      std::function<void(Waiter&, absl::StatusOr<pb::Envelope>)> fn) const;
  // Dispatches and suspends until the reply (or `timeout`): holds no thread.
  Async<absl::StatusOr<pb::Envelope>> Call(
      pb::Envelope request, absl::Duration timeout = kDefaultDispatchTimeout);
  // The node's applied cluster state, or (from_coordinator) the
  // coordinator's current one, as Elasticsearch reads the elected master's.
  // The node's error (503 while it has no state, or cannot reach the
  // coordinator) as a status.
  Async<absl::StatusOr<pb::ClusterState>> GetState(
      bool from_coordinator = false);
  // `request` sent to every live node of `state`; the replies by node id
  // (silent nodes, and those that fail, are left out after a timeout).
  Async<std::map<std::string, pb::Envelope>> AskEveryNode(
      const pb::ClusterState& state, const pb::Envelope& request);
  // node_status of every node in `state`, by node id; silent nodes are left
  // out.
  Async<std::map<std::string, pb::NodeStatusResponse>> NodeStatuses(
      const pb::ClusterState& state);

  absl::Status ApplyWriteParams(const Ctx& c, pb::WriteRequest& write);
  // Sends one write; `source` shapes an update's "get" (with return_source).
  // require_alias: the name must be an alias.
  Async<absl::StatusOr<Reply>> Write(const pb::WriteRequest& write,
                                     SourceSpec source = {},
                                     bool require_alias = false);

  Async<absl::StatusOr<Reply>> Root(const Ctx& c);
  Async<absl::StatusOr<Reply>> IndexDoc(const Ctx& c, bool create_route);
  Async<absl::StatusOr<Reply>> GetDoc(const Ctx& c, bool source_only);
  Async<absl::StatusOr<Reply>> DeleteDoc(const Ctx& c);
  Async<absl::StatusOr<Reply>> UpdateDoc(const Ctx& c);
  Async<absl::StatusOr<Reply>> Bulk(const Ctx& c, std::string default_index);
  // Resolves `indices` (an index expression) into `search`'s concrete
  // indices; *none when it names none, so that nothing is to be searched.
  // The error reply when it does not resolve.
  Async<std::optional<Reply>> ResolveSearchIndices(const Ctx& c,
                                                   const std::string& indices,
                                                   pb::SearchRequest& search,
                                                   bool* none);
  // _search and _count after parsing: routing and preference from `c`, the
  // index expression resolved, the request run. The response, or in
  // *refused the error reply (an expression that does not resolve, a
  // refused query); an expression naming no index answers an empty response.
  Async<absl::StatusOr<pb::SearchResponse>> RunSearch(
      const Ctx& c, const std::string& indices, pb::SearchRequest search,
      std::optional<Reply>* refused);
  Async<absl::StatusOr<Reply>> Search(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> Count(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> MultiGet(const Ctx& c, std::string index);
  // Dispatches every request at once and suspends until all are answered (or
  // `timeout`); the replies in request order.
  Async<std::vector<absl::StatusOr<pb::Envelope>>> CallAll(
      std::vector<pb::Envelope> requests,
      absl::Duration timeout = kDefaultDispatchTimeout);
  Async<absl::StatusOr<Reply>> CreateIndex(const Ctx& c);
  Async<absl::StatusOr<Reply>> DeleteIndex(const Ctx& c);
  Async<absl::StatusOr<Reply>> GetIndex(const Ctx& c);
  // PUT/DELETE /{index}/_alias/{name} and POST /_aliases.
  Async<absl::StatusOr<Reply>> PutOrDeleteAlias(const Ctx& c, bool remove);
  Async<absl::StatusOr<Reply>> UpdateAliases(const Ctx& c);
  Async<absl::StatusOr<Reply>> SendAliasActions(
      std::vector<pb::AliasAction> actions);
  // GET /_alias[/{name}], GET /{index}/_alias[/{name}].
  Async<absl::StatusOr<Reply>> GetAliases(const Ctx& c, std::string indices,
                                          std::string names);
  Async<absl::StatusOr<Reply>> Refresh(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> CatShards(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> CatIndices(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> Health(const Ctx& c, std::string index);

  // Constant after construction.
  Dispatcher* const dispatcher_;
  const RestOptions options_;
  std::vector<RouteEntry> routes_;
  const std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();

  // Set by Start(), cleared by Stop() (one thread).
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
};

// ---------------------------------------------------------------------------------------
// Routing

namespace {

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

void RestServer::Impl::BuildRoutes() {
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

asio::awaitable<Reply> RestServer::Impl::RouteRequest(
    const http::Request& req) {
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

http::Response RestServer::Impl::Render(const http::Request& req,
                                        const Reply& reply) const {
  http::Response res;
  res.status = reply.status;
  res.headers.emplace_back("X-Elastic-Product", "Elasticsearch");
  for (const auto& [name, value] : reply.headers)
    res.headers.emplace_back(name, value);
  if (reply.text.has_value()) {
    res.content_type = "text/plain; charset=UTF-8";
    res.body = *reply.text;
    return res;
  }
  Json body = reply.body;
  // As in Elasticsearch, filter_path shapes answers, never error bodies.
  if (req.HasParam("filter_path") && !reply.error) {
    const std::string filter_path = req.Param("filter_path");
    if (rest::FilterPathReachesInto(filter_path, "_source")) {
      ParseRawSources(body);
    }
    body = rest::FilterPath(body, filter_path);
  }
  std::vector<std::string> raw;
  ExtractRawSources(body, raw);
  bool pretty = req.HasParam("pretty") && req.Param("pretty") != "false";
  res.body = SpliceRawSources(
      pretty ? rest::EsPretty(body)
             : body.dump(-1, ' ', false, Json::error_handler_t::replace),
      raw, pretty);
  res.content_type = ContentTypeFor(req);
  return res;
}

http::Response RestServer::Impl::ProtocolError(int status,
                                               const std::string& method,
                                               const std::string& path) const {
  pb::Error error;
  if (status == 413) {
    error = rest::MakeError(
        413, "content_too_long_exception",
        absl::StrCat("request body is too large, the maximum is [",
                     options_.max_body_bytes, "] bytes"));
  } else {
    error = rest::MakeError(
        status, "illegal_argument_exception",
        absl::StrCat("malformed HTTP request [", method, " ", path, "]"));
  }
  http::Response res;
  res.status = status;
  res.headers.emplace_back("X-Elastic-Product", "Elasticsearch");
  res.content_type = "application/json; charset=UTF-8";
  res.body = rest::ErrorBody(error).dump(-1, ' ', false,
                                         Json::error_handler_t::replace);
  return res;
}

asio::awaitable<http::Response> RestServer::Impl::Serve(http::Request& req) {
  Reply reply;
  try {
    reply = co_await RouteRequest(req);
  } catch (const std::exception& e) {
    spdlog::warn("rest: request failed with an exception: {}", e.what());
    reply = ErrorReply(rest::MakeError(500, "exception", e.what()));
  }
  co_return Render(req, reply);
}

// ---------------------------------------------------------------------------------------
// Dispatch

namespace {

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  if (d > absl::Hours(24 * 365)) d = absl::Hours(24 * 365);
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

}  // namespace

template <typename Waiter>
DispatchReply RestServer::Impl::ResumeOn(
    const std::shared_ptr<Waiter>& waiter,
    std::function<void(Waiter&, absl::StatusOr<pb::Envelope>)> fn) const {
  return [liveness = liveness_, weak = std::weak_ptr<Waiter>(waiter),
          fn = std::move(fn)](absl::StatusOr<pb::Envelope> reply) mutable {
    // Stop() clears `alive` under `mu` before it stops the IO context, so
    // while it is set the context (and the strand posted to) is alive.
    absl::MutexLock lock(&liveness->mu);
    if (!liveness->alive) return;
    std::shared_ptr<Waiter> strong = weak.lock();
    if (strong == nullptr) return;  // the request no longer waits
    asio::any_io_executor executor = strong->timer.get_executor();
    asio::post(executor, [strong = std::move(strong), fn,
                          reply = std::move(reply)]() mutable {
      fn(*strong, std::move(reply));
    });
  };
}

asio::awaitable<absl::StatusOr<pb::Envelope>> RestServer::Impl::Call(
    pb::Envelope request, absl::Duration timeout) {
  // The timer doubles as the wake-up: the reply cancels it, the deadline
  // fires it; both run on this request's strand.
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::optional<absl::StatusOr<pb::Envelope>> result;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(timeout));
  dispatcher_->Dispatch(
      std::move(request),
      ResumeOn<Pending>(
          pending, [](Pending& waiting, absl::StatusOr<pb::Envelope> reply) {
            if (waiting.result.has_value()) return;
            waiting.result = std::move(reply);
            waiting.timer.cancel();
          }));
  if (!pending->result.has_value()) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!pending->result.has_value()) {
    pending->result =
        EsStatus(absl::StatusCode::kDeadlineExceeded, "timeout_exception",
                 "timed out waiting for the node to answer", 504);
  }
  co_return std::move(*pending->result);
}

asio::awaitable<absl::StatusOr<pb::ClusterState>> RestServer::Impl::GetState(
    bool from_coordinator) {
  pb::Envelope request;
  request.mutable_get_cluster_state()->set_from_coordinator(from_coordinator);
  CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
  if (!reply.has_get_cluster_state_response()) {
    co_return absl::InternalError(
        "node answered get_cluster_state with another message");
  }
  const pb::GetClusterStateResponse& response =
      reply.get_cluster_state_response();
  if (HasError(response.error())) co_return FromError(response.error());
  co_return response.state();
}

asio::awaitable<std::map<std::string, pb::Envelope>>
RestServer::Impl::AskEveryNode(const pb::ClusterState& state,
                               const pb::Envelope& request) {
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    int outstanding = 0;
    std::map<std::string, pb::Envelope> replies;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(kNodeStatusTimeout));
  std::vector<std::string> ids;
  for (const pb::NodeInfo& node : state.nodes()) {
    if (node.alive()) ids.push_back(node.id());
  }
  pending->outstanding = static_cast<int>(ids.size());
  for (const std::string& id : ids) {
    dispatcher_->DispatchTo(
        id, pb::Envelope(request),
        ResumeOn<Pending>(pending, [id](Pending& waiting,
                                        absl::StatusOr<pb::Envelope> reply) {
          if (reply.ok()) waiting.replies[id] = *std::move(reply);
          if (--waiting.outstanding == 0) waiting.timer.cancel();
        }));
  }
  if (pending->outstanding > 0) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  // Late answers change a map nobody reads any more.
  co_return pending->replies;
}

asio::awaitable<std::map<std::string, pb::NodeStatusResponse>>
RestServer::Impl::NodeStatuses(const pb::ClusterState& state) {
  pb::Envelope request;
  request.mutable_node_status();
  std::map<std::string, pb::NodeStatusResponse> statuses;
  for (auto& [id, reply] : co_await AskEveryNode(state, request)) {
    if (reply.has_node_status_response())
      statuses[id] = std::move(*reply.mutable_node_status_response());
  }
  co_return statuses;
}

// ---------------------------------------------------------------------------------------
// Documents

absl::Status RestServer::Impl::ApplyWriteParams(const Ctx& c,
                                                pb::WriteRequest& write) {
  // An empty routing is no routing, as in Elasticsearch (routing("") -> null).
  if (c.Has("routing")) write.set_routing(c.Param("routing"));
  if (c.Has("if_seq_no")) {
    ASSIGN_OR_RETURN(int64_t seq_no,
                     rest::ParseLong("if_seq_no", c.Param("if_seq_no")));
    if (seq_no < 0 && seq_no != -2) {
      return IllegalArgument(absl::StrCat(
          "sequence numbers must be non negative. got [", seq_no, "]."));
    }
    write.set_if_seq_no(seq_no);
  }
  if (c.Has("if_primary_term")) {
    ASSIGN_OR_RETURN(int64_t term, rest::ParseLong("if_primary_term",
                                                   c.Param("if_primary_term")));
    if (term < 0) {
      return IllegalArgument(
          absl::StrCat("primary term must be non negative. got [", term, "]"));
    }
    write.set_if_primary_term(term);
  }
  if (c.Has("version")) {
    ASSIGN_OR_RETURN(int64_t version,
                     rest::ParseLong("version", c.Param("version")));
    write.set_version(version);
  }
  if (c.Has("version_type")) {
    std::string type = c.Param("version_type");
    if (type == "internal") {
      write.set_version_type(pb::VERSION_INTERNAL);
    } else if (type == "external") {
      write.set_version_type(pb::VERSION_EXTERNAL);
    } else if (type == "external_gte") {
      write.set_version_type(pb::VERSION_EXTERNAL_GTE);
    } else if (type == "force") {
      return IllegalArgument("version type [force] may no longer be used");
    } else {
      return IllegalArgument(
          absl::StrCat("No version type match [", type, "]"));
    }
  }
  if (c.Has("refresh")) {
    std::string refresh = c.Param("refresh");
    if (refresh != "" && refresh != "true" && refresh != "false" &&
        refresh != "wait_for") {
      return IllegalArgument(
          absl::StrCat("Unknown value for refresh: [", refresh, "]."));
    }
    if (refresh != "false")
      write.set_refresh(refresh.empty() ? "true" : refresh);
  }

  if (c.Has("wait_for_active_shards")) {
    std::string count = c.Param("wait_for_active_shards");
    if (count != "all" && count != "index-setting") {
      ASSIGN_OR_RETURN(int32_t n,
                       rest::ParseInt("wait_for_active_shards", count));
      if (n < 0) {
        return IllegalArgument(
            absl::StrCat("shard count cannot be a negative value [", n, "]"));
      }
    }
    write.set_wait_for_active_shards(count);
  }
  if (c.Has("timeout")) {
    ASSIGN_OR_RETURN(absl::Duration timeout,
                     rest::ParseTimeValue("timeout", c.Param("timeout")));
    if (timeout != absl::InfiniteDuration()) {
      write.set_timeout_ms(static_cast<int32_t>(
          std::min<int64_t>(absl::ToInt64Milliseconds(timeout), INT32_MAX)));
    }
  }
  return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Write(
    const pb::WriteRequest& write, SourceSpec source, bool require_alias) {
  pb::WriteRequest routed = write;
  absl::Duration wait = kDefaultDispatchTimeout;
  if (write.timeout_ms() > 0)
    wait = absl::Milliseconds(write.timeout_ms()) + absl::Seconds(30);
  // A write to an alias goes to its one index. require_alias reads the state
  // first; otherwise the node's refusal of the name (no such index, or an
  // index that may not take an alias's name) sends it to the state.
  bool resolved = false;
  auto resolve = [&]() -> Async<std::optional<Reply>> {
    resolved = true;
    absl::StatusOr<pb::ClusterState> state = co_await GetState();
    if (!state.ok()) co_return StatusReply(state.status());
    std::vector<std::string> indices = AliasIndices(*state, write.index());
    if (indices.empty()) {
      if (require_alias) co_return ErrorReply(RequireAliasError(write.index()));
      co_return std::nullopt;
    }
    if (indices.size() > 1) {
      co_return StatusReply(IllegalArgument(absl::StrCat(
          "no write index is defined for alias [", write.index(),
          "]. The write index may be explicitly disabled using "
          "is_write_index=false or the alias points to multiple indices "
          "without one being designated as a write index")));
    }
    routed.set_index(indices[0]);
    co_return std::nullopt;
  };
  if (require_alias) {
    if (std::optional<Reply> bad = co_await resolve()) co_return *bad;
  }
  while (true) {
    pb::Envelope request;
    *request.mutable_write() = routed;
    CO_ASSIGN_OR_RETURN(pb::Envelope reply,
                        co_await Call(std::move(request), wait));
    if (!reply.has_write_response()) {
      co_return absl::InternalError(
          "node answered a write with another message");
    }
    const pb::WriteResponse& response = reply.write_response();
    if (HasError(response.error())) {
      const pb::Error& error = response.error();
      if (!resolved && MayNameAnAlias(error)) {
        if (std::optional<Reply> bad = co_await resolve()) co_return *bad;
        if (routed.index() != write.index()) continue;
      }
      co_return ErrorReply(error);
    }
    Reply out;
    out.status = WriteHttpStatus(response);
    out.body = WriteJson(response, routed, source);
    co_return out;
  }
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::IndexDoc(
    const Ctx& c, bool create_route) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  if (std::optional<pb::Error> bad = rest::ValidateIndexName(c.Index())) {
    co_return ErrorReply(*bad);
  }
  write.set_kind(create_route ? pb::WriteRequest::CREATE
                              : pb::WriteRequest::INDEX);
  if (c.segments.size() == 3) {
    write.set_id(c.segments[2]);
  } else {
    write.set_id(rest::GenerateId());
    write.set_auto_generated_id(true);
    write.set_kind(pb::WriteRequest::CREATE);
  }
  if (c.Has("op_type")) {
    std::string op_type = c.Param("op_type");
    if (op_type == "create") {
      write.set_kind(pb::WriteRequest::CREATE);
    } else if (op_type != "index") {
      co_return IllegalArgument(absl::StrCat(
          "opType must be 'create' or 'index', found: [", op_type, "]"));
    }
  }
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  CO_ASSIGN_OR_RETURN(bool require_alias, BoolParam(c, "require_alias", false));
  if (write.id().size() > 512) {
    co_return ValidationFailed(
        {absl::StrCat("id [", write.id(),
                      "] is too long, must be no longer than 512 bytes "
                      "but was: ",
                      write.id().size())});
  }
  if (IsBlank(c.req.body)) co_return BodyRequired();
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> doc = ParseJson(c.req.body);
  if (!doc.has_value() || !doc->is_object())
    co_return ErrorReply(DocumentUnparsable());
  write.set_source(c.req.body);
  co_return co_await Write(write, {}, require_alias);
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::GetDoc(
    const Ctx& c, bool source_only) {
  // realtime=false reads what the copy's last refresh made searchable;
  // refresh=true refreshes the copy first.
  CO_ASSIGN_OR_RETURN(bool realtime, BoolParam(c, "realtime", true));
  CO_ASSIGN_OR_RETURN(bool refresh, BoolParam(c, "refresh", false));
  SourceSpec source = SourceSpecFromParams(c);
  // stored_fields without _source among them and without a _source parameter
  // fetches no source (no field is stored apart from it).
  if (c.Has("stored_fields") && !source.given) {
    const std::vector<std::string> fields = CommaList(c.Param("stored_fields"));
    source.fetch =
        std::find(fields.begin(), fields.end(), "_source") != fields.end();
  }
  std::optional<int64_t> version;
  if (c.Has("version")) {
    CO_ASSIGN_OR_RETURN(version,
                        rest::ParseLong("version", c.Param("version")));
  }
  if (c.Has("version_type")) {
    const std::string type = c.Param("version_type");
    if (type == "force") {
      co_return IllegalArgument("version type [force] may no longer be used");
    }
    if (type != "internal" && type != "external" && type != "external_gte") {
      co_return IllegalArgument(
          absl::StrCat("No version type match [", type, "]"));
    }
  }
  pb::Envelope request;
  request.mutable_get()->set_index(c.Index());
  request.mutable_get()->set_id(c.segments[2]);
  if (c.Has("routing")) request.mutable_get()->set_routing(c.Param("routing"));
  request.mutable_get()->set_not_realtime(!realtime);
  if (c.Has("preference"))
    request.mutable_get()->set_preference(c.Param("preference"));
  request.mutable_get()->set_refresh(refresh);
  pb::Envelope sent = request;
  CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
  if (!reply.has_get_response()) {
    co_return absl::InternalError("node answered a get with another message");
  }
  if (reply.get_response().error().type() == "index_not_found_exception") {
    // A GET through an alias reads its one index.
    CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
    std::vector<std::string> indices = AliasIndices(state, c.Index());
    if (indices.size() > 1) {
      co_return IllegalArgument(absl::StrCat(
          "alias [", c.Index(),
          "] has more than one index associated with it [",
          absl::StrJoin(indices, ", "), "], can't execute a single index op"));
    }
    if (indices.size() == 1) {
      sent.mutable_get()->set_index(indices[0]);
      CO_ASSIGN_OR_RETURN(reply, co_await Call(std::move(sent)));
      if (!reply.has_get_response()) {
        co_return absl::InternalError(
            "node answered a get with another message");
      }
    }
  }
  const pb::GetResponse& get = reply.get_response();
  if (HasError(get.error())) co_return ErrorReply(get.error());
  // Every version type compares a read the same way: the stored version must
  // be the one asked for (VersionType.isVersionConflictForReads).
  if (version.has_value() && *version != -3 && get.found() &&
      get.version() != *version) {
    co_return ErrorReply(
        ToError(VersionConflict(absl::StrCat(
                    "[", c.segments[2],
                    "]: version conflict, current version [", get.version(),
                    "] is different than the one provided [", *version, "]")),
                get.index().empty() ? c.Index() : get.index(), get.index_uuid(),
                get.shard()));
  }
  Reply out;
  if (source_only) {
    if (!get.found()) {
      co_return EsStatus(absl::StatusCode::kNotFound,
                         "resource_not_found_exception",
                         absl::StrCat("Document not found [", c.Index(), "]/[",
                                      c.segments[2], "]"));
    }
    std::optional<Json> shown = ShownSource(get.source(), source);
    out.body = shown.has_value() ? *std::move(shown) : Json::object();
    co_return out;
  }
  out.body["_index"] = get.index().empty() ? c.Index() : get.index();
  out.body["_id"] = get.id().empty() ? c.segments[2] : get.id();
  if (!get.found()) {
    out.status = 404;
    out.body["found"] = false;
    co_return out;
  }
  out.body["_version"] = get.version();
  out.body["_seq_no"] = get.seq_no();
  out.body["_primary_term"] = get.primary_term();
  if (!get.routing().empty()) out.body["_routing"] = get.routing();
  out.body["found"] = true;
  if (std::optional<Json> shown = ShownSource(get.source(), source)) {
    out.body["_source"] = *std::move(shown);
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::DeleteDoc(
    const Ctx& c) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  write.set_id(c.segments[2]);
  write.set_kind(pb::WriteRequest_Kind_DELETE);
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  co_return co_await Write(write);
}

// Reads an update body ({"doc", "doc_as_upsert", "upsert", "detect_noop",
// "_source", "if_seq_no", "if_primary_term"}) into `write`, its `_source` into
// `*source`. Shared by _update and _bulk.
absl::Status ParseUpdateBody(const Json& body, pb::WriteRequest& write,
                             SourceSpec* source) {
  write.set_detect_noop(true);
  if (!body.is_object()) return BodyUnparsable();
  bool has_doc = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (key == "doc") {
      if (!value.is_object()) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "x_content_parse_exception",
                        "[UpdateRequest] failed to parse field [doc]");
      }
      write.set_update_doc(
          value.dump(-1, ' ', false, Json::error_handler_t::replace));
      has_doc = true;
    } else if (key == "upsert") {
      if (!value.is_object()) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "x_content_parse_exception",
                        "[UpdateRequest] failed to parse field [upsert]");
      }
      write.set_upsert(
          value.dump(-1, ' ', false, Json::error_handler_t::replace));
      write.set_has_upsert(true);
    } else if (key == "doc_as_upsert" || key == "detect_noop") {
      if (!value.is_boolean()) {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
            absl::StrCat("[UpdateRequest] failed to parse field [", key, "]"));
      }
      if (key == "doc_as_upsert") {
        write.set_doc_as_upsert(value.get<bool>());
      } else {
        write.set_detect_noop(value.get<bool>());
      }
    } else if (key == "_source") {
      ASSIGN_OR_RETURN(*source, SourceSpecFromJson(value, "_source"));
      write.set_return_source(source->fetch);
    } else if (key == "if_seq_no" || key == "if_primary_term") {
      if (!value.is_number_integer()) {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
            absl::StrCat("[UpdateRequest] failed to parse field [", key, "]"));
      }
      if (key == "if_seq_no") {
        write.set_if_seq_no(value.get<int64_t>());
      } else {
        write.set_if_primary_term(value.get<int64_t>());
      }
    } else if (key == "script" || key == "scripted_upsert") {
      return IllegalArgument(
          "seqsim does not support scripted updates; use [doc]");
    } else {
      // The fields UpdateRequest's parser declares, for the suggestion.
      static const std::vector<std::string> kFields = {
          "script",  "scripted_upsert", "upsert",
          "doc",     "doc_as_upsert",   "detect_noop",
          "_source", "if_seq_no",       "if_primary_term"};
      return EsStatus(absl::StatusCode::kInvalidArgument,
                      "x_content_parse_exception",
                      absl::StrCat("[UpdateRequest] unknown field [", key, "]",
                                   rest::DidYouMean(key, kFields)));
    }
  }
  if (!has_doc) return ValidationFailed({"script or doc is missing"});
  return absl::OkStatus();
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::UpdateDoc(
    const Ctx& c) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  if (std::optional<pb::Error> bad = rest::ValidateIndexName(c.Index())) {
    co_return ErrorReply(*bad);
  }
  write.set_id(c.segments[2]);
  write.set_kind(pb::WriteRequest::UPDATE);
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  CO_ASSIGN_OR_RETURN(bool require_alias, BoolParam(c, "require_alias", false));
  if (c.Has("retry_on_conflict")) {
    CO_ASSIGN_OR_RETURN(
        int32_t retries,
        rest::ParseInt("retry_on_conflict", c.Param("retry_on_conflict")));
    write.set_retry_on_conflict(retries);
  }
  if (IsBlank(c.req.body)) co_return BodyRequired();
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value()) co_return BodyUnparsable();
  SourceSpec source;
  source.given = false;
  CO_RETURN_IF_ERROR(ParseUpdateBody(*body, write, &source));
  // The URL's _source parameters win over the body's.
  if (SourceSpec from_url = SourceSpecFromParams(c); from_url.given) {
    source = std::move(from_url);
    write.set_return_source(source.fetch);
  }
  co_return co_await Write(write, source, require_alias);
}

// ---------------------------------------------------------------------------------------
// Bulk

namespace {

// One bulk item: either sent to the node, or already failed at the REST layer.
struct BulkItem {
  std::string action;  // index | create | update | delete
  pb::WriteRequest write;
  std::optional<pb::Error> error;
  SourceSpec source;           // update: what its "get" shows
  bool require_alias = false;  // its index must name an alias
};

absl::Status MalformedLine(int line, const std::string& why) {
  return IllegalArgument(
      absl::StrCat("Malformed action/metadata line [", line, "], ", why));
}

Json BulkItemJson(const BulkItem& item, const pb::WriteResponse* response) {
  Json body = Json::object();
  if (item.error.has_value() ||
      (response != nullptr && HasError(response->error()))) {
    const pb::Error& error =
        item.error.has_value() ? *item.error : response->error();
    body["_index"] = item.write.index();
    body["_id"] = item.write.id();
    body["status"] = error.status() == 0 ? 500 : error.status();
    Json fields = rest::ErrorBody(error)["error"];
    fields.erase("root_cause");
    body["error"] = std::move(fields);
  } else {
    body = WriteJson(*response, item.write, item.source);
    body["status"] = WriteHttpStatus(*response);
  }
  return Json{{item.action, std::move(body)}};
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Bulk(
    const Ctx& c, std::string default_index) {
  absl::Time start = absl::Now();
  const std::string& text = c.req.body;
  if (text.empty()) co_return BodyRequired();
  if (text.back() != '\n') {
    co_return IllegalArgument(
        "The bulk request must be terminated by a newline [\\n]");
  }
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the final newline
  // The URL's refresh, wait_for_active_shards and timeout apply to every
  // item; its _source parameters and require_alias are each item's default.
  pb::WriteRequest defaults;
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, defaults));
  CO_ASSIGN_OR_RETURN(const bool default_require_alias,
                      BoolParam(c, "require_alias", false));
  const SourceSpec default_source = SourceSpecFromParams(c);
  std::vector<BulkItem> items;
  std::vector<std::string> validation;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_number = static_cast<int>(i) + 1;
    if (IsBlank(lines[i])) continue;
    CO_RETURN_IF_ERROR(rest::CheckJsonDepth(lines[i]));
    std::optional<Json> action_line = ParseJson(lines[i]);
    if (!action_line.has_value()) {
      co_return EsStatus(
          absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
          absl::StrCat("[", line_number,
                       ":1] Malformed action/metadata line: not valid JSON"));
    }
    if (!action_line->is_object()) {
      co_return MalformedLine(line_number,
                              absl::StrCat("expected START_OBJECT but found [",
                                           TokenName(*action_line), "]"));
    }
    if (action_line->empty()) {
      co_return MalformedLine(line_number,
                              "expected FIELD_NAME but found [END_OBJECT]");
    }
    // Elasticsearch reads the first action of the line.
    BulkItem item;
    item.write = defaults;
    item.source = default_source;
    bool require_alias = default_require_alias;
    bool id_given = false;
    item.action = action_line->begin().key();
    const Json& meta = action_line->begin().value();
    if (item.action == "index") {
      item.write.set_kind(pb::WriteRequest::INDEX);
    } else if (item.action == "create") {
      item.write.set_kind(pb::WriteRequest::CREATE);
    } else if (item.action == "update") {
      item.write.set_kind(pb::WriteRequest::UPDATE);
    } else if (item.action == "delete") {
      item.write.set_kind(pb::WriteRequest_Kind_DELETE);
    } else {
      co_return MalformedLine(
          line_number,
          absl::StrCat("expected field [create], [delete], [index] or "
                       "[update] but found [",
                       item.action, "]"));
    }
    if (!meta.is_object()) {
      co_return MalformedLine(line_number,
                              absl::StrCat("expected START_OBJECT but found [",
                                           TokenName(meta), "]"));
    }
    std::string index = default_index;
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      auto as_long = [&](int64_t* out) -> absl::Status {
        if (std::optional<int64_t> n = JsonInteger(value)) {
          *out = *n;
          return absl::OkStatus();
        }
        return IllegalArgument(absl::StrCat("Failed to parse [", key,
                                            "] of action/metadata line [",
                                            line_number, "]"));
      };
      if (key == "_index" && value.is_string()) {
        index = value.get<std::string>();
      } else if (key == "_id" && (value.is_string() || value.is_number())) {
        id_given = true;
        item.write.set_id(value.is_string() ? value.get<std::string>()
                                            : value.dump());
      } else if (key == "if_seq_no") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_if_seq_no(n);
      } else if (key == "if_primary_term") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_if_primary_term(n);
      } else if (key == "version") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_version(n);
      } else if (key == "retry_on_conflict") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_retry_on_conflict(static_cast<int32_t>(n));
      } else if (key == "version_type" && value.is_string()) {
        std::string type = value.get<std::string>();
        if (type == "external") {
          item.write.set_version_type(pb::VERSION_EXTERNAL);
        } else if (type == "external_gte") {
          item.write.set_version_type(pb::VERSION_EXTERNAL_GTE);
        } else if (type != "internal") {
          co_return IllegalArgument(
              absl::StrCat("No version type match [", type, "]"));
        }
      } else if (key == "require_alias") {
        if (!value.is_boolean()) {
          co_return IllegalArgument(absl::StrCat(
              "Failed to parse [require_alias] of action/metadata line [",
              line_number, "]"));
        }
        require_alias = value.get<bool>();
      } else if (key == "_source") {
        CO_ASSIGN_OR_RETURN(item.source, SourceSpecFromJson(value, "_source"));
      } else if (key == "routing") {
        // A value of any simple type is read as text; null means none.
        if (value.is_object() || value.is_array()) {
          co_return MalformedLine(
              line_number,
              absl::StrCat("expected a simple value for field [routing] but "
                           "found [",
                           TokenName(value), "]"));
        }
        item.write.set_routing(value.is_string() ? value.get<std::string>()
                               : value.is_null() ? std::string()
                                                 : value.dump());
      } else if (key == "pipeline" || key == "dynamic_templates" ||
                 key == "require_data_stream") {
        // Accepted and ignored: seqsim has no ingest pipelines or mappings.
      } else {
        co_return IllegalArgument(
            absl::StrCat("Action/metadata line [", line_number,
                         "] contains an unknown parameter [", key, "]"));
      }
    }
    item.write.set_index(index);
    if (index.empty()) validation.push_back("index is missing");
    const bool indexes = item.write.kind() == pb::WriteRequest::INDEX ||
                         item.write.kind() == pb::WriteRequest::CREATE;
    if (indexes && id_given && item.write.id().empty()) {
      // An empty _id is not a request for a generated one.
      item.error = rest::MakeError(400, "illegal_argument_exception",
                                   "if _id is specified it must not be empty");
    } else if (item.write.id().empty()) {
      if (indexes) {
        item.write.set_id(rest::GenerateId());
        item.write.set_auto_generated_id(true);
        item.write.set_kind(pb::WriteRequest::CREATE);
      } else {
        validation.push_back("id is missing");
      }
    }
    if (!index.empty() && !item.error.has_value()) {
      item.error = rest::ValidateIndexName(index);
    }
    // Checked against the aliases before sending.
    item.require_alias =
        require_alias && item.write.kind() != pb::WriteRequest_Kind_DELETE;
    if (item.write.kind() != pb::WriteRequest_Kind_DELETE) {
      ++i;
      if (i >= lines.size()) {
        validation.push_back("source is missing");
        items.push_back(std::move(item));
        break;
      }
      absl::Status depth = rest::CheckJsonDepth(lines[i]);
      std::optional<Json> source = ParseJson(lines[i]);
      if (item.write.kind() == pb::WriteRequest::UPDATE) {
        CO_RETURN_IF_ERROR(depth);
        if (!source.has_value()) {
          co_return EsStatus(
              absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
              absl::StrCat("[", i + 1, ":1] failed to parse update request"));
        }
        SourceSpec body_source;
        CO_RETURN_IF_ERROR(ParseUpdateBody(*source, item.write, &body_source));
        if (body_source.given) item.source = body_source;
        item.write.set_return_source(item.source.given && item.source.fetch);
      } else if (!depth.ok()) {
        if (!item.error.has_value()) item.error = ToError(depth);
      } else if (!source.has_value() || !source->is_object()) {
        if (!item.error.has_value()) item.error = DocumentUnparsable();
      } else {
        item.write.set_source(lines[i]);
      }
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) validation.push_back("no requests added");
  if (!validation.empty()) co_return ValidationFailed(validation);

  // An item named by an alias goes to the alias's one index, as a single
  // write does (several: that item fails). The state is read only when an
  // item asks require_alias (before sending), or when the node refused a name
  // that may be an alias (then those items are sent again).
  std::optional<pb::ClusterState> state;
  auto resolve = [&](BulkItem& item) -> Async<bool> {
    if (!state.has_value()) {
      absl::StatusOr<pb::ClusterState> got = co_await GetState();
      state = got.ok() ? *std::move(got) : pb::ClusterState();
    }
    const std::string name = item.write.index();
    std::vector<std::string> indices = AliasIndices(*state, name);
    if (indices.size() > 1) {
      item.error = ToError(
          IllegalArgument(absl::StrCat(
              "no write index is defined for alias [", name,
              "]. The write index may be explicitly disabled using "
              "is_write_index=false or the alias points to multiple indices "
              "without one being designated as a write index")),
          name);
      co_return false;
    }
    if (indices.empty()) co_return false;
    item.write.set_index(indices[0]);
    co_return true;
  };
  for (BulkItem& item : items) {
    if (item.error.has_value() || !item.require_alias) continue;
    if (!co_await resolve(item) && !item.error.has_value())
      item.error = RequireAliasError(item.write.index());
  }
  std::vector<pb::WriteResponse> answered(items.size());
  std::vector<bool> has_answer(items.size(), false);
  std::vector<int> sent;  // positions in `items` of the forwarded requests
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].error.has_value()) sent.push_back(static_cast<int>(i));
  }
  int64_t took_ms = 0;
  for (int round = 0; round < 2 && !sent.empty(); ++round) {
    pb::Envelope request;
    for (int i : sent) *request.mutable_bulk()->add_items() = items[i].write;
    CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
    if (!reply.has_bulk_response()) {
      co_return absl::InternalError(
          "node answered a bulk with another message");
    }
    pb::BulkResponse& response = *reply.mutable_bulk_response();
    took_ms += response.took_ms();
    std::vector<int> again;
    for (size_t k = 0; k < sent.size(); ++k) {
      const int i = sent[k];
      if (k >= static_cast<size_t>(response.items_size())) {
        *answered[i].mutable_error() = rest::MakeError(
            500, "exception", "the node returned no answer for this item");
      } else {
        answered[i] = std::move(*response.mutable_items(static_cast<int>(k)));
      }
      has_answer[i] = true;
      if (round == 0 && !items[i].require_alias &&
          HasError(answered[i].error()) &&
          MayNameAnAlias(answered[i].error()) && co_await resolve(items[i])) {
        again.push_back(i);
      } else if (items[i].error.has_value()) {
        has_answer[i] = false;  // several indices: the item's own error
      }
    }
    sent = std::move(again);
  }
  std::vector<const pb::WriteResponse*> answers(items.size(), nullptr);
  for (size_t i = 0; i < items.size(); ++i) {
    if (has_answer[i] && !items[i].error.has_value()) answers[i] = &answered[i];
  }
  Reply out;
  Json json_items = Json::array();
  bool errors = false;
  for (size_t i = 0; i < items.size(); ++i) {
    Json item = BulkItemJson(items[i], answers[i]);
    int status = item.begin().value()["status"].get<int>();
    if (item.begin().value().contains("error")) errors = true;
    (void)status;
    json_items.push_back(std::move(item));
  }
  out.body["errors"] = errors;
  out.body["took"] = std::max<int64_t>(
      took_ms, absl::ToInt64Milliseconds(absl::Now() - start));
  out.body["items"] = std::move(json_items);
  co_return out;
}

// ---------------------------------------------------------------------------------------
// Search

namespace {

absl::Status ParsingError(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                  reason);
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

}  // namespace

asio::awaitable<absl::StatusOr<pb::SearchResponse>> RestServer::Impl::RunSearch(
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
  CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
  if (!reply.has_search_response()) {
    co_return absl::InternalError(
        "node answered a search with another message");
  }
  if (HasError(reply.search_response().error())) {
    *refused = SearchErrorReply(reply.search_response().error());
  }
  co_return std::move(*reply.mutable_search_response());
}

asio::awaitable<std::optional<Reply>> RestServer::Impl::ResolveSearchIndices(
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
  co_return std::nullopt;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Search(
    const Ctx& c, std::string indices) {
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
  if (c.Has("size")) {
    CO_ASSIGN_OR_RETURN(size, rest::ParseInt("size", c.Param("size")));
  }
  if (c.Has("from")) {
    CO_ASSIGN_OR_RETURN(from, rest::ParseInt("from", c.Param("from")));
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
  if (window > 10000) {
    co_return IllegalArgument(
        absl::StrCat("Result window is too large, from + size must be less "
                     "than or equal to: [10000] but was [",
                     window,
                     "]. See the scroll api for a more efficient way to "
                     "request large data sets. This limit can be set by "
                     "changing the [index.max_result_window] index level "
                     "setting."));
  }
  search.set_size(static_cast<int32_t>(size));
  search.set_from(static_cast<int32_t>(from));
  std::optional<Reply> refused;
  CO_ASSIGN_OR_RETURN(const pb::SearchResponse response,
                      co_await RunSearch(c, indices, search, &refused));
  if (refused.has_value()) co_return *std::move(refused);
  // Scores: every hit scores 1.0 (no relevance model); with a sort they are
  // left out unless a key is _score or track_scores asks for them.
  const auto& sort = search.sort();
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
  Reply out;
  out.body["took"] = response.took_ms();
  out.body["timed_out"] = false;
  Json shards = Json::object();
  shards["total"] = response.shards().total();
  shards["successful"] = response.shards().successful();
  shards["skipped"] = 0;
  shards["failed"] = response.shards().failed();
  out.body["_shards"] = std::move(shards);
  Json hits = Json::object();
  if (total_as_int) {
    hits["total"] = response.total();
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
  out.body["hits"] = std::move(hits);
  co_return out;
}

// ---------------------------------------------------------------------------------------
// Count and multi-get

asio::awaitable<std::vector<absl::StatusOr<pb::Envelope>>>
RestServer::Impl::CallAll(std::vector<pb::Envelope> requests,
                          absl::Duration timeout) {
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    size_t outstanding = 0;
    std::vector<std::optional<absl::StatusOr<pb::Envelope>>> replies;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(timeout));
  pending->outstanding = requests.size();
  pending->replies.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    dispatcher_->Dispatch(
        std::move(requests[i]),
        ResumeOn<Pending>(
            pending, [i](Pending& waiting, absl::StatusOr<pb::Envelope> reply) {
              if (waiting.replies[i].has_value()) return;
              waiting.replies[i] = std::move(reply);
              if (--waiting.outstanding == 0) waiting.timer.cancel();
            }));
  }
  if (pending->outstanding > 0) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  std::vector<absl::StatusOr<pb::Envelope>> out;
  out.reserve(pending->replies.size());
  for (auto& reply : pending->replies) {
    if (reply.has_value()) {
      out.push_back(std::move(*reply));
    } else {
      out.push_back(EsStatus(absl::StatusCode::kDeadlineExceeded,
                             "timeout_exception",
                             "timed out waiting for the node to answer", 504));
    }
  }
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Count(
    const Ctx& c, std::string indices) {
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
  Json shards = Json::object();
  shards["total"] = response.shards().total();
  shards["successful"] = response.shards().successful();
  shards["skipped"] = 0;
  shards["failed"] = response.shards().failed();
  out.body["_shards"] = std::move(shards);
  co_return out;
}

namespace {

// One document of an _mget body, as Elasticsearch's MultiGetRequest.Item.
struct MultiGetItem {
  std::optional<std::string> index;
  std::optional<std::string> id;
  SourceSpec source;
  std::optional<int64_t> version;
  std::string routing;  // the item's, else the URL's
};

// The text of a metadata value (Elasticsearch reads numbers as their text).
std::optional<std::string> MetadataText(const Json& value) {
  if (value.is_string()) return rest::ValidUtf8(value.get<std::string>());
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

absl::Status MultiGetParseError(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  reason);
}

// The items of an _mget body, with the URL's index and source as defaults.
absl::StatusOr<std::vector<MultiGetItem>> ParseMultiGetBody(
    const Json& body, const std::string& default_index,
    const SourceSpec& default_source, const std::string& default_routing) {
  std::vector<MultiGetItem> items;
  MultiGetItem defaults;
  if (!default_index.empty()) defaults.index = default_index;
  defaults.source = default_source;
  defaults.routing = default_routing;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (!value.is_array()) {
      return ParsingError(
          absl::StrCat("unexpected token [", TokenName(value),
                       "], expected [FIELD_NAME] or [START_ARRAY]"));
    }
    if (key == "ids") {
      for (const Json& id : value) {
        std::optional<std::string> text = MetadataText(id);
        if (!text.has_value() || !(id.is_string() || id.is_number())) {
          return IllegalArgument("ids array element should only contain ids");
        }
        MultiGetItem item = defaults;
        item.id = *text;
        items.push_back(std::move(item));
      }
    } else if (key == "docs") {
      for (const Json& doc : value) {
        if (!doc.is_object()) {
          return IllegalArgument("docs array element should include an object");
        }
        MultiGetItem item = defaults;
        for (auto field = doc.begin(); field != doc.end(); ++field) {
          const std::string& name = field.key();
          const Json& v = field.value();
          if (name == "_index" || name == "_id" || name == "routing") {
            std::optional<std::string> text = MetadataText(v);
            if (!text.has_value()) {
              return MultiGetParseError(absl::StrCat(
                  "failed to parse multi get request. unknown field [", name,
                  "]"));
            }
            if (name == "_index") item.index = *text;
            if (name == "_id") item.id = *text;
            if (name == "routing") item.routing = *text;
          } else if (name == "_source") {
            ASSIGN_OR_RETURN(item.source, SourceSpecFromJson(v, "_source"));
          } else if (name == "stored_fields") {
            std::vector<std::string> fields;
            if (v.is_string()) fields.push_back(v.get<std::string>());
            if (v.is_array()) {
              for (const Json& f : v) {
                if (f.is_string()) fields.push_back(f.get<std::string>());
              }
            }
            if (!item.source.given) {
              item.source.fetch = std::find(fields.begin(), fields.end(),
                                            "_source") != fields.end();
            }
          } else if (name == "version") {
            std::optional<int64_t> n = JsonInteger(v);
            if (!n.has_value()) {
              return MultiGetParseError(
                  "failed to parse multi get request. unknown field "
                  "[version]");
            }
            item.version = *n;
          } else if (name == "version_type" &&
                     (v == "internal" || v == "external" ||
                      v == "external_gte")) {
            // Reads compare versions the same way for every type.
          } else if (name == "fields") {
            return ParsingError(
                "Unsupported field [fields] used, expected [stored_fields] "
                "instead");
          } else {
            return MultiGetParseError(absl::StrCat(
                "failed to parse multi get request. unknown field [", name,
                "]"));
          }
        }
        items.push_back(std::move(item));
      }
    } else {
      return ParsingError(absl::StrCat("unknown key [", key,
                                       "] for a START_ARRAY, expected [docs] "
                                       "or [ids]"));
    }
  }
  std::vector<std::string> problems;
  if (items.empty()) problems.push_back("no documents to get");
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].index.has_value()) {
      problems.push_back(absl::StrCat("index is missing for doc ", i));
    }
    if (!items[i].id.has_value()) {
      problems.push_back(absl::StrCat("id is missing for doc ", i));
    }
  }
  if (!problems.empty()) return ValidationFailed(problems);
  return items;
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::MultiGet(
    const Ctx& c, std::string index) {
  // realtime, refresh, routing and preference as on GET, for every item.
  CO_ASSIGN_OR_RETURN(bool realtime, BoolParam(c, "realtime", true));
  CO_ASSIGN_OR_RETURN(bool refresh, BoolParam(c, "refresh", false));
  const std::string routing = c.Has("routing") ? c.Param("routing") : "";
  const std::string preference =
      c.Has("preference") ? c.Param("preference") : "";
  SourceSpec source = SourceSpecFromParams(c);
  if (c.Has("stored_fields") && !source.given) {
    const std::vector<std::string> fields = CommaList(c.Param("stored_fields"));
    source.fetch =
        std::find(fields.begin(), fields.end(), "_source") != fields.end();
  }
  if (IsBlank(c.req.body)) {
    co_return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                       "request body or source parameter is required");
  }
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
  CO_ASSIGN_OR_RETURN(std::vector<MultiGetItem> items,
                      ParseMultiGetBody(*body, index, source, routing));
  // Every document is read at once (one executor batch shares its read
  // barriers); a name that is no index is that document's
  // index_not_found_exception, as for GET.
  std::vector<std::optional<pb::Error>> refused(items.size());
  std::vector<pb::Envelope> requests;
  std::vector<size_t> sent;
  for (size_t i = 0; i < items.size(); ++i) {
    pb::Envelope request;
    request.mutable_get()->set_index(*items[i].index);
    request.mutable_get()->set_id(*items[i].id);
    request.mutable_get()->set_routing(items[i].routing);
    request.mutable_get()->set_preference(preference);
    request.mutable_get()->set_not_realtime(!realtime);
    request.mutable_get()->set_refresh(refresh);
    requests.push_back(std::move(request));
    sent.push_back(i);
  }
  std::vector<absl::StatusOr<pb::Envelope>> replies =
      co_await CallAll(std::move(requests));
  std::vector<std::optional<pb::GetResponse>> gets(items.size());
  for (size_t k = 0; k < sent.size(); ++k) {
    const size_t i = sent[k];
    if (!replies[k].ok()) {
      refused[i] = ToError(replies[k].status(), *items[i].index);
    } else if (!replies[k]->has_get_response()) {
      refused[i] = ToError(
          absl::InternalError("node answered a get with another message"));
    } else if (HasError(replies[k]->get_response().error())) {
      refused[i] = replies[k]->get_response().error();
    } else {
      gets[i] = replies[k]->get_response();
    }
  }
  Reply out;
  Json docs = Json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    const MultiGetItem& item = items[i];
    Json doc = Json::object();
    doc["_index"] = *item.index;
    doc["_id"] = *item.id;
    if (!refused[i].has_value() && gets[i].has_value() && gets[i]->found() &&
        item.version.has_value() && *item.version != -3 &&
        gets[i]->version() != *item.version) {
      refused[i] = ToError(
          VersionConflict(absl::StrCat(
              "[", *item.id, "]: version conflict, current version [",
              gets[i]->version(), "] is different than the one provided [",
              *item.version, "]")),
          *item.index, gets[i]->index_uuid(), gets[i]->shard());
    }
    if (refused[i].has_value()) {
      doc["error"] = rest::ErrorBody(*refused[i])["error"];
      docs.push_back(std::move(doc));
      continue;
    }
    const pb::GetResponse& get = *gets[i];
    if (!get.found()) {
      doc["found"] = false;
      docs.push_back(std::move(doc));
      continue;
    }
    doc["_version"] = get.version();
    doc["_seq_no"] = get.seq_no();
    doc["_primary_term"] = get.primary_term();
    if (!get.routing().empty()) doc["_routing"] = get.routing();
    doc["found"] = true;
    if (std::optional<Json> shown = ShownSource(get.source(), item.source)) {
      doc["_source"] = *std::move(shown);
    }
    docs.push_back(std::move(doc));
  }
  out.body["docs"] = std::move(docs);
  co_return out;
}

// ---------------------------------------------------------------------------------------
// Indices

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::CreateIndex(
    const Ctx& c) {
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
      if (it.key() == "mappings" || it.key() == "aliases")
        continue;  // accepted, unused
      if (it.key() != "settings") {
        co_return EsStatus(
            absl::StatusCode::kInvalidArgument, "parse_exception",
            absl::StrCat("unknown key [", it.key(), "] for create index"));
      }
      if (!it.value().is_object()) co_return BodyUnparsable();
      // Flatten {"index": {...}} and "index.x" into plain setting names.
      std::vector<std::pair<std::string, Json>> settings;
      for (auto s = it.value().begin(); s != it.value().end(); ++s) {
        if (s.key() == "index" && s.value().is_object()) {
          for (auto n = s.value().begin(); n != s.value().end(); ++n) {
            settings.emplace_back(n.key(), n.value());
          }
        } else {
          std::string name = s.key();
          if (absl::StartsWith(name, "index."))
            name = name.substr(strlen("index."));
          settings.emplace_back(name, s.value());
        }
      }
      for (const auto& [name, value] : settings) {
        if (name == "refresh_interval") {
          // A time value; -1 (and 0) turn the scheduled refresh off.
          std::string text =
              value.is_string() ? value.get<std::string>() : value.dump();
          CO_ASSIGN_OR_RETURN(
              absl::Duration interval,
              rest::ParseTimeValue("index.refresh_interval", text));
          int64_t ms = absl::ToInt64Milliseconds(interval);
          if (interval == absl::InfiniteDuration() || ms <= 0) ms = -1;
          create.set_refresh_interval_ms(ms);
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
  CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
  if (!reply.has_create_index_response()) {
    co_return absl::InternalError(
        "node answered create_index with another message");
  }
  const pb::CreateIndexResponse& response = reply.create_index_response();
  if (HasError(response.error())) co_return ErrorReply(response.error());
  Reply out;
  out.body["acknowledged"] = response.acknowledged();
  out.body["shards_acknowledged"] = response.shards_acknowledged();
  out.body["index"] = response.index().empty() ? c.Index() : response.index();
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::DeleteIndex(
    const Ctx& c) {
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
    CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
    if (!reply.has_delete_index_response()) {
      co_return absl::InternalError(
          "node answered delete_index with another message");
    }
    const pb::DeleteIndexResponse& response = reply.delete_index_response();
    if (HasError(response.error())) co_return ErrorReply(response.error());
    acknowledged = acknowledged && response.acknowledged();
  }
  Reply out;
  out.body["acknowledged"] = acknowledged;
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::GetIndex(
    const Ctx& c) {
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto indices = ResolveIndices(state, c.Index(), &missing, options);
  if (!indices.ok()) co_return ErrorReply(missing);
  Reply out;
  for (const pb::IndexMeta* index : *indices) {
    Json settings = Json::object();
    settings["creation_date"] = absl::StrCat(index->creation_date_ms());
    settings["number_of_shards"] =
        absl::StrCat(std::max(1, index->number_of_shards()));
    settings["number_of_replicas"] = absl::StrCat(index->number_of_replicas());
    // Shown only when set at creation, as Elasticsearch shows settings.
    if (index->refresh_interval_ms() < 0) {
      settings["refresh_interval"] = "-1";
    } else if (index->refresh_interval_ms() > 0) {
      settings["refresh_interval"] =
          index->refresh_interval_ms() % 1000 == 0
              ? absl::StrCat(index->refresh_interval_ms() / 1000, "s")
              : absl::StrCat(index->refresh_interval_ms(), "ms");
    }
    settings["uuid"] = index->uuid();
    settings["version"] = Json{{"created", "8500003"}};
    settings["provided_name"] = index->name();
    Json entry = Json::object();
    entry["aliases"] = Json::object();
    for (const std::string& alias : index->aliases())
      entry["aliases"][alias] = Json::object();
    entry["mappings"] = Json::object();
    entry["settings"] = Json{{"index", std::move(settings)}};
    out.body[index->name()] = std::move(entry);
  }
  co_return out;
}

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

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::SendAliasActions(
    std::vector<pb::AliasAction> actions) {
  pb::Envelope request;
  request.mutable_delete_index()->set_index(kAliasUpdateIndex);
  for (pb::AliasAction& action : actions)
    *request.mutable_delete_index()->add_alias_actions() = std::move(action);
  CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(std::move(request)));
  if (!reply.has_delete_index_response()) {
    co_return absl::InternalError(
        "node answered an alias update with another message");
  }
  const pb::DeleteIndexResponse& response = reply.delete_index_response();
  if (HasError(response.error())) co_return ErrorReply(response.error());
  Reply out;
  out.body["acknowledged"] = response.acknowledged();
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::PutOrDeleteAlias(
    const Ctx& c, bool remove) {
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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::UpdateAliases(
    const Ctx& c) {
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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::GetAliases(
    const Ctx& c, std::string indices, std::string names) {
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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Refresh(
    const Ctx& c, std::string indices) {
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

// ---------------------------------------------------------------------------------------
// _cat

namespace {

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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::CatShards(
    const Ctx& c, std::string indices) {
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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::CatIndices(
    const Ctx& c, std::string indices) {
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

// ---------------------------------------------------------------------------------------
// Cluster

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Health(
    const Ctx& c, std::string index) {
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

asio::awaitable<absl::StatusOr<Reply>> RestServer::Impl::Root(const Ctx& c) {
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

// ---------------------------------------------------------------------------------------
// Server lifecycle

absl::Status RestServer::Impl::Start() {
  http::Options options;
  options.host = options_.host;
  options.port = options_.port;
  options.max_body_bytes = options_.max_body_bytes;
  options.io_threads = std::max(1, options_.io_threads);
  server_ = std::make_unique<http::Server>(
      options, [this](http::Request& req) { return Serve(req); },
      [this](int status, const std::string& method, const std::string& path) {
        return ProtocolError(status, method, path);
      });
  if (absl::Status status = server_->Start(); !status.ok()) {
    server_.reset();
    return status;
  }
  port_ = server_->port();
  return absl::OkStatus();
}

void RestServer::Impl::Stop() {
  if (server_ == nullptr) return;
  {
    absl::MutexLock lock(&liveness_->mu);
    liveness_->alive = false;
  }
  server_->Stop();
  server_.reset();
}

RestServer::RestServer(Dispatcher* dispatcher, RestOptions options)
    : impl_(std::make_unique<Impl>(dispatcher, std::move(options))) {}
RestServer::~RestServer() { impl_->Stop(); }
absl::Status RestServer::Start() { return impl_->Start(); }
void RestServer::Stop() { impl_->Stop(); }
int RestServer::port() const { return impl_->port(); }

}  // namespace seqsim
