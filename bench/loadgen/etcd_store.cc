// etcd through its v3 gRPC API (etcd_kv.proto): one channel per endpoint,
// shared by the sessions on that endpoint (HTTP/2 multiplexing, as etcd's Go
// client does), synchronous calls with a deadline.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/loadgen/store.h"
#include "etcd_kv.grpc.pb.h"

namespace seqsim::loadgen {
namespace {

namespace epb = ::etcdserverpb;

class EtcdSession final : public Session {
 public:
  EtcdSession(std::shared_ptr<grpc::Channel> channel, std::string prefix,
              absl::Duration timeout)
      : kv_(epb::KV::NewStub(channel)),
        prefix_(std::move(prefix)),
        timeout_(timeout) {}

  absl::StatusOr<Seen> Read(const std::string& key) override {
    epb::RangeRequest req;
    req.set_key(prefix_ + key);
    epb::RangeResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status s = kv_->Range(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    Seen seen;
    if (resp.kvs_size() > 0) {
      seen.found = true;
      seen.a = resp.kvs(0).mod_revision();
    }
    return seen;
  }

  WriteResult CompareAndSet(const std::string& key, const Seen& seen,
                            const std::string& value) override {
    epb::TxnRequest req;
    epb::Compare* cmp = req.add_compare();
    cmp->set_key(prefix_ + key);
    cmp->set_result(epb::Compare::EQUAL);
    if (seen.found) {
      cmp->set_target(epb::Compare::MOD);
      cmp->set_mod_revision(seen.a);
    } else {
      cmp->set_target(epb::Compare::VERSION);
      cmp->set_version(0);
    }
    epb::PutRequest* put = req.add_success()->mutable_request_put();
    put->set_key(prefix_ + key);
    put->set_value(value);
    epb::TxnResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status s = kv_->Txn(&ctx, req, &resp);
    WriteResult out;
    if (!s.ok()) {
      out.error = s.error_message();
      return out;
    }
    out.outcome = resp.succeeded() ? Outcome::kOk : Outcome::kConflict;
    out.term = static_cast<int64_t>(resp.header().raft_term());
    return out;
  }

  WriteResult Put(const std::string& key, const std::string& value) override {
    epb::PutRequest req;
    req.set_key(prefix_ + key);
    req.set_value(value);
    epb::PutResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status s = kv_->Put(&ctx, req, &resp);
    WriteResult out;
    if (!s.ok()) {
      out.error = s.error_message();
      return out;
    }
    out.outcome = Outcome::kOk;
    out.term = static_cast<int64_t>(resp.header().raft_term());
    return out;
  }

  BulkResult Bulk(
      const std::vector<std::pair<std::string, std::string>>& items) override {
    BulkResult out;
    out.item_ok.assign(items.size(), false);
    epb::TxnRequest req;
    for (const auto& [key, value] : items) {
      epb::PutRequest* put = req.add_success()->mutable_request_put();
      put->set_key(prefix_ + key);
      put->set_value(value);
    }
    epb::TxnResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status s = kv_->Txn(&ctx, req, &resp);
    if (!s.ok()) {
      out.status = absl::UnavailableError(s.error_message());
      return out;
    }
    out.item_ok.assign(items.size(), resp.succeeded());
    return out;
  }

  absl::StatusOr<int64_t> CountPresent(
      const std::vector<std::string>& keys) override {
    // One Txn of point reads (count only), so the check is exact per key.
    epb::TxnRequest req;
    for (const std::string& key : keys) {
      epb::RangeRequest* r = req.add_success()->mutable_request_range();
      r->set_key(prefix_ + key);
      r->set_count_only(true);
    }
    epb::TxnResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    grpc::Status s = kv_->Txn(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    int64_t present = 0;
    for (const epb::ResponseOp& op : resp.responses())
      present += op.response_range().count();
    return present;
  }

 private:
  void SetDeadline(grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(timeout_));
  }

  std::unique_ptr<epb::KV::Stub> kv_;
  std::string prefix_;
  absl::Duration timeout_;
};

class EtcdStore final : public Store {
 public:
  explicit EtcdStore(StoreOptions options) : options_(std::move(options)) {
    for (const std::string& e : options_.endpoints) {
      grpc::ChannelArguments args;
      // Keep each endpoint's channel separate (no subchannel sharing), like
      // one client connection per endpoint.
      args.SetInt("grpc.use_local_subchannel_pool", 1);
      args.SetMaxReceiveMessageSize(64 << 20);
      channels_.push_back(grpc::CreateCustomChannel(
          e, grpc::InsecureChannelCredentials(), args));
    }
  }

  absl::Status Prepare(int, int) override {
    for (size_t i = 0; i < channels_.size(); ++i) {
      if (!channels_[i]->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(10))) {
        return absl::UnavailableError(
            absl::StrCat("etcd ", options_.endpoints[i], " not reachable"));
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Session> NewSession(int endpoint) override {
    return std::make_unique<EtcdSession>(channels_[endpoint % channels_.size()],
                                         options_.space + "/",
                                         options_.timeout);
  }

  int endpoints() const override { return static_cast<int>(channels_.size()); }

  absl::StatusOr<Leader> FindLeader() override {
    Leader leader;
    for (size_t i = 0; i < channels_.size(); ++i) {
      auto m = epb::Maintenance::NewStub(channels_[i]);
      epb::StatusRequest req;
      epb::StatusResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
      if (!m->Status(&ctx, req, &resp).ok()) continue;
      if (resp.leader() != 0 && resp.leader() == resp.header().member_id()) {
        leader.endpoint = static_cast<int>(i);
        leader.name = options_.endpoints[i];
        leader.term = static_cast<int64_t>(resp.raft_term());
      }
    }
    if (leader.endpoint < 0) return absl::UnavailableError("no etcd leader");
    return leader;
  }

  std::string name() const override { return "etcd"; }

 private:
  StoreOptions options_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
};

}  // namespace

std::unique_ptr<Store> NewEtcdStore(StoreOptions options) {
  return std::make_unique<EtcdStore>(std::move(options));
}

}  // namespace seqsim::loadgen
