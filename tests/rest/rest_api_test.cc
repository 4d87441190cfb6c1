// The REST adapter against a fake Dispatcher (rest_test_fixture.h): the bulk,
// search, index, alias, _cat and cluster API families, pretty, filter_path and
// the vendor media type. Each test starts a RestServer on a free loopback
// port.
#include "node/rest/rest_server.h"

// GCC 12 reports a false -Wrestrict inside inlined std::string concatenation.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "node/rest/rest_util.h"
#include "tests/rest/rest_test_fixture.h"

namespace seqsim {
namespace {

using rest_test::GreenState;
using rest_test::Json;
using rest_test::kJson;
using rest_test::RestTest;
using rest_test::Written;

TEST_F(RestTest, BulkReportsPerItemStatusAndErrors) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    pb::BulkResponse* bulk = reply.mutable_bulk_response();
    for (const pb::WriteRequest& item : request.bulk().items()) {
      pb::WriteResponse* response = bulk->add_items();
      if (item.id() == "2") {
        pb::Error* error = response->mutable_error();
        error->set_status(409);
        error->set_type("version_conflict_engine_exception");
        error->set_reason(
            "[2]: version conflict, document already exists (current version "
            "[1])");
        error->set_index("movies");
        error->set_index_uuid("u");
        error->set_shard("0");
      } else {
        *response = Written(
            item.index(), item.id(),
            item.kind() == pb::WriteRequest_Kind_DELETE ? "deleted" : "created",
            1, 0);
      }
    }
    return reply;
  };
  std::string body =
      "{\"index\":{\"_id\":\"1\"}}\n{\"a\":1}\n"
      "{\"create\":{\"_index\":\"movies\",\"_id\":\"2\"}}\n{\"a\":2}\n"
      "{\"delete\":{\"_id\":\"3\"}}\n"
      "{\"update\":{\"_id\":\"4\",\"retry_on_conflict\":2}}\n{\"doc\":{\"b\":1}"
      "}\n"
      "{\"index\":{\"_index\":\"Bad\",\"_id\":\"5\"}}\n{\"a\":5}\n";
  auto result = client_->Post("/movies/_bulk?filter_path=errors,items.*.status",
                              body, "application/x-ndjson");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(
      result->body,
      R"({"errors":true,"items":[{"index":{"status":201}},{"create":{"status":409}},)"
      R"({"delete":{"status":200}},{"update":{"status":201}},{"index":{"status":400}}]})");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].bulk().items_size(),
            4);  // the invalid index name never leaves REST
  EXPECT_EQ(sent[0].bulk().items(0).index(), "movies");
  EXPECT_EQ(sent[0].bulk().items(1).kind(), pb::WriteRequest::CREATE);
  EXPECT_EQ(sent[0].bulk().items(2).kind(), pb::WriteRequest_Kind_DELETE);
  EXPECT_EQ(sent[0].bulk().items(3).retry_on_conflict(), 2);
  EXPECT_EQ(sent[0].bulk().items(3).update_doc(), R"({"b":1})");

  auto full = client_->Post("/movies/_bulk", body, "application/x-ndjson");
  ASSERT_TRUE(full);
  Json items = Body(full)["items"];
  EXPECT_EQ(items[1]["create"]["error"]["type"],
            "version_conflict_engine_exception");
  EXPECT_EQ(items[1]["create"]["_id"], "2");
  EXPECT_EQ(items[4]["index"]["error"]["type"], "invalid_index_name_exception");
  EXPECT_TRUE(Body(full).contains("took"));
}

