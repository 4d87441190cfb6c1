// The timeline's SVG (layout.h): draws a layout as lanes, arrows, dots,
// bands, client bars, checkpoint charts, the time column, the legend and the
// narrative.
#include <algorithm>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/timeline/layout.h"

namespace seqsim::timeline::render_internal {
namespace {

// Geometry, in SVG pixels.
constexpr int kMargin = 20;
constexpr int kTimeColumnWidth = 90;
constexpr int kLaneWidth = 120;
constexpr int kClientSlotWidth =
    18;  // one column per concurrent client operation
constexpr int kRowHeight = 24;
constexpr int kPanelWidth = 100;
constexpr int kPanelGap = 8;
constexpr int kLegendItemWidth = 150;
constexpr int kNarrativeMaxChars = 150;
constexpr double kCharWidth = 6.6;

constexpr char kSvgStyle[] = R"css(
text{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;font-size:12px;fill:#263238}
.title{font-size:20px;font-weight:bold}
.explain{font-size:13px;fill:#37474f}
.lane{stroke:#b0bec5;stroke-width:2}
.lane-name{font-weight:bold;text-anchor:middle}
.lane-head{fill:#eceff1;stroke:#b0bec5}
.grid{stroke:#eceff1;stroke-width:1}
.time{text-anchor:end;font-size:11px;fill:#607d8b}
.arrow line,.arrow path.shaft{fill:none;stroke-width:1.6}
.arrow text{font-size:10.5px;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.o-applied line,.o-applied path.shaft{stroke:#2e7d32}
.o-stale line,.o-stale path.shaft{stroke:#8d8d8d}
.o-rejected line,.o-rejected path.shaft{stroke:#c62828}
.o-ok line,.o-ok path.shaft{stroke:#37474f}
.o-dropped line,.o-dropped path.shaft{stroke:#37474f;stroke-dasharray:5 3}
.o-inflight line,.o-inflight path.shaft{stroke:#90a4ae;stroke-dasharray:2 3}
.drop-x{stroke:#c62828;stroke-width:3;fill:none}
.mark{stroke:#fff;stroke-width:1.5}
.m-applied{fill:#2e7d32}.m-stale{fill:#8d8d8d}.m-rejected{fill:#c62828}.m-dropped{fill:#c62828}
.m-promoted{fill:#1565c0}.m-fenced{fill:#6a1b9a}.m-crash{fill:#000}.m-restart{fill:#00838f}
.m-pause{fill:#ef6c00}.m-resume{fill:#00838f}.m-other{fill:#546e7a}
.nemesis{fill:#ffb74d;fill-opacity:.28;stroke:#ef6c00;stroke-opacity:.5;stroke-dasharray:4 3}
.nemesis-label{font-size:11px;fill:#e65100;font-style:italic}
.client-op{stroke-width:1}
.client-ok{fill:#43a047;stroke:#1b5e20}.client-fail{fill:#e53935;stroke:#b71c1c}
.client-info{fill:#fb8c00;stroke:#e65100}
.client-open{fill:#fb8c00;fill-opacity:.35;stroke:#e65100;stroke-dasharray:3 2}
.client-label{font-size:10px}
.panel{fill:#fafafa;stroke:#cfd8dc}
.panel-name{font-size:10.5px;text-anchor:middle;font-weight:bold}
.axis{font-size:9px;fill:#78909c}
.cp-max{stroke:#1565c0;fill:none;stroke-width:1.5}
.cp-local{stroke:#2e7d32;fill:none;stroke-width:1.5}
.cp-global{stroke:#6a1b9a;fill:none;stroke-width:1.5;stroke-dasharray:4 2}
.cp-point{fill:#2e7d32;fill-opacity:.6}
.cp-note{font-size:9.5px;fill:#6a1b9a}
.narrative{font-size:11.5px}
.n-send{fill:#546e7a}.n-applied{fill:#2e7d32}.n-stale{fill:#757575}.n-rejected{fill:#c62828}
.n-ok{fill:#37474f}.n-dropped{fill:#c62828}.n-nemesis{fill:#e65100;font-style:italic}
.n-mark{font-weight:bold}.n-client{fill:#455a64}
.legend-box{fill:#fff;stroke:#cfd8dc}
.idle{stroke:#90a4ae;stroke-width:1;stroke-dasharray:6 4}
.idle-label{font-size:10px;fill:#607d8b;font-style:italic;text-anchor:end}
.lane-name-repeat{font-size:10px;fill:#90a4ae}
.n-omitted{fill:#c62828;font-style:italic}
.legend text{font-size:11px}
)css";

class SvgWriter {
 public:
  SvgWriter(const Layout& layout, const RenderOptions& options,
            bool with_caption)
      : layout_(layout), options_(options), with_caption_(with_caption) {
    ComputeGeometry();
  }

  std::string Write() {
    out_.str("");
    if (with_caption_) out_ << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"timeline\" "
            "width=\""
         << width_ << "\" height=\"" << height_ << "\" viewBox=\"0 0 " << width_
         << " " << height_ << "\">\n";
    // Standalone only: inside the page a root <title> would be the tooltip of
    // every empty spot.
    if (with_caption_) out_ << "<title>" << Xml(options_.title) << "</title>\n";
    out_ << "<style>" << kSvgStyle << "</style>\n";
    WriteDefs();
    out_ << "<rect x=\"0\" y=\"0\" width=\"" << width_ << "\" height=\""
         << height_ << "\" fill=\"#fff\"/>\n";
    if (with_caption_) WriteCaption();
    WriteLegend();
    WriteBands();
    WriteTimeColumn();
    WriteLanes();
    WriteClientBars();
    WritePanels();
    WriteArrows();
    WriteDots();
    WriteNarrative();
    out_ << "</svg>\n";
    return out_.str();
  }

 private:
  int Lane(const std::string& actor) const {
    auto it = layout_.lane_of.find(IsClient(actor) ? kClientsLane : actor);
    return it == layout_.lane_of.end() ? 0 : it->second;
  }
  int LaneLeft(const std::string& actor) const {
    return lane_left_.empty() ? lanes_x_ : lane_left_[Lane(actor)];
  }
  int LaneWidth(const std::string& actor) const {
    return lane_width_.empty() ? kLaneWidth : lane_width_[Lane(actor)];
  }
  int LaneX(const std::string& actor) const {
    return LaneLeft(actor) + LaneWidth(actor) / 2;
  }
  double RowY(int row) const {
    if (row < 0) return bottom_ - 8;
    return top_ + kRowHeight / 2.0 + row * kRowHeight;
  }

  void ComputeGeometry() {
    lanes_x_ = kMargin + kTimeColumnWidth;
    lanes_end_ = lanes_x_;
    for (const std::string& actor : layout_.actors) {
      int width = kLaneWidth;
      if (actor == kClientsLane) {
        width = std::max(width, 24 + layout_.client_slots * kClientSlotWidth);
      }
      lane_left_.push_back(lanes_end_);
      lane_width_.push_back(width);
      lanes_end_ += width;
    }
    panels_x_ = lanes_end_ + kPanelGap;
    int panels = static_cast<int>(layout_.checkpoints.size());
    narrative_x_ = panels_x_ + panels * (kPanelWidth + kPanelGap) + 8;
    int longest = 20;
    for (const Row& row : layout_.rows) {
      longest =
          std::max(longest, std::min(kNarrativeMaxChars, CodePoints(row.text)));
    }
    width_ = narrative_x_ + static_cast<int>(longest * kCharWidth) + kMargin;
    width_ = std::max(width_, 900);

    int y = kMargin;
    if (with_caption_) {
      caption_y_ = y;
      y += 28;
      caption_lines_ =
          Wrap(options_.explanation,
               std::max(40, static_cast<int>((width_ - 2 * kMargin) / 7.0)));
      y += static_cast<int>(caption_lines_.size()) * 17 + 8;
    }
    legend_y_ = y;
    legend_per_line_ = std::max(1, (width_ - 2 * kMargin) / kLegendItemWidth);
    int legend_lines = (kLegendItems + legend_per_line_ - 1) / legend_per_line_;
    y += legend_lines * 22 + 16;
    header_y_ = y;
    top_ = y + 40;
    bottom_ = top_ +
              static_cast<int>(std::max<size_t>(layout_.rows.size(), 1)) *
                  kRowHeight +
              kRowHeight;
    height_ = bottom_ + kMargin;
  }

  void WriteDefs() {
    out_ << "<defs>\n";
    const std::pair<const char*, const char*> heads[] = {
        {"applied", "#2e7d32"},
        {"stale", "#8d8d8d"},
        {"rejected", "#c62828"},
        {"ok", "#37474f"},
        {"inflight", "#90a4ae"}};
    for (const auto& [name, color] : heads) {
      out_
          << "<marker id=\"head-" << name
          << "\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" "
             "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 "
             "L10,5 L0,10 z\" "
             "fill=\""
          << color << "\"/></marker>\n";
    }
    out_ << "</defs>\n";
  }

  void WriteCaption() {
    out_ << "<text class=\"title\" x=\"" << kMargin << "\" y=\""
         << caption_y_ + 18 << "\">" << Xml(options_.title) << "</text>\n";
    int y = caption_y_ + 28 + 13;
    for (const std::string& line : caption_lines_) {
      out_ << "<text class=\"explain\" x=\"" << kMargin << "\" y=\"" << y
           << "\">" << Xml(line) << "</text>\n";
      y += 17;
    }
  }

  static constexpr int kLegendItems = 17;

  void WriteLegend() {
    int lines = (kLegendItems + legend_per_line_ - 1) / legend_per_line_;
    out_ << "<g class=\"legend\">\n<rect class=\"legend-box\" x=\""
         << kMargin - 6 << "\" y=\"" << legend_y_ - 4 << "\" width=\""
         << std::min(kLegendItems, legend_per_line_) * kLegendItemWidth + 6
         << "\" height=\"" << lines * 22 + 6 << "\" rx=\"4\"/>\n";
    int item = 0;
    auto next = [&](double* x, double* y) {
      *x = kMargin + (item % legend_per_line_) * kLegendItemWidth;
      *y = legend_y_ + (item / legend_per_line_) * 22 + 11;
      ++item;
    };
    double x, y;
    auto label = [&](const std::string& text) {
      out_ << "<text x=\"" << x + 34 << "\" y=\"" << y + 4 << "\">" << Xml(text)
           << "</text>\n";
    };
    const std::pair<const char*, const char*> arrows[] = {
        {"applied", "applied"},
        {"stale", "stale (ignored)"},
        {"rejected", "rejected"},
        {"ok", "delivered"},
        {"inflight", "in flight at end"}};
    for (const auto& [cls, text] : arrows) {
      next(&x, &y);
      out_ << "<g class=\"arrow o-" << cls << "\"><line x1=\"" << x
           << "\" y1=\"" << y << "\" x2=\"" << x + 28 << "\" y2=\"" << y
           << "\" marker-end=\"url(#head-" << cls << ")\"/></g>\n";
      label(text);
    }
    next(&x, &y);
    out_ << "<g class=\"arrow o-dropped\"><line x1=\"" << x << "\" y1=\"" << y
         << "\" x2=\"" << x + 20 << "\" y2=\"" << y
         << "\"/><path class=\"drop-x\" d=\"M" << x + 18 << "," << y - 5 << " L"
         << x + 28 << "," << y + 5 << " M" << x + 18 << "," << y + 5 << " L"
         << x + 28 << "," << y - 5 << "\"/></g>\n";
    label("dropped");
    const std::pair<const char*, const char*> marks[] = {
        {"promoted", "promoted"},
        {"fenced", "fenced"},
        {"crash", "crash"},
        {"pause", "pause / resume"},
        {"other", "other mark"}};
    for (const auto& [cls, text] : marks) {
      next(&x, &y);
      out_ << "<circle class=\"mark m-" << cls << "\" cx=\"" << x + 14
           << "\" cy=\"" << y << "\" r=\"6\"/>\n";
      label(text);
    }
    const std::pair<const char*, const char*> bars[] = {
        {"ok", "client op ok"},
        {"fail", "client op failed"},
        {"info", "client op unknown"}};
    for (const auto& [cls, text] : bars) {
      next(&x, &y);
      out_ << "<rect class=\"client-op client-" << cls << "\" x=\"" << x + 4
           << "\" y=\"" << y - 7 << "\" width=\"20\" height=\"14\"/>\n";
      label(text);
    }
    next(&x, &y);
    out_ << "<rect class=\"nemesis\" x=\"" << x + 2 << "\" y=\"" << y - 8
         << "\" width=\"26\" height=\"16\"/>\n";
    label("fault (nemesis)");
    const std::pair<const char*, const char*> lines_legend[] = {
        {"cp-max", "max_seq_no"},
        {"cp-local", "local checkpoint"},
        {"cp-global", "global checkpoint"}};
    for (const auto& [cls, text] : lines_legend) {
      next(&x, &y);
      out_ << "<line class=\"" << cls << "\" x1=\"" << x << "\" y1=\"" << y
           << "\" x2=\"" << x + 28 << "\" y2=\"" << y << "\"/>\n";
      label(text);
    }
    out_ << "</g>\n";
  }

  void WriteBands() {
    for (const Band& band : layout_.bands) {
      double y1 = RowY(band.from_row) - kRowHeight / 2.0;
      double y2 =
          band.to_row < 0 ? bottom_ : RowY(band.to_row) + kRowHeight / 2.0;
      std::string tip = absl::StrCat(
          "fault ", band.fault,
          band.nodes.empty() ? " (whole cluster)" : " on ",
          absl::StrJoin(band.nodes, ", "), ": ",
          FormatTime(layout_.rows[band.from_row].t), " .. ",
          band.to_row < 0 ? "end" : FormatTime(layout_.rows[band.to_row].t));
      out_ << "<g class=\"band\" data-tip=\"" << Xml(tip) << "\"><title>"
           << Xml(tip) << "</title>\n";
      std::vector<std::string> lanes = band.nodes;
      if (lanes.empty()) lanes = layout_.actors;
      for (const std::string& lane : lanes) {
        out_ << "<rect class=\"nemesis\" x=\"" << LaneLeft(lane) + 6
             << "\" y=\"" << y1 << "\" width=\"" << LaneWidth(lane) - 12
             << "\" height=\"" << y2 - y1 << "\"/>\n";
      }
      out_ << "<text class=\"nemesis-label\" x=\""
           << LaneLeft(lanes.front()) + 10 << "\" y=\"" << y1 + 12 << "\">"
           << Xml(band.fault) << "</text>\n</g>\n";
    }
  }

  // A gap in virtual time much longer than usual (a pause, a timeout): drawn
  // as a dashed break so that the compressed axis does not hide it.
  Micros IdleThreshold() const {
    std::vector<Micros> gaps;
    for (size_t r = 1; r < layout_.rows.size(); ++r) {
      Micros gap = layout_.rows[r].t - layout_.rows[r - 1].t;
      if (gap > 0) gaps.push_back(gap);
    }
    if (gaps.empty()) return 0;
    std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
    return std::max<Micros>(1000, 20 * gaps[gaps.size() / 2]);
  }

  void WriteTimeColumn() {
    const int lanes_end = lanes_end_;
    const Micros idle = IdleThreshold();
    for (size_t r = 0; r < layout_.rows.size(); ++r) {
      if (r > 0 && layout_.rows[r].t == layout_.rows[r - 1].t) continue;
      double y = RowY(static_cast<int>(r));
      if (r > 0 && idle > 0 &&
          layout_.rows[r].t - layout_.rows[r - 1].t >= idle) {
        double yb = y - kRowHeight / 2.0;
        out_ << "<line class=\"idle\" x1=\"" << kMargin << "\" y1=\"" << yb
             << "\" x2=\"" << lanes_end << "\" y2=\"" << yb << "\"/>\n";
        out_ << "<text class=\"idle-label\" x=\"" << lanes_end - 4 << "\" y=\""
             << yb - 2 << "\">\xE2\x8B\xAF "
             << FormatTime(layout_.rows[r].t - layout_.rows[r - 1].t)
             << " later</text>\n";
      }
      out_ << "<line class=\"grid\" x1=\"" << lanes_x_ << "\" y1=\"" << y
           << "\" x2=\"" << lanes_end << "\" y2=\"" << y << "\"/>\n";
      out_ << "<text class=\"time\" x=\"" << lanes_x_ - 8 << "\" y=\"" << y + 4
           << "\">" << FormatTime(layout_.rows[r].t) << "</text>\n";
    }
  }

  void WriteLanes() {
    for (const std::string& actor : layout_.actors) {
      int x = LaneX(actor);
      out_ << "<g class=\"lane-group\" data-actor=\"" << Xml(actor) << "\">\n";
      out_ << "<rect class=\"lane-head\" x=\"" << LaneLeft(actor) + 8
           << "\" y=\"" << header_y_ << "\" width=\"" << LaneWidth(actor) - 16
           << "\" height=\"24\" rx=\"4\"/>\n";
      out_ << "<text class=\"lane-name\" x=\"" << x << "\" y=\""
           << header_y_ + 16 << "\">" << Xml(actor) << "</text>\n";
      out_ << "<line class=\"lane\" data-actor=\"" << Xml(actor) << "\" x1=\""
           << x << "\" y1=\"" << header_y_ + 24 << "\" x2=\"" << x << "\" y2=\""
           << bottom_ << "\"><title>" << Xml(actor) << "</title></line>\n";
      // The lane's name again every 30 rows, for long runs.
      for (size_t r = 30; r < layout_.rows.size(); r += 30) {
        out_ << "<text class=\"lane-name-repeat\" x=\"" << x + 4 << "\" y=\""
             << RowY(static_cast<int>(r)) - kRowHeight / 2.0 + 3 << "\">"
             << Xml(actor) << "</text>\n";
      }
      out_ << "</g>\n";
    }
  }

  void WriteClientBars() {
    const int slots = std::max(1, layout_.client_slots);
    const int first_x = LaneX(kClientsLane) - slots * kClientSlotWidth / 2 +
                        kClientSlotWidth / 2;
    for (const ClientBar& bar : layout_.bars) {
      int x = first_x + bar.slot * kClientSlotWidth;
      double y1 = RowY(bar.from_row) - 6;
      double y2 = bar.to_row < 0 ? bottom_ : RowY(bar.to_row) + 6;
      out_ << "<g class=\"client-bar\" data-tip=\"" << Xml(bar.tip)
           << "\"><title>" << Xml(bar.tip)
           << "</title><rect class=\"client-op client-" << bar.outcome
           << "\" x=\"" << x - 6 << "\" y=\"" << y1
           << "\" width=\"12\" height=\"" << y2 - y1 << "\" rx=\"3\"/>";
      if (slots == 1) {  // room for words only when operations do not overlap
        out_ << "<text class=\"client-label\" x=\"" << x + 10 << "\" y=\""
             << y1 + 10 << "\">" << Xml(Truncate(bar.label, 16)) << "</text>";
      }
      out_ << "</g>\n";
    }
  }

  void WritePanels() {
    int index = 0;
    for (const auto& [key, points] : layout_.checkpoints) {
      const auto& [shard, actor] = key;
      int x0 = panels_x_ + index++ * (kPanelWidth + kPanelGap);
      // One scale per shard, so panels of the same shard compare at a glance.
      int64_t hi = 0;
      for (const auto& [other_key, other_points] : layout_.checkpoints) {
        if (other_key.first != shard) continue;
        for (const CheckpointPoint& p : other_points) {
          hi = std::max({hi, p.cp.max_seq_no, p.cp.local_checkpoint,
                         p.cp.global_checkpoint});
        }
      }
      const int64_t lo = -1;
      auto xv = [&](int64_t v) {
        return x0 + 8 +
               (std::max(v, lo) - lo) * (kPanelWidth - 16.0) / (hi - lo);
      };
      out_ << "<g class=\"cp-chart\" data-shard=\"" << Xml(shard)
           << "\" data-actor=\"" << Xml(actor) << "\">\n";
      out_ << "<rect class=\"panel\" x=\"" << x0 << "\" y=\"" << header_y_ + 26
           << "\" width=\"" << kPanelWidth << "\" height=\""
           << bottom_ - header_y_ - 26 << "\"/>\n";
      out_ << "<text class=\"panel-name\" x=\"" << x0 + kPanelWidth / 2
           << "\" y=\"" << header_y_ + 10 << "\">" << Xml(shard) << "</text>\n";
      out_ << "<text class=\"panel-name\" x=\"" << x0 + kPanelWidth / 2
           << "\" y=\"" << header_y_ + 22 << "\">" << Xml(actor) << "</text>\n";
      out_ << "<text class=\"axis\" x=\"" << xv(lo) << "\" y=\""
           << header_y_ + 36 << "\">" << lo
           << "</text><text class=\"axis\" text-anchor=\"end\" x=\"" << xv(hi)
           << "\" y=\"" << header_y_ + 36 << "\">" << hi << "</text>\n";
      const std::pair<const char*, int64_t CheckpointEvent::*> series[] = {
          {"cp-max", &CheckpointEvent::max_seq_no},
          {"cp-local", &CheckpointEvent::local_checkpoint},
          {"cp-global", &CheckpointEvent::global_checkpoint}};
      for (const auto& [cls, field] : series) {
        out_ << "<polyline class=\"" << cls << "\" points=\"";
        for (size_t i = 0; i < points.size(); ++i) {
          double y = RowY(points[i].row);
          if (i > 0) out_ << xv(points[i - 1].cp.*field) << "," << y << " ";
          out_ << xv(points[i].cp.*field) << "," << y << " ";
        }
        out_ << xv(points.back().cp.*field) << "," << bottom_ << "\"/>\n";
      }
      const CheckpointEvent* previous = nullptr;
      for (const CheckpointPoint& p : points) {
        const CheckpointEvent& cp = p.cp;
        std::string tip = absl::StrCat(
            shard, " on ", actor, " @ ", FormatTime(p.t), ": max_seq_no ",
            cp.max_seq_no, ", local checkpoint ", cp.local_checkpoint,
            ", global checkpoint ", cp.global_checkpoint, ", term ", cp.term,
            cp.role.empty() ? "" : ", ", cp.role);
        double y = RowY(p.row);
        out_ << "<circle class=\"cp-point\" cx=\"" << xv(cp.local_checkpoint)
             << "\" cy=\"" << y << "\" r=\"2.5\" data-tip=\"" << Xml(tip)
             << "\"><title>" << Xml(tip) << "</title></circle>\n";
        if (previous == nullptr || previous->term != cp.term ||
            previous->role != cp.role) {
          out_ << "<text class=\"cp-note\" x=\"" << x0 + 3 << "\" y=\"" << y - 3
               << "\">t" << cp.term << " " << Xml(cp.role) << "</text>\n";
        }
        previous = &cp;
      }
      out_ << "</g>\n";
    }
  }

  void WriteArrows() {
    for (const Arrow& a : layout_.arrows) {
      double x1 = LaneX(a.from), y1 = RowY(a.from_row);
      double x2 = LaneX(a.to), y2 = RowY(a.to_row);
      out_ << "<g class=\"arrow " << a.kind << " o-" << a.outcome
           << "\" data-tip=\"" << Xml(a.tip) << "\"><title>" << Xml(a.tip)
           << "</title>";
      // The label sits just under the arrow's head, on the sender's side:
      // deliveries take a row each, so labels never share a line.
      double dir = x2 >= x1 ? 1 : -1;
      double lx, ly;
      if (a.kind == "dropped") {
        double px = x1 + (x2 - x1) * 0.6, py = y1 + (y2 - y1) * 0.6;
        if (x1 == x2) px = x1 + 30;
        out_ << "<line x1=\"" << x1 << "\" y1=\"" << y1 << "\" x2=\"" << px
             << "\" y2=\"" << py << "\"/><path class=\"drop-x\" d=\"M" << px - 5
             << "," << py - 5 << " L" << px + 5 << "," << py + 5 << " M"
             << px - 5 << "," << py + 5 << " L" << px + 5 << "," << py - 5
             << "\"/>";
        lx = px - dir * 8;
        ly = py + 14;
      } else if (a.from == a.to) {
        out_ << "<path class=\"shaft\" d=\"M" << x1 << "," << y1 << " C"
             << x1 + 45 << "," << y1 << " " << x1 + 45 << "," << y2 << " "
             << x2 + 2 << "," << y2 << "\" marker-end=\"url(#head-" << a.outcome
             << ")\"/>";
        lx = x1 + 40;
        ly = (y1 + y2) / 2 + 4;
      } else {
        out_ << "<line x1=\"" << x1 << "\" y1=\"" << y1 << "\" x2=\""
             << x2 - dir * 2 << "\" y2=\"" << y2 << "\" marker-end=\"url(#head-"
             << a.outcome << ")\"/>";
        lx = x2 - dir * 10;
        ly = y2 + 12;
      }
      const char* anchor = a.from == a.to ? "start" : dir > 0 ? "end" : "start";
      out_ << "<text x=\"" << lx << "\" y=\"" << ly << "\" text-anchor=\""
           << anchor << "\">" << Xml(a.label) << "</text></g>\n";
    }
  }

  void WriteDots() {
    for (const Dot& dot : layout_.dots) {
      out_ << "<circle class=\"mark m-" << dot.mark << "\" data-mark=\""
           << dot.mark << "\" cx=\"" << LaneX(dot.actor) << "\" cy=\""
           << RowY(dot.row) << "\" r=\"7\" data-tip=\"" << Xml(dot.tip)
           << "\"><title>" << Xml(dot.tip) << "</title></circle>\n";
    }
  }

  void WriteNarrative() {
    out_ << "<text class=\"panel-name\" text-anchor=\"start\" "
            "style=\"text-anchor:start\" x=\""
         << narrative_x_ << "\" y=\"" << header_y_ + 16
         << "\">what happens</text>\n";
    for (size_t r = 0; r < layout_.rows.size(); ++r) {
      const Row& row = layout_.rows[r];
      std::string shown = Truncate(row.text, kNarrativeMaxChars);
      out_ << "<text class=\"narrative " << row.css << "\" x=\"" << narrative_x_
           << "\" y=\"" << RowY(static_cast<int>(r)) + 4 << "\">";
      if (shown != row.text) out_ << "<title>" << Xml(row.text) << "</title>";
      out_ << Xml(shown) << "</text>\n";
    }
  }

  const Layout& layout_;
  const RenderOptions& options_;
  const bool with_caption_;
  std::ostringstream out_;
  int width_ = 0, height_ = 0;
  int lanes_x_ = 0, lanes_end_ = 0, panels_x_ = 0, narrative_x_ = 0;
  std::vector<int> lane_left_,
      lane_width_;  // per lane, in layout_.actors order
  int caption_y_ = 0, legend_y_ = 0, legend_per_line_ = 1, header_y_ = 0,
      top_ = 0;
  int bottom_ = 0;
  std::vector<std::string> caption_lines_;
};

}  // namespace

std::string WriteSvg(const Layout& layout, const RenderOptions& options,
                     bool with_caption) {
  return SvgWriter(layout, options, with_caption).Write();
}

}  // namespace seqsim::timeline::render_internal
