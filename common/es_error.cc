#include "common/es_error.h"

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace seqsim {
namespace {

constexpr char kTypePayload[] = "seqsim/es_type";
constexpr char kHttpPayload[] = "seqsim/http_status";

std::string DefaultType(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return "";
    case absl::StatusCode::kInvalidArgument:
      return "illegal_argument_exception";
    case absl::StatusCode::kFailedPrecondition:
      return "version_conflict_engine_exception";
    case absl::StatusCode::kNotFound:
      return "resource_not_found_exception";
    case absl::StatusCode::kAlreadyExists:
      return "resource_already_exists_exception";
    case absl::StatusCode::kUnavailable:
      return "unavailable_shards_exception";
    case absl::StatusCode::kDeadlineExceeded:
      return "timeout_exception";
    case absl::StatusCode::kResourceExhausted:
      return "es_rejected_execution_exception";
    default:
      return "exception";
  }
}

int DefaultHttp(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
      return 400;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    default:
      return 500;
  }
}

absl::StatusCode CodeForHttp(int http) {
  switch (http) {
    case 200:
    case 201:
      return absl::StatusCode::kOk;
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status EsStatus(absl::StatusCode code, absl::string_view es_type,
                      absl::string_view reason, int http_status) {
  absl::Status status(code, reason);
  status.SetPayload(kTypePayload, absl::Cord(es_type));
  if (http_status != 0) {
    status.SetPayload(kHttpPayload, absl::Cord(absl::StrCat(http_status)));
  }
  return status;
}

std::string EsType(const absl::Status& status) {
  if (absl::optional<absl::Cord> type = status.GetPayload(kTypePayload)) {
    return std::string(*type);
  }
  return DefaultType(status.code());
}

int HttpStatus(const absl::Status& status) {
  if (absl::optional<absl::Cord> http = status.GetPayload(kHttpPayload)) {
    int value = 0;
    if (absl::SimpleAtoi(std::string(*http), &value)) return value;
  }
  return DefaultHttp(status.code());
}

pb::Error ToError(const absl::Status& status, absl::string_view index,
                  absl::string_view index_uuid, int shard) {
  pb::Error error;
  if (status.ok()) return error;
  error.set_status(HttpStatus(status));
  error.set_type(EsType(status));
  error.set_reason(std::string(status.message()));
  error.set_index(std::string(index));
  error.set_index_uuid(std::string(index_uuid));
  if (shard >= 0) error.set_shard(absl::StrCat(shard));
  return error;
}

absl::Status FromError(const pb::Error& error) {
  if (!HasError(error)) return absl::OkStatus();
  return EsStatus(CodeForHttp(error.status()), error.type(), error.reason(),
                  error.status());
}

absl::Status VersionConflict(absl::string_view reason) {
  return EsStatus(absl::StatusCode::kFailedPrecondition,
                  "version_conflict_engine_exception", reason);
}

absl::Status ValidationFailed(const std::vector<std::string>& messages) {
  std::string reason = "Validation Failed: ";
  for (size_t i = 0; i < messages.size(); ++i) {
    // No space between messages (ValidationException.getMessage()).
    absl::StrAppend(&reason, i + 1, ": ", messages[i], ";");
  }
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "action_request_validation_exception", reason);
}

absl::Status DocumentMissing(absl::string_view id) {
  return EsStatus(absl::StatusCode::kNotFound, "document_missing_exception",
                  absl::StrCat("[", id, "]: document missing"));
}

absl::Status IndexNotFound(absl::string_view index) {
  return EsStatus(absl::StatusCode::kNotFound, "index_not_found_exception",
                  absl::StrCat("no such index [", index, "]"));
}

absl::Status IllegalArgument(absl::string_view reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "illegal_argument_exception", reason);
}

absl::Status UnavailableShards(absl::string_view reason) {
  return EsStatus(absl::StatusCode::kUnavailable,
                  "unavailable_shards_exception", reason);
}

}  // namespace seqsim
