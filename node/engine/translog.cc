#include "node/engine/translog.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <utility>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace seqsim {
namespace {

// Records larger than this are treated as corruption (a garbage length field).
constexpr uint32_t kMaxRecordBytes = 256u << 20;

// Slicing-by-8 tables for CRC-32C (reflected polynomial 0x82F63B78).
struct Crc32cTables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  Crc32cTables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t crc = i;
      for (int k = 0; k < 8; ++k)
        crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
      t[0][i] = crc;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s)
        t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};

const Crc32cTables& Tables() {
  static const Crc32cTables* tables = new Crc32cTables();
  return *tables;
}

void PutU32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t GetU32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(in[i]))
             << (8 * i);
  }
  return value;
}

#if defined(__x86_64__)
// The same CRC with SSE 4.2's crc32 instruction (it implements CRC-32C, the
// reflected update of the tables below): several times fewer instructions per
// byte than slicing-by-8. `crc` is the running value (pre-inverted).
__attribute__((target("sse4.2"))) uint32_t Crc32cSse42(const unsigned char* p,
                                                       size_t n, uint32_t crc) {
  uint64_t crc64 = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    crc64 = _mm_crc32_u64(crc64, word);
    p += 8;
    n -= 8;
  }
  crc = static_cast<uint32_t>(crc64);
  for (; n > 0; ++p, --n) crc = _mm_crc32_u8(crc, *p);  // the last 0-7 bytes
  return crc;
}

bool DetectSse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}

const bool kHasSse42 = DetectSse42();
#endif

}  // namespace

uint32_t Crc32c(std::string_view data) {
  uint32_t crc = 0xffffffffu;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
#if defined(__x86_64__)
  if (kHasSse42) return Crc32cSse42(p, n, crc) ^ 0xffffffffu;
#endif
  const auto& t = Tables().t;
  while (n >= 8) {
    uint32_t lo =
        crc ^
        (static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24);
    crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^
          t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
  return crc ^ 0xffffffffu;
}

void EncodeRecord(RecordKind kind, std::string_view body, std::string* out) {
  const size_t start = out->size();
  const uint32_t length = static_cast<uint32_t>(body.size() + 1);
  out->resize(start + 8 + length);
  char* p = out->data() + start;
  p[8] = static_cast<char>(kind);
  if (!body.empty()) std::memcpy(p + 9, body.data(), body.size());
  PutU32(length, p);
  PutU32(Crc32c(std::string_view(p + 8, length)), p + 4);
}

DecodedTranslog DecodeTranslog(std::string_view content) {
  DecodedTranslog decoded;
  size_t offset = 0;
  while (content.size() - offset >= 8) {
    const uint32_t length = GetU32(content.data() + offset);
    const uint32_t crc = GetU32(content.data() + offset + 4);
    if (length == 0 || length > kMaxRecordBytes) break;
    if (content.size() - offset - 8 < length) break;  // torn: runs past the end
    std::string_view payload = content.substr(offset + 8, length);
    if (Crc32c(payload) != crc) break;  // corrupt
    const auto kind = static_cast<RecordKind>(static_cast<uint8_t>(payload[0]));
    if (kind < RecordKind::kOperation || kind > RecordKind::kSnapshotHeader)
      break;
    decoded.records.push_back({kind, payload.substr(1)});
    offset += 8 + length;
  }
  decoded.intact_bytes = offset;
  return decoded;
}

std::string_view EncodeInt64(int64_t value, char* out) {
  const auto u = static_cast<uint64_t>(value);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((u >> (8 * i)) & 0xff);
  return std::string_view(out, 8);
}

void PutInt64(int64_t value, std::string* out) {
  char bytes[8];
  out->append(EncodeInt64(value, bytes));
}

bool GetInt64(std::string_view body, size_t* offset, int64_t* value) {
  if (body.size() < *offset + 8) return false;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) {
    u |= static_cast<uint64_t>(static_cast<unsigned char>(body[*offset + i]))
         << (8 * i);
  }
  *offset += 8;
  *value = static_cast<int64_t>(u);
  return true;
}

