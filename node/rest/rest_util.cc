#include "node/rest/rest_util.h"

#include <algorithm>
#include <random>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/es_error.h"
#include "common/index_name.h"
#include "common/wildcard.h"

namespace seqsim::rest {
namespace {

void AddErrorFields(const pb::Error& error, Json& out) {
  out["type"] = error.type();
  out["reason"] = error.reason();
  if (error.type() == "index_not_found_exception" && !error.index().empty()) {
    out["resource.type"] = "index_or_alias";
    out["resource.id"] = error.index();
  }
  // "aliases [a, b] missing" names the aliases as its resource.
  if (error.type() == "aliases_not_found_exception" &&
      absl::StartsWith(error.reason(), "aliases [") &&
      absl::EndsWith(error.reason(), "] missing")) {
    out["resource.type"] = "aliases";
    out["resource.id"] = error.reason().substr(
        9, error.reason().size() - 9 - strlen("] missing"));
  }
  if (!error.index().empty() || !error.index_uuid().empty()) {
    out["index_uuid"] =
        error.index_uuid().empty() ? "_na_" : error.index_uuid();
  }
  if (!error.shard().empty()) out["shard"] = error.shard();
  if (!error.index().empty()) out["index"] = error.index();
}

void Pretty(const Json& value, int depth, std::string& out) {
  const std::string indent(2 * (depth + 1), ' ');
  const std::string closing(2 * depth, ' ');
  if (value.is_object()) {
    if (value.empty()) {
      out += "{ }";
      return;
    }
    out += "{\n";
    bool first = true;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!first) out += ",\n";
      first = false;
      out += indent;
      out +=
          Json(it.key()).dump(-1, ' ', false, Json::error_handler_t::replace);
      out += " : ";
      Pretty(it.value(), depth + 1, out);
    }
    out += "\n" + closing + "}";
  } else if (value.is_array()) {
    if (value.empty()) {
      out += "[ ]";
      return;
    }
    out += "[\n";
    bool first = true;
    for (const Json& element : value) {
      if (!first) out += ",\n";
      first = false;
      out += indent;
      Pretty(element, depth + 1, out);
    }
    out += "\n" + closing + "]";
  } else {
    out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

using Path = std::vector<std::string>;

std::optional<Json> Filter(const Json& value, const std::vector<Path>& paths) {
  for (const Path& path : paths) {
    if (path.empty()) return value;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& element : value) {
      if (std::optional<Json> kept = Filter(element, paths)) {
        out.push_back(std::move(*kept));
      }
    }
    if (out.empty()) return std::nullopt;
    return out;
  }
  if (!value.is_object()) return std::nullopt;
  Json out = Json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::vector<Path> next;
    for (const Path& path : paths) {
      if (path[0] == "**") {
        next.push_back(path);  // `**` keeps matching deeper
        if (path.size() == 1) {
          next.push_back(Path());
        } else if (WildcardMatch(path[1], it.key())) {
          next.push_back(Path(path.begin() + 2, path.end()));
        }
      } else if (WildcardMatch(path[0], it.key())) {
        next.push_back(Path(path.begin() + 1, path.end()));
      }
    }
    if (next.empty()) continue;
    if (std::optional<Json> kept = Filter(it.value(), next)) {
      out[it.key()] = std::move(*kept);
    }
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// Removes from `value` every field a path of `paths` names entirely (a path
// that ends there); arrays are transparent. Objects emptied this way stay, as
// `{}`.
void Exclude(Json& value, const std::vector<Path>& paths) {
  if (value.is_array()) {
    for (Json& element : value) Exclude(element, paths);
    return;
  }
  if (!value.is_object()) return;
  std::vector<std::string> dropped;
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::vector<Path> next;
    bool drop = false;
    for (const Path& path : paths) {
      if (path.empty()) continue;
      if (path[0] == "**") {
        next.push_back(path);
        if (path.size() == 1) {
          drop = true;
        } else if (WildcardMatch(path[1], it.key())) {
          if (path.size() == 2) drop = true;
          next.push_back(Path(path.begin() + 2, path.end()));
        }
      } else if (WildcardMatch(path[0], it.key())) {
        if (path.size() == 1) drop = true;
        next.push_back(Path(path.begin() + 1, path.end()));
      }
    }
    if (drop) {
      dropped.push_back(it.key());
    } else if (!next.empty()) {
      Exclude(it.value(), next);
    }
  }
  for (const std::string& key : dropped) value.erase(key);
}

// RFC 7230 `token`: the characters a media type and subtype are made of.
bool IsToken(absl::string_view text) {
  constexpr absl::string_view kSymbols = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           absl::StrContains(kSymbols, c);
  });
}

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // Length and the valid range of the second byte (RFC 3629 table 3-7):
    // no overlong forms, no surrogates, nothing above U+10FFFF.
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    }
    bool ok = len > 0 && i + len <= text.size();
    for (size_t k = 1; ok && k < len; ++k) {
      const unsigned char b = static_cast<unsigned char>(text[i + k]);
      ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    }
    if (ok) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      ++i;
    }
  }
  return out;
}

