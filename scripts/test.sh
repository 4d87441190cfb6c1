#!/usr/bin/env bash
# The README's test command: installs what is missing, builds (Release, all cores), then
# runs every test with ctest. Exit status is the tests'.
# Extra arguments go to ctest, e.g. scripts/test.sh -R Engine
#
# scripts/test.sh --sanitize [ctest args]: the same suite under AddressSanitizer +
# UndefinedBehaviorSanitizer (LeakSanitizer included), built into build-asan/ (RelWithDebInfo,
# SEQSIM_SANITIZE=1). Every sanitized process, including the nodes and coordinators the live
# tests start, writes its reports to build-asan/sanitizer-reports/; any report fails the run
# even when the test that caused it passed, and is printed at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sanitize=0
ctest_args=()
for arg in "$@"; do
  if [[ "$arg" == --sanitize ]]; then sanitize=1; else ctest_args+=("$arg"); fi
done
SEQSIM_SETUP_EXTRA="${SEQSIM_SETUP_EXTRA:-nodejs npm chromium}" bash "$root/scripts/setup.sh"
if [[ "$sanitize" == 0 ]]; then
  bash "$root/scripts/build.sh"
  build="${SEQSIM_BUILD_DIR:-$root/build}"
  cd "$build"
  ctest --output-on-failure -j "${SEQSIM_TEST_JOBS:-2}" "$@"
  exit
fi
SEQSIM_SANITIZE=1 bash "$root/scripts/build.sh"
build="${SEQSIM_BUILD_DIR:-$root/build-asan}"
reports="$build/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=0}:log_path=$reports/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$reports/ubsan"
export LSAN_OPTIONS="${LSAN_OPTIONS:-}"
cd "$build"
status=0
ctest --output-on-failure -j "${SEQSIM_TEST_JOBS:-2}" "${ctest_args[@]}" || status=$?
shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]} > 0)); then
  echo "test.sh --sanitize: ${#found[@]} sanitizer report(s) in $reports:" >&2
  for file in "${found[@]}"; do
    echo "=== $file" >&2
    cat "$file" >&2
  done
  ((status != 0)) || status=1
fi
exit "$status"
