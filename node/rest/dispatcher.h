// Dispatcher: how the REST adapter reaches the cluster. The REST layer
// translates HTTP into pb::Envelope requests and back; it holds no replication
// logic and no cluster state.
//
// Live: implemented by the node runtime (node/live/), which posts the envelope
// to the local Node actor, or sends it over gRPC to another node or the
// coordinator. Tests: a fake that answers from a table.
//
// Thread-safety: implementations are thread-safe; `reply` may run on any
// thread.
#ifndef SEQSIM_NODE_REST_DISPATCHER_H_
#define SEQSIM_NODE_REST_DISPATCHER_H_

#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

using DispatchReply = absl::AnyInvocable<void(absl::StatusOr<pb::Envelope>)>;

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  // Hands `request` to this node's actor (which routes writes, gets and
  // searches, forwards index creation to the coordinator, answers
  // get_cluster_state with its applied state).
  virtual void Dispatch(pb::Envelope request, DispatchReply reply) = 0;
  // Sends `request` to the node `node_id` (from the cluster state) directly,
  // e.g. a node_status request when building _cat/shards.
  virtual void DispatchTo(const std::string& node_id, pb::Envelope request,
                          DispatchReply reply) = 0;
  // This node's id and the cluster name, for GET /.
  virtual std::string NodeId() const = 0;
  virtual std::string ClusterName() const = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_REST_DISPATCHER_H_
