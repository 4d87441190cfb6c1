// Elasticsearch's query DSL and sort syntax, parsed into pb::Query and
// pb::SortField (node/logic/query.h evaluates them on the shards). Every
// refusal is Elasticsearch's 400 (parsing_exception, or
// illegal_argument_exception where Elasticsearch raises that), without its line
// and column.
//
// Queries: match_all, match_none, ids, term, terms, match, range, exists, bool
// (must, should, must_not, filter, minimum_should_match), with their short
// forms ({"term":{"f":"v"}}, {"match":{"f":"text"}}) and `boost` / `_name`
// accepted. Sort: "f", "f:desc" (URL), {"f":"desc"}, {"f":{"order","missing",
// "mode","unmapped_type","numeric_type","format"}} and lists of them; _score
// sorts descending by default, everything else ascending.
//
// Thread-safety: pure functions.
#ifndef SEQSIM_NODE_REST_QUERY_DSL_H_
#define SEQSIM_NODE_REST_QUERY_DSL_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

// `query` (the value of a "query" key) into `out`.
absl::Status ParseQuery(const nlohmann::ordered_json& query, pb::Query& out);

// The body's "sort" value into `out` (appended).
absl::Status ParseSort(const nlohmann::ordered_json& sort,
                       google::protobuf::RepeatedPtrField<pb::SortField>& out);

// The URL's `sort` parameter ("f1,f2:desc") into `out` (appended).
absl::Status ParseSortParam(
    const std::string& param,
    google::protobuf::RepeatedPtrField<pb::SortField>& out);

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_QUERY_DSL_H_
