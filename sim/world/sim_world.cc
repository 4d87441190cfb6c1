#include "sim/world/sim_world.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "sim/world/sim_world_internal.h"

namespace seqsim::sim {

using world_internal::ToNs;

std::string FormatMillis(int64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%lld.%03lld",
                static_cast<long long>(ns / 1000000),
                static_cast<long long>((ns / 1000) % 1000));
  return buf;
}

std::string BodyName(int body_case) {
  const google::protobuf::FieldDescriptor* field =
      pb::Envelope::descriptor()->FindFieldByNumber(body_case);
  return field == nullptr ? "empty" : field->name();
}

SimWorld::SimWorld(uint64_t seed)
    : seed_(seed), rng_(DeriveSeed(seed, "world")) {}

SimWorld::~SimWorld() {
  // Actors first: their destructors may still call into their Env.
  for (auto& e : endpoints_) e->actor.reset();
}

int SimWorld::EndpointIndex(const std::string& id) const {
  auto it = endpoint_index_.find(id);
  return it == endpoint_index_.end() ? -1 : it->second;
}

int SimWorld::ClientEndpoint(const std::string& client) {
  int index = EndpointIndex(client);
  if (index >= 0) return index;
  auto e = std::make_unique<Endpoint>();
  e->id = client;
  index = static_cast<int>(endpoints_.size());
  endpoints_.push_back(std::move(e));
  endpoint_index_[client] = index;
  return index;
}

void SimWorld::AddActor(const std::string& id, ActorFactory factory) {
  auto e = std::make_unique<Endpoint>();
  const int index = static_cast<int>(endpoints_.size());
  e->id = id;
  e->is_actor = true;
  e->factory = std::move(factory);
  e->disk = std::make_unique<SimDisk>();
  e->disk->SetSyncObserver([this, index] { OnSync(index); });
  e->env = std::make_unique<SimEnvImpl>(this, index, DeriveSeed(seed_, id, 0));
  endpoints_.push_back(std::move(e));
  endpoint_index_[id] = index;
  StartActor(index);
}

void SimWorld::AddHostedEnv(const std::string& id) {
  auto e = std::make_unique<Endpoint>();
  const int index = static_cast<int>(endpoints_.size());
  e->id = id;
  e->is_actor = true;
  e->disk = std::make_unique<SimDisk>();
  e->disk->SetSyncObserver([this, index] { OnSync(index); });
  e->env = std::make_unique<SimEnvImpl>(this, index, DeriveSeed(seed_, id, 0));
  endpoints_.push_back(std::move(e));
  endpoint_index_[id] = index;
}

Env* SimWorld::env(const std::string& id) const {
  const int index = EndpointIndex(id);
  return index < 0 ? nullptr : endpoints_[index]->env.get();
}

int SimWorld::pending_timers(const std::string& id) const {
  const int index = EndpointIndex(id);
  return index < 0 ? 0 : static_cast<int>(endpoints_[index]->timers.size());
}

void SimWorld::StartActor(int index) {
  Endpoint& e = *endpoints_[index];
  e.up = true;
  e.paused = false;
  e.actor = e.factory(e.env.get());
  Push(now_ns_, NewEvent(EventInfo::kStart, index, e.incarnation));
}

Actor* SimWorld::actor(const std::string& id) const {
  const int index = EndpointIndex(id);
  if (index < 0 || !endpoints_[index]->up) return nullptr;
  return endpoints_[index]->actor.get();
}

SimDisk* SimWorld::disk(const std::string& id) const {
  const int index = EndpointIndex(id);
  return index < 0 ? nullptr : endpoints_[index]->disk.get();
}

bool SimWorld::IsUp(const std::string& id) const {
  const int index = EndpointIndex(id);
  return index >= 0 && endpoints_[index]->up;
}

bool SimWorld::IsPaused(const std::string& id) const {
  const int index = EndpointIndex(id);
  return index >= 0 && endpoints_[index]->paused;
}

