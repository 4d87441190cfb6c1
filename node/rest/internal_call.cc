// The calls from the REST handlers into the cluster (Api members, see
// api.h): one request through the Dispatcher with a deadline, many at once,
// the cluster state, every node. A waiting request holds a continuation (a
// timer on its strand), not a thread; a reply after Stop() is dropped.
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "boost/asio/post.hpp"
#include "boost/asio/redirect_error.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/this_coro.hpp"
#include "boost/asio/use_awaitable.hpp"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  if (d > absl::Hours(24 * 365)) d = absl::Hours(24 * 365);
  if (d < absl::ZeroDuration()) d = absl::ZeroDuration();
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

template <typename Waiter>
DispatchReply Api::ResumeOn(
    const std::shared_ptr<Waiter>& waiter,
    std::function<void(Waiter&, absl::StatusOr<pb::Envelope>)> fn) const {
  return [liveness = liveness_, weak = std::weak_ptr<Waiter>(waiter),
          fn = std::move(fn)](absl::StatusOr<pb::Envelope> reply) mutable {
    // Stop() clears `alive` under `mu` before it stops the IO context, so
    // while it is set the context (and the strand posted to) is alive.
    absl::MutexLock lock(&liveness->mu);
    if (!liveness->alive) return;
    std::shared_ptr<Waiter> strong = weak.lock();
    if (strong == nullptr) return;  // the request no longer waits
    asio::any_io_executor executor = strong->timer.get_executor();
    asio::post(executor, [strong = std::move(strong), fn,
                          reply = std::move(reply)]() mutable {
      fn(*strong, std::move(reply));
    });
  };
}

asio::awaitable<absl::StatusOr<pb::Envelope>> Api::Call(
    pb::Envelope request, absl::Duration timeout) {
  // The timer doubles as the wake-up: the reply cancels it, the deadline
  // fires it; both run on this request's strand.
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    std::optional<absl::StatusOr<pb::Envelope>> result;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(timeout));
  dispatcher_->Dispatch(
      std::move(request),
      ResumeOn<Pending>(
          pending, [](Pending& waiting, absl::StatusOr<pb::Envelope> reply) {
            if (waiting.result.has_value()) return;
            waiting.result = std::move(reply);
            waiting.timer.cancel();
          }));
  if (!pending->result.has_value()) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!pending->result.has_value()) {
    pending->result =
        EsStatus(absl::StatusCode::kDeadlineExceeded, "timeout_exception",
                 "timed out waiting for the node to answer", 504);
  }
  co_return std::move(*pending->result);
}

