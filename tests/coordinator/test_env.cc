#include "tests/coordinator/test_env.h"

#include "absl/strings/str_cat.h"

namespace seqsim::testing {

TestEnv::TestEnv() {
  memory_disk().OnAtomicWrite([this](const std::string& path) {
    events.push_back(absl::StrCat("write ", path));
  });
}

void TestEnv::OnSend(const std::string& to, const pb::Envelope& request) {
  std::string kind = request.has_publish() ? "publish" : "request";
  int64_t version =
      request.has_publish() ? request.publish().state().version() : 0;
  events.push_back(absl::StrCat("send ", kind, " to ", to, " v", version));
}

}  // namespace seqsim::testing
