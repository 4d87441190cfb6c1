#!/usr/bin/env bash
# Runs the official Elasticsearch Node.js client (tests/rest/js/client_test.mjs) against a
# live seqsim cluster (a coordinator + 2 nodes started from the given bin dir).
# Usage: run_js_client_test.sh <build/bin>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin>}" && pwd)
source "$here/live_cluster.sh"

# npm installs into a copy so the source tree stays clean.
work=$(mktemp -d /tmp/seqsim-rest-js.XXXXXX)
cp "$here/js/package.json" "$here/js/client_test.mjs" "$work/"
[[ -f "$here/js/package-lock.json" ]] && cp "$here/js/package-lock.json" "$work/"
cleanup_all() { stop_live_cluster; rm -rf "$work"; }
(
  cd "$work"
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
)
start_live_cluster "$bin"
trap cleanup_all EXIT
node "$work/client_test.mjs" "$BASE_URL"
