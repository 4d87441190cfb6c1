// Reading a REST request, for every API family: the request as handlers see
// it (Ctx: path segments, URL parameters decoded as UTF-8), parameter helpers
// with Elasticsearch's messages (booleans, comma lists, `_source`
// parameters, ignore_unavailable / allow_no_indices / expand_wildcards), the
// parameters every write shares (routing, if_seq_no / if_primary_term and
// version / version_type for R2, refresh, wait_for_active_shards, timeout),
// the update body shared by _update and _bulk, and the body checks and
// parse errors several endpoints answer. No replication rule lives here:
// R2's checks are the engine's; this only carries the parameters.
//
// Thread-safety: every function is safe to call from any thread.
#ifndef SEQSIM_NODE_REST_PARAMS_H_
#define SEQSIM_NODE_REST_PARAMS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "node/rest/es_json.h"
#include "node/rest/http_server.h"
#include "node/rest/index_expression.h"
#include "node/rest/rest_util.h"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

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

// The boolean parameter `key` (ParseBool), `fallback` when absent.
absl::StatusOr<bool> BoolParam(const Ctx& c, const std::string& key,
                               bool fallback);

// The items of a comma list, trimmed, empty ones dropped.
std::vector<std::string> CommaList(const std::string& text);

// `_source` ("true", "false" or includes), `_source_includes`,
// `_source_excludes` URL parameters.
SourceSpec SourceSpecFromParams(const Ctx& c);

// A `_source` field of a body: true/false, a pattern, a list of patterns, or
// {"includes": ..., "excludes": ...}; `where` names it in errors.
absl::StatusOr<SourceSpec> SourceSpecFromJson(const Json& value,
                                              const std::string& where);

// The options of the request's ignore_unavailable, allow_no_indices and
// expand_wildcards parameters, over `defaults`.
absl::StatusOr<IndicesOptions> IndicesOptionsOf(const Ctx& c,
                                                IndicesOptions defaults = {});

// The URL parameters every write shares (routing, if_seq_no,
// if_primary_term, version, version_type, refresh, wait_for_active_shards,
// timeout) into `write`; 400 with Elasticsearch's message when one is bad.
absl::Status ApplyWriteParams(const Ctx& c, pb::WriteRequest& write);

// Reads an update body ({"doc", "doc_as_upsert", "upsert", "detect_noop",
// "_source", "if_seq_no", "if_primary_term"}) into `write`, its `_source` into
// `*source`. Shared by _update and _bulk.
absl::Status ParseUpdateBody(const Json& body, pb::WriteRequest& write,
                             SourceSpec* source);

// Whether `text` is empty or only whitespace.
bool IsBlank(const std::string& text);
// 400 parse_exception "request body is required".
absl::Status BodyRequired();
// 400 parse_exception "Failed to parse content to map".
absl::Status BodyUnparsable();
// 400 mapper_parsing_exception "failed to parse" (a document that is not a
// JSON object).
pb::Error DocumentUnparsable();
// 400 parsing_exception with `reason`.
absl::Status ParsingError(const std::string& reason);

// A JSON integer, or a string holding one (Elasticsearch accepts both in
// settings).
std::optional<int64_t> JsonInteger(const Json& value);

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_PARAMS_H_
