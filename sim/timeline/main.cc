// seqsim-timeline: draws a lab run's events.jsonl as timeline.html,
// timeline.svg and timeline.shiviz.log, e.g. before the lab draws its own runs,
// or to redraw one with another title.
//
//   seqsim-timeline render --events=DIR/events.jsonl --out=DIR [--title=TEXT]
//       [--explanation=TEXT | --explanation-file=PATH]
//       [--hide-ops=heartbeat,...] [--max-rows=2000]

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "sim/timeline/events.h"
#include "sim/timeline/render.h"

namespace {

constexpr char kUsage[] =
    "usage: seqsim-timeline render --events=DIR/events.jsonl --out=DIR\n"
    "           [--title=TEXT] [--explanation=TEXT | --explanation-file=PATH]\n"
    "           [--hide-ops=heartbeat,...] [--max-rows=2000]\n"
    "Writes DIR/timeline.html (open it in a browser), DIR/timeline.svg and\n"
    "DIR/timeline.shiviz.log (for https://bestchai.bitbucket.io/shiviz/).\n";

int Fail(const std::string& message) {
  std::cerr << "seqsim-timeline: " << message << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Fail("missing command");
  std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (command != "render") return Fail("unknown command \"" + command + "\"");
  std::string events_path, out_dir, explanation_file, hide_ops, max_rows;
  seqsim::timeline::RenderOptions options;
  bool explanation_given = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value_of = [&](const std::string& flag, std::string* value) {
      std::string prefix = "--" + flag + "=";
      if (arg.rfind(prefix, 0) != 0) return false;
      *value = arg.substr(prefix.size());
      return true;
    };
    if (value_of("events", &events_path) || value_of("out", &out_dir) ||
        value_of("title", &options.title) ||
        value_of("explanation-file", &explanation_file) ||
        value_of("hide-ops", &hide_ops) || value_of("max-rows", &max_rows)) {
      continue;
    }
    if (value_of("explanation", &options.explanation)) {
      explanation_given = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return 0;
    }
    return Fail("unknown flag \"" + arg + "\"");
  }
  if (events_path.empty()) return Fail("--events is required");
  if (out_dir.empty()) return Fail("--out is required");
  if (!explanation_file.empty()) {
    if (explanation_given) {
      return Fail("give --explanation or --explanation-file, not both");
    }
    std::ifstream in(explanation_file);
    if (!in) return Fail("cannot read " + explanation_file);
    std::ostringstream text;
    text << in.rdbuf();
    options.explanation = text.str();
  }
  std::stringstream ops(hide_ops);
  for (std::string op; std::getline(ops, op, ',');) {
    if (!op.empty()) options.hidden_ops.push_back(op);
  }
  if (!max_rows.empty()) {
    char* end = nullptr;
    long rows = std::strtol(max_rows.c_str(), &end, 10);
    if (*end != '\0' || rows < 1 || rows > 1000000) {
      return Fail("--max-rows wants a number from 1 to 1000000");
    }
    options.max_rows = static_cast<int>(rows);
  }
  auto events = seqsim::timeline::ReadEventsFile(events_path);
  if (!events.ok()) return Fail(std::string(events.status().message()));
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) return Fail("cannot create " + out_dir + ": " + error.message());
  absl::Status written =
      seqsim::timeline::RenderToDirectory(*events, options, out_dir);
  if (!written.ok()) return Fail(std::string(written.message()));
  std::cout << "seqsim-timeline: " << events->size() << " events -> " << out_dir
            << "/timeline.html, timeline.svg, timeline.shiviz.log\n";
  return 0;
}
