#include "common/validation.h"

#include <limits>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/env.h"

namespace seqsim {
namespace {

absl::Status Invalid(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(what, " ", why));
}

// Quoted for a message: the first 64 bytes, non-printable ones as '?'.
std::string Quote(absl::string_view text) {
  std::string out = "[";
  for (char c : text.substr(0, 64)) {
    out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
  }
  if (text.size() > 64) out += "...";
  out += "]";
  return out;
}

absl::Status Text(absl::string_view field, absl::string_view text,
                  size_t max_bytes = 0) {
  if (max_bytes != 0 && text.size() > max_bytes) {
    return Invalid(field, absl::StrCat("is too long (", text.size(), " > ",
                                       max_bytes, " bytes)"));
  }
  if (!IsValidUtf8(text)) return Invalid(field, "is not valid UTF-8");
  return absl::OkStatus();
}

absl::Status Number(absl::string_view field, int64_t value, int64_t low,
                    int64_t high = kMaxProtocolNumber) {
  if (value < low || value > high) {
    return Invalid(field, absl::StrCat("[", value, "] is out of range [", low,
                                       ", ", high, "]"));
  }
  return absl::OkStatus();
}

absl::Status SeqNo(absl::string_view field, int64_t value) {
  return Number(field, value, -2);
}

absl::Status Shard(absl::string_view field, int64_t value) {
  return Number(field, value, 0, kMaxShardsPerIndex - 1);
}

// A peer address (host:port live, a name in the lab): printable text only.
absl::Status Address(absl::string_view field, absl::string_view address) {
  if (absl::Status text = Text(field, address, 255); !text.ok()) return text;
  for (char c : address) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Invalid(field, absl::StrCat(Quote(address), " is not an address"));
  }
  return absl::OkStatus();
}

absl::Status NodeId(absl::string_view field, absl::string_view id) {
  if (absl::Status valid = ValidateNodeId(id); !valid.ok())
    return Invalid(field, valid.message());
  return absl::OkStatus();
}

absl::Status Index(absl::string_view field, absl::string_view name) {
  if (absl::Status valid = ValidateIndexNameText(name); !valid.ok())
    return Invalid(field, valid.message());
  return absl::OkStatus();
}

absl::Status ShardRef(absl::string_view field, const pb::ShardRef& ref) {
  if (absl::Status s = Index(absl::StrCat(field, ".index"), ref.index());
      !s.ok())
    return s;
  return Shard(absl::StrCat(field, ".shard"), ref.shard());
}

absl::Status Operation(const pb::Operation& op) {
  if (absl::Status s = Number("operation seq_no", op.seq_no(), 0); !s.ok())
    return s;
  if (absl::Status s = Number("operation primary_term", op.primary_term(), 1);
      !s.ok())
    return s;
  if (absl::Status s = Number("operation version", op.version(), -4,
                              std::numeric_limits<int64_t>::max());
      !s.ok())
    return s;
  if (!pb::OpType_IsValid(op.type()))
    return Invalid("operation type", "is not index, delete or noop");
  if (op.type() != pb::OP_NOOP) {
    if (op.id().empty()) return Invalid("operation id", "is empty");
    if (absl::Status s = Text("operation id", op.id(), kMaxDocIdBytes); !s.ok())
      return s;
  }
  if (absl::Status s = Text("operation source", op.source()); !s.ok()) return s;
  if (absl::Status s =
          Text("operation routing", op.routing(), kMaxRoutingBytes);
      !s.ok())
    return s;
  return Text("operation noop_reason", op.noop_reason());
}

