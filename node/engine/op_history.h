// OpHistory: the serialized operations one shard copy retains, by seq_no (R9).
//
// What it is for: the engine keeps the last operation processed for every
// retained seq_no (for resync, recovery and trim) as the bytes it wrote to the
// translog. Keeping one std::string per operation cost a malloc per operation;
// here the bytes live back to back in one arena and the index maps a seq_no to
// a small trivially copyable (offset, size) slot.
//
// The index: retained seq_nos are dense (every processed seq_no above the
// history floor is retained, and seq_nos are processed nearly in order), so
// most of them live in a window of slots indexed by seq_no - base_: an insert
// or a look-up is an index, not a tree search. A seq_no the window cannot
// take without becoming mostly empty (far ahead of the retained ones, or
// below the window) goes to an ordered map instead, so memory stays in
// proportion to the operations retained whatever seq_nos arrive.
//
// Bytes of overwritten or erased operations stay in the arena as garbage until
// garbage is more than half of it; then Put() compacts the arena (amortized
// O(1) per operation).
//
// Thread-safety: none; owned by one ShardEngine. Pure.
// Invariants: every slot lies inside arena_; garbage_ == arena_.size() - the
// sum of the present slots' sizes; no key of overflow_ is in the window's range
// [base_, base_ + WindowSize()); base_ >= 0; window_present_ counts the
// present slots of the window (slots_[head_...]).
#ifndef SEQSIM_NODE_ENGINE_OP_HISTORY_H_
#define SEQSIM_NODE_ENGINE_OP_HISTORY_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"

namespace seqsim {

class OpHistory {
 public:
  // Stores `bytes` for `seq_no`, replacing what was stored for it.
  void Put(int64_t seq_no, std::string_view bytes) {
    if (garbage_ > kMinCompactBytes && garbage_ * 2 > arena_.size()) Compact();
    const Slot slot{arena_.size(), bytes.size()};
    arena_.append(bytes.data(), bytes.size());
    if (!overflow_.empty()) {
      auto it = overflow_.find(seq_no);
      if (it != overflow_.end()) {
        garbage_ += it->second.size;
        it->second = slot;
        return;
      }
    }
    if (seq_no >= base_ && seq_no - base_ < WindowSize()) {
      Slot& held = At(static_cast<size_t>(seq_no - base_));
      if (held.present()) {
        garbage_ += held.size;
      } else {
        ++window_present_;
      }
      held = slot;
      return;
    }
    if (window_present_ == 0 && seq_no >= 0) {
      // An empty window moves to the seq_no (its old range held nothing, and
      // the overflow holds nothing at seq_no: the invariant holds).
      slots_.clear();
      head_ = 0;
      base_ = seq_no;
      slots_.push_back(slot);
      window_present_ = 1;
      return;
    }
    if (seq_no > base_ &&
        seq_no - base_ < 2 * static_cast<int64_t>(window_present_) + kSlack) {
      // Grows the window up to seq_no; overflow entries inside the new range
      // move into it.
      const int64_t old_end = base_ + WindowSize();
      slots_.resize(head_ + static_cast<size_t>(seq_no - base_ + 1));
      for (auto it = overflow_.lower_bound(old_end);
           it != overflow_.end() && it->first < seq_no;
           it = overflow_.erase(it)) {
        At(static_cast<size_t>(it->first - base_)) = it->second;
        ++window_present_;
      }
      slots_.back() = slot;
      ++window_present_;
      return;
    }
    overflow_.emplace(seq_no, slot);
  }

  // The bytes stored for `seq_no`, if any (valid until the next Put).
  std::optional<std::string_view> Find(int64_t seq_no) const {
    if (seq_no >= base_ && seq_no - base_ < WindowSize()) {
      const Slot& slot = At(static_cast<size_t>(seq_no - base_));
      if (!slot.present()) return std::nullopt;
      return Bytes(slot);
    }
    if (overflow_.empty()) return std::nullopt;
    auto it = overflow_.find(seq_no);
    if (it == overflow_.end()) return std::nullopt;
    return Bytes(it->second);
  }

  size_t size() const { return window_present_ + overflow_.size(); }
  bool empty() const { return size() == 0; }

  // Calls fn(seq_no, bytes) for every stored seq_no above `above`, in
  // increasing order, until fn returns false. Returns false if fn did. fn must
  // not change the history.
  template <typename Fn>
  bool ForEachAbove(int64_t above, Fn fn) const {
    // Overflow below the window, the window, overflow above it.
    auto it = overflow_.upper_bound(above);
    for (; it != overflow_.end() && it->first < base_; ++it) {
      if (!fn(it->first, Bytes(it->second))) return false;
    }
    for (size_t i = WindowStartAbove(above); i < WindowLength(); ++i) {
      if (!At(i).present()) continue;
      if (!fn(base_ + static_cast<int64_t>(i), Bytes(At(i)))) return false;
    }
    for (it = overflow_.upper_bound(std::max(above, base_ - 1));
         it != overflow_.end(); ++it) {
      if (!fn(it->first, Bytes(it->second))) return false;
    }
    return true;
  }

