// Document routing: which shard of an index holds a document, computed exactly
// as Elasticsearch 8 computes it, so a document lands on the same shard number
// in seqsim as in Elasticsearch.
//
// The routing value is the request's `routing` parameter, or the document's id
// when there is none. Elasticsearch hashes the value's UTF-16 code units (each
// as two bytes, low byte first) with MurmurHash3 x86_32, seed 0
// (Murmur3HashFunction), then picks
//
//   shard = floorMod(hash, routing_num_shards) / (routing_num_shards / shards)
//
// where routing_num_shards is the largest shards * 2^k <= 1024 with k >= 1
// (MetadataCreateIndexService.calculateNumRoutingShards, indices created on 7.0
// or later). The hash never changes a replication rule: it only decides which
// shard's primary stamps an operation.
#ifndef SEQSIM_NODE_LOGIC_ROUTING_H_
#define SEQSIM_NODE_LOGIC_ROUTING_H_

#include <cstdint>
#include <string_view>

namespace seqsim {

// MurmurHash3 x86_32 of `bytes` (Austin Appleby's public-domain algorithm).
uint32_t Murmur3X86_32(std::string_view bytes, uint32_t seed);

// Elasticsearch's Murmur3HashFunction.hash(String) of a UTF-8 value: the hash
// of its UTF-16 code units, low byte first. Bytes that are not valid UTF-8
// count as U+FFFD, as Java's decoder reads them.
int32_t EsRoutingHash(std::string_view utf8);

// The default index.number_of_routing_shards for `number_of_shards` (>= 1).
int RoutingNumShards(int number_of_shards);

// The shard holding documents routed by `routing` (the id when no routing was
// given) in an index of `number_of_shards` shards (0 when not positive).
int ShardForRouting(std::string_view routing, int number_of_shards);

// The shard of document `id` sent without a routing value.
inline int ShardForId(std::string_view id, int number_of_shards) {
  return ShardForRouting(id, number_of_shards);
}

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_ROUTING_H_
