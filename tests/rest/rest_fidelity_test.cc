// Issue 16: where seqsim's REST answers differed from Elasticsearch's on
// features it claims (term on _id, empty bulk _id, filter_path exclusions and
// error bodies, _cat store columns, three messages, verbatim _source), and
// the parameters it accepted and then ignored. A RestServer on a loopback
// port with a scripted Dispatcher; the pure helpers directly.
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
#include "node/rest/rest_server.h"
#include "node/rest/rest_util.h"
#include "tests/rest/rest_test_fixture.h"

namespace seqsim {
namespace {

using rest_test::Json;
using rest_test::kJson;

pb::WriteResponse Written(const pb::WriteRequest& request,
                          const std::string& result) {
  pb::WriteResponse response;
  response.set_index(request.index());
  response.set_id(request.id());
  response.set_version(1);
  response.set_result(result);
  response.mutable_shards()->set_total(2);
  response.mutable_shards()->set_successful(2);
  response.set_seq_no(0);
  response.set_primary_term(1);
  return response;
}

// "movies": 1 shard, 1 replica, both copies started on node-1 / node-2;
// "logs": 1 shard, 1 replica, only the primary started (yellow).
pb::ClusterState TwoIndexState() {
  pb::ClusterState state;
  state.set_version(7);
  state.set_cluster_name("seqsim");
  for (const char* id : {"node-1", "node-2"}) {
    pb::NodeInfo* node = state.add_nodes();
    node->set_id(id);
    node->set_rest_address("127.0.0.1:9200");
    node->set_alive(true);
  }
  for (const char* name : {"movies", "logs"}) {
    pb::IndexMeta* index = state.add_indices();
    index->set_name(name);
    index->set_uuid(std::string("uuid-") + name);
    index->set_number_of_shards(1);
    index->set_number_of_replicas(1);
    pb::ShardRouting* shard = index->add_shards();
    shard->set_shard(0);
    shard->set_primary_term(1);
    pb::ShardCopy* primary = shard->add_copies();
    primary->set_node_id("node-1");
    primary->set_primary(true);
    primary->set_state(pb::ShardCopy::STARTED);
    if (std::string(name) == "movies") {
      pb::ShardCopy* replica = shard->add_copies();
      replica->set_node_id("node-2");
      replica->set_state(pb::ShardCopy::STARTED);
    }
  }
  return state;
}

class FidelityTest : public rest_test::RestFixture {
 protected:
  void SetUp() override {
    RestFixture::SetUp();
    if (HasFatalFailure()) return;
    dispatcher_.answer = [this](const std::string&,
                                const pb::Envelope& request) {
      return Answer(request);
    };
  }

  pb::Envelope Answer(const pb::Envelope& request) {
    pb::Envelope reply;
    if (request.has_write()) {
      *reply.mutable_write_response() = Written(request.write(), "created");
      if (request.write().kind() == pb::WriteRequest::UPDATE) {
        reply.mutable_write_response()->set_result("updated");
        reply.mutable_write_response()->set_source(stored_source_);
      }
    } else if (request.has_bulk()) {
      for (const pb::WriteRequest& item : request.bulk().items()) {
        pb::WriteResponse* response =
            reply.mutable_bulk_response()->add_items();
        *response = Written(item, "created");
        if (item.kind() == pb::WriteRequest::UPDATE) {
          response->set_result("updated");
          response->set_source(stored_source_);
        }
      }
    } else if (request.has_get()) {
      pb::GetResponse* get = reply.mutable_get_response();
      get->set_index(request.get().index());
      get->set_id(request.get().id());
      get->set_found(true);
      get->set_version(2);
      get->set_seq_no(1);
      get->set_primary_term(1);
      get->set_index_uuid("uuid-movies");
      get->set_shard(0);
      get->set_source(stored_source_);
    } else if (request.has_search()) {
      pb::SearchResponse* search = reply.mutable_search_response();
      search->set_total(1);
      pb::SearchHit* hit = search->add_hits();
      hit->set_index("movies");
      hit->set_id("1");
      hit->set_version(2);
      hit->set_source(stored_source_);
      search->mutable_shards()->set_total(1);
      search->mutable_shards()->set_successful(1);
    } else if (request.has_get_cluster_state()) {
      *reply.mutable_get_cluster_state_response()->mutable_state() =
          TwoIndexState();
    } else if (request.has_node_status()) {
      for (const char* name : {"movies", "logs"}) {
        pb::ShardStatus* shard =
            reply.mutable_node_status_response()->add_shards();
        shard->set_index(name);
        shard->set_shard(0);
        shard->set_docs(3);
        shard->set_refreshed_docs(3);
        shard->set_store_bytes(4608);  // 4.5kb
      }
    }
    return reply;
  }

