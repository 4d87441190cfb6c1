// The coordinator tests' Env: the SimWorld env of sim/harness/scripted_env.h
// (the world's virtual clock and timers, which the test advances, its SimDisk
// and seeded random source; outgoing RPCs captured for the test to answer)
// plus an event list recording persists and sends in the order they happened.
#ifndef SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_
#define SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_

#include <string>
#include <vector>

#include "sim/harness/scripted_env.h"

namespace seqsim::testing {

class TestEnv final : public sim::ScriptedEnv {
 public:
  TestEnv();

  // "write <path>", "send <kind> to <node> v<version>"
  std::vector<std::string> events;

 private:
  void OnSend(const std::string& to, const pb::Envelope& request) override;
};

}  // namespace seqsim::testing

#endif  // SEQSIM_TESTS_COORDINATOR_TEST_ENV_H_
