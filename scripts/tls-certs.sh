#!/usr/bin/env bash
# Makes the mutual-TLS material of a seqsim cluster (issue 13) with openssl:
#
#   scripts/tls-certs.sh DIR NAME...     e.g. scripts/tls-certs.sh data/tls coordinator node-1 ctl
#
# DIR/ca.pem + DIR/ca.key: the cluster CA (made once, kept if present; ca.key never leaves
# the host that signs). For each NAME: DIR/NAME.pem (CN=NAME, subjectAltName
# DNS:seqsim-cluster, the name every seqsim TLS client verifies whatever address it
# dials, usable as server and client certificate) and DIR/NAME.key (0600), signed by the CA.
# Existing certificates are kept. Several hosts: run it on one host for every process name,
# copy ca.pem, NAME.pem and NAME.key to the host that runs NAME, and make each host's
# identity with `seqsim-ctl identity --from=cluster.identity --tls_ca=ca.pem
# --tls_cert=NAME.pem --tls_key=NAME.key --out=NAME.identity`.
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 1; }
command -v openssl >/dev/null || { echo "tls-certs.sh: openssl is missing (apt-get install openssl)" >&2; exit 1; }
dir=$1
shift
umask 077
mkdir -p "$dir"
curve=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
if [[ ! -f "$dir/ca.pem" || ! -f "$dir/ca.key" ]]; then
  openssl req -x509 "${curve[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 3650 \
    -subj "/CN=seqsim cluster CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null \
    || { echo "tls-certs.sh: cannot make the CA in $dir" >&2; exit 1; }
fi
ext="$dir/.ext.$$"
trap 'rm -f "$ext" "$dir"/*.csr' EXIT
printf '%s\n' "basicConstraints=CA:FALSE" "subjectAltName=DNS:seqsim-cluster" \
  "keyUsage=critical,digitalSignature,keyEncipherment" \
  "extendedKeyUsage=serverAuth,clientAuth" >"$ext"
for name in "$@"; do
  [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || { echo "tls-certs.sh: bad name '$name'" >&2; exit 1; }
  [[ -f "$dir/$name.pem" && -f "$dir/$name.key" ]] && continue
  openssl req "${curve[@]}" -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" \
    2>/dev/null || { echo "tls-certs.sh: cannot make a key for $name" >&2; exit 1; }
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days 825 -extfile "$ext" 2>/dev/null \
    || { echo "tls-certs.sh: cannot sign $name's certificate" >&2; exit 1; }
done
