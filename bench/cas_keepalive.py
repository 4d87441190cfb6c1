#!/usr/bin/env python3
"""Read-then-CAS throughput with and without keep-alive (issue 12, item 4).

3 nodes, an index with 1 shard and 2 replicas, --docs documents. --workers client workers
(asyncio, one process), worker i talking to node (i mod 3) + 1, each doing cycles for
--seconds per round: GET a random document, then PUT it with if_seq_no/if_primary_term from
the GET (a 404 creates it with op_type=create). Rounds alternate between keep-alive (one
connection per worker, reused) and a new connection per request (`Connection: close`), --trials
rounds of each. Reports cycles/s, CAS latency p50/p99/max, 409s and errors per mode, and the
CPU time of the client (this process) and of the nodes, to show the client is not the limit.

    bench/cas_keepalive.py --trials 3
"""

import argparse
import asyncio
import collections
import json
import os
import random
import statistics
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import livebench as lb  # noqa: E402

INDEX = "cas"


class Round:
    def __init__(self, mode):
        self.mode = mode
        self.cycles = 0
        self.cas_ok = 0
        self.created = 0
        self.conflicts = 0
        self.errors = collections.Counter()
        self.cas_lat = []
        self.get_lat = []
        self.connects = 0


async def worker(i, port, keepalive, rnd, end, args, rng):
    conn = lb.Conn(port)

    async def req(method, path, body=None):
        if not conn.open:
            rnd.connects += 1
        return await conn.request(method, path, body, keepalive=keepalive, timeout=args.timeout)

    n = 0
    try:
        while time.monotonic() < end:
            doc = rng.randrange(args.docs)
            t0 = time.monotonic()
            try:
                g = await req("GET", f"/{INDEX}/_doc/{doc}")
                rnd.get_lat.append(time.monotonic() - t0)
                n += 1
                body = json.dumps({"w": i, "n": n})
                if g.status == 200:
                    gb = g.json()
                    path = (f"/{INDEX}/_doc/{doc}?if_seq_no={gb['_seq_no']}"
                            f"&if_primary_term={gb['_primary_term']}")
                elif g.status == 404:
                    path = f"/{INDEX}/_doc/{doc}?op_type=create"
                else:
                    rnd.errors[f"GET {g.status}"] += 1
                    continue
                t1 = time.monotonic()
                r = await req("PUT", path, body)
                t2 = time.monotonic()
            except asyncio.TimeoutError:
                rnd.errors["timeout"] += 1
                continue
            except lb.HttpError as e:
                rnd.errors[str(e)] += 1
                continue
            except OSError as e:
                rnd.errors[type(e).__name__] += 1
                continue
            if t2 > end:
                break  # finished after the round: not counted
            rnd.cas_lat.append(t2 - t1)
            rnd.cycles += 1
            if r.status in (200, 201):
                rnd.cas_ok += 1
                rnd.created += r.status == 201
            elif r.status == 409:
                rnd.conflicts += 1
            else:
                try:
                    typ = r.json().get("error", {}).get("type", "?")
                except (ValueError, AttributeError):
                    typ = "?"
                rnd.errors[f"PUT {r.status} {typ}"] += 1
    finally:
        conn.close()


