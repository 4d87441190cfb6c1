// HttpConnection: one keep-alive HTTP/1.1 client connection with bounded
// waits, for seqsim-loadgen. Blocking POSIX socket I/O with poll() deadlines
// (a request never waits longer than its timeout) and Boost.Beast's response
// parser (Content-Length and chunked bodies).
//
// Thread-safety: one thread at a time per connection. A failed or closed
// connection reconnects on the next Do().
#ifndef SEQSIM_BENCH_LOADGEN_HTTP_CLIENT_H_
#define SEQSIM_BENCH_LOADGEN_HTTP_CLIENT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace seqsim::loadgen {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// "http://HOST:PORT" or "HOST:PORT" -> host and port.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};
absl::StatusOr<HostPort> ParseHostPort(absl::string_view url);

class HttpConnection {
 public:
  explicit HttpConnection(HostPort server) : server_(std::move(server)) {}
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its response within `timeout`.
  // kUnavailable when the server cannot be reached or the connection broke,
  // kDeadlineExceeded when no complete response came in time (the connection
  // is then closed).
  absl::StatusOr<HttpResponse> Do(
      absl::string_view method, absl::string_view target,
      absl::string_view body, absl::Duration timeout,
      absl::string_view content_type = "application/json");

  const HostPort& server() const { return server_; }
  int64_t connects() const { return connects_; }

 private:
  absl::Status Connect(absl::Time deadline);
  void Close();

  HostPort server_;
  int fd_ = -1;
  int64_t connects_ = 0;
  std::string out_;
  std::string in_;  // bytes read past the last response (pipelining-safe)
};

}  // namespace seqsim::loadgen

#endif  // SEQSIM_BENCH_LOADGEN_HTTP_CLIENT_H_
