// A tiny deterministic world for driving Node actors in unit tests, on the
// lab's SimWorld: each actor's Env is a hosted endpoint of one SimWorld
// (SimWorld::AddHostedEnv), so the clock, the timers and the disks are the
// lab's. What these tests need and the SimWorld network does not have is kept
// here, on top of it:
//
// - a virtual clock with timers that run only when the test advances time;
// - a FIFO of pending messages (requests and replies) that the test delivers
// one
//   by one, selectively, or all at once; it can also drop them or take a node
//   down (its requests then fail with kUnavailable);
// - an in-memory Disk (sim::SimDisk) per actor that keeps appended bytes and
//   counts fsyncs;
// - a FakeCoordinator that answers join / heartbeat / shard_failed /
//   shard_started / create_index with hand-written cluster states and publishes
//   every change.
// After each delivered message the receiving actor's Flush() runs (group
// commit), unless auto_flush is off.
#ifndef SEQSIM_TESTS_LOGIC_TEST_CLUSTER_H_
#define SEQSIM_TESTS_LOGIC_TEST_CLUSTER_H_

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "proto/seqsim.pb.h"
#include "sim/world/sim_disk.h"
#include "sim/world/sim_world.h"

namespace seqsim::testing {

class TestCluster;

// An actor's Env: the clock, timers, random source and SimDisk of its
// SimWorld endpoint; messages go through the TestCluster's queue.
class TestEnv : public Env {
 public:
  TestEnv(TestCluster* cluster, std::string id, Env* world_env,
          sim::SimDisk* disk)
      : cluster_(cluster),
        id_(std::move(id)),
        world_env_(world_env),
        disk_(disk) {}
  absl::Duration Now() override { return world_env_->Now(); }
  int64_t WallMillis() override { return absl::ToInt64Milliseconds(Now()); }
  TimerId After(absl::Duration delay, absl::AnyInvocable<void()> fn) override {
    return world_env_->After(delay, std::move(fn));
  }
  void Cancel(TimerId id) override { world_env_->Cancel(id); }
  void Send(const std::string& to, pb::Envelope request, ReplyFn on_reply,
            absl::Duration timeout) override;
  void SetPeerAddress(const std::string& id,
                      const std::string& address) override {
    peers[id] = address;
  }
  uint64_t RandomU64() override { return world_env_->RandomU64(); }
  Disk* disk() override { return disk_; }
  void Log(std::string_view line) override;

  sim::SimDisk& mem_disk() { return *disk_; }
  std::map<std::string, std::string> peers;

 private:
  TestCluster* cluster_;
  std::string id_;
  Env* const world_env_;
  sim::SimDisk* const disk_;
};

// One pending message: a request to `to`, or a reply to call `call_id`.
struct Message {
  std::string from;
  std::string to;
  pb::Envelope envelope;
  bool is_reply = false;
  uint64_t call_id = 0;
  absl::Status status;  // a failed reply (kUnavailable)
};

class TestCluster {
 public:
  TestEnv* AddEnv(const std::string& id) {
    world_.AddHostedEnv(id);
    auto env =
        std::make_unique<TestEnv>(this, id, world_.env(id), world_.disk(id));
    TestEnv* raw = env.get();
    envs_[id] = std::move(env);
    return raw;
  }
  void AddActor(const std::string& id, Actor* actor) { actors_[id] = actor; }
  TestEnv* env(const std::string& id) { return envs_.at(id).get(); }

  absl::Duration now() const { return world_.Now(); }
  bool auto_flush = true;
  std::set<std::string> down;  // requests to these ids fail with kUnavailable
  std::vector<std::string> log;

