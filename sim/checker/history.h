// History: what the lab's clients did, as JSON lines (DESIGN.md section 4), and
// its export to Porcupine's operation format.
//
// One line per event:
// {"process":P,"type":"invoke|ok|fail|info",
// "f":"read|write|cas|create|update|delete","key":K,"value":V,"time":T}
// and, on a completion that is a claim about the document, "result":R.
// V is null or an integer for read, write, create (the new value), update (the
// value of the partial doc {"v":V}) and delete (null), [expected, new] for
// cas. T is virtual nanoseconds. A process has at most one operation
// outstanding; after an "info" (indeterminate: timeout or unavailable) the
// client continues as a new process.
//
// R (see Outcome) turns a definite answer that changed nothing into what it
// says about the document: "conflict" on a fail of cas (409: the document was
// not at the expected version) or create (409: the document existed);
// "not_found" on a fail of update (404 document_missing) or an ok of delete
// (404 not_found: the document was absent); "noop" on an ok of update (the
// document already held the partial doc's value). A fail without R had no
// effect and claims nothing (a 400, a refused connection).
//
// Thread-safety: none.
#ifndef SEQSIM_SIM_CHECKER_HISTORY_H_
#define SEQSIM_SIM_CHECKER_HISTORY_H_

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace seqsim::sim {

inline constexpr int64_t kNil = std::numeric_limits<int64_t>::min();

enum class EventType { kInvoke, kOk, kFail, kInfo };
enum class Fn { kRead, kWrite, kCas, kCreate, kUpdate, kDelete };
// What a completion claims beyond ok/fail (the "result" field).
enum class Outcome { kNone, kConflict, kNotFound, kNoop };

struct HistoryEvent {
  int64_t process = 0;
  EventType type = EventType::kInvoke;
  Fn f = Fn::kRead;
  std::string key;
  int64_t value =
      kNil;  // read: the value read (kNil = missing); write/cas: new value
  int64_t expected = kNil;  // cas only
  int64_t time = 0;
  Outcome outcome = Outcome::kNone;  // completions only
};

const char* EventTypeName(EventType type);
const char* FnName(Fn f);
// "" for kNone.
const char* OutcomeName(Outcome outcome);

// One JSON line (no trailing newline).
std::string ToJsonLine(const HistoryEvent& event);
absl::StatusOr<HistoryEvent> ParseJsonLine(const std::string& line);
// Whole history file content; blank lines are skipped. Errors name the line.
absl::StatusOr<std::vector<HistoryEvent>> ParseHistory(const std::string& text);
std::string FormatHistory(const std::vector<HistoryEvent>& events);

// Porcupine's format: {"<key>":
// [{"ClientId","Input":{"Op","Value","Expected"},"Call",
// "Output":{"Value","Ok"},"Return"}]}, one list per key; indeterminate
// operations return at the end of the history with Output.Ok false. Failed
// operations without a
// result are left out (they had no effect); a cas conflict is exported with
// Output.Result "conflict" (create: "conflict", delete: "not_found", update:
// "noop" / "not_found", as in the history's "result"). Every function is
// exported; an indeterminate read is left out (it claims nothing).
std::string ToPorcupineJson(const std::vector<HistoryEvent>& events);

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_CHECKER_HISTORY_H_
