#include "node/logic/routing.h"

namespace seqsim {

uint32_t Fnv1a32(std::string_view bytes) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 16777619u;
  }
  return hash;
}

int ShardForId(std::string_view id, int number_of_shards) {
  if (number_of_shards <= 0) return 0;
  return static_cast<int>(Fnv1a32(id) %
                          static_cast<uint32_t>(number_of_shards));
}

}  // namespace seqsim
