#include "node/logic/query.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/es_error.h"
#include "nlohmann/json.hpp"

namespace seqsim::query {
namespace {

using Json = nlohmann::json;

// ---- documents and their fields

// A document under evaluation; its source is parsed on first use (match_all
// and ids over a large shard parse nothing).
class DocView {
 public:
  DocView(const std::string& index, const std::string& id,
          const StoredDoc& stored)
      : index(index), id(id), stored(stored) {}
  const std::string& index;
  const std::string& id;
  const StoredDoc& stored;
  const Json& source() const {
    if (!source_.has_value()) {
      source_ = Json::parse(stored.source, nullptr, false);
      if (source_->is_discarded()) *source_ = Json::object();
    }
    return *source_;
  }

 private:
  mutable std::optional<Json> source_;
};

enum class Kind { kText, kKeyword, kNumber, kBool, kObject };

struct Leaf {
  Kind kind = Kind::kObject;
  const Json* value = nullptr;  // null for metadata values
  std::string text;             // metadata keyword values
  double number = 0;            // metadata numeric values
};

// Appends the values at dotted `path` under `node`: arrays are transparent,
// nulls are no value, "a.b" names key "a.b" as well as key "b" inside "a".
void Collect(const Json& node, absl::string_view path,
             std::vector<const Json*>& out) {
  if (node.is_array()) {
    for (const Json& element : node) Collect(element, path, out);
    return;
  }
  if (path.empty()) {
    if (!node.is_null()) out.push_back(&node);
    return;
  }
  if (!node.is_object()) return;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string& key = it.key();
    if (path == key) {
      Collect(it.value(), "", out);
    } else if (path.size() > key.size() && path[key.size()] == '.' &&
               path.substr(0, key.size()) == key) {
      Collect(it.value(), path.substr(key.size() + 1), out);
    }
  }
}

size_t Utf8Length(const std::string& text) {
  size_t n = 0;
  for (unsigned char c : text) n += (c & 0xC0) != 0x80;
  return n;
}

std::vector<Leaf> FieldValues(const DocView& doc, absl::string_view field) {
  std::vector<Leaf> leaves;
  if (field == "_id" || field == "_index") {
    Leaf leaf;
    leaf.kind = Kind::kKeyword;
    leaf.text = field == "_id" ? doc.id : doc.index;
    leaves.push_back(std::move(leaf));
    return leaves;
  }
  if (field == "_seq_no" || field == "_primary_term" || field == "_version") {
    Leaf leaf;
    leaf.kind = Kind::kNumber;
    leaf.number = static_cast<double>(field == "_seq_no"    ? doc.stored.seq_no
                                      : field == "_version" ? doc.stored.version
                                                            : doc.stored.term);
    leaves.push_back(std::move(leaf));
    return leaves;
  }
  std::vector<const Json*> values;
  Collect(doc.source(), field, values);
  bool keyword = false;
  if (values.empty() && absl::EndsWith(field, ".keyword")) {
    Collect(doc.source(), field.substr(0, field.size() - 8), values);
    keyword = true;
  }
  for (const Json* value : values) {
    Leaf leaf;
    leaf.value = value;
    if (value->is_string()) {
      if (keyword) {
        if (Utf8Length(value->get_ref<const std::string&>()) >
            kKeywordIgnoreAbove)
          continue;
        leaf.kind = Kind::kKeyword;
      } else {
        leaf.kind = Kind::kText;
      }
    } else if (keyword) {
      continue;  // only strings get a .keyword subfield
    } else if (value->is_number()) {
      leaf.kind = Kind::kNumber;
      leaf.number = value->get<double>();
    } else if (value->is_boolean()) {
      leaf.kind = Kind::kBool;
    } else if (!value->is_object() || value->empty()) {
      continue;
    }
    leaves.push_back(std::move(leaf));
  }
  return leaves;
}

const std::string& LeafString(const Leaf& leaf) {
  return leaf.value != nullptr ? leaf.value->get_ref<const std::string&>()
                               : leaf.text;
}

// A query value as the text a string field compares with.
std::string AsString(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

std::optional<double> AsNumber(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    double n;
    if (absl::SimpleAtod(value.get_ref<const std::string&>(), &n)) return n;
  }
  return std::nullopt;
}

std::optional<bool> AsBool(const Json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value == "true") return true;
  if (value == "false") return false;
  return std::nullopt;
}

