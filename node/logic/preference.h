// Which copy of a shard serves a search or a GET: Elasticsearch 8's
// `preference` parameter.
//
//   (none)            search: the started copies in turn (Elasticsearch picks
//   by
//                     adaptive replica selection; seqsim rotates). GET: the
//                     primary behind the read barrier (R11), so a GET without
//                     preference is linearizable.
//   _local            a copy on the receiving node if it has one, else as none.
//   _only_local       only copies on the receiving node; a shard without one is
//                     not searched (a GET fails).
//   _only_nodes:a,b   only copies on those nodes (ids, `*` wildcards); none:
//                     400 "no data nodes with criteria [a,b] found for shard".
//   _prefer_nodes:a,b a copy on those nodes if one is started, else any.
//   _shards:0,1[|p]   search only those shards, then preference p if given.
//   anything else     a custom string: the same string always picks the same
//                     copy while the copies stay the same (stickiness).
// The removed 6.x values (_primary, _replica, ...) get Elasticsearch's 400
// "no Preference for [_primary]". A read of a chosen copy takes no barrier: a
// replica may answer with an older view (its own refresh, or a GET a few
// operations behind) — the point of asking for it.
#ifndef SEQSIM_NODE_LOGIC_PREFERENCE_H_
#define SEQSIM_NODE_LOGIC_PREFERENCE_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace seqsim {

struct Preference {
  enum class Kind {
    kDefault,
    kLocal,
    kOnlyLocal,
    kOnlyNodes,
    kPreferNodes,
    kCustom,
  };
  Kind kind = Kind::kDefault;
  std::vector<std::string> nodes;  // _only_nodes / _prefer_nodes
  std::string custom;              // kCustom
  std::set<int> shards;            // _shards: (empty = every shard)
  std::string text;                // as given, for error messages
};

// Parses `text` (the empty string is no preference).
absl::StatusOr<Preference> ParsePreference(std::string_view text);

// Whether node id `node` matches one of `patterns` (`*` wildcards).
bool NodeMatches(std::string_view node,
                 const std::vector<std::string>& patterns);

// The node whose copy serves a read under `preference`, among the nodes of the
// started copies `started` (in routing order), on node `me`. `rotation`
// spreads default reads. nullopt: no copy may serve it (_only_local without a
// local copy, _only_nodes without a match, no started copy).
std::optional<std::string> PickCopy(const Preference& preference,
                                    const std::vector<std::string>& started,
                                    const std::string& me, uint64_t rotation);

}  // namespace seqsim

#endif  // SEQSIM_NODE_LOGIC_PREFERENCE_H_
