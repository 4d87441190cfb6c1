#!/usr/bin/env python3
"""Failover under a steady write stream (issue 12, item 2).

3 nodes, an index with 1 shard and 2 replicas. A client writes a new document every 5 ms
(PUT /<index>/_doc/<id>, keep-alive connections, open loop: a slow write does not delay the
next one) through a node that does not hold the primary. Each trial sends SIGKILL (mode kill) or
SIGSTOP (mode pause) to the primary's node and measures:

- failover: time from the signal to the first write acknowledged with a _primary_term higher
  than before (and when that write was sent, relative to the signal: < 0 means a write in
  flight at the signal was rerouted);
- writes with no answer within 5 s (late answers and never answered within --patience),
  5xx answers by error type, connection errors;
- read-back: every acknowledged id is read back (_search ids with seq_no_primary_term, checking
  `_shards`, then GET for anything not found) through a live node, right after the trial and
  again through the restored node once green: missing ids and changed (_seq_no, _primary_term);
- from the logs (data/logs): when the coordinator declared the node dead, committed the new
  term, and when the client's node applied that cluster state.

Between trials the node is restarted (kill) or resumed (pause) and the cluster waits for green.

    bench/failover.py --trials 5 --modes kill,pause
"""

import argparse
import asyncio
import collections
import json
import os
import re
import signal
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livebench as lb  # noqa: E402

INDEX = "idx"


def find_primary(cl, nodes_alive):
    """(primary node number, [replica node numbers]) from _cat/shards on a live node."""
    for n in nodes_alive:
        try:
            st, rows = lb.http_call(cl.rest(n), "GET", f"/_cat/shards/{INDEX}?format=json",
                                    timeout=5)
        except OSError:
            continue
        if st != 200 or not isinstance(rows, list):
            continue
        prim = [r["node"] for r in rows if r.get("prirep") == "p" and r.get("state") == "STARTED"]
        reps = [r["node"] for r in rows if r.get("prirep") == "r" and r.get("state") == "STARTED"]
        if len(prim) == 1 and len(reps) == 2:
            num = lambda s: int(s.split("-")[1])  # noqa: E731
            return num(prim[0]), sorted(num(r) for r in reps)
    raise RuntimeError("could not find the primary of the index (_cat/shards)")


class Writer:
    def __init__(self, port, prefix, args):
        self.port, self.prefix, self.args = port, prefix, args
        self.idle = []
        self.records = []
        self.inflight = 0
        self.skipped = 0
        self.stale_retries = 0
        self.old_term = None
        self.first_new = None
        self.new_term = asyncio.Event()
        self.t_sig = None

    async def run(self, stop):
        interval = self.args.interval_ms / 1000.0
        tasks = set()
        seq = 0
        next_t = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            if now < next_t:
                await asyncio.sleep(next_t - now)
            next_t += interval
            late = time.monotonic() - next_t
            if late > interval:  # the loop fell behind: skip, do not burst
                missed = int(late / interval)
                self.skipped += missed
                next_t += missed * interval
            if self.inflight >= self.args.max_inflight:
                self.skipped += 1
                continue
            t = asyncio.create_task(self.write(seq))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            seq += 1
        if tasks:
            await asyncio.wait(tasks, timeout=self.args.patience + 5)
        for c in self.idle:
            c.close()
        self.idle = []

    async def write(self, seq):
        rec = {"id": f"{self.prefix}-{seq}", "sent": time.monotonic(), "done": None,
               "outcome": None, "status": None, "term": None, "seq_no": None, "shards": None}
        self.records.append(rec)
        self.inflight += 1
        body = json.dumps({"n": seq})
        deadline = rec["sent"] + self.args.patience
        conn = self.idle.pop() if self.idle else lb.Conn(self.port)
        try:
            for attempt in (0, 1):
                reused = conn.open and conn.requests > 0
                try:
                    r = await conn.request("PUT", f"/{INDEX}/_doc/{rec['id']}", body,
                                           keepalive=True,
                                           timeout=max(0.01, deadline - time.monotonic()))
                    break
                except lb.HttpError as e:
                    if attempt == 0 and reused and "before a response" in str(e):
                        self.stale_retries += 1  # the server closed an idle keep-alive conn
                        conn = lb.Conn(self.port)
                        continue
                    rec["outcome"] = f"conn: {e}"
                    return
                except asyncio.TimeoutError:
                    rec["outcome"] = "no answer"
                    return
                except OSError as e:
                    rec["outcome"] = f"conn: {type(e).__name__}"
                    return
            rec["done"] = time.monotonic()
            rec["status"] = r.status
            try:
                b = r.json()
            except ValueError:
                b = {}
            if 200 <= r.status < 300:
                rec["outcome"] = "ack"
                rec["term"], rec["seq_no"] = b.get("_primary_term"), b.get("_seq_no")
                rec["shards"] = b.get("_shards")
                if (self.old_term is not None and self.t_sig is not None
                        and rec["term"] is not None and rec["term"] > self.old_term
                        and self.first_new is None):
                    self.first_new = rec
                    self.new_term.set()
            else:
                err = b.get("error") if isinstance(b, dict) else None
                typ = err.get("type") if isinstance(err, dict) else "?"
                rec["outcome"] = f"{r.status} {typ}"
        finally:
            self.inflight -= 1
            if conn.open:
                self.idle.append(conn)


