// Elasticsearch's simple wildcard match (Regex.simpleMatch): `*` matches any
// run of characters, everything else itself. Used for filter_path, _source
// filtering and preference node lists.
#ifndef SEQSIM_COMMON_WILDCARD_H_
#define SEQSIM_COMMON_WILDCARD_H_

#include "absl/strings/string_view.h"

namespace seqsim {

inline bool WildcardMatch(absl::string_view pattern, absl::string_view text) {
  size_t p = 0, t = 0, star = absl::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace seqsim

#endif  // SEQSIM_COMMON_WILDCARD_H_