TEST_F(RestTest, MalformedBulkIs400AndSendsNothing) {
  struct Case {
    std::string body;
    std::string type;
  };
  for (const Case& c : std::vector<Case>{
           {"{\"index\":{\"_index\":\"a\"}}\n{\"a\":1}",
            "illegal_argument_exception"},
           {"{\"index\":{\"_index\":\"a\"}\n{\"a\":1}\n",
            "x_content_parse_exception"},
           {"{\"upsert\":{\"_index\":\"a\"}}\n{\"a\":1}\n",
            "illegal_argument_exception"},
           {"{\"index\":{\"_index\":\"a\",\"bogus\":1}}\n{\"a\":1}\n",
            "illegal_argument_exception"},
           {"{\"index\":{}}\n{\"a\":1}\n",
            "action_request_validation_exception"},
           {"\n", "action_request_validation_exception"},
       }) {
    auto result = client_->Post("/_bulk", c.body, "application/x-ndjson");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << c.body;
    EXPECT_EQ(Body(result)["error"]["type"], c.type) << c.body;
  }
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, SearchTranslatesQueriesAndRendersHits) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    if (request.has_get_cluster_state()) {
      reply = DefaultAnswer(request);
      pb::ClusterState* state =
          reply.mutable_get_cluster_state_response()->mutable_state();
      for (const char* name : {"a", "b"}) state->add_indices()->set_name(name);
      return reply;
    }
    pb::SearchResponse* search = reply.mutable_search_response();
    search->set_total(1);
    search->mutable_shards()->set_total(1);
    search->mutable_shards()->set_successful(1);
    pb::SearchHit* hit = search->add_hits();
    hit->set_index("movies");
    hit->set_id("1");
    hit->set_version(2);
    hit->set_seq_no(5);
    hit->set_primary_term(1);
    hit->set_source(R"({"genre":"drama"})");
    return reply;
  };
  auto term =
      client_->Post("/movies/_search?seq_no_primary_term=true",
                    R"({"query":{"term":{"genre":"drama"}},"size":5})", kJson);
  ASSERT_TRUE(term);
  EXPECT_EQ(term->status, 200);
  Json body = Body(term);
  EXPECT_EQ(body["timed_out"], false);
  EXPECT_EQ(body["hits"]["total"], Json({{"value", 1}, {"relation", "eq"}}));
  EXPECT_EQ(body["hits"]["hits"][0]["_seq_no"], 5);
  EXPECT_EQ(body["hits"]["hits"][0]["_primary_term"], 1);
  EXPECT_FALSE(body["hits"]["hits"][0].contains("_version"));
  EXPECT_EQ(body["hits"]["hits"][0]["_source"]["genre"], "drama");

  auto value_form = client_->Post(
      "/_search?size=3&from=1&version=true",
      R"({"query":{"term":{"year":{"value":2014}}},"seq_no_primary_term":false})",
      kJson);
  ASSERT_TRUE(value_form);
  Json hit = Body(value_form)["hits"]["hits"][0];
  EXPECT_EQ(hit["_version"], 2);
  EXPECT_FALSE(hit.contains("_seq_no"));

  auto ids = client_->Post("/a,b/_search",
                           R"({"query":{"ids":{"values":["1","2"]}}})", kJson);
  ASSERT_TRUE(ids);
  auto all = client_->Get("/movies/_search");
  ASSERT_TRUE(all);
  auto unknown =
      client_->Post("/movies/_search", R"({"query":{"fuzzy":{}}})", kJson);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(Body(unknown)["error"]["reason"], "unknown query [fuzzy]");

  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].search().query().term().field(), "genre");
  EXPECT_EQ(sent[0].search().query().term().value_json(), "\"drama\"");
  EXPECT_EQ(sent[0].search().size(), 5);
  EXPECT_EQ(sent[0].search().indices(0), "movies");
  EXPECT_EQ(sent[1].search().query().term().value_json(), "2014");
  EXPECT_EQ(sent[1].search().size(), 3);
  EXPECT_EQ(sent[1].search().from(), 1);
  // No index named: every index, by name.
  ASSERT_EQ(sent[1].search().indices_size(), 3);
  EXPECT_EQ(sent[1].search().indices(0), "movies");
  EXPECT_EQ(sent[2].search().query().ids().values_size(), 2);
  EXPECT_EQ(sent[2].search().indices_size(), 2);
  EXPECT_TRUE(sent[3].search().query().has_match_all());
  EXPECT_EQ(sent[3].search().size(), 10);
}

// Elasticsearch reads the body of a GET (`GET /_search {"query": ...}`);
// cpp-httplib alone would drop it and search everything.
TEST_F(RestTest, GetWithABodyIsReadLikeElasticsearchDoes) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    if (request.has_get_cluster_state()) return DefaultAnswer(request);
    pb::Envelope reply;
    reply.mutable_search_response()->set_total(0);
    return reply;
  };
  httplib::Request search;
  search.method = "GET";
  search.path = "/movies/_search";
  search.body = R"({"query":{"ids":{"values":["7"]}},"size":2})";
  search.set_header("Content-Type", kJson);
  auto searched = client_->send(search);
  ASSERT_TRUE(searched);
  EXPECT_EQ(searched->status, 200);

  httplib::Request wrong_method;
  wrong_method.method = "GET";
  wrong_method.path = "/movies/_update/1";
  wrong_method.body = R"({"doc":{}})";
  wrong_method.set_header("Content-Type", kJson);
  auto refused = client_->send(wrong_method);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 405);
  EXPECT_EQ(Body(refused)["error"],
            "Incorrect HTTP method for uri [/movies/_update/1] and method "
            "[GET], allowed: [POST]");

  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_EQ(sent[0].search().query().ids().values_size(), 1);
  EXPECT_EQ(sent[0].search().query().ids().values(0), "7");
  EXPECT_EQ(sent[0].search().size(), 2);
}

