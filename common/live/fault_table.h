// FaultTable: the transport's injected network faults for one process
// (Admin.Fault).
//
// A partitioned peer's traffic is dropped both ways: Send to it fails
// kUnavailable after a short pause, and calls carrying its id in
// `x-seqsim-from` are answered UNAVAILABLE. A delayed peer's outgoing traffic
// waits `delay` before it is sent. A lossy link loses each message with its
// drop probability (half of the losses drop the request, half the reply of a
// request that was delivered, so the sender cannot tell which); a duplicating
// link sends each replication or coordination message twice with its
// probability (client document operations are never duplicated: no transport
// retries them). Faults are the transport's, not the node logic's: the actors
// never see this table.
//
// Thread-safety: every method may be called from any thread.
#ifndef SEQSIM_COMMON_LIVE_FAULT_TABLE_H_
#define SEQSIM_COMMON_LIVE_FAULT_TABLE_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

class FaultTable {
 public:
  void Partition(const std::vector<std::string>& peers);
  void Delay(const std::vector<std::string>& peers, absl::Duration delay);
  void Drop(const std::vector<std::string>& peers, double probability);
  void Duplicate(const std::vector<std::string>& peers, double probability);
  void Heal();
  // Applies an Admin.Fault request and returns the reply (the peers partitioned
  // after it). A probability outside [0, 1] or a negative delay is refused
  // with the reply's error and changes nothing.
  pb::FaultResponse Apply(const pb::FaultRequest& request);

  bool IsPartitioned(const std::string& peer) const;
  absl::Duration DelayFor(const std::string& peer) const;
  // What happens to the next message to `peer` (one random draw each).
  enum class Loss { kNone, kRequest, kReply };
  Loss NextLoss(const std::string& peer);
  bool NextDuplicated(const std::string& peer);
  // Sorted ids of the partitioned peers.
  std::vector<std::string> Partitioned() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, bool> partitioned_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Duration> delays_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, double> drops_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, double> duplicates_ ABSL_GUARDED_BY(mu_);
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_FAULT_TABLE_H_
