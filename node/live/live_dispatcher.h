// LiveDispatcher: how a node's REST server reaches the cluster in a live
// process.
//
// Dispatch posts the request to the local Node actor's executor; DispatchTo
// sends it over gRPC to another node, whose address it reads from the Node's
// cluster state on the executor (the actor's state is only touched there).
// Every reply runs exactly once: a request dropped at shutdown is answered
// kUnavailable.
//
// Thread-safety: every method may be called from any thread (httplib's pool).
#ifndef SEQSIM_NODE_LIVE_LIVE_DISPATCHER_H_
#define SEQSIM_NODE_LIVE_LIVE_DISPATCHER_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/transport.h"
#include "node/logic/node.h"
#include "node/rest/dispatcher.h"

namespace seqsim {

class LiveDispatcher final : public Dispatcher {
 public:
  // The pointers outlive the dispatcher.
  LiveDispatcher(Node* node, std::shared_ptr<Executor> executor,
                 std::shared_ptr<Transport> transport,
                 std::shared_ptr<FaultTable> faults, std::string node_id,
                 absl::Duration rpc_timeout);

  void Dispatch(pb::Envelope request, DispatchReply reply) override;
  void DispatchTo(const std::string& node_id, pb::Envelope request,
                  DispatchReply reply) override;
  std::string NodeId() const override { return node_id_; }
  std::string ClusterName() const override;

 private:
  Node* const node_;
  const std::shared_ptr<Executor> executor_;
  const std::shared_ptr<Transport> transport_;
  const std::shared_ptr<FaultTable> faults_;
  const std::string node_id_;
  const absl::Duration rpc_timeout_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_LIVE_LIVE_DISPATCHER_H_