TEST_F(RestTest, CreateIndexReadsFlatAndNestedSettings) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    reply.mutable_create_index_response()->set_acknowledged(true);
    reply.mutable_create_index_response()->set_shards_acknowledged(true);
    reply.mutable_create_index_response()->set_index(
        request.create_index().index());
    return reply;
  };
  auto flat = client_->Put(
      "/a", R"({"settings":{"number_of_shards":3,"number_of_replicas":2}})",
      kJson);
  ASSERT_TRUE(flat);
  EXPECT_EQ(flat->body,
            R"({"acknowledged":true,"shards_acknowledged":true,"index":"a"})");
  auto nested = client_->Put(
      "/b", R"({"settings":{"index":{"number_of_shards":"2"}}})", kJson);
  ASSERT_TRUE(nested);
  auto bare = client_->Put("/c", "", kJson);
  ASSERT_TRUE(bare);
  auto zero =
      client_->Put("/d", R"({"settings":{"number_of_shards":0}})", kJson);
  ASSERT_TRUE(zero);
  EXPECT_EQ(zero->status, 400);
  EXPECT_EQ(Body(zero)["error"]["reason"],
            "Failed to parse value [0] for setting [index.number_of_shards] "
            "must be >= 1");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].create_index().number_of_shards(), 3);
  EXPECT_EQ(sent[0].create_index().number_of_replicas(), 2);
  EXPECT_EQ(sent[1].create_index().number_of_shards(), 2);
  EXPECT_EQ(sent[1].create_index().number_of_replicas(), -1);
  EXPECT_EQ(sent[2].create_index().number_of_shards(), 0);
}

TEST_F(RestTest, GetAndHeadIndexFromTheClusterState) {
  auto get = client_->Get("/movies");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  Json settings = Body(get)["movies"]["settings"]["index"];
  EXPECT_EQ(settings["number_of_shards"], "1");
  EXPECT_EQ(settings["number_of_replicas"], "1");
  EXPECT_EQ(settings["uuid"], "uuid-movies");
  EXPECT_EQ(settings["provided_name"], "movies");
  EXPECT_EQ(Body(get)["movies"]["aliases"], Json::object());
  auto missing = client_->Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["error"]["type"], "index_not_found_exception");
  EXPECT_EQ(Body(missing)["error"]["reason"], "no such index [nope]");
  EXPECT_EQ(Body(missing)["error"]["resource.id"], "nope");
  auto head = client_->Head("/movies");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto head_missing = client_->Head("/nope");
  ASSERT_TRUE(head_missing);
  EXPECT_EQ(head_missing->status, 404);
  EXPECT_TRUE(head_missing->body.empty());
  auto refresh = client_->Post("/movies/_refresh", "", kJson);
  ASSERT_TRUE(refresh);
  EXPECT_EQ(refresh->body,
            R"({"_shards":{"total":2,"successful":2,"failed":0}})");
}

