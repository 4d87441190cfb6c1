#include "sim/world/envelope_cache.h"

namespace seqsim::sim {
namespace {

// Reads a varint at bytes[*pos]; false if it is cut short or too long.
bool ReadVarint(const std::string& bytes, size_t* pos, uint64_t* value) {
  *value = 0;
  for (int shift = 0; *pos < bytes.size() && shift < 64; shift += 7) {
    const uint8_t b = static_cast<uint8_t>(bytes[(*pos)++]);
    *value |= static_cast<uint64_t>(b & 0x7F) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

// The number of the first length-delimited field of a serialized Envelope
// other than `from` (its body, as written by a serializer), or 0.
int BodyField(const std::string& bytes) {
  size_t pos = 0;
  uint64_t tag, size;
  while (ReadVarint(bytes, &pos, &tag) && (tag & 7) == 2) {
    if ((tag >> 3) != pb::Envelope::kFromFieldNumber)
      return static_cast<int>(tag >> 3);
    if (!ReadVarint(bytes, &pos, &size) || size > bytes.size() - pos) break;
    pos += size;
  }
  return 0;
}

}  // namespace

void AppendFrom(const std::string& from, std::string* bytes) {
  char header[11];
  size_t n = 0;
  header[n++] = static_cast<char>((pb::Envelope::kFromFieldNumber << 3) | 2);
  uint64_t size = from.size();
  while (size >= 0x80) {
    header[n++] = static_cast<char>((size & 0x7F) | 0x80);
    size >>= 7;
  }
  header[n++] = static_cast<char>(size);
  bytes->append(header, n);
  bytes->append(from);
}

absl::StatusOr<pb::Envelope>* EnvelopeCache::Parse(const std::string& bytes) {
  const int field = BodyField(bytes);
  Slot* slot = &other_;
  if (field > pb::Envelope::kFromFieldNumber) {
    if (by_body_.size() <= static_cast<size_t>(field))
      by_body_.resize(field + 1);
    if (by_body_[field].envelope != nullptr) {
      slot = &by_body_[field];
    } else {
      const google::protobuf::FieldDescriptor* f =
          pb::Envelope::descriptor()->FindFieldByNumber(field);
      if (f != nullptr && f->containing_oneof() != nullptr)
        slot = &by_body_[field];
    }
  }
  if (slot->envelope == nullptr) {
    slot->envelope =
        std::make_unique<absl::StatusOr<pb::Envelope>>(pb::Envelope());
  }
  pb::Envelope* envelope = &**slot->envelope;
  bool ok;
  if (slot->body != nullptr) {
    // Empty the body in place (kept allocated) instead of deleting it.
    slot->body->Clear();
    envelope->clear_from();
    ok = envelope->MergeFromString(bytes);
  } else {
    ok = envelope->ParseFromString(bytes);
  }
  if (!ok) {
    envelope->Clear();
    slot->body = nullptr;
    return nullptr;
  }
  if (slot == &other_ || envelope->body_case() != field) {
    slot->body = nullptr;
  } else if (slot->body == nullptr) {
    slot->body = envelope->GetReflection()->MutableMessage(
        envelope, envelope->GetDescriptor()->FindFieldByNumber(field));
  }
  return slot->envelope.get();
}

}  // namespace seqsim::sim
