#!/usr/bin/env python3
"""Measures whether a plain bulk load makes the live cluster flap (issue 12, section 5).

Starts its own 3-node cluster (scripts/cluster.sh, its own ports and data dir), creates an
index with 1 shard and 2 replicas, bulk-loads N documents from S senders in batches, then
counts what a flapping failure detector leaves behind:

  - "node dead" declarations (coordinator log: "missed heartbeats ... dead"),
  - primary-term bumps (the term a probe document gets before and after the load),
  - bulk items that failed, by status and error type (503 shard_not_in_primary_mode...),
  - whether every acknowledged id reads back (_search by ids, with `_shards.failed` checked:
    a search whose shard failed answers 200 with no hits).

Bounded: every HTTP call has a timeout, the whole run --max-seconds. Stdlib only.
Example:
  python3 bench/bulk_flap.py --docs 200000 --senders 4 --batch 1000
"""

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INDEX = "bulkflap"


class Rest:
    """One keep-alive HTTP/1.1 connection to a node's REST port."""

    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.conn = None

    def call(self, method, path, body=None, content_type="application/json"):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                       timeout=self.timeout)
            try:
                headers = {"Content-Type": content_type} if body is not None else {}
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, json.loads(data) if data else None
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def cluster(env, *args, check=True):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", "cluster.sh"), *args],
                          env=env, capture_output=True, text=True, check=check, timeout=180)


def probe_term(rest):
    status, body = rest.call("PUT", f"/{INDEX}/_doc/probe?refresh=false",
                             json.dumps({"probe": time.time()}))
    if status not in (200, 201):
        return None
    return body.get("_primary_term")


