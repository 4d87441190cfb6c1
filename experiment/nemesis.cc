#include "experiment/nemesis.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/cluster_view.h"
#include "common/env.h"
#include "nlohmann/json.hpp"
#include "sim/world/rng.h"

namespace seqsim::experiment {
namespace {

using Json = nlohmann::ordered_json;

bool IsProcessKind(const std::string& kind) {
  return kind == "kill" || kind == "pause" || kind == "coordinator";
}

}  // namespace

const std::vector<std::string>& NemesisKinds() {
  static const std::vector<std::string> kKinds = {
      "kill",  "pause", "coordinator", "partition",
      "delay", "drop",  "duplicate"};
  return kKinds;
}

absl::StatusOr<std::vector<std::string>> ParseNemesis(const std::string& list) {
  std::vector<std::string> kinds;
  if (list.empty() || list == "none") return kinds;
  if (list == "all") return NemesisKinds();
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    const auto& known = NemesisKinds();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown --nemesis kind '", name, "' (expected ",
                       absl::StrJoin(known, ", "), ", all or none)"));
    }
    if (std::find(kinds.begin(), kinds.end(), name) == kinds.end())
      kinds.emplace_back(name);
  }
  return kinds;
}

std::vector<PlannedFault> PlanSchedule(const std::vector<std::string>& kinds,
                                       uint64_t seed, absl::Duration duration,
                                       absl::Duration interval) {
  std::vector<PlannedFault> plan;
  const int64_t total_ms = absl::ToInt64Milliseconds(duration);
  const double interval_ms =
      static_cast<double>(absl::ToInt64Milliseconds(interval));
  for (int track = 0; track < 2; ++track) {
    std::vector<std::string> mine;
    for (const std::string& kind : kinds) {
      if (IsProcessKind(kind) == (track == 0)) mine.push_back(kind);
    }
    if (mine.empty()) continue;
    sim::Rng rng(sim::DeriveSeed(seed, "nemesis-track", track));
    double t = interval_ms * (0.3 + 0.4 * rng.Real());
    while (true) {
      const int64_t start = static_cast<int64_t>(t);
      const int64_t length =
          static_cast<int64_t>(interval_ms * (0.4 + 0.4 * rng.Real()));
      // Every fault starts and ends within the workload.
      if (start + length > total_ms - 200) break;
      PlannedFault f;
      f.start_ms = start;
      f.end_ms = start + std::max<int64_t>(length, 100);
      f.kind = mine[rng.Below(mine.size())];
      const double dice = rng.Real();
      if (f.kind == "kill") {
        f.target = dice < 0.5 ? "primary" : dice < 0.8 ? "replica" : "node";
      } else if (f.kind == "pause") {
        f.target = dice < 0.45  ? "primary"
                   : dice < 0.8 ? "replica"
                                : "coordinator";
      } else if (f.kind == "coordinator") {
        f.target = "coordinator";
      } else if (f.kind == "partition") {
        static const char* const kShapes[] = {
            "isolate-primary", "isolate-replica", "primary-coordinator",
            "majority-minority"};
        f.target = kShapes[rng.Below(4)];
      } else if (f.kind == "delay") {
        f.target = "primary-links";
        f.delay_ms = static_cast<int>(rng.Range(50, 300));
      } else if (f.kind == "drop") {
        f.target = "primary-links";
        f.probability = 0.1 + 0.3 * dice;  // 10-40% of the messages lost
      } else {                             // duplicate
        f.target = "primary-links";
        f.probability = 0.2 + 0.4 * dice;  // 20-60% sent twice
      }
      f.pick = static_cast<int64_t>(rng.Next() >> 2);
      plan.push_back(f);
      t = static_cast<double>(f.end_ms) +
          interval_ms * (0.3 + 0.4 * rng.Real());
    }
  }
  std::stable_sort(plan.begin(), plan.end(),
                   [](const PlannedFault& a, const PlannedFault& b) {
                     return a.start_ms < b.start_ms;
                   });
  return plan;
}

std::string NemesisJsonLine(const NemesisRecord& r) {
  Json j;
  j["time"] = r.time_ns;
  j["action"] = r.action;
  j["fault"] = r.kind;
  j["target"] = r.target;
  j["nodes"] = r.nodes;
  if (!r.detail.empty()) j["detail"] = r.detail;
  return j.dump();
}

Nemesis::Nemesis(ExperimentCluster* cluster, HistoryRecorder* clock,
                 std::string index, int shards,
                 std::vector<PlannedFault> schedule)
    : cluster_(cluster),
      clock_(clock),
      index_(std::move(index)),
      shards_(std::max(1, shards)),
      schedule_(std::move(schedule)) {}

void Nemesis::Record(const std::string& action, const PlannedFault& fault,
                     const std::vector<std::string>& nodes,
                     std::string detail) {
  records_.push_back(NemesisRecord{clock_->NowNs(), action, fault.kind,
                                   fault.target, nodes, std::move(detail)});
}

