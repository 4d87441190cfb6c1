// The simulated network's wire form (SimWorld sends every Envelope serialized
// and parses it on delivery): EnvelopeCache, which parses delivered messages
// into reused envelopes, and AppendFrom, which stamps the sender on the bytes.
//
// Thread-safety: none; one per SimWorld.
#ifndef SEQSIM_SIM_WORLD_ENVELOPE_CACHE_H_
#define SEQSIM_SIM_WORLD_ENVELOPE_CACHE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/seqsim.pb.h"

namespace seqsim::sim {

// Stamps the sender on a serialized Envelope, as a transport header would: the
// encoded `from` field (1, length-delimited) appended to the message. A parser
// takes the last value of a singular field, so this is the envelope with
// `from` set, without building it in the sender's message first.
void AppendFrom(const std::string& from, std::string* bytes);

// Parses delivered messages into reused envelopes, as a server reuses its
// request objects: a message is parsed into the envelope that last held the
// same body, cleared but keeping its allocations (the body message, string
// buffers, repeated elements). The result is the same as parsing into a fresh
// envelope; it stays valid until the next Parse of the same body. Envelopes
// are held in an (ok) StatusOr, the form a reply is handed over in.
class EnvelopeCache {
 public:
  // The parsed envelope, or nullptr if `bytes` is not one.
  absl::StatusOr<pb::Envelope>* Parse(const std::string& bytes);

 private:
  struct Slot {
    std::unique_ptr<absl::StatusOr<pb::Envelope>> envelope;
    // The envelope's body while it holds this slot's body (else nullptr).
    google::protobuf::Message* body = nullptr;
  };
  std::vector<Slot> by_body_;  // indexed by the body's field number
  Slot other_;                 // no body first on the wire
};

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_WORLD_ENVELOPE_CACHE_H_
