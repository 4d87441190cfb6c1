// Cluster identity: what proves that a gRPC call comes from a member of this
// cluster (issue 13). Every internal RPC (node<->node, node<->coordinator,
// seqsim-ctl, the fault-injection RPC) presents it; REST is not affected.
//
// An identity is a small text file (mode 0600, `key=value` lines):
//   cluster_uuid=<22 URL-safe base64 characters>   the cluster it belongs to
//   secret=<64 hex digits>                          256 random bits
//   tls_ca=<file> tls_cert=<file> tls_key=<file>    optional: mutual TLS
// `scripts/cluster.sh up` creates one under the data directory
// (`seqsim-ctl identity create --out=FILE [--tls_dir=DIR]`). Relative TLS
// paths are read relative to the identity file's directory.
//
// Shared-secret mode (the default): every call carries the metadata
// `x-seqsim-cluster` and `x-seqsim-secret`; the server's CallAuthenticator
// compares both (the secret in constant time) and refuses a call without them
// with UNAUTHENTICATED, logging the refusal once per claimed peer and reason.
// TLS mode: the channel is mutual TLS with the cluster's CA (every certificate
// it signed is a member: CN names the node, the SAN `seqsim-cluster` is what
// clients verify), and the secret is still checked inside the encrypted
// channel.
//
// A null identity means "unauthenticated" (plaintext, no checks): kept for
// tools that run without one; every binary says so in its log.
//
// Thread-safety: a loaded ClusterIdentity is immutable; every function may be
// called from any thread.
#ifndef SEQSIM_COMMON_LIVE_IDENTITY_H_
#define SEQSIM_COMMON_LIVE_IDENTITY_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"

namespace seqsim {

inline constexpr char kClusterMetadataKey[] = "x-seqsim-cluster";
inline constexpr char kSecretMetadataKey[] = "x-seqsim-secret";
// The name every node certificate carries (subjectAltName DNS) and every TLS
// client verifies, whatever address it dials: nodes on several hosts share one
// CA, not one host name.
inline constexpr char kTlsServerName[] = "seqsim-cluster";

struct ClusterIdentity {
  std::string cluster_uuid;
  std::string secret;
  // Mutual TLS, all three or none: PEM contents (loaded from the files).
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Where the identity was read from (for messages).
  std::string path;

  bool tls() const { return !tls_ca_pem.empty(); }
};

// A fresh identity: a random cluster UUID and secret from /dev/urandom.
absl::StatusOr<ClusterIdentity> NewClusterIdentity();

// Writes `identity`'s uuid and secret (and the TLS file names, if given) to
// `path` with mode 0600, atomically (temp file, fsync, rename). Refuses to
// overwrite an existing file (kAlreadyExists).
absl::Status WriteClusterIdentity(const ClusterIdentity& identity,
                                  const std::string& path,
                                  const std::string& tls_ca_file = "",
                                  const std::string& tls_cert_file = "",
                                  const std::string& tls_key_file = "");

// Reads and checks an identity file: kNotFound / kPermissionDenied (readable
// by group or others, like ssh's private keys) / kInvalidArgument (a malformed
// line, a bad uuid or secret, an unreadable or partial TLS set), with a
// message naming the file.
absl::StatusOr<std::shared_ptr<const ClusterIdentity>> LoadClusterIdentity(
    const std::string& path);

// The `--cluster_identity=FILE` flag every binary takes: null (no
// authentication) for an empty path, else LoadClusterIdentity.
absl::StatusOr<std::shared_ptr<const ClusterIdentity>> IdentityFromFlag(
    const std::string& path);
inline constexpr char kIdentityFlagHelp[] =
    "Cluster identity file (scripts/cluster.sh up creates DATA/"
    "cluster.identity; seqsim-ctl identity makes one): every internal gRPC "
    "call presents it and calls without it are refused (UNAUTHENTICATED). "
    "Empty: no authentication (not for shared hosts)";

// Client side. Channel credentials for `identity` (insecure without one or in
// shared-secret mode; mutual TLS otherwise), and the channel arguments TLS
// needs (the verified server name); call AttachIdentity on every call's
// context.
std::shared_ptr<grpc::ChannelCredentials> ClientCredentials(
    const ClusterIdentity* identity);
void AddIdentityChannelArgs(const ClusterIdentity* identity,
                            grpc::ChannelArguments* args);
void AttachIdentity(const ClusterIdentity* identity,
                    grpc::ClientContext* context);
// A channel to `address` with the identity's credentials, for one-off tools.
std::shared_ptr<grpc::Channel> NewIdentityChannel(
    const ClusterIdentity* identity, const std::string& address,
    grpc::ChannelArguments args = {});

// Server side. Listening credentials: mutual TLS with the identity's CA and
// certificate (every client must show a certificate the CA signed), else
// insecure.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(
    const ClusterIdentity* identity);

// Checks the credentials of every call a server takes (the gRPC adapters call
// it first thing, before anything else looks at the request). Debian's gRPC
// 1.51 aborts on an AuthMetadataProcessor with insecure credentials, so the
// check runs where every seqsim RPC enters, for both modes alike.
// Thread-safety: Check may be called from any thread.
class CallAuthenticator {
 public:
  using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

  // A null `identity` accepts every call. `server_id` names this process in
  // the refusal log line.
  CallAuthenticator(std::shared_ptr<const ClusterIdentity> identity,
                    std::string server_id);

  // OK if `metadata` carries this cluster's uuid and secret; else
  // UNAUTHENTICATED, logged once per claimed caller (x-seqsim-from) and
  // reason (at most 256 lines in all).
  grpc::Status Check(const Metadata& metadata);

 private:
  static constexpr size_t kMaxLoggedPeers = 256;
  void LogOnce(const std::string& peer, const char* reason);

  const std::shared_ptr<const ClusterIdentity> identity_;
  const std::string server_id_;
  absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> logged_ ABSL_GUARDED_BY(mu_);
  bool overflow_logged_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_IDENTITY_H_