bool LeafEquals(const Leaf& leaf, const Json& term) {
  switch (leaf.kind) {
    case Kind::kText: {
      const std::string wanted = AsString(term);
      for (const std::string& word : Analyze(LeafString(leaf))) {
        if (word == wanted) return true;
      }
      return false;
    }
    case Kind::kKeyword:
      return LeafString(leaf) == AsString(term);
    case Kind::kNumber: {
      if (leaf.value != nullptr && leaf.value->is_number_integer() &&
          term.is_number_integer()) {
        return leaf.value->get<int64_t>() == term.get<int64_t>();
      }
      std::optional<double> n = AsNumber(term);
      return n.has_value() && *n == leaf.number;
    }
    case Kind::kBool: {
      std::optional<bool> b = AsBool(term);
      return b.has_value() && *b == leaf.value->get<bool>();
    }
    case Kind::kObject:
    default:
      return false;
  }
}

Json ParseScalar(const std::string& json) {
  return Json::parse(json, nullptr, false);
}

bool TermMatches(const DocView& doc, const std::string& field,
                 const Json& term) {
  for (const Leaf& leaf : FieldValues(doc, field)) {
    if (LeafEquals(leaf, term)) return true;
  }
  return false;
}

bool MatchMatches(const DocView& doc, const pb::Query::Match& match) {
  const Json query = ParseScalar(match.query_json());
  if (query.is_discarded()) return false;
  std::vector<Leaf> leaves = FieldValues(doc, match.field());
  std::set<std::string> words;
  for (const Leaf& leaf : leaves) {
    if (leaf.kind == Kind::kText) {
      for (std::string& word : Analyze(LeafString(leaf)))
        words.insert(std::move(word));
    } else if (LeafEquals(leaf, query)) {
      return true;  // a keyword, number or boolean: the whole value
    }
  }
  if (words.empty()) return false;
  std::vector<std::string> wanted = Analyze(AsString(query));
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  if (wanted.empty()) return false;  // zero_terms_query: none
  int found = 0;
  for (const std::string& word : wanted) found += words.count(word) > 0;
  const int clauses = static_cast<int>(wanted.size());
  if (match.operator_and()) return found == clauses;
  int required = 1;
  if (!match.minimum_should_match().empty()) {
    required =
        std::max(1, MinimumShouldMatch(clauses, match.minimum_should_match()));
  }
  return found >= required;
}

