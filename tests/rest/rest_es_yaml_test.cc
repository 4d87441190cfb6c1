// What Elasticsearch's own YAML REST tests found (bench/es_yaml.md, issue 16),
// fixed and pinned here against a fake Dispatcher (rest_test_fixture.h):
// aliases in the create-index body and refused alias options,
// track_total_hits=false with rest_total_hits_as_int, search_type, size=-1,
// op_type in bulk action lines, index.max_result_window.
#include <string>
#include <vector>

// GCC 12 reports a false -Wrestrict inside inlined std::string concatenation.
#pragma GCC diagnostic ignored "-Wrestrict"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "node/rest/rest_server.h"
#include "node/rest/rest_util.h"
#include "tests/rest/rest_test_fixture.h"

namespace seqsim {
namespace {

using rest_test::Json;
using rest_test::kJson;
using rest_test::RestTest;

// ---- aliases in the create-index body (es_yaml.md (a)3)

TEST_F(RestTest, CreateIndexSendsTheBodysAliasesWithTheIndex) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_create_index()) {
      reply.mutable_create_index_response()->set_acknowledged(true);
      reply.mutable_create_index_response()->set_index(
          request.create_index().index());
    }
    return reply;
  };
  auto put = client_->Put(
      "/backing", R"({"mappings":{},"aliases":{"b":{},"a":{}}})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_create_index());
  EXPECT_EQ(std::vector<std::string>(sent[0].create_index().aliases().begin(),
                                     sent[0].create_index().aliases().end()),
            (std::vector<std::string>{"b", "a"}));
}

TEST_F(RestTest, CreateIndexRefusesBadAliasNamesAndAliasOptions) {
  struct Refusal {
    const char* body;
    const char* type;
    const char* reason;
  };
  const Refusal refusals[] = {
      {R"({"aliases":{"_bad":{}}})", "invalid_alias_name_exception",
       "Invalid alias name [_bad]: must not start with '_', '-', or '+'"},
      {R"({"aliases":{"a":{"filter":{"term":{"x":1}}}}})",
       "illegal_argument_exception",
       "alias option [filter] is not supported by seqsim (alias [a])"},
      {R"({"aliases":{"a":{"is_write_index":true}}})",
       "illegal_argument_exception",
       "alias option [is_write_index] is not supported by seqsim (alias [a])"},
      {R"({"aliases":{"a":{"routing":"1"}}})", "illegal_argument_exception",
       "alias option [routing] is not supported by seqsim (alias [a])"},
  };
  for (const Refusal& refusal : refusals) {
    auto refused = client_->Put("/backing", refusal.body, kJson);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << refusal.body;
    EXPECT_EQ(Body(refused)["error"]["type"], refusal.type) << refusal.body;
    EXPECT_EQ(Body(refused)["error"]["reason"], refusal.reason) << refusal.body;
  }
  EXPECT_TRUE(SentBesidesState().empty());
}

