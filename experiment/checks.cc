#include "experiment/checks.h"

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "node/logic/routing.h"

namespace seqsim::experiment {
namespace {

using sim::EventType;
using sim::Fn;
using sim::HistoryEvent;
using sim::kNil;
using sim::Outcome;

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

std::string ValueText(int64_t v) { return v == kNil ? "nil" : absl::StrCat(v); }

int64_t SourceV(const std::string& source) {
  nlohmann::json j =
      nlohmann::json::parse(source, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("v") && j["v"].is_number_integer())
    return j["v"].get<int64_t>();
  return kNil;
}

struct ShardView {
  std::vector<std::string> in_sync;
  int64_t term = 0;
};

// In-sync copies of every shard of `index`, from the coordinator's state.
std::map<int, ShardView> InSync(ExperimentCluster& cluster,
                                const std::string& index) {
  std::map<int, ShardView> shards;
  absl::StatusOr<pb::ClusterState> state = cluster.State();
  if (!state.ok()) return shards;
  for (const pb::IndexMeta& meta : state->indices()) {
    if (meta.name() != index) continue;
    for (const pb::ShardRouting& routing : meta.shards()) {
      ShardView& view = shards[routing.shard()];
      view.term = routing.primary_term();
      for (const std::string& node : routing.in_sync())
        view.in_sync.push_back(node);
      std::sort(view.in_sync.begin(), view.in_sync.end());
    }
  }
  return shards;
}

// A mutating operation of one key, from the history.
struct Mutation {
  int64_t invoke = 0;
  int64_t complete = kNever;  // kNever: indeterminate
  bool acked = false;         // ok, and changed the document
  int64_t value = kNil;       // the value it leaves (nil for a delete)
};

std::map<std::string, std::vector<Mutation>> Mutations(
    const std::vector<HistoryEvent>& history) {
  std::map<std::string, std::vector<Mutation>> by_key;
  std::map<int64_t, const HistoryEvent*> open;
  auto mutating = [](Fn f) { return f != Fn::kRead; };
  for (const HistoryEvent& e : history) {
    if (e.type == EventType::kInvoke) {
      open[e.process] = &e;
      continue;
    }
    auto it = open.find(e.process);
    if (it == open.end()) continue;
    const HistoryEvent& inv = *it->second;
    open.erase(it);
    if (!mutating(inv.f)) continue;
    if (e.type == EventType::kFail) continue;  // no effect
    if (e.type == EventType::kOk && e.outcome != Outcome::kNone) continue;
    Mutation m;
    m.invoke = inv.time;
    m.value = inv.f == Fn::kDelete ? kNil : inv.value;
    if (e.type == EventType::kOk) {
      m.complete = e.time;
      m.acked = true;
    }
    by_key[inv.key].push_back(m);
  }
  for (const auto& [process, inv] : open) {
    if (!mutating(inv->f)) continue;
    by_key[inv->key].push_back(
        {inv->time, kNever, false, inv->f == Fn::kDelete ? kNil : inv->value});
  }
  return by_key;
}

CheckOutcome Pass(const std::string& name, std::string detail = "") {
  return {name, CheckStatus::kPass, std::move(detail)};
}
CheckOutcome Fail(const std::string& name, std::string detail) {
  return {name, CheckStatus::kFail, std::move(detail)};
}

}  // namespace

const char* CheckStatusName(CheckStatus status) {
  switch (status) {
    case CheckStatus::kPass:
      return "pass";
    case CheckStatus::kFail:
      return "fail";
    case CheckStatus::kUnknown:
      return "unknown";
  }
  return "?";
}

FinalState ReadFinalState(ExperimentCluster& cluster, const std::string& index,
                          int shards, const std::vector<std::string>& ids,
                          absl::Duration timeout) {
  FinalState out;
  const absl::Time deadline = absl::Now() + timeout;
  std::map<int, ShardView> views;
  while (true) {
    views = InSync(cluster, index);
    std::string problem;
    out.max_seq_no.clear();
    if (static_cast<int>(views.size()) != shards)
      problem = "the coordinator's state has no routing for every shard";
    for (const auto& [shard, view] : views) {
      std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> seen;
      for (const std::string& node : view.in_sync) {
        absl::StatusOr<pb::NodeStatusResponse> status =
            cluster.NodeStatus(node);
        if (!status.ok()) {
          problem = absl::StrCat(
              node, " does not answer: ", status.status().message());
          continue;
        }
        bool found = false;
        for (const pb::ShardStatus& copy : status->shards()) {
          if (copy.index() != index || copy.shard() != shard) continue;
          found = true;
          out.max_seq_no[shard][node] = copy.max_seq_no();
          seen.insert({copy.max_seq_no(), copy.local_checkpoint(),
                       copy.global_checkpoint(), copy.primary_term()});
          if (copy.local_checkpoint() != copy.max_seq_no() ||
              copy.global_checkpoint() != copy.max_seq_no()) {
            problem = absl::StrCat(
                node, " shard ", shard, ": max_seq_no ", copy.max_seq_no(),
                " local checkpoint ", copy.local_checkpoint(),
                " global checkpoint ", copy.global_checkpoint());
          }
        }
        if (!found)
          problem = absl::StrCat(node, " holds no copy of shard ", shard);
      }
      if (seen.size() > 1) {
        std::vector<std::string> parts;
        for (const auto& [node, max] : out.max_seq_no[shard])
          parts.push_back(absl::StrCat(node, " max_seq_no ", max));
        problem = absl::StrCat("shard ", shard,
                               " copies differ: ", absl::StrJoin(parts, ", "));
      }
    }
    if (problem.empty()) {
      out.converged = true;
      break;
    }
    out.convergence_detail = problem;
    if (absl::Now() > deadline) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  for (const std::string& id : ids) {
    const int shard = ShardForId(id, shards);
    auto view = views.find(shard);
    if (view == views.end()) continue;
    for (const std::string& node : view->second.in_sync) {
      absl::StatusOr<pb::GetResponse> got = cluster.GetLocal(node, index, id);
      CopyDoc doc;
      if (got.ok() && got->error().type().empty()) {
        doc.found = got->found();
        doc.seq_no = got->found() ? got->seq_no() : -1;
        doc.term = got->found() ? got->primary_term() : 0;
        doc.version = got->found() ? got->version() : 0;
        doc.source = got->found() ? got->source() : "";
        doc.value = got->found() ? SourceV(got->source()) : kNil;
      } else {
        doc.found = false;
        doc.seq_no = -2;  // unreadable
        doc.source = got.ok() ? got->error().reason() : got.status().ToString();
      }
      out.docs[id][node] = doc;
    }
  }
  return out;
}

CheckOutcome CheckConverged(const FinalState& s) {
  const char* name = "copies-converged";
  if (!s.converged) return Fail(name, s.convergence_detail);
  int64_t compared = 0;
  for (const auto& [id, copies] : s.docs) {
    const CopyDoc* first = nullptr;
    std::string first_node;
    for (const auto& [node, doc] : copies) {
      if (doc.seq_no == -2) {
        return Fail(name, absl::StrCat(id, " could not be read on ", node, ": ",
                                       doc.source));
      }
      ++compared;
      if (first == nullptr) {
        first = &doc;
        first_node = node;
        continue;
      }
      if (doc.found != first->found || doc.seq_no != first->seq_no ||
          doc.term != first->term || doc.version != first->version ||
          doc.source != first->source) {
        auto show = [](const CopyDoc& d) {
          return d.found ? absl::StrCat("seq_no ", d.seq_no, " term ", d.term,
                                        " version ", d.version, " ", d.source)
                         : std::string("absent");
        };
        return Fail(name,
                    absl::StrCat(id, ": ", first_node, " holds ", show(*first),
                                 ", ", node, " holds ", show(doc)));
      }
    }
  }
  return Pass(name, absl::StrCat(compared, " copies of ", s.docs.size(),
                                 " documents identical"));
}

CheckOutcome CheckAckedWrites(const std::vector<HistoryEvent>& history,
                              const std::vector<AckedWrite>& acks,
                              const FinalState& s,
                              const std::string& workload) {
  const char* name = "acknowledged-writes-present";
  // (1) One acknowledged operation per (shard, seq_no).
  std::map<std::pair<int, int64_t>, const AckedWrite*> by_seq;
  std::map<int, int64_t> max_acked;
  for (const AckedWrite& a : acks) {
    if (a.seq_no < 0) continue;
    max_acked[a.shard] = std::max(max_acked[a.shard], a.seq_no);
    auto [it, inserted] = by_seq.emplace(std::make_pair(a.shard, a.seq_no), &a);
    if (inserted) continue;
    const AckedWrite& b = *it->second;
    if (b.key == a.key && b.value == a.value &&
        b.primary_term == a.primary_term)
      continue;
    const AckedWrite& lost = b.complete_ns <= a.complete_ns ? b : a;
    const AckedWrite& later = &lost == &a ? b : a;
    return Fail(
        name, absl::StrCat(
                  "acknowledged writes lost: ", lost.key, "=",
                  ValueText(lost.value), " was acknowledged at seq_no ",
                  lost.seq_no, " term ", lost.primary_term, ", and seq_no ",
                  later.seq_no, " was acknowledged again later for ", later.key,
                  "=", ValueText(later.value), " in term ", later.primary_term,
                  ": the first write is on no copy any more"));
  }
  // (2) Every in-sync copy reaches the highest acknowledged seq_no.
  for (const auto& [shard, copies] : s.max_seq_no) {
    for (const auto& [node, max] : copies) {
      auto it = max_acked.find(shard);
      if (it != max_acked.end() && max < it->second) {
        return Fail(
            name, absl::StrCat("acknowledged writes lost: seq_no ", it->second,
                               " of shard ", shard,
                               " was acknowledged, but the in-sync copy on ",
                               node, " ends at max_seq_no ", max));
      }
    }
  }
  // (3) Each document ends with its last acknowledged value, or with the
  // value of a write that had not completed when that one began.
  if (workload != "bulk") {
    std::map<std::string, std::vector<Mutation>> mutations = Mutations(history);
    for (const auto& [id, copies] : s.docs) {
      auto m = mutations.find(id);
      if (m == mutations.end()) continue;
      const Mutation* last = nullptr;
      for (const Mutation& mu : m->second) {
        if (mu.acked && (last == nullptr || mu.invoke > last->invoke))
          last = &mu;
      }
      if (last == nullptr) continue;
      std::set<int64_t> allowed = {last->value};
      for (const Mutation& mu : m->second) {
        if (mu.complete > last->invoke) allowed.insert(mu.value);
      }
      for (const auto& [node, doc] : copies) {
        if (doc.seq_no == -2) continue;
        if (allowed.contains(doc.value)) continue;
        return Fail(name, absl::StrCat(
                              "acknowledged writes lost: the last acknowledged "
                              "write of ",
                              id, " wrote ", ValueText(last->value), ", but ",
                              node, " holds ", ValueText(doc.value),
                              ", which no later or concurrent write wrote"));
      }
    }
  }
  return Pass(name, absl::StrCat(acks.size(), " acknowledged writes"));
}

CheckOutcome CheckInventory(const WorkloadTally& tally, const FinalState& s) {
  const char* name = "inventory";
  int64_t acked_total = 0, unknown_total = 0;
  for (const auto& [id, copies] : s.docs) {
    const int64_t acked =
        tally.acked_decrements.contains(id) ? tally.acked_decrements.at(id) : 0;
    const int64_t unknown = tally.unknown_decrements.contains(id)
                                ? tally.unknown_decrements.at(id)
                                : 0;
    acked_total += acked;
    unknown_total += unknown;
    for (const auto& [node, doc] : copies) {
      if (!doc.found || doc.value == kNil) {
        return Fail(name, absl::StrCat(id, " is missing on ", node));
      }
      const int64_t high = kInitialStock - acked;
      const int64_t low = high - unknown;
      if (doc.value > high) {
        return Fail(
            name, absl::StrCat("lost update: ", id, " on ", node, " is ",
                               doc.value, " but ", kInitialStock, " - ", acked,
                               " acknowledged decrements = ", high,
                               " (acknowledged decrements lost)"));
      }
      if (doc.value < low) {
        return Fail(name, absl::StrCat(id, " on ", node, " is ", doc.value,
                                       ", below ", low,
                                       ": more decrements applied "
                                       "than acknowledged plus indeterminate"));
      }
    }
  }
  return Pass(name, absl::StrCat("stock = initial - ", acked_total,
                                 " acknowledged decrements (", unknown_total,
                                 " indeterminate, ", tally.cas_retries,
                                 " CAS retries after 409)"));
}

CheckOutcome CheckExternal(const WorkloadTally& tally, const FinalState& s) {
  const char* name = "external";
  for (const auto& [id, copies] : s.docs) {
    auto max_it = tally.max_acked_version.find(id);
    if (max_it == tally.max_acked_version.end()) continue;
    const int64_t max = max_it->second;
    std::set<int64_t> allowed = {max};
    if (auto u = tally.unknown_versions.find(id);
        u != tally.unknown_versions.end()) {
      for (int64_t v : u->second) {
        if (v > max) allowed.insert(v);
      }
    }
    for (const auto& [node, doc] : copies) {
      if (!doc.found) {
        return Fail(name,
                    absl::StrCat(id, " is missing on ", node,
                                 " (highest acknowledged version ", max, ")"));
      }
      if (!allowed.contains(doc.version) || doc.value != doc.version) {
        return Fail(
            name,
            absl::StrCat(id, " on ", node, " is at version ", doc.version,
                         " (v ", ValueText(doc.value),
                         "), but the highest acknowledged version is ", max));
      }
    }
  }
  return Pass(name, absl::StrCat(tally.max_acked_version.size(),
                                 " documents at their highest acknowledged "
                                 "version"));
}

CheckOutcome CheckBulk(const WorkloadTally& tally, const FinalState& s) {
  const char* name = "bulk";
  int64_t read = 0;
  for (const auto& [id, value] : tally.bulk_acked) {
    auto it = s.docs.find(id);
    if (it == s.docs.end() || it->second.empty()) {
      return Fail(name, absl::StrCat("acknowledged item ", id,
                                     " was read from no in-sync copy"));
    }
    for (const auto& [node, doc] : it->second) {
      ++read;
      if (!doc.found || doc.value != value) {
        return Fail(
            name,
            absl::StrCat("acknowledged item ", id, "=", value, " is ",
                         doc.found ? absl::StrCat("v=", ValueText(doc.value))
                                   : std::string("missing"),
                         " on ", node));
      }
    }
  }
  return Pass(name, absl::StrCat(tally.bulk_acked.size(),
                                 " acknowledged items readable (", read,
                                 " copies read)"));
}

std::vector<CheckOutcome> RunChecks(const CheckInput& in,
                                    sim::CheckResult* linearizability) {
  std::vector<CheckOutcome> out;
  *linearizability = sim::CheckLinearizable(in.history, in.checker_time_limit);
  {
    CheckOutcome lin{"linearizable", CheckStatus::kPass, ""};
    switch (linearizability->verdict) {
      case sim::Verdict::kLinearizable:
        lin.detail =
            absl::StrCat(linearizability->operations, " operations on ",
                         linearizability->keys, " documents");
        break;
      case sim::Verdict::kNotLinearizable:
        lin.status = CheckStatus::kFail;
        lin.detail = absl::StrCat("document ", linearizability->key, ": ",
                                  linearizability->explanation);
        break;
      case sim::Verdict::kUnknown:
        lin.status = CheckStatus::kUnknown;
        lin.detail = linearizability->explanation;
        break;
    }
    out.push_back(lin);
  }
  out.push_back(
      CheckAckedWrites(in.history, in.acks, in.final_state, in.workload));
  if (in.workload == "inventory")
    out.push_back(CheckInventory(in.tally, in.final_state));
  if (in.workload == "external")
    out.push_back(CheckExternal(in.tally, in.final_state));
  if (in.workload == "bulk") out.push_back(CheckBulk(in.tally, in.final_state));
  out.push_back(CheckConverged(in.final_state));
  out.push_back(in.crashes.empty()
                    ? Pass("no-crash")
                    : Fail("no-crash", absl::StrJoin(in.crashes, "; ")));
  return out;
}

}  // namespace seqsim::experiment