namespace {

// Where a reply envelope carries each response CallFor is used with.
template <typename Response>
struct EnvelopeField;
#define SEQSIM_REST_ENVELOPE_FIELD(Response, field)                           \
  template <>                                                                 \
  struct EnvelopeField<Response> {                                            \
    static bool Has(const pb::Envelope& e) { return e.has_##field(); }        \
    static Response* Mutable(pb::Envelope& e) { return e.mutable_##field(); } \
  }
SEQSIM_REST_ENVELOPE_FIELD(pb::WriteResponse, write_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::GetResponse, get_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::BulkResponse, bulk_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::SearchResponse, search_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::CreateIndexResponse, create_index_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::DeleteIndexResponse, delete_index_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::UpdateIndicesResponse, update_indices_response);
SEQSIM_REST_ENVELOPE_FIELD(pb::GetClusterStateResponse,
                           get_cluster_state_response);
#undef SEQSIM_REST_ENVELOPE_FIELD

}  // namespace

template <typename Response>
asio::awaitable<absl::StatusOr<Response>> Api::CallFor(
    pb::Envelope request, const char* what, std::optional<Reply>* refused,
    absl::Duration timeout) {
  CO_ASSIGN_OR_RETURN(pb::Envelope reply,
                      co_await Call(std::move(request), timeout));
  if (!EnvelopeField<Response>::Has(reply)) {
    co_return absl::InternalError(
        absl::StrCat("node answered ", what, " with another message"));
  }
  Response response = std::move(*EnvelopeField<Response>::Mutable(reply));
  if constexpr (requires { response.error(); }) {
    if (refused != nullptr && HasError(response.error())) {
      *refused = ErrorReply(response.error());
    }
  }
  co_return response;
}

template Async<absl::StatusOr<pb::WriteResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::GetResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::BulkResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::SearchResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::CreateIndexResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::DeleteIndexResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::UpdateIndicesResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);
template Async<absl::StatusOr<pb::GetClusterStateResponse>> Api::CallFor(
    pb::Envelope, const char*, std::optional<Reply>*, absl::Duration);

asio::awaitable<absl::StatusOr<pb::ClusterState>> Api::GetState(
    bool from_coordinator) {
  pb::Envelope request;
  request.mutable_get_cluster_state()->set_from_coordinator(from_coordinator);
  CO_ASSIGN_OR_RETURN(const pb::GetClusterStateResponse response,
                      co_await CallFor<pb::GetClusterStateResponse>(
                          std::move(request), "get_cluster_state"));
  if (HasError(response.error())) co_return FromError(response.error());
  co_return response.state();
}

asio::awaitable<std::map<std::string, pb::Envelope>> Api::AskEveryNode(
    const pb::ClusterState& state, const pb::Envelope& request) {
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    int outstanding = 0;
    std::map<std::string, pb::Envelope> replies;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(kNodeStatusTimeout));
  std::vector<std::string> ids;
  for (const pb::NodeInfo& node : state.nodes()) {
    if (node.alive()) ids.push_back(node.id());
  }
  pending->outstanding = static_cast<int>(ids.size());
  for (const std::string& id : ids) {
    dispatcher_->DispatchTo(
        id, pb::Envelope(request),
        ResumeOn<Pending>(pending, [id](Pending& waiting,
                                        absl::StatusOr<pb::Envelope> reply) {
          if (reply.ok()) waiting.replies[id] = *std::move(reply);
          if (--waiting.outstanding == 0) waiting.timer.cancel();
        }));
  }
  if (pending->outstanding > 0) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  // Late answers change a map nobody reads any more.
  co_return pending->replies;
}

asio::awaitable<std::map<std::string, pb::NodeStatusResponse>>
Api::NodeStatuses(const pb::ClusterState& state) {
  pb::Envelope request;
  request.mutable_node_status();
  std::map<std::string, pb::NodeStatusResponse> statuses;
  for (auto& [id, reply] : co_await AskEveryNode(state, request)) {
    if (reply.has_node_status_response())
      statuses[id] = std::move(*reply.mutable_node_status_response());
  }
  co_return statuses;
}

asio::awaitable<std::vector<absl::StatusOr<pb::Envelope>>> Api::CallAll(
    std::vector<pb::Envelope> requests, absl::Duration timeout) {
  struct Pending {
    explicit Pending(const asio::any_io_executor& executor) : timer(executor) {}
    asio::steady_timer timer;
    size_t outstanding = 0;
    std::vector<std::optional<absl::StatusOr<pb::Envelope>>> replies;
  };
  asio::any_io_executor executor = co_await asio::this_coro::executor;
  auto pending = std::make_shared<Pending>(executor);
  pending->timer.expires_after(ToChrono(timeout));
  pending->outstanding = requests.size();
  pending->replies.resize(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    dispatcher_->Dispatch(
        std::move(requests[i]),
        ResumeOn<Pending>(
            pending, [i](Pending& waiting, absl::StatusOr<pb::Envelope> reply) {
              if (waiting.replies[i].has_value()) return;
              waiting.replies[i] = std::move(reply);
              if (--waiting.outstanding == 0) waiting.timer.cancel();
            }));
  }
  if (pending->outstanding > 0) {
    boost::system::error_code ec;
    co_await pending->timer.async_wait(
        asio::redirect_error(asio::use_awaitable, ec));
  }
  std::vector<absl::StatusOr<pb::Envelope>> out;
  out.reserve(pending->replies.size());
  for (auto& reply : pending->replies) {
    if (reply.has_value()) {
      out.push_back(std::move(*reply));
    } else {
      out.push_back(EsStatus(absl::StatusCode::kDeadlineExceeded,
                             "timeout_exception",
                             "timed out waiting for the node to answer", 504));
    }
  }
  co_return out;
}

}  // namespace seqsim::rest
