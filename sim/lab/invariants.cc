// The lab's invariant checks after every event (one-primary-per-term,
// replica-term-fencing, gcp-below-in-sync-lcp, acked-write-on-in-sync,
// same-ops-up-to-gcp), quiet-down-convergence and the final reads.
#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/es_error.h"
#include "sim/lab/lab_internal.h"

namespace seqsim::sim::lab_internal {

std::string Lab::EventText() const {
  const EventInfo& e = world_.last_event();
  std::string text =
      absl::StrCat("after the event at ", FormatMillis(e.time_ns), " ms");
  if (!e.actor.empty()) absl::StrAppend(&text, " on ", e.actor);
  switch (e.kind) {
    case EventInfo::kStart:
      absl::StrAppend(&text, " (start)");
      break;
    case EventInfo::kTimer:
      absl::StrAppend(&text, " (timer)");
      break;
    case EventInfo::kRequest:
      absl::StrAppend(&text, " (", BodyName(e.body), " from ", e.from, ")");
      break;
    case EventInfo::kReply:
      absl::StrAppend(&text, " (reply ", BodyName(e.body), " from ", e.from,
                      ")");
      break;
    case EventInfo::kTimeout:
      absl::StrAppend(&text, " (rpc timeout)");
      break;
    case EventInfo::kWorld:
      absl::StrAppend(&text, " (client or nemesis step)");
      break;
  }
  return text;
}

void Lab::Violation(const std::string& name, const std::string& detail) {
  if (!result_->violation.empty()) return;
  result_->violation = name;
  result_->detail = detail;
  world_.Stop(absl::StrCat(name, ": ", detail));
}

void Lab::ObserveRpc(const std::string& caller, const std::string& callee,
                     const pb::Envelope& request,
                     const pb::Envelope& response) {
  int64_t term = 0;
  const char* what = nullptr;
  switch (request.body_case()) {
    case pb::Envelope::kReplicate:
      term = request.replicate().primary_term();
      what = "replicate";
      break;
    case pb::Envelope::kResync:
      term = request.resync().primary_term();
      what = "resync";
      break;
    case pb::Envelope::kRecoveryOps:
      term = request.recovery_ops().primary_term();
      what = "recovery_ops";
      break;
    default:
      return;
  }
  if (!response.has_replicate_response()) return;
  const pb::ReplicateResponse& r = response.replicate_response();
  if (!HasError(r.error()) && r.primary_term() > term) {
    Violation("replica-term-fencing",
              absl::StrCat(callee, " acked a ", what, " from ", caller,
                           " with term ", term, " below its own term ",
                           r.primary_term(), ", ", EventText()));
  }
}

bool Lab::RefreshNode(size_t i) {
  NodeInput& input = inputs_[i];
  Node* n = NodeAt(i);
  if (n == nullptr) {
    const bool was_up = input.up;
    input.up = false;
    input.copies.clear();
    return was_up;
  }
  std::vector<Node::CopySummary>& fresh = scratch_summaries_;
  n->CopySummaries(&fresh);
  // The fields the invariants read (docs is not one of them).
  auto same = [](const CopyInput& x, const Node::CopySummary& y) {
    return x.shard == y.shard && x.primary_term == y.primary_term &&
           x.max_seq_no == y.max_seq_no &&
           x.local_checkpoint == y.local_checkpoint &&
           x.global_checkpoint == y.global_checkpoint &&
           x.in_sync == y.in_sync &&
           (x.role == y.role || std::strcmp(x.role, y.role) == 0) &&
           x.index_uuid == *y.index_uuid;
  };
  if (input.up && input.state_version == n->state_version() &&
      std::equal(input.copies.begin(), input.copies.end(), fresh.begin(),
                 fresh.end(), same)) {
    return false;
  }
  input.up = true;
  input.state_version = n->state_version();
  input.copies.resize(fresh.size());
  for (size_t k = 0; k < fresh.size(); ++k) {
    CopyInput& c = input.copies[k];
    const Node::CopySummary& f = fresh[k];
    c.index_uuid = *f.index_uuid;
    c.shard = f.shard;
    c.role = f.role;
    c.primary = std::strcmp(f.role, "primary") == 0;
    c.primary_term = f.primary_term;
    c.max_seq_no = f.max_seq_no;
    c.local_checkpoint = f.local_checkpoint;
    c.global_checkpoint = f.global_checkpoint;
    c.in_sync = f.in_sync;
  }
  return true;
}

void Lab::RefreshInputs() {
  // An actor changes only its own state, in its own events; world events
  // (faults, restarts, harness steps) may change any. Endpoints are compared
  // by index (stable once added), not by name.
  const int actor = world_.last_event_endpoint();
  const bool all = refresh_all_ ||
                   world_.last_event_kind() == EventInfo::kWorld || actor < 0;
  refresh_all_ = false;
  if (node_endpoints_.size() != node_ids_.size()) {
    node_endpoints_.clear();
    for (const std::string& id : node_ids_)
      node_endpoints_.push_back(world_.endpoint_index(id));
  }
  if (coordinator_endpoint_ < 0)
    coordinator_endpoint_ = world_.endpoint_index(kCoordinatorId);
  if (all || actor == coordinator_endpoint_) inputs_changed_ = true;
  inputs_.resize(node_ids_.size());
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (all) {
      if (RefreshNode(i)) inputs_changed_ = true;
    } else if (node_endpoints_[i] == actor) {
      if (RefreshNode(i)) inputs_changed_ = true;
      break;  // node ids are distinct
    }
  }
}