std::vector<std::string> SimWorld::actor_ids() const {
  std::vector<std::string> ids;
  for (const auto& e : endpoints_) {
    if (e->is_actor) ids.push_back(e->id);
  }
  return ids;
}

uint32_t SimWorld::NewEvent(EventInfo::Kind kind, int target,
                            uint64_t incarnation, uint64_t id) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slab_.emplace_back();
    slot = static_cast<uint32_t>(slab_.size() - 1);
  }
  Event& ev = slab_[slot];
  ev.kind = kind;
  ev.target = target;
  ev.incarnation = incarnation;
  ev.id = id;
  return slot;
}

void SimWorld::Push(int64_t time, uint32_t slot) {
  heap_.push_back(HeapEntry{time, next_seq_++, slot});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
}

int64_t SimWorld::Latency(int from, int to) {
  if (link_latency_.size() <= static_cast<size_t>(from))
    link_latency_.resize(from + 1);
  std::vector<int64_t>& row = link_latency_[from];
  if (row.size() <= static_cast<size_t>(to)) row.resize(to + 1, -1);
  int64_t& base = row[to];
  if (base < 0) {
    Rng link(
        DeriveSeed(seed_, endpoints_[from]->id + "->" + endpoints_[to]->id));
    const int64_t lo = ToNs(network_.min_latency);
    const int64_t hi = std::max(lo, ToNs(network_.max_latency));
    base = link.Range(lo, hi);
  }
  int64_t delay =
      base + static_cast<int64_t>(rng_.Below(ToNs(network_.jitter) + 1));
  if (network_.reorder > 0 && rng_.Chance(network_.reorder)) {
    delay +=
        static_cast<int64_t>(rng_.Below(ToNs(network_.reorder_max_delay) + 1));
  }
  return delay;
}

uint64_t SimWorld::SendRequest(int from, int to, const pb::Envelope& request,
                               ReplyFn on_reply, absl::Duration timeout) {
  const uint64_t rpc = next_rpc_++;
  Endpoint& caller = *endpoints_[from];
  PendingRpc pending;
  pending.caller = from;
  pending.caller_incarnation = caller.incarnation;
  pending.callee = to;
  if (to >= 0) pending.callee_incarnation = endpoints_[to]->incarnation;
  pending.on_reply = std::move(on_reply);
  std::string bytes = TakeBuffer();
  request.AppendToString(&bytes);
  AppendFrom(caller.id, &bytes);
  if (ObservesRpc(request.body_case())) pending.request_bytes = bytes;
  rpcs_.emplace(rpc, std::move(pending));

  // The caller's deadline. Deadlines of one length expire in the order they
  // were set, so each length has a FIFO instead of a place in the heap (most
  // are answered long before).
  timeouts_[ToNs(timeout)].push_back(TimeoutEntry{
      now_ns_ + ToNs(timeout), next_seq_++, rpc, from, caller.incarnation});
  ++messages_sent_;
  if (to < 0) {
    SendError(rpc, from, absl::UnavailableError("unknown peer"), 0);
    return rpc;
  }
  Endpoint& callee = *endpoints_[to];
  Observe(MessageEvent::kSend, 2 * rpc, from, to, request, "");
  if (!callee.up) {
    Observe(MessageEvent::kDrop, 2 * rpc, from, to, request, "receiver down");
    SendError(rpc, from,
              MarkNeverDelivered(absl::UnavailableError(
                  absl::StrCat("connection refused: ", callee.id))),
              Latency(from, to));
    return rpc;
  }
  if ((!blocked_.empty() && blocked_.count({from, to}) > 0) ||
      rng_.Chance(network_.drop)) {
    ++messages_lost_;
    Observe(MessageEvent::kDrop, 2 * rpc, from, to, request,
            blocked_.count({from, to}) > 0 ? "partition" : "random drop");
    return rpc;
  }
  // Client document operations are not idempotent and no transport retries
  // them: only actor-to-actor replication and coordination messages are ever
  // duplicated.
  const bool may_duplicate =
      request.body_case() != pb::Envelope::kWrite &&
      request.body_case() != pb::Envelope::kBulk &&
      request.body_case() != pb::Envelope::kCreateIndex &&
      request.body_case() != pb::Envelope::kDeleteIndex &&
      request.body_case() != pb::Envelope::kUpdateIndices;
  const int copies = may_duplicate && rng_.Chance(network_.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    const uint32_t slot =
        NewEvent(EventInfo::kRequest, to, callee.incarnation, rpc);
    Event& ev = slab_[slot];
    ev.from = from;
    ev.bytes = i + 1 < copies ? bytes : std::move(bytes);
    Push(Departure() + Latency(from, to), slot);
  }
  return rpc;
}

