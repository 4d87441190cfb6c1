// Node::State: shard copies on disk. Opens a copy (its engine replays its
// translog, R10: a restarted node replays what it holds durably), closes it
// (answering what waited on it) and reopens every copy found on disk at start.
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/validation.h"
#include "nlohmann/json.hpp"
#include "node/engine/shard_engine.h"
#include "node/logic/node_state.h"

namespace seqsim {

namespace {

std::string ShardDir(const std::string& uuid, int shard) {
  return absl::StrCat("shards/", uuid, "/", shard);
}

}  // namespace

absl::StatusOr<LocalCopy*> Node::State::OpenCopy(const std::string& uuid,
                                                 const std::string& index,
                                                 int shard) {
  if (LocalCopy* existing = FindCopy(uuid, shard)) return existing;
  // The name goes into a JSON file and the uuid names a directory: never
  // open a copy for either if invalid (a strict JSON dump would throw).
  if (absl::Status valid = ValidateIndexNameText(index); !valid.ok())
    return valid;
  if (absl::Status valid = ValidateUuid(uuid); !valid.ok()) return valid;
  CopyKey key{uuid, shard};
  const std::string dir = ShardDir(uuid, shard);
  nlohmann::json meta = {
      {"index", index}, {"index_uuid", uuid}, {"shard", shard}};
  if (!env->disk()->Exists(dir + "/meta")) {
    absl::Status written =
        env->disk()->WriteFileAtomic(dir + "/meta", meta.dump());
    if (!written.ok()) return written;
  }
  EngineOptions engine_options;
  engine_options.translog_path = dir + "/translog";
  engine_options.index = index;
  engine_options.index_uuid = uuid;
  engine_options.shard = shard;
  engine_options.unsafe_no_fencing = options.unsafe.no_fencing;
  engine_options.unsafe_no_seqno_check = options.unsafe.no_seqno_check;
  engine_options.unsafe_early_gc = options.unsafe.early_gc;
  engine_options.translog_generation_threshold_bytes =
      options.translog_generation_threshold_bytes;
  engine_options.flush_threshold_bytes = options.flush_threshold_bytes;
  engine_options.discard_history_on_replay = true;
  engine_options.retain_ops_below_global_checkpoint =
      options.retain_ops_below_global_checkpoint;
  absl::StatusOr<std::unique_ptr<ShardEngine>> engine =
      ShardEngine::Open(env->disk(), std::move(engine_options));
  if (!engine.ok()) return engine.status();
  auto copy = std::make_unique<LocalCopy>();
  copy->key = key;
  copy->index = index;
  copy->incarnation = next_incarnation++;
  copy->engine = std::move(*engine);
  LocalCopy* raw = copy.get();
  copies_by_incarnation.emplace_back(raw->incarnation, raw);
  copies[key] = std::move(copy);
  ScheduleRefresh(*raw, FirstRefreshDelay(*raw));
  Log(absl::StrCat(me(), " opens ", ShardName(index, shard), " (uuid ", uuid,
                   "): term ", raw->engine->term(), ", max_seq_no ",
                   raw->engine->max_seq_no(), ", local checkpoint ",
                   raw->engine->local_checkpoint(), ", global checkpoint ",
                   raw->engine->global_checkpoint()));
  return raw;
}

void Node::State::CloseCopy(const CopyKey& key, bool remove_data,
                            const std::string& why) {
  LocalCopy* copy = FindCopy(key);
  if (copy == nullptr) return;
  FailInFlight(copy, absl::StrCat(Name(*copy), " closed: ", why));
  if (copy->engine->NeedsSync()) (void)copy->engine->Sync();
  Log(absl::StrCat(me(), " closes ", Name(*copy), ": ", why,
                   remove_data ? "; its data is removed" : ""));
  // Writes waiting for a refresh were acknowledged by every copy: they get
  // their answer now.
  auto waiters = std::move(copy->refresh_waiters);
  copies_by_incarnation.erase(FindIncarnation(copy->incarnation));
  copies.erase(key);
  if (remove_data)
    (void)env->disk()->RemoveAll(ShardDir(key.first, key.second));
  for (auto& [seq_no, fn] : waiters) fn();
}

void Node::State::OpenCopiesOnDisk() {
  for (const std::string& uuid : env->disk()->List("shards")) {
    for (const std::string& shard_name : env->disk()->List("shards/" + uuid)) {
      int shard = 0;
      if (!absl::SimpleAtoi(shard_name, &shard)) continue;
      absl::StatusOr<std::string> meta_text =
          env->disk()->ReadFile(ShardDir(uuid, shard) + "/meta");
      if (!meta_text.ok()) continue;
      nlohmann::json meta = nlohmann::json::parse(*meta_text, nullptr, false);
      if (meta.is_discarded() || !meta.is_object() || !meta.contains("index") ||
          !meta["index"].is_string()) {
        Log(absl::StrCat(me(), " skips ", ShardDir(uuid, shard),
                         ": unreadable meta file"));
        continue;
      }
      absl::StatusOr<LocalCopy*> copy =
          OpenCopy(uuid, meta["index"].get<std::string>(), shard);
      if (!copy.ok()) {
        Log(absl::StrCat(me(), " cannot open ", ShardDir(uuid, shard), ": ",
                         copy.status().ToString()));
      }
    }
  }
}

}  // namespace seqsim
