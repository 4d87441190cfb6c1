// Translog: the append-only, checksummed operation log of one shard copy (R10).
//
// File format: a sequence of records
//   [u32 little-endian payload length][u32 little-endian
//   crc32c(payload)][payload]
// where payload = one RecordKind byte + a body (a serialized pb::Operation, or
// fixed-width little-endian integers). A record whose length runs past the end
// of the file or whose checksum does not match marks a torn or corrupt tail:
// reading stops there and Open() cuts the file back to the last intact record
// (Disk::Truncate), so garbage is never replayed.
//
// Durability: Append() only buffers into the Disk's file (volatile); Sync()
// makes every record appended so far durable with one fsync (group commit).
// Generations and snapshots (issue 17): see class Translog. Commit() replaces
// everything with a snapshot atomically (Disk::WriteFileAtomic).
//
// Thread-safety: none; owned by one ShardEngine. All I/O goes through the Disk
// interface.
#ifndef SEQSIM_NODE_ENGINE_TRANSLOG_H_
#define SEQSIM_NODE_ENGINE_TRANSLOG_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/env.h"

namespace seqsim {

// CRC-32C (Castagnoli) of `data`.
uint32_t Crc32c(std::string_view data);

enum class RecordKind : uint8_t {
  // An operation processed by this copy (primary or replica rules apply on
  // replay).
  kOperation = 1,
  // body: i64 term adopted.
  kTerm = 2,
  // body: i64 global checkpoint.
  kGlobalCheckpoint = 3,
  // body: i64 local_checkpoint, i64 max_seq_no, i64 history_floor, i64
  // global_checkpoint,
  // i64 max_seq_no_of_updates_or_deletes. Resets the copy: everything at or
  // below
  // local_checkpoint is processed. Opens a rewritten translog (snapshot
  // install, trim).
  kBase = 4,
  // A stored document (live or tombstone) as an operation; sets the document
  // only.
  kDocument = 5,
  // A retained history operation; marks its seq_no processed, documents
  // untouched.
  kHistory = 6,
  // The newest operation for one id at or below the history floor (what a trim
  // rolls a document back to when its retained history is gone).
  kBaseOperation = 7,
  // body: i64 generation. The first record of a snapshot file: replay goes on
  // with the generation files from this one.
  kSnapshotHeader = 8,
};

// A decoded record; `body` points into the content it was decoded from.
struct TranslogRecord {
  RecordKind kind;
  std::string_view body;
};

// Appends one encoded record to `out`.
void EncodeRecord(RecordKind kind, std::string_view body, std::string* out);

// Decoded intact records of `content` (their bodies point into it) and the
// byte offset where they end (== size of the content unless the tail is torn
// or corrupt).
struct DecodedTranslog {
  std::vector<TranslogRecord> records;
  uint64_t intact_bytes = 0;
};
DecodedTranslog DecodeTranslog(std::string_view content);

void PutInt64(int64_t value, std::string* out);
// The 8 bytes PutInt64 appends, in `out[0..8)`; returns them as a view.
std::string_view EncodeInt64(int64_t value, char* out);
// Reads an i64 at `*offset`, advancing it; false if `body` is too short.
bool GetInt64(std::string_view body, size_t* offset, int64_t* value);

// Translog options (Elasticsearch's index settings of the same names).
struct TranslogOptions {
  // index.translog.generation_threshold_size: after a Sync() that leaves the
  // current generation at least this big, the translog rolls to a new one.
  uint64_t generation_threshold_bytes = uint64_t{64} << 20;
};

// Reads the records of one file in bounded pieces (never the whole file in one
// string): each Next() returns one intact record whose body stays valid until
// the next call.
class RecordReader {
 public:
  RecordReader(Disk* disk, std::string path, size_t chunk_bytes = 1 << 20);
  // The next intact record; nullopt at the end of the file or at the first
  // torn or corrupt record (clean_end() tells which). I/O errors as statuses.
  absl::StatusOr<std::optional<TranslogRecord>> Next();
  // Where the intact records read so far end.
  uint64_t intact_bytes() const { return buffer_offset_ + pos_; }
  // After Next() returned nullopt: true if the file ended exactly after the
  // last intact record (nothing torn or corrupt follows).
  bool clean_end() const { return clean_end_; }

