#!/usr/bin/env python3
"""Issue 16 over real HTTP against a live 3-node cluster: the query DSL (match, term, terms,
range, exists, bool, ids, match_all), sort with its sort values, track_total_hits, from/size,
_mget and _count, each through every node, searched across the shards of two indices.

Usage: query_live_test.py URL1 URL2 URL3 (started by run_live_py_test.sh, which always stops
the processes). Python 3 standard library only; no fixed sleeps.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from live_http import Resp, call, check, finish, nodes  # noqa: E402,F401

NODES = nodes("query_live_test.py")


def search(body, index="lib", base=None, params=""):
    return call("POST", f"/{index}/_search{params}", body, base=base)


r = call("PUT", "/lib", {"settings": {"number_of_shards": 3, "number_of_replicas": 1}})
check("create lib (3 shards, 1 replica)", r.status == 200, repr(r))
r = call("PUT", "/lib2", {"settings": {"number_of_shards": 1, "number_of_replicas": 1}})
check("create lib2", r.status == 200, repr(r))
r = call("GET", "/_cluster/health?wait_for_status=green&timeout=30s")
check("cluster is green", r.status == 200 and r.json["status"] == "green", repr(r))

BOOKS = {
    "1": {"title": "Dune", "year": 1965, "tags": ["sf", "classic"], "rating": 4.5,
          "author": {"name": "Frank Herbert"}},
    "2": {"title": "Dune Messiah", "year": 1969, "tags": ["sf"], "rating": 3.9,
          "author": {"name": "Frank Herbert"}},
    "3": {"title": "The Left Hand of Darkness", "year": 1969, "available": True,
          "author": {"name": "Ursula K. Le Guin"}},
    "4": {"title": "Hyperion", "year": 1989, "available": False, "rating": None},
    "5": {"note": "no title"},
}
lines = "".join(json.dumps({"index": {"_index": "lib", "_id": i}}) + "\n" + json.dumps(doc) + "\n"
                for i, doc in BOOKS.items())
lines += json.dumps({"index": {"_index": "lib2", "_id": "x"}}) + "\n"
lines += json.dumps({"title": "Dune", "year": 2021}) + "\n"
r = call("POST", "/_bulk?refresh=true", lines, ctype="application/x-ndjson")
check("bulk 6 documents", r.status == 200 and r.json["errors"] is False, repr(r))

# ---- queries, through every node
for base in NODES:
    r = search({"query": {"term": {"_id": "3"}}}, base=base)
    check(f"term _id via {base}", r.status == 200 and r.ids() == ["3"], repr(r))
    r = search({"query": {"match": {"title": "DUNE darkness"}}, "size": 10}, base=base)
    check(f"match is an OR of analyzed words via {base}", r.status == 200
          and sorted(r.ids()) == ["1", "2", "3"]
          and r.json["hits"]["total"] == {"value": 3, "relation": "eq"}, repr(r))
r = search({"query": {"match": {"title": {"query": "dune MESSIAH", "operator": "and"}}}})
check("match operator and", r.ids() == ["2"], repr(r))
r = search({"query": {"term": {"title": "Dune"}}})
check("term is not analyzed: 'Dune' matches no word", r.status == 200 and r.ids() == [], repr(r))
r = search({"query": {"term": {"title": {"value": "dune"}}}})
check("term 'dune' matches the word", sorted(r.ids()) == ["1", "2"], repr(r))
r = search({"query": {"term": {"title.keyword": "Dune"}}})
check("term on .keyword matches the whole string", r.ids() == ["1"], repr(r))
r = search({"query": {"terms": {"year": [1965, 1989]}}})
check("terms", sorted(r.ids()) == ["1", "4"], repr(r))
r = search({"query": {"range": {"year": {"gt": 1965, "lte": 1969}}}})
check("range on numbers", sorted(r.ids()) == ["2", "3"], repr(r))
r = search({"query": {"range": {"title.keyword": {"gte": "Dune", "lt": "I"}}}})
check("range on strings", sorted(r.ids()) == ["1", "2", "4"], repr(r))
r = search({"query": {"exists": {"field": "rating"}}})
check("exists skips null", sorted(r.ids()) == ["1", "2"], repr(r))
r = search({"query": {"bool": {"must": [{"match": {"author.name": "herbert"}}],
                               "must_not": {"term": {"year": 1969}}}}})
check("bool must + must_not", r.ids() == ["1"], repr(r))
r = search({"query": {"bool": {"should": [{"term": {"year": 1965}},
                                          {"term": {"available": False}}]}}})
check("should-only bool requires one match", sorted(r.ids()) == ["1", "4"], repr(r))
r = search({"query": {"bool": {"filter": {"exists": {"field": "title"}},
                               "should": [{"term": {"year": 1965}},
                                          {"term": {"available": False}}],
                               "minimum_should_match": 2}}})
check("bool minimum_should_match above the matches", r.ids() == [], repr(r))
r = search({"query": {"ids": {"values": ["5", "4", "nope"]}}})
check("ids", sorted(r.ids()) == ["4", "5"], repr(r))
r = search({"query": {"match_all": {}}}, index="lib,lib2", params="?size=20")
check("match_all over two indices", r.json["hits"]["total"]["value"] == 6
      and r.json["_shards"]["total"] == 4, repr(r))
r = search({"query": {"regexp": {"title": "d.*"}}})
check("unknown query is a parsing_exception", r.status == 400
      and r.json["error"]["root_cause"][0]["type"] == "parsing_exception"
      and r.reason() == "unknown query [regexp]", repr(r))

# ---- sort, sort values, scores
r = search({"sort": [{"year": "desc"}, {"_doc": "asc"}], "query": {"exists": {"field": "year"}}})
years = [h["sort"][0] for h in r.json["hits"]["hits"]]
check("sort year desc carries sort values, no scores", r.status == 200
      and years == [1989, 1969, 1969, 1965] and r.ids()[0] == "4"
      and all(h["_score"] is None for h in r.json["hits"]["hits"])
      and r.json["hits"]["max_score"] is None, repr(r))
r = search({"sort": ["rating"], "_source": False})
check("sort asc, a missing double last as Infinity", r.ids()[:2] == ["2", "1"]
      and r.json["hits"]["hits"][0]["sort"] == [3.9]
      and r.json["hits"]["hits"][4]["sort"] == ["Infinity"], repr(r))
r = search({"sort": {"title.keyword": {"order": "desc"}}}, base=NODES[1])
check("sort on a keyword", r.ids() == ["3", "4", "2", "1", "5"]
      and r.json["hits"]["hits"][0]["sort"] == ["The Left Hand of Darkness"]
      and r.json["hits"]["hits"][4]["sort"] == [None], repr(r))
r = search(None, params="?sort=_seq_no:desc&size=2")
check("sort=_seq_no:desc in the URL", r.status == 200 and len(r.ids()) == 2
      and r.json["hits"]["hits"][0]["sort"][0] >= r.json["hits"]["hits"][1]["sort"][0], repr(r))
r = search({"sort": ["title"]})
check("sort on a text field: 400 search_phase_execution_exception", r.status == 400
      and r.json["error"]["type"] == "search_phase_execution_exception"
      and r.json["error"]["root_cause"][0]["type"] == "illegal_argument_exception"
      and "Text fields are not optimised" in r.json["error"]["root_cause"][0]["reason"], repr(r))
r = search({"sort": [{"year": "asc"}, "_doc"], "from": 1, "size": 2,
            "query": {"exists": {"field": "year"}}})
check("from/size page through the merged order", r.ids()[0] in ("2", "3") and len(r.ids()) == 2
      and [h["sort"][0] for h in r.json["hits"]["hits"]] == [1969, 1969], repr(r))

page1 = search({"sort": [{"year": "desc"}, {"title.keyword": "asc"}], "size": 2,
                "query": {"exists": {"field": "year"}}})
page2 = search({"sort": [{"year": "desc"}, {"title.keyword": "asc"}], "size": 2,
                "query": {"exists": {"field": "year"}},
                "search_after": page1.json["hits"]["hits"][-1]["sort"]})
check("search_after pages on from the last hit's sort values",
      page1.ids() == ["4", "2"] and page2.ids() == ["3", "1"]
      and page2.json["hits"]["total"]["value"] == 4, repr(page2))

# ---- track_total_hits and the result window
r = search({"track_total_hits": 2})
check("track_total_hits: 2 caps at gte", r.json["hits"]["total"] == {"value": 2, "relation": "gte"},
      repr(r))
r = search({"track_total_hits": False})
check("track_total_hits: false leaves total out", "total" not in r.json["hits"], repr(r))
r = search({"from": 9999, "size": 2})
check("result window error names the scroll api", r.status == 400 and r.reason() == (
    "Result window is too large, from + size must be less than or equal to: [10000] but was "
    "[10001]. See the scroll api for a more efficient way to request large data sets. This limit "
    "can be set by changing the [index.max_result_window] index level setting."), repr(r))

# ---- _count
for base in NODES:
    r = call("GET", "/lib/_count", base=base)
    check(f"_count via {base}", r.status == 200 and r.json == {
        "count": 5, "_shards": {"total": 3, "successful": 3, "skipped": 0, "failed": 0}}, repr(r))
r = call("POST", "/_count", {"query": {"match": {"title": "dune"}}})
check("_count over every index with a query", r.status == 200 and r.json["count"] == 3, repr(r))
r = call("POST", "/lib/_count", {"query": {"match": {"title": "dune"}}, "size": 1})
check("_count refuses other keys", r.status == 400
      and r.reason() == "request does not support [size]", repr(r))
r = call("GET", "/nope/_count")
check("_count of a missing index is a 404", r.status == 404
      and r.json["error"]["type"] == "index_not_found_exception", repr(r))

# ---- _mget: real-time (no refresh), through every node
r = call("PUT", "/lib/_doc/rt", {"t": 1})
check("write rt without refresh", r.status == 201, repr(r))
for base in NODES:
    r = call("POST", "/_mget", {"docs": [{"_index": "lib", "_id": "rt"},
                                          {"_index": "lib", "_id": "nope"},
                                          {"_index": "missing", "_id": "1"},
                                          {"_index": "lib2", "_id": "x", "_source": ["year"]}]},
             base=base)
    docs = (r.json or {}).get("docs", [])
    check(f"_mget docs via {base}", r.status == 200 and len(docs) == 4
          and docs[0]["found"] is True and docs[0]["_source"] == {"t": 1}
          and docs[0]["_version"] == 1 and "_seq_no" in docs[0] and "_primary_term" in docs[0]
          and docs[1] == {"_index": "lib", "_id": "nope", "found": False}
          and docs[2]["error"]["type"] == "index_not_found_exception"
          and "found" not in docs[2]
          and docs[3]["_source"] == {"year": 2021}, repr(r))
r = call("GET", "/lib/_mget?_source_includes=title", {"ids": ["1", "2", "9"]})
docs = (r.json or {}).get("docs", [])
check("/lib/_mget ids with _source_includes", r.status == 200
      and [d.get("found") for d in docs] == [True, True, False]
      and docs[0]["_source"] == {"title": "Dune"}, repr(r))
r = call("POST", "/_mget", {"docs": [{"_index": "lib"}]})
check("_mget without an _id", r.status == 400
      and r.reason() == "Validation Failed: 1: id is missing for doc 0;", repr(r))
r = call("POST", "/lib/_mget", {"ids": []})
check("_mget with no documents", r.status == 400
      and r.reason() == "Validation Failed: 1: no documents to get;", repr(r))

# ---- Index expressions and aliases (issue 16)
for name in ("ix-a", "ix-b"):
    r = call("PUT", f"/{name}", {"settings": {"number_of_shards": 1, "number_of_replicas": 1}})
    check(f"create {name}", r.status == 200, repr(r))
for name, n in (("ix-a", 2), ("ix-b", 3)):
    ndjson = "".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps({"n": i}) + "\n"
                     for i in range(n))
    r = call("POST", f"/{name}/_bulk?refresh=true", ndjson, ctype="application/x-ndjson")
    check(f"bulk into {name}", r.status == 200 and r.json["errors"] is False, repr(r))


def count(path):
    r = call("GET", path)
    return r.json.get("count") if r.status == 200 else r.status


check("_count over a wildcard", count("/ix-*/_count") == 5, count("/ix-*/_count"))
check("_count over a wildcard minus an exclusion", count("/ix-*,-ix-b/_count") == 2)
check("_count over a comma list", count("/ix-a,ix-b/_count") == 5)
check("_count of a missing name is 404", count("/ix-a,nope/_count") == 404)
check("_count with ignore_unavailable skips it",
      count("/ix-a,nope/_count?ignore_unavailable=true") == 2)
r = call("GET", "/nomatch-*/_search")
check("a wildcard that matches nothing: empty hits", r.status == 200
      and r.json["hits"]["total"]["value"] == 0 and r.json["_shards"]["total"] == 0, repr(r))
r = call("GET", "/nomatch-*/_search?allow_no_indices=false")
check("... 404 with allow_no_indices=false", r.status == 404
      and r.reason() == "no such index [nomatch-*]", repr(r))
r = call("GET", "/_cat/indices/ix-*?h=index&s=index")
check("_cat/indices/ix-*", r.status == 200 and r.raw.decode() == "ix-a\nix-b\n", repr(r))
r = call("GET", "/_cluster/health/ix-*?wait_for_status=green&timeout=30s")
check("health of ix-* waits for green", r.status == 200 and r.json["active_primary_shards"] == 2,
      repr(r))
r = call("POST", "/ix-*/_refresh")
check("_refresh of ix-*", r.status == 200 and r.json["_shards"]["total"] == 4, repr(r))
for path in ("/ix-*", "/_all", "/*"):
    r = call("DELETE", path)
    check(f"DELETE {path} is refused", r.status == 400
          and r.reason() == "Wildcard expressions or all indices are not allowed", repr(r))
check("... and deleted nothing", count("/ix-*/_count") == 5)

r = call("PUT", "/ix-a/_alias/ix")
check("PUT /ix-a/_alias/ix", r.status == 200 and r.json == {"acknowledged": True}, repr(r))
r = call("POST", "/_aliases", {"actions": [{"add": {"index": "ix-b", "alias": "both"}},
                                            {"add": {"indices": ["ix-a"], "alias": "both"}}]})
check("POST /_aliases with two adds", r.status == 200, repr(r))
r = call("GET", "/_alias/both")
check("GET /_alias/both", r.status == 200
      and r.json == {"ix-a": {"aliases": {"both": {}}}, "ix-b": {"aliases": {"both": {}}}},
      repr(r))
r = call("GET", "/ix-a/_alias")
check("GET /ix-a/_alias", r.status == 200
      and r.json == {"ix-a": {"aliases": {"both": {}, "ix": {}}}}, repr(r))
r = call("GET", "/ix-a")
check("GET /ix-a lists its aliases",
      r.status == 200 and r.json["ix-a"]["aliases"] == {"both": {}, "ix": {}}, repr(r))
r = call("GET", "/_alias/nope")
check("GET /_alias/nope is 404", r.status == 404
      and r.json == {"error": "alias [nope] missing", "status": 404}, repr(r))
r = call("HEAD", "/_alias/ix")
check("HEAD /_alias/ix", r.status == 200, repr(r))
r = call("HEAD", "/_alias/nope")
check("HEAD /_alias/nope", r.status == 404, repr(r))
check("_count through an alias", count("/ix/_count") == 2)
check("_count through an alias of two indices", count("/both/_count") == 5)
r = call("PUT", "/ix/_doc/9?refresh=true", {"n": 9})
check("a write through an alias goes to its index", r.status == 201
      and r.json["_index"] == "ix-a", repr(r))
r = call("PUT", "/ix/_doc/10?require_alias=true&refresh=true", {"n": 10})
check("require_alias=true through an alias", r.status == 201 and r.json["_index"] == "ix-a",
      repr(r))
r = call("PUT", "/ix-a/_doc/11?require_alias=true", {"n": 11})
check("require_alias=true to an index is 404", r.status == 404 and r.reason() ==
      "no such index [ix-a] and [require_alias] request flag is [true] and [ix-a] is not an alias",
      repr(r))
r = call("PUT", "/both/_doc/12", {"n": 12})
check("a write through an alias of two indices is 400", r.status == 400
      and r.reason().startswith("no write index is defined for alias [both]."), repr(r))
check("ix-a holds the two writes", count("/ix-a/_count") == 4)
r = call("GET", "/ix/_doc/9")
check("GET through an alias", r.status == 200 and r.json["_index"] == "ix-a"
      and r.json["_source"] == {"n": 9}, repr(r))
r = call("GET", "/both/_doc/9")
check("GET through an alias of two indices is 400", r.status == 400 and r.reason() ==
      "alias [both] has more than one index associated with it [ix-a, ix-b], can't execute a "
      "single index op", repr(r))
r = call("PUT", "/ix")
check("an index may not take an alias's name", r.status == 400
      and r.json["error"]["type"] == "invalid_index_name_exception"
      and r.reason() == "Invalid index name [ix], already exists as alias", repr(r))
r = call("PUT", "/ix-a/_alias/ix-b")
check("an alias may not take an index's name", r.status == 400
      and r.json["error"]["type"] == "invalid_alias_name_exception", repr(r))
r = call("DELETE", "/ix-a/_alias/nope")
check("DELETE of a missing alias is 404", r.status == 404
      and r.json["error"]["type"] == "aliases_not_found_exception"
      and r.reason() == "aliases [nope] missing", repr(r))
bulk = "".join(json.dumps(line) + "\n" for line in [
    {"index": {"_index": "ix", "_id": "20"}}, {"n": 20},
    {"index": {"_index": "both", "_id": "21"}}, {"n": 21},
    {"index": {"_index": "ix", "_id": "22", "require_alias": True}}, {"n": 22},
    {"index": {"_index": "ix-b", "_id": "23", "require_alias": True}}, {"n": 23},
    {"index": {"_index": "ix-b", "_id": "24"}}, {"n": 24}])
r = call("POST", "/_bulk?refresh=true", bulk, ctype="application/x-ndjson")
got = [(list(i.values())[0].get("_index"), list(i.values())[0]["status"])
       for i in (r.json or {}).get("items", [])]
check("bulk items through aliases: one index, several, require_alias", r.status == 200
      and got == [("ix-a", 201), ("both", 400), ("ix-a", 201), ("ix-b", 404), ("ix-b", 201)],
      repr(r))
r = call("DELETE", "/ix-a/_alias/ix")
check("DELETE /ix-a/_alias/ix", r.status == 200, repr(r))
check("the alias is gone", count("/ix/_count") == 404)
r = call("DELETE", "/ix-a,ix-b")
check("DELETE /ix-a,ix-b", r.status == 200 and r.json == {"acknowledged": True}, repr(r))
r = call("GET", "/_alias/both")
check("deleting the indices took their aliases", r.status == 404, repr(r))

finish()
