#!/usr/bin/env python3
"""Issue 16 over real HTTP against a live 3-node cluster: the behaviours that differed from
Elasticsearch on features seqsim claims, and the parameters it accepted and then ignored.

Usage: fidelity_live_test.py URL1 URL2 URL3 (started by run_live_py_test.sh, which always
stops the processes). Python 3 standard library only; no fixed sleeps.
"""

import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_http import Resp, call, check, finish, nodes  # noqa: E402,F401

NODES = nodes("fidelity_live_test.py")


r = call("PUT", "/fid", {"settings": {"number_of_shards": 2, "number_of_replicas": 2}})
check("create fid (2 shards, 2 replicas)", r.status == 200, repr(r))
r = call("GET", "/_cluster/health/fid?wait_for_status=green&timeout=30s")
check("fid is green", r.status == 200 and r.json["status"] == "green", repr(r))

# _source comes back as sent, through every node.
raw = '{"big":123456789012345678901234567890,"f":1.10,"t":"Dune"}'
r = call("PUT", "/fid/_doc/1?refresh=true", raw)
check("index a document with refresh=true answers forced_refresh",
      r.status == 201 and r.json.get("forced_refresh") is True
      and list(r.json)[:5] == ["_index", "_id", "_version", "result", "forced_refresh"],
      repr(r))
for base in NODES:
    r = call("GET", "/fid/_source/1", base=base)
    check(f"GET _source through {base} is the stored bytes", r.raw == raw.encode(), repr(r))
r = call("GET", "/fid/_doc/1")
check("GET _doc embeds the stored bytes", (b'"_source":' + raw.encode() + b"}") in r.raw,
      repr(r))
r = call("POST", "/fid/_search", {"query": {"ids": {"values": ["1"]}}})
check("search hits embed the stored bytes", (b'"_source":' + raw.encode()) in r.raw, repr(r))

# term on _id.
r = call("POST", "/fid/_search", {"query": {"term": {"_id": "1"}}})
check("term on _id finds the document", r.status == 200
      and r.json["hits"]["total"]["value"] == 1
      and r.json["hits"]["hits"][0]["_id"] == "1", repr(r))

# _bulk with an empty _id fails that item only.
bulk = ('{"index":{"_index":"fid","_id":""}}\n{"a":1}\n'
        '{"index":{"_index":"fid","_id":"b1"}}\n{"a":2}\n')
r = call("POST", "/_bulk", bulk, ctype="application/x-ndjson")
items = (r.json or {}).get("items", [])
check("bulk: empty _id is a 400 item, the next item is written",
      r.status == 200 and r.json["errors"] is True and len(items) == 2
      and items[0]["index"]["status"] == 400
      and items[0]["index"]["error"]["reason"] == "if _id is specified it must not be empty"
      and items[1]["index"]["status"] == 201, repr(r))
r = call("POST", "/_bulk", "{}\n{}\n", ctype="application/x-ndjson")
check("bulk: {} action line names END_OBJECT", r.status == 400 and r.reason() ==
      "Malformed action/metadata line [1], expected FIELD_NAME but found [END_OBJECT]", repr(r))

# filter_path exclusions, and never on errors.
r = call("GET", "/fid/_doc/1?filter_path=-_source,-_seq_no,-_primary_term")
check("filter_path exclusions", r.status == 200 and r.json == {
    "_index": "fid", "_id": "1", "_version": 1, "found": True}, repr(r))
r = call("GET", "/nope/_doc/1?filter_path=found")
check("filter_path leaves an error body whole", r.status == 404
      and r.json["error"]["type"] == "index_not_found_exception" and r.json["status"] == 404,
      repr(r))

# _cat store columns filled, in Elasticsearch's column order.
r = call("GET", "/_cat/shards/fid")
rows = [line.split() for line in r.raw.decode().splitlines()]
check("_cat/shards rows have all 8 default columns, store before ip",
      r.status == 200 and len(rows) == 6 and all(len(row) == 8 for row in rows)
      and all(row[5].endswith("b") and row[6] == "127.0.0.1" for row in rows), repr(r))
