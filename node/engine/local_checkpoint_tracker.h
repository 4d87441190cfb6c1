// LocalCheckpointTracker: which seq_nos one shard copy has processed (R6).
//
// The local checkpoint is the highest seq_no such that every seq_no at or below
// it has been processed. Seq_nos processed above it (out-of-order arrivals) are
// remembered until the gap below them fills, then the checkpoint advances over
// them. They live in a bitmap window of 64-bit words starting at the checkpoint
// (cheap for the usual short reorderings, no allocation per seq_no); a seq_no
// absurdly far ahead goes to a sorted set and moves into the bitmap when the
// window reaches it.
//
// Thread-safety: none; owned by one ShardEngine. Pure.
// Invariants: checkpoint() <= max_seq_no(); base_ is a multiple of 64 and
// base_ <= checkpoint() + 1; every seq_no in far_ is >= base_ + kWindowBits.
#ifndef SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_
#define SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_

#include <cstdint>
#include <deque>

#include "absl/container/btree_set.h"

namespace seqsim {

class LocalCheckpointTracker {
 public:
  LocalCheckpointTracker() = default;

  int64_t checkpoint() const { return checkpoint_; }
  // Highest seq_no processed (or set by Reset / SetMaxSeqNo).
  int64_t max_seq_no() const { return max_seq_no_; }
  // Number of processed seq_nos above the checkpoint (the "gaps" side).
  size_t pending_above_checkpoint() const { return pending_; }

  bool IsProcessed(int64_t seq_no) const {
    if (seq_no <= checkpoint_) return true;
    if (seq_no - base_ >= kWindowBits) return far_.contains(seq_no);
    return Bit(seq_no);
  }

  // Marks `seq_no` processed; advances the checkpoint over every contiguous
  // processed seq_no.
  void MarkProcessed(int64_t seq_no) {
    if (seq_no > max_seq_no_) max_seq_no_ = seq_no;
    if (seq_no <= checkpoint_) return;
    if (seq_no == checkpoint_ + 1 && pending_ == 0) {  // the in-order fast path
      checkpoint_ = seq_no;
      DropCompletedWords();
      return;
    }
    if (seq_no - base_ >= kWindowBits) {
      if (far_.insert(seq_no).second) ++pending_;
      return;
    }
    if (!SetBit(seq_no)) return;  // already processed
    ++pending_;
    if (seq_no != checkpoint_ + 1) return;
    while (IsProcessed(checkpoint_ + 1)) {
      ++checkpoint_;
      --pending_;
      DropCompletedWords();
    }
  }

  // Forgets everything: every seq_no <= checkpoint is processed, nothing above
  // it, and max_seq_no becomes max(max_seq_no, checkpoint).
  void Reset(int64_t checkpoint, int64_t max_seq_no) {
    checkpoint_ = checkpoint;
    max_seq_no_ = max_seq_no > checkpoint ? max_seq_no : checkpoint;
    words_.clear();
    far_.clear();
    pending_ = 0;
    base_ = FloorToWord(checkpoint + 1);
  }

  // Sets max_seq_no (e.g. after a trim lowered it); never below the checkpoint.
  void SetMaxSeqNo(int64_t max_seq_no) {
    max_seq_no_ = max_seq_no > checkpoint_ ? max_seq_no : checkpoint_;
  }

 private:
  // 2^22 seq_nos (512 KiB of bitmap) ahead of the checkpoint at most.
  static constexpr int64_t kWindowBits = int64_t{1} << 22;

  static int64_t FloorToWord(int64_t seq_no) {
    const int64_t rem = ((seq_no % 64) + 64) % 64;
    return seq_no - rem;
  }

  bool Bit(int64_t seq_no) const {
    const uint64_t offset = static_cast<uint64_t>(seq_no - base_);
    const size_t word = offset >> 6;
    return word < words_.size() && ((words_[word] >> (offset & 63)) & 1u) != 0;
  }

  // Sets the bit of `seq_no` (inside the window); false if it was already set.
  bool SetBit(int64_t seq_no) {
    const uint64_t offset = static_cast<uint64_t>(seq_no - base_);
    const size_t word = offset >> 6;
    if (word >= words_.size()) words_.resize(word + 1, 0);
    const uint64_t mask = uint64_t{1} << (offset & 63);
    if ((words_[word] & mask) != 0) return false;
    words_[word] |= mask;
    return true;
  }

  // Slides the window so that it starts at the word holding checkpoint + 1,
  // pulling far seq_nos into the bitmap once the window reaches them.
  void DropCompletedWords() {
    const int64_t next_base = FloorToWord(checkpoint_ + 1);
    if (next_base == base_) return;
    const int64_t drop = (next_base - base_) >> 6;
    if (static_cast<size_t>(drop) >= words_.size()) {
      words_.clear();
    } else {
      words_.erase(words_.begin(), words_.begin() + drop);
    }
    base_ = next_base;
    while (!far_.empty() && *far_.begin() - base_ < kWindowBits) {
      SetBit(*far_.begin());
      far_.erase(far_.begin());
    }
  }

  int64_t checkpoint_ = -1;  // kNoOpsPerformed
  int64_t max_seq_no_ = -1;
  int64_t base_ = 0;  // seq_no of bit 0 of words_[0]
  std::deque<uint64_t> words_;
  absl::btree_set<int64_t> far_;
  size_t pending_ = 0;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_