std::string SimWorld::TakeBuffer() {
  if (spare_buffers_.empty()) return std::string();
  std::string bytes = std::move(spare_buffers_.back());
  spare_buffers_.pop_back();
  return bytes;
}

void SimWorld::ReturnBuffer(std::string bytes) {
  if (bytes.capacity() == 0 || spare_buffers_.size() >= 256) return;
  bytes.clear();
  spare_buffers_.push_back(std::move(bytes));
}

bool SimWorld::ObservesRpc(int body) const {
  if (!rpc_observer_) return false;
  if (rpc_observer_bodies_.empty()) return true;
  return std::find(rpc_observer_bodies_.begin(), rpc_observer_bodies_.end(),
                   body) != rpc_observer_bodies_.end();
}

void SimWorld::SendReply(uint64_t rpc, int from, int to,
                         const pb::Envelope& response) {
  ++messages_sent_;
  if (rpcs_.count(rpc) == 0) return;  // the caller gave up: nobody will read it
  Observe(MessageEvent::kSend, 2 * rpc + 1, from, to, response, "");
  if ((!blocked_.empty() && blocked_.count({from, to}) > 0) ||
      rng_.Chance(network_.drop)) {
    ++messages_lost_;
    Observe(MessageEvent::kDrop, 2 * rpc + 1, from, to, response,
            blocked_.count({from, to}) > 0 ? "partition" : "random drop");
    return;
  }
  const uint32_t slot =
      NewEvent(EventInfo::kReply, to, endpoints_[to]->incarnation, rpc);
  Event& ev = slab_[slot];
  ev.from = from;
  ev.bytes = TakeBuffer();
  response.AppendToString(&ev.bytes);
  AppendFrom(endpoints_[from]->id, &ev.bytes);
  Push(Departure() + Latency(from, to), slot);
}

void SimWorld::SendError(uint64_t rpc, int to, absl::Status status,
                         int64_t delay) {
  const uint32_t slot =
      NewEvent(EventInfo::kReply, to, endpoints_[to]->incarnation, rpc);
  Event& ev = slab_[slot];
  ev.is_error = true;
  ev.status = std::move(status);
  auto it = rpcs_.find(rpc);
  ev.from = it == rpcs_.end() ? -1 : it->second.callee;
  Push(Departure() + delay, slot);
}

TimerId SimWorld::AddTimer(int actor, absl::Duration delay,
                           absl::AnyInvocable<void()> fn) {
  Endpoint& e = *endpoints_[actor];
  const TimerId id = next_timer_++;
  e.timers.insert(id);
  const uint32_t slot = NewEvent(EventInfo::kTimer, actor, e.incarnation, id);
  slab_[slot].fn = std::move(fn);
  Push(Departure() + ToNs(delay), slot);
  return id;
}

void SimWorld::CancelTimer(int actor, TimerId id) {
  endpoints_[actor]->timers.erase(id);
}

