// Node: the pure logic of one seqsim node (DESIGN.md sections 2-3), an Actor
// driven by an Env.
//
// Hosts any number of shard copies (ShardEngine), applies cluster states in
// version order, routes client requests to the shard's primary, replicates as
// primary (R3, R8, R10), applies as replica (R4, R5), resyncs after promotion
// (R7), recovers copies (R9).
//
// Thread-safety: none; the runtime (live executor or lab event loop) calls it
// one event at a time. It never blocks, reads a clock or opens a socket:
// everything goes through Env.
#ifndef SEQSIM_NODE_LOGIC_NODE_H_
#define SEQSIM_NODE_LOGIC_NODE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/env.h"
#include "common/unsafe.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

class ShardEngine;

struct NodeOptions {
  std::string id;  // "node-1"
  std::string
      grpc_address;  // advertised to the coordinator, e.g. "127.0.0.1:9300"
  std::string rest_address;  // e.g. "127.0.0.1:9200"
  absl::Duration heartbeat_interval = absl::Milliseconds(100);
  absl::Duration rpc_timeout = absl::Seconds(2);
  // How long a write waits for a primary / active shards before failing 503.
  absl::Duration write_timeout = absl::Seconds(30);
  // false = async translog durability (fsync on a timer, not per request).
  bool fsync_per_request = true;
  // History kept below the global checkpoint for operations-based recovery
  // (EngineOptions::retain_ops_below_global_checkpoint); -1 keeps everything.
  int64_t retain_ops_below_global_checkpoint = -1;
  UnsafeModes unsafe;
};

class Node final : public Actor {
 public:
  Node(Env* env, NodeOptions options);
  ~Node() override;

  void Start() override;
  void Handle(const pb::Envelope& request, RespondFn respond) override;
  void Flush() override;

  // Introspection (tests, lab invariants, NodeStatus).
  pb::NodeStatusResponse Status() const;
  // One entry of Status().shards() without the proto: the lab reads these
  // after every event, so they cost no allocation. `index_uuid` points into
  // the node and `role` is a literal; both stay valid until the copy closes.
  struct CopySummary {
    const std::string* index_uuid = nullptr;
    int32_t shard = 0;
    const char* role = "";
    int64_t primary_term = 0;
    int64_t max_seq_no = 0;
    int64_t local_checkpoint = 0;
    int64_t global_checkpoint = 0;
    int64_t docs = 0;
    bool in_sync = false;
  };
  // Status().state_version().
  int64_t state_version() const;
  // Replaces `*out` with Status().shards() as summaries, in the same order.
  void CopySummaries(std::vector<CopySummary>* out) const;
  const pb::ClusterState& cluster_state() const;
  const std::string& id() const;
  // The engine of this node's copy of shard `shard` of index `index` (by
  // name; the copy of the applied state's index when several exist), or
  // nullptr if this node holds no copy. For the lab's invariant checks.
  const ShardEngine* engine(const std::string& index, int shard) const;

  struct State;  // defined in node.cc

 private:
  std::unique_ptr<State> state_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_NODE_H_
