// The one index-name validator (common/index_name.h): Elasticsearch's rules in
// its order, and the same message from both entry points that call it, the
// REST layer (rest::ValidateIndexName) and the coordinator's create index.
#include "common/index_name.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "common/es_error.h"
#include "coordinator/logic/coordinator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/rest/rest_util.h"
#include "sim/world/sim_disk.h"

namespace seqsim {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Just enough world for a coordinator that answers create-index requests:
// an in-memory disk, a fixed clock, timers that never fire, no peers.
class QuietEnv final : public Env {
 public:
  absl::Duration Now() override { return absl::ZeroDuration(); }
  int64_t WallMillis() override { return 1700000000000; }
  TimerId After(absl::Duration, absl::AnyInvocable<void()>) override {
    return ++timers_;
  }
  void Cancel(TimerId) override {}
  void Send(const std::string&, pb::Envelope, ReplyFn on_reply,
            absl::Duration) override {
    on_reply(absl::UnavailableError("no peers in this test"));
  }
  void SetPeerAddress(const std::string&, const std::string&) override {}
  uint64_t RandomU64() override { return ++random_ * 0x9E3779B97F4A7C15ull; }
  Disk* disk() override { return &disk_; }
  void Log(std::string_view) override {}

 private:
  sim::SimDisk disk_;
  TimerId timers_ = 0;
  uint64_t random_ = 0;
};

// The coordinator's answer to creating index `name`.
pb::Error CoordinatorError(const std::string& name) {
  QuietEnv env;
  Coordinator coordinator(&env, CoordinatorOptions{});
  coordinator.Start();
  EXPECT_TRUE(coordinator.start_status().ok());
  pb::Envelope request;
  request.set_from("client");
  request.mutable_create_index()->set_index(name);
  std::optional<pb::Envelope> reply;
  coordinator.Handle(request, [&](pb::Envelope r) { reply = std::move(r); });
  EXPECT_TRUE(reply.has_value());
  return reply.has_value() ? reply->create_index_response().error()
                           : pb::Error();
}

// Names that break each rule but the forbidden-character one.
const std::vector<std::pair<std::string, IndexNameRule>>& BadNames() {
  static const auto* names =
      new std::vector<std::pair<std::string, IndexNameRule>>{
          {"", IndexNameRule::kEmpty},
          {"a#b", IndexNameRule::kContainsHash},
          {"#", IndexNameRule::kContainsHash},
          {"a:b", IndexNameRule::kContainsColon},
          {"_x", IndexNameRule::kBadFirstCharacter},
          {"-x", IndexNameRule::kBadFirstCharacter},
          {"+x", IndexNameRule::kBadFirstCharacter},
          {std::string(256, 'a'), IndexNameRule::kTooLong},
          {".", IndexNameRule::kDotOrDotDot},
          {"..", IndexNameRule::kDotOrDotDot},
          {"Foo", IndexNameRule::kNotLowercase},
          {"logs-Z", IndexNameRule::kNotLowercase},
          // The first broken rule wins, in Elasticsearch's order.
          {"_Foo", IndexNameRule::kBadFirstCharacter},
          {"Foo#", IndexNameRule::kContainsHash},
          {"#:", IndexNameRule::kContainsHash},
      };
  return *names;
}

const std::vector<std::string>& ForbiddenCharacterNames() {
  static const auto* names =
      new std::vector<std::string>{"a\\b", "a/b", "a*b", "a?b", "a\"b", "a<b",
                                   "a>b",  "a|b", "a b", "a,b", "A*#"};
  return *names;
}

TEST(IndexNameRules, ValidNamesPass) {
  for (const std::string& name :
       {std::string("logs"), std::string(".hidden-ok"),
        std::string("a.b_c-d+e"), std::string(255, 'a'),
        std::string("caf\xc3\xa9")}) {
    EXPECT_EQ(BrokenIndexNameRule(name), IndexNameRule::kValid) << name;
    EXPECT_EQ(InvalidIndexNameReason(name), std::nullopt) << name;
    EXPECT_TRUE(ValidateIndexName(name).ok()) << name;
  }
}

TEST(IndexNameRules, EachBadNameBreaksItsFirstRule) {
  for (const auto& [name, rule] : BadNames()) {
    EXPECT_EQ(BrokenIndexNameRule(name), rule) << name;
  }
  for (const std::string& name : ForbiddenCharacterNames()) {
    EXPECT_EQ(BrokenIndexNameRule(name), IndexNameRule::kForbiddenCharacter)
        << name;
  }
  EXPECT_EQ(BrokenIndexNameRule("a\xff"), IndexNameRule::kNotUtf8);
}

TEST(IndexNameRules, ReasonsUseElasticsearchsWording) {
  EXPECT_EQ(InvalidIndexNameReason("Foo"),
            "Invalid index name [Foo], must be lowercase");
  EXPECT_EQ(InvalidIndexNameReason(""),
            "Invalid index name [], must not be empty");
  EXPECT_EQ(InvalidIndexNameReason("_x"),
            "Invalid index name [_x], must not start with '_', '-', or '+'");
  EXPECT_EQ(InvalidIndexNameReason(std::string(256, 'a')),
            absl::StrCat("Invalid index name [", std::string(256, 'a'),
                         "], index name is too long, (256 > 255)"));
  EXPECT_EQ(InvalidIndexNameReason(".."),
            "Invalid index name [..], must not be '.' or '..'");
  EXPECT_EQ(InvalidIndexNameReason("a*b"),
            "Invalid index name [a*b], must not contain the following "
            "characters [' ','\"','*',',','/','<','>','?','\\','|']");
  EXPECT_EQ(InvalidIndexNameReason("a\xff"),
            "Invalid index name, must be valid UTF-8");
  absl::Status status = ValidateIndexName("Foo");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EsType(status), "invalid_index_name_exception");
  EXPECT_EQ(HttpStatus(status), 400);
  EXPECT_EQ(status.message(), "Invalid index name [Foo], must be lowercase");
}