// Index expressions resolve as Elasticsearch's IndexNameExpressionResolver:
// comma lists, wildcards, "_all", exclusions after a wildcard, and the
// ignore_unavailable / allow_no_indices / expand_wildcards options.
TEST_F(RestTest, IndexExpressionsResolveLikeElasticsearch) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_get_cluster_state()) {
      pb::ClusterState* state =
          reply.mutable_get_cluster_state_response()->mutable_state();
      for (const char* name : {"logs-a", "logs-b"}) {
        pb::IndexMeta* index = state->add_indices();
        *index = state->indices(0);
        index->set_name(name);
        index->set_uuid(absl::StrCat("uuid-", name));
      }
    } else if (request.has_search()) {
      reply.mutable_search_response()->set_total(1);
      reply.mutable_search_response()->mutable_shards()->set_total(1);
    } else if (request.has_delete_index()) {
      reply.mutable_delete_index_response()->set_acknowledged(true);
    }
    return reply;
  };
  auto searched_indices = [&](const std::string& url) {
    std::vector<std::string> names;
    auto result = client_->Get(url);
    EXPECT_TRUE(result && result->status == 200) << url;
    std::vector<pb::Envelope> sent = SentBesidesState();
    if (!sent.empty() && sent.back().has_search()) {
      for (const std::string& name : sent.back().search().indices())
        names.push_back(name);
    }
    return names;
  };
  using Names = std::vector<std::string>;
  EXPECT_EQ(searched_indices("/logs-*/_search"), Names({"logs-a", "logs-b"}));
  EXPECT_EQ(searched_indices("/logs-*,-logs-b/_search"), Names({"logs-a"}));
  EXPECT_EQ(searched_indices("/*,-logs-*/_count"), Names({"movies"}));
  EXPECT_EQ(searched_indices("/logs-b,movies,logs-b/_search"),
            Names({"movies", "logs-b"}));  // in the cluster's order, once
  EXPECT_EQ(searched_indices("/_all/_search"),
            Names({"movies", "logs-a", "logs-b"}));

  // A missing name is index_not_found unless ignore_unavailable.
  const size_t sent_before = SentBesidesState().size();
  for (const std::string url :
       {"/movies,nope/_search", "/nope/_count", "/-movies/_search"}) {
    auto missing = client_->Get(url);
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404) << url;
    EXPECT_EQ(Body(missing)["error"]["type"], "index_not_found_exception");
    EXPECT_EQ(Body(missing)["error"]["root_cause"][0]["type"],
              "index_not_found_exception");
  }
  auto missing = client_->Get("/movies,nope/_search");
  EXPECT_EQ(Body(missing)["error"]["reason"], "no such index [nope]");
  EXPECT_EQ(Body(missing)["error"]["index"], "nope");
  EXPECT_EQ(Body(client_->Get("/-movies/_search"))["error"]["reason"],
            "no such index [-movies]");
  EXPECT_EQ(SentBesidesState().size(), sent_before);
  EXPECT_EQ(searched_indices("/movies,nope/_search?ignore_unavailable=true"),
            Names({"movies"}));

  // An expression that resolves to nothing searches nothing: empty answers,
  // or index_not_found with allow_no_indices=false.
  const size_t searches = SentBesidesState().size();
  auto none = client_->Get("/nomatch-*/_search");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 200);
  EXPECT_EQ(Body(none)["hits"]["total"],
            Json({{"value", 0}, {"relation", "eq"}}));
  EXPECT_EQ(Body(none)["hits"]["hits"], Json::array());
  EXPECT_EQ(Body(none)["_shards"]["total"], 0);
  auto no_count = client_->Get("/nomatch-*/_count");
  ASSERT_TRUE(no_count);
  EXPECT_EQ(no_count->body,
            R"({"count":0,"_shards":{"total":0,"successful":0,"skipped":0,)"
            R"("failed":0}})");
  auto skipped = client_->Get("/nope/_search?ignore_unavailable=true");
  ASSERT_TRUE(skipped);
  EXPECT_EQ(skipped->status, 200);
  auto closed_only = client_->Get("/*/_search?expand_wildcards=closed");
  ASSERT_TRUE(closed_only);
  EXPECT_EQ(Body(closed_only)["hits"]["total"]["value"], 0);
  EXPECT_EQ(SentBesidesState().size(), searches);
  auto strict = client_->Get("/nomatch-*/_search?allow_no_indices=false");
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->status, 404);
  EXPECT_EQ(Body(strict)["error"]["reason"], "no such index [nomatch-*]");
  auto bad = client_->Get("/*/_search?expand_wildcards=shut");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["reason"],
            "No valid expand wildcard value [shut]");

  // GET /{expr}, _cat, _refresh and health take the same expressions.
  auto get = client_->Get("/logs-*,-logs-a");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  ASSERT_EQ(Body(get).size(), 1u);
  EXPECT_TRUE(Body(get).contains("logs-b"));
  auto get_none = client_->Get("/nomatch-*");
  ASSERT_TRUE(get_none);
  EXPECT_EQ(get_none->body, "{}");
  auto cat = client_->Get("/_cat/indices/logs-*?h=index&s=index");
  ASSERT_TRUE(cat);
  EXPECT_EQ(cat->body, "logs-a\nlogs-b\n");
  auto cat_shards = client_->Get("/_cat/shards/movies,logs-b?h=index");
  ASSERT_TRUE(cat_shards);
  EXPECT_EQ(cat_shards->body, "movies\nmovies\nlogs-b\nlogs-b\n");
  auto refresh = client_->Post("/logs-*/_refresh", "", kJson);
  ASSERT_TRUE(refresh);
  EXPECT_EQ(Body(refresh)["_shards"]["total"], 4);
  EXPECT_EQ(SentBesidesState().back().refresh().indices_size(), 2);
  auto refresh_missing = client_->Post("/logs-*,nope/_refresh", "", kJson);
  ASSERT_TRUE(refresh_missing);
  EXPECT_EQ(refresh_missing->status, 404);
  auto health = client_->Get("/_cluster/health/logs-*,movies");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Body(health)["active_primary_shards"], 3);
  auto health_none = client_->Get("/_cluster/health/nomatch-*");
  ASSERT_TRUE(health_none);
  EXPECT_EQ(Body(health_none)["status"], "green");
  EXPECT_EQ(Body(health_none)["active_shards"], 0);

  // action.destructive_requires_name: deletions name their indices.
  for (const std::string url : {"/logs-*", "/_all", "/*", "/movies,logs-*"}) {
    auto refused = client_->Delete(url);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << url;
    EXPECT_EQ(Body(refused)["error"]["type"], "illegal_argument_exception");
    EXPECT_EQ(Body(refused)["error"]["reason"],
              "Wildcard expressions or all indices are not allowed");
  }
  auto partly_missing = client_->Delete("/logs-a,nope");
  ASSERT_TRUE(partly_missing);
  EXPECT_EQ(partly_missing->status, 404);
  for (const pb::Envelope& envelope : SentBesidesState())
    EXPECT_FALSE(envelope.has_delete_index());
  auto both = client_->Delete("/logs-a,logs-b");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->body, R"({"acknowledged":true})");
  std::vector<std::string> deleted;
  for (const pb::Envelope& envelope : SentBesidesState()) {
    if (envelope.has_delete_index())
      deleted.push_back(envelope.delete_index().index());
  }
  EXPECT_EQ(deleted, Names({"logs-a", "logs-b"}));
}

