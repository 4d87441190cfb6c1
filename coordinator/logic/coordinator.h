// Coordinator: the pure cluster-state logic (DESIGN.md section 3), an Actor
// driven by an Env.
//
// Owns the cluster state (nodes, indices, routing, primary terms, in-sync sets,
// a version), persists it through the Env's Disk and reloads it on Start();
// allocates copies (never two copies of a shard on one node); detects dead
// nodes by missed heartbeats; promotes an in-sync replica with term + 1 when a
// primary is lost (R7); removes a copy from the in-sync set only on a
// shard-failed request from the shard's current term (R8); publishes every
// change.
//
// Guarantees the nodes may rely on:
// - Every state is persisted before it is published or any request it answers
//   is acknowledged; versions strictly increase, across restarts too.
// - A node gets states from here one at a time, newest last.
// - Lease: a primary is never moved away from a node (except at its own
//   shard-failed request, its restart join, or NodeUnreachable: its process
//   is gone) before heartbeat_timeout has passed since this coordinator last
//   heard from it.
// - The last in-sync copy of a shard is never promoted over: with no started
//   in-sync replica the shard stays red, and its node keeps its place in the
//   in-sync set and gets the primary back (term + 1) when it returns; no state
//   without that copy is ever sent to that node (it would delete the data).
// - A join with reconnect=false (a restarted process) turns the node's copies
//   into recovering replicas (or bumps the term of a last in-sync primary); a
//   join with reconnect=true changes nothing but liveness.
//
// Thread-safety: none; driven one event at a time by its runtime.
#ifndef SEQSIM_COORDINATOR_LOGIC_COORDINATOR_H_
#define SEQSIM_COORDINATOR_LOGIC_COORDINATOR_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/cluster_view.h"
#include "common/env.h"
#include "common/validation.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

struct CoordinatorOptions {
  std::string cluster_name = "seqsim";
  // A node that has not sent a heartbeat for this long is declared dead.
  absl::Duration heartbeat_timeout = absl::Milliseconds(500);
  // How often dead nodes are looked for.
  absl::Duration check_interval = absl::Milliseconds(50);
  // A dead node that holds no copy and has not been heard from for this long
  // leaves the cluster state (issue 17: the state of a long-lived cluster
  // does not grow with every node that ever came and went). If it comes back
  // it joins again as a new node.
  absl::Duration dead_node_grace = absl::Minutes(5);
  absl::Duration rpc_timeout = absl::Seconds(2);
  // An index deletion or an alias or settings update is answered once every
  // node alive in the cluster state has applied it (as Elasticsearch
  // acknowledges a cluster-state update), so that a request sent after the
  // answer never reaches a node still holding the old state; a node that has
  // not applied it by this long is waited for no more (acknowledged: false,
  // the change stays committed). Below the nodes' rpc_timeout, so the answer
  // comes before the node that asked gives up. (An index creation is
  // answered by the node once its primaries are started, in its own state.)
  absl::Duration ack_timeout = absl::Seconds(1);
  // Where the cluster state is kept, relative to the Env's data directory.
  std::string state_path = "cluster_state.pb";
  // The cluster's uuid (its cluster identity's): a new cluster state takes it,
  // and a stored state of another cluster is refused at start. Empty: a random
  // one for a new cluster (the lab, no identity).
  std::string cluster_uuid;
};

class Coordinator final : public Actor {
 public:
  Coordinator(Env* env, CoordinatorOptions options);
  ~Coordinator() override;

  void Start() override;
  void Handle(const pb::Envelope& request, RespondFn respond) override;
  void Flush() override;

  const pb::ClusterState& state() const;

  // The runtime saw `node_id`'s process go away at `observed_at` (Env::Now's
  // clock): its connection closed and its port refuses new ones, as
  // Elasticsearch's coordinator treats a node whose connection drops. The node
  // is declared dead at once (its primaries promoted, R7) instead of after
  // heartbeat_timeout, unless it was heard from after `observed_at` (it came
  // back). A paused or partitioned node keeps its connection and is still
  // found by missed heartbeats. The lab never calls this.
  void NodeUnreachable(const std::string& node_id, absl::Duration observed_at,
                       const std::string& reason);

  // OK once Start() has loaded (or created) and persisted the cluster state. An
  // error (e.g. a corrupt state file) means the coordinator refuses to serve:
  // every request is answered with a 500 error and the runtime should exit with
  // this message.
  absl::Status start_status() const;

  struct State;  // defined in coordinator_state.h

 private:
  std::unique_ptr<State> state_;
};

// ClusterHealth and ComputeHealth are in common/cluster_view.h (included
// above for the files that look for them here).

// ValidateNodeId (node start-up, Join, cluster states) is in
// common/validation.h.

}  // namespace seqsim

#endif  // SEQSIM_COORDINATOR_LOGIC_COORDINATOR_H_
