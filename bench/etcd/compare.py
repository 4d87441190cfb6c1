#!/usr/bin/env python3
"""Issue 15: seqsim against etcd, side by side, in one run (Python 3 standard library only).

Installs Debian's etcd-server if `etcd` is missing (apt-get, only here: not part of CI),
starts a 3-member etcd on loopback (client ports --etcd-base+1..3, peer ports
--etcd-base+11..13, data in --etcd-data, fsync per commit as etcd always does) and a 3-node
seqsim cluster (scripts/cluster.sh up on --rest-base/--grpc-base/--coord-port, data in --data),
then runs build/bin/seqsim-loadgen against both, alternating which goes first, for --rounds
rounds:

  p1        64 clients, read + CAS on 1,000 keys for 10 s (seqsim: 1 shard, 2 replicas);
            every p1 round runs before the first bulk round
  bulk      200k docs x 200 B, batches of 1,000, 4 senders (etcd: one Txn of puts per batch,
            --max-txn-ops 1000; seqsim: 3 shards 1 replica, and 1 shard 2 replicas)
  failover  --failover-trials per system: a write every 5 ms, SIGKILL of the leader (etcd) /
            the primary's node (seqsim), time to the first ack under a higher term; the
            victim is restarted between trials

and prints one markdown table of medians with the ratios seqsim / etcd, node RSS, and the
load average at start and end. Everything it started is stopped at the end (also on Ctrl-C).
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import livebench  # noqa: E402
from livebench import log, loadavg  # noqa: E402

HOST = "127.0.0.1"


def ensure_etcd():
    # etcd-server brings the server only; etcdctl (the health check) is in etcd-client.
    if shutil.which("etcd") and shutil.which("etcdctl"):
        return
    log("etcd or etcdctl not found: apt-get install etcd-server etcd-client (Debian's etcd 3.4)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "etcd-server",
                    "etcd-client"], check=True, env=env)


class Etcd:
    def __init__(self, base, data, members=3):
        self.base = base
        self.data = data
        self.members = members
        self.procs = {}

    def client(self, m):
        return f"{HOST}:{self.base + m}"

    def peer(self, m):
        return f"http://{HOST}:{self.base + 10 + m}"

    def endpoints(self):
        return ",".join(self.client(m) for m in range(1, self.members + 1))

    def start(self, m):
        cluster = ",".join(f"m{i}={self.peer(i)}" for i in range(1, self.members + 1))
        log_f = open(os.path.join(self.data, f"m{m}.log"), "ab")
        self.procs[m] = subprocess.Popen(
            ["etcd", "--name", f"m{m}", "--data-dir", os.path.join(self.data, f"m{m}"),
             "--listen-client-urls", f"http://{self.client(m)}",
             "--advertise-client-urls", f"http://{self.client(m)}",
             "--listen-peer-urls", self.peer(m), "--initial-advertise-peer-urls", self.peer(m),
             "--initial-cluster", cluster, "--initial-cluster-state", "new",
             "--initial-cluster-token", "seqsim-bench", "--max-txn-ops", "1000",
             "--max-request-bytes", str(8 << 20), "--quota-backend-bytes", str(8 << 30),
             "--logger", "zap", "--log-outputs", "stderr"],
            stdout=log_f, stderr=log_f, start_new_session=True)

    def up(self):
        shutil.rmtree(self.data, ignore_errors=True)
        os.makedirs(self.data)
        for m in range(1, self.members + 1):
            self.start(m)
        self.wait_healthy()
        log(f"etcd up: {self.endpoints()}, data {self.data}")

    def wait_healthy(self, timeout_s=60):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            p = subprocess.run(["etcdctl", "--endpoints", self.endpoints(), "endpoint", "health"],
                               capture_output=True, text=True, timeout=30,
                               env=dict(os.environ, ETCDCTL_API="3"))
            if p.returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("etcd did not become healthy")

    def pids(self):
        return ",".join(str(self.procs[m].pid) for m in range(1, self.members + 1))

    def restart_dead(self):
        for m, p in list(self.procs.items()):
            if p.poll() is not None:
                self.start(m)  # the data dir exists: it rejoins as the same member
        self.wait_healthy()

    def down(self):
        for p in self.procs.values():
            if p.poll() is None:
                for sig in (signal.SIGCONT, signal.SIGTERM):
                    try:
                        p.send_signal(sig)
                    except OSError:
                        pass
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def rss_kb(self):
        return [rss_kb(p.pid) for p in self.procs.values()]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadgen(args, *argv, timeout=600):
    cmd = [os.path.join(args.build_dir, "bin", "seqsim-loadgen"), *argv, "--json",
           "--progress=false"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr[-1500:]}")
    out = json.loads(p.stdout.strip().splitlines()[-1])
    log(f"{argv[0]} {out.get('target')}: " + json.dumps(out)[:400])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    livebench.add_common_args(ap, trials=3, max_seconds=3600)
    ap.add_argument("--etcd-base", type=int, default=int(os.environ.get("SEQSIM_ETCD_BASE", 13400)))
    ap.add_argument("--etcd-data", default=os.environ.get("SEQSIM_ETCD_DATA", "/tmp/seqsim-etcd"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--p1-seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--bulk-docs", type=int, default=200000)
    ap.add_argument("--failover-trials", type=int, default=3)
    ap.add_argument("--skip", default="", help="comma-separated: p1,bulk,failover")
    ap.add_argument("--json-out", default="", help="write every raw result here")
    args = ap.parse_args()
    args.build_dir = os.path.abspath(args.build_dir)
    skip = set(filter(None, args.skip.split(",")))
    livebench.install_deadline(args.max_seconds)
    ensure_etcd()
    load_start = loadavg()
    log(f"load average at start: {load_start}")
    etcd = Etcd(args.etcd_base, args.etcd_data)
    cl = livebench.Cluster(args, 3)
    results = {"etcd": {}, "seqsim": {}}
    rss = {"idle": [], "after": []}

    def add(system, key, value):
        results[system].setdefault(key, []).append(value)

    try:
        etcd.up()
        cl.up()
        snodes = ",".join(f"http://{HOST}:{cl.rest(n)}" for n in range(1, 4))
        spids = lambda: ",".join(str(cl.pid(n)) for n in range(1, 4))  # noqa: E731
        rss["idle"] = [rss_kb(cl.pid(n)) for n in range(1, 4)]
        # All p1 rounds first, then the bulk rounds: a store that has just taken
        # 200k documents answers p1 differently (etcd's did, 2-5x slower).
        for phase, r in [(ph, r) for ph in ("p1", "bulk") for r in range(1, args.rounds + 1)]:
            order = ["etcd", "seqsim"] if r % 2 else ["seqsim", "etcd"]
            if phase == "p1" and "p1" not in skip:
                for system in order:
                    if system == "etcd":
                        add("etcd", "p1", loadgen(args, "p1", "--target=etcd",
                                                  f"--nodes={etcd.endpoints()}",
                                                  f"--index=p1-r{r}", f"--clients={args.clients}",
                                                  f"--seconds={args.p1_seconds}"))
                    else:
                        add("seqsim", "p1", loadgen(args, "p1", f"--nodes={snodes}",
                                                    f"--index=p1-r{r}", "--shards=1",
                                                    "--replicas=2", f"--clients={args.clients}",
                                                    f"--seconds={args.p1_seconds}"))
            if phase == "bulk" and "bulk" not in skip:
                for system in order:
                    if system == "etcd":
                        add("etcd", "bulk", loadgen(args, "bulk", "--target=etcd",
                                                    f"--nodes={etcd.endpoints()}",
                                                    f"--index=bulk-r{r}",
                                                    f"--docs={args.bulk_docs}"))
                    else:
                        for shards, replicas in ((3, 1), (1, 2)):
                            add("seqsim", f"bulk{shards}x{replicas}",
                                loadgen(args, "bulk", f"--nodes={snodes}",
                                        f"--index=bulk-r{r}-{shards}x{replicas}",
                                        f"--shards={shards}", f"--replicas={replicas}",
                                        f"--docs={args.bulk_docs}"))
        rss["after"] = [rss_kb(cl.pid(n)) for n in range(1, 4)]
        if "failover" not in skip:
            for t in range(1, args.failover_trials + 1):
                order = ["etcd", "seqsim"] if t % 2 else ["seqsim", "etcd"]
                for system in order:
                    if system == "etcd":
                        add("etcd", "failover", loadgen(args, "failover", "--target=etcd",
                                                        f"--nodes={etcd.endpoints()}",
                                                        f"--index=fo-t{t}", f"--pids={etcd.pids()}",
                                                        "--signal=kill", "--timeout_s=20"))
                        etcd.restart_dead()
                    else:
                        out = loadgen(args, "failover", f"--nodes={snodes}", f"--index=fo-t{t}",
                                      f"--pids={spids()}", "--signal=kill", "--timeout_s=20")
                        add("seqsim", "failover", out)
                        victim = int(out["victim"].split("-")[1])
                        cl.restart(victim)
                        cl.wait_green()
    finally:
        cl.down()
        etcd.down()
    load_end = loadavg()
    log(f"load average at end: {load_end}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"results": results, "rss_kb": rss, "load": [load_start, load_end]}, f,
                      indent=1)
    print_table(results, rss, load_start, load_end, args)


def med(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def rng(runs, key):
    vals = [r[key] for r in runs if r.get(key) is not None]
    if not vals:
        return "-"
    return f"{min(vals):,.0f}-{max(vals):,.0f}"


def print_table(results, rss, load_start, load_end, args):
    e, s = results["etcd"], results["seqsim"]
    rows = []

    def ratio(a, b, higher_better=True):
        if a is None or b is None or a == 0 or b == 0:
            return "-"
        return f"{(b / a) if higher_better else (a / b):.2f}"

    if "p1" in e and "p1" in s:
        ec, sc = med(e["p1"], "cycles_per_s"), med(s["p1"], "cycles_per_s")
        rows.append([f"read + CAS cycles/s, {args.clients} clients, 1,000 keys, "
                     f"{args.p1_seconds:g} s (median, range)",
                     f"{ec:,.0f} ({rng(e['p1'], 'cycles_per_s')})",
                     f"{sc:,.0f} ({rng(s['p1'], 'cycles_per_s')}) (1 shard, 2 replicas)",
                     ratio(ec, sc)])
        for k in ("cas_p50_ms", "cas_p99_ms", "cas_max_ms"):
            a, b = med(e["p1"], k), med(s["p1"], k)
            rows.append([f"CAS latency {k[4:7]} (ms, median of rounds)", f"{a:.1f}", f"{b:.1f}",
                         ratio(a, b, higher_better=False)])
        rows.append(["p1 errors / 409s (sum)",
                     f"{sum(r['errors'] for r in e['p1'])} / {sum(r['conflicts'] for r in e['p1'])}",
                     f"{sum(r['errors'] for r in s['p1'])} / {sum(r['conflicts'] for r in s['p1'])}",
                     ""])
        rows.append(["p1 drain after the window (s, max)",
                     f"{max(r['drain_s'] for r in e['p1']):.2f}",
                     f"{max(r['drain_s'] for r in s['p1']):.2f}", ""])
    if "bulk" in e:
        ed = med(e["bulk"], "docs_per_s")
        for key, label in (("bulk3x1", "3 shards 1 replica"), ("bulk1x2", "1 shard 2 replicas")):
            if key not in s:
                continue
            sd = med(s[key], "docs_per_s")
            fails = sum(r["item_failures"] for r in s[key])
            missing = sum(r.get("missing", 0) for r in s[key])
            rows.append([f"bulk {args.bulk_docs:,} docs x 200 B, batches of 1,000, 4 senders "
                         f"(docs/s; seqsim {label})",
                         f"{ed:,.0f} ({rng(e['bulk'], 'docs_per_s')}) txn puts",
                         f"{sd:,.0f} ({rng(s[key], 'docs_per_s')}); item failures {fails}, "
                         f"acked ids missing {missing}",
                         ratio(ed, sd)])
    if "failover" in e and "failover" in s:
        def fo(runs):
            vals = [r["failover_ms"] for r in runs if r.get("failover_ms") is not None]
            none = len(runs) - len(vals)
            if not vals:
                return None, f"none of {len(runs)} trials"
            text = f"{statistics.median(vals):.0f} / {max(vals):.0f}"
            if none:
                text += f" ({none} of {len(runs)} trials: no new-term ack)"
            return statistics.median(vals), text

        ef, etext = fo(e["failover"])
        sf, stext = fo(s["failover"])
        rows.append(["failover after SIGKILL of the leader / primary's node: first ack under "
                     "a higher term (ms, median / max)", etext, stext,
                     ratio(ef, sf, higher_better=False)])
        rows.append(["failover: writes unanswered / errors / acked missing (sum)",
                     f"{sum(r['unanswered'] for r in e['failover'])} / "
                     f"{sum(r['errors'] for r in e['failover'])} / "
                     f"{sum(r.get('acked_missing', 0) for r in e['failover'])}",
                     f"{sum(r['unanswered'] for r in s['failover'])} / "
                     f"{sum(r['errors'] for r in s['failover'])} / "
                     f"{sum(r.get('acked_missing', 0) for r in s['failover'])}", ""])
    if rss["idle"] and rss["after"]:
        rows.append(["seqsim node RSS idle -> after p1 + bulk (MB)", "",
                     " ".join(f"{a / 1024:.0f}->{b / 1024:.0f}"
                              for a, b in zip(rss["idle"], rss["after"])), ""])
    print()
    print(f"load average: start {load_start}, end {load_end}; rounds {args.rounds}, "
          f"alternating; ratio = seqsim / etcd (for latencies etcd / seqsim: > 1 is seqsim better)")
    print()
    print(livebench.md_table(["figure", "etcd 3.4 (Debian)", "seqsim", "ratio"], rows))


if __name__ == "__main__":
    main()
