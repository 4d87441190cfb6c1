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
// Rewrite() replaces the whole file atomically (Disk::WriteFileAtomic) and
// reopens it for appending.
//
// Thread-safety: none; owned by one ShardEngine. All I/O goes through the Disk
// interface.
#ifndef SEQSIM_NODE_ENGINE_TRANSLOG_H_
#define SEQSIM_NODE_ENGINE_TRANSLOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

class Translog {
 public:
  // Reads `path` (missing = empty), truncates a torn/corrupt tail, opens it for
  // appending. Returns the intact records for replay; their bodies point into
  // `*content` (the file's bytes as read).
  static absl::StatusOr<std::unique_ptr<Translog>> Open(
      Disk* disk, const std::string& path, std::string* content,
      std::vector<TranslogRecord>* records);

  // Appends one record (volatile until Sync()).
  absl::Status Append(RecordKind kind, std::string_view body);
  // True if records were appended since the last Sync()/Rewrite().
  bool NeedsSync() const { return unsynced_; }
  // One fsync covering every record appended so far.
  absl::Status Sync();
  // Atomically replaces the file with `content` (encoded records) and reopens
  // it.
  absl::Status Rewrite(std::string_view content);
  // Bytes appended so far (durable or not).
  uint64_t size() const;

 private:
  Translog(Disk* disk, std::string path)
      : disk_(disk), path_(std::move(path)) {}

  Disk* const disk_;
  const std::string path_;
  std::unique_ptr<WritableFile> file_;
  std::string
      scratch_;  // reused record buffer (avoids an allocation per append)
  bool unsynced_ = false;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_TRANSLOG_H_
