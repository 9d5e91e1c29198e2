"""What the ingest tests share: a report builder, a gRPC client, database snapshots, and the
`ingest` fixture (on top of conftest.py's collector_factory) used by test_ingest_*.py.
"""
import queue
import re
import threading
import time
import uuid

import grpc
import psycopg2
import pytest

import pbwire
from harness import wait_for

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


def report_parts(repo_id, full_name, run_id, attempt=1, jobs=2, steps=3, log_bytes=200,
                 report_id=None, log_chunk=65536, job_base=None):
    """A realistic report as plain data: (header, [(job, [log chunks])]); make_report encodes it,
    sent_rows says which rows it must store."""
    report_id = report_id or str(uuid.uuid4())
    now = int(time.time() * 1000)
    job_base = job_base if job_base is not None else run_id * 100
    header = dict(
        report_id=report_id, agent_version="0.1.0-test", mode=1, sent_at=now,
        repository={"id": repo_id, "full_name": full_name, "server_url": "https://github.com"},
        workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
        run={"id": run_id, "attempt": attempt, "number": 7, "event": "push",
             "head_branch": "main", "head_sha": "0" * 40, "actor": "octocat",
             "status": "completed", "conclusion": "success", "created_at": now - 60000,
             "run_started_at": now - 59000, "updated_at": now})
    out = []
    for j in range(jobs):
        job_id = job_base + j + 1
        job = dict(
            id=job_id, name="job %d" % j, status="completed", conclusion="success",
            created_at=now - 50000, started_at=now - 49000, completed_at=now - 1000,
            runner_name="runner-1", labels=["ubuntu-latest"], runner_os="Linux",
            runner_arch="X64",
            steps=[{"number": s + 1, "name": "step %d" % (s + 1), "status": "completed",
                    "conclusion": "success", "started_at": now - 40000 + s,
                    "completed_at": now - 30000 + s} for s in range(steps)])
        logs = []
        for s in range(steps):
            text = ("job %d step %d: " % (j, s + 1) + "x" * log_bytes)[:log_bytes]
            pieces = [text[i:i + log_chunk] for i in range(0, len(text), log_chunk)] or [""]
            for seq, piece in enumerate(pieces):
                last = seq == len(pieces) - 1
                logs.append(dict(job_id=job_id, step_number=s + 1, seq=seq, text=piece,
                                 last=last, original_size=len(text) * 3 if last else 0,
                                 truncated=last))
        out.append((job, logs))
    return header, out


def make_report(repo_id, full_name, run_id, **kw):
    """A realistic report (report_parts): header, jobs with steps, a log tail per step. Returns
    chunk bytes."""
    return encode_report(report_parts(repo_id, full_name, run_id, **kw))


def encode_report(parts):
    header, jobs = parts
    chunks = [pbwire.chunk_header(**header)]
    for job, logs in jobs:
        chunks.append(pbwire.chunk_job(**job))
        chunks += [pbwire.chunk_log(**log) for log in logs]
    return chunks


def sent_rows(parts):
    """What a report must store, from what was sent (not from the collector): the run, and
    every job, step and log tail of it, times as epoch milliseconds."""
    header, jobs = parts
    r = header["run"]
    run = (r["id"], r["attempt"], r["number"], r["event"], r["status"], r["conclusion"],
           r["head_branch"], r["head_sha"], r["actor"], r["created_at"], r["run_started_at"],
           r["updated_at"])
    out = {"run": [run], "jobs": [], "steps": [], "logs": [],
           "report": [(header["report_id"], r["attempt"], header["agent_version"],
                       len(jobs), sum(len(j["steps"]) for j, _ in jobs),
                       len({(log["job_id"], log["step_number"]) for _, ls in jobs for log in ls}))]}
    for job, logs in jobs:
        out["jobs"].append((job["id"], job["name"], job["status"], job["conclusion"],
                            job["created_at"], job["started_at"], job["completed_at"],
                            job["runner_name"], job["runner_os"], job["runner_arch"],
                            job["labels"]))
        out["steps"] += [(job["id"], s["number"], s["name"], s["status"], s["conclusion"],
                          s["started_at"], s["completed_at"]) for s in job["steps"]]
        tails = {}
        for log in logs:
            tails.setdefault(log["step_number"], []).append(log)
        for n, pieces in tails.items():
            last = pieces[-1]
            out["logs"].append((job["id"], n, "".join(p["text"] for p in pieces),
                                last["original_size"], last["truncated"]))
    for k in out:
        out[k].sort()
    return out


def stored_rows(url, repo_id):
    """The rows stored for each run of a repository, in the shape of sent_rows:
    {run_id: rows}; a run without rows is not in it."""
    def ms(col):
        return "(extract(epoch FROM %s) * 1000)::bigint" % col
    q = {
        "run": "SELECT run_id, run_id, run_attempt, run_number, event, status, conclusion,"
               " head_branch, head_sha, actor, %s, %s, %s FROM workflow_runs WHERE repo_id = %%s"
               % (ms("created_at"), ms("run_started_at"), ms("updated_at")),
        "jobs": "SELECT run_id, job_id, name, status, conclusion, %s, %s, %s, runner_name,"
                " runner_os, runner_arch, labels FROM jobs WHERE repo_id = %%s"
                % (ms("created_at"), ms("started_at"), ms("completed_at")),
        "steps": "SELECT j.run_id, s.job_id, s.number, s.name, s.status, s.conclusion, %s, %s"
                 " FROM steps s JOIN jobs j USING (repo_id, job_id) WHERE j.repo_id = %%s"
                 % (ms("s.started_at"), ms("s.completed_at")),
        "logs": "SELECT j.run_id, l.job_id, l.step_number, l.content, l.original_size, l.truncated"
                " FROM logs l JOIN jobs j USING (repo_id, job_id) WHERE j.repo_id = %s",
        "report": "SELECT run_id, report_id, run_attempt, agent_version, jobs, steps, logs"
                  " FROM reports WHERE repo_id = %s",
    }
    out = {}
    for k, sql in q.items():
        for r in query(url, sql, repo_id):
            rows = out.setdefault(r[0], {kind: [] for kind in q})
            rows[k].append(tuple(r[1:]))
    for rows in out.values():
        for k in rows:
            rows[k].sort()
    return out


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


def metric(col, name):
    """The value of an unlabelled /metrics series, or of name{labels} written out in full."""
    status, text = col.http("GET", "/metrics")
    assert status == 200, text
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def wait_held(col, reports=1):
    """Waits until the collector holds at least `reports` reports in flight, with their messages
    (the ingest gauges): a stream is then certainly mid-way on the collector's side."""
    wait_for(lambda: metric(col, "cipulse_ingest_reports_in_flight") >= reports and
             metric(col, "cipulse_ingest_inflight_bytes") > 0, what="reports in flight")


def wait_released(col):
    """Waits until the collector holds no report and no memory for one any more."""
    wait_for(lambda: metric(col, "cipulse_ingest_reports_in_flight") == 0 and
             metric(col, "cipulse_ingest_inflight_bytes") == 0, what="no report in flight")


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


# Small size limits, so that tests can pass them.
INGEST_LIMITS = {"CIPULSE_MAX_MESSAGE_BYTES": "262144", "CIPULSE_MAX_REPORT_BYTES": "1048576"}


@pytest.fixture
def ingest(collector_factory):
    """A running collector with small size limits (INGEST_LIMITS) and tokens."""
    return with_tokens(collector_factory(env=INGEST_LIMITS))
