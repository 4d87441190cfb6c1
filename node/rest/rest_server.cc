// RestServer (rest_server.h): its life cycle (Start, Stop), request intake
// (Api::Serve: route, answer exceptions as 500) and rendering of a Reply as
// Elasticsearch renders its answers (filter_path, pretty, stored sources
// byte for byte, content type, X-Elastic-Product), and the HTTP protocol
// errors (413, malformed requests). The handlers live in one file per API
// family (see api.h).
#include "node/rest/rest_server.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "node/rest/api.h"
#include "node/rest/http_server.h"
#include "spdlog/spdlog.h"

namespace seqsim {

// The REST API behind the public class: every member is rest::Api's.
class RestServer::Impl : public rest::Api {
 public:
  using rest::Api::Api;
};

namespace rest {
namespace {

std::string ContentTypeFor(const http::Request& req) {
  for (const char* header : {"Accept", "Content-Type"}) {
    std::string value = absl::AsciiStrToLower(req.Header(header));
    if (!absl::StrContains(value, "application/vnd.elasticsearch+")) continue;
    size_t at = value.find("compatible-with=");
    std::string version = "8";
    if (at != std::string::npos) {
      size_t start = at + strlen("compatible-with=");
      size_t end = start;
      while (end < value.size() && absl::ascii_isdigit(value[end])) ++end;
      if (end > start) version = value.substr(start, end - start);
    }
    return absl::StrCat("application/vnd.elasticsearch+json;compatible-with=",
                        version);
  }
  return "application/json; charset=UTF-8";
}

}  // namespace

http::Response Api::Render(const http::Request& req, const Reply& reply) const {
  http::Response res;
  res.status = reply.status;
  res.headers.emplace_back("X-Elastic-Product", "Elasticsearch");
  for (const auto& [name, value] : reply.headers)
    res.headers.emplace_back(name, value);
  if (reply.text.has_value()) {
    res.content_type = "text/plain; charset=UTF-8";
    res.body = *reply.text;
    return res;
  }
  Json body = reply.body;
  // As in Elasticsearch, filter_path shapes answers, never error bodies.
  if (req.HasParam("filter_path") && !reply.error) {
    const std::string filter_path = req.Param("filter_path");
    if (rest::FilterPathReachesInto(filter_path, "_source")) {
      ParseRawSources(body);
    }
    body = rest::FilterPath(body, filter_path);
  }
  std::vector<std::string> raw;
  ExtractRawSources(body, raw);
  bool pretty = req.HasParam("pretty") && req.Param("pretty") != "false";
  res.body = SpliceRawSources(
      pretty ? rest::EsPretty(body)
             : body.dump(-1, ' ', false, Json::error_handler_t::replace),
      raw, pretty);
  res.content_type = ContentTypeFor(req);
  return res;
}

http::Response Api::ProtocolError(int status, const std::string& method,
                                  const std::string& path) const {
  pb::Error error;
  if (status == 413) {
    error = rest::MakeError(
        413, "content_too_long_exception",
        absl::StrCat("request body is too large, the maximum is [",
                     options_.max_body_bytes, "] bytes"));
  } else {
    error = rest::MakeError(
        status, "illegal_argument_exception",
        absl::StrCat("malformed HTTP request [", method, " ", path, "]"));
  }
  http::Response res;
  res.status = status;
  res.headers.emplace_back("X-Elastic-Product", "Elasticsearch");
  res.content_type = "application/json; charset=UTF-8";
  res.body = rest::ErrorBody(error).dump(-1, ' ', false,
                                         Json::error_handler_t::replace);
  return res;
}

asio::awaitable<http::Response> Api::Serve(http::Request& req) {
  Reply reply;
  try {
    reply = co_await RouteRequest(req);
  } catch (const std::exception& e) {
    spdlog::warn("rest: request failed with an exception: {}", e.what());
    reply = ErrorReply(rest::MakeError(500, "exception", e.what()));
  }
  co_return Render(req, reply);
}

absl::Status Api::Start() {
  http::Options options;
  options.host = options_.host;
  options.port = options_.port;
  options.max_body_bytes = options_.max_body_bytes;
  options.io_threads = std::max(1, options_.io_threads);
  server_ = std::make_unique<http::Server>(
      options, [this](http::Request& req) { return Serve(req); },
      [this](int status, const std::string& method, const std::string& path) {
        return ProtocolError(status, method, path);
      });
  if (absl::Status status = server_->Start(); !status.ok()) {
    server_.reset();
    return status;
  }
  port_ = server_->port();
  return absl::OkStatus();
}

void Api::Stop() {
  if (server_ == nullptr) return;
  {
    absl::MutexLock lock(&liveness_->mu);
    liveness_->alive = false;
  }
  server_->Stop();
  server_.reset();
}

}  // namespace rest

RestServer::RestServer(Dispatcher* dispatcher, RestOptions options)
    : impl_(std::make_unique<Impl>(dispatcher, std::move(options))) {}
RestServer::~RestServer() { impl_->Stop(); }
absl::Status RestServer::Start() { return impl_->Start(); }
void RestServer::Stop() { impl_->Stop(); }
int RestServer::port() const { return impl_->port(); }

}  // namespace seqsim
