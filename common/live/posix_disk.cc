#include "common/live/posix_disk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace seqsim {
namespace {

namespace fs = std::filesystem;

absl::Status Errno(const std::string& what, const std::string& path, int err) {
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status MakeDirs(const fs::path& dir) {
  if (dir.empty()) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Errno("create directory", dir.string(), ec.value());
  return absl::OkStatus();
}

absl::Status SyncDir(const fs::path& dir) {
  std::string name = dir.empty() ? "." : dir.string();
  int fd = ::open(name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open directory", name, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Errno("fsync directory", name, err);
  return absl::OkStatus();
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(std::string_view data) override {
    if (fd_ < 0)
      return absl::FailedPreconditionError(absl::StrCat("closed file ", path_));
    absl::Status status = WriteAll(fd_, data, path_);
    if (status.ok()) size_ += data.size();
    return status;
  }

  absl::Status Sync() override {
    if (fd_ < 0)
      return absl::FailedPreconditionError(absl::StrCat("closed file ", path_));
    if (::fdatasync(fd_) != 0) return Errno("fsync", path_, errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return Errno("close", path_, errno);
    return absl::OkStatus();
  }

  uint64_t Size() const override { return size_; }

 private:
  int fd_;
  const std::string path_;
  uint64_t size_;
};

}  // namespace

PosixDisk::PosixDisk(std::string root) : root_(std::move(root)) {}

std::string PosixDisk::Full(const std::string& path) const {
  return (fs::path(root_) / path).string();
}

absl::StatusOr<std::unique_ptr<WritableFile>> PosixDisk::OpenAppend(
    const std::string& path) {
  fs::path full = Full(path);
  absl::Status status = MakeDirs(full.parent_path());
  if (!status.ok()) return status;
  bool existed = fs::exists(full);
  int fd =
      ::open(full.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", full.string(), errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Errno("stat", full.string(), err);
  }
  if (!existed) {
    status = SyncDir(full.parent_path());
    if (!status.ok()) {
      ::close(fd);
      return status;
    }
  }
  return std::unique_ptr<WritableFile>(new PosixWritableFile(
      fd, full.string(), static_cast<uint64_t>(st.st_size)));
}

absl::StatusOr<std::string> PosixDisk::ReadFile(const std::string& path) {
  std::string full = Full(path);
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", full, errno);
  std::string content;
  char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Errno("read", full, err);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return content;
}

absl::StatusOr<std::string> PosixDisk::ReadAt(const std::string& path,
                                              uint64_t offset, size_t length) {
  std::string full = Full(path);
  int fd = ::open(full.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", full, errno);
  std::string content(length, '\0');
  size_t got = 0;
  while (got < length) {
    ssize_t n = ::pread(fd, content.data() + got, length - got,
                        static_cast<off_t>(offset + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Errno("read", full, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  content.resize(got);
  return content;
}

absl::Status PosixDisk::WriteFileAtomic(const std::string& path,
                                        std::string_view content) {
  fs::path full = Full(path);
  absl::Status status = MakeDirs(full.parent_path());
  if (!status.ok()) return status;
  std::string temp = full.string() + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("open", temp, errno);
  status = WriteAll(fd, content, temp);
  if (status.ok() && ::fsync(fd) != 0) status = Errno("fsync", temp, errno);
  ::close(fd);
  if (!status.ok()) return status;
  if (::rename(temp.c_str(), full.c_str()) != 0)
    return Errno("rename", temp, errno);
  return SyncDir(full.parent_path());
}

absl::Status PosixDisk::Truncate(const std::string& path, uint64_t size) {
  std::string full = Full(path);
  int fd = ::open(full.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Errno("open", full, errno);
  absl::Status status;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    status = Errno("truncate", full, errno);
  } else if (::fsync(fd) != 0) {
    status = Errno("fsync", full, errno);
  }
  ::close(fd);
  return status;
}

absl::Status PosixDisk::Remove(const std::string& path) {
  fs::path full = Full(path);
  if (::unlink(full.c_str()) != 0) return Errno("remove", full.string(), errno);
  return SyncDir(full.parent_path());
}

absl::Status PosixDisk::RemoveAll(const std::string& path) {
  fs::path full = Full(path);
  std::error_code ec;
  fs::remove_all(full, ec);
  if (ec) return Errno("remove", full.string(), ec.value());
  if (fs::exists(full.parent_path())) return SyncDir(full.parent_path());
  return absl::OkStatus();
}

bool PosixDisk::Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(Full(path), ec);
}

std::vector<std::string> PosixDisk::List(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(Full(dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status CheckWritableDir(const std::string& dir) {
  absl::Status status = MakeDirs(dir);
  if (!status.ok()) return status;
  fs::path probe = fs::path(dir) / ".seqsim-write-probe";
  int fd =
      ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot write in", dir, errno);
  status = WriteAll(fd, "ok", probe.string());
  if (status.ok() && ::fsync(fd) != 0)
    status = Errno("fsync", probe.string(), errno);
  ::close(fd);
  ::unlink(probe.c_str());
  if (!status.ok()) return status;
  if (::access(dir.c_str(), R_OK | X_OK) != 0)
    return Errno("cannot read", dir, errno);
  return absl::OkStatus();
}

}  // namespace seqsim
