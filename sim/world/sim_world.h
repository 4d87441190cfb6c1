// SimWorld: the lab's deterministic universe. One seeded generator, virtual
// time, and an event queue ordered by (time, sequence) that drives actors
// (nodes, the coordinator, test actors) through per-actor SimEnvs, plus client
// endpoints that are not actors.
//
// What it simulates: message latency per directed link (drawn from the seed)
// with jitter; drop, duplicate and reorder (extra delay); blocked links
// (partitions); actor crash (the actor is destroyed, its SimDisk keeps only
// synced bytes), restart (a new actor on the same SimDisk), pause (timers and
// deliveries wait until resume). Every message goes through its wire form: the
// Envelope is serialized when sent and parsed when delivered.
//
// Determinism: every choice comes from the seed; only ordered containers are
// iterated; no wall clock is read. The same seed and the same calls give the
// same trace, byte for byte.
//
// Thread-safety: none; everything runs on the caller's thread, one event at a
// time.
#ifndef SEQSIM_SIM_WORLD_SIM_WORLD_H_
#define SEQSIM_SIM_WORLD_SIM_WORLD_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "proto/seqsim.pb.h"
#include "sim/world/envelope_cache.h"
#include "sim/world/rng.h"
#include "sim/world/sim_disk.h"

namespace seqsim::sim {

// Network behaviour; may be changed between events (the nemesis does).
struct NetworkOptions {
  // Each directed link gets a base latency uniform in [min_latency,
  // max_latency] from the seed; each message adds a jitter uniform in [0,
  // jitter].
  absl::Duration min_latency = absl::Microseconds(200);
  absl::Duration max_latency = absl::Microseconds(1000);
  absl::Duration jitter = absl::Microseconds(300);
  double drop = 0;  // probability that a message is lost
  // Probability that a request is delivered twice (never a client write: not
  // idempotent).
  double duplicate = 0;
  double reorder = 0;  // probability that a message gets an extra delay
  absl::Duration reorder_max_delay = absl::Milliseconds(20);
  // A lost torn tail: on crash, keep a random prefix of unsynced bytes.
  bool torn_writes = false;
};

// Disk timing; may be changed between events. An fsync (a WritableFile::Sync
// with unsynced bytes, or a WriteFileAtomic) takes time, and the actor does
// nothing else meanwhile, as a live node's executor thread blocks in fsync:
// what it sends or schedules after the fsync leaves that much later, and what
// reaches it meanwhile waits. When it is free again, everything that waited
// runs as one batch followed by one Flush(): the group commit of the live
// executor. Each actor's disk gets a base fsync time uniform in [min_sync,
// max_sync] from the seed; each fsync adds a jitter uniform in [0,
// sync_jitter]. All zero (the default): fsync takes no time and every event is
// its own batch.
struct DiskOptions {
  absl::Duration min_sync = absl::ZeroDuration();
  absl::Duration max_sync = absl::ZeroDuration();
  absl::Duration sync_jitter = absl::ZeroDuration();
};

// What happened in one event, for observers (invariant checks, statistics).
struct EventInfo {
  enum Kind { kStart, kTimer, kRequest, kReply, kTimeout, kWorld };
  Kind kind = kWorld;
  int64_t time_ns = 0;
  std::string actor;  // receiving actor or client ("" for world events)
  std::string from;   // sender of a request or reply
  int body = 0;       // pb::Envelope::BodyCase of the message, if any
};

// One message on the simulated network, for drawings (sim/timeline) and
// statistics.
struct MessageEvent {
  enum Kind { kSend, kDeliver, kDrop };
  Kind kind = kSend;
  int64_t time_ns = 0;
  uint64_t id = 0;  // unique per message: 2 * rpc for a request, 2 * rpc + 1
                    // for its reply
  std::string from;
  std::string to;
  bool reply = false;
  std::string reason;  // kDrop: "partition", "random drop", "receiver down"
  const pb::Envelope* message = nullptr;  // valid during the call only
};

class SimWorld {
 public:
  using ActorFactory = std::function<std::unique_ptr<Actor>(Env*)>;
  // Each trace line ("<virtual ms> <who> <text>") with the mark its actor gave
  // it (Env::Log(LogMark, ...)); kRoutine for the world's own transport lines.
  using TraceFn = std::function<void(const std::string& line, LogMark mark)>;
  // Sees every completed RPC between actors: caller, callee, request and
  // response.
  using RpcObserver = std::function<void(
      const std::string& caller, const std::string& callee,
      const pb::Envelope& request, const pb::Envelope& response)>;

