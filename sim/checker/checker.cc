#include "sim/checker/checker.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "sim/world/rng.h"

namespace seqsim::sim {
namespace {

constexpr int64_t kForever = std::numeric_limits<int64_t>::max();

// One operation of one key: invoked at `call`, completed at `ret` (kForever if
// unknown).
struct Operation {
  int64_t process = 0;
  Fn f = Fn::kRead;
  int64_t value = kNil;     // write/cas: the new value; read: the value read
  int64_t expected = kNil;  // cas
  // A definite answer that changed nothing but says what the document was
  // (see Outcome in history.h).
  Outcome outcome = Outcome::kNone;
  int64_t call = 0;
  int64_t ret = kForever;
  int64_t call_order =
      0;  // position in the history, to order events with equal times
  int64_t ret_order = 0;
};

std::string ValueText(int64_t v) { return v == kNil ? "nil" : absl::StrCat(v); }

std::string Describe(const Operation& op) {
  std::string what;
  switch (op.f) {
    case Fn::kRead:
      what = absl::StrCat("read -> ", ValueText(op.value));
      break;
    case Fn::kWrite:
      what = absl::StrCat("write ", ValueText(op.value));
      break;
    case Fn::kCas:
      what = absl::StrCat("cas ", ValueText(op.expected), " -> ",
                          ValueText(op.value));
      break;
    case Fn::kCreate:
      what = absl::StrCat("create ", ValueText(op.value));
      break;
    case Fn::kUpdate:
      what = absl::StrCat("update ", ValueText(op.value));
      break;
    case Fn::kDelete:
      what = "delete";
      break;
  }
  switch (op.outcome) {
    case Outcome::kNone:
      break;
    case Outcome::kConflict:
      absl::StrAppend(&what, " -> 409 conflict (claims ",
                      op.f == Fn::kCas ? absl::StrCat("the register was not ",
                                                      ValueText(op.expected))
                                       : std::string("the document existed"),
                      ")");
      break;
    case Outcome::kNotFound:
      absl::StrAppend(&what, " -> not_found (claims the document was absent)");
      break;
    case Outcome::kNoop:
      absl::StrAppend(&what, " -> noop (claims the register held ",
                      ValueText(op.value), ")");
      break;
  }
  return absl::StrCat(
      "process ", op.process, " ", what, " [", op.call, ", ",
      op.ret == kForever ? std::string("?") : absl::StrCat(op.ret), "]");
}

// The register model (kNil = no document). Returns false if `op` cannot
// happen in `state`. A definite answer that changed nothing is a read of the
// document: it happens only in a state where that answer is right (a cas
// conflict where the register is not at the expected value, a create conflict
// where the document exists, a noop where it holds the update's value, a
// not_found where it is absent).
bool Step(int64_t state, const Operation& op, int64_t* next) {
  *next = state;
  switch (op.f) {
    case Fn::kRead:
      return op.value == state;
    case Fn::kWrite:
      *next = op.value;
      return true;
    case Fn::kCas:
      if (op.outcome == Outcome::kConflict) return state != op.expected;
      if (state != op.expected) return false;
      *next = op.value;
      return true;
    case Fn::kCreate:
      if (op.outcome == Outcome::kConflict) return state != kNil;
      if (state != kNil) return false;
      *next = op.value;
      return true;
    case Fn::kUpdate:
      if (op.outcome == Outcome::kNotFound) return state == kNil;
      if (op.outcome == Outcome::kNoop) return state == op.value;
      // "updated": the document existed and the merge changed it.
      if (state == kNil || state == op.value) return false;
      *next = op.value;
      return true;
    case Fn::kDelete:
      if (op.outcome == Outcome::kNotFound) return state == kNil;
      // "deleted": the document existed.
      if (state == kNil) return false;
      *next = kNil;
      return true;
  }
  return false;
}

// True if `op`'s answer claims the register was NOT at some value (so an
// indeterminate write of a value nobody observed may be what made it true).
bool ClaimsInequality(const Operation& op) {
  if (op.ret == kForever) return false;
  switch (op.f) {
    case Fn::kCas:
    case Fn::kCreate:
      return op.outcome == Outcome::kConflict;
    case Fn::kUpdate:
    case Fn::kDelete:
      return op.outcome == Outcome::kNone;
    default:
      return false;
  }
}

// The memo key: the set of linearized operations (stored as the count of
// leading all-ones words and the words after it, trailing zero words cut) and
// the register state.
struct CacheKey {
  uint64_t hash;
  int64_t state;
  uint32_t lead;
  std::vector<uint64_t> rest;
  bool operator==(const CacheKey& o) const {
    return hash == o.hash && state == o.state && lead == o.lead &&
           rest == o.rest;
  }
  template <typename H>
  friend H AbslHashValue(H h, const CacheKey& k) {
    return H::combine(std::move(h), k.hash);
  }
};

class KeyChecker {
 public:
  KeyChecker(std::vector<Operation> ops,
             std::chrono::steady_clock::time_point deadline)
      : ops_(std::move(ops)), deadline_(deadline) {}

