"""What the ingest tests share: a report builder, a gRPC client, database snapshots, and the
`ingest` fixture (on top of conftest.py's collector_factory) used by test_ingest_*.py.
"""
import queue
import threading
import time
import uuid

import grpc
import psycopg2
import pytest

import pbwire

REPORT = "/cipulse.v1.Collector/Report"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
TABLES = ["repositories", "workflows", "workflow_runs", "jobs", "steps", "logs", "reports"]


# ---- client ---------------------------------------------------------------------------------

def channel(target):
    return grpc.insecure_channel(target)


def health_check(target, service="", timeout=5):
    with channel(target) as ch:
        call = ch.unary_unary(CHECK, request_serializer=None, response_deserializer=None)
        resp = call(pbwire.encode(pbwire.HEALTH_REQ, {"service": service}), timeout=timeout)
        return pbwire.decode(pbwire.HEALTH_RESP, resp).get("status", 0)


def start_watch(ch, service="", timeout=60):
    """Starts a Health/Watch on the channel. Returns (call, queue): a reader thread puts each
    status received on the queue, and the call's error code when it ends."""
    seen = queue.Queue()
    watch = ch.unary_stream(WATCH, request_serializer=None, response_deserializer=None)
    stream = watch(pbwire.encode(pbwire.HEALTH_REQ, {"service": service}), timeout=timeout)

    def reader():
        try:
            for msg in stream:
                seen.put(pbwire.decode(pbwire.HEALTH_RESP, msg).get("status", 0))
        except grpc.RpcError as e:
            seen.put(e.code())

    threading.Thread(target=reader, daemon=True).start()
    return stream, seen


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


# ---- fixtures -------------------------------------------------------------------------------

REPO = "octo/widgets"
REPO_ID = 424242
OTHER_REPO = "octo/other"


def with_tokens(col):
    """Ingest tokens for REPO and OTHER_REPO, an admin and a read token, as col.tokens."""
    col.tokens = {
        "ingest": col.create_token(REPO),
        "other": col.create_token(OTHER_REPO),
        "admin": col.create_token(None, kind="admin"),
        "read": col.create_token(None, kind="read"),
    }
    return col


@pytest.fixture
def ingest(collector_factory):
    """A running collector with small size limits (so that tests can pass them) and tokens."""
    return with_tokens(collector_factory(env={"CIPULSE_MAX_MESSAGE_BYTES": "262144",
                                              "CIPULSE_MAX_REPORT_BYTES": "1048576"}))