  explicit SimWorld(uint64_t seed);
  ~SimWorld();
  SimWorld(const SimWorld&) = delete;
  SimWorld& operator=(const SimWorld&) = delete;

  uint64_t seed() const { return seed_; }
  int64_t now_ns() const { return now_ns_; }
  absl::Duration Now() const { return absl::Nanoseconds(now_ns_); }
  Rng& rng() { return rng_; }
  NetworkOptions& network() { return network_; }
  DiskOptions& disk_options() { return disk_options_; }

  // ---- Actors
  // -----------------------------------------------------------------------------
  // Creates actor `id` with `factory` on a fresh SimEnv and SimDisk; Start()
  // runs as an event at the current time. The factory is kept for Restart().
  void AddActor(const std::string& id, ActorFactory factory);
  // An endpoint with its own SimEnv and SimDisk but no actor: a unit test
  // constructs the actor on env(id) itself and calls it directly (see
  // sim/harness/scripted_env.h). Its timers run as the world runs; Crash,
  // Restart and messages to it are not for it. Draws nothing from the world's
  // generator.
  void AddHostedEnv(const std::string& id);
  // The SimEnv of actor or hosted endpoint `id`, or nullptr.
  Env* env(const std::string& id) const;
  // Timers of `id` not yet run nor cancelled.
  int pending_timers(const std::string& id) const;
  // The live actor, or nullptr if crashed or unknown.
  Actor* actor(const std::string& id) const;
  SimDisk* disk(const std::string& id) const;
  bool IsUp(const std::string& id) const;
  bool IsPaused(const std::string& id) const;
  // Actor ids in the order they were added.
  std::vector<std::string> actor_ids() const;

  // ---- Faults
  // -----------------------------------------------------------------------------
  // Destroys the actor (volatile state lost), cuts its disk to the synced
  // bytes, drops its timers and outgoing RPCs; callers waiting on it get
  // kUnavailable.
  void Crash(const std::string& id);
  // A new actor from the same factory on the same SimDisk; Start() runs now.
  void Restart(const std::string& id);
  // A paused actor receives nothing: its timers and deliveries wait until
  // Resume().
  void Pause(const std::string& id);
  void Resume(const std::string& id);
  // Blocks (or unblocks) the directed link from -> to: messages on it are lost.
  void SetLinkBlocked(const std::string& from, const std::string& to,
                      bool blocked);
  bool IsLinkBlocked(const std::string& from, const std::string& to) const;
  // Unblocks every link.
  void HealLinks();

  // ---- Clients and harness events
  // ---------------------------------------------------------- Sends `request`
  // from client endpoint `client` (not an actor) to actor `to`; `on_reply` runs
  // exactly once, in the world, with the reply or kUnavailable /
  // kDeadlineExceeded.
  void ClientSend(const std::string& client, const std::string& to,
                  pb::Envelope request, ReplyFn on_reply,
                  absl::Duration timeout);
  // Runs `fn` in the world after `delay` (nemesis steps, workload steps).
  void Schedule(absl::Duration delay, absl::AnyInvocable<void()> fn);