  std::string stored_source_ =
      R"({"title":"Dune","n":123456789012345678901234567890,)"
      R"("f":1.10,"tags":["a","b"],"obj":{"x":1,"y":2}})";
};

// ---- _source as stored

TEST_F(FidelityTest, GetReturnsTheStoredSourceBytesVerbatim) {
  auto got = client_->Get("/movies/_doc/1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body,
            R"({"_index":"movies","_id":"1","_version":2,"_seq_no":1,)"
            R"("_primary_term":1,"found":true,"_source":)" +
                stored_source_ + "}");
  auto source = client_->Get("/movies/_source/1");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->body, stored_source_);
  auto search = client_->Post("/movies/_search", "{}", kJson);
  ASSERT_TRUE(search);
  EXPECT_NE(search->body.find(R"("_source":)" + stored_source_),
            std::string::npos)
      << search->body;
}

TEST_F(FidelityTest, PrettyKeepsBigNumbersAndIndentsTheSource) {
  stored_source_ = R"({"n":123456789012345678901234567890,"a":[1,{"b":2.50}]})";
  auto got = client_->Get("/movies/_source/1?pretty");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body,
            "{\n  \"n\" : 123456789012345678901234567890,\n  \"a\" : [\n"
            "    1,\n    {\n      \"b\" : 2.50\n    }\n  ]\n}\n");
  auto doc = client_->Get("/movies/_doc/1?pretty&filter_path=_source");
  ASSERT_TRUE(doc);
  EXPECT_EQ(doc->body,
            "{\n  \"_source\" : {\n    \"n\" : 123456789012345678901234567890,"
            "\n    \"a\" : [\n      1,\n      {\n        \"b\" : 2.50\n"
            "      }\n    ]\n  }\n}\n");
}

// ---- filter_path

TEST_F(FidelityTest, FilterPathExclusionsRemoveFields) {
  auto put = client_->Put("/movies/_doc/1?filter_path=-_shards,-_primary_term",
                          R"({"a":1})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->body,
            R"({"_index":"movies","_id":"1","_version":1,"result":"created",)"
            R"("_seq_no":0})");
  auto mixed =
      client_->Put("/movies/_doc/1?filter_path=_shards,result,-_shards.failed",
                   R"({"a":1})", kJson);
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->body,
            R"({"result":"created","_shards":{"total":2,"successful":2}})");
  auto inside =
      client_->Get("/movies/_doc/1?filter_path=-_source.n,-_source.obj.x");
  ASSERT_TRUE(inside);
  EXPECT_EQ(Body(inside)["_source"],
            Json::parse(
                R"({"title":"Dune","f":1.10,"tags":["a","b"],"obj":{"y":2}})"));
}

TEST_F(FidelityTest, FilterPathIsNotAppliedToErrorBodies) {
  auto bad = client_->Put("/movies/_doc/1?filter_path=_seq_no", "[1]", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["type"], "mapper_parsing_exception");
  EXPECT_EQ(Body(bad)["status"], 400);
  auto unknown = client_->Get("/nope?filter_path=x");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(Body(unknown)["error"]["type"], "index_not_found_exception");
}

// ---- term on _id (node logic) is in tests/logic; the REST side sends it.

TEST_F(FidelityTest, TermOnIdIsSentAsATermQuery) {
  auto search = client_->Post("/movies/_search",
                              R"({"query":{"term":{"_id":"1"}}})", kJson);
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 200);
  const pb::Envelope sent = dispatcher_.received().back();
  EXPECT_EQ(sent.search().query().term().field(), "_id");
  EXPECT_EQ(sent.search().query().term().value_json(), "\"1\"");
}

// ---- bulk