r = call("GET", "/_cat/indices/fid?format=json&h=index,store.size,pri.store.size&bytes=b")
check("_cat/indices store sizes (bytes=b): all copies = 3 x primaries",
      r.status == 200 and int(r.json[0]["store.size"]) == 3 * int(r.json[0]["pri.store.size"])
      and int(r.json[0]["pri.store.size"]) > 0, repr(r))
r = call("GET", "/_cat/indices?h=index&health=green")
check("_cat/indices?health=green lists fid", r.status == 200 and "fid" in r.raw.decode().split(),
      repr(r))
r = call("GET", "/_cat/indices?h=index&health=red")
check("_cat/indices?health=red lists none", r.status == 200 and r.raw == b"", repr(r))

# GET ?version=.
r = call("GET", "/fid/_doc/1?version=1")
check("GET with the current version", r.status == 200, repr(r))
r = call("GET", "/fid/_doc/1?version=7")
check("GET with another version is a 409", r.status == 409 and r.reason() ==
      "[1]: version conflict, current version [1] is different than the one provided [7]"
      and r.json["error"]["index"] == "fid", repr(r))

# _source filtering and stored_fields.
r = call("GET", "/fid/_doc/1?_source_includes=t&filter_path=_source")
check("GET _source_includes", r.json == {"_source": {"t": "Dune"}}, repr(r))
r = call("GET", "/fid/_doc/1?stored_fields=x")
check("GET stored_fields drops the source", r.status == 200 and "_source" not in r.json,
      repr(r))
r = call("POST", "/fid/_search?filter_path=hits.hits._source",
         {"query": {"ids": {"values": ["1"]}}, "_source": {"excludes": ["big", "f"]}})
check("search _source excludes", r.json == {"hits": {"hits": [{"_source": {"t": "Dune"}}]}},
      repr(r))
r = call("POST", "/fid/_update/1?_source_includes=f", {"doc": {"t": "Dune 2"}})
check("update _source_includes shapes the get", r.status == 200
      and r.json["get"]["_source"] == {"f": 1.1}, repr(r))

# require_alias: fid is an index, not an alias.
r = call("PUT", "/fid/_doc/2?require_alias=true", {"a": 1})
check("require_alias=true is a 404", r.status == 404 and r.reason() ==
      "no such index [fid] and [require_alias] request flag is [true] and [fid] is not an alias",
      repr(r))
r = call("GET", "/fid/_doc/2")
check("... and wrote nothing", r.status == 404 and r.json["found"] is False, repr(r))

# messages.
r = call("POST", "/fid/_update/1", {"dok": {"a": 1}})
check("update unknown field suggests doc",
      r.status == 400 and r.reason() == "[UpdateRequest] unknown field [dok] did you mean [doc]?",
      repr(r))
r = call("GET", "/fid/_search?from=10000&size=1")
check("result window names the scroll api", r.status == 400
      and "See the scroll api for a more efficient way" in (r.reason() or ""), repr(r))

# routing: Elasticsearch's shard function (Murmur3 of the routing value over the UTF-16 code
# units, routing_num_shards 640 for 10 shards), _routing in replies, and a request with the
# wrong routing goes to the shard that value routes to. Expected shards come from the
# documented algorithm (tests/logic/node_test.cc derives them): "user-17" -> 9, "a" -> 2,
# "kimchy" -> 0, "1" -> 8.
def shard_docs(index):
    call("POST", f"/{index}/_refresh")  # docs counts what search sees
    r = call("GET", f"/_cat/shards/{index}?format=json&h=shard,prirep,docs")
    return {int(row["shard"]): int(row["docs"] or 0) for row in (r.json or [])
            if row["prirep"] == "p"}


r = call("PUT", "/rt", {"settings": {"number_of_shards": 10, "number_of_replicas": 0}})
check("10-shard index", r.status == 200, repr(r))
call("GET", "/_cluster/health/rt?wait_for_status=green&timeout=30s")
r = call("PUT", "/rt/_doc/a?routing=user-17", {"n": 1})
check("index with routing", r.status == 201, repr(r))
r = call("PUT", "/rt/_doc/1", {"n": 2})
check("index without routing", r.status == 201, repr(r))
docs = shard_docs("rt")
check("routed doc on shard 9, id-routed doc on shard 8 (as Elasticsearch)",
      docs.get(9) == 1 and docs.get(8) == 1 and sum(docs.values()) == 2, repr(docs))
