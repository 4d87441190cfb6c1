#!/usr/bin/env bash
# Renders a timeline.html with seqsim-timeline and loads it in headless Chromium; the page's
# script records what it drew on <body> (data-lanes, data-arrows, data-drops), which the
# dumped DOM must show. Usage: chromium_render_test.sh BIN_DIR [EVENTS_JSONL]
# Exit 77 (skipped) when chromium is not installed.
set -euo pipefail
bin=${1:?usage: chromium_render_test.sh BIN_DIR [EVENTS_JSONL]}
here=$(cd "$(dirname "$0")" && pwd)
events=${2:-$here/testdata/out_of_order.jsonl}

browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "SKIP: chromium not installed (SEQSIM_SETUP_EXTRA=\"chromium\" scripts/setup.sh)"
  exit 77
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/seqsim-timeline" render --events="$events" --out="$work/out" \
  --title="Out-of-order replication" --explanation="node-3 receives 7 and 8 before 6."

# --dump-dom prints the DOM once the page has loaded, i.e. after its inline script ran.
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --user-data-dir="$work/profile" \
  --dump-dom "file://$work/out/timeline.html" >"$work/dom.html" 2>"$work/chromium.log" || {
  echo "FAIL: chromium exited with $?"; tail -20 "$work/chromium.log"; exit 1; }

# The standalone SVG must be well-formed XML: Chromium's XML parser reports any error as a
# <parsererror> element in the document it shows.
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --user-data-dir="$work/profile" \
  --dump-dom "file://$work/out/timeline.svg" >"$work/svg-dom.xml" 2>>"$work/chromium.log" || {
  echo "FAIL: chromium exited with $? on the SVG"; exit 1; }
if grep -q "parsererror" "$work/svg-dom.xml" || ! grep -q "<svg" "$work/svg-dom.xml"; then
  echo "FAIL: timeline.svg is not well-formed XML:"
  head -c 2000 "$work/svg-dom.xml"
  exit 1
fi
echo "timeline.svg: well-formed XML"

body=$(grep -o '<body[^>]*>' "$work/dom.html" || true)
echo "dumped body tag: $body"
fail=0
expect() {
  if [[ "$body" != *"$1"* ]]; then
    echo "FAIL: expected $1 on <body>"
    fail=1
  fi
}
expect 'data-rendered="yes"'
expect 'data-lanes="4"'
expect 'data-arrows="4"'
expect 'data-drops="1"'
expect 'data-marks="1"'
height=$(sed -n 's/.*data-height="\([0-9]*\)".*/\1/p' <<<"$body")
if [[ -z "$height" || "$height" -lt 200 ]]; then
  echo "FAIL: diagram height '${height}' px: nothing drawn?"
  fail=1
fi
if [[ $fail -ne 0 ]]; then
  tail -20 "$work/chromium.log"
  exit 1
fi
echo "PASS: chromium drew the lanes and arrows (height ${height}px)"
