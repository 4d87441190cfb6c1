// The one validator of an index name (and of an alias name, which follows the
// same rules): Elasticsearch's MetadataCreateIndexService rules
// (validateIndexOrAliasName, then validateIndexName's lowercase check), in its
// order and with its wording. Every entry point calls it: the REST layer on
// each route that names an index (node/rest/rest_util.h ValidateIndexName) and
// the coordinator on create index (index admin). It implements no replication
// rule (R1..R10); it belongs to the index-admin API family.
//
// The wire-level check of a name in any internal message (UTF-8, length, not
// a path) is the weaker ValidateIndexNameText in common/validation.h.
//
// Thread-safety: pure functions.
#ifndef SEQSIM_COMMON_INDEX_NAME_H_
#define SEQSIM_COMMON_INDEX_NAME_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace seqsim {

// Which rule an index name breaks, in the order they are checked (the first
// broken one is reported).
enum class IndexNameRule {
  kValid,
  kNotUtf8,             // seqsim's: the wire carries UTF-8 only
  kForbiddenCharacter,  // one of \ / * ? " < > | space ,
  kEmpty,
  kContainsHash,
  kContainsColon,
  kBadFirstCharacter,  // starts with '_', '-' or '+'
  kTooLong,            // more than kMaxIndexNameBytes bytes
  kDotOrDotDot,
  kNotLowercase,
};

// The first rule `name` breaks, or kValid.
IndexNameRule BrokenIndexNameRule(absl::string_view name);

// The full reason ("Invalid index name [Foo], must be lowercase") when `name`
// breaks a rule, else nullopt.
// A forbidden character is listed as Elasticsearch 8 lists them:
// [' ','"','*',',','/','<','>','?','\','|'].
std::optional<std::string> InvalidIndexNameReason(absl::string_view name);

// OK for a valid name; else 400 invalid_index_name_exception (an EsStatus,
// kInvalidArgument) with InvalidIndexNameReason's reason.
absl::Status ValidateIndexName(absl::string_view name);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_INDEX_NAME_H_
