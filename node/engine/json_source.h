// Document sources: JSON validation and the partial-update merge of `_update`.
//
// Pure helpers (nlohmann::ordered_json, so field order is preserved the way
// Elasticsearch preserves it in _source).
#ifndef SEQSIM_NODE_ENGINE_JSON_SOURCE_H_
#define SEQSIM_NODE_ENGINE_JSON_SOURCE_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace seqsim {

// OK if `source` is a JSON object; else 400 mapper_parsing_exception "failed to
// parse".
absl::Status ValidateSource(std::string_view source);

// Merges the JSON object `partial` into the JSON object `*source` the way
// Elasticsearch's XContentHelper.update does: objects merge recursively, any
// other value replaces. Returns whether anything changed (false = "noop");
// `*source` is rewritten only when it changed. 400 mapper_parsing_exception if
// either side is not a JSON object.
absl::StatusOr<bool> MergeSource(std::string* source, std::string_view partial);

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_JSON_SOURCE_H_
