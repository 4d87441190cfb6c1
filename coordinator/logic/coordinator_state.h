// Coordinator::State: the coordinator's state and the rules that change it,
// shared by the files that implement them by concern (private to
// coordinator/logic; the public interface is coordinator.h):
//   publication.cc    commit (persist, then publish), publication to each node
//                     one state at a time, restart from the persisted state
//   allocation.cc     routing changes: a failed copy out of the in-sync set
//                     only while another in-sync copy remains, restarted
//                     copies, placement, promotion with term + 1 (R7)
//   membership.cc     joins, heartbeats, failure detection by missed
//                     heartbeats, dead nodes forgotten
//   shard_reports.cc  shard-failed reports from the current term only (R8) and
//                     shard-started ones that end a recovery (R9)
//   index_admin.cc    create and delete index, aliases
//   coordinator.cc    the Coordinator actor: start, dispatch, replies
//
// Thread-safety: none; driven one event at a time by the Coordinator's runtime.
#ifndef SEQSIM_COORDINATOR_LOGIC_COORDINATOR_STATE_H_
#define SEQSIM_COORDINATOR_LOGIC_COORDINATOR_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "coordinator/logic/coordinator.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

struct Coordinator::State {
  // What the coordinator knows about a node besides the cluster state.
  struct Peer {
    absl::Duration last_seen;
    // Last reported by the node (publish reply, heartbeat).
    int64_t applied_version = 0;
    bool publish_in_flight = false;
    int publish_failures = 0;  // in a row; only the first is logged
    bool retry_scheduled = false;
    TimerId retry_timer = 0;
    // Set by NodeUnreachable (its process is gone), cleared when it is heard
    // from again: dead without waiting for heartbeat_timeout.
    std::string unreachable;
  };
  // (index uuid, shard, node): a copy removed from a node is not assigned there
  // again until the node has applied the state without it (so it sees the
  // removal and drops the copy).
  using HoldoffKey = std::tuple<std::string, int32_t, std::string>;

  State(Env* env_in, CoordinatorOptions options_in)
      : env(env_in), options(std::move(options_in)) {}

  // Constant after construction.
  Env* const env;
  const CoordinatorOptions options;
  // Expires with the coordinator: callbacks still queued in the Env check it
  // first.
  std::shared_ptr<bool> life = std::make_shared<bool>(true);

  // The committed cluster state: always the one last persisted.
  pb::ClusterState cluster;
  absl::Status start_status =
      absl::FailedPreconditionError("coordinator not started");
  std::map<std::string, Peer> peers;
  // Answers waiting until every alive node has applied their state version
  // (AnswerWhenApplied), in the order they were committed.
  struct AckWaiter {
    int64_t version;
    absl::Duration deadline;
    pb::Envelope reply;
    RespondFn respond;
  };
  std::vector<AckWaiter> ack_waiters;
  std::map<HoldoffKey, int64_t> holdoff;
  TimerId check_timer = 0;
  bool check_scheduled = false;
  absl::Duration last_check;
  // SameContent's buffers (kept between calls).
  std::string compare_next, compare_current;

  void Log(const std::string& line) {
    env->Log(absl::StrCat("coordinator: ", line));
  }
  void Log(LogMark mark, const std::string& line) {
    env->Log(mark, absl::StrCat("coordinator: ", line));
  }

  // ---- Persistence and publication (publication.cc)

  // Whether `next` equals the committed state apart from the version number.
  // Compares wire forms: ClusterState has no maps, floats or singular message
  // fields, so equal bytes mean equal fields (as MessageDifferencer::Equals
  // would say), without copying either state. `next` is left as it was.
  bool SameContent(pb::ClusterState* next);

  // Gives `next` the next version, persists it, makes it current and publishes
  // it. On a disk error nothing changes and the error is returned.
  // `mark`: how the lab's teaching views show the commit's log line.
  absl::Status Commit(pb::ClusterState next, const std::string& why,
                      LogMark mark = LogMark::kNote);

