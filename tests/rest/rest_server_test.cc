// The REST adapter against a fake Dispatcher: HTTP in, envelopes out,
// Elasticsearch bodies back. Each test starts a RestServer on a free loopback
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

namespace seqsim {
namespace {

using Json = nlohmann::ordered_json;

// Answers every envelope with `answer` (scripted per test) and records what it
// received.
class FakeDispatcher : public Dispatcher {
 public:
  std::function<pb::Envelope(const std::string& node, const pb::Envelope&)>
      answer;

  void Dispatch(pb::Envelope request, DispatchReply reply) override {
    DispatchTo("", std::move(request), std::move(reply));
  }
  void DispatchTo(const std::string& node_id, pb::Envelope request,
                  DispatchReply reply) override {
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(request);
    }
    pb::Envelope response = answer ? answer(node_id, request) : pb::Envelope();
    reply(std::move(response));
  }
  std::string NodeId() const override { return "node-1"; }
  std::string ClusterName() const override { return "seqsim"; }

  std::vector<pb::Envelope> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  absl::Mutex mu_;
  std::vector<pb::Envelope> received_ ABSL_GUARDED_BY(mu_);
};

pb::WriteResponse Written(const std::string& index, const std::string& id,
                          const std::string& result, int64_t version,
                          int64_t seq_no) {
  pb::WriteResponse response;
  response.set_index(index);
  response.set_id(id);
  response.set_version(version);
  response.set_result(result);
  response.mutable_shards()->set_total(2);
  response.mutable_shards()->set_successful(2);
  response.set_seq_no(seq_no);
  response.set_primary_term(1);
  return response;
}

// A two-node cluster state with one index "movies" (1 shard, 1 replica), both
// copies started.
pb::ClusterState GreenState() {
  pb::ClusterState state;
  state.set_version(7);
  state.set_cluster_name("seqsim");
  state.set_cluster_uuid("cluster-uuid-1");
  for (const char* id : {"node-1", "node-2"}) {
    pb::NodeInfo* node = state.add_nodes();
    node->set_id(id);
    node->set_rest_address("127.0.0.1:9200");
    node->set_alive(true);
  }
  pb::IndexMeta* index = state.add_indices();
  index->set_name("movies");
  index->set_uuid("uuid-movies");
  index->set_number_of_shards(1);
  index->set_number_of_replicas(1);
  index->set_creation_date_ms(1700000000000);
  pb::ShardRouting* shard = index->add_shards();
  shard->set_shard(0);
  shard->set_primary_term(1);
  pb::ShardCopy* primary = shard->add_copies();
  primary->set_node_id("node-1");
  primary->set_primary(true);
  primary->set_state(pb::ShardCopy::STARTED);
  pb::ShardCopy* replica = shard->add_copies();
  replica->set_node_id("node-2");
  replica->set_state(pb::ShardCopy::STARTED);
  return state;
}

class RestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RestOptions options;
    options.port = 0;
    options.max_body_bytes = 64 * 1024;
    server_ = std::make_unique<RestServer>(&dispatcher_, options);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
    dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
      return DefaultAnswer(request);
    };
  }
  void TearDown() override { server_->Stop(); }

  static pb::Envelope DefaultAnswer(const pb::Envelope& request) {
    pb::Envelope reply;
    if (request.has_write()) {
      *reply.mutable_write_response() = Written(
          request.write().index(), request.write().id(), "created", 1, 0);
    } else if (request.has_bulk()) {
      for (const pb::WriteRequest& item : request.bulk().items()) {
        *reply.mutable_bulk_response()->add_items() =
            Written(item.index(), item.id(), "created", 1, 0);
      }
    } else if (request.has_get_cluster_state()) {
      *reply.mutable_get_cluster_state_response()->mutable_state() =
          GreenState();
    } else if (request.has_refresh()) {
      // Each node holds one copy of movies.
      reply.mutable_refresh_response()->set_refreshed(1);
    } else if (request.has_node_status()) {
      pb::ShardStatus* shard =
          reply.mutable_node_status_response()->add_shards();
      shard->set_index("movies");
      shard->set_shard(0);
      shard->set_docs(3);
      shard->set_refreshed_docs(3);
      shard->set_max_seq_no(4);
      shard->set_local_checkpoint(4);
      shard->set_global_checkpoint(3);
    }
    return reply;
  }

  static Json Body(const httplib::Result& result) {
    return Json::parse(result->body, nullptr, false);
  }
  std::vector<pb::Envelope> Sent() { return dispatcher_.received(); }
  // What was sent apart from the cluster state reads (searches and counts
  // read it to resolve their index expressions).
  std::vector<pb::Envelope> SentBesidesState() {
    std::vector<pb::Envelope> out;
    for (pb::Envelope& envelope : dispatcher_.received()) {
      if (!envelope.has_get_cluster_state()) out.push_back(std::move(envelope));
    }
    return out;
  }

  FakeDispatcher dispatcher_;
  std::unique_ptr<RestServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

