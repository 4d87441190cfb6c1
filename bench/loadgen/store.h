// The two systems seqsim-loadgen drives, behind one interface so that every
// mode runs the same shape of load against seqsim (REST, keep-alive) and
// against etcd (v3 gRPC):
//
//   read + CAS  seqsim: GET, then PUT ?if_seq_no=&if_primary_term= (404:
//               op_type=create); etcd: Range, then Txn(If(ModRevision == rev)
//               .Then(Put)) (missing: If(Version == 0)).
//   bulk        seqsim: POST _bulk NDJSON; etcd: one Txn of puts per batch.
//   put         a plain write, answered with the term it was accepted under
//               (seqsim _primary_term, etcd raft_term).
//
// Thread-safety: a Store is shared by every worker; a Session belongs to one
// worker thread.
#ifndef SEQSIM_BENCH_LOADGEN_STORE_H_
#define SEQSIM_BENCH_LOADGEN_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace seqsim::loadgen {

// What a read saw: the CAS token of the key's current version.
struct Seen {
  bool found = false;
  int64_t a = 0;  // seqsim: _seq_no; etcd: mod_revision
  int64_t b = 0;  // seqsim: _primary_term
};

enum class Outcome { kOk, kConflict, kError };

struct WriteResult {
  Outcome outcome = Outcome::kError;
  int64_t term = 0;   // term the write was acknowledged under (when kOk)
  int status = 0;     // seqsim: HTTP status; etcd: 0
  std::string error;  // when kError: what went wrong
};

// Outcome of one bulk batch, per item (in the batch's order).
struct BulkResult {
  absl::Status status;        // the request itself (transport, HTTP 5xx...)
  std::vector<bool> item_ok;  // per item: acknowledged
  std::string first_item_error;
};

class Session {
 public:
  virtual ~Session() = default;
  virtual absl::StatusOr<Seen> Read(const std::string& key) = 0;
  // Writes `value` if the key is still at `seen` (or still missing).
  virtual WriteResult CompareAndSet(const std::string& key, const Seen& seen,
                                    const std::string& value) = 0;
  virtual WriteResult Put(const std::string& key, const std::string& value) = 0;
  virtual BulkResult Bulk(
      const std::vector<std::pair<std::string, std::string>>& items) = 0;
  // How many of `keys` are readable now; an error when the check failed.
  virtual absl::StatusOr<int64_t> CountPresent(
      const std::vector<std::string>& keys) = 0;
  // Connections this session opened so far.
  virtual int64_t connects() const { return 0; }
};

// Where the failover victim lives: the node (seqsim, the primary of the
// index's shard 0) or member (etcd, the leader) and a term to beat.
struct Leader {
  int endpoint = -1;  // index into the store's endpoints
  std::string name;
  int64_t term = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Creates what a run writes into (seqsim: the index, then waits for green).
  virtual absl::Status Prepare(int shards, int replicas) = 0;
  // A session for worker `worker` on endpoint `endpoint` (mod the count).
  virtual std::unique_ptr<Session> NewSession(int endpoint) = 0;
  virtual int endpoints() const = 0;
  virtual absl::StatusOr<Leader> FindLeader() = 0;
  virtual std::string name() const = 0;
};

struct StoreOptions {
  std::vector<std::string> endpoints;
  std::string space;  // seqsim: the index; etcd: the key prefix
  absl::Duration timeout = absl::Seconds(30);
};

std::unique_ptr<Store> NewSeqsimStore(StoreOptions options);
std::unique_ptr<Store> NewEtcdStore(StoreOptions options);

}  // namespace seqsim::loadgen

#endif  // SEQSIM_BENCH_LOADGEN_STORE_H_
