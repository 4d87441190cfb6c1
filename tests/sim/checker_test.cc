// The linearizability checker against hand-written histories.
#include "sim/checker/checker.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/checker/history.h"
#include "sim/world/rng.h"

namespace seqsim::sim {
namespace {

HistoryEvent Ev(int64_t process, EventType type, Fn f, int64_t value,
                int64_t time, int64_t expected = kNil,
                const std::string& key = "k") {
  HistoryEvent e;
  e.process = process;
  e.type = type;
  e.f = f;
  e.key = key;
  e.value = value;
  e.expected = expected;
  e.time = time;
  return e;
}

// A completion with a result ("conflict", "not_found", "noop").
HistoryEvent Claim(int64_t process, EventType type, Fn f, int64_t value,
                   int64_t time, Outcome outcome, int64_t expected = kNil) {
  HistoryEvent e = Ev(process, type, f, value, time, expected);
  e.outcome = outcome;
  return e;
}

constexpr auto kInv = EventType::kInvoke;
constexpr auto kOk = EventType::kOk;
constexpr auto kFail = EventType::kFail;
constexpr auto kInfo = EventType::kInfo;

TEST(Checker, SequentialWriteThenReadIsLinearizable) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kRead, kNil, 2),
      Ev(2, kOk, Fn::kRead, 1, 3),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(Checker, ReadOfOverwrittenValueAfterAckIsNotLinearizable) {
  // write 1 acked, write 2 acked, then a read returns 1: stale read.
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),   Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kWrite, 2, 2),   Ev(1, kOk, Fn::kWrite, 2, 3),
      Ev(2, kInv, Fn::kRead, kNil, 4), Ev(2, kOk, Fn::kRead, 1, 5),
  };
  CheckResult r = CheckLinearizable(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r.key, "k");
  EXPECT_NE(r.explanation.find("read -> 1"), std::string::npos)
      << r.explanation;
}

TEST(Checker, ConcurrentReadMaySeeEitherValue) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0), Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kWrite, 2, 2), Ev(2, kInv, Fn::kRead, kNil, 3),
      Ev(2, kOk, Fn::kRead, 1, 4),   Ev(3, kInv, Fn::kRead, kNil, 5),
      Ev(3, kOk, Fn::kRead, 2, 6),   Ev(1, kOk, Fn::kWrite, 2, 7),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(Checker, ReadsGoingBackInTimeAreNotLinearizable) {
  // While write 2 is in flight, one read sees 2 and a later read sees 1 again.
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0), Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kWrite, 2, 2), Ev(2, kInv, Fn::kRead, kNil, 3),
      Ev(2, kOk, Fn::kRead, 2, 4),   Ev(3, kInv, Fn::kRead, kNil, 5),
      Ev(3, kOk, Fn::kRead, 1, 6),   Ev(1, kOk, Fn::kWrite, 2, 7),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kNotLinearizable);
}

TEST(Checker, IndeterminateWriteMayTakeEffectLateOrNever) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),   Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kWrite, 2, 2),   Ev(2, kInfo, Fn::kWrite, 2, 3),
      Ev(3, kInv, Fn::kRead, kNil, 4), Ev(3, kOk, Fn::kRead, 1, 5),
      Ev(3, kInv, Fn::kRead, kNil, 6), Ev(3, kOk, Fn::kRead, 2, 7),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(Checker, IndeterminateCasThatCannotApplyIsDropped) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),   Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCas, 3, 2, 7),  Ev(2, kInfo, Fn::kCas, 3, 3, 7),
      Ev(1, kInv, Fn::kWrite, 4, 4),   Ev(1, kOk, Fn::kWrite, 4, 5),
      Ev(3, kInv, Fn::kRead, kNil, 6), Ev(3, kOk, Fn::kRead, 4, 7),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(Checker, FailedWriteHasNoEffect) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),   Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kWrite, 2, 2),   Ev(2, kFail, Fn::kWrite, 2, 3),
      Ev(3, kInv, Fn::kRead, kNil, 4), Ev(3, kOk, Fn::kRead, 2, 5),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kNotLinearizable);
}

