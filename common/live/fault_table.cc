#include "common/live/fault_table.h"

#include <algorithm>

namespace seqsim {

void FaultTable::Partition(const std::vector<std::string>& peers) {
  absl::MutexLock lock(&mu_);
  for (const std::string& peer : peers) partitioned_[peer] = true;
}

void FaultTable::Delay(const std::vector<std::string>& peers,
                       absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  for (const std::string& peer : peers) delays_[peer] = delay;
}

void FaultTable::Drop(const std::vector<std::string>& peers,
                      double probability) {
  absl::MutexLock lock(&mu_);
  for (const std::string& peer : peers) drops_[peer] = probability;
}

void FaultTable::Duplicate(const std::vector<std::string>& peers,
                           double probability) {
  absl::MutexLock lock(&mu_);
  for (const std::string& peer : peers) duplicates_[peer] = probability;
}

void FaultTable::Heal() {
  absl::MutexLock lock(&mu_);
  partitioned_.clear();
  delays_.clear();
  drops_.clear();
  duplicates_.clear();
}

pb::FaultResponse FaultTable::Apply(const pb::FaultRequest& request) {
  std::vector<std::string> peers(request.peers().begin(),
                                 request.peers().end());
  const bool probabilistic = request.action() == pb::FaultRequest::DROP ||
                             request.action() == pb::FaultRequest::DUPLICATE;
  // !(p >= 0 && p <= 1) also refuses NaN.
  if ((probabilistic &&
       !(request.probability() >= 0 && request.probability() <= 1)) ||
      (request.action() == pb::FaultRequest::DELAY && request.delay_ms() < 0)) {
    pb::FaultResponse response;
    response.mutable_error()->set_type("illegal_argument_exception");
    response.mutable_error()->set_reason(
        probabilistic ? "probability must be within [0, 1]"
                      : "delay_ms must not be negative");
    response.mutable_error()->set_status(400);
    for (const std::string& peer : Partitioned())
      response.add_partitioned(peer);
    return response;
  }
  switch (request.action()) {
    case pb::FaultRequest::PARTITION:
      Partition(peers);
      break;
    case pb::FaultRequest::DELAY:
      Delay(peers, absl::Milliseconds(std::max(0, request.delay_ms())));
      break;
    case pb::FaultRequest::DROP:
      Drop(peers, request.probability());
      break;
    case pb::FaultRequest::DUPLICATE:
      Duplicate(peers, request.probability());
      break;
    case pb::FaultRequest::HEAL:
    default:
      Heal();
      break;
  }
  pb::FaultResponse response;
  for (const std::string& peer : Partitioned()) response.add_partitioned(peer);
  return response;
}

bool FaultTable::IsPartitioned(const std::string& peer) const {
  absl::MutexLock lock(&mu_);
  return partitioned_.contains(peer);
}

absl::Duration FaultTable::DelayFor(const std::string& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = delays_.find(peer);
  return it == delays_.end() ? absl::ZeroDuration() : it->second;
}

FaultTable::Loss FaultTable::NextLoss(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = drops_.find(peer);
  if (it == drops_.end() || !absl::Bernoulli(random_, it->second)) {
    return Loss::kNone;
  }
  return absl::Bernoulli(random_, 0.5) ? Loss::kRequest : Loss::kReply;
}

bool FaultTable::NextDuplicated(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  auto it = duplicates_.find(peer);
  return it != duplicates_.end() && absl::Bernoulli(random_, it->second);
}

std::vector<std::string> FaultTable::Partitioned() const {
  std::vector<std::string> peers;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [peer, unused] : partitioned_) peers.push_back(peer);
  }
  std::sort(peers.begin(), peers.end());
  return peers;
}

}  // namespace seqsim