// -1, 0, 1 as `a` sorts before, with, after `b` (bytes, as Lucene orders
// terms).
int CompareBytes(absl::string_view a, absl::string_view b) {
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

bool InRange(const Leaf& leaf, const pb::Query::Range& range) {
  struct Bound {
    const std::string* json;
    bool lower;
    bool inclusive;
  };
  const Bound bounds[] = {{&range.gt_json(), true, false},
                          {&range.gte_json(), true, true},
                          {&range.lt_json(), false, false},
                          {&range.lte_json(), false, true}};
  auto check = [&](auto compare) {
    for (const Bound& bound : bounds) {
      if (bound.json->empty()) continue;
      const Json value = ParseScalar(*bound.json);
      if (value.is_discarded()) return false;
      std::optional<int> c = compare(value);  // leaf vs bound
      if (!c.has_value()) return false;
      if (bound.lower ? (*c < 0 || (*c == 0 && !bound.inclusive))
                      : (*c > 0 || (*c == 0 && !bound.inclusive))) {
        return false;
      }
    }
    return true;
  };
  switch (leaf.kind) {
    case Kind::kNumber:
      return check([&](const Json& value) -> std::optional<int> {
        std::optional<double> n = AsNumber(value);
        if (!n.has_value()) return std::nullopt;
        return leaf.number < *n ? -1 : (leaf.number > *n ? 1 : 0);
      });
    case Kind::kKeyword:
      return check([&](const Json& value) -> std::optional<int> {
        return CompareBytes(LeafString(leaf), AsString(value));
      });
    case Kind::kText:
      for (const std::string& word : Analyze(LeafString(leaf))) {
        if (check([&](const Json& value) -> std::optional<int> {
              return CompareBytes(word, AsString(value));
            })) {
          return true;
        }
      }
      return false;
    case Kind::kBool:
    case Kind::kObject:
    default:
      return false;
  }
}

bool Matches(const pb::Query& query, const DocView& doc) {
  switch (query.kind_case()) {
    case pb::Query::kIds: {
      const auto& values = query.ids().values();
      return std::find(values.begin(), values.end(), doc.id) != values.end();
    }
    case pb::Query::kTerm:
      return TermMatches(doc, query.term().field(),
                         ParseScalar(query.term().value_json()));
    case pb::Query::kTerms:
      for (const std::string& value : query.terms().values_json()) {
        if (TermMatches(doc, query.terms().field(), ParseScalar(value)))
          return true;
      }
      return false;
    case pb::Query::kMatch:
      return MatchMatches(doc, query.match());
    case pb::Query::kRange:
      for (const Leaf& leaf : FieldValues(doc, query.range().field())) {
        if (InRange(leaf, query.range())) return true;
      }
      return false;
    case pb::Query::kExists:
      return !FieldValues(doc, query.exists().field()).empty();
    case pb::Query::kBool: {
      const pb::Query::Bool& b = query.bool_();
      for (const pb::Query& clause : b.must()) {
        if (!Matches(clause, doc)) return false;
      }
      for (const pb::Query& clause : b.filter()) {
        if (!Matches(clause, doc)) return false;
      }
      for (const pb::Query& clause : b.must_not()) {
        if (Matches(clause, doc)) return false;
      }
      const int clauses = b.should_size();
      int required = 0;
      if (!b.minimum_should_match().empty()) {
        required = MinimumShouldMatch(clauses, b.minimum_should_match());
      } else if (b.must_size() == 0 && b.filter_size() == 0) {
        required = clauses > 0 ? 1 : 0;
      }
      if (required <= 0) return true;
      int matched = 0;
      for (const pb::Query& clause : b.should()) {
        if (Matches(clause, doc) && ++matched >= required) return true;
      }
      return false;
    }
    case pb::Query::kMatchNone:
      return false;
    case pb::Query::kMatchAll:
    case pb::Query::KIND_NOT_SET:
    default:
      return true;
  }
}

// ---- sorting

absl::Status SortRefused(const std::string& reason) {
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "illegal_argument_exception", reason);
}

absl::StatusOr<pb::SortValue> SortValueOf(const pb::SortField& key,
                                          const DocView& doc, int64_t rank) {
  pb::SortValue out;
  const std::string& field = key.field();
  if (field == "_score") {
    out.set_double_value(1.0);
    return out;
  }
  if (field == "_doc") {
    out.set_long_value(rank);
    return out;
  }
  if (field == "_id") {
    return SortRefused(
        "Fielddata access on the _id field is disallowed, you can re-enable it "
        "by updating the dynamic cluster setting: "
        "indices.id_field_data.enabled");
  }
  if (field == "_seq_no" || field == "_primary_term") {
    out.set_long_value(field == "_seq_no" ? doc.stored.seq_no
                                          : doc.stored.term);
    return out;
  }
  const bool descending =
      key.mode() == 2 || (key.mode() == 0 && key.descending());
  std::optional<pb::SortValue> best;
  auto better = [&](const pb::SortValue& v) {
    if (!best.has_value()) return true;
    int c = 0;
    if (v.has_string_value()) {
      c = CompareBytes(v.string_value(), best->string_value());
    } else {
      const double a = v.has_long_value() ? static_cast<double>(v.long_value())
                                          : v.double_value();
      const double b = best->has_long_value()
                           ? static_cast<double>(best->long_value())
                           : best->double_value();
      c = a < b ? -1 : (a > b ? 1 : 0);
    }
    return descending ? c > 0 : c < 0;
  };
  for (const Leaf& leaf : FieldValues(doc, field)) {
    pb::SortValue v;
    switch (leaf.kind) {
      case Kind::kText:
        return SortRefused(absl::StrCat(
            "Text fields are not optimised for operations that require "
            "per-document field data like aggregations and sorting, so these "
            "operations are disabled by default. Please use a keyword field "
            "instead. Alternatively, set fielddata=true on [",
            field,
            "] in order to load field data by uninverting the inverted index. "
            "Note that this can use significant memory."));
      case Kind::kKeyword:
        v.set_string_value(LeafString(leaf));
        break;
      case Kind::kNumber:
        if (leaf.value == nullptr || leaf.value->is_number_integer()) {
          v.set_long_value(leaf.value == nullptr
                               ? static_cast<int64_t>(leaf.number)
                               : leaf.value->get<int64_t>());
        } else {
          v.set_double_value(leaf.number);
        }
        break;
      case Kind::kBool:
        v.set_long_value(leaf.value->get<bool>() ? 1 : 0);
        break;
      case Kind::kObject:
      default:
        continue;
    }
    if (best.has_value() && v.has_string_value() != best->has_string_value())
      continue;  // a field holding strings and numbers: the first kind wins
    if (better(v)) best = std::move(v);
  }
  if (!best.has_value()) out.set_missing(true);
  return best.has_value() ? *best : out;
}