def search_ids(port, ids, timeout=15):
    body = {"query": {"ids": {"values": ids}}, "size": len(ids), "seq_no_primary_term": True}
    st, res = lb.http_call(port, "POST", f"/{INDEX}/_search", body, timeout=timeout)
    if st != 200 or not isinstance(res, dict):
        return None, f"status {st}"
    sh = res.get("_shards", {})
    if sh.get("failed", 1) != 0 or sh.get("successful") != sh.get("total"):
        return None, f"_shards {sh}"
    return {h["_id"]: h for h in res["hits"]["hits"]}, None


def read_back(port, records):
    """Checks every acknowledged write through `port`: dict of counts and examples."""
    out = {"checked": 0, "missing": [], "changed": [], "search_fallbacks": 0,
           "unacked_present": 0, "unacked": 0, "errors": []}
    acks = [r for r in records if r["outcome"] == "ack"]
    unacked = [r for r in records if r["outcome"] != "ack"]
    for group, is_ack in ((acks, True), (unacked, False)):
        for i in range(0, len(group), 250):
            batch = group[i:i + 250]
            try:
                hits, why = search_ids(port, [r["id"] for r in batch])
            except OSError as e:
                hits, why = None, f"{type(e).__name__}"
            if hits is None:
                out["search_fallbacks"] += 1
                out["errors"].append(why)
            for r in batch:
                h = hits.get(r["id"]) if hits is not None else None
                if h is None and (hits is None or is_ack):
                    try:  # a real-time GET before calling it missing
                        st, g = lb.http_call(port, "GET", f"/{INDEX}/_doc/{r['id']}", timeout=10)
                    except OSError as e:
                        out["errors"].append(f"GET {r['id']}: {type(e).__name__}")
                        continue
                    h = g if st == 200 and g.get("found") else None
                    if st not in (200, 404):
                        out["errors"].append(f"GET {r['id']}: {st}")
                        continue
                if not is_ack:
                    out["unacked"] += 1
                    out["unacked_present"] += h is not None
                    continue
                out["checked"] += 1
                if h is None:
                    out["missing"].append(r["id"])
                elif (h.get("_seq_no"), h.get("_primary_term")) != (r["seq_no"], r["term"]):
                    out["changed"].append((r["id"], (r["seq_no"], r["term"]),
                                           (h.get("_seq_no"), h.get("_primary_term"))))
    return out


RE_DEAD = re.compile(r"coordinator: (node-\d+) missed heartbeats for (\S+): dead")
RE_PROMOTE = re.compile(r"promote (node-\d+) to primary of \[" + INDEX + r"\]\[0\].*term (\d+) -> (\d+)")
RE_VERSION = re.compile(r"coordinator: cluster state version (\d+):")


def log_times(cl, wall_sig, victim, client, old_term):
    """Times (s after the signal) read from the logs: dead, new term committed, client applied."""
    res = {"dead": None, "committed": None, "applied": None, "promoted": None}
    lines = lb.read_log(cl.log_path("coordinator"), wall_sig)
    version = None
    promoted_seen = False
    for t, line in lines:
        if t < wall_sig - 0.001:
            continue
        m = RE_DEAD.search(line)
        if m and m.group(1) == f"node-{victim}" and res["dead"] is None:
            res["dead"] = t - wall_sig
        m = RE_PROMOTE.search(line)
        if m and int(m.group(3)) > old_term and not promoted_seen:
            promoted_seen = True
            res["promoted"] = m.group(1)
            continue
        m = RE_VERSION.search(line)
        if m and promoted_seen and version is None:
            version = int(m.group(1))
            res["committed"] = t - wall_sig
    if version is not None:
        pat = re.compile(rf"node-{client} applies cluster state version (\d+)")
        for t, line in lb.read_log(cl.log_path(f"node-{client}"), wall_sig):
            m = pat.search(line)
            if m and int(m.group(1)) >= version:
                res["applied"] = t - wall_sig
                break
    return res