r = call("GET", "/rt/_doc/a?routing=user-17", base=NODES[1])
check("get with the routing finds it and shows _routing", r.status == 200
      and r.json.get("_routing") == "user-17" and list(r.json)[:7] == [
          "_index", "_id", "_version", "_seq_no", "_primary_term", "_routing", "found"],
      repr(r))
r = call("GET", "/rt/_doc/a")
check("get without routing looks on the id's shard (2) and finds nothing",
      r.status == 404 and r.json["found"] is False, repr(r))
r = call("GET", "/rt/_doc/1")
check("a doc indexed without routing has no _routing", r.status == 200
      and "_routing" not in r.json, repr(r))
r = call("DELETE", "/rt/_doc/a?routing=kimchy")
check("delete with the wrong routing is not_found", r.status == 404
      and r.json["result"] == "not_found", repr(r))
r = call("GET", "/rt/_doc/a?routing=user-17")
check("... and deleted nothing", r.status == 200 and r.json["found"] is True, repr(r))
r = call("POST", "/rt/_search?routing=user-17", {"query": {"match_all": {}}})
hits = (r.json or {}).get("hits", {}).get("hits", [])
check("search with routing searches only its shard, hits carry _routing",
      r.status == 200 and [h["_id"] for h in hits] == ["a"]
      and hits[0].get("_routing") == "user-17" and r.json["_shards"]["total"] == 1, repr(r))
r = call("POST", "/rt/_search?routing=kimchy,user-17", {"query": {"match_all": {}}})
check("routing values are a comma list", r.status == 200
      and r.json["_shards"]["total"] == 2 and r.json["hits"]["total"]["value"] == 1, repr(r))
r = call("POST", "/rt/_bulk", '{"index":{"_id":"b","routing":"user-17"}}\n{"n":3}\n'
         '{"update":{"_id":"a","routing":"user-17"}}\n{"doc":{"n":4}}\n'
         '{"delete":{"_id":"a","routing":"kimchy"}}\n', ctype="application/x-ndjson")
items = [list(i.values())[0] for i in (r.json or {}).get("items", [])]
check("bulk routes each item by its routing", r.status == 200
      and [i["status"] for i in items] == [201, 200, 404], repr(r))
check("... bulk-routed doc on shard 9", shard_docs("rt").get(9) == 2, repr(shard_docs("rt")))
r = call("POST", "/rt/_mget", {"docs": [{"_id": "b", "routing": "user-17"}, {"_id": "b"}]})
docs = (r.json or {}).get("docs", [])
check("mget routes each doc by its routing", r.status == 200 and len(docs) == 2
      and docs[0].get("found") is True and docs[0].get("_routing") == "user-17"
      and docs[1].get("found") is False, repr(r))
r = call("POST", "/rt/_mget?routing=user-17", {"ids": ["b"]})
check("mget takes the URL's routing as the default",
      r.status == 200 and r.json["docs"][0].get("found") is True, repr(r))
r = call("GET", "/rt/_count?routing=user-17")
check("_count with routing counts only its shard", r.status == 200
      and r.json["count"] == 2 and r.json["_shards"]["total"] == 1, repr(r))
r = call("PUT", "/rt/_doc/c?routing=", {"n": 5})
check("an empty routing is no routing", r.status == 201
      and "_routing" not in call("GET", "/rt/_doc/c").json, repr(r))
r = call("POST", "/rt/_bulk", '{"index":{"_id":"d","routing":{"x":1}}}\n{"n":1}\n',
         ctype="application/x-ndjson")
check("bulk routing must be a simple value", r.status == 400 and
      "expected a simple value for field [routing] but found [START_OBJECT]" in (r.reason() or ""),
      repr(r))

# refresh and near-real-time search: each copy refreshes on its own (index.refresh_interval,
# default 1s; -1 off), search sees only refreshed documents, GET stays real-time;
# preference picks the copy that answers.
def hits(path, body=None, base=None):
    r = call("POST", path, body or {"query": {"match_all": {}}}, base=base)
    return sorted(h["_id"] for h in (r.json or {}).get("hits", {}).get("hits", [])), r


r = call("PUT", "/nrt", {"settings": {"index": {"refresh_interval": "-1",
                                                "number_of_replicas": 2}}})
