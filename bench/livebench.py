"""Shared pieces of the live-cluster benchmark scripts (bench/*.py), standard library only.

- common flags (--build-dir, port bases, --data, --trials) and a hard deadline for the whole run;
- Cluster: starts a cluster with scripts/cluster.sh, signals and restarts nodes, and always
  stops every process it started (cluster.sh down, then SIGKILL of any pid left in the pid files);
- a small asyncio HTTP/1.1 client (keep-alive or one connection per request) and a blocking one;
- percentiles, load average, RLIMIT_NOFILE, markdown tables.

Every client socket is closed with SO_LINGER 0 (a reset): a closed connection then leaves no
TIME-WAIT entry on the server's port, which the runtime of issue 12 item 1 cannot bind over.
"""

import argparse
import asyncio
import contextlib
import datetime
import http.client
import json
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"
LINGER0 = struct.pack("ii", 1, 0)


class RunDeadline(KeyboardInterrupt):
    """The whole run took longer than --max-seconds. A KeyboardInterrupt, because asyncio lets
    only those (and SystemExit) out of a task: anything else raised by a signal handler inside
    a task would end just that task."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft2, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    log(f"RLIMIT_NOFILE soft {soft} -> {soft2} (hard {hard}; this run needs about {need}; "
        "the nodes inherit it)")
    if soft2 < need:
        log(f"WARNING: the file-descriptor limit {soft2} is below {need}")
    return soft2


def add_common_args(parser, trials, max_seconds):
    env = os.environ.get
    parser.add_argument("--build-dir", default=os.path.join(REPO, "build"),
                        help="build directory holding bin/seqsim-* (default: <repo>/build)")
    parser.add_argument("--rest-base", type=int, default=int(env("SEQSIM_REST_BASE", 23200)),
                        help="node N's REST port is this + N")
    parser.add_argument("--grpc-base", type=int, default=int(env("SEQSIM_GRPC_BASE", 23300)),
                        help="node N's gRPC port is this + N")
    parser.add_argument("--coord-port", type=int, default=int(env("SEQSIM_COORD_PORT", 23400)))
    parser.add_argument("--data", default=env("SEQSIM_DATA", "/tmp/seqsim-bench"),
                        help="data directory (wiped at start)")
    parser.add_argument("--trials", type=int, default=trials)
    parser.add_argument("--max-seconds", type=float, default=max_seconds,
                        help="hard limit for the whole run; cleanup follows")


def install_deadline(seconds):
    """SIGALRM after `seconds` raises RunDeadline; SIGINT/SIGTERM/SIGHUP raise KeyboardInterrupt
    at once (our own SIGINT handler also keeps asyncio.run from installing its own, which only
    cancels the main task and could leave the run going until every wait has expired)."""

    def on_alarm(signum, frame):
        raise RunDeadline(f"run exceeded --max-seconds={seconds:.0f}")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.alarm(max(1, int(seconds)))


def percentile(values, p):
    """Nearest-rank percentile of a list (None if empty)."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def fmt_ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def md_table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def time_wait_count(ports):
    """TCP sockets in TIME-WAIT whose local port is one of `ports` (from /proc/net/tcp*)."""
    ports = set(ports)
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    local, state = parts[1], parts[3]
                    if state == "06" and int(local.rsplit(":", 1)[1], 16) in ports:
                        n += 1
        except OSError:
            pass
    return n


def wait_no_time_wait(ports, deadline_s):
    t0 = time.monotonic()
    n = time_wait_count(ports)
    if n:
        log(f"{n} TIME-WAIT socket(s) on ports {sorted(ports)}; waiting (up to {deadline_s:.0f}s)")
    while n and time.monotonic() - t0 < deadline_s:
        time.sleep(0.5)
        n = time_wait_count(ports)
    return time.monotonic() - t0, n


def proc_cpu_seconds(pid):
    """utime + stime of a process in seconds (None if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_summary(pid):
    """'threads T, fds F, state S' of a live process, or 'gone'."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return f"state {fields[0]}, threads {fields[17]}, open fds {fds}"
    except (OSError, IndexError):
        return "gone"


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---------------------------------------------------------------------------------------------
# Log lines: "2026-12-02T13:40:39.757 info [coordinator] coordinator: ..."

LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}) ")


def read_log(path, since_wall):
    """(wall time, line) of every line of a log file stamped at or after `since_wall` - 1 s."""
    out = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = LOG_TS.match(line)
                if not m:
                    continue
                t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
                if t >= since_wall - 1.0:
                    out.append((t, line.rstrip("\n")))
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------------------------
# Cluster


