#!/usr/bin/env bash
# Failover under read + CAS load (issue 15, P5): a 3-node cluster of its own, seqsim-loadgen p1
# (64 clients, 10 s) running, and 3 s into it seqsim-loadgen failover --signal=kill against
# another index; the killed node is restarted and the cluster green again between trials.
# Prints, per trial, the failover figures (first ack under the new term after SIGKILL) and the
# p1 figures. Bounded: TRIALS trials of ~15 s each; the cluster is always stopped at the end.
# Usage: bench/failover_under_load.sh [TRIALS=3]   (SEQSIM_BUILD_DIR: binaries, default build/)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
trials=${1:-3}
export SEQSIM_BUILD_DIR=${SEQSIM_BUILD_DIR:-$root/build} SEQSIM_SKIP_BUILD=1
export SEQSIM_REST_BASE=${SEQSIM_REST_BASE:-16100} SEQSIM_GRPC_BASE=${SEQSIM_GRPC_BASE:-16200}
export SEQSIM_COORD_PORT=${SEQSIM_COORD_PORT:-16300} SEQSIM_DATA=${SEQSIM_DATA:-/tmp/seqsim-fo-load}
lg=$SEQSIM_BUILD_DIR/bin/seqsim-loadgen
cl=$root/scripts/cluster.sh
trap 'bash "$cl" down >/dev/null 2>&1' EXIT
bash "$cl" down >/dev/null 2>&1; rm -rf "$SEQSIM_DATA"
bash "$cl" up >/dev/null 2>&1 || { echo "cluster did not come up"; exit 1; }
nodes=$(for n in 1 2 3; do printf 'http://127.0.0.1:%d,' $((SEQSIM_REST_BASE + n)); done)
nodes=${nodes%,}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in $(seq 1 "$trials"); do
  pids=$(for n in 1 2 3; do cat "$SEQSIM_DATA/pids/node-$n.pid"; done | paste -sd,)
  "$lg" p1 --nodes="$nodes" --index=bg-$t --shards=1 --replicas=2 --clients=64 --seconds=10 \
    --json --progress=false >"$SEQSIM_DATA/p1-$t.json" 2>/dev/null &
  p1=$!
  sleep 3  # the p1 load is running
  out=$("$lg" failover --nodes="$nodes" --index=fo-$t --pids="$pids" --signal=kill \
    --timeout_s=20 --json --progress=false 2>/dev/null | tail -1)
  wait $p1
  echo "trial $t failover: $out"
  echo "trial $t p1: $(cat "$SEQSIM_DATA/p1-$t.json")"
  victim=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["victim"].split("-")[1])')
  bash "$cl" restart "$victim" >/dev/null 2>&1
  curl -s "http://127.0.0.1:$((SEQSIM_REST_BASE + 1))/_cluster/health?wait_for_status=green&timeout=60s" >/dev/null
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
