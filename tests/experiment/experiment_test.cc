// Unit tests of the experiment runner's pure parts: the seeded schedule, the
// flags, the checks (each one fed a history that breaks it), the figures.
// The live runs are ctest script tests (run_experiment_test.sh).
#include <string>
#include <vector>

#include "experiment/checks.h"
#include "experiment/nemesis.h"
#include "experiment/options.h"
#include "experiment/report.h"
#include "experiment/workload.h"
#include "gtest/gtest.h"
#include "sim/checker/history.h"

namespace seqsim::experiment {
namespace {

using sim::EventType;
using sim::Fn;
using sim::HistoryEvent;
using sim::kNil;

HistoryEvent Ev(int64_t process, EventType type, Fn f, const std::string& key,
                int64_t value, int64_t time) {
  HistoryEvent e;
  e.process = process;
  e.type = type;
  e.f = f;
  e.key = key;
  e.value = value;
  e.time = time;
  return e;
}

TEST(Schedule, SameSeedGivesTheSameFaultsTargetsAndTimes) {
  const std::vector<std::string> kinds = NemesisKinds();
  std::vector<PlannedFault> a =
      PlanSchedule(kinds, 42, absl::Seconds(60), absl::Seconds(5));
  std::vector<PlannedFault> b =
      PlanSchedule(kinds, 42, absl::Seconds(60), absl::Seconds(5));
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].start_ms, b[i].start_ms);
    EXPECT_EQ(a[i].end_ms, b[i].end_ms);
    EXPECT_EQ(a[i].kind, b[i].kind);
    EXPECT_EQ(a[i].target, b[i].target);
    EXPECT_EQ(a[i].pick, b[i].pick);
  }
  std::vector<PlannedFault> c =
      PlanSchedule(kinds, 43, absl::Seconds(60), absl::Seconds(5));
  bool differs = c.size() != a.size();
  for (size_t i = 0; !differs && i < a.size(); ++i)
    differs = a[i].start_ms != c[i].start_ms || a[i].kind != c[i].kind;
  EXPECT_TRUE(differs);
}

TEST(Schedule, EveryFaultEndsWithinTheWorkloadAndUsesOnlyChosenKinds) {
  std::vector<PlannedFault> plan =
      PlanSchedule({"kill", "delay"}, 7, absl::Seconds(20), absl::Seconds(3));
  ASSERT_FALSE(plan.empty());
  bool kill = false, delay = false;
  for (const PlannedFault& f : plan) {
    EXPECT_LT(f.start_ms, f.end_ms);
    EXPECT_LE(f.end_ms, 20000);
    EXPECT_TRUE(f.kind == "kill" || f.kind == "delay") << f.kind;
    kill |= f.kind == "kill";
    delay |= f.kind == "delay";
    if (f.kind == "delay") {
      EXPECT_GE(f.delay_ms, 50);
      EXPECT_LE(f.delay_ms, 300);
    }
  }
  // Two tracks: process faults and network faults overlap in time.
  EXPECT_TRUE(kill && delay);
  // Within one track faults follow one another.
  int64_t last_kill_end = 0;
  for (const PlannedFault& f : plan) {
    if (f.kind != "kill") continue;
    EXPECT_GE(f.start_ms, last_kill_end);
    last_kill_end = f.end_ms;
  }
  EXPECT_TRUE(PlanSchedule({}, 7, absl::Seconds(20), absl::Seconds(3)).empty());
}

TEST(Flags, NemesisKindsAreCheckedAndAllExpands) {
  EXPECT_EQ(ParseNemesis("all")->size(), NemesisKinds().size());
  EXPECT_TRUE(ParseNemesis("none")->empty());
  absl::StatusOr<std::vector<std::string>> bad = ParseNemesis("kill,flood");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'flood'"), std::string::npos);
}

TEST(Flags, BadValuesGetOneClearLine) {
  auto parse = [](std::vector<std::string> args) {
    args.insert(args.begin(), "seqsim-experiment");
    return ParseOptions(args);
  };
  EXPECT_NE(parse({"--time=0"}).status().message().find("--time=0"),
            std::string::npos);
  EXPECT_NE(parse({"--clients=abc"}).status().message().find("--clients"),
            std::string::npos);
  EXPECT_NE(parse({"--workload=queue"}).status().message().find("register"),
            std::string::npos);
  EXPECT_NE(parse({"--unsafe=no-brakes"}).status().message().find("no-brakes"),
            std::string::npos);
  EXPECT_NE(parse({"--frobnicate=1"}).status().message().find("unknown flag"),
            std::string::npos);
  EXPECT_NE(parse({"--replicas=3"}).status().message().find("nodes"),
            std::string::npos);
  EXPECT_NE(parse({"--attach=127.0.0.1:9400", "--nemesis=kill"})
                .status()
                .message()
                .find("--attach"),
            std::string::npos);
  absl::StatusOr<ExperimentOptions> ok =
      parse({"--nemesis-interval=2", "--nemesis_interval", "3", "--time=12.5",
             "--unsafe=early-ack", "--workload", "bulk"});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->nemesis_interval, absl::Seconds(3));
  EXPECT_EQ(ok->time, absl::Milliseconds(12500));
  EXPECT_EQ(ok->unsafe, "early-ack");
  EXPECT_EQ(ok->workload, "bulk");
  EXPECT_NE(Usage().find("--nemesis-interval"), std::string::npos);
}

