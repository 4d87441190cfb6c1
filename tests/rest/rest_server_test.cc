// The REST adapter against a fake Dispatcher (rest_test_fixture.h): HTTP in,
// envelopes out, Elasticsearch bodies back. The document APIs, parameter and
// routing errors, and serving (cluster-state reads, waiting requests, Stop).
// Each test starts a RestServer on a free loopback port.
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

TEST_F(RestTest, IndexNewDocumentReturns201WithEsFieldOrder) {
  auto result =
      client_->Put("/movies/_doc/109487", R"({"title":"Interstellar"})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 201);
  EXPECT_EQ(
      result->body,
      R"({"_index":"movies","_id":"109487","_version":1,"result":"created",)"
      R"("_shards":{"total":2,"successful":2,"failed":0},"_seq_no":0,"_primary_term":1})");
  EXPECT_EQ(result->get_header_value("X-Elastic-Product"), "Elasticsearch");
  EXPECT_EQ(result->get_header_value("Content-Type"),
            "application/json; charset=UTF-8");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].write().kind(), pb::WriteRequest::INDEX);
  EXPECT_EQ(sent[0].write().source(), R"({"title":"Interstellar"})");
}

// Malformed UTF-8 in the path (or a parameter) becomes U+FFFD, as Elasticsearch
// decodes it; before, the raw byte reached the wire and the replica could not
// parse the replicated operation (the index stayed yellow).
TEST_F(RestTest, MalformedUtf8InThePathBecomesTheReplacementCharacter) {
  auto result = client_->Put("/movies/_doc/a%FFb", R"({"x":1})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 201);
  ASSERT_TRUE(client_->Get("/movies/_doc/%C3%A9%E2%82"));
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].write().id(),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(sent[1].get().id(), "\xC3\xA9\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ValidUtf8, KeepsWellFormedTextAndReplacesEachBadByte) {
  EXPECT_EQ(rest::ValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(rest::ValidUtf8("\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80"),
            "\xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80");
  const std::string bad = "\xEF\xBF\xBD";
  EXPECT_EQ(rest::ValidUtf8("\xFF"), bad);
  EXPECT_EQ(rest::ValidUtf8("\xC0\x80"), bad + bad);            // overlong NUL
  EXPECT_EQ(rest::ValidUtf8("\xED\xA0\x80"), bad + bad + bad);  // surrogate
  EXPECT_EQ(rest::ValidUtf8("\xF4\x90\x80\x80"),
            bad + bad + bad + bad);  // above U+10FFFF
  EXPECT_EQ(rest::ValidUtf8(std::string("a\0b", 3)), std::string("a\0b", 3));
}

TEST_F(RestTest, IndexTranslatesCasAndVersionParamsIntoTheWriteRequest) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    *reply.mutable_write_response() =
        Written("movies", request.write().id(), "updated", 2, 1);
    return reply;
  };
  auto result = client_->Put(
      "/movies/_doc/1?if_seq_no=0&if_primary_term=1&refresh=wait_for&timeout=5s"
      "&wait_for_active_shards=all&routing=x",
      R"({"a":1})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(Body(result)["result"], "updated");
  result = client_->Put("/movies/_doc/1?version=7&version_type=external",
                        R"({"a":1})", kJson);
  ASSERT_TRUE(result);
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].write().if_seq_no(), 0);
  EXPECT_EQ(sent[0].write().if_primary_term(), 1);
  EXPECT_FALSE(sent[0].write().has_version());
  EXPECT_EQ(sent[0].write().wait_for_active_shards(), "all");
  EXPECT_EQ(sent[0].write().timeout_ms(), 5000);
  EXPECT_EQ(sent[1].write().version(), 7);
  EXPECT_EQ(sent[1].write().version_type(), pb::VERSION_EXTERNAL);
  EXPECT_FALSE(sent[1].write().has_if_seq_no());
}