template <typename Ops>
absl::Status Operations(const Ops& ops) {
  for (const pb::Operation& op : ops) {
    if (absl::Status s = Operation(op); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Write(const pb::WriteRequest& write) {
  if (absl::Status s = Index("index", write.index()); !s.ok()) return s;
  if (absl::Status s = Text("id", write.id(), kMaxDocIdBytes); !s.ok())
    return s;
  if (absl::Status s = Text("routing", write.routing(), kMaxRoutingBytes);
      !s.ok())
    return s;
  if (!pb::WriteRequest::Kind_IsValid(write.kind()))
    return Invalid("kind", "is not index, create, delete or update");
  if (!pb::VersionType_IsValid(write.version_type()))
    return Invalid("version_type", "is not internal, external or external_gte");
  // Numbers (if_seq_no, versions, timeouts) are the engine's to judge: it
  // answers them with Elasticsearch's errors, whichever node took the request.
  if (absl::Status s = Shard("shard", write.shard()); !s.ok()) return s;
  for (const std::string* text :
       {&write.source(), &write.update_doc(), &write.upsert(),
        &write.wait_for_active_shards()}) {
    if (absl::Status s = Text("document", *text); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// A query nests at most this deep (the REST layer refuses deeper than
// Elasticsearch's 30).
constexpr int kMaxQueryDepth = 32;

absl::Status Query(const pb::Query& query, int depth = 1) {
  if (depth > kMaxQueryDepth) {
    return Invalid("query", absl::StrCat("nests deeper than ", kMaxQueryDepth));
  }
  for (const std::string& id : query.ids().values()) {
    if (absl::Status s = Text("ids value", id, kMaxDocIdBytes); !s.ok())
      return s;
  }
  std::vector<const std::string*> texts = {
      &query.term().field(),
      &query.term().value_json(),
      &query.terms().field(),
      &query.match().field(),
      &query.match().query_json(),
      &query.match().minimum_should_match(),
      &query.range().field(),
      &query.range().gt_json(),
      &query.range().gte_json(),
      &query.range().lt_json(),
      &query.range().lte_json(),
      &query.exists().field(),
      &query.bool_().minimum_should_match()};
  for (const std::string& value : query.terms().values_json())
    texts.push_back(&value);
  for (const std::string* text : texts) {
    if (absl::Status s = Text("query text", *text); !s.ok()) return s;
  }
  const pb::Query::Bool& b = query.bool_();
  for (const auto* clauses :
       {&b.must(), &b.should(), &b.must_not(), &b.filter()}) {
    for (const pb::Query& clause : *clauses) {
      if (absl::Status s = Query(clause, depth + 1); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Search(const pb::SearchRequest& search) {
  for (const std::string& index : search.indices()) {
    if (absl::Status s = Index("indices", index); !s.ok()) return s;
  }
  if (absl::Status s = Query(search.query()); !s.ok()) return s;
  if (absl::Status s =
          Text("preference", search.preference(), kMaxRoutingBytes);
      !s.ok())
    return s;
  for (const std::string& routing : search.routing()) {
    if (absl::Status s = Text("routing", routing, kMaxRoutingBytes); !s.ok())
      return s;
  }
  for (const pb::SortField& key : search.sort()) {
    if (absl::Status s = Text("sort field", key.field()); !s.ok()) return s;
    if (absl::Status s = Number("sort mode", key.mode(), 0, 2); !s.ok())
      return s;
  }
  for (const pb::SortValue& value : search.search_after()) {
    if (absl::Status s = Text("search_after value", value.string_value());
        !s.ok())
      return s;
  }
  return Number("shard", search.shard(), -1, kMaxShardsPerIndex - 1);
}

absl::Status NodeInfo(const pb::NodeInfo& node) {
  if (absl::Status s = NodeId("node id", node.id()); !s.ok()) return s;
  if (absl::Status s = Address("grpc_address", node.grpc_address()); !s.ok())
    return s;
  return Address("rest_address", node.rest_address());
}

}  // namespace

bool IsValidUtf8(absl::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int length;
    uint32_t code;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
      code = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      code = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      code = c & 0x07;
    } else {
      return false;
    }
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    if ((length == 3 && code < 0x800) || (length == 4 && code < 0x10000) ||
        code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    p += length;
  }
  return true;
}

absl::Status ValidateNodeId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxNodeIdBytes || !IsValidUtf8(id) ||
      id.find_first_of(std::string(" \t\r\n/\\:,\0", 10)) !=
          absl::string_view::npos ||
      id == "." || id == "..") {
    return absl::InvalidArgumentError(absl::StrCat(
        "node id ", Quote(id), " must be a non-empty name like node-1"));
  }
  if (id == kCoordinatorId || id == "client") {
    return absl::InvalidArgumentError(
        absl::StrCat("node id '", id, "' is reserved (it names the ",
                     id == kCoordinatorId ? "coordinator" : "anonymous caller",
                     "); pick a name like node-1"));
  }
  return absl::OkStatus();
}

absl::Status ValidateIndexNameText(absl::string_view name) {
  if (name.empty()) return Invalid("index name", "is empty");
  if (name.size() > kMaxIndexNameBytes) {
    return Invalid("index name",
                   absl::StrCat("is too long (", name.size(), " > ",
                                kMaxIndexNameBytes, " bytes)"));
  }
  if (!IsValidUtf8(name)) return Invalid("index name", "is not valid UTF-8");
  if (name == "." || name == ".." ||
      name.find_first_of(std::string("/\\\0", 3)) != absl::string_view::npos) {
    return Invalid("index name", absl::StrCat(Quote(name), " is a path"));
  }
  return absl::OkStatus();
}

absl::Status ValidateUuid(absl::string_view uuid) {
  if (uuid.empty() || uuid.size() > 64) {
    return Invalid("uuid", absl::StrCat(Quote(uuid), " must be 1..64 chars"));
  }
  for (char c : uuid) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                    (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) {
      return Invalid("uuid",
                     absl::StrCat(Quote(uuid), " is not URL-safe base64"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateClusterState(const pb::ClusterState& state) {
  if (absl::Status s = Number("cluster state version", state.version(), 1);
      !s.ok())
    return s;
  if (absl::Status s = ValidateUuid(state.cluster_uuid()); !s.ok())
    return Invalid("cluster state's cluster", s.message());
  if (absl::Status s = Text("cluster name", state.cluster_name(), 255); !s.ok())
    return s;
  if (absl::Status s = Text("coordinator", state.coordinator(), 255); !s.ok())
    return s;
  std::set<std::string> nodes;
  for (const pb::NodeInfo& node : state.nodes()) {
    if (absl::Status s = NodeInfo(node); !s.ok()) return s;
    if (!nodes.insert(node.id()).second)
      return Invalid("node id", absl::StrCat(Quote(node.id()), " is repeated"));
  }
  std::set<std::string> names;
  std::set<std::string> uuids;
  for (const pb::IndexMeta& index : state.indices()) {
    if (absl::Status s = Index("index", index.name()); !s.ok()) return s;
    const std::string name = Quote(index.name());
    if (absl::Status s = ValidateUuid(index.uuid()); !s.ok())
      return Invalid(absl::StrCat("index ", name), s.message());
    if (!names.insert(index.name()).second ||
        !uuids.insert(index.uuid()).second)
      return Invalid(absl::StrCat("index ", name), "is repeated");
    for (const std::string& alias : index.aliases()) {
      if (absl::Status s = Index(absl::StrCat("index ", name, " alias"), alias);
          !s.ok())
        return s;
    }
    if (absl::Status s =
            Number(absl::StrCat("index ", name, " shards"),
                   index.number_of_shards(), 1, kMaxShardsPerIndex);
        !s.ok())
      return s;
    if (absl::Status s =
            Number(absl::StrCat("index ", name, " replicas"),
                   index.number_of_replicas(), 0, kMaxReplicasPerIndex);
        !s.ok())
      return s;
    if (absl::Status s =
            Number(absl::StrCat("index ", name, " refresh_interval_ms"),
                   index.refresh_interval_ms(), -1, kMaxProtocolNumber);
        !s.ok())
      return s;
    if (index.shards_size() != index.number_of_shards()) {
      return Invalid(
          absl::StrCat("index ", name),
          absl::StrCat("lists ", index.shards_size(), " shard routings for ",
                       index.number_of_shards(), " shards"));
    }
    for (int i = 0; i < index.shards_size(); ++i) {
      const pb::ShardRouting& routing = index.shards(i);
      const std::string shard = absl::StrCat(name, "[", i, "]");
      if (routing.shard() != i) {
        return Invalid(absl::StrCat("shard ", shard),
                       absl::StrCat("is numbered ", routing.shard()));
      }
      if (absl::Status s = Number(absl::StrCat("shard ", shard, " term"),
                                  routing.primary_term(), 0);
          !s.ok())
        return s;
      std::set<std::string> holders;
      int primaries = 0;
      for (const pb::ShardCopy& copy : routing.copies()) {
        if (absl::Status s =
                NodeId(absl::StrCat("shard ", shard, " copy"), copy.node_id());
            !s.ok())
          return s;
        if (!holders.insert(copy.node_id()).second) {
          return Invalid(absl::StrCat("shard ", shard),
                         "has two copies on one node");
        }
        if (!pb::ShardCopy::State_IsValid(copy.state()))
          return Invalid(absl::StrCat("shard ", shard), "has a bad copy state");
        if (absl::Status s = Text("allocation id", copy.allocation_id(), 255);
            !s.ok())
          return s;
        if (copy.primary()) ++primaries;
      }
      if (primaries > 1)
        return Invalid(absl::StrCat("shard ", shard), "has two primaries");
      for (const std::string& id : routing.in_sync()) {
        if (absl::Status s =
                NodeId(absl::StrCat("shard ", shard, " in-sync id"), id);
            !s.ok())
          return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateMessage(const pb::Envelope& request) {
  switch (request.body_case()) {
    case pb::Envelope::kWrite:
      return Write(request.write());
    case pb::Envelope::kBulk:
      for (const pb::WriteRequest& item : request.bulk().items()) {
        if (absl::Status s = Write(item); !s.ok())
          return Invalid("bulk item", s.message());
      }
      return absl::OkStatus();
    case pb::Envelope::kGet: {
      const pb::GetRequest& get = request.get();
      if (absl::Status s = Index("index", get.index()); !s.ok()) return s;
      if (absl::Status s = Text("id", get.id(), kMaxDocIdBytes); !s.ok())
        return s;
      if (absl::Status s = Text("routing", get.routing(), kMaxRoutingBytes);
          !s.ok())
        return s;
      if (absl::Status s =
              Text("preference", get.preference(), kMaxRoutingBytes);
          !s.ok())
        return s;
      return Shard("shard", get.shard());
    }
    case pb::Envelope::kSearch:
      return Search(request.search());
    case pb::Envelope::kShardSearch:
      return Search(request.shard_search());
    case pb::Envelope::kRefresh:
      for (const std::string& index : request.refresh().indices()) {
        if (absl::Status s = Index("indices", index); !s.ok()) return s;
      }
      return absl::OkStatus();
    case pb::Envelope::kCreateIndex: {
      const pb::CreateIndexRequest& create = request.create_index();
      if (absl::Status s = Index("index", create.index()); !s.ok()) return s;
      for (const std::string& alias : create.aliases()) {
        if (absl::Status s = Index("aliases", alias); !s.ok()) return s;
      }
      if (absl::Status s = Number("number_of_shards", create.number_of_shards(),
                                  0, kMaxShardsPerIndex);
          !s.ok())
        return s;
      if (absl::Status s =
              Number("refresh_interval_ms", create.refresh_interval_ms(), -1,
                     kMaxProtocolNumber);
          !s.ok())
        return s;
      if (absl::Status s =
              Number("max_result_window", create.max_result_window(), 0,
                     std::numeric_limits<int32_t>::max());
          !s.ok())
        return s;
      return Number("number_of_replicas", create.number_of_replicas(), -1,
                    kMaxReplicasPerIndex);
    }
    case pb::Envelope::kDeleteIndex:
      return Index("index", request.delete_index().index());
    case pb::Envelope::kUpdateIndices: {
      const pb::UpdateIndicesRequest& update = request.update_indices();
      const bool settings = update.has_refresh_interval_ms() ||
                            update.has_number_of_replicas() ||
                            update.has_max_result_window();
      if (update.alias_actions_size() == 0 && !settings)
        return Invalid("update_indices", "changes nothing");
      if (settings != (update.settings_indices_size() > 0))
        return Invalid("settings_indices", settings
                                               ? "is empty on a settings update"
                                               : "is set without a setting");
      for (const pb::AliasAction& action : update.alias_actions()) {
        if (absl::Status s = Index("alias action index", action.index());
            !s.ok())
          return s;
        if (absl::Status s = Index("alias action alias", action.alias());
            !s.ok())
          return s;
      }
      for (const std::string& index : update.settings_indices()) {
        if (absl::Status s = Index("settings_indices", index); !s.ok())
          return s;
      }
      if (update.has_refresh_interval_ms()) {
        if (absl::Status s =
                Number("refresh_interval_ms", update.refresh_interval_ms(), -1,
                       kMaxProtocolNumber);
            !s.ok())
          return s;
      }
      if (update.has_max_result_window()) {
        if (absl::Status s =
                Number("max_result_window", update.max_result_window(), 0,
                       std::numeric_limits<int32_t>::max());
            !s.ok())
          return s;
      }
      if (update.has_number_of_replicas()) {
        return Number("number_of_replicas", update.number_of_replicas(), 0,
                      kMaxReplicasPerIndex);
      }
      return absl::OkStatus();
    }
    case pb::Envelope::kReplicate: {
      const pb::ReplicateRequest& r = request.replicate();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 1); !s.ok())
        return s;
      if (absl::Status s = SeqNo("global_checkpoint", r.global_checkpoint());
          !s.ok())
        return s;
      if (absl::Status s = SeqNo("max_seq_no_of_updates_or_deletes",
                                 r.max_seq_no_of_updates_or_deletes());
          !s.ok())
        return s;
      if (absl::Status s = Text("primary_node", r.primary_node(), 255); !s.ok())
        return s;
      return Operations(r.ops());
    }
    case pb::Envelope::kResync: {
      const pb::ResyncRequest& r = request.resync();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 1); !s.ok())
        return s;
      if (absl::Status s = SeqNo("global_checkpoint", r.global_checkpoint());
          !s.ok())
        return s;
      if (absl::Status s = SeqNo("trim_above_seq_no", r.trim_above_seq_no());
          !s.ok())
        return s;
      if (absl::Status s = Text("primary_node", r.primary_node(), 255); !s.ok())
        return s;
      return Operations(r.ops());
    }
    case pb::Envelope::kStartRecovery: {
      const pb::StartRecoveryRequest& r = request.start_recovery();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = NodeId("target_node", r.target_node()); !s.ok())
        return s;
      if (absl::Status s = SeqNo("local_checkpoint", r.local_checkpoint());
          !s.ok())
        return s;
      if (absl::Status s = Number("target_term", r.target_term(), 0); !s.ok())
        return s;
      return Text("allocation_id", r.allocation_id(), 255);
    }
    case pb::Envelope::kRecoverySnapshot: {
      const pb::RecoverySnapshotRequest& r = request.recovery_snapshot();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 1); !s.ok())
        return s;
      for (int64_t n :
           {r.max_seq_no(), r.local_checkpoint(), r.global_checkpoint()}) {
        if (absl::Status s = SeqNo("snapshot checkpoint", n); !s.ok()) return s;
      }
      if (absl::Status s = Text("primary_node", r.primary_node(), 255); !s.ok())
        return s;
      return Operations(r.docs());
    }
    case pb::Envelope::kRecoveryOps: {
      const pb::RecoveryOpsRequest& r = request.recovery_ops();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 1); !s.ok())
        return s;
      if (absl::Status s = SeqNo("global_checkpoint", r.global_checkpoint());
          !s.ok())
        return s;
      if (absl::Status s = Text("primary_node", r.primary_node(), 255); !s.ok())
        return s;
      return Operations(r.ops());
    }
    case pb::Envelope::kJoin: {
      const pb::JoinRequest& join = request.join();
      if (absl::Status s = NodeInfo(join.node()); !s.ok()) return s;
      for (const pb::LocalShardInfo& info : join.shards()) {
        if (absl::Status s = ShardRef("shard", info.shard()); !s.ok()) return s;
        if (absl::Status s = ValidateUuid(info.index_uuid()); !s.ok())
          return Invalid("index", s.message());
        if (absl::Status s = Number("primary_term", info.primary_term(), 0);
            !s.ok())
          return s;
        if (absl::Status s = SeqNo("max_seq_no", info.max_seq_no()); !s.ok())
          return s;
        if (absl::Status s = SeqNo("local_checkpoint", info.local_checkpoint());
            !s.ok())
          return s;
      }
      return absl::OkStatus();
    }
    case pb::Envelope::kHeartbeat: {
      const pb::HeartbeatRequest& beat = request.heartbeat();
      if (absl::Status s = NodeId("node_id", beat.node_id()); !s.ok()) return s;
      return Number("state_version", beat.state_version(), -1);
    }
    case pb::Envelope::kShardFailed: {
      const pb::ShardFailedRequest& r = request.shard_failed();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = NodeId("failed_node", r.failed_node()); !s.ok())
        return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 0); !s.ok())
        return s;
      if (absl::Status s = Text("reason", r.reason()); !s.ok()) return s;
      return Text("sender", r.sender(), 255);
    }
    case pb::Envelope::kShardStarted: {
      const pb::ShardStartedRequest& r = request.shard_started();
      if (absl::Status s = ShardRef("shard", r.shard()); !s.ok()) return s;
      if (absl::Status s = NodeId("node_id", r.node_id()); !s.ok()) return s;
      if (absl::Status s = Number("primary_term", r.primary_term(), 0); !s.ok())
        return s;
      if (absl::Status s = SeqNo("local_checkpoint", r.local_checkpoint());
          !s.ok())
        return s;
      return Text("allocation_id", r.allocation_id(), 255);
    }
    case pb::Envelope::kPublish:
      if (!request.publish().has_state())
        return Invalid("publish", "carries no cluster state");
      return ValidateClusterState(request.publish().state());
    case pb::Envelope::kFault: {
      const pb::FaultRequest& fault = request.fault();
      if (!pb::FaultRequest::Action_IsValid(fault.action()))
        return Invalid("fault action",
                       "is not partition, heal, delay, drop or duplicate");
      if ((fault.action() == pb::FaultRequest::DROP ||
           fault.action() == pb::FaultRequest::DUPLICATE) &&
          !(fault.probability() >= 0 && fault.probability() <= 1)) {
        return Invalid("probability", "must be within [0, 1]");
      }
      for (const std::string& peer : fault.peers()) {
        if (absl::Status s = Text("peer", peer, 255); !s.ok()) return s;
      }
      return Number("delay_ms", fault.delay_ms(), 0, 600'000);
    }
    case pb::Envelope::kGetClusterState:
    case pb::Envelope::kNodeStatus:
      return absl::OkStatus();
    default:
      return Invalid("message", "is not a request");
  }
}

}  // namespace seqsim