const char kJson[] = "application/json";

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
    } else if (request.has_delete_index()) {
      reply.mutable_delete_index_response()->set_acknowledged(true);
    }
    return reply;
  };
  auto sent_actions = [&] {
    std::vector<std::string> out;
    for (const pb::Envelope& envelope : SentBesidesState()) {
      for (const pb::AliasAction& action :
           envelope.delete_index().alias_actions()) {
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

// ---------------------------------------------------------------------------------------
// Request Content-Type: a body is read only when it comes with a JSON type, as
// Elasticsearch's RestController decides (406 otherwise).

// One HTTP/1.1 exchange over a plain socket, so the request carries exactly
// `headers` (httplib's client adds `Content-Type: text/plain` to any body sent
// without one) plus Host, Content-Length and Connection: close.
struct RawResponse {
  int status = 0;
  httplib::Headers headers;
  std::string body;
  std::string get_header_value(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

std::optional<RawResponse> SendRaw(int port, const std::string& method,
                                   const std::string& path,
                                   const std::string& body,
                                   const httplib::Headers& headers,
                                   bool content_length = true) {
  std::string request = method + " " + path + " HTTP/1.1\r\n";
  request += "Host: 127.0.0.1\r\nConnection: close\r\n";
  if (content_length &&
      (!body.empty() || method == "POST" || method == "PUT")) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  for (const auto& [name, value] : headers) {
    request += name + ": " + value + "\r\n";
  }
  request += "\r\n" + body;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string received;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) ==
          0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
      received.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const size_t end_of_headers = received.find("\r\n\r\n");
  if (end_of_headers == std::string::npos) return std::nullopt;
  RawResponse response;
  std::vector<std::string> lines =
      absl::StrSplit(received.substr(0, end_of_headers), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], ' ');
  if (status_line.size() < 2) return std::nullopt;
  response.status = std::stoi(status_line[1]);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers.emplace(
        lines[i].substr(0, colon),
        std::string(absl::StripLeadingAsciiWhitespace(
            absl::string_view(lines[i]).substr(colon + 1))));
  }
  response.body = received.substr(end_of_headers + 4);
  return response;
}

httplib::Headers ContentType(const std::string& value) {
  return {{"Content-Type", value}};
}

// A document store behind the fake dispatcher, so a refused write can be shown
// to leave nothing behind.
class ContentTypeTest : public RestTest {
 protected:
  void SetUp() override {
    RestTest::SetUp();
    dispatcher_.answer = [this](const std::string&,
                                const pb::Envelope& request) {
      pb::Envelope reply = DefaultAnswer(request);
      absl::MutexLock lock(&mu_);
      if (request.has_write() &&
          request.write().kind() == pb::WriteRequest_Kind_DELETE) {
        docs_.erase(request.write().id());
        *reply.mutable_write_response() = Written(
            request.write().index(), request.write().id(), "deleted", 2, 1);
      } else if (request.has_write()) {
        docs_[request.write().id()] = request.write().source();
      } else if (request.has_search()) {
        pb::SearchResponse* search = reply.mutable_search_response();
        search->set_total(static_cast<int64_t>(docs_.size()));
        search->mutable_shards()->set_total(1);
        search->mutable_shards()->set_successful(1);
        for (const auto& [id, source] : docs_) {
          pb::SearchHit* hit = search->add_hits();
          hit->set_index("movies");
          hit->set_id(id);
          hit->set_source(source);
        }
      } else if (request.has_bulk()) {
        for (const pb::WriteRequest& item : request.bulk().items())
          docs_[item.id()] = item.source();
      } else if (request.has_get()) {
        pb::GetResponse* get = reply.mutable_get_response();
        get->set_index(request.get().index());
        get->set_id(request.get().id());
        auto it = docs_.find(request.get().id());
        if (it != docs_.end()) {
          get->set_found(true);
          get->set_version(1);
          get->set_primary_term(1);
          get->set_source(it->second);
        }
      }
      return reply;
    };
  }

  // GET /movies/_doc/{id}: its HTTP status.
  int DocStatus(const std::string& id) {
    auto result = client_->Get("/movies/_doc/" + id);
    return result ? result->status : -1;
  }

  absl::Mutex mu_;
  std::map<std::string, std::string> docs_ ABSL_GUARDED_BY(mu_);
};

constexpr char kMissing[] =
    R"({"error":"Content-Type header is missing","status":406})";

std::string NotSupported(const std::string& value) {
  return R"({"error":"Content-Type header [)" + value +
         R"(] is not supported","status":406})";
}