  // kLinearizable, kNotLinearizable (explanation filled) or kUnknown
  // (deadline).
  Verdict Run(std::string* explanation);

 private:
  struct Entry {
    bool is_call;
    int op;
    int match;  // call: index of its return entry
    int prev;
    int next;
  };
  void Lift(int call) {
    Entry& c = entries_[call];
    entries_[c.prev].next = c.next;
    if (c.next >= 0) entries_[c.next].prev = c.prev;
    Entry& r = entries_[c.match];
    entries_[r.prev].next = r.next;
    if (r.next >= 0) entries_[r.next].prev = r.prev;
  }
  void Unlift(int call) {
    Entry& c = entries_[call];
    Entry& r = entries_[c.match];
    entries_[r.prev].next = c.match;
    if (r.next >= 0) entries_[r.next].prev = c.match;
    entries_[c.prev].next = call;
    if (c.next >= 0) entries_[c.next].prev = call;
  }
  CacheKey MakeKey(int64_t state) const {
    CacheKey k;
    k.hash = zobrist_ ^ (static_cast<uint64_t>(state) * 0x9e3779b97f4a7c15ULL);
    k.state = state;
    size_t lead = 0;
    while (lead < bits_.size() && bits_[lead] == ~0ULL) ++lead;
    size_t end = bits_.size();
    while (end > lead && bits_[end - 1] == 0) --end;
    k.lead = static_cast<uint32_t>(lead);
    k.rest.assign(bits_.begin() + lead, bits_.begin() + end);
    return k;
  }

  std::vector<Operation> ops_;
  std::chrono::steady_clock::time_point deadline_;
  std::vector<Entry> entries_;
  std::vector<uint64_t> bits_;
  std::vector<uint64_t> op_hash_;
  uint64_t zobrist_ = 0;
};

Verdict KeyChecker::Run(std::string* explanation) {
  const int n = static_cast<int>(ops_.size());
  if (n == 0) return Verdict::kLinearizable;
  // Events: (time, order, is_return, op). Calls and returns in history order.
  struct Ev {
    int64_t time;
    int64_t order;
    bool is_return;
    int op;
  };
  std::vector<Ev> evs;
  evs.reserve(2 * n);
  for (int i = 0; i < n; ++i) {
    evs.push_back({ops_[i].call, ops_[i].call_order, false, i});
    evs.push_back({ops_[i].ret, ops_[i].ret_order, true, i});
  }
  std::sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) {
    if (a.time != b.time) return a.time < b.time;
    return a.order < b.order;
  });
  // entries_[0] is the head sentinel.
  entries_.assign(1, Entry{false, -1, -1, -1, -1});
  std::vector<int> call_entry(n, -1);
  for (const Ev& ev : evs) {
    const int index = static_cast<int>(entries_.size());
    entries_.push_back(Entry{!ev.is_return, ev.op, -1, index - 1, -1});
    entries_[index - 1].next = index;
    if (ev.is_return) {
      entries_[call_entry[ev.op]].match = index;
    } else {
      call_entry[ev.op] = index;
    }
  }
  bits_.assign((n + 63) / 64, 0);
  Rng rng(0x5eed);
  op_hash_.resize(n);
  for (auto& h : op_hash_) h = rng.Next();

