#!/usr/bin/env python3
"""Bounded memory, disk and restart time under a steady load (issue 17). Standard library only.

Two measurements, each on a cluster of its own (3 nodes, scripts/cluster.sh, data wiped at
start, every process stopped at the end, a hard --max-seconds deadline):

  bench/soak.py memory   idle RSS of each node, then seqsim-loadgen bulk loads --docs documents
                         of --doc-bytes into an index of 1 shard 2 replicas, then RSS again,
                         against the goal RSS <= 3 x source size + idle RSS.
  bench/soak.py soak     --minutes of steady writes at --rate operations/s over --docs ids
                         (index of a new or an existing id, or delete: --delete-percent), sent
                         as _bulk requests of --batch items by one sender, each request waited
                         for (so the acknowledged order is the order applied); every minute a
                         row: node RSS, data-directory size, ops done, errors; at the end a node
                         is restarted (SIGKILL, start) and the time until it answers and until
                         the index is green again is printed; then every id is read back
                         (after a _refresh: _search ids, 1,000 at a time) and checked against the last
                         acknowledged operation on it (ids with an unanswered or failed item are
                         skipped and counted).

    python3 bench/soak.py soak --minutes 5
    python3 bench/soak.py memory --docs 200000

Short runs only on a shared machine (a few minutes); a 30-minute run is --minutes 30.
"""

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livebench as lb  # noqa: E402

INDEX = "soak"


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def dir_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total / (1024.0 * 1024.0)


def translog_files(path):
    n = 0
    for _, _, files in os.walk(path):
        n += sum(1 for f in files if f.startswith("translog"))
    return n


def node_row(cl):
    cells = []
    for n in range(1, cl.nodes + 1):
        try:
            pid = cl.pid(n)
        except OSError:
            pid = None
        rss = rss_mib(pid) if pid else None
        data = os.path.join(cl.args.data, f"node-{n}")
        cells.append((rss, dir_mib(data), translog_files(data)))
    return cells


def fmt_nodes(cells):
    return " / ".join("-" if r is None else f"{r:.0f}" for r, _, _ in cells), \
        " / ".join(f"{d:.1f}" for _, d, _ in cells), \
        " / ".join(str(t) for _, _, t in cells)


class BulkSender:
    """One keep-alive connection per node, round-robin; one request at a time."""

    def __init__(self, cl):
        self.cl = cl
        self.conns = {}
        self.next = 0

    def _conn(self, n):
        c = self.conns.get(n)
        if c is None:
            c = http.client.HTTPConnection(lb.HOST, self.cl.rest(n), timeout=10)
            c.connect()
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, lb.LINGER0)
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conns[n] = c
        return c

    def bulk(self, body, nodes):
        n = nodes[self.next % len(nodes)]
        self.next += 1
        try:
            c = self._conn(n)
            c.request("POST", "/_bulk", body=body,
                      headers={"Content-Type": "application/x-ndjson"})
            r = c.getresponse()
            raw = r.read()
            return r.status, json.loads(raw)
        except (OSError, http.client.HTTPException, ValueError) as e:
            c = self.conns.pop(n, None)
            if c is not None:
                c.close()
            return None, str(e)

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns.clear()


def read_back(cl, ids, port_node=1):
    """{id: source dict} of every found id among `ids` (None if a lookup failed)."""
    found = {}
    ids = list(ids)
    # Search reads each copy's last refresh: make every acknowledged write searchable first.
    st, body = lb.http_call(cl.rest(port_node), "POST", f"/{INDEX}/_refresh", None, timeout=60)
    if st != 200:
        raise RuntimeError(f"_refresh: {st} {str(body)[:300]}")
    for i in range(0, len(ids), 1000):
        chunk = ids[i:i + 1000]
        st, body = lb.http_call(cl.rest(port_node), "POST", f"/{INDEX}/_search",
                                {"query": {"ids": {"values": chunk}}, "size": len(chunk)},
                                timeout=60)
        if st != 200:
            raise RuntimeError(f"_search ids: {st} {str(body)[:300]}")
        for hit in body["hits"]["hits"]:
            found[hit["_id"]] = hit["_source"]
    return found


