// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status (Debian's Abseil has
// none).
#ifndef SEQSIM_COMMON_STATUS_MACROS_H_
#define SEQSIM_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SEQSIM_CONCAT_INNER(a, b) a##b
#define SEQSIM_CONCAT(a, b) SEQSIM_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status seqsim_status_ = (expr);          \
    if (!seqsim_status_.ok()) return seqsim_status_; \
  } while (0)

// ASSIGN_OR_RETURN(auto x, Foo()); declares/assigns `lhs` or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr)                                            \
  SEQSIM_ASSIGN_OR_RETURN_IMPL(SEQSIM_CONCAT(seqsim_statusor_, __LINE__), lhs, \
                               expr)
#define SEQSIM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // SEQSIM_COMMON_STATUS_MACROS_H_
