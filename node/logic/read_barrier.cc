// Node::State: the read barrier. Before a primary answers a real-time GET, or
// an answer that changes nothing (R11), every in-sync replica confirms the
// primary's term with an empty replicate and the document's seq_no is at or
// below the global checkpoint; a replica that holds a newer term fences the
// primary (R8). Rounds of concurrent barriers share their replicates.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/es_error.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::ReadBarrier(uint64_t incarnation, PrimaryTerm term,
                              SeqNo needed, absl::Duration deadline,
                              BarrierDone done) {
  LocalCopy* copy = FindCopy(incarnation);
  if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
      copy->engine->term() != term) {
    done(absl::UnavailableError("the primary changed during the read"));
    return;
  }
  copy->tracker->UpdateLocalCheckpoint(me(), copy->engine->local_checkpoint());
  copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
  // The tracker's list: sending changes no replication group.
  const std::vector<std::string>& replicas = copy->tracker->in_sync_replicas();
  if (replicas.empty() && needed <= copy->engine->global_checkpoint()) {
    done(absl::OkStatus());
    return;
  }
  auto round = std::make_shared<ReadBarrierRound>();
  round->incarnation = incarnation;
  round->term = term;
  round->needed = needed;
  round->deadline = deadline;
  round->pending = static_cast<int>(replicas.size());
  round->done = std::move(done);
  if (options.batch_per_flush && !replicas.empty()) {
    // One round per copy and executor batch, started after every read of
    // the batch was taken (issue 15): sent by SendBatches().
    QueueReadBarrier(std::move(round));
    return;
  }
  if (replicas.empty()) {
    round->pending = 1;
    SettleReadBarrier(round);
    return;
  }
  for (const std::string& target : replicas) {
    pb::Envelope envelope;
    pb::ReplicateRequest* replicate = envelope.mutable_replicate();
    replicate->mutable_shard()->set_index(copy->index);
    replicate->mutable_shard()->set_shard(copy->key.second);
    replicate->set_primary_term(term);
    replicate->set_global_checkpoint(copy->engine->global_checkpoint());
    replicate->set_max_seq_no_of_updates_or_deletes(
        copy->engine->max_seq_no_of_updates_or_deletes());
    replicate->set_primary_node(me());
    Send(
        target, std::move(envelope),
        [this, target, round](const absl::StatusOr<pb::Envelope>& reply) {
          LocalCopy* copy = FindCopy(round->incarnation);
          const bool ok = reply.ok() && reply->has_replicate_response() &&
                          !HasError(reply->replicate_response().error());
          if (!ok) round->failed = true;
          if (copy != nullptr) {
            // Same bookkeeping as a replication reply: fencing on a newer
            // term, checkpoints on success, shard_failed on failure.
            OnReplicaReply(round->incarnation, target, 0, round->term, reply);
          }
          SettleReadBarrier(round);
        },
        options.rpc_timeout);
  }
}

void Node::State::QueueReadBarrier(std::shared_ptr<ReadBarrierRound> round) {
  for (PendingBarriers& p : pending_barriers) {
    if (p.incarnation == round->incarnation && p.term == round->term) {
      p.rounds.push_back(std::move(round));
      return;
    }
  }
  PendingBarriers& p = pending_barriers.emplace_back();
  p.incarnation = round->incarnation;
  p.term = round->term;
  p.rounds.push_back(std::move(round));
}

void Node::State::SendReadBarriers() {
  std::vector<PendingBarriers> batches;
  batches.swap(pending_barriers);
  for (PendingBarriers& batch : batches) {
    LocalCopy* copy = FindCopy(batch.incarnation);
    if (copy == nullptr || copy->role != Role::kPrimary || copy->stale ||
        copy->engine->term() != batch.term) {
      for (auto& round : batch.rounds)
        round->done(
            absl::UnavailableError("the primary changed during the read"));
      continue;
    }
    const std::vector<std::string>& replicas =
        copy->tracker->in_sync_replicas();
    auto rounds =
        std::make_shared<std::vector<std::shared_ptr<ReadBarrierRound>>>(
            std::move(batch.rounds));
    for (auto& round : *rounds)
      round->pending = std::max<int>(1, static_cast<int>(replicas.size()));
    if (replicas.empty()) {
      for (auto& round : *rounds) SettleReadBarrier(round);
      continue;
    }
    for (const std::string& target : replicas) {
      pb::Envelope envelope;
      pb::ReplicateRequest* replicate = envelope.mutable_replicate();
      replicate->mutable_shard()->set_index(copy->index);
      replicate->mutable_shard()->set_shard(copy->key.second);
      replicate->set_primary_term(batch.term);
      replicate->set_global_checkpoint(copy->engine->global_checkpoint());
      replicate->set_max_seq_no_of_updates_or_deletes(
          copy->engine->max_seq_no_of_updates_or_deletes());
      replicate->set_primary_node(me());
      const uint64_t incarnation = batch.incarnation;
      const PrimaryTerm term = batch.term;
      Send(
          target, std::move(envelope),
          [this, target, rounds, incarnation,
           term](const absl::StatusOr<pb::Envelope>& reply) {
            const bool ok = reply.ok() && reply->has_replicate_response() &&
                            !HasError(reply->replicate_response().error());
            for (auto& round : *rounds) {
              if (!ok) round->failed = true;
            }
            if (FindCopy(incarnation) != nullptr)
              OnReplicaReply(incarnation, target, 0, term, reply);
            for (auto& round : *rounds) SettleReadBarrier(round);
          },
          options.rpc_timeout);
    }
  }
}

void Node::State::SettleReadBarrier(
    const std::shared_ptr<ReadBarrierRound>& round) {
  if (--round->pending > 0) return;
  LocalCopy* copy = FindCopy(round->incarnation);
  if (round->failed || copy == nullptr || copy->stale ||
      copy->role != Role::kPrimary || copy->engine->term() != round->term) {
    round->done(
        absl::UnavailableError("a replica did not confirm the primary's term"));
    return;
  }
  copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
  if (round->needed <= copy->engine->global_checkpoint()) {
    round->done(absl::OkStatus());
    return;
  }
  if (env->Now() >= round->deadline) {
    round->done(absl::UnavailableError(
        "the document's last write is not yet on every copy"));
    return;
  }
  After(absl::Milliseconds(1), [this, round]() {
    ReadBarrier(round->incarnation, round->term, round->needed, round->deadline,
                std::move(round->done));
  });
}

}  // namespace seqsim
