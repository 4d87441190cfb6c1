#!/usr/bin/env python3
"""REST serving under idle keep-alive connections and waiting requests (issue 12, item 4).

On one node: open --idle keep-alive connections (each sends one `GET /`, reads the answer and
stays open; one the server closes is reopened), then --waiting connections that each send a
request that waits server-side (`GET /_cluster/health/nosuch?wait_for_status=green&timeout=20s`,
sent again when answered). Meanwhile probe `GET /` every 20 ms, on a fresh connection each time
(open loop) and on one kept connection (the next probe goes when the previous answered), for
--probe-seconds; a probe gets --probe-timeout seconds. A baseline of probes runs first, with no
load. Reports p50/p99/max of the probe latency and how many probes failed or timed out.

    bench/rest_stall.py --trials 3
"""

import argparse
import asyncio
import collections
import os
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livebench as lb  # noqa: E402

WAIT_PATH = "/_cluster/health/nosuch?wait_for_status=green&timeout=20s"


class Stats:
    def __init__(self):
        self.lat = []
        self.failed = collections.Counter()
        self.timed_out = 0
        self.sent = 0

    def row(self, label):
        return [label, self.sent, len(self.lat), lb.fmt_ms(lb.percentile(self.lat, 50)),
                lb.fmt_ms(lb.percentile(self.lat, 99)), lb.fmt_ms(max(self.lat) if self.lat else None),
                self.timed_out,
                sum(self.failed.values()),
                ", ".join(f"{k}: {v}" for k, v in sorted(self.failed.items())) or "-"]


async def probe_once(conn, stats, timeout, keepalive):
    t0 = time.monotonic()
    stats.sent += 1
    try:
        r = await conn.request("GET", "/", keepalive=keepalive, timeout=timeout)
    except asyncio.TimeoutError:
        stats.timed_out += 1
        return
    except lb.HttpError as e:
        stats.failed[str(e)] += 1
        return
    except OSError as e:
        stats.failed[type(e).__name__] += 1
        return
    if r.status != 200:
        stats.failed[f"status {r.status}"] += 1
        return
    stats.lat.append(time.monotonic() - t0)


async def probes(port, seconds, interval, timeout, kept_conn):
    """Runs both probe kinds for `seconds`; returns (fresh Stats, kept Stats, kept reconnects)."""
    fresh, kept = Stats(), Stats()
    end = time.monotonic() + seconds
    tasks = set()

    async def fresh_loop():
        nxt = time.monotonic()
        while time.monotonic() < end:
            c = lb.Conn(port)
            t = asyncio.create_task(probe_once(c, fresh, timeout, keepalive=False))
            tasks.add(t)
            t.add_done_callback(lambda t, c=c: (tasks.discard(t), c.close()))
            nxt += interval
            await asyncio.sleep(max(0, nxt - time.monotonic()))

    reconnects = 0

    async def kept_loop():
        nonlocal reconnects
        nxt = time.monotonic()
        while time.monotonic() < end:
            if not kept_conn.open:
                reconnects += 1
            await probe_once(kept_conn, kept, timeout, keepalive=True)
            nxt += interval
            await asyncio.sleep(max(0, nxt - time.monotonic()))

    await asyncio.gather(fresh_loop(), kept_loop())
    if tasks:
        await asyncio.wait(tasks, timeout=timeout + 2)
    return fresh, kept, reconnects


