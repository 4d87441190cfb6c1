// Node::State: bounded memory. A primary renews its retention leases and drops
// the history below every live lease and the global checkpoint (R9: the history
// an operations-based recovery needs), tombstones of old enough deletes at or
// below the global checkpoint are collected (R5 still holds, see
// ShardEngine::PruneTombstones), and the periodic global checkpoint sync sends
// a primary's new global checkpoint to its copies (R6).
#include <algorithm>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::MaintainCopy(LocalCopy* copy) {
  ShardEngine& engine = *copy->engine;
  const absl::Duration now = env->Now();
  SeqNo retained = std::numeric_limits<SeqNo>::max();
  if (copy->role == Role::kPrimary && !copy->stale && copy->tracker) {
    copy->tracker->UpdateLocalCheckpoint(me(), engine.local_checkpoint());
    engine.UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
    retained = copy->tracker->RenewLeases(now, options.retention_lease_period);
    for (const std::string& holder : copy->tracker->TakeExpiredLeases()) {
      Log(absl::StrCat(me(), " drops the retention lease of ", holder, " on ",
                       Name(*copy), ": not renewed for ",
                       absl::FormatDuration(options.retention_lease_period),
                       "; history is kept from seq_no ", retained));
    }
  }
  engine.SetRetainedSeqNo(retained);
  CollectTombstones(copy, now);
}

void Node::State::CollectTombstones(LocalCopy* copy, absl::Duration now) {
  if (options.gc_deletes == absl::InfiniteDuration()) return;
  ShardEngine& engine = *copy->engine;
  if (engine.tombstone_count() == 0) {
    // Every later tombstone is above today's max_seq_no.
    copy->gc_samples.clear();
    return;
  }
  if (now < copy->next_gc) return;
  const absl::Duration step =
      std::max(options.gc_deletes / 8, absl::Microseconds(100));
  copy->next_gc = now + step;
  if (copy->gc_samples.empty() ||
      copy->gc_samples.back().second != engine.max_seq_no()) {
    copy->gc_samples.emplace_back(now, engine.max_seq_no());
  }
  while (!copy->gc_samples.empty() &&
         now - copy->gc_samples.front().first >= options.gc_deletes) {
    copy->gc_bound = std::max(copy->gc_bound, copy->gc_samples.front().second);
    copy->gc_samples.pop_front();
  }
  if (copy->gc_bound < 0) return;
  engine.PruneTombstones(copy->gc_bound);
}

void Node::State::GlobalCheckpointSyncTick() {
  After(options.heartbeat_interval, [this]() { GlobalCheckpointSyncTick(); });
  for (auto& [key, copy] : copies) MaintainCopy(copy.get());
  for (auto& [key, copy] : copies) {
    if (copy->role != Role::kPrimary || copy->stale || !copy->tracker) continue;
    copy->tracker->UpdateLocalCheckpoint(me(),
                                         copy->engine->local_checkpoint());
    copy->engine->UpdateGlobalCheckpoint(copy->tracker->GlobalCheckpoint());
    const SeqNo gcp = copy->engine->global_checkpoint();
    if (gcp == copy->last_synced_gcp) continue;
    copy->last_synced_gcp = gcp;
    for (const std::string& target : copy->tracker->ReplicationTargets()) {
      SendReplicate(copy.get(), target, {}, 0);
    }
  }
}

}  // namespace seqsim
