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

void FaultTable::Heal() {
  absl::MutexLock lock(&mu_);
  partitioned_.clear();
  delays_.clear();
}

pb::FaultResponse FaultTable::Apply(const pb::FaultRequest& request) {
  std::vector<std::string> peers(request.peers().begin(),
                                 request.peers().end());
  switch (request.action()) {
    case pb::FaultRequest::PARTITION:
      Partition(peers);
      break;
    case pb::FaultRequest::DELAY:
      Delay(peers, absl::Milliseconds(std::max(0, request.delay_ms())));
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
