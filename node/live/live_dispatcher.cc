#include "node/live/live_dispatcher.h"

#include <atomic>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace seqsim {
namespace {

// Calls the reply exactly once; kUnavailable if it is destroyed unanswered.
class ReplyOnce {
 public:
  explicit ReplyOnce(DispatchReply reply) : reply_(std::move(reply)) {}
  ~ReplyOnce() { Reply(absl::UnavailableError("node shutting down")); }
  void Reply(absl::StatusOr<pb::Envelope> result) {
    if (replied_.exchange(true)) return;
    reply_(std::move(result));
  }

 private:
  DispatchReply reply_;
  std::atomic<bool> replied_{false};
};

}  // namespace

LiveDispatcher::LiveDispatcher(Node* node, std::shared_ptr<Executor> executor,
                               std::shared_ptr<Transport> transport,
                               std::shared_ptr<FaultTable> faults,
                               std::string node_id, absl::Duration rpc_timeout)
    : node_(node),
      executor_(std::move(executor)),
      transport_(std::move(transport)),
      faults_(std::move(faults)),
      node_id_(std::move(node_id)),
      rpc_timeout_(rpc_timeout) {}

void LiveDispatcher::Dispatch(pb::Envelope request, DispatchReply reply) {
  if (request.from().empty()) request.set_from("client");
  auto once = std::make_shared<ReplyOnce>(std::move(reply));
  Node* node = node_;
  executor_->Post([node, request = std::move(request), once]() mutable {
    node->Handle(request, [once](pb::Envelope response) {
      once->Reply(std::move(response));
    });
  });
}

void LiveDispatcher::DispatchTo(const std::string& node_id,
                                pb::Envelope request, DispatchReply reply) {
  if (node_id == node_id_) {
    Dispatch(std::move(request), std::move(reply));
    return;
  }
  auto once = std::make_shared<ReplyOnce>(std::move(reply));
  if (faults_->IsPartitioned(node_id)) {
    once->Reply(
        absl::UnavailableError(absl::StrCat("partitioned from ", node_id)));
    return;
  }
  request.set_from(node_id_);
  executor_->Post(
      [this, node_id, request = std::move(request), once]() mutable {
        std::optional<std::string> address;
        for (const pb::NodeInfo& info : node_->cluster_state().nodes()) {
          if (info.id() == node_id) address = info.grpc_address();
        }
        if (!address.has_value() || address->empty()) {
          once->Reply(absl::NotFoundError(
              absl::StrCat("node [", node_id, "] is not in the cluster")));
          return;
        }
        transport_->Call(node_id, *address, std::move(request), rpc_timeout_,
                         [once](absl::StatusOr<pb::Envelope> result) {
                           once->Reply(std::move(result));
                         });
      });
}

std::string LiveDispatcher::ClusterName() const {
  struct Result {
    absl::Notification done;
    std::string name;
  };
  auto result = std::make_shared<Result>();
  Node* node = node_;
  executor_->Post([node, result] {
    result->name = node->cluster_state().cluster_name();
    result->done.Notify();
  });
  if (!result->done.WaitForNotificationWithTimeout(absl::Seconds(2)) ||
      result->name.empty()) {
    return "seqsim";
  }
  return result->name;
}

}  // namespace seqsim