TEST_F(FidelityTest, BulkEmptyIdFailsThatItemOnly) {
  auto bulk =
      client_->Post("/_bulk",
                    "{\"index\":{\"_index\":\"movies\",\"_id\":\"\"}}\n"
                    "{\"a\":1}\n"
                    "{\"index\":{\"_index\":\"movies\",\"_id\":\"2\"}}\n"
                    "{\"a\":2}\n",
                    "application/x-ndjson");
  ASSERT_TRUE(bulk);
  EXPECT_EQ(bulk->status, 200);
  Json body = Body(bulk);
  EXPECT_EQ(body["errors"], true);
  EXPECT_EQ(body["items"][0]["index"]["status"], 400);
  EXPECT_EQ(body["items"][0]["index"]["error"]["type"],
            "illegal_argument_exception");
  EXPECT_EQ(body["items"][0]["index"]["error"]["reason"],
            "if _id is specified it must not be empty");
  EXPECT_EQ(body["items"][1]["index"]["status"], 201);
  const pb::Envelope sent = dispatcher_.received().back();
  ASSERT_EQ(sent.bulk().items_size(), 1);
  EXPECT_EQ(sent.bulk().items(0).id(), "2");
}

TEST_F(FidelityTest, BulkEmptyActionObjectNamesEndObject) {
  auto bulk = client_->Post("/_bulk", "{}\n{}\n", "application/x-ndjson");
  ASSERT_TRUE(bulk);
  EXPECT_EQ(bulk->status, 400);
  EXPECT_EQ(Body(bulk)["error"]["reason"],
            "Malformed action/metadata line [1], expected FIELD_NAME but "
            "found [END_OBJECT]");
}

TEST_F(FidelityTest, BulkRefreshAndRequireAliasAndSourcePerItem) {
  auto bulk = client_->Post(
      "/_bulk?refresh=true",
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"1\"}}\n{\"a\":1}\n"
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"2\",\"require_alias\":"
      "true}}\n{\"a\":2}\n"
      "{\"update\":{\"_index\":\"movies\",\"_id\":\"3\",\"_source\":["
      "\"title\"]}}\n{\"doc\":{\"a\":3}}\n",
      "application/x-ndjson");
  ASSERT_TRUE(bulk);
  Json body = Body(bulk);
  EXPECT_EQ(body["items"][0]["index"]["forced_refresh"], true);
  EXPECT_EQ(body["items"][1]["index"]["status"], 404);
  EXPECT_EQ(body["items"][1]["index"]["error"]["reason"],
            "no such index [movies] and [require_alias] request flag is "
            "[true] and [movies] is not an alias");
  EXPECT_EQ(body["items"][2]["update"]["get"]["_source"],
            Json::parse(R"({"title":"Dune"})"));
  const pb::Envelope sent = dispatcher_.received().back();
  ASSERT_EQ(sent.bulk().items_size(), 2);
  EXPECT_EQ(sent.bulk().items(0).refresh(), "true");
  EXPECT_TRUE(sent.bulk().items(1).return_source());
}

// ---- messages

TEST_F(FidelityTest, UpdateUnknownFieldSuggestsTheClosestFields) {
  auto docs = client_->Post("/movies/_update/1", R"({"docs":{"a":1}})", kJson);
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->status, 400);
  EXPECT_EQ(Body(docs)["error"]["reason"],
            "[UpdateRequest] unknown field [docs] did you mean [doc]?");
  auto far = client_->Post("/movies/_update/1", R"({"zzz":{"a":1}})", kJson);
  ASSERT_TRUE(far);
  EXPECT_EQ(Body(far)["error"]["reason"],
            "[UpdateRequest] unknown field [zzz]");
  EXPECT_TRUE(dispatcher_.received().empty());
}

TEST(DidYouMean, OneOrManyCandidatesAboveHalfSimilar) {
  EXPECT_EQ(rest::DidYouMean("foo", {"bar", "baz"}), "");
  EXPECT_EQ(rest::DidYouMean("foo", {"bar", "fop"}), " did you mean [fop]?");
  EXPECT_EQ(rest::DidYouMean("foo", {"bar", "fou", "fop", "baz"}),
            " did you mean any of [fop, fou]?");
  EXPECT_FLOAT_EQ(rest::LevenshteinSimilarity("docs", "doc"), 0.75f);
}

// ---- _cat store columns and health filter

