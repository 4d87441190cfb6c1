#include "coordinator/logic/coordinator.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "common/index_name.h"
#include "common/validation.h"

namespace seqsim {
namespace {

constexpr int kMaxShards = 1024;

// A 22-character URL-safe base64 id from 128 random bits, like Elasticsearch's
// UUIDs.
std::string NewUuid(Env* env) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t words[2] = {env->RandomU64(), env->RandomU64()};
  std::string id;
  int bit = 0;
  for (int i = 0; i < 22; ++i) {
    int value = 0;
    for (int b = 0; b < 6; ++b, ++bit) {
      int word = (bit / 64) % 2;
      value = (value << 1) | static_cast<int>((words[word] >> (bit % 64)) & 1u);
    }
    id.push_back(kAlphabet[value]);
  }
  return id;
}

// Elasticsearch's cluster.max_shards_per_node (default 1000) times the nodes
// in the cluster: a new index whose copies (shards x (1 + replicas), counted in
// 64 bits so that no replica count overflows) would pass it is refused with
// ES's 400 validation_exception (ShardLimitValidator).
constexpr int64_t kMaxShardsPerNode = 1000;

absl::Status CheckShardLimit(const pb::ClusterState& state, int shards,
                             int replicas) {
  int64_t open = 0;
  for (const pb::IndexMeta& index : state.indices()) {
    open += static_cast<int64_t>(index.number_of_shards()) *
            (1 + static_cast<int64_t>(index.number_of_replicas()));
  }
  const int64_t adding =
      static_cast<int64_t>(shards) * (1 + static_cast<int64_t>(replicas));
  const int64_t limit =
      kMaxShardsPerNode * std::max<int64_t>(1, state.nodes_size());
  if (open + adding <= limit) return absl::OkStatus();
  return EsStatus(
      absl::StatusCode::kInvalidArgument, "validation_exception",
      absl::StrCat("Validation Failed: 1: this action would add [", adding,
                   "] shards, but this cluster currently has [", open, "]/[",
                   limit, "] maximum normal shards open;"),
      400);
}

void EraseId(google::protobuf::RepeatedPtrField<std::string>* ids,
             const std::string& id) {
  for (int i = 0; i < ids->size(); ++i) {
    if (ids->Get(i) == id) {
      ids->erase(ids->begin() + i);
      return;
    }
  }
}

pb::Error IndexError(const absl::Status& status, const std::string& index,
                     const std::string& uuid) {
  return ToError(status, index, uuid.empty() ? "_na_" : uuid);
}

}  // namespace

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
  std::map<HoldoffKey, int64_t> holdoff;
  TimerId check_timer = 0;
  bool check_scheduled = false;
  absl::Duration last_check;
  // SameContent's buffers (kept between calls).
  std::string compare_next, compare_current;

  void Log(const std::string& line) {
    env->Log(absl::StrCat("coordinator: ", line));
  }

  // Whether `next` equals the committed state apart from the version number.
  // Compares wire forms: ClusterState has no maps, floats or singular message
  // fields, so equal bytes mean equal fields (as MessageDifferencer::Equals
  // would say), without copying either state. `next` is left as it was.
  bool SameContent(pb::ClusterState* next) {
    const int64_t version = next->version();
    next->set_version(cluster.version());
    compare_next.clear();
    compare_current.clear();
    next->AppendToString(&compare_next);
    cluster.AppendToString(&compare_current);
    next->set_version(version);
    return compare_next == compare_current;
  }

  // ---- commit and publication
  // ------------------------------------------------------------

  // Gives `next` the next version, persists it, makes it current and publishes
  // it. On a disk error nothing changes and the error is returned.
  absl::Status Commit(pb::ClusterState next, const std::string& why) {
    next.set_version(cluster.version() + 1);
    next.set_coordinator(kCoordinatorId);
    std::string bytes;
    if (!next.SerializeToString(&bytes)) {
      return absl::InternalError("cannot serialize the cluster state");
    }
    absl::Status written =
        env->disk()->WriteFileAtomic(options.state_path, bytes);
    if (!written.ok()) {
      Log(absl::StrCat("could not persist cluster state version ",
                       next.version(), " (", why, "): ", written.ToString(),
                       "; change discarded"));
      return absl::InternalError(absl::StrCat(
          "failed to persist the cluster state: ", written.message()));
    }
    cluster = std::move(next);
    Log(absl::StrCat("cluster state version ", cluster.version(), ": ", why));
    for (const pb::NodeInfo& node : cluster.nodes()) {
      if (node.alive()) PublishTo(node.id());
    }
    return absl::OkStatus();
  }

  // Sends the latest state to `node` unless a publication to it is in flight
  // (the reply then sends the latest): a node never gets states out of order
  // from here.
  void PublishTo(const std::string& node) {
    Peer& peer = peers[node];
    if (peer.publish_in_flight) return;
    if (peer.retry_scheduled) {
      env->Cancel(peer.retry_timer);
      peer.retry_scheduled = false;
    }
    peer.publish_in_flight = true;
    int64_t version = cluster.version();
    pb::Envelope request;
    request.set_from(kCoordinatorId);
    *request.mutable_publish()->mutable_state() = cluster;
    std::weak_ptr<bool> alive = life;
    env->Send(
        node, std::move(request),
        [this, alive, node,
         version](const absl::StatusOr<pb::Envelope>& reply) {
          if (alive.expired()) return;
          OnPublishReply(node, version, reply);
        },
        options.rpc_timeout);
  }

  void OnPublishReply(const std::string& node, int64_t version,
                      const absl::StatusOr<pb::Envelope>& reply) {
    Peer& peer = peers[node];
    peer.publish_in_flight = false;
    bool applied = false;
    if (reply.ok() && reply->has_publish_response() &&
        !HasError(reply->publish_response().error())) {
      peer.applied_version = reply->publish_response().applied_version();
      applied = peer.applied_version >= version;
      peer.publish_failures = 0;
    } else if (peer.publish_failures++ == 0) {
      std::string why = !reply.ok()
                            ? reply.status().ToString(
                                  absl::StatusToStringMode::kWithNoExtraData)
                        : reply->has_publish_response()
                            ? reply->publish_response().error().reason()
                            : "unexpected reply";
      Log(absl::StrCat("publication of version ", version, " to ", node,
                       " failed: ", why, "; retrying while it is alive"));
    }
    if (!IsNodeAlive(cluster, node) ||
        peer.applied_version >= cluster.version())
      return;
    if (applied) {
      PublishTo(node);  // a newer state was committed meanwhile
    } else {
      ScheduleRetry(node);
    }
  }

  void ScheduleRetry(const std::string& node) {
    Peer& peer = peers[node];
    if (peer.retry_scheduled) return;
    peer.retry_scheduled = true;
    std::weak_ptr<bool> alive = life;
    peer.retry_timer = env->After(options.check_interval, [this, alive, node] {
      if (alive.expired()) return;
      Peer& p = peers[node];
      p.retry_scheduled = false;
      if (IsNodeAlive(cluster, node) && p.applied_version < cluster.version()) {
        PublishTo(node);
      }
    });
  }

  // ---- routing changes (on a copy `next` of the cluster state)
  // --------------------------

  // Removes `node`'s copy of `routing`. The node leaves the in-sync set only if
  // another started in-sync copy remains: the last in-sync copy may hold
  // acknowledged writes no one else has, so its node stays in the set and gets
  // the primary back if it returns.
  void RemoveCopy(pb::ClusterState* next, const pb::IndexMeta& index,
                  pb::ShardRouting* routing, const std::string& node,
                  const std::string& why) {
    auto* copies = routing->mutable_copies();
    bool was_primary = false;
    bool found = false;
    for (int i = 0; i < copies->size(); ++i) {
      if (copies->Get(i).node_id() == node) {
        was_primary = copies->Get(i).primary();
        copies->erase(copies->begin() + i);
        found = true;
        break;
      }
    }
    if (!found) return;
    holdoff[{index.uuid(), routing->shard(), node}] = next->version() + 1;
    bool other_in_sync = false;
    for (const pb::ShardCopy& copy : routing->copies()) {
      if (IsStartedInSync(*routing, copy)) {
        other_in_sync = true;
      }
    }
    std::string line =
        absl::StrCat("remove ", was_primary ? "primary" : "replica", " of ",
                     ShardName(index.name(), routing->shard()), " on ", node,
                     " (", why, ")");
    if (InInSyncSet(*routing, node)) {
      if (other_in_sync) {
        EraseId(routing->mutable_in_sync(), node);
        absl::StrAppend(&line, "; out of the in-sync set");
      } else {
        absl::StrAppend(&line,
                        "; it stays in the in-sync set: no other in-sync copy ",
                        "remains, so no other copy may become primary");
      }
    }
    Log(line);
  }

  // Removes every copy on `node`.
  void RemoveNodeCopies(pb::ClusterState* next, const std::string& node,
                        const std::string& why) {
    for (pb::IndexMeta& index : *next->mutable_indices()) {
      for (pb::ShardRouting& routing : *index.mutable_shards()) {
        RemoveCopy(next, index, &routing, node, why);
      }
    }
  }

  // A node that restarted keeps its copies in place, out of the in-sync set and
  // recovering (INITIALIZING replicas), unless a copy is the last in-sync one:
  // then it keeps it, and a primary gets term + 1 so that the operations it
  // stamps from now on never reuse a seq_no of the old term (it may have lost
  // unsynced operations that its replicas hold). A restarted primary with
  // in-sync replicas is demoted and a replica is promoted (R7).
  void RestartNodeCopies(pb::ClusterState* next, const std::string& node) {
    for (pb::IndexMeta& index : *next->mutable_indices()) {
      for (pb::ShardRouting& routing : *index.mutable_shards()) {
        pb::ShardCopy* copy = CopyOnNode(&routing, node);
        if (copy == nullptr) continue;
        const std::string shard = ShardName(index.name(), routing.shard());
        bool other_in_sync = false;
        for (const pb::ShardCopy& other : routing.copies()) {
          if (other.node_id() != node && IsStartedInSync(routing, other)) {
            other_in_sync = true;
          }
        }
        if (other_in_sync) {
          Log(absl::StrCat(
              node, " restarted: its ", copy->primary() ? "primary" : "replica",
              " of ", shard,
              " leaves the in-sync set and recovers as a replica"));
          copy->set_primary(false);
          copy->set_state(pb::ShardCopy::INITIALIZING);
          EraseId(routing.mutable_in_sync(), node);
        } else if (copy->primary()) {
          const int64_t old_term = routing.primary_term();
          routing.set_primary_term(old_term + 1);
          Log(absl::StrCat(node, " restarted holding the only in-sync copy of ",
                           shard, ": it stays primary, term ", old_term, " -> ",
                           routing.primary_term()));
        } else if (InInSyncSet(routing, node) &&
                   copy->state() == pb::ShardCopy::STARTED) {
          Log(absl::StrCat(node, " restarted holding the only in-sync copy of ",
                           shard, " (a replica): it may be promoted"));
        } else {
          copy->set_state(pb::ShardCopy::INITIALIZING);
          Log(absl::StrCat(node, " restarted: its copy of ", shard,
                           " recovers from the primary"));
        }
      }
    }
  }

  bool HeldOff(const pb::IndexMeta& index, int shard, const std::string& node) {
    auto it = holdoff.find({index.uuid(), shard, node});
    if (it == holdoff.end()) return false;
    return peers[node].applied_version < it->second;
  }

  // Forgets hold-offs the nodes have caught up with (or that concern vanished
  // indices).
  void PruneHoldoffs() {
    for (auto it = holdoff.begin(); it != holdoff.end();) {
      const auto& [uuid, shard, node] = it->first;
      const bool index_exists = FindIndexByUuid(cluster, uuid) != nullptr;
      if (!index_exists || peers[node].applied_version >= it->second) {
        it = holdoff.erase(it);
      } else {
        ++it;
      }
    }
  }

  // The alive node with the fewest copies that holds no copy of `routing` and
  // may take one; ties go to the lowest node id. Empty if none.
  std::string PickNode(const pb::ClusterState& next, const pb::IndexMeta& index,
                       pb::ShardRouting* routing) {
    std::string best;
    int best_count = 0;
    for (const pb::NodeInfo& node : next.nodes()) {  // sorted by id
      if (!node.alive() || CopyOnNode(routing, node.id()) != nullptr) continue;
      if (HeldOff(index, routing->shard(), node.id())) continue;
      int count = CopiesOnNode(next, node.id());
      if (best.empty() || count < best_count) {
        best = node.id();
        best_count = count;
      }
    }
    return best;
  }

  // Gives a primary to every shard that has none and may get one, then places
  // missing replicas. Deterministic: indices in state order, nodes by id.
  void Allocate(pb::ClusterState* next) {
    for (pb::IndexMeta& index : *next->mutable_indices()) {
      for (pb::ShardRouting& routing : *index.mutable_shards()) {
        if (PrimaryCopy(&routing) == nullptr)
          AssignPrimary(next, index, &routing);
      }
      for (pb::ShardRouting& routing : *index.mutable_shards()) {
        if (PrimaryCopy(&routing) == nullptr)
          continue;  // a replica needs a primary
        while (routing.copies_size() < 1 + index.number_of_replicas()) {
          std::string node = PickNode(*next, index, &routing);
          if (node.empty()) break;  // stays unassigned (yellow)
          AddCopy(&routing, node, /*primary=*/false,
                  pb::ShardCopy::INITIALIZING);
          Log(absl::StrCat("assign replica of ",
                           ShardName(index.name(), routing.shard()), " to ",
                           node, " (initializing: recovers from the primary)"));
        }
      }
    }
  }

  // A new assignment of a copy of `routing` to `node`. Its allocation id
  // names the node and the cluster state version that assigns it, so it is
  // new each time the copy is assigned again.
  pb::ShardCopy* AddCopy(pb::ShardRouting* routing, const std::string& node,
                         bool primary, pb::ShardCopy::State state) {
    pb::ShardCopy* copy = routing->add_copies();
    copy->set_node_id(node);
    copy->set_primary(primary);
    copy->set_state(state);
    copy->set_allocation_id(
        absl::StrCat(node, "@v", cluster.version() + 1, "/", routing->shard()));
    return copy;
  }

  void AssignPrimary(pb::ClusterState* next, const pb::IndexMeta& index,
                     pb::ShardRouting* routing) {
    const std::string shard = ShardName(index.name(), routing->shard());
    const int64_t old_term = routing->primary_term();
    // A brand-new shard: no copy ever held data.
    if (routing->in_sync().empty()) {
      std::string node = PickNode(*next, index, routing);
      if (node.empty()) return;
      AddCopy(routing, node, /*primary=*/true, pb::ShardCopy::STARTED);
      routing->set_primary_term(old_term + 1);
      routing->add_in_sync(node);
      Log(absl::StrCat("assign new primary of ", shard, " to ", node, ", term ",
                       routing->primary_term()));
      return;
    }
    // Promote a started in-sync replica: an alive one first, then the lowest
    // node id (R7).
    pb::ShardCopy* chosen = nullptr;
    for (pb::ShardCopy& copy : *routing->mutable_copies()) {
      if (!IsStartedInSync(*routing, copy)) continue;
      bool better = chosen == nullptr ||
                    (IsNodeAlive(*next, copy.node_id()) &&
                     !IsNodeAlive(*next, chosen->node_id())) ||
                    (IsNodeAlive(*next, copy.node_id()) ==
                         IsNodeAlive(*next, chosen->node_id()) &&
                     copy.node_id() < chosen->node_id());
      if (better) chosen = &copy;
    }
    if (chosen != nullptr) {
      chosen->set_primary(true);
      routing->set_primary_term(old_term + 1);
      Log(absl::StrCat("promote ", chosen->node_id(), " to primary of ", shard,
                       " (in-sync replica), term ", old_term, " -> ",
                       routing->primary_term()));
      DropStaleInSync(routing);
      return;
    }
    // No started in-sync copy is assigned: a node of the in-sync set that is
    // back gets the primary again with a new term. Never an out-of-sync copy.
    std::string back;
    for (const std::string& id : routing->in_sync()) {
      // No hold-off here: the node must get its copy back before it ever sees
      // a state without it (it would delete the only complete data).
      if (!IsNodeAlive(*next, id) || CopyOnNode(routing, id) != nullptr)
        continue;
      if (back.empty() || id < back) back = id;
    }
    if (back.empty()) return;  // red until an in-sync copy returns
    AddCopy(routing, back, /*primary=*/true, pb::ShardCopy::STARTED);
    routing->set_primary_term(old_term + 1);
    Log(absl::StrCat("reassign primary of ", shard, " to ", back,
                     " (its copy is in sync and it is back), term ", old_term,
                     " -> ", routing->primary_term()));
    DropStaleInSync(routing);
  }

  // Once a primary is assigned again, in-sync ids without a copy are history.
  void DropStaleInSync(pb::ShardRouting* routing) {
    std::vector<std::string> keep;
    for (const std::string& id : routing->in_sync()) {
      if (CopyOnNode(routing, id) != nullptr) keep.push_back(id);
    }
    routing->clear_in_sync();
    for (std::string& id : keep) routing->add_in_sync(std::move(id));
  }

  // ---- failure detection
  // ----------------------------------------------------------------

  void ScheduleCheck() {
    std::weak_ptr<bool> alive = life;
    check_scheduled = true;
    check_timer = env->After(options.check_interval, [this, alive] {
      if (alive.expired()) return;
      check_scheduled = false;
      CheckNodes();
      ScheduleCheck();
    });
  }

  // Whether Allocate(next) would change anything, without changing or logging
  // anything (PickNode's peer look-ups as in Allocate).
  bool AllocationPending(const pb::ClusterState& state) {
    for (const pb::IndexMeta& index : state.indices()) {
      for (const pb::ShardRouting& routing : index.shards()) {
        // PickNode and FindCopy only read through these pointers.
        auto* r = const_cast<pb::ShardRouting*>(&routing);
        if (PrimaryCopy(r) == nullptr) {
          // What AssignPrimary would do.
          if (routing.in_sync().empty()) {
            if (!PickNode(state, index, r).empty()) return true;
            continue;
          }
          for (const pb::ShardCopy& copy : routing.copies()) {
            if (IsStartedInSync(routing, copy)) return true;
          }
          for (const std::string& id : routing.in_sync()) {
            if (IsNodeAlive(state, id) && CopyOnNode(r, id) == nullptr)
              return true;
          }
          continue;  // no primary: no replica is placed
        }
        if (routing.copies_size() < 1 + index.number_of_replicas() &&
            !PickNode(state, index, r).empty())
          return true;
      }
    }
    return false;
  }

  void CheckNodes() {
    PruneHoldoffs();
    std::vector<std::string> reasons;
    const absl::Duration now = env->Now();
    // A coordinator that was itself stalled (paused, starved) has not been
    // listening: the nodes' silence is its own. Everyone gets a fresh timeout.
    const absl::Duration stalled = now - last_check;
    last_check = now;
    if (stalled > options.check_interval + options.heartbeat_timeout / 2) {
      Log(absl::StrCat(
          "no failure check for ",
          absl::FormatDuration(absl::Trunc(stalled, absl::Milliseconds(1))),
          " (this coordinator was stalled): every node gets a "
          "fresh heartbeat timeout"));
      for (auto& [id, peer] : peers) peer.last_seen = now;
    }
    // Most checks find every node on time and nothing to allocate: then the
    // state is not copied (the full pass below would change nothing).
    // How long a node has been silent (a node this coordinator never heard
    // of starts its count now).
    auto silent_for = [&](const std::string& id) {
      auto [it, inserted] = peers.try_emplace(id);
      if (inserted) it->second.last_seen = now;
      return now - it->second.last_seen;
    };
    bool any_dead = false;
    for (const pb::NodeInfo& node : cluster.nodes()) {
      bool holds_copies = CopiesOnNode(cluster, node.id()) > 0;
      if (!node.alive() && !holds_copies) {
        if (silent_for(node.id()) > options.dead_node_grace) {
          any_dead = true;  // to be forgotten
          break;
        }
        continue;
      }
      const Peer& peer = peers[node.id()];
      if (now - peer.last_seen > options.heartbeat_timeout ||
          (node.alive() && !peer.unreachable.empty())) {
        any_dead = true;
        break;
      }
    }
    if (!any_dead && !AllocationPending(cluster)) return;
    pb::ClusterState next = cluster;
    for (pb::NodeInfo& node : *next.mutable_nodes()) {
      bool holds_copies = CopiesOnNode(next, node.id()) > 0;
      if (!node.alive() && !holds_copies) continue;
      const Peer& peer = peers[node.id()];
      absl::Duration silent = now - peer.last_seen;
      const bool gone = node.alive() && !peer.unreachable.empty();
      if (silent <= options.heartbeat_timeout && !gone) continue;
      std::string why =
          silent > options.heartbeat_timeout
              ? absl::StrCat(node.id(), " missed heartbeats for ",
                             absl::FormatDuration(
                                 absl::Trunc(silent, absl::Milliseconds(1))),
                             ": dead")
              : absl::StrCat(node.id(), " ", peer.unreachable, ": dead");
      Log(why);
      node.set_alive(false);
      RemoveNodeCopies(&next, node.id(), absl::StrCat(node.id(), " is dead"));
      reasons.push_back(why);
    }
    // Dead nodes without copies, silent for longer than the grace period,
    // leave the state.
    auto* nodes = next.mutable_nodes();
    for (int i = 0; i < nodes->size();) {
      const pb::NodeInfo& node = nodes->Get(i);
      if (node.alive() || CopiesOnNode(next, node.id()) > 0 ||
          silent_for(node.id()) <= options.dead_node_grace) {
        ++i;
        continue;
      }
      std::string why =
          absl::StrCat(node.id(),
                       " left the cluster: dead with no shard copies for more "
                       "than ",
                       absl::FormatDuration(options.dead_node_grace));
      Log(why);
      reasons.push_back(why);
      peers.erase(node.id());
      nodes->erase(nodes->begin() + i);
    }
    Allocate(&next);
    if (SameContent(&next)) return;
    if (reasons.empty()) reasons.push_back("allocation");
    absl::Status committed =
        Commit(std::move(next), absl::StrJoin(reasons, "; "));
    (void)committed;  // logged by Commit; retried on the next check
  }

  // ---- requests
  // ---------------------------------------------------------------------------

  pb::Envelope Reply() {
    pb::Envelope reply;
    reply.set_from(kCoordinatorId);
    return reply;
  }

  pb::Envelope HandleJoin(const pb::JoinRequest& join,
                          const std::string& from) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_join_response();
    const std::string& id = join.node().id();
    // A node joins as itself: a join naming another node (an invented one, or
    // a real one whose place it would take) changes nothing (issue 13).
    if (!id.empty() && from != id) {
      *response->mutable_error() = ToError(EsStatus(
          absl::StatusCode::kFailedPrecondition, "illegal_state_exception",
          absl::StrCat("join of node [", id,
                       "] refused: it comes from another sender"),
          409));
      reply.set_refused(
          static_cast<int>(absl::StatusCode::kFailedPrecondition));
      return reply;
    }
    if (id.empty()) {
      *response->mutable_error() =
          ToError(IllegalArgument("join without a node id"));
      return reply;
    }
    if (absl::Status valid = ValidateNodeId(id); !valid.ok()) {
      *response->mutable_error() = ToError(IllegalArgument(valid.message()));
      return reply;
    }
    if (!join.node().grpc_address().empty()) {
      env->SetPeerAddress(id, join.node().grpc_address());
    }
    // What the node holds is logged as information only: allocation decides.
    std::vector<std::string> held;
    for (const pb::LocalShardInfo& info : join.shards()) {
      held.push_back(absl::StrCat(
          ShardName(info.shard().index(), info.shard().shard()), " (term ",
          info.primary_term(), ", max_seq_no ", info.max_seq_no(),
          ", local checkpoint ", info.local_checkpoint(), ")"));
    }
    const std::string holding =
        held.empty() ? " holding no copies"
                     : absl::StrCat(" holding ", absl::StrJoin(held, ", "));
    pb::ClusterState next = cluster;
    pb::NodeInfo* node = FindNodeInfo(&next, id);
    std::string why;
    if (node == nullptr) {
      pb::NodeInfo added = join.node();
      added.set_alive(true);
      auto* nodes = next.mutable_nodes();
      nodes->Add(std::move(added));
      std::sort(nodes->begin(), nodes->end(),
                [](const pb::NodeInfo& a, const pb::NodeInfo& b) {
                  return a.id() < b.id();
                });
      why = absl::StrCat(id, " joined");
    } else {
      // A node that restarted may have lost unsynced operations: its copies
      // leave the in-sync set or move to a new term. A node that only lost
      // touch (reconnect) keeps them as they are.
      if (!join.reconnect()) RestartNodeCopies(&next, id);
      node->set_grpc_address(join.node().grpc_address());
      node->set_rest_address(join.node().rest_address());
      node->set_alive(true);
      why = absl::StrCat(
          id, join.reconnect() ? " reconnected" : " rejoined after a restart");
    }
    Log(absl::StrCat(why, holding));
    Peer& peer = peers[id];
    peer.last_seen = env->Now();
    peer.unreachable.clear();
    peer.applied_version = 0;
    Allocate(&next);
    if (!SameContent(&next)) {
      absl::Status committed = Commit(std::move(next), why);
      if (!committed.ok()) {
        *response->mutable_error() = ToError(committed);
        return reply;
      }
    }
    *response->mutable_state() = cluster;
    return reply;
  }

  pb::Envelope HandleHeartbeat(const pb::HeartbeatRequest& heartbeat,
                               const std::string& from) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_heartbeat_response();
    // A node beats for itself: a heartbeat naming another node would keep a
    // dead node "alive" (issue 13).
    if (!heartbeat.node_id().empty() && heartbeat.node_id() != from) {
      *response->mutable_error() = ToError(EsStatus(
          absl::StatusCode::kFailedPrecondition, "illegal_state_exception",
          absl::StrCat("heartbeat of node [", heartbeat.node_id(),
                       "] refused: it comes from another sender"),
          409));
      reply.set_refused(
          static_cast<int>(absl::StatusCode::kFailedPrecondition));
      return reply;
    }
    const std::string id =
        heartbeat.node_id().empty() ? from : heartbeat.node_id();
    pb::NodeInfo* known = FindNodeInfo(&cluster, id);
    if (known == nullptr) {
      response->set_rejoin(true);
      response->set_state_version(cluster.version());
      return reply;
    }
    Peer& peer = peers[id];
    peer.last_seen = env->Now();
    peer.unreachable.clear();
    peer.applied_version = heartbeat.state_version();
    if (!known->alive()) {
      // Back after being declared dead, or after this coordinator restarted.
      pb::ClusterState next = cluster;
      FindNodeInfo(&next, id)->set_alive(true);
      Allocate(&next);
      absl::Status committed = Commit(
          std::move(next), absl::StrCat(id, " is alive again (heartbeat)"));
      if (!committed.ok()) *response->mutable_error() = ToError(committed);
    } else if (heartbeat.state_version() < cluster.version()) {
      PublishTo(id);  // no-op when a publication is in flight
    }
    response->set_state_version(cluster.version());
    return reply;
  }

  absl::Status FindShard(const pb::ShardRef& ref, pb::ClusterState* state,
                         pb::IndexMeta** index, pb::ShardRouting** routing) {
    *index = FindIndexByName(state, ref.index());
    if (*index == nullptr) return IndexNotFound(ref.index());
    for (pb::ShardRouting& r : *(*index)->mutable_shards()) {
      if (r.shard() == ref.shard()) {
        *routing = &r;
        return absl::OkStatus();
      }
    }
    return EsStatus(
        absl::StatusCode::kNotFound, "shard_not_found_exception",
        absl::StrCat("no such shard ", ShardName(ref.index(), ref.shard())),
        404);
  }

  absl::Status CheckTerm(const pb::ShardRouting& routing,
                         const pb::ShardRef& ref, int64_t term) {
    if (term == routing.primary_term()) return absl::OkStatus();
    return EsStatus(absl::StatusCode::kFailedPrecondition,
                    "no_longer_primary_shard_exception",
                    absl::StrCat(ShardName(ref.index(), ref.shard()),
                                 " no longer primary: primary term [", term,
                                 "] did not match current primary term [",
                                 routing.primary_term(), "]"),
                    409);
  }

  // The shard a shard-failed or shard-started report names, found in `next`,
  // when the report's term is current. Otherwise fills in `response`'s error
  // (and state version), logs "refuse <what> on <shard><from>: ..." and
  // returns false.
  template <typename Response>
  bool FindCurrentShard(const pb::ShardRef& ref, int64_t term,
                        const std::string& what, const std::string& from,
                        pb::ClusterState* next, pb::IndexMeta** index,
                        pb::ShardRouting** routing, Response* response) {
    absl::Status found = FindShard(ref, next, index, routing);
    if (!found.ok()) {
      *response->mutable_error() = ToError(found, ref.index(), "_na_");
      return false;
    }
    absl::Status current = CheckTerm(**routing, ref, term);
    if (current.ok()) return true;
    Log(absl::StrCat("refuse ", what, " on ",
                     ShardName((*index)->name(), (*routing)->shard()), from,
                     ": term ", term, " is stale (current ",
                     (*routing)->primary_term(), ")"));
    *response->mutable_error() = ToError(current, (*index)->name(),
                                         (*index)->uuid(), (*routing)->shard());
    response->set_state_version(cluster.version());
    return false;
  }

  pb::Envelope HandleShardFailed(const pb::ShardFailedRequest& request) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_shard_failed_response();
    pb::ClusterState next = cluster;
    pb::IndexMeta* index = nullptr;
    pb::ShardRouting* routing = nullptr;
    if (!FindCurrentShard(
            request.shard(), request.primary_term(),
            absl::StrCat("shard-failed for ", request.failed_node()),
            absl::StrCat(" from ", request.sender()), &next, &index, &routing,
            response)) {
      return reply;
    }
    const std::string shard = ShardName(index->name(), routing->shard());
    if (CopyOnNode(routing, request.failed_node()) == nullptr) {
      response->set_acknowledged(true);  // already removed
      response->set_state_version(cluster.version());
      return reply;
    }
    std::string why =
        absl::StrCat("shard failed: ", request.failed_node(), "'s copy of ",
                     shard, " reported by ", request.sender(), " in term ",
                     request.primary_term(), ": ", request.reason());
    RemoveCopy(&next, *index, routing, request.failed_node(), why);
    Allocate(&next);
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = ToError(committed);
      return reply;
    }
    response->set_acknowledged(true);
    response->set_state_version(cluster.version());
    return reply;
  }

  pb::Envelope HandleShardStarted(const pb::ShardStartedRequest& request) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_shard_started_response();
    pb::ClusterState next = cluster;
    pb::IndexMeta* index = nullptr;
    pb::ShardRouting* routing = nullptr;
    if (!FindCurrentShard(request.shard(), request.primary_term(),
                          absl::StrCat("shard-started for ", request.node_id()),
                          "", &next, &index, &routing, response)) {
      return reply;
    }
    const std::string shard = ShardName(index->name(), routing->shard());
    pb::ShardCopy* copy = CopyOnNode(routing, request.node_id());
    if (copy == nullptr) {
      *response->mutable_error() =
          ToError(EsStatus(absl::StatusCode::kFailedPrecondition,
                           "shard_not_found_exception",
                           absl::StrCat("no copy of ", shard,
                                        " is assigned to ", request.node_id()),
                           409),
                  index->name(), index->uuid(), routing->shard());
      response->set_state_version(cluster.version());
      return reply;
    }
    // A shard-started of an earlier assignment (the copy failed and was
    // assigned again meanwhile, so it has not recovered since): refused.
    if (!copy->allocation_id().empty() &&
        request.allocation_id() != copy->allocation_id()) {
      Log(absl::StrCat("refuse shard-started for ", request.node_id(), " on ",
                       shard, ": allocation [", request.allocation_id(),
                       "] is not its current allocation [",
                       copy->allocation_id(), "]"));
      *response->mutable_error() = ToError(
          EsStatus(
              absl::StatusCode::kFailedPrecondition,
              "shard_not_found_exception",
              absl::StrCat("no copy of ", shard, " with allocation [",
                           request.allocation_id(), "] on ", request.node_id()),
              409),
          index->name(), index->uuid(), routing->shard());
      response->set_state_version(cluster.version());
      return reply;
    }
    if (IsStartedInSync(*routing, *copy)) {
      response->set_acknowledged(true);  // already started
      response->set_state_version(cluster.version());
      return reply;
    }
    copy->set_state(pb::ShardCopy::STARTED);
    if (!InInSyncSet(*routing, request.node_id())) {
      routing->add_in_sync(request.node_id());
    }
    std::string why = absl::StrCat(
        request.node_id(), "'s copy of ", shard,
        " recovered to local checkpoint ", request.local_checkpoint(),
        ": started and in sync (term ", request.primary_term(), ")");
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = ToError(committed);
      return reply;
    }
    response->set_acknowledged(true);
    response->set_state_version(cluster.version());
    return reply;
  }

  pb::Envelope HandleCreateIndex(const pb::CreateIndexRequest& request) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_create_index_response();
    const std::string& name = request.index();
    response->set_index(name);
    // Elasticsearch's rules (common/index_name.h). The forbidden-character
    // list keeps its Elasticsearch 7 wording here, which the coordinator's
    // tests pin; the REST layer, which validates first, prints ES 8's.
    absl::Status valid =
        ValidateIndexName(name, CharacterListWording::kElasticsearch7);
    if (!valid.ok()) {
      *response->mutable_error() = IndexError(valid, name, "");
      return reply;
    }
    for (const pb::IndexMeta& index : cluster.indices()) {
      if (std::find(index.aliases().begin(), index.aliases().end(), name) !=
          index.aliases().end()) {
        *response->mutable_error() =
            IndexError(EsStatus(absl::StatusCode::kInvalidArgument,
                                "invalid_index_name_exception",
                                absl::StrCat("Invalid index name [", name,
                                             "], already exists as alias")),
                       name, "");
        return reply;
      }
    }
    if (pb::IndexMeta* existing = FindIndexByName(&cluster, name)) {
      if (request.auto_created()) {
        response->set_acknowledged(true);
        response->set_shards_acknowledged(true);
        return reply;
      }
      *response->mutable_error() = IndexError(
          EsStatus(absl::StatusCode::kAlreadyExists,
                   "resource_already_exists_exception",
                   absl::StrCat("index [", name, "/", existing->uuid(),
                                "] already exists"),
                   400),
          name, existing->uuid());
      return reply;
    }
    int shards =
        request.number_of_shards() == 0 ? 1 : request.number_of_shards();
    int replicas =
        request.number_of_replicas() == -1 ? 1 : request.number_of_replicas();
    if (shards < 1 || shards > kMaxShards) {
      *response->mutable_error() =
          IndexError(IllegalArgument(absl::StrCat(
                         "Failed to parse value [", shards,
                         "] for setting [index.number_of_shards] must be ",
                         shards < 1 ? ">= 1" : "<= 1024")),
                     name, "");
      return reply;
    }
    if (replicas < 0) {
      *response->mutable_error() =
          IndexError(IllegalArgument(absl::StrCat(
                         "Failed to parse value [", replicas,
                         "] for setting [index.number_of_replicas] must be "
                         ">= 0")),
                     name, "");
      return reply;
    }
    if (absl::Status limit = CheckShardLimit(cluster, shards, replicas);
        !limit.ok()) {
      *response->mutable_error() = IndexError(limit, name, "");
      return reply;
    }
    pb::ClusterState next = cluster;
    pb::IndexMeta* index = next.add_indices();
    index->set_name(name);
    index->set_uuid(NewUuid(env));
    index->set_number_of_shards(shards);
    index->set_number_of_replicas(replicas);
    index->set_refresh_interval_ms(request.refresh_interval_ms());
    index->set_creation_date_ms(env->WallMillis());
    for (int i = 0; i < shards; ++i) index->add_shards()->set_shard(i);
    std::string why =
        absl::StrCat("create index [", name, "/", index->uuid(), "] with ",
                     shards, " shard(s) and ", replicas, " replica(s)",
                     request.auto_created() ? " (auto-created)" : "");
    Log(why);
    Allocate(&next);
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = IndexError(committed, name, "");
      return reply;
    }
    bool primaries_started = true;
    for (const pb::ShardRouting& routing :
         FindIndexByName(&cluster, name)->shards()) {
      bool started = false;
      for (const pb::ShardCopy& copy : routing.copies()) {
        if (copy.primary() && copy.state() == pb::ShardCopy::STARTED)
          started = true;
      }
      primaries_started = primaries_started && started;
    }
    response->set_acknowledged(true);
    response->set_shards_acknowledged(primaries_started);
    return reply;
  }

  // POST /_aliases: every action applies, in order, or none does (as
  // Elasticsearch's MetadataIndexAliasesService).
  pb::Envelope HandleAliasUpdate(const pb::DeleteIndexRequest& request) {
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_delete_index_response();
    pb::ClusterState next = cluster;
    std::vector<std::string> changes;
    for (const pb::AliasAction& action : request.alias_actions()) {
      pb::IndexMeta* index = FindIndexByName(&next, action.index());
      if (index == nullptr) {
        *response->mutable_error() =
            IndexError(IndexNotFound(action.index()), action.index(), "");
        return reply;
      }
      auto* aliases = index->mutable_aliases();
      auto at = std::find(aliases->begin(), aliases->end(), action.alias());
      if (action.remove()) {
        if (at == aliases->end()) {
          *response->mutable_error() = ToError(EsStatus(
              absl::StatusCode::kNotFound, "aliases_not_found_exception",
              absl::StrCat("aliases [", action.alias(), "] missing")));
          return reply;
        }
        aliases->erase(at);
        changes.push_back(absl::StrCat("remove alias [", action.alias(),
                                       "] from [", action.index(), "]"));
        continue;
      }
      if (FindIndexByName(&next, action.alias()) != nullptr) {
        *response->mutable_error() = IndexError(
            EsStatus(absl::StatusCode::kInvalidArgument,
                     "invalid_alias_name_exception",
                     absl::StrCat("Invalid alias name [", action.alias(),
                                  "]: an index or data stream exists with the "
                                  "same name as the alias")),
            index->name(), index->uuid());
        return reply;
      }
      if (at == aliases->end()) {
        *aliases->Add() = action.alias();
        std::sort(aliases->begin(), aliases->end());
      }
      changes.push_back(absl::StrCat("add alias [", action.alias(), "] to [",
                                     action.index(), "]"));
    }
    const std::string why = absl::StrJoin(changes, ", ");
    Log(why);
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = ToError(committed);
      return reply;
    }
    response->set_acknowledged(true);
    return reply;
  }

  pb::Envelope HandleDeleteIndex(const pb::DeleteIndexRequest& request) {
    if (request.index() == kAliasUpdateIndex) return HandleAliasUpdate(request);
    pb::Envelope reply = Reply();
    auto* response = reply.mutable_delete_index_response();
    const std::string& name = request.index();
    pb::ClusterState next = cluster;
    auto* indices = next.mutable_indices();
    auto it =
        std::find_if(indices->begin(), indices->end(),
                     [&](const pb::IndexMeta& i) { return i.name() == name; });
    if (it == indices->end()) {
      *response->mutable_error() = IndexError(IndexNotFound(name), name, "");
      return reply;
    }
    std::string why =
        absl::StrCat("delete index [", name, "/", it->uuid(), "]");
    indices->erase(it);
    absl::Status committed = Commit(std::move(next), why);
    if (!committed.ok()) {
      *response->mutable_error() = ToError(committed);
      return reply;
    }
    PruneHoldoffs();
    response->set_acknowledged(true);
    return reply;
  }

  // The right kind of response for `request`, carrying `error`.
  pb::Envelope ErrorReply(const pb::Envelope& request, const pb::Error& error) {
    pb::Envelope reply = Reply();
    switch (request.body_case()) {
      case pb::Envelope::kJoin:
        *reply.mutable_join_response()->mutable_error() = error;
        break;
      case pb::Envelope::kHeartbeat:
        *reply.mutable_heartbeat_response()->mutable_error() = error;
        break;
      case pb::Envelope::kShardFailed:
        *reply.mutable_shard_failed_response()->mutable_error() = error;
        break;
      case pb::Envelope::kShardStarted:
        *reply.mutable_shard_started_response()->mutable_error() = error;
        break;
      case pb::Envelope::kCreateIndex:
        *reply.mutable_create_index_response()->mutable_error() = error;
        break;
      case pb::Envelope::kDeleteIndex:
        *reply.mutable_delete_index_response()->mutable_error() = error;
        break;
      case pb::Envelope::kGetClusterState:
        reply.mutable_get_cluster_state_response();
        break;
      default:
        break;
    }
    return reply;
  }

  // ---- start
  // ------------------------------------------------------------------------------

  absl::Status Load() {
    absl::StatusOr<std::string> bytes =
        env->disk()->ReadFile(options.state_path);
    if (absl::IsNotFound(bytes.status())) {
      pb::ClusterState fresh;
      fresh.set_cluster_name(options.cluster_name);
      fresh.set_cluster_uuid(
          options.cluster_uuid.empty() ? NewUuid(env) : options.cluster_uuid);
      Log(absl::StrCat("no cluster state at [", options.state_path,
                       "]: new cluster [", options.cluster_name, "] uuid [",
                       fresh.cluster_uuid(), "]"));
      return Commit(std::move(fresh), "new cluster");
    }
    if (!bytes.ok()) {
      return absl::Status(
          bytes.status().code(),
          absl::StrCat("cannot read the cluster state file [",
                       options.state_path, "]: ", bytes.status().message()));
    }
    pb::ClusterState loaded;
    if (!loaded.ParseFromString(*bytes) || loaded.cluster_uuid().empty() ||
        loaded.version() < 1) {
      return absl::DataLossError(
          absl::StrCat("the cluster state file [", options.state_path,
                       "] is corrupt (", bytes->size(),
                       " bytes that are not a cluster state); refusing to "
                       "start: restore it or wipe "
                       "the coordinator's data directory"));
    }
    if (!options.cluster_uuid.empty() &&
        loaded.cluster_uuid() != options.cluster_uuid) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the cluster state file [", options.state_path,
          "] belongs to cluster [", loaded.cluster_uuid(),
          "] but the cluster identity names cluster [", options.cluster_uuid,
          "]; refusing to start: use that cluster's identity or wipe the "
          "coordinator's data directory"));
    }
    if (absl::Status valid = ValidateClusterState(loaded); !valid.ok()) {
      return absl::DataLossError(absl::StrCat(
          "the cluster state file [", options.state_path,
          "] holds an invalid cluster state (", valid.message(),
          "); refusing to start: restore it or wipe the coordinator's data "
          "directory"));
    }
    cluster = loaded;
    if (loaded.cluster_name() != options.cluster_name) {
      Log(absl::StrCat("stored cluster name [", loaded.cluster_name(),
                       "] differs from the configured [", options.cluster_name,
                       "]: using the configured one"));
      loaded.set_cluster_name(options.cluster_name);
    }
    const absl::Duration now = env->Now();
    for (pb::NodeInfo& node : *loaded.mutable_nodes()) {
      node.set_alive(false);  // until it heartbeats or joins again
      if (!node.grpc_address().empty()) {
        env->SetPeerAddress(node.id(), node.grpc_address());
      }
      peers[node.id()].last_seen =
          now;  // it has heartbeat_timeout to come back
    }
    return Commit(
        std::move(loaded),
        absl::StrCat("restarted from persisted version ", cluster.version(),
                     " of cluster [", cluster.cluster_uuid(),
                     "]: terms and in-sync sets kept; every node is not alive "
                     "until it heartbeats or joins"));
  }
};

