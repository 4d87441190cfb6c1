// OpHistory: the serialized operations one shard copy retains, by seq_no (R9).
//
// What it is for: the engine keeps the last operation processed for every
// retained seq_no (for resync, recovery and trim) as the bytes it wrote to the
// translog. Keeping one std::string per operation cost a malloc per operation
// and string moves on every out-of-order insert into the ordered index; here
// the bytes live back to back in one arena and the index maps a seq_no to a
// small trivially copyable (offset, size) slot.
//
// Bytes of overwritten or erased operations stay in the arena as garbage until
// garbage is more than half of it; then Put() compacts the arena in seq_no
// order (amortized O(1) per operation).
//
// Thread-safety: none; owned by one ShardEngine. Pure.
// Invariants: every slot in index_ lies inside arena_; garbage_ ==
// arena_.size()
// - the sum of the slot sizes.
#ifndef SEQSIM_NODE_ENGINE_OP_HISTORY_H_
#define SEQSIM_NODE_ENGINE_OP_HISTORY_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/container/btree_map.h"

namespace seqsim {

class OpHistory {
 public:
  struct Slot {
    uint64_t offset = 0;
    uint64_t size = 0;
  };
  using Map = absl::btree_map<int64_t, Slot>;
  using const_iterator = Map::const_iterator;
  using const_reverse_iterator = Map::const_reverse_iterator;

  // Stores `bytes` for `seq_no`, replacing what was stored for it.
  void Put(int64_t seq_no, std::string_view bytes) {
    if (garbage_ > kMinCompactBytes && garbage_ * 2 > arena_.size()) Compact();
    const Slot slot{arena_.size(), bytes.size()};
    arena_.append(bytes.data(), bytes.size());
    auto [it, inserted] = index_.try_emplace(seq_no, slot);
    if (!inserted) {
      garbage_ += it->second.size;
      it->second = slot;
    }
  }

  // The bytes stored for a slot of this history (valid until the next Put).
  std::string_view Bytes(const Slot& slot) const {
    return std::string_view(arena_.data() + slot.offset, slot.size);
  }

  const_iterator begin() const { return index_.begin(); }
  const_iterator end() const { return index_.end(); }
  const_reverse_iterator rbegin() const { return index_.rbegin(); }
  const_reverse_iterator rend() const { return index_.rend(); }
  const_iterator find(int64_t seq_no) const { return index_.find(seq_no); }
  const_iterator upper_bound(int64_t seq_no) const {
    return index_.upper_bound(seq_no);
  }
  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }

  const_iterator erase(const_iterator it) {
    garbage_ += it->second.size;
    auto next = index_.erase(it);
    if (index_.empty()) clear();
    return index_.empty() ? index_.end() : next;
  }
  void erase(const_iterator first, const_iterator last) {
    for (auto it = first; it != last; ++it) garbage_ += it->second.size;
    index_.erase(first, last);
    if (index_.empty()) clear();
  }
  void clear() {
    index_.clear();
    arena_ = std::string();
    garbage_ = 0;
  }

 private:
  static constexpr uint64_t kMinCompactBytes = uint64_t{1} << 16;

  void Compact() {
    std::string compacted;
    compacted.reserve(arena_.size() - garbage_);
    for (auto& [seq_no, slot] : index_) {
      const uint64_t offset = compacted.size();
      compacted.append(arena_.data() + slot.offset, slot.size);
      slot.offset = offset;
    }
    arena_.swap(compacted);
    garbage_ = 0;
  }

  Map index_;
  std::string arena_;
  uint64_t garbage_ = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_OP_HISTORY_H_