check("create with refresh_interval -1", r.status == 200, repr(r))
call("GET", "/_cluster/health/nrt?wait_for_status=green&timeout=30s")
r = call("GET", "/nrt")
check("refresh_interval shown in the settings",
      (r.json or {}).get("nrt", {}).get("settings", {}).get("index", {})
      .get("refresh_interval") == "-1", repr(r))
call("PUT", "/nrt/_doc/1", {"n": 1})
ids, r = hits("/nrt/_search")
check("an acknowledged write is not searchable before a refresh", ids == [], repr(r))
r = call("GET", "/nrt/_doc/1")
check("... GET is real-time", r.status == 200 and r.json["found"] is True, repr(r))
r = call("GET", "/nrt/_doc/1?realtime=false")
check("... GET realtime=false reads the refreshed view", r.status == 404
      and r.json["found"] is False, repr(r))
r = call("GET", "/_cat/shards/nrt?format=json&h=prirep,docs")
check("... _cat/shards docs counts what search sees",
      [row["docs"] for row in r.json or []] == ["0", "0", "0"], repr(r))
r = call("POST", "/nrt/_refresh")
check("_refresh refreshes every copy", r.status == 200
      and r.json["_shards"] == {"total": 3, "successful": 3, "failed": 0}, repr(r))
ids, r = hits("/nrt/_search")
check("... then search finds it", ids == ["1"], repr(r))
r = call("GET", "/nrt/_doc/1?realtime=false")
check("... and GET realtime=false", r.status == 200, repr(r))
r = call("PUT", "/nrt/_doc/2?refresh=true", {"n": 2})
check("refresh=true answers forced_refresh", r.status == 201
      and r.json.get("forced_refresh") is True, repr(r))
for n in (1, 2, 3):
    ids, r = hits(f"/nrt/_search?preference=_only_nodes:node-{n}")
    check(f"... and is searchable on node-{n}'s copy", ids == ["1", "2"], repr(r))
call("PUT", "/nrt/_doc/3", {"n": 3})
r = call("GET", "/nrt/_doc/3?refresh=true&realtime=false")
check("GET refresh=true refreshes the copy it reads", r.status == 200, repr(r))
r = call("PUT", "/nrt/_doc/4?refresh=true", {"n": 4}, base=NODES[2])
r = call("GET", "/nrt/_doc/4?preference=_only_nodes:node-2", base=NODES[0])
check("GET with preference reads that node's copy", r.status == 200
      and r.json["found"] is True, repr(r))
r = call("POST", "/nrt/_search?preference=_primary", {})
check("the removed _primary preference is refused", r.status == 400
      and r.reason() == "no Preference for [_primary]", repr(r))
r = call("POST", "/nrt/_search?preference=_only_nodes:nosuch", {})
check("_only_nodes without a match", r.status == 400 and r.reason() ==
      "no data nodes with criteria [nosuch] found for shard: [nrt][0]", repr(r))
ids, r = hits("/nrt/_search?preference=_shards:0|_local")
check("_shards:0|_local", ids == ["1", "2", "3", "4"], repr(r))

r = call("PUT", "/nrt2", {"settings": {"refresh_interval": "200ms", "number_of_replicas": 2}})
call("GET", "/_cluster/health/nrt2?wait_for_status=green&timeout=30s")
r = call("PUT", "/nrt2/_doc/1?refresh=wait_for", {"n": 1})
check("refresh=wait_for answers once a refresh shows the write", r.status == 201
      and "forced_refresh" not in r.json, repr(r))
for n in (1, 2, 3):
    ids, r = hits(f"/nrt2/_search?preference=_only_nodes:node-{n}")
    check(f"... searchable on node-{n}'s copy when answered", ids == ["1"], repr(r))
r = call("PUT", "/nrt3", {"settings": {"refresh_interval": "soon"}})
check("a bad refresh_interval is refused", r.status == 400 and r.reason() ==
      "failed to parse setting [index.refresh_interval] with value [soon] as a time value: "
      "unit is missing or unrecognized", repr(r))

# PUT /{index}/_settings: index.refresh_interval and index.number_of_replicas are dynamic, as
# in Elasticsearch; a static setting and an unknown one are refused and change nothing.
def settings_of(index):
    r = call("GET", f"/{index}/_settings")
    return (r.json or {}).get(index, {}).get("settings", {}).get("index", {}), r


