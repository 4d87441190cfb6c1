// Elasticsearch's JSON at the REST layer, in one place: the Reply a handler
// answers (status, body, headers) and how errors become Elasticsearch's error
// bodies (ErrorReply, SimpleErrorReply, a search's search-phase failure);
// stored sources embedded byte for byte (the raw-source marks the server
// splices back when it renders a reply); `_source` filtering of a reply
// (SourceSpec); document reply bodies (writes and updates' "get", GET and
// _mget documents, `_shards`); search and count bodies with their hits and
// sort values. The API family files build their bodies from these. No
// replication rule lives here (R3's `_shards` counts are the node's; this
// only prints them).
//
// Thread-safety: every function is safe to call from any thread.
#ifndef SEQSIM_NODE_REST_ES_JSON_H_
#define SEQSIM_NODE_REST_ES_JSON_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "node/rest/rest_util.h"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

// One HTTP answer before rendering (filter_path, pretty, content type).
struct Reply {
  int status = 200;
  Json body = Json::object();
  std::optional<std::string> text;  // text/plain (_cat tables) instead of JSON
  std::vector<std::pair<std::string, std::string>> headers;
  // An error body: Elasticsearch renders these without filter_path.
  bool error = false;
};

// `error` as Elasticsearch's error reply (status 500 when it has none).
Reply ErrorReply(const pb::Error& error);
// `status` (common/es_error.h) as Elasticsearch's error reply.
Reply StatusReply(const absl::Status& status);
// {"error":"MESSAGE","status":N}: the shape Elasticsearch's RestController
// gives the errors it raises before any handler runs (405, 406).
Reply SimpleErrorReply(int status, const std::string& message);

// A shard's refusal of the query (a sort on a text field, ...), as
// Elasticsearch reports it when every shard fails the query phase.
Reply SearchPhaseFailure(const pb::Error& error);
// A search or count's error: a shard's refusal of the query (it names its
// index) as a search-phase failure; the coordinating node's own refusals (a
// bad preference) as plain errors.
Reply SearchErrorReply(const pb::Error& error);

// 404 for a write with require_alias=true to `index`, which is not an alias.
pb::Error RequireAliasError(const std::string& index);

// Parses `text` as JSON; nullopt when it is not valid JSON or nests deeper
// than rest::kMaxJsonDepth (callers that answer the depth error check
// rest::CheckJsonDepth first).
std::optional<Json> ParseJson(const std::string& text);

// The name of `value`'s JSON token as Jackson names it in Elasticsearch's
// messages (START_OBJECT, VALUE_STRING, ...).
std::string TokenName(const Json& value);

// Stored sources travel through a reply's Json as marked strings and are
// written out byte for byte when the reply is rendered (Elasticsearch returns
// the source as sent: 123456789012345678901234567890 is not re-serialized as
// a double). The mark starts with a per-process random id no document holds.
const std::string& RawMark();
bool IsRawSource(const Json& value);
// Replaces every marked source under `value` by its parsed form (for
// filter_path paths that select fields inside a source).
void ParseRawSources(Json& value);
// Replaces every marked source under `value` by a short token (mark, '#',
// position in `raw`) and moves its bytes to `raw`.
void ExtractRawSources(Json& value, std::vector<std::string>& raw);
// `text` (a rendered reply) with each token of ExtractRawSources replaced by
// its source, pretty-printed at the token's depth when `pretty`.
std::string SpliceRawSources(const std::string& text,
                             const std::vector<std::string>& raw, bool pretty);
// A stored document for embedding in a reply: written out as stored when it
// is JSON, else kept as a string.
Json SourceJson(const std::string& bytes);

// What of `_source` a reply shows: Elasticsearch's FetchSourceContext.
struct SourceSpec {
  bool fetch = true;
  bool given = false;  // a _source parameter or field was present
  std::vector<std::string> includes;
  std::vector<std::string> excludes;
};

// The source to show under `spec`: as stored when nothing is filtered, else
// filtered (nullopt when not fetched).
std::optional<Json> ShownSource(const std::string& bytes,
                                const SourceSpec& spec);

// {"total","successful","failed"[,"failures"]} of a write's reply (R3).
Json ShardsJson(const pb::ShardsInfo& shards);

// 201 created, 404 not_found, else 200.
int WriteHttpStatus(const pb::WriteResponse& response);
// _index, _id, _version, result, _shards, _seq_no, _primary_term (+ get for
// update, its _source shaped by `source`).
Json WriteJson(const pb::WriteResponse& response,
               const pb::WriteRequest& request, const SourceSpec& source);

// A hit's sort value as Elasticsearch prints it; a missing one as the value
// Elasticsearch substitutes (Long.MAX_VALUE / MIN_VALUE for numbers sorted
// last / first, infinities for doubles, null for strings).
Json SortValueJson(const pb::SortValue& value, const pb::SortField& key,
                   bool numeric, bool floating);

// The fields of a GET (and of an _mget document) after _index and _id:
// "found": false, or _version, _seq_no, _primary_term, _routing (when set),
// "found": true and the _source shaped by `source`.
void AddGetFields(const pb::GetResponse& get, const SourceSpec& source,
                  Json& body);

// {"total","successful","skipped","failed"} of a search or count reply.
Json SearchShardsJson(const pb::ShardsInfo& shards);

// How a search reply shows its hits: the request's body and URL options.
struct HitsShown {
  bool track_scores = false;  // scores even when sorted
  bool total_as_int = false;  // rest_total_hits_as_int
  // track_total_hits: nullopt counts all, -1 none, N up to N.
  std::optional<int64_t> track_total_hits = 10000;
  bool no_metadata = false;  // stored_fields=_none_: no _id, _version, ...
  bool version = false;
  bool seq_no_primary_term = false;
  SourceSpec source;
};

// The body of a _search reply as Elasticsearch renders it: took, timed_out,
// _shards, and the hits (total, max_score, each hit's metadata, _score,
// _routing, _source and its sort values under `sort`, the request's sort).
Json SearchBody(const pb::SearchResponse& response,
                const google::protobuf::RepeatedPtrField<pb::SortField>& sort,
                const HitsShown& options);

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_ES_JSON_H_
