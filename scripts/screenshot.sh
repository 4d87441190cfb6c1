#!/usr/bin/env bash
# Renders DIR/timeline.html (written by seqsim-lab run or seqsim-timeline render) to
# DIR/timeline.png with headless Chromium, for slides and docs/tutorial.md.
# Usage: scripts/screenshot.sh DIR [WIDTH,HEIGHT]   (default window 1400,1000)
# Needs chromium: SEQSIM_SETUP_EXTRA="chromium" scripts/setup.sh
set -euo pipefail
dir=${1:?usage: scripts/screenshot.sh DIR [WIDTH,HEIGHT]}
size=${2:-1400,1000}
page="$(cd "$dir" && pwd)/timeline.html"
if [[ ! -f "$page" ]]; then
  echo "screenshot: no $page (run seqsim-lab run --out=$dir or seqsim-timeline render first)" >&2
  exit 1
fi
browser=$(command -v chromium || command -v chromium-browser || true)
if [[ -z "$browser" ]]; then
  echo "screenshot: chromium is not installed; run: SEQSIM_SETUP_EXTRA=chromium scripts/setup.sh" >&2
  exit 1
fi
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
out="$(cd "$dir" && pwd)/timeline.png"
rm -f "$out"
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$profile" \
  --window-size="$size" --screenshot="$out" "file://$page" >"$profile/chromium.log" 2>&1 || {
  echo "screenshot: chromium failed" >&2; tail -20 "$profile/chromium.log" >&2; exit 1; }
if [[ ! -s "$out" ]]; then
  echo "screenshot: chromium wrote no $out" >&2
  exit 1
fi
echo "screenshot: $out"