TEST(Checker, CasSucceedsOnlyFromTheExpectedValue) {
  std::vector<HistoryEvent> ok = {
      Ev(1, kInv, Fn::kWrite, 1, 0),   Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCas, 3, 2, 1),  Ev(2, kOk, Fn::kCas, 3, 3, 1),
      Ev(3, kInv, Fn::kRead, kNil, 4), Ev(3, kOk, Fn::kRead, 3, 5),
  };
  EXPECT_EQ(CheckLinearizable(ok).verdict, Verdict::kLinearizable);
  // Two CAS from the same value both succeed: a lost update.
  std::vector<HistoryEvent> lost = {
      Ev(1, kInv, Fn::kWrite, 1, 0),  Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCas, 3, 2, 1), Ev(2, kOk, Fn::kCas, 3, 3, 1),
      Ev(3, kInv, Fn::kCas, 4, 4, 1), Ev(3, kOk, Fn::kCas, 4, 5, 1),
  };
  EXPECT_EQ(CheckLinearizable(lost).verdict, Verdict::kNotLinearizable);
}

TEST(Checker, KeysAreCheckedIndependently) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0, kNil, "a"),
      Ev(1, kOk, Fn::kWrite, 1, 1, kNil, "a"),
      Ev(2, kInv, Fn::kRead, kNil, 2, kNil, "b"),
      Ev(2, kOk, Fn::kRead, kNil, 3, kNil, "b"),
      Ev(2, kInv, Fn::kRead, kNil, 4, kNil, "b"),
      Ev(2, kOk, Fn::kRead, 1, 5, kNil, "b"),
  };
  CheckResult r = CheckLinearizable(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r.key, "b");
}

// Many concurrent indeterminate writes and reads that never match: the search
// space explodes, so a tiny time limit answers unknown.
TEST(Checker, AnswersUnknownWhenTheTimeLimitRunsOut) {
  std::vector<HistoryEvent> h;
  for (int p = 0; p < 40; ++p) h.push_back(Ev(p, kInv, Fn::kWrite, p + 1, p));
  for (int p = 0; p < 40; ++p)
    h.push_back(Ev(p, kInfo, Fn::kWrite, p + 1, 100 + p));
  for (int i = 0; i < 200; ++i) {
    h.push_back(Ev(1000 + i, kInv, Fn::kRead, kNil, 200 + 2 * i));
    h.push_back(Ev(1000 + i, kOk, Fn::kRead, 1 + (i * 7) % 40, 201 + 2 * i));
  }
  h.push_back(Ev(5000, kInv, Fn::kRead, kNil, 10000));
  h.push_back(Ev(5000, kOk, Fn::kRead, 999, 10001));
  CheckResult r = CheckLinearizable(h, absl::Milliseconds(50));
  EXPECT_EQ(r.verdict, Verdict::kUnknown) << r.explanation;
}

TEST(History, JsonLinesRoundTripAndPorcupineExport) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kCas, 3, 2, 1),
      Ev(1, kOk, Fn::kCas, 3, 3, 1),
      Ev(2, kInv, Fn::kRead, kNil, 4),
      Ev(2, kOk, Fn::kRead, kNil, 5),
  };
  const std::string text = FormatHistory(h);
  EXPECT_EQ(
      text.substr(0, text.find('\n')),
      R"({"process":1,"type":"invoke","f":"cas","key":"k","value":[1,3],"time":2})");
  auto parsed = ParseHistory(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(FormatHistory(*parsed), text);
  EXPECT_NE(ToPorcupineJson(h).find("\"ClientId\""), std::string::npos);
  EXPECT_FALSE(ParseHistory("{\"process\":1}\n").ok());
  EXPECT_FALSE(ParseHistory("not json\n").ok());
}

