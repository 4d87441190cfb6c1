#include "experiment/report.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/timeline/render.h"

namespace seqsim::experiment {
namespace {

using sim::EventType;
using sim::HistoryEvent;

constexpr int kWidth = 960;
constexpr int kHeight = 380;
constexpr int kLeft = 70;
constexpr int kRight = 20;
constexpr int kTop = 40;
constexpr int kBottom = 50;

std::string Xml(const std::string& text) { return timeline::XmlEscape(text); }

double X(int64_t t_ns, int64_t end_ns) {
  const double w = kWidth - kLeft - kRight;
  return kLeft + w * static_cast<double>(t_ns) /
                     static_cast<double>(std::max<int64_t>(end_ns, 1));
}

// Bands and the time axis, shared by both figures.
std::string Frame(const std::vector<FaultBand>& bands, int64_t end_ns,
                  const std::string& title) {
  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%d\" y=\"20\" font-size=\"14\">%s</text>\n",
      kWidth, kHeight, kWidth, kHeight, kLeft, Xml(title));
  const int plot_h = kHeight - kTop - kBottom;
  int lane = 0;
  for (const FaultBand& b : bands) {
    const double x0 = X(b.start_ns, end_ns);
    const double x1 = std::max(x0 + 1, X(b.end_ns, end_ns));
    absl::StrAppendFormat(
        &out,
        "<g><title>%s</title><rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
        "height=\"%d\" fill=\"#9575cd\" fill-opacity=\"0.18\"/>"
        "<text x=\"%.1f\" y=\"%d\" fill=\"#5e35b1\" font-size=\"9\">%s</text>"
        "</g>\n",
        Xml(b.label), x0, kTop, x1 - x0, plot_h, x0 + 2,
        kTop + 10 + 10 * (lane % 3), Xml(b.label));
    ++lane;
  }
  // Time axis: a tick every "nice" number of seconds.
  const double seconds = static_cast<double>(end_ns) / 1e9;
  double step = 1;
  for (double s : {1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0}) {
    step = s;
    if (seconds / s <= 12) break;
  }
  const int axis_y = kHeight - kBottom;
  absl::StrAppendFormat(&out,
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
                        "stroke=\"#333\"/>\n",
                        kLeft, axis_y, kWidth - kRight, axis_y);
  for (double s = 0; s <= seconds + 1e-9; s += step) {
    const double x = X(static_cast<int64_t>(s * 1e9), end_ns);
    absl::StrAppendFormat(&out,
                          "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                          "stroke=\"#333\"/><text x=\"%.1f\" y=\"%d\" "
                          "text-anchor=\"middle\">%g</text>\n",
                          x, axis_y, x, axis_y + 4, x, axis_y + 16, s);
  }
  absl::StrAppendFormat(&out,
                        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time "
                        "since the workload started (s)</text>\n",
                        kLeft + (kWidth - kLeft - kRight) / 2, axis_y + 34);
  return out;
}

const char* Color(EventType type) {
  switch (type) {
    case EventType::kOk:
      return "#43a047";
    case EventType::kFail:
      return "#e53935";
    default:
      return "#fb8c00";
  }
}

}  // namespace

std::vector<CompletedOp> PairOperations(
    const std::vector<HistoryEvent>& history, int64_t first_excluded_process) {
  std::vector<CompletedOp> ops;
  std::map<int64_t, const HistoryEvent*> open;
  for (const HistoryEvent& e : history) {
    if (first_excluded_process > 0 && e.process >= first_excluded_process &&
        e.process < 2000000)
      continue;
    if (e.type == EventType::kInvoke) {
      open[e.process] = &e;
      continue;
    }
    auto it = open.find(e.process);
    if (it == open.end()) continue;
    ops.push_back({e.process, it->second->f, e.type, it->second->time, e.time});
    open.erase(it);
  }
  return ops;
}

std::vector<FaultBand> FaultBands(const std::vector<NemesisRecord>& records,
                                  int64_t end_ns) {
  std::vector<FaultBand> bands;
  std::vector<std::pair<const NemesisRecord*, size_t>> open;
  for (const NemesisRecord& r : records) {
    if (r.action == "start") {
      bands.push_back({r.time_ns, end_ns,
                       absl::StrCat(r.kind, " ", r.target, " (",
                                    absl::StrJoin(r.nodes, ","), ")")});
      open.emplace_back(&r, bands.size() - 1);
    } else if (r.action == "end") {
      for (auto it = open.begin(); it != open.end(); ++it) {
        if (it->first->kind == r.kind && it->first->target == r.target &&
            it->first->nodes == r.nodes) {
          bands[it->second].end_ns = r.time_ns;
          open.erase(it);
          break;
        }
      }
    }
  }
  return bands;
}

