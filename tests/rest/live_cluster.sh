# Sourced by the live REST tests: starts a coordinator and two nodes from a build's bin dir on
# free loopback ports, waits until both nodes joined and the cluster is green, and always
# stops what it started (EXIT trap). Sets BASE_URL (node-1's REST endpoint), BASE_URL_2 and
# REST_URLS (every node's REST endpoint, space-separated, node-1 first).
# Usage: source live_cluster.sh; start_live_cluster /path/to/build/bin [number of nodes, default 2]
set -euo pipefail

LIVE_PIDS=()
LIVE_DIR=""

stop_live_cluster() {
  local pid
  for pid in "${LIVE_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${LIVE_PIDS[@]}"; do
    # Wait (up to 5 s) for it to exit, then make sure.
    timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || true
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  LIVE_PIDS=()
  if [[ -n "$LIVE_DIR" && -d "$LIVE_DIR" ]]; then
    if [[ "${LIVE_KEEP_LOGS:-0}" == 1 ]]; then echo "logs kept in $LIVE_DIR"; else rm -rf "$LIVE_DIR"; fi
  fi
}

dump_live_logs() {
  local f
  for f in "$LIVE_DIR"/*.log; do
    [[ -f "$f" ]] || continue
    echo "---- $(basename "$f") (last 30 lines)"
    tail -n 30 "$f"
  done
}

# Prints N distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
}

start_live_cluster() {
  local bin="$1" nodes="${2:-2}"
  for b in seqsim-coordinator seqsim-node seqsim-ctl; do
    if [[ ! -x "$bin/$b" ]]; then echo "missing $bin/$b (build it first)" >&2; exit 1; fi
  done
  trap stop_live_cluster EXIT
  LIVE_DIR=$(mktemp -d /tmp/seqsim-rest-live.XXXXXX)
  local ports
  read -r -a ports <<<"$(free_ports $((1 + 2 * nodes)))"
  local coord_port=${ports[0]}
  # Internal gRPC authenticated, as scripts/cluster.sh runs it (issue 13).
  local identity="$LIVE_DIR/cluster.identity"
  "$bin/seqsim-ctl" identity --out="$identity" >/dev/null
  "$bin/seqsim-coordinator" --host=127.0.0.1 --port="$coord_port" \
    --data_dir="$LIVE_DIR/coordinator" --cluster_identity="$identity" \
    >"$LIVE_DIR/coordinator.log" 2>&1 &
  LIVE_PIDS+=($!)
  local n
  REST_URLS=""
  for ((n = 1; n <= nodes; n++)); do
    "$bin/seqsim-node" --id="node-$n" --host=127.0.0.1 \
      --grpc_port="${ports[$((2 * n - 1))]}" --rest_port="${ports[$((2 * n))]}" \
      --coordinator="127.0.0.1:$coord_port" --data_dir="$LIVE_DIR/node-$n" \
      --cluster_identity="$identity" >"$LIVE_DIR/node-$n.log" 2>&1 &
    LIVE_PIDS+=($!)
    REST_URLS="${REST_URLS:+$REST_URLS }http://127.0.0.1:${ports[$((2 * n))]}"
  done
  BASE_URL="http://127.0.0.1:${ports[2]}"
  BASE_URL_2="http://127.0.0.1:${ports[4]:-${ports[2]}}"
  export BASE_URL BASE_URL_2 REST_URLS
  # Every node joined and green, through the REST API itself.
  # The node blocks until green with every node (or its timeout); curl retries
  # while the REST port is not listening yet.
  local body=""
  body=$(curl -s --max-time 65 --retry 60 --retry-connrefused --retry-max-time 30 \
    "$BASE_URL/_cluster/health?wait_for_status=green&wait_for_nodes=%3E%3D$nodes&timeout=30s" || true)
  if python3 -c 'import json,sys; h=json.loads(sys.argv[1]); sys.exit(0 if h.get("status")=="green" and h.get("number_of_nodes",0)>=int(sys.argv[2]) else 1)' "$body" "$nodes" 2>/dev/null; then
    echo "live cluster green: $BASE_URL $BASE_URL_2"
    return 0
  fi
  echo "cluster did not become green with $nodes nodes within 30s; last health: $body" >&2
  dump_live_logs >&2
  exit 1
}