// `routing` reaches the node on every document API, bulk metadata included
// (a bulk's URL routing is each item's default), and comes back as _routing.
TEST_F(RestTest, RoutingIsSentWithEveryRequestAndShownAsUnderscoreRouting) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_get()) {
      pb::GetResponse* get = reply.mutable_get_response();
      get->set_index("movies");
      get->set_id("1");
      get->set_found(true);
      get->set_version(1);
      get->set_primary_term(1);
      get->set_routing(request.get().routing());
      get->set_source(R"({"a":1})");
    } else if (request.has_search()) {
      pb::SearchHit* hit = reply.mutable_search_response()->add_hits();
      hit->set_index("movies");
      hit->set_id("1");
      hit->set_routing("u1");
      hit->set_source(R"({"a":1})");
      reply.mutable_search_response()->set_total(1);
    }
    return reply;
  };
  ASSERT_TRUE(client_->Put("/movies/_doc/1?routing=u1", R"({"a":1})", kJson));
  ASSERT_TRUE(client_->Delete("/movies/_doc/1?routing=u2"));
  ASSERT_TRUE(
      client_->Post("/movies/_update/1?routing=u3", R"({"doc":{}})", kJson));
  auto get = client_->Get("/movies/_doc/1?routing=u4");
  ASSERT_TRUE(get);
  EXPECT_EQ(
      get->body,
      R"({"_index":"movies","_id":"1","_version":1,"_seq_no":0,)"
      R"("_primary_term":1,"_routing":"u4","found":true,"_source":{"a":1}})");
  ASSERT_TRUE(client_->Post("/movies/_bulk?routing=d",
                            "{\"index\":{\"_id\":\"1\"}}\n{}\n"
                            "{\"index\":{\"_id\":\"2\",\"routing\":7}}\n{}\n"
                            "{\"delete\":{\"_id\":\"3\",\"routing\":\"u5\"}}\n",
                            "application/x-ndjson"));
  auto search = client_->Get("/movies/_search?routing=a,b");
  ASSERT_TRUE(search);
  EXPECT_EQ(Body(search)["hits"]["hits"][0]["_routing"], "u1");
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 6u);
  EXPECT_EQ(sent[0].write().routing(), "u1");
  EXPECT_EQ(sent[1].write().routing(), "u2");
  EXPECT_EQ(sent[2].write().routing(), "u3");
  EXPECT_EQ(sent[3].get().routing(), "u4");
  ASSERT_EQ(sent[4].bulk().items_size(), 3);
  EXPECT_EQ(sent[4].bulk().items(0).routing(), "d");
  EXPECT_EQ(sent[4].bulk().items(1).routing(), "7");  // a number, as text
  EXPECT_EQ(sent[4].bulk().items(2).routing(), "u5");
  ASSERT_EQ(sent[5].search().routing_size(), 2);
  EXPECT_EQ(sent[5].search().routing(0), "a");
  EXPECT_EQ(sent[5].search().routing(1), "b");
}

TEST_F(RestTest, PostWithoutIdGeneratesA20CharacterIdAsCreate) {
  auto result = client_->Post("/movies/_doc", R"({"a":1})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 201);
  std::string id = Body(result)["_id"];
  EXPECT_EQ(id.size(), 20u);
  EXPECT_EQ(
      id.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos);
  ASSERT_EQ(Sent().size(), 1u);
  EXPECT_EQ(Sent()[0].write().kind(), pb::WriteRequest::CREATE);
  EXPECT_TRUE(Sent()[0].write().auto_generated_id());
  EXPECT_NE(rest::GenerateId(), rest::GenerateId());
}

TEST_F(RestTest, CreateRouteAndOpTypeCreateSendCreate) {
  ASSERT_TRUE(client_->Put("/movies/_create/1", R"({"a":1})", kJson));
  ASSERT_TRUE(
      client_->Put("/movies/_doc/2?op_type=create", R"({"a":1})", kJson));
  auto bad = client_->Put("/movies/_doc/3?op_type=upsert", R"({"a":1})", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["reason"],
            "opType must be 'create' or 'index', found: [upsert]");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].write().kind(), pb::WriteRequest::CREATE);
  EXPECT_EQ(sent[1].write().kind(), pb::WriteRequest::CREATE);
}