  // Calls fn(seq_no, bytes) for every stored seq_no, in increasing order, until
  // fn returns false. Returns false if fn did. fn must not change the history.
  template <typename Fn>
  bool ForEach(Fn fn) const {
    auto it = overflow_.begin();
    for (; it != overflow_.end() && it->first < base_; ++it) {
      if (!fn(it->first, Bytes(it->second))) return false;
    }
    for (size_t i = 0; i < WindowLength(); ++i) {
      if (!At(i).present()) continue;
      if (!fn(base_ + static_cast<int64_t>(i), Bytes(At(i)))) return false;
    }
    for (; it != overflow_.end(); ++it) {
      if (!fn(it->first, Bytes(it->second))) return false;
    }
    return true;
  }

  // Calls fn(seq_no, bytes) for every stored seq_no, in decreasing order, until
  // fn returns false. fn must not change the history.
  template <typename Fn>
  void ForEachDescending(Fn fn) const {
    auto above = overflow_.rbegin();
    for (; above != overflow_.rend() && above->first >= base_; ++above) {
      if (!fn(above->first, Bytes(above->second))) return;
    }
    for (size_t i = WindowLength(); i-- > 0;) {
      if (!At(i).present()) continue;
      if (!fn(base_ + static_cast<int64_t>(i), Bytes(At(i)))) return;
    }
    for (; above != overflow_.rend(); ++above) {
      if (!fn(above->first, Bytes(above->second))) return;
    }
  }

  // Erases every seq_no at or below `bound`.
  void EraseAtOrBelow(int64_t bound) {
    for (auto it = overflow_.begin();
         it != overflow_.end() && it->first <= bound;) {
      garbage_ += it->second.size;
      it = overflow_.erase(it);
    }
    // The window only shrinks from the front: the invariant holds.
    while (head_ < slots_.size() && base_ <= bound) {
      if (slots_[head_].present()) {
        garbage_ += slots_[head_].size;
        --window_present_;
      }
      ++head_;
      ++base_;
    }
    // Dropped slots are reclaimed once they are half of the vector.
    if (head_ > 64 && head_ * 2 > slots_.size()) {
      slots_.erase(slots_.begin(),
                   slots_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
    if (empty()) clear();
  }

  // Erases every seq_no above `above` for which pred(seq_no, bytes) returns
  // true, calling it in increasing order. The bytes stay valid during the
  // calls.
  template <typename Pred>
  void EraseAboveIf(int64_t above, Pred pred) {
    auto it = overflow_.upper_bound(above);
    while (it != overflow_.end() && it->first < base_) {
      if (pred(it->first, Bytes(it->second))) {
        garbage_ += it->second.size;
        it = overflow_.erase(it);
      } else {
        ++it;
      }
    }
    for (size_t i = WindowStartAbove(above); i < WindowLength(); ++i) {
      Slot& slot = At(i);
      if (!slot.present()) continue;
      if (pred(base_ + static_cast<int64_t>(i), Bytes(slot))) {
        garbage_ += slot.size;
        slot = Slot();
        --window_present_;
      }
    }
    it = overflow_.upper_bound(std::max(above, base_ - 1));
    while (it != overflow_.end()) {
      if (pred(it->first, Bytes(it->second))) {
        garbage_ += it->second.size;
        it = overflow_.erase(it);
      } else {
        ++it;
      }
    }
    if (empty()) clear();
  }

  void clear() {
    slots_.clear();
    head_ = 0;
    window_present_ = 0;
    base_ = 0;
    overflow_.clear();
    arena_ = std::string();
    garbage_ = 0;
  }

 private:
  static constexpr uint64_t kMinCompactBytes = uint64_t{1} << 16;
  static constexpr uint64_t kAbsent = ~uint64_t{0};
  // The window may grow to 2 * (present slots) + kSlack slots: reordered or
  // trimmed seq_nos leave holes, never mostly holes.
  static constexpr int64_t kSlack = 1024;

  struct Slot {
    uint64_t offset = 0;
    uint64_t size = kAbsent;  // kAbsent: nothing stored (window only)
    bool present() const { return size != kAbsent; }
  };

  std::string_view Bytes(const Slot& slot) const {
    return std::string_view(arena_.data() + slot.offset, slot.size);
  }

  // The window: slots_[head_...], slot i for seq_no base_ + i.
  size_t WindowLength() const { return slots_.size() - head_; }
  int64_t WindowSize() const { return static_cast<int64_t>(WindowLength()); }
  Slot& At(size_t i) { return slots_[head_ + i]; }
  const Slot& At(size_t i) const { return slots_[head_ + i]; }

  // The index of the first window slot above `above` (WindowLength() if none).
  size_t WindowStartAbove(int64_t above) const {
    if (above < base_) return 0;
    if (above - base_ >= WindowSize()) return WindowLength();
    return static_cast<size_t>(above - base_ + 1);
  }

  void Compact() {
    std::string compacted;
    compacted.reserve(arena_.size() - garbage_);
    auto move = [&](Slot& slot) {
      const uint64_t offset = compacted.size();
      compacted.append(arena_.data() + slot.offset, slot.size);
      slot.offset = offset;
    };
    for (size_t i = 0; i < WindowLength(); ++i) {
      if (At(i).present()) move(At(i));
    }
    for (auto& [seq_no, slot] : overflow_) move(slot);
    arena_.swap(compacted);
    garbage_ = 0;
  }

  int64_t base_ = 0;  // seq_no of the window's first slot
  // slots_[0, head_) are dropped from the front, not yet reclaimed.
  std::vector<Slot> slots_;
  size_t head_ = 0;
  size_t window_present_ = 0;
  absl::btree_map<int64_t, Slot> overflow_;
  std::string arena_;
  uint64_t garbage_ = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_OP_HISTORY_H_