std::string Nemesis::Primary(int64_t pick) {
  absl::StatusOr<pb::ClusterState> state = cluster_->State();
  if (!state.ok()) return "";
  const int shard = static_cast<int>(pick % shards_);
  for (const pb::IndexMeta& meta : state->indices()) {
    if (meta.name() != index_) continue;
    for (const pb::ShardRouting& routing : meta.shards()) {
      if (routing.shard() != shard) continue;
      if (const pb::ShardCopy* primary = PrimaryCopy(routing)) {
        return primary->node_id();
      }
    }
  }
  return "";
}

std::vector<std::string> Nemesis::Replicas(int64_t pick) {
  std::vector<std::string> replicas;
  absl::StatusOr<pb::ClusterState> state = cluster_->State();
  if (!state.ok()) return replicas;
  const int shard = static_cast<int>(pick % shards_);
  for (const pb::IndexMeta& meta : state->indices()) {
    if (meta.name() != index_) continue;
    for (const pb::ShardRouting& routing : meta.shards()) {
      if (routing.shard() != shard) continue;
      for (const pb::ShardCopy& copy : routing.copies()) {
        if (!copy.primary() && !copy.node_id().empty())
          replicas.push_back(copy.node_id());
      }
    }
  }
  std::sort(replicas.begin(), replicas.end());
  return replicas;
}

