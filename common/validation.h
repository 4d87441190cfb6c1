// Validation of internal messages (issue 13): one validator per message kind,
// in one place, pure (no state). The live gRPC adapters call ValidateMessage
// on every request before it reaches an actor and answer a refusal with
// INVALID_ARGUMENT; the checks that need the receiver's state (a cluster
// state that can follow the applied one, a seq_no within reach of a copy's
// checkpoint, a join from the node it names) live in the node and coordinator
// logic and hold in the lab too.
//
// What is checked: text (ids, index names, node ids, sources, reasons) is
// valid UTF-8 and within the REST layer's limits (an index name is at most 255
// bytes and never a path: no '/', '\', NUL, "." or ".."; a document id at most
// 512 bytes); uuids are URL-safe base64 (they name directories); shard numbers,
// seq_nos, terms and versions are within their protocol ranges; a cluster
// state is well formed (ValidateClusterState).
//
// Thread-safety: pure functions.
#ifndef SEQSIM_COMMON_VALIDATION_H_
#define SEQSIM_COMMON_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// Shards per index (Elasticsearch's index.number_of_shards limit).
inline constexpr int kMaxShardsPerIndex = 1024;
// Replicas per index that any message may name.
inline constexpr int kMaxReplicasPerIndex = 1024;
// An index name's byte limit (Elasticsearch's).
inline constexpr size_t kMaxIndexNameBytes = 255;
// A document id's byte limit (Elasticsearch's).
inline constexpr size_t kMaxDocIdBytes = 512;
// A routing value's byte limit (Elasticsearch sets none; the wire needs one).
inline constexpr size_t kMaxRoutingBytes = 4096;
// A node id's byte limit.
inline constexpr size_t kMaxNodeIdBytes = 255;
// The largest seq_no, primary term or version a message may carry: far above
// anything a real cluster reaches, far below int64 overflow when incremented.
inline constexpr int64_t kMaxProtocolNumber = int64_t{1} << 53;

// True if `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// The one validator of a node id (node start-up, Join, every id in a cluster
// state): OK for a non-empty UTF-8 name of at most kMaxNodeIdBytes without
// whitespace, '/', '\', ':' or ',' and other than "." and "..";
// kInvalidArgument (with a reason fit for a start-up error) for anything else,
// and for the reserved peer ids kCoordinatorId and "client" (the id the gRPC
// adapters give a caller that names none): a node with such an id would receive
// the coordinator's or an anonymous caller's traffic.
absl::Status ValidateNodeId(absl::string_view id);

// An index name as a message may carry it (the REST layer and the coordinator
// apply Elasticsearch's full rules on creation): non-empty, valid UTF-8, at
// most kMaxIndexNameBytes, not a path. kInvalidArgument otherwise.
absl::Status ValidateIndexNameText(absl::string_view name);

// An index or cluster uuid (a directory name on the nodes): 1..64 characters
// of URL-safe base64. kInvalidArgument otherwise.
absl::Status ValidateUuid(absl::string_view uuid);

// A cluster state as the coordinator publishes it: version >= 1, a valid
// cluster uuid, valid and unique node ids and addresses, every index with a
// valid unique name and uuid, 1..kMaxShardsPerIndex shards listed in order,
// terms within range, each shard's copies on distinct known-format node ids
// with at most one primary. kInvalidArgument naming the first problem.
absl::Status ValidateClusterState(const pb::ClusterState& state);

// Every internal request, by its body (the stateless checks above, applied to
// each of its fields). kInvalidArgument naming the first problem.
absl::Status ValidateMessage(const pb::Envelope& request);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_VALIDATION_H_