// -1, 0, 1: a before, with, after b for `key`.
int CompareSortValues(const pb::SortField& key, const pb::SortValue& a,
                      const pb::SortValue& b) {
  if (a.has_missing() || b.has_missing()) {
    if (a.has_missing() && b.has_missing()) return 0;
    const int missing_side = key.missing_first() ? -1 : 1;
    return a.has_missing() ? missing_side : -missing_side;
  }
  int c;
  if (a.has_string_value() || b.has_string_value()) {
    if (a.has_string_value() && b.has_string_value()) {
      c = CompareBytes(a.string_value(), b.string_value());
    } else {
      c = a.has_string_value() ? 1 : -1;  // numbers before strings
    }
  } else if (a.has_long_value() && b.has_long_value()) {
    c = a.long_value() < b.long_value()
            ? -1
            : (a.long_value() > b.long_value() ? 1 : 0);
  } else {
    const double x = a.has_long_value() ? static_cast<double>(a.long_value())
                                        : a.double_value();
    const double y = b.has_long_value() ? static_cast<double>(b.long_value())
                                        : b.double_value();
    c = x < y ? -1 : (x > y ? 1 : 0);
  }
  return key.descending() ? -c : c;
}

// Whether `hit` comes strictly after the request's search_after values
// (equal values on every key do not: Elasticsearch's search_after document
// has the highest doc id).
bool After(const pb::SearchRequest& request, const pb::SearchHit& hit) {
  const auto& sort = request.sort();
  for (int i = 0; i < sort.size() && i < request.search_after_size() &&
                  i < hit.sort_values_size();
       ++i) {
    const int c =
        CompareSortValues(sort[i], hit.sort_values(i), request.search_after(i));
    if (c != 0) return c > 0;
  }
  return false;
}

}  // namespace

std::vector<std::string> Analyze(absl::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto is_letter = [](unsigned char c) {
    return absl::ascii_isalpha(c) || c >= 0x80;
  };
  auto is_digit = [](unsigned char c) { return absl::ascii_isdigit(c); };
  auto is_word = [&](unsigned char c) {
    return is_letter(c) || is_digit(c) || c == '_';
  };
  auto flush = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (is_word(c)) {
      if (word.size() == 255) flush();
      word.push_back(static_cast<char>(absl::ascii_tolower(c)));
      continue;
    }
    if (!word.empty() && i + 1 < text.size()) {
      const unsigned char prev = static_cast<unsigned char>(word.back());
      const unsigned char next = static_cast<unsigned char>(text[i + 1]);
      const bool between_letters =
          is_letter(prev) && is_letter(next) && (c == '\'' || c == '.');
      const bool between_digits = is_digit(prev) && is_digit(next) &&
                                  (c == '.' || c == ',' || c == '\'');
      if ((between_letters || between_digits) && word.size() < 255) {
        word.push_back(static_cast<char>(c));
        continue;
      }
    }
    flush();
  }
  flush();
  return words;
}