pb::Error MakeError(int status, const std::string& type,
                    const std::string& reason) {
  pb::Error error;
  error.set_status(status);
  error.set_type(type);
  error.set_reason(reason);
  return error;
}

Json ErrorBody(const pb::Error& error) {
  Json cause = Json::object();
  AddErrorFields(error, cause);
  Json inner = Json::object();
  inner["root_cause"] = Json::array({cause});
  AddErrorFields(error, inner);
  Json body = Json::object();
  body["error"] = std::move(inner);
  body["status"] = error.status() == 0 ? 500 : error.status();
  return body;
}

std::string EsPretty(const Json& value) {
  std::string out;
  Pretty(value, 0, out);
  out += "\n";
  return out;
}

Json FilterPath(const Json& value, const std::string& filter_path) {
  std::vector<Path> includes, excludes;
  for (absl::string_view raw : absl::StrSplit(filter_path, ',')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(raw);
    if (trimmed.empty() || trimmed == "-") continue;
    if (trimmed[0] == '-') {
      excludes.push_back(absl::StrSplit(trimmed.substr(1), '.'));
    } else {
      includes.push_back(absl::StrSplit(trimmed, '.'));
    }
  }
  Json out = value;
  if (!includes.empty()) {
    std::optional<Json> kept = Filter(value, includes);
    out = kept.has_value() ? *std::move(kept) : Json::object();
  }
  if (!excludes.empty()) Exclude(out, excludes);
  return out;
}

bool FilterPathReachesInto(const std::string& filter_path,
                           std::string_view field) {
  for (absl::string_view raw : absl::StrSplit(filter_path, ',')) {
    absl::string_view trimmed = absl::StripAsciiWhitespace(raw);
    if (!trimmed.empty() && trimmed[0] == '-') trimmed.remove_prefix(1);
    const std::vector<absl::string_view> parts = absl::StrSplit(trimmed, '.');
    for (size_t i = 0; i < parts.size(); ++i) {
      if (parts[i] == "**") return true;
      if (i + 1 < parts.size() &&
          WildcardMatch(parts[i],
                        absl::string_view(field.data(), field.size()))) {
        return true;
      }
    }
  }
  return false;
}

std::optional<std::string> InvalidIndexNameReason(const std::string& name) {
  return seqsim::InvalidIndexNameReason(name);
}

std::optional<pb::Error> ValidateIndexName(const std::string& name) {
  std::optional<std::string> reason = InvalidIndexNameReason(name);
  if (!reason.has_value()) return std::nullopt;
  pb::Error error = MakeError(400, "invalid_index_name_exception", *reason);
  error.set_index(name);
  error.set_index_uuid("_na_");
  return error;
}

absl::StatusOr<int64_t> ParseLong(const std::string& key,
                                  const std::string& value) {
  int64_t parsed = 0;
  if (value.empty() || value[0] == ' ' || !absl::SimpleAtoi(value, &parsed)) {
    return IllegalArgument(absl::StrCat("Failed to parse long parameter [", key,
                                        "] with value [", value, "]"));
  }
  return parsed;
}

absl::StatusOr<int32_t> ParseInt(const std::string& key,
                                 const std::string& value) {
  int32_t parsed = 0;
  if (value.empty() || value[0] == ' ' || !absl::SimpleAtoi(value, &parsed)) {
    return IllegalArgument(absl::StrCat("Failed to parse int parameter [", key,
                                        "] with value [", value, "]"));
  }
  return parsed;
}

absl::StatusOr<bool> ParseBool(const std::string& key,
                               const std::string& value) {
  (void)key;
  if (value.empty() || value == "true") return true;
  if (value == "false") return false;
  return IllegalArgument(
      absl::StrCat("Failed to parse value [", value,
                   "] as only [true] or [false] are allowed."));
}

