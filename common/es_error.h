// The one place where seqsim's absl::Status values meet Elasticsearch's error
// types and HTTP statuses.
//
// A Status built with EsStatus() carries its Elasticsearch type (e.g.
// "version_conflict_engine_exception") as a payload; statuses without one get a
// type from their code. Codes follow STYLE.md: kInvalidArgument bad input
// (400), kFailedPrecondition a version conflict or stale term (409), kNotFound
// (404), kUnavailable a peer down (503), kDeadlineExceeded a timeout (503 /
// 504).
#ifndef SEQSIM_COMMON_ES_ERROR_H_
#define SEQSIM_COMMON_ES_ERROR_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// A Status with an explicit Elasticsearch error type and, optionally, an HTTP
// status that overrides the one implied by `code`.
absl::Status EsStatus(absl::StatusCode code, absl::string_view es_type,
                      absl::string_view reason, int http_status = 0);

// The Elasticsearch error type of `status` (payload, else derived from the
// code).
std::string EsType(const absl::Status& status);
// The HTTP status of `status` (payload, else derived from the code). 200 for
// OK.
int HttpStatus(const absl::Status& status);

// Status <-> wire error. ToError fills index / index_uuid / shard when given.
pb::Error ToError(const absl::Status& status, absl::string_view index = "",
                  absl::string_view index_uuid = "", int shard = -1);
absl::Status FromError(const pb::Error& error);
inline bool HasError(const pb::Error& error) { return !error.type().empty(); }

// Common errors, with Elasticsearch's exact reasons (ES-SEMANTICS.md).
// 409 version_conflict_engine_exception with `reason`.
absl::Status VersionConflict(absl::string_view reason);
// 400 action_request_validation_exception "Validation Failed: 1: a; 2: b;".
absl::Status ValidationFailed(const std::vector<std::string>& messages);
// 404 document_missing_exception "[ID]: document missing".
absl::Status DocumentMissing(absl::string_view id);
// 404 index_not_found_exception "no such index [NAME]".
absl::Status IndexNotFound(absl::string_view index);
// 400 illegal_argument_exception.
absl::Status IllegalArgument(absl::string_view reason);
// 503 unavailable_shards_exception.
absl::Status UnavailableShards(absl::string_view reason);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_ES_ERROR_H_
