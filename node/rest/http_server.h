// HttpServer: an asynchronous HTTP/1.1 server on Boost.Beast/Asio, the
// transport under RestServer. A fixed pool of IO threads runs every
// connection as a coroutine on its own strand; a request that waits (for the
// node, a timer) holds a suspended coroutine, never a thread.
//
// Per connection: keep-alive, and pipelining (requests written back to back on
// one connection are read, executed and answered one after the other, in
// order). A request the server cannot read (bad request line or headers, a
// method outside GET/HEAD/POST/PUT/DELETE/PATCH/OPTIONS, a body over the limit)
// is answered through `protocol_error` and the connection is closed.
//
// Thread-safety: Start() and Stop() from one thread. `handler` runs on the IO
// threads, one request of a connection at a time.
#ifndef SEQSIM_NODE_REST_HTTP_SERVER_H_
#define SEQSIM_NODE_REST_HTTP_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "boost/asio/any_io_executor.hpp"
#include "boost/asio/awaitable.hpp"

namespace seqsim::http {

// One request as the REST layer reads it.
struct Request {
  std::string method;  // as sent, e.g. "GET"
  std::string path;    // the target before '?', percent-decoded
  // Query parameters, percent-decoded ('+' is a space), in their order.
  std::multimap<std::string, std::string> params;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;

  bool HasParam(const std::string& key) const;
  // The first value of `key`, "" when absent.
  std::string Param(const std::string& key) const;
  bool HasHeader(const std::string& name) const;  // case-insensitive
  // The first value of header `name`, "" when absent.
  std::string Header(const std::string& name) const;
  std::vector<std::string> HeaderValues(const std::string& name) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;  // not sent for HEAD (Content-Length still says its size)
};

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  size_t max_body_bytes = 100 * 1024 * 1024;
  int io_threads = 2;
};

// Answers one request; runs on the connection's strand.
using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;
// The answer to a request that could not be read: `status` is 400, 413 or
// 414; `method` and `path` are what could be read of the request line.
using ProtocolErrorFn = std::function<Response(
    int status, const std::string& method, const std::string& path)>;

class Server {
 public:
  Server(Options options, Handler handler, ProtocolErrorFn protocol_error);
  ~Server();

  // Binds (SO_REUSEADDR, backlog SOMAXCONN) and starts the IO threads.
  // kUnavailable "port N on HOST is already in use" when a listener holds the
  // port.
  absl::Status Start();
  // Closes the listener and every connection, joins the IO threads.
  void Stop();
  int port() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Percent-decodes `text` ("%41" -> "A"; "%u00E9" -> UTF-8; a '%' not
// followed by hex digits is kept); '+' becomes a space when `plus_is_space`.
std::string DecodeUrl(const std::string& text, bool plus_is_space);

}  // namespace seqsim::http

#endif  // SEQSIM_NODE_REST_HTTP_SERVER_H_
