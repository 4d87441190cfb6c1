// Node::State: recovery (R9), the side of the copy that recovers. Asks the
// primary to recover it above its local checkpoint (start_recovery, tried again
// until an attempt succeeds), and installs the full snapshot or applies the
// operations the primary sends, each fenced first (R4); the primary reports the
// copy started once it is in sync.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::MaybeStartRecovery(LocalCopy* copy) {
  if (copy->role != Role::kRecovering) return;
  const pb::IndexMeta* index = FindIndexByUuid(copy->key.first);
  const pb::ShardRouting* routing =
      index ? FindRouting(*index, copy->key.second) : nullptr;
  const pb::ShardCopy* primary = routing ? PrimaryCopy(*routing) : nullptr;
  if (primary == nullptr || primary->state() != pb::ShardCopy::STARTED ||
      primary->node_id() == me()) {
    return;  // the next cluster state retries
  }
  // A running recovery from the current primary goes on; one from a former
  // primary is abandoned (its reply will be ignored). One that succeeded
  // stands: the copy waits for the cluster state that starts it.
  if (copy->recovery_running && copy->recovery_source == primary->node_id() &&
      copy->engine->term() >= routing->primary_term()) {
    return;
  }
  const pb::ShardCopy* mine = nullptr;
  for (const pb::ShardCopy& c : routing->copies()) {
    if (c.node_id() == me()) mine = &c;
  }
  if (mine != nullptr && copy->recovered_term == routing->primary_term() &&
      copy->recovered_from == primary->node_id() &&
      copy->recovered_allocation == mine->allocation_id()) {
    return;
  }
  ShardEngine& engine = *copy->engine;
  engine.AdvanceTerm(routing->primary_term());
  // Operations above the global checkpoint from older terms may never have
  // been acknowledged and may differ from the primary's history: drop them,
  // the primary sends what it has.
  if (engine.max_seq_no() > engine.global_checkpoint()) {
    absl::Status trimmed =
        engine.TrimOperationsAbove(engine.global_checkpoint(), engine.term());
    if (!trimmed.ok()) {
      Log(absl::StrCat(me(), " cannot trim ", Name(*copy), ": ",
                       trimmed.ToString()));
    }
  }
  copy->recovery_running = true;
  copy->recovery_source = primary->node_id();
  const uint64_t attempt = ++copy->recovery_attempt;
  const std::string primary_node = primary->node_id();
  pb::Envelope envelope;
  pb::StartRecoveryRequest* start = envelope.mutable_start_recovery();
  start->mutable_shard()->set_index(copy->index);
  start->mutable_shard()->set_shard(copy->key.second);
  start->set_target_node(me());
  start->set_local_checkpoint(engine.local_checkpoint());
  start->set_target_term(engine.term());
  if (mine != nullptr) start->set_allocation_id(mine->allocation_id());
  Log(absl::StrCat(me(), " asks ", primary_node, " to recover ", Name(*copy),
                   " above local checkpoint ", engine.local_checkpoint()));
  const CopyKey key = copy->key;
  const uint64_t incarnation = copy->incarnation;
  const std::string allocation = start->allocation_id();
  Send(
      primary_node, std::move(envelope),
      [this, key, incarnation, attempt, primary_node,
       recovery_term = engine.term(),
       allocation](const absl::StatusOr<pb::Envelope>& reply) {
        LocalCopy* copy = FindCopy(key, incarnation);
        if (copy == nullptr || copy->recovery_attempt != attempt) return;
        copy->recovery_running = false;
        if (reply.ok() && reply->has_start_recovery_response() &&
            !HasError(reply->start_recovery_response().error())) {
          const pb::StartRecoveryResponse& response =
              reply->start_recovery_response();
          Log(absl::StrCat(me(), " recovered ", Name(*copy), " from ",
                           primary_node, " (", response.mode(), ": ",
                           response.ops_sent(), " ops, ",
                           response.docs_copied(), " docs copied)"));
          copy->recovered_allocation = allocation;
          copy->recovered_from = primary_node;
          copy->recovered_term = recovery_term;
          return;  // the coordinator marks the copy STARTED
        }
        std::string why =
            !reply.ok() ? reply.status().ToString(
                              absl::StatusToStringMode::kWithNoExtraData)
            : reply->has_start_recovery_response()
                ? reply->start_recovery_response().error().reason()
                : "unexpected reply";
        Log(absl::StrCat(me(), " recovery of ", Name(*copy), " failed: ", why,
                         "; retries"));
        // Only this attempt's retry: a newer attempt (started meanwhile by
        // a cluster state) schedules its own if it fails.
        After(RetryDelay(), [this, key, incarnation, attempt]() {
          LocalCopy* copy = FindCopy(key, incarnation);
          if (copy != nullptr && copy->recovery_attempt == attempt)
            MaybeStartRecovery(copy);
        });
      },
      options.write_timeout);
}

