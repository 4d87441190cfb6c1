// RestServer: the Elasticsearch REST API of one node (HTTP via Boost.Beast in
// node/rest/http_server.h, JSON via nlohmann::json). A thin adapter: parses
// HTTP, validates parameters the way Elasticsearch does, turns each request
// into pb::Envelope requests through a Dispatcher, and renders the replies as
// Elasticsearch's JSON bodies and status codes. No replication rule lives here.
//
// Thread-safety: Start() and Stop() from one thread; requests are served by a
// few IO threads as coroutines: a request waiting for the node holds no
// thread.
#ifndef SEQSIM_NODE_REST_REST_SERVER_H_
#define SEQSIM_NODE_REST_REST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "node/rest/dispatcher.h"

namespace seqsim {

struct RestOptions {
  std::string host = "127.0.0.1";
  int port = 9200;
  // Largest accepted request body; larger bodies get 413 in Elasticsearch's
  // error shape.
  size_t max_body_bytes = 100 * 1024 * 1024;
  // IO threads; a waiting request holds none.
  int io_threads = 2;
};

class RestServer {
 public:
  RestServer(Dispatcher* dispatcher, RestOptions options);
  ~RestServer();

  // Binds and starts serving in the background. kUnavailable "port N on HOST
  // is already in use" when a listener holds the port.
  absl::Status Start();
  void Stop();
  int port() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_REST_REST_SERVER_H_