absl::StatusOr<absl::Duration> ParseTimeValue(const std::string& key,
                                              const std::string& value) {
  if (value == "-1") return absl::InfiniteDuration();
  if (value == "0") return absl::ZeroDuration();
  struct Unit {
    const char* suffix;
    absl::Duration scale;
  };
  // Longest suffixes first so "ms" is not read as "s".
  static const Unit kUnits[] = {
      {"nanos", absl::Nanoseconds(1)}, {"micros", absl::Microseconds(1)},
      {"ms", absl::Milliseconds(1)},   {"s", absl::Seconds(1)},
      {"m", absl::Minutes(1)},         {"h", absl::Hours(1)},
      {"d", absl::Hours(24)},
  };
  for (const Unit& unit : kUnits) {
    if (!absl::EndsWith(value, unit.suffix)) continue;
    std::string number = value.substr(0, value.size() - strlen(unit.suffix));
    int64_t amount = 0;
    if (!number.empty() && absl::SimpleAtoi(number, &amount) && amount >= 0) {
      return amount * unit.scale;
    }
    break;
  }
  return IllegalArgument(
      absl::StrCat("failed to parse setting [", key, "] with value [", value,
                   "] as a time value: unit is missing or unrecognized"));
}

bool IsSupportedBodyContentType(std::string_view value) {
  const std::string lower =
      absl::AsciiStrToLower(absl::string_view(value.data(), value.size()));
  // A list of media types names no single one (Elasticsearch parses none).
  if (absl::StrContains(lower, ',')) return false;
  const std::vector<absl::string_view> parts = absl::StrSplit(lower, ';');
  const std::vector<absl::string_view> halves = absl::StrSplit(parts[0], '/');
  if (halves.size() != 2) return false;
  const absl::string_view type = absl::StripAsciiWhitespace(halves[0]);
  const absl::string_view subtype = absl::StripAsciiWhitespace(halves[1]);
  if (!IsToken(type) || !IsToken(subtype)) return false;
  std::optional<absl::string_view> compatible_with;
  for (size_t i = 1; i < parts.size(); ++i) {
    const absl::string_view parameter = absl::StripAsciiWhitespace(parts[i]);
    if (parameter.empty()) continue;
    // name=value, no space around the '='.
    const std::vector<absl::string_view> name_value =
        absl::StrSplit(parameter, '=');
    if (name_value.size() != 2 || name_value[0].empty() ||
        name_value[1].empty() || absl::ascii_isspace(name_value[0].back()) ||
        absl::ascii_isspace(name_value[1].front())) {
      return false;
    }
    if (name_value[0] == "compatible-with") compatible_with = name_value[1];
  }
  const std::string media_type = absl::StrCat(type, "/", subtype);
  if (media_type == "application/json" ||
      media_type == "application/x-ndjson" || media_type == "application/*") {
    return true;
  }
  if (media_type == "application/vnd.elasticsearch+json" ||
      media_type == "application/vnd.elasticsearch+x-ndjson") {
    return !compatible_with.has_value() ||
           std::all_of(
               compatible_with->begin(), compatible_with->end(), [](char c) {
                 return absl::ascii_isdigit(static_cast<unsigned char>(c));
               });
  }
  return false;
}

std::optional<std::string> RefusedContentTypeMessage(
    const std::vector<std::string>& content_types) {
  if (content_types.empty()) return "Content-Type header is missing";
  if (content_types.size() == 1 &&
      IsSupportedBodyContentType(content_types[0])) {
    return std::nullopt;
  }
  return absl::StrCat("Content-Type header [",
                      absl::StrJoin(content_types, ","), "] is not supported");
}

std::string GenerateId() {
  thread_local std::mt19937_64 generator([] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }());
  std::string bytes(15, '\0');
  for (size_t i = 0; i < bytes.size(); i += 5) {
    uint64_t word = generator();
    for (size_t j = 0; j < 5; ++j)
      bytes[i + j] = static_cast<char>(word >> (8 * j));
  }
  std::string id;
  absl::WebSafeBase64Escape(bytes, &id);
  return id;
}

absl::Status CheckJsonDepth(std::string_view text) {
  int depth = 0;
  int line = 1;
  size_t line_start = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character never ends the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '\n':
        ++line;
        line_start = i + 1;
        break;
      case '{':
      case '[':
        if (++depth > kMaxJsonDepth) {
          return EsStatus(
              absl::StatusCode::kInvalidArgument, "x_content_parse_exception",
              absl::StrCat(
                  "[", line, ":", i - line_start + 1,
                  "] Document nesting depth (", depth,
                  ") exceeds the maximum allowed (", kMaxJsonDepth,
                  ", from `StreamReadConstraints.getMaxNestingDepth()`)"));
        }
        break;
      case '}':
      case ']':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return absl::OkStatus();
}

