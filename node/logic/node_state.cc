// Node::State plumbing: retries on the next cluster state, durability waiters,
// look-ups of indices and local copies, and the node's status (introspection).
// No replication rule lives here.
#include "node/logic/node_state.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace seqsim {

absl::Duration Node::State::RetryDelay() const {
  return std::max(options.heartbeat_interval, absl::Milliseconds(10));
}

void Node::State::RetryLater(absl::AnyInvocable<void()> fn) {
  auto once = std::make_shared<absl::AnyInvocable<void()>>(std::move(fn));
  auto run = [once]() {
    if (!*once) return;
    auto f = std::move(*once);
    *once = nullptr;
    f();
  };
  // A waiter whose timer ran first stays in the list until the next state;
  // dropping those whenever the list doubles keeps it as long as the
  // requests really waiting, however long no new state comes.
  if (state_waiters.size() >= compact_waiters_at) {
    state_waiters.erase(
        std::remove_if(state_waiters.begin(), state_waiters.end(),
                       [](const auto& waiter) { return !*waiter; }),
        state_waiters.end());
    compact_waiters_at = std::max<size_t>(64, 2 * state_waiters.size());
  }
  state_waiters.push_back(once);
  After(RetryDelay(), run);
}

void Node::State::WhenDurable(const LocalCopy& copy,
                              absl::AnyInvocable<void(absl::Status)> fn) {
  durable_waiters.emplace_back(copy.incarnation, std::move(fn));
}

bool Node::State::IsNode(const std::string& id) const {
  if (id == me()) return false;
  return FindNodeInfo(cluster_state, id) != nullptr;
}

const pb::IndexMeta* Node::State::FindIndex(const std::string& name) const {
  return FindIndexByName(cluster_state, name);
}

const pb::IndexMeta* Node::State::FindIndexByUuid(
    const std::string& uuid) const {
  return seqsim::FindIndexByUuid(cluster_state, uuid);
}

const pb::ShardRouting* Node::State::FindRouting(const pb::IndexMeta& index,
                                                 int shard) {
  return FindShardRouting(index, shard);
}

LocalCopy* Node::State::FindCopy(const CopyKey& key) {
  auto it = copies.find(key);
  return it == copies.end() ? nullptr : it->second.get();
}

LocalCopy* Node::State::FindCopy(std::string_view uuid, int shard) {
  auto it = copies.find(CopyKeyView(uuid, shard));
  return it == copies.end() ? nullptr : it->second.get();
}

std::vector<std::pair<uint64_t, LocalCopy*>>::const_iterator
Node::State::FindIncarnation(uint64_t incarnation) const {
  return std::lower_bound(copies_by_incarnation.begin(),
                          copies_by_incarnation.end(), incarnation,
                          [](const std::pair<uint64_t, LocalCopy*>& entry,
                             uint64_t wanted) { return entry.first < wanted; });
}

LocalCopy* Node::State::FindCopy(uint64_t incarnation) const {
  auto it = FindIncarnation(incarnation);
  return it != copies_by_incarnation.end() && it->first == incarnation
             ? it->second
             : nullptr;
}

LocalCopy* Node::State::FindCopy(const CopyKey& /*key*/,
                                 uint64_t incarnation) const {
  return FindCopy(incarnation);
}

LocalCopy* Node::State::FindCopyByRef(const pb::ShardRef& ref) {
  if (const pb::IndexMeta* index = FindIndex(ref.index())) {
    if (LocalCopy* copy = FindCopy(index->uuid(), ref.shard())) return copy;
  }
  for (auto& [key, copy] : copies) {
    if (copy->index == ref.index() && key.second == ref.shard())
      return copy.get();
  }
  return nullptr;
}

std::string Node::State::Name(const LocalCopy& copy) const {
  return ShardName(copy.index, copy.key.second);
}

pb::NodeStatusResponse Node::State::Status() const {
  pb::NodeStatusResponse status;
  status.set_node_id(options.id);
  status.set_state_version(has_state ? cluster_state.version() : 0);
  status.set_coordinator_reachable(coordinator_reachable);
  status.set_state_waiters(static_cast<int64_t>(state_waiters.size()));
  for (const auto& [key, copy] : copies) {
    pb::ShardStatus* shard = status.add_shards();
    shard->set_index(copy->index);
    shard->set_shard(key.second);
    shard->set_index_uuid(key.first);
    shard->set_role(RoleName(copy->role, copy->stale));
    shard->set_primary_term(copy->engine->term());
    shard->set_max_seq_no(copy->engine->max_seq_no());
    shard->set_local_checkpoint(copy->engine->local_checkpoint());
    shard->set_global_checkpoint(copy->engine->global_checkpoint());
    shard->set_docs(copy->engine->doc_count());
    shard->set_store_bytes(copy->engine->live_bytes());
    shard->set_refreshed_docs(copy->engine->refreshed_doc_count());
    shard->set_refresh_total(copy->engine->refresh_count());
    shard->set_in_sync(copy->in_sync);
  }
  return status;
}

}  // namespace seqsim
