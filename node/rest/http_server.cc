#include "node/rest/http_server.h"

#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/asio/co_spawn.hpp"
#include "boost/asio/detached.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/strand.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/tcp_stream.hpp"
#include "boost/beast/http.hpp"
#include "spdlog/spdlog.h"

namespace seqsim::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// A connection waiting for its next request is closed after this long.
constexpr std::chrono::seconds kIdleTimeout{60};
// Reading the rest of a request once it started, and writing an answer.
constexpr std::chrono::seconds kTransferTimeout{60};
// Request line and headers together.
constexpr uint32_t kHeaderLimit = 64 * 1024;
// A longer request target is answered 414.
constexpr size_t kMaxTargetLength = 8192;

bool KnownMethod(const std::string& method) {
  static const char* const kMethods[] = {"GET",    "HEAD",  "POST",   "PUT",
                                         "DELETE", "PATCH", "OPTIONS"};
  return std::find_if(std::begin(kMethods), std::end(kMethods),
                      [&](const char* m) { return method == m; }) !=
         std::end(kMethods);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t code, std::string& out) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// The query string's parameters: '&'-separated, key=value, blanks trimmed,
// empty keys dropped.
void ParseQuery(const std::string& query,
                std::multimap<std::string, std::string>& params) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    pair = absl::StripAsciiWhitespace(pair);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    std::string key(pair.substr(0, eq));
    std::string value =
        eq == absl::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (key.empty()) continue;
    params.emplace(DecodeUrl(key, true), DecodeUrl(value, true));
  }
}

}  // namespace

std::string DecodeUrl(const std::string& text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 1 < text.size()) {
      if (text[i + 1] == 'u' && i + 5 < text.size()) {
        uint32_t code = 0;
        bool hex = true;
        for (size_t k = i + 2; k < i + 6 && hex; ++k) {
          const int v = HexValue(text[k]);
          hex = v >= 0;
          code = code * 16 + static_cast<uint32_t>(std::max(v, 0));
        }
        if (hex) {
          AppendUtf8(code, out);
          i += 5;
          continue;
        }
      } else if (i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
                 HexValue(text[i + 2]) >= 0) {
        out += static_cast<char>(HexValue(text[i + 1]) * 16 +
                                 HexValue(text[i + 2]));
        i += 2;
        continue;
      }
      out += c;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

bool Request::HasParam(const std::string& key) const {
  return params.count(key) > 0;
}

std::string Request::Param(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? "" : it->second;
}

bool Request::HasHeader(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return true;
  }
  return false;
}

std::string Request::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

std::vector<std::string> Request::HeaderValues(const std::string& name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) values.push_back(value);
  }
  return values;
}

class Server::Impl {
 public:
  Impl(Options options, Handler handler, ProtocolErrorFn protocol_error)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        protocol_error_(std::move(protocol_error)) {}

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  asio::awaitable<void> Accept();
  asio::awaitable<void> Session(tcp::socket socket);
  // Writes `response` (no body for HEAD); false when the write failed.
  asio::awaitable<bool> Send(beast::tcp_stream& stream, Response response,
                             bool head, bool keep_alive, unsigned version);

  // Constant after construction.
  const Options options_;
  const Handler handler_;
  const ProtocolErrorFn protocol_error_;

  // Set by Start(), cleared by Stop() (one thread).
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::vector<std::thread> threads_;
  int port_ = 0;
};

absl::Status Server::Impl::Start() {
  io_ = std::make_unique<asio::io_context>(options_.io_threads);
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("REST: host ", options_.host, " is not an IP address"));
  }
  acceptor_ = std::make_unique<tcp::acceptor>(*io_);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(options_.port));
  acceptor_->open(endpoint.protocol(), ec);
  // TIME-WAIT connections of a killed server never block a restart; a live
  // listener still does (Linux refuses the bind with EADDRINUSE).
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(SOMAXCONN, ec);
  if (ec) {
    acceptor_.reset();
    io_.reset();
    if (ec == asio::error::address_in_use) {
      return absl::UnavailableError(absl::StrCat(
          "port ", options_.port, " on ", options_.host, " is already in use"));
    }
    return absl::UnavailableError(
        absl::StrCat("REST: cannot listen on ", options_.host, ":",
                     options_.port, ": ", ec.message()));
  }
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(acceptor_->get_executor(), Accept(), asio::detached);
  const int threads = std::max(1, options_.io_threads);
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([io = io_.get()] {
      pthread_setname_np(pthread_self(), "rest-io");
      io->run();
    });
  }
  return absl::OkStatus();
}

void Server::Impl::Stop() {
  if (io_ == nullptr) return;
  asio::post(*io_, [this] {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
  });
  io_->stop();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  acceptor_.reset();
  // Destroys the suspended sessions (and their sockets).
  io_.reset();
}

