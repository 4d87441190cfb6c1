// LocalCheckpointTracker: which seq_nos one shard copy has processed (R6).
//
// The local checkpoint is the highest seq_no such that every seq_no at or below
// it has been processed. Seq_nos processed above it (out-of-order arrivals) are
// kept in a sorted set until the gap below them fills, then the checkpoint
// advances over them.
//
// Thread-safety: none; owned by one ShardEngine. Pure.
// Invariants: checkpoint() <= max_seq_no(); every element of the pending set is
// > checkpoint() + 1.
#ifndef SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_
#define SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_

#include <cstdint>

#include "absl/container/btree_set.h"

namespace seqsim {

class LocalCheckpointTracker {
 public:
  LocalCheckpointTracker() = default;

  int64_t checkpoint() const { return checkpoint_; }
  // Highest seq_no processed or announced (GenerateSeqNo, Reset).
  int64_t max_seq_no() const { return max_seq_no_; }
  // Number of processed seq_nos above the checkpoint (the "gaps" side).
  size_t pending_above_checkpoint() const { return processed_above_.size(); }

  // Returns the next seq_no for a primary to stamp: max_seq_no() + 1.
  int64_t GenerateSeqNo() { return ++max_seq_no_; }

  bool IsProcessed(int64_t seq_no) const {
    return seq_no <= checkpoint_ || processed_above_.contains(seq_no);
  }

  // Marks `seq_no` processed; advances the checkpoint over every contiguous
  // seq_no.
  void MarkProcessed(int64_t seq_no) {
    if (seq_no > max_seq_no_) max_seq_no_ = seq_no;
    if (seq_no <= checkpoint_) return;
    if (seq_no == checkpoint_ + 1) {
      checkpoint_ = seq_no;
      while (!processed_above_.empty() &&
             *processed_above_.begin() == checkpoint_ + 1) {
        ++checkpoint_;
        processed_above_.erase(processed_above_.begin());
      }
      return;
    }
    processed_above_.insert(seq_no);
  }

  // Forgets everything: every seq_no <= checkpoint is processed, nothing above
  // it, and max_seq_no becomes max(max_seq_no, checkpoint).
  void Reset(int64_t checkpoint, int64_t max_seq_no) {
    checkpoint_ = checkpoint;
    max_seq_no_ = max_seq_no > checkpoint ? max_seq_no : checkpoint;
    processed_above_.clear();
  }

  // Sets max_seq_no (e.g. after a trim lowered it); never below the checkpoint.
  void SetMaxSeqNo(int64_t max_seq_no) {
    max_seq_no_ = max_seq_no > checkpoint_ ? max_seq_no : checkpoint_;
  }

 private:
  int64_t checkpoint_ = -1;  // kNoOpsPerformed
  int64_t max_seq_no_ = -1;
  absl::btree_set<int64_t> processed_above_;
};

}  // namespace seqsim

#endif  // SEQSIM_NODE_ENGINE_LOCAL_CHECKPOINT_TRACKER_H_