AckedWrite Ack(const std::string& key, int64_t value, int64_t seq, int64_t term,
               int64_t at) {
  AckedWrite a;
  a.key = key;
  a.value = value;
  a.seq_no = seq;
  a.primary_term = term;
  a.invoke_ns = at;
  a.complete_ns = at + 1;
  return a;
}

TEST(AckedWritesCheck, TwoAcknowledgedWritesAtOneSeqNoMeanTheFirstWasLost) {
  FinalState s;
  s.converged = true;
  std::vector<AckedWrite> acks = {Ack("key-1", 7, 10, 1, 100),
                                  Ack("key-2", 8, 10, 2, 200)};
  CheckOutcome c = CheckAckedWrites({}, acks, s, "register");
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_NE(c.detail.find("acknowledged writes lost: key-1=7"),
            std::string::npos)
      << c.detail;
  acks[1].seq_no = 11;
  EXPECT_EQ(CheckAckedWrites({}, acks, s, "register").status,
            CheckStatus::kPass);
  // A copy that ends below the highest acknowledged seq_no lost writes too.
  s.max_seq_no[0]["node-2"] = 10;
  c = CheckAckedWrites({}, acks, s, "register");
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_NE(c.detail.find("node-2 ends at max_seq_no 10"), std::string::npos);
}

TEST(AckedWritesCheck, FinalValueMustBeTheLastAcknowledgedOrAConcurrentWrite) {
  // write 1 ok [0,10]; write 2 ok [20,30]; write 3 info from 25 (never
  // answered).
  std::vector<HistoryEvent> h = {
      Ev(0, EventType::kInvoke, Fn::kWrite, "k", 1, 0),
      Ev(0, EventType::kOk, Fn::kWrite, "k", 1, 10),
      Ev(0, EventType::kInvoke, Fn::kWrite, "k", 2, 20),
      Ev(1, EventType::kInvoke, Fn::kWrite, "k", 3, 25),
      Ev(0, EventType::kOk, Fn::kWrite, "k", 2, 30),
      Ev(1, EventType::kInfo, Fn::kWrite, "k", 3, 40),
  };
  auto with_final = [](int64_t v) {
    FinalState s;
    s.converged = true;
    CopyDoc doc;
    doc.found = v != kNil;
    doc.value = v;
    s.docs["k"]["node-1"] = doc;
    return s;
  };
  EXPECT_EQ(CheckAckedWrites(h, {}, with_final(2), "register").status,
            CheckStatus::kPass);
  EXPECT_EQ(CheckAckedWrites(h, {}, with_final(3), "register").status,
            CheckStatus::kPass);
  CheckOutcome lost = CheckAckedWrites(h, {}, with_final(1), "register");
  EXPECT_EQ(lost.status, CheckStatus::kFail);
  EXPECT_NE(lost.detail.find("last acknowledged write of k wrote 2"),
            std::string::npos)
      << lost.detail;
  EXPECT_EQ(CheckAckedWrites(h, {}, with_final(kNil), "register").status,
            CheckStatus::kFail);
}

TEST(InventoryCheck, StockAboveInitialMinusAcknowledgedIsALostUpdate) {
  WorkloadTally tally;
  tally.acked_decrements["item-0"] = 10;
  tally.unknown_decrements["item-0"] = 2;
  auto with_stock = [](int64_t v) {
    FinalState s;
    CopyDoc doc;
    doc.found = true;
    doc.value = v;
    s.docs["item-0"]["node-1"] = doc;
    return s;
  };
  EXPECT_EQ(CheckInventory(tally, with_stock(kInitialStock - 10)).status,
            CheckStatus::kPass);
  EXPECT_EQ(CheckInventory(tally, with_stock(kInitialStock - 12)).status,
            CheckStatus::kPass);
  CheckOutcome lost = CheckInventory(tally, with_stock(kInitialStock - 9));
  EXPECT_EQ(lost.status, CheckStatus::kFail);
  EXPECT_NE(lost.detail.find("lost update"), std::string::npos);
  EXPECT_EQ(CheckInventory(tally, with_stock(kInitialStock - 13)).status,
            CheckStatus::kFail);
}

