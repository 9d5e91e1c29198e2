"""Stand-ins for the agent's tests: a GitHub REST API and a recording gRPC collector.

The GitHub stand-in is a real HTTP server (http.server in a thread) that records every request
and can be scripted to serve paginated jobs, a job that appears late, 403 rate-limit replies
with reset headers, 5xx replies, 404, and job logs behind a redirect to another host name.

The collector stand-in is a real gRPC server (Debian's python3-grpcio, generic handler) that
records the raw bytes of every message of every Report stream and decodes them with a small
hand-written protobuf reader, independent of the agent's protobuf-c code.
"""
import json
import os
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

import grpc

from harness import run_checked, sanitizer_env
from pbwire import ACK, CHUNK, decode, encode, fields

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CIPULSE_BUILD", os.path.join(REPO_ROOT, "build"))
AGENT = os.path.join(BUILD, "cipulse-agent")


def iso(ms):
    """Epoch ms -> GitHub's timestamp format (second resolution, like the jobs API)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


# ---------------------------------------------------------------- protobuf, read by hand

def decode_chunk(b):
    """One ReportChunk of the agent: ("header" | "job" | "log" | "tests", the message as a
    dict)."""
    (num, _wt, v), = fields(b)
    kind = {1: "header", 2: "job", 3: "log", 4: "tests"}[num]
    return kind, decode(CHUNK[kind][1][1], v, strict=True)


def encode_ack(report_id, jobs=0, steps=0, logs=0):
    counts = {"jobs": jobs, "steps": steps, "logs": logs}
    return encode(ACK, dict({"report_id": report_id}, **{k: v for k, v in counts.items() if v}))


def frames(data):
    """Splits the agent's spool encoding (4-byte big-endian length + message) into messages."""
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i:i + 4], "big")
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    assert i == len(data)
    return out


class Report:
    """One received stream: raw messages, decoded header/jobs/logs, metadata."""

    def __init__(self, raw, metadata):
        self.raw = raw
        self.metadata = metadata
        self.header, self.jobs, self.logs, self.tests = None, [], [], []
        for i, b in enumerate(raw):
            kind, m = decode_chunk(b)
            if kind == "header":
                assert i == 0 and self.header is None
                self.header = m
            elif kind == "job":
                self.jobs.append(m)
            else:
                # A job goes before the log chunks and test batches that refer to it.
                assert any(j["id"] == m["job_id"] for j in self.jobs)
                (self.logs if kind == "log" else self.tests).append(m)
        assert self.header is not None

    @property
    def report_id(self):
        return self.header["report_id"]

    def job(self, job_id):
        return next(j for j in self.jobs if j["id"] == job_id)

    def tails(self):
        """{(job_id, step): (text, last chunk)} with chunks joined in seq order."""
        out = {}
        for c in self.logs:
            key = (c["job_id"], c.get("step_number", 0))
            text, parts = out.get(key, ("", []))
            assert c.get("seq", 0) == len(parts), "chunks out of order"
            parts.append(c)
            out[key] = (text + c.get("text", ""), parts)
        return {k: (t, p[-1]) for k, (t, p) in out.items()}


class FakeCollector:
    """A gRPC server for /cipulse.v1.Collector/Report that records what it receives.

    `script` is a list of status codes for the next calls (None = accept); once empty, calls
    are accepted. Accepted reports are acknowledged with a ReportAck.
    """
    # What a collector older than test results answers to a TestBatch (assemble.c's default).
    OLD_ANSWER = "chunk: empty message"

    def __init__(self, port=0):
        self.reports = []
        self.calls = 0
        self.script = []
        self.old = False  # True: refuse test batches exactly like an old collector
        self.refused = 0
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.method_handlers_generic_handler("cipulse.v1.Collector", {
            "Report": grpc.stream_unary_rpc_method_handler(self._report),
        })
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:%d" % port)
        self.addr = "127.0.0.1:%d" % self.port
        self.server.start()

    def _report(self, request_iterator, context):
        raw = list(request_iterator)
        md = dict(context.invocation_metadata())
        with self.lock:
            self.calls += 1
            code = self.script.pop(0) if self.script else None
        if code is not None:
            context.abort(code, "scripted failure")
        if self.old and any(fields(b)[0][0] == 4 for b in raw):
            with self.lock:
                self.refused += 1
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, self.OLD_ANSWER)
        rep = Report(raw, md)
        with self.lock:
            self.reports.append(rep)
        return encode_ack(rep.report_id, jobs=len(rep.jobs))

    def stop(self):
        self.server.stop(0).wait()