  // ---- called by TestEnv ----
  void Send(const std::string& from, const std::string& to,
            pb::Envelope request, ReplyFn on_reply, absl::Duration timeout) {
    const uint64_t call_id = next_call_++;
    request.set_from(from);
    // The deadline is a timer of the caller (a hosted endpoint of its own if
    // it is no actor, e.g. "client").
    Env* caller = world_.env(from);
    if (caller == nullptr) {
      world_.AddHostedEnv(from);
      caller = world_.env(from);
    }
    calls_[call_id] = Call{from, std::move(on_reply), caller, 0};
    calls_[call_id].timer = caller->After(timeout, [this, call_id]() {
      auto it = calls_.find(call_id);
      if (it == calls_.end()) return;
      ReplyFn fn = std::move(it->second.on_reply);
      calls_.erase(it);
      fn(absl::DeadlineExceededError("timeout"));
    });
    queue.push_back(Message{from, to, std::move(request), false, call_id,
                            absl::OkStatus()});
  }

  // ---- test controls ----
  std::deque<Message> queue;

  // Index of the first pending message matching `pred`.
  std::optional<size_t> Find(
      const std::function<bool(const Message&)>& pred) const {
    for (size_t i = 0; i < queue.size(); ++i) {
      if (pred(queue[i])) return i;
    }
    return std::nullopt;
  }
  // The first pending request of `body` case from -> to (either may be "").
  std::optional<size_t> FindRequest(pb::Envelope::BodyCase body,
                                    const std::string& from = "",
                                    const std::string& to = "") const {
    return Find([&](const Message& m) {
      return !m.is_reply && m.envelope.body_case() == body &&
             (from.empty() || m.from == from) && (to.empty() || m.to == to);
    });
  }
  int CountRequests(pb::Envelope::BodyCase body,
                    const std::string& to = "") const {
    int n = 0;
    for (const auto& m : queue) {
      if (!m.is_reply && m.envelope.body_case() == body &&
          (to.empty() || m.to == to))
        ++n;
    }
    return n;
  }

  Message Take(size_t index) {
    Message message = std::move(queue[index]);
    queue.erase(queue.begin() + static_cast<long>(index));
    return message;
  }
  // Drops a message: a lost request never gets a reply (the caller times out).
  void Drop(size_t index) { Take(index); }

  void Deliver(size_t index) { DeliverMessage(Take(index)); }
  bool DeliverNext() {
    if (queue.empty()) return false;
    Deliver(0);
    return true;
  }
  void DeliverAll(int max = 100000) {
    while (max-- > 0 && DeliverNext()) {
    }
  }
  // Delivers pending messages, then fires timers in time order, for `duration`.
  void RunFor(absl::Duration duration) {
    const absl::Duration end = world_.Now() + duration;
    DeliverAll();
    while (world_.StepUntil(end)) {  // one timer, at its time
      FlushActor(world_.last_event().actor);
      DeliverAll();
    }
    world_.RunUntil(end);
  }
  // RunFor in small steps until `done` holds or `limit` passes.
  bool RunUntil(const std::function<bool()>& done,
                absl::Duration limit = absl::Seconds(60)) {
    const absl::Duration end = world_.Now() + limit;
    while (!done() && world_.Now() < end) RunFor(absl::Milliseconds(10));
    return done();
  }

  void FlushActor(const std::string& id) {
    if (!auto_flush) return;
    auto it = actors_.find(id);
    if (it != actors_.end()) it->second->Flush();
  }

  // A client request into actor `to` (sent as `from`); the reply lands in
  // the returned slot.
  std::shared_ptr<std::optional<pb::Envelope>> Client(
      const std::string& to, pb::Envelope request,
      const std::string& from = "client") {
    auto slot = std::make_shared<std::optional<pb::Envelope>>();
    Send(
        from, to, std::move(request),
        [slot](const absl::StatusOr<pb::Envelope>& reply) {
          if (reply.ok()) *slot = *reply;
        },
        absl::Hours(1));
    return slot;
  }

 private:
  struct Call {
    std::string owner;
    ReplyFn on_reply;
    Env* owner_env;  // holds the deadline timer
    TimerId timer;
  };