RecordReader::RecordReader(Disk* disk, std::string path, size_t chunk_bytes)
    : disk_(disk), path_(std::move(path)), chunk_bytes_(chunk_bytes) {}

absl::StatusOr<std::optional<TranslogRecord>> RecordReader::Next() {
  while (true) {
    const size_t avail = buffer_.size() - pos_;
    size_t want = 8;
    if (avail >= 8) {
      const char* p = buffer_.data() + pos_;
      const uint32_t length = GetU32(p);
      if (length == 0 || length > kMaxRecordBytes) {
        clean_end_ = false;
        return std::nullopt;  // a garbage length: corrupt
      }
      if (avail - 8 >= length) {
        std::string_view payload(p + 8, length);
        const auto kind =
            static_cast<RecordKind>(static_cast<uint8_t>(payload[0]));
        if (Crc32c(payload) != GetU32(p + 4) || kind < RecordKind::kOperation ||
            kind > RecordKind::kSnapshotHeader) {
          clean_end_ = false;
          return std::nullopt;
        }
        pos_ += 8 + length;
        return TranslogRecord{kind, payload.substr(1)};
      }
      want = 8 + static_cast<size_t>(length);
    }
    if (eof_) {
      clean_end_ = avail == 0;
      return std::nullopt;
    }
    // Refill: drop what was consumed, read at least what the record needs.
    buffer_.erase(0, pos_);
    buffer_offset_ += pos_;
    pos_ = 0;
    const size_t read = std::max(chunk_bytes_, want - buffer_.size());
    absl::StatusOr<std::string> piece =
        disk_->ReadAt(path_, buffer_offset_ + buffer_.size(), read);
    if (!piece.ok()) return piece.status();
    if (piece->size() < read) eof_ = true;
    buffer_.append(*piece);
  }
}

namespace {

// The generation a file name stands for under translog base name `base`:
// `base` is 0, `base`-N is N; nullopt for anything else.
std::optional<int64_t> GenerationOf(const std::string& name,
                                    const std::string& base) {
  if (name == base) return 0;
  if (name.size() <= base.size() + 1 || name.compare(0, base.size(), base) ||
      name[base.size()] != '-') {
    return std::nullopt;
  }
  int64_t generation = 0;
  for (size_t i = base.size() + 1; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || generation > (int64_t{1} << 50)) {
      return std::nullopt;
    }
    generation = generation * 10 + (name[i] - '0');
  }
  return generation;
}

// Replays every intact record of `path`; returns its reader's end state.
absl::StatusOr<RecordReader> ReplayFile(Disk* disk, const std::string& path,
                                        Translog::ReplayFn& replay) {
  RecordReader reader(disk, path);
  while (true) {
    ASSIGN_OR_RETURN(std::optional<TranslogRecord> record, reader.Next());
    if (!record.has_value()) return reader;
    RETURN_IF_ERROR(replay(*record));
  }
}

}  // namespace

std::string Translog::GenerationPath(int64_t generation) const {
  return generation == 0 ? path_ : absl::StrCat(path_, "-", generation);
}