namespace {

// Copies the JSON string token starting at text[*i] (a quote) verbatim.
void CopyString(std::string_view text, size_t* i, std::string& out) {
  const size_t start = *i;
  size_t k = start + 1;
  while (k < text.size() && text[k] != '"') k += text[k] == '\\' ? 2 : 1;
  k = std::min(k + 1, text.size());
  out.append(text.substr(start, k - start));
  *i = k;
}

void SkipSpace(std::string_view text, size_t* i) {
  while (*i < text.size() && (text[*i] == ' ' || text[*i] == '\t' ||
                              text[*i] == '\n' || text[*i] == '\r')) {
    ++*i;
  }
}

// One JSON value of `text` at *i, pretty-printed as Pretty() prints a Json,
// its scalars copied byte for byte.
void PrettyRaw(std::string_view text, size_t* i, int depth, std::string& out) {
  SkipSpace(text, i);
  if (*i >= text.size()) return;
  const char c = text[*i];
  if (c == '{' || c == '[') {
    const char close = c == '{' ? '}' : ']';
    ++*i;
    SkipSpace(text, i);
    if (*i < text.size() && text[*i] == close) {
      ++*i;
      out += c == '{' ? "{ }" : "[ ]";
      return;
    }
    const std::string indent(2 * (depth + 1), ' ');
    out += c;
    out += '\n';
    bool first = true;
    while (*i < text.size()) {
      SkipSpace(text, i);
      if (*i >= text.size()) break;
      if (text[*i] == close) {
        ++*i;
        break;
      }
      if (text[*i] == ',') {
        ++*i;
        continue;
      }
      if (!first) out += ",\n";
      first = false;
      out += indent;
      if (c == '{') {
        CopyString(text, i, out);
        SkipSpace(text, i);
        if (*i < text.size() && text[*i] == ':') ++*i;
        out += " : ";
      }
      PrettyRaw(text, i, depth + 1, out);
    }
    out += '\n';
    out += std::string(2 * depth, ' ');
    out += close;
    return;
  }
  if (c == '"') {
    CopyString(text, i, out);
    return;
  }
  const size_t start = *i;
  while (*i < text.size() && !absl::StrContains(",]} \t\r\n", text[*i])) ++*i;
  out.append(text.substr(start, *i - start));
}

// Whether some extension of `text` matches `pattern` (`*` = any run).
bool GlobPrefix(std::string_view pattern, std::string_view text) {
  std::vector<bool> at(pattern.size() + 1, false);
  auto close = [&](std::vector<bool>& states) {
    for (size_t p = 0; p < pattern.size(); ++p) {
      if (states[p] && pattern[p] == '*') states[p + 1] = true;
    }
  };
  at[0] = true;
  close(at);
  for (char c : text) {
    std::vector<bool> next(pattern.size() + 1, false);
    bool any = false;
    for (size_t p = 0; p < pattern.size(); ++p) {
      if (!at[p]) continue;
      if (pattern[p] == '*') {
        next[p] = any = true;
      } else if (pattern[p] == c) {
        next[p + 1] = any = true;
      }
    }
    if (!any) return false;
    close(next);
    at = std::move(next);
  }
  return true;
}

struct SourceFilterSpec {
  const std::vector<std::string>& includes;
  const std::vector<std::string>& excludes;
  bool Excluded(const std::string& path) const {
    for (const std::string& pattern : excludes) {
      if (WildcardMatch(pattern, path)) return true;
    }
    return false;
  }
  bool Included(const std::string& path) const {
    for (const std::string& pattern : includes) {
      if (WildcardMatch(pattern, path)) return true;
    }
    return false;
  }
  bool MayIncludeBelow(const std::string& path) const {
    for (const std::string& pattern : includes) {
      if (GlobPrefix(pattern, path + ".")) return true;
    }
    return false;
  }
};

// `value` at `path` filtered; nullopt when nothing of it is kept.
std::optional<Json> FilterSourceValue(const Json& value,
                                      const std::string& path, bool included,
                                      const SourceFilterSpec& spec) {
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      const std::string child =
          path.empty() ? it.key() : absl::StrCat(path, ".", it.key());
      if (spec.Excluded(child)) continue;
      const bool child_included = included || spec.Included(child);
      if (!child_included && !spec.MayIncludeBelow(child)) continue;
      std::optional<Json> kept =
          FilterSourceValue(it.value(), child, child_included, spec);
      if (kept.has_value()) out[it.key()] = std::move(*kept);
    }
    if (out.empty() && !included) return std::nullopt;
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& element : value) {
      std::optional<Json> kept =
          FilterSourceValue(element, path, included, spec);
      if (kept.has_value()) out.push_back(std::move(*kept));
    }
    if (out.empty() && !included) return std::nullopt;
    return out;
  }
  if (!included) return std::nullopt;
  return value;
}

}  // namespace