TEST_F(FidelityTest, CatShardsAndIndicesFillStoreColumns) {
  auto shards = client_->Get("/_cat/shards/movies");
  ASSERT_TRUE(shards);
  // index shard prirep state docs store ip node: eight columns, none blank.
  EXPECT_EQ(shards->body,
            "movies 0 p STARTED 3 4.5kb 127.0.0.1 node-1\n"
            "movies 0 r STARTED 3 4.5kb 127.0.0.1 node-2\n");
  auto bytes = client_->Get("/_cat/shards/movies?h=store&bytes=b");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->body, "4608\n4608\n");
  auto indices = client_->Get(
      "/_cat/indices/movies?format=json&h=index,docs.count,store.size,"
      "pri.store.size");
  ASSERT_TRUE(indices);
  EXPECT_EQ(indices->body,
            R"([{"index":"movies","docs.count":"3","store.size":"9kb",)"
            R"("pri.store.size":"4.5kb"}])");
}

TEST_F(FidelityTest, CatIndicesHealthFilter) {
  auto yellow = client_->Get("/_cat/indices?h=index&health=yellow");
  ASSERT_TRUE(yellow);
  EXPECT_EQ(yellow->body, "logs\n");
  auto green = client_->Get("/_cat/indices?h=index&health=green");
  ASSERT_TRUE(green);
  EXPECT_EQ(green->body, "movies\n");
  auto bad = client_->Get("/_cat/indices?health=blue");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["reason"],
            "unknown cluster health status [blue]");
}

TEST(ByteSizeString, ElasticsearchsOneTruncatedDecimal) {
  EXPECT_EQ(rest::ByteSizeString(0), "0b");
  EXPECT_EQ(rest::ByteSizeString(225), "225b");
  EXPECT_EQ(rest::ByteSizeString(1024), "1kb");
  EXPECT_EQ(rest::ByteSizeString(4608), "4.5kb");
  EXPECT_EQ(rest::ByteSizeString(2047), "1.9kb");
  EXPECT_EQ(rest::ByteSizeString(int64_t{3} << 20), "3mb");
  EXPECT_EQ(rest::ByteSizeString((int64_t{5} << 30) + (int64_t{1} << 29)),
            "5.5gb");
}

// ---- parameters that now work

TEST_F(FidelityTest, GetVersionMismatchIs409) {
  auto same = client_->Get("/movies/_doc/1?version=2");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200);
  auto other = client_->Get("/movies/_doc/1?version=1");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 409);
  Json error = Body(other)["error"];
  EXPECT_EQ(error["type"], "version_conflict_engine_exception");
  EXPECT_EQ(error["reason"],
            "[1]: version conflict, current version [2] is different than "
            "the one provided [1]");
  EXPECT_EQ(error["index_uuid"], "uuid-movies");
  EXPECT_EQ(error["shard"], "0");
  EXPECT_EQ(error["index"], "movies");
}

TEST_F(FidelityTest, GetSourceFilteringAndStoredFields) {
  auto includes = client_->Get(
      "/movies/_doc/1?_source_includes=title,obj.y&filter_path=_source");
  ASSERT_TRUE(includes);
  EXPECT_EQ(includes->body, R"({"_source":{"title":"Dune","obj":{"y":2}}})");
  auto excludes =
      client_->Get("/movies/_source/1?_source_excludes=n,f,tags,obj");
  ASSERT_TRUE(excludes);
  EXPECT_EQ(excludes->body, R"({"title":"Dune"})");
  auto list = client_->Get("/movies/_doc/1?_source=t*&filter_path=_source");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->body, R"({"_source":{"title":"Dune","tags":["a","b"]}})");
  auto none = client_->Get("/movies/_doc/1?_source=false");
  ASSERT_TRUE(none);
  EXPECT_FALSE(Body(none).contains("_source"));
  auto stored = client_->Get("/movies/_doc/1?stored_fields=title");
  ASSERT_TRUE(stored);
  EXPECT_FALSE(Body(stored).contains("_source"));
  EXPECT_EQ(Body(stored)["found"], true);
}

