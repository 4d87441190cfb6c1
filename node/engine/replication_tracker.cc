#include "node/engine/replication_tracker.h"

#include <algorithm>
#include <utility>

namespace seqsim {
namespace {
constexpr int64_t kUnknownCheckpoint = -2;  // kUnassignedSeqNo
}  // namespace

ReplicationTracker::ReplicationTracker(std::string primary)
    : primary_(std::move(primary)) {
  copies_.push_back(Copy{primary_, -1, true});
}

ReplicationTracker::Copy* ReplicationTracker::Find(const std::string& node) {
  for (Copy& copy : copies_) {
    if (copy.node == node) return &copy;
  }
  return nullptr;
}

const ReplicationTracker::Copy* ReplicationTracker::Find(
    const std::string& node) const {
  for (const Copy& copy : copies_) {
    if (copy.node == node) return &copy;
  }
  return nullptr;
}

void ReplicationTracker::RebuildLists() {
  in_sync_replicas_.clear();
  targets_.clear();
  for (const Copy& copy : copies_) {
    if (copy.node == primary_) continue;
    targets_.push_back(copy.node);
    if (copy.in_sync) in_sync_replicas_.push_back(copy.node);
  }
}

void ReplicationTracker::SetInSync(const std::set<std::string>& in_sync) {
  // Copies that leave the set are forgotten (the primary never leaves it).
  copies_.erase(std::remove_if(copies_.begin(), copies_.end(),
                               [&](const Copy& copy) {
                                 return copy.in_sync && copy.node != primary_ &&
                                        !in_sync.contains(copy.node);
                               }),
                copies_.end());
  for (const std::string& node : in_sync) {
    auto it = std::lower_bound(
        copies_.begin(), copies_.end(), node,
        [](const Copy& copy, const std::string& id) { return copy.node < id; });
    if (it == copies_.end() || it->node != node) {
      it = copies_.insert(it, Copy{node, kUnknownCheckpoint, true});
    }
    it->in_sync = true;
  }
  RebuildLists();
}

void ReplicationTracker::AddTracking(const std::string& node,
                                     int64_t local_checkpoint) {
  if (Copy* copy = Find(node)) {
    copy->checkpoint = std::max(copy->checkpoint, local_checkpoint);
    return;
  }
  auto it = std::lower_bound(
      copies_.begin(), copies_.end(), node,
      [](const Copy& copy, const std::string& id) { return copy.node < id; });
  copies_.insert(it, Copy{node, local_checkpoint, false});
  RebuildLists();
}

void ReplicationTracker::RemoveTracking(const std::string& node) {
  if (node == primary_) return;
  for (auto it = copies_.begin(); it != copies_.end(); ++it) {
    if (it->node == node) {
      copies_.erase(it);
      RebuildLists();
      return;
    }
  }
}

void ReplicationTracker::UpdateLocalCheckpoint(const std::string& node,
                                               int64_t local_checkpoint) {
  Copy* copy = Find(node);
  if (copy == nullptr) return;  // not (or no longer) in the replication group
  copy->checkpoint = std::max(copy->checkpoint, local_checkpoint);
}

bool ReplicationTracker::IsInSync(const std::string& node) const {
  const Copy* copy = Find(node);
  return copy != nullptr && copy->in_sync;
}

bool ReplicationTracker::IsTracked(const std::string& node) const {
  return Find(node) != nullptr;
}

int64_t ReplicationTracker::LocalCheckpointOf(const std::string& node) const {
  const Copy* copy = Find(node);
  return copy == nullptr ? kUnknownCheckpoint : copy->checkpoint;
}

int64_t ReplicationTracker::GlobalCheckpoint() {
  int64_t min = INT64_MAX;
  for (const Copy& copy : copies_) {
    if (copy.in_sync) min = std::min(min, copy.checkpoint);
  }
  if (min != INT64_MAX && min > global_checkpoint_) global_checkpoint_ = min;
  return global_checkpoint_;
}

}  // namespace seqsim
