// Linearizability checker for the lab's histories (DESIGN.md section 4).
//
// Partitions the history by key (P-compositionality) and checks each document
// against a register model (read, write, cas, create, update, delete; kNil is
// "no document") with the Wing-Gong-Lowe search: depth-first over the
// operations that may be linearized next, memoizing (set of linearized
// operations, state) so that no configuration is explored twice.
//
// A definite answer is a claim about the document at one instant of the
// operation's interval, whether it changed the document or not (Porcupine's
// CAS register, where a failed CAS returns false):
//   cas ok / conflict       the register held / did not hold `expected`
//   create ok / conflict    the document was absent / existed
//   update ok / noop / not_found
//                           it existed and differed from the partial doc's
//                           value / it held that value / it was absent
//   delete ok / not_found   it existed / it was absent
// (see Outcome in history.h). Failed operations without such a result (a 400,
// a refused connection) had no effect and are left out; indeterminate ones
// ("info", or no completion) may take effect at any time after their
// invocation, or never. Values are assumed unique per write (the lab's
// workload writes every value once), so "the register holds v" stands for
// "the document is at the version that wrote v" (a cas's if_seq_no and
// if_primary_term).
//
// Thread-safety: none (pure functions).
#ifndef SEQSIM_SIM_CHECKER_CHECKER_H_
#define SEQSIM_SIM_CHECKER_CHECKER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "sim/checker/history.h"

namespace seqsim::sim {

enum class Verdict { kLinearizable, kNotLinearizable, kUnknown };
const char* VerdictName(Verdict v);

struct CheckResult {
  Verdict verdict = Verdict::kLinearizable;
  // For kNotLinearizable: the first failing key and an explanation (the longest
  // linearizable prefix's tail, the operation that cannot follow it, and what
  // it saw); for kUnknown: why.
  std::string key;
  std::string explanation;
  int64_t operations = 0;  // operations checked (failed ones excluded)
  int64_t keys = 0;
};

// Checks every key; stops at the first non-linearizable key. `time_limit`
// bounds the whole search (kUnknown when it runs out).
CheckResult CheckLinearizable(const std::vector<HistoryEvent>& history,
                              absl::Duration time_limit = absl::Seconds(30));

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_CHECKER_CHECKER_H_
