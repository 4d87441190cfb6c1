// Document routing: which shard of an index holds a document.
//
// shard = FNV-1a-32(id) mod number_of_shards. FNV-1a (offset basis 2166136261,
// prime 16777619, over the id's bytes) is stable across platforms and runs, so
// every node, the lab and tools agree on the shard of a document.
// (Elasticsearch uses murmur3 of the routing value; the choice of hash does not
// change any replication rule.)
#ifndef SEQSIM_NODE_LOGIC_ROUTING_H_
#define SEQSIM_NODE_LOGIC_ROUTING_H_

#include <cstdint>
#include <string_view>

namespace seqsim {

// 32-bit FNV-1a of `bytes`.
uint32_t Fnv1a32(std::string_view bytes);

// The shard holding document `id` in an index of `number_of_shards` shards (0
// when the count is not positive).
int ShardForId(std::string_view id, int number_of_shards);

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_ROUTING_H_
