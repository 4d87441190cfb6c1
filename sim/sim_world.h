// Forwarding header: sim/sim_world.h moved to sim/world/sim_world.h (issue 18).
// Kept only so that code outside sim/ (experiment/, bench/, tests/engine/,
// tests/experiment/) builds unchanged; include sim/world/sim_world.h instead.
// Remove once nothing includes this path.
#ifndef SEQSIM_SIM_SIM_WORLD_H_
#define SEQSIM_SIM_SIM_WORLD_H_

#include "sim/world/sim_world.h"  // IWYU pragma: export

#endif  // SEQSIM_SIM_SIM_WORLD_H_
