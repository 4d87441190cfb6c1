// Planted bugs (lab only, --unsafe=...): each disables one replication rule so
// that the lab's checks can be seen catching what the rule prevents. All false
// in the live cluster.
#ifndef SEQSIM_COMMON_UNSAFE_H_
#define SEQSIM_COMMON_UNSAFE_H_

namespace seqsim {

struct UnsafeModes {
  bool no_fencing =
      false;  // R4 off: replicas accept operations with older terms
  bool no_seqno_check = false;  // R5 off: replicas apply whatever arrives last
  bool early_ack = false;  // R3/R10 off: the primary acks before replicas apply
  bool no_resync = false;  // R7 off: a new primary skips resync and trim
  // R11 off: a primary answers a 409, an update's noop or a delete's not_found
  // at once, without confirming its term with its in-sync copies first.
  bool no_conflict_barrier = false;
};

}  // namespace seqsim

#endif  // SEQSIM_COMMON_UNSAFE_H_
