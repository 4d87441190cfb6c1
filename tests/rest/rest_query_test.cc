// Issue 16, the query and multi-document APIs at the REST layer: the query
// DSL and sort syntax parsed as Elasticsearch parses them (and refused with
// its messages), hits rendered with their sort values, _mget and _count. A
// RestServer on a loopback port with a scripted Dispatcher; the parser
// directly.
#include <memory>
#include <string>
#include <vector>

// GCC 12 reports a false -Wrestrict inside inlined std::string concatenation.
#pragma GCC diagnostic ignored "-Wrestrict"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "node/rest/query_dsl.h"
#include "node/rest/rest_server.h"
#include "tests/rest/rest_test_fixture.h"

namespace seqsim {
namespace {

using rest_test::Json;
using rest_test::kJson;

// ---- the parser

absl::StatusOr<pb::Query> Parse(const std::string& text) {
  pb::Query query;
  absl::Status status = rest::ParseQuery(Json::parse(text), query);
  if (!status.ok()) return status;
  return query;
}

std::string Reason(const std::string& text) {
  absl::StatusOr<pb::Query> query = Parse(text);
  return query.ok() ? "(parsed)" : std::string(query.status().message());
}

TEST(QueryDsl, TermAndMatchShortAndLongForms) {
  for (const char* text :
       {R"({"term":{"genre":"drama"}})",
        R"({"term":{"genre":{"value":"drama","boost":2}}})"}) {
    absl::StatusOr<pb::Query> q = Parse(text);
    ASSERT_TRUE(q.ok()) << text << ": " << q.status();
    EXPECT_EQ(q->term().field(), "genre");
    EXPECT_EQ(q->term().value_json(), "\"drama\"");
  }
  absl::StatusOr<pb::Query> m = Parse(R"({"match":{"title":"Dune Messiah"}})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->match().field(), "title");
  EXPECT_EQ(m->match().query_json(), "\"Dune Messiah\"");
  EXPECT_FALSE(m->match().operator_and());
  m = Parse(
      R"({"match":{"title":{"query":"dune","operator":"AND","minimum_should_match":"75%"}}})");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->match().operator_and());
  EXPECT_EQ(m->match().minimum_should_match(), "75%");
}

TEST(QueryDsl, TermsRangeExistsIdsBool) {
  absl::StatusOr<pb::Query> q = Parse(R"({"terms":{"tag":["a",2,true]}})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->terms().field(), "tag");
  EXPECT_EQ(q->terms().values_json_size(), 3);
  EXPECT_EQ(q->terms().values_json(1), "2");
  q = Parse(R"({"range":{"year":{"gte":1965,"lt":"1970","boost":1}}})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->range().gte_json(), "1965");
  EXPECT_EQ(q->range().lt_json(), "\"1970\"");
  EXPECT_TRUE(q->range().gt_json().empty());
  q = Parse(R"({"exists":{"field":"title"}})");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->exists().field(), "title");
  q = Parse(
      R"({"bool":{"must":{"match_all":{}},"should":[{"term":{"a":1}},{"ids":{"values":["1"]}}],)"
      R"("must_not":[{"match_none":{}}],"filter":[],"minimum_should_match":1}})");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->bool_().must_size(), 1);
  EXPECT_EQ(q->bool_().should_size(), 2);
  EXPECT_EQ(q->bool_().must_not_size(), 1);
  EXPECT_EQ(q->bool_().filter_size(), 0);
  EXPECT_EQ(q->bool_().minimum_should_match(), "1");
  EXPECT_TRUE(q->bool_().should(1).has_ids());
}

TEST(QueryDsl, RefusalsWithElasticsearchsMessages) {
  EXPECT_EQ(Reason(R"({"fuzzy":{"a":"b"}})"), "unknown query [fuzzy]");
  EXPECT_EQ(Reason(R"({"term":{"a":"x","b":"y"}})"),
            "[term] query doesn't support multiple fields, found [a] and [b]");
  EXPECT_EQ(Reason(R"({"match":{"a":"x","b":"y"}})"),
            "[match] query doesn't support multiple fields, found [a] and [b]");
  EXPECT_EQ(Reason(R"({"term":{"a":["x"]}})"),
            "[term] query does not support array of values");
  EXPECT_EQ(Reason(R"({"term":{"a":{"valu":"x"}}})"),
            "[term] query does not support [valu]");
  EXPECT_EQ(Reason(R"({"match":{"a":{"query":"x","fuzziness":2}}})"),
            "[match] query does not support [fuzziness]");
  EXPECT_EQ(Reason(R"({"match":{"a":{"query":"x","operator":"xor"}}})"),
            "operator needs to be either [AND, OR], but not [xor]");
  EXPECT_EQ(Reason(R"({"range":{"a":{"gte":1},"b":{"lt":2}}})"),
            "[range] query doesn't support multiple fields, found [a] and [b]");
  EXPECT_EQ(Reason(R"({"range":{"a":{"from":1}}})"),
            "[range] query does not support [from]");
  EXPECT_EQ(Reason(R"({"exists":{}})"),
            "[exists] must be provided with a [field]");
  EXPECT_EQ(Reason(R"({"bool":{"must":{"nope":{}}}})"), "unknown query [nope]");
  EXPECT_EQ(Reason(R"({"bool":{"shall":[]}})"),
            "[bool] query does not support [shall]");
  EXPECT_EQ(Reason(R"({"match_all":{},"term":{"a":1}})"),
            "[match_all] malformed query, expected [END_OBJECT] but found "
            "[FIELD_NAME]");
  Json ids = Json::array();
  for (int i = 0; i <= 10000; ++i) ids.push_back(std::to_string(i));
  EXPECT_EQ(Reason(Json{{"ids", {{"values", ids}}}}.dump()),
            "failed to create query: Too many ids specified, allowed max "
            "result window is [10000]");
  // Nested deeper than indices.query.bool.max_nested_depth (30).
  std::string deep = R"({"match_all":{}})";
  for (int i = 0; i < 30; ++i) deep = R"({"bool":{"must":[)" + deep + "]}}";
  EXPECT_EQ(Reason(deep),
            "The nested depth of the query exceeds the maximum nested depth "
            "for queries set in [indices.query.bool.max_nested_depth]");
}

TEST(SortDsl, StringObjectAndListFormsAndTheUrlParameter) {
  google::protobuf::RepeatedPtrField<pb::SortField> sort;
  ASSERT_TRUE(
      rest::ParseSort(
          Json::parse(
              R"(["year",{"title.keyword":"desc"},)"
              R"({"rating":{"order":"desc","missing":"_first","mode":"min"}},)"
              R"("_score","_doc"])"),
          sort)
          .ok());
  ASSERT_EQ(sort.size(), 5);
  EXPECT_EQ(sort[0].field(), "year");
  EXPECT_FALSE(sort[0].descending());
  EXPECT_TRUE(sort[1].descending());
  EXPECT_TRUE(sort[2].descending());
  EXPECT_TRUE(sort[2].missing_first());
  EXPECT_EQ(sort[2].mode(), 1);
  EXPECT_TRUE(sort[3].descending());  // _score: descending by default
  EXPECT_FALSE(sort[4].descending());
  sort.Clear();
  ASSERT_TRUE(rest::ParseSortParam("year:desc,_seq_no", sort).ok());
  ASSERT_EQ(sort.size(), 2);
  EXPECT_TRUE(sort[0].descending());
  EXPECT_EQ(sort[1].field(), "_seq_no");
  absl::Status bad = rest::ParseSortParam("year:up", sort);
  EXPECT_EQ(bad.message(), "Unknown SortOrder [up]");
}

// ---- over HTTP

class QueryApiTest : public rest_test::RestFixture {
 protected:
  void SetUp() override {
    // The cluster state (read to resolve index expressions) holds the
    // indices these tests name; its reads are not recorded.
    pb::ClusterState state;
    for (const char* name : {"books", "films"}) {
      pb::IndexMeta* index = state.add_indices();
      index->set_name(name);
      index->set_uuid(absl::StrCat("uuid-", name));
    }
    dispatcher_.unrecorded_state = std::move(state);
    RestFixture::SetUp();
  }
};

// Two hits sorted by [year desc, rating asc]: the second has no rating.
pb::Envelope SortedHits() {
  pb::Envelope reply;
  pb::SearchResponse* search = reply.mutable_search_response();
  search->set_total(2);
  search->mutable_shards()->set_total(1);
  search->mutable_shards()->set_successful(1);
  pb::SearchHit* a = search->add_hits();
  a->set_index("books");
  a->set_id("2");
  a->set_source(R"({"year":1969,"rating":3})");
  a->add_sort_values()->set_long_value(1969);
  a->add_sort_values()->set_long_value(3);
  pb::SearchHit* b = search->add_hits();
  b->set_index("books");
  b->set_id("1");
  b->set_source(R"({"year":1965})");
  b->add_sort_values()->set_long_value(1965);
  b->add_sort_values()->set_missing(true);
  return reply;
}

TEST_F(QueryApiTest, SortedHitsCarrySortValuesAndNoScores) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope&) {
    return SortedHits();
  };
  auto result = client_->Post(
      "/books/_search",
      R"({"query":{"match":{"title":"dune"}},"sort":[{"year":"desc"},"rating"]})",
      kJson);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(
      result->body,
      R"({"took":0,"timed_out":false,"_shards":{"total":1,"successful":1,)"
      R"("skipped":0,"failed":0},"hits":{"total":{"value":2,"relation":"eq"},)"
      R"("max_score":null,"hits":[{"_index":"books","_id":"2","_score":null,)"
      R"("_source":{"year":1969,"rating":3},"sort":[1969,3]},)"
      R"({"_index":"books","_id":"1","_score":null,"_source":{"year":1965},)"
      R"("sort":[1965,9223372036854775807]}]}})");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].search().sort_size(), 2);
  EXPECT_TRUE(sent[0].search().sort(0).descending());
  EXPECT_EQ(sent[0].search().sort(1).field(), "rating");
  EXPECT_EQ(sent[0].search().query().match().field(), "title");

  // track_scores brings the scores back; the URL's sort keys come after the
  // body's.
  auto scored = client_->Post("/books/_search?sort=year:asc&track_scores=true",
                              R"({"sort":["rating"]})", kJson);
  ASSERT_TRUE(scored);
  Json body = Body(scored);
  EXPECT_EQ(body["hits"]["max_score"], 1.0);
  EXPECT_EQ(body["hits"]["hits"][0]["_score"], 1.0);
  sent = Sent();
  ASSERT_EQ(sent[1].search().sort_size(), 2);
  EXPECT_EQ(sent[1].search().sort(0).field(), "rating");
  EXPECT_EQ(sent[1].search().sort(1).field(), "year");
  EXPECT_FALSE(sent[1].search().sort(1).descending());
}