def cmd_memory(args):
    cl = lb.Cluster(args, 3)
    rows = []
    with lb.measured_run(cl):
        cl.up()
        idle = node_row(cl)
        lb.log(f"idle RSS (MiB): {fmt_nodes(idle)[0]}; load {lb.loadavg()}")
        loadgen = os.path.join(cl.bin, "seqsim-loadgen")
        nodes = ",".join(f"http://{lb.HOST}:{cl.rest(n)}" for n in range(1, 4))
        t0 = time.monotonic()
        p = subprocess.run([loadgen, "bulk", f"--nodes={nodes}", f"--index={INDEX}",
                            f"--docs={args.docs}", f"--doc_bytes={args.doc_bytes}",
                            "--batch=1000", "--senders=4", "--shards=1", "--replicas=2"],
                           capture_output=True, text=True, timeout=args.max_seconds)
        lb.log(f"loadgen bulk ({time.monotonic() - t0:.1f}s): {p.stdout.strip()[-400:]}")
        if p.returncode != 0:
            raise RuntimeError(f"loadgen failed: {p.stderr[-800:]}")
        time.sleep(2)
        after = node_row(cl)
        source_mib = args.docs * args.doc_bytes / (1024.0 * 1024.0)
        for n in range(3):
            idle_rss, after_rss = idle[n][0], after[n][0]
            goal = 3 * source_mib + (idle_rss or 0)
            rows.append([f"node-{n + 1}", f"{idle_rss:.0f}", f"{after_rss:.0f}",
                         f"{after_rss - idle_rss:.0f}", f"{source_mib:.1f}",
                         f"{(after_rss - idle_rss) / source_mib:.2f}", f"{goal:.0f}",
                         "yes" if after_rss <= goal else "no", f"{after[n][1]:.1f}"])
        lb.log(f"load average: {lb.loadavg()}")
    print(f"\n## Memory after bulk-loading {args.docs} documents of {args.doc_bytes} B "
          f"(1 shard, 2 replicas), load {lb.loadavg()}\n")
    print(lb.md_table(["node", "idle RSS MiB", "RSS after MiB", "growth MiB", "source MiB",
                       "growth / source", "goal MiB (3x source + idle)", "met",
                       "data dir MiB"], rows))
    lb.print_events(cl)


