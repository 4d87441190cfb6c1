// Env: everything the pure replication logic needs from the world, as one
// interface.
//
// The node logic, the coordinator logic and the shard engine never read a
// clock, sleep, spawn a thread, open a socket or draw a random number of their
// own. They get time, timers, RPCs and a disk through an Env. Two
// implementations exist:
//   - live (node/live_env.*): steady clock, a per-actor executor thread, gRPC
//   async stubs,
//     real files with fsync;
//   - lab (sim/sim_env.*): virtual time on an event queue ordered by (time,
//   sequence), seeded
//     latency / drop / duplicate / reorder, a disk that loses unsynced bytes on
//     crash.
//
// Thread-safety: an Env instance belongs to exactly one actor. Every callback
// it invokes (timer, RPC reply) runs on that actor's executor, one at a time,
// never concurrently with the actor's other handlers. Callers never need locks
// around actor state.
#ifndef SEQSIM_COMMON_ENV_H_
#define SEQSIM_COMMON_ENV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "proto/seqsim.pb.h"

namespace seqsim {

// Id of the coordinator in Envelope.from and Env::Send(to, ...).
inline constexpr char kCoordinatorId[] = "coordinator";

// An append-only file on a Disk. Bytes appended are volatile until Sync()
// returns OK.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual absl::Status Append(std::string_view data) = 0;
  // Makes every byte appended so far durable (fsync in live; survives a crash
  // in the lab).
  virtual absl::Status Sync() = 0;
  virtual absl::Status Close() = 0;
  // Bytes appended so far (durable or not).
  virtual uint64_t Size() const = 0;
};

// A directory-tree of files. Paths are relative to the Env's data directory.
class Disk {
 public:
  virtual ~Disk() = default;
  // Opens `path` for appending, creating it (and parent directories) if
  // missing.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) = 0;
  // Whole content; NotFound if missing.
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;
  // Up to `length` bytes of `path` from byte `offset` (fewer at the end of the
  // file, none past it); NotFound if missing. For reading large files in
  // bounded pieces (a translog on restart). The default reads the whole file.
  virtual absl::StatusOr<std::string> ReadAt(const std::string& path,
                                             uint64_t offset, size_t length) {
    absl::StatusOr<std::string> all = ReadFile(path);
    if (!all.ok()) return all.status();
    if (offset >= all->size()) return std::string();
    return all->substr(offset, length);
  }
  // Writes `content` durably and atomically (temp file, fsync, rename, fsync
  // dir).
  virtual absl::Status WriteFileAtomic(const std::string& path,
                                       std::string_view content) = 0;
  // Cuts `path` to `size` bytes, durably (used to drop a torn translog tail).
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;
  virtual absl::Status Remove(const std::string& path) = 0;
  // Removes a directory tree; OK if missing.
  virtual absl::Status RemoveAll(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Names (not paths) of the entries directly under `dir`, sorted; empty if
  // missing.
  virtual std::vector<std::string> List(const std::string& dir) = 0;
};

// A failed Send whose request certainly never reached the peer (its
// connection was refused: the peer's process is gone or not listening) carries
// this payload, so that a caller may send it elsewhere without risking a
// second execution (R12). The transports set it where they know it (the lab
// for a receiver that is down; the live transport from gRPC's connect
// failure); a reset or a timeout never has it.
inline constexpr char kNeverDeliveredPayload[] = "type.seqsim/never-delivered";

inline absl::Status MarkNeverDelivered(absl::Status status) {
  status.SetPayload(kNeverDeliveredPayload, absl::Cord("1"));
  return status;
}

inline bool NeverDelivered(const absl::Status& status) {
  return !status.ok() && status.GetPayload(kNeverDeliveredPayload).has_value();
}

// Reply to an RPC: the peer's response envelope, or kUnavailable (peer down,
// partitioned, dropped) / kDeadlineExceeded (no answer in time). Borrowed for
// the call only (the lab reuses the envelope): copy whatever outlives it.
using ReplyFn = absl::AnyInvocable<void(const absl::StatusOr<pb::Envelope>&)>;
// How an actor answers a request it received. Must be called exactly once; may
// be called later (after other events), e.g. when a write's replicas have
// answered.
using RespondFn = absl::AnyInvocable<void(pb::Envelope)>;

using TimerId = uint64_t;

// What a logged line records, for the lab's teaching views (each becomes a
// mark of its kind on the timeline): a note, a routine line that is no
// decision (heartbeats, the simulator's transport chatter), or one of the
// replication decisions the lessons are about.
enum class LogMark {
  kNote,
  kRoutine,
  kStale,     // an operation or state older than what the copy holds, ignored
  kRejected,  // a request refused for its primary term (R4 fencing)
  kPromoted,  // a replica promoted to primary (R7)
  kFenced,    // a primary that learns it is stale or stops being primary (R8)
  kApplied,  // a copy replaced an operation, applied a resync, trimmed (R5, R7)
};

// The timeline's name of a mark: "note", "stale", "rejected", ...
inline const char* LogMarkName(LogMark mark) {
  switch (mark) {
    case LogMark::kNote:
      return "note";
    case LogMark::kRoutine:
      return "routine";
    case LogMark::kStale:
      return "stale";
    case LogMark::kRejected:
      return "rejected";
    case LogMark::kPromoted:
      return "promoted";
    case LogMark::kFenced:
      return "fenced";
    case LogMark::kApplied:
      return "applied";
  }
  return "note";
}

class Env {
 public:
  virtual ~Env() = default;