  // ---- Running
  // ----------------------------------------------------------------------------
  // Runs one event. Returns false if the queue is empty or the world is
  // stopped.
  bool Step();
  // Runs the next event due by virtual time `t` (skipped events, e.g. a
  // cancelled timer, do not count): false if none is due by then. Leaves now
  // at that event's time; for tests that act between events.
  bool StepUntil(absl::Duration t);
  // Runs every event up to and including virtual time `t`; leaves now = t
  // unless stopped.
  void RunUntil(absl::Duration t);
  // Runs until the queue is empty (true) or `limit` of virtual time passes
  // (false).
  bool RunUntilQuiescent(absl::Duration limit);
  // Runs until `done()` is true after an event (true) or `limit` passes
  // (false).
  bool RunUntilTrue(const std::function<bool()>& done, absl::Duration limit);
  // Stops the run (an invariant broke); Step() returns false from now on.
  void Stop(const std::string& reason);
  bool stopped() const { return stopped_; }
  const std::string& stop_reason() const { return stop_reason_; }

  // ---- Observation
  // ------------------------------------------------------------------------
  void set_trace(TraceFn trace) { trace_ = std::move(trace); }
  bool tracing() const { return static_cast<bool>(trace_); }
  // Writes "<virtual time ms> <who> <text>" to the trace.
  void Trace(const std::string& who, std::string_view text,
             LogMark mark = LogMark::kNote);
  // Called after every event that ran (skipped events, e.g. a cancelled timer,
  // are not). Without `names`, the EventInfo's actor and from may be stale
  // (the observer reads last_event_endpoint() or last_event() instead): no
  // string is copied per event.
  void set_after_event(std::function<void(const EventInfo&)> fn,
                       bool names = true) {
    after_event_ = std::move(fn);
    after_event_names_ = names;
  }
  // With `bodies` (pb::Envelope::BodyCase values) non-empty, only RPCs whose
  // request has one of those bodies are observed: the others' request bytes
  // are neither kept nor parsed again (the lab's hot path).
  void set_rpc_observer(RpcObserver fn, std::vector<int> bodies = {}) {
    rpc_observer_ = std::move(fn);
    rpc_observer_bodies_ = std::move(bodies);
  }
  // Sees every message sent, delivered (a duplicate is delivered twice) and
  // dropped.
  void set_message_observer(std::function<void(const MessageEvent&)> fn) {
    message_observer_ = std::move(fn);
  }
  const EventInfo& last_event() const {
    FillLastEventNames();
    return last_event_;
  }
  // The last event's kind and receiving endpoint (-1: the world itself),
  // without filling in names.
  EventInfo::Kind last_event_kind() const { return last_event_.kind; }
  int last_event_endpoint() const { return last_actor_; }
  // An actor's or client's endpoint index (stable once added), or -1.
  int endpoint_index(const std::string& id) const { return EndpointIndex(id); }

  uint64_t events() const { return events_; }  // events that ran
  uint64_t deliveries() const {
    return deliveries_;
  }  // requests + replies delivered
  uint64_t messages_sent() const { return messages_sent_; }
  uint64_t messages_lost() const { return messages_lost_; }
  uint64_t fsyncs() const { return fsyncs_; }  // fsyncs that had work to do
  // Events that ran in a batch after waiting for their actor's fsync.
  uint64_t batched_events() const { return batched_events_; }

  // Internal, for SimEnv.
  class SimEnvImpl;

 private:
  struct Endpoint;
  struct Event;
  struct PendingRpc;
  struct HeapEntry {
    int64_t time;
    uint64_t seq;
    uint32_t slot;
    bool operator>(const HeapEntry& o) const {
      return time != o.time ? time > o.time : seq > o.seq;
    }
  };

  struct TimeoutEntry {
    int64_t time;
    uint64_t seq;
    uint64_t rpc;
    int target;
    uint64_t incarnation;
  };

