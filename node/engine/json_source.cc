#include "node/engine/json_source.h"

#include <utility>

#include "common/es_error.h"
#include "nlohmann/json.hpp"

namespace seqsim {
namespace {

using Json = nlohmann::ordered_json;

absl::Status ParseFailure() {
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "mapper_parsing_exception", "failed to parse");
}

bool ParseObject(std::string_view text, Json* out) {
  *out = Json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                     /*allow_exceptions=*/false);
  return out->is_object();
}

// Merges `partial` into `target`; returns true if `target` changed.
bool MergeInto(Json& target, const Json& partial) {
  bool changed = false;
  for (auto it = partial.begin(); it != partial.end(); ++it) {
    auto existing = target.find(it.key());
    if (existing == target.end()) {
      target[it.key()] = it.value();
      changed = true;
    } else if (existing->is_object() && it.value().is_object()) {
      changed = MergeInto(*existing, it.value()) || changed;
    } else if (*existing != it.value()) {
      *existing = it.value();
      changed = true;
    }
  }
  return changed;
}

}  // namespace

absl::Status ValidateSource(std::string_view source) {
  // Fast structural check without building a tree; the root must be an object.
  size_t first = source.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || source[first] != '{')
    return ParseFailure();
  if (!Json::accept(source.begin(), source.end())) return ParseFailure();
  return absl::OkStatus();
}

absl::StatusOr<bool> MergeSource(std::string* source,
                                 std::string_view partial) {
  Json target;
  Json update;
  if (!ParseObject(*source, &target) || !ParseObject(partial, &update)) {
    return ParseFailure();
  }
  if (!MergeInto(target, update)) return false;
  *source = target.dump();
  return true;
}

}  // namespace seqsim
