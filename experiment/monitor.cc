#include "experiment/monitor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/env.h"

namespace seqsim::experiment {

Monitor::Monitor(ExperimentCluster* cluster, HistoryRecorder* clock,
                 std::string index, absl::Duration period)
    : cluster_(cluster),
      clock_(clock),
      index_(std::move(index)),
      period_(period) {}

Monitor::~Monitor() { Stop(); }

void Monitor::Start() {
  thread_ = std::thread([this] {
    while (!stop_) {
      Sample();
      const absl::Time until = absl::Now() + period_;
      while (!stop_ && absl::Now() < until)
        absl::SleepFor(absl::Milliseconds(20));
    }
  });
}

void Monitor::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Monitor::Sample() {
  absl::StatusOr<pb::ClusterState> state =
      cluster_->State(absl::Milliseconds(300));
  if (state.ok()) {
    for (const pb::IndexMeta& meta : state->indices()) {
      if (meta.name() != index_) continue;
      for (const pb::ShardRouting& routing : meta.shards()) {
        std::string primary;
        for (const pb::ShardCopy& copy : routing.copies()) {
          if (copy.primary()) primary = copy.node_id();
        }
        absl::MutexLock lock(&mu_);
        int64_t& term = terms_[routing.shard()];
        if (routing.primary_term() > term) {
          if (term != 0) {
            events_.push_back(
                {clock_->NowNs() / 1000,
                 timeline::MarkEvent{
                     primary.empty() ? std::string(kCoordinatorId) : primary,
                     "promoted",
                     absl::StrCat(primary.empty() ? "no node" : primary,
                                  " is primary of ", index_, "/",
                                  routing.shard(), " in term ",
                                  routing.primary_term())}});
          }
          term = routing.primary_term();
        }
      }
    }
  }
  for (const std::string& node : cluster_->node_ids()) {
    if (!cluster_->Running(node) || cluster_->Paused(node)) continue;
    absl::StatusOr<pb::NodeStatusResponse> status =
        cluster_->NodeStatus(node, absl::Milliseconds(300));
    if (!status.ok()) continue;
    for (const pb::ShardStatus& copy : status->shards()) {
      if (copy.index() != index_) continue;
      auto now = std::make_tuple(copy.max_seq_no(), copy.local_checkpoint(),
                                 copy.global_checkpoint(), copy.primary_term(),
                                 copy.role());
      absl::MutexLock lock(&mu_);
      auto& last = last_[{node, copy.shard()}];
      if (last == now) continue;
      last = now;
      std::string role = copy.role();
      if (role != "primary" && role != "replica" && role != "recovering")
        role = "";
      events_.push_back(
          {clock_->NowNs() / 1000,
           timeline::CheckpointEvent{
               node, absl::StrCat(index_, "/", copy.shard()), copy.max_seq_no(),
               copy.local_checkpoint(), copy.global_checkpoint(),
               copy.primary_term(), role}});
    }
  }
}

std::vector<timeline::Event> Monitor::Events() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::map<int, int64_t> Monitor::Terms() const {
  absl::MutexLock lock(&mu_);
  return terms_;
}

}  // namespace seqsim::experiment