void Node::State::HandleRecoverySnapshot(const pb::Envelope& envelope,
                                         RespondFn respond) {
  const pb::RecoverySnapshotRequest& request = envelope.recovery_snapshot();
  LocalCopy* copy = FindAndFence(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      FromPrimary::kRecoverySnapshot, envelope.from(), respond);
  if (copy == nullptr) return;
  // Only the recovery this copy is running installs a snapshot, once: a
  // delayed or duplicated one, or one of a recovery started by a repeated
  // start_recovery after this copy caught up, would roll back a copy that
  // may already count as in sync. It is answered as if installed, with the
  // checkpoints the copy holds: the primary goes on from there.
  // One start_recovery asks for one snapshot: a second one in the same
  // attempt comes from a duplicated start_recovery.
  if (copy->role != Role::kRecovering || !copy->recovery_running ||
      copy->recovery_source != envelope.from() ||
      copy->installed_snapshot_attempt == copy->recovery_attempt) {
    Log(absl::StrCat(me(), " keeps its copy of ", Name(*copy),
                     " instead of a recovery snapshot from ", envelope.from(),
                     " that its running recovery does not expect (local "
                     "checkpoint ",
                     copy->engine->local_checkpoint(), ")"));
    ReplyAfterDurable(copy, std::move(respond));
    return;
  }
  copy->installed_snapshot_attempt = copy->recovery_attempt;
  std::vector<pb::Operation> docs(request.docs().begin(), request.docs().end());
  absl::Status installed = copy->engine->InstallSnapshot(
      docs, request.max_seq_no(), request.local_checkpoint(),
      request.global_checkpoint(), request.primary_term());
  if (!installed.ok()) {
    RespondReplicaError(copy, installed, respond);
    return;
  }
  Log(absl::StrCat(me(), " installs a snapshot of ", Name(*copy), " from ",
                   envelope.from(), ": documents at global checkpoint ",
                   request.local_checkpoint(), " and ",
                   copy->engine->retained_ops(),
                   " operations above it; max_seq_no ", request.max_seq_no(),
                   ", local checkpoint ", copy->engine->local_checkpoint()));
  ReplyAfterDurable(copy, std::move(respond));
}

void Node::State::HandleRecoveryOps(const pb::Envelope& envelope,
                                    RespondFn respond) {
  const pb::RecoveryOpsRequest& request = envelope.recovery_ops();
  LocalCopy* copy = FenceAndApply(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      request.ops(), FromPrimary::kRecoveryOps, envelope.from(), respond);
  if (copy == nullptr) return;
  copy->engine->UpdateGlobalCheckpoint(request.global_checkpoint());
  // The last step: searchable as soon as started, as Elasticsearch refreshes
  // a shard at the end of its recovery (whatever reached it meanwhile, by
  // recovery batches or live writes; a _refresh skips recovering copies).
  if (request.finalize()) RefreshCopy(copy);
  ReplyAfterDurable(copy, std::move(respond));
}

}  // namespace seqsim
