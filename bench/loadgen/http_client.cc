#include "bench/loadgen/http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/string_body.hpp"

namespace seqsim::loadgen {
namespace {

namespace http = boost::beast::http;

int RemainingMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool WaitReady(int fd, short events, absl::Time deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = RemainingMs(deadline);
    if (ms == 0) return false;
    int r = poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(absl::string_view url) {
  if (url.substr(0, 7) == "http://") url.remove_prefix(7);
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  size_t colon = url.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(url.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("not HOST:PORT or http://HOST:PORT: '", url, "'"));
  }
  return HostPort{std::string(url.substr(0, colon)),
                  static_cast<uint16_t>(port)};
}

HttpConnection::~HttpConnection() { Close(); }

void HttpConnection::Close() {
  if (fd_ >= 0) {
    // A reset instead of FIN: the client leaves no TIME-WAIT behind.
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd_);
  }
  fd_ = -1;
  in_.clear();
}

absl::Status HttpConnection::Connect(absl::Time deadline) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(server_.port);
  if (inet_pton(AF_INET, server_.host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", server_.host));
  }
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return absl::UnavailableError(strerror(errno));
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  ++connects_;
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      std::string why = strerror(errno);
      Close();
      return absl::UnavailableError(
          absl::StrCat("connect ", server_.host, ":", server_.port, ": ", why));
    }
    if (!WaitReady(fd_, POLLOUT, deadline)) {
      Close();
      return absl::DeadlineExceededError("connect timed out");
    }
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Close();
      return absl::UnavailableError(absl::StrCat(
          "connect ", server_.host, ":", server_.port, ": ", strerror(err)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<HttpResponse> HttpConnection::Do(
    absl::string_view method, absl::string_view target, absl::string_view body,
    absl::Duration timeout, absl::string_view content_type) {
  absl::Time deadline = absl::Now() + timeout;
  if (fd_ < 0) {
    absl::Status s = Connect(deadline);
    if (!s.ok()) return s;
  }
  out_.clear();
  absl::StrAppend(&out_, method, " ", target,
                  " HTTP/1.1\r\nHost: ", server_.host, ":", server_.port,
                  "\r\n");
  if (!body.empty() || method == "PUT" || method == "POST") {
    absl::StrAppend(&out_, "Content-Type: ", content_type,
                    "\r\nContent-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&out_, "\r\n");
  out_.append(body.data(), body.size());
  size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = send(fd_, out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (errno == EAGAIN && !WaitReady(fd_, POLLOUT, deadline)) {
        Close();
        return absl::DeadlineExceededError("send timed out");
      }
      continue;
    }
    std::string why = n < 0 ? strerror(errno) : "closed";
    Close();
    return absl::UnavailableError(absl::StrCat("send: ", why));
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(1ull << 30);
  parser.header_limit(1 << 20);
  bool eof = false;
  char buf[65536];
  for (;;) {
    while (!in_.empty() && !parser.is_done()) {
      boost::beast::error_code ec;
      size_t used = parser.put(boost::asio::buffer(in_.data(), in_.size()), ec);
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) break;
      }
      if (ec) {
        Close();
        return absl::UnavailableError(
            absl::StrCat("bad HTTP response: ", ec.message()));
      }
      in_.erase(0, used);
      if (used == 0) break;
    }
    if (parser.is_done()) break;
    if (eof) {
      boost::beast::error_code ec;
      parser.put_eof(ec);
      if (!ec && parser.is_done()) break;
      Close();
      return absl::UnavailableError("connection closed by the server");
    }
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      in_.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno == EAGAIN || errno == EINTR) {
      if (errno == EAGAIN && !WaitReady(fd_, POLLIN, deadline)) {
        Close();
        return absl::DeadlineExceededError(
            absl::StrCat("no response within ", absl::FormatDuration(timeout)));
      }
    } else {
      std::string why = strerror(errno);
      Close();
      return absl::UnavailableError(absl::StrCat("recv: ", why));
    }
  }
  HttpResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  bool keep = parser.get().keep_alive();
  out.body = std::move(parser.get().body());
  if (!keep || eof) Close();
  return out;
}

}  // namespace seqsim::loadgen
