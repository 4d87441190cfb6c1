// MemDisk: an in-memory Disk for engine tests and benchmarks.
//
// Each file keeps its bytes and how many of them are durable (synced). Crash()
// drops every unsynced byte, the way a power loss would; TearTail() keeps only
// part of the unsynced tail (a torn write). WriteFileAtomic replaces the file
// entry, so a handle opened before keeps writing to the orphaned old file, as
// with POSIX rename.
//
// Thread-safety: none.
#ifndef SEQSIM_TESTS_ENGINE_MEM_DISK_H_
#define SEQSIM_TESTS_ENGINE_MEM_DISK_H_

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"

namespace seqsim {

class MemDisk : public Disk {
 public:
  struct File {
    std::string data;
    size_t synced = 0;
  };

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) override {
    auto& file = files_[path];
    if (file == nullptr) file = std::make_shared<File>();
    return std::unique_ptr<WritableFile>(new Handle(this, file));
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(path);
    return it->second->data;
  }
  absl::Status WriteFileAtomic(const std::string& path,
                               std::string_view content) override {
    auto file = std::make_shared<File>();
    file->data = std::string(content);
    file->synced = file->data.size();
    files_[path] = std::move(file);
    ++atomic_writes_;
    return absl::OkStatus();
  }
  absl::Status Truncate(const std::string& path, uint64_t size) override {
    auto it = files_.find(path);
    if (it == files_.end()) return absl::NotFoundError(path);
    File& file = *it->second;
    if (size < file.data.size()) file.data.resize(size);
    file.synced = std::min<size_t>(file.synced, file.data.size());
    ++truncates_;
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string& path) override {
    files_.erase(path);
    return absl::OkStatus();
  }
  absl::Status RemoveAll(const std::string& path) override {
    for (auto it = files_.begin(); it != files_.end();) {
      if (it->first == path || it->first.rfind(path + "/", 0) == 0) {
        it = files_.erase(it);
      } else {
        ++it;
      }
    }
    return absl::OkStatus();
  }
  bool Exists(const std::string& path) override {
    return files_.contains(path);
  }
  std::vector<std::string> List(const std::string& dir) override {
    std::vector<std::string> names;
    const std::string prefix = dir + "/";
    for (const auto& [path, file] : files_) {
      if (path.rfind(prefix, 0) != 0) continue;
      std::string rest = path.substr(prefix.size());
      std::string name = rest.substr(0, rest.find('/'));
      if (names.empty() || names.back() != name) names.push_back(name);
    }
    return names;
  }

  // ---- fault injection ----
  // Power loss: every file loses the bytes appended since its last Sync().
  void Crash() {
    for (auto& [path, file] : files_) file->data.resize(file->synced);
  }
  // A torn write: keeps only `keep` bytes of the unsynced tail of `path`, then
  // makes them the file's content (as if the crash happened mid-write).
  void TearTail(const std::string& path, size_t keep) {
    File& file = *files_.at(path);
    file.data.resize(std::min(file.data.size(), file.synced + keep));
    file.synced = file.data.size();
  }
  // Raw bytes, to corrupt them.
  std::string& Raw(const std::string& path) { return files_.at(path)->data; }
  size_t SyncedBytes(const std::string& path) const {
    return files_.at(path)->synced;
  }

  int syncs() const { return syncs_; }
  int truncates() const { return truncates_; }
  int atomic_writes() const { return atomic_writes_; }

 private:
  class Handle : public WritableFile {
   public:
    Handle(MemDisk* disk, std::shared_ptr<File> file)
        : disk_(disk), file_(std::move(file)) {}
    absl::Status Append(std::string_view data) override {
      file_->data.append(data);
      return absl::OkStatus();
    }
    absl::Status Sync() override {
      file_->synced = file_->data.size();
      ++disk_->syncs_;
      return absl::OkStatus();
    }
    absl::Status Close() override { return absl::OkStatus(); }
    uint64_t Size() const override { return file_->data.size(); }

   private:
    MemDisk* disk_;
    std::shared_ptr<File> file_;
  };

  std::map<std::string, std::shared_ptr<File>> files_;
  int syncs_ = 0;
  int truncates_ = 0;
  int atomic_writes_ = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_TESTS_ENGINE_MEM_DISK_H_