class Cluster:
    def __init__(self, args, nodes):
        self.args = args
        self.nodes = nodes
        self.bin = os.path.join(os.path.abspath(args.build_dir), "bin")
        self.env = dict(os.environ)
        self.env.update({
            "SEQSIM_REST_BASE": str(args.rest_base),
            "SEQSIM_GRPC_BASE": str(args.grpc_base),
            "SEQSIM_COORD_PORT": str(args.coord_port),
            "SEQSIM_DATA": args.data,
            "SEQSIM_BUILD_DIR": os.path.abspath(args.build_dir),
            "SEQSIM_SKIP_BUILD": "1",
        })
        self.script = os.path.join(REPO, "scripts", "cluster.sh")
        self.seen_pids = {}  # name -> set of pids ever started
        self.events = []  # surprising things, for the report

    def rest(self, n):
        return self.args.rest_base + n

    def grpc(self, n):
        return self.args.grpc_base + n

    def ports(self):
        out = [self.args.coord_port]
        for n in range(1, self.nodes + 1):
            out += [self.rest(n), self.grpc(n)]
        return out

    def sh(self, *verb, timeout=120, check=True):
        p = subprocess.run(["bash", self.script, *verb], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        self._note_pids()
        if check and p.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(verb)} failed ({p.returncode}):\n"
                               f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
        return p

    def _note_pids(self):
        d = os.path.join(self.args.data, "pids")
        try:
            names = os.listdir(d)
        except OSError:
            return
        for f in names:
            if f.endswith(".pid"):
                try:
                    with open(os.path.join(d, f)) as fh:
                        pid = int(fh.read().strip())
                except (OSError, ValueError):
                    continue
                self.seen_pids.setdefault(f[:-4], set()).add(pid)

    def pid(self, n):
        with open(os.path.join(self.args.data, "pids", f"node-{n}.pid")) as f:
            pid = int(f.read().strip())
        self.seen_pids.setdefault(f"node-{n}", set()).add(pid)
        return pid

    def coord_pid(self):
        with open(os.path.join(self.args.data, "pids", "coordinator.pid")) as f:
            return int(f.read().strip())

    def log_path(self, name):
        return os.path.join(self.args.data, "logs", f"{name}.log")

    def up(self):
        for b in ("seqsim-node", "seqsim-coordinator", "seqsim-ctl"):
            if not os.access(os.path.join(self.bin, b), os.X_OK):
                raise RuntimeError(f"{self.bin}/{b} is missing; build first (scripts/build.sh)")
        self.sh("wipe", timeout=60, check=False)
        # A REST listener of this runtime cannot bind over TIME-WAIT (issue 12 item 1); gRPC can.
        rest_ports = [self.rest(n) for n in range(1, self.nodes + 1)]
        waited, left = wait_no_time_wait(rest_ports, 70)
        if waited > 1:
            self.events.append(f"waited {waited:.1f}s for TIME-WAIT sockets on the REST "
                               f"ports to clear before `up` ({left} left)")
        for attempt in (1, 2):
            p = self.sh("up", "--nodes", str(self.nodes), timeout=120, check=False)
            if p.returncode == 0:
                log(f"cluster up: {self.nodes} node(s), REST {self.rest(1)}.., data {self.args.data}")
                return
            msg = (p.stdout + p.stderr).strip().splitlines()[-6:]
            self.events.append(f"`cluster.sh up` failed (attempt {attempt}): {' / '.join(msg)}")
            log(f"cluster.sh up failed (attempt {attempt}):\n  " + "\n  ".join(msg))
            self.sh("down", timeout=60, check=False)
            wait_no_time_wait(self.ports(), 70)
        raise RuntimeError("the cluster did not start")

    def down(self):
        """Stops everything this object ever started. Never raises."""
        try:
            self.sh("down", timeout=60, check=False)
        except Exception as e:  # noqa: BLE001 - cleanup goes on
            log(f"cluster.sh down: {e}")
        for name, pids in self.seen_pids.items():
            for pid in pids:
                if self._ours(pid):
                    log(f"{name} (pid {pid}) still alive after down: SIGKILL")
                    for sig in (signal.SIGCONT, signal.SIGKILL):
                        try:
                            os.kill(pid, sig)
                        except OSError:
                            pass

    def _ours(self, pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return False
        except OSError:
            return False
        return "seqsim-" in cmd and (self.args.data in cmd or f":{self.args.coord_port}" in cmd
                                     or f"={self.args.coord_port}" in cmd)

    def alive(self, n):
        try:
            return self._ours(self.pid(n))
        except OSError:
            return False

    def restart(self, n, deadline_s=90):
        """cluster.sh restart N at once; on failure waits for TIME-WAIT on its ports to clear
        and retries until `deadline_s`. Returns the failed attempts (each a short reason)."""
        t0 = time.monotonic()
        failures = []
        while True:
            tw = {p: time_wait_count([p]) for p in (self.rest(n), self.grpc(n))}
            p = self.sh("restart", str(n), timeout=max(10, deadline_s), check=False)
            if p.returncode == 0:
                return failures
            why = " / ".join((p.stdout + p.stderr).strip().splitlines()[-2:])
            failures.append(why)
            self.events.append(f"restart node-{n} failed ({time.monotonic() - t0:.1f}s after the "
                               f"first try; TIME-WAIT sockets on REST {self.rest(n)}: "
                               f"{tw[self.rest(n)]}, gRPC {self.grpc(n)}: {tw[self.grpc(n)]}): "
                               f"{why}")
            left = deadline_s - (time.monotonic() - t0)
            if left <= 0:
                raise RuntimeError(f"node-{n} did not restart within {deadline_s}s: {failures}")
            waited, _ = wait_no_time_wait([self.rest(n), self.grpc(n)], left)
            if waited < 1:
                time.sleep(1)

    def flaps(self, since_wall, until_wall=None):
        """(node-dead declarations, primary promotions) in the coordinator's log in a window."""
        dead = promoted = 0
        for t, line in read_log(self.log_path("coordinator"), since_wall):
            if t < since_wall or (until_wall is not None and t > until_wall):
                continue
            if "cluster state version" in line:
                continue
            dead += "missed heartbeats" in line and ": dead" in line
            promoted += " to primary of " in line and "promote " in line
        return dead, promoted

    def wait_green(self, timeout_s=60):
        """Waits (bounded) until the coordinator reports green with every node alive."""
        t0 = time.monotonic()
        # The identity cluster.sh up made (issue 13); its per-process file under TLS.
        identity = os.path.join(self.args.data, "tls", "ctl.identity")
        if not os.path.exists(identity):
            identity = os.path.join(self.args.data, "cluster.identity")
        p = subprocess.run([os.path.join(self.bin, "seqsim-ctl"), "health",
                            f"--coordinator={HOST}:{self.args.coord_port}", "--wait=green",
                            f"--min_nodes={self.nodes}", f"--timeout_ms={int(timeout_s * 1000)}",
                            f"--cluster_identity={identity}"],
                           capture_output=True, text=True, timeout=timeout_s + 10)
        if p.returncode != 0:
            raise RuntimeError(f"cluster not green within {timeout_s}s: {p.stdout[-500:]}"
                               f"{p.stderr[-500:]}")
        return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# Blocking HTTP (control requests)


def http_call(port, method, path, body=None, timeout=10.0):
    """One request on its own connection: (status, parsed JSON or text). Raises on I/O errors."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.connect()
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        data = None if body is None else (body if isinstance(body, (bytes, str))
                                          else json.dumps(body))
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw.decode(errors="replace")
    finally:
        conn.close()


def create_index(port, index, shards, replicas, timeout_s=60):
    st, body = http_call(port, "PUT", f"/{index}",
                    {"settings": {"number_of_shards": shards, "number_of_replicas": replicas}})
    if st != 200:
        raise RuntimeError(f"create index {index}: {st} {body}")
    st, body = http_call(port, "GET", f"/_cluster/health/{index}?wait_for_status=green"
                    f"&timeout={int(timeout_s)}s", timeout=timeout_s + 5)
    if st != 200 or body.get("status") != "green":
        raise RuntimeError(f"index {index} not green: {st} {body}")


# ---------------------------------------------------------------------------------------------
# asyncio HTTP/1.1 client


class HttpError(Exception):
    pass


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)


def _close_writer(writer):
    try:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    except OSError:
        pass
    try:
        writer.close()
    except Exception:  # noqa: BLE001
        pass


class Conn:
    """One HTTP/1.1 connection. request() raises HttpError/OSError/asyncio.TimeoutError."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None
        self.requests = 0  # answered on this connection

    @property
    def open(self):
        return self.writer is not None

    async def connect(self, timeout):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, self.port, limit=1 << 22), timeout)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.requests = 0

    def close(self):
        if self.writer is not None:
            _close_writer(self.writer)
        self.reader = self.writer = None

    async def send(self, method, path, body=None, keepalive=True):
        data = b"" if body is None else (body if isinstance(body, bytes) else body.encode())
        head = (f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n"
                f"Connection: {'keep-alive' if keepalive else 'close'}\r\n")
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        await self.writer.drain()

    async def read_response(self):
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            raise HttpError("connection closed before a response" if not e.partial
                            else "connection closed inside the response head") from None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise HttpError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            body = b"".join(chunks)
        else:
            body = await self.reader.read()
            headers["connection"] = "close"
        self.requests += 1
        return Response(status, headers, body)

    async def request(self, method, path, body=None, keepalive=True, timeout=10.0):
        """Connects if needed; closes the connection afterwards unless both sides keep it."""
        async def go():
            if not self.open:
                await self.connect(timeout)
            await self.send(method, path, body, keepalive)
            return await self.read_response()
        try:
            r = await asyncio.wait_for(go(), timeout)
        except BaseException:
            self.close()
            raise
        if not keepalive or r.headers.get("connection", "").lower() == "close":
            self.close()
        return r


@contextlib.contextmanager
def measured_run(cl):
    """The body of a measurement: a deadline, Ctrl-C or an error stops it and is noted in
    cl.events (what was measured so far is still reported); the cluster always goes down."""
    try:
        yield
    except RunDeadline as e:  # before KeyboardInterrupt, its base class
        log(f"{e}: cleaning up")
        cl.events.append(f"run stopped early: {e}")
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        cl.events.append("run interrupted")
    except Exception as e:  # noqa: BLE001 - report what was measured, then fail
        log(f"ERROR: {type(e).__name__}: {e}")
        cl.events.append(f"run stopped early: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        cl.down()
    log(f"load average at end: {loadavg()}")


def print_events(cl):
    if cl.events:
        print("\n### Events\n")
        for e in cl.events:
            print(f"- {e}")