async def run_round(cl, mode, k, args, seed):
    rnd = Round(mode)
    keepalive = mode == "keep-alive"
    wall0 = time.time()
    cpu0 = lb.self_cpu_seconds()
    node_cpu0 = {n: lb.proc_cpu_seconds(cl.pid(n)) for n in range(1, 4)}
    t0 = time.monotonic()
    end = t0 + args.seconds
    rng = random.Random(seed)
    tasks = [asyncio.create_task(worker(i, cl.rest(i % 3 + 1), keepalive, rnd, end, args,
                                        random.Random(rng.random())))
             for i in range(args.workers)]
    done, pending = await asyncio.wait(tasks, timeout=args.seconds + args.timeout + 5)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            rnd.errors[f"worker crashed: {t.exception()!r}"] += 1
    wall = time.monotonic() - t0
    rnd.client_cpu = lb.self_cpu_seconds() - cpu0
    rnd.wall = wall
    rnd.node_cpu = sum((lb.proc_cpu_seconds(cl.pid(n)) or 0) - (node_cpu0[n] or 0)
                       for n in range(1, 4))
    rnd.rate = rnd.cycles / args.seconds
    rnd.dead, rnd.promoted = cl.flaps(wall0, time.time())
    lb.log(f"round {k} {mode}: {rnd.rate:.0f} cycles/s, CAS p50 "
           f"{lb.fmt_ms(lb.percentile(rnd.cas_lat, 50))} p99 {lb.fmt_ms(lb.percentile(rnd.cas_lat, 99))}"
           f" max {lb.fmt_ms(max(rnd.cas_lat) if rnd.cas_lat else None)} ms, 409 {rnd.conflicts}, "
           f"errors {dict(rnd.errors)}, connects {rnd.connects}, client CPU "
           f"{rnd.client_cpu:.1f}s / {wall:.1f}s, nodes CPU {rnd.node_cpu:.1f}s, node-dead "
           f"declarations {rnd.dead}, promotions {rnd.promoted}")
    await asyncio.sleep(args.pause)
    return rnd


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    lb.add_common_args(p, trials=3, max_seconds=600)
    p.add_argument("--workers", type=int, default=64)
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0, help="length of one round")
    p.add_argument("--timeout", type=float, default=10.0, help="client timeout per request")
    p.add_argument("--pause", type=float, default=1.0, help="seconds between rounds")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    lb.install_deadline(args.max_seconds)
    lb.log(f"load average at start: {lb.loadavg()}")
    lb.raise_nofile(args.workers * 2 + 200)
    cl = lb.Cluster(args, nodes=3)
    rounds = []
    with lb.measured_run(cl):
        cl.up()
        lb.create_index(cl.rest(1), INDEX, 1, 2)
        # Every document exists before the first round, so that all rounds do the same work.
        todo = list(range(args.docs))
        for attempt in range(1, 6):
            lines = "".join(f'{{"index":{{"_id":"{d}"}}}}\n{{"w":-1,"n":0}}\n' for d in todo)
            st, res = lb.http_call(cl.rest(1), "POST", f"/{INDEX}/_bulk", lines.encode(),
                                   timeout=60)
            if st != 200 or not isinstance(res, dict):
                raise RuntimeError(f"bulk load: {st} {str(res)[:300]}")
            failed = [(d, it["index"]) for d, it in zip(todo, res["items"])
                      if it["index"].get("status", 500) >= 300]
            if not failed:
                break
            why = collections.Counter(f"{it.get('status')} {it.get('error', {}).get('type')}"
                                      for _, it in failed)
            cl.events.append(f"bulk load attempt {attempt}: {len(failed)} of {len(todo)} items "
                             f"failed: {dict(why)}")
            lb.log(cl.events[-1])
            todo = [d for d, _ in failed]
            time.sleep(1)
        else:
            raise RuntimeError(f"bulk load: {len(todo)} docs still failing after 5 attempts")
        async def all_rounds():
            for k in range(1, args.trials + 1):
                for mode in ("keep-alive", "new connection"):
                    rounds.append(await run_round(cl, mode, k, args, args.seed * 1000 + len(rounds)))
        asyncio.run(all_rounds())
    if rounds:
        print(f"\n### Read-then-CAS, {args.workers} workers, {args.docs} docs, "
              f"{args.seconds:.0f} s rounds\n")
        heads = ["round", "mode", "cycles/s", "CAS p50 ms", "CAS p99 ms", "CAS max ms", "409s",
                 "errors", "connections opened", "client CPU s / wall s", "nodes' CPU s",
                 "node-dead declarations / promotions (coordinator log)"]
        rows = [[i // 2 + 1, r.mode, f"{r.rate:.0f}", lb.fmt_ms(lb.percentile(r.cas_lat, 50)),
                 lb.fmt_ms(lb.percentile(r.cas_lat, 99)),
                 lb.fmt_ms(max(r.cas_lat) if r.cas_lat else None), r.conflicts,
                 ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items())) or "0",
                 r.connects, f"{r.client_cpu:.1f} / {r.wall:.1f}", f"{r.node_cpu:.1f}",
                 f"{r.dead} / {r.promoted}"]
                for i, r in enumerate(rounds)]
        print(lb.md_table(heads, rows))
        print()
        srows = []
        for mode in ("keep-alive", "new connection"):
            rs = [r for r in rounds if r.mode == mode]
            if not rs:
                continue
            lat = [x for r in rs for x in r.cas_lat]
            errs = sum(sum(r.errors.values()) for r in rs)
            srows.append([mode, len(rs), f"{statistics.median(r.rate for r in rs):.0f}",
                          f"{min(r.rate for r in rs):.0f}-{max(r.rate for r in rs):.0f}",
                          lb.fmt_ms(lb.percentile(lat, 50)), lb.fmt_ms(lb.percentile(lat, 99)),
                          lb.fmt_ms(max(lat) if lat else None), sum(r.conflicts for r in rs),
                          errs,
                          f"{sum(r.client_cpu for r in rs) / sum(r.wall for r in rs) * 100:.0f}%"])
        print(lb.md_table(["mode", "rounds", "cycles/s (median)", "cycles/s (range)",
                           "CAS p50 ms", "CAS p99 ms", "CAS max ms", "409s", "errors",
                           "client CPU (of one core)"], srows))
    lb.print_events(cl)
    return 0 if rounds else 1


if __name__ == "__main__":
    sys.exit(main())