async def run_trial(cl, mode, k, args):
    victim, replicas = find_primary(cl, [n for n in range(1, 4)])
    client = replicas[0]
    pid = cl.pid(victim)
    lb.log(f"trial {mode} #{k}: primary node-{victim} (pid {pid}), client writes via node-{client}")
    w = Writer(cl.rest(client), f"{mode}{k}", args)
    stop = asyncio.Event()
    runner = asyncio.create_task(w.run(stop))
    try:
        await asyncio.sleep(args.warmup)
        terms = [r["term"] for r in w.records if r["outcome"] == "ack"]
        if not terms:
            raise RuntimeError(f"no write acknowledged in {args.warmup}s of warm-up: "
                               f"{collections.Counter(r['outcome'] for r in w.records)}")
        w.old_term = max(terms)
        wall_sig = time.time()
        w.t_sig = time.monotonic()
        os.kill(pid, signal.SIGKILL if mode == "kill" else signal.SIGSTOP)
        try:
            await asyncio.wait_for(w.new_term.wait(), args.failover_deadline)
        except asyncio.TimeoutError:
            pass
        await asyncio.sleep(args.after)
    finally:
        stop.set()
        await runner
    t_sig = w.t_sig
    recs = w.records
    res = {"mode": mode, "trial": k, "victim": victim, "client": client,
           "old_term": w.old_term, "writes": len(recs), "skipped_ticks": w.skipped,
           "stale_retries": w.stale_retries}
    fn = w.first_new
    res["failover"] = None if fn is None else fn["done"] - t_sig
    res["first_new_sent"] = None if fn is None else fn["sent"] - t_sig
    res["new_term"] = None if fn is None else fn["term"]
    res["acks"] = sum(r["outcome"] == "ack" for r in recs)
    res["no_answer_5s"] = sum(r["done"] is None or r["done"] - r["sent"] > 5.0 for r in recs
                              if r["outcome"] == "no answer" or r["done"] is not None)
    res["late"] = sum(r["done"] is not None and r["done"] - r["sent"] > 5.0 for r in recs)
    res["never"] = sum(r["outcome"] == "no answer" for r in recs)
    lats = [r["done"] - r["sent"] for r in recs if r["done"] is not None]
    res["max_latency"] = max(lats) if lats else None
    res["outcomes"] = dict(collections.Counter(r["outcome"] for r in recs if r["outcome"] != "ack"))
    res["shards_not_full"] = sum(1 for r in recs if r["outcome"] == "ack" and r["shards"]
                                 and r["shards"].get("failed", 0) != 0)
    res["logs"] = log_times(cl, wall_sig, victim, client, w.old_term)
    lb.log(f"  failover {lb.fmt_ms(res['failover'])} ms (first new-term write sent at "
           f"{lb.fmt_ms(res['first_new_sent'])} ms), writes {res['writes']}, acks {res['acks']}, "
           f"no answer in 5 s {res['no_answer_5s']}, other outcomes {res['outcomes']}, "
           f"logs {{{', '.join(f'{a}: {lb.fmt_ms(b) if isinstance(b, float) else b}' for a, b in res['logs'].items())}}}")
    rb = read_back(cl.rest(client), recs)
    res["readback"] = rb
    lb.log(f"  read-back via node-{client}: {rb['checked']} acked checked, missing "
           f"{len(rb['missing'])}, changed {len(rb['changed'])}, unacked present "
           f"{rb['unacked_present']}/{rb['unacked']}, fallbacks {rb['search_fallbacks']}")
    # Restore and wait for green.
    t0 = time.monotonic()
    if mode == "kill":
        res["restart_failures"] = cl.restart(victim, deadline_s=args.restore_timeout)
    else:
        os.kill(pid, signal.SIGCONT)
        res["restart_failures"] = []
    cl.wait_green(args.restore_timeout)
    res["restore"] = time.monotonic() - t0
    rb2 = read_back(cl.rest(victim), recs)
    res["readback2"] = rb2
    lb.log(f"  green again after {res['restore']:.1f}s; read-back via node-{victim}: missing "
           f"{len(rb2['missing'])}, changed {len(rb2['changed'])}, fallbacks "
           f"{rb2['search_fallbacks']}")
    return res