  absl::flat_hash_set<CacheKey> cache;
  struct Frame {
    int entry;
    int64_t state;
    bool effect;  // false: an indeterminate operation linearized as having no
                  // effect
  };
  std::vector<Frame> calls;
  int64_t state = kNil;
  int entry = entries_[0].next;
  // Linearizes the call at `call_entry` leading to `next_state` unless that
  // configuration was explored before.
  auto try_linearize = [&](int call_entry, int64_t next_state, bool effect) {
    const int op = entries_[call_entry].op;
    bits_[op / 64] |= 1ULL << (op % 64);
    zobrist_ ^= op_hash_[op];
    if (cache.insert(MakeKey(next_state)).second) {
      calls.push_back(Frame{call_entry, state, effect});
      state = next_state;
      Lift(call_entry);
      entry = entries_[0].next;
      return true;
    }
    bits_[op / 64] &= ~(1ULL << (op % 64));
    zobrist_ ^= op_hash_[op];
    return false;
  };
  // The deepest linearization seen, for the explanation.
  std::vector<int> best;
  size_t best_valid = 0;
  int best_blocked = -1;
  int64_t best_state = kNil;

  uint64_t steps = 0;
  while (entries_[0].next >= 0) {
    if ((++steps & 1023) == 0 && std::chrono::steady_clock::now() > deadline_) {
      return Verdict::kUnknown;
    }
    const Entry& e = entries_[entry];
    if (e.is_call) {
      int64_t next_state;
      if (Step(state, ops_[e.op], &next_state) &&
          try_linearize(entry, next_state, true)) {
        continue;
      }
      // An indeterminate operation may also never take effect.
      if (ops_[e.op].ret == kForever && try_linearize(entry, state, false))
        continue;
      entry = e.next;
    } else {
      // A return: the operation must have been linearized before this point.
      // Backtrack.
      if (best_blocked < 0 || calls.size() > best.size()) {
        // `best` still matches the stack below `best_valid`: copy only what
        // changed.
        best.resize(std::min(best_valid, best.size()));
        for (size_t i = best.size(); i < calls.size(); ++i) {
          best.push_back(entries_[calls[i].entry].op);
        }
        best_valid = calls.size();
        best_blocked = e.op;
        best_state = state;
      }
      if (calls.empty()) break;
      const Frame f = calls.back();
      calls.pop_back();
      best_valid = std::min(best_valid, calls.size());
      const int op = entries_[f.entry].op;
      state = f.state;
      bits_[op / 64] &= ~(1ULL << (op % 64));
      zobrist_ ^= op_hash_[op];
      Unlift(f.entry);
      if (f.effect && ops_[op].ret == kForever &&
          try_linearize(f.entry, state, false)) {
        continue;
      }
      entry = entries_[f.entry].next;
    }
  }
  if (entries_[0].next < 0) return Verdict::kLinearizable;

  std::string text = absl::StrCat("longest linearizable prefix: ", best.size(),
                                  " of ", n, " operations");
  const size_t from = best.size() > 8 ? best.size() - 8 : 0;
  if (from > 0)
    absl::StrAppend(&text, "\n  ... (", from, " earlier operations)");
  for (size_t i = from; i < best.size(); ++i) {
    absl::StrAppend(&text, "\n  ", Describe(ops_[best[i]]));
  }
  absl::StrAppend(&text, "\nthen the register holds ", ValueText(best_state));
  if (best_blocked >= 0) {
    absl::StrAppend(
        &text, ", and this operation completed but cannot be linearized:\n  ",
        Describe(ops_[best_blocked]));
  }
  // The operations concurrent with the blocked one that were still
  // unlinearized.
  if (best_blocked >= 0) {
    const Operation& b = ops_[best_blocked];
    std::vector<bool> in_best(n, false);
    for (int op : best) in_best[op] = true;
    int shown = 0;
    for (int i = 0; i < n && shown < 6; ++i) {
      if (i == best_blocked || in_best[i]) continue;
      if (ops_[i].call <= b.ret && ops_[i].ret >= b.call) {
        if (shown++ == 0)
          absl::StrAppend(&text, "\nconcurrent operations not linearized:");
        absl::StrAppend(&text, "\n  ", Describe(ops_[i]));
      }
    }
  }
  *explanation = text;
  return Verdict::kNotLinearizable;
}

}  // namespace

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kLinearizable:
      return "linearizable";
    case Verdict::kNotLinearizable:
      return "not linearizable";
    case Verdict::kUnknown:
      return "unknown";
  }
  return "?";
}

