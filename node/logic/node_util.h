// Helpers that several files of the node logic share (internal to
// node/logic): shard names and error replies (the retryable 503, the unknown
// outcome of R12, the block of a node without a cluster state), the kinds of
// requests a copy fences (R4), and queries of a shard's routing.
#ifndef SEQSIM_NODE_LOGIC_NODE_UTIL_H_
#define SEQSIM_NODE_LOGIC_NODE_UTIL_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// With fsync_per_request = false (async durability, like ES's
// index.translog.durability: async), translogs are fsynced on this period
// instead of before each ack.
inline constexpr absl::Duration kAsyncSyncInterval = absl::Seconds(1);

inline std::string ShardName(const std::string& index, int shard) {
  return absl::StrCat("[", index, "][", shard, "]");
}

// The requests a primary sends a copy, which every copy fences (R4).
enum class FromPrimary { kReplicate, kResync, kRecoverySnapshot, kRecoveryOps };

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_NODE_UTIL_H_