TEST_F(RestTest, VersionConflictRendersElasticsearch409Body) {
  const std::string reason =
      "[1]: version conflict, required seqNo [5], primary term [1]. current "
      "document has "
      "seqNo [6] and primary term [1]";
  dispatcher_.answer = [&](const std::string&, const pb::Envelope&) {
    pb::Envelope reply;
    pb::Error* error = reply.mutable_write_response()->mutable_error();
    error->set_status(409);
    error->set_type("version_conflict_engine_exception");
    error->set_reason(reason);
    error->set_index("movies");
    error->set_index_uuid("uuid-movies");
    error->set_shard("0");
    return reply;
  };
  auto result = client_->Put("/movies/_doc/1?if_seq_no=5&if_primary_term=1",
                             R"({"a":1})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 409);
  Json cause = {{"type", "version_conflict_engine_exception"},
                {"reason", reason},
                {"index_uuid", "uuid-movies"},
                {"shard", "0"},
                {"index", "movies"}};
  Json expected = cause;
  expected = Json::object();
  expected["root_cause"] = Json::array({cause});
  for (auto it = cause.begin(); it != cause.end(); ++it)
    expected[it.key()] = it.value();
  EXPECT_EQ(result->body, Json({{"error", expected}, {"status", 409}}).dump());
}

TEST_F(RestTest, GetFoundMissingHeadAndSource) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    pb::GetResponse* get = reply.mutable_get_response();
    get->set_index("movies");
    get->set_id(request.get().id());
    if (request.get().id() == "1") {
      get->set_found(true);
      get->set_version(3);
      get->set_seq_no(4);
      get->set_primary_term(2);
      get->set_source(R"({"title":"x","year":2014})");
    }
    return reply;
  };
  auto found = client_->Get("/movies/_doc/1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, 200);
  EXPECT_EQ(
      found->body,
      R"({"_index":"movies","_id":"1","_version":3,"_seq_no":4,"_primary_term":2,)"
      R"("found":true,"_source":{"title":"x","year":2014}})");
  auto missing = client_->Get("/movies/_doc/2");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, R"({"_index":"movies","_id":"2","found":false})");
  auto head = client_->Head("/movies/_doc/1");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  EXPECT_EQ(head->get_header_value("X-Elastic-Product"), "Elasticsearch");
  auto head_missing = client_->Head("/movies/_doc/2");
  ASSERT_TRUE(head_missing);
  EXPECT_EQ(head_missing->status, 404);
  EXPECT_TRUE(head_missing->body.empty());
  auto source = client_->Get("/movies/_source/1");
  ASSERT_TRUE(source);
  EXPECT_EQ(source->body, R"({"title":"x","year":2014})");
  auto no_source = client_->Get("/movies/_source/2");
  ASSERT_TRUE(no_source);
  EXPECT_EQ(no_source->status, 404);
  EXPECT_EQ(Body(no_source)["error"]["type"], "resource_not_found_exception");
  EXPECT_EQ(Body(no_source)["error"]["reason"],
            "Document not found [movies]/[2]");
}

TEST_F(RestTest, DeleteOfMissingDocumentIs404WithFullWriteBody) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    EXPECT_EQ(request.write().kind(), pb::WriteRequest_Kind_DELETE);
    *reply.mutable_write_response() = Written("movies", "9", "not_found", 1, 5);
    return reply;
  };
  auto result = client_->Delete("/movies/_doc/9");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  Json body = Body(result);
  EXPECT_EQ(body["result"], "not_found");
  EXPECT_EQ(body["_seq_no"], 5);
  EXPECT_EQ(body["_shards"]["total"], 2);
}

TEST_F(RestTest, UpdateTranslatesDocUpsertAndRetryOnConflict) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply;
    *reply.mutable_write_response() =
        Written("movies", request.write().id(), "noop", 2, 1);
    return reply;
  };
  auto result = client_->Post(
      "/movies/_update/1?retry_on_conflict=3",
      R"({"doc":{"a":2},"doc_as_upsert":true,"detect_noop":false})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(Body(result)["result"], "noop");
  std::vector<pb::Envelope> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  const pb::WriteRequest& write = sent[0].write();
  EXPECT_EQ(write.kind(), pb::WriteRequest::UPDATE);
  EXPECT_EQ(write.update_doc(), R"({"a":2})");
  EXPECT_TRUE(write.doc_as_upsert());
  EXPECT_FALSE(write.detect_noop());
  EXPECT_EQ(write.retry_on_conflict(), 3);
  auto bad = client_->Post("/movies/_update/1", R"({"dok":{}})", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Sent().size(), 1u);
}