  // Monotonic time since an arbitrary epoch (virtual in the lab).
  virtual absl::Duration Now() = 0;
  // Wall-clock milliseconds since the Unix epoch (virtual in the lab); for
  // display only.
  virtual int64_t WallMillis() = 0;

  // Runs `fn` on this actor after `delay`. Returns an id for Cancel().
  virtual TimerId After(absl::Duration delay,
                        absl::AnyInvocable<void()> fn) = 0;
  // Cancels a pending timer; no-op if it already ran.
  virtual void Cancel(TimerId id) = 0;

  // Sends `request` to actor `to` (a node id or kCoordinatorId). `on_reply`
  // runs exactly once on this actor: with the response, or an error status.
  // `timeout` bounds the wait.
  virtual void Send(const std::string& to, pb::Envelope request,
                    ReplyFn on_reply,
                    absl::Duration timeout = absl::Seconds(5)) = 0;

  // Tells the transport where a peer listens (live: host:port; the lab ignores
  // it).
  virtual void SetPeerAddress(const std::string& id,
                              const std::string& address) = 0;

  // A uniformly random 64-bit value (seeded in the lab, so a seed replays the
  // same run).
  virtual uint64_t RandomU64() = 0;

  // This actor's durable storage.
  virtual Disk* disk() = 0;

  // Log a line about what this actor decided; the lab prefixes virtual time and
  // actor id and writes it to trace.log, live writes it to the process log.
  virtual void Log(std::string_view line) = 0;
  // The same, for a line that records a replication decision of kind `mark`:
  // the lab's teaching views draw it as that mark (they never read the
  // prose); elsewhere it is a plain log line.
  virtual void Log(LogMark mark, std::string_view line) {
    (void)mark;
    Log(line);
  }
};

// An actor: a node or the coordinator. The runtime (live executor or lab event
// loop) calls these one at a time.
class Actor {
 public:
  virtual ~Actor() = default;
  // Called once after construction (live: after the servers listen; lab: at
  // boot).
  virtual void Start() = 0;
  // Handles a request from `request.from()`; answers through `respond` (exactly
  // once). `request` is borrowed for the call only (the lab parses it into an
  // arena that is reset afterwards): keep a copy of whatever outlives it.
  virtual void Handle(const pb::Envelope& request, RespondFn respond) = 0;
  // Called by the runtime after it has delivered a batch of events: the actor
  // makes the translog durable for every pending write with one fsync (group
  // commit) and then sends the replies and acks that were waiting for it.
  virtual void Flush() = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_ENV_H_
