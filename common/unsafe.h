// Planted bugs (--unsafe=...): each disables one replication rule so that the
// checks can be seen catching what the rule prevents. seqsim-lab takes them as
// --unsafe=..., and so does seqsim-node (a live node runs with them only when
// the flag is given explicitly, and says so loudly in its log). All false by
// default.
//
// Thread-safety: plain values and pure functions.
#ifndef SEQSIM_COMMON_UNSAFE_H_
#define SEQSIM_COMMON_UNSAFE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace seqsim {

struct UnsafeModes {
  bool no_fencing =
      false;  // R4 off: replicas accept operations with older terms
  bool no_seqno_check = false;  // R5 off: replicas apply whatever arrives last
  bool early_ack = false;  // R3/R10 off: the primary acks before replicas apply
  bool no_resync = false;  // R7 off: a new primary skips resync and trim
  // R11 off: a primary answers a 409, an update's noop or a delete's not_found
  // at once, without confirming its term with its in-sync copies first.
  bool no_conflict_barrier = false;
  // R5 off for collected deletes: tombstones are dropped once gc_deletes has
  // passed even above the global checkpoint, so an older operation still in
  // flight can resurrect a deleted document.
  bool early_gc = false;
};

// The names --unsafe accepts, in the order UnsafeModesName prints them.
inline const std::vector<std::string>& UnsafeModeNames() {
  static const std::vector<std::string> kNames = {
      "no-fencing", "no-seqno-check",      "early-ack",
      "no-resync",  "no-conflict-barrier", "early-gc"};
  return kNames;
}

// "a,b" -> modes ("" and "none": no mode); InvalidArgument naming an unknown
// mode.
inline absl::StatusOr<UnsafeModes> ParseUnsafeModes(absl::string_view list) {
  UnsafeModes modes;
  if (list.empty() || list == "none") return modes;
  for (absl::string_view name : absl::StrSplit(list, ',')) {
    if (name == "no-fencing") {
      modes.no_fencing = true;
    } else if (name == "no-seqno-check") {
      modes.no_seqno_check = true;
    } else if (name == "early-ack") {
      modes.early_ack = true;
    } else if (name == "no-resync") {
      modes.no_resync = true;
    } else if (name == "no-conflict-barrier") {
      modes.no_conflict_barrier = true;
    } else if (name == "early-gc") {
      modes.early_gc = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown --unsafe mode '", name, "' (expected ",
                       absl::StrJoin(UnsafeModeNames(), ", "), ")"));
    }
  }
  return modes;
}

// Modes -> "a,b" ("" when none is on).
inline std::string UnsafeModesName(const UnsafeModes& m) {
  std::vector<std::string> names;
  if (m.no_fencing) names.push_back("no-fencing");
  if (m.no_seqno_check) names.push_back("no-seqno-check");
  if (m.early_ack) names.push_back("early-ack");
  if (m.no_resync) names.push_back("no-resync");
  if (m.no_conflict_barrier) names.push_back("no-conflict-barrier");
  if (m.early_gc) names.push_back("early-gc");
  return absl::StrJoin(names, ",");
}

// The rules each mode on in `m` switches off, for log lines: "R3/R10
// (early-ack)".
inline std::string UnsafeRulesBroken(const UnsafeModes& m) {
  std::vector<std::string> rules;
  if (m.no_fencing) rules.push_back("R4 fencing (no-fencing)");
  if (m.no_seqno_check) rules.push_back("R5 seq_no check (no-seqno-check)");
  if (m.early_ack) rules.push_back("R3/R10 ack after replication (early-ack)");
  if (m.no_resync) rules.push_back("R7 resync (no-resync)");
  if (m.no_conflict_barrier)
    rules.push_back("R11 conflict barrier (no-conflict-barrier)");
  if (m.early_gc)
    rules.push_back("R5 tombstones kept to the global checkpoint (early-gc)");
  return absl::StrJoin(rules, ", ");
}

}  // namespace seqsim

#endif  // SEQSIM_COMMON_UNSAFE_H_
