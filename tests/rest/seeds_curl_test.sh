#!/usr/bin/env bash
# The seeds' curl commands, verbatim, against a live seqsim cluster (coordinator + 2 nodes
# from the given bin dir): index movies/_doc/109487, GET it, compare-and-set with
# if_seq_no/if_primary_term, a stale compare-and-set (409), a create conflict (409), external
# versioning. Asserts status codes and key fields.
# Usage: seeds_curl_test.sh <build/bin>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:?usage: $0 <build/bin>}" && pwd)
source "$here/live_cluster.sh"
start_live_cluster "$bin"
ES="$BASE_URL"
failures=0

# run NAME EXPECTED_STATUS PYTHON_ASSERTION -- curl args...
# The assertion is a python expression over `b` (the parsed JSON body).
run() {
  local name="$1" want="$2" assertion="$3"
  shift 4
  local out status body
  out=$(curl -s -w '\n%{http_code}' "$@")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
  if [[ "$status" != "$want" ]]; then
    echo "FAIL $name: status $status, want $want; body: $body"
    failures=$((failures + 1))
    return
  fi
  if ! python3 -c 'import json,sys; b=json.loads(sys.argv[1]); sys.exit(0 if eval(sys.argv[2]) else 1)' \
      "$body" "$assertion"; then
    echo "FAIL $name: assertion [$assertion] on $body"
    failures=$((failures + 1))
    return
  fi
  echo "ok   $name"
  LAST_BODY="$body"
}
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$LAST_BODY" "$1"; }

run "index movies/_doc/109487" 201 'b["result"]=="created" and b["_version"]==1 and b["_index"]=="movies"' -- \
  -X PUT "$ES/movies/_doc/109487?pretty" -H 'Content-Type: application/json' -d'
{
  "genre": ["IMAX", "Sci-Fi"],
  "title": "Interstellar",
  "year": 2014
}'
seq_no=$(field _seq_no)
term=$(field _primary_term)

run "get movies/_doc/109487" 200 'b["found"] and b["_source"]["title"]=="Interstellar" and b["_seq_no"]=='"$seq_no" -- \
  -X GET "$ES/movies/_doc/109487?pretty"

run "cas with current if_seq_no/if_primary_term" 200 'b["result"]=="updated" and b["_version"]==2 and b["_seq_no"]>'"$seq_no" -- \
  -X PUT "$ES/movies/_doc/109487?if_seq_no=$seq_no&if_primary_term=$term&pretty" -H 'Content-Type: application/json' -d'
{
  "genre": ["IMAX", "Sci-Fi"],
  "title": "Interstellar foo",
  "year": 2014
}'
new_seq_no=$(field _seq_no)

run "stale cas is a 409 version conflict" 409 \
  'b["error"]["type"]=="version_conflict_engine_exception" and b["error"]["root_cause"][0]["type"]=="version_conflict_engine_exception" and b["error"]["reason"]=="[109487]: version conflict, required seqNo ['"$seq_no"'], primary term ['"$term"']. current document has seqNo ['"$new_seq_no"'] and primary term ['"$term"']" and b["error"]["index"]=="movies" and b["error"]["shard"]=="0" and b["status"]==409' -- \
  -X PUT "$ES/movies/_doc/109487?if_seq_no=$seq_no&if_primary_term=$term&pretty" -H 'Content-Type: application/json' -d'
{
  "genre": ["IMAX", "Sci-Fi"],
  "title": "Interstellar stale",
  "year": 2014
}'

run "get after stale cas still shows the CAS write" 200 'b["_source"]["title"]=="Interstellar foo" and b["_version"]==2' -- \
  -X GET "$ES/movies/_doc/109487"

run "create of an existing document is a 409" 409 \
  'b["error"]["type"]=="version_conflict_engine_exception" and b["error"]["reason"]=="[109487]: version conflict, document already exists (current version [2])"' -- \
  -X PUT "$ES/movies/_create/109487?pretty" -H 'Content-Type: application/json' -d'
{
  "title": "Interstellar again"
}'

run "external version on a new document" 201 'b["result"]=="created" and b["_version"]==5' -- \
  -X PUT "$ES/movies/_doc/external-1?version=5&version_type=external&pretty" -H 'Content-Type: application/json' -d'
{
  "title": "External"
}'

run "external version not higher is a 409" 409 \
  'b["error"]["reason"]=="[external-1]: version conflict, current version [5] is higher or equal to the one provided [5]"' -- \
  -X PUT "$ES/movies/_doc/external-1?version=5&version_type=external&pretty" -H 'Content-Type: application/json' -d'
{
  "title": "External same"
}'

run "external version higher is accepted" 200 'b["result"]=="updated" and b["_version"]==9' -- \
  -X PUT "$ES/movies/_doc/external-1?version=9&version_type=external&pretty" -H 'Content-Type: application/json' -d'
{
  "title": "External newer"
}'

run "read from the other node" 200 'b["found"] and b["_version"]==9' -- \
  -X GET "$BASE_URL_2/movies/_doc/external-1"

run "_cat/shards shows both copies" 200 'len(b)==2 and all(r["state"]=="STARTED" for r in b)' -- \
  -X GET "$ES/_cat/shards/movies?format=json&h=index,shard,prirep,state,seq_no.max"

if ((failures > 0)); then
  echo "$failures check(s) failed"
  dump_live_logs
  exit 1
fi
echo "all seed curl checks passed"
