#include "sim/world/sim_disk.h"

#include <algorithm>
#include <set>
#include <utility>

namespace seqsim::sim {
namespace {

class SimFile final : public WritableFile {
 public:
  SimFile(std::shared_ptr<SimDisk::File> file,
          std::shared_ptr<SimDisk::Stats> stats)
      : file_(std::move(file)), stats_(std::move(stats)) {}
  absl::Status Append(std::string_view data) override {
    if (closed_)
      return absl::FailedPreconditionError("append to a closed file");
    file_->data.append(data.data(), data.size());
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    if (closed_) return absl::FailedPreconditionError("sync of a closed file");
    const bool dirty = file_->synced < file_->data.size();
    if (dirty && !stats_->sync_failure.ok()) {
      file_->lost_from = std::min(file_->lost_from, file_->synced);
      file_->synced = file_->data.size();  // the kernel marks the pages clean
      return stats_->sync_failure;
    }
    file_->synced = file_->data.size();
    ++stats_->syncs;
    if (dirty && stats_->on_sync) stats_->on_sync();
    return absl::OkStatus();
  }
  absl::Status Close() override {
    closed_ = true;
    return absl::OkStatus();
  }
  uint64_t Size() const override { return file_->data.size(); }

 private:
  std::shared_ptr<SimDisk::File> file_;
  std::shared_ptr<SimDisk::Stats> stats_;
  bool closed_ = false;
};

}  // namespace

std::string SimDisk::Normalize(const std::string& path) {
  std::string p = path;
  while (p.size() >= 2 && p[0] == '.' && p[1] == '/') p.erase(0, 2);
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  return p;
}

absl::StatusOr<std::unique_ptr<WritableFile>> SimDisk::OpenAppend(
    const std::string& path) {
  const std::string p = Normalize(path);
  if (p.empty()) return absl::InvalidArgumentError("empty path");
  std::shared_ptr<File>& file = files_[p];
  if (file == nullptr) file = std::make_shared<File>();
  return std::make_unique<SimFile>(file, stats_);
}

absl::StatusOr<std::string> SimDisk::ReadFile(const std::string& path) {
  auto it = files_.find(Normalize(path));
  if (it == files_.end()) return absl::NotFoundError("no such file: " + path);
  return it->second->data;
}

absl::StatusOr<std::string> SimDisk::ReadAt(const std::string& path,
                                            uint64_t offset, size_t length) {
  auto it = files_.find(Normalize(path));
  if (it == files_.end()) return absl::NotFoundError("no such file: " + path);
  const std::string& data = it->second->data;
  if (offset >= data.size()) return std::string();
  return data.substr(offset, length);
}

absl::Status SimDisk::WriteFileAtomic(const std::string& path,
                                      std::string_view content) {
  const std::string p = Normalize(path);
  if (p.empty()) return absl::InvalidArgumentError("empty path");
  if (!atomic_write_failure_.ok()) return atomic_write_failure_;
  // A new file object: handles open on the old one no longer see it (rename
  // semantics).
  auto file = std::make_shared<File>();
  file->data.assign(content.data(), content.size());
  file->synced = file->data.size();
  files_[p] = std::move(file);
  if (stats_->on_sync) stats_->on_sync();
  if (on_atomic_write_) on_atomic_write_(path);
  return absl::OkStatus();
}

absl::Status SimDisk::Truncate(const std::string& path, uint64_t size) {
  auto it = files_.find(Normalize(path));
  if (it == files_.end()) return absl::NotFoundError("no such file: " + path);
  File& file = *it->second;
  if (size < file.data.size()) file.data.resize(size);
  file.synced = file.data.size();
  return absl::OkStatus();
}

absl::Status SimDisk::Remove(const std::string& path) {
  if (files_.erase(Normalize(path)) == 0)
    return absl::NotFoundError("no such file: " + path);
  return absl::OkStatus();
}

absl::Status SimDisk::RemoveAll(const std::string& path) {
  const std::string p = Normalize(path);
  if (p.empty()) {
    files_.clear();
    return absl::OkStatus();
  }
  files_.erase(p);
  const std::string prefix = p + "/";
  auto it = files_.lower_bound(prefix);
  while (it != files_.end() &&
         it->first.compare(0, prefix.size(), prefix) == 0) {
    it = files_.erase(it);
  }
  return absl::OkStatus();
}

bool SimDisk::Exists(const std::string& path) {
  const std::string p = Normalize(path);
  if (p.empty()) return true;
  if (files_.count(p) > 0) return true;
  const std::string prefix = p + "/";
  auto it = files_.lower_bound(prefix);
  return it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

std::vector<std::string> SimDisk::List(const std::string& dir) {
  const std::string p = Normalize(dir);
  const std::string prefix = p.empty() ? "" : p + "/";
  std::set<std::string> names;
  for (auto it = files_.lower_bound(prefix);
       it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    std::string rest = it->first.substr(prefix.size());
    names.insert(rest.substr(0, rest.find('/')));
  }
  return {names.begin(), names.end()};
}

void SimDisk::Crash(Rng* torn) {
  for (auto& [path, file] : files_) {
    uint64_t keep = file->synced;
    if (torn != nullptr && file->data.size() > file->synced) {
      keep += torn->Below(file->data.size() - file->synced + 1);
    }
    keep = std::min(keep, file->lost_from);  // a failed fsync lost the rest
    file->data.resize(keep);
    file->synced = keep;
    file->lost_from = UINT64_MAX;
  }
}

uint64_t SimDisk::UnsyncedBytes() const {
  uint64_t total = 0;
  for (const auto& [path, file] : files_)
    total += file->data.size() - file->synced;
  return total;
}

void SimDisk::TearTail(const std::string& path, uint64_t keep) {
  auto it = files_.find(Normalize(path));
  if (it == files_.end()) return;
  File& file = *it->second;
  if (file.data.size() - file.synced > keep)
    file.data.resize(file.synced + keep);
  file.synced = file.data.size();
}

uint64_t SimDisk::FileSize(const std::string& path) const {
  auto it = files_.find(Normalize(path));
  return it == files_.end() ? 0 : it->second->data.size();
}

uint64_t SimDisk::SyncedBytes(const std::string& path) const {
  auto it = files_.find(Normalize(path));
  return it == files_.end() ? 0 : it->second->synced;
}

std::string* SimDisk::MutableBytes(const std::string& path) {
  auto it = files_.find(Normalize(path));
  return it == files_.end() ? nullptr : &it->second->data;
}

}  // namespace seqsim::sim