TEST_F(RestTest, UnrecognizedParameterIs400AndChangesNothing) {
  auto result = client_->Put("/idx/_doc/1?foo=bar", R"({"a":1})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  Json body = Body(result);
  EXPECT_EQ(body["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(body["error"]["reason"],
            "request [/idx/_doc/1] contains unrecognized parameter: [foo]");
  EXPECT_EQ(body["error"]["root_cause"][0]["type"],
            "illegal_argument_exception");
  EXPECT_EQ(body["status"], 400);
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, MalformedParametersAre400WithElasticsearchReasons) {
  struct Case {
    std::string path;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"/idx/_doc/1?if_seq_no=abc&if_primary_term=1",
            "Failed to parse long parameter [if_seq_no] with value [abc]"},
           {"/idx/_doc/1?if_seq_no=-5&if_primary_term=1",
            "sequence numbers must be non negative. got [-5]."},
           {"/idx/_doc/1?if_seq_no=1&if_primary_term=-1",
            "primary term must be non negative. got [-1]"},
           {"/idx/_doc/1?version_type=bogus", "No version type match [bogus]"},
           {"/idx/_doc/1?refresh=maybe", "Unknown value for refresh: [maybe]."},
           {"/idx/_doc/1?timeout=5parsecs",
            "failed to parse setting [timeout] with value [5parsecs] as a time "
            "value: unit "
            "is missing or unrecognized"},
       }) {
    auto result = client_->Put(c.path, R"({"a":1})", kJson);
    ASSERT_TRUE(result) << c.path;
    EXPECT_EQ(result->status, 400) << c.path;
    EXPECT_EQ(Body(result)["error"]["reason"], c.reason) << c.path;
  }
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, BadDocumentJsonIsMapperParsingAndEmptyBodyIsParseException) {
  auto bad = client_->Put("/idx/_doc/1", "{\"a\":", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["type"], "mapper_parsing_exception");
  EXPECT_EQ(Body(bad)["error"]["reason"], "failed to parse");
  auto empty = client_->Put("/idx/_doc/1", "", kJson);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  EXPECT_EQ(Body(empty)["error"]["type"], "parse_exception");
  EXPECT_EQ(Body(empty)["error"]["reason"], "request body is required");
  auto bad_search = client_->Post("/idx/_search", "{nope", kJson);
  ASSERT_TRUE(bad_search);
  EXPECT_EQ(bad_search->status, 400);
  EXPECT_EQ(Body(bad_search)["error"]["type"], "parse_exception");
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, InvalidIndexNamesAre400InvalidIndexNameException) {
  struct Case {
    std::string index;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"Foo", "Invalid index name [Foo], must be lowercase"},
           {"_x",
            "Invalid index name [_x], must not start with '_', '-', or '+'"},
           {"-x",
            "Invalid index name [-x], must not start with '_', '-', or '+'"},
           {"a#b", "Invalid index name [a#b], must not contain '#'"},
           {"a:b", "Invalid index name [a:b], must not contain ':'"},
       }) {
    auto result = client_->Put(
        "/" + absl::StrReplaceAll(c.index, {{"#", "%23"}}) + "/_doc/1",
        R"({"a":1})", kJson);
    ASSERT_TRUE(result) << c.index;
    EXPECT_EQ(result->status, 400) << c.index;
    Json body = Body(result);
    EXPECT_EQ(body["error"]["type"], "invalid_index_name_exception") << c.index;
    EXPECT_EQ(body["error"]["reason"], c.reason);
    EXPECT_EQ(body["error"]["index"], c.index);
    EXPECT_EQ(body["error"]["index_uuid"], "_na_");
  }
  auto create = client_->Put("/Upper", "", kJson);
  ASSERT_TRUE(create);
  EXPECT_EQ(create->status, 400);
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, UnknownRouteIs400AndWrongMethodIs405) {
  auto unknown = client_->Get("/idx/_doc/1/extra");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(Body(unknown)["error"]["reason"],
            "no handler found for uri [/idx/_doc/1/extra] and method [GET]");
  EXPECT_EQ(unknown->get_header_value("X-Elastic-Product"), "Elasticsearch");
  auto wrong = client_->Get("/_bulk");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(Body(wrong)["error"],
            "Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: "
            "[POST, PUT]");
  EXPECT_EQ(Body(wrong)["status"], 405);
  EXPECT_EQ(wrong->get_header_value("X-Elastic-Product"), "Elasticsearch");
  auto patch = client_->Patch("/idx/_doc/1", "{}", kJson);
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->status, 405);
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, BodyLargerThanTheLimitIs413InElasticsearchShape) {
  std::string huge = R"({"a":")" + std::string(100 * 1024, 'x') + R"("})";
  auto result = client_->Put("/idx/_doc/1", huge, kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 413);
  EXPECT_EQ(result->get_header_value("X-Elastic-Product"), "Elasticsearch");
  Json body = Body(result);
  EXPECT_EQ(body["status"], 413);
  EXPECT_EQ(body["error"]["type"], "content_too_long_exception");
  EXPECT_TRUE(Sent().empty());
}

