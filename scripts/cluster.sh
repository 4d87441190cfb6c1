#!/usr/bin/env bash
# Runs a local seqsim cluster: one coordinator and N nodes on loopback (DESIGN.md section 1).
#
#   scripts/cluster.sh up [--nodes N] [--tls]   build, start, wait until green, print the endpoints
#   scripts/cluster.sh down             stop every process started here (pid files), keep data
#   scripts/cluster.sh status           processes (up/down/paused) and every shard copy
#   scripts/cluster.sh kill N           SIGKILL node N
#   scripts/cluster.sh pause N          SIGSTOP node N        resume N   SIGCONT node N
#   scripts/cluster.sh restart N        (re)start node N with its flags and data, wait for it
#   scripts/cluster.sh partition A B    drop traffic between node-A and node-B
#   scripts/cluster.sh heal             clear every network fault
#   scripts/cluster.sh wipe             down, then remove the data directory
#
# Node N listens on REST 9199+N and gRPC 9299+N; the coordinator on 9400. Overrides:
# SEQSIM_DATA (data dir, default ./data), SEQSIM_REST_BASE (9199), SEQSIM_GRPC_BASE (9299),
# SEQSIM_COORD_PORT (9400), SEQSIM_BUILD_DIR (build/), SEQSIM_HEARTBEAT_MS,
# SEQSIM_HEARTBEAT_TIMEOUT_MS, SEQSIM_UP_TIMEOUT_S (60), SEQSIM_SKIP_BUILD=1 (use the binaries as built).
#
# Internal gRPC is authenticated: `up` creates the cluster identity DATA/cluster.identity
# (cluster uuid + secret, mode 0600) once and passes it to every process and to seqsim-ctl
# (--cluster_identity). `up --tls` also makes a CA and a certificate per process under
# DATA/tls/ (scripts/tls-certs.sh) and runs every internal call over mutual TLS; the choice
# is kept until `wipe`.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="${SEQSIM_BUILD_DIR:-$root/build}"
bin="$build/bin"
data="${SEQSIM_DATA:-$root/data}"
rest_base="${SEQSIM_REST_BASE:-9199}"
grpc_base="${SEQSIM_GRPC_BASE:-9299}"
coord_port="${SEQSIM_COORD_PORT:-9400}"
host=127.0.0.1
heartbeat_ms="${SEQSIM_HEARTBEAT_MS:-100}"
heartbeat_timeout_ms="${SEQSIM_HEARTBEAT_TIMEOUT_MS:-500}"
up_timeout_s="${SEQSIM_UP_TIMEOUT_S:-60}"
logs="$data/logs"
pids="$data/pids"
identity="$data/cluster.identity"
tls_dir="$data/tls"
# Each process gets its own session: Ctrl-C on `up` or closing the terminal leaves it running.
detach=""
command -v setsid >/dev/null 2>&1 && detach=setsid

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-1}"; }

rest_port() { echo $((rest_base + $1)); }
grpc_port() { echo $((grpc_base + $1)); }
coord_addr() { echo "$host:$coord_port"; }

