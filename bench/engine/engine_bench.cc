// seqsim-engine-bench: how fast the shard engine stamps, applies and logs
// operations.
//
// In-memory benchmarks use a NullDisk (appends are counted, then dropped) so
// they measure the engine itself: checks, stamping, document store, history,
// checkpoint tracking, record encoding with CRC-32C. The translog benchmark
// writes a real file under /tmp and fsyncs once per batch of N operations
// (group commit).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "node/engine/shard_engine.h"

namespace seqsim {
namespace {

class NullFile : public WritableFile {
 public:
  absl::Status Append(std::string_view data) override {
    size_ += data.size();
    return absl::OkStatus();
  }
  absl::Status Sync() override { return absl::OkStatus(); }
  absl::Status Close() override { return absl::OkStatus(); }
  uint64_t Size() const override { return size_; }

 private:
  uint64_t size_ = 0;
};

class NullDisk : public Disk {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string&) override {
    return std::unique_ptr<WritableFile>(new NullFile());
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return absl::NotFoundError(path);
  }
  absl::Status WriteFileAtomic(const std::string&, std::string_view) override {
    return absl::OkStatus();
  }
  absl::Status Truncate(const std::string&, uint64_t) override {
    return absl::OkStatus();
  }
  absl::Status Remove(const std::string&) override { return absl::OkStatus(); }
  absl::Status RemoveAll(const std::string&) override {
    return absl::OkStatus();
  }
  bool Exists(const std::string&) override { return false; }
  std::vector<std::string> List(const std::string&) override { return {}; }
};

// A tiny POSIX disk for the translog benchmark only (the node has its own).
class PosixFile : public WritableFile {
 public:
  explicit PosixFile(int fd) : fd_(fd) {}
  ~PosixFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  absl::Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return absl::InternalError(std::strerror(errno));
      }
      data.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    return ::fsync(fd_) == 0 ? absl::OkStatus()
                             : absl::InternalError(std::strerror(errno));
  }
  absl::Status Close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return absl::OkStatus();
  }
  uint64_t Size() const override { return size_; }

 private:
  int fd_;
  uint64_t size_ = 0;
};

class PosixDisk : public NullDisk {
 public:
  explicit PosixDisk(std::string root) : root_(std::move(root)) {}
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenAppend(
      const std::string& path) override {
    int fd = ::open((root_ + "/" + path).c_str(), O_WRONLY | O_CREAT | O_APPEND,
                    0644);
    if (fd < 0) return absl::InternalError(std::strerror(errno));
    return std::unique_ptr<WritableFile>(new PosixFile(fd));
  }

 private:
  std::string root_;
};

EngineOptions BenchOptions() {
  EngineOptions options;
  options.translog_path = "translog";
  options.index = "bench";
  // The default: every operation is retained (memory stays bounded because the
  // benchmarks start a fresh engine every kOps operations, outside the timing).
  return options;
}

constexpr int kIds = 1000;
// Operations per engine before the benchmark starts a fresh one (untimed).
constexpr size_t kOps = 1 << 18;
constexpr char kSource[] = R"({"title":"Inception","year":2010,"rating":8.8})";

std::vector<pb::WriteRequest> IndexRequests() {
  std::vector<pb::WriteRequest> requests(kIds);
  for (int i = 0; i < kIds; ++i) {
    requests[i].set_index("bench");
    requests[i].set_id(absl::StrCat("doc-", i));
    requests[i].set_kind(pb::WriteRequest::INDEX);
    requests[i].set_source(kSource);
  }
  return requests;
}

