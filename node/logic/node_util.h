// Helpers that several files of the node logic share (internal to
// node/logic): operation texts and error replies (the retryable 503, the
// unknown outcome of R12, the block of a node without a cluster state), and the
// kinds of requests a copy fences (R4). Shard names and the look-ups over a
// shard's routing (primary, started copies) are common/cluster_view.h's, which
// this header brings in for every file of the node logic.
#ifndef SEQSIM_NODE_LOGIC_NODE_UTIL_H_
#define SEQSIM_NODE_LOGIC_NODE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/cluster_view.h"
#include "common/es_error.h"
#include "node/logic/preference.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// With fsync_per_request = false (async durability, like ES's
// index.translog.durability: async), translogs are fsynced on this period
// instead of before each ack.
inline constexpr absl::Duration kAsyncSyncInterval = absl::Seconds(1);

// An error type the coordinating node retries on (the request did not execute).
inline constexpr char kRetryableType[] = "unavailable_shards_exception";

// R12: a write whose outcome cannot be known (see node.h): a primary that may
// have stamped it lost its term, or the node it was forwarded to was replaced
// as primary before it answered. Never retried: it may be applied.
inline constexpr char kOutcomeUnknownType[] = "write_outcome_unknown_exception";

// A node that has no cluster state yet (just started, not joined): document
// requests wait for the first state, then fail as Elasticsearch does while the
// state is not recovered.
inline constexpr char kNoStateType[] = "cluster_block_exception";
inline constexpr char kNoStateReason[] =
    "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];";

inline std::string OpText(const pb::Operation& op) {
  const char* kind = op.type() == pb::OP_INDEX    ? "index"
                     : op.type() == pb::OP_DELETE ? "delete"
                                                  : "noop";
  if (op.type() == pb::OP_NOOP) {
    return absl::StrCat("noop(seq_no ", op.seq_no(), ", term ",
                        op.primary_term(), ")");
  }
  return absl::StrCat(kind, "(doc ", op.id(), ", seq_no ", op.seq_no(),
                      ", term ", op.primary_term(), ")");
}

inline pb::Error RetryableError(const std::string& reason) {
  return ToError(
      EsStatus(absl::StatusCode::kUnavailable, kRetryableType, reason, 503));
}

inline pb::Error NoStateError() {
  return ToError(EsStatus(absl::StatusCode::kUnavailable, kNoStateType,
                          kNoStateReason, 503));
}

// R12: the 503 of a write that may or may not have been applied.
inline pb::Error OutcomeUnknownError(const std::string& why,
                                     const std::string& index,
                                     const std::string& uuid, int shard) {
  return ToError(
      EsStatus(
          absl::StatusCode::kUnavailable, kOutcomeUnknownType,
          absl::StrCat(why, "; the write may or may not have been applied"),
          503),
      index, uuid, shard);
}

// The requests a primary sends a copy, which every copy fences (R4).
enum class FromPrimary { kReplicate, kResync, kRecoverySnapshot, kRecoveryOps };

inline absl::Status NoNodesWithCriteria(const Preference& preference,
                                        const std::string& index, int shard) {
  return EsStatus(
      absl::StatusCode::kInvalidArgument, "illegal_argument_exception",
      absl::StrCat("no data nodes with criteria [",
                   absl::StrJoin(preference.nodes, ","), "] found for shard: [",
                   index, "][", shard, "]"));
}

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_NODE_UTIL_H_