void SimWorld::ClientSend(const std::string& client, const std::string& to,
                          pb::Envelope request, ReplyFn on_reply,
                          absl::Duration timeout) {
  const int from = ClientEndpoint(client);
  SendRequest(from, EndpointIndex(to), request, std::move(on_reply), timeout);
}

void SimWorld::Schedule(absl::Duration delay, absl::AnyInvocable<void()> fn) {
  const uint32_t slot = NewEvent(EventInfo::kWorld, -1, 0);
  slab_[slot].fn = std::move(fn);
  Push(now_ns_ + ToNs(delay), slot);
}

void SimWorld::Observe(MessageEvent::Kind kind, uint64_t id, int from, int to,
                       const pb::Envelope& message, const char* reason) {
  if (!message_observer_) return;
  MessageEvent m;
  m.kind = kind;
  m.time_ns = now_ns_;
  m.id = id;
  m.from = from >= 0 ? endpoints_[from]->id : "";
  m.to = to >= 0 ? endpoints_[to]->id : "";
  m.reply = (id & 1) != 0;
  m.reason = reason;
  m.message = &message;
  message_observer_(m);
}

void SimWorld::Trace(const std::string& who, std::string_view text,
                     LogMark mark) {
  if (!trace_) return;
  std::string line = FormatMillis(now_ns_);
  line += ' ';
  line += who;
  line += ' ';
  line.append(text.data(), text.size());
  trace_(line, mark);
}

void SimWorld::Finish(int actor) {
  if (batching_) return;  // RunBatch flushes once, after the batch
  Endpoint& e = *endpoints_[actor];
  if (e.is_actor && e.up && e.actor != nullptr) e.actor->Flush();
}

void SimWorld::OnSync(int actor) {
  if (actor != running_) return;  // not during one of its events: free
  ++fsyncs_;
  const int64_t hi = ToNs(disk_options_.max_sync);
  if (hi <= 0) return;  // fsync takes no time: draw nothing
  Endpoint& e = *endpoints_[actor];
  if (e.sync_base < 0) {
    Rng disk(DeriveSeed(seed_, e.id + "/fsync"));
    const int64_t lo = std::min(ToNs(disk_options_.min_sync), hi);
    e.sync_base = disk.Range(lo, hi);
  }
  work_ns_ +=
      e.sync_base +
      static_cast<int64_t>(rng_.Below(ToNs(disk_options_.sync_jitter) + 1));
}

void SimWorld::EndEvent() {
  if (running_ >= 0 && work_ns_ > 0) {
    Endpoint& e = *endpoints_[running_];
    if (e.up) e.busy_until = std::max(e.busy_until, now_ns_ + work_ns_);
  }
  running_ = -1;
  work_ns_ = 0;
}

SimWorld::Event SimWorld::TakeEvent(uint32_t slot) {
  // Member by member: the slot keeps its (empty) string and callable, and
  // only what an event actually carries is moved.
  Event& from = slab_[slot];
  Event event;
  event.kind = from.kind;
  event.target = from.target;
  event.incarnation = from.incarnation;
  event.id = from.id;
  event.from = from.from;
  event.release = from.release;
  event.is_error = from.is_error;
  event.bytes.swap(from.bytes);
  if (from.fn != nullptr) {
    event.fn = std::move(from.fn);
    from.fn = nullptr;
  }
  if (from.is_error) {
    event.status = std::move(from.status);
    from.status = absl::OkStatus();
  }
  from.kind = EventInfo::kWorld;
  from.target = -1;
  from.incarnation = 0;
  from.id = 0;
  from.from = -1;
  from.release = false;
  from.is_error = false;
  free_slots_.push_back(slot);
  return event;
}

