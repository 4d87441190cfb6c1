#include "node/rest/query_dsl.h"

#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"
#include "node/logic/query.h"

namespace seqsim::rest {
namespace {

using Json = nlohmann::ordered_json;

// index.max_result_window's default (seqsim has no index settings for it).
constexpr int kMaxResultWindow = 10000;

absl::Status ParsingError(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument, "parsing_exception",
                  reason);
}

bool IsScalar(const Json& value) {
  return value.is_string() || value.is_number() || value.is_boolean();
}

// boost and _name are accepted on every query (seqsim computes no scores and
// reports no matched queries).
bool IsCommonKey(const std::string& key) {
  return key == "boost" || key == "_name";
}

// The single field of a term/match/range body, or Elasticsearch's error.
absl::Status SingleField(const std::string& name, const Json& body) {
  if (!body.is_object() || body.empty()) {
    return ParsingError(absl::StrCat("[", name, "] query malformed, no field"));
  }
  std::string field;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (IsCommonKey(it.key()) && IsScalar(it.value())) continue;
    if (!field.empty()) {
      return ParsingError(absl::StrCat("[", name,
                                       "] query doesn't support multiple "
                                       "fields, found [",
                                       field, "] and [", it.key(), "]"));
    }
    field = it.key();
  }
  if (field.empty()) {
    return ParsingError(absl::StrCat("[", name, "] query malformed, no field"));
  }
  return absl::OkStatus();
}

// The field and its value (the first key that is not boost/_name).
std::pair<std::string, const Json*> FieldOf(const Json& body) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (IsCommonKey(it.key()) && IsScalar(it.value())) continue;
    return {it.key(), &it.value()};
  }
  return {"", nullptr};
}

absl::Status ValidMinimumShouldMatch(const Json& value) {
  const std::string spec =
      value.is_string() ? value.get<std::string>() : value.dump();
  if (!value.is_string() && !value.is_number_integer()) {
    return ParsingError(
        "[minimum_should_match] must be an integer or a percentage");
  }
  if (query::MinimumShouldMatch(10, spec) < 0) {
    return EsStatus(absl::StatusCode::kInvalidArgument,
                    "number_format_exception",
                    absl::StrCat("For input string: \"", spec, "\""));
  }
  return absl::OkStatus();
}

std::string SpecOf(const Json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

absl::Status Parse(const Json& query, pb::Query& out, int depth);

absl::Status ParseTerm(const Json& body, pb::Query& out) {
  if (absl::Status s = SingleField("term", body); !s.ok()) return s;
  auto [field, value] = FieldOf(body);
  Json term = *value;
  if (term.is_object()) {
    bool has_value = false;
    for (auto it = value->begin(); it != value->end(); ++it) {
      if (it.key() == "value") {
        term = it.value();
        has_value = true;
      } else if (!IsCommonKey(it.key()) && it.key() != "case_insensitive") {
        return ParsingError(
            absl::StrCat("[term] query does not support [", it.key(), "]"));
      } else if (it.key() == "case_insensitive" && it.value() == true) {
        return ParsingError(
            "[term] query does not support [case_insensitive] = true in "
            "seqsim");
      }
    }
    if (!has_value) {
      return EsStatus(absl::StatusCode::kInvalidArgument,
                      "illegal_argument_exception", "value cannot be null");
    }
  }
  if (term.is_array()) {
    return ParsingError("[term] query does not support array of values");
  }
  if (!IsScalar(term)) {
    return EsStatus(absl::StatusCode::kInvalidArgument,
                    "illegal_argument_exception", "value cannot be null");
  }
  out.mutable_term()->set_field(field);
  out.mutable_term()->set_value_json(term.dump());
  return absl::OkStatus();
}

absl::Status ParseTerms(const Json& body, pb::Query& out) {
  if (!body.is_object()) {
    return ParsingError("[terms] query malformed, no start_object");
  }
  pb::Query::Terms* terms = out.mutable_terms();
  bool has_field = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (IsCommonKey(it.key()) && IsScalar(it.value())) continue;
    if (!it.value().is_array()) {
      if (it.value().is_object()) {
        return ParsingError(
            "[terms] query lookup (index, id, path) is not supported by "
            "seqsim");
      }
      return ParsingError(
          absl::StrCat("[terms] query does not support [", it.key(), "]"));
    }
    if (has_field) {
      return ParsingError(
          absl::StrCat("[terms] query does not support multiple fields"));
    }
    has_field = true;
    terms->set_field(it.key());
    for (const Json& value : it.value()) {
      if (!IsScalar(value)) {
        return EsStatus(absl::StatusCode::kInvalidArgument,
                        "illegal_argument_exception",
                        "No value specified for terms query");
      }
      terms->add_values_json(value.dump());
    }
  }
  if (!has_field) {
    return ParsingError(
        "[terms] query requires a field name, followed by "
        "array of terms or a document lookup specification");
  }
  return absl::OkStatus();
}

