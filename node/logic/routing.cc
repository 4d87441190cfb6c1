#include "node/logic/routing.h"

#include <string>

namespace seqsim {
namespace {

uint32_t Rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// Appends the UTF-16 code units of `utf8` to `out`, two bytes each, low first.
void AppendUtf16Le(std::string_view utf8, std::string& out) {
  auto unit = [&out](uint32_t u) {
    out.push_back(static_cast<char>(u & 0xff));
    out.push_back(static_cast<char>((u >> 8) & 0xff));
  };
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const size_t n = utf8.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    int extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      unit(0xfffd);
      ++i;
      continue;
    }
    size_t j = 1;
    for (; j <= static_cast<size_t>(extra); ++j) {
      if (i + j >= n || (p[i + j] & 0xc0) != 0x80) break;
      cp = (cp << 6) | (p[i + j] & 0x3f);
    }
    if (j <= static_cast<size_t>(extra) || cp < min || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      unit(0xfffd);
      i += j;  // a malformed sequence counts once, as Java's decoder does
      continue;
    }
    i += j;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      unit(0xd800 + (cp >> 10));
      unit(0xdc00 + (cp & 0x3ff));
    } else {
      unit(cp);
    }
  }
}

}  // namespace

uint32_t Murmur3X86_32(std::string_view bytes, uint32_t seed) {
  constexpr uint32_t c1 = 0xcc9e2d51u;
  constexpr uint32_t c2 = 0x1b873593u;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t len = bytes.size();
  const size_t blocks = len / 4;
  uint32_t h = seed;
  for (size_t b = 0; b < blocks; ++b) {
    const unsigned char* q = data + b * 4;
    uint32_t k = static_cast<uint32_t>(q[0]) |
                 (static_cast<uint32_t>(q[1]) << 8) |
                 (static_cast<uint32_t>(q[2]) << 16) |
                 (static_cast<uint32_t>(q[3]) << 24);
    k *= c1;
    k = Rotl32(k, 15);
    k *= c2;
    h ^= k;
    h = Rotl32(h, 13);
    h = h * 5 + 0xe6546b64u;
  }
  const unsigned char* tail = data + blocks * 4;
  uint32_t k = 0;
  switch (len & 3) {
    case 3:
      k ^= static_cast<uint32_t>(tail[2]) << 16;
      [[fallthrough]];
    case 2:
      k ^= static_cast<uint32_t>(tail[1]) << 8;
      [[fallthrough]];
    case 1:
      k ^= tail[0];
      k *= c1;
      k = Rotl32(k, 15);
      k *= c2;
      h ^= k;
  }
  h ^= static_cast<uint32_t>(len);
  return Fmix32(h);
}

int32_t EsRoutingHash(std::string_view utf8) {
  std::string utf16;
  utf16.reserve(utf8.size() * 2);
  AppendUtf16Le(utf8, utf16);
  return static_cast<int32_t>(Murmur3X86_32(utf16, 0));
}

int RoutingNumShards(int number_of_shards) {
  if (number_of_shards < 1) number_of_shards = 1;
  int log2_shards = 0;  // ceil(log2(number_of_shards))
  while ((1 << log2_shards) < number_of_shards) ++log2_shards;
  int splits = 10 - log2_shards;  // 1024 = 2^10 shards at most
  if (splits < 1) splits = 1;
  return number_of_shards << splits;
}

int ShardForRouting(std::string_view routing, int number_of_shards) {
  if (number_of_shards <= 0) return 0;
  const int64_t routing_shards = RoutingNumShards(number_of_shards);
  const int64_t factor = routing_shards / number_of_shards;
  int64_t mod = static_cast<int64_t>(EsRoutingHash(routing)) % routing_shards;
  if (mod < 0) mod += routing_shards;  // Java's Math.floorMod
  return static_cast<int>(mod / factor);
}

}  // namespace seqsim
