#!/usr/bin/env bash
# Runs query_live_test.py (issue 16: the query DSL, sort, _mget and _count over real HTTP)
# against a live seqsim cluster: a coordinator and three nodes from the given bin dir, always
# stopped on exit (live_cluster.sh's EXIT trap).
# Usage: run_query_live_test.sh <build/bin>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin>}" && pwd)
source "$here/live_cluster.sh"
start_live_cluster "$bin" 3
status=0
# shellcheck disable=SC2086
python3 "$here/query_live_test.py" $REST_URLS || status=$?
if ((status != 0)); then dump_live_logs; fi
exit "$status"
