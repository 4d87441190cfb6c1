// The lab's event log and its drawings, checked on a small hand-written story
// (testdata/out_of_order.jsonl): primary node-1 sends replicate seq 6, 7, 8 for
// doc 7 to node-3; node-3 receives 7, then 8, then 6 and marks 6 stale; a copy
// sent to node-2 during a partition is dropped; node-3 acks; client 0's write
// is acknowledged.

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/timeline/events.h"
#include "sim/timeline/render.h"

namespace seqsim::timeline {
namespace {

std::string TestDataPath(const std::string& name) {
  return std::string(SEQSIM_TIMELINE_TESTDATA) + "/" + name;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::vector<Event> Story() {
  auto events = ReadEventsFile(TestDataPath("out_of_order.jsonl"));
  EXPECT_TRUE(events.ok()) << events.status();
  return events.ok() ? *events : std::vector<Event>{};
}

RenderOptions StoryOptions() {
  return {.title = "Out-of-order replication",
          .explanation =
              "node-3 receives seq_no 7 and 8 before 6.\n\nThe late 6 "
              "changes nothing."};
}

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// True if every element opened is closed, in order (comments, prologs and
// self-closing elements aside). Enough to catch a broken writer; not a full XML
// parser.
bool TagsBalanced(const std::string& xml, std::string* why) {
  std::vector<std::string> open;
  for (size_t at = xml.find('<'); at != std::string::npos;
       at = xml.find('<', at + 1)) {
    size_t end = xml.find('>', at);
    if (end == std::string::npos) {
      *why = "unterminated tag";
      return false;
    }
    std::string tag = xml.substr(at + 1, end - at - 1);
    if (tag.empty() || tag[0] == '?' || tag[0] == '!') continue;
    if (tag.back() == '/') continue;
    bool closing = tag[0] == '/';
    std::string name = tag.substr(
        closing ? 1 : 0, tag.find_first_of(" \t\n/", 1) - (closing ? 1 : 0));
    if (!closing) {
      open.push_back(name);
    } else if (open.empty() || open.back() != name) {
      *why = "</" + name + "> closes " +
             (open.empty() ? "nothing" : "<" + open.back() + ">");
      return false;
    } else {
      open.pop_back();
    }
  }
  if (!open.empty()) *why = "<" + open.back() + "> never closed";
  return open.empty();
}

TEST(EventsFormat, ReadsEveryKindOfTheStory) {
  std::vector<Event> events = Story();
  ASSERT_EQ(events.size(), 23u);
  std::map<std::string, int> kinds;
  for (const Event& e : events) ++kinds[KindName(e)];
  EXPECT_EQ(kinds["send"], 5);
  EXPECT_EQ(kinds["deliver"], 4);
  EXPECT_EQ(kinds["drop"], 1);
  EXPECT_EQ(kinds["mark"], 1);
  EXPECT_EQ(kinds["checkpoint"], 8);
  EXPECT_EQ(kinds["nemesis"], 2);
  EXPECT_EQ(kinds["client"], 2);
  const auto& send = std::get<SendEvent>(events[3].body);
  EXPECT_EQ(events[3].t, 1000);
  EXPECT_EQ(send.id, 1);
  EXPECT_EQ(send.from, "node-1");
  EXPECT_EQ(send.to, "node-3");
  EXPECT_EQ(send.op, "replicate");
  EXPECT_EQ(send.seq_no, 6);
  EXPECT_EQ(send.term, 1);
}

TEST(EventsFormat, WritingWhatWasReadGivesTheSameBytes) {
  std::vector<std::string> lines =
      ReadLines(TestDataPath("out_of_order.jsonl"));
  std::vector<Event> events = Story();
  ASSERT_EQ(lines.size(), events.size());
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(ToJsonLine(events[i]), lines[i]);
}

TEST(EventsFormat, EventLogWritesStableKeyOrderTimeAndKindFirst) {
  std::ostringstream out;
  EventLog log(&out);
  log.Send(1500, {.id = 9,
                  .from = "node-1",
                  .to = "node-2",
                  .op = "replicate",
                  .label = "index doc 7 seq 6 term 1",
                  .seq_no = 6,
                  .term = 1});
  log.Mark(
      1600,
      {.actor = "node-2", .mark = "rejected", .text = "term 1 is too old"});
  log.Nemesis(1700, {.action = "start", .fault = "pause", .nodes = {"node-1"}});
  log.Client(1800, {.process = "3",
                    .type = "info",
                    .f = "cas",
                    .key = "7",
                    .value = "[1 2]"});
  EXPECT_EQ(out.str(),
            "{\"t\":1500,\"kind\":\"send\",\"id\":9,\"from\":\"node-1\",\"to\":"
            "\"node-2\","
            "\"op\":\"replicate\",\"label\":\"index doc 7 seq 6 term "
            "1\",\"seq_no\":6,"
            "\"term\":1}\n"
            "{\"t\":1600,\"kind\":\"mark\",\"actor\":\"node-2\",\"mark\":"
            "\"rejected\","
            "\"text\":\"term 1 is too old\"}\n"
            "{\"t\":1700,\"kind\":\"nemesis\",\"action\":\"start\",\"fault\":"
            "\"pause\","
            "\"nodes\":[\"node-1\"]}\n"
            "{\"t\":1800,\"kind\":\"client\",\"process\":\"3\",\"type\":"
            "\"info\",\"f\":\"cas\","
            "\"key\":\"7\",\"value\":\"[1 2]\"}\n");
  EXPECT_EQ(log.events().size(), 4u);
}

TEST(EventsFormat, MalformedLineFailsWithItsNumberAndUnknownKindsAreSkipped) {
  std::istringstream bad(
      "{\"t\":1,\"kind\":\"mark\",\"actor\":\"a\"}\n{not json\n");
  auto read = ReadEvents(bad);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(std::string(read.status().message()).find("line 2"),
            std::string::npos);

  std::istringstream future(
      "{\"t\":1,\"kind\":\"hologram\",\"x\":1}\n\n{\"t\":2,\"kind\":\"drop\","
      "\"id\":3}\n");
  auto skipped = ReadEvents(future);
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  ASSERT_EQ(skipped->size(), 1u);
  EXPECT_EQ(std::get<DropEvent>((*skipped)[0].body).id, 3);

  std::istringstream no_time("{\"kind\":\"drop\",\"id\":3}\n");
  EXPECT_FALSE(ReadEvents(no_time).ok());
}

TEST(EventsFormat, ClientProcessAndValueMayBeJsonNumbersOrArrays) {
  // The lab's history has integer processes and [expected, new] values for
  // cas; the reader takes them as text.
  auto event = ParseJsonLine(
      "{\"t\":5,\"kind\":\"client\",\"process\":3,\"type\":\"invoke\","
      "\"f\":\"cas\",\"key\":\"7\",\"value\":[1,2]}");
  ASSERT_TRUE(event.ok()) << event.status();
  const auto& client = std::get<ClientEvent>(event->body);
  EXPECT_EQ(client.process, "3");
  EXPECT_EQ(client.value, "[1,2]");
}

TEST(TimelineHtml, HasOneLanePerActor) {
  std::string html = RenderHtml(Story(), StoryOptions());
  EXPECT_EQ(Count(html, "<line class=\"lane\""), 4);
  for (const char* actor : {"clients", "node-1", "node-2", "node-3"}) {
    EXPECT_NE(html.find(std::string("<line class=\"lane\" data-actor=\"") +
                        actor + "\""),
              std::string::npos)
        << actor;
  }
  // Clients first, then nodes in order.
  EXPECT_LT(html.find("data-actor=\"clients\""),
            html.find("data-actor=\"node-1\""));
  EXPECT_LT(html.find("data-actor=\"node-2\""),
            html.find("data-actor=\"node-3\""));
}

TEST(TimelineHtml, ClientProcessesShareOneLaneOneColumnPerConcurrentOp) {
  // Processes 0 and 1 overlap (two columns); process 4 (1 reborn after an
  // indeterminate result) reuses a free column.
  std::vector<Event> events = {
      {1, ClientEvent{"0", "invoke", "write", "7", "1"}},
      {2, ClientEvent{"1", "invoke", "cas", "7", "[1 2]"}},
      {3, ClientEvent{"0", "ok", "write", "7", "1"}},
      {4, ClientEvent{"1", "info", "cas", "7", "[1 2]"}},
      {5, ClientEvent{"4", "invoke", "read", "7", ""}},
      {6, ClientEvent{"4", "fail", "read", "7", ""}}};
  std::string html = RenderHtml(events, {});
  EXPECT_EQ(Count(html, "<line class=\"lane\""), 1);
  EXPECT_EQ(Count(html, "<g class=\"client-bar\""), 3);
  EXPECT_EQ(Count(html, "<rect class=\"client-op client-info\""), 1 + 1);
  EXPECT_EQ(Count(html, "<rect class=\"client-op client-fail\""), 1 + 1);
  EXPECT_NE(html.find("client-4 read 7 \xE2\x86\x92 fail"), std::string::npos);
}

TEST(TimelineHtml, DrawsOneArrowPerDeliveredMessageAndAnXForTheDroppedOne) {
  std::string html = RenderHtml(Story(), StoryOptions());
  EXPECT_EQ(Count(html, "<g class=\"arrow delivered"), 4);
  EXPECT_EQ(Count(html, "<g class=\"arrow delivered o-applied\""), 2);
  EXPECT_EQ(Count(html, "<g class=\"arrow delivered o-stale\""), 1);
  EXPECT_EQ(Count(html, "<g class=\"arrow dropped o-dropped\""), 1);
  size_t dropped = html.find("<g class=\"arrow dropped");
  ASSERT_NE(dropped, std::string::npos);
  EXPECT_LT(html.find("class=\"drop-x\"", dropped), html.find("</g>", dropped));
  EXPECT_EQ(Count(html, "class=\"arrow inflight"), 0);
  // Arrows are labelled with operation, seq_no and term.
  EXPECT_NE(html.find(">replicate seq 6 t1</text>"), std::string::npos);
}

TEST(TimelineHtml, ShowsLegendTitleExplanationAndTheMarksWords) {
  std::string html = RenderHtml(Story(), StoryOptions());
  EXPECT_NE(html.find("<g class=\"legend\">"), std::string::npos);
  for (const char* entry :
       {"applied", "stale (ignored)", "rejected", "dropped",
        "client op unknown", "global checkpoint", "fault (nemesis)"}) {
    EXPECT_NE(html.find(std::string(">") + entry + "</text>"),
              std::string::npos)
        << entry;
  }
  EXPECT_NE(html.find("<h1>Out-of-order replication</h1>"), std::string::npos);
  EXPECT_NE(html.find("<p class=\"explanation\">node-3 receives seq_no 7 and 8 "
                      "before 6.</p>"),
            std::string::npos);
  EXPECT_NE(
      html.find("<p class=\"explanation\">The late 6 changes nothing.</p>"),
      std::string::npos);
  EXPECT_NE(
      html.find("n3 ignores index(doc 7, seq_no 6, term 1): it holds seq_no 8"),
      std::string::npos);
  EXPECT_NE(html.find("<circle class=\"mark m-stale\" data-mark=\"stale\""),
            std::string::npos);
}

TEST(TimelineHtml, DrawsCheckpointChartsNemesisBandAndClientBar) {
  std::string html = RenderHtml(Story(), StoryOptions());
  EXPECT_EQ(Count(html, "<g class=\"cp-chart\" data-shard=\"idx/0\""), 2);
  EXPECT_EQ(Count(html, "<polyline class=\"cp-global\""), 2);
  EXPECT_EQ(Count(html, "<g class=\"band\""), 1);
  EXPECT_EQ(Count(html, "<rect class=\"nemesis\""),
            1 + 2);  // legend + node-1 and node-2
  EXPECT_EQ(Count(html, "<rect class=\"client-op client-ok\""),
            1 + 1);  // legend + the write
}

TEST(TimelineHtml, IsSelfContained) {
  std::string html = RenderHtml(Story(), StoryOptions());
  EXPECT_EQ(html.find("http://", 0), html.find("http://www.w3.org/2000/svg"));
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
}

TEST(TimelineHtml, EscapesMarkupInTheirWords) {
  std::vector<Event> events = {
      {5, MarkEvent{"node-1", "fenced", "<script>alert(1)</script> & \"x\""}}};
  std::string html =
      RenderHtml(events, {.title = "a <b> title", .explanation = "1 < 2"});
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(
      html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"),
      std::string::npos);
  EXPECT_NE(html.find("<h1>a &lt;b&gt; title</h1>"), std::string::npos);
}

TEST(TimelineRender, SameEventsGiveTheSameBytes) {
  EXPECT_EQ(RenderHtml(Story(), StoryOptions()),
            RenderHtml(Story(), StoryOptions()));
  EXPECT_EQ(RenderSvg(Story(), StoryOptions()),
            RenderSvg(Story(), StoryOptions()));
}

TEST(TimelineRender, IdleTimeTakesNoRoom) {
  // Two events an hour apart are drawn as tall as two events a microsecond
  // apart.
  auto height_of = [](Micros gap) {
    std::vector<Event> events = {
        {0, MarkEvent{"node-1", "pause", "paused"}},
        {gap, MarkEvent{"node-1", "resume", "resumed"}}};
    std::string svg = RenderSvg(events, {});
    size_t at = svg.find("height=\"");
    return svg.substr(at, svg.find('"', at + 8) - at);
  };
  EXPECT_EQ(height_of(1), height_of(3'600'000'000));
}

TEST(TimelineRender, SurvivesEmptyAndInconsistentLogs) {
  std::string why;
  EXPECT_TRUE(TagsBalanced(RenderSvg({}, {}), &why)) << why;
  // Deliver/drop of unknown messages, an end without a start, an unanswered
  // client operation, a message never delivered.
  std::vector<Event> events = {
      {1, DeliverEvent{42, "node-1", "applied", ""}},
      {2, DropEvent{43, "gone"}},
      {3, NemesisEvent{"end", "kill", {"node-9"}}},
      {4, ClientEvent{"1", "invoke", "read", "7", ""}},
      {5, SendEvent{1, "node-1", "node-1", "noop", "self", std::nullopt,
                    std::nullopt}},
      {6, SendEvent{2, "coordinator", "node-2", "publish", "state v3",
                    std::nullopt, 3}}};
  std::string svg = RenderSvg(events, {});
  EXPECT_TRUE(TagsBalanced(svg, &why)) << why;
  EXPECT_EQ(Count(svg, "<g class=\"arrow inflight"), 2);
  EXPECT_EQ(Count(svg, "<rect class=\"client-op client-open\""), 1);
}

TEST(TimelineRender, HiddenOpsTakeNoRow) {
  std::vector<Event> events = Story();
  events.insert(
      events.begin() + 3,
      {{1000, SendEvent{.id = 90,
                        .from = "coordinator",
                        .to = "node-3",
                        .op = "heartbeat",
                        .label = "ping"}},
       {1001, DeliverEvent{.id = 90, .to = "node-3", .outcome = "ok"}}});
  RenderOptions options = StoryOptions();
  std::string shown = RenderSvg(events, options);
  EXPECT_EQ(Count(shown, "<g class=\"arrow delivered"), 5);
  EXPECT_EQ(Count(shown, "<line class=\"lane\""), 5);  // + coordinator
  options.hidden_ops = {"heartbeat"};
  EXPECT_EQ(RenderSvg(events, options), RenderSvg(Story(), options));
}

TEST(TimelineRender, LongRunsAreCutAtMaxRowsWithANote) {
  std::vector<Event> events;
  for (int i = 0; i < 50; ++i) {
    events.push_back({i * 10, MarkEvent{"node-1", "applied", "op"}});
  }
  RenderOptions options;
  options.max_rows = 20;
  std::string svg = RenderSvg(events, options);
  EXPECT_EQ(Count(svg, "data-mark=\"applied\""), 20);
  EXPECT_NE(svg.find("30 more events not drawn"), std::string::npos);
}

TEST(TimelineRender, LongIdleGapIsDrawnAsABreak) {
  std::vector<Event> events;
  for (int i = 0; i < 6; ++i) {
    events.push_back({i * 100, MarkEvent{"node-1", "applied", "op"}});
  }
  events.push_back({500 + 2'000'000, MarkEvent{"node-1", "resume", "woke up"}});
  std::string svg = RenderSvg(events, {});
  EXPECT_EQ(Count(svg, "<line class=\"idle\""), 1);
  EXPECT_NE(svg.find("2000.000 ms later</text>"), std::string::npos);
}

TEST(TimelineHtml, StalePrimaryStoryShowsPromotionRejectionsAndFencing) {
  auto events = ReadEventsFile(TestDataPath("stale_primary.jsonl"));
  ASSERT_TRUE(events.ok()) << events.status();
  std::string html = RenderHtml(*events, {.title = "A stale primary"});
  EXPECT_EQ(Count(html, "<line class=\"lane\""), 5);
  EXPECT_EQ(Count(html, "<g class=\"arrow delivered o-rejected\""), 2);
  EXPECT_EQ(Count(html, "data-mark=\"promoted\""), 1);
  EXPECT_EQ(Count(html, "data-mark=\"fenced\""), 1);
  EXPECT_EQ(Count(html, "<g class=\"cp-chart\" data-shard=\"movies/0\""), 3);
  EXPECT_NE(html.find("operation primary term [1] is too old (current [2])"),
            std::string::npos);
  // A mark whose words already name the actor is not prefixed twice.
  EXPECT_NE(html.find(">node-1 wakes up, still believing"), std::string::npos);
  EXPECT_EQ(html.find("node-1: node-1 wakes up"), std::string::npos);
}

TEST(TimelineSvg, IsAStandaloneBalancedDocument) {
  std::string svg = RenderSvg(Story(), StoryOptions());
  EXPECT_EQ(
      svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=", 0),
      0u);
  std::string why;
  EXPECT_TRUE(TagsBalanced(svg, &why)) << why;
  EXPECT_NE(svg.find(">Out-of-order replication</text>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<g class=\"arrow delivered"), 4);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(ShiVizExport, VectorClocksFollowSendDeliverCausality) {
  std::vector<ShiVizEvent> clocks = ComputeVectorClocks(Story());
  using Clock = std::map<std::string, int64_t>;
  const std::vector<std::pair<std::string, Clock>> expected = {
      {"client-0", {{"client-0", 1}}},             // invoke
      {"node-1", {{"node-1", 1}}},                 // send #1 (seq 6)
      {"node-1", {{"node-1", 2}}},                 // send #2 (seq 7)
      {"node-1", {{"node-1", 3}}},                 // send #3 (seq 8)
      {"node-1", {{"node-1", 4}}},                 // send #4 to node-2
      {"node-3", {{"node-1", 2}, {"node-3", 1}}},  // deliver #2
      {"node-3", {{"node-1", 3}, {"node-3", 2}}},  // deliver #3
      {"node-3",
       {{"node-1", 3},
        {"node-3", 3}}},  // deliver #1: stale, learns nothing new
      {"node-3", {{"node-1", 3}, {"node-3", 4}}},  // mark stale
      {"node-3", {{"node-1", 3}, {"node-3", 5}}},  // send #5 ack
      {"node-1", {{"node-1", 5}, {"node-3", 5}}},  // deliver #5
      {"client-0", {{"client-0", 2}}},             // ok
  };
  ASSERT_EQ(clocks.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(clocks[i].host, expected[i].first) << i;
    EXPECT_EQ(clocks[i].clock, expected[i].second)
        << i << ": " << clocks[i].text;
  }
}

TEST(ShiVizExport, FileHasRegexHeaderThenEventAndClockLines) {
  std::string log = RenderShiViz(Story());
  std::istringstream in(log);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  ASSERT_EQ(lines.size(), 2u + 2 * 12);
  EXPECT_EQ(lines[0], "(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})");
  EXPECT_EQ(lines[1], "");
  EXPECT_EQ(lines[2], "1.000 ms invoke write 7 c");
  EXPECT_EQ(lines[3], "client-0 {\"client-0\":1}");
  EXPECT_EQ(lines[17], "node-3 {\"node-1\":3,\"node-3\":3}");
  EXPECT_NE(
      lines[16].find("receive #1 replicate from node-1: stale (holds seq_no 8"),
      std::string::npos);
}

}  // namespace
}  // namespace seqsim::timeline