 private:
  Disk* const disk_;
  const std::string path_;
  const size_t chunk_bytes_;
  std::string buffer_;
  size_t pos_ = 0;              // next record's offset in buffer_
  uint64_t buffer_offset_ = 0;  // file offset of buffer_[0]
  bool eof_ = false;
  bool clean_end_ = false;
};

// The translog of one shard copy on disk, under the path `P` it is opened
// with:
//   P.snapshot   the last flush (ShardEngine::Flush): the copy's whole state as
//                records, written atomically (temp file, fsync, rename); its
//                first record (kSnapshotHeader) names the first generation
//                whose records come after it;
//   P, P-1, P-2  generations 0, 1, 2... (generation 0 keeps the plain name of
//                a translog written before generations existed); appends go
//                to the newest one.
// Open() replays the snapshot, then every generation from the one it names,
// oldest first, and deletes the generations the snapshot covers. Only the
// newest generation can have a torn tail (a generation is synced before the
// translog rolls past it): it is cut off. A corrupt snapshot or a corrupt
// record in an older generation is DataLoss, naming the file and offset.
class Translog {
 public:
  using ReplayFn = absl::AnyInvocable<absl::Status(const TranslogRecord&)>;
  // Opens the translog at `path` and calls `replay` for every intact record
  // (bodies valid during the call only), as described above; a replay error
  // stops it and is returned.
  static absl::StatusOr<std::unique_ptr<Translog>> Open(Disk* disk,
                                                        const std::string& path,
                                                        TranslogOptions options,
                                                        ReplayFn replay);

  // Appends one record to the current generation (volatile until Sync()).
  absl::Status Append(RecordKind kind, std::string_view body);
  // True if records were appended since the last Sync()/Commit().
  bool NeedsSync() const { return unsynced_; }
  // One fsync covering every record appended so far; then rolls to a new
  // generation if the current one reached the generation threshold.
  absl::Status Sync();

  // The record a snapshot given to Commit() must start with.
  std::string SnapshotHeader() const;
  // Makes `snapshot` (SnapshotHeader() + the copy's state as records) the new
  // base: writes it atomically and durably, opens a fresh generation for what
  // comes next and deletes every older one. Records appended and not synced
  // before are superseded by it.
  absl::Status Commit(std::string_view snapshot);

  // Bytes of the generations not covered by the snapshot (durable or not).
  uint64_t uncommitted_bytes() const;
  // Bytes of the snapshot file (0 if none).
  uint64_t snapshot_bytes() const { return snapshot_bytes_; }
  // The current generation and how many generation files exist.
  int64_t generation() const { return generation_; }
  int64_t generation_count() const { return generation_ - oldest_ + 1; }
  // Bytes appended to the current generation so far (durable or not).
  uint64_t size() const;

 private:
  Translog(Disk* disk, std::string path, TranslogOptions options)
      : disk_(disk), path_(std::move(path)), options_(options) {}
  std::string GenerationPath(int64_t generation) const;
  std::string SnapshotPath() const { return path_ + ".snapshot"; }
  // Opens `generation` for appending and makes it the current one.
  absl::Status OpenGeneration(int64_t generation);

  Disk* const disk_;
  const std::string path_;
  const TranslogOptions options_;
  std::unique_ptr<WritableFile> file_;  // the current generation
  int64_t generation_ = 0;
  int64_t oldest_ = 0;  // the oldest generation not covered by the snapshot
  uint64_t closed_bytes_ = 0;  // bytes of generations [oldest_, generation_)
  uint64_t snapshot_bytes_ = 0;
  std::string
      scratch_;  // reused record buffer (avoids an allocation per append)
  bool unsynced_ = false;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_TRANSLOG_H_
