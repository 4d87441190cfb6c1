#include "common/live/connection_watch.h"

#include <chrono>
#include <list>
#include <utility>

#include "common/live/executor.h"
#include "grpcpp/grpcpp.h"

namespace seqsim {

struct ConnectionWatch::Watch {
  std::string id;
  std::string address;
  std::shared_ptr<grpc::Channel> channel;
  grpc_connectivity_state last = GRPC_CHANNEL_IDLE;
  // Connected since the last report: a loss of this connection counts.
  bool was_ready = false;
  // When the READY connection was lost (steady clock), while reconnecting.
  absl::Duration lost_at = absl::InfiniteDuration();
  bool notify_pending = false;
  bool retired = false;
};

namespace {

constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kNotifyWindow = std::chrono::milliseconds(500);

}  // namespace

ConnectionWatch::ConnectionWatch(
    std::shared_ptr<const ClusterIdentity> identity, OnGone on_gone)
    : identity_(std::move(identity)), on_gone_(std::move(on_gone)) {}

ConnectionWatch::~ConnectionWatch() { Stop(); }

void ConnectionWatch::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void ConnectionWatch::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ConnectionWatch::SetNodes(std::map<std::string, std::string> nodes) {
  absl::MutexLock lock(&mu_);
  if (nodes == wanted_) return;
  wanted_ = std::move(nodes);
  changed_ = true;
}

void ConnectionWatch::Loop() {
  grpc::CompletionQueue cq;
  // Watches whose state-change notification is still queued stay here (as
  // retired) until it returns: the cq holds their address as its tag.
  std::list<std::unique_ptr<Watch>> watches;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  bool stopping = false;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
      if (!stopping && changed_) {
        changed_ = false;
        for (auto& w : watches) {
          auto it = wanted_.find(w->id);
          if (it == wanted_.end() || it->second != w->address)
            w->retired = true;
        }
        for (const auto& [id, address] : wanted_) {
          bool have = false;
          for (auto& w : watches) {
            if (!w->retired && w->id == id) have = true;
          }
          if (have || address.empty()) continue;
          auto w = std::make_unique<Watch>();
          w->id = id;
          w->address = address;
          w->channel = NewIdentityChannel(identity_.get(), address, args);
          watches.push_back(std::move(w));
        }
      }
    }
    if (stopping) break;
    for (auto it = watches.begin(); it != watches.end();) {
      Watch& w = **it;
      if (w.retired && !w.notify_pending) {
        it = watches.erase(it);
        continue;
      }
      if (!w.retired && !w.notify_pending) {
        // try_to_connect: keeps the connection up, and after a loss starts
        // the reconnect whose refusal tells that the process is gone.
        const grpc_connectivity_state state = w.channel->GetState(true);
        const absl::Duration now = Executor::SteadyNow();
        if (state == GRPC_CHANNEL_READY) {
          w.was_ready = true;
          w.lost_at = absl::InfiniteDuration();
        } else if (w.was_ready) {
          if (w.lost_at == absl::InfiniteDuration()) w.lost_at = now;
          if (state == GRPC_CHANNEL_TRANSIENT_FAILURE) {
            w.was_ready = false;
            on_gone_(w.id, w.lost_at,
                     "closed its connection and refuses new ones (its "
                     "process is gone)");
            w.lost_at = absl::InfiniteDuration();
          }
        }
        w.last = state;
        w.notify_pending = true;
        w.channel->NotifyOnStateChange(
            state, std::chrono::system_clock::now() + kNotifyWindow, &cq, &w);
      }
      ++it;
    }
    void* tag = nullptr;
    bool ok = false;
    const grpc::CompletionQueue::NextStatus status = cq.AsyncNext(
        &tag, &ok, std::chrono::system_clock::now() + kPollInterval);
    if (status == grpc::CompletionQueue::GOT_EVENT) {
      static_cast<Watch*>(tag)->notify_pending = false;
      // Drain whatever else is ready without waiting.
      while (cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now()) ==
             grpc::CompletionQueue::GOT_EVENT) {
        static_cast<Watch*>(tag)->notify_pending = false;
      }
    }
  }
  // Every pending notification returns by its deadline (or at Shutdown).
  for (auto& w : watches) w->channel.reset();
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

}  // namespace seqsim
