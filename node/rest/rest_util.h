// Pure helpers of the REST adapter: Elasticsearch's error bodies, pretty
// printing, filter_path, index-name validation, parameter parsing, request
// Content-Type checks, document id generation.
//
// Thread-safety: every function is safe to call from any thread.
#ifndef SEQSIM_NODE_REST_REST_UTIL_H_
#define SEQSIM_NODE_REST_REST_UTIL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

using Json = nlohmann::ordered_json;

// `text` with every byte that does not belong to a well-formed UTF-8 sequence
// replaced by U+FFFD, as Elasticsearch (Java) decodes a percent-decoded URL
// component: `/idx/_doc/%FF` names the document "\uFFFD". Everything past the
// REST layer holds valid UTF-8.
std::string ValidUtf8(std::string_view text);

// A wire error with the given HTTP status, type and reason.
pb::Error MakeError(int status, const std::string& type,
                    const std::string& reason);

// {"error":{"root_cause":[{...}],"type","reason",...},"status":N},
// Elasticsearch's shape.
Json ErrorBody(const pb::Error& error);

// Elasticsearch's pretty printer: 2-space indent, `"key" : value`, a line feed
// at the end.
std::string EsPretty(const Json& value);

// Keeps only the fields named by `filter_path` (comma-separated dotted paths;
// `*` matches any characters inside one name, `**` any number of names), then
// removes those named by its exclusions (`-path`), as Elasticsearch does with
// both kinds. Arrays are transparent.
Json FilterPath(const Json& value, const std::string& filter_path);

// Whether a path of `filter_path` (inclusion or exclusion) may select
// something inside a field named `field` (a pattern segment matching it is
// followed by another, or `**` appears).
bool FilterPathReachesInto(const std::string& filter_path,
                           std::string_view field);

// The JSON value `json` (valid JSON) pretty-printed as EsPretty prints a Json
// nested `depth` levels deep (without the final line feed), its strings and
// numbers copied byte for byte: 123456789012345678901234567890 stays as sent.
std::string PrettyRawJson(std::string_view json, int depth);

// `source` filtered as Elasticsearch filters `_source` (`_source_includes`,
// `_source_excludes`): patterns are dotted full paths with `*` wildcards; an
// included object is kept whole, less the excluded paths; arrays are
// transparent. Empty `includes` keeps everything not excluded.
Json FilterSource(const Json& source, const std::vector<std::string>& includes,
                  const std::vector<std::string>& excludes);

// Elasticsearch's ByteSizeValue.toString(): "225b", "4.5kb", "12mb" (one
// decimal, truncated, ".0" dropped).
std::string ByteSizeString(int64_t bytes);
// The size of a `bytes=` unit of the _cat APIs (b, k, kb, m, mb, ... pb), or
// nullopt.
std::optional<int64_t> ByteUnitSize(std::string_view unit);

// Lucene's LevenshteinDistance.getDistance: 1 - edits / longer length.
float LevenshteinSimilarity(std::string_view a, std::string_view b);
// Elasticsearch's suggestion after "unknown field [x]": " did you mean [y]?",
// " did you mean any of [y, z]?" (candidates more than 0.5 similar, most
// similar first), or "".
std::string DidYouMean(std::string_view unknown,
                       const std::vector<std::string>& candidates);

// The full reason ("Invalid index name [Foo], must be lowercase") when `name`
// is not a valid index name, else nullopt.
std::optional<std::string> InvalidIndexNameReason(const std::string& name);
// 400 invalid_index_name_exception for `name`, or nullopt when it is valid.
std::optional<pb::Error> ValidateIndexName(const std::string& name);

// Parameter parsing with Elasticsearch's messages (400
// illegal_argument_exception).
absl::StatusOr<int64_t> ParseLong(const std::string& key,
                                  const std::string& value);
absl::StatusOr<int32_t> ParseInt(const std::string& key,
                                 const std::string& value);
// "", "true" => true; "false" => false; else an error.
absl::StatusOr<bool> ParseBool(const std::string& key,
                               const std::string& value);
// "30s", "500ms", "1m", "2h", "1d", "-1" (infinite), "0".
absl::StatusOr<absl::Duration> ParseTimeValue(const std::string& key,
                                              const std::string& value);

// Whether a request body sent with this Content-Type header value is read, as
// Elasticsearch's media-type registry decides for the JSON family:
// application/json, application/x-ndjson and application/* (read as JSON), and
// the vendor types application/vnd.elasticsearch+json and +x-ndjson, whose
// compatible-with parameter, when present, must be a number. Matching ignores
// case and surrounding spaces; other parameters (charset=UTF-8, ...) are
// allowed. False for everything else: other types, a list of types, `*/*`,
// what Elasticsearch also reads but seqsim cannot parse (Smile, CBOR, YAML),
// and malformed values (a type without a subtype, a parameter that is not
// name=value), which Elasticsearch answers with a 400 instead.
bool IsSupportedBodyContentType(std::string_view value);

// For a request that has a body: nullopt when the body is read, else the
// message of Elasticsearch's 406 ("Content-Type header is missing", or
// "Content-Type header [V] is not supported" with the values as sent, joined
// by commas). `content_types` holds every Content-Type header value received.
std::optional<std::string> RefusedContentTypeMessage(
    const std::vector<std::string>& content_types);

// Elasticsearch 8's JSON nesting limit (Jackson's
// StreamReadConstraints.getMaxNestingDepth(), 1000 objects and arrays).
inline constexpr int kMaxJsonDepth = 1000;

// OK when `text` nests objects and arrays at most kMaxJsonDepth deep (counted
// by one pass over the bytes, without recursion, before any parser runs),
// else 400 x_content_parse_exception "[LINE:COL] Document nesting depth (1001)
// exceeds the maximum allowed (1000, from
// `StreamReadConstraints.getMaxNestingDepth()`)". Brackets inside strings do
// not count; the text need not be valid JSON.
absl::Status CheckJsonDepth(std::string_view text);

// A 20-character URL-safe base64 id from 15 random bytes (thread-safe).
std::string GenerateId();

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_REST_UTIL_H_