TEST_F(ContentTypeTest, BodyWithoutContentTypeIs406AndCreatesNothing) {
  auto result =
      SendRaw(server_->port(), "PUT", "/movies/_doc/1", R"({"a":1})", {});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 406);
  EXPECT_EQ(result->body, kMissing);
  EXPECT_EQ(result->get_header_value("X-Elastic-Product"), "Elasticsearch");
  EXPECT_EQ(result->get_header_value("Content-Type"),
            "application/json; charset=UTF-8");
  EXPECT_TRUE(Sent().empty());  // never reached the node
  EXPECT_EQ(DocStatus("1"), 404);
  // The same write with a Content-Type is applied (the store works).
  ASSERT_TRUE(client_->Put("/movies/_doc/1", R"({"a":1})", kJson));
  EXPECT_EQ(DocStatus("1"), 200);
}

TEST_F(ContentTypeTest, FormAndTextBodiesAre406NamingTheHeaderAsSent) {
  for (const std::string type :
       {"application/x-www-form-urlencoded", "text/plain",
        "text/plain; charset=UTF-8", "multipart/form-data; boundary=x"}) {
    SCOPED_TRACE(type);
    for (const std::string method : {"PUT", "POST"}) {
      auto result = SendRaw(server_->port(), method, "/movies/_doc/2",
                            R"({"a":1})", ContentType(type));
      ASSERT_TRUE(result);
      EXPECT_EQ(result->status, 406);
      EXPECT_EQ(result->body, NotSupported(type));
      EXPECT_EQ(result->get_header_value("X-Elastic-Product"), "Elasticsearch");
    }
  }
  // What `curl -d` sends when no -H is given.
  auto form = client_->Post("/movies/_doc/2", "a=1",
                            "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->body, NotSupported("application/x-www-form-urlencoded"));
  EXPECT_TRUE(Sent().empty());
  EXPECT_EQ(DocStatus("2"), 404);
}

TEST_F(ContentTypeTest, SmileCborYamlAndMalformedTypesAre406) {
  for (const std::string type :
       {"application/smile", "application/cbor", "application/yaml",
        "application/vnd.elasticsearch+smile; compatible-with=8",
        "application/vnd.elasticsearch+yaml",
        "application/vnd.elasticsearch+json; compatible-with=x",
        "application/xml", "json", "application/", "*/*",
        "application/json, text/plain", "application/json; charset",
        "application/json; charset =UTF-8"}) {
    SCOPED_TRACE(type);
    auto result = SendRaw(server_->port(), "PUT", "/movies/_doc/3",
                          R"({"a":1})", ContentType(type));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 406);
    EXPECT_EQ(result->body, NotSupported(type));
  }
  // Two Content-Type headers: both named, comma-separated.
  auto twice = SendRaw(
      server_->port(), "PUT", "/movies/_doc/3", R"({"a":1})",
      {{"Content-Type", "application/json"}, {"Content-Type", "text/plain"}});
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->status, 406);
  EXPECT_EQ(twice->body, NotSupported("application/json,text/plain"));
  EXPECT_TRUE(Sent().empty());
  EXPECT_EQ(DocStatus("3"), 404);
}