std::string PrettyRawJson(std::string_view json, int depth) {
  std::string out;
  size_t i = 0;
  PrettyRaw(json, &i, depth, out);
  return out;
}

Json FilterSource(const Json& source, const std::vector<std::string>& includes,
                  const std::vector<std::string>& excludes) {
  SourceFilterSpec spec{includes, excludes};
  std::optional<Json> kept =
      FilterSourceValue(source, "", includes.empty(), spec);
  return kept.has_value() ? *std::move(kept) : Json::object();
}

std::string ByteSizeString(int64_t bytes) {
  static const struct {
    int64_t size;
    const char* suffix;
  } kUnits[] = {{int64_t{1} << 50, "pb"},
                {int64_t{1} << 40, "tb"},
                {int64_t{1} << 30, "gb"},
                {int64_t{1} << 20, "mb"},
                {int64_t{1} << 10, "kb"}};
  if (bytes < 0) bytes = 0;
  for (const auto& unit : kUnits) {
    if (bytes < unit.size) continue;
    // Elasticsearch keeps one decimal, truncated, and drops a ".0".
    const int64_t whole = bytes / unit.size;
    const int64_t tenth = static_cast<int64_t>(
        (static_cast<__int128>(bytes % unit.size) * 10) / unit.size);
    return tenth == 0 ? absl::StrCat(whole, unit.suffix)
                      : absl::StrCat(whole, ".", tenth, unit.suffix);
  }
  return absl::StrCat(bytes, "b");
}

std::optional<int64_t> ByteUnitSize(std::string_view unit) {
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"b", 1},
      {"k", int64_t{1} << 10},
      {"kb", int64_t{1} << 10},
      {"m", int64_t{1} << 20},
      {"mb", int64_t{1} << 20},
      {"g", int64_t{1} << 30},
      {"gb", int64_t{1} << 30},
      {"t", int64_t{1} << 40},
      {"tb", int64_t{1} << 40},
      {"p", int64_t{1} << 50},
      {"pb", int64_t{1} << 50}};
  const std::string lower =
      absl::AsciiStrToLower(absl::string_view(unit.data(), unit.size()));
  for (const auto& [name, size] : kUnits) {
    if (lower == name) return size;
  }
  return std::nullopt;
}

float LevenshteinSimilarity(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return a.size() == b.size() ? 1.0f : 0.0f;
  std::vector<size_t> previous(a.size() + 1), current(a.size() + 1);
  for (size_t i = 0; i <= a.size(); ++i) previous[i] = i;
  for (size_t j = 1; j <= b.size(); ++j) {
    current[0] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      current[i] = std::min(
          {current[i - 1] + 1, previous[i] + 1, previous[i - 1] + cost});
    }
    std::swap(previous, current);
  }
  return 1.0f - static_cast<float>(previous[a.size()]) /
                    static_cast<float>(std::max(a.size(), b.size()));
}

std::string DidYouMean(std::string_view unknown,
                       const std::vector<std::string>& candidates) {
  std::vector<std::pair<float, std::string>> scored;
  for (const std::string& candidate : candidates) {
    const float similarity = LevenshteinSimilarity(unknown, candidate);
    if (similarity > 0.5f) scored.emplace_back(similarity, candidate);
  }
  if (scored.empty()) return "";
  std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first > b.first;
    return a.second < b.second;
  });
  if (scored.size() == 1) {
    return absl::StrCat(" did you mean [", scored[0].second, "]?");
  }
  std::vector<std::string> names;
  for (const auto& entry : scored) names.push_back(entry.second);
  return absl::StrCat(" did you mean any of [", absl::StrJoin(names, ", "),
                      "]?");
}

}  // namespace seqsim::rest
