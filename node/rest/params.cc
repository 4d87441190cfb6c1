// Reading a REST request: parameters, shared write parameters, update bodies
// (see params.h).
#include "node/rest/params.h"

// GCC 12 reports a false -Wrestrict inside std::string assignment once inlined
// here.
#pragma GCC diagnostic ignored "-Wrestrict"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/es_error.h"
#include "common/status_macros.h"
#include "common/validation.h"

namespace seqsim::rest {

absl::StatusOr<bool> BoolParam(const Ctx& c, const std::string& key,
                               bool fallback) {
  if (!c.Has(key)) return fallback;
  return rest::ParseBool(key, c.Param(key));
}

bool IsBlank(const std::string& text) {
  return absl::StripAsciiWhitespace(text).empty();
}

absl::Status BodyRequired() {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  "request body is required");
}

absl::Status BodyUnparsable() {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parse_exception",
                  "Failed to parse content to map");
}

pb::Error DocumentUnparsable() {
  return rest::MakeError(400, "mapper_parsing_exception", "failed to parse");
}

// A JSON integer, or a string holding one (Elasticsearch accepts both in
// settings).
std::optional<int64_t> JsonInteger(const Json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  int64_t parsed = 0;
  if (value.is_string() &&
      absl::SimpleAtoi(value.get<std::string>(), &parsed)) {
    return parsed;
  }
  return std::nullopt;
}

std::vector<std::string> CommaList(const std::string& text) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(part);
    if (!trimmed.empty()) out.emplace_back(trimmed);
  }
  return out;
}

// `_source` ("true", "false" or includes), `_source_includes`,
// `_source_excludes` URL parameters.
SourceSpec SourceSpecFromParams(const Ctx& c) {
  SourceSpec spec;
  if (c.Has("_source")) {
    spec.given = true;
    const std::string value = c.Param("_source");
    if (value == "false") {
      spec.fetch = false;
    } else if (value != "true" && !value.empty()) {
      spec.includes = CommaList(value);
    }
  }
  if (c.Has("_source_includes")) {
    spec.given = true;
    spec.includes = CommaList(c.Param("_source_includes"));
  }
  if (c.Has("_source_excludes")) {
    spec.given = true;
    spec.excludes = CommaList(c.Param("_source_excludes"));
  }
  return spec;
}

// A `_source` field of a body: true/false, a pattern, a list of patterns, or
// {"includes": ..., "excludes": ...}.
absl::StatusOr<SourceSpec> SourceSpecFromJson(const Json& value,
                                              const std::string& where) {
  SourceSpec spec;
  spec.given = true;
  auto patterns = [&](const Json& list,
                      std::vector<std::string>* out) -> absl::Status {
    if (list.is_string()) {
      out->push_back(list.get<std::string>());
      return absl::OkStatus();
    }
    if (!list.is_array()) {
      return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                      absl::StrCat("Unknown key for a ", TokenName(list),
                                   " in [", where, "]."));
    }
    for (const Json& pattern : list) {
      if (!pattern.is_string()) {
        return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                        absl::StrCat("Unknown key for a ", TokenName(pattern),
                                     " in [", where, "]."));
      }
      out->push_back(pattern.get<std::string>());
    }
    return absl::OkStatus();
  };
  if (value.is_boolean()) {
    spec.fetch = value.get<bool>();
  } else if (value.is_string() || value.is_array()) {
    RETURN_IF_ERROR(patterns(value, &spec.includes));
  } else if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (it.key() == "includes" || it.key() == "include") {
        RETURN_IF_ERROR(patterns(it.value(), &spec.includes));
      } else if (it.key() == "excludes" || it.key() == "exclude") {
        RETURN_IF_ERROR(patterns(it.value(), &spec.excludes));
      } else {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "parsing_exception",
            absl::StrCat("Unknown key for a ", TokenName(it.value()), " in [",
                         it.key(), "]."));
      }
    }
  } else {
    return EsStatus(
        absl::StatusCode::kInvalidArgument, "parsing_exception",
        absl::StrCat("Expected one of [VALUE_BOOLEAN, VALUE_STRING, "
                     "START_ARRAY, START_OBJECT] but found [",
                     TokenName(value), "]"));
  }
  return spec;
}

// The options of the request's ignore_unavailable, allow_no_indices and
// expand_wildcards parameters, over `defaults`.
absl::StatusOr<IndicesOptions> IndicesOptionsOf(const Ctx& c,
                                                IndicesOptions defaults) {
  IndicesOptions options = defaults;
  ASSIGN_OR_RETURN(
      options.ignore_unavailable,
      BoolParam(c, "ignore_unavailable", defaults.ignore_unavailable));
  ASSIGN_OR_RETURN(options.allow_no_indices,
                   BoolParam(c, "allow_no_indices", defaults.allow_no_indices));
  if (c.Has("expand_wildcards")) {
    options.expand_open = false;
    for (absl::string_view value :
         absl::StrSplit(c.Param("expand_wildcards"), ',')) {
      const std::string lower = absl::AsciiStrToLower(value);
      if (lower == "open" || lower == "all") {
        options.expand_open = true;
      } else if (lower == "none") {
        options.expand_open = false;
      } else if (lower != "closed" && lower != "hidden") {
        return IllegalArgument(
            absl::StrCat("No valid expand wildcard value [", value, "]"));
      }
    }
  }
  return options;
}

absl::Status ParsingError(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                  reason);
}

