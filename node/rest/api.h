// The REST API's handlers, one member per endpoint: rest::Api is what
// RestServer::Impl is (node/rest/rest_server.h). Its members are defined by
// concern, so that a reader finds each API family in its own file:
//   rest_server.cc    life cycle (Start, Stop), request intake and rendering
//   router.cc         the route table (method + path pattern -> handler) and
//                     each route's accepted parameters
//   internal_call.cc  the calls into the cluster through the Dispatcher
//                     (Call, CallFor, CallAll, GetState, AskEveryNode)
//   documents.cc      index, create, get, _source, delete, update (R1, R2)
//   bulk.cc           _bulk
//   search.cc         _search and _count (query DSL in query_dsl.h)
//   multi_get.cc      _mget
//   indices.cc        create / delete / get index, aliases, _refresh
//   cat.cc            _cat/shards, _cat/indices (R6's checkpoints shown)
//   cluster.cc        _cluster/health, GET /
// What the families share: es_json.h (replies, error bodies, document and
// search bodies), params.h (the request, URL parameters, shared write
// parameters), index_expression.h (index names, aliases, wildcards), and
// rest_util.h, query_dsl.h. A thin adapter: no replication rule lives in any
// of them.
//
// Thread-safety: Start() and Stop() from one thread; handlers run as
// coroutines on the HTTP server's IO threads, one request's on one strand; a
// request waiting for the node holds no thread.
#ifndef SEQSIM_NODE_REST_API_H_
#define SEQSIM_NODE_REST_API_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "boost/asio/awaitable.hpp"
#include "node/rest/dispatcher.h"
#include "node/rest/es_json.h"
#include "node/rest/http_server.h"
#include "node/rest/params.h"
#include "node/rest/rest_server.h"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

namespace asio = boost::asio;

template <typename T>
using Async = asio::awaitable<T>;

inline constexpr absl::Duration kDefaultDispatchTimeout = absl::Seconds(60);
inline constexpr absl::Duration kNodeStatusTimeout = absl::Seconds(5);

// `d` as a steady-clock duration for Asio timers, clamped to [0, 1 year].
std::chrono::steady_clock::duration ToChrono(absl::Duration d);

class Api {
 public:
  Api(Dispatcher* dispatcher, RestOptions options)
      : dispatcher_(dispatcher), options_(std::move(options)) {
    BuildRoutes();
  }

  absl::Status Start();
  void Stop();
  int port() const { return port_; }

 private:
  using Handler = std::function<Async<absl::StatusOr<Reply>>(const Ctx&)>;
  struct MethodHandler {
    std::vector<std::string> methods;
    std::vector<std::string> params;
    Handler handler;
  };
  struct RouteEntry {
    std::vector<std::string> pattern;  // "*" matches any one segment
    std::vector<MethodHandler> handlers;
  };
  // Whether dispatcher replies may still be handed to the IO threads (false
  // once Stop() began).
  struct Liveness {
    absl::Mutex mu;
    bool alive ABSL_GUARDED_BY(mu) = true;
  };

  void BuildRoutes();
  Async<http::Response> Serve(http::Request& req);
  Async<Reply> RouteRequest(const http::Request& req);
  http::Response Render(const http::Request& req, const Reply& reply) const;
  http::Response ProtocolError(int status, const std::string& method,
                               const std::string& path) const;

  // Wraps `fn` so that it runs on the strand of `waiter->timer` (the waiting
  // request's) when the dispatcher replies, on whatever thread. The reply
  // holds `waiter` only weakly and no Asio object at all, since a dispatcher
  // may keep it after Stop() destroyed the IO context: a reply after Stop(),
  // or after the request stopped waiting, is dropped.
  template <typename Waiter>
  DispatchReply ResumeOn(
      const std::shared_ptr<Waiter>& waiter,
      std::function<void(Waiter&, absl::StatusOr<pb::Envelope>)> fn) const;
  // Dispatches and suspends until the reply (or `timeout`): holds no thread.
  Async<absl::StatusOr<pb::Envelope>> Call(
      pb::Envelope request, absl::Duration timeout = kDefaultDispatchTimeout);
  // One typed internal call: Call(request), then the `Response` the reply
  // carries. The transport's failure is the status; a reply of another kind
  // is kInternal "node answered WHAT with another message". With `refused`,
  // a response that holds an error sets *refused to its Elasticsearch error
  // reply (ErrorReply) for the handler to answer. Defined for the responses
  // of writes, gets, bulks, searches, create_index, delete_index and
  // get_cluster_state (internal_call.cc).
  template <typename Response>
  Async<absl::StatusOr<Response>> CallFor(
      pb::Envelope request, const char* what,
      std::optional<Reply>* refused = nullptr,
      absl::Duration timeout = kDefaultDispatchTimeout);
  // The node's applied cluster state, or (from_coordinator) the
  // coordinator's current one, as Elasticsearch reads the elected master's.
  // The node's error (503 while it has no state, or cannot reach the
  // coordinator) as a status.
  Async<absl::StatusOr<pb::ClusterState>> GetState(
      bool from_coordinator = false);
  // `request` sent to every live node of `state`; the replies by node id
  // (silent nodes, and those that fail, are left out after a timeout).
  Async<std::map<std::string, pb::Envelope>> AskEveryNode(
      const pb::ClusterState& state, const pb::Envelope& request);
  // node_status of every node in `state`, by node id; silent nodes are left
  // out.
  Async<std::map<std::string, pb::NodeStatusResponse>> NodeStatuses(
      const pb::ClusterState& state);