TEST_F(FidelityTest, WritesWithRefreshTrueAnswerForcedRefresh) {
  auto put = client_->Put("/movies/_doc/1?refresh=true", R"({"a":1})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->body,
            R"({"_index":"movies","_id":"1","_version":1,"result":"created",)"
            R"("forced_refresh":true,"_shards":{"total":2,"successful":2,)"
            R"("failed":0},"_seq_no":0,"_primary_term":1})");
  auto bare = client_->Delete("/movies/_doc/1?refresh");
  ASSERT_TRUE(bare);
  EXPECT_EQ(Body(bare)["forced_refresh"], true);
  for (const char* no : {"false", "wait_for"}) {
    auto put2 = client_->Put(std::string("/movies/_doc/1?refresh=") + no,
                             R"({"a":1})", kJson);
    ASSERT_TRUE(put2);
    EXPECT_FALSE(Body(put2).contains("forced_refresh")) << no;
  }
}

// require_alias=true: the name must be an alias (with one index, which the
// write goes to); writes through an alias go to its one index either way.
TEST_F(FidelityTest, WritesThroughAnAliasAndRequireAlias) {
  dispatcher_.answer = [this](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = Answer(request);
    if (request.has_get_cluster_state()) {
      pb::ClusterState* state =
          reply.mutable_get_cluster_state_response()->mutable_state();
      state->mutable_indices(0)->add_aliases("films");  // movies
      for (pb::IndexMeta& index : *state->mutable_indices())
        index.add_aliases("both");
    } else if (request.has_write() && request.write().index() != "movies" &&
               request.write().index() != "logs") {
      // The node auto-creates a missing index; the coordinator refuses an
      // alias's name.
      reply.Clear();
      *reply.mutable_write_response()->mutable_error() = rest::MakeError(
          400, "invalid_index_name_exception",
          absl::StrCat("Invalid index name [", request.write().index(),
                       "], already exists as alias"));
    }
    return reply;
  };
  auto put =
      client_->Put("/movies/_doc/1?require_alias=true", R"({"a":1})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 404);
  Json error = Body(put)["error"];
  EXPECT_EQ(error["type"], "index_not_found_exception");
  EXPECT_EQ(error["reason"],
            "no such index [movies] and [require_alias] request flag is "
            "[true] and [movies] is not an alias");
  EXPECT_EQ(error["index"], "movies");
  auto update = client_->Post("/movies/_update/1?require_alias",
                              R"({"doc":{"a":1}})", kJson);
  ASSERT_TRUE(update);
  EXPECT_EQ(update->status, 404);
  auto writes = [&] {
    std::vector<std::string> out;
    for (const pb::Envelope& envelope : dispatcher_.received()) {
      if (envelope.has_write()) out.push_back(envelope.write().index());
    }
    return out;
  };
  EXPECT_TRUE(writes().empty());
  auto fine =
      client_->Put("/movies/_doc/1?require_alias=false", R"({"a":1})", kJson);
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 201);

  auto aliased =
      client_->Put("/films/_doc/1?require_alias=true", R"({"a":1})", kJson);
  ASSERT_TRUE(aliased);
  EXPECT_EQ(aliased->status, 201) << aliased->body;
  EXPECT_EQ(Body(aliased)["_index"], "movies");
  auto plain = client_->Put("/films/_doc/2", R"({"a":1})", kJson);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 201) << plain->body;
  EXPECT_EQ(Body(plain)["_index"], "movies");
  auto updated = client_->Post("/films/_update/2", R"({"doc":{"a":2}})", kJson);
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->status, 200) << updated->body;
  using Names = std::vector<std::string>;
  EXPECT_EQ(writes(),
            Names({"movies", "movies", "films", "movies", "films", "movies"}));

  auto several = client_->Put("/both/_doc/3", R"({"a":1})", kJson);
  ASSERT_TRUE(several);
  EXPECT_EQ(several->status, 400);
  EXPECT_EQ(Body(several)["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(Body(several)["error"]["reason"],
            "no write index is defined for alias [both]. The write index may "
            "be explicitly disabled using is_write_index=false or the alias "
            "points to multiple indices without one being designated as a "
            "write index");
}

TEST_F(FidelityTest, UpdateSourceFilteringInTheGet) {
  auto update = client_->Post("/movies/_update/1?_source_includes=title",
                              R"({"doc":{"a":1}})", kJson);
  ASSERT_TRUE(update);
  EXPECT_EQ(Body(update)["get"]["_source"], Json::parse(R"({"title":"Dune"})"));
  auto body = client_->Post(
      "/movies/_update/1",
      R"({"doc":{"a":1},"_source":{"excludes":["n","f","tags","obj"]}})",
      kJson);
  ASSERT_TRUE(body);
  EXPECT_EQ(Body(body)["get"]["_source"], Json::parse(R"({"title":"Dune"})"));
}

