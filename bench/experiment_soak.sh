#!/usr/bin/env bash
# bench/experiment_soak.sh [OUT] [extra flags]: the 5-minute live experiment documented in
# bench/README.md ("Fault-injection experiments"): register workload, every nemesis kind, then
# the verdict, op counts, availability and check time from results.json, and the load average.
# If a Porcupine checker is given (PORCUPINE_CHECK=command reading porcupine.json), it is run on
# the same history.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/runs/soak-$(date -u +%Y%m%dT%H%M%SZ)}
shift || true
echo "load before: $(uptime)"
start=$SECONDS
bash "$root/scripts/experiment.sh" --workload=register --nemesis=all --time=300 \
  --nemesis-interval=5 --seed=14 --out="$out" "$@"
code=$?
echo "exit status $code after $((SECONDS - start)) s; load after: $(uptime)"
python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("valid:", r["valid"], "| ops:", r["ops"]["completed"], "ok", r["ops"]["ok"], "fail",
      r["ops"]["fail"], "info", r["ops"]["info"], "| acknowledged writes:",
      r.get("acknowledged_writes"), "| availability: %.1f%%" % (100 * r.get("availability", 0)),
      "| faults:", r.get("faults_started"), "| check: %.2f s" % r.get("check_seconds", 0),
      "| terms:", r.get("primary_terms"))
for c in r.get("checks", []):
    print("  %-28s %-7s %s" % (c["name"], c["status"], c["detail"].splitlines()[0] if c["detail"] else ""))
PY
if [[ -n "${PORCUPINE_CHECK:-}" ]]; then
  echo "Porcupine: $PORCUPINE_CHECK $out/porcupine.json"
  $PORCUPINE_CHECK "$out/porcupine.json"
fi
exit $code
