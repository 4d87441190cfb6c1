#include "node/engine/translog.h"

#include <array>
#include <cstring>
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
    if (kind < RecordKind::kOperation || kind > RecordKind::kBaseOperation)
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

absl::StatusOr<std::unique_ptr<Translog>> Translog::Open(
    Disk* disk, const std::string& path, std::string* content,
    std::vector<TranslogRecord>* records) {
  std::unique_ptr<Translog> translog(new Translog(disk, path));
  absl::StatusOr<std::string> read = disk->ReadFile(path);
  if (read.ok()) {
    *content = std::move(*read);
    DecodedTranslog decoded = DecodeTranslog(*content);
    if (decoded.intact_bytes < content->size()) {
      RETURN_IF_ERROR(disk->Truncate(path, decoded.intact_bytes));
    }
    *records = std::move(decoded.records);
  } else if (!absl::IsNotFound(read.status())) {
    return read.status();
  }
  ASSIGN_OR_RETURN(translog->file_, disk->OpenAppend(path));
  return translog;
}

absl::Status Translog::Append(RecordKind kind, std::string_view body) {
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
  return absl::OkStatus();
}

absl::Status Translog::Rewrite(std::string_view content) {
  if (file_ != nullptr) {
    // Unsynced bytes of the old file are superseded by `content`.
    file_->Close().IgnoreError();
    file_.reset();
  }
  absl::Status written = disk_->WriteFileAtomic(path_, content);
  // Reopen whatever is on disk now, so that later appends still have a file.
  ASSIGN_OR_RETURN(file_, disk_->OpenAppend(path_));
  RETURN_IF_ERROR(written);
  unsynced_ = false;
  return absl::OkStatus();
}

uint64_t Translog::size() const { return file_ == nullptr ? 0 : file_->Size(); }

}  // namespace seqsim
