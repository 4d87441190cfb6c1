// Index settings (the indices API family, issue 16): how a request body gives
// them, how GET /{index} and GET /{index}/_settings show them, and
// PUT /{index}/_settings, which sends the dynamic ones to the coordinator as
// one UpdateIndicesRequest.
#ifndef SEQSIM_NODE_REST_INDEX_SETTINGS_H_
#define SEQSIM_NODE_REST_INDEX_SETTINGS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "proto/seqsim.pb.h"

namespace seqsim::rest {

// Index settings as a body gives them ({"index": {"x": ..}}, {"index.x": ..}
// or {"x": ..}), as plain setting names ("x"), in order.
std::vector<std::pair<std::string, nlohmann::ordered_json>>
FlattenIndexSettings(const nlohmann::ordered_json& settings);

// index.refresh_interval as IndexMeta.refresh_interval_ms: a time value in
// milliseconds; -1 (and 0) turn the scheduled refresh off.
absl::StatusOr<int64_t> RefreshIntervalMsOf(
    const nlohmann::ordered_json& value);

// An index's settings as GET /{index} and GET /{index}/_settings show them:
// {"index": {...}}.
nlohmann::ordered_json IndexSettingsJson(const pb::IndexMeta& index);

}  // namespace seqsim::rest

#endif  // SEQSIM_NODE_REST_INDEX_SETTINGS_H_
