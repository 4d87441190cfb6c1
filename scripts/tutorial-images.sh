#!/usr/bin/env bash
# Regenerates the tutorial's pictures, docs/img/<name>.png, with headless Chromium:
#   - example-out-of-order.png and example-stale-primary.png from the hand-written stories in
#     tests/timeline/testdata/ (needs only seqsim-timeline);
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
  scenarios=(out-of-order delete-tombstone lost-update stale-primary resync recovery external-version acked-write)
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
  mkdir -p "$work/example-stale"
  "$bin/seqsim-timeline" render --events="$root/tests/timeline/testdata/stale_primary.jsonl" \
    --out="$work/example-stale" --title="A stale primary is fenced (hand-written example)" \
    --explanation="node-1, the primary in term 1, freezes. The coordinator promotes node-2 (term 2), which keeps serving writes. When node-1 wakes up it still believes it is primary: the replicas reject its term-1 write, the late cluster state fences it, it fails the write it never acknowledged, and it rejoins by recovering from node-2." \
    >/dev/null
  bash "$root/scripts/screenshot.sh" "$work/example-stale" 1500,1400 >/dev/null
  cp "$work/example-stale/timeline.png" "$img/example-stale-primary.png"
  echo "tutorial-images: docs/img/example-stale-primary.png"
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
  bash "$root/scripts/screenshot.sh" "$out" 1400,1600 >/dev/null
  cp "$out/timeline.png" "$img/$scenario.png"
  echo "tutorial-images: docs/img/$scenario.png"
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "tutorial-images: not generated (scenario unknown to seqsim-lab or no events.jsonl yet): ${missing[*]}"
fi