TEST_F(ContentTypeTest, JsonTypesWithParametersAnyCaseAreAccepted) {
  int n = 0;
  for (const std::string type :
       {"application/json", "application/json; charset=UTF-8",
        "application/json;charset=utf-8", "APPLICATION/JSON",
        "Application/Json; Charset=UTF-8", " application/json ",
        "application/x-ndjson", "application/*",
        "application/vnd.elasticsearch+json; compatible-with=8",
        "application/vnd.elasticsearch+json;compatible-with=7",
        "APPLICATION/VND.ELASTICSEARCH+JSON; COMPATIBLE-WITH=8",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson; compatible-with=8"}) {
    SCOPED_TRACE(type);
    const std::string id = "ok" + std::to_string(n++);
    auto result = SendRaw(server_->port(), "PUT", "/movies/_doc/" + id,
                          R"({"a":1})", ContentType(type));
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 201) << result->body;
    EXPECT_EQ(DocStatus(id), 200);
  }
}

TEST_F(ContentTypeTest, BulkAcceptsNdjsonAndJsonAndRefusesTheRest) {
  const std::string body =
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"b1\"}}\n"
      "{\"f\":1}\n";
  auto ndjson = client_->Post("/_bulk", body, "application/x-ndjson");
  ASSERT_TRUE(ndjson);
  EXPECT_EQ(ndjson->status, 200);
  EXPECT_EQ(Body(ndjson)["errors"], false);
  EXPECT_EQ(DocStatus("b1"), 200);
  auto json = client_->Post("/movies/_bulk", body, kJson);
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  auto vendor = client_->Post(
      "/_bulk", body,
      "application/vnd.elasticsearch+x-ndjson; compatible-with=8");
  ASSERT_TRUE(vendor);
  EXPECT_EQ(vendor->status, 200);
  const std::string other =
      "{\"index\":{\"_index\":\"movies\",\"_id\":\"b2\"}}\n{\"f\":2}\n";
  auto missing = SendRaw(server_->port(), "POST", "/_bulk", other, {});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 406);
  EXPECT_EQ(missing->body, kMissing);
  auto text = client_->Post("/_bulk", other, "text/plain");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 406);
  EXPECT_EQ(text->body, NotSupported("text/plain"));
  EXPECT_EQ(DocStatus("b2"), 404);
}

TEST_F(ContentTypeTest, RequestsWithoutABodyIgnoreTheContentType) {
  ASSERT_TRUE(client_->Put("/movies/_doc/1", R"({"a":1})", kJson));
  const httplib::Headers weird = ContentType("text/plain");
  auto get = client_->Get("/movies/_doc/1", weird);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  auto head = client_->Head("/movies/_doc/1", weird);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto search = client_->Get("/movies/_search", ContentType("bogus"));
  ASSERT_TRUE(search);
  EXPECT_EQ(search->status, 200);
  auto refresh = client_->Post("/movies/_refresh", "", "text/plain");
  ASSERT_TRUE(refresh);
  EXPECT_EQ(refresh->status, 200);
  auto empty_refresh = SendRaw(server_->port(), "POST", "/_refresh", "", {});
  ASSERT_TRUE(empty_refresh);
  EXPECT_EQ(empty_refresh->status, 200);
  auto del = client_->Delete("/movies/_doc/1", weird);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto del_index = SendRaw(server_->port(), "DELETE", "/movies", "",
                           ContentType("application/x-www-form-urlencoded"));
  ASSERT_TRUE(del_index);
  EXPECT_NE(del_index->status, 406);
}