// Primary: validate, check, stamp, apply, record, encode for the translog.
void BM_PrimaryStampAndApply(benchmark::State& state) {
  NullDisk disk;
  auto engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
  engine->AdvanceTerm(1);
  const std::vector<pb::WriteRequest> requests = IndexRequests();
  size_t i = 0;
  for (auto _ : state) {
    if (i == kOps) {
      state.PauseTiming();
      engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
      engine->AdvanceTerm(1);
      i = 0;
      state.ResumeTiming();
    }
    auto result = engine->PrimaryWrite(requests[i % kIds]);
    benchmark::DoNotOptimize(result);
    if ((++i & 1023) == 0)
      engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrimaryStampAndApply);

// The same with the retention a live node applies (issue 17): history at or
// below the global checkpoint is dropped every 1,024 operations, and an update
// of a document whose operation was dropped keeps its old state for a trim.
void BM_PrimaryStampAndApplyWithRetention(benchmark::State& state) {
  NullDisk disk;
  auto open = [&] {
    auto engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
    engine->AdvanceTerm(1);
    engine->SetRetainedSeqNo(std::numeric_limits<SeqNo>::max());
    return engine;
  };
  auto engine = open();
  const std::vector<pb::WriteRequest> requests = IndexRequests();
  size_t i = 0;
  for (auto _ : state) {
    if (i == kOps) {
      state.PauseTiming();
      engine = open();
      i = 0;
      state.ResumeTiming();
    }
    auto result = engine->PrimaryWrite(requests[i % kIds]);
    benchmark::DoNotOptimize(result);
    if ((++i & 1023) == 0)
      engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrimaryStampAndApplyWithRetention);

// Operations as a primary stamps them (index, with some deletes).
std::vector<pb::Operation> PrimaryOps(size_t count) {
  NullDisk disk;
  auto engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
  engine->AdvanceTerm(1);
  std::vector<pb::WriteRequest> requests = IndexRequests();
  std::vector<pb::Operation> ops;
  ops.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    pb::WriteRequest request = requests[(i * 7919) % kIds];
    if (i % 10 == 9) request.set_kind(pb::WriteRequest::DELETE);
    ops.push_back(std::move(engine->PrimaryWrite(request)->op));
    if ((i & 1023) == 1023)
      engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
  }
  return ops;
}

void ReplicaApply(benchmark::State& state,
                  const std::vector<pb::Operation>& ops) {
  NullDisk disk;
  auto engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
  size_t i = 0;
  for (auto _ : state) {
    if (i == ops.size()) {
      state.PauseTiming();
      engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
      i = 0;
      state.ResumeTiming();
    }
    auto outcome = engine->ApplyOnReplica(ops[i]);
    benchmark::DoNotOptimize(outcome);
    if ((++i & 1023) == 0)
      engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ReplicaApplyInOrder(benchmark::State& state) {
  static const std::vector<pb::Operation>* ops =
      new std::vector<pb::Operation>(PrimaryOps(kOps));
  ReplicaApply(state, *ops);
}
BENCHMARK(BM_ReplicaApplyInOrder);

// Out of order: every window of W operations (the argument) arrives shuffled
// (a fixed permutation); W bounds how far apart concurrent requests land.
std::vector<pb::Operation> Shuffled(size_t window) {
  std::vector<pb::Operation> shuffled = PrimaryOps(kOps);
  uint64_t x = 42;
  for (size_t start = 0; start + window <= shuffled.size(); start += window) {
    for (size_t i = window - 1; i > 0; --i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      std::swap(shuffled[start + i], shuffled[start + (x >> 33) % (i + 1)]);
    }
  }
  return shuffled;
}

void BM_ReplicaApplyOutOfOrder(benchmark::State& state) {
  const std::vector<pb::Operation> ops =
      Shuffled(static_cast<size_t>(state.range(0)));
  ReplicaApply(state, ops);
}
BENCHMARK(BM_ReplicaApplyOutOfOrder)->Arg(16)->Arg(256);

// Primary writes to a real translog under /tmp, one fsync per batch of N (group
// commit).
void BM_TranslogGroupCommit(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  char dir_template[] = "/tmp/seqsim-engine-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  PosixDisk disk(dir);
  auto engine = std::move(*ShardEngine::Open(&disk, BenchOptions()));
  engine->AdvanceTerm(1);
  const std::vector<pb::WriteRequest> requests = IndexRequests();
  size_t i = 0;
  for (auto _ : state) {
    for (int b = 0; b < batch; ++b) {
      auto result = engine->PrimaryWrite(requests[i++ % kIds]);
      benchmark::DoNotOptimize(result);
    }
    if (!engine->Sync().ok()) state.SkipWithError("fsync failed");
    engine->UpdateGlobalCheckpoint(engine->local_checkpoint());
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.counters["fsyncs/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  engine.reset();
  ::unlink((std::string(dir) + "/translog").c_str());
  ::rmdir(dir);
}
BENCHMARK(BM_TranslogGroupCommit)->Arg(1)->Arg(8)->Arg(64)->UseRealTime();

}  // namespace
}  // namespace seqsim
