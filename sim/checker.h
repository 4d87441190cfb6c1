// Forwarding header: sim/checker.h moved to sim/checker/checker.h (issue 18).
// Kept only so that code outside sim/ (experiment/, bench/, tests/engine/,
// tests/experiment/) builds unchanged; include sim/checker/checker.h instead.
// Remove once nothing includes this path.
#ifndef SEQSIM_SIM_CHECKER_H_
#define SEQSIM_SIM_CHECKER_H_

#include "sim/checker/checker.h"  // IWYU pragma: export

#endif  // SEQSIM_SIM_CHECKER_H_
