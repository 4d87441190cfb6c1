#include "sim/timeline/render.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "sim/timeline/layout.h"

namespace seqsim::timeline {

std::string XmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}
namespace {

using render_internal::BuildLayout;
using render_internal::ClientLane;
using render_internal::FormatTime;
using render_internal::Layout;
using render_internal::OneLine;
using render_internal::WriteSvg;
using render_internal::Xml;

constexpr char kPageStyle[] = R"css(
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px;color:#263238;background:#fff}
h1{font-size:22px;margin:0 0 8px}
.explanation{max-width:70em;line-height:1.45}
.howto{max-width:70em;color:#546e7a;font-size:13px}
#diagram{overflow-x:auto;border-top:1px solid #cfd8dc;padding-top:8px}
#tip{position:fixed;display:none;pointer-events:none;max-width:42em;background:#263238;color:#fff;
 font-size:12px;padding:6px 8px;border-radius:4px;box-shadow:0 2px 6px rgba(0,0,0,.3);z-index:10}
[data-tip]{cursor:help}
.arrow:hover line,.arrow:hover path{stroke-width:3}
)css";

// Runs after the SVG is parsed: counts what was drawn (for tests and curious
// readers) and shows a tooltip for anything with data-tip.
constexpr char kPageScript[] = R"js(
(function () {
  var svg = document.querySelector('#diagram svg');
  var body = document.body;
  if (!svg) { body.dataset.rendered = 'no'; return; }
  function drawn(selector) {
    var n = 0;
    svg.querySelectorAll(selector).forEach(function (el) {
      var box = el.getBBox();
      if (box.width > 0 || box.height > 0) n++;
    });
    return n;
  }
  body.dataset.lanes = drawn('line.lane');
  body.dataset.arrows = drawn('g.arrow.delivered');
  body.dataset.drops = drawn('g.arrow.dropped');
  body.dataset.marks = drawn('circle.mark[data-mark]');
  body.dataset.height = Math.round(svg.getBoundingClientRect().height);
  var tip = document.getElementById('tip');
  svg.addEventListener('mousemove', function (ev) {
    var el = ev.target.closest('[data-tip]');
    if (!el) { tip.style.display = 'none'; return; }
    tip.textContent = el.getAttribute('data-tip');
    tip.style.display = 'block';
    tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
    tip.style.top = (ev.clientY + 14) + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  body.dataset.rendered = 'yes';
})();
)js";

}  // namespace

std::string RenderSvg(const std::vector<Event>& events,
                      const RenderOptions& options) {
  Layout layout = BuildLayout(events, options);
  return WriteSvg(layout, options, /*with_caption=*/true);
}

std::string RenderHtml(const std::vector<Event>& events,
                       const RenderOptions& options) {
  Layout layout = BuildLayout(events, options);
  std::ostringstream page;
  page << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
          "charset=\"utf-8\">\n<title>"
       << Xml(options.title) << "</title>\n<style>" << kPageStyle
       << "</style>\n</head>\n<body>\n";
  page << "<h1>" << Xml(options.title) << "</h1>\n";
  std::string paragraph;
  std::istringstream lines(options.explanation + "\n\n");
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      if (!paragraph.empty())
        page << "<p class=\"explanation\">" << Xml(paragraph) << "</p>\n";
      paragraph.clear();
    } else {
      paragraph += paragraph.empty() ? line : " " + line;
    }
  }
  page << "<p class=\"howto\">How to read it: time flows downward (one row per "
          "event; the left "
          "column gives the virtual time where it advances, idle time takes no "
          "room). Each "
          "vertical lane is an actor. An arrow is a message from its send to "
          "its delivery, "
          "labelled with its operation, seq_no and term; its colour says what "
          "the receiver did. "
          "Dots are decisions, explained in words on the right. The small "
          "charts follow each "
          "copy's max_seq_no and checkpoints. Hover over anything for "
          "details.</p>\n";
  page << "<div id=\"diagram\">\n"
       << WriteSvg(layout, options, /*with_caption=*/false)
       << "</div>\n<div id=\"tip\"></div>\n<script>" << kPageScript
       << "</script>\n";
  page << "</body>\n</html>\n";
  return page.str();
}

std::vector<ShiVizEvent> ComputeVectorClocks(const std::vector<Event>& events) {
  auto host_name = [](std::string name) {
    for (char& c : name) {
      if (std::isspace(static_cast<unsigned char>(c))) c = '_';
    }
    return name.empty() ? std::string("unknown") : name;
  };
  std::map<std::string, std::map<std::string, int64_t>> clocks;
  std::map<MessageId, std::pair<std::map<std::string, int64_t>, SendEvent>>
      sent;
  std::vector<ShiVizEvent> out;
  auto tick = [&](const std::string& host, std::string text) {
    auto& clock = clocks[host];
    ++clock[host];
    out.push_back({host, clock, OneLine(std::move(text))});
    return clock;
  };
  for (const Event& e : events) {
    std::string at = FormatTime(e.t);
    if (const auto* s = std::get_if<SendEvent>(&e.body)) {
      std::string host = host_name(s->from);
      auto clock = tick(
          host, absl::StrCat(at, " send #", s->id, " ", s->op, " to ", s->to,
                             s->label.empty() ? "" : ": ", s->label));
      sent[s->id] = {std::move(clock), *s};
    } else if (const auto* d = std::get_if<DeliverEvent>(&e.body)) {
      auto it = sent.find(d->id);
      std::string to = d->to;
      if (to.empty() && it != sent.end()) to = it->second.second.to;
      std::string host = host_name(to);
      std::string text = absl::StrCat(at, " receive #", d->id);
      if (it != sent.end()) {
        absl::StrAppend(&text, " ", it->second.second.op, " from ",
                        it->second.second.from);
        auto& clock = clocks[host];
        for (const auto& [other, count] : it->second.first) {
          clock[other] = std::max(clock[other], count);
        }
      }
      if (!d->outcome.empty()) absl::StrAppend(&text, ": ", d->outcome);
      if (!d->detail.empty()) absl::StrAppend(&text, " (", d->detail, ")");
      tick(host, text);
    } else if (const auto* m = std::get_if<MarkEvent>(&e.body)) {
      tick(host_name(m->actor), absl::StrCat(at, " ", m->mark, ": ", m->text));
    } else if (const auto* c = std::get_if<ClientEvent>(&e.body)) {
      tick(host_name(ClientLane(c->process)),
           absl::StrCat(at, " ", c->type, " ", c->f, " ", c->key, " ",
                        c->value));
    }
  }
  return out;
}

std::string RenderShiViz(const std::vector<Event>& events) {
  std::string out = "(?<event>.*)\\n(?<host>\\S*) (?<clock>{.*})\n\n";
  for (const ShiVizEvent& e : ComputeVectorClocks(events)) {
    nlohmann::json clock(e.clock);
    absl::StrAppend(
        &out, e.text, "\n", e.host, " ",
        clock.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        "\n");
  }
  return out;
}

absl::Status RenderToDirectory(const std::vector<Event>& events,
                               const RenderOptions& options,
                               const std::string& dir) {
  const std::pair<std::string, std::string> files[] = {
      {"timeline.html", RenderHtml(events, options)},
      {"timeline.svg", RenderSvg(events, options)},
      {"timeline.shiviz.log", RenderShiViz(events)}};
  for (const auto& [name, content] : files) {
    std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out)
      return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace seqsim::timeline
