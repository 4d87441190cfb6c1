#include "tests/coordinator/test_env.h"

#include <iostream>

#include "absl/strings/str_cat.h"

namespace seqsim::testing {

TestEnv::TestEnv() {
  disk_.OnAtomicWrite([this](const std::string& path) {
    events.push_back(absl::StrCat("write ", path));
  });
}

TimerId TestEnv::After(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  TimerId id = next_seq_++;
  auto key = std::make_pair(now_ + delay, id);
  timers_.emplace(key, std::make_pair(id, std::move(fn)));
  timer_keys_[id] = key;
  return id;
}

void TestEnv::Cancel(TimerId id) {
  auto it = timer_keys_.find(id);
  if (it == timer_keys_.end()) return;
  timers_.erase(it->second);
  timer_keys_.erase(it);
}

void TestEnv::Send(const std::string& to, pb::Envelope request,
                   ReplyFn on_reply, absl::Duration /*timeout*/) {
  std::string kind = request.has_publish() ? "publish" : "request";
  int64_t version =
      request.has_publish() ? request.publish().state().version() : 0;
  events.push_back(absl::StrCat("send ", kind, " to ", to, " v", version));
  outbox.push_back(Sent{to, std::move(request), std::move(on_reply)});
}

uint64_t TestEnv::RandomU64() {
  // splitmix64
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void TestEnv::Log(std::string_view line) {
  log.emplace_back(line);
  if (std::getenv("SEQSIM_TEST_VERBOSE") != nullptr) {
    std::cerr << absl::FormatDuration(now_) << " " << line << "\n";
  }
}

void TestEnv::Advance(absl::Duration delta) {
  const absl::Duration until = now_ + delta;
  while (!timers_.empty() && timers_.begin()->first.first <= until) {
    auto node = timers_.extract(timers_.begin());
    timer_keys_.erase(node.mapped().first);
    now_ = node.key().first;
    std::move(node.mapped().second)();
  }
  now_ = until;
}

void TestEnv::Stall(absl::Duration delta) {
  now_ += delta;
  while (!timers_.empty() && timers_.begin()->first.first <= now_) {
    auto node = timers_.extract(timers_.begin());
    timer_keys_.erase(node.mapped().first);
    std::move(node.mapped().second)();
  }
}

std::vector<TestEnv::Sent> TestEnv::TakeSent() {
  std::vector<Sent> sent = std::move(outbox);
  outbox.clear();
  return sent;
}

}  // namespace seqsim::testing
