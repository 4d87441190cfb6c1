#!/usr/bin/env python3
"""REST serving never stalls and no input kills a node (issue 12, sections 4 and 6), over real
sockets against a live node: waiting requests hold no thread, pipelined requests are all
answered in order, malformed requests get an Elasticsearch-shaped error and the node lives on.
Usage: http_serving_live_test.py http://127.0.0.1:PORT [more node URLs]"""
import json
import socket
import sys
import time
from urllib.parse import urlparse

url = urlparse(sys.argv[1])
HOST, PORT = url.hostname, url.port
failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)


def connect(timeout=30):
    s = socket.create_connection((HOST, PORT), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(sock, buf=b""):
    """Reads one HTTP/1.1 response (Content-Length framed); returns (status, headers, body, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response; got {buf!r}")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a body")
        buf += chunk
    return status, headers, buf[:length], buf[length:]


def request(method, path, body=b"", keep_alive=True):
    conn = "keep-alive" if keep_alive else "close"
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: {conn}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def get_root(timeout=10):
    s = connect(timeout)
    try:
        s.sendall(request("GET", "/", keep_alive=False))
        return read_response(s)
    finally:
        s.close()


def alive():
    try:
        status, _, body, _ = get_root()
        return status == 200 and json.loads(body).get("tagline") == "You Know, for Search"
    except OSError:
        return False


# 1. Waiting requests hold no thread: 64 keep-alive connections each wait on a health that
#    cannot become green; GET / on the same node still answers at once.
WAITERS = 64
WAIT_S = 8
waiters = []
for _ in range(WAITERS):
    s = connect(timeout=WAIT_S + 30)
    s.sendall(request("GET", f"/_cluster/health/nosuch?wait_for_status=green&timeout={WAIT_S}s"))
    waiters.append(s)
sent_at = time.monotonic()
start = time.monotonic()
root = get_root(timeout=10)
took = time.monotonic() - start
check(f"GET / answers within 2 s while {WAITERS} health waits are pending (took {took:.3f}s)",
      root[0] == 200 and took < 2.0, repr(root[:2]))
answered = 0
early = 0
for s in waiters:
    status, headers, body, _ = read_response(s)
    if status == 408 and json.loads(body).get("timed_out") is True:
        answered += 1
    s.close()
elapsed = time.monotonic() - sent_at
check(f"all {WAITERS} waiting requests answer 408 at their timeout (after {elapsed:.1f}s)",
      answered == WAITERS and elapsed >= WAIT_S - 0.5, f"{answered} answered, {elapsed:.1f}s")

# 2. Pipelining: three requests in one send are all executed and answered, in order.
s = connect()
doc = json.dumps({"pipelined": True}).encode()
s.sendall(request("PUT", "/pipelined/_doc/1", doc) + request("GET", "/pipelined/_doc/1")
          + request("GET", "/nosuch-pipelined/_doc/1"))
first, _, body1, rest = read_response(s)
second, _, body2, rest = read_response(s, rest)
third, _, body3, rest = read_response(s, rest)
check("three pipelined requests: PUT 201, GET 200 with the document, GET 404, in order",
      first in (200, 201) and second == 200 and json.loads(body2).get("_source") == {
          "pipelined": True} and third == 404, f"{first} {second} {third} {body2!r}")
s.sendall(request("GET", "/"))
status, _, _, _ = read_response(s, rest)
check("the connection stays usable after pipelined requests", status == 200, str(status))
s.close()

# 3. Malformed requests: an Elasticsearch-shaped 400, the connection closed, the node alive.
for raw, name in [(b"TRACE /%FF HTTP/1.1\r\nHost: x\r\n\r\n", "TRACE /%FF"),
                  (b"BREW /%FF%FE/_doc HTTP/1.1\r\nHost: x\r\n\r\n", "unknown method, %FF path"),
                  (b"GET /%FF HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "bad header, %FF path"),
                  (b"this is not http\r\n\r\n", "not HTTP at all")]:
    s = connect()
    s.sendall(raw)
    try:
        status, headers, body, rest = read_response(s)
        err = json.loads(body)
        shaped = err.get("status") == 400 and err.get("error", {}).get("type") == \
            "illegal_argument_exception"
        s.settimeout(5)
        closed = rest == b"" and s.recv(1) == b""
        check(f"{name}: 400 in Elasticsearch's shape, connection closed",
              status == 400 and shaped and closed and
              headers.get("x-elastic-product") == "Elasticsearch", repr((status, body)))
    except (OSError, ValueError) as e:
        check(f"{name}: answered", False, repr(e))
    finally:
        s.close()
    check(f"node alive after {name}", alive())

# A routed request whose path holds an invalid UTF-8 byte.
s = connect()
s.sendall(request("DELETE", "/_cluster/health/%FF"))
status, _, body, _ = read_response(s)
check("DELETE /_cluster/health/%FF: 405 with U+FFFD in the message",
      status == 405 and "\ufffd" in json.loads(body)["error"], repr(body))
s.close()
check("node alive after the invalid UTF-8 path", alive())

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