// Runs after every event, so it is the lab's hot path: the node statuses are
// cached and refreshed only for the actor the event ran on, the checks run
// only when an input changed (a node's shard status or applied state, the
// coordinator, an acked write), and what they read from cluster states (the
// routing, the in-sync sets) is kept until those states change (RefreshPlan).
// The verdicts are the same as checking every time from scratch: the checks
// are functions of those inputs.
void Lab::CheckInvariants() {
  if (world_.stopped()) return;
  RefreshInputs();
  if (!inputs_changed_) return;
  inputs_changed_ = false;
  // One primary per shard and term, over every copy in node order (a
  // handful: linear scans, no allocation).
  using Copy = CopyRef;
  std::vector<Copy>& all = scratch_copies_;
  all.clear();
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    const std::string& id = node_ids_[i];
    if (!inputs_[i].up) continue;
    for (const CopyInput& shard : inputs_[i].copies) {
      if (shard.primary) {
        for (const Copy& other : all) {
          const CopyInput& o = *other.status;
          if (o.primary && o.shard == shard.shard &&
              o.primary_term == shard.primary_term &&
              o.index_uuid == shard.index_uuid) {
            Violation(
                "one-primary-per-term",
                absl::StrCat(*other.node, " and ", id, " are both primary of [",
                             kLabIndex, "][", shard.shard, "] in term ",
                             shard.primary_term, ", ", EventText()));
            return;
          }
        }
      }
      all.push_back({&id, &shard});
    }
  }
  Coordinator* c = coordinator();
  if (c == nullptr) return;
  if (!RefreshPlan(c)) return;  // the coordinator knows no lab index
  // Each node's copy of each shard of the coordinator's lab index (the first
  // in node order, as the checks have always read it).
  const size_t shards = plan_shard_count_;
  copy_table_.assign(node_ids_.size() * shards, nullptr);
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (!inputs_[i].up) continue;
    for (const CopyInput& copy : inputs_[i].copies) {
      if (copy.shard < 0 || static_cast<size_t>(copy.shard) >= shards ||
          copy.index_uuid != plan_uuid_)
        continue;
      const CopyInput*& slot = copy_table_[i * shards + copy.shard];
      if (slot == nullptr) slot = &copy;
    }
  }
  for (ShardPlan& plan : plan_) {
    const int shard = plan.shard;
    // The status of node `index`'s copy of this shard, or nullptr.
    auto copy_of = [&](int index) -> const CopyInput* {
      if (index < 0 || shard < 0 || static_cast<size_t>(shard) >= shards)
        return nullptr;
      return copy_table_[index * shards + shard];
    };
    bool any_copy = false;
    for (size_t i = 0; i < node_ids_.size() && !any_copy; ++i)
      any_copy = copy_of(static_cast<int>(i)) != nullptr;
    if (!any_copy) continue;
    const CopyInput* p = copy_of(plan.primary_index);
    const bool primary_current =
        p != nullptr && p->primary && p->primary_term == plan.primary_term;
    // The global checkpoint is bounded by the copies in sync both for the
    // primary (the cluster state it applied, what its tracker counts) and for
    // the coordinator (a copy the coordinator has removed may already be wiped
    // for a file-based recovery).
    Node* pn = nullptr;
    const std::vector<int>* primary_in_sync = &kNoMembers;
    if (primary_current) {
      pn = NodeAt(plan.primary_index);
      primary_in_sync = &PrimaryInSync(plan, pn);
    }
    // Members in sync for both, with a copy, in name order.
    std::vector<const std::string*>& members = scratch_both_;
    members.clear();
    for (int member : *primary_in_sync) {
      const CopyInput* y = copy_of(member);
      if (y == nullptr || !plan.coordinator_in_sync_mask[member]) continue;
      if (p->global_checkpoint > y->local_checkpoint) {
        Violation(
            "gcp-below-in-sync-lcp",
            absl::StrCat("primary ", plan.primary, " has global checkpoint ",
                         p->global_checkpoint, " but in-sync copy ",
                         node_ids_[member], " has local checkpoint ",
                         y->local_checkpoint, ", ", EventText()));
        return;
      }
      members.push_back(&node_ids_[member]);
    }
    if (primary_current) {
      CheckSameOps(shard, plan.primary, pn, plan.primary_term,
                   p->global_checkpoint, members);
      if (world_.stopped()) return;
    }
    auto acked = acked_max_seq_no_.find(shard);
    if (acked == acked_max_seq_no_.end()) continue;
    for (int member : plan.coordinator_in_sync) {
      const CopyInput* y = copy_of(member);
      if (y == nullptr) continue;
      if (y->max_seq_no < acked->second) {
        Violation("acked-write-on-in-sync",
                  absl::StrCat("a write with seq_no ", acked->second, " on [",
                               kLabIndex, "][", shard,
                               "] was acknowledged but in-sync copy ",
                               node_ids_[member], " has max_seq_no ",
                               y->max_seq_no, ", ", EventText()));
        return;
      }
    }
  }
}

