#!/usr/bin/env python3
"""Every REST endpoint and error of seqsim, over real HTTP, against a live 3-node cluster.

Usage: endpoints_live_test.py http://127.0.0.1:P1 http://127.0.0.1:P2 http://127.0.0.1:P3
(started by run_live_py_test.sh through live_cluster.sh, which always stops the
processes). Python 3 standard library only.

Asserts status codes, key fields and Elasticsearch's exact error types and reasons
(/work/shared/ES-SEMANTICS.md), and after every error case that the document or index state
did not change. Waits on conditions with deadlines; no fixed sleeps. A check that fails
because of a known server bug outside the REST layer prints "KNOWN BUG: ..." and still fails
the test.
"""

import http.client
import json
import re
import sys
import time
import urllib.parse

NODES = sys.argv[1:]
if len(NODES) < 3:
    sys.exit("usage: endpoints_live_test.py URL1 URL2 URL3")
ES = NODES[0]

failures = []
passed = 0


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failures.append(name)
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return cond


def known_bug(name, cond, description, detail=""):
    """A check the server fails for a bug outside node/rest; fails the test, visibly."""
    global passed
    if cond:
        passed += 1
        print(f"ok   {name} (known bug no longer reproduces: {description})")
    else:
        failures.append(f"KNOWN BUG: {name}")
        print(f"KNOWN BUG: {name}: {description}" + (f"; {detail}" if detail else ""))
    return cond


class Resp:
    def __init__(self, method, url, status, headers, raw):
        self.method = method
        self.url = url
        self.status = status
        self.headers = headers  # lower-cased names
        self.raw = raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        text = self.raw[:600].decode("utf-8", "replace")
        return f"{self.method} {self.url} -> {self.status} {text}"

    @property
    def err(self):
        return (self.json or {}).get("error") if isinstance(self.json, dict) else None


responses = []  # every response, for the X-Elastic-Product check


def call(method, path, body=None, base=None, headers=None, timeout=60):
    """One HTTP request on a fresh connection. `body`: dict/list (JSON), str or bytes, sent as
    application/json unless `headers` names another Content-Type (None: no Content-Type)."""
    base = base or ES
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    hdrs = {}
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    hdrs = {k: v for k, v in hdrs.items() if v is not None}
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        raw = r.read()
        resp = Resp(method, base + path, r.status,
                    {k.lower(): v for k, v in r.getheaders()}, raw)
    finally:
        conn.close()
    responses.append(resp)
    return resp


def wait_until(what, fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)  # poll interval, not a wait for an outcome
    return last


def expect_error(name, r, status, etype, reason=None, reason_re=None, index=None):
    """Elasticsearch's error shape: status, error.type, root_cause[0].type, exact reason."""
    e = r.err
    ok = (r.status == status and isinstance(e, dict) and e.get("type") == etype
          and (r.json or {}).get("status") == status
          and isinstance(e.get("root_cause"), list) and len(e["root_cause"]) >= 1
          and e["root_cause"][0].get("type") == etype)
    if ok and reason is not None:
        ok = e.get("reason") == reason and e["root_cause"][0].get("reason") == reason
    if ok and reason_re is not None:
        ok = re.fullmatch(reason_re, e.get("reason", "")) is not None
    if ok and index is not None:
        ok = e.get("index") == index
    want = f"want {status} {etype}" + (f" [{reason}]" if reason else "")
    return check(name, ok, f"{want}; got {r!r}")


def doc_state(index, doc_id, base=None):
    r = call("GET", f"/{index}/_doc/{doc_id}", base=base)
    j = r.json or {}
    return (r.status, j.get("found"), j.get("_version"), j.get("_seq_no"),
            j.get("_primary_term"), json.dumps(j.get("_source"), sort_keys=True))


def index_names():
    r = call("GET", "/_cat/indices?format=json&h=index")
    return sorted(row["index"] for row in (r.json or []))


def unchanged(name, before, after):
    check(f"{name}: state unchanged", before == after, f"before {before}, after {after}")


def vc_seq(doc_id, s, t, cs, ct):
    return (f"[{doc_id}]: version conflict, required seqNo [{s}], primary term [{t}]. "
            f"current document has seqNo [{cs}] and primary term [{ct}]")


# -------------------------------------------------------------------------------------------
# Root, cluster health, index creation

r = call("GET", "/")
check("GET / is 200 with version.number and tagline",
      r.status == 200 and r.json["version"]["number"].startswith("8.")
      and r.json["tagline"] == "You Know, for Search" and r.json.get("cluster_name")
      and r.json.get("name"), repr(r))
names = set()
for base in NODES:
    r = call("GET", "/", base=base)
    names.add((r.json or {}).get("name"))
check("GET / on each node names a different node", len(names) == 3, str(names))

r = call("GET", "/_cluster/health?wait_for_status=green&timeout=30s")
check("_cluster/health green with 3 nodes",
      r.status == 200 and r.json["status"] == "green" and r.json["timed_out"] is False
      and r.json["number_of_nodes"] >= 3 and r.json["number_of_data_nodes"] >= 3, repr(r))

before = index_names()
r = call("PUT", "/rep3", {"settings": {"number_of_shards": 1, "number_of_replicas": 2}})
check("PUT /rep3 (1 shard, 2 replicas) acknowledged",
      r.status == 200 and r.json == {"acknowledged": True, "shards_acknowledged": True,
                                     "index": "rep3"}, repr(r))
r = call("PUT", "/multi", {"settings": {"index": {"number_of_shards": 3,
                                                   "number_of_replicas": "1"}}})
check("PUT /multi (3 shards, 1 replica; nested index settings, string value) acknowledged",
      r.status == 200 and r.json.get("acknowledged") is True, repr(r))
check("both indices listed", set(index_names()) == set(before) | {"rep3", "multi"},
      str(index_names()))

for idx in ("rep3", "multi"):
    r = call("GET", f"/_cluster/health/{idx}?wait_for_status=green&timeout=30s")
    check(f"/_cluster/health/{idx} green", r.status == 200 and r.json["status"] == "green"
          and r.json["timed_out"] is False, repr(r))
r = call("GET", "/_cluster/health/rep3?wait_for_status=green&timeout=30s")
check("/_cluster/health/rep3 counts 1 primary, 3 active copies",
      r.json["active_primary_shards"] == 1 and r.json["active_shards"] == 3
      and r.json["unassigned_shards"] == 0, repr(r))
r = call("GET", "/_cluster/health/multi")
check("/_cluster/health/multi counts 3 primaries, 6 active copies",
      r.json["active_primary_shards"] == 3 and r.json["active_shards"] == 6, repr(r))
r = call("GET", "/_cluster/health/nope-index?wait_for_status=green&timeout=1s")
check("/_cluster/health/{missing} with wait_for_status times out: 408 red timed_out",
      r.status == 408 and r.json["status"] == "red" and r.json["timed_out"] is True, repr(r))
r = call("GET", "/_cluster/health?wait_for_status=purple")
expect_error("_cluster/health bad wait_for_status", r, 400, "illegal_argument_exception",
             "unknown cluster health status [purple]")

before = index_names()
r = call("PUT", "/rep3", {"settings": {"number_of_shards": 5}})
expect_error("PUT existing index is resource_already_exists_exception", r, 400,
             "resource_already_exists_exception", reason_re=r"index \[rep3/[^\]]+\] already exists",
             index="rep3")
