// Teaching scenarios: short scripted runs of the real Node and Coordinator
// actors in a SimWorld. Unlike the lab's seeded runs (random workload, random
// faults), a scenario is a fixed schedule: writes at given moments, explicit
// holds and releases of replication messages on one link, pauses and crashes.
// Each shows one replication rule at work and, run with the unsafe mode it is
// paired with (--unsafe=...), what breaks without that rule.
//
//   seqsim-lab run --scenario=out-of-order --out=DIR
//   seqsim-lab run --scenario=stale-primary --unsafe=no-fencing --out=DIR
//
// A run writes DIR/explained.txt (the explanation paragraph, then every
// decision of the actors in words, with virtual time), DIR/trace.log,
// DIR/events.jsonl, DIR/timeline.html/.svg and DIR/summary.json.
//
// Determinism: a scenario always runs with the same seed; the same build
// prints the same explained trace byte for byte (tests/scenarios compares it
// with a golden file).
//
// Thread-safety: RunScripted is reentrant (no globals).
#ifndef SEQSIM_SIM_SCENARIOS_SCENARIOS_H_
#define SEQSIM_SIM_SCENARIOS_SCENARIOS_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "common/unsafe.h"
#include "sim/timeline/events.h"

namespace seqsim::sim {

struct ScriptedScenario {
  std::string name;
  std::string summary;      // one line for `seqsim-lab scenarios`
  std::string explanation;  // one paragraph: what happens and why it is right
  // The unsafe mode that breaks what this scenario shows ("" = none), what
  // goes wrong with it, and the invariant the run then fails with.
  std::string unsafe;
  std::string unsafe_explanation;
  std::string unsafe_violation;
};

// Every scripted scenario, in teaching order.
const std::vector<ScriptedScenario>& ScriptedScenarios();
const ScriptedScenario* FindScriptedScenario(const std::string& name);

struct ScriptedResult {
  bool passed = false;
  std::string violation;  // the invariant that broke ("" when passed)
  std::string detail;
  std::string explanation;  // the paragraph (with the unsafe one if any)
  // The teaching trace: "<virtual ms> <actor> <words>", decisions only.
  std::vector<std::string> explained;
  std::vector<std::string> trace;  // every trace line
  std::vector<timeline::Event> timeline;
  // Final documents as read from every copy: "node-2 doc 7" -> "seq_no 8 ...".
  std::map<std::string, std::string> final_docs;
  // Outcomes the script observed, by name ("lost-update.cas-conflicts" -> "1").
  std::map<std::string, std::string> facts;
};

// Runs scenario `name` (must exist) with `unsafe` planted bugs.
ScriptedResult RunScripted(const std::string& name, const UnsafeModes& unsafe);

// DIR/explained.txt content: the explanation paragraph, a blank line, the
// trace, and the verdict.
std::string ExplainedText(const ScriptedScenario& scenario,
                          const UnsafeModes& unsafe,
                          const ScriptedResult& result);

// `seqsim-lab run --scenario=NAME [--unsafe=...] --out=DIR`: runs, writes the
// files, prints the verdict and the explanation. Exit code 0 = passed,
// 1 = an invariant broke, 2 = cannot write.
int RunScriptedCommand(const std::string& name, const UnsafeModes& unsafe,
                       const std::string& out_dir, std::ostream& out);

// `seqsim-lab scenarios`: each scripted scenario with its paired unsafe mode.
void PrintScriptedScenarios(std::ostream& out);

}  // namespace seqsim::sim

#endif  // SEQSIM_SIM_SCENARIOS_SCENARIOS_H_
