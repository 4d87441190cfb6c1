// The lab's client workload: reads, writes, CAS and deletes from simulated
// clients, each recorded in the history (ok / fail / info).
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "sim/lab/lab_internal.h"

namespace seqsim::sim::lab_internal {

// {"v":123} -> 123; kNil if absent.
int64_t ParseValue(const std::string& source) {
  const size_t at = source.find("\"v\":");
  if (at == std::string::npos) return kNil;
  size_t i = at + 4;
  while (i < source.size() && source[i] == ' ') ++i;
  bool negative = false;
  if (i < source.size() && source[i] == '-') {
    negative = true;
    ++i;
  }
  int64_t v = 0;
  bool any = false;
  while (i < source.size() && source[i] >= '0' && source[i] <= '9') {
    v = v * 10 + (source[i] - '0');
    any = true;
    ++i;
  }
  if (!any) return kNil;
  return negative ? -v : v;
}

void Lab::Record(EventType type, int64_t process, Fn f, const std::string& key,
                 int64_t value, int64_t expected, Outcome outcome) {
  if (config_.trace) {
    std::string text = value == kNil ? "" : absl::StrCat(value);
    if (f == Fn::kCas) {
      text =
          absl::StrCat("[", expected == kNil ? "nil" : absl::StrCat(expected),
                       " ", value == kNil ? "nil" : absl::StrCat(value), "]");
    }
    result_->timeline.push_back(
        {world_.now_ns() / 1000,
         timeline::ClientEvent{
             .process = absl::StrCat(process),
             .type = EventTypeName(type),
             .f = FnName(f),
             .key = key,
             .value = outcome == Outcome::kNone
                          ? text
                          : absl::StrCat(text, " ", OutcomeName(outcome))}});
  }
  HistoryEvent e;
  e.process = process;
  e.type = type;
  e.f = f;
  e.key = key;
  e.value = value;
  e.expected = expected;
  e.outcome = outcome;
  e.time = world_.now_ns();
  if (world_.tracing())
    world_.Trace(absl::StrCat("client-", process), ToJsonLine(e));
  if (type == EventType::kOk && process < kFinalReadProcess) ++result_->ops_ok;
  if (type == EventType::kFail) ++result_->ops_fail;
  if (type == EventType::kInfo) ++result_->ops_info;
  result_->history.push_back(std::move(e));
}

std::string Lab::PrimaryNode() {
  Coordinator* c = coordinator();
  if (c == nullptr) return "";
  const pb::IndexMeta* index = LabIndex(c->state());
  if (index == nullptr || index->shards_size() == 0) return "";
  const pb::ShardRouting& routing =
      index->shards(static_cast<int>(rng_.Below(index->shards_size())));
  const pb::ShardCopy* primary = PrimaryCopy(routing);
  return primary != nullptr ? primary->node_id() : "";
}

const std::string& Lab::BelievedPrimary(Client* c, const std::string& key) {
  constexpr int64_t kRefreshNs = 1000 * 1000000LL;
  if (c->believed_at_ns < 0 ||
      world_.now_ns() - c->believed_at_ns >= kRefreshNs) {
    c->believed_at_ns = world_.now_ns();
    c->believed_primary.clear();
    Coordinator* coord = coordinator();
    const pb::IndexMeta* index =
        coord != nullptr ? LabIndex(coord->state()) : nullptr;
    if (index != nullptr) {
      for (const auto& routing : index->shards()) {
        if (routing.shard() != ShardOf(key)) continue;
        for (const auto& copy : routing.copies()) {
          if (copy.primary()) c->believed_primary = copy.node_id();
        }
      }
    }
  }
  return c->believed_primary;
}

void Lab::ScheduleNext(Client* c) {
  const int64_t think = rng_.Range(0, 20) * 1000000;
  if (world_.now_ns() + think >= workload_end_ns_ || world_.stopped()) return;
  world_.Schedule(absl::Nanoseconds(think), [this, c]() { Issue(c); });
}

void Lab::Issue(Client* c) {
  if (world_.stopped()) return;
  ++busy_;
  const std::string key = Key(static_cast<int>(rng_.Below(config_.keys)));
  const std::string& to = node_ids_[rng_.Below(node_ids_.size())];
  // Drawn only when deletes are on: runs without them replay unchanged.
  if (config_.delete_percent > 0 &&
      rng_.Below(100) < static_cast<uint64_t>(config_.delete_percent)) {
    Delete(c, key, to);
    return;
  }
  const uint64_t r = rng_.Below(100);
  if (r < 35) {
    Read(c, key, to, false);
  } else if (r < 70) {
    Write(c, key, to, false, kNil, 0, 0);
  } else {
    Read(c, key, to, true);
  }
}

void Lab::Read(Client* c, const std::string& key, const std::string& to,
               bool then_cas) {
  const int64_t process = c->process;
  Record(EventType::kInvoke, process, Fn::kRead, key, kNil);
  pb::Envelope request;
  request.mutable_get()->set_index(kLabIndex);
  request.mutable_get()->set_id(key);
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, to, then_cas,
       process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok()) {
          Record(EventType::kInfo, process, Fn::kRead, key, kNil);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::GetResponse& get = reply->get_response();
        if (HasError(get.error()) || !reply->has_get_response()) {
          Record(EventType::kFail, process, Fn::kRead, key, kNil);
          Done(c);
          return;
        }
        const int64_t value = get.found() ? ParseValue(get.source()) : kNil;
        Record(EventType::kOk, process, Fn::kRead, key, value);
        if (then_cas && get.found() && value != kNil &&
            world_.now_ns() < workload_end_ns_) {
          // Half the CAS go where the client believes the primary is (a
          // correct expectation sent to a primary that may have been deposed
          // since: R11), half through the node that answered the read.
          std::string cas_to = to;
          if (rng_.Chance(0.5)) {
            const std::string& believed = BelievedPrimary(c, key);
            if (!believed.empty()) cas_to = believed;
          }
          Write(c, key, cas_to, true, value, get.seq_no(), get.primary_term());
          return;
        }
        Done(c);
      },
      config_.client_timeout);
}

