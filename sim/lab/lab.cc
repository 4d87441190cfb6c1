// One seeded lab run (lab.h): booting the cluster through the harness, the
// phases (workload with faults, heal, quiet-down, final reads, the
// linearizability check) and RunLab.
#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/lab/lab_internal.h"

namespace seqsim::sim::lab_internal {

bool Lab::Setup() {
  // A crash keeps the synced bytes plus a random prefix of the unsynced tail (a
  // torn write), which the translog must detect and cut off on restart.
  world_.network().torn_writes = true;
  world_.disk_options().min_sync = config_.fsync_min;
  world_.disk_options().max_sync = config_.fsync_max;
  world_.disk_options().sync_jitter = config_.fsync_jitter;
  AddActor(kCoordinatorId, CoordinatorFactory());
  for (int n = 1; n <= config_.nodes; ++n) {
    NodeOptions options = SimNodeOptions(n, config_.unsafe);
    options.gc_deletes = config_.gc_deletes;
    options.retention_lease_period = config_.retention_lease_period;
    options.translog_generation_threshold_bytes =
        static_cast<uint64_t>(config_.translog_generation_bytes);
    options.flush_threshold_bytes =
        static_cast<uint64_t>(config_.flush_threshold_bytes);
    node_ids_.push_back(options.id);
    AddActor(options.id, [options](Env* env) {
      return std::make_unique<Node>(env, options);
    });
  }
  if (!WaitAllJoined(world_, config_.nodes, absl::Seconds(10))) {
    Violation("setup", "the nodes did not all join the coordinator within 10s");
    return false;
  }
  if (!CreateIndexAndWait(world_, node_ids_[0], kLabIndex, config_.shards,
                          config_.replicas, /*max_attempts=*/20,
                          absl::Seconds(20))) {
    Violation("setup", "index creation did not succeed within 20s");
    return false;
  }
  if (!WaitIndexGreen(world_, kLabIndex, absl::Seconds(20))) {
    Violation("setup", "the index did not turn green within 20s");
    return false;
  }
  return true;
}

void Lab::RunPhases() {
  if (config_.trace) {
    world_.set_trace([this](const std::string& line, LogMark) {
      result_->trace.push_back(line);
    });
    world_.set_message_observer([this](const MessageEvent& m) {
      const timeline::Micros t = m.time_ns / 1000;
      const auto id = static_cast<timeline::MessageId>(m.id);
      switch (m.kind) {
        case MessageEvent::kSend:
          result_->timeline.push_back(
              {t, timeline::SendEvent{.id = id,
                                      .from = m.from,
                                      .to = m.to,
                                      .op = BodyName(m.message->body_case())}});
          break;
        case MessageEvent::kDeliver:
          result_->timeline.push_back(
              {t, timeline::DeliverEvent{.id = id, .to = m.to}});
          break;
        case MessageEvent::kDrop:
          result_->timeline.push_back(
              {t, timeline::DropEvent{.id = id, .reason = m.reason}});
          break;
      }
    });
  }
  world_.set_rpc_observer(
      [this](const std::string& caller, const std::string& callee,
             const pb::Envelope& request, const pb::Envelope& response) {
        ObserveRpc(caller, callee, request, response);
      },
      // The requests ObserveRpc checks.
      {pb::Envelope::kReplicate, pb::Envelope::kResync,
       pb::Envelope::kRecoveryOps});
  if (config_.check_every_event) {
    world_.set_after_event([this](const EventInfo&) { CheckInvariants(); },
                           /*names=*/false);
  }
  if (!Setup()) return;
  const int64_t start = world_.now_ns();
  workload_end_ns_ = start + absl::ToInt64Nanoseconds(config_.workload);
  clients_.resize(config_.clients);
  for (int i = 0; i < config_.clients; ++i) {
    clients_[i].index = i;
    clients_[i].process = i;
    ScheduleNext(&clients_[i]);
  }
  ScheduleNemesis(start, workload_end_ns_);
  world_.RunUntil(absl::Nanoseconds(workload_end_ns_));
  if (world_.stopped()) return;
  HealAll();
  std::string why;
  const bool converged = world_.RunUntilTrue([&]() { return Converged(&why); },
                                             config_.quiet_down);
  if (world_.stopped()) return;
  if (!converged) {
    Violation("quiet-down-convergence",
              absl::StrCat("copies did not converge within ",
                           absl::FormatDuration(config_.quiet_down),
                           " after faults healed: ", why));
    return;
  }
  // Once more from scratch: every retained operation up to the global
  // checkpoint, on every in-sync copy (the only check of it when invariants
  // are not checked after every event).
  agreement_.clear();
  ++agreement_epoch_;
  refresh_all_ = true;
  inputs_changed_ = true;
  CheckInvariants();
  if (world_.stopped()) return;
  FinalReads();
  if (world_.stopped()) return;
  // Every operation is checked, reads under faults included: a GET is served by
  // the primary behind a read barrier (its in-sync replicas confirm its term),
  // so a deposed primary cannot answer a stale or dirty read.
  result_->check =
      CheckLinearizable(result_->history, config_.checker_time_limit);
  if (result_->check.verdict == Verdict::kNotLinearizable) {
    Violation("linearizable", result_->check.explanation);
  } else if (result_->check.verdict == Verdict::kUnknown) {
    Violation("linearizable-unknown", result_->check.explanation);
  }
  if (result_->violation.empty()) world_.Trace("lab", "run passed");
}

}  // namespace seqsim::sim::lab_internal

namespace seqsim::sim {

LabResult RunLab(const LabConfig& input) {
  LabConfig config = input;
  auto scenario = Scenarios().find(config.scenario);
  if (scenario != Scenarios().end()) scenario->second(&config);
  LabResult result;
  result.replay = ReplayCommand(input);
  const auto started = std::chrono::steady_clock::now();
  {
    lab_internal::Lab lab(config, &result);
    lab.Run();
  }
  result.passed = result.violation.empty();
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  return result;
}

}  // namespace seqsim::sim