// A failed CAS is a claim about the document (R11): the register was not at the
// expected value at some instant of the CAS's interval. The old checker
// dropped every fail, so each "not linearizable" below was "linearizable".
TEST(CheckerClaims, FailedCasWhoseExpectationHeldThroughoutIsNotLinearizable) {
  // x = 1 (acked); a CAS 1 -> 2 answered 409 although nothing else wrote x:
  // what a deposed primary answers from its stale copy.
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCas, 2, 2, 1),
      Claim(2, kFail, Fn::kCas, 2, 3, Outcome::kConflict, 1),
  };
  const CheckResult r = CheckLinearizable(h);
  EXPECT_EQ(r.verdict, Verdict::kNotLinearizable);
  EXPECT_NE(r.explanation.find("409 conflict (claims the register was not 1)"),
            std::string::npos)
      << r.explanation;
  // The same history with the conflict as a plain fail claims nothing.
  h[3].outcome = Outcome::kNone;
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(CheckerClaims,
     FailedCasOverlappingAWriteThatChangedTheValueIsLinearizable) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCas, 3, 2, 1),
      Ev(1, kInv, Fn::kWrite, 2, 3),
      Ev(1, kOk, Fn::kWrite, 2, 4),
      Claim(2, kFail, Fn::kCas, 3, 5, Outcome::kConflict, 1),
      Ev(3, kInv, Fn::kRead, kNil, 6),
      Ev(3, kOk, Fn::kRead, 2, 7),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(CheckerClaims,
     FailedCasWhoseExpectationWasOverwrittenBeforeIsLinearizable) {
  // The CAS's version was overwritten before it was sent: 409 is right.
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kWrite, 2, 2),
      Ev(1, kOk, Fn::kWrite, 2, 3),
      Ev(2, kInv, Fn::kCas, 3, 4, 1),
      Claim(2, kFail, Fn::kCas, 3, 5, Outcome::kConflict, 1),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(CheckerClaims, FailedCasExplainedByAnIndeterminateWriteIsLinearizable) {
  // Nobody read 2, but the timed-out write of 2 may be what the CAS saw: it is
  // kept for the claim although its value was never observed.
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(3, kInv, Fn::kWrite, 2, 2),
      Ev(3, kInfo, Fn::kWrite, 2, 3),
      Ev(2, kInv, Fn::kCas, 4, 4, 1),
      Claim(2, kFail, Fn::kCas, 4, 5, Outcome::kConflict, 1),
  };
  EXPECT_EQ(CheckLinearizable(h).verdict, Verdict::kLinearizable);
}

TEST(CheckerClaims, CreateConflictClaimsTheDocumentExisted) {
  // x was deleted (acked) before the create: "document already exists" is a
  // stale answer.
  std::vector<HistoryEvent> wrong = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kDelete, kNil, 2),
      Ev(1, kOk, Fn::kDelete, kNil, 3),
      Ev(2, kInv, Fn::kCreate, 5, 4),
      Claim(2, kFail, Fn::kCreate, 5, 5, Outcome::kConflict),
  };
  EXPECT_EQ(CheckLinearizable(wrong).verdict, Verdict::kNotLinearizable);
  // The delete overlaps the create: the create may have come first.
  std::vector<HistoryEvent> right = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kDelete, kNil, 2),
      Ev(2, kInv, Fn::kCreate, 5, 3),
      Ev(1, kOk, Fn::kDelete, kNil, 4),
      Claim(2, kFail, Fn::kCreate, 5, 5, Outcome::kConflict),
  };
  EXPECT_EQ(CheckLinearizable(right).verdict, Verdict::kLinearizable);
  // A create that succeeded claims the document was absent.
  std::vector<HistoryEvent> created_over = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kCreate, 5, 2),
      Ev(2, kOk, Fn::kCreate, 5, 3),
  };
  EXPECT_EQ(CheckLinearizable(created_over).verdict, Verdict::kNotLinearizable);
}

