"""Alert latency driver for scripts/bench-alert.sh: sends N failed workflow_run.completed webhooks,
each on its own branch (so each opens its own alert), and times each from just before its request
leaves to the moment the Slack stand-in served here receives the message naming that branch.
Sender and receiver share this process and its monotonic clock.

  latency.py LABEL COLLECTOR_HTTP SECRET RECEIVER_PORT N INTERVAL_MS FIXTURE

Prints: RESULT label=... failures=... received=... p50_ms=... p99_ms=... max_ms=...
Exits non-zero if a message is missing after a generous wait."""
import datetime
import hashlib
import hmac
import http.server
import json
import sys
import threading
import time
import urllib.request
import uuid
import zlib

label, collector, secret, port, n, interval_ms, fixture = sys.argv[1:8]
port, n, interval_ms = int(port), int(n), int(interval_ms)
REPO_ID, REPO = 5151, "bench/alerts"

sent, received = {}, {}
lock = threading.Lock()
all_in = threading.Event()


class Slack(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        t = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
        text = body.decode("utf-8", "replace")
        with lock:
            # The branch names are unique and none is a prefix of another (fixed width).
            for branch in sent:
                if branch in text and branch not in received:
                    received[branch] = t
            if len(received) >= n:
                all_in.set()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Slack)
threading.Thread(target=server.serve_forever, daemon=True).start()

base = json.load(open(fixture))


def payload(i, branch):
    p = json.loads(json.dumps(base))
    now = datetime.datetime.now(datetime.timezone.utc)
    iso = lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
    p["repository"].update(id=REPO_ID, full_name=REPO, name="alerts", default_branch="main")
    r = p["workflow_run"]
    run_id = 900_000_000 + zlib.crc32(label.encode()) % 1000 * 100_000 + i
    r.update(id=run_id, run_attempt=1, conclusion="failure", status="completed",
             head_branch=branch, head_sha="%040x" % run_id,
             run_started_at=iso(now - datetime.timedelta(minutes=2)), updated_at=iso(now),
             created_at=iso(now - datetime.timedelta(minutes=2)))
    r["repository"] = {"id": REPO_ID, "full_name": REPO}
    return json.dumps(p).encode()


def post(body):
    req = urllib.request.Request(collector + "/webhook/github", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-GitHub-Event": "workflow_run",
        "X-GitHub-Delivery": str(uuid.uuid4()), "User-Agent": "GitHub-Hookshot/bench",
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                    hashlib.sha256).hexdigest()})
    with urllib.request.urlopen(req, timeout=60) as r:
        if r.status not in (200, 202):
            raise SystemExit("webhook answered %d" % r.status)


start = time.monotonic()
for i in range(n):
    branch = "bench-%s-%06d" % (label, i)
    body = payload(i, branch)
    due = start + i * interval_ms / 1000.0
    time.sleep(max(0.0, due - time.monotonic()))
    with lock:
        sent[branch] = time.monotonic()
    post(body)
all_in.wait(60 + n * 0.1)
server.shutdown()
with lock:
    lat = sorted((received[b] - sent[b]) * 1000.0 for b in received)
if not lat:
    raise SystemExit("latency.py: no message reached the Slack stand-in")


def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]


print("RESULT label=%s failures=%d received=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f" %
      (label, n, len(lat), pct(50), pct(99), lat[-1]))
sys.exit(0 if len(lat) == n else 1)