def copies_of(index):
    r = call("GET", f"/_cat/shards/{index}?format=json&h=prirep,state")
    return sorted((row["prirep"], row["state"]) for row in r.json or []), r


r = call("PUT", "/dyn", {"settings": {"number_of_replicas": 0, "refresh_interval": "-1"}})
check("create dyn (0 replicas, no scheduled refresh)", r.status == 200, repr(r))
call("GET", "/_cluster/health/dyn?wait_for_status=green&timeout=30s")
call("PUT", "/dyn/_doc/1", {"n": 1})
ids, r = hits("/dyn/_search")
check("dyn: not searchable while refresh_interval is -1", ids == [], repr(r))
r = call("PUT", "/dyn/_settings", {"index": {"refresh_interval": "100ms"}})
check("PUT _settings refresh_interval is acknowledged",
      r.status == 200 and r.json == {"acknowledged": True}, repr(r))
got, r = settings_of("dyn")
check("... GET _settings shows it", got.get("refresh_interval") == "100ms", repr(r))


def searchable():
    ids, _ = hits("/dyn/_search")
    return ids == ["1"]


def wait_for(fn, timeout=20.0):
    """Polls fn (every 50 ms) until it is true or `timeout` passes; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        ok = fn()
        if ok or time.monotonic() > deadline:
            return ok
        time.sleep(0.05)


ok = wait_for(searchable)
check("... and the scheduled refresh resumes: the write becomes searchable", ok)
r = call("PUT", "/dyn/_settings", {"number_of_replicas": 2})
check("PUT _settings number_of_replicas 2", r.status == 200, repr(r))
r = call("GET", "/_cluster/health/dyn?wait_for_status=green&timeout=30s")
check("... new replicas recover and dyn is green", r.status == 200
      and r.json["status"] == "green", repr(r))
got, _ = copies_of("dyn")
check("... three started copies", got == [("p", "STARTED"), ("r", "STARTED"), ("r", "STARTED")],
      repr(got))
for n in (1, 2, 3):
    r = call("GET", "/dyn/_doc/1?preference=_only_nodes:node-%d" % n)
    check(f"... node-{n}'s copy has the document", r.status == 200 and r.json["found"], repr(r))
r = call("PUT", "/dyn/_settings", {"index.number_of_replicas": 1})
check("PUT _settings number_of_replicas back to 1", r.status == 200, repr(r))
wait_for(lambda: len(copies_of("dyn")[0]) == 2)
got, _ = copies_of("dyn")
check("... a replica is removed", got == [("p", "STARTED"), ("r", "STARTED")], repr(got))
before, _ = settings_of("dyn")
r = call("PUT", "/dyn/_settings", {"index": {"number_of_shards": 3}})
check("a static setting is refused on an open index", r.status == 400 and r.reason() ==
      "Can't update non dynamic settings [[index.number_of_shards]] for open indices "
      f"[[dyn/{before.get('uuid')}]]", repr(r))
r = call("PUT", "/dyn/_settings", {"index": {"number_of_replicas": 1, "colour": "red"}})
check("an unknown setting is refused", r.status == 400 and r.reason() ==
      "unknown setting [index.colour] please check that any required plugins are installed, "
      "or check the breaking changes documentation for removed settings", repr(r))
after, _ = settings_of("dyn")
check("... and neither changed anything", after == before, repr((before, after)))
r = call("PUT", "/nosuch/_settings", {"refresh_interval": "1s"})
check("_settings of a missing index", r.status == 404
      and r.json["error"]["type"] == "index_not_found_exception", repr(r))

# _mget items through an alias read its one index; an alias of two indices is that item's
# error.
r = call("POST", "/_aliases", {"actions": [{"add": {"index": "dyn", "alias": "dyn-a"}},
                                           {"add": {"index": "dyn", "alias": "two"}},
                                           {"add": {"index": "nrt", "alias": "two"}}]})
check("aliases dyn-a and two", r.status == 200, repr(r))
r = call("POST", "/_mget", {"docs": [{"_index": "dyn-a", "_id": "1"},
                                     {"_index": "two", "_id": "1"},
                                     {"_index": "nosuch", "_id": "1"}]})
docs = (r.json or {}).get("docs", [])
check("_mget through an alias reads its index", r.status == 200 and len(docs) == 3
      and docs[0].get("found") is True and docs[0].get("_index") == "dyn", repr(r))
check("... an alias of two indices is that item's error",
      len(docs) == 3 and docs[1].get("error", {}).get("type") == "illegal_argument_exception"
      and docs[1]["error"].get("reason", "").startswith(
          "alias [two] has more than one index associated with it"), repr(r))
check("... a missing index is that item's index_not_found_exception",
      len(docs) == 3 and docs[2].get("error", {}).get("type") == "index_not_found_exception",
      repr(r))
r = call("GET", "/dyn-a/_mget", {"ids": ["1"]})
check("/{alias}/_mget with ids", r.status == 200
      and r.json["docs"][0].get("found") is True, repr(r))

# A replica that has just recovered is searchable at once (Elasticsearch refreshes a shard at
# the end of its recovery): with no scheduled refresh, the replicas added by raising
# number_of_replicas still find what the primary's refresh made searchable.
r = call("PUT", "/rec", {"settings": {"number_of_replicas": 0, "refresh_interval": "-1"}})
call("GET", "/_cluster/health/rec?wait_for_status=green&timeout=30s")
call("PUT", "/rec/_doc/1", {"n": 1})
call("POST", "/rec/_refresh")
r = call("PUT", "/rec/_settings", {"number_of_replicas": 2})
r = call("GET", "/_cluster/health/rec?wait_for_status=green&timeout=30s")
check("rec: two replicas added and recovered", r.status == 200
      and r.json["status"] == "green", repr(r))
for n in (1, 2, 3):
    ids, r = hits(f"/rec/_search?preference=_only_nodes:node-{n}")
    check(f"... node-{n}'s copy is searchable when started", ids == ["1"], repr(r))

# A DELETE of an index is acknowledged once every node has applied it (as Elasticsearch
# acknowledges a cluster-state update), so a write right after it creates a new index and
# never lands in the deleted one's shard (where it would be acknowledged, then lost).
lost = []
for i in range(40):
    call("PUT", "/gone/_doc/0", {"n": 0})
    r = call("DELETE", "/gone")
    if r.status != 200 or r.json != {"acknowledged": True}:
        lost.append(("delete", repr(r)))
        break
    r = call("PUT", "/gone/_doc/1", {"n": i}, base=NODES[i % 3])
    if r.status != 201 or r.json.get("result") != "created" or r.json.get("_version") != 1:
        lost.append(("write", repr(r)))
        break
    r = call("GET", "/gone/_doc/1", base=NODES[(i + 1) % 3])
    if r.status != 200 or r.json.get("_source") != {"n": i}:
        lost.append(("read", repr(r)))
        break
check("40 rounds of write, DELETE, write, GET: each write after the DELETE creates the "
      "document in a new index and is read back", not lost, repr(lost))

# Found by Elasticsearch's YAML REST tests (bench/es_yaml.md).
# The create body's aliases are set with the index; options seqsim does not model are refused.
r = call("PUT", "/backing", {"mappings": {}, "aliases": {"via_body": {}},
                             "settings": {"number_of_replicas": 0}})
check("create with aliases in the body", r.status == 200, repr(r))
r = call("GET", "/backing/_alias")
check("... the alias exists with the index",
      r.status == 200 and r.json == {"backing": {"aliases": {"via_body": {}}}}, repr(r))
r = call("POST", "/via_body/_doc?require_alias=true", {"foo": "bar"})
check("... a require_alias write through it is created", r.status == 201
      and r.json["_index"] == "backing", repr(r))
r = call("PUT", "/backing2", {"aliases": {"backing": {}}})
check("an alias naming an existing index refuses the creation", r.status == 400
      and r.json["error"]["type"] == "invalid_alias_name_exception", repr(r))
r = call("GET", "/backing2")
check("... and creates nothing", r.status == 404, repr(r))
r = call("PUT", "/backing3", {"aliases": {"a3": {"filter": {"term": {"x": 1}}}}})
check("an alias filter in the create body is refused", r.status == 400
      and r.reason() == "alias option [filter] is not supported by seqsim (alias [a3])", repr(r))
r = call("PUT", "/backing/_alias/a4", {"is_write_index": True})
check("PUT _alias with is_write_index is refused", r.status == 400
      and r.json["error"]["type"] == "illegal_argument_exception", repr(r))
r = call("POST", "/_aliases", {"actions": [{"add": {"index": "backing", "alias": "a5",
                                                     "routing": "1"}}]})
check("POST _aliases with routing is refused", r.status == 400
      and r.json["error"]["type"] == "illegal_argument_exception", repr(r))
r = call("GET", "/_alias/a4,a5")
check("... and neither alias was added", r.status == 404, repr(r))

# track_total_hits=false with rest_total_hits_as_int, search_type, size=-1.
r = call("POST", "/backing/_search?track_total_hits=false&rest_total_hits_as_int=true", {})
check("untracked total as int is -1", r.status == 200 and r.json["hits"]["total"] == -1,
      repr(r))
r = call("POST", "/backing/_search?search_type=query_and_fetch", {})
check("search_type=query_and_fetch is a 400", r.status == 400
      and r.reason() == "No search type for [query_and_fetch]", repr(r))
r = call("POST", "/backing/_search?search_type=dfs_query_then_fetch", {})
check("search_type=dfs_query_then_fetch is accepted", r.status == 200, repr(r))
r = call("POST", "/backing/_refresh")
r = call("GET", "/backing/_search?size=-1")
check("size=-1 is the default size", r.status == 200
      and len(r.json["hits"]["hits"]) == 1, repr(r))
r = call("GET", "/backing/_search?size=-5")
check("size=-5 is still a 400", r.status == 400, repr(r))

# op_type in a bulk action line.
bulk = ('{"index":{"_index":"backing","_id":"c1","op_type":"create"}}\n{"a":1}\n'
        '{"index":{"_index":"backing","_id":"c1","op_type":"create"}}\n{"a":2}\n')
r = call("POST", "/_bulk", bulk, ctype="application/x-ndjson")
items = (r.json or {}).get("items", [])
check("bulk: index with op_type create is a create (the second a 409)",
      r.status == 200 and len(items) == 2
      and items[0].get("create", {}).get("result") == "created"
      and items[1].get("create", {}).get("status") == 409, repr(r))

# index.max_result_window: set at creation, shown, enforced.
r = call("PUT", "/tw", {"settings": {"index.max_result_window": 2, "number_of_replicas": 0}})
check("create tw with max_result_window 2", r.status == 200, repr(r))
r = call("GET", "/tw/_settings")
check("... shown in _settings", r.status == 200
      and r.json["tw"]["settings"]["index"]["max_result_window"] == "2", repr(r))
r = call("POST", "/tw/_search?size=3", {})
check("... from + size 3 is over the window", r.status == 400 and (r.reason() or "").startswith(
      "Result window is too large, from + size must be less than or equal to: [2] but was [3]"),
      repr(r))
r = call("POST", "/tw/_search", {"query": {"ids": {"values": ["1", "2", "3"]}}})
check("... an ids query with 3 values is refused", r.status == 400
      and r.json["error"]["root_cause"][0]["type"] == "query_shard_exception", repr(r))

# index.max_result_window is dynamic too.
r = call("PUT", "/dyn/_settings", {"index": {"max_result_window": 2}})
check("PUT _settings max_result_window 2", r.status == 200, repr(r))
r = call("POST", "/dyn/_search?size=3", {})
check("... a search past the new window is refused", r.status == 400
      and "Result window is too large" in str(r.json), repr(r))
r = call("PUT", "/dyn/_settings", {"index": {"max_result_window": None}})
r = call("POST", "/dyn/_search?size=3", {})
check("... and null restores the default", r.status == 200, repr(r))

# One validator of a document source: what the REST layer accepts, the primary accepts
# (Elasticsearch's 1000-deep nesting limit on both).
deep = '{"a":' * 999 + '1' + '}' * 999
r = call("PUT", "/dyn/_doc/deep", deep)
check("a 999-deep document is indexed (REST and the primary agree on the limit)",
      r.status == 201, repr(r))
r = call("PUT", "/dyn/_doc/deeper", '{"a":' * 1001 + '1' + '}' * 1001)
check("... a 1001-deep one is refused with the nesting error", r.status == 400
      and "nesting depth" in (r.reason() or ""), repr(r))

finish()
