// SimDisk: the lab's in-memory Disk. Appended bytes are volatile until Sync();
// Crash() keeps only what was synced (optionally a random prefix of the
// unsynced tail: a torn write).
//
// Thread-safety: none; owned by the SimWorld, used by one actor at a time.
// Invariant: for every file, synced <= data.size().
#ifndef SEQSIM_SIM_SIM_DISK_H_
#define SEQSIM_SIM_SIM_DISK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "sim/rng.h"

namespace seqsim::sim {

class SimDisk final : public Disk {
 public:
  SimDisk() = default;

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
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

  struct File {
    std::string data;
    uint64_t synced = 0;
  };

 private:
  static std::string Normalize(const std::string& path);
  std::map<std::string, std::shared_ptr<File>> files_;
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_SIM_DISK_H_
