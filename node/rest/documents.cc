// The document APIs (Api members, see api.h): index and create
// (PUT/POST /{index}/_doc[/{id}], _create), get and _source (GET, HEAD),
// delete, update (_update), and Write, which sends one write and follows an
// alias to its index. The stamping (R1) and concurrency control (R2) are the
// primary's; this reads the parameters and renders the replies.
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

asio::awaitable<absl::StatusOr<Reply>> Api::Write(const pb::WriteRequest& write,
                                                  SourceSpec source,
                                                  bool require_alias) {
  pb::WriteRequest routed = write;
  absl::Duration wait = kDefaultDispatchTimeout;
  if (write.timeout_ms() > 0)
    wait = absl::Milliseconds(write.timeout_ms()) + absl::Seconds(30);
  // A write to an alias goes to its one index. require_alias reads the state
  // first; otherwise the node's refusal of the name (no such index, or an
  // index that may not take an alias's name) sends it to the state.
  bool resolved = false;
  auto resolve = [&]() -> Async<std::optional<Reply>> {
    resolved = true;
    absl::StatusOr<pb::ClusterState> state = co_await GetState();
    if (!state.ok()) co_return StatusReply(state.status());
    std::vector<std::string> indices = AliasIndices(*state, write.index());
    if (indices.empty()) {
      if (require_alias) co_return ErrorReply(RequireAliasError(write.index()));
      co_return std::nullopt;
    }
    if (indices.size() > 1) {
      co_return StatusReply(IllegalArgument(absl::StrCat(
          "no write index is defined for alias [", write.index(),
          "]. The write index may be explicitly disabled using "
          "is_write_index=false or the alias points to multiple indices "
          "without one being designated as a write index")));
    }
    routed.set_index(indices[0]);
    co_return std::nullopt;
  };
  if (require_alias) {
    if (std::optional<Reply> bad = co_await resolve()) co_return *bad;
  }
  while (true) {
    pb::Envelope request;
    *request.mutable_write() = routed;
    CO_ASSIGN_OR_RETURN(const pb::WriteResponse response,
                        co_await CallFor<pb::WriteResponse>(
                            std::move(request), "a write", nullptr, wait));
    if (HasError(response.error())) {
      const pb::Error& error = response.error();
      if (!resolved && MayNameAnAlias(error)) {
        if (std::optional<Reply> bad = co_await resolve()) co_return *bad;
        if (routed.index() != write.index()) continue;
      }
      co_return ErrorReply(error);
    }
    Reply out;
    out.status = WriteHttpStatus(response);
    out.body = WriteJson(response, routed, source);
    co_return out;
  }
}

asio::awaitable<absl::StatusOr<Reply>> Api::IndexDoc(const Ctx& c,
                                                     bool create_route) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  if (std::optional<pb::Error> bad = rest::ValidateIndexName(c.Index())) {
    co_return ErrorReply(*bad);
  }
  write.set_kind(create_route ? pb::WriteRequest::CREATE
                              : pb::WriteRequest::INDEX);
  if (c.segments.size() == 3) {
    write.set_id(c.segments[2]);
  } else {
    write.set_id(rest::GenerateId());
    write.set_auto_generated_id(true);
    write.set_kind(pb::WriteRequest::CREATE);
  }
  if (c.Has("op_type")) {
    std::string op_type = c.Param("op_type");
    if (op_type == "create") {
      write.set_kind(pb::WriteRequest::CREATE);
    } else if (op_type != "index") {
      co_return IllegalArgument(absl::StrCat(
          "opType must be 'create' or 'index', found: [", op_type, "]"));
    }
  }
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  CO_ASSIGN_OR_RETURN(bool require_alias, BoolParam(c, "require_alias", false));
  if (write.id().size() > 512) {
    co_return ValidationFailed(
        {absl::StrCat("id [", write.id(),
                      "] is too long, must be no longer than 512 bytes "
                      "but was: ",
                      write.id().size())});
  }
  if (IsBlank(c.req.body)) co_return BodyRequired();
  // The source is checked, not parsed: the one validator of a document
  // source (node/engine/json_source.h, the primary's too) scans it.
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  if (!ValidateSource(c.req.body).ok())
    co_return ErrorReply(DocumentUnparsable());
  write.set_source(c.req.body);
  co_return co_await Write(write, {}, require_alias);
}