class Load:
    """The idle keep-alive connections and the waiting requests."""

    def __init__(self, port, args):
        self.port, self.args = port, args
        self.stop = False
        self.conns = []
        self.c = collections.Counter()
        self.tasks = []
        self.sem = asyncio.Semaphore(args.connect_concurrency)

    async def idle_one(self):
        conn = lb.Conn(self.port)
        self.conns.append(conn)
        first = True
        while not self.stop:
            if not conn.open:
                if not first:
                    self.c["idle reopened"] += 1
                first = False
                try:
                    async with self.sem:
                        await conn.connect(self.args.probe_timeout)
                    self.c["idle connected"] += 1
                    # No client timeout: the connection just stays open, answered or not.
                    r = await conn.request("GET", "/", keepalive=True, timeout=None)
                    self.c[f"idle first GET {r.status}"] += 1
                except asyncio.TimeoutError:
                    self.c["idle connect timed out"] += 1
                    conn.close()
                except (OSError, lb.HttpError) as e:
                    self.c[f"idle error {type(e).__name__}"] += 1
                    conn.close()
                if not conn.open:
                    await asyncio.sleep(0.5)
                continue
            # Idle: notice if the server closes the connection.
            try:
                data = await conn.reader.read(1)
                if not data:
                    self.c["idle closed by server"] += 1
                    conn.close()
                else:
                    self.c["idle: unexpected bytes"] += 1
                    conn.close()
            except OSError:
                self.c["idle reset by server"] += 1
                conn.close()

    async def waiting_one(self):
        conn = lb.Conn(self.port)
        self.conns.append(conn)
        while not self.stop:
            try:
                if not conn.open:
                    async with self.sem:
                        await conn.connect(self.args.probe_timeout)
                t0 = time.monotonic()
                r = await conn.request("GET", WAIT_PATH, keepalive=True, timeout=30)
                self.c[f"waiting answered {r.status}"] += 1
                if time.monotonic() - t0 < 1.0:
                    await asyncio.sleep(0.5)  # answered at once: do not spin
            except asyncio.TimeoutError:
                self.c["waiting: no answer in 30 s"] += 1
            except (OSError, lb.HttpError) as e:
                self.c[f"waiting error {type(e).__name__}"] += 1
                await asyncio.sleep(0.5)

    def start(self):
        for _ in range(self.args.idle):
            self.tasks.append(asyncio.create_task(self.idle_one()))
        for _ in range(self.args.waiting):
            self.tasks.append(asyncio.create_task(self.waiting_one()))

    def open_count(self):
        return sum(c.open for c in self.conns)

    async def close(self):
        self.stop = True
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for c in self.conns:
            c.close()


async def wait_responsive(port, deadline_s):
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        c = lb.Conn(port)
        try:
            r = await c.request("GET", "/", keepalive=False, timeout=2)
            if r.status == 200:
                return time.monotonic() - t0
        except (asyncio.TimeoutError, OSError, lb.HttpError):
            pass
        finally:
            c.close()
        await asyncio.sleep(0.2)
    return None


