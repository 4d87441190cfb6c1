// Index expressions as Elasticsearch's IndexNameExpressionResolver reads them
// against a cluster state: names, aliases, `*` patterns, `_all`, exclusions,
// and the IndicesOptions that say what a missing name or an empty result
// means. Used by every API family that names indices (documents through an
// alias, search, count, indices, aliases, _cat, health). Pure: reads the
// cluster state it is given (the coordinator's, R7), decides nothing about
// replication.
//
// Thread-safety: every function is safe to call from any thread.
#ifndef SEQSIM_NODE_REST_INDEX_EXPRESSION_H_
#define SEQSIM_NODE_REST_INDEX_EXPRESSION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

// How an index expression resolves, as Elasticsearch's IndicesOptions:
// ignore_unavailable skips names that do not exist, allow_no_indices accepts
// an expression that resolves to nothing, expand_wildcards says which indices
// a wildcard reaches (every index here is open and none is hidden).
struct IndicesOptions {
  bool ignore_unavailable = false;
  bool allow_no_indices = true;
  bool expand_open = true;
};

// The node refused a write's index name because no such index exists or
// because it is not a valid index name (it may name an alias): the name may
// be an alias to resolve, which the cluster state decides. By type alone.
bool MayNameAnAlias(const pb::Error& error);

// The index `name` of `state`, or nullptr.
const pb::IndexMeta* FindIndex(const pb::ClusterState& state,
                               const std::string& name);

// Whether `name` matches `pattern`, whose '*' match any run of characters
// (Elasticsearch's Regex.simpleMatch).
bool SimpleMatch(absl::string_view pattern, absl::string_view name);

// The indices the alias `name` points to, in state order.
std::vector<std::string> AliasIndices(const pb::ClusterState& state,
                                      const std::string& name);

// "", "_all" or "*": every index.
bool IsAllExpression(const std::string& expression);

// The indices an expression names, as Elasticsearch's
// IndexNameExpressionResolver: a comma list of names and '*' patterns, "_all"
// (or nothing) for every index, and, after a wildcard, "-name" or "-pattern"
// taking indices out again; in state order, each once. A missing name is an
// index_not_found error (unless ignore_unavailable), and so is an expression
// that resolves to nothing when allow_no_indices is false. The error's body
// goes to `missing`.
absl::StatusOr<std::vector<const pb::IndexMeta*>> ResolveIndices(
    const pb::ClusterState& state, const std::string& expression,
    pb::Error* missing, const IndicesOptions& options = {});

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_INDEX_EXPRESSION_H_