asio::awaitable<void> Server::Impl::Accept() {
  while (acceptor_->is_open()) {
    boost::system::error_code ec;
    tcp::socket socket(asio::make_strand(*io_));
    co_await acceptor_->async_accept(
        socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and the like: give the system a moment instead of spinning.
      spdlog::warn("rest: accept failed: {}", ec.message());
      asio::steady_timer pause(acceptor_->get_executor(),
                               std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<bool> Server::Impl::Send(beast::tcp_stream& stream,
                                         Response response, bool head,
                                         bool keep_alive, unsigned version) {
  bhttp::response<bhttp::string_body> out(
      static_cast<bhttp::status>(response.status), version);
  for (auto& [name, value] : response.headers) out.insert(name, value);
  if (!response.content_type.empty()) {
    out.set(bhttp::field::content_type, response.content_type);
  }
  out.keep_alive(keep_alive);
  if (head) {
    out.content_length(response.body.size());
  } else {
    out.body() = std::move(response.body);
    out.prepare_payload();
  }
  stream.expires_after(kTransferTimeout);
  boost::system::error_code ec;
  bhttp::serializer<false, bhttp::string_body> serializer(out);
  if (head) serializer.split(true);
  if (head) {
    co_await bhttp::async_write_header(
        stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await bhttp::async_write(stream, serializer,
                                asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return !ec;
}

asio::awaitable<void> Server::Impl::Session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  auto close = [&stream] {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  };
  while (true) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    boost::system::error_code ec;
    stream.expires_after(kIdleTimeout);
    co_await bhttp::async_read_header(
        stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      co_return;  // the client left (or stayed silent) between requests
    }
    const auto& header = parser.get();
    const std::string method(header.method_string());
    const std::string target(header.target());
    const std::string raw_path = target.substr(0, target.find('?'));
    const std::string path = DecodeUrl(raw_path, false);
    if (ec) {
      spdlog::debug("rest: cannot read a request header: {}", ec.message());
      co_await Send(stream, protocol_error_(400, method, path), false, false,
                    11);
      close();
      co_return;
    }
    const unsigned version = header.version();
    if (!KnownMethod(method)) {
      co_await Send(stream, protocol_error_(400, method, path), false, false,
                    version);
      close();
      co_return;
    }
    if (target.size() > kMaxTargetLength) {
      co_await Send(stream, protocol_error_(414, method, path), false, false,
                    version);
      close();
      co_return;
    }
    const bool head = method == "HEAD";
    if (parser.content_length().has_value() &&
        *parser.content_length() > options_.max_body_bytes) {
      // Read and drop the body, so that the client, still sending, reads the
      // answer instead of a connection reset.
      uint64_t remaining = *parser.content_length();
      const uint64_t buffered = std::min<uint64_t>(remaining, buffer.size());
      buffer.consume(buffered);
      remaining -= buffered;
      std::vector<char> scratch(64 * 1024);
      while (remaining > 0 && !ec) {
        stream.expires_after(kTransferTimeout);
        const size_t n = co_await stream.async_read_some(
            asio::buffer(scratch.data(),
                         std::min<uint64_t>(remaining, scratch.size())),
            asio::redirect_error(asio::use_awaitable, ec));
        remaining -= n;
      }
      if (!ec) {
        co_await Send(stream, protocol_error_(413, method, path), head, false,
                      version);
      }
      close();
      co_return;
    }
    parser.body_limit(options_.max_body_bytes);
    if (absl::EqualsIgnoreCase(std::string(header[bhttp::field::expect]),
                               "100-continue")) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      stream.expires_after(kTransferTimeout);
      co_await asio::async_write(stream,
                                 asio::buffer(kContinue, sizeof(kContinue) - 1),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    if (!parser.is_done()) {
      stream.expires_after(kTransferTimeout);
      co_await bhttp::async_read(stream, buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      spdlog::debug("rest: cannot read a request body: {}", ec.message());
      const int status = ec == bhttp::error::body_limit ? 413 : 400;
      if (ec != asio::error::eof && ec != beast::error::timeout &&
          ec != asio::error::connection_reset) {
        co_await Send(stream, protocol_error_(status, method, path), head,
                      false, version);
      }
      close();
      co_return;
    }
    const bool keep_alive = parser.get().keep_alive();
    Request request;
    request.method = method;
    request.path = path;
    if (const size_t q = target.find('?'); q != std::string::npos) {
      ParseQuery(target.substr(q + 1), request.params);
    }
    for (const auto& field : parser.get()) {
      request.headers.emplace_back(std::string(field.name_string()),
                                   std::string(field.value()));
    }
    request.body = std::move(parser.get().body());
    stream.expires_never();
    Response response = co_await handler_(request);
    if (!co_await Send(stream, std::move(response), head, keep_alive,
                       version)) {
      co_return;
    }
    if (!keep_alive) {
      close();
      co_return;
    }
  }
}

Server::Server(Options options, Handler handler, ProtocolErrorFn protocol_error)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler),
                                   std::move(protocol_error))) {}
Server::~Server() { impl_->Stop(); }
absl::Status Server::Start() { return impl_->Start(); }
void Server::Stop() { impl_->Stop(); }
int Server::port() const { return impl_->port(); }

}  // namespace seqsim::http