TEST_F(RestTest, AliasApisRefuseAliasOptionsSeqsimDoesNotModel) {
  auto put =
      client_->Put("/movies/_alias/films", R"({"search_routing":"1"})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 400);
  EXPECT_EQ(Body(put)["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(Body(put)["error"]["reason"],
            "alias option [search_routing] is not supported by seqsim (alias "
            "[films])");
  auto post = client_->Post(
      "/_aliases",
      R"({"actions":[{"add":{"index":"movies","alias":"films","is_hidden":true}}]})",
      kJson);
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 400);
  EXPECT_EQ(Body(post)["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(Body(post)["error"]["reason"],
            "alias option [is_hidden] is not supported by seqsim (alias "
            "[films])");
  for (const pb::Envelope& envelope : SentBesidesState())
    EXPECT_FALSE(envelope.has_update_indices());
}

// ---- search parameters (es_yaml.md (a)4, (a)5, (a)7)

// A search answered with one hit of "movies" (total 1).
class EsYamlSearchTest : public RestTest {
 protected:
  void SetUp() override {
    RestTest::SetUp();
    if (HasFatalFailure()) return;
    dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
      pb::Envelope reply = DefaultAnswer(request);
      if (request.has_search()) {
        pb::SearchResponse* search = reply.mutable_search_response();
        search->set_total(1);
        pb::SearchHit* hit = search->add_hits();
        hit->set_index("movies");
        hit->set_id("1");
        hit->set_source(R"({"title":"Dune"})");
        search->mutable_shards()->set_total(1);
        search->mutable_shards()->set_successful(1);
      }
      return reply;
    };
  }

  // The search requests sent so far.
  std::vector<pb::SearchRequest> Searches() {
    std::vector<pb::SearchRequest> out;
    for (const pb::Envelope& envelope : SentBesidesState()) {
      if (envelope.has_search()) out.push_back(envelope.search());
    }
    return out;
  }
};

TEST_F(EsYamlSearchTest, UntrackedTotalAsIntIsMinusOne) {
  auto untracked = client_->Post(
      "/movies/_search?track_total_hits=false&rest_total_hits_as_int=true",
      "{}", kJson);
  ASSERT_TRUE(untracked);
  EXPECT_EQ(untracked->status, 200) << untracked->body;
  EXPECT_EQ(Body(untracked)["hits"]["total"], -1);
  auto body = client_->Post("/movies/_search?rest_total_hits_as_int=true",
                            R"({"track_total_hits":false})", kJson);
  ASSERT_TRUE(body);
  EXPECT_EQ(Body(body)["hits"]["total"], -1);
  auto tracked =
      client_->Post("/movies/_search?rest_total_hits_as_int=true", "{}", kJson);
  ASSERT_TRUE(tracked);
  EXPECT_EQ(Body(tracked)["hits"]["total"], 1);
  auto object =
      client_->Post("/movies/_search?track_total_hits=false", "{}", kJson);
  ASSERT_TRUE(object);
  EXPECT_FALSE(Body(object)["hits"].contains("total"));
}

TEST_F(EsYamlSearchTest, OnlyTheTwoThenFetchSearchTypesAreAccepted) {
  for (const char* type : {"query_then_fetch", "dfs_query_then_fetch"}) {
    auto ok = client_->Post(std::string("/movies/_search?search_type=") + type,
                            "{}", kJson);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << type;
  }
  for (const char* type : {"query_and_fetch", "dfs_query_and_fetch", "bogus"}) {
    auto refused = client_->Post(
        std::string("/movies/_search?search_type=") + type, "{}", kJson);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << type;
    EXPECT_EQ(Body(refused)["error"]["type"], "illegal_argument_exception");
    EXPECT_EQ(Body(refused)["error"]["reason"],
              std::string("No search type for [") + type + "]");
  }
  EXPECT_EQ(Searches().size(), 2u);
}

TEST_F(EsYamlSearchTest, SizeMinusOneInTheUrlIsTheDefaultSize) {
  auto minus_one = client_->Get("/movies/_search?size=-1");
  ASSERT_TRUE(minus_one);
  EXPECT_EQ(minus_one->status, 200) << minus_one->body;
  EXPECT_EQ(Body(minus_one)["hits"]["hits"].size(), 1u);
  EXPECT_TRUE(absl::StrContains(minus_one->get_header_value("Warning"),
                                "Using search size of -1 is deprecated"));
  std::vector<pb::SearchRequest> searches = Searches();
  ASSERT_EQ(searches.size(), 1u);
  EXPECT_EQ(searches[0].size(), 10);
  auto minus_five = client_->Get("/movies/_search?size=-5");
  ASSERT_TRUE(minus_five);
  EXPECT_EQ(minus_five->status, 400);
  EXPECT_EQ(Body(minus_five)["error"]["reason"],
            "[size] parameter cannot be negative, found [-5]");
  auto body_minus_one =
      client_->Post("/movies/_search", R"({"size":-1})", kJson);
  ASSERT_TRUE(body_minus_one);
  EXPECT_EQ(body_minus_one->status, 400);
  EXPECT_EQ(Searches().size(), 1u);
}

// ---- op_type in a bulk action line (es_yaml.md (b)1)

TEST_F(RestTest, BulkIndexWithOpTypeCreateIsACreate) {
  auto bulk = client_->Post(
      "/_bulk",
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"1\",\"op_type\":\"create\"}}"
      "\n{\"f\":1}\n"
      "{\"index\":{\"_index\":\"movies\",\"op_type\":\"create\"}}\n{\"f\":2}\n"
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"3\",\"op_type\":\"index\"}}"
      "\n{\"f\":3}\n",
      "application/x-ndjson");
  ASSERT_TRUE(bulk);
  EXPECT_EQ(bulk->status, 200) << bulk->body;
  Json items = Body(bulk)["items"];
  ASSERT_EQ(items.size(), 3u) << bulk->body;
  EXPECT_TRUE(items[0].contains("create")) << bulk->body;
  EXPECT_TRUE(items[1].contains("create")) << bulk->body;
  EXPECT_TRUE(items[2].contains("index")) << bulk->body;
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].bulk().items_size(), 3);
  EXPECT_EQ(sent[0].bulk().items(0).kind(), pb::WriteRequest::CREATE);
  EXPECT_EQ(sent[0].bulk().items(0).id(), "1");
  EXPECT_EQ(sent[0].bulk().items(1).kind(), pb::WriteRequest::CREATE);
  EXPECT_EQ(sent[0].bulk().items(2).kind(), pb::WriteRequest::INDEX);
}

// ---- writes through an alias: decided by the error type, not its text

