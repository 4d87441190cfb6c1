// Each teaching scenario is a lesson: its golden file (golden/<name>.txt)
// begins with the explanation paragraph and then lists, with virtual time,
// every decision the actors took. These tests run each scenario and compare
// its explained trace with the golden file byte for byte, and assert the
// scenario's outcome; each unsafe pair must fail with the invariant named.
//
// After an intended change of the node logic's decisions or words, regenerate:
//   SEQSIM_UPDATE_GOLDEN=1 build/bin/seqsim-scenario-tests
// and read the diff of tests/scenarios/golden/ before committing it.
#include "sim/scenarios/scenarios.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "sim/lab/lab.h"

namespace seqsim::sim {
namespace {

using ::testing::HasSubstr;

std::string GoldenPath(const std::string& name) {
  return std::string(SEQSIM_GOLDEN_DIR) + "/" + name + ".txt";
}

// A line-by-line diff (first differences only) for the failure message.
std::string Diff(const std::string& want, const std::string& got) {
  const std::vector<std::string> a = absl::StrSplit(want, '\n');
  const std::vector<std::string> b = absl::StrSplit(got, '\n');
  std::ostringstream out;
  int shown = 0;
  for (size_t i = 0; i < std::max(a.size(), b.size()) && shown < 20; ++i) {
    const std::string x = i < a.size() ? a[i] : "<end>";
    const std::string y = i < b.size() ? b[i] : "<end>";
    if (x == y) continue;
    out << "line " << i + 1 << ":\n  - " << x << "\n  + " << y << "\n";
    ++shown;
  }
  return out.str();
}

// Runs `name` and compares its explained trace with the golden file.
ScriptedResult RunAndCompare(const std::string& name,
                             const std::string& unsafe = "") {
  const ScriptedScenario* scenario = FindScriptedScenario(name);
  EXPECT_NE(scenario, nullptr) << name;
  if (scenario == nullptr) return {};
  auto modes = ParseUnsafe(unsafe);
  EXPECT_TRUE(modes.ok());
  ScriptedResult result = RunScripted(name, *modes);
  const std::string got = ExplainedText(*scenario, *modes, result);
  const std::string file =
      GoldenPath(unsafe.empty() ? name : name + "--" + unsafe);
  if (std::getenv("SEQSIM_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(file, std::ios::binary | std::ios::trunc) << got;
    return result;
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_TRUE(static_cast<bool>(in)) << "no golden file " << file;
  EXPECT_EQ(want.str(), got)
      << "the explained trace of " << name << " differs from " << file << ":\n"
      << Diff(want.str(), got)
      << "If the change is intended, regenerate with "
         "SEQSIM_UPDATE_GOLDEN=1 seqsim-scenario-tests and review the diff.";
  return result;
}

TEST(ScenarioOutOfOrder, ReplicaIgnoresSeqNo6AfterHolding8) {
  ScriptedResult r = RunAndCompare("out-of-order");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_THAT(r.final_docs[std::string(node) + " doc 7"],
                HasSubstr("seq_no 8 term 1 version 9 {\"v\":8}"))
        << node;
  }
}

TEST(ScenarioOutOfOrder, WithoutSeqNoCheckTheCopiesDiverge) {
  ScriptedResult r = RunAndCompare("out-of-order", "no-seqno-check");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "quiet-down-convergence");
}

TEST(ScenarioDeleteTombstone, OldIndexAfterDeleteDoesNotResurrect) {
  ScriptedResult r = RunAndCompare("delete-tombstone");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(r.final_docs[std::string(node) + " doc 7"], "not found");
  }
}

TEST(ScenarioDeleteTombstone, WithoutSeqNoCheckTheDocComesBack) {
  ScriptedResult r = RunAndCompare("delete-tombstone", "no-seqno-check");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "quiet-down-convergence");
}

TEST(ScenarioLostUpdate, WithoutCasOneIncrementIsLostWithCasTheLoserRetries) {
  ScriptedResult r = RunAndCompare("lost-update");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_EQ(r.facts.at("without-cas"), "{\"v\":1}");
  EXPECT_EQ(r.facts.at("with-cas"), "{\"v\":2}");
  EXPECT_THAT(r.facts.at("cas-loser-error"),
              HasSubstr("409 version_conflict_engine_exception"));
}