TEST_F(FidelityTest, SearchSourceStoredFieldsAndTrackTotalHits) {
  auto filtered = client_->Post(
      "/movies/_search?filter_path=hits.hits._source",
      R"({"_source":{"includes":["obj.*"],"excludes":["obj.x"]}})", kJson);
  ASSERT_TRUE(filtered);
  EXPECT_EQ(filtered->body,
            R"({"hits":{"hits":[{"_source":{"obj":{"y":2}}}]}})");
  auto off =
      client_->Get("/movies/_search?_source=false&filter_path=hits.hits");
  ASSERT_TRUE(off);
  EXPECT_FALSE(Body(off)["hits"]["hits"][0].contains("_source"));
  auto none = client_->Post("/movies/_search?filter_path=hits.hits",
                            R"({"stored_fields":"_none_"})", kJson);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->body,
            R"({"hits":{"hits":[{"_index":"movies","_score":1.0}]}})");
  auto untracked = client_->Post("/movies/_search?filter_path=hits.total",
                                 R"({"track_total_hits":false})", kJson);
  ASSERT_TRUE(untracked);
  EXPECT_EQ(untracked->body, "{}");
  auto capped =
      client_->Get("/movies/_search?track_total_hits=0&filter_path=hits.total");
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->body, R"({"hits":{"total":{"value":0,"relation":"gte"}}})");
}

// ---- pure helpers

TEST(FilterPath, ExclusionsAfterInclusionsAndDoubleStar) {
  Json value = Json::parse(
      R"({"a":{"b":1,"c":2},"d":[{"e":1,"f":2},{"e":3}],"g":{"b":5}})");
  EXPECT_EQ(rest::FilterPath(value, "-a.b,-d.e"),
            Json::parse(R"({"a":{"c":2},"d":[{"f":2},{}],"g":{"b":5}})"));
  EXPECT_EQ(rest::FilterPath(value, "-**.b"),
            Json::parse(R"({"a":{"c":2},"d":[{"e":1,"f":2},{"e":3}],"g":{}})"));
  EXPECT_EQ(rest::FilterPath(value, "a,g,-*.b"),
            Json::parse(R"({"a":{"c":2},"g":{}})"));
  EXPECT_TRUE(rest::FilterPathReachesInto("hits.hits._source.x", "_source"));
  EXPECT_FALSE(rest::FilterPathReachesInto("hits.hits._source", "_source"));
}

TEST(FilterSource, IncludesExcludesWildcardsAndArrays) {
  Json source = Json::parse(
      R"({"a":{"b":1,"c":{"d":2}},"list":[{"x":1,"y":2},{"x":3}],"z":0})");
  EXPECT_EQ(rest::FilterSource(source, {"a.c"}, {}),
            Json::parse(R"({"a":{"c":{"d":2}}})"));
  EXPECT_EQ(rest::FilterSource(source, {"list.x"}, {}),
            Json::parse(R"({"list":[{"x":1},{"x":3}]})"));
  EXPECT_EQ(rest::FilterSource(source, {"a*"}, {"a.c.*"}),
            Json::parse(R"({"a":{"b":1,"c":{}}})"));
  EXPECT_EQ(rest::FilterSource(source, {}, {"a", "list"}),
            Json::parse(R"({"z":0})"));
  EXPECT_EQ(rest::FilterSource(source, {"nope"}, {}), Json::object());
}

TEST(PrettyRawJson, MatchesEsPrettyAndKeepsTokens) {
  const std::string text = R"( {"a" : [ ], "b":{}, "c":[1, "x\"y", true, null],
    "d":{"e":-1.5e+300}} )";
  // EsPretty's layout, every scalar as written.
  EXPECT_EQ(rest::PrettyRawJson(text, 0),
            "{\n  \"a\" : [ ],\n  \"b\" : { },\n  \"c\" : [\n    1,\n"
            "    \"x\\\"y\",\n    true,\n    null\n  ],\n  \"d\" : {\n"
            "    \"e\" : -1.5e+300\n  }\n}");
}

}  // namespace
}  // namespace seqsim
