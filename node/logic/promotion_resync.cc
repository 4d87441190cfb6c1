// Node::State: promotion and resync (R7). A copy that becomes primary takes the
// new term, fills the gaps below its max_seq_no with no-ops, and resyncs every
// operation above the global checkpoint to the other copies (which trim what
// the new primary does not hold); a copy applies a resync after fencing it
// (R4).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/env.h"
#include "node/engine/replication_tracker.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::BecomePrimary(LocalCopy* copy,
                                const pb::ShardRouting& routing) {
  ShardEngine& engine = *copy->engine;
  const PrimaryTerm old_term = engine.term();
  const bool was_replica =
      copy->role == Role::kReplica || copy->role == Role::kRecovering;
  if (!copy->inflight.empty()) {
    FailInFlight(copy, absl::StrCat(Name(*copy), " primary term [", old_term,
                                    "] was superseded"));
  }
  engine.AdvanceTerm(routing.primary_term());
  copy->role = Role::kPrimary;
  copy->stale = false;
  copy->reporting.clear();
  copy->pending_in_sync.clear();
  copy->in_sync_nodes = {routing.in_sync().begin(), routing.in_sync().end()};
  copy->in_sync_nodes.insert(me());
  copy->tracker = std::make_unique<ReplicationTracker>(me());
  copy->tracker->SetInSync(copy->in_sync_nodes);
  copy->tracker->UpdateLocalCheckpoint(me(), engine.local_checkpoint());
  copy->last_synced_gcp = kUnassignedSeqNo;
  copy->assigned_term = routing.primary_term();

  const bool promotion =
      was_replica ||
      (old_term != kUnassignedTerm && routing.primary_term() > old_term) ||
      engine.max_seq_no() >= 0;
  if (!promotion) {
    engine.SetRetainedSeqNo(
        copy->tracker->RenewLeases(env->Now(), options.retention_lease_period));
    Log(absl::StrCat(me(), " is primary of ", Name(*copy), " term ",
                     engine.term()));
    return;
  }
  // R7: fill gaps with no-ops, then resync everything above the global
  // checkpoint.
  absl::StatusOr<std::vector<pb::Operation>> noops = engine.FillGapsWithNoOps();
  size_t filled = noops.ok() ? noops->size() : 0;
  copy->tracker->UpdateLocalCheckpoint(me(), engine.local_checkpoint());
  const SeqNo gcp = engine.global_checkpoint();
  const SeqNo trim_above = engine.max_seq_no();
  // The former primary's leases were not replicated here: stand in for
  // them (the former primary's own copy first: it comes back trimmed to its
  // global checkpoint, at or above this one) for one lease period.
  copy->tracker->AddLease("inherited at promotion", gcp + 1, env->Now());
  // A replica retained only what is above its global checkpoint; from now
  // on the leases decide.
  engine.SetRetainedSeqNo(
      copy->tracker->RenewLeases(env->Now(), options.retention_lease_period));
  absl::StatusOr<std::vector<pb::Operation>> ops = engine.OperationsAbove(gcp);
  if (!ops.ok()) {
    Log(absl::StrCat(me(), " cannot read operations above gcp ", gcp, " of ",
                     Name(*copy), ": ", ops.status().ToString()));
    ops = std::vector<pb::Operation>{};
  }
  std::vector<std::string> targets = copy->tracker->InSyncReplicas();
  Log(LogMark::kPromoted,
      absl::StrCat(me(), " promoted to primary of ", Name(*copy), " term ",
                   engine.term(), ": filled ", filled,
                   " gaps with no-ops, resync ", ops->size(), " ops above gcp ",
                   gcp, ", trim above ", trim_above, " to [",
                   absl::StrJoin(targets, ","), "]"));
  if (options.unsafe.no_resync) {
    Log(absl::StrCat(me(), " skips the resync of ", Name(*copy),
                     " (unsafe no_resync)"));
    return;
  }
  for (const std::string& target : targets) {
    SendResync(copy, target, *ops, gcp, trim_above);
  }
}

void Node::State::SendResync(LocalCopy* copy, const std::string& target,
                             const std::vector<pb::Operation>& ops, SeqNo gcp,
                             SeqNo trim_above) {
  pb::Envelope envelope;
  pb::ResyncRequest* resync = envelope.mutable_resync();
  resync->mutable_shard()->set_index(copy->index);
  resync->mutable_shard()->set_shard(copy->key.second);
  resync->set_primary_term(copy->engine->term());
  resync->set_global_checkpoint(gcp);
  resync->set_trim_above_seq_no(trim_above);
  resync->set_primary_node(me());
  for (const auto& op : ops) *resync->add_ops() = op;
  const CopyKey key = copy->key;
  const uint64_t incarnation = copy->incarnation;
  const PrimaryTerm term = copy->engine->term();
  Send(
      target, std::move(envelope),
      [this, key, incarnation, target,
       term](const absl::StatusOr<pb::Envelope>& reply) {
        OnReplicaReply(incarnation, target, 0, term, reply);
      },
      options.rpc_timeout);
}

void Node::State::HandleResync(const pb::Envelope& envelope,
                               RespondFn respond) {
  const pb::ResyncRequest& request = envelope.resync();
  LocalCopy* copy = FindAndFence(
      request.shard(), request.primary_term(), request.global_checkpoint(),
      FromPrimary::kResync, envelope.from(), respond);
  if (copy == nullptr) return;
  // Fence rolled this copy back to the global checkpoint when it adopted the
  // term; the resync carries the new primary's history above it.
  absl::Status applied;
  ApplyOps(copy, request.ops(), &applied);
  if (applied.ok()) {
    applied = copy->engine->TrimOperationsAbove(request.trim_above_seq_no(),
                                                request.primary_term());
  }
  if (!applied.ok()) {
    RespondReplicaError(copy, applied, respond);
    return;
  }
  copy->engine->UpdateGlobalCheckpoint(request.global_checkpoint());
  if (request.primary_term() >= copy->awaiting_resync_term) {
    copy->awaiting_resync_term = kUnassignedTerm;
  }
  Log(LogMark::kApplied,
      absl::StrCat(me(), " applies resync of ", Name(*copy), " from ",
                   envelope.from(), " (term ", request.primary_term(),
                   "): ", request.ops_size(),
                   " ops, trims ops of older terms above seq_no ",
                   request.trim_above_seq_no(), "; local checkpoint now ",
                   copy->engine->local_checkpoint()));
  ReplyAfterDurable(copy, std::move(respond));
}

}  // namespace seqsim
