// Lab: one seeded run of the whole cluster — the real Node and Coordinator
// actors in a SimWorld, a client workload that records a history, a nemesis
// that injects faults and heals them before the end, invariant checks after
// every event, and a linearizability check of the history at the end.
//
// The invariants (from elasticsearch-formal-models, see ES-SEMANTICS.md):
//   one-primary-per-term      at most one copy acts as primary of a shard in a
//   given term; replica-term-fencing      a replica never acks an operation
//   whose term is below its own; gcp-below-in-sync-lcp     the primary's global
//   checkpoint <= every in-sync copy's local
//                             checkpoint;
//   acked-write-on-in-sync    every in-sync copy holds (max_seq_no >=) every
//   acked write; same-ops-up-to-gcp    every in-sync copy holds the
//   primary's operation (seq_no, term, type, id) at every seq_no up to the
//   primary's global checkpoint (SameTranslogUpToGlobalCheckPoint; checked
//   incrementally after every event and once more after quiet-down);
//   quiet-down-convergence    after faults heal and traffic stops,
//   all in-sync copies reach
//                             the same checkpoints and hold identical
//                             documents;
//   linearizable              the history is linearizable per document.
// A violation stops the run and names the event after which it was seen.
//
// Client outcomes: ok; fail = certainly had no effect (4xx, or the connection
// was refused); a 409 version conflict is a fail with result "conflict", which
// the checker verifies as a claim that the document was not at the expected
// version; info = indeterminate (timeout, 5xx, connection reset). Workload:
// reads, writes, and reads followed by a CAS with the version read; half the
// CAS go to the node the client believes holds the primary (it refreshes that
// belief from the coordinator at most once a second), so CAS reach primaries
// that a fault has just deposed (R11). Every operation is checked for
// linearizability, reads under faults included: seqsim's GET is real time on
// the primary behind a read barrier (its in-sync replicas confirm its term), so
// a primary that has not yet learnt that its term is superseded answers no
// read rather than a stale or dirty one. The final reads come from every
// in-sync copy after quiet-down.
//
// Thread-safety: RunLab is reentrant (no globals); sweeps run seeds on several
// threads.
#ifndef SEQSIM_SIM_LAB_LAB_H_
#define SEQSIM_SIM_LAB_LAB_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unsafe.h"
#include "sim/checker/checker.h"
#include "sim/checker/history.h"
#include "sim/timeline/events.h"

namespace seqsim::sim {

struct LabConfig {
  uint64_t seed = 1;
  std::string scenario = "default";
  // none | partition | kill | pause | reorder | all
  std::string nemesis = "none";
  UnsafeModes unsafe;
  int nodes = 3;
  int shards = 1;
  int replicas = 2;
  int clients = 4;
  int keys = 3;
  // Client traffic (and faults) last this long after the index is green.
  absl::Duration workload = absl::Seconds(4);
  // After traffic stops: how long the copies get to converge.
  absl::Duration quiet_down = absl::Seconds(15);
  absl::Duration client_timeout = absl::Seconds(3);
  // Disk fsync time (see sim::DiskOptions): each node's disk gets a base time
  // in [fsync_min, fsync_max] from the seed, plus up to fsync_jitter per
  // fsync. A node does nothing else while it fsyncs, and what reached it
  // meanwhile runs as one batch with one group commit, as on a live node.
  // fsync_max = 0: fsync takes no time.
  absl::Duration fsync_min = absl::Microseconds(500);
  absl::Duration fsync_max = absl::Microseconds(3000);
  absl::Duration fsync_jitter = absl::Microseconds(500);
  // Bounded memory (issue 17): index.gc_deletes and the retention-lease
  // period of every node (NodeOptions), and the share of client operations
  // that are deletes (0: none, so that older runs replay unchanged).
  absl::Duration gc_deletes = absl::Seconds(60);
  absl::Duration retention_lease_period = absl::Hours(12);
  int delete_percent = 0;
  // Translog generation and flush thresholds of every node (bytes).
  int64_t translog_generation_bytes = int64_t{64} << 20;
  int64_t flush_threshold_bytes = int64_t{64} << 20;
  bool trace = false;  // keep trace.log lines and the timeline events
  bool check_every_event = true;
  absl::Duration checker_time_limit = absl::Seconds(20);
};

struct LabResult {
  bool passed = false;
  // Empty when passed; else the invariant's name ("linearizable", "setup",
  // ...).
  std::string violation;
  std::string detail;  // what broke, and after which event
  std::string replay;  // the command that replays this run
  std::vector<HistoryEvent> history;
  CheckResult check;
  std::vector<std::string> trace;
  // With config.trace: messages, faults and client operations for the drawing.
  std::vector<timeline::Event> timeline;
  uint64_t events = 0;
  uint64_t deliveries = 0;
  uint64_t fsyncs = 0;          // fsyncs that had work to do, all nodes
  uint64_t batched_events = 0;  // events that waited for an fsync
  int64_t virtual_ns = 0;
  double wall_seconds = 0;
  int ops_ok = 0, ops_fail = 0, ops_info = 0;
  std::vector<std::string> faults;  // what the nemesis did, in order
};

// Validates the config (nemesis name, scenario name, sizes).
absl::Status ValidateConfig(const LabConfig& config);
LabResult RunLab(const LabConfig& config);

// Named scenarios: each adjusts a config (nemesis, sizes, timing). "default"
// leaves it as is.
using Scenario = std::function<void(LabConfig*)>;
const std::map<std::string, Scenario>& Scenarios();

// "--unsafe=a,b" value -> modes; InvalidArgument on an unknown name.
absl::StatusOr<UnsafeModes> ParseUnsafe(const std::string& list);
std::string UnsafeName(const UnsafeModes& modes);
// The nemesis names accepted by --nemesis.
const std::vector<std::string>& NemesisNames();

// "--fsync-us" value: "LO-HI" or "N" microseconds (0 = fsync takes no time)
// -> (min, max); InvalidArgument otherwise.
absl::StatusOr<std::pair<absl::Duration, absl::Duration>> ParseFsyncRange(
    const std::string& value);
// The command line that replays `config`: every option that differs from the
// defaults.
std::string ReplayCommand(const LabConfig& config);
// summary.json content.
std::string SummaryJson(const LabConfig& config, const LabResult& result);

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_LAB_LAB_H_