int Lab::NodeIndex(const std::string& id) const {
  for (size_t i = 0; i < node_ids_.size(); ++i) {
    if (node_ids_[i] == id) return static_cast<int>(i);
  }
  return -1;
}

bool Lab::RefreshPlan(const Coordinator* c) {
  const pb::ClusterState& state = c->state();
  if (plan_valid_ && plan_coordinator_ == c &&
      plan_state_version_ == state.version())
    return plan_has_index_;
  plan_valid_ = true;
  plan_coordinator_ = c;
  plan_state_version_ = state.version();
  plan_.clear();
  plan_shard_count_ = 0;
  const pb::IndexMeta* index = LabIndex(state);
  plan_has_index_ = index != nullptr;
  if (index == nullptr) return false;
  plan_uuid_ = index->uuid();
  for (const auto& routing : index->shards()) {
    ShardPlan& plan = plan_.emplace_back();
    plan.shard = routing.shard();
    if (plan.shard >= 0)
      plan_shard_count_ =
          std::max(plan_shard_count_, static_cast<size_t>(plan.shard) + 1);
    for (const auto& copy : routing.copies()) {
      if (copy.primary()) plan.primary = copy.node_id();
    }
    plan.primary_index = NodeIndex(plan.primary);
    plan.primary_term = routing.primary_term();
    plan.coordinator_in_sync_mask.assign(node_ids_.size(), false);
    for (const auto& member : routing.in_sync()) {
      const int i = NodeIndex(member);
      if (i < 0) continue;  // not a lab node: it has no copy to check
      plan.coordinator_in_sync.push_back(i);
      plan.coordinator_in_sync_mask[i] = true;
    }
  }
  return true;
}

const std::vector<int>& Lab::PrimaryInSync(ShardPlan& plan, const Node* pn) {
  const int64_t version = pn == nullptr ? -1 : pn->state_version();
  if (plan.applied_from == pn && plan.applied_version == version &&
      plan.applied_valid)
    return plan.primary_in_sync;
  plan.applied_from = pn;
  plan.applied_version = version;
  plan.applied_valid = true;
  // The primary's in-sync set as it applied it: sorted by name, without
  // duplicates, lab nodes only (others have no copy to check).
  std::vector<int>& members = plan.primary_in_sync;
  members.clear();
  const pb::IndexMeta* applied =
      pn != nullptr ? LabIndex(pn->cluster_state()) : nullptr;
  if (applied != nullptr) {
    for (const auto& r : applied->shards()) {
      if (r.shard() != plan.shard) continue;
      for (const auto& member : r.in_sync()) {
        const int i = NodeIndex(member);
        if (i >= 0) members.push_back(i);
      }
    }
  }
  std::sort(members.begin(), members.end(),
            [&](int a, int b) { return node_ids_[a] < node_ids_[b]; });
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return members;
}