TEST(ExternalCheck, StoredVersionIsTheHighestAcknowledgedOrAHigherUnknownOne) {
  WorkloadTally tally;
  tally.max_acked_version["ext-0"] = 40;
  tally.unknown_versions["ext-0"] = {30, 55};
  auto at = [](int64_t version) {
    FinalState s;
    CopyDoc doc;
    doc.found = true;
    doc.version = version;
    doc.value = version;
    s.docs["ext-0"]["node-1"] = doc;
    return s;
  };
  EXPECT_EQ(CheckExternal(tally, at(40)).status, CheckStatus::kPass);
  EXPECT_EQ(CheckExternal(tally, at(55)).status, CheckStatus::kPass);
  EXPECT_EQ(CheckExternal(tally, at(30)).status, CheckStatus::kFail);
  EXPECT_EQ(CheckExternal(tally, at(39)).status, CheckStatus::kFail);
}

TEST(BulkCheck, EveryAcknowledgedItemIsReadableOnEveryCopy) {
  WorkloadTally tally;
  tally.bulk_acked["bulk-1"] = 1;
  FinalState s;
  CopyDoc doc;
  doc.found = true;
  doc.value = 1;
  s.docs["bulk-1"]["node-1"] = doc;
  s.docs["bulk-1"]["node-2"] = doc;
  EXPECT_EQ(CheckBulk(tally, s).status, CheckStatus::kPass);
  s.docs["bulk-1"]["node-2"].found = false;
  CheckOutcome c = CheckBulk(tally, s);
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_NE(c.detail.find("missing on node-2"), std::string::npos);
}

TEST(ConvergedCheck, ComparesDocumentByDocument) {
  FinalState s;
  s.converged = true;
  CopyDoc a;
  a.found = true;
  a.seq_no = 4;
  a.term = 2;
  a.version = 3;
  a.source = "{\"v\":9}";
  s.docs["k"]["node-1"] = a;
  s.docs["k"]["node-2"] = a;
  EXPECT_EQ(CheckConverged(s).status, CheckStatus::kPass);
  s.docs["k"]["node-2"].term = 1;
  CheckOutcome c = CheckConverged(s);
  EXPECT_EQ(c.status, CheckStatus::kFail);
  EXPECT_NE(c.detail.find("node-2 holds seq_no 4 term 1"), std::string::npos)
      << c.detail;
  s.converged = false;
  s.convergence_detail = "shard 0 copies differ";
  EXPECT_EQ(CheckConverged(s).detail, "shard 0 copies differ");
}

TEST(Figures, FaultBandsPairStartsWithEndsAndFiguresAreSvg) {
  std::vector<NemesisRecord> records = {
      {100, "start", "kill", "primary", {"node-1"}, ""},
      {150, "start", "delay", "primary-links", {"node-2"}, ""},
      {300, "end", "kill", "primary", {"node-1"}, ""},
  };
  std::vector<FaultBand> bands = FaultBands(records, 1000);
  ASSERT_EQ(bands.size(), 2u);
  EXPECT_EQ(bands[0].end_ns, 300);
  EXPECT_EQ(bands[1].end_ns, 1000);  // still open at the end
  EXPECT_EQ(bands[0].label, "kill primary (node-1)");
  std::vector<HistoryEvent> h = {
      Ev(0, EventType::kInvoke, Fn::kWrite, "k", 1, 0),
      Ev(0, EventType::kOk, Fn::kWrite, "k", 1, 2000000),
      Ev(1, EventType::kInvoke, Fn::kRead, "k", kNil, 500000000),
      Ev(1, EventType::kInfo, Fn::kRead, "k", kNil, 900000000),
  };
  std::vector<CompletedOp> ops = PairOperations(h, 0);
  ASSERT_EQ(ops.size(), 2u);
  const std::string latency = LatencySvg(ops, bands, 1000000000, "t");
  EXPECT_EQ(latency.rfind("<svg", 0), 0u);
  EXPECT_NE(latency.find("kill primary (node-1)"), std::string::npos);
  const std::string availability =
      AvailabilitySvg(ops, bands, 1000000000, 250000000, "t");
  EXPECT_NE(availability.find("1 of 1 ok"), std::string::npos);
  EXPECT_NE(availability.find("0 of 1 ok"), std::string::npos);
}

}  // namespace
}  // namespace seqsim::experiment