  void DeliverMessage(Message message) {
    if (message.is_reply) {
      auto it = calls_.find(message.call_id);
      if (it == calls_.end()) return;
      ReplyFn fn = std::move(it->second.on_reply);
      it->second.owner_env->Cancel(it->second.timer);
      const std::string owner = it->second.owner;
      calls_.erase(it);
      if (message.status.ok()) {
        fn(std::move(message.envelope));
      } else {
        fn(message.status);
      }
      FlushActor(owner);
      return;
    }
    auto actor = actors_.find(message.to);
    if (actor == actors_.end() || down.count(message.to) > 0) {
      queue.push_back(Message{message.to,
                              message.from,
                              {},
                              true,
                              message.call_id,
                              MarkNeverDelivered(absl::UnavailableError(
                                  "connection refused: " + message.to))});
      return;
    }
    const uint64_t call_id = message.call_id;
    const std::string to = message.to;
    const std::string from = message.from;
    actor->second->Handle(
        message.envelope, [this, call_id, to, from](pb::Envelope r) {
          r.set_from(to);
          queue.push_back(
              Message{to, from, std::move(r), true, call_id, absl::OkStatus()});
        });
    FlushActor(to);
  }

  // Before envs_: outlives the TestEnvs that point into it. Seeded, but
  // nothing here draws from its generator.
  sim::SimWorld world_{1};
  uint64_t next_call_ = 1;
  std::map<uint64_t, Call> calls_;
  std::map<std::string, std::unique_ptr<TestEnv>> envs_;
  std::map<std::string, Actor*> actors_;
};

inline void TestEnv::Send(const std::string& to, pb::Envelope request,
                          ReplyFn on_reply, absl::Duration timeout) {
  cluster_->Send(id_, to, std::move(request), std::move(on_reply), timeout);
}
inline void TestEnv::Log(std::string_view line) {
  cluster_->log.emplace_back(line);
}

// ---- hand-written cluster states
// ----------------------------------------------------------

struct CopySpec {
  std::string node;
  bool primary = false;
  bool started = true;
};

inline pb::ShardRouting Routing(int shard, int64_t term,
                                const std::vector<CopySpec>& copies,
                                const std::vector<std::string>& in_sync) {
  pb::ShardRouting routing;
  routing.set_shard(shard);
  routing.set_primary_term(term);
  for (const auto& spec : copies) {
    pb::ShardCopy* copy = routing.add_copies();
    copy->set_node_id(spec.node);
    copy->set_primary(spec.primary);
    copy->set_state(spec.started ? pb::ShardCopy::STARTED
                                 : pb::ShardCopy::INITIALIZING);
  }
  for (const auto& node : in_sync) routing.add_in_sync(node);
  return routing;
}

inline pb::IndexMeta Index(const std::string& name, int replicas,
                           const std::vector<pb::ShardRouting>& shards) {
  pb::IndexMeta index;
  index.set_name(name);
  index.set_uuid("uuid-" + name);
  index.set_number_of_shards(static_cast<int>(shards.size()));
  index.set_number_of_replicas(replicas);
  for (const auto& shard : shards) *index.add_shards() = shard;
  return index;
}

// The coordinator's side, scripted: tests edit `state` and call Publish().
class FakeCoordinator : public Actor {
 public:
  FakeCoordinator(Env* env, std::vector<std::string> nodes) : env_(env) {
    state.set_version(1);
    state.set_cluster_name("test");
    for (const auto& id : nodes) {
      pb::NodeInfo* node = state.add_nodes();
      node->set_id(id);
      node->set_grpc_address("127.0.0.1:" + id);
      node->set_alive(true);
    }
  }

  void Start() override {}
  void Flush() override {}