// The node's refusal of a name is read by its type alone: whatever the
// reason says, the cluster state decides whether the name is an alias; when
// it is none, the node's error is the answer.
TEST_F(RestTest, WriteResolvesAnAliasByTheRefusalsTypeNotItsReason) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_get_cluster_state()) {
      reply.mutable_get_cluster_state_response()
          ->mutable_state()
          ->mutable_indices(0)
          ->add_aliases("films");
    } else if (request.has_write() && request.write().index() != "movies") {
      reply.Clear();
      *reply.mutable_write_response()->mutable_error() =
          rest::MakeError(400, "invalid_index_name_exception",
                          "Invalid index name [" + request.write().index() +
                              "], worded differently");
    } else if (request.has_bulk()) {
      reply.Clear();
      for (const pb::WriteRequest& item : request.bulk().items()) {
        pb::WriteResponse* response =
            reply.mutable_bulk_response()->add_items();
        if (item.index() == "movies") {
          *response =
              rest_test::Written(item.index(), item.id(), "created", 1, 0);
        } else {
          *response->mutable_error() = rest::MakeError(
              400, "invalid_index_name_exception",
              "Invalid index name [" + item.index() + "], worded differently");
        }
      }
    }
    return reply;
  };
  auto aliased = client_->Put("/films/_doc/1", R"({"a":1})", kJson);
  ASSERT_TRUE(aliased);
  EXPECT_EQ(aliased->status, 201) << aliased->body;
  EXPECT_EQ(Body(aliased)["_index"], "movies");
  auto other = client_->Put("/other/_doc/1", R"({"a":1})", kJson);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 400);
  EXPECT_EQ(Body(other)["error"]["reason"],
            "Invalid index name [other], worded differently");
  auto bulk = client_->Post("/_bulk",
                            "{\"index\":{\"_index\":\"films\",\"_id\":\"1\"}}\n"
                            "{\"a\":1}\n"
                            "{\"index\":{\"_index\":\"other\",\"_id\":\"1\"}}\n"
                            "{\"a\":1}\n",
                            "application/x-ndjson");
  ASSERT_TRUE(bulk);
  Json items = Body(bulk)["items"];
  ASSERT_EQ(items.size(), 2u) << bulk->body;
  EXPECT_EQ(items[0]["index"]["_index"], "movies") << bulk->body;
  EXPECT_EQ(items[0]["index"]["status"], 201) << bulk->body;
  EXPECT_EQ(items[1]["index"]["error"]["reason"],
            "Invalid index name [other], worded differently");
}

// ---- index.max_result_window (es_yaml.md (a)6)

TEST_F(RestTest, CreateIndexSendsMaxResultWindowAndRefusesABadOne) {
  auto put = client_->Put(
      "/tw", R"({"settings":{"index.max_result_window":2}})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].create_index().max_result_window(), 2);
  auto bad =
      client_->Put("/tw", R"({"settings":{"max_result_window":0}})", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["reason"],
            "Failed to parse value [0] for setting [index.max_result_window] "
            "must be >= 1");
  EXPECT_EQ(SentBesidesState().size(), 1u);
}

// "movies" with index.max_result_window 2.
class MaxResultWindowTest : public EsYamlSearchTest {
 protected:
  void SetUp() override {
    EsYamlSearchTest::SetUp();
    if (HasFatalFailure()) return;
    pb::ClusterState state = rest_test::GreenState();
    state.mutable_indices(0)->set_max_result_window(2);
    dispatcher_.unrecorded_state = state;
  }
};

TEST_F(MaxResultWindowTest, IsShownAndEnforcedOnFromSizeAndIds) {
  auto settings = client_->Get("/movies/_settings");
  ASSERT_TRUE(settings);
  EXPECT_EQ(Body(settings)["movies"]["settings"]["index"]["max_result_window"],
            "2");
  auto within =
      client_->Post("/movies/_search",
                    R"({"query":{"ids":{"values":[1,2]}},"size":2})", kJson);
  ASSERT_TRUE(within);
  EXPECT_EQ(within->status, 200) << within->body;
  auto window = client_->Post("/movies/_search?size=3", "{}", kJson);
  ASSERT_TRUE(window);
  EXPECT_EQ(window->status, 400);
  EXPECT_EQ(Body(window)["error"]["reason"],
            "Result window is too large, from + size must be less than or "
            "equal to: [2] but was [3]. See the scroll api for a more "
            "efficient way to request large data sets. This limit can be set "
            "by changing the [index.max_result_window] index level setting.");
  auto ids = client_->Post("/_search",
                           R"({"query":{"ids":{"values":[1,2,3]}}})", kJson);
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->status, 400);
  EXPECT_EQ(Body(ids)["error"]["root_cause"][0]["type"],
            "query_shard_exception");
  EXPECT_EQ(Body(ids)["error"]["root_cause"][0]["reason"],
            "failed to create query: Too many ids specified, allowed max "
            "result window is [2]");
  EXPECT_EQ(Searches().size(), 1u);
}

}  // namespace
}  // namespace seqsim