TEST_F(QueryApiTest, SearchAfterReadsBackSortValuesAndIsValidated) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope&) {
    return SortedHits();
  };
  auto result =
      client_->Post("/books/_search",
                    R"({"sort":[{"year":"desc"},"rating","title.keyword"],)"
                    R"("search_after":[1965,9223372036854775807,"Dune"]})",
                    kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].search().search_after_size(), 3);
  EXPECT_EQ(sent[0].search().search_after(0).long_value(), 1965);
  EXPECT_TRUE(sent[0].search().search_after(1).missing());
  EXPECT_EQ(sent[0].search().search_after(2).string_value(), "Dune");
  struct Case {
    std::string body, reason;
  } cases[] = {
      {R"({"search_after":[1]})", "Sort must contain at least one field."},
      {R"({"sort":["a","b"],"search_after":[1]})",
       "search_after has 1 value(s) but sort has 2."},
      {R"({"sort":["a"],"search_after":[1],"from":2})",
       "Validation Failed: 1: `from` parameter must be set to 0 when "
       "`search_after` is used;"},
  };
  for (const Case& c : cases) {
    auto refused = client_->Post("/books/_search", c.body, kJson);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << c.body;
    EXPECT_EQ(Body(refused)["error"]["reason"], c.reason) << c.body;
  }
  EXPECT_EQ(Sent().size(), 1u);
}

