// Query evaluation on a shard: the query DSL of pb::Query, sort keys and the
// order of hits, without mappings. Fields are typed per value the way
// Elasticsearch's dynamic mapping types them: a JSON string is a `text` field
// (standard analyzer: lowercased words) with a `keyword` subfield
// `<field>.keyword` (the whole string, up to 256 characters); numbers are
// numeric, booleans boolean, objects hold subfields (dotted paths), arrays hold
// several values. Metadata fields: `_id`, `_index` (keyword), `_seq_no`,
// `_primary_term`, `_version` (numbers).
//
// - term / terms: a text value matches a term equal to one of its words (the
//   term is not analyzed: "Dune" matches nothing, "dune" matches "Dune"); a
//   keyword matches the whole string; numbers and booleans compare as values.
// - match: the query text is analyzed; a text field matches if any word (all
//   with operator_and; at least minimum_should_match) is among its words;
//   other fields compare as term does.
// - range: numbers numerically, text by its words, keywords by the whole
//   string (both in byte order, as Lucene orders terms).
// - exists: the field has a non-null value.
// - bool: must and filter all, must_not none, should at least
//   minimum_should_match (default 1 when there is no must or filter, else 0).
//
// Hits are ordered by the sort keys, then by index name, shard and index order
// (the order of the documents' last writes: seq_no), which is Elasticsearch's
// tie-break (shard index, then Lucene doc id). No scores are computed: every
// hit scores 1.0.
//
// Thread-safety: pure functions.
#ifndef SEQSIM_NODE_LOGIC_QUERY_H_
#define SEQSIM_NODE_LOGIC_QUERY_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/engine/shard_engine.h"
#include "proto/seqsim.pb.h"

namespace seqsim::query {

// Elasticsearch's bool-query nesting limit
// (indices.query.bool.max_nested_depth).
inline constexpr int kMaxQueryDepth = 30;
// ignore_above of the dynamic `.keyword` subfield.
inline constexpr size_t kKeywordIgnoreAbove = 256;

// The words of `text` as the standard analyzer approximately gives them:
// split on characters other than letters, digits and '_' (bytes of non-ASCII
// characters count as letters), "'" and "." kept between two letters, "." ","
// and "'" between two digits, ASCII lowercased, at most 255 bytes a word.
std::vector<std::string> Analyze(absl::string_view text);

// The number of optional clauses of `clauses` required by Elasticsearch's
// minimum_should_match `spec` ("3", "-1", "75%", "-25%"; at least 0, possibly
// more than `clauses`), or -1 when `spec` is malformed.
int MinimumShouldMatch(int clauses, absl::string_view spec);

// One shard's answer to a search: every match counted, the first
// `from + size` in hit order kept.
struct ShardResult {
  int64_t total = 0;
  std::vector<pb::SearchHit> hits;
};

// Evaluates `request` (query, sort, search_after, from + size) over `docs`,
// the live
// documents of shard `shard` of `index` (any order). kInvalidArgument (400
// illegal_argument_exception) for a sort Elasticsearch refuses: on a text
// field, or on _id.
absl::StatusOr<ShardResult> SearchShard(
    const pb::SearchRequest& request, const std::string& index, int shard,
    const std::vector<std::pair<std::string, StoredDoc>>& docs);

// Whether hit `a` comes before hit `b` under `sort` (then index, shard, index
// order). Both carry sort values for every key of `sort`.
bool HitLess(const google::protobuf::RepeatedPtrField<pb::SortField>& sort,
             const pb::SearchHit& a, const pb::SearchHit& b);

}  // namespace seqsim::query

#endif  // SEQSIM_NODE_LOGIC_QUERY_H_
