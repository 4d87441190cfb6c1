#!/usr/bin/env bash
# bench/porcupine/check.sh PORCUPINE_JSON...: checks seqsim's porcupine.json files with
# Porcupine (github.com/anishathalye/porcupine, MIT), an independent linearizability checker.
# Needs Debian's Go (apt-get install golang-go; installed here if missing) and Porcupine's
# source, which is not in this repository: clone it anywhere and point PORCUPINE_SRC at it,
#   git clone https://github.com/anishathalye/porcupine /tmp/porcupine
#   PORCUPINE_SRC=/tmp/porcupine bench/porcupine/check.sh runs/x/porcupine.json
# Builds in GOPATH mode (no module downloads) into ${PORCUPINE_GOPATH:-/tmp/seqsim-porcupine}.
# Exit status: 0 linearizable, 1 not, 2 unknown or error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="${PORCUPINE_SRC:?set PORCUPINE_SRC to a checkout of github.com/anishathalye/porcupine}"
gopath="${PORCUPINE_GOPATH:-/tmp/seqsim-porcupine}"
command -v go >/dev/null || apt-get install -y --no-install-recommends golang-go >/dev/null
mkdir -p "$gopath/src/github.com/anishathalye" "$gopath/src/seqsim-porcupine"
rm -rf "$gopath/src/github.com/anishathalye/porcupine"
cp -r "$src" "$gopath/src/github.com/anishathalye/porcupine"
cp "$here/main.go" "$gopath/src/seqsim-porcupine/main.go"
(cd "$gopath/src/seqsim-porcupine" && GOPATH="$gopath" GO111MODULE=off GOFLAGS= go build -o "$gopath/seqsim-porcupine" .)
status=0
for file in "$@"; do
  echo "$file"
  "$gopath/seqsim-porcupine" "$file" || status=$?
done
exit "$status"
