#include "node/engine/replication_tracker.h"

#include <algorithm>
#include <utility>

namespace seqsim {
namespace {
constexpr int64_t kUnknownCheckpoint = -2;  // kUnassignedSeqNo
}  // namespace

ReplicationTracker::ReplicationTracker(std::string primary)
    : primary_(std::move(primary)) {
  in_sync_.insert(primary_);
  checkpoints_[primary_] = -1;
}

void ReplicationTracker::SetInSync(const std::set<std::string>& in_sync) {
  std::set<std::string> next = in_sync;
  next.insert(primary_);
  for (const std::string& node : in_sync_) {
    if (!next.contains(node))
      checkpoints_.erase(node);  // left the set: forget it
  }
  for (const std::string& node : next)
    checkpoints_.try_emplace(node, kUnknownCheckpoint);
  in_sync_ = std::move(next);
}

void ReplicationTracker::AddTracking(const std::string& node,
                                     int64_t local_checkpoint) {
  auto [it, inserted] = checkpoints_.try_emplace(node, local_checkpoint);
  if (!inserted) it->second = std::max(it->second, local_checkpoint);
}

void ReplicationTracker::RemoveTracking(const std::string& node) {
  if (node == primary_) return;
  checkpoints_.erase(node);
  in_sync_.erase(node);
}

void ReplicationTracker::UpdateLocalCheckpoint(const std::string& node,
                                               int64_t local_checkpoint) {
  auto it = checkpoints_.find(node);
  if (it == checkpoints_.end())
    return;  // not (or no longer) in the replication group
  it->second = std::max(it->second, local_checkpoint);
}

bool ReplicationTracker::IsInSync(const std::string& node) const {
  return in_sync_.contains(node);
}

bool ReplicationTracker::IsTracked(const std::string& node) const {
  return checkpoints_.contains(node);
}

std::vector<std::string> ReplicationTracker::InSyncReplicas() const {
  std::vector<std::string> replicas;
  for (const std::string& node : in_sync_) {
    if (node != primary_) replicas.push_back(node);
  }
  return replicas;
}

std::vector<std::string> ReplicationTracker::ReplicationTargets() const {
  std::vector<std::string> targets;
  for (const auto& [node, checkpoint] : checkpoints_) {
    if (node != primary_) targets.push_back(node);
  }
  return targets;
}

int64_t ReplicationTracker::LocalCheckpointOf(const std::string& node) const {
  auto it = checkpoints_.find(node);
  return it == checkpoints_.end() ? kUnknownCheckpoint : it->second;
}

int64_t ReplicationTracker::GlobalCheckpoint() {
  int64_t min = INT64_MAX;
  for (const std::string& node : in_sync_)
    min = std::min(min, LocalCheckpointOf(node));
  if (min != INT64_MAX && min > global_checkpoint_) global_checkpoint_ = min;
  return global_checkpoint_;
}

}  // namespace seqsim