TEST_F(QueryApiTest, QueryRefusalsAreParsingExceptionsAndSendNothing) {
  auto result = client_->Post("/books/_search",
                              R"({"query":{"wildcard":{"a":"b*"}}})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  EXPECT_EQ(Body(result)["error"]["root_cause"][0]["type"],
            "parsing_exception");
  EXPECT_EQ(Body(result)["error"]["reason"], "unknown query [wildcard]");
  auto sort =
      client_->Post("/books/_search", R"({"sort":{"a":"sideways"}})", kJson);
  ASSERT_TRUE(sort);
  EXPECT_EQ(sort->status, 400);
  EXPECT_TRUE(Sent().empty());
}

TEST_F(QueryApiTest, AShardsRefusalIsASearchPhaseExecutionException) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope&) {
    pb::Envelope reply;
    pb::Error* error = reply.mutable_search_response()->mutable_error();
    error->set_status(400);
    error->set_type("illegal_argument_exception");
    error->set_reason("Text fields are not optimised ...");
    error->set_index("books");
    return reply;
  };
  auto result = client_->Post("/books/_search", R"({"sort":["title"]})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  Json error = Body(result)["error"];
  EXPECT_EQ(error["type"], "search_phase_execution_exception");
  EXPECT_EQ(error["reason"], "all shards failed");
  EXPECT_EQ(error["phase"], "query");
  EXPECT_EQ(error["root_cause"][0]["type"], "illegal_argument_exception");
  EXPECT_EQ(error["failed_shards"][0]["index"], "books");
  EXPECT_EQ(error["caused_by"]["reason"], "Text fields are not optimised ...");
  EXPECT_EQ(Body(result)["status"], 400);
}

