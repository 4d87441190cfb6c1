// Running a scripted scenario (scenarios.h): RunScripted, its explained trace,
// the files `seqsim-lab run --scenario=NAME --out=DIR` writes, and the list
// `seqsim-lab scenarios` prints.
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "sim/lab/lab.h"
#include "sim/scenarios/scenarios.h"
#include "sim/scenarios/script.h"
#include "sim/timeline/render.h"

namespace seqsim::sim {
namespace {

using scenario_internal::Entries;
using scenario_internal::Entry;
using scenario_internal::FindEntry;
using scenario_internal::Script;

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

const std::vector<ScriptedScenario>& ScriptedScenarios() {
  static const std::vector<ScriptedScenario> kList = []() {
    std::vector<ScriptedScenario> list;
    for (const Entry& e : Entries()) list.push_back(e.info);
    return list;
  }();
  return kList;
}

const ScriptedScenario* FindScriptedScenario(const std::string& name) {
  const Entry* e = FindEntry(name);
  return e ? &e->info : nullptr;
}

ScriptedResult RunScripted(const std::string& name, const UnsafeModes& unsafe) {
  ScriptedResult result;
  const Entry* entry = FindEntry(name);
  if (entry == nullptr) {
    result.violation = "setup";
    result.detail = absl::StrCat("unknown scenario ", name);
    return result;
  }
  result.explanation = entry->info.explanation;
  if (!UnsafeName(unsafe).empty() && !entry->info.unsafe_explanation.empty()) {
    absl::StrAppend(&result.explanation, "\n\n",
                    entry->info.unsafe_explanation);
  }
  {
    Script script(entry->info, unsafe, &result);
    if (script.Setup()) entry->run(script);
  }
  result.passed = result.violation.empty();
  return result;
}

std::string ExplainedText(const ScriptedScenario& scenario,
                          const UnsafeModes& unsafe,
                          const ScriptedResult& result) {
  std::string text = absl::StrCat("scenario ", scenario.name);
  const std::string modes = UnsafeName(unsafe);
  if (!modes.empty()) absl::StrAppend(&text, " --unsafe=", modes);
  absl::StrAppend(&text, "\n\n", result.explanation, "\n\n");
  absl::StrAppend(&text, "virtual ms  actor  decision\n");
  for (const auto& line : result.explained) absl::StrAppend(&text, line, "\n");
  absl::StrAppend(&text, "\n",
                  result.passed ? std::string("PASSED")
                                : absl::StrCat("FAILED: ", result.violation,
                                               ": ", result.detail),
                  "\n");
  return text;
}

int RunScriptedCommand(const std::string& name, const UnsafeModes& unsafe,
                       const std::string& out_dir, std::ostream& out) {
  const ScriptedScenario* scenario = FindScriptedScenario(name);
  if (scenario == nullptr) return 2;
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  const ScriptedResult r = RunScripted(name, unsafe);
  const std::filesystem::path dir(out_dir);
  std::string trace;
  for (const auto& line : r.trace) absl::StrAppend(&trace, line, "\n");
  nlohmann::ordered_json j;
  j["scenario"] = name;
  j["unsafe"] = UnsafeName(unsafe);
  j["passed"] = r.passed;
  j["violation"] = r.violation;
  j["detail"] = r.detail;
  j["facts"] = r.facts;
  j["final_docs"] = r.final_docs;
  const std::string explained = ExplainedText(*scenario, unsafe, r);
  if (!WriteFile(dir / "explained.txt", explained) ||
      !WriteFile(dir / "trace.log", trace) ||
      !WriteFile(dir / "summary.json", j.dump(2) + "\n")) {
    out << "seqsim-lab: cannot write to " << out_dir << "\n";
    return 2;
  }
  if (auto st = timeline::WriteEventsFile((dir / "events.jsonl").string(),
                                          r.timeline);
      !st.ok()) {
    out << "seqsim-lab: warning: events.jsonl: " << st.message() << "\n";
  }
  timeline::RenderOptions render;
  render.title = absl::StrCat(
      "scenario ", name,
      UnsafeName(unsafe).empty()
          ? ""
          : absl::StrCat(" --unsafe=", UnsafeName(unsafe)),
      r.passed ? ": PASSED" : absl::StrCat(": FAILED (", r.violation, ")"));
  render.explanation = r.explanation;
  if (!r.passed) {
    absl::StrAppend(&render.explanation, "\n\nFAILED: ", r.violation, ": ",
                    r.detail);
  }
  render.hidden_ops = {"heartbeat", "heartbeat_response"};
  if (auto st = timeline::RenderToDirectory(r.timeline, render, out_dir);
      !st.ok()) {
    out << "seqsim-lab: warning: timeline: " << st.message() << "\n";
  }
  for (const auto& line : r.explained) out << line << "\n";
  out << "\nscenario " << name
      << (UnsafeName(unsafe).empty() ? "" : " --unsafe=" + UnsafeName(unsafe))
      << ": " << (r.passed ? "PASSED" : "FAILED") << "\n";
  if (!r.passed)
    out << "  violation: " << r.violation << "\n  " << r.detail << "\n";
  out << "\n" << r.explanation << "\n\n";
  out << "  wrote " << out_dir
      << "/{explained.txt,trace.log,summary.json,events.jsonl,timeline.html,"
         "timeline.svg}\n";
  return r.passed ? 0 : 1;
}

void PrintScriptedScenarios(std::ostream& out) {
  out << "scripted scenarios (seqsim-lab run --scenario=NAME --out=DIR):\n";
  for (const ScriptedScenario& s : ScriptedScenarios()) {
    out << "  " << s.name << ": " << s.summary << "\n";
    if (!s.unsafe.empty()) {
      out << "      --unsafe=" << s.unsafe << " breaks it (fails "
          << s.unsafe_violation << ")\n";
    }
  }
}

}  // namespace seqsim::sim
