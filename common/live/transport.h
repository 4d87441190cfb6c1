// Transport: sends an Envelope request to a peer process as the typed gRPC call
// its body names (Documents / Replication / Coordination / Publication / Admin
// in proto/seqsim.proto), with the callback async client API, and hands back
// the reply wrapped in an Envelope.
//
// Every call carries the gRPC metadata `x-seqsim-from: <self id>`, the
// cluster identity's credentials (common/live/identity.h; none when the
// identity is null) and a deadline. gRPC UNAVAILABLE / CANCELLED become
// kUnavailable, DEADLINE_EXCEEDED kDeadlineExceeded. Channels (and their stubs)
// are cached per address.
//
// Thread-safety: every method may be called from any thread; `done` runs on a
// gRPC thread (CallSync blocks the caller instead).
#ifndef SEQSIM_COMMON_LIVE_TRANSPORT_H_
#define SEQSIM_COMMON_LIVE_TRANSPORT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/live/identity.h"
#include "grpcpp/grpcpp.h"
#include "proto/seqsim.grpc.pb.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

inline constexpr char kFromMetadataKey[] = "x-seqsim-from";

// The largest gRPC message every seqsim channel and server sends and accepts:
// the REST body limit (http.max_content_length, 100 MiB) plus 16 MiB for the
// envelope, so that whatever REST accepted (a document, a bulk request) can be
// replicated, recovered and read through any node. gRPC's default is 4 MiB.
inline constexpr int kMaxGrpcMessageBytes = (100 + 16) * 1024 * 1024;

// gRPC status -> absl status (UNAVAILABLE/CANCELLED -> kUnavailable,
// DEADLINE_EXCEEDED -> kDeadlineExceeded, other codes kept).
absl::Status FromGrpcStatus(const grpc::Status& status);

class Transport {
 public:
  using Callback = std::function<void(absl::StatusOr<pb::Envelope>)>;

  // `self_id` goes into every call's `x-seqsim-from` metadata; `identity`
  // (may be null: unauthenticated) is presented on every call.
  explicit Transport(std::string self_id,
                     std::shared_ptr<const ClusterIdentity> identity = nullptr);
  ~Transport();

  // Sends `request` (one of the request bodies) to the process at `address`,
  // known as `to` (create_index / delete_index to kCoordinatorId use the
  // Coordination service). `done` runs exactly once with the reply (its `from`
  // set to `to`) or an error.
  void Call(const std::string& to, const std::string& address,
            pb::Envelope request, absl::Duration timeout, Callback done);

  // Call, waiting for the reply.
  absl::StatusOr<pb::Envelope> CallSync(const std::string& to,
                                        const std::string& address,
                                        pb::Envelope request,
                                        absl::Duration timeout);

  const std::string& self_id() const { return self_id_; }

  struct Peer;  // a channel and its stubs

 private:
  std::shared_ptr<Peer> PeerFor(const std::string& address);

  const std::string self_id_;
  const std::shared_ptr<const ClusterIdentity> identity_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Peer>> peers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_TRANSPORT_H_
