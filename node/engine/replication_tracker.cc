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

void ReplicationTracker::UpdateReportedGlobalCheckpoint(const std::string& node,
                                                        int64_t gcp) {
  Copy* copy = Find(node);
  if (copy == nullptr) return;
  copy->reported_gcp = std::max(copy->reported_gcp, gcp);
}

void ReplicationTracker::AddLease(const std::string& holder,
                                  int64_t retaining_seq_no,
                                  absl::Duration now) {
  auto it = std::lower_bound(leases_.begin(), leases_.end(), holder,
                             [](const Lease& lease, const std::string& id) {
                               return lease.holder < id;
                             });
  if (it != leases_.end() && it->holder == holder) {
    it->retaining_seq_no = std::max(it->retaining_seq_no, retaining_seq_no);
    it->renewed = now;
    return;
  }
  leases_.insert(it, Lease{holder, retaining_seq_no, now});
}

int64_t ReplicationTracker::RenewLeases(absl::Duration now,
                                        absl::Duration period) {
  for (const Copy& copy : copies_) {
    if (copy.node == primary_) continue;
    auto it = std::lower_bound(leases_.begin(), leases_.end(), copy.node,
                               [](const Lease& lease, const std::string& id) {
                                 return lease.holder < id;
                               });
    const bool exists = it != leases_.end() && it->holder == copy.node;
    // What the copy holds for sure: its local checkpoint, capped at the global
    // checkpoint it knows when it reported one.
    int64_t held = copy.checkpoint;
    if (copy.reported_gcp != kUnknownCheckpoint) {
      held = std::min(held, copy.reported_gcp);
    }
    if (held == kUnknownCheckpoint) {
      // Nothing known yet (a copy just listed in sync): it holds back the
      // global checkpoint itself, and keeps its lease alive.
      if (exists) it->renewed = now;
      continue;
    }
    if (!exists) {
      leases_.insert(it, Lease{copy.node, held + 1, now});
      continue;
    }
    it->retaining_seq_no = std::max(it->retaining_seq_no, held + 1);
    it->renewed = now;
  }
  leases_.erase(std::remove_if(leases_.begin(), leases_.end(),
                               [&](const Lease& lease) {
                                 if (now - lease.renewed <= period) {
                                   return false;
                                 }
                                 expired_.push_back(lease.holder);
                                 return true;
                               }),
                leases_.end());
  int64_t retained = GlobalCheckpoint() + 1;
  for (const Lease& lease : leases_) {
    retained = std::min(retained, lease.retaining_seq_no);
  }
  return retained;
}

}  // namespace seqsim
