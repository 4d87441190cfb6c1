#!/usr/bin/env bash
# Runs http_serving_live_test.py (waiting requests hold no thread, pipelining, malformed HTTP)
# against a live seqsim cluster (coordinator + 2 nodes from the given bin dir), always stopped
# on exit (live_cluster.sh's EXIT trap).
# Usage: run_http_serving_live_test.sh <build/bin>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin>}" && pwd)
source "$here/live_cluster.sh"
start_live_cluster "$bin" 2
status=0
# shellcheck disable=SC2086
python3 "$here/http_serving_live_test.py" $REST_URLS || status=$?
if ((status != 0)); then dump_live_logs; fi
exit "$status"
