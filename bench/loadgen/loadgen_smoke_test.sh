#!/usr/bin/env bash
# Smoke test of seqsim-loadgen against a live cluster (coordinator + 3 nodes on free loopback
# ports, stopped on exit): each mode runs for about 2 s and must complete with a summary that
# says the load was served (no errors in p1, every acknowledged bulk id read back, a failover
# to a higher term after SIGSTOP of the primary's node). No speed is asserted.
# Usage: loadgen_smoke_test.sh <build/bin>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin>}" && pwd)
source "$here/../../tests/rest/live_cluster.sh"
start_live_cluster "$bin" 3
nodes=${REST_URLS// /,}
fail() { echo "FAIL: $*" >&2; dump_live_logs >&2; exit 1; }
# The value of key=... in a summary line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

echo "== p1"
out=$(timeout 120 "$bin/seqsim-loadgen" p1 --nodes="$nodes" --clients=8 --docs=50 --seconds=2 \
  --progress=false) || fail "p1 exited with $?"
echo "$out"
[[ "$(field "$out" errors)" == 0 ]] || fail "p1 had errors"
(($(field "$out" cycles) > 0)) || fail "p1 completed no cycle"
(($(field "$out" ok) > 0)) || fail "p1 acknowledged no CAS"

echo "== bulk (3 shards, 1 replica)"
out=$(timeout 120 "$bin/seqsim-loadgen" bulk --nodes="$nodes" --shards=3 --replicas=1 \
  --docs=4000 --batch=500 --senders=2 --progress=false) || fail "bulk exited with $?"
echo "$out"
[[ "$(field "$out" acked)" == 4000 ]] || fail "bulk: not every item acknowledged"
[[ "$(field "$out" verified)" == 4000 && "$(field "$out" missing)" == 0 ]] ||
  fail "bulk: acknowledged ids missing on read-back"

echo "== failover (SIGSTOP of the primary's node)"
pids=$(IFS=,; echo "${LIVE_PIDS[*]:1:3}")
out=$(timeout 120 "$bin/seqsim-loadgen" failover --nodes="$nodes" --pids="$pids" --signal=stop \
  --before_s=0.5 --after_s=1.5 --timeout_s=20 --json --progress=false) ||
  fail "failover exited with $?"
echo "$out"
python3 - "$out" <<'PY' || fail "failover summary"
import json, sys
s = json.loads(sys.argv[1])
assert s["signal"] == "stop", s
assert s["failover_ms"] is not None, "no acknowledgement under a higher term"
assert s["term_after"] > s["term_before"], s
assert s["acked"] > 0 and s["acked_missing"] == 0, s
assert s["unanswered"] == 0, s
PY
echo "== bad flags are refused"
if "$bin/seqsim-loadgen" nosuch --nodes="$nodes" 2>/dev/null; then fail "unknown mode accepted"; fi
if "$bin/seqsim-loadgen" p1 --nodes=nohost 2>/dev/null; then fail "bad --nodes accepted"; fi
echo "loadgen smoke: ok"
