// The fake cluster behind the REST adapter tests (rest_server_test.cc,
// rest_api_test.cc, rest_content_type_test.cc, rest_fidelity_test.cc,
// rest_query_test.cc): a Dispatcher that answers every envelope from a script
// and records what it received, a fixture that starts a RestServer on a free
// loopback port (node/rest/rest_server.h, the Elasticsearch REST API
// families) with an HTTP client pointed at it, and RestTest, that fixture in
// front of a two-node cluster with one green index "movies".
//
// Thread-safety: FakeDispatcher is called from the server's IO threads; set
// `answer` and `unrecorded_state` before sending a request.
#ifndef SEQSIM_TESTS_REST_REST_TEST_FIXTURE_H_
#define SEQSIM_TESTS_REST_REST_TEST_FIXTURE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "node/rest/rest_server.h"
#include "proto/seqsim.pb.h"

namespace seqsim::rest_test {

using Json = nlohmann::ordered_json;

inline constexpr char kJson[] = "application/json";

// Answers every envelope with `answer` (scripted per test) and records what it
// received.
class FakeDispatcher : public Dispatcher {
 public:
  // The reply to `request` sent to `node` ("" for this node's actor); an
  // empty envelope when unset.
  std::function<pb::Envelope(const std::string& node, const pb::Envelope&)>
      answer;
  // When set, every get_cluster_state is answered with this state, neither
  // recorded nor passed to `answer`.
  std::optional<pb::ClusterState> unrecorded_state;

  void Dispatch(pb::Envelope request, DispatchReply reply) override {
    DispatchTo("", std::move(request), std::move(reply));
  }
  void DispatchTo(const std::string& node_id, pb::Envelope request,
                  DispatchReply reply) override {
    if (unrecorded_state.has_value() && request.has_get_cluster_state()) {
      pb::Envelope state;
      *state.mutable_get_cluster_state_response()->mutable_state() =
          *unrecorded_state;
      reply(std::move(state));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      received_.push_back(request);
    }
    pb::Envelope response = answer ? answer(node_id, request) : pb::Envelope();
    reply(std::move(response));
  }
  std::string NodeId() const override { return "node-1"; }
  std::string ClusterName() const override { return "seqsim"; }

  std::vector<pb::Envelope> received() {
    absl::MutexLock lock(&mu_);
    return received_;
  }

 private:
  absl::Mutex mu_;
  std::vector<pb::Envelope> received_ ABSL_GUARDED_BY(mu_);
};

// A RestServer with `options_` (on a free port) in front of `dispatcher_`,
// and `client_` to it. Derived fixtures change `options_` and script
// `dispatcher_` in their SetUp, around RestFixture::SetUp().
class RestFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.port = 0;
    server_ = std::make_unique<RestServer>(&dispatcher_, options_);
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(30, 0);
  }
  void TearDown() override { server_->Stop(); }

  static Json Body(const httplib::Result& result) {
    return Json::parse(result->body, nullptr, false);
  }
  // Every envelope the server sent, in order.
  std::vector<pb::Envelope> Sent() { return dispatcher_.received(); }

  FakeDispatcher dispatcher_;
  RestOptions options_;
  std::unique_ptr<RestServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

// A write's reply: `result` with `version` and `seq_no`, term 1, 2 of 2
// copies.
inline pb::WriteResponse Written(const std::string& index,
                                 const std::string& id,
                                 const std::string& result, int64_t version,
                                 int64_t seq_no) {
  pb::WriteResponse response;
  response.set_index(index);
  response.set_id(id);
  response.set_version(version);
  response.set_result(result);
  response.mutable_shards()->set_total(2);
  response.mutable_shards()->set_successful(2);
  response.set_seq_no(seq_no);
  response.set_primary_term(1);
  return response;
}

// A two-node cluster state with one index "movies" (1 shard, 1 replica), both
// copies started.
inline pb::ClusterState GreenState() {
  pb::ClusterState state;
  state.set_version(7);
  state.set_cluster_name("seqsim");
  state.set_cluster_uuid("cluster-uuid-1");
  for (const char* id : {"node-1", "node-2"}) {
    pb::NodeInfo* node = state.add_nodes();
    node->set_id(id);
    node->set_rest_address("127.0.0.1:9200");
    node->set_alive(true);
  }
  pb::IndexMeta* index = state.add_indices();
  index->set_name("movies");
  index->set_uuid("uuid-movies");
  index->set_number_of_shards(1);
  index->set_number_of_replicas(1);
  index->set_creation_date_ms(1700000000000);
  pb::ShardRouting* shard = index->add_shards();
  shard->set_shard(0);
  shard->set_primary_term(1);
  pb::ShardCopy* primary = shard->add_copies();
  primary->set_node_id("node-1");
  primary->set_primary(true);
  primary->set_state(pb::ShardCopy::STARTED);
  pb::ShardCopy* replica = shard->add_copies();
  replica->set_node_id("node-2");
  replica->set_state(pb::ShardCopy::STARTED);
  return state;
}

class RestTest : public rest_test::RestFixture {
 protected:
  void SetUp() override {
    options_.max_body_bytes = 64 * 1024;
    RestFixture::SetUp();
    if (HasFatalFailure()) return;
    dispatcher_.answer = [](const std::string&, const pb::Envelope& request) {
      return DefaultAnswer(request);
    };
  }

  static pb::Envelope DefaultAnswer(const pb::Envelope& request) {
    pb::Envelope reply;
    if (request.has_write()) {
      *reply.mutable_write_response() = Written(
          request.write().index(), request.write().id(), "created", 1, 0);
    } else if (request.has_bulk()) {
      for (const pb::WriteRequest& item : request.bulk().items()) {
        *reply.mutable_bulk_response()->add_items() =
            Written(item.index(), item.id(), "created", 1, 0);
      }
    } else if (request.has_get_cluster_state()) {
      *reply.mutable_get_cluster_state_response()->mutable_state() =
          GreenState();
    } else if (request.has_create_index()) {
      reply.mutable_create_index_response()->set_acknowledged(true);
    } else if (request.has_update_indices()) {
      // As the coordinator answers an alias or settings update it applied.
      reply.mutable_update_indices_response()->set_acknowledged(true);
    } else if (request.has_refresh()) {
      // Each node holds one copy of movies.
      reply.mutable_refresh_response()->set_refreshed(1);
    } else if (request.has_node_status()) {
      pb::ShardStatus* shard =
          reply.mutable_node_status_response()->add_shards();
      shard->set_index("movies");
      shard->set_shard(0);
      shard->set_docs(3);
      shard->set_refreshed_docs(3);
      shard->set_max_seq_no(4);
      shard->set_local_checkpoint(4);
      shard->set_global_checkpoint(3);
    }
    return reply;
  }

  // What was sent apart from the cluster state reads (searches and counts
  // read it to resolve their index expressions).
  std::vector<pb::Envelope> SentBesidesState() {
    std::vector<pb::Envelope> out;
    for (pb::Envelope& envelope : dispatcher_.received()) {
      if (!envelope.has_get_cluster_state()) out.push_back(std::move(envelope));
    }
    return out;
  }
};

}  // namespace seqsim::rest_test

#endif  // SEQSIM_TESTS_REST_REST_TEST_FIXTURE_H_