r2 = call("GET", "/rep3")
check("existing index keeps its settings",
      r2.json["rep3"]["settings"]["index"]["number_of_shards"] == "1", repr(r2))
unchanged("PUT existing index", before, index_names())

r = call("GET", "/rep3")
s = (r.json or {}).get("rep3", {}).get("settings", {}).get("index", {})
check("GET /rep3 settings", r.status == 200 and s.get("number_of_shards") == "1"
      and s.get("number_of_replicas") == "2" and s.get("provided_name") == "rep3"
      and s.get("uuid"), repr(r))
r = call("GET", "/multi")
check("GET /multi settings", r.json["multi"]["settings"]["index"]["number_of_shards"] == "3"
      and r.json["multi"]["settings"]["index"]["number_of_replicas"] == "1", repr(r))
r = call("HEAD", "/rep3")
check("HEAD /rep3 is 200 with no body", r.status == 200 and r.raw == b"", repr(r))
r = call("HEAD", "/nope-index")
check("HEAD /{missing} is 404 with no body", r.status == 404 and r.raw == b"", repr(r))
r = call("GET", "/nope-index")
expect_error("GET /{missing} is index_not_found_exception", r, 404, "index_not_found_exception",
             "no such index [nope-index]", index="nope-index")
check("index_not_found carries resource.type/resource.id",
      (r.err or {}).get("resource.type") == "index_or_alias"
      and (r.err or {}).get("resource.id") == "nope-index", repr(r))

# Bad index names, on create, on write and on update: 400, nothing created.
before = index_names()
bad_names = {
    "BadName": "Invalid index name [BadName], must be lowercase",
    "_bad": "Invalid index name [_bad], must not start with '_', '-', or '+'",
    "-bad": "Invalid index name [-bad], must not start with '_', '-', or '+'",
    "bad*x": None,  # the character list's rendering differs between ES versions
    "bad#x": "Invalid index name [bad#x], must not contain '#'",
}
for name, reason in bad_names.items():
    quoted = urllib.parse.quote(name, safe="")
    r = call("PUT", f"/{quoted}", {})
    expect_error(f"PUT /{name} is invalid_index_name_exception", r, 400,
                 "invalid_index_name_exception", reason,
                 reason_re=None if reason else
                 r"Invalid index name \[bad\*x\], must not contain the following characters "
                 r"\[.*'\*'.*\]", index=name)
r = call("PUT", "/BadName/_doc/1", {"a": 1})
expect_error("PUT /BadName/_doc/1 is invalid_index_name_exception", r, 400,
             "invalid_index_name_exception", bad_names["BadName"])
r = call("POST", "/BadName/_update/1", {"doc": {"a": 1}})
expect_error("POST /BadName/_update/1 is invalid_index_name_exception", r, 400,
             "invalid_index_name_exception", bad_names["BadName"])
r = call("PUT", "/..", {})
expect_error("PUT /.. is invalid_index_name_exception", r, 400, "invalid_index_name_exception",
             "Invalid index name [..], must not be '.' or '..'")
unchanged("bad index names create nothing", before, index_names())

r = call("PUT", "/badsettings", {"settings": {"number_of_shards": 0}})
expect_error("PUT index with number_of_shards 0", r, 400, "illegal_argument_exception",
             "Failed to parse value [0] for setting [index.number_of_shards] must be >= 1")
r = call("PUT", "/badsettings", '{"settings": {')
check("PUT index with a malformed JSON body is 400",
      r.status == 400 and (r.err or {}).get("type") in ("parse_exception",
                                                        "x_content_parse_exception",
                                                        "not_x_content_exception"), repr(r))
unchanged("bad create-index bodies create nothing", before, index_names())

# -------------------------------------------------------------------------------------------
# Index / create / get / source / delete

r = call("PUT", "/rep3/_doc/1", {"title": "one", "n": 1})
check("PUT /rep3/_doc/1 is 201 created v1 on 3 copies",
      r.status == 201 and r.json["result"] == "created" and r.json["_version"] == 1
      and r.json["_index"] == "rep3" and r.json["_id"] == "1"
      and r.json["_shards"] == {"total": 3, "successful": 3, "failed": 0}
      and isinstance(r.json["_seq_no"], int) and r.json["_primary_term"] >= 1, repr(r))
seq1, term = r.json["_seq_no"], r.json["_primary_term"]
r = call("POST", "/rep3/_doc/1", {"title": "one", "n": 2})
check("POST /rep3/_doc/1 again is 200 updated v2", r.status == 200
      and r.json["result"] == "updated" and r.json["_version"] == 2
      and r.json["_seq_no"] > seq1, repr(r))
seq1 = r.json["_seq_no"]

r = call("POST", "/rep3/_doc", {"generated": True})
gen_id = (r.json or {}).get("_id", "")
check("POST /rep3/_doc generates a 20-char id, 201 created",
      r.status == 201 and r.json["result"] == "created" and r.json["_version"] == 1
      and re.fullmatch(r"[A-Za-z0-9_-]{20}", gen_id) is not None, repr(r))
r = call("GET", f"/rep3/_doc/{gen_id}", base=NODES[2])
check("generated-id doc readable from node 3",
      r.status == 200 and r.json["_source"] == {"generated": True}, repr(r))

before = doc_state("rep3", "1")
r = call("PUT", "/rep3/_create/1", {"title": "again"})
expect_error("PUT _create of an existing doc is a 409", r, 409,
             "version_conflict_engine_exception",
             "[1]: version conflict, document already exists (current version [2])",
             index="rep3")
check("409 carries shard and index_uuid",
      (r.err or {}).get("shard") == "0" and (r.err or {}).get("index_uuid"), repr(r))
r = call("PUT", "/rep3/_doc/1?op_type=create", {"title": "again"})
expect_error("PUT _doc?op_type=create of an existing doc is a 409", r, 409,
             "version_conflict_engine_exception",
             "[1]: version conflict, document already exists (current version [2])")
r = call("POST", "/rep3/_create/1", {"title": "again"})
check("POST _create of an existing doc is a 409", r.status == 409, repr(r))
unchanged("create conflicts", before, doc_state("rep3", "1"))
r = call("PUT", "/rep3/_doc/1?op_type=upsert", {"title": "x"})
expect_error("op_type=upsert is rejected", r, 400, "illegal_argument_exception",
             "opType must be 'create' or 'index', found: [upsert]")
unchanged("bad op_type", before, doc_state("rep3", "1"))

r = call("PUT", "/rep3/_create/c1", {"c": 1})
check("PUT _create of a new doc is 201", r.status == 201 and r.json["result"] == "created",
      repr(r))
r = call("PUT", "/rep3/_doc/c2?op_type=create", {"c": 2})
check("op_type=create of a new doc is 201", r.status == 201, repr(r))

r = call("GET", "/rep3/_doc/1")
check("GET /rep3/_doc/1 found with every field",
      r.status == 200 and r.json["found"] is True and r.json["_index"] == "rep3"
      and r.json["_id"] == "1" and r.json["_version"] == 2 and r.json["_seq_no"] == seq1
      and r.json["_primary_term"] == term and r.json["_source"] == {"title": "one", "n": 2},
      repr(r))
