"""Collector footprint benchmark (scripts/bench-collector.sh sets up PostgreSQL, the collector
and tokens, then runs this): memory, threads and file descriptors of the running collector
(/proc/PID) idle, while 8 agents stream reports, with 1,000 open HTTP connections, past the
connection limit, and over a soak of mixed load, with the growth between its first and last third.

Numbers come from /proc/PID/status (VmRSS, VmHWM, Threads) and /proc/PID/fd. Nothing here is a
pass/fail on time; the script fails only when the collector dies or stops answering.
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request


def sample(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                st[k] = int(v.split()[0])
    return {"rss": st["VmRSS"] / 1024.0, "hwm": st["VmHWM"] / 1024.0, "threads": st["Threads"],
            "fds": len(os.listdir("/proc/%d/fd" % pid))}


def show(label, s):
    print("%-44s RSS %7.1f MiB  threads %5d  fds %5d" % (label, s["rss"], s["threads"], s["fds"]))


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def get(port, path, token=None, timeout=10):
    """GET on a new connection: (status, body)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def settle(pid, seconds=2.0, every=0.5):
    """Median of a few samples: the steady state after a phase."""
    out = []
    for _ in range(max(1, int(seconds / every))):
        out.append(sample(pid))
        time.sleep(every)
    return {k: statistics.median(s[k] for s in out) for k in out[0]}


# ---------------------------------------------------------------- phases

def phase_idle(a):
    s = settle(a.pid, 3.0)
    show("idle", s)
    return s


def phase_agents(a):
    """8 concurrent agents (bench/ingest/loadgen.c, one gRPC channel each) stream reports."""
    env = dict(os.environ, BENCH_JOBS="5", BENCH_STEPS="40", BENCH_LOG_BYTES="8192")
    p = subprocess.Popen([a.loadgen, "ingest", "127.0.0.1:%d" % a.grpc_port, a.ingest_token,
                          str(a.agents), str(a.agent_reports), "1000000"], env=env,
                         stdout=subprocess.PIPE, text=True)
    peak = None
    while p.poll() is None:
        s = sample(a.pid)
        peak = s if peak is None else {k: max(peak[k], s[k]) for k in s}
        time.sleep(0.1)
    out = p.stdout.read().strip()
    if "RESULT" not in out:
        raise SystemExit("bench-collector: loadgen failed (%d): %s" % (p.returncode, out))
    print("%d agents, %d reports of 5 jobs x 40 steps, 8 KiB tails: %s"
          % (a.agents, a.agent_reports, out.replace("RESULT ", "")))
    show("while %d agents stream (peak)" % a.agents, peak)
    after = settle(a.pid)
    show("after them", after)
    return peak


