// CO_RETURN_IF_ERROR / CO_ASSIGN_OR_RETURN: RETURN_IF_ERROR and
// ASSIGN_OR_RETURN (common/status_macros.h) for C++20 coroutines, which must
// co_return. `expr` may itself be a `co_await`:
//   CO_ASSIGN_OR_RETURN(pb::Envelope reply, co_await Call(request));
#ifndef SEQSIM_NODE_REST_CO_STATUS_H_
#define SEQSIM_NODE_REST_CO_STATUS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status_macros.h"

// co_returns the status from the enclosing coroutine if `expr` is not OK.
#define CO_RETURN_IF_ERROR(expr)                              \
  do {                                                        \
    ::absl::Status seqsim_co_status_ = (expr);                \
    if (!seqsim_co_status_.ok()) co_return seqsim_co_status_; \
  } while (0)

// Declares/assigns `lhs` from the StatusOr `expr`, or co_returns its error.
#define CO_ASSIGN_OR_RETURN(lhs, expr) \
  SEQSIM_CO_ASSIGN_OR_RETURN_IMPL(     \
      SEQSIM_CONCAT(seqsim_co_statusor_, __LINE__), lhs, expr)
#define SEQSIM_CO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) co_return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // SEQSIM_NODE_REST_CO_STATUS_H_
