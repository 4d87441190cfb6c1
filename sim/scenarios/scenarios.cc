// The teaching scenarios, each a short script in the Script vocabulary
// (script.h) showing one replication rule, with its explanation and the unsafe
// mode that breaks it.
#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sim/scenarios/script.h"

namespace seqsim::sim::scenario_internal {
namespace {

// ---- The scenarios --------------------------------------------------------

// out-of-order: replica receives seq_no 7, 8, then 6 for doc 7.
void OutOfOrder(Script& s) {
  const std::string target = s.R(1);
  s.Say("six writes to doc 7 take seq_no 0..5, in order, on every copy");
  for (int v = 0; v < 6; ++v) {
    auto w = s.Write("client-A", s.P(), "7", v);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.DrawFromHere("doc 7 was written 6 times (seq_no 0..5) on every copy");
  s.Say(absl::StrCat("from now on the link ", s.P(), " -> ", target,
                     " holds replication messages"));
  s.HoldReplication(target, {});
  std::vector<std::shared_ptr<Reply>> writes;
  for (int v = 6; v <= 8; ++v) {
    writes.push_back(s.Write("client-A", s.P(), "7", v));
    s.Advance(2);
  }
  s.Advance(5);
  s.StopHolding(target);
  s.Say(absl::StrCat(target, " holds ", s.HeldCount(target),
                     " messages; release them in the order 7, 8, 6"));
  for (int64_t seq : {7, 8, 6}) {
    s.Release(target, seq);
    s.Advance(2);
  }
  s.WaitFor(
      [&]() {
        return std::all_of(writes.begin(), writes.end(),
                           [](const auto& w) { return w->done; });
      },
      5000);
  s.Fact("acked",
         absl::StrCat(std::count_if(writes.begin(), writes.end(),
                                    [](const auto& w) { return w->ok; })));
  s.Finish({"7"});
}

// delete-tombstone: an old index arriving after the delete does not
// resurrect the document.
void DeleteTombstone(Script& s) {
  const std::string target = s.R(1);
  auto w = s.Write("client-A", s.P(), "7", 1);
  s.WaitFor([w]() { return w->done; }, 3000);
  s.Say(absl::StrCat("the link ", s.P(), " -> ", target,
                     " now holds replication messages"));
  s.HoldReplication(target, {});
  auto index = s.Write("client-A", s.P(), "7", 2);
  s.Advance(2);
  auto del = s.Write("client-B", s.P(), "7", 0,
                     WriteOptions{.kind = pb::WriteRequest::DELETE});
  s.Advance(5);
  s.StopHolding(target);
  s.Say(absl::StrCat("release the delete (seq_no 2) to ", target,
                     " first, then the older index (seq_no 1)"));
  s.Release(target, 2);
  s.Advance(2);
  s.Release(target, 1);
  s.WaitFor([&]() { return index->done && del->done; }, 5000);
  s.Finish({"7"});
}

// lost-update: read-modify-write without and with CAS.
void LostUpdate(Script& s) {
  s.Say(
      "part 1: two clients increment a counter by read-modify-write, "
      "without CAS");
  auto init = s.Write("client-A", s.P(), "counter", 0);
  s.WaitFor([init]() { return init->done; }, 3000);
  auto ra = s.Get("client-A", s.R(0), "counter");
  auto rb = s.Get("client-B", s.R(1), "counter");
  s.WaitFor([&]() { return ra->done && rb->done; }, 3000);
  auto wa = s.Write("client-A", s.R(0), "counter", 1);
  auto wb = s.Write("client-B", s.R(1), "counter", 1);
  s.WaitFor([&]() { return wa->done && wb->done; }, 3000);
  auto check = s.Get("client-A", s.P(), "counter");
  s.WaitFor([&]() { return check->done; }, 3000);
  s.Say(absl::StrCat("two increments were acknowledged but the counter is ",
                     check->get.source(), ": one update was lost"));
  s.Fact("without-cas", check->get.source());

  s.Say("part 2: the same with if_seq_no/if_primary_term (CAS)");
  auto init2 = s.Write("client-A", s.P(), "counter-cas", 0);
  s.WaitFor([init2]() { return init2->done; }, 3000);
  auto ra2 = s.Get("client-A", s.R(0), "counter-cas");
  auto rb2 = s.Get("client-B", s.R(1), "counter-cas");
  s.WaitFor([&]() { return ra2->done && rb2->done; }, 3000);
  auto wa2 = s.Write("client-A", s.R(0), "counter-cas", 1,
                     WriteOptions{.if_seq_no = ra2->get.seq_no(),
                                  .if_primary_term = ra2->get.primary_term()});
  s.WaitFor([&]() { return wa2->done; }, 3000);
  auto wb2 = s.Write("client-B", s.R(1), "counter-cas", 1,
                     WriteOptions{.if_seq_no = rb2->get.seq_no(),
                                  .if_primary_term = rb2->get.primary_term()});
  s.WaitFor([&]() { return wb2->done; }, 3000);
  s.Fact("cas-loser-error", wb2->error);
  s.Say("client-B lost the race: it reads again and retries");
  auto rb3 = s.Get("client-B", s.R(1), "counter-cas");
  s.WaitFor([&]() { return rb3->done; }, 3000);
  auto wb3 = s.Write("client-B", s.R(1), "counter-cas", 2,
                     WriteOptions{.if_seq_no = rb3->get.seq_no(),
                                  .if_primary_term = rb3->get.primary_term()});
  s.WaitFor([&]() { return wb3->done; }, 3000);
  auto check2 = s.Get("client-A", s.P(), "counter-cas");
  s.WaitFor([&]() { return check2->done; }, 3000);
  s.Say(absl::StrCat("with CAS both increments count: the counter is ",
                     check2->get.source()));
  s.Fact("with-cas", check2->get.source());
  s.Finish({"counter", "counter-cas"});
}

// Holds the coordinator's messages to `old_primary`, pauses it and waits until
// the coordinator promotes another copy; returns the new primary's node.
std::string PauseUntilReplaced(Script& s, const std::string& old_primary) {
  s.Say(absl::StrCat("hold the coordinator's messages to ", old_primary,
                     " so that it wakes up not knowing what happened"));
  s.Hold(old_primary,
         [](const pb::Envelope& m) { return m.from() == kCoordinatorId; });
  s.Pause(old_primary);
  const std::string promoted = s.WaitForNewPrimary(1, 10000);
  s.Say(absl::StrCat("the coordinator promoted ", promoted, " in term ",
                     s.PrimaryTerm()));
  s.Fact("promoted", promoted);
  return promoted;
}

// stale-primary: the primary is paused, a replica is promoted, the old
// primary wakes up and is fenced by its replicas.
void StalePrimary(Script& s) {
  const std::string old_primary = s.P();
  auto w = s.Write("client-A", old_primary, "7", 1);
  s.WaitFor([w]() { return w->done; }, 3000);
  const std::string promoted = PauseUntilReplaced(s, old_primary);
  s.Advance(200);
  auto stale =
      s.Write("client-B", old_primary, "7", 2);  // waits in the paused node
  s.Advance(10);
  s.Resume(old_primary);
  s.WaitFor([stale]() { return stale->done; }, 5000);
  s.Fact("stale-write", stale->ok ? "ok" : stale->error);
  s.Finish({"7"});
}

// deposed-cas: a CAS with a correct expectation reaches the primary after a
// replica was promoted in its place (issue 12, R11).
void DeposedCas(Script& s) {
  const std::string old_primary = s.P();
  auto a = s.Write("client-A", old_primary, "x", 1);
  s.WaitFor([a]() { return a->done; }, 3000);
  const std::string promoted = PauseUntilReplaced(s, old_primary);
  s.Advance(200);  // the new primary applies the new cluster state
  auto b = s.Write("client-B", promoted, "x", 2);
  s.WaitFor([b]() { return b->done; }, 3000);
  s.Fact("x=B", b->ok ? absl::StrCat("seq_no ", b->write.seq_no(), " term ",
                                     b->write.primary_term())
                      : b->error);
  auto read = s.Get("client-C", promoted, "x");
  s.WaitFor([read]() { return read->done; }, 3000);
  s.Say(absl::StrCat("client-C sends its CAS with the version it read to ",
                     old_primary, ", which it still believes is the primary"));
  auto cas = s.Write("client-C", old_primary, "x", 3,
                     WriteOptions{.if_seq_no = read->get.seq_no(),
                                  .if_primary_term = read->get.primary_term(),
                                  .expected = SourceValue(read->get.source())});
  s.Advance(10);
  s.Resume(old_primary);
  s.Advance(5);
  s.Say(
      absl::StrCat("stop holding the coordinator's messages to ", old_primary));
  s.StopHolding(old_primary);
  s.ReleaseAll(old_primary);
  s.WaitFor([cas]() { return cas->done; }, 5000);
  s.Fact("deposed-cas", cas->ok
                            ? absl::StrCat("ok seq_no ", cas->write.seq_no(),
                                           " term ", cas->write.primary_term())
                            : cas->error);
  s.Finish({"x"});
}

// resync: the primary dies with operations above the global checkpoint that
// the replicas hold differently.
void Resync(Script& s) {
  for (int i = 0; i < 5; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.Say(absl::StrCat("seq_no 0..4 are on every copy; now ", s.R(0),
                     " will miss seq_no 6 and ", s.R(1), " seq_no 7"));
  s.HoldReplication(s.R(0), {6});
  s.HoldReplication(s.R(1), {7});
  std::vector<std::shared_ptr<Reply>> writes;
  for (int i = 5; i < 8; ++i) {
    writes.push_back(s.Write("client-A", s.P(), absl::StrCat("d", i), i));
    s.Advance(2);
  }
  s.Advance(5);
  const std::string old_primary = s.P();
  s.Crash(old_primary);
  s.StopHolding(s.R(0));
  s.StopHolding(s.R(1));
  const std::string promoted = s.WaitForNewPrimary(1, 10000);
  s.Fact("promoted", promoted);
  s.Advance(300);
  s.Restart(old_primary);
  s.Finish({"d5", "d6", "d7"});
}

// recovery: a replica is down while writes go on, comes back and replays
// the missed operations from its local checkpoint.
void Recovery(Script& s) {
  for (int i = 0; i < 3; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  const std::string victim = s.R(1);
  s.Crash(victim);
  for (int i = 3; i < 6; ++i) {
    auto w = s.Write("client-A", s.P(), absl::StrCat("d", i), i);
    s.WaitFor([w]() { return w->done; }, 3000);
  }
  s.Advance(100);
  s.Restart(victim);
  s.WaitGreen(10000);
  s.Finish({"d0", "d3", "d5"});
}

// external-version: syncing from a source of truth with external versions.
void ExternalVersion(Script& s) {
  s.Say(
      "a sync job copies product p1 from a database whose row version is "
      "the document version");
  struct Step {
    int64_t version;
    int64_t value;
  };
  std::vector<std::string> results;
  for (const Step& step :
       {Step{5, 50}, Step{7, 70}, Step{6, 60}, Step{7, 71}}) {
    auto w = s.Write("client-sync", s.P(), "p1", step.value,
                     WriteOptions{.external_version = step.version});
    s.WaitFor([w]() { return w->done; }, 3000);
    results.push_back(w->ok ? w->write.result() : w->error.substr(0, 3));
  }
  s.Fact("results", absl::StrJoin(results, ","));
  s.Finish({"p1"});
}

// acked-write: the primary dies right after a write; the client only hears
// "ok" if every in-sync copy has the write.
void AckedWrite(Script& s) {
  auto w0 = s.Write("client-A", s.P(), "7", 1);
  s.WaitFor([w0]() { return w0->done; }, 3000);
  s.Say("both replicas' links now hold replication messages");
  s.HoldReplication(s.R(0), {});
  s.HoldReplication(s.R(1), {});
  auto w = s.Write("client-A", s.P(), "7", 2);
  s.Advance(20);
  s.Say(w->done ? "client-A already has an answer, before any replica has "
                  "the write"
                : "client-A has no answer yet: the write is not on the "
                  "replicas");
  s.Fact("answered-before-crash", w->done && w->ok ? "yes" : "no");
  const std::string old_primary = s.P();
  s.Crash(old_primary);
  s.StopHolding(s.R(0));
  s.StopHolding(s.R(1));
  // The held messages die with the primary's links.
  s.Say("the replication messages still held are lost");
  s.WaitForNewPrimary(1, 10000);
  s.Advance(300);
  s.Restart(old_primary);
  s.Finish({"7"});
}

// Refresh: GET is real-time, search sees each copy's last refresh, and the
// copies refresh at their own moments.
void NearRealTime(Script& s) {
  s.Say("index.refresh_interval is 1s: every copy refreshes on its own timer");
  const std::vector<std::string> nodes = {s.P(), s.R(0), s.R(1)};
  // Polls every copy's search every 10 ms (quietly) until each shows `id`;
  // says when each does. Returns the copies in that order, with the times.
  auto watch = [&](const std::string& id) {
    std::vector<std::pair<std::string, absl::Duration>> order;
    bool lag = false;
    for (int step = 0; step < 300 && order.size() < nodes.size(); ++step) {
      for (const std::string& node : nodes) {
        bool known = false;
        for (const auto& [n, t] : order) known = known || n == node;
        if (known) continue;
        const std::vector<std::string> ids =
            s.SearchOn("searcher", s.P(), node, /*narrate=*/false);
        if (std::find(ids.begin(), ids.end(), id) == ids.end()) continue;
        order.emplace_back(node, s.Now());
        s.Say(
            absl::StrCat(node, "'s copy refreshed: its search shows doc ", id));
        if (node == s.P() && order.size() == 1 && !lag) {
          // The primary shows it; the replicas' searches do not yet, while
          // their GETs do.
          lag = true;
          s.SearchOn("searcher", s.P(), s.R(0), /*narrate=*/true);
          auto got = s.Get("reader", s.R(0), id, /*prefer_local=*/true);
          s.WaitFor([&] { return got->done; }, 3000);
          s.Fact("replica-search-lags-primary",
                 got->ok && got->get.found() ? "yes" : "no");
          s.Say(absl::StrCat(s.R(0), "'s search misses doc ", id,
                             " while its GET finds it: its copy has the "
                             "write, its last refresh does not"));
        }
      }
      s.Advance(10);
    }
    return order;
  };
  auto w = s.Write("writer", s.P(), "7", 1);
  s.WaitFor([&] { return w->done; }, 5000);
  s.Fact("write-acked", w->done && w->ok ? "yes" : "no");
  auto got = s.Get("reader", s.R(0), "7", /*prefer_local=*/true);
  s.WaitFor([&] { return got->done; }, 3000);
  s.Fact("replica-get-current", got->ok && got->get.found() ? "yes" : "no");
  s.SearchOn("searcher", s.P(), s.R(0), /*narrate=*/true);
  const auto first = watch("7");
  s.Fact("searchable-everywhere", first.size() == nodes.size() ? "yes" : "no");
  if (first.size() != nodes.size()) return s.Finish({"7"});
  // Written just after the refresh that comes before the primary's, the next
  // write is searchable on the primary first.
  size_t primary_at = 0;
  for (size_t i = 0; i < first.size(); ++i) {
    if (first[i].first == s.P()) primary_at = i;
  }
  const absl::Duration before = primary_at == 0
                                    ? first.back().second - absl::Seconds(1)
                                    : first[primary_at - 1].second;
  s.Say(
      absl::StrCat("doc 8 is written just after ",
                   first[(primary_at + first.size() - 1) % first.size()].first,
                   "'s next refresh, before the primary's"));
  s.AdvanceTo(before + absl::Seconds(1) + absl::Milliseconds(2));
  auto w8 = s.Write("writer", s.P(), "8", 1);
  s.WaitFor([&] { return w8->done; }, 5000);
  watch("8");
  s.Finish({"7", "8"});
}

}  // namespace

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> kEntries = {
      {{"out-of-order",
        "a replica receives seq_no 7 and 8 before 6 for the same doc",
        "The primary indexes doc 7 three times (seq_no 6, 7, 8) and replicates "
        "each operation in its own message. The link to one replica holds the "
        "three messages and releases them in the order 7, 8, 6. The replica "
        "applies 7, then 8, and when 6 finally arrives it compares seq_nos: it "
        "already holds seq_no 8 for doc 7, so operation 6 is stale and only "
        "fills its place in the history (the local checkpoint still advances "
        "to 8). Every copy ends with the seq_no 8 version: replicas order "
        "operations by seq_no, not by arrival.",
        "no-seqno-check",
        "With --unsafe=no-seqno-check the replica applies whatever arrives "
        "last: the late seq_no 6 overwrites seq_no 8 on that copy, and the "
        "copies disagree on doc 7.",
        "quiet-down-convergence"},
       OutOfOrder},
      {{"delete-tombstone",
        "an old index arriving after a delete does not resurrect the doc",
        "Doc 7 is indexed (seq_no 1) and then deleted (seq_no 2). One replica "
        "receives the delete first: it removes the document but keeps a "
        "tombstone that remembers seq_no 2. When the older index (seq_no 1) "
        "arrives, the replica compares it with the tombstone and ignores it. "
        "Without tombstones the late index would bring the deleted document "
        "back on that copy.",
        "no-seqno-check",
        "With --unsafe=no-seqno-check the late index is applied after the "
        "delete and the document comes back to life on one copy only.",
        "quiet-down-convergence"},
       DeleteTombstone},
      {{"lost-update",
        "read-modify-write loses an update without CAS; with if_seq_no the "
        "loser gets 409 and retries",
        "Two clients increment a counter: each reads it, adds one and writes "
        "it back. Without concurrency control both write 1: two acknowledged "
        "increments, one lost update, and nothing in the cluster is wrong (it "
        "did what it was told). With if_seq_no/if_primary_term from the read, "
        "the primary checks that the document is still the one that was read: "
        "the second writer gets 409 version_conflict_engine_exception, reads "
        "again and retries, and the counter ends at 2.",
        "", "", ""},
       LostUpdate},
      {{"stale-primary",
        "a paused primary is replaced; when it wakes up its replicas fence it",
        "The primary is paused (think of a long garbage collection) and stops "
        "sending heartbeats. The coordinator promotes a replica with primary "
        "term 2 and the other replica follows it. The old primary wakes up "
        "still believing it is primary in term 1 and accepts a write; it "
        "replicates the operation with term 1, and every replica rejects it: "
        "operation primary term [1] is too old (current [2]). The old primary "
        "learns it is stale, steps down, and the write is never acknowledged "
        "as done by the stale primary. The primary term fences the old "
        "primary.",
        "no-fencing",
        "With --unsafe=no-fencing the replicas accept the stale primary's "
        "term-1 operation: a replica acknowledges an operation from a term "
        "below its own, and the old primary tells the client the write "
        "succeeded on a history the new primary does not share.",
        "replica-term-fencing"},
       StalePrimary},
      {{"deposed-cas",
        "a CAS reaches a deposed primary: it must not answer 409 from its "
        "stale copy",
        "The primary P holds x = {\"v\":1}. P is paused and a replica is "
        "promoted in term 2; x = {\"v\":2} is written through the new "
        "primary. A client reads x with its seq_no and term and sends a CAS "
        "with exactly that expectation to P, which it still believes is the "
        "primary. P's copy of x is the overwritten version, so a conflict "
        "check against it would answer 409 although the expectation is right. "
        "A 409 needs no replication, so it is a read of the document (R11): P "
        "gives it only after its in-sync copies confirm its term. They have "
        "moved to term 2, so P learns it is stale and the CAS is rerouted to "
        "the new primary (R12), where it succeeds, or answered as unknown "
        "(5xx); never with a definite wrong answer.",
        "no-conflict-barrier",
        "With --unsafe=no-conflict-barrier P answers the CAS at once from its "
        "stale copy: 409 \"current document has seqNo [0] and primary term "
        "[1]\" while x is at the expected seq_no and term. The 409 claims x "
        "was not at the expected version at any instant of the CAS, which no "
        "order of the operations explains: the history is not linearizable.",
        "linearizable"},
       DeposedCas},
      {{"resync",
        "promotion with operations above the global checkpoint: resync, trim, "
        "gap no-op",
        "Seq_no 0..4 are on every copy. The primary then writes seq_no 5, 6 "
        "and 7, but one replica misses 6 and the other misses 7, and the "
        "primary crashes before any of them is acknowledged. The coordinator "
        "promotes a replica with term 2. Its operations above the global "
        "checkpoint are not known to be on every copy, so it resyncs them to "
        "the other replica; a hole in its history (the seq_no it never "
        "received) is filled with a no-op; the other replica trims what the "
        "new primary does not have, and the copies agree again.",
        "no-resync",
        "With --unsafe=no-resync the new primary skips the resync and the "
        "trim: each replica keeps its own version of the operations above the "
        "global checkpoint, and the copies never agree.",
        "quiet-down-convergence"},
       Resync},
      {{"recovery",
        "a replica misses writes while down and replays them from its local "
        "checkpoint",
        "A replica crashes; the primary reports it failed and goes on with the "
        "other copies. The replica restarts with its translog, which ends at "
        "its local checkpoint. The primary recovers it operations-based: it "
        "sends only the operations above that checkpoint, then marks the copy "
        "in sync once it holds every acknowledged write, and the index is "
        "green again.",
        "", "", ""},
       Recovery},
      {{"external-version",
        "version_type=external: replays of older versions get 409",
        "A sync job copies rows from a database and uses the row version as "
        "the document version (version_type=external). Version 5 creates the "
        "document, version 7 updates it. A late replay of version 6 and a "
        "duplicate of version 7 are refused with 409 "
        "version_conflict_engine_exception: with external versions the "
        "document only moves forward, whatever order the sync sends in.",
        "", "", ""},
       ExternalVersion},
      {{"acked-write",
        "the primary dies right after a write: ok means every in-sync copy "
        "has it",
        "The links to both replicas hold the replication of a write, and the "
        "primary crashes. The client has no answer: a primary acknowledges a "
        "write only after every in-sync copy has it, so the write was never "
        "promised. The promoted replica does not have it and that is "
        "correct.",
        "early-ack",
        "With --unsafe=early-ack the primary answers ok before the replicas "
        "have the write; it then crashes, the promoted replica never had the "
        "write, and an acknowledged write is lost.",
        "acked-write-lost"},
       AckedWrite},
      {{"near-real-time",
        "GET is real-time, search sees each copy's last refresh: a replica's "
        "search lags its primary's",
        "Doc 7 is written and acknowledged by every copy, and a GET through a "
        "replica finds it at once: GET reads the copy's current state. Search "
        "does not: it reads what the copy's last refresh made searchable, and "
        "every copy refreshes on its own timer (index.refresh_interval, 1s "
        "here). Searching every copy every 10 ms shows doc 7 appear copy by "
        "copy, in the order of their timers. Doc 8 is then written just before "
        "the primary's refresh: the primary's search shows it while a "
        "replica's search does not, though a GET on that replica finds it. "
        "Search is near-real-time and per copy, not linearizable: that is why "
        "it is not in the checked history, and why refresh=wait_for exists.",
        "", "", ""},
       NearRealTime},
  };
  return kEntries;
}

const Entry* FindEntry(const std::string& name) {
  for (const Entry& e : Entries()) {
    if (e.info.name == name) return &e;
  }
  return nullptr;
}

}  // namespace seqsim::sim::scenario_internal