// ---- _count

TEST_F(QueryApiTest, CountSendsASizeZeroSearchAndAnswersCountAndShards) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope&) {
    pb::Envelope reply;
    pb::SearchResponse* search = reply.mutable_search_response();
    search->set_total(42);
    search->mutable_shards()->set_total(3);
    search->mutable_shards()->set_successful(3);
    return reply;
  };
  auto result =
      client_->Post("/books,films/_count",
                    R"({"query":{"exists":{"field":"title"}}})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(
      result->body,
      R"({"count":42,"_shards":{"total":3,"successful":3,"skipped":0,"failed":0}})");
  auto all = client_->Get("/_count");
  ASSERT_TRUE(all);
  EXPECT_EQ(Body(all)["count"], 42);
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].search().size(), 0);
  EXPECT_EQ(sent[0].search().indices_size(), 2);
  EXPECT_EQ(sent[0].search().query().exists().field(), "title");
  EXPECT_EQ(sent[1].search().indices_size(), 2);  // every index, by name
  EXPECT_TRUE(sent[1].search().query().has_match_all());

  // Only "query" in the body; no Lucene query string (q=).
  auto size = client_->Post("/books/_count", R"({"size":1})", kJson);
  ASSERT_TRUE(size);
  EXPECT_EQ(size->status, 400);
  EXPECT_EQ(Body(size)["error"]["reason"], "request does not support [size]");
  auto q = client_->Get("/books/_count?q=title:dune");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 400);
  EXPECT_EQ(Body(q)["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(Sent().size(), 2u);
}

// ---- _mget

// Documents "1" and "2" of "books" exist; "films" does not.
pb::Envelope GetAnswer(const std::string&, const pb::Envelope& request) {
  pb::Envelope reply;
  pb::GetResponse* get = reply.mutable_get_response();
  if (request.get().index() == "films") {
    get->mutable_error()->set_status(404);
    get->mutable_error()->set_type("index_not_found_exception");
    get->mutable_error()->set_reason("no such index [films]");
    get->mutable_error()->set_index("films");
    return reply;
  }
  get->set_index(request.get().index());
  get->set_id(request.get().id());
  const std::string& id = request.get().id();
  if (id == "1" || id == "2") {
    get->set_found(true);
    get->set_version(std::stoi(id));
    get->set_seq_no(std::stoi(id) + 10);
    get->set_primary_term(1);
    get->set_source(R"({"title":"Dune","year":1965})");
  }
  return reply;
}

TEST_F(QueryApiTest, MultiGetDocsAnswersPerDocumentInOrder) {
  dispatcher_.answer = GetAnswer;
  auto result = client_->Post(
      "/_mget",
      R"({"docs":[{"_index":"books","_id":"1"},{"_index":"films","_id":"1"},)"
      R"({"_index":"books","_id":"3"},{"_index":"books","_id":2,"_source":["year"]}]})",
      kJson);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(
      result->body,
      R"({"docs":[{"_index":"books","_id":"1","_version":1,"_seq_no":11,)"
      R"("_primary_term":1,"found":true,"_source":{"title":"Dune","year":1965}},)"
      R"({"_index":"films","_id":"1","error":{"root_cause":[{"type":"index_not_found_exception",)"
      R"("reason":"no such index [films]","resource.type":"index_or_alias","resource.id":"films",)"
      R"("index_uuid":"_na_","index":"films"}],"type":"index_not_found_exception",)"
      R"("reason":"no such index [films]","resource.type":"index_or_alias","resource.id":"films",)"
      R"("index_uuid":"_na_","index":"films"}},)"
      R"({"_index":"books","_id":"3","found":false},)"
      R"({"_index":"books","_id":"2","_version":2,"_seq_no":12,"_primary_term":1,)"
      R"("found":true,"_source":{"year":1965}}]})");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[3].get().id(), "2");
}

