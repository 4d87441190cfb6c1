#include "node/rest/index_settings.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/rest/api.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

// Index settings as a body gives them ({"index": {"x": ..}}, {"index.x": ..}
// or {"x": ..}), as plain setting names ("x"), in order.
std::vector<std::pair<std::string, Json>> FlattenIndexSettings(
    const Json& settings) {
  std::vector<std::pair<std::string, Json>> out;
  for (auto s = settings.begin(); s != settings.end(); ++s) {
    if (s.key() == "index" && s.value().is_object()) {
      for (auto n = s.value().begin(); n != s.value().end(); ++n) {
        out.emplace_back(n.key(), n.value());
      }
    } else {
      std::string name = s.key();
      if (absl::StartsWith(name, "index."))
        name = name.substr(strlen("index."));
      out.emplace_back(name, s.value());
    }
  }
  return out;
}

// index.refresh_interval: a time value in milliseconds; -1 (and 0) turn the
// scheduled refresh off (IndexMeta.refresh_interval_ms's -1).
absl::StatusOr<int64_t> RefreshIntervalMsOf(const Json& value) {
  std::string text =
      value.is_string() ? value.get<std::string>() : value.dump();
  absl::StatusOr<absl::Duration> interval =
      rest::ParseTimeValue("index.refresh_interval", text);
  if (!interval.ok()) return interval.status();
  int64_t ms = absl::ToInt64Milliseconds(*interval);
  if (*interval == absl::InfiniteDuration() || ms <= 0) ms = -1;
  return ms;
}

// An index's settings as GET /{index} and GET /{index}/_settings show them.
Json IndexSettingsJson(const pb::IndexMeta& index) {
  Json settings = Json::object();
  settings["creation_date"] = absl::StrCat(index.creation_date_ms());
  settings["number_of_shards"] =
      absl::StrCat(std::max(1, index.number_of_shards()));
  settings["number_of_replicas"] = absl::StrCat(index.number_of_replicas());
  // Shown only when set, as Elasticsearch shows settings.
  if (index.refresh_interval_ms() < 0) {
    settings["refresh_interval"] = "-1";
  } else if (index.refresh_interval_ms() > 0) {
    settings["refresh_interval"] =
        index.refresh_interval_ms() % 1000 == 0
            ? absl::StrCat(index.refresh_interval_ms() / 1000, "s")
            : absl::StrCat(index.refresh_interval_ms(), "ms");
  }
  if (index.max_result_window() > 0) {
    settings["max_result_window"] = absl::StrCat(index.max_result_window());
  }
  settings["uuid"] = index.uuid();
  settings["version"] = Json{{"created", "8500003"}};
  settings["provided_name"] = index.name();
  return Json{{"index", std::move(settings)}};
}

namespace {

// {"index": {"a": {"b": 1}}} -> {"index.a.b": "1"} (?flat_settings=true).
void FlattenJson(const std::string& prefix, const Json& value, Json* out) {
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      FlattenJson(
          prefix.empty() ? it.key() : absl::StrCat(prefix, ".", it.key()),
          it.value(), out);
    }
    return;
  }
  (*out)[prefix] = value;
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::GetSettings(const Ctx& c,
                                                        std::string index) {
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto indices = ResolveIndices(state, index, &missing, options);
  if (!indices.ok()) co_return ErrorReply(missing);
  CO_ASSIGN_OR_RETURN(bool flat, BoolParam(c, "flat_settings", false));
  Reply out;
  out.body = Json::object();
  for (const pb::IndexMeta* meta : *indices) {
    Json settings = IndexSettingsJson(*meta);
    if (flat) {
      Json flattened = Json::object();
      FlattenJson("", settings, &flattened);
      settings = std::move(flattened);
    }
    out.body[meta->name()] = Json{{"settings", std::move(settings)}};
  }
  co_return out;
}