// same-ops-up-to-gcp (the formal model's SameTranslogUpToGlobalCheckPoint):
// every in-sync copy holds the primary's operation (seq_no, term, type, id) for
// every seq_no up to the primary's global checkpoint. Incremental: a copy is
// compared only above the seq_no it last agreed up to. Seq_nos that one side no
// longer retains (history discarded, below an installed snapshot) are skipped.
void Lab::CheckSameOps(int shard, const std::string& primary, Node* pn,
                       int64_t term, int64_t known_gcp,
                       const std::vector<const std::string*>& members) {
  VerifiedCall& last = last_verified_;
  if (last.valid && last.epoch == agreement_epoch_ && last.shard == shard &&
      last.term == term && last.known_gcp == known_gcp &&
      last.primary == primary &&
      std::equal(
          members.begin(), members.end(), last.members.begin(),
          last.members.end(),
          [](const std::string* m, const std::string& n) { return *m == n; })) {
    return;
  }
  for (auto it = agreement_.lower_bound({shard, std::string()});
       it != agreement_.end() && it->first.first == shard;) {
    const bool member = std::any_of(
        members.begin(), members.end(),
        [&](const std::string* m) { return *m == it->first.second; });
    if (member) {
      ++it;
    } else {
      it = agreement_.erase(it);
      ++agreement_epoch_;
    }
  }
  // Most events move no global checkpoint: nothing new to compare.
  const bool all_verified =
      std::all_of(members.begin(), members.end(), [&](const std::string* m) {
        if (*m == primary) return true;
        auto it = agreement_.find({shard, *m});
        return it != agreement_.end() && it->second.primary == primary &&
               it->second.term == term && it->second.verified >= known_gcp;
      });
  if (all_verified) {
    last.valid = true;
    last.epoch = agreement_epoch_;
    last.shard = shard;
    last.primary = primary;
    last.term = term;
    last.known_gcp = known_gcp;
    last.members.resize(members.size());
    for (size_t i = 0; i < members.size(); ++i) last.members[i] = *members[i];
    return;
  }
  ++agreement_epoch_;  // the comparisons below may change it
  const ShardEngine* pe =
      pn != nullptr ? pn->engine(kLabIndex, shard) : nullptr;
  if (pe == nullptr) return;
  const int64_t gcp = pe->global_checkpoint();
  for (const std::string* m : members) {
    const std::string& member = *m;
    if (member == primary) continue;
    Node* n = node(member);
    const ShardEngine* e = n != nullptr ? n->engine(kLabIndex, shard) : nullptr;
    if (e == nullptr) {
      agreement_.erase({shard, member});
      continue;
    }
    Agreement& a = agreement_[{shard, member}];
    if (a.primary != primary || a.term != term || a.primary_engine != pe ||
        a.engine != e) {
      a = Agreement{primary, term, pe, e, kNoOpsPerformed};
    }
    for (int64_t s = a.verified + 1; s <= gcp; ++s) {
      // Identical bytes are the same operation: no need to parse them.
      const std::optional<std::string_view> want_bytes =
          pe->OperationBytesAt(s);
      if (want_bytes.has_value() && want_bytes == e->OperationBytesAt(s))
        continue;
      const std::optional<pb::Operation> want = pe->OperationAt(s);
      const std::optional<pb::Operation> got = e->OperationAt(s);
      if (!want.has_value() || !got.has_value()) {
        // Missing where history is still retained on both sides: diverged.
        if (want.has_value() == got.has_value() ||
            !pe->HasOperationsAbove(s - 1) || !e->HasOperationsAbove(s - 1))
          continue;
      } else if (want->primary_term() == got->primary_term() &&
                 want->type() == got->type() && want->id() == got->id() &&
                 want->seq_no() == got->seq_no()) {
        continue;
      }
      auto describe = [](const std::optional<pb::Operation>& op) {
        if (!op.has_value()) return std::string("nothing");
        return absl::StrCat(pb::OpType_Name(op->type()), " [", op->id(),
                            "] term ", op->primary_term());
      };
      Violation("same-ops-up-to-gcp",
                absl::StrCat("[", kLabIndex, "][", shard, "] seq_no ", s,
                             " (<= global checkpoint ", gcp, " of primary ",
                             primary, "): primary holds ", describe(want),
                             " but in-sync copy ", member, " holds ",
                             describe(got), ", ", EventText()));
      return;
    }
    a.verified = std::max(a.verified, gcp);
  }
}