Coordinator::Coordinator(Env* env, CoordinatorOptions options)
    : state_(std::make_unique<State>(env, std::move(options))) {}

Coordinator::~Coordinator() {
  if (state_->check_scheduled) state_->env->Cancel(state_->check_timer);
  for (auto& [id, peer] : state_->peers) {
    if (peer.retry_scheduled) state_->env->Cancel(peer.retry_timer);
  }
}

void Coordinator::NodeUnreachable(const std::string& node_id,
                                  absl::Duration observed_at,
                                  const std::string& reason) {
  State& s = *state_;
  if (!s.start_status.ok()) return;
  const pb::NodeInfo* node = FindNodeInfo(s.cluster, node_id);
  if (node == nullptr || !node->alive()) return;
  State::Peer& peer = s.peers[node_id];
  if (peer.last_seen > observed_at) return;  // heard from since: back
  peer.unreachable = reason.empty() ? "is unreachable" : reason;
  s.CheckNodes();
}

void Coordinator::Start() {
  State& s = *state_;
  s.start_status = s.Load();
  if (!s.start_status.ok()) {
    s.Log(absl::StrCat("cannot start: ", s.start_status.ToString()));
    return;
  }
  s.last_check = s.env->Now();
  s.ScheduleCheck();
}

void Coordinator::Handle(const pb::Envelope& request, RespondFn respond) {
  State& s = *state_;
  if (!s.start_status.ok()) {
    respond(s.ErrorReply(
        request, ToError(EsStatus(absl::StatusCode::kInternal, "exception",
                                  absl::StrCat("coordinator failed to start: ",
                                               s.start_status.message()),
                                  500))));
    return;
  }
  switch (request.body_case()) {
    case pb::Envelope::kJoin:
      respond(s.HandleJoin(request.join(), request.from()));
      return;
    case pb::Envelope::kHeartbeat:
      respond(s.HandleHeartbeat(request.heartbeat(), request.from()));
      return;
    case pb::Envelope::kShardFailed:
      respond(s.HandleShardFailed(request.shard_failed()));
      return;
    case pb::Envelope::kShardStarted:
      respond(s.HandleShardStarted(request.shard_started()));
      return;
    case pb::Envelope::kCreateIndex:
      respond(s.HandleCreateIndex(request.create_index()));
      return;
    case pb::Envelope::kDeleteIndex:
      respond(s.HandleDeleteIndex(request.delete_index()));
      return;
    case pb::Envelope::kGetClusterState: {
      pb::Envelope reply = s.Reply();
      *reply.mutable_get_cluster_state_response()->mutable_state() = s.cluster;
      respond(std::move(reply));
      return;
    }
    default: {
      s.Log(absl::StrCat(
          "ignore a request the coordinator does not serve (body ",
          static_cast<int>(request.body_case()), ") from ", request.from()));
      respond(s.Reply());
      return;
    }
  }
}

// Every change is persisted and published as it is made; nothing waits for a
// flush.
void Coordinator::Flush() {}

const pb::ClusterState& Coordinator::state() const { return state_->cluster; }

absl::Status Coordinator::start_status() const { return state_->start_status; }

}  // namespace seqsim
