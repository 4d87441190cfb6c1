#!/usr/bin/env bash
# The long gRPC fuzz run (issue 13): the CI test GrpcFuzz.* (tests/live/grpc_fuzz_test.cc, 2,000
# messages per method, seed 13) with more messages and several seeds. Each seed starts its own
# 3-node cluster on free loopback ports, sends COUNT messages to each of the 24 services/methods
# (random, wrong types, crafted invalid fields, forged publishes and joins, no identity) and
# checks every answer's code, that every process stays up, and that documents, copies and
# cluster state are unchanged. Prints one line per seed and a total.
#
#   bench/grpc_fuzz.sh [COUNT per method, default 50000] [SEEDS, default "1 2 3 4 5"]
#
# Needs a build (scripts/build.sh); SEQSIM_BUILD_DIR picks another one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="${SEQSIM_BUILD_DIR:-$root/build}/bin"
count=${1:-50000}
seeds=${2:-"1 2 3 4 5"}
[[ -x "$bin/seqsim-live-tests" ]] || { echo "grpc_fuzz.sh: $bin/seqsim-live-tests is missing; run scripts/build.sh" >&2; exit 1; }
total=0
failed=0
start=$SECONDS
for seed in $seeds; do
  out=$(SEQSIM_FUZZ_COUNT="$count" SEQSIM_FUZZ_SEED="$seed" \
    "$bin/seqsim-live-tests" --gtest_filter='GrpcFuzz.*' 2>&1) && rc=0 || rc=$?
  line=$(grep -m1 '^fuzz:' <<<"$out" || echo "fuzz: seed $seed: no summary")
  if [[ $rc -eq 0 ]]; then
    echo "$line: passed"
    n=$(sed -n 's/^fuzz: seed [0-9]*, \([0-9]*\) messages.*/\1/p' <<<"$line")
    total=$((total + ${n:-0}))
  else
    echo "$line: FAILED"
    grep -E 'expected|Failure' <<<"$out" | head -20
    failed=$((failed + 1))
  fi
done
echo "grpc_fuzz.sh: $total messages answered as expected in $((SECONDS - start)) s; $failed seed(s) failed; load: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ $failed -eq 0 ]]
