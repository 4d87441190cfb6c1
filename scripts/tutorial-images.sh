#!/usr/bin/env bash
# Regenerates the tutorial's pictures, docs/img/<name>.png, with headless Chromium:
#   - example-out-of-order.png from the hand-written story tests/timeline/testdata/out_of_order.jsonl
#     (needs only seqsim-timeline);
#   - <scenario>.png for every lab scenario below, from `seqsim-lab run --scenario=<scenario>`
#     (a scenario the lab does not know yet is reported and skipped).
# Usage: scripts/tutorial-images.sh [SCENARIO...]    (build first: scripts/build.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${SEQSIM_BUILD_DIR:-$root/build}/bin"
img="$root/docs/img"
mkdir -p "$img"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scenarios=("$@")
if [[ ${#scenarios[@]} -eq 0 ]]; then
  scenarios=(out-of-order delete-tombstone lost-update stale-primary resync recovery external-version)
fi

if [[ -x "$bin/seqsim-timeline" ]]; then
  mkdir -p "$work/example"
  "$bin/seqsim-timeline" render --events="$root/tests/timeline/testdata/out_of_order.jsonl" \
    --out="$work/example" --title="Out-of-order replication (hand-written example)" \
    --explanation="Primary node-1 sends seq_no 6, 7 and 8 for doc 7 to node-3; the network delivers them as 7, 8, 6. node-3 applies 7 and 8, then ignores 6: it already holds a newer seq_no for doc 7. A copy sent to node-2 during a partition is lost." \
    >/dev/null
  bash "$root/scripts/screenshot.sh" "$work/example" >/dev/null
  cp "$work/example/timeline.png" "$img/example-out-of-order.png"
  echo "tutorial-images: docs/img/example-out-of-order.png"
else
  echo "tutorial-images: no $bin/seqsim-timeline (build first)" >&2
fi

missing=()
for scenario in "${scenarios[@]}"; do
  out="$work/$scenario"
  if [[ ! -x "$bin/seqsim-lab" ]] ||
    ! "$bin/seqsim-lab" run --seed=1 --scenario="$scenario" --out="$out" >"$work/$scenario.log" 2>&1 &&
    [[ ! -f "$out/events.jsonl" ]]; then
    missing+=("$scenario")
    continue
  fi
  if [[ ! -f "$out/timeline.html" && -f "$out/events.jsonl" ]]; then
    "$bin/seqsim-timeline" render --events="$out/events.jsonl" --out="$out" \
      --title="seqsim-lab: $scenario" >/dev/null
  fi
  if [[ ! -f "$out/timeline.html" ]]; then
    missing+=("$scenario")
    continue
  fi
  bash "$root/scripts/screenshot.sh" "$out" >/dev/null
  cp "$out/timeline.png" "$img/$scenario.png"
  echo "tutorial-images: docs/img/$scenario.png"
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "tutorial-images: not generated (scenario unknown to seqsim-lab or no events.jsonl yet): ${missing[*]}"
fi
