#include "common/live/live_env.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace seqsim {
namespace {

// How long a send to a partitioned or unknown peer waits before failing: long
// enough that a retry loop does not spin, short enough that the failure is
// "immediate" for the logic.
constexpr absl::Duration kDropPause = absl::Milliseconds(20);

uint64_t Seed() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

LiveEnv::LiveEnv(std::string id, std::shared_ptr<Executor> executor,
                 std::shared_ptr<Transport> transport,
                 std::shared_ptr<FaultTable> faults, std::unique_ptr<Disk> disk)
    : id_(std::move(id)),
      executor_(std::move(executor)),
      transport_(std::move(transport)),
      faults_(std::move(faults)),
      disk_(std::move(disk)),
      random_(Seed()) {}

LiveEnv::~LiveEnv() = default;

absl::Duration LiveEnv::Now() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

int64_t LiveEnv::WallMillis() { return absl::ToUnixMillis(absl::Now()); }

TimerId LiveEnv::After(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  return executor_->After(delay, std::move(fn));
}

void LiveEnv::Cancel(TimerId id) { executor_->Cancel(id); }

void LiveEnv::Send(const std::string& to, pb::Envelope request,
                   ReplyFn on_reply, absl::Duration timeout) {
  request.set_from(id_);
  if (send_observer_) send_observer_(request);
  auto reply = std::make_shared<ReplyFn>(std::move(on_reply));
  std::optional<std::string> address = PeerAddress(to);
  if (!address.has_value()) {
    executor_->After(kDropPause, [reply, to]() {
      (*reply)(
          absl::UnavailableError(absl::StrCat("no address known for ", to)));
    });
    return;
  }
  if (faults_->IsPartitioned(to)) {
    executor_->After(std::min(kDropPause, timeout), [reply, to]() {
      (*reply)(absl::UnavailableError(absl::StrCat("partitioned from ", to)));
    });
    return;
  }
  const FaultTable::Loss loss = faults_->NextLoss(to);
  if (loss == FaultTable::Loss::kRequest) {
    executor_->After(std::min(kDropPause, timeout), [reply, to]() {
      (*reply)(absl::UnavailableError(
          absl::StrCat("message to ", to, " lost (injected drop)")));
    });
    return;
  }
  // As in the lab (sim_world.cc): client document operations are not
  // idempotent and no transport retries them, so only replication and
  // coordination messages are duplicated.
  const bool duplicate = request.body_case() != pb::Envelope::kWrite &&
                         request.body_case() != pb::Envelope::kBulk &&
                         request.body_case() != pb::Envelope::kCreateIndex &&
                         request.body_case() != pb::Envelope::kDeleteIndex &&
                         request.body_case() != pb::Envelope::kUpdateIndices &&
                         faults_->NextDuplicated(to);
  auto send = [executor = executor_, transport = transport_, faults = faults_,
               to, address = *address, request = std::move(request), reply,
               timeout, loss, duplicate]() mutable {
    if (duplicate) {
      // The copy's reply is ignored: the receiver sees the message twice.
      transport->Call(to, address, pb::Envelope(request), timeout,
                      [](absl::StatusOr<pb::Envelope>) {});
    }
    transport->Call(
        to, address, std::move(request), timeout,
        [executor, faults, to, reply,
         loss](absl::StatusOr<pb::Envelope> result) {
          // A partition set while the call was in flight drops the reply too.
          if (result.ok() && faults->IsPartitioned(to)) {
            result =
                absl::UnavailableError(absl::StrCat("partitioned from ", to));
          }
          // The request was delivered and executed; its reply is lost.
          if (result.ok() && loss == FaultTable::Loss::kReply) {
            result = absl::UnavailableError(
                absl::StrCat("reply from ", to, " lost (injected drop)"));
          }
          executor->Post([reply, result = std::move(result)]() mutable {
            (*reply)(std::move(result));
          });
        });
  };
  absl::Duration delay = faults_->DelayFor(to);
  if (delay > absl::ZeroDuration()) {
    executor_->After(delay, std::move(send));
  } else {
    send();
  }
}

void LiveEnv::SetPeerAddress(const std::string& id,
                             const std::string& address) {
  absl::MutexLock lock(&mu_);
  addresses_[id] = address;
}

std::optional<std::string> LiveEnv::PeerAddress(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = addresses_.find(id);
  if (it == addresses_.end()) return std::nullopt;
  return it->second;
}

uint64_t LiveEnv::RandomU64() { return random_(); }

void LiveEnv::Log(std::string_view line) { spdlog::info("[{}] {}", id_, line); }

}  // namespace seqsim
