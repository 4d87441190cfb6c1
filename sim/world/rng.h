// Rng: the lab's one kind of random generator (xoshiro256**, seeded through
// splitmix64).
//
// Every random choice of a lab run comes from an Rng derived from the run's
// seed, so a seed replays the same run on every machine. The integer and real
// helpers are written here on purpose: the standard distributions differ
// between library implementations.
//
// Thread-safety: none; each Rng belongs to one owner.
#ifndef SEQSIM_SIM_WORLD_RNG_H_
#define SEQSIM_SIM_WORLD_RNG_H_

#include <cstdint>
#include <string_view>

namespace seqsim::sim {

// One step of splitmix64: a good 64-bit mixer, used to seed and to derive
// sub-seeds.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a of a name: a platform-independent way to derive a per-actor seed from
// its id.
inline uint64_t HashName(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// A seed for a sub-generator: mixes the parent seed with a stream name and a
// number.
inline uint64_t DeriveSeed(uint64_t seed, std::string_view stream,
                           uint64_t n = 0) {
  uint64_t s = seed ^ HashName(stream);
  SplitMix64(s);
  s ^= n * 0xd1b54a32d192ed03ULL;
  return SplitMix64(s);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t s = seed;
    for (uint64_t& word : s_) word = SplitMix64(s);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n); 0 when n == 0. Lemire's multiply-shift with rejection
  // (unbiased).
  uint64_t Below(uint64_t n) {
    if (n == 0) return 0;
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform in [lo, hi] (inclusive); lo when hi < lo.
  int64_t Range(int64_t lo, int64_t hi) {
    if (hi <= lo) return lo;
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }

  // Uniform real in [0, 1) with 53 random bits.
  double Real() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // True with probability p.
  bool Chance(double p) { return p > 0 && Real() < p; }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_WORLD_RNG_H_