r = call("GET", "/rep3/_doc/1?_source=false")
check("GET ?_source=false omits _source", r.status == 200 and "_source" not in r.json, repr(r))
r = call("HEAD", "/rep3/_doc/1")
check("HEAD /rep3/_doc/1 is 200 with no body", r.status == 200 and r.raw == b"", repr(r))
r = call("GET", "/rep3/_doc/missing")
check("GET missing doc is 404 {_index,_id,found:false}",
      r.status == 404 and r.json == {"_index": "rep3", "_id": "missing", "found": False},
      repr(r))
r = call("HEAD", "/rep3/_doc/missing")
check("HEAD missing doc is 404 with no body", r.status == 404 and r.raw == b"", repr(r))
r = call("GET", "/nope-index/_doc/1")
expect_error("GET doc of a missing index is index_not_found_exception", r, 404,
             "index_not_found_exception", "no such index [nope-index]")
r = call("GET", "/rep3/_source/1")
check("GET _source is 200 with the bare source",
      r.status == 200 and r.json == {"title": "one", "n": 2}, repr(r))
r = call("GET", "/rep3/_source/missing")
expect_error("GET _source of a missing doc is 404", r, 404, "resource_not_found_exception",
             "Document not found [rep3]/[missing]")
check("missing-index GET created nothing", "nope-index" not in index_names())

r = call("PUT", "/rep3/_doc/d1", {"d": 1})
r = call("DELETE", "/rep3/_doc/d1")
check("DELETE existing doc is 200 deleted v2",
      r.status == 200 and r.json["result"] == "deleted" and r.json["_version"] == 2
      and r.json["_shards"]["successful"] == 3, repr(r))
del_seq = (r.json or {}).get("_seq_no", -1)
r = call("GET", "/rep3/_doc/d1")
check("GET after DELETE is 404", r.status == 404 and r.json["found"] is False, repr(r))
r = call("DELETE", "/rep3/_doc/d1")
check("DELETE of a missing doc is 404 not_found with a new seq_no",
      r.status == 404 and r.json["result"] == "not_found" and r.json["_index"] == "rep3"
      and r.json["_id"] == "d1" and isinstance(r.json.get("_seq_no"), int)
      and r.json["_seq_no"] > del_seq, repr(r))
r = call("DELETE", "/rep3/_doc/never-existed")
check("DELETE of a never-existing doc is 404 not_found",
      r.status == 404 and r.json["result"] == "not_found"
      and isinstance(r.json.get("_seq_no"), int), repr(r))
check("DELETE of a missing doc does not resurrect it", doc_state("rep3", "d1")[0] == 404)

# CAS on index and delete.
st = doc_state("rep3", "1")
r = call("PUT", f"/rep3/_doc/1?if_seq_no={st[3]}&if_primary_term={st[4]}", {"title": "cas"})
check("index with current if_seq_no/if_primary_term is 200", r.status == 200
      and r.json["_version"] == st[2] + 1, repr(r))
new = doc_state("rep3", "1")
r = call("PUT", f"/rep3/_doc/1?if_seq_no={st[3]}&if_primary_term={st[4]}", {"title": "stale"})
expect_error("stale index CAS is a 409", r, 409, "version_conflict_engine_exception",
             vc_seq("1", st[3], st[4], new[3], new[4]))
r = call("DELETE", f"/rep3/_doc/1?if_seq_no={st[3]}&if_primary_term={st[4]}")
expect_error("stale delete CAS is a 409", r, 409, "version_conflict_engine_exception",
             vc_seq("1", st[3], st[4], new[3], new[4]))
r = call("PUT", "/rep3/_doc/cas-missing?if_seq_no=3&if_primary_term=1", {"a": 1})
expect_error("CAS on a missing doc is a 409", r, 409, "version_conflict_engine_exception",
             "[cas-missing]: version conflict, required seqNo [3], primary term [1]. "
             "but no document was found")
check("CAS on a missing doc created nothing", doc_state("rep3", "cas-missing")[0] == 404)
unchanged("stale CAS", new, doc_state("rep3", "1"))

