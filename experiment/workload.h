// Workloads: concurrent clients over the Elasticsearch REST API, each
// operation sent to a node picked at random (the node forwards it to the
// primary), each request bounded by a timeout, every operation recorded in
// the history (history_recorder.h). Jepsen's outcomes: a 2xx (and a read's or a
// delete's 404) is ok; a 409 is a fail that claims a conflict; another 4xx, or
// a request that never reached a node (connection refused), is a fail that had
// no effect; a timeout, a reset connection or a 5xx is info (indeterminate),
// after which the client goes on as a new process.
//
//   register   read / write / cas (a read, then if_seq_no + if_primary_term) /
//              delete over --keys documents, unique values; a cas on a missing
//              document is a create (op_type=create).
//   inventory  one stock document per key, set to kInitialStock; each client
//              decrements a stock with the read-CAS-retry loop. Invariant:
//              stock = initial - acknowledged decrements, less at most the
//              indeterminate ones.
//   external   version_type=external writes of increasing versions from every
//              client (the value is the version) and reads. Invariant: the
//              stored version is the highest acknowledged one or a higher
//              indeterminate one.
//   bulk       _bulk batches of new documents with per-item status, and reads
//              of acknowledged ones. Invariant: every acknowledged item is
//              readable on every in-sync copy.
//
// Thread-safety: a Workload is started and stopped from one thread; its
// clients run on threads of their own and share only the recorder and the
// counters below (atomics or behind mu_).
#ifndef SEQSIM_EXPERIMENT_WORKLOAD_H_
#define SEQSIM_EXPERIMENT_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "experiment/history_recorder.h"

namespace seqsim::experiment {

inline constexpr int64_t kInitialStock = 1000000;
// Process numbers of the final reads (one per node and key), as in the lab.
inline constexpr int64_t kFinalReadProcess = 1000000;

const std::vector<std::string>& WorkloadNames();

struct WorkloadOptions {
  std::string kind = "register";
  std::string index = "experiment";
  int clients = 5;
  int keys = 3;
  double rate = 100;  // operations per second, all clients together
  absl::Duration request_timeout = absl::Seconds(5);
  uint64_t seed = 1;
  int bulk_size = 5;  // items per _bulk request
  int shards = 1;     // to know each document's shard
};

// The document id of key number `k` for `kind`.
std::string KeyId(const std::string& kind, int k);

// One HTTP answer as a client saw it.
struct RestAnswer {
  enum class Kind { kAnswered, kNotSent, kIndeterminate };
  Kind kind = Kind::kIndeterminate;
  int status = 0;
  std::string body;
  std::string error;  // transport error words when not answered
};

// A keep-alive REST connection per node, with a per-request timeout. One per
// client thread.
class RestClient {
 public:
  // `rest_addresses[i]` is "host:port" of node i.
  RestClient(std::vector<std::string> rest_addresses, absl::Duration timeout);
  ~RestClient();
  RestAnswer Do(size_t node, const std::string& method, const std::string& path,
                const std::string& body = "",
                const std::string& content_type = "application/json");
  size_t nodes() const { return addresses_.size(); }

 private:
  struct Conn;
  const std::vector<std::string> addresses_;
  const absl::Duration timeout_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// Counters the invariants need, per key.
struct WorkloadTally {
  std::map<std::string, int64_t> acked_decrements;  // inventory
  std::map<std::string, int64_t> unknown_decrements;
  std::map<std::string, int64_t> max_acked_version;  // external
  std::map<std::string, std::vector<int64_t>> unknown_versions;
  std::map<std::string, int64_t> bulk_acked;  // bulk: id -> value
  int64_t cas_retries = 0;
};

class Workload {
 public:
  Workload(WorkloadOptions options, std::vector<std::string> rest_addresses,
           HistoryRecorder* recorder);
  ~Workload();  // Stop()

  // Writes the initial documents (inventory: the stocks), recorded in the
  // history by process kSetupProcess.
  absl::Status Setup();
  void Start();
  // Asks the clients to stop and joins them (each finishes its operation in
  // flight, bounded by the request timeout).
  void Stop();

  // Final reads of every key through every node (recorded in the history).
  void FinalReads();
  // Document ids the workload touched (every key; bulk: every acked id).
  std::vector<std::string> Ids() const;
  WorkloadTally Tally() const;
  int64_t ops_started() const { return started_.load(); }

  static constexpr int64_t kSetupProcess = 999999;

 private:
  struct Client;
  void RunClient(int index);
  void Register(Client& c);
  void Inventory(Client& c);
  void External(Client& c);
  void Bulk(Client& c);

  const WorkloadOptions options_;
  const std::vector<std::string> rest_addresses_;
  HistoryRecorder* const recorder_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_value_{1};
  std::atomic<int64_t> next_bulk_process_{2000000};
  std::atomic<int64_t> started_{0};
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  WorkloadTally tally_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim::experiment

#endif  // SEQSIM_EXPERIMENT_WORKLOAD_H_