// ---------------------------------------------------------------------------------------
// Cluster-state reads (issue 12, section 3): the coordinator's state unless
// local=true; 503 while the node has none.

TEST_F(RestTest, HealthAndCatReadTheCoordinatorsStateUnlessLocal) {
  for (const char* path : {"/_cluster/health", "/_cluster/health/movies",
                           "/_cat/shards", "/_cat/indices"}) {
    for (bool local : {false, true}) {
      const std::string url = std::string(path) + (local ? "?local=true" : "");
      const size_t before = Sent().size();
      auto result = client_->Get(url);
      ASSERT_TRUE(result) << url;
      EXPECT_EQ(result->status, 200) << url;
      std::vector<pb::Envelope> sent = Sent();
      ASSERT_GT(sent.size(), before) << url;
      ASSERT_TRUE(sent[before].has_get_cluster_state()) << url;
      EXPECT_EQ(sent[before].get_cluster_state().from_coordinator(), !local)
          << url;
    }
  }
}

TEST_F(RestTest, NodeWithoutClusterStateAnswers503NeverGreenWithNoNodes) {
  dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
    pb::Envelope reply = DefaultAnswer(request);
    if (request.has_get_cluster_state()) {
      reply.mutable_get_cluster_state_response()->clear_state();
      *reply.mutable_get_cluster_state_response()->mutable_error() =
          rest::MakeError(503, "cluster_block_exception",
                          "blocked by: [SERVICE_UNAVAILABLE/1/state not "
                          "recovered / initialized];");
    }
    return reply;
  };
  for (const char* path : {"/_cluster/health?timeout=200ms",
                           "/_cluster/health?local=true&timeout=0s",
                           "/_cat/shards", "/_cat/indices?local=true"}) {
    auto result = client_->Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 503) << path;
    Json body = Body(result);
    EXPECT_EQ(body["status"], 503) << path;
    EXPECT_EQ(body["error"]["type"], "cluster_block_exception") << path;
    EXPECT_EQ(body["error"]["reason"],
              "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / "
              "initialized];")
        << path;
  }
}

