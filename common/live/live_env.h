// LiveEnv: the Env of one actor in a real process (DESIGN.md section 2).
//
// Time is the steady clock; timers and every callback (RPC replies included)
// run on the actor's Executor; Send goes through the Transport (typed gRPC
// calls) after the FaultTable has had its say (a partitioned peer fails
// kUnavailable after a short pause, a delayed peer waits); the Disk is a
// PosixDisk under the actor's data directory; Log writes to spdlog with the
// actor's id.
//
// Thread-safety: the Env methods are called by the actor on its executor;
// SetPeerAddress and PeerAddress may also be called from other threads.
#ifndef SEQSIM_COMMON_LIVE_LIVE_ENV_H_
#define SEQSIM_COMMON_LIVE_LIVE_ENV_H_

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/env.h"
#include "common/live/executor.h"
#include "common/live/fault_table.h"
#include "common/live/transport.h"

namespace seqsim {

class LiveEnv final : public Env {
 public:
  LiveEnv(std::string id, std::shared_ptr<Executor> executor,
          std::shared_ptr<Transport> transport,
          std::shared_ptr<FaultTable> faults, std::unique_ptr<Disk> disk);
  ~LiveEnv() override;

  absl::Duration Now() override;
  int64_t WallMillis() override;
  TimerId After(absl::Duration delay, absl::AnyInvocable<void()> fn) override;
  void Cancel(TimerId id) override;
  void Send(const std::string& to, pb::Envelope request, ReplyFn on_reply,
            absl::Duration timeout) override;
  void SetPeerAddress(const std::string& id,
                      const std::string& address) override;
  uint64_t RandomU64() override;
  Disk* disk() override { return disk_.get(); }
  void Log(std::string_view line) override;

  // If set (before the actor starts), sees every request the actor sends.
  void SetSendObserver(std::function<void(const pb::Envelope&)> observer) {
    send_observer_ = std::move(observer);
  }

  // The address last set for `id`, if any.
  std::optional<std::string> PeerAddress(const std::string& id) const;
  const std::string& id() const { return id_; }

 private:
  // Constant after construction.
  const std::string id_;
  const std::shared_ptr<Executor> executor_;
  const std::shared_ptr<Transport> transport_;
  const std::shared_ptr<FaultTable> faults_;
  const std::unique_ptr<Disk> disk_;

  // Executor thread only (send_observer_: set before the actor starts).
  std::mt19937_64 random_;
  std::function<void(const pb::Envelope&)> send_observer_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::string> addresses_ ABSL_GUARDED_BY(mu_);
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_LIVE_ENV_H_
