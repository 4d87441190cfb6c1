// PosixDisk: the live Disk, real files under one data directory.
//
// Durability: WritableFile::Sync() fsyncs the file; creating a file fsyncs its
// directory; WriteFileAtomic writes a temp file, fsyncs it, renames it over the
// target and fsyncs the directory; Truncate fsyncs the cut file. Paths are
// relative to the root.
//
// Thread-safety: the Disk itself keeps no mutable state; a WritableFile is used
// by one actor.
#ifndef SEQSIM_COMMON_LIVE_POSIX_DISK_H_
#define SEQSIM_COMMON_LIVE_POSIX_DISK_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"

namespace seqsim {

class PosixDisk final : public Disk {
 public:
  // `root` is created if missing (by the first write).
  explicit PosixDisk(std::string root);

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

  const std::string& root() const { return root_; }

 private:
  std::string Full(const std::string& path) const;

  const std::string root_;
};

// Checks that `dir` exists (creating it) and that a file can be written, synced
// and removed there. kPermissionDenied / kInternal with a one-line reason
// otherwise.
absl::Status CheckWritableDir(const std::string& dir);

}  // namespace seqsim

#endif  // SEQSIM_COMMON_LIVE_POSIX_DISK_H_
