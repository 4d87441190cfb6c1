// _bulk (Api::Bulk, see api.h): the NDJSON body read as Elasticsearch reads
// it, items that fail at the REST layer answered in place, the rest sent to
// the node as one bulk, aliases resolved and refused names retried once.
// Each item is one write on its primary (R1..R3).
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
#include "absl/time/clock.h"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "node/engine/json_source.h"
#include "node/rest/co_status.h"
#include "node/rest/index_expression.h"

namespace seqsim::rest {

namespace {

// One bulk item: either sent to the node, or already failed at the REST layer.
struct BulkItem {
  std::string action;  // index | create | update | delete
  pb::WriteRequest write;
  std::optional<pb::Error> error;
  SourceSpec source;           // update: what its "get" shows
  bool require_alias = false;  // its index must name an alias
};

absl::Status MalformedLine(int line, const std::string& why) {
  return IllegalArgument(
      absl::StrCat("Malformed action/metadata line [", line, "], ", why));
}

Json BulkItemJson(const BulkItem& item, const pb::WriteResponse* response) {
  Json body = Json::object();
  if (item.error.has_value() ||
      (response != nullptr && HasError(response->error()))) {
    const pb::Error& error =
        item.error.has_value() ? *item.error : response->error();
    body["_index"] = item.write.index();
    body["_id"] = item.write.id();
    body["status"] = error.status() == 0 ? 500 : error.status();
    Json fields = rest::ErrorBody(error)["error"];
    fields.erase("root_cause");
    body["error"] = std::move(fields);
  } else {
    body = WriteJson(*response, item.write, item.source);
    body["status"] = WriteHttpStatus(*response);
  }
  return Json{{item.action, std::move(body)}};
}

}  // namespace

asio::awaitable<absl::StatusOr<Reply>> Api::Bulk(const Ctx& c,
                                                 std::string default_index) {
  absl::Time start = absl::Now();
  const std::string& text = c.req.body;
  if (text.empty()) co_return BodyRequired();
  if (text.back() != '\n') {
    co_return IllegalArgument(
        "The bulk request must be terminated by a newline [\\n]");
  }
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // after the final newline
  // The URL's refresh, wait_for_active_shards and timeout apply to every
  // item; its _source parameters and require_alias are each item's default.
  pb::WriteRequest defaults;
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, defaults));
  CO_ASSIGN_OR_RETURN(const bool default_require_alias,
                      BoolParam(c, "require_alias", false));
  const SourceSpec default_source = SourceSpecFromParams(c);
  std::vector<BulkItem> items;
  std::vector<std::string> validation;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int line_number = static_cast<int>(i) + 1;
    if (IsBlank(lines[i])) continue;
    CO_RETURN_IF_ERROR(rest::CheckJsonDepth(lines[i]));
    std::optional<Json> action_line = ParseJson(lines[i]);
    if (!action_line.has_value()) {
      co_return EsStatus(
          absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
          absl::StrCat("[", line_number,
                       ":1] Malformed action/metadata line: not valid JSON"));
    }
    if (!action_line->is_object()) {
      co_return MalformedLine(line_number,
                              absl::StrCat("expected START_OBJECT but found [",
                                           TokenName(*action_line), "]"));
    }
    if (action_line->empty()) {
      co_return MalformedLine(line_number,
                              "expected FIELD_NAME but found [END_OBJECT]");
    }
    // Elasticsearch reads the first action of the line.
    BulkItem item;
    item.write = defaults;
    item.source = default_source;
    bool require_alias = default_require_alias;
    bool id_given = false;
    item.action = action_line->begin().key();
    const Json& meta = action_line->begin().value();
    if (item.action == "index") {
      item.write.set_kind(pb::WriteRequest::INDEX);
    } else if (item.action == "create") {
      item.write.set_kind(pb::WriteRequest::CREATE);
    } else if (item.action == "update") {
      item.write.set_kind(pb::WriteRequest::UPDATE);
    } else if (item.action == "delete") {
      item.write.set_kind(pb::WriteRequest_Kind_DELETE);
    } else {
      co_return MalformedLine(
          line_number,
          absl::StrCat("expected field [create], [delete], [index] or "
                       "[update] but found [",
                       item.action, "]"));
    }
    if (!meta.is_object()) {
      co_return MalformedLine(line_number,
                              absl::StrCat("expected START_OBJECT but found [",
                                           TokenName(meta), "]"));
    }
    std::string index = default_index;
    for (auto it = meta.begin(); it != meta.end(); ++it) {
      const std::string& key = it.key();
      const Json& value = it.value();
      auto as_long = [&](int64_t* out) -> absl::Status {
        if (std::optional<int64_t> n = JsonInteger(value)) {
          *out = *n;
          return absl::OkStatus();
        }
        return IllegalArgument(absl::StrCat("Failed to parse [", key,
                                            "] of action/metadata line [",
                                            line_number, "]"));
      };
      if (key == "_index" && value.is_string()) {
        index = value.get<std::string>();
      } else if (key == "_id" && (value.is_string() || value.is_number())) {
        id_given = true;
        item.write.set_id(value.is_string() ? value.get<std::string>()
                                            : value.dump());
      } else if (key == "if_seq_no") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_if_seq_no(n);
      } else if (key == "if_primary_term") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_if_primary_term(n);
      } else if (key == "version") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_version(n);
      } else if (key == "retry_on_conflict") {
        int64_t n = 0;
        CO_RETURN_IF_ERROR(as_long(&n));
        item.write.set_retry_on_conflict(static_cast<int32_t>(n));
      } else if (key == "version_type" && value.is_string()) {
        std::string type = value.get<std::string>();
        if (type == "external") {
          item.write.set_version_type(pb::VERSION_EXTERNAL);
        } else if (type == "external_gte") {
          item.write.set_version_type(pb::VERSION_EXTERNAL_GTE);
        } else if (type != "internal") {
          co_return IllegalArgument(
              absl::StrCat("No version type match [", type, "]"));
        }
      } else if (key == "require_alias") {
        if (!value.is_boolean()) {
          co_return IllegalArgument(absl::StrCat(
              "Failed to parse [require_alias] of action/metadata line [",
              line_number, "]"));
        }
        require_alias = value.get<bool>();
      } else if (key == "_source") {
        CO_ASSIGN_OR_RETURN(item.source, SourceSpecFromJson(value, "_source"));
      } else if (key == "routing") {
        // A value of any simple type is read as text; null means none.
        if (value.is_object() || value.is_array()) {
          co_return MalformedLine(
              line_number,
              absl::StrCat("expected a simple value for field [routing] but "
                           "found [",
                           TokenName(value), "]"));
        }
        item.write.set_routing(value.is_string() ? value.get<std::string>()
                               : value.is_null() ? std::string()
                                                 : value.dump());
      } else if (key == "op_type" && value.is_string()) {
        // BulkRequestParser: an index action with op_type create is a create
        // (and answered as one); any other value, or another action, leaves
        // it as it is.
        if (item.action == "index" && value.get<std::string>() == "create") {
          item.action = "create";
          item.write.set_kind(pb::WriteRequest::CREATE);
        }
      } else if (key == "pipeline" || key == "dynamic_templates" ||
                 key == "require_data_stream") {
        // Accepted and ignored: seqsim has no ingest pipelines or mappings.
      } else {
        co_return IllegalArgument(
            absl::StrCat("Action/metadata line [", line_number,
                         "] contains an unknown parameter [", key, "]"));
      }
    }
    item.write.set_index(index);
    if (index.empty()) validation.push_back("index is missing");
    const bool indexes = item.write.kind() == pb::WriteRequest::INDEX ||
                         item.write.kind() == pb::WriteRequest::CREATE;
    if (indexes && id_given && item.write.id().empty()) {
      // An empty _id is not a request for a generated one.
      item.error = rest::MakeError(400, "illegal_argument_exception",
                                   "if _id is specified it must not be empty");
    } else if (item.write.id().empty()) {
      if (indexes) {
        item.write.set_id(rest::GenerateId());
        item.write.set_auto_generated_id(true);
        item.write.set_kind(pb::WriteRequest::CREATE);
      } else {
        validation.push_back("id is missing");
      }
    }
    if (!index.empty() && !item.error.has_value()) {
      item.error = rest::ValidateIndexName(index);
    }
    // Checked against the aliases before sending.
    item.require_alias =
        require_alias && item.write.kind() != pb::WriteRequest_Kind_DELETE;
    if (item.write.kind() != pb::WriteRequest_Kind_DELETE) {
      ++i;
      if (i >= lines.size()) {
        validation.push_back("source is missing");
        items.push_back(std::move(item));
        break;
      }
      absl::Status depth = rest::CheckJsonDepth(lines[i]);
      if (item.write.kind() == pb::WriteRequest::UPDATE) {
        CO_RETURN_IF_ERROR(depth);
        std::optional<Json> source = ParseJson(lines[i]);
        if (!source.has_value()) {
          co_return EsStatus(
              absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
              absl::StrCat("[", i + 1, ":1] failed to parse update request"));
        }
        SourceSpec body_source;
        CO_RETURN_IF_ERROR(ParseUpdateBody(*source, item.write, &body_source));
        if (body_source.given) item.source = body_source;
        item.write.set_return_source(item.source.given && item.source.fetch);
      } else if (!depth.ok()) {
        if (!item.error.has_value()) item.error = ToError(depth);
      } else if (!ValidateSource(lines[i]).ok()) {
        // Checked by the one validator of a document source (no parse).
        if (!item.error.has_value()) item.error = DocumentUnparsable();
      } else {
        item.write.set_source(lines[i]);
      }
    }
    items.push_back(std::move(item));
  }
  if (items.empty()) validation.push_back("no requests added");
  if (!validation.empty()) co_return ValidationFailed(validation);

  // An item named by an alias goes to the alias's one index, as a single
  // write does (several: that item fails). The state is read only when an
  // item asks require_alias (before sending), or when the node refused a name
  // that may be an alias (then those items are sent again).
  std::optional<pb::ClusterState> state;
  auto resolve = [&](BulkItem& item) -> Async<bool> {
    if (!state.has_value()) {
      absl::StatusOr<pb::ClusterState> got = co_await GetState();
      state = got.ok() ? *std::move(got) : pb::ClusterState();
    }
    const std::string name = item.write.index();
    std::vector<std::string> indices = AliasIndices(*state, name);
    if (indices.size() > 1) {
      item.error = ToError(
          IllegalArgument(absl::StrCat(
              "no write index is defined for alias [", name,
              "]. The write index may be explicitly disabled using "
              "is_write_index=false or the alias points to multiple indices "
              "without one being designated as a write index")),
          name);
      co_return false;
    }
    if (indices.empty()) co_return false;
    item.write.set_index(indices[0]);
    co_return true;
  };
  for (BulkItem& item : items) {
    if (item.error.has_value() || !item.require_alias) continue;
    if (!co_await resolve(item) && !item.error.has_value())
      item.error = RequireAliasError(item.write.index());
  }
  std::vector<pb::WriteResponse> answered(items.size());
  std::vector<bool> has_answer(items.size(), false);
  std::vector<int> sent;  // positions in `items` of the forwarded requests
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].error.has_value()) sent.push_back(static_cast<int>(i));
  }
  int64_t took_ms = 0;
  for (int round = 0; round < 2 && !sent.empty(); ++round) {
    pb::Envelope request;
    for (int i : sent) *request.mutable_bulk()->add_items() = items[i].write;
    CO_ASSIGN_OR_RETURN(
        pb::BulkResponse response,
        co_await CallFor<pb::BulkResponse>(std::move(request), "a bulk"));
    took_ms += response.took_ms();
    std::vector<int> again;
    for (size_t k = 0; k < sent.size(); ++k) {
      const int i = sent[k];
      if (k >= static_cast<size_t>(response.items_size())) {
        *answered[i].mutable_error() = rest::MakeError(
            500, "exception", "the node returned no answer for this item");
      } else {
        answered[i] = std::move(*response.mutable_items(static_cast<int>(k)));
      }
      has_answer[i] = true;
      if (round == 0 && !items[i].require_alias &&
          HasError(answered[i].error()) &&
          MayNameAnAlias(answered[i].error()) && co_await resolve(items[i])) {
        again.push_back(i);
      } else if (items[i].error.has_value()) {
        has_answer[i] = false;  // several indices: the item's own error
      }
    }
    sent = std::move(again);
  }
  std::vector<const pb::WriteResponse*> answers(items.size(), nullptr);
  for (size_t i = 0; i < items.size(); ++i) {
    if (has_answer[i] && !items[i].error.has_value()) answers[i] = &answered[i];
  }
  Reply out;
  Json json_items = Json::array();
  bool errors = false;
  for (size_t i = 0; i < items.size(); ++i) {
    Json item = BulkItemJson(items[i], answers[i]);
    int status = item.begin().value()["status"].get<int>();
    if (item.begin().value().contains("error")) errors = true;
    (void)status;
    json_items.push_back(std::move(item));
  }
  out.body["errors"] = errors;
  out.body["took"] = std::max<int64_t>(
      took_ms, absl::ToInt64Milliseconds(absl::Now() - start));
  out.body["items"] = std::move(json_items);
  co_return out;
}

}  // namespace seqsim::rest
