#include "node/logic/preference.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"
#include "common/wildcard.h"
#include "node/logic/routing.h"

namespace seqsim {
namespace {

// Debian's Abseil has its own string_view.
absl::string_view AV(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

std::vector<std::string> CommaList(std::string_view text) {
  std::vector<std::string> out;
  for (absl::string_view part :
       absl::StrSplit(AV(text), ',', absl::SkipEmpty())) {
    out.emplace_back(part);
  }
  return out;
}

}  // namespace

bool NodeMatches(std::string_view node,
                 const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (WildcardMatch(pattern, AV(node))) return true;
  }
  return false;
}

absl::StatusOr<Preference> ParsePreference(std::string_view text) {
  Preference out;
  out.text = std::string(text);
  if (text.empty()) return out;
  std::string_view rest = text;
  if (rest.substr(0, 8) == "_shards:") {
    const size_t bar = rest.find('|');
    std::string_view list = rest.substr(
        8, bar == std::string_view::npos ? std::string_view::npos : bar - 8);
    for (const std::string& shard : CommaList(list)) {
      int n = 0;
      if (!absl::SimpleAtoi(shard, &n) || n < 0) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "illegal_argument_exception",
                        absl::StrCat("failed to parse int from [", shard, "]"));
      }
      out.shards.insert(n);
    }
    if (bar == std::string_view::npos) return out;
    rest = rest.substr(bar + 1);
    if (rest.empty()) return out;
  }
  if (rest[0] != '_') {
    out.kind = Preference::Kind::kCustom;
    out.custom = std::string(rest);
    return out;
  }
  const size_t colon = rest.find(':');
  const std::string_view type = rest.substr(0, colon);
  const std::string_view value =
      colon == std::string_view::npos ? "" : rest.substr(colon + 1);
  if (type == "_local") {
    out.kind = Preference::Kind::kLocal;
  } else if (type == "_only_local") {
    out.kind = Preference::Kind::kOnlyLocal;
  } else if (type == "_only_nodes" || type == "_prefer_nodes") {
    out.kind = type == "_only_nodes" ? Preference::Kind::kOnlyNodes
                                     : Preference::Kind::kPreferNodes;
    out.nodes = CommaList(value);
    if (out.nodes.empty()) {
      return EsStatus(
          absl::StatusCode::kInvalidArgument, "illegal_argument_exception",
          absl::StrCat("no nodes given in preference [", AV(text), "]"));
    }
  } else {
    // Includes the values removed in 7.0 (_primary, _replica, ...).
    return EsStatus(absl::StatusCode::kInvalidArgument,
                    "illegal_argument_exception",
                    absl::StrCat("no Preference for [", AV(type), "]"));
  }
  return out;
}

std::optional<std::string> PickCopy(const Preference& preference,
                                    const std::vector<std::string>& started,
                                    const std::string& me, uint64_t rotation) {
  if (started.empty()) return std::nullopt;
  const bool local =
      std::find(started.begin(), started.end(), me) != started.end();
  auto rotate = [&](const std::vector<std::string>& among, uint64_t turn) {
    return among[turn % among.size()];
  };
  switch (preference.kind) {
    case Preference::Kind::kDefault:
      return rotate(started, rotation);
    case Preference::Kind::kLocal:
      return local ? me : rotate(started, rotation);
    case Preference::Kind::kOnlyLocal:
      if (local) return me;
      return std::nullopt;
    case Preference::Kind::kOnlyNodes:
    case Preference::Kind::kPreferNodes: {
      std::vector<std::string> matching;
      for (const std::string& node : started) {
        if (NodeMatches(node, preference.nodes)) matching.push_back(node);
      }
      if (!matching.empty()) return rotate(matching, rotation);
      if (preference.kind == Preference::Kind::kOnlyNodes) return std::nullopt;
      return rotate(started, rotation);
    }
    case Preference::Kind::kCustom: {
      // The same string picks the same copy: the copies sorted by node id,
      // indexed by the string's hash.
      std::vector<std::string> sorted = started;
      std::sort(sorted.begin(), sorted.end());
      const uint32_t hash =
          static_cast<uint32_t>(EsRoutingHash(preference.custom));
      return sorted[hash % sorted.size()];
    }
  }
  return std::nullopt;
}

}  // namespace seqsim