// Alias endpoints: what they send to the coordinator and what they answer.
TEST_F(RestTest, AliasEndpointsSendActionsAndReadTheState) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_get_cluster_state()) {
      pb::ClusterState* state =
          reply.mutable_get_cluster_state_response()->mutable_state();
      pb::IndexMeta* logs = state->add_indices();
      *logs = state->indices(0);
      logs->set_name("logs");
      logs->set_uuid("uuid-logs");
      state->mutable_indices(0)->add_aliases("both");
      state->mutable_indices(0)->add_aliases("films");
      logs->add_aliases("both");
    }
    return reply;
  };
  auto sent_actions = [&] {
    std::vector<std::string> out;
    for (const pb::Envelope& envelope : SentBesidesState()) {
      for (const pb::AliasAction& action :
           envelope.update_indices().alias_actions()) {
        out.push_back(absl::StrCat(action.remove() ? "-" : "+", action.index(),
                                   ":", action.alias()));
      }
    }
    return out;
  };
  using Names = std::vector<std::string>;
  auto put = client_->Put("/movies,logs/_alias/new", "", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->body, R"({"acknowledged":true})");
  EXPECT_EQ(sent_actions(), Names({"+movies:new", "+logs:new"}));
  auto bad_name = client_->Put("/movies/_alias/New", "", kJson);
  ASSERT_TRUE(bad_name);
  EXPECT_EQ(bad_name->status, 400);
  EXPECT_EQ(Body(bad_name)["error"]["type"], "invalid_alias_name_exception");
  EXPECT_EQ(Body(bad_name)["error"]["reason"],
            "Invalid alias name [New]: must be lowercase");
  auto no_index = client_->Put("/nope/_alias/x", "", kJson);
  ASSERT_TRUE(no_index);
  EXPECT_EQ(no_index->status, 404);

  auto update = client_->Post(
      "/_aliases",
      R"({"actions":[{"remove":{"index":"movies","alias":"films"}},)"
      R"({"add":{"indices":["logs"],"aliases":["films","f2"]}}]})",
      kJson);
  ASSERT_TRUE(update);
  EXPECT_EQ(update->status, 200) << update->body;
  EXPECT_EQ(sent_actions(), Names({"+movies:new", "+logs:new", "-movies:films",
                                   "+logs:films", "+logs:f2"}));
  for (const char* body :
       {R"({"actions":[]})", R"({"actions":[{"flip":{"index":"movies"}}]})",
        R"({"actions":[{"add":{"index":"movies"}}]})", "{"}) {
    auto refused = client_->Post("/_aliases", body, kJson);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << body;
  }

  auto removed = client_->Delete("/movies/_alias/f*,both");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 200) << removed->body;
  EXPECT_EQ(sent_actions().back(), "-movies:both");
  auto missing = client_->Delete("/movies/_alias/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["error"]["type"], "aliases_not_found_exception");
  EXPECT_EQ(Body(missing)["error"]["reason"], "aliases [nope] missing");
  EXPECT_EQ(Body(missing)["error"]["resource.id"], "nope");
  EXPECT_EQ(sent_actions().size(), 7u);

  auto all = client_->Get("/_alias");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->body, R"({"movies":{"aliases":{"both":{},"films":{}}},)"
                       R"("logs":{"aliases":{"both":{}}}})");
  auto named = client_->Get("/_alias/films");
  ASSERT_TRUE(named);
  EXPECT_EQ(named->body, R"({"movies":{"aliases":{"films":{}}}})");
  auto of_index = client_->Get("/logs/_alias/*");
  ASSERT_TRUE(of_index);
  EXPECT_EQ(of_index->body, R"({"logs":{"aliases":{"both":{}}}})");
  auto partly = client_->Get("/_alias/films,nope");
  ASSERT_TRUE(partly);
  EXPECT_EQ(partly->status, 404);
  EXPECT_EQ(partly->body, R"({"error":"alias [nope] missing","status":404,)"
                          R"("movies":{"aliases":{"films":{}}}})");
  auto head = client_->Head("/movies/_alias/films");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto head_missing = client_->Head("/logs/_alias/films");
  ASSERT_TRUE(head_missing);
  EXPECT_EQ(head_missing->status, 404);

  // Expressions resolve aliases.
  auto search = client_->Get("/both/_search");
  ASSERT_TRUE(search);
  EXPECT_EQ(SentBesidesState().back().search().indices_size(), 2);
  auto get = client_->Get("/film*");
  ASSERT_TRUE(get);
  EXPECT_EQ(Body(get).size(), 1u);
  EXPECT_EQ(Body(get)["movies"]["aliases"],
            Json::parse(R"({"both":{},"films":{}})"));
}

