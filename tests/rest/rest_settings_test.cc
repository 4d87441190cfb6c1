// The index settings endpoints against a fake Dispatcher
// (rest_test_fixture.h): PUT /{index}/_settings sends the dynamic settings to
// the coordinator in one update_indices request, refuses the rest before
// sending anything; GET /{index}/_settings shows them.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "httplib.h"
#include "node/rest/rest_server.h"
#include "tests/rest/rest_test_fixture.h"

namespace seqsim {
namespace {

using rest_test::Json;
using rest_test::kJson;
using rest_test::RestTest;

// PUT /{index}/_settings sends the dynamic settings to the coordinator in one
// update; static and unknown settings are refused before anything is sent.
TEST_F(RestTest, PutSettingsSendsDynamicSettingsAndRefusesTheRest) {
  auto put = client_->Put(
      "/movies/_settings",
      R"({"index":{"refresh_interval":"5s","number_of_replicas":2}})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(put->body, R"({"acknowledged":true})");
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  const pb::UpdateIndicesRequest& update = sent[0].update_indices();
  EXPECT_EQ(std::vector<std::string>(update.settings_indices().begin(),
                                     update.settings_indices().end()),
            std::vector<std::string>{"movies"});
  EXPECT_EQ(update.refresh_interval_ms(), 5000);
  EXPECT_EQ(update.number_of_replicas(), 2);
  EXPECT_EQ(update.alias_actions_size(), 0);

  // A reset to the default, in the flat form.
  auto reset = client_->Put("/movies/_settings",
                            R"({"index.refresh_interval":null})", kJson);
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->status, 200);
  sent = SentBesidesState();  // what the server received so far
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[1].update_indices().has_refresh_interval_ms());
  EXPECT_EQ(sent[1].update_indices().refresh_interval_ms(), 0);
  EXPECT_FALSE(sent[1].update_indices().has_number_of_replicas());

  struct Refusal {
    const char* body;
    const char* type;
    const char* reason;
  };
  const Refusal refusals[] = {
      {R"({"index":{"number_of_shards":3}})", "illegal_argument_exception",
       "Can't update non dynamic settings [[index.number_of_shards]] for open "
       "indices [[movies/uuid-movies]]"},
      {R"({"index":{"colour":"red"}})", "illegal_argument_exception",
       "unknown setting [index.colour] please check that any required plugins "
       "are installed, or check the breaking changes documentation for "
       "removed settings"},
      {R"({"index":{"number_of_replicas":-1}})", "illegal_argument_exception",
       "Failed to parse value [-1] for setting [index.number_of_replicas] must "
       "be >= 0"},
      {R"({"index":{"refresh_interval":"soon"}})", "illegal_argument_exception",
       nullptr},
      {"{}", "action_request_validation_exception",
       "Validation Failed: 1: no settings to update;"},
  };
  for (const Refusal& refusal : refusals) {
    auto refused = client_->Put("/movies/_settings", refusal.body, kJson);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << refusal.body;
    EXPECT_EQ(Body(refused)["error"]["type"], refusal.type) << refusal.body;
    if (refusal.reason != nullptr) {
      EXPECT_EQ(Body(refused)["error"]["reason"], refusal.reason)
          << refusal.body;
    }
    EXPECT_EQ(SentBesidesState().size(), 2u) << refusal.body;
  }
  auto missing =
      client_->Put("/nope/_settings", R"({"refresh_interval":"1s"})", kJson);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(Body(missing)["error"]["type"], "index_not_found_exception");
}

TEST_F(RestTest, GetSettingsShowsEachIndexsSettings) {
  auto got = client_->Get("/movies/_settings");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  Json index = Body(got)["movies"]["settings"]["index"];
  EXPECT_EQ(index["number_of_shards"], "1");
  EXPECT_EQ(index["number_of_replicas"], "1");
  EXPECT_EQ(index["uuid"], "uuid-movies");
  EXPECT_EQ(index["provided_name"], "movies");
  auto flat = client_->Get("/_settings?flat_settings=true");
  ASSERT_TRUE(flat);
  EXPECT_EQ(Body(flat)["movies"]["settings"]["index.number_of_replicas"], "1");
  EXPECT_EQ(Body(flat)["movies"]["settings"]["index.version.created"],
            "8500003");
}

TEST_F(RestTest, PutSettingsSendsMaxResultWindow) {
  auto put = client_->Put("/movies/_settings",
                          R"({"index":{"max_result_window":50}})", kJson);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  std::vector<pb::Envelope> sent = SentBesidesState();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].update_indices().has_max_result_window());
  EXPECT_EQ(sent[0].update_indices().max_result_window(), 50);
  EXPECT_FALSE(sent[0].update_indices().has_refresh_interval_ms());
  auto bad = client_->Put("/movies/_settings",
                          R"({"index":{"max_result_window":0}})", kJson);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["reason"],
            "Failed to parse value [0] for setting [index.max_result_window] "
            "must be >= 1");
  EXPECT_EQ(SentBesidesState().size(), 1u);
}

}  // namespace
}  // namespace seqsim