// A request waiting for the node holds no thread: with far more waiting
// requests than IO threads, another request is still answered at once.
TEST_F(RestTest, WaitingRequestsHoldNoThread) {
  absl::Mutex mu;
  std::vector<DispatchReply> parked;
  dispatcher_.answer = nullptr;
  class ParkingDispatcher : public Dispatcher {
   public:
    ParkingDispatcher(absl::Mutex* mu, std::vector<DispatchReply>* parked)
        : mu_(mu), parked_(parked) {}
    void Dispatch(pb::Envelope request, DispatchReply reply) override {
      if (request.has_get()) {
        absl::MutexLock lock(mu_);
        parked_->push_back(std::move(reply));
        return;
      }
      pb::Envelope state;
      *state.mutable_get_cluster_state_response()->mutable_state() =
          GreenState();
      reply(std::move(state));
    }
    void DispatchTo(const std::string&, pb::Envelope request,
                    DispatchReply reply) override {
      Dispatch(std::move(request), std::move(reply));
    }
    std::string NodeId() const override { return "node-1"; }
    std::string ClusterName() const override { return "seqsim"; }

   private:
    absl::Mutex* mu_;
    std::vector<DispatchReply>* parked_;
  } parking(&mu, &parked);
  RestOptions options;
  options.port = 0;
  RestServer server(&parking, options);
  ASSERT_TRUE(server.Start().ok());
  constexpr int kWaiting = 32;
  std::vector<std::thread> clients;
  std::atomic<int> found{0};
  for (int i = 0; i < kWaiting; ++i) {
    clients.emplace_back([&server, &found] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(30, 0);
      auto result = client.Get("/movies/_doc/1");
      if (result && result->status == 200) ++found;
    });
  }
  auto parked_count = [&] {
    absl::MutexLock lock(&mu);
    return static_cast<int>(parked.size());
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (parked_count() < kWaiting && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(parked_count(), kWaiting);
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(5, 0);
  auto root = client.Get("/");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  {
    absl::MutexLock lock(&mu);
    for (DispatchReply& reply : parked) {
      pb::Envelope envelope;
      envelope.mutable_get_response()->set_found(true);
      envelope.mutable_get_response()->set_source("{}");
      reply(std::move(envelope));
    }
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(found.load(), kWaiting);
  server.Stop();
}

// A node that stops while requests wait for it (SIGTERM under load): the
// dispatcher may answer, and drop, those requests' replies after the REST
// server and its IO threads are gone. Doing so touches nothing of the server
// (under ASan this was a heap-use-after-free of the request's strand and
// timer), and the server stops without waiting for them.
TEST(RestServerStop, RepliesKeptPastStopAreDroppedWithoutTouchingTheServer) {
  class ParkingDispatcher : public Dispatcher {
   public:
    void Dispatch(pb::Envelope request, DispatchReply reply) override {
      if (request.has_get() || request.has_node_status()) {
        absl::MutexLock lock(&mu_);
        parked_.push_back(std::move(reply));
        return;
      }
      pb::Envelope state;
      *state.mutable_get_cluster_state_response()->mutable_state() =
          GreenState();
      reply(std::move(state));
    }
    void DispatchTo(const std::string&, pb::Envelope request,
                    DispatchReply reply) override {
      Dispatch(std::move(request), std::move(reply));
    }
    std::string NodeId() const override { return "node-1"; }
    std::string ClusterName() const override { return "seqsim"; }
    int parked() {
      absl::MutexLock lock(&mu_);
      return static_cast<int>(parked_.size());
    }
    std::vector<DispatchReply> TakeParked() {
      absl::MutexLock lock(&mu_);
      return std::move(parked_);
    }

   private:
    absl::Mutex mu_;
    std::vector<DispatchReply> parked_ ABSL_GUARDED_BY(mu_);
  } parking;
  RestOptions options;
  options.port = 0;
  auto server = std::make_unique<RestServer>(&parking, options);
  ASSERT_TRUE(server->Start().ok());
  const int port = server->port();
  // One request waits in a dispatch (GET), one in the node_status fan-out of
  // _cat/shards (two nodes in GreenState).
  std::vector<std::thread> clients;
  std::atomic<int> answered{0};
  for (const char* path : {"/movies/_doc/1", "/_cat/shards"}) {
    clients.emplace_back([port, path, &answered] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(30, 0);
      if (client.Get(path)) ++answered;
    });
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (parking.parked() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(parking.parked(), 3);
  server->Stop();
  server.reset();
  // Stop closed the waiting connections without an answer.
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(answered.load(), 0);
  std::vector<DispatchReply> parked = parking.TakeParked();
  for (DispatchReply& reply : parked) {
    pb::Envelope envelope;
    envelope.mutable_get_response()->set_found(true);
    reply(std::move(envelope));
  }
  parked.clear();  // destroys the replies after the server
}

}  // namespace
}  // namespace seqsim
