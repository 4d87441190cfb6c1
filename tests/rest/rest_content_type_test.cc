// The REST adapter against a fake Dispatcher (rest_test_fixture.h): request
// Content-Type checks, JSON nesting and result-window limits. Each test starts
// a RestServer on a free loopback port.
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

}  // namespace
}  // namespace seqsim
