// Forwarding header: sim/lab.h moved to sim/lab/lab.h (issue 18). Kept only so
// that code outside sim/ (experiment/, bench/, tests/engine/,
// tests/experiment/) builds; include sim/lab/lab.h instead. Remove once nothing
// includes this path.
#ifndef SEQSIM_SIM_LAB_H_
#define SEQSIM_SIM_LAB_H_

#include "sim/lab/lab.h"  // IWYU pragma: export

#endif  // SEQSIM_SIM_LAB_H_