def summarize(results, cl, args):
    rows = []
    for r in results:
        rb, rb2, lg = r["readback"], r["readback2"], r["logs"]
        rows.append([r["mode"], r["trial"], f"node-{r['victim']}", lb.fmt_ms(r["failover"]),
                     lb.fmt_ms(r["first_new_sent"]), lb.fmt_ms(lg["dead"]),
                     lb.fmt_ms(lg["committed"]), lb.fmt_ms(lg["applied"]), r["writes"], r["acks"],
                     r["no_answer_5s"], r["late"], r["never"],
                     ", ".join(f"{k}: {v}" for k, v in sorted(r["outcomes"].items())) or "-",
                     f"{len(rb['missing'])}/{len(rb['changed'])}",
                     f"{len(rb2['missing'])}/{len(rb2['changed'])}",
                     lb.fmt_ms(r["max_latency"]), r["skipped_ticks"], f"{r['restore']:.1f}"])
    print("\n### Per trial\n")
    print(lb.md_table(["mode", "#", "primary", "failover ms", "first new-term write sent (ms)",
                       "coord: dead (ms)", "coord: new term committed (ms)",
                       "client node applied (ms)", "writes", "acked", "no answer in 5 s",
                       "answered after 5 s", "never answered (patience)", "non-2xx / errors", "lost/changed (right after)",
                       "lost/changed (after green)", "max write latency ms", "ticks skipped (max in flight)",
                       "green again s"],
                      rows))
    print("\n### Summary\n")
    srows = []
    for mode in args.modes:
        rs = [r for r in results if r["mode"] == mode]
        if not rs:
            continue
        fo = [r["failover"] for r in rs if r["failover"] is not None]
        miss = sum(r["failover"] is None for r in rs)

        def med_max(key):
            v = [r["logs"][key] for r in rs if r["logs"][key] is not None]
            return (f"{lb.fmt_ms(statistics.median(v))} / {lb.fmt_ms(max(v))}" if v else "-")
        fx = collections.Counter()
        for r in rs:
            fx.update({k: v for k, v in r["outcomes"].items() if k[:1] == "5"})
        srows.append([mode, len(rs),
                      f"{lb.fmt_ms(statistics.median(fo)) if fo else '-'} / "
                      f"{lb.fmt_ms(max(fo)) if fo else '-'}" + (f" ({miss} never)" if miss else ""),
                      med_max("dead"), med_max("committed"), med_max("applied"),
                      sum(r["no_answer_5s"] for r in rs), sum(r["never"] for r in rs),
                      ", ".join(f"{k}: {v}" for k, v in sorted(fx.items())) or "0",
                      sum(len(r["readback"]["missing"]) + len(r["readback2"]["missing"])
                          for r in rs),
                      sum(len(r["readback"]["changed"]) + len(r["readback2"]["changed"])
                          for r in rs),
                      sum(r["acks"] for r in rs)])
    print(lb.md_table(["mode", "trials", "failover median / max (ms)",
                       "coord dead median / max (ms)", "new term committed median / max (ms)",
                       "client node applied median / max (ms)", "writes w/o answer in 5 s",
                       "never answered (patience)", "5xx by type", "acked but lost",
                       "acked but changed", "acked writes checked"], srows))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lb.add_common_args(p, trials=5, max_seconds=900)
    p.add_argument("--modes", default="kill,pause", help="comma-separated: kill, pause")
    p.add_argument("--interval-ms", type=float, default=5.0, help="one write every this many ms")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of writes before the signal")
    p.add_argument("--after", type=float, default=1.0,
                   help="seconds of writes after the first new-term ack")
    p.add_argument("--failover-deadline", type=float, default=30.0,
                   help="give up waiting for a new-term ack after this many seconds")
    p.add_argument("--patience", type=float, default=40.0,
                   help="a write still unanswered after this many seconds is abandoned")
    p.add_argument("--max-inflight", type=int, default=400)
    p.add_argument("--restore-timeout", type=float, default=90.0)
    p.add_argument("--json", help="also write the raw results to this file")
    args = p.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    for m in args.modes:
        if m not in ("kill", "pause"):
            p.error(f"unknown mode {m}")
    lb.install_deadline(args.max_seconds)
    lb.log(f"load average at start: {lb.loadavg()}")
    lb.raise_nofile(args.max_inflight + 100)
    cl = lb.Cluster(args, nodes=3)
    results = []
    with lb.measured_run(cl):
        cl.up()
        lb.create_index(cl.rest(1), INDEX, 1, 2)

        async def all_trials():
            for mode in args.modes:
                for k in range(1, args.trials + 1):
                    results.append(await run_trial(cl, mode, k, args))
        asyncio.run(all_trials())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    if results:
        summarize(results, cl, args)
    lb.print_events(cl)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