TEST(ScenarioStalePrimary, OldPrimaryIsFencedByItsReplicas) {
  ScriptedResult r = RunAndCompare("stale-primary");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_THAT(r.facts.at("stale-write"),
              HasSubstr("operation primary term [1] is too old (current [2])"));
}

TEST(ScenarioStalePrimary, WithoutFencingAReplicaAcksAnOldTerm) {
  ScriptedResult r = RunAndCompare("stale-primary", "no-fencing");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "replica-term-fencing");
}

// R11: a 409 needs no replication, so a deposed primary may give it only
// after its in-sync copies confirm its term; the CAS is rerouted to the new
// primary (R12) or answered as unknown, never with a definite wrong 409.
TEST(ScenarioDeposedCas, DeposedPrimaryGivesNoDefiniteWrong409) {
  ScriptedResult r = RunAndCompare("deposed-cas");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_EQ(r.facts.at("promoted"), "node-2");
  EXPECT_EQ(r.facts.at("x=B"), "seq_no 1 term 2");
  EXPECT_THAT(r.facts.at("deposed-cas"),
              ::testing::Not(HasSubstr("version_conflict_engine_exception")));
}

TEST(ScenarioDeposedCas, WithoutConflictBarrierTheDeposedPrimaryAnswers409) {
  ScriptedResult r = RunAndCompare("deposed-cas", "no-conflict-barrier");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "linearizable");
  EXPECT_THAT(r.detail, HasSubstr("409 conflict (claims the register was not "
                                  "2)"));
  EXPECT_THAT(r.facts.at("deposed-cas"),
              HasSubstr("409 version_conflict_engine_exception: [x]: version "
                        "conflict, required seqNo [1], primary term [2]. "
                        "current document has seqNo [0] and primary term [1]"));
}

TEST(ScenarioResync, NewPrimaryResyncsTrimsAndFillsGaps) {
  ScriptedResult r = RunAndCompare("resync");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
}

TEST(ScenarioResync, WithoutResyncTheReplicasDiverge) {
  ScriptedResult r = RunAndCompare("resync", "no-resync");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "quiet-down-convergence");
}

TEST(ScenarioRecovery, RestartedReplicaCatchesUp) {
  ScriptedResult r = RunAndCompare("recovery");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_THAT(r.final_docs["node-3 doc d5"], HasSubstr("{\"v\":5}"));
}

TEST(ScenarioExternalVersion, OlderAndEqualVersionsAreRefusedWith409) {
  ScriptedResult r = RunAndCompare("external-version");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_EQ(r.facts.at("results"), "created,updated,409,409");
  EXPECT_THAT(r.final_docs["node-2 doc p1"], HasSubstr("version 7"));
}

TEST(ScenarioAckedWrite, NoAckBeforeEveryInSyncCopyHasTheWrite) {
  ScriptedResult r = RunAndCompare("acked-write");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_EQ(r.facts.at("answered-before-crash"), "no");
}

TEST(ScenarioAckedWrite, EarlyAckLosesAnAcknowledgedWrite) {
  ScriptedResult r = RunAndCompare("acked-write", "early-ack");
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(r.violation, "acked-write-lost");
}

// Issue 16: search is near-real-time and per copy; GET is real-time.
TEST(ScenarioNearRealTime, AReplicasSearchLagsItsPrimaryWhileGetIsCurrent) {
  ScriptedResult r = RunAndCompare("near-real-time");
  EXPECT_TRUE(r.passed) << r.violation << ": " << r.detail;
  EXPECT_EQ(r.facts.at("write-acked"), "yes");
  EXPECT_EQ(r.facts.at("replica-get-current"), "yes");
  EXPECT_EQ(r.facts.at("searchable-everywhere"), "yes");
  EXPECT_EQ(r.facts.at("replica-search-lags-primary"), "yes");
}

TEST(ScenarioList, EveryUnsafeModeIsPairedWithAScenario) {
  std::set<std::string> paired;
  for (const auto& s : ScriptedScenarios()) paired.insert(s.unsafe);
  for (const char* mode : {"no-fencing", "no-seqno-check", "early-ack",
                           "no-resync", "no-conflict-barrier"}) {
    EXPECT_EQ(paired.count(mode), 1u) << mode;
  }
}

}  // namespace
}  // namespace seqsim::sim