// A body on a GET (read as such, see RestServer::Impl::Start) is checked too.
TEST_F(ContentTypeTest, GetWithABodyNeedsAContentType) {
  auto result = SendRaw(server_->port(), "GET", "/movies/_search",
                        R"({"query":{"match_all":{}}})", {});
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 406);
  EXPECT_EQ(result->body, kMissing);
  EXPECT_TRUE(Sent().empty());
  auto json = SendRaw(server_->port(), "GET", "/movies/_search",
                      R"({"query":{"match_all":{}}})", ContentType(kJson));
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
}

// Elasticsearch's order: no route (400) and wrong method (405) come first; the
// Content-Type comes before the parameters (a 406, not an unknown parameter).
TEST_F(ContentTypeTest, CheckedAfterRoutingAndBeforeParameters) {
  auto unknown = client_->Post("/movies/_doc/1/extra", "{}", "text/plain");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  auto patch = client_->Patch("/movies/_doc/1", "{}", "text/plain");
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->status, 405);
  auto param = client_->Put("/movies/_doc/1?foo=bar", "{}", "text/plain");
  ASSERT_TRUE(param);
  EXPECT_EQ(param->status, 406);
  EXPECT_EQ(param->body, NotSupported("text/plain"));
  auto pretty =
      SendRaw(server_->port(), "PUT", "/movies/_doc/1?pretty", "{}", {});
  ASSERT_TRUE(pretty);
  EXPECT_EQ(pretty->status, 406);
  EXPECT_EQ(pretty->body,
            "{\n  \"error\" : \"Content-Type header is missing\",\n"
            "  \"status\" : 406\n}\n");
  EXPECT_TRUE(Sent().empty());
}

// `curl -XPOST host/idx/_refresh` sends neither a body nor Content-Length: the
// request has no body (RFC 9112) and is answered at once, as Elasticsearch
// does, instead of waiting for a body until the connection's read timeout.
TEST_F(ContentTypeTest, PostWithoutContentLengthHasNoBody) {
  auto result = SendRaw(server_->port(), "POST", "/movies/_refresh", "", {},
                        /*content_length=*/false);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_NE(result->body.find("\"_shards\""), std::string::npos)
      << result->body;
}

TEST(ContentTypeRules, SupportedBodyTypes) {
  for (const char* type :
       {"application/json", "application/x-ndjson", "application/*",
        "application/json; charset=UTF-8", "application/json;charset=latin1",
        "application/json ; charset=UTF-8 ; q=1", "application/json;",
        "APPLICATION/X-NDJSON",
        "application/vnd.elasticsearch+json; compatible-with=8",
        "application/vnd.elasticsearch+x-ndjson;compatible-with=7",
        "application/vnd.elasticsearch+json"}) {
    EXPECT_TRUE(rest::IsSupportedBodyContentType(type)) << type;
  }
  for (const char* type :
       {"",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "application/smile",
        "application/cbor",
        "application/yaml",
        "application/vnd.elasticsearch+cbor",
        "application/vnd.elasticsearch+json; compatible-with=",
        "application/vnd.elasticsearch+json; compatible-with=8x",
        "application/jsonx",
        "application/json/x",
        "application",
        "/json",
        "*/*",
        "application/json,application/x-ndjson",
        "application/json; =UTF-8",
        "application/json; charset= UTF-8",
        "application/json; a=b=c",
        "appli cation/json"}) {
    EXPECT_FALSE(rest::IsSupportedBodyContentType(type)) << type;
  }
  EXPECT_EQ(rest::RefusedContentTypeMessage({}),
            "Content-Type header is missing");
  EXPECT_EQ(rest::RefusedContentTypeMessage({"application/json"}),
            std::nullopt);
  EXPECT_EQ(rest::RefusedContentTypeMessage({"Text/Plain"}),
            "Content-Type header [Text/Plain] is not supported");
  EXPECT_EQ(
      rest::RefusedContentTypeMessage({"application/json", "application/json"}),
      "Content-Type header [application/json,application/json] is not "
      "supported");
}

// ---------------------------------------------------------------------------------------
// Input limits (issue 12, section 6): JSON nested deeper than Elasticsearch's
// 1000 levels is refused with a 400 before any parser recurses into it.

