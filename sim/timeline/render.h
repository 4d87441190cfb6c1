// Draws a run's events (events.h) for people: a space-time diagram as one
// self-contained HTML page (no network access: inline CSS, JS and SVG), the
// same diagram as a standalone SVG for slides, and an export in ShiViz's log
// format with vector clocks.
//
// The diagram: one vertical lane per actor (clients first, then the
// coordinator, then nodes), time flowing downward. The vertical axis is the
// event index, not raw time, so idle periods take no room; the left column
// prints the virtual time wherever it advances. Messages are arrows from send
// to deliver; marks are dots with their words in the right-hand column;
// checkpoints are small step charts per (shard, copy); nemesis periods are
// shaded bands; client operations are bars in the client lanes.
//
// Pure functions of their input: the same events give the same bytes.
// Thread-compatible.

#ifndef SEQSIM_SIM_TIMELINE_RENDER_H_
#define SEQSIM_SIM_TIMELINE_RENDER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "sim/timeline/events.h"

namespace seqsim::timeline {

struct RenderOptions {
  std::string title = "seqsim run";
  // The scenario's explanation: what to look at and why it matters. Plain text;
  // a blank line starts a new paragraph.
  std::string explanation = {};
  // Messages whose op is listed here are not drawn (e.g. "heartbeat"): their
  // sends, delivers and drops take no row. Marks and checkpoints are always
  // drawn.
  std::vector<std::string> hidden_ops = {};
  // At most this many rows are drawn; later events are counted in a last row
  // that says how many were left out. Keeps a long run's page openable.
  int max_rows = 2000;
};

// Escapes for XML text and attributes; control characters become spaces.
// Shared by every SVG seqsim draws.
std::string XmlEscape(const std::string& s);

// The diagram as a standalone SVG document (with title, explanation and
// legend).
std::string RenderSvg(const std::vector<Event>& events,
                      const RenderOptions& options);

// The page: title, explanation, how-to-read, the SVG inline, a hover tooltip.
// After drawing, the page's script sets on <body>: data-rendered="yes",
// data-lanes, data-arrows (delivered messages), data-drops, data-marks,
// data-height (pixels of the drawn diagram).
std::string RenderHtml(const std::vector<Event>& events,
                       const RenderOptions& options);

// One ShiViz event: the actor it happened on, its vector clock, and its words.
struct ShiVizEvent {
  std::string host = {};
  std::map<std::string, int64_t> clock;
  std::string text = {};
};

// Vector clocks from send/deliver causality: a send, a deliver, a mark and a
// client event each tick the actor's own entry; a deliver first merges the
// sender's clock at send time. Drops, checkpoints and nemesis events are not
// ShiViz events (they have no acting host or change no causality). A deliver of
// an unknown message id counts as a local event.
std::vector<ShiVizEvent> ComputeVectorClocks(const std::vector<Event>& events);

// The ShiViz file: line 1 the parser regex, line 2 the (empty) executions
// delimiter, then for every event its text line and a "host {clock}" line.
std::string RenderShiViz(const std::vector<Event>& events);

// Writes DIR/timeline.html, DIR/timeline.svg and DIR/timeline.shiviz.log (DIR
// must exist).
absl::Status RenderToDirectory(const std::vector<Event>& events,
                               const RenderOptions& options,
                               const std::string& dir);

}  // namespace seqsim::timeline

#endif  // SEQSIM_SIM_TIMELINE_RENDER_H_