  void Handle(const pb::Envelope& request, RespondFn respond) override {
    received.push_back(request);
    pb::Envelope reply;
    switch (request.body_case()) {
      case pb::Envelope::kJoin:
        *reply.mutable_join_response()->mutable_state() = state;
        break;
      case pb::Envelope::kHeartbeat:
        reply.mutable_heartbeat_response()->set_state_version(state.version());
        break;
      case pb::Envelope::kGetClusterState:
        *reply.mutable_get_cluster_state_response()->mutable_state() = state;
        break;
      case pb::Envelope::kShardFailed: {
        const auto& failed = request.shard_failed();
        pb::ShardRouting* routing =
            FindRouting(failed.shard().index(), failed.shard().shard());
        if (reject_shard_failed || routing == nullptr ||
            failed.primary_term() != routing->primary_term()) {
          reply.mutable_shard_failed_response()->mutable_error()->set_type(
              "shard_not_in_primary_mode_exception");
          reply.mutable_shard_failed_response()->mutable_error()->set_reason(
              "no longer primary");
          reply.mutable_shard_failed_response()->mutable_error()->set_status(
              409);
          break;
        }
        RemoveCopy(routing, failed.failed_node());
        reply.mutable_shard_failed_response()->set_acknowledged(true);
        Bump();
        publish_after_reply = true;
        break;
      }
      case pb::Envelope::kShardStarted: {
        const auto& started = request.shard_started();
        pb::ShardRouting* routing =
            FindRouting(started.shard().index(), started.shard().shard());
        if (routing == nullptr ||
            started.primary_term() != routing->primary_term()) {
          reply.mutable_shard_started_response()->mutable_error()->set_type(
              "exception");
          reply.mutable_shard_started_response()->mutable_error()->set_reason(
              "stale");
          break;
        }
        for (auto& copy : *routing->mutable_copies()) {
          if (copy.node_id() == started.node_id())
            copy.set_state(pb::ShardCopy::STARTED);
        }
        bool listed = false;
        for (const auto& node : routing->in_sync())
          listed |= node == started.node_id();
        if (!listed) routing->add_in_sync(started.node_id());
        reply.mutable_shard_started_response()->set_acknowledged(true);
        Bump();
        publish_after_reply = true;
        break;
      }
      case pb::Envelope::kCreateIndex: {
        const auto& create = request.create_index();
        std::vector<CopySpec> copies = {{create_primary, true, true}};
        std::vector<std::string> in_sync = {create_primary};
        for (const auto& replica : create_replicas) {
          copies.push_back({replica, false, true});
          in_sync.push_back(replica);
        }
        *state.add_indices() =
            Index(create.index(), static_cast<int>(create_replicas.size()),
                  {Routing(0, 1, copies, in_sync)});
        Bump();
        reply.mutable_create_index_response()->set_acknowledged(true);
        reply.mutable_create_index_response()->set_index(create.index());
        publish_after_reply = true;
        break;
      }
      default:
        break;
    }
    respond(std::move(reply));
    if (publish_after_reply) {
      publish_after_reply = false;
      Publish();
    }
  }

  void Bump() { state.set_version(state.version() + 1); }

  // Sends the current state to every node (or only `only`).
  void Publish(const std::vector<std::string>& only = {}) {
    for (const auto& node : state.nodes()) {
      if (!only.empty() &&
          std::find(only.begin(), only.end(), node.id()) == only.end()) {
        continue;
      }
      pb::Envelope envelope;
      *envelope.mutable_publish()->mutable_state() = state;
      env_->Send(
          node.id(), std::move(envelope),
          [](const absl::StatusOr<pb::Envelope>&) {}, absl::Seconds(5));
    }
  }

  pb::ShardRouting* FindRouting(const std::string& index, int shard) {
    for (auto& meta : *state.mutable_indices()) {
      if (meta.name() != index) continue;
      for (auto& routing : *meta.mutable_shards()) {
        if (routing.shard() == shard) return &routing;
      }
    }
    return nullptr;
  }

  static void RemoveCopy(pb::ShardRouting* routing, const std::string& node) {
    pb::ShardRouting updated = *routing;
    updated.clear_copies();
    updated.clear_in_sync();
    for (const auto& copy : routing->copies()) {
      if (copy.node_id() != node) *updated.add_copies() = copy;
    }
    for (const auto& id : routing->in_sync()) {
      if (id != node) updated.add_in_sync(id);
    }
    *routing = updated;
  }

  pb::ClusterState state;
  std::vector<pb::Envelope> received;
  bool reject_shard_failed = false;
  std::string create_primary = "node-1";
  std::vector<std::string> create_replicas = {"node-2"};

 private:
  Env* env_;
  bool publish_after_reply = false;
};

}  // namespace seqsim::testing

#endif  // SEQSIM_TESTS_LOGIC_TEST_CLUSTER_H_