// PUT /{index}/_settings: the dynamic settings seqsim models
// (index.refresh_interval, index.number_of_replicas), applied by the
// coordinator to every resolved index at once; a static setting is refused as
// Elasticsearch refuses it on an open index, any other as unknown.
asio::awaitable<absl::StatusOr<Reply>> Api::PutSettings(const Ctx& c,
                                                        std::string index) {
  if (IsBlank(c.req.body)) {
    co_return EsStatus(absl::StatusCode::kInvalidArgument,
                       "action_request_validation_exception",
                       "Validation Failed: 1: no settings to update;");
  }
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
  const Json& given =
      body->contains("settings") && (*body)["settings"].is_object()
          ? (*body)["settings"]
          : *body;
  CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState(true));
  CO_ASSIGN_OR_RETURN(IndicesOptions options, IndicesOptionsOf(c));
  pb::Error missing;
  auto indices = ResolveIndices(state, index, &missing, options);
  if (!indices.ok()) co_return ErrorReply(missing);
  pb::UpdateIndicesRequest update;
  std::vector<std::string> static_settings;
  std::vector<std::pair<std::string, Json>> settings =
      FlattenIndexSettings(given);
  if (settings.empty()) {
    co_return EsStatus(absl::StatusCode::kInvalidArgument,
                       "action_request_validation_exception",
                       "Validation Failed: 1: no settings to update;");
  }
  for (const auto& [name, value] : settings) {
    if (name == "refresh_interval") {
      if (value.is_null()) {
        update.set_refresh_interval_ms(0);  // back to the default
        continue;
      }
      CO_ASSIGN_OR_RETURN(int64_t ms, RefreshIntervalMsOf(value));
      update.set_refresh_interval_ms(ms);
      continue;
    }
    if (name == "max_result_window") {
      if (value.is_null()) {
        update.set_max_result_window(0);  // back to the default
        continue;
      }
      std::optional<int64_t> n = JsonInteger(value);
      if (!n.has_value() || *n < 1 || *n > 2147483647) {
        co_return IllegalArgument(absl::StrCat(
            "Failed to parse value [",
            value.is_string() ? value.get<std::string>() : value.dump(),
            "] for setting [index.max_result_window] must be >= 1"));
      }
      update.set_max_result_window(static_cast<int32_t>(*n));
      continue;
    }
    if (name == "number_of_replicas") {
      if (value.is_null()) {
        update.set_number_of_replicas(1);  // the default
        continue;
      }
      std::optional<int64_t> n = JsonInteger(value);
      if (!n.has_value() || *n < 0 || *n > 1024) {
        std::string shown =
            value.is_string() ? value.get<std::string>() : value.dump();
        co_return IllegalArgument(
            absl::StrCat("Failed to parse value [", shown,
                         "] for setting [index.number_of_replicas] must be ",
                         n.has_value() && *n > 1024 ? "<= 1024" : ">= 0"));
      }
      update.set_number_of_replicas(static_cast<int32_t>(*n));
      continue;
    }
    if (name == "number_of_shards" || name == "creation_date" ||
        name == "uuid" || name == "provided_name" ||
        name == "version.created" || name == "routing_partition_size") {
      static_settings.push_back(absl::StrCat("index.", name));
      continue;
    }
    co_return IllegalArgument(
        absl::StrCat("unknown setting [index.", name,
                     "] please check that any required plugins are installed, "
                     "or check the breaking changes documentation for removed "
                     "settings"));
  }
  if (!static_settings.empty()) {
    std::vector<std::string> shown;
    for (const pb::IndexMeta* meta : *indices)
      shown.push_back(absl::StrCat("[", meta->name(), "/", meta->uuid(), "]"));
    co_return IllegalArgument(
        absl::StrCat("Can't update non dynamic settings [[",
                     absl::StrJoin(static_settings, ", "),
                     "]] for open indices [", absl::StrJoin(shown, ", "), "]"));
  }
  for (const pb::IndexMeta* meta : *indices)
    update.add_settings_indices(meta->name());
  if (update.settings_indices_size() == 0) {
    Reply out;  // an expression that matched no index (allow_no_indices)
    out.body["acknowledged"] = true;
    co_return out;
  }
  co_return co_await SendIndicesUpdate(std::move(update));
}

}  // namespace seqsim::rest