class FakeGitHub:
    """A GitHub REST API stand-in. Configure `jobs` (job objects), `logs` ({job_id: text}),
    `per_page` (forced page size), and one-shot scripts:
    - `late`: number of job-list calls that leave out `late_job`
    - `errors`: list of (status, headers) for the next job-list calls
    - `always`: (status, headers) for every job-list call
    - `framing`: how bodies end: "length" (Content-Length), "chunked" (small chunks, with a
      chunk extension and a trailer) or "close" (the connection closes)
    `tls`: (certificate file, key file) to serve HTTPS instead of HTTP.
    """

    def __init__(self, tls=None):
        self.framing = "length"
        self.jobs = []
        self.logs = {}
        self.per_page = 100
        self.late = 0
        self.late_job = None
        self.errors = []
        self.always = None
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # chunked replies; each reply says how it ends

            def log_message(self, *a):
                pass

            def do_GET(self):
                fake._handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "%s://127.0.0.1:%d" % (self.scheme, self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _send(self, h, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        if self.framing == "chunked" and data:
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for i in range(0, len(data), 1000):
                part = data[i:i + 1000]
                h.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            h.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
        elif self.framing == "close":
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
            h.close_connection = True
            if self.scheme == "https":
                # The end of the body is the end of the TLS session (close_notify): a bare
                # close could be a truncation, which the agent, like libcurl, refuses.
                try:
                    h.connection.unwrap()
                except OSError:
                    pass
        else:
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

    def _handle(self, h):
        u = urlparse(h.path)
        q = parse_qs(u.query)
        with self.lock:
            self.requests.append({"path": u.path, "query": q, "headers": dict(h.headers),
                                  "host": h.headers.get("Host"), "t": time.time()})
        parts = u.path.strip("/").split("/")
        # /repos/{o}/{r}/actions/runs/{id}/attempts/{n}/jobs
        if len(parts) == 9 and parts[0] == "repos" and parts[8] == "jobs":
            with self.lock:
                err = self.errors.pop(0) if self.errors else self.always
                late = self.late > 0
                if late:
                    self.late -= 1
            if err:
                return self._send(h, err[0], {"message": "scripted"}, err[1])
            jobs = [j for j in self.jobs if not (late and j["id"] == self.late_job)]
            page = int(q.get("page", ["1"])[0])
            per = self.per_page
            chunk = jobs[(page - 1) * per: page * per]
            headers = []
            base = "%s%s?per_page=100" % (self.url, u.path)
            links = []
            if page * per < len(jobs):
                links.append('<%s&page=%d>; rel="next"' % (base, page + 1))
            if page > 1:
                links.append('<%s&page=%d>; rel="prev"' % (base, page - 1))
            if links:
                headers.append(("Link", ", ".join(links)))
            return self._send(h, 200, {"total_count": len(jobs), "jobs": chunk}, headers)
        # /repos/{o}/{r}/actions/jobs/{id}/logs -> redirect to "blob storage" on another name
        if len(parts) == 7 and parts[4] == "jobs" and parts[6] == "logs":
            jid = int(parts[5])
            if jid not in self.logs:
                return self._send(h, 404, {"message": "Not Found"})
            loc = "%s://localhost:%d/blob/%d?sig=x" % (self.scheme, self.port, jid)
            return self._send(h, 302, b"", [("Location", loc)])
        if len(parts) == 2 and parts[0] == "blob":
            return self._send(h, 200, self.logs[int(parts[1])].encode(),
                              [("Content-Type", "text/plain")])
        return self._send(h, 404, {"message": "Not Found"})

    def job_list_calls(self):
        return [r for r in self.requests if r["path"].endswith("/jobs")]


def make_job(job_id, name, status="completed", conclusion="success", runner="runner-1",
             steps=None, t0=None):
    """A job object like the jobs API returns. steps: list of (name, conclusion, start, end)
    in epoch ms (end None: in progress; start None: queued)."""
    t0 = t0 if t0 is not None else int(time.time() * 1000) - 60000
    out = []
    for i, (sname, sconcl, s0, s1) in enumerate(steps or []):
        out.append({"name": sname, "number": i + 1,
                    "status": "completed" if s1 else ("in_progress" if s0 else "queued"),
                    "conclusion": sconcl, "started_at": iso(s0) if s0 else None,
                    "completed_at": iso(s1) if s1 else None})
    return {"id": job_id, "run_id": 1000, "run_attempt": 1, "name": name, "status": status,
            "conclusion": conclusion if status == "completed" else None,
            "created_at": iso(t0 - 5000), "started_at": iso(t0),
            "completed_at": iso(t0 + 50000) if status == "completed" else None,
            "runner_name": runner, "labels": ["ubuntu-latest"],
            "html_url": "https://github.com/o/r/actions/runs/1000/job/%d" % job_id,
            "steps": out}


def agent_env(api_url, collector, spool, **extra):
    """The environment of a GitHub Actions job, and nothing else from ours."""
    env = {
        "PATH": "/usr/bin:/bin", "HOME": spool + "/home",
        "GITHUB_ACTIONS": "true", "CI": "true",
        "GITHUB_API_URL": api_url, "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "o/r", "GITHUB_REPOSITORY_ID": "4242",
        "GITHUB_WORKFLOW_REF": "o/r/.github/workflows/ci.yml@refs/heads/main",
        "GITHUB_RUN_ID": "1000", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_RUN_NUMBER": "12",
        "GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "build", "GITHUB_SHA": "a" * 40,
        "GITHUB_REF_NAME": "main", "GITHUB_EVENT_NAME": "push", "GITHUB_ACTOR": "octocat",
        "RUNNER_NAME": "runner-1", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
        "GITHUB_TOKEN": "ghs_faketoken1234567890",
        "CIPULSE_COLLECTOR": collector, "CIPULSE_TOKEN": "cip_ingest_secret_0123456789",
        "CIPULSE_SPOOL_DIR": spool, "CIPULSE_TIME_BUDGET": "6s", "CIPULSE_SEND_BUDGET": "3s",
    }
    env.update(sanitizer_env())  # for ASan builds: a report exits 66 (harmless otherwise)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def spooled(spool):
    """The reports in a spool, as paths relative to it, sorted (reports are kept per
    repository, in "repo-<id>/"; files of the old layout lie directly in the spool)."""
    out = []
    for root, _dirs, files in os.walk(spool):
        out += [os.path.relpath(os.path.join(root, f), spool) for f in files
                if f.endswith(".cpr") and not f.startswith(".")]
    return sorted(out)


def run_agent(args, env, timeout=60, input=None):
    """Runs the agent; a crash or a sanitizer report fails the test (harness.check_process)."""
    return run_checked([AGENT] + list(args), env=env, capture_output=True, timeout=timeout,
                       input=input)