absl::Status ParseMatch(const Json& body, pb::Query& out) {
  if (absl::Status s = SingleField("match", body); !s.ok()) return s;
  auto [field, value] = FieldOf(body);
  pb::Query::Match* match = out.mutable_match();
  match->set_field(field);
  if (IsScalar(*value)) {
    match->set_query_json(value->dump());
    return absl::OkStatus();
  }
  if (!value->is_object()) {
    return ParsingError(
        absl::StrCat("[match] unknown token [",
                     value->is_array() ? "START_ARRAY" : "VALUE_NULL",
                     "] after [", field, "]"));
  }
  bool has_query = false;
  for (auto it = value->begin(); it != value->end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    if (key == "query") {
      if (!IsScalar(v)) {
        return ParsingError(absl::StrCat("[match] unknown token [",
                                         v.is_array()    ? "START_ARRAY"
                                         : v.is_object() ? "START_OBJECT"
                                                         : "VALUE_NULL",
                                         "] after [query]"));
      }
      match->set_query_json(v.dump());
      has_query = true;
    } else if (key == "operator") {
      const std::string op =
          absl::AsciiStrToLower(v.is_string() ? v.get<std::string>() : "");
      if (op != "and" && op != "or") {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "illegal_argument_exception",
            absl::StrCat("operator needs to be either [AND, OR], but not [",
                         SpecOf(v), "]"));
      }
      match->set_operator_and(op == "and");
    } else if (key == "minimum_should_match") {
      if (absl::Status s = ValidMinimumShouldMatch(v); !s.ok()) return s;
      match->set_minimum_should_match(SpecOf(v));
    } else if (key == "analyzer" && v == "standard") {
      // The one analyzer seqsim has.
    } else if (key == "zero_terms_query" && v == "none") {
      // The default.
    } else if (IsCommonKey(key) ||
               (key == "lenient" ||
                key == "auto_generate_synonyms_phrase_query")) {
      // Accepted: no effect without mappings, analyzers or synonyms.
    } else {
      return ParsingError(
          absl::StrCat("[match] query does not support [", key, "]"));
    }
  }
  if (!has_query) {
    return EsStatus(absl::StatusCode::kInvalidArgument,
                    "illegal_argument_exception",
                    "No text specified for text query");
  }
  return absl::OkStatus();
}

