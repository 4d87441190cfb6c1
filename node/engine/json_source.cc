#include "node/engine/json_source.h"

#include <utility>

#include "common/es_error.h"
#include "nlohmann/json.hpp"

namespace seqsim {
namespace {

using Json = nlohmann::ordered_json;

absl::Status ParseFailure() {
  return EsStatus(absl::StatusCode::kInvalidArgument,
                  "mapper_parsing_exception", "failed to parse");
}

bool ParseObject(std::string_view text, Json* out) {
  *out = Json::parse(text.begin(), text.end(), /*cb=*/nullptr,
                     /*allow_exceptions=*/false);
  return out->is_object();
}

// Merges `partial` into `target`; returns true if `target` changed.
bool MergeInto(Json& target, const Json& partial) {
  bool changed = false;
  for (auto it = partial.begin(); it != partial.end(); ++it) {
    auto existing = target.find(it.key());
    if (existing == target.end()) {
      target[it.key()] = it.value();
      changed = true;
    } else if (existing->is_object() && it.value().is_object()) {
      changed = MergeInto(*existing, it.value()) || changed;
    } else if (*existing != it.value()) {
      *existing = it.value();
      changed = true;
    }
  }
  return changed;
}

// A strict RFC 8259 validator that allocates nothing: the write path calls it
// on every indexed document, so it must be much cheaper than building a tree.
class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text)
      : p_(text.data()), end_(text.data() + text.size()) {}

  // True if the text is exactly one JSON object (surrounded by optional
  // whitespace).
  bool ScanObjectDocument() {
    SkipWhitespace();
    if (p_ == end_ || *p_ != '{') return false;
    if (!Value(0)) return false;
    SkipWhitespace();
    return p_ == end_;
  }

 private:
  // Elasticsearch 8's nesting limit (Jackson's max nesting depth, 1000
  // objects and arrays), the REST layer's kMaxJsonDepth: a source the REST
  // layer accepts is one the primary accepts.
  static constexpr int kMaxDepth = 1000;

  void SkipWhitespace() {
    while (p_ != end_ &&
           (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t'))
      ++p_;
  }

  bool Consume(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  bool Value(int depth) {
    if (depth > kMaxDepth || p_ == end_) return false;
    switch (*p_) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"':
        return String();
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  bool Object(int depth) {
    ++p_;  // '{'
    SkipWhitespace();
    if (Consume('}')) return true;
    while (true) {
      SkipWhitespace();
      if (p_ == end_ || *p_ != '"' || !String()) return false;
      SkipWhitespace();
      if (!Consume(':')) return false;
      SkipWhitespace();
      if (!Value(depth)) return false;
      SkipWhitespace();
      if (Consume('}')) return true;
      if (!Consume(',')) return false;
    }
  }

  bool Array(int depth) {
    ++p_;  // '['
    SkipWhitespace();
    if (Consume(']')) return true;
    while (true) {
      SkipWhitespace();
      if (!Value(depth)) return false;
      SkipWhitespace();
      if (Consume(']')) return true;
      if (!Consume(',')) return false;
    }
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  static bool IsDigit(char c) { return c >= '0' && c <= '9'; }
  static bool IsHex(char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  }

  bool Digits() {
    if (p_ == end_ || !IsDigit(*p_)) return false;
    while (p_ != end_ && IsDigit(*p_)) ++p_;
    return true;
  }

  bool Number() {
    Consume('-');
    if (p_ == end_) return false;
    if (*p_ == '0') {
      ++p_;
    } else if (!Digits()) {
      return false;
    }
    if (Consume('.') && !Digits()) return false;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!Digits()) return false;
    }
    return true;
  }

  bool String() {
    ++p_;  // '"'
    while (p_ != end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        ++p_;
        if (p_ == end_) return false;
        const char e = *p_++;
        if (e == 'u') {
          for (int i = 0; i < 4; ++i) {
            if (p_ == end_ || !IsHex(*p_)) return false;
            ++p_;
          }
        } else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' &&
                   e != 'n' && e != 'r' && e != 't') {
          return false;
        }
        continue;
      }
      if (c < 0x80) {
        ++p_;
        continue;
      }
      if (!Utf8Sequence()) return false;
    }
    return false;  // unterminated
  }

  // One multi-byte UTF-8 sequence (no overlongs, no surrogates, <= U+10FFFF).
  bool Utf8Sequence() {
    const auto* u = reinterpret_cast<const unsigned char*>(p_);
    const size_t left = static_cast<size_t>(end_ - p_);
    auto cont = [&](size_t i) { return i < left && (u[i] & 0xC0) == 0x80; };
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
      if (!cont(1)) return false;
      p_ += 2;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
      if (!cont(1) || !cont(2)) return false;
      if (u[0] == 0xE0 && u[1] < 0xA0) return false;   // overlong
      if (u[0] == 0xED && u[1] >= 0xA0) return false;  // surrogate
      p_ += 3;
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return false;
      if (u[0] == 0xF0 && u[1] < 0x90) return false;   // overlong
      if (u[0] == 0xF4 && u[1] >= 0x90) return false;  // > U+10FFFF
      p_ += 4;
    } else {
      return false;
    }
    return true;
  }

  const char* p_;
  const char* const end_;
};

}  // namespace

absl::Status ValidateSource(std::string_view source) {
  if (!JsonScanner(source).ScanObjectDocument()) return ParseFailure();
  return absl::OkStatus();
}

absl::StatusOr<bool> MergeSource(std::string* source,
                                 std::string_view partial) {
  Json target;
  Json update;
  if (!ParseObject(*source, &target) || !ParseObject(partial, &update)) {
    return ParseFailure();
  }
  if (!MergeInto(target, update)) return false;
  *source = target.dump();
  return true;
}

}  // namespace seqsim
