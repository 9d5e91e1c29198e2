"""What the ingest tests share: a report builder, a gRPC client, database snapshots, and the
fixtures (a throwaway PostgreSQL cluster and a running cipulsed) used by test_ingest_*.py.
"""
import hashlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import grpc
import psycopg2
import pytest

import pbwire

REPORT = "/cipulse.v1.Collector/Report"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("CIPULSE_BUILD", os.path.join(ROOT, "build"))
PGBIN = "/usr/lib/postgresql/15/bin"
TABLES = ["repositories", "workflows", "workflow_runs", "jobs", "steps", "logs", "reports"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd, **kw):
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


class PgCluster:
    """A PostgreSQL cluster in a temp dir on a free port, stoppable and restartable."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="cipulse-pg-")
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres:postgres", self.dir], check=True)
        os.chmod(self.dir, 0o700)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        _as_postgres([PGBIN + "/initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
                      "-E", "UTF8", "--locale=C", "--no-sync"])
        self.start()
        c = psycopg2.connect(self.url("postgres"))
        c.autocommit = True
        c.cursor().execute("CREATE DATABASE cipulse")
        c.close()

    def url(self, db="cipulse"):
        return "postgresql://postgres@127.0.0.1:%d/%s" % (self.port, db)

    def start(self):
        _as_postgres([PGBIN + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"),
                      "-w", "-o", "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off "
                      "-c max_connections=200" % (self.port, self.dir), "start"])

    def stop(self, mode="fast"):
        _as_postgres([PGBIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"])

    def destroy(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        subprocess.run(["rm", "-rf", self.dir], check=False)


class Collector:
    """A cipulsed process on free ports, talking to a PgCluster."""

    def __init__(self, pg, **env):
        self.pg = pg
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.logfile = tempfile.NamedTemporaryFile(prefix="cipulsed-", suffix=".log",
                                                   delete=False)
        self.env = dict(os.environ)
        self.env.update({
            "CIPULSE_DATABASE_URL": pg.url(),
            "CIPULSE_GRPC_ADDR": "127.0.0.1:%d" % self.grpc_port,
            "CIPULSE_HTTP_ADDR": "127.0.0.1:%d" % self.http_port,
            "CIPULSE_POLL": "0",
            "CIPULSE_LOG_LEVEL": "info",
        })
        self.env.update({k: str(v) for k, v in env.items()})
        self.proc = None
        self.target = "127.0.0.1:%d" % self.grpc_port

    def run(self, *args):
        out = subprocess.run([os.path.join(BUILD, "cipulsed")] + list(args), env=self.env,
                             check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=60)
        return out.stdout.decode().strip()

    def token(self, kind="ingest", repo=None):
        args = ["token", "create", "--kind", kind]
        if repo:
            args += ["--repo", repo]
        return self.run(*args)

    def start(self, wait=True):
        self.proc = subprocess.Popen([os.path.join(BUILD, "cipulsed"), "serve"], env=self.env,
                                     stdout=self.logfile, stderr=subprocess.STDOUT)
        if wait:
            deadline = time.time() + 30
            while True:
                assert self.proc.poll() is None, "cipulsed exited:\n" + self.log()
                try:
                    if health_check(self.target, timeout=1) == pbwire.SERVING:
                        return
                except grpc.RpcError:
                    pass
                assert time.time() < deadline, "cipulsed not SERVING:\n" + self.log()
                time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("cipulsed did not stop on signal %d:\n%s" % (sig, self.log()))

    def log(self):
        with open(self.logfile.name, errors="replace") as f:
            return f.read()[-8000:]


# ---- client ---------------------------------------------------------------------------------

def channel(target):
    return grpc.insecure_channel(target)


def health_check(target, service="", timeout=5):
    with channel(target) as ch:
        call = ch.unary_unary(CHECK, request_serializer=None, response_deserializer=None)
        resp = call(pbwire.encode(pbwire.HEALTH_REQ, {"service": service}), timeout=timeout)
        return pbwire.decode(pbwire.HEALTH_RESP, resp).get("status", 0)


def send_report(target, chunks, token, timeout=30):
    """Streams the chunks; returns the decoded ReportAck or raises grpc.RpcError."""
    md = [("authorization", "Bearer " + token)] if token is not None else []
    with channel(target) as ch:
        call = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
        resp = call(iter(chunks), metadata=md, timeout=timeout)
        return pbwire.decode(pbwire.ACK, resp)


def report_status(target, chunks, token):
    """The status code a report gets (grpc.StatusCode.OK when acknowledged), and its details."""
    try:
        send_report(target, chunks, token)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def make_report(repo_id, full_name, run_id, attempt=1, jobs=2, steps=3, log_bytes=200,
                report_id=None, log_chunk=65536, job_base=None):
    """A realistic report: header, jobs with steps, a log tail per step. Returns chunk bytes."""
    report_id = report_id or str(uuid.uuid4())
    now = int(time.time() * 1000)
    job_base = job_base if job_base is not None else run_id * 100
    chunks = [pbwire.chunk_header(
        report_id=report_id, agent_version="0.1.0-test", mode=1, sent_at=now,
        repository={"id": repo_id, "full_name": full_name, "server_url": "https://github.com"},
        workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
        run={"id": run_id, "attempt": attempt, "number": 7, "event": "push",
             "head_branch": "main", "head_sha": "0" * 40, "actor": "octocat",
             "status": "completed", "conclusion": "success", "created_at": now - 60000,
             "run_started_at": now - 59000, "updated_at": now})]
    for j in range(jobs):
        job_id = job_base + j + 1
        chunks.append(pbwire.chunk_job(
            id=job_id, name="job %d" % j, status="completed", conclusion="success",
            created_at=now - 50000, started_at=now - 49000, completed_at=now - 1000,
            runner_name="runner-1", labels=["ubuntu-latest"], runner_os="Linux",
            runner_arch="X64",
            steps=[{"number": s + 1, "name": "step %d" % (s + 1), "status": "completed",
                    "conclusion": "success", "started_at": now - 40000 + s,
                    "completed_at": now - 30000 + s} for s in range(steps)]))
        for s in range(steps):
            text = ("job %d step %d: " % (j, s + 1) + "x" * log_bytes)[:log_bytes]
            pieces = [text[i:i + log_chunk] for i in range(0, len(text), log_chunk)] or [""]
            for seq, piece in enumerate(pieces):
                last = seq == len(pieces) - 1
                chunks.append(pbwire.chunk_log(
                    job_id=job_id, step_number=s + 1, seq=seq, text=piece, last=last,
                    original_size=len(text) * 3 if last else 0, truncated=last))
    return chunks


# ---- database -------------------------------------------------------------------------------

def db_snapshot(url):
    """Row count and a digest of every row of each pipeline table: equal means unchanged."""
    out = {}
    with psycopg2.connect(url) as c:
        cur = c.cursor()
        for t in TABLES:
            cur.execute("SELECT count(*), COALESCE(md5(string_agg(x::text, '|' ORDER BY "
                        "x::text)), '') FROM %s x" % t)
            out[t] = cur.fetchone()
    c.close()
    return out


def query(url, sql, *args):
    with psycopg2.connect(url) as c:
        cur = c.cursor()
        cur.execute(sql, args)
        rows = cur.fetchall()
    c.close()
    return rows


def digest(data):
    return hashlib.sha256(data).hexdigest()


# ---- fixtures -------------------------------------------------------------------------------

REPO = "octo/widgets"
REPO_ID = 424242
OTHER_REPO = "octo/other"


@pytest.fixture(scope="module")
def pg():
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def collector(pg):
    col = Collector(pg, CIPULSE_MAX_MESSAGE_BYTES=262144, CIPULSE_MAX_REPORT_BYTES=1048576)
    col.run("migrate")
    col.tokens = {
        "ingest": col.token("ingest", REPO),
        "other": col.token("ingest", OTHER_REPO),
        "admin": col.token("admin"),
        "read": col.token("read"),
    }
    col.start()
    yield col
    rc = col.stop()
    assert rc == 0, "cipulsed exited %s:\n%s" % (rc, col.log())
