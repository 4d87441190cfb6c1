// Query evaluation on a shard (node/logic/query.h): each query kind against
// documents typed as Elasticsearch's dynamic mapping types them, the order of
// hits under sort keys, and what a shard keeps of them.
#include "node/logic/query.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace seqsim::query {
namespace {

using Docs = std::vector<std::pair<std::string, StoredDoc>>;

StoredDoc Doc(const std::string& source, int64_t seq_no) {
  StoredDoc doc;
  doc.source = source;
  doc.version = 1;
  doc.seq_no = seq_no;
  doc.term = 1;
  return doc;
}

// Books indexed in this order (seq_no 0..4).
Docs Books() {
  return {
      {"1", Doc(R"({"title":"Dune","year":1965,"tags":["sf","classic"],)"
                R"("author":{"name":"Frank Herbert"},"rating":4.5})",
                0)},
      {"2", Doc(R"({"title":"Dune Messiah","year":1969,"tags":["sf"],)"
                R"("author":{"name":"Frank Herbert"},"rating":3.9})",
                1)},
      {"3", Doc(R"({"title":"The Left Hand of Darkness","year":1969,)"
                R"("author.name":"Ursula K. Le Guin","available":true})",
                2)},
      {"4", Doc(R"({"title":"Hyperion","year":"1989","available":false,)"
                R"("rating":null})",
                3)},
      {"5", Doc(R"({"note":"no title"})", 4)},
  };
}

// Builds queries in their wire form directly (the REST parser has its own
// tests): a tiny JSON-ish helper for the common shapes.
pb::Query Term(const std::string& field, const std::string& value_json) {
  pb::Query q;
  q.mutable_term()->set_field(field);
  q.mutable_term()->set_value_json(value_json);
  return q;
}
pb::Query Match(const std::string& field, const std::string& text,
                bool operator_and = false) {
  pb::Query q;
  q.mutable_match()->set_field(field);
  q.mutable_match()->set_query_json(nlohmann::json(text).dump());
  q.mutable_match()->set_operator_and(operator_and);
  return q;
}
pb::Query Exists(const std::string& field) {
  pb::Query q;
  q.mutable_exists()->set_field(field);
  return q;
}

// The ids of the hits of `query` (sorted by `sort`), in hit order.
std::vector<std::string> Ids(const pb::Query& query,
                             std::vector<pb::SortField> sort = {},
                             int size = 100) {
  pb::SearchRequest request;
  *request.mutable_query() = query;
  for (auto& key : sort) *request.add_sort() = key;
  request.set_size(size);
  absl::StatusOr<ShardResult> result =
      SearchShard(request, "books", 0, Books());
  EXPECT_TRUE(result.ok()) << result.status();
  std::vector<std::string> ids;
  if (!result.ok()) return ids;
  for (const auto& hit : result->hits) ids.push_back(hit.id());
  return ids;
}

using Ids_ = std::vector<std::string>;

TEST(StandardAnalyzer, LowercasesAndSplitsOnNonAlphanumerics) {
  EXPECT_EQ(Analyze("The Left-Hand of DARKNESS!"),
            (Ids_{"the", "left", "hand", "of", "darkness"}));
  EXPECT_EQ(Analyze("don't stop_me at 3.14, U.S.A. 1,000"),
            (Ids_{"don't", "stop_me", "at", "3.14", "u.s.a", "1,000"}));
  EXPECT_EQ(Analyze("  ...  "), Ids_{});
  EXPECT_EQ(Analyze("caf\xC3\xA9 au lait"),
            (Ids_{"caf\xC3\xA9", "au", "lait"}));
}

TEST(QueryTerm, OnTextMatchesOneWordNotAnalyzed) {
  EXPECT_EQ(Ids(Term("title", R"("dune")")), (Ids_{"1", "2"}));
  EXPECT_EQ(Ids(Term("title", R"("Dune")")), Ids_{});  // terms are not analyzed
  EXPECT_EQ(Ids(Term("title.keyword", R"("Dune")")), Ids_{"1"});
  EXPECT_EQ(Ids(Term("title.keyword", R"("dune")")), Ids_{});
  EXPECT_EQ(Ids(Term("tags", R"("classic")")), Ids_{"1"});  // arrays
}

TEST(QueryTerm, NumbersBooleansObjectsAndId) {
  EXPECT_EQ(Ids(Term("year", "1969")), (Ids_{"2", "3"}));
  EXPECT_EQ(Ids(Term("year", R"("1969")")), (Ids_{"2", "3"}));
  EXPECT_EQ(Ids(Term("year", "1989")), Ids_{"4"});  // "1989" is text there
  EXPECT_EQ(Ids(Term("rating", "4.5")), Ids_{"1"});
  EXPECT_EQ(Ids(Term("available", "true")), Ids_{"3"});
  EXPECT_EQ(Ids(Term("available", R"("false")")), Ids_{"4"});
  // Dotted paths reach into objects and dotted keys alike.
  EXPECT_EQ(Ids(Term("author.name", R"("herbert")")), (Ids_{"1", "2"}));
  EXPECT_EQ(Ids(Term("author.name", R"("guin")")), Ids_{"3"});
  EXPECT_EQ(Ids(Term("_id", R"("3")")), Ids_{"3"});
  EXPECT_EQ(Ids(Term("_id", "3")), Ids_{"3"});
}

TEST(QueryTerms, AnyValue) {
  pb::Query q;
  q.mutable_terms()->set_field("_id");
  q.mutable_terms()->add_values_json(R"("5")");
  q.mutable_terms()->add_values_json(R"("1")");
  q.mutable_terms()->add_values_json(R"("9")");
  EXPECT_EQ(Ids(q), (Ids_{"1", "5"}));
  pb::Query years;
  years.mutable_terms()->set_field("year");
  years.mutable_terms()->add_values_json("1965");
  years.mutable_terms()->add_values_json("1989");
  EXPECT_EQ(Ids(years), (Ids_{"1", "4"}));
}

TEST(QueryMatch, OrByDefaultAndWithOperatorAndMinimumShouldMatch) {
  EXPECT_EQ(Ids(Match("title", "DUNE darkness")), (Ids_{"1", "2", "3"}));
  EXPECT_EQ(Ids(Match("title", "Dune messiah", true)), Ids_{"2"});
  EXPECT_EQ(Ids(Match("title", "...")), Ids_{});  // no words: nothing
  pb::Query q = Match("title", "the left dune hand");
  q.mutable_match()->set_minimum_should_match("75%");
  EXPECT_EQ(Ids(q), Ids_{"3"});
  q.mutable_match()->set_minimum_should_match("1");
  EXPECT_EQ(Ids(q), (Ids_{"1", "2", "3"}));
  // A keyword or number compares the whole value.
  EXPECT_EQ(Ids(Match("title.keyword", "Dune Messiah")), Ids_{"2"});
  EXPECT_EQ(Ids(Match("year", "1965")), Ids_{"1"});
}

TEST(QueryRange, NumbersAndStrings) {
  pb::Query q;
  q.mutable_range()->set_field("year");
  q.mutable_range()->set_gt_json("1965");
  q.mutable_range()->set_lte_json("1969");
  EXPECT_EQ(Ids(q), (Ids_{"2", "3"}));
  q.mutable_range()->clear_gt_json();
  q.mutable_range()->set_gte_json("1965");
  EXPECT_EQ(Ids(q), (Ids_{"1", "2", "3"}));
  pb::Query rating;
  rating.mutable_range()->set_field("rating");
  rating.mutable_range()->set_lt_json("4");
  EXPECT_EQ(Ids(rating), Ids_{"2"});
  // Strings: the keyword by its whole value, text by its words (bytes order).
  pb::Query keyword;
  keyword.mutable_range()->set_field("title.keyword");
  keyword.mutable_range()->set_gte_json(R"("Dune")");
  keyword.mutable_range()->set_lt_json(R"("I")");
  EXPECT_EQ(Ids(keyword), (Ids_{"1", "2", "4"}));
  pb::Query text;
  text.mutable_range()->set_field("title");
  text.mutable_range()->set_gte_json(R"("l")");
  text.mutable_range()->set_lt_json(R"("m")");
  EXPECT_EQ(Ids(text), Ids_{"3"});  // "left"
}

TEST(QueryExists, NonNullValuesOnly) {
  EXPECT_EQ(Ids(Exists("title")), (Ids_{"1", "2", "3", "4"}));
  EXPECT_EQ(Ids(Exists("rating")), (Ids_{"1", "2"}));  // null is no value
  EXPECT_EQ(Ids(Exists("author")), (Ids_{"1", "2"}));  // an object
  EXPECT_EQ(Ids(Exists("author.name")), (Ids_{"1", "2", "3"}));
  EXPECT_EQ(Ids(Exists("title.keyword")), (Ids_{"1", "2", "3", "4"}));
  EXPECT_EQ(Ids(Exists("missing")), Ids_{});
  EXPECT_EQ(Ids(Exists("_version")).size(), 5u);
}

TEST(QueryBool, MustFilterMustNotShould) {
  pb::Query q;
  *q.mutable_bool_()->add_must() = Match("title", "dune");
  *q.mutable_bool_()->add_must_not() = Term("year", "1969");
  EXPECT_EQ(Ids(q), Ids_{"1"});

  // Should only: at least one must match.
  pb::Query should;
  *should.mutable_bool_()->add_should() = Term("year", "1965");
  *should.mutable_bool_()->add_should() = Term("available", "false");
  EXPECT_EQ(Ids(should), (Ids_{"1", "4"}));

  // With a filter the should clauses are optional...
  pb::Query optional = should;
  *optional.mutable_bool_()->add_filter() = Exists("title");
  EXPECT_EQ(Ids(optional), (Ids_{"1", "2", "3", "4"}));
  // ...unless minimum_should_match says otherwise.
  optional.mutable_bool_()->set_minimum_should_match("1");
  EXPECT_EQ(Ids(optional), (Ids_{"1", "4"}));
  optional.mutable_bool_()->set_minimum_should_match("3");  // > clauses
  EXPECT_EQ(Ids(optional), Ids_{});
  optional.mutable_bool_()->set_minimum_should_match("-50%");
  EXPECT_EQ(Ids(optional), (Ids_{"1", "4"}));

  pb::Query empty;
  empty.mutable_bool_();
  EXPECT_EQ(Ids(empty).size(), 5u);
  pb::Query none;
  none.mutable_match_none();
  EXPECT_EQ(Ids(none), Ids_{});
}

TEST(MinimumShouldMatchSpec, AsElasticsearchComputesIt) {
  EXPECT_EQ(MinimumShouldMatch(4, "2"), 2);
  EXPECT_EQ(MinimumShouldMatch(4, "-1"), 3);
  EXPECT_EQ(MinimumShouldMatch(4, "75%"), 3);
  EXPECT_EQ(MinimumShouldMatch(3, "75%"), 2);  // rounded down
  EXPECT_EQ(MinimumShouldMatch(4, "-25%"), 3);
  EXPECT_EQ(MinimumShouldMatch(2, "5"), 5);
  EXPECT_EQ(MinimumShouldMatch(2, "-5"), 0);
  EXPECT_EQ(MinimumShouldMatch(2, "x"), -1);
  EXPECT_EQ(MinimumShouldMatch(2, "1e300%"), 3);  // more than the clauses
  EXPECT_EQ(MinimumShouldMatch(2, "-1e300%"), 0);
}

pb::SortField Key(const std::string& field, bool descending = false) {
  pb::SortField key;
  key.set_field(field);
  key.set_descending(descending);
  return key;
}

TEST(SortHits, FieldsAscDescMissingLastAndIndexOrderTieBreak) {
  pb::Query all;
  all.mutable_match_all();
  // Default order: index order (the order of the last writes).
  EXPECT_EQ(Ids(all), (Ids_{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(Ids(all, {Key("rating")}), (Ids_{"2", "1", "3", "4", "5"}));
  EXPECT_EQ(Ids(all, {Key("rating", true)}), (Ids_{"1", "2", "3", "4", "5"}));
  pb::SortField first = Key("rating");
  first.set_missing_first(true);
  EXPECT_EQ(Ids(all, {first}), (Ids_{"3", "4", "5", "2", "1"}));
  EXPECT_EQ(Ids(all, {Key("title.keyword", true)}),
            (Ids_{"3", "4", "2", "1", "5"}));
  EXPECT_EQ(Ids(all, {Key("_seq_no", true)}), (Ids_{"5", "4", "3", "2", "1"}));
  EXPECT_EQ(Ids(all, {Key("_doc", true)}), (Ids_{"5", "4", "3", "2", "1"}));
  // Multi-valued: the lowest value ascending, the highest descending.
  EXPECT_EQ(Ids(all, {Key("tags.keyword")}), (Ids_{"1", "2", "3", "4", "5"}));
}

TEST(SortHits, SortValuesTravelWithTheHits) {
  pb::SearchRequest request;
  for (const char* id : {"1", "2", "3"}) {
    request.mutable_query()->mutable_terms()->add_values_json(
        nlohmann::json(id).dump());
  }
  request.mutable_query()->mutable_terms()->set_field("_id");
  *request.add_sort() = Key("year", true);
  *request.add_sort() = Key("_doc");
  request.set_size(2);
  absl::StatusOr<ShardResult> result =
      SearchShard(request, "books", 3, Books());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total, 3);
  ASSERT_EQ(result->hits.size(), 2u);  // from + size kept
  // 1969 twice, then by _doc.
  EXPECT_EQ(result->hits[0].id(), "2");
  EXPECT_EQ(result->hits[0].sort_values(0).long_value(), 1969);
  EXPECT_EQ(result->hits[0].sort_values(1).long_value(), 1);
  EXPECT_EQ(result->hits[0].shard(), 3);
  EXPECT_EQ(result->hits[1].id(), "3");
  EXPECT_FALSE(result->hits[0].source().empty());
}

TEST(SortHits, SearchAfterKeepsHitsStrictlyAfterTheValuesAndTheTotal) {
  pb::SearchRequest request;
  request.mutable_query()->mutable_match_all();
  *request.add_sort() = Key("rating", true);
  request.set_size(10);
  pb::SortValue* after = request.add_search_after();
  after->set_double_value(4.5);
  absl::StatusOr<ShardResult> result =
      SearchShard(request, "books", 0, Books());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->total, 5);
  std::vector<std::string> ids;
  for (const auto& hit : result->hits) ids.push_back(hit.id());
  EXPECT_EQ(ids, (Ids_{"2", "3", "4", "5"}));  // 3.9, then the missing ones
  // After a missing value (the sentinel read back): nothing is after it.
  request.mutable_search_after(0)->set_missing(true);
  result = SearchShard(request, "books", 0, Books());
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result->hits.empty());
}

TEST(SortHits, TextFieldsAndIdAreRefusedAsElasticsearchDoes) {
  pb::SearchRequest request;
  request.mutable_query()->mutable_match_all();
  *request.add_sort() = Key("title");
  absl::StatusOr<ShardResult> result =
      SearchShard(request, "books", 0, Books());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find(
                "Text fields are not optimised for operations that require "
                "per-document field data"),
            std::string::npos);
  request.mutable_sort(0)->set_field("_id");
  result = SearchShard(request, "books", 0, Books());
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find(
                "Fielddata access on the _id field is disallowed"),
            std::string::npos);
}

TEST(SortHits, MergeAcrossShardsUsesTheSameOrder) {
  pb::SortField key = Key("n");
  google::protobuf::RepeatedPtrField<pb::SortField> sort;
  *sort.Add() = key;
  pb::SearchHit a, b, c;
  a.set_index("i");
  a.set_shard(1);
  a.add_sort_values()->set_long_value(5);
  b.set_index("i");
  b.set_shard(0);
  b.add_sort_values()->set_long_value(5);
  c.set_index("i");
  c.set_shard(0);
  c.add_sort_values()->set_missing(true);
  EXPECT_TRUE(HitLess(sort, b, a));  // equal values: the lower shard first
  EXPECT_TRUE(HitLess(sort, a, c));  // missing last
  sort.Mutable(0)->set_descending(true);
  EXPECT_TRUE(HitLess(sort, a, c));  // missing last descending too
}

}  // namespace
}  // namespace seqsim::query