void Lab::Write(Client* c, const std::string& key, const std::string& to,
                bool cas, int64_t expected, int64_t seq_no, int64_t term) {
  const int64_t process = c->process;
  const int64_t value = next_value_++;
  const Fn f = cas ? Fn::kCas : Fn::kWrite;
  Record(EventType::kInvoke, process, f, key, value, expected);
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(kLabIndex);
  write->set_id(key);
  write->set_kind(pb::WriteRequest::INDEX);
  write->set_source(absl::StrCat("{\"v\":", value, "}"));
  if (cas) {
    write->set_if_seq_no(seq_no);
    write->set_if_primary_term(term);
  }
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, f, value, expected,
       process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() && NeverDelivered(reply.status())) {
          // The request never reached a node: it certainly did not happen.
          Record(EventType::kFail, process, f, key, value, expected);
          Done(c);
          return;
        }
        if (!reply.ok() || !reply->has_write_response()) {
          Record(EventType::kInfo, process, f, key, value, expected);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::WriteResponse& response = reply->write_response();
        if (HasError(response.error())) {
          const int status = response.error().status();
          if (world_.tracing()) {
            world_.Trace(
                absl::StrCat("client-", process),
                absl::StrCat("error ", status, " ", response.error().type(),
                             ": ", response.error().reason()));
          }
          // 4xx (a 409 version conflict included) is a definite failure:
          // nodes retry a forwarded write only when the primary was never
          // reached, so a CAS that did apply never comes back as a conflict
          // with its own effect.
          //
          // A 409 is more than "no effect": it is a claim that the document
          // was not at the expected version, which the checker verifies (R11:
          // a deposed primary must not answer it from its stale copy).
          if (status == 409 &&
              response.error().type() == "version_conflict_engine_exception") {
            Record(EventType::kFail, process, f, key, value, expected,
                   Outcome::kConflict);
          } else if (status >= 400 && status < 500) {
            Record(EventType::kFail, process, f, key, value, expected);
          } else {
            Record(EventType::kInfo, process, f, key, value, expected);
            Indeterminate(c);
          }
          Done(c);
          return;
        }
        Record(EventType::kOk, process, f, key, value, expected);
        int64_t& acked = acked_max_seq_no_[ShardOf(key)];
        if (response.seq_no() > acked) {
          acked = response.seq_no();
          inputs_changed_ = true;
        }
        if (config_.check_every_event) CheckInvariants();
        Done(c);
      },
      config_.client_timeout);
}

void Lab::Delete(Client* c, const std::string& key, const std::string& to) {
  const int64_t process = c->process;
  Record(EventType::kInvoke, process, Fn::kDelete, key, kNil);
  pb::Envelope request;
  pb::WriteRequest* write = request.mutable_write();
  write->set_index(kLabIndex);
  write->set_id(key);
  write->set_kind(pb::WriteRequest::DELETE);
  world_.ClientSend(
      absl::StrCat("client-", c->index), to, std::move(request),
      [this, c, key, process](const absl::StatusOr<pb::Envelope>& reply) {
        if (!reply.ok() && NeverDelivered(reply.status())) {
          Record(EventType::kFail, process, Fn::kDelete, key, kNil);
          Done(c);
          return;
        }
        if (!reply.ok() || !reply->has_write_response()) {
          Record(EventType::kInfo, process, Fn::kDelete, key, kNil);
          Indeterminate(c);
          Done(c);
          return;
        }
        const pb::WriteResponse& response = reply->write_response();
        if (HasError(response.error())) {
          const int status = response.error().status();
          if (status >= 400 && status < 500) {
            Record(EventType::kFail, process, Fn::kDelete, key, kNil);
          } else {
            Record(EventType::kInfo, process, Fn::kDelete, key, kNil);
            Indeterminate(c);
          }
          Done(c);
          return;
        }
        // "deleted": the document existed; "not_found": it was absent (a
        // delete of a missing document still consumes a seq_no).
        Record(EventType::kOk, process, Fn::kDelete, key, kNil, kNil,
               response.result() == "not_found" ? Outcome::kNotFound
                                                : Outcome::kNone);
        int64_t& acked = acked_max_seq_no_[ShardOf(key)];
        if (response.seq_no() > acked) {
          acked = response.seq_no();
          inputs_changed_ = true;
        }
        if (config_.check_every_event) CheckInvariants();
        Done(c);
      },
      config_.client_timeout);
}

}  // namespace seqsim::sim::lab_internal
