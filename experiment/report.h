// Report: the result folder of an experiment, in Jepsen's spirit.
//
//   history.jsonl     the history (sim/checker/history.h)
//   porcupine.json    the same history as Porcupine's input
//   nemesis.jsonl     every fault started, ended or skipped, with its nodes
//   results.json      {"valid": true|false|"unknown", every count, every check}
//   timeline.html     the lab's renderer: client operations as bars, fault
//                     bands, checkpoint charts, term changes (+ .svg, ShiViz)
//   latency.svg       each operation's latency over time, by outcome, with the
//                     faults as bands (Jepsen's latency-raw)
//   availability.svg  per second: the share of operations answered ok, and the
//                     throughput, with the fault bands
//   logs/             every process's log
//
// Thread-safety: pure functions, plus file writes.
#ifndef SEQSIM_EXPERIMENT_REPORT_H_
#define SEQSIM_EXPERIMENT_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "experiment/nemesis.h"
#include "sim/checker/history.h"
#include "sim/timeline/events.h"

namespace seqsim::experiment {

// One completed client operation (invocation paired with completion).
struct CompletedOp {
  int64_t process = 0;
  sim::Fn f = sim::Fn::kRead;
  sim::EventType type = sim::EventType::kInfo;  // ok | fail | info
  int64_t invoke_ns = 0;
  int64_t complete_ns = 0;
};
// Pairs invocations with completions; operations of processes at or above
// `first_excluded_process` (final reads, setup) are left out when it is > 0.
std::vector<CompletedOp> PairOperations(
    const std::vector<sim::HistoryEvent>& history,
    int64_t first_excluded_process);

// A fault's time span, from nemesis.jsonl records (start matched with its
// end; a fault still open ends at `end_ns`).
struct FaultBand {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  std::string label;  // "kill node-2"
};
std::vector<FaultBand> FaultBands(const std::vector<NemesisRecord>& records,
                                  int64_t end_ns);

std::string LatencySvg(const std::vector<CompletedOp>& ops,
                       const std::vector<FaultBand>& bands, int64_t end_ns,
                       const std::string& title);
// Buckets of `bucket_ns`; returns the SVG.
std::string AvailabilitySvg(const std::vector<CompletedOp>& ops,
                            const std::vector<FaultBand>& bands, int64_t end_ns,
                            int64_t bucket_ns, const std::string& title);

// The timeline's events: client events from the history, fault bands from the
// nemesis records, and the monitor's checkpoint and term events, in time
// order.
std::vector<timeline::Event> TimelineEvents(
    const std::vector<sim::HistoryEvent>& history,
    const std::vector<NemesisRecord>& nemesis,
    const std::vector<timeline::Event>& monitor);

absl::Status WriteFile(const std::string& path, const std::string& content);

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_REPORT_H_
