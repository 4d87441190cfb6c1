#!/usr/bin/env bash
# Installs the Debian packages seqsim needs, only those missing, and says what it installs.
# Idempotent: a second run installs nothing and prints one line. Every other script calls it.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git curl ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libspdlog-dev nlohmann-json3-dev libcpp-httplib-dev libboost-dev libgoogle-perftools-dev
  openssl
)
# Extras by request: SEQSIM_SETUP_EXTRA="nodejs npm chromium" scripts/setup.sh
if [[ -n "${SEQSIM_SETUP_EXTRA:-}" ]]; then
  read -r -a extra <<<"${SEQSIM_SETUP_EXTRA}"
  PACKAGES+=("${extra[@]}")
fi

# Tools that may come from elsewhere than Debian's packages (e.g. nodejs from NodeSource ships
# its own npm, and Debian's npm then cannot be installed beside it): present if on PATH.
declare -A COMMAND_OF=([nodejs]=node [npm]=npm [chromium]=chromium)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ -n "${COMMAND_OF[$p]:-}" ]] && command -v "${COMMAND_OF[$p]}" >/dev/null 2>&1; then
    continue
  fi
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: installed ${missing[*]}"