TEST(CheckerClaims, UpdateNoopClaimsTheDocumentHeldTheMergedValue) {
  // x went 1 -> 2 (acked); an update to {"v":1} answered noop: stale.
  std::vector<HistoryEvent> wrong = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(1, kInv, Fn::kWrite, 2, 2),
      Ev(1, kOk, Fn::kWrite, 2, 3),
      Ev(2, kInv, Fn::kUpdate, 1, 4),
      Claim(2, kOk, Fn::kUpdate, 1, 5, Outcome::kNoop),
  };
  EXPECT_EQ(CheckLinearizable(wrong).verdict, Verdict::kNotLinearizable);
  // The write of 2 overlaps the update: the noop may have come before it.
  std::vector<HistoryEvent> right = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kUpdate, 1, 2),
      Ev(1, kInv, Fn::kWrite, 2, 3),
      Ev(1, kOk, Fn::kWrite, 2, 4),
      Claim(2, kOk, Fn::kUpdate, 1, 5, Outcome::kNoop),
      Ev(3, kInv, Fn::kRead, kNil, 6),
      Ev(3, kOk, Fn::kRead, 2, 7),
  };
  EXPECT_EQ(CheckLinearizable(right).verdict, Verdict::kLinearizable);
  // An "updated" claims it existed with another value; not_found that it was
  // absent.
  std::vector<HistoryEvent> updated_absent = {
      Ev(2, kInv, Fn::kUpdate, 1, 0),
      Ev(2, kOk, Fn::kUpdate, 1, 1),
  };
  EXPECT_EQ(CheckLinearizable(updated_absent).verdict,
            Verdict::kNotLinearizable);
  std::vector<HistoryEvent> missing = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kUpdate, 3, 2),
      Claim(2, kFail, Fn::kUpdate, 3, 3, Outcome::kNotFound),
  };
  EXPECT_EQ(CheckLinearizable(missing).verdict, Verdict::kNotLinearizable);
}

TEST(CheckerClaims, DeleteNotFoundClaimsTheDocumentWasAbsent) {
  std::vector<HistoryEvent> wrong = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kDelete, kNil, 2),
      Claim(2, kOk, Fn::kDelete, kNil, 3, Outcome::kNotFound),
      Ev(3, kInv, Fn::kRead, kNil, 4),
      Ev(3, kOk, Fn::kRead, 1, 5),
  };
  EXPECT_EQ(CheckLinearizable(wrong).verdict, Verdict::kNotLinearizable);
  // Overlapping another client's delete: both orders are fine.
  std::vector<HistoryEvent> right = {
      Ev(1, kInv, Fn::kWrite, 1, 0),
      Ev(1, kOk, Fn::kWrite, 1, 1),
      Ev(2, kInv, Fn::kDelete, kNil, 2),
      Ev(1, kInv, Fn::kDelete, kNil, 3),
      Ev(1, kOk, Fn::kDelete, kNil, 4),
      Claim(2, kOk, Fn::kDelete, kNil, 5, Outcome::kNotFound),
      Ev(3, kInv, Fn::kRead, kNil, 6),
      Ev(3, kOk, Fn::kRead, kNil, 7),
  };
  EXPECT_EQ(CheckLinearizable(right).verdict, Verdict::kLinearizable);
}

TEST(History, ResultsRoundTripThroughJsonLines) {
  std::vector<HistoryEvent> h = {
      Ev(1, kInv, Fn::kCas, 3, 2, 1),
      Claim(1, kFail, Fn::kCas, 3, 3, Outcome::kConflict, 1),
      Ev(2, kInv, Fn::kUpdate, 4, 4),
      Claim(2, kOk, Fn::kUpdate, 4, 5, Outcome::kNoop),
      Ev(3, kInv, Fn::kDelete, kNil, 6),
      Claim(3, kOk, Fn::kDelete, kNil, 7, Outcome::kNotFound),
      Ev(4, kInv, Fn::kCreate, 9, 8),
      Claim(4, kFail, Fn::kCreate, 9, 9, Outcome::kConflict),
  };
  const std::string text = FormatHistory(h);
  EXPECT_NE(
      text.find(
          R"({"process":1,"type":"fail","f":"cas","key":"k","value":[1,3],"time":3,"result":"conflict"})"),
      std::string::npos)
      << text;
  auto parsed = ParseHistory(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(FormatHistory(*parsed), text);
  EXPECT_NE(ToPorcupineJson(h).find("\"Result\": \"conflict\""),
            std::string::npos)
      << ToPorcupineJson(h);
  EXPECT_FALSE(
      ParseHistory(R"({"process":1,"type":"ok","f":"cas","result":"maybe"})")
          .ok());
}

}  // namespace
}  // namespace seqsim::sim