std::string LatencySvg(const std::vector<CompletedOp>& ops,
                       const std::vector<FaultBand>& bands, int64_t end_ns,
                       const std::string& title) {
  std::string out = Frame(bands, end_ns, title);
  const int plot_h = kHeight - kTop - kBottom;
  // Log scale from 0.1 ms to 10 s.
  const double lo = -1, hi = 4;
  auto y_of = [&](double ms) {
    const double l = std::clamp(std::log10(std::max(ms, 1e-3)), lo, hi);
    return kTop + plot_h * (1 - (l - lo) / (hi - lo));
  };
  for (double ms : {0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0}) {
    const double y = y_of(ms);
    absl::StrAppendFormat(
        &out,
        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g ms</text>\n",
        kLeft, y, kWidth - kRight, y, kLeft - 4, y + 4, ms);
  }
  // At most 20,000 points (every k-th), so that a long run stays viewable.
  const size_t stride = std::max<size_t>(1, ops.size() / 20000);
  for (size_t i = 0; i < ops.size(); i += stride) {
    const CompletedOp& op = ops[i];
    const double ms = static_cast<double>(op.complete_ns - op.invoke_ns) / 1e6;
    absl::StrAppendFormat(&out,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.6\" "
                          "fill=\"%s\" fill-opacity=\"0.7\"/>\n",
                          X(op.invoke_ns, end_ns), y_of(ms), Color(op.type));
  }
  absl::StrAppendFormat(
      &out,
      "<text x=\"%d\" y=\"%d\">latency (log) by outcome:</text>"
      "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"#43a047\"/><text x=\"%d\" "
      "y=\"%d\">ok</text><circle cx=\"%d\" cy=\"%d\" r=\"4\" "
      "fill=\"#e53935\"/><text x=\"%d\" y=\"%d\">fail</text><circle cx=\"%d\" "
      "cy=\"%d\" r=\"4\" fill=\"#fb8c00\"/><text x=\"%d\" y=\"%d\">info "
      "(indeterminate)</text>\n</svg>\n",
      kWidth - 420, 20, kWidth - 260, 16, kWidth - 252, 20, kWidth - 220, 16,
      kWidth - 212, 20, kWidth - 170, 16, kWidth - 162, 20);
  return out;
}

std::string AvailabilitySvg(const std::vector<CompletedOp>& ops,
                            const std::vector<FaultBand>& bands, int64_t end_ns,
                            int64_t bucket_ns, const std::string& title) {
  std::string out = Frame(bands, end_ns, title);
  const int plot_h = kHeight - kTop - kBottom;
  bucket_ns = std::max<int64_t>(bucket_ns, 1);
  const size_t buckets = static_cast<size_t>(end_ns / bucket_ns + 1);
  std::vector<int64_t> ok(buckets, 0), all(buckets, 0);
  for (const CompletedOp& op : ops) {
    const size_t b =
        std::min(buckets - 1, static_cast<size_t>(op.invoke_ns / bucket_ns));
    ++all[b];
    if (op.type == EventType::kOk) ++ok[b];
  }
  const int64_t peak =
      std::max<int64_t>(1, *std::max_element(all.begin(), all.end()));
  for (int pct : {0, 25, 50, 75, 100}) {
    const double y = kTop + plot_h * (1 - pct / 100.0);
    absl::StrAppendFormat(
        &out,
        "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
        "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
        kLeft, y, kWidth - kRight, y, kLeft - 4, y + 4, pct);
  }
  std::string ok_line, rate_line;
  for (size_t b = 0; b < buckets; ++b) {
    const double x0 = X(static_cast<int64_t>(b) * bucket_ns, end_ns);
    const double x1 = X(static_cast<int64_t>(b + 1) * bucket_ns, end_ns);
    const double xm = (x0 + x1) / 2;
    if (all[b] > 0) {
      const double share =
          static_cast<double>(ok[b]) / static_cast<double>(all[b]);
      absl::StrAppendFormat(
          &out,
          "<g><title>%.1f-%.1f s: %d of %d ok</title><rect x=\"%.1f\" "
          "y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#43a047\" "
          "fill-opacity=\"0.6\"/></g>\n",
          static_cast<double>(b * bucket_ns) / 1e9,
          static_cast<double>((b + 1) * bucket_ns) / 1e9, ok[b], all[b],
          x0 + 0.5, kTop + plot_h * (1 - share), std::max(0.5, x1 - x0 - 1),
          plot_h * share);
    }
    absl::StrAppendFormat(&rate_line, "%s%.1f,%.1f", b == 0 ? "" : " ", xm,
                          kTop + plot_h * (1 - static_cast<double>(all[b]) /
                                                   static_cast<double>(peak)));
  }
  absl::StrAppendFormat(
      &out,
      "<polyline points=\"%s\" fill=\"none\" stroke=\"#1e88e5\" "
      "stroke-width=\"1.5\"/>\n"
      "<text x=\"%d\" y=\"20\">bars: share of operations answered ok per "
      "%g s; blue line: operations invoked (peak %d per bucket)</text>\n"
      "</svg>\n",
      rate_line, kWidth - 560, static_cast<double>(bucket_ns) / 1e9, peak);
  return out;
}

std::vector<timeline::Event> TimelineEvents(
    const std::vector<HistoryEvent>& history,
    const std::vector<NemesisRecord>& nemesis,
    const std::vector<timeline::Event>& monitor) {
  std::vector<timeline::Event> events;
  for (const HistoryEvent& e : history) {
    std::string text = e.value == sim::kNil ? "" : absl::StrCat(e.value);
    if (e.f == sim::Fn::kCas) {
      text = absl::StrCat(
          "[", e.expected == sim::kNil ? "nil" : absl::StrCat(e.expected), " ",
          e.value == sim::kNil ? "nil" : absl::StrCat(e.value), "]");
    }
    if (e.outcome != sim::Outcome::kNone)
      absl::StrAppend(&text, " ", sim::OutcomeName(e.outcome));
    events.push_back(
        {e.time / 1000, timeline::ClientEvent{absl::StrCat(e.process),
                                              sim::EventTypeName(e.type),
                                              sim::FnName(e.f), e.key, text}});
  }
  for (const NemesisRecord& r : nemesis) {
    if (r.action == "skip") continue;
    events.push_back(
        {r.time_ns / 1000,
         timeline::NemesisEvent{r.action, absl::StrCat(r.kind, " ", r.target),
                                r.nodes}});
  }
  events.insert(events.end(), monitor.begin(), monitor.end());
  std::stable_sort(events.begin(), events.end(),
                   [](const timeline::Event& a, const timeline::Event& b) {
                     return a.t < b.t;
                   });
  return events;
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace seqsim::experiment
