// Node: the public facade of the node logic (node.h). Every call goes to
// Node::State (node_state.h), whose methods live in one file per concern.
#include "node/logic/node.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/env.h"
#include "node/engine/shard_engine.h"
#include "node/logic/local_copy.h"
#include "node/logic/node_state.h"

namespace seqsim {

Node::Node(Env* env, NodeOptions options)
    : state_(std::make_unique<State>(env, std::move(options))) {}

Node::~Node() = default;

void Node::Start() {
  state_->OpenCopiesOnDisk();
  state_->SendJoin();
}

void Node::Handle(const pb::Envelope& request, RespondFn respond) {
  state_->Handle(request, std::move(respond));
}

void Node::Flush() { state_->Flush(); }

pb::NodeStatusResponse Node::Status() const { return state_->Status(); }

int64_t Node::state_version() const {
  return state_->has_state ? state_->cluster_state.version() : 0;
}

void Node::CopySummaries(std::vector<CopySummary>* out) const {
  out->clear();
  for (const auto& [key, copy] : state_->copies) {
    CopySummary& s = out->emplace_back();
    s.index_uuid = &key.first;
    s.shard = key.second;
    s.role = RoleName(copy->role, copy->stale);
    const ShardEngine::Counters counters = copy->engine->counters();
    s.primary_term = counters.term;
    s.max_seq_no = counters.max_seq_no;
    s.local_checkpoint = counters.local_checkpoint;
    s.global_checkpoint = counters.global_checkpoint;
    s.docs = counters.docs;
    s.in_sync = copy->in_sync;
  }
}

const pb::ClusterState& Node::cluster_state() const {
  return state_->cluster_state;
}

const std::string& Node::id() const { return state_->options.id; }

const ShardEngine* Node::engine(const std::string& index, int shard) const {
  if (const pb::IndexMeta* meta = state_->FindIndex(index)) {
    auto it = state_->copies.find(CopyKeyView(meta->uuid(), shard));
    if (it != state_->copies.end()) return it->second->engine.get();
  }
  for (const auto& [key, copy] : state_->copies) {
    if (copy->index == index && key.second == shard) return copy->engine.get();
  }
  return nullptr;
}

}  // namespace seqsim