r = call("PUT", "/rep3/_doc/1?if_seq_no=1", {"title": "x"})
expect_error("if_seq_no without if_primary_term", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: ifSeqNo is set, but primary term is [0];")
r = call("PUT", "/rep3/_doc/1?if_seq_no=-5&if_primary_term=1", {"title": "x"})
expect_error("negative if_seq_no", r, 400, "illegal_argument_exception",
             "sequence numbers must be non negative. got [-5].")
r = call("PUT", "/rep3/_doc/1?if_seq_no=-2&if_primary_term=1", {"title": "x"})
expect_error("if_seq_no=-2 (unassigned) with a term", r, 400,
             "action_request_validation_exception",
             "Validation Failed: 1: ifSeqNo is unassigned, but primary term is [1];")
r = call("PUT", "/rep3/_doc/1?if_seq_no=abc&if_primary_term=1", {"title": "x"})
expect_error("non-numeric if_seq_no", r, 400, "illegal_argument_exception",
             "Failed to parse long parameter [if_seq_no] with value [abc]")
r = call("DELETE", "/rep3/_doc/1?if_seq_no=-5&if_primary_term=1")
expect_error("negative if_seq_no on delete", r, 400, "illegal_argument_exception",
             "sequence numbers must be non negative. got [-5].")
r = call("PUT", f"/rep3/_doc/1?if_seq_no={new[3]}&if_primary_term={new[4]}&version=3"
         "&version_type=external", {"title": "x"})
expect_error("CAS with external version", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: compare and write operations can not use versioning;")
r = call("PUT", f"/rep3/_doc/1?if_seq_no={new[3]}&if_primary_term={new[4]}&version=3",
         {"title": "x"})
expect_error("CAS with internal version: both ES messages", r, 400,
             "action_request_validation_exception",
             "Validation Failed: 1: internal versioning can not be used for optimistic "
             "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;"
             "2: compare and write operations can not use versioning;")
r = call("PUT", "/rep3/_doc/1?version=3", {"title": "x"})
expect_error("internal version for OCC", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: internal versioning can not be used for optimistic "
             "concurrency control. Please use `if_seq_no` and `if_primary_term` instead;")
unchanged("CAS validation errors", new, doc_state("rep3", "1"))

# External versioning.
r = call("PUT", "/rep3/_doc/e1?version=5&version_type=external", {"v": 5})
check("external version 5 on a new doc is 201 v5",
      r.status == 201 and r.json["_version"] == 5, repr(r))
e_before = doc_state("rep3", "e1")
r = call("PUT", "/rep3/_doc/e1?version=5&version_type=external", {"v": "same"})
expect_error("external equal version is a 409", r, 409, "version_conflict_engine_exception",
             "[e1]: version conflict, current version [5] is higher or equal to the one "
             "provided [5]")
r = call("PUT", "/rep3/_doc/e1?version=3&version_type=external", {"v": "lower"})
expect_error("external lower version is a 409", r, 409, "version_conflict_engine_exception",
             "[e1]: version conflict, current version [5] is higher or equal to the one "
             "provided [3]")
r = call("PUT", "/rep3/_doc/e1?version=4&version_type=external_gte", {"v": "gte lower"})
expect_error("external_gte lower version is a 409", r, 409, "version_conflict_engine_exception",
             "[e1]: version conflict, current version [5] is higher than the one provided [4]")
r = call("PUT", "/rep3/_doc/e1?version=-1&version_type=external", {"v": "neg"})
expect_error("external negative version", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: illegal version value [-1] for version type [EXTERNAL];")
r = call("PUT", "/rep3/_create/e1?version=9&version_type=external", {"v": 9})
expect_error("create with external versioning", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: create operations only support internal versioning. "
             "use index instead;")
r = call("PUT", "/rep3/_doc/e1?version=9&version_type=force", {"v": 9})
expect_error("version_type=force", r, 400, "illegal_argument_exception",
             "version type [force] may no longer be used")
unchanged("external conflicts", e_before, doc_state("rep3", "e1"))
r = call("PUT", "/rep3/_doc/e1?version=5&version_type=external_gte", {"v": "gte equal"})
check("external_gte equal version is 200 v5",
      r.status == 200 and r.json["_version"] == 5 and r.json["result"] == "updated", repr(r))
r = call("PUT", "/rep3/_doc/e1?version=9&version_type=external", {"v": 9})
check("external higher version is 200 v9", r.status == 200 and r.json["_version"] == 9, repr(r))
r = call("DELETE", "/rep3/_doc/e1?version=7&version_type=external")
expect_error("external delete with lower version is a 409", r, 409,
             "version_conflict_engine_exception",
             "[e1]: version conflict, current version [9] is higher or equal to the one "
             "provided [7]")
r = call("DELETE", "/rep3/_doc/e1?version=10&version_type=external")
check("external delete with higher version is 200 v10",
      r.status == 200 and r.json["result"] == "deleted" and r.json["_version"] == 10, repr(r))

# -------------------------------------------------------------------------------------------
# Update

r = call("POST", "/rep3/_update/u1", {"doc": {"b": 2}})
expect_error("update of a missing doc is document_missing_exception", r, 404,
             "document_missing_exception", "[u1]: document missing", index="rep3")
check("update of a missing doc created nothing", doc_state("rep3", "u1")[0] == 404)
call("PUT", "/rep3/_doc/u1", {"a": 1})
r = call("POST", "/rep3/_update/u1", {"doc": {"b": 2}})
check("update merges doc: 200 updated v2",
      r.status == 200 and r.json["result"] == "updated" and r.json["_version"] == 2, repr(r))
check("merged source", doc_state("rep3", "u1")[5] == json.dumps({"a": 1, "b": 2},
                                                                  sort_keys=True))
u_before = doc_state("rep3", "u1")
r = call("POST", "/rep3/_update/u1", {"doc": {"b": 2}})
check("update that changes nothing is noop (same version and seq_no)",
      r.status == 200 and r.json["result"] == "noop" and r.json["_version"] == u_before[2]
      and r.json["_seq_no"] == u_before[3], repr(r))
unchanged("noop update", u_before, doc_state("rep3", "u1"))
r = call("POST", "/rep3/_update/u1?_source=true", {"doc": {"c": 3}})
check("update with _source=true returns get._source",
      r.status == 200 and r.json.get("get", {}).get("_source") == {"a": 1, "b": 2, "c": 3},
      repr(r))
r = call("POST", "/rep3/_update/u2", {"doc": {"x": 1}, "doc_as_upsert": True})
check("doc_as_upsert on a missing doc is 201 created",
      r.status == 201 and r.json["result"] == "created" and r.json["_version"] == 1, repr(r))
check("doc_as_upsert source", doc_state("rep3", "u2")[5] == json.dumps({"x": 1}))
r = call("POST", "/rep3/_update/u3", {"doc": {"x": 1}, "upsert": {"y": 2}})
check("upsert on a missing doc is 201 with the upsert body",
      r.status == 201 and doc_state("rep3", "u3")[5] == json.dumps({"y": 2}), repr(r))
r = call("POST", "/rep3/_update/u3", {"doc": {"x": 1}, "upsert": {"y": 2}})
check("upsert on an existing doc merges doc",
      r.status == 200 and r.json["result"] == "updated"
      and doc_state("rep3", "u3")[5] == json.dumps({"x": 1, "y": 2}, sort_keys=True), repr(r))
st = doc_state("rep3", "u1")
r = call("POST", f"/rep3/_update/u1?if_seq_no={st[3]}&if_primary_term={st[4]}",
         {"doc": {"cas": 1}})
check("update with current if_seq_no is 200", r.status == 200
      and r.json["result"] == "updated", repr(r))
st2 = doc_state("rep3", "u1")
r = call("POST", f"/rep3/_update/u1?if_seq_no={st[3]}&if_primary_term={st[4]}",
         {"doc": {"cas": 2}})
expect_error("update with stale if_seq_no is a 409", r, 409,
             "version_conflict_engine_exception", vc_seq("u1", st[3], st[4], st2[3], st2[4]))
r = call("POST",
         f"/rep3/_update/u1?if_seq_no={st2[3]}&if_primary_term={st2[4]}&retry_on_conflict=3",
         {"doc": {"cas": 3}})
expect_error("update with if_seq_no and retry_on_conflict", r, 400,
             "action_request_validation_exception",
             "Validation Failed: 1: compare and write operations can not be retried;")
r = call("POST", "/rep3/_update/u1?retry_on_conflict=3", {"doc": {"r": 1}})
check("update with retry_on_conflict alone is 200", r.status == 200, repr(r))
st3 = doc_state("rep3", "u1")
r = call("POST", "/rep3/_update/u1", {"nodoc": {"x": 1}})
expect_error("update with an unknown body field", r, 400, "x_content_parse_exception",
             "[UpdateRequest] unknown field [nodoc] did you mean [doc]?")
r = call("POST", "/rep3/_update/u1", {"upsert": {"x": 1}})
expect_error("update without doc", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: script or doc is missing;")
r = call("POST", "/rep3/_update/u1", '{"doc": {')
check("update with malformed JSON is 400", r.status == 400 and r.err is not None, repr(r))
unchanged("update errors", st3, doc_state("rep3", "u1"))

# -------------------------------------------------------------------------------------------
# Malformed input on document writes

st = doc_state("rep3", "1")
r = call("PUT", "/rep3/_doc/1", '{"title": ')
check("PUT doc with a bad JSON body is 400 mapper_parsing/document_parsing",
      r.status == 400 and (r.err or {}).get("type") in ("mapper_parsing_exception",
                                                        "document_parsing_exception"), repr(r))
r = call("PUT", "/rep3/_doc/1", "[1, 2]")
check("PUT doc with a JSON array body is 400", r.status == 400 and r.err is not None, repr(r))
r = call("PUT", "/rep3/_doc/1", "")
expect_error("PUT doc with no body", r, 400, "parse_exception", "request body is required")
r = call("PUT", "/rep3/_doc/1?foo=bar", {"title": "param"})
expect_error("unknown parameter on index", r, 400, "illegal_argument_exception",
             "request [/rep3/_doc/1] contains unrecognized parameter: [foo]")
r = call("GET", "/rep3/_doc/1?foo=bar&zap=1")
expect_error("two unknown parameters on get", r, 400, "illegal_argument_exception",
             "request [/rep3/_doc/1] contains unrecognized parameters: [foo], [zap]")
r = call("PUT", "/rep3/_doc/1?refresh=maybe", {"title": "param"})
expect_error("bad refresh value", r, 400, "illegal_argument_exception",
             "Unknown value for refresh: [maybe].")
unchanged("malformed document writes", st, doc_state("rep3", "1"))
r = call("PUT", "/rep3/_doc/" + "x" * 513, {"a": 1})
check("id longer than 512 bytes is 400 action_request_validation_exception",
      r.status == 400 and (r.err or {}).get("type") == "action_request_validation_exception",
      repr(r))

# Huge body: larger than the default http.max_content_length (100mb).
st = doc_state("rep3", "huge")
huge = b'{"a":"' + b"x" * (100 * 1024 * 1024 + 16) + b'"}'
try:
    r = call("PUT", "/rep3/_doc/huge", huge, timeout=120)
    check("body over 100mb is 413", r.status == 413, repr(r))
except (BrokenPipeError, ConnectionResetError) as e:
    check("body over 100mb is 413", False, f"connection dropped without an answer: {e!r}")
del huge
unchanged("huge body", st, doc_state("rep3", "huge"))

# Unknown routes and wrong methods.
r = call("GET", "/rep3/_foo/bar/baz")
expect_error("unknown route is 400", r, 400, "illegal_argument_exception",
             "no handler found for uri [/rep3/_foo/bar/baz] and method [GET]")
r = call("DELETE", "/_cluster/health")
check("wrong method is 405 with ES's message and Allow",
      r.status == 405 and r.json == {
          "error": "Incorrect HTTP method for uri [/_cluster/health] and method [DELETE], "
                   "allowed: [GET, HEAD]", "status": 405}
      and r.headers.get("allow") is not None, repr(r))
st = doc_state("rep3", "1")
r = call("PATCH", "/rep3/_doc/1", {"title": "patch"})
check("PATCH on a doc is 405", r.status == 405 and "allowed:" in (r.json or {}).get("error", ""),
      repr(r))
r = call("GET", "/rep3/_update/1")
check("GET on _update is 405", r.status == 405, repr(r))
unchanged("wrong methods", st, doc_state("rep3", "1"))

# -------------------------------------------------------------------------------------------
# Bulk

call("PUT", "/rep3/_doc/bx", {"f": 0})
bx_before = doc_state("rep3", "bx")
bulk = "\n".join(json.dumps(x) for x in [
    {"index": {"_index": "rep3", "_id": "b1"}}, {"f": 1},
    {"create": {"_index": "rep3", "_id": "bx"}}, {"f": "dup"},
    {"update": {"_index": "rep3", "_id": "b1"}}, {"doc": {"g": 3}},
    {"delete": {"_index": "rep3", "_id": "b1"}},
    {"update": {"_index": "rep3", "_id": "bnone"}}, {"doc": {"x": 1}},
    {"create": {"_id": "b2"}}, {"f": 2},
    {"index": {"_index": "multi", "_id": "bm"}}, {"f": 4},
    {"delete": {"_index": "rep3", "_id": "bgone"}},
]) + "\n"
r = call("POST", "/rep3/_bulk", bulk, headers={"Content-Type": "application/x-ndjson"})
items = (r.json or {}).get("items", [])
got = [(list(i)[0], list(i.values())[0].get("status")) for i in items]
check("_bulk is 200 errors=true with per-item statuses",
      r.status == 200 and r.json["errors"] is True and got == [
          ("index", 201), ("create", 409), ("update", 200), ("delete", 200),
          ("update", 404), ("create", 201), ("index", 201), ("delete", 404)], repr(r))
if len(items) == 8:
    e = items[1]["create"].get("error", {})
    check("bulk create conflict item error",
          e.get("type") == "version_conflict_engine_exception" and e.get("reason") ==
          "[bx]: version conflict, document already exists (current version [1])"
          and items[1]["create"]["_id"] == "bx", json.dumps(items[1]))
    e = items[4]["update"].get("error", {})
    check("bulk update of a missing doc item error",
          e.get("type") == "document_missing_exception"
          and e.get("reason") == "[bnone]: document missing", json.dumps(items[4]))
    check("bulk successful items carry _seq_no/_primary_term/_version/result",
          items[0]["index"]["result"] == "created" and items[2]["update"]["_version"] == 2
          and items[3]["delete"]["result"] == "deleted"
          and items[7]["delete"]["result"] == "not_found"
          and items[5]["create"]["_index"] == "rep3"
          and all(isinstance(list(i.values())[0].get("_seq_no"), int)
                  for k, i in enumerate(items) if k not in (1, 4)), json.dumps(items))
unchanged("bulk failing create", bx_before, doc_state("rep3", "bx"))
check("bulk effects visible: b1 deleted, b2 and multi/bm created, bnone missing",
      doc_state("rep3", "b1")[0] == 404 and doc_state("rep3", "b2")[0] == 200
      and doc_state("multi", "bm")[0] == 200 and doc_state("rep3", "bnone")[0] == 404)
r = call("POST", "/_bulk", json.dumps({"index": {"_index": "rep3", "_id": "b3"}}) + "\n"
         + json.dumps({"f": 3}) + "\n", base=NODES[1])
check("/_bulk through node 2, all ok: errors=false",
      r.status == 200 and r.json["errors"] is False
      and r.json["items"][0]["index"]["status"] == 201, repr(r))

malformed = (json.dumps({"index": {"_index": "rep3", "_id": "m1"}}) + "\n" + '{"f":1}\n'
             + '{"index": {"_index": "rep3", "_id": \n' + '{"f":2}\n')
r = call("POST", "/_bulk", malformed, headers={"Content-Type": "application/x-ndjson"})
check("malformed NDJSON bulk is 400", r.status == 400 and (r.err or {}).get("type") in (
    "x_content_parse_exception", "illegal_argument_exception", "parse_exception"), repr(r))
check("malformed bulk applied nothing", doc_state("rep3", "m1")[0] == 404)
r = call("POST", "/_bulk", json.dumps({"index": {"_index": "rep3", "_id": "m2"}}) + "\n"
         + '{"f":1}', headers={"Content-Type": "application/x-ndjson"})
expect_error("bulk without the final newline", r, 400, "illegal_argument_exception",
             "The bulk request must be terminated by a newline [\\n]")
r = call("POST", "/_bulk", json.dumps({"index": {"_index": "rep3", "_id": "m3"}}) + "\n"
         + '{"f":1}\n' + json.dumps({"upsert": {"_index": "rep3", "_id": "m4"}}) + "\n"
         + '{"f":1}\n', headers={"Content-Type": "application/x-ndjson"})
expect_error("bulk with an unknown action", r, 400, "illegal_argument_exception",
             "Malformed action/metadata line [3], expected field [create], [delete], "
             "[index] or [update] but found [upsert]")
check("bad bulks applied nothing",
      doc_state("rep3", "m2")[0] == 404 and doc_state("rep3", "m3")[0] == 404)
r = call("POST", "/_bulk", "\n")
expect_error("empty bulk", r, 400, "action_request_validation_exception",
             "Validation Failed: 1: no requests added;")

# -------------------------------------------------------------------------------------------
# Writes through each node, read back from the others (routing and forwarding)

written = {}
for i, base in enumerate(NODES):
    for k in range(6):
        doc_id = f"w{i}-{k}"
        r = call("PUT", f"/multi/_doc/{doc_id}", {"writer": i, "k": k, "tag": "odd" if k % 2
                                                  else "even"}, base=base)
        ok = r.status == 201 and r.json["_shards"] == {"total": 2, "successful": 2, "failed": 0}
        check(f"write multi/{doc_id} through node {i + 1}", ok, repr(r))
        if ok:
            written[doc_id] = (r.json["_seq_no"], r.json["_primary_term"], r.json["_version"])
mismatch = []
for doc_id, (s_, t_, v_) in written.items():
    for j, base in enumerate(NODES):
        st = doc_state("multi", doc_id, base=base)
        if st[:5] != (200, True, v_, s_, t_):
            mismatch.append((doc_id, j + 1, st))
check("every write readable, identical, from all three nodes", not mismatch, str(mismatch[:5]))
r = call("PUT", "/rep3/_doc/x1", {"via": 1}, base=NODES[0])
s_, t_ = r.json["_seq_no"], r.json["_primary_term"]
r = call("PUT", f"/rep3/_doc/x1?if_seq_no={s_}&if_primary_term={t_}", {"via": 2}, base=NODES[1])
check("CAS through node 2 with node 1's seq_no", r.status == 200, repr(r))
r = call("PUT", f"/rep3/_doc/x1?if_seq_no={s_}&if_primary_term={t_}", {"via": 3}, base=NODES[2])
check("stale CAS through node 3 is a 409", r.status == 409
      and r.err["type"] == "version_conflict_engine_exception", repr(r))
r = call("POST", "/rep3/_update/x1", {"doc": {"upd": 3}}, base=NODES[2])
check("update through node 3", r.status == 200 and r.json["result"] == "updated", repr(r))
r = call("DELETE", "/multi/_doc/w0-0", base=NODES[2])
check("delete through node 3 of a doc written through node 1", r.status == 200, repr(r))
check("deleted doc gone on node 2", doc_state("multi", "w0-0", base=NODES[1])[0] == 404)
written.pop("w0-0", None)

# -------------------------------------------------------------------------------------------
# Refresh and search

r = call("POST", "/rep3/_refresh")
check("POST /rep3/_refresh", r.status == 200
      and r.json["_shards"] == {"total": 3, "successful": 3, "failed": 0}, repr(r))
r = call("GET", "/_refresh")
check("GET /_refresh", r.status == 200 and r.json["_shards"]["failed"] == 0, repr(r))
r = call("POST", "/nope-index/_refresh")
expect_error("refresh of a missing index", r, 404, "index_not_found_exception",
             "no such index [nope-index]")

want_multi = set(written) | {"bm"}
r = call("POST", "/multi/_search", {"query": {"match_all": {}}, "size": 100})
hits = (r.json or {}).get("hits", {}).get("hits", [])
check("match_all on multi: every doc, total eq, 3 shards",
      r.status == 200 and r.json["hits"]["total"] == {"value": len(want_multi),
                                                      "relation": "eq"}
      and {h["_id"] for h in hits} == want_multi
      and r.json["_shards"]["total"] == 3 and r.json["_shards"]["failed"] == 0
      and r.json["timed_out"] is False, repr(r))
check("hits carry _index/_score/_source but no _seq_no/_version by default",
      hits and all(h["_index"] == "multi" and "_source" in h and "_score" in h
                   and "_seq_no" not in h and "_version" not in h for h in hits))
r = call("GET", "/multi/_search", {"query": {"ids": {"values": ["w1-1", "w2-2", "none"]}}})
check("ids query", r.status == 200 and sorted(h["_id"] for h in r.json["hits"]["hits"]) ==
      ["w1-1", "w2-2"], repr(r))
r = call("POST", "/multi/_search", {"query": {"term": {"tag": "odd"}}, "size": 100})
want_odd = {d for d in written if int(d.split("-")[1]) % 2}
check("term query", r.status == 200 and {h["_id"] for h in r.json["hits"]["hits"]} == want_odd,
      repr(r))
r = call("POST", "/multi/_search", {"query": {"term": {"writer": {"value": 2}}}, "size": 100})
check("term query with {value} on a number", r.status == 200 and {
    h["_id"] for h in r.json["hits"]["hits"]} == {d for d in written if d.startswith("w2-")},
    repr(r))
pages = []
for frm in range(0, len(want_multi), 5):
    r = call("GET", f"/multi/_search?from={frm}&size=5")
    pages.append([h["_id"] for h in (r.json or {}).get("hits", {}).get("hits", [])])
flat = [d for p in pages for d in p]
check("from/size pages: sizes, no overlap, cover every doc",
      all(len(p) == min(5, len(want_multi) - 5 * k) for k, p in enumerate(pages))
      and len(flat) == len(set(flat)) and set(flat) == want_multi, str(pages))
r = call("POST", "/multi/_search", {"from": 2, "size": 3})
check("from/size in the body", r.status == 200 and len(r.json["hits"]["hits"]) == 3
      and r.json["hits"]["total"]["value"] == len(want_multi), repr(r))
r = call("GET", "/multi/_search?seq_no_primary_term=true&version=true",
         {"query": {"ids": {"values": ["w1-3"]}}})
h = ((r.json or {}).get("hits", {}).get("hits") or [{}])[0]
check("seq_no_primary_term=true and version=true in the URL",
      h.get("_seq_no") == written["w1-3"][0] and h.get("_primary_term") == written["w1-3"][1]
      and h.get("_version") == written["w1-3"][2], repr(r))
r = call("POST", "/multi/_search",
         {"query": {"ids": {"values": ["w2-4"]}}, "seq_no_primary_term": True, "version": True})
h = ((r.json or {}).get("hits", {}).get("hits") or [{}])[0]
check("seq_no_primary_term and version in the body",
      h.get("_seq_no") == written["w2-4"][0] and h.get("_version") == 1, repr(r))
r = call("POST", "/_search", {"query": {"ids": {"values": ["1", "w0-1", "b2"]}}, "size": 50},
         base=NODES[1])
check("/_search over every index",
      r.status == 200 and sorted((x["_index"], x["_id"]) for x in r.json["hits"]["hits"]) ==
      [("multi", "w0-1"), ("rep3", "1"), ("rep3", "b2")], repr(r))
r = call("GET", "/rep3,multi/_search?size=0")
check("search on two indices with size=0",
      r.status == 200 and r.json["hits"]["hits"] == []
      and r.json["hits"]["total"]["value"] >= len(want_multi) + 5, repr(r))
r = call("GET", "/multi/_search?rest_total_hits_as_int=true&size=1")
check("rest_total_hits_as_int", r.status == 200
      and r.json["hits"]["total"] == len(want_multi), repr(r))
r = call("POST", "/multi/_search", {"query": {"fuzzy": {"a": "b"}}})
expect_error("unknown query", r, 400, "parsing_exception", "unknown query [fuzzy]")
r = call("POST", "/multi/_search", {"size": -1})
expect_error("negative size", r, 400, "illegal_argument_exception",
             "[size] parameter cannot be negative, found [-1]")
r = call("GET", "/multi/_search?from=9999&size=10")
expect_error("result window too large", r, 400, "illegal_argument_exception",
             "Result window is too large, from + size must be less than or equal to: [10000] "
             "but was [10009]. See the scroll api for a more efficient way to request large "
             "data sets. This limit can be set by changing the [index.max_result_window] "
             "index level setting.")
r = call("GET", "/nope-index/_search")
expect_error("search on a missing index", r, 404, "index_not_found_exception",
             "no such index [nope-index]")
r = call("POST", "/multi/_search", "{not json")
check("search with a malformed body is 400", r.status == 400 and r.err is not None, repr(r))
parsed = urllib.parse.urlsplit(ES)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
conn.request("GET", "/multi/_search", body=json.dumps({"query": {"ids": {"values": ["w2-1"]}}}),
             headers={"Content-Type": "application/json"})
first = conn.getresponse()
first_body = json.loads(first.read())
conn.request("GET", "/multi/_doc/w2-1")
second = conn.getresponse()
second_body = json.loads(second.read())
conn.close()
check("GET _search with a body applies it; the keep-alive connection stays usable",
      first.status == 200 and [h["_id"] for h in first_body["hits"]["hits"]] == ["w2-1"]
      and first.getheader("X-Elastic-Product") == "Elasticsearch"
      and second.status == 200 and second_body["_id"] == "w2-1",
      f"{first.status} {first_body} / {second.status} {second_body}")
r = call("GET", "/multi/_search?foo=1")
expect_error("unknown search parameter", r, 400, "illegal_argument_exception",
             "request [/multi/_search] contains unrecognized parameter: [foo]")

# -------------------------------------------------------------------------------------------
# _cat

r = call("GET", "/_cat/shards/rep3?v")
lines = r.raw.decode().splitlines() if r.status == 200 else []
check("_cat/shards/rep3?v: header and 3 STARTED copies, 1 p + 2 r",
      r.status == 200 and r.headers.get("content-type", "").startswith("text/plain")
      and lines and lines[0].split() == ["index", "shard", "prirep", "state", "docs", "store",
                                         "ip", "node"]
      and len(lines) == 4 and sorted(ln.split()[2] for ln in lines[1:]) == ["p", "r", "r"]
      and all(ln.split()[3] == "STARTED" for ln in lines[1:]), repr(r))
r = call("GET", "/_cat/shards/multi?format=json&h=index,shard,prirep,state")
check("_cat/shards/multi format=json: 6 copies over 3 shards",
      r.status == 200 and len(r.json) == 6
      and sorted((x["shard"], x["prirep"]) for x in r.json) ==
      sorted([(str(s), p) for s in range(3) for p in "pr"]), repr(r))
H = "h=index,shard,prirep,seq_no.max,seq_no.local_checkpoint,seq_no.global_checkpoint"
rep3_max = doc_state("rep3", "x1")[3]  # the last write to rep3 with a seq_no


def rep3_checkpoints_settled():
    rr = call("GET", f"/_cat/shards/rep3?format=json&{H}")
    rows = rr.json or []
    return len(rows) == 3 and all(
        x["seq_no.max"] == x["seq_no.local_checkpoint"] == x["seq_no.global_checkpoint"]
        and x["seq_no.max"] is not None and int(x["seq_no.max"]) >= rep3_max for x in rows)


check("_cat/shards seq_no.max == local == global checkpoint on every rep3 copy",
      wait_until("checkpoints", rep3_checkpoints_settled, 30),
      repr(call("GET", f"/_cat/shards/rep3?format=json&{H}")))
r = call("GET", f"/_cat/shards/rep3?v&{H}")
lines = r.raw.decode().splitlines()
check("_cat/shards text with h= and v", r.status == 200 and lines[0].split() == [
    "index", "shard", "prirep", "seq_no.max", "seq_no.local_checkpoint",
    "seq_no.global_checkpoint"] and len(lines) == 4, repr(r))
r = call("GET", "/_cat/shards?h=index,bogus")
expect_error("_cat unknown header", r, 400, "illegal_argument_exception", "Unknown header [bogus]")
r = call("GET", "/_cat/shards/nope-index")
expect_error("_cat/shards of a missing index", r, 404, "index_not_found_exception",
             "no such index [nope-index]")
r = call("GET", "/_cat/indices?v")
lines = r.raw.decode().splitlines()
check("_cat/indices?v header", r.status == 200 and lines[0].split()[:7] ==
      ["health", "status", "index", "uuid", "pri", "rep", "docs.count"], repr(r))
r = call("GET", "/_cat/indices?format=json&h=health,status,index,pri,rep,docs.count")
rows = {x["index"]: x for x in (r.json or [])}
check("_cat/indices format=json",
      r.status == 200 and rows.get("rep3", {}).get("pri") == "1"
      and rows["rep3"]["rep"] == "2" and rows["rep3"]["health"] == "green"
      and rows["rep3"]["status"] == "open" and rows.get("multi", {}).get("pri") == "3"
      and rows["multi"]["docs.count"] == str(len(want_multi)), repr(r))
r = call("GET", "/_cat/indices/multi?format=json&h=index")
check("_cat/indices/{index}", r.status == 200 and r.json == [{"index": "multi"}], repr(r))

# -------------------------------------------------------------------------------------------
# Auto-create, delete index

before = index_names()
r = call("PUT", "/autoidx/_doc/1", {"auto": True}, base=NODES[1])
check("first write auto-creates the index: 201", r.status == 201
      and r.json["result"] == "created", repr(r))
r = call("GET", "/autoidx")
s = (r.json or {}).get("autoidx", {}).get("settings", {}).get("index", {})
check("auto-created index has 1 shard, 1 replica",
      r.status == 200 and s.get("number_of_shards") == "1"
      and s.get("number_of_replicas") == "1", repr(r))
r = call("GET", "/_cluster/health/autoidx?wait_for_status=green&timeout=30s")
check("auto-created index turns green", r.status == 200 and r.json["status"] == "green"
      and r.json["active_shards"] == 2, repr(r))
check("auto-created doc readable from node 3", doc_state("autoidx", "1", NODES[2])[0] == 200)
r = call("DELETE", "/autoidx")
check("DELETE /autoidx acknowledged", r.status == 200 and r.json == {"acknowledged": True},
      repr(r))
r = call("GET", "/autoidx")
expect_error("GET deleted index is index_not_found_exception", r, 404,
             "index_not_found_exception", "no such index [autoidx]")
r = call("GET", "/autoidx/_doc/1", base=NODES[2])
expect_error("GET doc of a deleted index (node 3)", r, 404, "index_not_found_exception",
             "no such index [autoidx]")
r = call("DELETE", "/autoidx")
expect_error("DELETE a missing index", r, 404, "index_not_found_exception",
             "no such index [autoidx]")
check("index list back to what it was", index_names() == before, str(index_names()))

# -------------------------------------------------------------------------------------------
# Request Content-Type: a body is read only with a JSON type; else Elasticsearch's 406


def expect_406(name, r, message):
    check(name, r.status == 406 and r.json == {"error": message, "status": 406}
          and r.headers.get("x-elastic-product") == "Elasticsearch"
          and r.headers.get("content-type", "").startswith("application/json"), repr(r))


st = doc_state("rep3", "ct1")
r = call("PUT", "/rep3/_doc/ct1", {"t": 1}, headers={"Content-Type": None})
expect_406("body without Content-Type is 406", r, "Content-Type header is missing")
r = call("PUT", "/rep3/_doc/ct1", "t=1",
         headers={"Content-Type": "application/x-www-form-urlencoded"})
expect_406("form-encoded body (curl -d without -H) is 406", r,
           "Content-Type header [application/x-www-form-urlencoded] is not supported")
r = call("POST", "/rep3/_doc/ct1", {"t": 1}, headers={"Content-Type": "text/plain"})
expect_406("text/plain body is 406", r, "Content-Type header [text/plain] is not supported")
r = call("PUT", "/rep3/_doc/ct1", {"t": 1}, headers={"Content-Type": "application/smile"})
expect_406("Smile (not parsed by seqsim) is 406", r,
           "Content-Type header [application/smile] is not supported")
r = call("PUT", "/rep3/_doc/ct1?foo=bar", {"t": 1}, headers={"Content-Type": "text/plain"})
expect_406("406 comes before an unknown parameter", r,
           "Content-Type header [text/plain] is not supported")
r = call("POST", "/_bulk", json.dumps({"index": {"_index": "rep3", "_id": "ct1"}}) + "\n{}\n",
         base=NODES[1], headers={"Content-Type": None})
expect_406("_bulk without Content-Type is 406 (node 2)", r, "Content-Type header is missing")
r = call("GET", "/rep3/_search", {"query": {"ids": {"values": ["1"]}}},
         headers={"Content-Type": None})
expect_406("GET _search with a body and no Content-Type is 406", r,
           "Content-Type header is missing")
unchanged("refused bodies", st, doc_state("rep3", "ct1"))
check("refused bodies created nothing", st[0] == 404, str(st))
r = call("PUT", "/rep3/_doc/ct1", {"t": 2},
         headers={"Content-Type": "application/json; charset=UTF-8"})
check("application/json; charset=UTF-8 accepted", r.status == 201, repr(r))
r = call("PUT", "/rep3/_doc/ct1", {"t": 3}, headers={"Content-Type": "APPLICATION/JSON"})
check("upper-case APPLICATION/JSON accepted", r.status == 200 and r.json["_version"] == 2,
      repr(r))
r = call("POST", "/rep3/_bulk", json.dumps({"index": {"_id": "ct2"}}) + "\n{}\n",
         headers={"Content-Type": "application/x-ndjson; charset=UTF-8"})
check("_bulk with application/x-ndjson; charset=UTF-8 accepted",
      r.status == 200 and r.json["errors"] is False, repr(r))
r = call("GET", "/rep3/_doc/ct1", headers={"Content-Type": "text/plain"})
check("GET without a body ignores the Content-Type", r.status == 200
      and r.json["_source"] == {"t": 3}, repr(r))
r = call("POST", "/rep3/_refresh", headers={"Content-Type": "application/x-www-form-urlencoded"})
check("empty POST _refresh ignores the Content-Type", r.status == 200, repr(r))
r = call("DELETE", "/rep3/_doc/ct2", headers={"Content-Type": "text/plain"})
check("DELETE without a body ignores the Content-Type",
      r.status == 200 and r.json["result"] == "deleted", repr(r))

# -------------------------------------------------------------------------------------------
# Rendering: pretty, filter_path, content types, X-Elastic-Product

r = call("GET", "/?pretty")
text = r.raw.decode()
check("?pretty: ES pretty printer", r.status == 200 and text.startswith('{\n  "name" : "')
      and text.endswith("}\n") and '\n  "version" : {\n    "number" : "' in text, text[:200])
r = call("GET", "/rep3/_doc/1?filter_path=_id,_version")
check("filter_path keeps only the named fields",
      r.status == 200 and set(r.json) == {"_id", "_version"}, repr(r))
r = call("GET", "/multi/_search?filter_path=hits.hits._id&size=3")
check("filter_path through arrays",
      r.status == 200 and list(r.json) == ["hits"] and len(r.json["hits"]["hits"]) == 3
      and all(list(h) == ["_id"] for h in r.json["hits"]["hits"]), repr(r))
r = call("GET", "/nope-index?filter_path=error.type,status")
# Elasticsearch never applies filter_path to an error body (issue 16).
check("filter_path is not applied to an error", r.status == 404 and r.json is not None
      and r.json.get("status") == 404
      and r.json["error"].get("reason") == "no such index [nope-index]"
      and r.json["error"].get("root_cause"), repr(r))
r = call("GET", "/rep3/_doc/1")
check("plain requests get application/json",
      r.headers.get("content-type", "").startswith("application/json"), repr(r.headers))
vendor = "application/vnd.elasticsearch+json; compatible-with=8"


def vendor_ok(resp):
    return resp.headers.get("content-type", "").replace(" ", "").lower() == \
        "application/vnd.elasticsearch+json;compatible-with=8"


r = call("GET", "/rep3/_doc/1", headers={"Accept": vendor})
check("vendor Accept echoed in content-type", r.status == 200 and vendor_ok(r), repr(r.headers))
r = call("PUT", "/rep3/_doc/vend", {"v": 1}, headers={"Accept": vendor, "Content-Type": vendor})
check("vendor Content-Type body accepted, type echoed", r.status == 201 and vendor_ok(r),
      repr(r))
r = call("PUT", "/rep3/_create/vend", {"v": 2}, headers={"Accept": vendor, "Content-Type": vendor})
check("vendor type echoed on an error", r.status == 409 and vendor_ok(r), repr(r.headers))
r = call("POST", "/_bulk", json.dumps({"index": {"_index": "rep3", "_id": "vb"}}) + "\n{}\n",
         headers={"Accept": vendor, "Content-Type": "application/vnd.elasticsearch+x-ndjson; "
                                                    "compatible-with=8"})
check("vendor x-ndjson bulk", r.status == 200 and r.json["errors"] is False and vendor_ok(r),
      repr(r))

# A malformed UTF-8 byte in an id becomes U+FFFD, as in Elasticsearch, and the
# operation replicates: before, the raw byte reached the replicas, which could not
# parse it; the copies failed and rep3 never got back to green.
r = call("PUT", "/rep3/_doc/bad%FFbyte?refresh=true", {"u": 1})
check("PUT an id with a malformed UTF-8 byte: 201 on every copy, id with U+FFFD",
      r.status == 201 and r.json["_id"] == "bad\ufffdbyte"
      and r.json["_shards"] == {"total": 3, "successful": 3, "failed": 0}, repr(r))
r = call("GET", "/rep3/_doc/bad%EF%BF%BDbyte")
check("the document reads back under the U+FFFD id",
      r.status == 200 and r.json["found"] is True and r.json["_source"] == {"u": 1}, repr(r))
r = call("GET", "/_cluster/health/rep3?wait_for_status=green&timeout=30s")
check("rep3 stays green after it", r.status == 200 and r.json["status"] == "green", repr(r))

missing_product = [x for x in responses
                   if x.headers.get("x-elastic-product") != "Elasticsearch"]
check(f"X-Elastic-Product: Elasticsearch on all {len(responses)} responses (errors, HEAD, "
      "405, 406, 413 included)", not missing_product, str(missing_product[:5]))
statuses = sorted({x.status for x in responses})
check("responses covered 200/201/400/404/405/406/408/409/413",
      {200, 201, 400, 404, 405, 406, 408, 409, 413} <= set(statuses), str(statuses))

print()
print(f"{passed} checks passed, {len(failures)} failed")
for f in failures:
    print(f"  failed: {f}")
sys.exit(1 if failures else 0)