void Nemesis::Tick(absl::Duration elapsed) {
  const int64_t now_ms = absl::ToInt64Milliseconds(elapsed);
  for (size_t i = 0; i < running_.size();) {
    if (running_[i].fault.end_ms <= now_ms) {
      End(running_[i]);
      running_.erase(running_.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  for (auto it = pending_heal_.begin(); it != pending_heal_.end();) {
    const std::string& node = *it;
    if (!cluster_->Running(node) ||
        (!cluster_->Paused(node) &&
         cluster_->Fault(node, pb::FaultRequest::HEAL, {}).ok())) {
      it = pending_heal_.erase(it);
    } else {
      ++it;
    }
  }
  while (next_ < schedule_.size() && schedule_[next_].start_ms <= now_ms) {
    Begin(schedule_[next_]);
    ++next_;
  }
}

void Nemesis::Begin(const PlannedFault& f) {
  const std::vector<std::string>& all = cluster_->node_ids();
  auto pick_node = [&](const std::string& target) -> std::string {
    if (target == "coordinator") return kCoordinatorId;
    if (target == "primary") return Primary(f.pick);
    if (target == "replica") {
      std::vector<std::string> replicas = Replicas(f.pick);
      if (replicas.empty()) return "";
      return replicas[static_cast<size_t>(f.pick) % replicas.size()];
    }
    return all[static_cast<size_t>(f.pick) % all.size()];
  };
  Running running{f, {}};
  std::string detail;
  bool applied = false;
  if (f.kind == "kill" || f.kind == "pause" || f.kind == "coordinator") {
    const std::string name = f.kind == "coordinator"
                                 ? std::string(kCoordinatorId)
                                 : pick_node(f.target);
    if (!name.empty()) {
      applied =
          f.kind == "pause" ? cluster_->Pause(name) : cluster_->Kill(name);
      if (applied) {
        running.nodes.push_back(name);
      } else {
        detail = absl::StrCat(name, " is not running");
      }
    } else {
      detail = "no such target in the current routing";
    }
  } else {
    const std::string primary = Primary(f.pick);
    std::vector<std::string> targets;
    auto partition = [&](const std::string& node,
                         const std::vector<std::string>& peers) {
      if (!cluster_->Running(node) || cluster_->Paused(node)) {
        absl::StrAppend(&detail, detail.empty() ? "" : "; ", node,
                        " is down or paused: its side not applied");
        return;
      }
      absl::Status s =
          cluster_->Fault(node, pb::FaultRequest::PARTITION, peers);
      if (!s.ok()) {
        absl::StrAppend(&detail, detail.empty() ? "" : "; ", "fault RPC to ",
                        node, ": ", s.message());
      }
      running.nodes.push_back(node);
      applied = true;
    };
    if (f.kind == "delay" || f.kind == "drop" || f.kind == "duplicate") {
      std::vector<std::string> replicas = Replicas(f.pick);
      if (!primary.empty() && !replicas.empty()) {
        const pb::FaultRequest::Action action =
            f.kind == "delay"  ? pb::FaultRequest::DELAY
            : f.kind == "drop" ? pb::FaultRequest::DROP
                               : pb::FaultRequest::DUPLICATE;
        absl::Status s = cluster_->Fault(primary, action, replicas, f.delay_ms,
                                         f.probability);
        detail = absl::StrCat(
            primary, " -> ", absl::StrJoin(replicas, ","),
            f.kind == "delay" ? absl::StrCat(" delayed ", f.delay_ms, " ms")
            : f.kind == "drop"
                ? absl::StrCat(" lose ", static_cast<int>(f.probability * 100),
                               "% of messages")
                : absl::StrCat(" duplicate ",
                               static_cast<int>(f.probability * 100),
                               "% of messages"));
        if (s.ok()) {
          running.nodes.push_back(primary);
          applied = true;
        } else {
          absl::StrAppend(&detail, ": fault RPC failed: ", s.message());
        }
      } else {
        detail = "no primary with replicas in the current routing";
      }
    } else if (f.target == "primary-coordinator") {
      if (!primary.empty()) {
        partition(primary, {kCoordinatorId});
        detail = absl::StrCat(primary, " | coordinator",
                              detail.empty() ? "" : "; ", detail);
      }
    } else if (f.target == "isolate-primary" || f.target == "isolate-replica") {
      std::string isolated = primary;
      if (f.target == "isolate-replica") {
        std::vector<std::string> replicas = Replicas(f.pick);
        isolated =
            replicas.empty()
                ? ""
                : replicas[static_cast<size_t>(f.pick) % replicas.size()];
      }
      if (!isolated.empty()) {
        std::vector<std::string> others = {kCoordinatorId};
        for (const std::string& n : all) {
          if (n != isolated) others.push_back(n);
        }
        partition(isolated, others);
        for (const std::string& n : all) {
          if (n != isolated && cluster_->Running(n)) partition(n, {isolated});
        }
        detail = absl::StrCat(isolated, " | everyone else",
                              detail.empty() ? "" : "; ", detail);
      }
    } else {  // majority-minority: {some nodes + coordinator} | {the others}
      std::vector<std::string> order = all;
      sim::Rng rng(static_cast<uint64_t>(f.pick));
      for (size_t i = order.size(); i > 1; --i)
        std::swap(order[i - 1], order[rng.Below(i)]);
      const size_t minority =
          order.size() / 2 == 0 ? 1 : (order.size() - 1) / 2;
      std::vector<std::string> side_a(
          order.begin(), order.begin() + static_cast<long>(minority));
      std::vector<std::string> side_b(
          order.begin() + static_cast<long>(minority), order.end());
      // The coordinator sides with the smaller group: the majority of nodes is
      // cut off from it.
      for (const std::string& n : side_a) partition(n, side_b);
      std::vector<std::string> b_peers = side_a;
      b_peers.push_back(kCoordinatorId);
      for (const std::string& n : side_b) partition(n, b_peers);
      detail = absl::StrCat(absl::StrJoin(side_a, ","), ",coordinator | ",
                            absl::StrJoin(side_b, ","),
                            detail.empty() ? "" : "; ", detail);
    }
    if (!applied && detail.empty()) detail = "no target in the current routing";
  }
  if (!applied) {
    Record("skip", f, {}, detail);
    return;
  }
  ++started_;
  Record("start", f, running.nodes, detail);
  running_.push_back(std::move(running));
}

void Nemesis::End(Running& running) {
  const PlannedFault& f = running.fault;
  std::string detail;
  for (const std::string& name : running.nodes) {
    if (f.kind == "kill" || f.kind == "coordinator") {
      if (!cluster_->Restart(name))
        absl::StrAppend(&detail, name, " did not restart; ");
    } else if (f.kind == "pause") {
      cluster_->Resume(name);
    } else if (!cluster_->Running(name)) {
      // Killed meanwhile: it restarts without faults.
    } else if (cluster_->Paused(name)) {
      pending_heal_.insert(name);
      absl::StrAppend(&detail, name, " is paused: healed when it resumes; ");
    } else {
      absl::Status s = cluster_->Fault(name, pb::FaultRequest::HEAL, {});
      if (!s.ok()) {
        pending_heal_.insert(name);
        absl::StrAppend(&detail, "heal of ", name, ": ", s.message(),
                        " (retried); ");
      }
    }
  }
  Record("end", f, running.nodes, detail);
}

void Nemesis::HealAll() {
  for (Running& running : running_) End(running);
  running_.clear();
  pending_heal_.clear();
  next_ = schedule_.size();
  for (const std::string& name : cluster_->node_ids()) {
    if (cluster_->Paused(name)) cluster_->Resume(name);
  }
  if (cluster_->Paused(kCoordinatorId)) cluster_->Resume(kCoordinatorId);
  if (cluster_->owns_processes()) {
    if (!cluster_->Running(kCoordinatorId)) cluster_->Restart(kCoordinatorId);
    for (const std::string& name : cluster_->node_ids()) {
      if (!cluster_->Running(name)) cluster_->Restart(name);
    }
  }
  cluster_->HealNetwork();
}

std::string Nemesis::Active() const {
  std::vector<std::string> parts;
  for (const Running& r : running_) {
    parts.push_back(absl::StrCat(r.fault.kind, " ", r.fault.target, " (",
                                 absl::StrJoin(r.nodes, ","), ")"));
  }
  return parts.empty() ? "none" : absl::StrJoin(parts, "; ");
}

}  // namespace seqsim::experiment
