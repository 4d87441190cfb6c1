// SimDisk: the one in-memory Disk, used by the lab and by the unit tests of the
// engine, the node and the coordinator. Appended bytes are volatile until
// Sync(); Crash() keeps only what was synced (optionally a random prefix of the
// unsynced tail: a torn write). WriteFileAtomic replaces the file, so a handle
// opened before keeps writing to the orphaned old file, as with POSIX rename.
//
// For tests it also counts fsyncs, tears a tail of an exact size, exposes a
// file's bytes for corruption, fails WriteFileAtomic on demand and reports each
// atomic write; none of these change what the lab sees unless it uses them.
//
// Thread-safety: none; owned by the SimWorld, used by one actor at a time.
// Invariant: for every file, synced <= data.size(); a crash keeps
// min(synced, lost_from) bytes.
#ifndef SEQSIM_SIM_WORLD_SIM_DISK_H_
#define SEQSIM_SIM_WORLD_SIM_DISK_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/env.h"
#include "sim/world/rng.h"

namespace seqsim::sim {

class SimDisk final : public Disk {
 public:
  SimDisk() = default;

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::StatusOr<std::string> ReadAt(const std::string& path, uint64_t offset,
                                     size_t length) override;
  absl::Status WriteFileAtomic(const std::string& path,
                               std::string_view content) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status RemoveAll(const std::string& path) override;
  bool Exists(const std::string& path) override;
  std::vector<std::string> List(const std::string& dir) override;

  // A power loss: every file keeps its synced bytes; with `torn` a random
  // prefix of the unsynced tail survives too. Open handles keep pointing at the
  // (cut) files.
  void Crash(Rng* torn = nullptr);

  // Bytes that are appended but not yet synced, over all files (for tests).
  uint64_t UnsyncedBytes() const;

  // ---- for tests ----
  // A torn write of an exact size: `path` keeps at most `keep` bytes of its
  // unsynced tail, and they become durable. Does nothing if `path` is missing.
  void TearTail(const std::string& path, uint64_t keep);
  // Bytes of `path`, synced or not; 0 if missing.
  uint64_t FileSize(const std::string& path) const;
  // Durable bytes of `path`; 0 if missing.
  uint64_t SyncedBytes(const std::string& path) const;
  // The bytes of `path`, to corrupt in place (keep the length); nullptr if
  // missing.
  std::string* MutableBytes(const std::string& path);
  // Successful WritableFile::Sync() calls so far, over all files (fsyncs).
  int syncs() const { return stats_->syncs; }
  // While `status` is not OK, WriteFileAtomic fails with it and changes
  // nothing (a full or failing disk). OkStatus() heals the disk.
  void FailAtomicWrites(absl::Status status) {
    atomic_write_failure_ = std::move(status);
  }
  // While `status` is not OK, every WritableFile::Sync() with unsynced bytes
  // fails with it, and those bytes are lost as on Linux after a failed fsync:
  // they stay readable until a crash, but a later Sync() that succeeds does not
  // make them durable (Crash() cuts the file before them). OkStatus() heals.
  void FailSyncs(absl::Status status) {
    stats_->sync_failure = std::move(status);
  }
  // Called for every fsync that has work to do: a WritableFile::Sync() with
  // unsynced bytes, and every WriteFileAtomic (the lab charges time for them).
  void SetSyncObserver(std::function<void()> observer) {
    stats_->on_sync = std::move(observer);
  }
  // Called with the path as given after every successful WriteFileAtomic.
  void OnAtomicWrite(std::function<void(const std::string& path)> observer) {
    on_atomic_write_ = std::move(observer);
  }

  struct File {
    std::string data;
    uint64_t synced = 0;
    // The offset of the first byte a failed Sync() lost (UINT64_MAX: none).
    uint64_t lost_from = UINT64_MAX;
  };
  // Shared with open handles, which may outlive the disk.
  struct Stats {
    int syncs = 0;
    std::function<void()> on_sync;
    absl::Status sync_failure;
  };

 private:
  static std::string Normalize(const std::string& path);
  std::map<std::string, std::shared_ptr<File>> files_;
  std::shared_ptr<Stats> stats_ = std::make_shared<Stats>();
  absl::Status atomic_write_failure_;
  std::function<void(const std::string&)> on_atomic_write_;
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_WORLD_SIM_DISK_H_
