#!/usr/bin/env bash
# Runs one live REST test script (tests/rest/<name>_live_test.py, Python standard library only)
# against a live seqsim cluster: a coordinator and NODES nodes from the given bin dir, always
# stopped on exit (live_cluster.sh's EXIT trap); the processes' logs are printed if it fails.
# Usage: run_live_py_test.sh <build/bin> <script.py> [NODES=3]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin> <script.py> [nodes]}" && pwd)
script=${2:?usage: $0 <build/bin> <script.py> [nodes]}
source "$here/live_cluster.sh"
start_live_cluster "$bin" "${3:-3}"
status=0
# shellcheck disable=SC2086
python3 "$here/$script" $REST_URLS || status=$?
if ((status != 0)); then dump_live_logs; fi
exit "$status"