absl::Status ApplyWriteParams(const Ctx& c, pb::WriteRequest& write) {
  // An empty routing is no routing, as in Elasticsearch (routing("") -> null).
  if (c.Has("routing")) write.set_routing(c.Param("routing"));
  if (c.Has("if_seq_no")) {
    ASSIGN_OR_RETURN(int64_t seq_no,
                     rest::ParseLong("if_seq_no", c.Param("if_seq_no")));
    if (seq_no < 0 && seq_no != -2) {
      return IllegalArgument(absl::StrCat(
          "sequence numbers must be non negative. got [", seq_no, "]."));
    }
    write.set_if_seq_no(seq_no);
  }
  if (c.Has("if_primary_term")) {
    ASSIGN_OR_RETURN(int64_t term, rest::ParseLong("if_primary_term",
                                                   c.Param("if_primary_term")));
    if (term < 0) {
      return IllegalArgument(
          absl::StrCat("primary term must be non negative. got [", term, "]"));
    }
    write.set_if_primary_term(term);
  }
  if (c.Has("version")) {
    ASSIGN_OR_RETURN(int64_t version,
                     rest::ParseLong("version", c.Param("version")));
    write.set_version(version);
  }
  if (c.Has("version_type")) {
    std::string type = c.Param("version_type");
    if (type == "internal") {
      write.set_version_type(pb::VERSION_INTERNAL);
    } else if (type == "external") {
      write.set_version_type(pb::VERSION_EXTERNAL);
    } else if (type == "external_gte") {
      write.set_version_type(pb::VERSION_EXTERNAL_GTE);
    } else if (type == "force") {
      return IllegalArgument("version type [force] may no longer be used");
    } else {
      return IllegalArgument(
          absl::StrCat("No version type match [", type, "]"));
    }
  }
  if (c.Has("refresh")) {
    std::string refresh = c.Param("refresh");
    if (refresh != "" && refresh != "true" && refresh != "false" &&
        refresh != "wait_for") {
      return IllegalArgument(
          absl::StrCat("Unknown value for refresh: [", refresh, "]."));
    }
    if (refresh != "false")
      write.set_refresh(refresh.empty() ? "true" : refresh);
  }

  if (c.Has("wait_for_active_shards")) {
    std::string count = c.Param("wait_for_active_shards");
    if (count != "all" && count != "index-setting") {
      ASSIGN_OR_RETURN(int32_t n,
                       rest::ParseInt("wait_for_active_shards", count));
      if (n < 0) {
        return IllegalArgument(
            absl::StrCat("shard count cannot be a negative value [", n, "]"));
      }
    }
    write.set_wait_for_active_shards(count);
  }
  if (c.Has("timeout")) {
    ASSIGN_OR_RETURN(absl::Duration timeout,
                     rest::ParseTimeValue("timeout", c.Param("timeout")));
    if (timeout != absl::InfiniteDuration()) {
      write.set_timeout_ms(static_cast<int32_t>(
          std::min<int64_t>(absl::ToInt64Milliseconds(timeout), INT32_MAX)));
    }
  }
  return absl::OkStatus();
}

// Reads an update body ({"doc", "doc_as_upsert", "upsert", "detect_noop",
// "_source", "if_seq_no", "if_primary_term"}) into `write`, its `_source` into
// `*source`. Shared by _update and _bulk.
absl::Status ParseUpdateBody(const Json& body, pb::WriteRequest& write,
                             SourceSpec* source) {
  write.set_detect_noop(true);
  if (!body.is_object()) return BodyUnparsable();
  bool has_doc = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (key == "doc") {
      if (!value.is_object()) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "x_content_parse_exception",
                        "[UpdateRequest] failed to parse field [doc]");
      }
      write.set_update_doc(
          value.dump(-1, ' ', false, Json::error_handler_t::replace));
      has_doc = true;
    } else if (key == "upsert") {
      if (!value.is_object()) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "x_content_parse_exception",
                        "[UpdateRequest] failed to parse field [upsert]");
      }
      write.set_upsert(
          value.dump(-1, ' ', false, Json::error_handler_t::replace));
      write.set_has_upsert(true);
    } else if (key == "doc_as_upsert" || key == "detect_noop") {
      if (!value.is_boolean()) {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
            absl::StrCat("[UpdateRequest] failed to parse field [", key, "]"));
      }
      if (key == "doc_as_upsert") {
        write.set_doc_as_upsert(value.get<bool>());
      } else {
        write.set_detect_noop(value.get<bool>());
      }
    } else if (key == "_source") {
      ASSIGN_OR_RETURN(*source, SourceSpecFromJson(value, "_source"));
      write.set_return_source(source->fetch);
    } else if (key == "if_seq_no" || key == "if_primary_term") {
      if (!value.is_number_integer()) {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
            absl::StrCat("[UpdateRequest] failed to parse field [", key, "]"));
      }
      if (key == "if_seq_no") {
        write.set_if_seq_no(value.get<int64_t>());
      } else {
        write.set_if_primary_term(value.get<int64_t>());
      }
    } else if (key == "script" || key == "scripted_upsert") {
      return IllegalArgument(
          "seqsim does not support scripted updates; use [doc]");
    } else {
      // The fields UpdateRequest's parser declares, for the suggestion.
      static const std::vector<std::string> kFields = {
          "script",  "scripted_upsert", "upsert",
          "doc",     "doc_as_upsert",   "detect_noop",
          "_source", "if_seq_no",       "if_primary_term"};
      return EsStatus(absl::StatusCode::kInvalidArgument,
                      "x_content_parse_exception",
                      absl::StrCat("[UpdateRequest] unknown field [", key, "]",
                                   rest::DidYouMean(key, kFields)));
    }
  }
  if (!has_doc) return ValidationFailed({"script or doc is missing"});
  return absl::OkStatus();
}

}  // namespace seqsim::rest