TEST_F(RestTest, CatShardsTextAndJsonWithSeqNoColumns) {
  auto text = client_->Get(
      "/_cat/shards?v&h=index,shard,prirep,state,docs,node,seq_no.max,"
      "seq_no.local_checkpoint,seq_no.global_checkpoint");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200);
  EXPECT_EQ(text->body,
            "index  shard prirep state   docs node   seq_no.max "
            "seq_no.local_checkpoint "
            "seq_no.global_checkpoint\n"
            "movies     0 p      STARTED    3 node-1          4                "
            "       4 "
            "                       3\n"
            "movies     0 r      STARTED    3 node-2          4                "
            "       4 "
            "                       3\n");
  auto json =
      client_->Get("/_cat/shards/movies?format=json&h=index,prirep,seq_no.max");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->body, R"([{"index":"movies","prirep":"p","seq_no.max":"4"},)"
                        R"({"index":"movies","prirep":"r","seq_no.max":"4"}])");
  auto indices =
      client_->Get("/_cat/indices?format=json&h=health,index,docs.count");
  ASSERT_TRUE(indices);
  EXPECT_EQ(indices->body,
            R"([{"health":"green","index":"movies","docs.count":"3"}])");
  int node_status_requests = 0;
  for (const pb::Envelope& e : Sent())
    node_status_requests += e.has_node_status();
  EXPECT_EQ(node_status_requests, 6);
}