  // Sends one write; `source` shapes an update's "get" (with return_source).
  // require_alias: the name must be an alias.
  Async<absl::StatusOr<Reply>> Write(const pb::WriteRequest& write,
                                     SourceSpec source = {},
                                     bool require_alias = false);

  Async<absl::StatusOr<Reply>> Root(const Ctx& c);
  Async<absl::StatusOr<Reply>> IndexDoc(const Ctx& c, bool create_route);
  Async<absl::StatusOr<Reply>> GetDoc(const Ctx& c, bool source_only);
  Async<absl::StatusOr<Reply>> DeleteDoc(const Ctx& c);
  Async<absl::StatusOr<Reply>> UpdateDoc(const Ctx& c);
  Async<absl::StatusOr<Reply>> Bulk(const Ctx& c, std::string default_index);
  // Resolves `indices` (an index expression) into `search`'s concrete
  // indices; *none when it names none, so that nothing is to be searched.
  // The error reply when it does not resolve.
  Async<std::optional<Reply>> ResolveSearchIndices(const Ctx& c,
                                                   const std::string& indices,
                                                   pb::SearchRequest& search,
                                                   bool* none);
  // _search and _count after parsing: routing and preference from `c`, the
  // index expression resolved, the request run. The response, or in
  // *refused the error reply (an expression that does not resolve, a
  // refused query); an expression naming no index answers an empty response.
  Async<absl::StatusOr<pb::SearchResponse>> RunSearch(
      const Ctx& c, const std::string& indices, pb::SearchRequest search,
      std::optional<Reply>* refused);
  Async<absl::StatusOr<Reply>> Search(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> Count(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> MultiGet(const Ctx& c, std::string index);
  // Dispatches every request at once and suspends until all are answered (or
  // `timeout`); the replies in request order.
  Async<std::vector<absl::StatusOr<pb::Envelope>>> CallAll(
      std::vector<pb::Envelope> requests,
      absl::Duration timeout = kDefaultDispatchTimeout);
  Async<absl::StatusOr<Reply>> CreateIndex(const Ctx& c);
  Async<absl::StatusOr<Reply>> DeleteIndex(const Ctx& c);
  Async<absl::StatusOr<Reply>> GetIndex(const Ctx& c);
  // PUT/DELETE /{index}/_alias/{name} and POST /_aliases.
  Async<absl::StatusOr<Reply>> PutOrDeleteAlias(const Ctx& c, bool remove);
  Async<absl::StatusOr<Reply>> UpdateAliases(const Ctx& c);
  Async<absl::StatusOr<Reply>> SendAliasActions(
      std::vector<pb::AliasAction> actions);
  // Alias actions and settings go to the coordinator as one update.
  Async<absl::StatusOr<Reply>> SendIndicesUpdate(
      pb::UpdateIndicesRequest update);
  // GET|PUT /_settings, /{index}/_settings (index_settings.cc).
  Async<absl::StatusOr<Reply>> GetSettings(const Ctx& c, std::string index);
  Async<absl::StatusOr<Reply>> PutSettings(const Ctx& c, std::string index);
  // GET /_alias[/{name}], GET /{index}/_alias[/{name}].
  Async<absl::StatusOr<Reply>> GetAliases(const Ctx& c, std::string indices,
                                          std::string names);
  Async<absl::StatusOr<Reply>> Refresh(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> CatShards(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> CatIndices(const Ctx& c, std::string indices);
  Async<absl::StatusOr<Reply>> Health(const Ctx& c, std::string index);

  // Constant after construction.
  Dispatcher* const dispatcher_;
  const RestOptions options_;
  std::vector<RouteEntry> routes_;
  const std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();

  // Set by Start(), cleared by Stop() (one thread).
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
};

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_API_H_