  // Sends the latest state to `node` unless a publication to it is in flight
  // (the reply then sends the latest): a node never gets states out of order
  // from here.
  void PublishTo(const std::string& node);

  // The publication of `version` to `node` was answered: sends the state
  // committed meanwhile, if any, or retries after check_interval, while the
  // node is alive and behind.
  void OnPublishReply(const std::string& node, int64_t version,
                      const absl::StatusOr<pb::Envelope>& reply);

  // Publishes to `node` again after check_interval (once at a time).
  void ScheduleRetry(const std::string& node);

  // Start(): reloads the persisted state (every node not alive until it is
  // heard from) or creates a new cluster, and commits it. An error means the
  // coordinator must not serve.
  absl::Status Load();

  // ---- Routing changes on a copy `next` of the cluster state (allocation.cc):
  // copies removed (in-sync set), restarted, placed; promotion (R7)

  // Removes `node`'s copy of `routing`. The node leaves the in-sync set only if
  // another started in-sync copy remains: the last in-sync copy may hold
  // acknowledged writes no one else has, so its node stays in the set and gets
  // the primary back if it returns.
  void RemoveCopy(pb::ClusterState* next, const pb::IndexMeta& index,
                  pb::ShardRouting* routing, const std::string& node,
                  const std::string& why);

  // Removes every copy on `node`.
  void RemoveNodeCopies(pb::ClusterState* next, const std::string& node,
                        const std::string& why);

  // A node that restarted keeps its copies in place, out of the in-sync set and
  // recovering (INITIALIZING replicas), unless a copy is the last in-sync one:
  // then it keeps it, and a primary gets term + 1 so that the operations it
  // stamps from now on never reuse a seq_no of the old term (it may have lost
  // unsynced operations that its replicas hold). A restarted primary with
  // in-sync replicas is demoted and a replica is promoted (R7).
  void RestartNodeCopies(pb::ClusterState* next, const std::string& node);

  // Whether `node` may not get a copy of `index`/`shard` yet (it has not
  // applied the state that removed its last one).
  bool HeldOff(const pb::IndexMeta& index, int shard, const std::string& node);

  // Forgets hold-offs the nodes have caught up with (or that concern vanished
  // indices).
  void PruneHoldoffs();

  // The alive node with the fewest copies that holds no copy of `routing` and
  // may take one; ties go to the lowest node id. Empty if none.
  std::string PickNode(const pb::ClusterState& next, const pb::IndexMeta& index,
                       const pb::ShardRouting& routing);

  // Gives a primary to every shard that has none and may get one, then places
  // missing replicas. Deterministic: indices in state order, nodes by id.
  void Allocate(pb::ClusterState* next);

  // A new assignment of a copy of `routing` to `node`. Its allocation id
  // names the node and the cluster state version that assigns it, so it is
  // new each time the copy is assigned again.
  pb::ShardCopy* AddCopy(pb::ShardRouting* routing, const std::string& node,
                         bool primary, pb::ShardCopy::State state);

  // Gives `routing` a primary: a new shard's first, else a started in-sync
  // replica promoted, else an in-sync node that is back; none otherwise (R7).
  void AssignPrimary(pb::ClusterState* next, const pb::IndexMeta& index,
                     pb::ShardRouting* routing);

  // Removes the replicas of `routing` beyond index.number_of_replicas:
  // recovering copies first, then started ones out of the in-sync set, then
  // in-sync ones; never the primary.
  void RemoveExcessReplicas(pb::ClusterState* next, const pb::IndexMeta& index,
                            pb::ShardRouting* routing);

  // Once a primary is assigned again, in-sync ids without a copy are history.
  void DropStaleInSync(pb::ShardRouting* routing);

  // Whether Allocate(next) would change anything, without changing or logging
  // anything (PickNode's peer look-ups as in Allocate).
  bool AllocationPending(const pb::ClusterState& state);

  // ---- Membership and failure detection (membership.cc)

  // Runs CheckNodes every check_interval.
  void ScheduleCheck();

  // Declares dead every node silent for heartbeat_timeout (or unreachable),
  // forgets dead nodes past dead_node_grace, allocates, and commits any change.
  void CheckNodes();