  int EndpointIndex(const std::string& id) const;
  void DropAnsweredTimeouts();
  bool QueueEmpty();
  int ClientEndpoint(const std::string& client);
  // A free event slot (its other members empty) holding these; a reference
  // into slab_ taken before this call is invalid after it.
  uint32_t NewEvent(EventInfo::Kind kind, int target, uint64_t incarnation,
                    uint64_t id = 0);
  bool StepBefore(int64_t limit);
  void Push(int64_t time, uint32_t slot);
  int64_t Latency(int from, int to);
  void StartActor(int index);
  // Network paths.
  uint64_t SendRequest(int from, int to, const pb::Envelope& request,
                       ReplyFn on_reply, absl::Duration timeout);
  void SendReply(uint64_t rpc, int from, int to, const pb::Envelope& response);
  // A cleared string for a message's bytes, reusing a delivered one's buffer.
  std::string TakeBuffer();
  void ReturnBuffer(std::string bytes);
  bool ObservesRpc(int body) const;
  void SendError(uint64_t rpc, int to, absl::Status status, int64_t delay);
  TimerId AddTimer(int actor, absl::Duration delay,
                   absl::AnyInvocable<void()> fn);
  void CancelTimer(int actor, TimerId id);
  bool Dispatch(Event& event);
  void Finish(int actor);
  // The running actor's disk did an fsync: charge it time.
  void OnSync(int actor);
  // Now, plus the fsync time the running actor has spent in this event.
  int64_t Departure() const { return now_ns_ + work_ns_; }
  // Runs the events that waited for actor `index`'s fsync as one batch, then
  // one Flush(); returns whether any ran.
  bool RunBatch(int index);
  // After an event: an actor that spent time in fsync is busy until then.
  void EndEvent();
  // Takes the event out of `slot` and frees the slot.
  Event TakeEvent(uint32_t slot);
  std::string Timestamp() const;
  void Observe(MessageEvent::Kind kind, uint64_t id, int from, int to,
               const pb::Envelope& message, const char* reason);

  const uint64_t seed_;
  Rng rng_;
  NetworkOptions network_;
  DiskOptions disk_options_;
  // The actor whose event is running (-1: none) and the fsync time it has
  // spent in it so far.
  int running_ = -1;
  int64_t work_ns_ = 0;
  bool batching_ = false;  // in RunBatch: Finish() waits for the batch's end
  int64_t now_ns_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t next_rpc_ = 1;
  uint64_t next_timer_ = 1;

  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  absl::flat_hash_map<std::string, int> endpoint_index_;
  std::vector<Event> slab_;
  std::vector<uint32_t> free_slots_;
  std::vector<HeapEntry> heap_;
  // RPC deadlines by timeout length, each FIFO in (time, seq) order.
  std::map<int64_t, std::deque<TimeoutEntry>> timeouts_;
  // Unanswered RPCs by id (hashed: never iterated in hash order).
  absl::flat_hash_map<uint64_t, PendingRpc> rpcs_;
  std::set<std::pair<int, int>> blocked_;
  // Base latency of each directed link [from][to]; -1 until first drawn.
  std::vector<std::vector<int64_t>> link_latency_;

  TraceFn trace_;
  std::function<void(const EventInfo&)> after_event_;
  bool after_event_names_ = true;
  void AfterEvent();
  RpcObserver rpc_observer_;
  std::vector<int> rpc_observer_bodies_;
  std::vector<std::string> spare_buffers_;
  EnvelopeCache requests_, replies_;
  std::function<void(const MessageEvent&)> message_observer_;
  // The last event; its actor and sender names are filled in only when asked
  // for (endpoint indices until then).
  mutable EventInfo last_event_;
  int last_actor_ = -1;
  int last_from_ = -1;
  mutable bool last_names_stale_ = false;
  void FillLastEventNames() const;
  bool stopped_ = false;
  std::string stop_reason_;
  uint64_t events_ = 0;
  uint64_t deliveries_ = 0;
  uint64_t messages_sent_ = 0;
  uint64_t messages_lost_ = 0;
  uint64_t fsyncs_ = 0;
  uint64_t batched_events_ = 0;
};

// Formats virtual nanoseconds as milliseconds with microsecond precision:
// "1234.567".
std::string FormatMillis(int64_t ns);
// The name of an envelope's body ("write", "replicate_response", ...).
std::string BodyName(int body_case);

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_WORLD_SIM_WORLD_H_
