#include "common/index_name.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/es_error.h"
#include "common/validation.h"

namespace seqsim {
namespace {

// Elasticsearch's Strings.INVALID_FILENAME_CHARS, as Elasticsearch 8's error
// messages print the set (quoted and sorted).
constexpr char kInvalidFileNameCharsEs8[] =
    "[' ','\"','*',',','/','<','>','?','\\','|']";

}  // namespace

// Elasticsearch's MetadataCreateIndexService.validateIndexName rules, in its
// order.
IndexNameRule BrokenIndexNameRule(absl::string_view name) {
  if (!IsValidUtf8(name)) return IndexNameRule::kNotUtf8;
  for (char c : name) {
    if (c == '\\' || c == '/' || c == '*' || c == '?' || c == '"' || c == '<' ||
        c == '>' || c == '|' || c == ' ' || c == ',') {
      return IndexNameRule::kForbiddenCharacter;
    }
  }
  if (name.empty()) return IndexNameRule::kEmpty;
  if (name.find('#') != absl::string_view::npos) {
    return IndexNameRule::kContainsHash;
  }
  if (name.find(':') != absl::string_view::npos) {
    return IndexNameRule::kContainsColon;
  }
  if (name[0] == '_' || name[0] == '-' || name[0] == '+') {
    return IndexNameRule::kBadFirstCharacter;
  }
  if (name.size() > kMaxIndexNameBytes) return IndexNameRule::kTooLong;
  if (name == "." || name == "..") return IndexNameRule::kDotOrDotDot;
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') return IndexNameRule::kNotLowercase;
  }
  return IndexNameRule::kValid;
}

std::optional<std::string> InvalidIndexNameReason(absl::string_view name) {
  std::string why;
  switch (BrokenIndexNameRule(name)) {
    case IndexNameRule::kValid:
      return std::nullopt;
    case IndexNameRule::kNotUtf8:
      // The name itself cannot be printed.
      return "Invalid index name, must be valid UTF-8";
    case IndexNameRule::kForbiddenCharacter:
      why = absl::StrCat("must not contain the following characters ",
                         kInvalidFileNameCharsEs8);
      break;
    case IndexNameRule::kEmpty:
      why = "must not be empty";
      break;
    case IndexNameRule::kContainsHash:
      why = "must not contain '#'";
      break;
    case IndexNameRule::kContainsColon:
      why = "must not contain ':'";
      break;
    case IndexNameRule::kBadFirstCharacter:
      why = "must not start with '_', '-', or '+'";
      break;
    case IndexNameRule::kTooLong:
      why = absl::StrCat("index name is too long, (", name.size(), " > ",
                         kMaxIndexNameBytes, ")");
      break;
    case IndexNameRule::kDotOrDotDot:
      why = "must not be '.' or '..'";
      break;
    case IndexNameRule::kNotLowercase:
      why = "must be lowercase";
      break;
  }
  return absl::StrCat("Invalid index name [", name, "], ", why);
}

absl::Status ValidateIndexName(absl::string_view name) {
  std::optional<std::string> reason = InvalidIndexNameReason(name);
  if (!reason.has_value()) return absl::OkStatus();
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "invalid_index_name_exception", *reason, 400);
}

}  // namespace seqsim