def wait_green(rest, seconds):
    start = time.time()
    while time.time() - start < seconds:
        try:
            status, body = rest.call(
                "GET", f"/_cluster/health/{INDEX}?wait_for_status=green&timeout=5s")
            if status == 200 and body.get("status") == "green":
                return time.time() - start
        except OSError:
            time.sleep(0.2)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=200000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--doc-bytes", type=int, default=200)
    parser.add_argument("--rest-base", type=int, default=int(os.environ.get("SEQSIM_REST_BASE", 23100)))
    parser.add_argument("--grpc-base", type=int, default=int(os.environ.get("SEQSIM_GRPC_BASE", 23200)))
    parser.add_argument("--coord-port", type=int, default=int(os.environ.get("SEQSIM_COORD_PORT", 23300)))
    parser.add_argument("--build-dir", default=os.environ.get("SEQSIM_BUILD_DIR", os.path.join(ROOT, "build")))
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs)")
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="seqsim-bulkflap.")
    env = dict(os.environ, SEQSIM_DATA=data, SEQSIM_REST_BASE=str(args.rest_base),
               SEQSIM_GRPC_BASE=str(args.grpc_base), SEQSIM_COORD_PORT=str(args.coord_port),
               SEQSIM_BUILD_DIR=args.build_dir, SEQSIM_SKIP_BUILD="1")
    deadline = time.time() + args.max_seconds
    try:
        up = cluster(env, "up", "--nodes", "3", check=False)
        if up.returncode != 0:
            print("cluster.sh up failed:\n" + up.stdout + up.stderr, file=sys.stderr)
            return 2
        rest_ports = [args.rest_base + n for n in (1, 2, 3)]
        admin = Rest(rest_ports[0], 30)
        status, body = admin.call("PUT", f"/{INDEX}", json.dumps(
            {"settings": {"number_of_shards": 1, "number_of_replicas": 2}}))
        if status != 200:
            print(f"create index: {status} {body}", file=sys.stderr)
            return 2
        if wait_green(admin, 60) is None:
            print("index never green before the load", file=sys.stderr)
            return 2
        term_before = probe_term(admin)

        batches = (args.docs + args.batch - 1) // args.batch
        next_batch = [0]
        lock = threading.Lock()
        acked = []
        failures = {}
        errors = []
        payload = "x" * max(1, args.doc_bytes - 20)

        def sender(k):
            rest = Rest(rest_ports[k % len(rest_ports)], 120)
            while time.time() < deadline:
                with lock:
                    b = next_batch[0]
                    if b >= batches:
                        return
                    next_batch[0] += 1
                ids = [f"d{i}" for i in range(b * args.batch, min(args.docs, (b + 1) * args.batch))]
                lines = []
                for doc_id in ids:
                    lines.append(json.dumps({"index": {"_index": INDEX, "_id": doc_id}}))
                    lines.append(json.dumps({"n": doc_id, "p": payload}))
                try:
                    status, body = rest.call("POST", "/_bulk", "\n".join(lines) + "\n",
                                             "application/x-ndjson")
                except OSError as e:
                    with lock:
                        errors.append(f"batch {b}: {e}")
                    continue
                ok, bad = [], {}
                if status == 200 and body and "items" in body:
                    for doc_id, item in zip(ids, body["items"]):
                        r = item.get("index", {})
                        if r.get("status") in (200, 201):
                            ok.append(doc_id)
                        else:
                            key = f'{r.get("status")} {r.get("error", {}).get("type", "?")}'
                            bad[key] = bad.get(key, 0) + 1
                else:
                    bad[f"bulk {status}"] = len(ids)
                with lock:
                    acked.extend(ok)
                    for key, n in bad.items():
                        failures[key] = failures.get(key, 0) + n

        start = time.time()
        threads = [threading.Thread(target=sender, args=(k,)) for k in range(args.senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load_s = time.time() - start

        _, health = admin.call("GET", f"/_cluster/health/{INDEX}")
        status_after = health.get("status") if health else "?"
        green_after = wait_green(admin, min(150, max(1, deadline - time.time())))
        term_after = probe_term(admin)

        # Read every acknowledged id back; a shard failure is not "missing".
        # One reader, searches of 1,000 ids: `_search` by ids costs about
        # (ids x docs), so parallel or larger searches only time out (measured).
        missing, failed_reads = 0, 0
        reader = Rest(rest_ports[1], 60)
        read_deadline = time.time() + 900  # the read-back has its own bound
        for i in range(0, len(acked), 1000):
            chunk = acked[i:i + 1000]
            query = json.dumps({"size": len(chunk), "query": {"ids": {"values": chunk}}})
            body = None
            while time.time() < read_deadline:
                try:
                    status, body = reader.call("POST", f"/{INDEX}/_search", query)
                except OSError:
                    status = 0
                if status == 200 and body["_shards"]["failed"] == 0:
                    break
                body = None
                time.sleep(0.5)
            if body is None:
                failed_reads += len(chunk)
                continue
            found = {h["_id"] for h in body["hits"]["hits"]}
            missing += sum(1 for doc_id in chunk if doc_id not in found)

        log = open(os.path.join(data, "logs", "coordinator.log"), errors="replace").read()
        # Each decision is logged once on its own and once more in the commit line
        # ("cluster state version N: ..."); count the first.
        decisions = [l for l in log.splitlines() if "cluster state version" not in l]
        dead = sum(1 for l in decisions if re.search(r"missed heartbeats for .*: dead", l))
        promotions = sum(1 for l in decisions if re.search(r"promote .* to primary of", l))
        fmt = lambda v: "never (150 s)" if v is None else f"{v:.1f} s"
        print(f"bulk_flap: {args.docs} docs of ~{args.doc_bytes} B, {args.senders} senders, "
              f"batches of {args.batch}, 1 shard 2 replicas")
        print(f"  load time              {load_s:.1f} s ({len(acked) / max(load_s, 1e-9):.0f} docs/s acked)")
        print(f"  acknowledged           {len(acked)}")
        print(f"  failed items           {sum(failures.values())} {dict(sorted(failures.items()))}")
        print(f"  request errors         {len(errors)}")
        print(f"  node-dead declarations {dead}")
        print(f"  promotions             {promotions}")
        print(f"  primary term           {term_before} -> {term_after}")
        print(f"  health right after     {status_after}; green after {fmt(green_after)}")
        print(f"  read back              {len(acked) - missing - failed_reads} of {len(acked)} "
              f"(missing {missing}, unreadable {failed_reads})")
        lost = missing > 0 or failed_reads > 0
        return 1 if lost else 0
    finally:
        cluster(env, "down", check=False)
        if args.keep:
            print(f"  data and logs kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