bool Lab::Converged(std::string* why) {
  if (busy_ > 0) {
    *why = absl::StrCat(busy_, " client operations still in flight");
    return false;
  }
  Coordinator* c = coordinator();
  if (c == nullptr) {
    *why = "the coordinator is down";
    return false;
  }
  const ClusterHealth health = ComputeHealth(c->state(), kLabIndex);
  if (health.status != "green") {
    *why = absl::StrCat("health is ", health.status);
    return false;
  }
  const pb::IndexMeta* index = LabIndex(c->state());
  if (index == nullptr) {
    *why = "the index is gone";
    return false;
  }
  for (const auto& routing : index->shards()) {
    std::string first;
    int64_t max_seq_no = 0, lcp = 0, gcp = 0, docs = 0;
    for (const auto& member : routing.in_sync()) {
      Node* n = node(member);
      if (n == nullptr) {
        *why = absl::StrCat(member, " is down");
        return false;
      }
      std::vector<Node::CopySummary>& shards = scratch_summaries_;
      n->CopySummaries(&shards);
      const Node::CopySummary* s = nullptr;
      for (const auto& shard : shards) {
        if (*shard.index_uuid == index->uuid() &&
            shard.shard == routing.shard())
          s = &shard;
      }
      if (s == nullptr) {
        *why = absl::StrCat(member, " has no copy of shard ", routing.shard());
        return false;
      }
      if (first.empty()) {
        first = member;
        max_seq_no = s->max_seq_no;
        lcp = s->local_checkpoint;
        gcp = s->global_checkpoint;
        docs = s->docs;
      }
      // Contents must agree (same ops, no gaps, same documents). A replica's
      // copy of the global checkpoint may lag (it only learns it from the
      // primary), so it is not compared.
      if (s->max_seq_no != max_seq_no || s->local_checkpoint != lcp ||
          s->docs != docs || lcp != max_seq_no) {
        if (member == first) {
          *why = absl::StrCat("shard ", routing.shard(), ": in-sync copy ",
                              member, " has max_seq_no/lcp/gcp ", max_seq_no,
                              "/", lcp, "/", gcp);
          return false;
        }
        *why =
            absl::StrCat("shard ", routing.shard(),
                         " in-sync copies (max_seq_no/lcp/gcp/docs): ", first,
                         " ", max_seq_no, "/", lcp, "/", gcp, "/", docs, ", ",
                         member, " ", s->max_seq_no, "/", s->local_checkpoint,
                         "/", s->global_checkpoint, "/", s->docs);
        return false;
      }
    }
  }
  return true;
}

void Lab::FinalReads() {
  Coordinator* c = coordinator();
  const pb::IndexMeta* index = c ? LabIndex(c->state()) : nullptr;
  if (index == nullptr) return;
  struct Answer {
    std::string node;
    std::string text;
  };
  std::map<std::string, std::vector<Answer>> answers;
  int pending = 0;
  int64_t process = kFinalReadProcess;
  for (int k = 0; k < config_.keys; ++k) {
    const std::string key = Key(k);
    const pb::ShardRouting* routing = nullptr;
    for (const auto& r : index->shards()) {
      if (r.shard() == ShardOf(key)) routing = &r;
    }
    if (routing == nullptr) continue;
    for (const auto& member : routing->in_sync()) {
      pb::Envelope request;
      request.mutable_get()->set_index(kLabIndex);
      request.mutable_get()->set_id(key);
      request.mutable_get()->set_prefer_local(true);
      ++pending;
      const int64_t p = process++;
      Record(EventType::kInvoke, p, Fn::kRead, key, kNil);
      world_.ClientSend(
          "final-reader", member, std::move(request),
          [this, &answers, &pending, key, member,
           p](const absl::StatusOr<pb::Envelope>& reply) {
            --pending;
            std::string text;
            if (!reply.ok() || HasError(reply->get_response().error())) {
              text = reply.ok()
                         ? reply->get_response().error().reason()
                         : reply.status().ToString(
                               absl::StatusToStringMode::kWithNoExtraData);
              Record(EventType::kFail, p, Fn::kRead, key, kNil);
            } else {
              const pb::GetResponse& g = reply->get_response();
              text = g.found() ? absl::StrCat("version ", g.version(),
                                              " seq_no ", g.seq_no(), " term ",
                                              g.primary_term(), " ", g.source())
                               : "not found";
              Record(EventType::kOk, p, Fn::kRead, key,
                     g.found() ? ParseValue(g.source()) : kNil);
            }
            answers[key].push_back({member, text});
          },
          absl::Seconds(5));
    }
  }
  world_.RunUntilTrue([&]() { return pending == 0; }, absl::Seconds(10));
  for (const auto& [key, list] : answers) {
    for (const Answer& a : list) {
      if (a.text != list.front().text) {
        Violation("quiet-down-convergence",
                  absl::StrCat("in-sync copies differ on ", key,
                               " after quiet-down: ", list.front().node,
                               " has {", list.front().text, "}, ", a.node,
                               " has {", a.text, "}"));
        return;
      }
    }
  }
}

}  // namespace seqsim::sim::lab_internal
