#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (Release, all cores), then
# runs every test with ctest. Exit status is the tests'.
# Extra arguments go to ctest, e.g. scripts/test.sh -R Engine
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
SEQSIM_SETUP_EXTRA="${SEQSIM_SETUP_EXTRA:-nodejs npm chromium}" bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
build="${SEQSIM_BUILD_DIR:-$root/build}"
cd "$build"
ctest --output-on-failure -j "${SEQSIM_TEST_JOBS:-2}" "$@"