def cmd_soak(args):
    cl = lb.Cluster(args, 3)
    rng = random.Random(args.seed)
    model = {}  # id -> value (int) or None (deleted): the last acknowledged operation
    unknown = set()  # ids with an item whose outcome is not known
    minute_rows = []
    stats = {"ops": 0, "acked": 0, "item_errors": 0, "request_errors": 0}
    restart = {}
    check = {}
    pad = "x" * max(0, args.doc_bytes - 40)
    with lb.measured_run(cl):
        cl.up()
        lb.create_index(cl.rest(1), INDEX, 1, 2)
        sender = BulkSender(cl)
        start = time.monotonic()
        end = start + args.minutes * 60
        next_row = start
        value = 0
        period = args.batch / float(args.rate)
        next_send = start
        row_ops = 0
        while True:
            now = time.monotonic()
            if now >= next_row:
                cells = node_row(cl)
                rss, disk, files = fmt_nodes(cells)
                minute = round((now - start) / 60)
                minute_rows.append([minute, rss, disk, files, stats["acked"],
                                    stats["item_errors"] + stats["request_errors"],
                                    lb.loadavg()])
                lb.log(f"minute {minute}: RSS MiB {rss}; data MiB {disk}; translog files "
                       f"{files}; acked {stats['acked']}; errors "
                       f"{stats['item_errors'] + stats['request_errors']}; load {lb.loadavg()}")
                next_row += 60
                row_ops = 0
            if now >= end:
                break
            if now < next_send:
                time.sleep(min(next_send - now, max(0.0, next_row - now)))
                continue
            next_send += period
            if next_send < now - 1:  # fell behind: do not try to catch up by bursting
                next_send = now
            lines = []
            ops = []
            for _ in range(args.batch):
                key = f"d{rng.randrange(args.docs)}"
                if rng.randrange(100) < args.delete_percent:
                    lines.append(json.dumps({"delete": {"_index": INDEX, "_id": key}}))
                    ops.append((key, None))
                else:
                    value += 1
                    lines.append(json.dumps({"index": {"_index": INDEX, "_id": key}}))
                    lines.append(json.dumps({"v": value, "pad": pad}))
                    ops.append((key, value))
            body = "\n".join(lines) + "\n"
            st, reply = sender.bulk(body, [1, 2, 3])
            stats["ops"] += len(ops)
            row_ops += len(ops)
            if st != 200 or not isinstance(reply, dict) or "items" not in reply:
                stats["request_errors"] += 1
                for key, _ in ops:
                    unknown.add(key)
                continue
            for (key, v), item in zip(ops, reply["items"]):
                result = next(iter(item.values()))
                status = result.get("status", 0)
                if 200 <= status < 300 or (v is None and status == 404):
                    model[key] = v
                    stats["acked"] += 1
                else:
                    stats["item_errors"] += 1
                    unknown.add(key)
        sender.close()
        # Restart of a node at the end: SIGKILL, start, time to answer and to green.
        victim = 2
        t0 = time.monotonic()
        cl.restart(victim)
        restart["answers_s"] = time.monotonic() - t0
        cl.wait_green(timeout_s=120)
        restart["green_s"] = time.monotonic() - t0
        lb.log(f"node-{victim} restarted: answers after {restart['answers_s']:.2f}s, "
               f"index green after {restart['green_s']:.2f}s")
        cells = node_row(cl)
        rss, disk, files = fmt_nodes(cells)
        minute_rows.append(["after restart", rss, disk, files, stats["acked"],
                            stats["item_errors"] + stats["request_errors"], lb.loadavg()])
        # Every acknowledged write, read back through the restarted node.
        checked = [k for k in model if k not in unknown]
        found = read_back(cl, checked, port_node=victim)
        wrong = []
        for key in checked:
            want = model[key]
            got = found.get(key)
            if want is None:
                if got is not None:
                    wrong.append(f"{key}: deleted, found {got.get('v')}")
            elif got is None or got.get("v") != want:
                wrong.append(f"{key}: want v={want}, got {None if got is None else got.get('v')}")
        check = {"checked": len(checked), "skipped": len(unknown), "wrong": wrong}
        lb.log(f"read back {len(checked)} ids ({len(unknown)} skipped as unknown): "
               f"{len(wrong)} wrong")
    print(f"\n## Soak: {args.minutes} min at {args.rate} ops/s target over {args.docs} ids "
          f"({args.delete_percent}% deletes, _bulk of {args.batch}, 1 shard 2 replicas)\n")
    elapsed = max(1e-9, args.minutes * 60)
    print(f"operations sent {stats['ops']} ({stats['ops'] / elapsed:.0f}/s), acknowledged "
          f"{stats['acked']}, failed items {stats['item_errors']}, failed requests "
          f"{stats['request_errors']}\n")
    print(lb.md_table(["minute", "RSS MiB node-1/2/3", "data dir MiB", "translog files",
                       "acked ops", "errors", "load average"], minute_rows))
    if restart:
        print(f"\nrestart of node-2 (SIGKILL, start): answers after {restart['answers_s']:.2f} s,"
              f" index green after {restart.get('green_s', float('nan')):.2f} s")
    if check:
        print(f"\nread-back: {check['checked']} ids checked, {check['skipped']} skipped "
              f"(an item with no definite answer), {len(check['wrong'])} wrong")
        for w in check["wrong"][:20]:
            print(f"- {w}")
    lb.print_events(cl)
    if check and check["wrong"]:
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    soak = sub.add_parser("soak", help="steady writes, a row a minute, a restart, a check")
    lb.add_common_args(soak, trials=1, max_seconds=1200)
    soak.add_argument("--minutes", type=float, default=5)
    soak.add_argument("--rate", type=int, default=2000, help="operations per second")
    soak.add_argument("--docs", type=int, default=100000, help="distinct ids")
    soak.add_argument("--batch", type=int, default=100, help="items per _bulk request")
    soak.add_argument("--doc-bytes", type=int, default=200)
    soak.add_argument("--delete-percent", type=int, default=20)
    soak.add_argument("--seed", type=int, default=1)
    mem = sub.add_parser("memory", help="RSS after a bulk load")
    lb.add_common_args(mem, trials=1, max_seconds=600)
    mem.add_argument("--docs", type=int, default=200000)
    mem.add_argument("--doc-bytes", type=int, default=200)
    args = parser.parse_args()
    if args.cmd == "soak" and args.minutes * 60 + 300 > args.max_seconds:
        args.max_seconds = args.minutes * 60 + 300
    lb.install_deadline(args.max_seconds)
    if args.cmd == "memory":
        cmd_memory(args)
    else:
        cmd_soak(args)


if __name__ == "__main__":
    main()