bool SimWorld::RunBatch(int index) {
  Endpoint& e = *endpoints_[index];
  std::vector<uint32_t> slots = std::move(e.busy_held);
  e.busy_held.clear();
  // Every event of the batch is observed, but the observation of the last
  // one that ran waits for the Flush, so that it sees the flushed state.
  bool ran = false;
  bool pending = false;
  EventInfo pending_info;  // names as endpoint indices, filled when read
  int pending_actor = -1, pending_from = -1;
  auto observe_pending = [&]() {
    if (!pending) return;
    pending = false;
    last_event_.kind = pending_info.kind;
    last_event_.time_ns = pending_info.time_ns;
    last_event_.body = pending_info.body;
    last_actor_ = pending_actor;
    last_from_ = pending_from;
    last_names_stale_ = true;
    ++events_;
    ++batched_events_;
    AfterEvent();
  };
  batching_ = true;
  for (uint32_t slot : slots) {
    Event event = TakeEvent(slot);
    if (stopped_) continue;
    observe_pending();
    if (stopped_) continue;
    if (Dispatch(event)) {
      pending_info.kind = last_event_.kind;
      pending_info.time_ns = last_event_.time_ns;
      pending_info.body = last_event_.body;
      pending_actor = last_actor_;
      pending_from = last_from_;
      pending = ran = true;
    }
    ReturnBuffer(std::move(event.bytes));
  }
  batching_ = false;
  if (!stopped_) Finish(index);
  observe_pending();
  return ran;
}

bool SimWorld::Dispatch(Event& event) {
  last_event_.kind = event.kind;
  last_event_.time_ns = now_ns_;
  last_event_.body = 0;
  last_actor_ = event.target;
  last_from_ = event.from;
  last_names_stale_ = true;
  if (event.target < 0) {
    event.fn();
    return true;
  }
  Endpoint& e = *endpoints_[event.target];
  switch (event.kind) {
    case EventInfo::kStart: {
      if (!e.up || e.incarnation != event.incarnation) return false;
      if (tracing()) Trace(e.id, "start", LogMark::kRoutine);
      e.actor->Start();
      Finish(event.target);
      return true;
    }
    case EventInfo::kTimer: {
      if (!e.up || e.incarnation != event.incarnation) return false;
      if (e.timers.erase(event.id) == 0) return false;  // cancelled
      if (tracing()) Trace(e.id, "timer", LogMark::kRoutine);
      event.fn();
      Finish(event.target);
      return true;
    }
    case EventInfo::kRequest: {
      auto rpc_it = rpcs_.find(event.id);
      if (!e.up || e.incarnation != event.incarnation) {
        if (rpc_it != rpcs_.end()) {
          SendError(
              event.id, rpc_it->second.caller,
              absl::UnavailableError(absl::StrCat("connection reset: ", e.id)),
              Latency(event.target, rpc_it->second.caller));
        }
        return false;
      }
      const absl::StatusOr<pb::Envelope>* parsed = requests_.Parse(event.bytes);
      if (parsed == nullptr) return false;
      const pb::Envelope& request = **parsed;
      Observe(MessageEvent::kDeliver, 2 * event.id, event.from, event.target,
              request, "");
      ++deliveries_;
      last_event_.body = request.body_case();
      if (tracing()) {
        Trace(e.id,
              absl::StrCat("recv ", BodyName(request.body_case()), " from ",
                           request.from(), " rpc=", event.id),
              LogMark::kRoutine);
      }
      // Small enough to live inside the RespondFn (no allocation): the rest
      // is in the pending RPC, which is gone if the caller stopped waiting.
      const uint64_t rpc = event.id;
      e.actor->Handle(request, [this, rpc](pb::Envelope response) {
        auto it = rpcs_.find(rpc);
        if (it == rpcs_.end()) return;
        const int callee = it->second.callee;
        const Endpoint& self = *endpoints_[callee];
        if (!self.up || self.incarnation != it->second.callee_incarnation)
          return;
        SendReply(rpc, callee, it->second.caller, response);
      });
      Finish(event.target);
      return true;
    }
    case EventInfo::kReply:
    case EventInfo::kTimeout: {
      if (e.incarnation != event.incarnation || !e.up) return false;
      auto rpc_it = rpcs_.find(event.id);
      if (rpc_it == rpcs_.end()) return false;
      if (rpc_it->second.caller_incarnation != e.incarnation) return false;
      PendingRpc pending = std::move(rpc_it->second);
      rpcs_.erase(rpc_it);
      absl::StatusOr<pb::Envelope> error;
      const absl::StatusOr<pb::Envelope>* result = &error;
      if (event.kind == EventInfo::kTimeout) {
        error = absl::DeadlineExceededError(absl::StrCat(
            "no reply from ",
            pending.callee >= 0 ? endpoints_[pending.callee]->id : "?"));
        if (tracing())
          Trace(e.id, absl::StrCat("timeout rpc=", event.id),
                LogMark::kRoutine);
      } else if (event.is_error) {
        error = event.status;
        if (tracing()) {
          Trace(e.id,
                absl::StrCat("reply error rpc=", event.id, " ",
                             event.status.ToString()),
                LogMark::kRoutine);
        }
      } else if ((result = replies_.Parse(event.bytes)) == nullptr) {
        result = &error;
        error = absl::InternalError(absl::StrCat(
            "unparsable reply from ",
            pending.callee >= 0 ? endpoints_[pending.callee]->id : "?"));
      } else {
        const pb::Envelope& response = **result;
        Observe(MessageEvent::kDeliver, 2 * event.id + 1, event.from,
                event.target, response, "");
        ++deliveries_;
        last_event_.body = response.body_case();
        if (tracing()) {
          Trace(e.id,
                absl::StrCat("reply ", BodyName(response.body_case()), " from ",
                             response.from(), " rpc=", event.id),
                LogMark::kRoutine);
        }
        if (rpc_observer_ && pending.callee >= 0 &&
            !pending.request_bytes.empty()) {
          pb::Envelope request;
          if (request.ParseFromString(pending.request_bytes)) {
            rpc_observer_(e.id, endpoints_[pending.callee]->id, request,
                          response);
          }
        }
      }
      pending.on_reply(*result);
      Finish(event.target);
      return true;
    }
    case EventInfo::kWorld:
      break;
  }
  return false;
}