# The node numbers that have a pid file, sorted.
known_nodes() {
  local f
  for f in "$pids"/node-*.pid; do
    [[ -e "$f" ]] || continue
    f=${f##*/node-}
    echo "${f%.pid}"
  done | sort -n
}

node_addrs() {
  local n out=()
  for n in $(known_nodes); do out+=("$host:$(grpc_port "$n")"); done
  local IFS=,
  echo "${out[*]}"
}

pid_of() { [[ -f "$pids/$1.pid" ]] && cat "$pids/$1.pid" || true; }

alive() { [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; }

# up | down | paused for a pid-file name.
proc_state() {
  local pid
  pid=$(pid_of "$1")
  if ! alive "$pid"; then echo down; return; fi
  local st
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo "?")
  if [[ "$st" == T || "$st" == t ]]; then echo paused; else echo up; fi
}

port_in_use() {
  # bash's /dev/tcp connects: a listener answers, a free port refuses.
  (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

check_node_number() {
  [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || die "expected a node number (1, 2, ...), got '${1:-}'"
}

# The identity file process NAME presents: DATA/cluster.identity, or with TLS its own
# DATA/tls/NAME.identity (its certificate).
identity_of() {
  if [[ -f "$tls_dir/ctl.identity" ]]; then echo "$tls_dir/$1.identity"; else echo "$identity"; fi
}

ctl() { "$bin/seqsim-ctl" "$@" --cluster_identity="$(identity_of ctl)"; }

# Creates the cluster identity (and with --tls the certificates of NAMES) if missing.
make_identity() {
  local tls=$1 name
  shift
  mkdir -p "$data"
  [[ -f "$identity" ]] || "$bin/seqsim-ctl" identity --out="$identity" >/dev/null \
    || die "cannot create the cluster identity $identity"
  [[ "$tls" == 1 || -f "$tls_dir/ctl.identity" ]] || return 0
  bash "$root/scripts/tls-certs.sh" "$tls_dir" "$@" || die "cannot make the TLS certificates in $tls_dir"
  for name in "$@"; do
    [[ -f "$tls_dir/$name.identity" ]] && continue
    "$bin/seqsim-ctl" identity --from="$identity" --tls_ca=ca.pem --tls_cert="$name.pem" \
      --tls_key="$name.key" --out="$tls_dir/$name.identity" >/dev/null \
      || die "cannot create $tls_dir/$name.identity"
  done
}

need_bins() {
  local b
  for b in seqsim-node seqsim-coordinator seqsim-ctl; do
    [[ -x "$bin/$b" ]] || die "$bin/$b is missing; run scripts/build.sh"
  done
}

start_coordinator() {
  $detach "$bin/seqsim-coordinator" --host="$host" --port="$coord_port" \
    --data_dir="$data/coordinator" --heartbeat_timeout_ms="$heartbeat_timeout_ms" \
    --cluster_identity="$(identity_of coordinator)" --log_file="$logs/coordinator.log" \
    >>"$logs/coordinator.log" 2>&1 &
  echo $! >"$pids/coordinator.pid"
}

# Flags of node N are kept in data/pids/node-N.flags so restart uses exactly the same ones.
start_node() {
  local n=$1 flags_file="$pids/node-$1.flags"
  if [[ ! -f "$flags_file" ]]; then
    printf '%s\n' "--id=node-$n" "--host=$host" "--grpc_port=$(grpc_port "$n")" \
      "--rest_port=$(rest_port "$n")" "--coordinator=$(coord_addr)" \
      "--data_dir=$data/node-$n" "--heartbeat_interval_ms=$heartbeat_ms" \
      "--cluster_identity=$(identity_of "node-$n")" "--log_file=$logs/node-$n.log" >"$flags_file"
  fi
  local flags=()
  mapfile -t flags <"$flags_file"
  $detach "$bin/seqsim-node" "${flags[@]}" >>"$logs/node-$n.log" 2>&1 &
  echo $! >"$pids/node-$n.pid"
}

# Waits (bounded) until node N answers NodeStatus over gRPC.
wait_node() {
  local n=$1 deadline=$((SECONDS + up_timeout_s))
  until ctl status --nodes="$host:$(grpc_port "$n")" --timeout_ms=1000 >/dev/null 2>&1; do
    alive "$(pid_of "node-$n")" || die "node-$n exited; see $logs/node-$n.log: $(tail -n 3 "$logs/node-$n.log" 2>/dev/null)"
    ((SECONDS < deadline)) || die "node-$n did not answer within ${up_timeout_s}s; see $logs/node-$n.log"
    sleep 0.2
  done
}

cmd_up() {
  local count=3 tls=0
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --nodes) count="${2:-}"; shift 2 || die "--nodes needs a number" ;;
      --nodes=*) count="${1#--nodes=}"; shift ;;
      --tls) tls=1; shift ;;
      *) die "up: unknown argument '$1' (usage: up [--nodes N] [--tls])" ;;
    esac
  done
  [[ "$count" =~ ^[1-9][0-9]*$ ]] || die "--nodes must be a positive number, got '$count'"
  if [[ -f "$pids/coordinator.pid" ]] && alive "$(pid_of coordinator)"; then
    die "a cluster is already running from $data (scripts/cluster.sh status / down)"
  fi
  if [[ "${SEQSIM_SKIP_BUILD:-0}" != 1 ]]; then
    bash "$root/scripts/setup.sh"  # says what it installs, if anything
    echo "cluster.sh: building the binaries into $build (the first build takes a few minutes; log: ${TMPDIR:-/tmp}/seqsim-build.$$.log) ..."
    SEQSIM_BUILD_DIR="$build" bash "$root/scripts/build.sh" \
      --target seqsim-node seqsim-coordinator seqsim-ctl seqsim-lab seqsim-timeline \
      >"${TMPDIR:-/tmp}/seqsim-build.$$.log" 2>&1 \
      || die "build failed; see ${TMPDIR:-/tmp}/seqsim-build.$$.log or run scripts/build.sh"
    rm -f "${TMPDIR:-/tmp}/seqsim-build.$$.log"
  fi
  need_bins
  local n port taken=()
  port_in_use "$coord_port" && taken+=("$coord_port (coordinator)")
  for ((n = 1; n <= count; n++)); do
    port=$(grpc_port "$n"); port_in_use "$port" && taken+=("$port (node-$n gRPC)")
    port=$(rest_port "$n"); port_in_use "$port" && taken+=("$port (node-$n REST)")
  done
  if [[ ${#taken[@]} -gt 0 ]]; then
    echo "cluster.sh: port(s) already in use on $host: ${taken[*]}" >&2
    echo "cluster.sh: stop what holds them, or pick other ports with SEQSIM_REST_BASE, SEQSIM_GRPC_BASE, SEQSIM_COORD_PORT" >&2
    exit 1
  fi
  mkdir -p "$logs" "$pids"
  rm -f "$pids"/*.pid "$pids"/*.flags
  make_identity "$tls" coordinator ctl $(for ((n = 1; n <= count; n++)); do echo "node-$n"; done)
  start_coordinator
  for ((n = 1; n <= count; n++)); do start_node "$n"; done
  echo "cluster.sh: started coordinator and $count node(s); waiting for green (up to ${up_timeout_s}s)"
  # Short health waits, with a look at every started process in between: a process that
  # exits during start-up fails `up` at once, naming it, instead of after the whole timeout.
  local deadline=$((SECONDS + up_timeout_s)) health=""
  until health=$(ctl health --coordinator="$(coord_addr)" --wait=green \
    --min_nodes="$count" --timeout_ms=1000 2>&1); do
    local name
    for name in coordinator $(for ((n = 1; n <= count; n++)); do echo "node-$n"; done); do
      alive "$(pid_of "$name")" || up_failed "$name exited during start-up" "$name"
    done
    ((SECONDS < deadline)) || up_failed "the cluster did not become green within ${up_timeout_s}s ($health)"
  done
  echo "$health"
  for ((n = 1; n <= count; n++)); do
    until curl -fsS -o /dev/null "http://$host:$(rest_port "$n")/" 2>/dev/null; do
      alive "$(pid_of "node-$n")" || up_failed "node-$n exited during start-up" "node-$n"
      ((SECONDS < deadline)) || up_failed "REST of node-$n did not answer within ${up_timeout_s}s" "node-$n"
      sleep 0.2
    done
  done
  echo
  echo "seqsim cluster is up (data in $data, logs in $logs)"
  if [[ -f "$tls_dir/ctl.identity" ]]; then
    echo "  internal gRPC: mutual TLS (CA $tls_dir/ca.pem) + cluster identity $identity"
  else
    echo "  internal gRPC: authenticated with the cluster identity $identity"
  fi
  echo "  coordinator  gRPC $(coord_addr)"
  for ((n = 1; n <= count; n++)); do
    echo "  node-$n       REST http://$host:$(rest_port "$n")   gRPC $host:$(grpc_port "$n")"
  done
  local r1="http://$host:$(rest_port 1)"
  cat <<TRY

Try:
  curl -X PUT '$r1/books?pretty' -H 'Content-Type: application/json' -d '{"settings":{"number_of_shards":1,"number_of_replicas":$((count > 1 ? count - 1 : 0))}}'
  curl -X PUT '$r1/books/_doc/1?pretty' -H 'Content-Type: application/json' -d '{"title":"Dune"}'
  curl '$r1/books/_doc/1?pretty'
  curl '$r1/_cat/shards?v&h=index,shard,prirep,node,seq_no.max,seq_no.local_checkpoint,seq_no.global_checkpoint'
  scripts/cluster.sh status
  scripts/cluster.sh pause 1; sleep 1; scripts/cluster.sh status; scripts/cluster.sh resume 1
  scripts/cluster.sh down
TRY
}

# A failed `up`: says what failed and why (the tail of the process's log, or of every log),
# stops everything this `up` started, and exits 1.
up_failed() {
  local why=$1 name=${2:-} f
  echo "cluster.sh: up failed: $why" >&2
  if [[ -n "$name" ]]; then
    echo "cluster.sh: last lines of $logs/$name.log:" >&2
    tail -n 5 "$logs/$name.log" 2>/dev/null | sed 's/^/  /' >&2
  else
    for f in "$logs"/*.log; do echo "--- $f"; tail -n 5 "$f"; done >&2
  fi
  echo "cluster.sh: stopping what this up started" >&2
  cmd_down >&2
  exit 1
}

stop_pid_file() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if alive "$pid"; then
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "cluster.sh: $name (pid $pid) ignored SIGTERM for 5s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $name (pid $pid)"
  fi
  rm -f "$pids/$name.pid"
}

cmd_down() {
  [[ -d "$pids" ]] || { echo "cluster.sh: nothing running from $data"; return 0; }
  local n
  for n in $(known_nodes); do stop_pid_file "node-$n"; done
  stop_pid_file coordinator
  rm -f "$pids"/*.flags
}

cmd_status() {
  [[ -d "$pids" ]] || { echo "cluster.sh: no cluster in $data (scripts/cluster.sh up)"; return 0; }
  printf '%-12s %-8s %-8s %s\n' process pid state endpoints
  printf '%-12s %-8s %-8s %s\n' coordinator "$(pid_of coordinator)" "$(proc_state coordinator)" \
    "gRPC $(coord_addr)"
  local n
  for n in $(known_nodes); do
    printf '%-12s %-8s %-8s %s\n' "node-$n" "$(pid_of "node-$n")" "$(proc_state "node-$n")" \
      "REST http://$host:$(rest_port "$n") gRPC $host:$(grpc_port "$n")"
  done
  echo
  need_bins
  ctl health --coordinator="$(coord_addr)" --timeout_ms=2000 || true
  echo
  local addrs
  addrs=$(node_addrs)
  [[ -z "$addrs" ]] || ctl status --nodes="$addrs" --timeout_ms=1000 || true
}

signal_node() {
  local sig=$1 n=$2 pid
  check_node_number "$n"
  pid=$(pid_of "node-$n")
  alive "$pid" || die "node-$n is not running"
  kill "-$sig" "$pid"
}

cmd_restart() {
  local n=$1 pid
  check_node_number "$n"
  need_bins
  [[ -f "$pids/node-$n.flags" ]] || die "node-$n was never started here (scripts/cluster.sh up)"
  pid=$(pid_of "node-$n")
  if alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid" && [[ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; do sleep 0.1; done
  fi
  local port
  for port in "$(grpc_port "$n")" "$(rest_port "$n")"; do
    local deadline=$((SECONDS + 10))
    while port_in_use "$port"; do
      ((SECONDS < deadline)) || die "port $port is still in use; cannot restart node-$n"
      sleep 0.1
    done
  done
  start_node "$n"
  wait_node "$n"
  echo "restarted node-$n (pid $(pid_of "node-$n"))"
}

fault() {
  ctl "$@" --timeout_ms=2000
}

cmd_partition() {
  local a=${1:-} b=${2:-}
  check_node_number "$a"
  check_node_number "$b"
  [[ "$a" != "$b" ]] || die "partition needs two different nodes"
  need_bins
  fault partition --node="$host:$(grpc_port "$a")" --peers="node-$b"
  fault partition --node="$host:$(grpc_port "$b")" --peers="node-$a"
}

cmd_heal() {
  need_bins
  local n rc=0
  for n in $(known_nodes); do
    fault heal --node="$host:$(grpc_port "$n")" || rc=1
  done
  fault heal --node="$(coord_addr)" || rc=1
  return $rc
}

cmd_wipe() {
  cmd_down
  rm -rf "$data"
  echo "removed $data"
}

verb=${1:-}
[[ $# -gt 0 ]] && shift
case "$verb" in
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  kill) signal_node KILL "${1:-}"; echo "killed node-$1" ;;
  pause) signal_node STOP "${1:-}"; echo "paused node-$1" ;;
  resume) signal_node CONT "${1:-}"; echo "resumed node-$1" ;;
  restart) cmd_restart "${1:-}" ;;
  partition) cmd_partition "${1:-}" "${2:-}" ;;
  heal) cmd_heal ;;
  wipe) cmd_wipe ;;
  -h | --help | help) usage 0 ;;
  *) echo "cluster.sh: unknown verb '${verb}'" >&2; usage 1 ;;
esac