  // A node joins (new), rejoins after a restart or reconnects.
  pb::Envelope HandleJoin(const pb::JoinRequest& join, const std::string& from);

  // A node is alive and reports the state version it applied.
  pb::Envelope HandleHeartbeat(const pb::HeartbeatRequest& heartbeat,
                               const std::string& from);

  // ---- Shard-failed and shard-started reports, current term only
  // (shard_reports.cc)

  // The index and routing `ref` names in `state`, or 404.
  absl::Status FindShard(const pb::ShardRef& ref, pb::ClusterState* state,
                         pb::IndexMeta** index, pb::ShardRouting** routing);

  // OK when `term` is the shard's current primary term, else 409 (stale).
  absl::Status CheckTerm(const pb::ShardRouting& routing,
                         const pb::ShardRef& ref, int64_t term);

  // The shard a shard-failed or shard-started report names, found in `next`,
  // when the report's term is current. Otherwise fills in `response`'s error
  // (and state version), logs "refuse <what> on <shard><from>: ..." and
  // returns false.
  template <typename Response>
  bool FindCurrentShard(const pb::ShardRef& ref, int64_t term,
                        const std::string& what, const std::string& from,
                        pb::ClusterState* next, pb::IndexMeta** index,
                        pb::ShardRouting** routing, Response* response);

  // A copy failed: it leaves the routing (and, if another started in-sync
  // copy remains, the in-sync set), if the report is from the current term.
  pb::Envelope HandleShardFailed(const pb::ShardFailedRequest& request);

  // A recovering copy caught up: it is started and joins the in-sync set (R9).
  pb::Envelope HandleShardStarted(const pb::ShardStartedRequest& request);

  // ---- Acknowledgement after application (publication.cc)

  // Whether every node alive in the committed state has applied `version`.
  bool AppliedByAliveNodes(int64_t version);
  // Answers `reply` (an index-admin reply) once every alive node has applied
  // the committed state, or with acknowledged: false after
  // options.ack_timeout; at once if it is an error.
  void AnswerWhenApplied(pb::Envelope reply, RespondFn respond);
  // Answers the waiters whose state every alive node has applied and those
  // past their deadline. Called wherever a node's applied version or the set
  // of alive nodes changes.
  void SettleAcks();

  // ---- Index admin: create and delete index, aliases (index_admin.cc)

  // Creates an index after Elasticsearch's checks (name, alias clash, shard
  // and replica counts, shard limit) and allocates its shards.
  pb::Envelope HandleCreateIndex(const pb::CreateIndexRequest& request);

  // Alias actions (POST /_aliases, PUT/DELETE /{index}/_alias/{name}) and
  // dynamic settings (PUT /{index}/_settings), all or nothing in one state.
  pb::Envelope HandleUpdateIndices(const pb::UpdateIndicesRequest& request);
  // The parts of an update, on a copy `next` of the state; an error names the
  // first action or index that cannot change (and nothing is committed).
  absl::Status ApplyAliasActions(const pb::UpdateIndicesRequest& request,
                                 pb::ClusterState* next,
                                 std::vector<std::string>* changes,
                                 pb::Error* error);
  absl::Status ApplySettings(const pb::UpdateIndicesRequest& request,
                             pb::ClusterState* next,
                             std::vector<std::string>* changes,
                             pb::Error* error);

  // Deletes an index.
  pb::Envelope HandleDeleteIndex(const pb::DeleteIndexRequest& request);

  // ---- Replies (coordinator.cc)

  // An empty reply from the coordinator.
  pb::Envelope Reply();

  // The right kind of response for `request`, carrying `error`.
  pb::Envelope ErrorReply(const pb::Envelope& request, const pb::Error& error);
};

// A 22-character URL-safe base64 id from 128 random bits, like Elasticsearch's
// UUIDs (a new cluster's and a new index's).
std::string NewUuid(Env* env);

}  // namespace seqsim

#endif  // SEQSIM_COORDINATOR_LOGIC_COORDINATOR_STATE_H_