// The point of one validator: REST and the coordinator say the same thing
// about the same bad name (status, type, reason, index, index uuid).
TEST(IndexNameRules, RestAndCoordinatorGiveTheSameError) {
  for (const auto& [name, rule] : BadNames()) {
    std::optional<pb::Error> rest = rest::ValidateIndexName(name);
    ASSERT_TRUE(rest.has_value()) << name;
    EXPECT_EQ(rest::InvalidIndexNameReason(name), rest->reason()) << name;
    const pb::Error coordinator = CoordinatorError(name);
    EXPECT_EQ(coordinator.status(), rest->status()) << name;
    EXPECT_EQ(coordinator.type(), rest->type()) << name;
    EXPECT_EQ(coordinator.reason(), rest->reason()) << name;
    EXPECT_EQ(coordinator.index(), rest->index()) << name;
    EXPECT_EQ(coordinator.index_uuid(), rest->index_uuid()) << name;
    EXPECT_EQ(rest->status(), 400) << name;
    EXPECT_EQ(rest->type(), "invalid_index_name_exception") << name;
  }
}

// The forbidden characters too: the coordinator lists them as REST does, in
// Elasticsearch 8's wording. Same rule, same error.
TEST(IndexNameRules, ForbiddenCharactersGiveTheSameErrorToo) {
  for (const std::string& name : ForbiddenCharacterNames()) {
    std::optional<pb::Error> rest = rest::ValidateIndexName(name);
    ASSERT_TRUE(rest.has_value()) << name;
    const pb::Error coordinator = CoordinatorError(name);
    const std::string prefix =
        absl::StrCat("Invalid index name [", name,
                     "], must not contain the following characters ");
    EXPECT_EQ(rest->reason(), *InvalidIndexNameReason(name)) << name;
    EXPECT_EQ(coordinator.reason(), rest->reason()) << name;
    EXPECT_EQ(
        coordinator.reason(),
        absl::StrCat(prefix, "[' ','\"','*',',','/','<','>','?','\\','|']"))
        << name;
    EXPECT_THAT(rest->reason(), StartsWith(prefix));
    EXPECT_THAT(coordinator.reason(), StartsWith(prefix));
    EXPECT_EQ(coordinator.type(), rest->type()) << name;
    EXPECT_EQ(coordinator.status(), rest->status()) << name;
    EXPECT_EQ(coordinator.index(), rest->index()) << name;
    EXPECT_EQ(coordinator.index_uuid(), rest->index_uuid()) << name;
  }
}

}  // namespace
}  // namespace seqsim
