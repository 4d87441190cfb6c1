#!/usr/bin/env bash
# A CI experiment (issue 14): runs build/bin/seqsim-experiment with the given flags in a
# temporary folder and checks its exit status and results.json.
# Usage: run_experiment_test.sh BUILD_DIR EXPECTED_EXIT EXPECTED_TEXT [experiment flags...]
# EXPECTED_TEXT must appear in results.json (e.g. '"valid": true'); the test also checks that
# every file of the result folder is there and that no process the runner started is left.
set -uo pipefail
build=$1 expected_exit=$2 expected_text=$3
shift 3
out=$(mktemp -d "${TMPDIR:-/tmp}/seqsim-experiment-test.XXXXXX")
fail() {
  echo "FAIL: $*"
  echo "----- result folder kept in $out"
  [[ -f "$out/results.json" ]] && cat "$out/results.json"
  for f in "$out"/logs/*.log; do
    [[ -f "$f" ]] && { echo "----- tail of $f"; tail -n 20 "$f"; }
  done
  exit 1
}
# Bounded: --time plus heal and checks; the runner stops itself, this is the backstop.
timeout -k 5 240 "$build/bin/seqsim-experiment" --out="$out" "$@"
code=$?
[[ "$code" == "$expected_exit" ]] || fail "exit status $code, expected $expected_exit"
for f in results.json history.jsonl porcupine.json nemesis.jsonl timeline.html latency.svg \
  availability.svg logs/coordinator.log logs/node-1.log; do
  [[ -s "$out/$f" ]] || fail "$f is missing or empty"
done
grep -qF -- "$expected_text" "$out/results.json" || fail "results.json does not contain: $expected_text"
# Every process the runner started is gone (their logs name the data folder).
if pgrep -f -- "--data_dir=$out/" >/dev/null; then
  fail "processes of the experiment are still running: $(pgrep -af -- "--data_dir=$out/")"
fi
echo "PASS: exit $code; $(grep -o '"availability": [0-9.]*' "$out/results.json")"
rm -rf "$out"
