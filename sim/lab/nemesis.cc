// The lab's nemesis: partitions, kills, pauses and reordering, scheduled from
// the seed during the workload and all healed before quiet-down.
#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "sim/lab/lab_internal.h"

namespace seqsim::sim::lab_internal {

void Lab::Note(const std::string& what, FaultEdge edge) {
  if (config_.trace) {
    const bool end = edge == FaultEdge::kEnd;
    result_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::NemesisEvent{.action = end ? "end" : "start",
                                .fault = what}});
  }
  result_->faults.push_back(
      absl::StrCat(FormatMillis(world_.now_ns()), " ", what));
  world_.Trace("nemesis", what);
}

void Lab::ScheduleNemesis(int64_t start_ns, int64_t end_ns) {
  if (config_.nemesis == "none") return;
  static const std::vector<std::string> kAll = {"partition", "kill", "pause",
                                                "reorder"};
  int64_t t = start_ns + rng_.Range(100, 400) * 1000000;
  while (t + 300 * 1000000LL < end_ns) {
    const std::string kind = config_.nemesis == "all"
                                 ? kAll[rng_.Below(kAll.size())]
                                 : config_.nemesis;
    const int64_t duration =
        std::min<int64_t>(rng_.Range(300, 1500) * 1000000, end_ns - t);
    world_.Schedule(absl::Nanoseconds(t - world_.now_ns()),
                    [this, kind, duration]() { Fault(kind, duration); });
    t += duration + rng_.Range(100, 500) * 1000000;
  }
}

void Lab::Fault(const std::string& kind, int64_t heal_after_ns) {
  if (world_.stopped()) return;
  const std::string& any = node_ids_[rng_.Below(node_ids_.size())];
  std::string primary = PrimaryNode();
  if (primary.empty()) primary = any;
  const std::string victim = rng_.Chance(0.6) ? primary : any;
  std::vector<std::string> everyone = node_ids_;
  everyone.push_back(kCoordinatorId);
  if (kind == "partition") {
    const uint64_t how = rng_.Below(4);
    if (how == 0) {
      Note(absl::StrCat("partition: isolate ", victim));
      for (const auto& other : everyone) {
        if (other == victim) continue;
        world_.SetLinkBlocked(victim, other, true);
        world_.SetLinkBlocked(other, victim, true);
      }
    } else if (how == 1) {
      Note(absl::StrCat("partition: isolate primary ", primary,
                        " from the coordinator only"));
      world_.SetLinkBlocked(primary, kCoordinatorId, true);
      world_.SetLinkBlocked(kCoordinatorId, primary, true);
    } else if (how == 2) {
      std::string other =
          any == victim ? node_ids_[(rng_.Below(node_ids_.size()))] : any;
      if (other == victim) other = kCoordinatorId;
      Note(absl::StrCat("partition: asymmetric, ", victim, " cannot reach ",
                        other));
      world_.SetLinkBlocked(victim, other, true);
    } else {
      Note(absl::StrCat("partition: ", victim,
                        " and the coordinator cannot reach the others"));
      for (const auto& other : node_ids_) {
        if (other == victim) continue;
        for (const auto& side : {victim, std::string(kCoordinatorId)}) {
          world_.SetLinkBlocked(side, other, true);
          world_.SetLinkBlocked(other, side, true);
        }
      }
    }
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this]() {
      Note("heal partition", FaultEdge::kEnd);
      world_.HealLinks();
    });
  } else if (kind == "kill") {
    const std::string target =
        rng_.Chance(0.15) ? std::string(kCoordinatorId) : victim;
    std::string cut;
    if (target == primary && rng_.Chance(0.5)) {
      // The primary dies mid-replication: for a few ms before the crash its
      // operations reach one replica and not the other (what resync and trim
      // exist for).
      cut = node_ids_[rng_.Below(node_ids_.size())];
      if (cut == target) cut = "";
    }
    int64_t delay = 0;
    if (!cut.empty()) {
      delay = rng_.Range(5, 60) * 1000000;
      Note(absl::StrCat("kill ", target, " in ", delay / 1000000,
                        " ms; until then ", target, " cannot reach ", cut));
      world_.SetLinkBlocked(target, cut, true);
    }
    world_.Schedule(absl::Nanoseconds(delay), [this, target, cut]() {
      if (!cut.empty()) world_.SetLinkBlocked(target, cut, false);
      Note(absl::StrCat("kill ", target));
      Crash(target);
    });
    world_.Schedule(absl::Nanoseconds(std::max(heal_after_ns, delay + 1)),
                    [this, target]() {
                      Note(absl::StrCat("restart ", target), FaultEdge::kEnd);
                      Restart(target);
                    });
  } else if (kind == "pause") {
    Note(absl::StrCat("pause ", victim));
    world_.Pause(victim);
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this, victim]() {
      Note(absl::StrCat("resume ", victim), FaultEdge::kEnd);
      world_.Resume(victim);
    });
  } else if (kind == "reorder") {
    Note("reorder: delay, duplicate and drop messages");
    world_.network().reorder = 0.4;
    world_.network().duplicate = 0.15;
    world_.network().drop = 0.03;
    world_.network().reorder_max_delay = absl::Milliseconds(30);
    world_.Schedule(absl::Nanoseconds(heal_after_ns), [this]() {
      Note("heal reorder", FaultEdge::kEnd);
      world_.network().reorder = 0;
      world_.network().duplicate = 0;
      world_.network().drop = 0;
    });
  }
}

void Lab::HealAll() {
  world_.HealLinks();
  world_.network().reorder = 0;
  world_.network().duplicate = 0;
  world_.network().drop = 0;
  for (const auto& id : world_.actor_ids()) {
    if (!world_.IsUp(id)) Restart(id);
    if (world_.IsPaused(id)) world_.Resume(id);
  }
  Note("heal everything", FaultEdge::kEnd);
}

}  // namespace seqsim::sim::lab_internal