asio::awaitable<absl::StatusOr<Reply>> Api::GetDoc(const Ctx& c,
                                                   bool source_only) {
  // realtime=false reads what the copy's last refresh made searchable;
  // refresh=true refreshes the copy first.
  CO_ASSIGN_OR_RETURN(bool realtime, BoolParam(c, "realtime", true));
  CO_ASSIGN_OR_RETURN(bool refresh, BoolParam(c, "refresh", false));
  SourceSpec source = SourceSpecFromParams(c);
  // stored_fields without _source among them and without a _source parameter
  // fetches no source (no field is stored apart from it).
  if (c.Has("stored_fields") && !source.given) {
    const std::vector<std::string> fields = CommaList(c.Param("stored_fields"));
    source.fetch =
        std::find(fields.begin(), fields.end(), "_source") != fields.end();
  }
  std::optional<int64_t> version;
  if (c.Has("version")) {
    CO_ASSIGN_OR_RETURN(version,
                        rest::ParseLong("version", c.Param("version")));
  }
  if (c.Has("version_type")) {
    const std::string type = c.Param("version_type");
    if (type == "force") {
      co_return IllegalArgument("version type [force] may no longer be used");
    }
    if (type != "internal" && type != "external" && type != "external_gte") {
      co_return IllegalArgument(
          absl::StrCat("No version type match [", type, "]"));
    }
  }
  pb::Envelope request;
  request.mutable_get()->set_index(c.Index());
  request.mutable_get()->set_id(c.segments[2]);
  if (c.Has("routing")) request.mutable_get()->set_routing(c.Param("routing"));
  request.mutable_get()->set_not_realtime(!realtime);
  if (c.Has("preference"))
    request.mutable_get()->set_preference(c.Param("preference"));
  request.mutable_get()->set_refresh(refresh);
  pb::Envelope sent = request;
  CO_ASSIGN_OR_RETURN(pb::GetResponse get, co_await CallFor<pb::GetResponse>(
                                               std::move(request), "a get"));
  if (get.error().type() == "index_not_found_exception") {
    // A GET through an alias reads its one index.
    CO_ASSIGN_OR_RETURN(pb::ClusterState state, co_await GetState());
    std::vector<std::string> indices = AliasIndices(state, c.Index());
    if (indices.size() > 1) {
      co_return IllegalArgument(absl::StrCat(
          "alias [", c.Index(),
          "] has more than one index associated with it [",
          absl::StrJoin(indices, ", "), "], can't execute a single index op"));
    }
    if (indices.size() == 1) {
      sent.mutable_get()->set_index(indices[0]);
      CO_ASSIGN_OR_RETURN(
          get, co_await CallFor<pb::GetResponse>(std::move(sent), "a get"));
    }
  }
  if (HasError(get.error())) co_return ErrorReply(get.error());
  // Every version type compares a read the same way: the stored version must
  // be the one asked for (VersionType.isVersionConflictForReads).
  if (version.has_value() && *version != -3 && get.found() &&
      get.version() != *version) {
    co_return ErrorReply(
        ToError(VersionConflict(absl::StrCat(
                    "[", c.segments[2],
                    "]: version conflict, current version [", get.version(),
                    "] is different than the one provided [", *version, "]")),
                get.index().empty() ? c.Index() : get.index(), get.index_uuid(),
                get.shard()));
  }
  Reply out;
  if (source_only) {
    if (!get.found()) {
      co_return EsStatus(absl::StatusCode::kNotFound,
                         "resource_not_found_exception",
                         absl::StrCat("Document not found [", c.Index(), "]/[",
                                      c.segments[2], "]"));
    }
    std::optional<Json> shown = ShownSource(get.source(), source);
    out.body = shown.has_value() ? *std::move(shown) : Json::object();
    co_return out;
  }
  out.body["_index"] = get.index().empty() ? c.Index() : get.index();
  out.body["_id"] = get.id().empty() ? c.segments[2] : get.id();
  if (!get.found()) out.status = 404;
  AddGetFields(get, source, out.body);
  co_return out;
}

asio::awaitable<absl::StatusOr<Reply>> Api::DeleteDoc(const Ctx& c) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  write.set_id(c.segments[2]);
  write.set_kind(pb::WriteRequest_Kind_DELETE);
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  co_return co_await Write(write);
}

asio::awaitable<absl::StatusOr<Reply>> Api::UpdateDoc(const Ctx& c) {
  pb::WriteRequest write;
  write.set_index(c.Index());
  if (std::optional<pb::Error> bad = rest::ValidateIndexName(c.Index())) {
    co_return ErrorReply(*bad);
  }
  write.set_id(c.segments[2]);
  write.set_kind(pb::WriteRequest::UPDATE);
  CO_RETURN_IF_ERROR(ApplyWriteParams(c, write));
  CO_ASSIGN_OR_RETURN(bool require_alias, BoolParam(c, "require_alias", false));
  if (c.Has("retry_on_conflict")) {
    CO_ASSIGN_OR_RETURN(
        int32_t retries,
        rest::ParseInt("retry_on_conflict", c.Param("retry_on_conflict")));
    write.set_retry_on_conflict(retries);
  }
  if (IsBlank(c.req.body)) co_return BodyRequired();
  CO_RETURN_IF_ERROR(rest::CheckJsonDepth(c.req.body));
  std::optional<Json> body = ParseJson(c.req.body);
  if (!body.has_value()) co_return BodyUnparsable();
  SourceSpec source;
  source.given = false;
  CO_RETURN_IF_ERROR(ParseUpdateBody(*body, write, &source));
  // The URL's _source parameters win over the body's.
  if (SourceSpec from_url = SourceSpecFromParams(c); from_url.given) {
    source = std::move(from_url);
    write.set_return_source(source.fetch);
  }
  co_return co_await Write(write, source, require_alias);
}

}  // namespace seqsim::rest
