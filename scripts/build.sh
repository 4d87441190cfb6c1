#!/usr/bin/env bash
# Configures (once) and builds seqsim incrementally into build/ (Release).
# Usage: scripts/build.sh [extra cmake --build args]. SEQSIM_SANITIZE=1 builds with ASan+UBSan
# and the libraries' debug assertions into build-asan/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
build="${SEQSIM_BUILD_DIR:-$root/build}"
args=(-DCMAKE_BUILD_TYPE=Release)
if [[ "${SEQSIM_SANITIZE:-0}" == 1 ]]; then
  build="${SEQSIM_BUILD_DIR:-$root/build-asan}"
  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQSIM_SANITIZE=ON)
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" "${args[@]}" >/dev/null
fi
jobs="${SEQSIM_JOBS:-$(nproc)}"
cmake --build "$build" -j "$jobs" "$@"