async def run_trial(cl, port, k, args):
    lb.log(f"trial {k}: baseline probes for {args.baseline_seconds}s")
    kept = lb.Conn(port)
    base_f, base_k, _ = await probes(port, args.baseline_seconds, args.interval_ms / 1000,
                                     args.probe_timeout, kept)
    load = Load(port, args)
    wall0 = time.time()
    t0 = time.monotonic()
    load.start()
    # Let the connections open (bounded), then probe.
    target = args.idle + args.waiting
    while time.monotonic() - t0 < args.setup_seconds and load.open_count() < target:
        await asyncio.sleep(0.1)
    opened, setup = load.open_count(), time.monotonic() - t0
    lb.log(f"  {opened}/{target} load connections open after {setup:.1f}s; probing for "
           f"{args.probe_seconds}s")
    try:
        f, kp, rec = await probes(port, args.probe_seconds, args.interval_ms / 1000,
                                  args.probe_timeout, kept)
        still_open = load.open_count()
    finally:
        await load.close()
        kept.close()
    recovery = await wait_responsive(port, args.recovery_seconds)
    node = lb.proc_summary(cl.pid(1))
    dead, promoted = cl.flaps(wall0)
    if dead:
        node += f"; coordinator declared node-1 dead {dead} time(s)"
    if recovery is None:
        cl.events.append(f"trial {k}: node-1 did not answer GET / within {args.recovery_seconds:.0f}s"
                         f" after every load connection was closed (node-1: {node})")
    lb.log(f"  fresh p99 {lb.fmt_ms(lb.percentile(f.lat, 99))} ms, kept p99 "
           f"{lb.fmt_ms(lb.percentile(kp.lat, 99))} ms; timeouts {f.timed_out}/{kp.timed_out}; "
           f"load {dict(load.c)}; GET / answers again {lb.fmt_ms(recovery)} ms after closing; node-1 {node}")
    return {"trial": k, "base_fresh": base_f, "base_kept": base_k, "fresh": f, "kept": kp,
            "kept_reconnects": rec, "opened": opened, "setup": setup, "still_open": still_open,
            "load": dict(load.c), "recovery": recovery, "node": node}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lb.add_common_args(p, trials=3, max_seconds=600)
    p.add_argument("--nodes", type=int, default=1, help="cluster size; node-1 is probed")
    p.add_argument("--idle", type=int, default=1000, help="idle keep-alive connections")
    p.add_argument("--waiting", type=int, default=500, help="connections with a waiting request")
    p.add_argument("--interval-ms", type=float, default=20.0)
    p.add_argument("--probe-seconds", type=float, default=5.0)
    p.add_argument("--baseline-seconds", type=float, default=1.0)
    p.add_argument("--probe-timeout", type=float, default=10.0)
    p.add_argument("--setup-seconds", type=float, default=10.0,
                   help="at most this long to open the load connections")
    p.add_argument("--connect-concurrency", type=int, default=200)
    p.add_argument("--recovery-seconds", type=float, default=60.0)
    args = p.parse_args()
    lb.install_deadline(args.max_seconds)
    lb.log(f"load average at start: {lb.loadavg()}")
    nofile = lb.raise_nofile(args.idle + args.waiting + 600)
    cl = lb.Cluster(args, nodes=args.nodes)
    results = []
    with lb.measured_run(cl):
        cl.up()
        port = cl.rest(1)
        try:
            with open(f"/proc/{cl.pid(1)}/limits") as fh:
                lim = [l for l in fh if l.startswith("Max open files")]
            lb.log(f"node-1 {lim[0].strip() if lim else 'limits unknown'}")
        except OSError:
            pass

        async def all_trials():
            for k in range(1, args.trials + 1):
                results.append(await run_trial(cl, port, k, args))
                if results[-1]["recovery"] is None and k < args.trials:
                    # A wedged node would spoil the next trial's baseline: start afresh.
                    lb.log("node-1 still wedged: restarting the cluster for the next trial")
                    cl.events.append(f"trial {k}: cluster restarted before the next trial")
                    cl.down()
                    cl.up()
        asyncio.run(all_trials())
    heads = ["trial / probe", "sent", "answered", "p50 ms", "p99 ms", "max ms",
             f"timed out ({args.probe_timeout:.0f} s)", "failed", "failures"]
    rows = []
    for r in results:
        rows.append(r["base_fresh"].row(f"{r['trial']} baseline, fresh conn"))
        rows.append(r["base_kept"].row(f"{r['trial']} baseline, kept conn"))
        rows.append(r["fresh"].row(f"{r['trial']} loaded, fresh conn"))
        rows.append(r["kept"].row(f"{r['trial']} loaded, kept conn ({r['kept_reconnects']} reconnects)"))
    if results:
        allf, allk = Stats(), Stats()
        for r in results:
            for agg, s in ((allf, r["fresh"]), (allk, r["kept"])):
                agg.lat += s.lat
                agg.sent += s.sent
                agg.timed_out += s.timed_out
                agg.failed.update(s.failed)
        rows.append(allf.row("**all trials, loaded, fresh conn**"))
        rows.append(allk.row("**all trials, loaded, kept conn**"))
        print(f"\n### GET / on node-1 with {args.idle} idle keep-alive connections and "
              f"{args.waiting} waiting requests (RLIMIT_NOFILE {nofile})\n")
        print(lb.md_table(heads, rows))
        print()
        print(lb.md_table(["trial", "load conns open before probing", "open at end of probing",
                           "GET / answers again after closing (ms)", "node-1 then",
                           "load events"],
                          [[r["trial"], f"{r['opened']} ({r['setup']:.1f}s)", r["still_open"],
                            lb.fmt_ms(r["recovery"]), r["node"],
                            ", ".join(f"{k}: {v}" for k, v in sorted(r["load"].items()))]
                           for r in results]))
    lb.print_events(cl)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