void SimWorld::FillLastEventNames() const {
  if (!last_names_stale_) return;
  last_names_stale_ = false;
  if (last_actor_ >= 0) {
    last_event_.actor = endpoints_[last_actor_]->id;
  } else {
    last_event_.actor.clear();
  }
  if (last_from_ >= 0 && last_actor_ >= 0) {
    last_event_.from = endpoints_[last_from_]->id;
  } else {
    last_event_.from.clear();
  }
}

void SimWorld::AfterEvent() {
  if (!after_event_) return;
  if (after_event_names_) FillLastEventNames();
  after_event_(last_event_);
}

bool SimWorld::Step() { return StepBefore(INT64_MAX); }

void SimWorld::DropAnsweredTimeouts() {
  for (auto it = timeouts_.begin(); it != timeouts_.end();) {
    auto& fifo = it->second;
    while (!fifo.empty() && rpcs_.count(fifo.front().rpc) == 0)
      fifo.pop_front();
    it = fifo.empty() ? timeouts_.erase(it) : std::next(it);
  }
}

bool SimWorld::QueueEmpty() {
  DropAnsweredTimeouts();
  return heap_.empty() && timeouts_.empty();
}

bool SimWorld::StepBefore(int64_t limit) {
  while (!stopped_) {
    // The earliest of the heap's top and the timeout FIFOs' fronts, by (time,
    // seq); deadlines of answered RPCs are dropped on the way.
    std::deque<TimeoutEntry>* fifo = nullptr;
    int64_t time = INT64_MAX;
    uint64_t seq = UINT64_MAX;
    if (!heap_.empty()) {
      time = heap_.front().time;
      seq = heap_.front().seq;
    }
    for (auto it = timeouts_.begin(); it != timeouts_.end();) {
      std::deque<TimeoutEntry>& queue = it->second;
      while (!queue.empty() && !rpcs_.contains(queue.front().rpc))
        queue.pop_front();
      if (queue.empty()) {
        it = timeouts_.erase(it);
        continue;
      }
      const TimeoutEntry& front = queue.front();
      if (front.time < time || (front.time == time && front.seq < seq)) {
        time = front.time;
        seq = front.seq;
        fifo = &queue;
      }
      ++it;
    }
    if (fifo == nullptr && heap_.empty()) return false;
    if (time > limit) return false;
    uint32_t slot;
    if (fifo != nullptr) {
      const TimeoutEntry entry = fifo->front();
      fifo->pop_front();
      slot = NewEvent(EventInfo::kTimeout, entry.target, entry.incarnation,
                      entry.rpc);
    } else {
      slot = heap_.front().slot;
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<HeapEntry>());
      heap_.pop_back();
    }
    const int target = slab_[slot].target;
    if (target >= 0) {
      Endpoint& e = *endpoints_[target];
      const bool current = e.up && slab_[slot].incarnation == e.incarnation;
      if (slab_[slot].release) {
        TakeEvent(slot);
        if (!current) continue;  // crashed meanwhile: the batch is gone
        e.release_pending = false;
        if (e.paused) {
          e.held.insert(e.held.end(), e.busy_held.begin(), e.busy_held.end());
          e.busy_held.clear();
          continue;
        }
        const int64_t before = now_ns_;
        now_ns_ = std::max(now_ns_, time);
        running_ = target;
        work_ns_ = 0;
        const bool ran = RunBatch(target);
        EndEvent();
        if (ran) return true;
        now_ns_ = before;
        continue;
      }
      if (current && e.paused) {
        e.held.push_back(slot);
        continue;
      }
      if (current && e.busy_until > time) {
        // Busy in fsync: waits for the batch at busy_until.
        e.busy_held.push_back(slot);
        if (!e.release_pending) {
          e.release_pending = true;
          const uint32_t release =
              NewEvent(EventInfo::kWorld, target, e.incarnation);
          slab_[release].release = true;
          Push(e.busy_until, release);
        }
        continue;
      }
    }
    const int64_t before = now_ns_;
    now_ns_ = std::max(now_ns_, time);
    Event event = TakeEvent(slot);
    running_ = target;
    work_ns_ = 0;
    const bool ran = Dispatch(event);
    EndEvent();
    ReturnBuffer(std::move(event.bytes));
    if (ran) {
      ++events_;
      AfterEvent();
      return true;
    }
    now_ns_ = before;  // a skipped event (cancelled timer, answered RPC) takes
                       // no time
  }
  return false;
}

bool SimWorld::StepUntil(absl::Duration t) { return StepBefore(ToNs(t)); }

void SimWorld::RunUntil(absl::Duration t) {
  const int64_t limit = ToNs(t);
  while (!stopped_ && StepBefore(limit)) {
  }
  if (!stopped_) now_ns_ = std::max(now_ns_, limit);
}

bool SimWorld::RunUntilQuiescent(absl::Duration limit) {
  const int64_t end = now_ns_ + ToNs(limit);
  while (!stopped_ && StepBefore(end)) {
  }
  return QueueEmpty();
}

bool SimWorld::RunUntilTrue(const std::function<bool()>& done,
                            absl::Duration limit) {
  const int64_t end = now_ns_ + ToNs(limit);
  if (done()) return true;
  while (!stopped_ && StepBefore(end)) {
    if (done()) return true;
  }
  return false;
}

void SimWorld::Stop(const std::string& reason) {
  if (stopped_) return;
  stopped_ = true;
  stop_reason_ = reason;
  Trace("world", absl::StrCat("STOP ", reason));
}

}  // namespace seqsim::sim
