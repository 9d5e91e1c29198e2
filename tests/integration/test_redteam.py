"""Red team (issue 9): the collector stays reachable under slow clients, a hung database and a
search flood, and exposes nothing it should not. Loopback only, bounded in time.

Timings are measured and printed (run with -s to see them); the failure condition is a generous
client timeout, never a tight bound. Attackers connect from 127.0.0.2 so that the per-address
limits keep them apart from the probes (127.0.0.1).
"""
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import re
import resource
import signal
import socket
import threading
import time

import grpc
import pytest

import api_history as H
import pbwire
from harness import ROOT, free_port, wait_for
from ingest_env import health_check

PROBE_TIMEOUT = 5.0   # a probe slower than this fails (Kubernetes' default timeout is 1 s)
ATTACKER = "127.0.0.2"


def timed_get(c, path, source=None, timeout=PROBE_TIMEOUT, headers=None, port=None):
    """GET on a fresh connection (to the collector's HTTP port, or port); returns (status,
    headers, body bytes, seconds)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port or c.http_port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body, time.monotonic() - t0
    finally:
        conn.close()


def probe_healthz(c, what, times):
    try:
        status, _, body, took = timed_get(c, "/healthz")
    except OSError as e:
        raise AssertionError("%s: /healthz did not answer within %s s (%r)" % (what, PROBE_TIMEOUT, e))
    times.append(took)
    assert status == 200, (what, status, body)
    print("%s: /healthz answered in %.3f s" % (what, took))


def grpc_status(c, timeout=3):
    try:
        return health_check(c.grpc_addr, timeout=timeout)
    except grpc.RpcError as e:
        return e.code()


# ---- section 2: availability ------------------------------------------------------------------

def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def open_slow_requests(socks, port, sources):
    """Opens a connection from each source address and sends an unfinished request head on it;
    the ones that connected are appended to socks (the caller closes them)."""
    for source in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.bind((source, 0))
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /api/v1/repos HTTP/1.1\r\nHost: x\r\n")
        except OSError:
            s.close()
            continue
        socks.append(s)


def test_slowloris_beyond_the_cap_leaves_probes_answered(collector_factory):
    c = collector_factory()
    raise_fd_limit(4096)
    socks, stop = [], threading.Event()
    times = []
    try:
        open_slow_requests(socks, c.http_port, [ATTACKER] * 1100)

        def trickle():
            n = 0
            while not stop.is_set():
                for s in socks:
                    with contextlib.suppress(OSError):
                        s.send(b"X-%d: y\r\n" % n)
                n += 1
                stop.wait(0.5)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        for _ in range(5):
            probe_healthz(c, "slowloris (%d connections)" % len(socks), times)
            stop.wait(0.5)
        assert grpc_status(c) == pbwire.SERVING
        # The attacker's own address is limited; an honest client elsewhere is not.
        status, _, _, _ = timed_get(c, "/api/v1/repos")
        assert status == 200
    finally:
        stop.set()
        for s in socks:
            s.close()
    print("slowloris: /healthz max %.3f s over %d probes" % (max(times), len(times)))


def test_probe_listener_answers_while_the_main_listener_is_full(collector_factory):
    """Attackers spread over many addresses can fill the main listener's connection limit (no
    per-address limit helps then); CIPULSE_PROBE_ADDR keeps connections of its own for probes."""
    probe_port = free_port()
    c = collector_factory(env={"CIPULSE_PROBE_ADDR": "127.0.0.1:%d" % probe_port,
                               "CIPULSE_HTTP_MAX_CONNECTIONS": "16",
                               "CIPULSE_HTTP_MAX_CONNS_PER_ADDR": "0"})
    socks = []
    try:
        open_slow_requests(socks, c.http_port, ["127.0.0.%d" % (2 + i % 8) for i in range(24)])

        def main_full():
            try:
                timed_get(c, "/healthz", timeout=2)
            except OSError:
                return True
            return False

        # The attack works on the main listener: a probe there gets no answer ...
        wait_for(main_full, timeout=15, what="the main listener to be full")
        # ... and the probe listener answers probes, and nothing else.
        assert timed_get(c, "/healthz", port=probe_port)[0] == 200
        wait_for(lambda: timed_get(c, "/readyz", port=probe_port)[0] == 200, timeout=15,
                 what="/readyz on the probe listener")
        status, _, body, _ = timed_get(c, "/metrics", port=probe_port)
        assert status == 200 and b"cipulse_" in body
        status, _, body, _ = timed_get(c, "/api/v1/repos", port=probe_port)
        assert status == 404, body
    finally:
        for s in socks:
            s.close()
    # Once the attackers are gone the main listener serves again.
    wait_for(lambda: timed_get(c, "/healthz")[0] == 200, timeout=15,
             what="the main listener after the attack")


def wait_closed(s, timeout, feed=None):
    """Feeds the socket (feed() -> bytes) until the server closes it; True when it did."""
    deadline = time.monotonic() + timeout
    s.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            if feed:
                s.send(feed())
            data = s.recv(65536)
            if not data:
                return True
            if data.startswith(b"HTTP/1.1 408") or data.startswith(b"HTTP/1.1 4"):
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def test_trickled_headers_and_bodies_cannot_extend_the_deadline(collector_factory):
    c = collector_factory(env={"CIPULSE_HTTP_REQUEST_TIMEOUT": "2s"})
    n = [0]

    def header_byte():
        n[0] += 1
        return b"X-%d: y\r\n" % n[0]

    s = socket.create_connection(("127.0.0.1", c.http_port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    assert wait_closed(s, 30, header_byte), "a trickled header kept the connection open"
    print("trickled headers: closed after %.1f s" % (time.monotonic() - t0))
    s.close()

    s = socket.create_connection(("127.0.0.1", c.http_port))
    s.sendall(b"POST /webhook/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"X-GitHub-Event: ping\r\nX-Hub-Signature-256: sha256=00\r\n"
              b"Content-Length: 100000\r\n\r\n")
    t0 = time.monotonic()
    assert wait_closed(s, 30, lambda: b" "), "a trickled body kept the connection open"
    print("trickled body: closed after %.1f s" % (time.monotonic() - t0))
    s.close()
    # An ordinary request still gets its answer.
    assert timed_get(c, "/healthz")[0] == 200


def cluster_pids(pg_cluster):
    with open(os.path.join(pg_cluster.dir, "data", "postmaster.pid")) as f:
        postmaster = int(f.readline())
    pids = [postmaster]
    with contextlib.suppress(OSError):
        with open("/proc/%d/task/%d/children" % (postmaster, postmaster)) as f:
            pids += [int(p) for p in f.read().split()]
    return pids


def signal_all(pids, sig):
    for p in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)


def test_hung_database_becomes_unavailable_within_seconds(collector_factory, db, pg_cluster):
    c = collector_factory()
    H.insert_history(db, seed=5, runs=30)
    assert c.http("GET", "/api/v1/repos")[0] == 200
    assert grpc_status(c) == pbwire.SERVING
    results, times = [], []

    def api_call():
        try:
            status, hdrs, _, took = timed_get(c, "/api/v1/repos", timeout=60)
            results.append((status, hdrs.get("retry-after"), took))
        except OSError as e:
            results.append((None, repr(e), None))

    pids = cluster_pids(pg_cluster)
    signal_all(pids, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=api_call) for _ in range(16)]
        for t in threads:
            t.start()
        for _ in range(4):
            probe_healthz(c, "database stopped", times)
            time.sleep(0.5)
        t0 = time.monotonic()
        wait_for(lambda: grpc_status(c) == pbwire.NOT_SERVING, timeout=20,
                 what="gRPC health NOT_SERVING")
        print("database stopped: gRPC NOT_SERVING after %.1f s" % (time.monotonic() - t0))
        status, _, _, took = timed_get(c, "/readyz", timeout=20)
        assert status == 503
        print("database stopped: /readyz 503 in %.3f s" % took)
        for t in threads:
            t.join(60)
        assert len(results) == 16
        assert all(r[0] == 503 for r in results), results
        print("database stopped: API 503 after max %.1f s" % max(r[2] for r in results))
        probe_healthz(c, "database stopped", times)
    finally:
        signal_all(pids, signal.SIGCONT)
    wait_for(lambda: grpc_status(c) == pbwire.SERVING, timeout=30, what="SERVING again")
    wait_for(lambda: c.http("GET", "/api/v1/repos")[0] == 200, timeout=30, what="API back")
    assert c.http("GET", "/readyz")[0] == 200


def inflate_logs(db, copies):
    """Makes every log tail `copies` times longer (same lines), so that a search that the trigram
    index cannot narrow down reads a lot."""
    db.execute("UPDATE logs SET content = repeat(content || E'\\n', %s)", (copies,))
    db.execute("ANALYZE logs")


def test_search_flood_leaves_health_alone(collector_factory, db):
    c = collector_factory()
    H.insert_history(db, seed=9, runs=60)
    inflate_logs(db, 800)
    # "~~~" has no trigram: PostgreSQL reads every tail, and nothing matches.
    path = "/api/v1/logs/search?q=%7E%7E%7E"
    status, _, _, alone = timed_get(c, path, timeout=120)
    assert status == 200
    print("search flood: one search alone takes %.2f s" % alone)
    results, times, health = [], [], []
    done = threading.Event()
    barrier = threading.Barrier(16)

    def search():
        barrier.wait()
        try:
            status, hdrs, _, took = timed_get(c, path, timeout=120)
            results.append((status, hdrs.get("retry-after"), took))
        except OSError as e:
            results.append((None, repr(e), None))

    def watch_health():
        while not done.is_set():
            health.append(grpc_status(c))
            done.wait(0.2)

    w = threading.Thread(target=watch_health)
    w.start()
    threads = [threading.Thread(target=search) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            probe_healthz(c, "search flood", times)
            time.sleep(0.3)
        for t in threads:
            t.join()
    finally:
        done.set()
        w.join()
    statuses = [r[0] for r in results]
    print("search flood: statuses %s, /healthz max %.3f s" % (statuses, max(times)))
    assert health and all(h == pbwire.SERVING for h in health), health
    assert set(statuses) <= {200, 503}, results
    assert 200 in statuses
    busy = [r for r in results if r[0] == 503]
    # Past the limit (CIPULSE_MAX_EXPENSIVE_REQUESTS) a search waits a bounded time for a slot and
    # is answered 503 busy only if none frees up: on a quick machine all 16 wait their turn.
    waited = metric_value(c.http("GET", "/metrics")[1], "cipulse_http_expensive_waits_total")
    print("search flood: %d waited for a slot, %d refused busy" % (waited, len(busy)))
    assert waited or busy, "16 concurrent searches should pass the concurrency limit"
    assert all(r[1] for r in busy), "503 without Retry-After: %r" % busy
    # Once the flood is over, searches are served again.
    assert timed_get(c, path, timeout=120)[0] == 200


# ---- section 4: exposure and amplification ----------------------------------------------------

def test_metrics_needs_the_read_token_when_set(collector_factory):
    c = collector_factory(env={"CIPULSE_READ_TOKEN": "read-token-0123456789"})
    status, hdrs, _, _ = timed_get(c, "/metrics")
    assert status == 401 and "bearer" in hdrs.get("www-authenticate", "").lower()
    assert timed_get(c, "/metrics", headers={"Authorization": "Bearer wrong"})[0] == 401
    status, _, body, _ = timed_get(c, "/metrics",
                                   headers={"Authorization": "Bearer read-token-0123456789"})
    assert status == 200 and b"cipulse_http_request_duration_seconds" in body
    status, _, body, _ = timed_get(c, "/metrics",
                                   headers={"Authorization": "Bearer " + c.ADMIN_TOKEN})
    assert status == 200
    # Probes stay open: Kubernetes sends no token.
    assert timed_get(c, "/healthz")[0] == 200
    assert timed_get(c, "/readyz")[0] == 200


def post_signed(c, body, secret, source=None, event="ping"):
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=30,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request("POST", "/webhook/github", body=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": event,
            "X-Hub-Signature-256": sig})
        r = conn.getresponse()
        return r.status, r.getheader("Retry-After"), r.read()
    finally:
        conn.close()


def metric_value(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def test_bad_signatures_are_limited_counted_and_sampled(collector_factory, db, pg_cluster):
    c = collector_factory()
    status, reg = c.http("POST", "/api/v1/repos", {"full_name": "acme/widgets"},
                         headers=c.admin_headers())
    assert status == 201, reg
    secret = reg["webhook_secret"]
    body = json.dumps({"zen": "hi", "hook_id": 1,
                       "repository": {"id": 4242, "full_name": "acme/widgets"}}).encode()
    assert post_signed(c, body, secret)[0] == 200
    log_before = c.log().count("signature mismatch")
    answers = [post_signed(c, body, "wrong-secret", source=ATTACKER) for _ in range(300)]
    refused = [a for a in answers if a[0] == 401]
    limited = [a for a in answers if a[0] == 429]
    assert len(refused) + len(limited) == 300, [a[0] for a in answers]
    assert refused and limited, "no per-address limit on bad signatures"
    assert all(a[1] for a in limited), "429 without Retry-After"
    # The honest sender elsewhere is not limited.
    assert post_signed(c, body, secret)[0] == 200
    lines = c.log().count("signature mismatch") - log_before
    print("bad signatures: %d refused, %d limited, %d log lines" % (len(refused), len(limited), lines))
    assert 1 <= lines <= 10, "bad signatures are logged one line each (%d lines)" % lines
    text = c.http("GET", "/metrics")[1]
    assert metric_value(text, "cipulse_webhooks_total",
                        '{event="ping",result="bad_signature"}') == len(refused)
    assert metric_value(text, "cipulse_webhooks_total",
                        '{event="ping",result="rate_limited"}') == len(limited)
    # The secret is cached: without the database a bad signature is still refused as such.
    pg_cluster.stop()
    try:
        assert post_signed(c, body, "wrong-secret")[0] == 401
    finally:
        pg_cluster.start()


def test_database_outage_is_logged_once_and_retried_with_back_off(collector_factory, pg_cluster):
    c = collector_factory()
    pg_cluster.stop()
    try:
        wait_for(lambda: grpc_status(c) == pbwire.NOT_SERVING, timeout=20, what="NOT_SERVING")
        before = len(c.log().splitlines())
        for _ in range(60):
            assert c.http("GET", "/api/v1/repos")[0] == 503
        time.sleep(2)  # the health monitor's own retries, over a while
        new = c.log().splitlines()[before:]
    finally:
        pg_cluster.start()
    noisy = [l for l in new if " db" in l or "database" in l]
    print("outage: %d database log lines for 60 requests" % len(noisy))
    assert len(noisy) <= 3, "\n".join(noisy[:20])
    wait_for(lambda: grpc_status(c) == pbwire.SERVING, timeout=30, what="SERVING again")
    wait_for(lambda: c.http("GET", "/api/v1/repos")[0] == 200, timeout=30, what="API back")
    # Logged when it started and when it ended, once each.
    assert c.log().count("database unreachable") == 1, c.log()[-3000:]
    assert c.log().count("database reachable again") == 1, c.log()[-3000:]


CSP_NEEDS = ("default-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
             "base-uri 'none'")


def inline_scripts(html):
    """Inline <script> bodies and on*= handlers: what a CSP without 'unsafe-inline' blocks."""
    found = [m.group(0)[:80] for m in re.finditer(r"<script\b(?![^>]*\bsrc=)[^>]*>\s*\S", html, re.I)]
    found += re.findall(r"\son[a-z]+\s*=", html, re.I)
    return found


def test_dashboard_security_headers(collector_factory, tmp_path):
    web = tmp_path / "web"
    (web / "assets").mkdir(parents=True)
    with open(os.path.join(ROOT, "web", "index.html")) as f:
        (web / "index.html").write_text(f.read())
    (web / "assets" / "app-1234.js").write_text("console.log(1)\n")
    c = collector_factory(env={"CIPULSE_WEB_DIR": str(web)})
    for path in ("/", "/repos/acme/widgets", "/assets/app-1234.js", "/api/v1/repos"):
        status, hdrs, body, _ = timed_get(c, path)
        assert status == 200, path
        csp = hdrs.get("content-security-policy", "")
        for need in CSP_NEEDS:
            assert need in csp, (path, csp)
        script_src = re.search(r"script-src ([^;]*)", csp)
        assert script_src and "'unsafe-inline'" not in script_src.group(1), csp
        assert hdrs.get("x-content-type-options") == "nosniff", path
        assert hdrs.get("referrer-policy") in ("no-referrer", "same-origin",
                                               "strict-origin-when-cross-origin"), path
        assert hdrs.get("x-frame-options") == "DENY", path
    # The app itself needs no inline script (the source page, and the built one when present).
    for page in ("web/index.html", "web/dist/index.html"):
        p = os.path.join(ROOT, page)
        if os.path.exists(p):
            with open(p) as f:
                assert not inline_scripts(f.read()), page


PRIVATE_TARGETS = [
    "http://127.0.0.1:5432/", "http://localhost:8080/hook", "http://[::1]/x", "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/", "http://172.16.5.4/",
    "http://192.168.1.1/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://[fd00::1]/",
    "http://2130706433/", "http://0x7f.1/", "https://user@127.0.0.1/", "http://100.64.0.1/",
]


def test_notification_targets_refuse_private_addresses(collector_factory):
    c = collector_factory()
    for kind in ("webhook", "slack", "teams"):
        refused = []
        for i, target in enumerate(PRIVATE_TARGETS):
            status, body = c.http("POST", "/api/v1/settings/alerts",
                                  {"channels": [{"name": "ch%d" % i, "kind": kind,
                                                 "target": target}]},
                                  headers=c.admin_headers())
            if status == 400 and body["error"].get("param") == "channels[0].target":
                refused.append(target)
        assert refused == PRIVATE_TARGETS, kind
        status, body = c.http("POST", "/api/v1/settings/alerts",
                              {"channels": [{"name": "public-" + kind, "kind": kind,
                                             "target": "https://93.184.216.34/hook"}]},
                              headers=c.admin_headers())
        assert status == 200, body
    names = [ch["name"] for ch in c.http("GET", "/api/v1/settings/alerts")[1]["channels"]]
    assert names == ["public-slack", "public-teams", "public-webhook"]


def test_private_targets_allowed_when_asked(collector_factory):
    c = collector_factory(env={"CIPULSE_ALLOW_PRIVATE_TARGETS": "1"})
    status, body = c.http("POST", "/api/v1/settings/alerts",
                          {"channels": [{"name": "local", "kind": "webhook",
                                         "target": "http://127.0.0.1:5432/"}]},
                          headers=c.admin_headers())
    assert status == 200, body
