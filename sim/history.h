// Forwarding header: sim/history.h moved to sim/checker/history.h (issue 18).
// Kept only so that code outside sim/ (experiment/, bench/, tests/engine/,
// tests/experiment/) builds unchanged; include sim/checker/history.h instead.
// Remove once nothing includes this path.
#ifndef SEQSIM_SIM_HISTORY_H_
#define SEQSIM_SIM_HISTORY_H_

#include "sim/checker/history.h"  // IWYU pragma: export

#endif  // SEQSIM_SIM_HISTORY_H_