TEST_F(QueryApiTest, MultiGetIdsWithTheUrlIndexAndSourceParameters) {
  dispatcher_.answer = GetAnswer;
  auto result = client_->Post("/books/_mget?_source=false",
                              R"({"ids":["2","9"]})", kJson);
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  Json docs = Body(result)["docs"];
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0]["found"], true);
  EXPECT_FALSE(docs[0].contains("_source"));
  EXPECT_EQ(docs[1],
            Json({{"_index", "books"}, {"_id", "9"}, {"found", false}}));
  // docs without _index take the URL's; a per-doc version that differs is
  // that document's 409.
  auto mixed = client_->Post(
      "/books/_mget",
      R"({"docs":[{"_id":"1","version":7},{"_index":"books","_id":"2","version":2}]})",
      kJson);
  ASSERT_TRUE(mixed);
  docs = Body(mixed)["docs"];
  EXPECT_EQ(docs[0]["error"]["type"], "version_conflict_engine_exception");
  EXPECT_EQ(docs[0]["error"]["reason"],
            "[1]: version conflict, current version [1] is different than the "
            "one provided [7]");
  EXPECT_EQ(docs[1]["found"], true);
}

TEST_F(QueryApiTest, MultiGetValidationAsElasticsearch) {
  dispatcher_.answer = GetAnswer;
  struct Case {
    std::string path, body, type, reason;
  } cases[] = {
      {"/_mget", R"({"docs":[{"_index":"books"},{"_id":"1"}]})",
       "action_request_validation_exception",
       "Validation Failed: 1: id is missing for doc 0;2: index is missing for "
       "doc 1;"},
      {"/_mget", R"({"docs":[]})", "action_request_validation_exception",
       "Validation Failed: 1: no documents to get;"},
      {"/books/_mget", R"({})", "action_request_validation_exception",
       "Validation Failed: 1: no documents to get;"},
      {"/_mget", R"({"ids":["1"]})", "action_request_validation_exception",
       "Validation Failed: 1: index is missing for doc 0;"},
      {"/_mget", R"({"docs":[{"_index":"books","_id":"1","colour":"red"}]})",
       "parse_exception",
       "failed to parse multi get request. unknown field [colour]"},
      {"/_mget", R"({"documents":[]})", "parsing_exception",
       "unknown key [documents] for a START_ARRAY, expected [docs] or [ids]"},
      {"/_mget", R"({"docs":["1"]})", "illegal_argument_exception",
       "docs array element should include an object"},
      {"/_mget", "", "parse_exception",
       "request body or source parameter is required"},
  };
  for (const Case& c : cases) {
    auto result = c.body.empty() ? client_->Get(c.path)
                                 : client_->Post(c.path, c.body, kJson);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << c.body;
    EXPECT_EQ(Body(result)["error"]["type"], c.type) << c.body;
    EXPECT_EQ(Body(result)["error"]["reason"], c.reason) << c.body;
  }
  EXPECT_TRUE(Sent().empty());
}

}  // namespace
}  // namespace seqsim
