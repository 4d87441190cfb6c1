#include "sim/harness/scripted_env.h"

#include <cstdlib>
#include <iostream>
#include <utility>

namespace seqsim::sim {

ScriptedEnv::ScriptedEnv(const std::string& id, uint64_t seed)
    : id_(id), world_(seed) {
  world_.AddHostedEnv(id_);
  env_ = world_.env(id_);
}

void ScriptedEnv::Send(const std::string& to, pb::Envelope request,
                       ReplyFn on_reply, absl::Duration /*timeout*/) {
  OnSend(to, request);
  outbox.push_back(Sent{to, std::move(request), std::move(on_reply)});
}

void ScriptedEnv::Log(std::string_view line) {
  log.emplace_back(line);
  if (std::getenv("SEQSIM_TEST_VERBOSE") != nullptr) {
    std::cerr << absl::FormatDuration(Now()) << " " << line << "\n";
  }
}

void ScriptedEnv::Advance(absl::Duration delta) {
  world_.RunUntil(world_.Now() + delta);
}

void ScriptedEnv::Stall(absl::Duration delta) {
  world_.Pause(id_);
  world_.RunUntil(world_.Now() + delta);
  world_.Resume(id_);
  world_.RunUntil(world_.Now());
}

std::vector<ScriptedEnv::Sent> ScriptedEnv::TakeSent() {
  std::vector<Sent> sent = std::move(outbox);
  outbox.clear();
  return sent;
}

}  // namespace seqsim::sim