std::string Nested(int depth, const std::string& leaf = "1") {
  return std::string(depth, '[') + leaf + std::string(depth, ']');
}

void ExpectTooDeep(const httplib::Result& result) {
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400) << result->body;
  Json body = Json::parse(result->body, nullptr, false);
  EXPECT_EQ(body["error"]["type"], "x_content_parse_exception") << result->body;
  EXPECT_NE(body["error"]["reason"].get<std::string>().find(
                "Document nesting depth (1001) exceeds the maximum allowed "
                "(1000, from `StreamReadConstraints.getMaxNestingDepth()`)"),
            std::string::npos)
      << result->body;
}

TEST_F(RestTest, JsonNestedDeeperThan1000IsRefusedForEveryBodyKind) {
  const std::string deep = Nested(20000);  // under the 64 KiB body limit
  ExpectTooDeep(client_->Put("/idx/_doc/1", R"({"a":)" + deep + "}", kJson));
  ExpectTooDeep(
      client_->Post("/idx/_update/1", R"({"doc":{"a":)" + deep + "}}", kJson));
  ExpectTooDeep(client_->Post(
      "/idx/_update/1", R"({"doc":{},"upsert":{"a":)" + deep + "}}", kJson));
  ExpectTooDeep(client_->Put(
      "/idx", R"({"settings":{"number_of_shards":)" + deep + "}}", kJson));
  ExpectTooDeep(client_->Post("/_search", R"({"query":)" + deep + "}", kJson));
  ExpectTooDeep(client_->Post(
      "/_bulk",
      "{\"update\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":" +
          std::string(2000, '[') + "\n",
      "application/x-ndjson"));
  ExpectTooDeep(client_->Post("/_bulk", std::string(5000, '{') + "\n",
                              "application/x-ndjson"));
  EXPECT_TRUE(Sent().empty());
}

TEST_F(RestTest, BulkIndexItemNestedTooDeepFailsAloneWithTheDepthError) {
  auto result = client_->Post(
      "/_bulk",
      "{\"index\":{\"_index\":\"i\",\"_id\":\"1\"}}\n{\"a\":" + Nested(1500) +
          "}\n{\"index\":{\"_index\":\"i\",\"_id\":\"2\"}}\n{}\n",
      "application/x-ndjson");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  Json body = Body(result);
  EXPECT_EQ(body["errors"], true);
  EXPECT_EQ(body["items"][0]["index"]["status"], 400);
  EXPECT_EQ(body["items"][0]["index"]["error"]["type"],
            "x_content_parse_exception");
  EXPECT_EQ(body["items"][1]["index"]["status"], 201);
}

TEST_F(RestTest, JsonNestedExactly1000DeepIsAccepted) {
  auto result =
      client_->Put("/idx/_doc/1",
                   R"({"a":)" + Nested(999) + R"(,"s":"[[[[{{{{\"]]"})", kJson);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 201) << result->body;
}

TEST_F(RestTest, HugeFromOrSizeGetsTheResultWindowErrorWithoutOverflow) {
  auto from = client_->Post(
      "/_search", R"({"from": 9223372036854775807, "size": 10})", kJson);
  ASSERT_TRUE(from);
  EXPECT_EQ(from->status, 400);
  EXPECT_EQ(Body(from)["error"]["reason"],
            "Result window is too large, from + size must be less than or "
            "equal to: [10000] but was [9223372036854775817]. See the scroll "
            "api for a more "
            "efficient way to request large data sets. This limit can be set "
            "by changing the [index.max_result_window] index level setting.");
  auto both = client_->Post(
      "/_search",
      R"({"from": 9223372036854775807, "size": 9223372036854775807})", kJson);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->status, 400);
  EXPECT_EQ(Body(both)["error"]["reason"],
            "Result window is too large, from + size must be less than or "
            "equal to: [10000] but was [18446744073709551614]. See the scroll "
            "api for a more "
            "efficient way to request large data sets. This limit can be set "
            "by changing the [index.max_result_window] index level setting.");
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