def source(i):
    """The i-th client's source address: 25 clients per loopback address (127.0.1.x), under the
    per-address limit (CIPULSE_HTTP_MAX_CONNS_PER_ADDR, 32 by default)."""
    return "127.0.1.%d" % (1 + i // 25)


def open_conn(port, i, kind):
    """One client: "idle" sends a whole keep-alive request (the caller reads the reply) and
    stays; "slow" sends the first header line only (the rest would come later); "none" sends
    nothing yet."""
    s = socket.socket()
    s.bind((source(i), 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    if kind == "idle":
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    elif kind == "slow":
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s


def read_reply(s):
    """Reads one whole reply with Content-Length; the status code, or None when the server
    closed the connection without one."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        if not b:
            return None
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(body) < n:
        b = s.recv(4096)
        if not b:
            break
        body += b
    return int(head.split()[1])


def refused(s):
    """How the server treated a connection it should not take: "closed" (closed or reset
    without a reply), "answered N" or "open" (neither within 5 s)."""
    s.settimeout(5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        code = read_reply(s)
        return "closed" if code is None else "answered %d" % code
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        return "open"


def phase_connections(a, base):
    n = a.connections
    conns, failed = [], 0
    t0 = time.monotonic()
    for i in range(n):
        kind = "idle" if i % 2 == 0 else "slow"
        try:
            conns.append((kind, open_conn(a.http_port, i, kind)))
        except OSError:
            failed += 1
    answered = 0
    for kind, s in conns:
        if kind == "idle":
            try:
                answered += read_reply(s) == 200
            except OSError:
                pass
    print("%d connections opened in %.1f s (%d failed): %d idle keep-alive (%d answered 200, "
          "then left open), %d slow clients (first header line only)"
          % (len(conns), time.monotonic() - t0, failed, (n + 1) // 2, answered, n // 2))
    s = settle(a.pid)
    show("with %d open connections" % n, s)
    per = {k: (s[k] - base[k]) / max(1, len(conns)) for k in ("rss", "threads", "fds")}
    print("per connection: %.1f KiB RSS, %.2f threads, %.2f fds"
          % (per["rss"] * 1024, per["threads"], per["fds"]))
    # At the limit: one more on the main listener, and a probe on the probe listener.
    extra = []
    for i in range(a.extra):
        try:
            extra.append(open_conn(a.http_port, n + i, "none"))
        except OSError as e:
            extra.append(e)
    what = {}
    for c in extra:
        r = refused(c) if isinstance(c, socket.socket) else "connect failed (%s)" % c
        what[r] = what.get(r, 0) + 1
    print("%d more connections past the limit (CIPULSE_HTTP_MAX_CONNECTIONS=%d): %s"
          % (a.extra, a.max_connections, ", ".join("%d %s" % (v, k) for k, v in what.items())))
    code, _ = get(a.probe_port, "/readyz")
    print("probe listener /readyz while the main one is full: %d; collector %s"
          % (code, "running" if alive(a.pid) else "EXITED"))
    if not alive(a.pid):
        raise SystemExit("bench-collector: the collector exited at the connection limit")
    for c in extra:
        if isinstance(c, socket.socket):
            c.close()
    for _, c in conns:
        c.close()
    time.sleep(2)
    after = settle(a.pid)
    show("after they close", after)
    code, _ = get(a.http_port, "/healthz")
    print("main listener after they close: /healthz %d" % code)
    return s


# ---------------------------------------------------------------- soak

class Load:
    """Mixed load for the soak, each kind at about `rate` requests a second: signed webhooks on
    a keep-alive connection, API reads each on a new connection, and report streams (loadgen,
    2 agents, 10 reports at a time)."""

    def __init__(self, a):
        self.a = a
        self.stop = threading.Event()
        self.counts = {"webhooks": 0, "api": 0, "reports": 0, "errors": 0}
        self.lock = threading.Lock()
        self.base = json.load(open(a.fixture))
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.webhooks, self.api, self.reports)]

    def count(self, k, n=1):
        with self.lock:
            self.counts[k] += n

    def pace(self, t0, i):
        d = t0 + i / self.a.rate - time.monotonic()
        if d > 0:
            self.stop.wait(d)

    def webhooks(self):
        c, i, t0 = None, 0, time.monotonic()
        while not self.stop.is_set():
            p = json.loads(json.dumps(self.base))
            p["workflow_job"]["id"] = 30_000_000 + i
            p["workflow_job"]["run_id"] = 40_000_000 + i // 4
            body = json.dumps(p, separators=(",", ":")).encode()
            sig = "sha256=" + hmac.new(self.a.webhook_secret.encode(), body,
                                       hashlib.sha256).hexdigest()
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.a.http_port, timeout=30)
                c.request("POST", "/webhook/github", body,
                          {"X-GitHub-Event": "workflow_job", "X-Hub-Signature-256": sig,
                           "X-GitHub-Delivery": "soak-%d-%d" % (os.getpid(), i),
                           "Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                self.count("webhooks" if r.status < 300 else "errors")
            except (OSError, http.client.HTTPException):
                self.count("errors")
                c = None
            i += 1
            self.pace(t0, i)

    def api(self):
        paths = ["/api/v1/repos", "/api/v1/repos/bench/ingest/runs?limit=50",
                 "/api/v1/metrics?window=24h", "/api/v1/logs/search?q=module_7",
                 "/api/v1/tests", "/api/v1/failures", "/metrics"]
        i, t0 = 0, time.monotonic()
        while not self.stop.is_set():
            try:
                code, _ = get(self.a.http_port, paths[i % len(paths)], self.a.read_token, 30)
                self.count("api" if code < 300 else "errors")
            except OSError:
                self.count("errors")
            i += 1
            self.pace(t0, i)

    def reports(self):
        base = 5_000_000
        while not self.stop.is_set():
            t = time.monotonic()
            env = dict(os.environ, BENCH_JOBS="2", BENCH_STEPS="10", BENCH_LOG_BYTES="4096")
            p = subprocess.run([self.a.loadgen, "ingest", "127.0.0.1:%d" % self.a.grpc_port,
                                self.a.ingest_token, "2", "10", str(base)], env=env,
                               capture_output=True, text=True)
            base += 10
            errs = 10 if p.returncode else int(p.stdout.split("errors=")[-1].split()[0])
            self.count("reports", 10 - errs)
            self.count("errors", errs)
            self.stop.wait(max(0.0, 10.0 / self.a.rate - (time.monotonic() - t)))

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)


def phase_soak(a):
    secs = a.soak_minutes * 60
    load = Load(a)
    samples = []
    print("soak: %.1f min of mixed load (~%g webhooks/s, ~%g API reads/s on new connections, "
          "~%g reports/s from 2 agents), a sample every %g s"
          % (a.soak_minutes, a.rate, a.rate, a.rate, a.every))
    load.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < secs:
            if not alive(a.pid):
                raise SystemExit("bench-collector: the collector exited during the soak")
            s = sample(a.pid)
            s["t"] = time.monotonic() - t0
            samples.append(s)
            time.sleep(a.every)
    finally:
        load.finish()
    c = load.counts
    print("soak load done: %d webhooks, %d API reads, %d reports stored; %d errors"
          % (c["webhooks"], c["api"], c["reports"], c["errors"]))
    k = max(1, len(samples) // 3)
    first, last = samples[:k], samples[-k:]
    print("%-10s %12s %12s %10s" % ("", "first third", "last third", "growth"))
    for key, unit in (("rss", "MiB"), ("threads", ""), ("fds", "")):
        f = statistics.mean(s[key] for s in first)
        l = statistics.mean(s[key] for s in last)
        print("%-10s %12.1f %12.1f %+9.1f%%  %s" % (key, f, l, 100.0 * (l - f) / f if f else 0,
                                                   unit))
    print("peak RSS of the whole run (VmHWM): %.1f MiB" % samples[-1]["hwm"])
    if a.samples_out:
        with open(a.samples_out, "w") as f:
            for s in samples:
                f.write("%.1f %.1f %d %d\n" % (s["t"], s["rss"], s["threads"], s["fds"]))
    code, _ = get(a.http_port, "/healthz")
    if code != 200:
        raise SystemExit("bench-collector: /healthz %d after the soak" % code)


def main():
    ap = argparse.ArgumentParser()
    for name in ("pid", "http-port", "probe-port", "grpc-port", "max-connections"):
        ap.add_argument("--" + name, type=int, required=True)
    for name in ("loadgen", "ingest-token", "read-token", "webhook-secret", "fixture"):
        ap.add_argument("--" + name, required=True)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--agent-reports", type=int, default=24)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--extra", type=int, default=20, help="connections past the limit")
    ap.add_argument("--soak-minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=10, help="soak: requests/s of each kind")
    ap.add_argument("--every", type=float, default=5, help="soak: seconds between samples")
    ap.add_argument("--samples-out", help="soak: write 't rss threads fds' lines here")
    a = ap.parse_args()
    base = phase_idle(a)
    phase_agents(a)
    phase_connections(a, settle(a.pid))
    if a.soak_minutes > 0:
        phase_soak(a)
    print("idle RSS %.1f MiB, %d threads, %d fds" % (base["rss"], base["threads"], base["fds"]))


if __name__ == "__main__":
    sys.exit(main())
