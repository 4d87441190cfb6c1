"""Shared by the live REST tests: the cluster's URLs, one HTTP call per request, checks and
their summary. Python 3 standard library only.

    import live_http as lh
    NODES = lh.nodes("my_live_test.py")   # URL1 URL2 URL3 from the command line
    r = lh.call("PUT", "/idx", {...})
    lh.check("create idx", r.status == 200, repr(r))
    lh.finish()                           # prints the summary, exits 1 if a check failed
"""

import http.client
import json
import sys
import urllib.parse

NODES = []
failures = []
passed = 0


def nodes(script):
    """The node URLs given on the command line (at least three)."""
    NODES[:] = sys.argv[1:]
    if len(NODES) < 3:
        sys.exit(f"usage: {script} URL1 URL2 URL3")
    return NODES


def check(name, cond, detail=""):
    global passed
    if cond:
        passed += 1
        print(f"ok   {name}")
    else:
        failures.append(name)
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


class Resp:
    def __init__(self, method, url, status, raw):
        self.method, self.url, self.status, self.raw = method, url, status, raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"{self.method} {self.url} -> {self.status} {self.raw[:600]!r}"

    def reason(self):
        return ((self.json or {}).get("error") or {}).get("reason")

    def ids(self):
        return [h["_id"] for h in ((self.json or {}).get("hits") or {}).get("hits", [])]


def call(method, path, body=None, base=None, ctype="application/json"):
    """One request on its own connection (to NODES[0] unless `base`)."""
    base = base or NODES[0]
    parsed = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {}
    data = None
    if body is not None:
        data = (json.dumps(body) if isinstance(body, (dict, list)) else body).encode()
        headers["Content-Type"] = ctype
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        return Resp(method, base + path, r.status, r.read())
    finally:
        conn.close()


def finish():
    print()
    print(f"{passed} checks passed, {len(failures)} failed")
    for f in failures:
        print(f"  failed: {f}")
    sys.exit(1 if failures else 0)