int MinimumShouldMatch(int clauses, absl::string_view spec) {
  spec = absl::StripAsciiWhitespace(spec);
  int result;
  if (absl::ConsumeSuffix(&spec, "%")) {
    double percent;
    if (!absl::SimpleAtod(absl::StripAsciiWhitespace(spec), &percent) ||
        !std::isfinite(percent)) {
      return -1;
    }
    // Truncated toward zero as Java's (int) cast; clamped first so that no
    // percentage overflows the cast.
    const double exact =
        std::clamp(clauses * percent / 100.0, -1.0 - clauses, 1.0 + clauses);
    const int calc = static_cast<int>(exact);
    result = calc < 0 ? clauses + calc : calc;
  } else {
    int calc;
    if (!absl::SimpleAtoi(spec, &calc)) return -1;
    result = calc < 0 ? clauses + calc : calc;
  }
  return std::max(0, result);
}

absl::StatusOr<ShardResult> SearchShard(
    const pb::SearchRequest& request, const std::string& index, int shard,
    const std::vector<std::pair<std::string, StoredDoc>>& docs) {
  const auto& sort = request.sort();
  bool needs_rank = false;
  for (const pb::SortField& key : sort) needs_rank |= key.field() == "_doc";
  // _doc: the position in index order (seq_no of the last write).
  std::vector<int64_t> order;
  if (needs_rank) {
    order.reserve(docs.size());
    for (const auto& [id, doc] : docs) order.push_back(doc.seq_no);
    std::sort(order.begin(), order.end());
  }
  ShardResult result;
  // The matches without their sources (copied for the hits kept only), each
  // with its position in `docs`.
  std::vector<std::pair<pb::SearchHit, size_t>> matches;
  for (size_t i = 0; i < docs.size(); ++i) {
    const auto& [id, stored] = docs[i];
    const DocView doc(index, id, stored);
    if (!Matches(request.query(), doc)) continue;
    ++result.total;  // search_after pages through the same total
    pb::SearchHit hit;
    hit.set_index(index);
    hit.set_id(id);
    hit.set_version(stored.version);
    hit.set_seq_no(stored.seq_no);
    hit.set_primary_term(stored.term);
    hit.set_shard(shard);
    int64_t rank = 0;
    if (needs_rank) {
      rank = std::lower_bound(order.begin(), order.end(), stored.seq_no) -
             order.begin();
    }
    hit.set_doc(needs_rank ? rank : stored.seq_no);
    for (const pb::SortField& key : sort) {
      absl::StatusOr<pb::SortValue> value = SortValueOf(key, doc, rank);
      if (!value.ok()) return value.status();
      *hit.add_sort_values() = *std::move(value);
    }
    if (!request.search_after().empty() && !After(request, hit)) continue;
    matches.emplace_back(std::move(hit), i);
  }
  using Match = std::pair<pb::SearchHit, size_t>;
  auto less = [&sort](const Match& a, const Match& b) {
    return HitLess(sort, a.first, b.first);
  };
  const size_t keep = static_cast<size_t>(std::max(0, request.from())) +
                      static_cast<size_t>(std::max(0, request.size()));
  if (keep < matches.size()) {
    std::partial_sort(matches.begin(), matches.begin() + keep, matches.end(),
                      less);
    matches.resize(keep);
  } else {
    std::sort(matches.begin(), matches.end(), less);
  }
  result.hits.reserve(matches.size());
  for (auto& [hit, i] : matches) {
    hit.set_source(docs[i].second.source);
    hit.set_routing(docs[i].second.routing);
    result.hits.push_back(std::move(hit));
  }
  return result;
}

bool HitLess(const google::protobuf::RepeatedPtrField<pb::SortField>& sort,
             const pb::SearchHit& a, const pb::SearchHit& b) {
  for (int i = 0; i < sort.size(); ++i) {
    if (i >= a.sort_values_size() || i >= b.sort_values_size()) break;
    const int c =
        CompareSortValues(sort[i], a.sort_values(i), b.sort_values(i));
    if (c != 0) return c < 0;
  }
  return std::make_tuple(absl::string_view(a.index()), a.shard(), a.doc(),
                         absl::string_view(a.id())) <
         std::make_tuple(absl::string_view(b.index()), b.shard(), b.doc(),
                         absl::string_view(b.id()));
}

}  // namespace seqsim::query
