#!/usr/bin/env bash
# scripts/cluster.sh end to end (issue 12, section 1), on its own free ports and data dir:
#   1. up; 30 connection-per-request REST calls to every node; kill 3; restart 3 at once;
#   2. 30 more such calls; down; up again at once (TIME-WAIT connections must not block it);
#   3. an up in which node-2 cannot start: up exits 1, names node-2 and the reason, and
#      leaves nothing running (the coordinator included).
# Usage: cluster_sh_test.sh BUILD_DIR
set -uo pipefail
build=${1:?usage: cluster_sh_test.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
cluster="$root/scripts/cluster.sh"
data=$(mktemp -d /tmp/seqsim-cluster-sh.XXXXXX)

free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# Bases below 32768 (outside the ephemeral range) whose 7 ports nobody listens on.
pick_ports() {
  local try base
  for ((try = 0; try < 50; try++)); do
    base=$((20000 + RANDOM % 12000))
    free $((base + 1)) && free $((base + 2)) && free $((base + 3)) && free $((base + 101)) &&
      free $((base + 102)) && free $((base + 103)) && free $((base + 200)) || continue
    echo "$base"
    return 0
  done
  return 1
}
base=$(pick_ports) || { echo "no free ports"; exit 1; }
export SEQSIM_DATA="$data" SEQSIM_BUILD_DIR="$build" SEQSIM_SKIP_BUILD=1 SEQSIM_UP_TIMEOUT_S=60
export SEQSIM_REST_BASE=$base SEQSIM_GRPC_BASE=$((base + 100)) SEQSIM_COORD_PORT=$((base + 200))

fail() {
  echo "FAIL: $*"
  for f in "$data"/logs/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  bash "$cluster" down >/dev/null 2>&1
  rm -rf "$data"
  exit 1
}
trap 'bash "$cluster" down >/dev/null 2>&1; rm -rf "$data"' EXIT

# One TCP connection per request (HTTP/1.0): the server closes first, so the closed
# connections sit in TIME-WAIT on the server's port.
requests() {
  local n i
  for n in 1 2 3; do
    for ((i = 0; i < 30; i++)); do
      curl -fsS --http1.0 -o /dev/null "http://127.0.0.1:$((base + n))/" || fail "GET / on node-$n"
    done
  done
}

out=$(bash "$cluster" up --nodes 3 2>&1) || fail "first up: $out"
requests
bash "$cluster" kill 3 >/dev/null || fail "kill 3"
out=$(bash "$cluster" restart 3 2>&1) || fail "restart 3 right after kill: $out"
curl -fsS --http1.0 -o /dev/null "http://127.0.0.1:$((base + 3))/" || fail "node-3 REST after restart"
echo "ok: restart right after kill and 30 connection-per-request calls"

requests
bash "$cluster" down >/dev/null || fail "down"
out=$(bash "$cluster" up --nodes 3 2>&1) || fail "up right after down: $out"
echo "ok: up right after down and 30 connection-per-request calls per node"
bash "$cluster" down >/dev/null || fail "second down"

# node-2's data dir is a file: node-2 exits at start-up.
rm -rf "$data/node-2" && echo not-a-dir >"$data/node-2"
out=$(bash "$cluster" up --nodes 3 2>&1) && fail "up with a broken node-2 succeeded: $out"
[[ "$out" == *"node-2 exited during start-up"* ]] || fail "up did not name node-2: $out"
[[ "$out" == *"is not usable"* ]] || fail "up did not say why node-2 failed: $out"
for f in "$data"/pids/*.pid; do
  [[ -e "$f" ]] || continue
  kill -0 "$(cat "$f")" 2>/dev/null && fail "$(basename "$f" .pid) still runs after the failed up"
done
free "$SEQSIM_COORD_PORT" || fail "the coordinator still listens after the failed up"
for n in 1 3; do free $((base + 100 + n)) || fail "node-$n still listens after the failed up"; done
echo "ok: a failed up names the process and the reason and stops everything it started"
