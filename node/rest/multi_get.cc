// _mget (Api::MultiGet, see api.h): the body's docs and ids read as
// Elasticsearch's MultiGetRequest, every document read at once (as a
// real-time GET each), answered per document in order.
#include "node/rest/api.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

namespace {

// One document of an _mget body, as Elasticsearch's MultiGetRequest.Item.
struct MultiGetItem {
  std::optional<std::string> index;
  std::optional<std::string> id;
  SourceSpec source;
  std::optional<int64_t> version;
  std::string routing;  // the item's, else the URL's
};

// The text of a metadata value (Elasticsearch reads numbers as their text).
std::optional<std::string> MetadataText(const Json& value) {
  if (value.is_string()) return rest::ValidUtf8(value.get<std::string>());
  if (value.is_number() || value.is_boolean()) return value.dump();
  return std::nullopt;
}

absl::Status MultiGetParseError(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  reason);
}

// The items of an _mget body, with the URL's index and source as defaults.
absl::StatusOr<std::vector<MultiGetItem>> ParseMultiGetBody(
    const Json& body, const std::string& default_index,
    const SourceSpec& default_source, const std::string& default_routing) {
  std::vector<MultiGetItem> items;
  MultiGetItem defaults;
  if (!default_index.empty()) defaults.index = default_index;
  defaults.source = default_source;
  defaults.routing = default_routing;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (!value.is_array()) {
      return ParsingError(
          absl::StrCat("unexpected token [", TokenName(value),
                       "], expected [FIELD_NAME] or [START_ARRAY]"));
    }
    if (key == "ids") {
      for (const Json& id : value) {
        std::optional<std::string> text = MetadataText(id);
        if (!text.has_value() || !(id.is_string() || id.is_number())) {
          return IllegalArgument("ids array element should only contain ids");
        }
        MultiGetItem item = defaults;
        item.id = *text;
        items.push_back(std::move(item));
      }
    } else if (key == "docs") {
      for (const Json& doc : value) {
        if (!doc.is_object()) {
          return IllegalArgument("docs array element should include an object");
        }
        MultiGetItem item = defaults;
        for (auto field = doc.begin(); field != doc.end(); ++field) {
          const std::string& name = field.key();
          const Json& v = field.value();
          if (name == "_index" || name == "_id" || name == "routing") {
            std::optional<std::string> text = MetadataText(v);
            if (!text.has_value()) {
              return MultiGetParseError(absl::StrCat(
                  "failed to parse multi get request. unknown field [", name,
                  "]"));
            }
            if (name == "_index") item.index = *text;
            if (name == "_id") item.id = *text;
            if (name == "routing") item.routing = *text;
          } else if (name == "_source") {
            ASSIGN_OR_RETURN(item.source, SourceSpecFromJson(v, "_source"));
          } else if (name == "stored_fields") {
            std::vector<std::string> fields;
            if (v.is_string()) fields.push_back(v.get<std::string>());
            if (v.is_array()) {
              for (const Json& f : v) {
                if (f.is_string()) fields.push_back(f.get<std::string>());
              }
            }
            if (!item.source.given) {
              item.source.fetch = std::find(fields.begin(), fields.end(),
                                            "_source") != fields.end();
            }
          } else if (name == "version") {
            std::optional<int64_t> n = JsonInteger(v);
            if (!n.has_value()) {
              return MultiGetParseError(
                  "failed to parse multi get request. unknown field "
                  "[version]");
            }
            item.version = *n;
          } else if (name == "version_type" &&
                     (v == "internal" || v == "external" ||
                      v == "external_gte")) {
            // Reads compare versions the same way for every type.
          } else if (name == "fields") {
            return ParsingError(
                "Unsupported field [fields] used, expected [stored_fields] "
                "instead");
          } else {
            return MultiGetParseError(absl::StrCat(
                "failed to parse multi get request. unknown field [", name,
                "]"));
          }
        }
        items.push_back(std::move(item));
      }
    } else {
      return ParsingError(absl::StrCat("unknown key [", key,
                                       "] for a START_ARRAY, expected [docs] "
                                       "or [ids]"));
    }
  }
  std::vector<std::string> problems;
  if (items.empty()) problems.push_back("no documents to get");
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].index.has_value()) {
      problems.push_back(absl::StrCat("index is missing for doc ", i));
    }
    if (!items[i].id.has_value()) {
      problems.push_back(absl::StrCat("id is missing for doc ", i));
    }
  }
  if (!problems.empty()) return ValidationFailed(problems);
  return items;
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::MultiGet(const Ctx& c,
                                                     std::string index) {
  // realtime, refresh, routing and preference as on GET, for every item.
  CO_ASSIGN_OR_RETURN(bool realtime, BoolParam(c, "realtime", true));
  CO_ASSIGN_OR_RETURN(bool refresh, BoolParam(c, "refresh", false));
  const std::string routing = c.Has("routing") ? c.Param("routing") : "";
  const std::string preference =
      c.Has("preference") ? c.Param("preference") : "";
  SourceSpec source = SourceSpecFromParams(c);
  if (c.Has("stored_fields") && !source.given) {
    const std::vector<std::string> fields = CommaList(c.Param("stored_fields"));
    source.fetch =
        std::find(fields.begin(), fields.end(), "_source") != fields.end();
  }
  if (IsBlank(c.req.body)) {
    co_return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                       "request body or source parameter is required");
  }
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value() || !body->is_object()) co_return BodyUnparsable();
  CO_ASSIGN_OR_RETURN(std::vector<MultiGetItem> items,
                      ParseMultiGetBody(*body, index, source, routing));
  // Every document is read at once (one executor batch shares its read
  // barriers); a name that is no index is that document's
  // index_not_found_exception, as for GET.
  std::vector<std::optional<pb::Error>> refused(items.size());
  std::vector<pb::Envelope> requests;
  std::vector<size_t> sent;
  for (size_t i = 0; i < items.size(); ++i) {
    pb::Envelope request;
    request.mutable_get()->set_index(*items[i].index);
    request.mutable_get()->set_id(*items[i].id);
    request.mutable_get()->set_routing(items[i].routing);
    request.mutable_get()->set_preference(preference);
    request.mutable_get()->set_not_realtime(!realtime);
    request.mutable_get()->set_refresh(refresh);
    requests.push_back(std::move(request));
    sent.push_back(i);
  }
  std::vector<absl::StatusOr<pb::Envelope>> replies =
      co_await CallAll(std::move(requests));
  // An item whose index is an alias reads the alias's one index (the reply
  // names that index, as Elasticsearch's does); an alias of several indices
  // is that item's error.
  std::vector<size_t> via_alias;
  for (size_t k = 0; k < sent.size(); ++k) {
    if (replies[k].ok() && replies[k]->has_get_response() &&
        replies[k]->get_response().error().type() ==
            "index_not_found_exception") {
      via_alias.push_back(k);
    }
  }
  if (!via_alias.empty()) {
    CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
    std::vector<pb::Envelope> again;
    std::vector<size_t> again_at;
    for (size_t k : via_alias) {
      MultiGetItem& item = items[sent[k]];
      std::vector<std::string> indices = AliasIndices(state, *item.index);
      if (indices.size() > 1) {
        refused[sent[k]] = ToError(IllegalArgument(
            absl::StrCat("alias [", *item.index,
                         "] has more than one index associated with it [",
                         absl::StrJoin(indices, ", "),
                         "], can't execute a single index op")));
        continue;
      }
      if (indices.empty()) continue;
      item.index = indices[0];
      pb::Envelope request;
      request.mutable_get()->set_index(indices[0]);
      request.mutable_get()->set_id(*item.id);
      request.mutable_get()->set_routing(item.routing);
      request.mutable_get()->set_preference(preference);
      request.mutable_get()->set_not_realtime(!realtime);
      request.mutable_get()->set_refresh(refresh);
      again.push_back(std::move(request));
      again_at.push_back(k);
    }
    std::vector<absl::StatusOr<pb::Envelope>> answers =
        co_await CallAll(std::move(again));
    for (size_t j = 0; j < again_at.size(); ++j) {
      replies[again_at[j]] = std::move(answers[j]);
    }
  }
  std::vector<std::optional<pb::GetResponse>> gets(items.size());
  for (size_t k = 0; k < sent.size(); ++k) {
    const size_t i = sent[k];
    if (refused[i].has_value()) continue;
    if (!replies[k].ok()) {
      refused[i] = ToError(replies[k].status(), *items[i].index);
    } else if (!replies[k]->has_get_response()) {
      refused[i] = ToError(
          absl::InternalError("node answered a get with another message"));
    } else if (HasError(replies[k]->get_response().error())) {
      refused[i] = replies[k]->get_response().error();
    } else {
      gets[i] = replies[k]->get_response();
    }
  }
  Reply out;
  Json docs = Json::array();
  for (size_t i = 0; i < items.size(); ++i) {
    const MultiGetItem& item = items[i];
    Json doc = Json::object();
    doc["_index"] = *item.index;
    doc["_id"] = *item.id;
    if (!refused[i].has_value() && gets[i].has_value() && gets[i]->found() &&
        item.version.has_value() && *item.version != -3 &&
        gets[i]->version() != *item.version) {
      refused[i] = ToError(
          VersionConflict(absl::StrCat(
              "[", *item.id, "]: version conflict, current version [",
              gets[i]->version(), "] is different than the one provided [",
              *item.version, "]")),
          *item.index, gets[i]->index_uuid(), gets[i]->shard());
    }
    if (refused[i].has_value()) {
      doc["error"] = rest::ErrorBody(*refused[i])["error"];
      docs.push_back(std::move(doc));
      continue;
    }
    AddGetFields(*gets[i], item.source, doc);
    docs.push_back(std::move(doc));
  }
  out.body["docs"] = std::move(docs);
  co_return out;
}

}  // namespace seqsim::rest