TEST_F(RestTest, HealthWaitsForStatusAndTimesOutWith408) {
  std::atomic<int> calls{0};
  dispatcher_.answer = [&](const std::string&, const pb::Envelope&) {
    pb::Envelope reply;
    pb::ClusterState state = GreenState();
    // The replica starts on the third look.
    if (++calls < 3) {
      state.mutable_indices(0)->mutable_shards(0)->mutable_copies(1)->set_state(
          pb::ShardCopy::INITIALIZING);
    }
    *reply.mutable_get_cluster_state_response()->mutable_state() = state;
    return reply;
  };
  auto green =
      client_->Get("/_cluster/health?wait_for_status=green&timeout=30s");
  ASSERT_TRUE(green);
  EXPECT_EQ(green->status, 200);
  Json body = Body(green);
  EXPECT_EQ(body["status"], "green");
  EXPECT_EQ(body["timed_out"], false);
  EXPECT_EQ(body["number_of_nodes"], 2);
  EXPECT_EQ(body["active_primary_shards"], 1);
  EXPECT_EQ(body["active_shards"], 2);
  EXPECT_GE(calls.load(), 3);

  auto missing = client_->Get(
      "/_cluster/health/nope?wait_for_status=yellow&timeout=200ms");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 408);
  EXPECT_EQ(Body(missing)["timed_out"], true);
  EXPECT_EQ(Body(missing)["status"], "red");
}

TEST_F(RestTest, HealthWaitsForNodesLikeElasticsearch) {
  // GreenState() has two nodes.
  dispatcher_.answer = [&](const std::string&, const pb::Envelope&) {
    pb::Envelope reply;
    *reply.mutable_get_cluster_state_response()->mutable_state() = GreenState();
    return reply;
  };
  for (const char* spec : {"2", ">=2", "ge(2)", "<3", "lt(3)", ">1"}) {
    auto ok = client_->Get(
        absl::StrCat("/_cluster/health?wait_for_nodes=", spec, "&timeout=5s"));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200) << spec;
    EXPECT_EQ(Body(ok)["timed_out"], false) << spec;
  }
  auto three = client_->Get(
      "/_cluster/health?wait_for_status=green&wait_for_nodes=3&timeout=200ms");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->status, 408);
  EXPECT_EQ(Body(three)["timed_out"], true);
  EXPECT_EQ(Body(three)["number_of_nodes"], 2);
  auto bad = client_->Get("/_cluster/health?wait_for_nodes=many");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["type"], "illegal_argument_exception");
}

TEST_F(RestTest, PrettyFilterPathAndRoot) {
  auto root = client_->Get("/?pretty");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_TRUE(absl::StartsWith(
      root->body, "{\n  \"name\" : \"node-1\",\n  \"cluster_name\""));
  EXPECT_EQ(root->body.back(), '\n');
  Json body = Body(root);
  EXPECT_EQ(body["version"]["number"], "8.11.0");
  EXPECT_EQ(body["cluster_uuid"], "cluster-uuid-1");
  EXPECT_EQ(body["tagline"], "You Know, for Search");
  auto filtered = client_->Put(
      "/movies/_doc/1?filter_path=_seq_no,_primary_term", R"({"a":1})", kJson);
  ASSERT_TRUE(filtered);
  EXPECT_EQ(filtered->body, R"({"_seq_no":0,"_primary_term":1})");
  auto nested = client_->Put("/movies/_doc/1?filter_path=_shards.succ*",
                             R"({"a":1})", kJson);
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->body, R"({"_shards":{"successful":2}})");
  EXPECT_EQ(rest::EsPretty(Json::parse(R"({"a":[1,{}],"b":[]})")),
            "{\n  \"a\" : [\n    1,\n    { }\n  ],\n  \"b\" : [ ]\n}\n");
}

TEST_F(RestTest, VendorMediaTypeIsAcceptedAndEchoed) {
  httplib::Headers headers = {
      {"Accept", "application/vnd.elasticsearch+json; compatible-with=8"}};
  auto result =
      client_->Put("/movies/_doc/1", headers, R"({"a":1})",
                   "application/vnd.elasticsearch+json; compatible-with=8");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(result->get_header_value("Content-Type"),
            "application/vnd.elasticsearch+json;compatible-with=8");
  auto bulk = client_->Post(
      "/_bulk", headers, "{\"index\":{\"_index\":\"m\",\"_id\":\"1\"}}\n{}\n",
      "application/vnd.elasticsearch+x-ndjson; compatible-with=8");
  ASSERT_TRUE(bulk);
  EXPECT_EQ(bulk->status, 200);
}

}  // namespace
}  // namespace seqsim
