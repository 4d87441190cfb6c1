// The timeline drawing's layout, shared by the files of sim/timeline that draw
// (render.h): the rows, lanes, arrows, dots, bands, client bars and
// checkpoint charts that BuildLayout computes from a run's events
// (layout.cc), and the SVG writer that draws a layout (svg.cc). render.cc
// wraps the SVG in the HTML page. Internal to sim/timeline.
//
// Pure functions of their input. Thread-compatible.
#ifndef SEQSIM_SIM_TIMELINE_LAYOUT_H_
#define SEQSIM_SIM_TIMELINE_LAYOUT_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/timeline/events.h"
#include "sim/timeline/render.h"

namespace seqsim::timeline::render_internal {

inline std::string Xml(const std::string& s) { return XmlEscape(s); }

// ---- Text helpers

// Number of UTF-8 code points (for width estimates).
int CodePoints(const std::string& s);

// At most max_chars code points, with an ellipsis when cut; never splits a
// UTF-8 sequence.
std::string Truncate(const std::string& s, int max_chars);

// `s` with line breaks turned into spaces.
std::string OneLine(std::string s);

// "12.345 ms".
std::string FormatTime(Micros t);

// Splits text into lines of at most width code points, at spaces; blank lines
// are kept.
std::vector<std::string> Wrap(const std::string& text, int width);

// ---- Actors and lanes

// Every client process is drawn in the one "clients" lane: processes come and
// go (a client that saw an indeterminate result continues as a new process), so
// one lane each would not fit.
inline constexpr char kClientsLane[] = "clients";

// Whether `actor` is a client process ("client..."), drawn in kClientsLane.
bool IsClient(const std::string& actor);
// The client actor name of history process `process` ("7" -> "client-7").
std::string ClientLane(const std::string& process);

// ---- The layout: rows (one per drawn event), lanes, and what to draw where.

struct Row {
  Micros t = 0;
  std::string text;  // the narrative line
  std::string css;   // narrative class
};

struct SentMessage {
  int row = 0;
  SendEvent send;
  bool resolved = false;  // delivered or dropped at least once
};

struct Arrow {
  std::string kind;  // delivered | dropped | inflight
  std::string outcome;
  std::string from, to;
  int from_row = 0, to_row = 0;  // to_row == -1: to the bottom
  std::string label, tip;
};

struct Dot {
  std::string actor, mark, tip;
  int row = 0;
};

struct Band {
  std::vector<std::string> nodes;
  std::string fault;
  int from_row = 0, to_row = -1;  // -1: open until the end
};

struct ClientBar {
  std::string outcome, label, tip;  // outcome: ok | fail | info | open
  int slot = 0;                     // column within the clients lane
  int from_row = 0, to_row = -1;
};

struct CheckpointPoint {
  int row = 0;
  Micros t = 0;
  CheckpointEvent cp;
};

struct Layout {
  std::vector<std::string> actors;
  std::map<std::string, int> lane_of;
  std::vector<Row> rows;
  std::vector<Arrow> arrows;
  std::vector<Dot> dots;
  std::vector<Band> bands;
  std::vector<ClientBar> bars;
  int client_slots = 0;
  int omitted = 0;  // events left out beyond options.max_rows
  // (shard, actor) -> its checkpoints in order; shards in name order.
  std::map<std::pair<std::string, std::string>, std::vector<CheckpointPoint>>
      checkpoints;
};

// The layout of `events` (at most options.max_rows rows).
Layout BuildLayout(const std::vector<Event>& events,
                   const RenderOptions& options);

// The SVG of `layout`; `with_caption`: standalone (XML header, title,
// caption), else for embedding in the page.
std::string WriteSvg(const Layout& layout, const RenderOptions& options,
                     bool with_caption);

}  // namespace seqsim::timeline::render_internal

#endif  // SEQSIM_SIM_TIMELINE_LAYOUT_H_