CheckResult CheckLinearizable(const std::vector<HistoryEvent>& history,
                              absl::Duration time_limit) {
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::nanoseconds(absl::ToInt64Nanoseconds(time_limit));
  std::map<std::string, std::vector<Operation>> by_key;
  std::map<int64_t, std::pair<std::string, size_t>>
      open;  // process -> (key, index)
  CheckResult result;
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryEvent& e = history[i];
    const int64_t order = static_cast<int64_t>(i);
    if (e.type == EventType::kInvoke) {
      Operation op;
      op.process = e.process;
      op.f = e.f;
      op.value = e.f == Fn::kRead ? kNil : e.value;
      op.expected = e.f == Fn::kCas ? e.expected : kNil;
      if (e.f == Fn::kDelete) op.value = kNil;
      op.call = e.time;
      op.call_order = order;
      op.ret_order = std::numeric_limits<int64_t>::max();
      auto& ops = by_key[e.key];
      open[e.process] = {e.key, ops.size()};
      ops.push_back(op);
      continue;
    }
    auto it = open.find(e.process);
    if (it == open.end()) continue;  // a completion without an invoke: ignored
    Operation& op = by_key[it->second.first][it->second.second];
    open.erase(it);
    switch (e.type) {
      case EventType::kOk:
        op.ret = e.time;
        op.ret_order = order;
        if (op.f == Fn::kRead) op.value = e.value;
        op.outcome = e.outcome;
        break;
      case EventType::kFail:
        if (e.outcome == Outcome::kConflict ||
            e.outcome == Outcome::kNotFound) {
          // A definite answer about the document: checked like a read.
          op.outcome = e.outcome;
          op.ret = e.time;
          op.ret_order = order;
        } else {
          op.process = -1;  // marks: had no effect, dropped below
        }
        break;
      case EventType::kInfo:
        if (op.f == Fn::kRead)
          op.process = -1;  // a read that may not have happened: no info
        break;
      case EventType::kInvoke:
        break;
    }
  }
  // Reads that never completed tell nothing either.
  for (const auto& [process, where] : open) {
    Operation& op = by_key[where.first][where.second];
    if (op.f == Fn::kRead) op.process = -1;
  }
  for (auto& [key, all] : by_key) {
    // An indeterminate write whose value nobody observed (no read returned it,
    // no cas expected it, no noop claimed it) may as well never have happened:
    // dropping it keeps every linearization valid and keeps the search small
    // when many operations time out. Unless an answer that claims the register
    // was NOT at some value (a cas or create conflict, an update, a delete)
    // completed after the write was invoked: the unobserved write may be what
    // made that claim true.
    std::set<int64_t> observed;
    int64_t last_inequality_ret = std::numeric_limits<int64_t>::min();
    for (const auto& op : all) {
      if (op.process < 0) continue;
      if (op.f == Fn::kRead && op.ret != kForever) observed.insert(op.value);
      if (op.f == Fn::kCas) observed.insert(op.expected);
      if (op.f == Fn::kUpdate && op.outcome == Outcome::kNoop)
        observed.insert(op.value);
      if (op.ret != kForever &&
          ((op.f == Fn::kCreate && op.outcome == Outcome::kNone) ||
           op.outcome == Outcome::kNotFound))
        observed.insert(kNil);
      if (ClaimsInequality(op))
        last_inequality_ret = std::max(last_inequality_ret, op.ret);
    }
    std::vector<Operation> ops;
    for (auto& op : all) {
      if (op.process < 0) continue;
      if (op.f != Fn::kRead && op.ret == kForever &&
          observed.count(op.value) == 0 && op.call > last_inequality_ret)
        continue;
      ops.push_back(op);
    }
    result.operations += static_cast<int64_t>(ops.size());
    ++result.keys;
    std::string explanation;
    KeyChecker checker(std::move(ops), deadline);
    const Verdict v = checker.Run(&explanation);
    if (v == Verdict::kNotLinearizable) {
      result.verdict = v;
      result.key = key;
      result.explanation = absl::StrCat("key ", key, ": ", explanation);
      return result;
    }
    if (v == Verdict::kUnknown) {
      result.verdict = v;
      result.key = key;
      result.explanation = absl::StrCat("key ", key, ": time limit reached");
      return result;
    }
  }
  return result;
}

}  // namespace seqsim::sim
