// Forwarding header: sim/rng.h moved to sim/world/rng.h (issue 18). Kept only
// so that code outside sim/ (experiment/, bench/, tests/engine/,
// tests/experiment/) builds unchanged; include sim/world/rng.h instead. Remove
// once nothing includes this path.
#ifndef SEQSIM_SIM_RNG_H_
#define SEQSIM_SIM_RNG_H_

#include "sim/world/rng.h"  // IWYU pragma: export

#endif  // SEQSIM_SIM_RNG_H_