absl::Status Translog::OpenGeneration(int64_t generation) {
  ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                   disk_->OpenAppend(GenerationPath(generation)));
  if (file_ != nullptr) file_->Close().IgnoreError();
  file_ = std::move(file);
  generation_ = generation;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Translog>> Translog::Open(
    Disk* disk, const std::string& path, TranslogOptions options,
    ReplayFn replay) {
  std::unique_ptr<Translog> translog(new Translog(disk, path, options));
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string() : path.substr(0, slash);
  const std::string base =
      slash == std::string::npos ? path : path.substr(slash + 1);
  std::map<int64_t, std::string> generations;
  for (const std::string& name : disk->List(dir)) {
    if (std::optional<int64_t> generation = GenerationOf(name, base)) {
      generations[*generation] = dir.empty() ? name : dir + "/" + name;
    }
  }
  int64_t first = 0;
  const std::string snapshot = translog->SnapshotPath();
  if (disk->Exists(snapshot)) {
    RecordReader reader(disk, snapshot);
    ASSIGN_OR_RETURN(std::optional<TranslogRecord> header, reader.Next());
    size_t offset = 0;
    if (!header.has_value() || header->kind != RecordKind::kSnapshotHeader ||
        !GetInt64(header->body, &offset, &first) || first < 0) {
      return absl::DataLossError(absl::StrCat(
          "translog snapshot ", snapshot,
          " is corrupt: it does not start with a snapshot header"));
    }
    while (true) {
      ASSIGN_OR_RETURN(std::optional<TranslogRecord> record, reader.Next());
      if (!record.has_value()) break;
      RETURN_IF_ERROR(replay(*record));
    }
    if (!reader.clean_end()) {
      return absl::DataLossError(absl::StrCat("translog snapshot ", snapshot,
                                              " is corrupt at byte ",
                                              reader.intact_bytes()));
    }
    translog->snapshot_bytes_ = reader.intact_bytes();
  }
  translog->oldest_ = first;
  int64_t newest = first;
  for (auto it = generations.begin(); it != generations.end(); ++it) {
    const auto& [generation, file] = *it;
    if (generation < first) {
      // Covered by the snapshot (a flush that stopped before deleting it).
      disk->Remove(file).IgnoreError();
      continue;
    }
    ASSIGN_OR_RETURN(RecordReader reader, ReplayFile(disk, file, replay));
    if (!reader.clean_end()) {
      if (std::next(it) != generations.end()) {
        return absl::DataLossError(absl::StrCat(
            "translog generation ", file, " is corrupt at byte ",
            reader.intact_bytes(), " and newer generations follow it"));
      }
      // The newest generation's torn or corrupt tail: never replayed.
      RETURN_IF_ERROR(disk->Truncate(file, reader.intact_bytes()));
    }
    newest = generation;
    if (generation != generations.rbegin()->first) {
      translog->closed_bytes_ += reader.intact_bytes();
    }
  }
  RETURN_IF_ERROR(translog->OpenGeneration(newest));
  return translog;
}

absl::Status Translog::Append(RecordKind kind, std::string_view body) {
  if (file_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("translog ", path_, " has no open generation"));
  }
  scratch_.clear();
  EncodeRecord(kind, body, &scratch_);
  RETURN_IF_ERROR(file_->Append(scratch_));
  unsynced_ = true;
  return absl::OkStatus();
}

absl::Status Translog::Sync() {
  if (!unsynced_) return absl::OkStatus();
  RETURN_IF_ERROR(file_->Sync());
  unsynced_ = false;
  if (file_->Size() >= options_.generation_threshold_bytes) {
    // Everything in the current generation is durable: roll past it.
    const uint64_t closed = file_->Size();
    RETURN_IF_ERROR(OpenGeneration(generation_ + 1));
    closed_bytes_ += closed;
  }
  return absl::OkStatus();
}

std::string Translog::SnapshotHeader() const {
  std::string header;
  char body[8];
  EncodeRecord(RecordKind::kSnapshotHeader, EncodeInt64(generation_ + 1, body),
               &header);
  return header;
}

absl::Status Translog::Commit(std::string_view snapshot) {
  RETURN_IF_ERROR(disk_->WriteFileAtomic(SnapshotPath(), snapshot));
  // The snapshot is durable and names generation_ + 1: every older generation
  // is superseded, whatever happens next.
  snapshot_bytes_ = snapshot.size();
  const int64_t old_oldest = oldest_;
  const int64_t old_current = generation_;
  unsynced_ = false;
  absl::Status opened = OpenGeneration(generation_ + 1);
  if (!opened.ok()) {
    // Appends to a superseded generation would be lost on restart.
    if (file_ != nullptr) file_->Close().IgnoreError();
    file_.reset();
    return opened;
  }
  oldest_ = generation_;
  closed_bytes_ = 0;
  for (int64_t generation = old_oldest; generation <= old_current;
       ++generation) {
    const std::string file = GenerationPath(generation);
    if (disk_->Exists(file)) disk_->Remove(file).IgnoreError();
  }
  return absl::OkStatus();
}

uint64_t Translog::uncommitted_bytes() const {
  return closed_bytes_ + (file_ == nullptr ? 0 : file_->Size());
}

uint64_t Translog::size() const { return file_ == nullptr ? 0 : file_->Size(); }

}  // namespace seqsim