absl::Status ParseRange(const Json& body, pb::Query& out) {
  if (absl::Status s = SingleField("range", body); !s.ok()) return s;
  auto [field, value] = FieldOf(body);
  if (!value->is_object()) {
    return ParsingError(absl::StrCat("[range] query malformed, after field [",
                                     field, "] missing start_object"));
  }
  pb::Query::Range* range = out.mutable_range();
  range->set_field(field);
  for (auto it = value->begin(); it != value->end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    std::string* bound = nullptr;
    if (key == "gt") bound = range->mutable_gt_json();
    if (key == "gte") bound = range->mutable_gte_json();
    if (key == "lt") bound = range->mutable_lt_json();
    if (key == "lte") bound = range->mutable_lte_json();
    if (bound != nullptr) {
      if (v.is_null()) continue;  // an open bound
      if (!IsScalar(v)) {
        return ParsingError(
            absl::StrCat("[range] query does not support [", key, "]"));
      }
      *bound = v.dump();
    } else if (key == "boost" || (key == "relation" && v == "intersects")) {
      // No effect on what matches (intersects is the default relation).
    } else {
      return ParsingError(
          absl::StrCat("[range] query does not support [", key, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseExists(const Json& body, pb::Query& out) {
  if (!body.is_object()) {
    return ParsingError("[exists] query malformed, no start_object");
  }
  bool has_field = false;
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() == "field" && it.value().is_string()) {
      out.mutable_exists()->set_field(it.value().get<std::string>());
      has_field = true;
    } else if (!IsCommonKey(it.key())) {
      return ParsingError(
          absl::StrCat("[exists] query does not support [", it.key(), "]"));
    }
  }
  if (!has_field) {
    return ParsingError("[exists] must be provided with a [field]");
  }
  return absl::OkStatus();
}

absl::Status ParseIds(const Json& body, pb::Query& out) {
  if (!body.is_object()) {
    return ParsingError("[ids] query malformed, no start_object");
  }
  out.mutable_ids();
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (IsCommonKey(it.key())) continue;
    if (it.key() != "values") {
      return ParsingError(absl::StrCat("[ids] unknown field [", it.key(), "]"));
    }
    if (!it.value().is_array()) {
      return ParsingError("[ids] query malformed, no [values] array");
    }
    for (const Json& value : it.value()) {
      if (value.is_string()) {
        out.mutable_ids()->add_values(value.get<std::string>());
      } else if (value.is_number()) {
        out.mutable_ids()->add_values(value.dump());
      } else {
        return ParsingError("[ids] query values must be strings");
      }
    }
  }
  if (out.ids().values_size() > kMaxResultWindow) {
    return EsStatus(absl::StatusCode::kInvalidArgument, "query_shard_exception",
                    absl::StrCat("failed to create query: Too many ids "
                                 "specified, allowed max result window is [",
                                 kMaxResultWindow, "]"));
  }
  return absl::OkStatus();
}

absl::Status ParseBool(const Json& body, pb::Query& out, int depth) {
  if (!body.is_object()) {
    return ParsingError("[bool] query malformed, no start_object");
  }
  pb::Query::Bool* b = out.mutable_bool_();
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& key = it.key();
    const Json& v = it.value();
    google::protobuf::RepeatedPtrField<pb::Query>* clauses = nullptr;
    if (key == "must") clauses = b->mutable_must();
    if (key == "should") clauses = b->mutable_should();
    if (key == "must_not" || key == "mustNot") clauses = b->mutable_must_not();
    if (key == "filter") clauses = b->mutable_filter();
    if (clauses != nullptr) {
      if (v.is_object()) {
        if (absl::Status s = Parse(v, *clauses->Add(), depth + 1); !s.ok())
          return s;
      } else if (v.is_array()) {
        for (const Json& clause : v) {
          if (absl::Status s = Parse(clause, *clauses->Add(), depth + 1);
              !s.ok())
            return s;
        }
      } else {
        return ParsingError(
            absl::StrCat("[bool] query does not support [", key, "]"));
      }
    } else if (key == "minimum_should_match") {
      if (absl::Status s = ValidMinimumShouldMatch(v); !s.ok()) return s;
      b->set_minimum_should_match(SpecOf(v));
    } else if (IsCommonKey(key) || key == "adjust_pure_negative") {
      // No effect on what matches.
    } else {
      return ParsingError(
          absl::StrCat("[bool] query does not support [", key, "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseEmptyQuery(const std::string& name, const Json& body) {
  if (!body.is_object()) {
    return ParsingError(
        absl::StrCat("[", name, "] query malformed, no start_object"));
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (!IsCommonKey(it.key())) {
      return ParsingError(
          absl::StrCat("[", name, "] unknown field [", it.key(), "]"));
    }
  }
  return absl::OkStatus();
}

absl::Status Parse(const Json& query, pb::Query& out, int depth) {
  if (depth > query::kMaxQueryDepth) {
    return EsStatus(absl::StatusCode::kInvalidArgument,
                    "illegal_argument_exception",
                    "The nested depth of the query exceeds the maximum nested "
                    "depth for queries set in "
                    "[indices.query.bool.max_nested_depth]");
  }
  if (!query.is_object()) {
    return ParsingError(
        absl::StrCat("[_na] query malformed, must start with start_object"));
  }
  if (query.empty()) {
    return ParsingError("query malformed, empty clause found");
  }
  if (query.size() > 1) {
    return ParsingError(absl::StrCat(
        "[", query.begin().key(),
        "] malformed query, expected [END_OBJECT] but found [FIELD_NAME]"));
  }
  const std::string& name = query.begin().key();
  const Json& body = query.begin().value();
  if (name == "match_all") {
    out.mutable_match_all();
    return ParseEmptyQuery(name, body);
  }
  if (name == "match_none") {
    out.mutable_match_none();
    return ParseEmptyQuery(name, body);
  }
  if (name == "ids") return ParseIds(body, out);
  if (name == "term") return ParseTerm(body, out);
  if (name == "terms") return ParseTerms(body, out);
  if (name == "match") return ParseMatch(body, out);
  if (name == "range") return ParseRange(body, out);
  if (name == "exists") return ParseExists(body, out);
  if (name == "bool") return ParseBool(body, out, depth);
  return ParsingError(absl::StrCat("unknown query [", name, "]"));
}

absl::Status AddSortField(
    const std::string& field, const Json* options,
    google::protobuf::RepeatedPtrField<pb::SortField>& out) {
  pb::SortField key;
  key.set_field(field);
  key.set_descending(field == "_score");
  if (options != nullptr) {
    auto order = [&](const Json& value) -> absl::Status {
      const std::string text = absl::AsciiStrToLower(
          value.is_string() ? value.get<std::string>() : value.dump());
      if (text != "asc" && text != "desc") {
        return EsStatus(
            absl::StatusCode::kInvalidArgument, "illegal_argument_exception",
            absl::StrCat("Unknown SortOrder [", SpecOf(value), "]"));
      }
      key.set_descending(text == "desc");
      return absl::OkStatus();
    };
    if (options->is_string()) {
      if (absl::Status s = order(*options); !s.ok()) return s;
    } else if (options->is_object()) {
      for (auto it = options->begin(); it != options->end(); ++it) {
        const std::string& name = it.key();
        const Json& v = it.value();
        if (name == "order") {
          if (absl::Status s = order(v); !s.ok()) return s;
        } else if (name == "missing" && (v == "_last" || v == "_first")) {
          key.set_missing_first(v == "_first");
        } else if (name == "missing") {
          return ParsingError(
              "[field_sort] a custom missing value is not supported by "
              "seqsim (use _first or _last)");
        } else if (name == "mode" && (v == "min" || v == "max")) {
          key.set_mode(v == "min" ? 1 : 2);
        } else if (name == "mode") {
          return EsStatus(absl::StatusCode::kInvalidArgument,
                          "illegal_argument_exception",
                          absl::StrCat("Unknown SortMode [", SpecOf(v),
                                       "] (seqsim sorts by min or max)"));
        } else if (name == "unmapped_type" || name == "format" ||
                   name == "numeric_type") {
          // Without mappings every field sorts by the type of its values.
        } else {
          return ParsingError(
              absl::StrCat("[field_sort] unknown field [", name, "]"));
        }
      }
    } else {
      return ParsingError(absl::StrCat("[", field, "] failed to parse field"));
    }
  }
  *out.Add() = std::move(key);
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseQuery(const Json& query, pb::Query& out) {
  return Parse(query, out, 1);
}

absl::Status ParseSort(const Json& sort,
                       google::protobuf::RepeatedPtrField<pb::SortField>& out) {
  if (sort.is_array()) {
    for (const Json& element : sort) {
      if (element.is_array()) {
        return ParsingError("[sort] failed to parse field");
      }
      if (absl::Status s = ParseSort(element, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (sort.is_string())
    return AddSortField(sort.get<std::string>(), nullptr, out);
  if (sort.is_object()) {
    for (auto it = sort.begin(); it != sort.end(); ++it) {
      if (absl::Status s = AddSortField(it.key(), &it.value(), out); !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  return ParsingError("[sort] failed to parse field");
}

absl::Status ParseSortParam(
    const std::string& param,
    google::protobuf::RepeatedPtrField<pb::SortField>& out) {
  for (absl::string_view part : absl::StrSplit(param, ',', absl::SkipEmpty())) {
    const size_t colon = part.rfind(':');
    if (colon == absl::string_view::npos) {
      if (absl::Status s = AddSortField(std::string(part), nullptr, out);
          !s.ok())
        return s;
      continue;
    }
    const Json order = std::string(part.substr(colon + 1));
    if (absl::Status s =
            AddSortField(std::string(part.substr(0, colon)), &order, out);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

}  // namespace seqsim::rest
