// Index expressions resolved against a cluster state (see
// index_expression.h).
#include "node/rest/index_expression.h"

#include <algorithm>
#include <iterator>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"

namespace seqsim::rest {

// The node refused a write's index name because no such index exists or
// because the name is not a valid index name (an alias's is not): the name
// may be an alias to resolve. Decided by the error type alone; the cluster
// state look-up that follows decides whether the name is an alias (if it is
// none, the caller answers this error).
bool MayNameAnAlias(const pb::Error& error) {
  return error.type() == "index_not_found_exception" ||
         error.type() == "invalid_index_name_exception";
}

const pb::IndexMeta* FindIndex(const pb::ClusterState& state,
                               const std::string& name) {
  for (const pb::IndexMeta& index : state.indices()) {
    if (index.name() == name) return &index;
  }
  return nullptr;
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
    pb::Error* missing, const IndicesOptions& options) {
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

}  // namespace seqsim::rest
