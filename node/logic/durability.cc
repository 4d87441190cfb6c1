// Node::State: durability (R10). Flush() fsyncs the translog of every copy
// that has waiters once (group commit across the requests of one executor
// batch) and releases them; with fsync_per_request = false translogs are
// fsynced on a timer instead; a copy whose fsync failed is closed and reported
// failed to the coordinator.
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "node/logic/node_state.h"

namespace seqsim {

void Node::State::AsyncSyncTick() {
  After(kAsyncSyncInterval, [this]() { AsyncSyncTick(); });
  std::vector<std::tuple<CopyKey, uint64_t, absl::Status>> failures;
  for (auto& [key, copy] : copies) {
    if (!copy->engine->NeedsSync()) continue;
    absl::Status status = copy->engine->Sync();
    if (!status.ok()) failures.emplace_back(key, copy->incarnation, status);
  }
  for (const auto& [key, incarnation, status] : failures)
    FailCopyOnDiskError(key, incarnation, status);
}

void Node::State::SetSynced(uint64_t incarnation, absl::Status status) {
  for (size_t i = 0; i < flush_synced_count; ++i) {
    if (flush_synced[i].first == incarnation) {
      flush_synced[i].second = std::move(status);
      return;
    }
  }
  if (flush_synced_count == flush_synced.size()) flush_synced.emplace_back();
  flush_synced[flush_synced_count].first = incarnation;
  flush_synced[flush_synced_count].second = std::move(status);
  ++flush_synced_count;
}

const absl::Status* Node::State::FindSynced(uint64_t incarnation) const {
  for (size_t i = 0; i < flush_synced_count; ++i) {
    if (flush_synced[i].first == incarnation) return &flush_synced[i].second;
  }
  return nullptr;
}

void Node::State::FailCopyOnDiskError(const CopyKey& key, uint64_t incarnation,
                                      const absl::Status& status) {
  LocalCopy* copy = FindCopy(key, incarnation);
  if (copy == nullptr) return;
  const std::string reason =
      absl::StrCat("translog fsync failed: ", status.message());
  pb::ShardFailedRequest failed;
  failed.mutable_shard()->set_index(copy->index);
  failed.mutable_shard()->set_shard(key.second);
  failed.set_failed_node(me());
  failed.set_primary_term(copy->engine->term());
  failed.set_reason(reason);
  failed.set_sender(me());
  Log(absl::StrCat(me(), " fails its copy of ", Name(*copy), " (", reason,
                   "): stops serving it and reports it to the coordinator"));
  CloseCopy(key, /*remove_data=*/false, reason);
  ReportOwnCopyFailed(std::move(failed), kOwnCopyFailedAttempts);
}

void Node::State::ReportOwnCopyFailed(pb::ShardFailedRequest failed,
                                      int attempts_left) {
  pb::Envelope envelope;
  *envelope.mutable_shard_failed() = failed;
  Send(
      kCoordinatorId, std::move(envelope),
      [this, failed = std::move(failed),
       attempts_left](const absl::StatusOr<pb::Envelope>& reply) mutable {
        // Answered (acknowledged, or refused for a superseded term): done.
        if (reply.ok() && reply->has_shard_failed_response()) return;
        if (attempts_left <= 1) return;
        After(RetryDelay(),
              [this, failed = std::move(failed), attempts_left]() mutable {
                ReportOwnCopyFailed(std::move(failed), attempts_left - 1);
              });
      },
      options.rpc_timeout);
}

void Node::State::Flush() {
  SendBatches();
  flush_synced_count = 0;
  std::vector<std::tuple<CopyKey, uint64_t, absl::Status>> disk_failures;
  if (options.fsync_per_request) {
    for (auto& [key, copy] : copies) {
      if (copy->engine->NeedsSync()) {
        absl::Status status = copy->engine->Sync();
        if (!status.ok()) {
          Log(absl::StrCat(me(), " cannot fsync the translog of ", Name(*copy),
                           ": ", status.ToString()));
          disk_failures.emplace_back(key, copy->incarnation, status);
        }
        SetSynced(copy->incarnation, std::move(status));
      }
    }
  }
  while (!durable_waiters.empty()) {
    DurableWaiters waiters;
    waiters.swap(spare_waiters);
    waiters.swap(durable_waiters);
    for (auto& [incarnation, fn] : waiters) {
      // A copy closed since (even if opened again: a new incarnation) gets
      // "closed"; its waiter finds no copy of its incarnation either way.
      const absl::Status* found = FindSynced(incarnation);
      absl::Status status = found == nullptr ? absl::OkStatus() : *found;
      if (FindCopy(incarnation) == nullptr)
        status = absl::UnavailableError("shard copy closed");
      fn(status);
    }
    waiters.clear();
    spare_waiters.swap(waiters);
    // Waiters released above may have appended (e.g. nothing today); loop
    // until quiet, syncing again so that every released reply covers its own
    // operations.
    if (!durable_waiters.empty() && options.fsync_per_request) {
      for (auto& [key, copy] : copies) {
        if (!copy->engine->NeedsSync()) continue;
        absl::Status status = copy->engine->Sync();
        if (!status.ok())
          disk_failures.emplace_back(key, copy->incarnation, status);
        SetSynced(copy->incarnation, std::move(status));
      }
    }
  }
  // Every waiter of a failed copy got the error above; now the copy goes.
  for (const auto& [key, incarnation, status] : disk_failures)
    FailCopyOnDiskError(key, incarnation, status);
  // Writes queued by the replies released above go out now, not at the
  // next batch (there may be none).
  SendBatches();
}

}  // namespace seqsim
