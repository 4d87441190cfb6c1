#!/usr/bin/env bash
# scripts/experiment.sh [flags]: a live fault-injection experiment. Builds seqsim-experiment,
# seqsim-node and seqsim-coordinator if needed (set SEQSIM_SKIP_BUILD=1 to use them as built),
# then runs build/bin/seqsim-experiment with the flags given: it starts its own cluster on free
# loopback ports, runs a workload and a seeded nemesis, checks the history and writes a result
# folder. --help lists the flags. Exit status: 0 valid, 1 invalid, 2 unknown or error.
#
#   scripts/experiment.sh --workload=register --nemesis=kill,pause --time=20
#   scripts/experiment.sh --workload=inventory --nemesis=all --time=300 --out=runs/soak
#   scripts/experiment.sh --unsafe=early-ack --nemesis=kill,delay --time=20
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="${SEQSIM_BUILD_DIR:-$root/build}"
bin="$build/bin"
if [[ "${SEQSIM_SKIP_BUILD:-0}" != 1 ]]; then
  log="${TMPDIR:-/tmp}/seqsim-build.$$.log"
  bash "$root/scripts/setup.sh" >&2
  if ! SEQSIM_BUILD_DIR="$build" bash "$root/scripts/build.sh" \
    --target seqsim-experiment seqsim-node seqsim-coordinator >"$log" 2>&1; then
    echo "experiment.sh: build failed; see $log or run scripts/build.sh" >&2
    exit 2
  fi
  rm -f "$log"
fi
for b in seqsim-experiment seqsim-node seqsim-coordinator; do
  [[ -x "$bin/$b" ]] || { echo "experiment.sh: $bin/$b is missing; run scripts/build.sh" >&2; exit 2; }
done
exec "$bin/seqsim-experiment" --bin-dir="$bin" "$@"
