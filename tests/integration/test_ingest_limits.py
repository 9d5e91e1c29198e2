"""The collector's process-wide limits on report streams: memory held by reports in flight
(CIPULSE_MAX_INFLIGHT_BYTES) and the time a stream may take (CIPULSE_REPORT_TIMEOUT).

A stream over either limit is ended with a transient status (UNAVAILABLE "collector busy",
DEADLINE_EXCEEDED), nothing of it is stored, and the collector's resources come back.
"""
import os
import queue
import threading
import time

import grpc
import pytest

import pbwire
from agent_fakes import AGENT, FakeGitHub, agent_env, make_job, run_agent, spooled
from harness import wait_for
from ingest_env import (CHECK, REPO, REPO_ID, REPORT, channel, db_snapshot, make_report, metric,
                        send_report, start_watch, with_tokens)

# Each held stream: header, one job, LOG_PIECES log chunks of LOG_PIECE bytes of one tail.
LOG_PIECE = 60000
LOG_PIECES = 5
HELD_TEXT = LOG_PIECE * LOG_PIECES
CAP = 2 * 1024 * 1024


def busy_count(col):
    return metric(col, 'cipulse_reports_total{result="busy"}') or 0


def held_chunks(run_id):
    chunks = make_report(REPO_ID, REPO, run_id, jobs=1, steps=1, log_bytes=0)[:2]
    job_id = run_id * 100 + 1
    for seq in range(LOG_PIECES):
        chunks.append(pbwire.chunk_log(job_id=job_id, step_number=1, seq=seq,
                                       text="x" * LOG_PIECE, last=seq == LOG_PIECES - 1))
    return chunks


class HeldStream:
    """A report stream that sends everything but does not half-close until released."""

    def __init__(self, target, token, chunks):
        self.gate = threading.Event()
        self.sent = threading.Event()
        self.ch = channel(target)
        call = self.ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)

        def gen():
            for c in chunks:
                yield c
            self.sent.set()
            self.gate.wait(60)

        self.fut = call.future(gen(), metadata=[("authorization", "Bearer " + token)],
                               timeout=90)

    def release(self):
        self.gate.set()

    def result(self):
        try:
            return grpc.StatusCode.OK, pbwire.decode(pbwire.ACK, self.fut.result(timeout=30))
        except grpc.RpcError as e:
            return e.code(), e.details()
        finally:
            self.ch.close()


@pytest.fixture
def capped(collector_factory):
    return with_tokens(collector_factory(env={
        "CIPULSE_MAX_MESSAGE_BYTES": "262144", "CIPULSE_MAX_REPORT_BYTES": "1048576",
        "CIPULSE_MAX_INFLIGHT_BYTES": str(CAP)}))


def test_streams_over_the_memory_budget_are_refused_as_busy(capped, db):
    col = capped
    before = db_snapshot(db.url)
    held, refused = [], None
    try:
        for n in range(12):
            received = metric(col, "cipulse_report_bytes_total")
            chunks = held_chunks(5000 + n)
            s = HeldStream(col.grpc_addr, col.tokens["ingest"], chunks)
            # Either the collector refuses it, or it has taken in every message (the poller
            # counts a message's bytes once it passed the budget, then charges it before it
            # reads the next stream's).
            wait_for(lambda: s.fut.done() or metric(col, "cipulse_report_bytes_total") >=
                     received + sum(len(c) for c in chunks),
                     timeout=20, what="stream %d taken in or refused" % n)
            if s.fut.done():
                refused = s
                break
            held.append(s)
        assert refused is not None, "no stream was refused under a %d-byte cap" % CAP
        # Those let in stay in: the budget never takes back what it granted.
        assert not [s for s in held if s.fut.done()]
        code, details = refused.result()
        assert code == grpc.StatusCode.UNAVAILABLE, (code, details)
        assert "collector busy" in details, details
        # The streams held keep at least their log text: only as many fit as the cap allows.
        assert 2 <= len(held) <= CAP // HELD_TEXT, len(held)
        assert busy_count(col) == 1
        # Nothing is stored: the held reports are not complete, the refused one never will be.
        assert db_snapshot(db.url) == before
        assert metric(col, "cipulse_ingest_reports_in_flight") == len(held)
    finally:
        for s in held:
            s.release()
    for n, s in enumerate(held):
        code, ack = s.result()
        assert code == grpc.StatusCode.OK, (code, ack)
        assert ack.get("logs") == 1
    # Finished reports give their memory back; then the refused report goes through.
    wait_for(lambda: metric(col, "cipulse_ingest_inflight_bytes") == 0, what="memory returned")
    ack = send_report(col.grpc_addr, held_chunks(5000 + len(held)), col.tokens["ingest"])
    assert ack.get("logs") == 1
    assert db.scalar("SELECT count(*) FROM workflow_runs") == len(held) + 1
    assert metric(col, "cipulse_ingest_inflight_bytes") == 0
    assert metric(col, "cipulse_ingest_reports_in_flight") == 0
    assert busy_count(col) == 1


@pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")
def test_agent_spools_a_report_the_busy_collector_refused(collector_factory, db, tmp_path):
    """Busy is transient: the agent retries, then keeps the report and sends it later."""
    col = with_tokens(collector_factory(env={
        "CIPULSE_MAX_MESSAGE_BYTES": "65536", "CIPULSE_MAX_REPORT_BYTES": "65536",
        "CIPULSE_MAX_INFLIGHT_BYTES": "65536"}))
    agent_token = col.create_token("o/r")
    # One stream alone may pass the budget; it then holds more than all of it.
    text = "y" * 60000
    hog = HeldStream(col.grpc_addr, col.tokens["ingest"],
                     make_report(REPO_ID, REPO, 6000, jobs=1, steps=1, log_bytes=0)[:2] +
                     [pbwire.chunk_log(job_id=600001, step_number=1, seq=0, text=text,
                                       last=True)])
    gh = FakeGitHub()
    try:
        wait_for(lambda: metric(col, "cipulse_ingest_inflight_bytes") > 65536,
                 what="the first stream to fill the budget")
        spool = str(tmp_path / "spool")
        os.makedirs(os.path.join(spool, "home"))
        t0 = int(time.time() * 1000) - 10000
        gh.jobs = [make_job(801, "build", status="in_progress", runner="runner-1", t0=t0,
                            steps=[("Set up job", "success", t0, t0 + 1000)])]
        env = agent_env(gh.url, col.grpc_addr, spool, CIPULSE_TOKEN=agent_token,
                        CIPULSE_JOB_ID=801, CIPULSE_SEND_BUDGET="1s")
        r = run_agent(["report", "--job-status", "success"], env)
        assert r.returncode == 0, r.stderr
        assert b"spooled" in r.stdout and b"collector busy" in r.stdout, r.stdout
        assert b"rejected" not in r.stdout, r.stdout
        assert len(spooled(spool)) == 1
        assert busy_count(col) >= 2  # retried before spooling
        assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = 801") == 0

        hog.release()
        assert hog.result()[0] == grpc.StatusCode.OK
        wait_for(lambda: metric(col, "cipulse_ingest_inflight_bytes") == 0,
                 what="memory returned")
        assert run_agent(["flush", "--strict"], env).returncode == 0
        assert spooled(spool) == []
        assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = 801") == 1
    finally:
        hog.release()
        gh.stop()


# ---- time limit ------------------------------------------------------------------------------

TIMEOUT_S = 2


@pytest.fixture
def timed(collector_factory):
    return with_tokens(collector_factory(env={"CIPULSE_REPORT_TIMEOUT": "%ds" % TIMEOUT_S}))


def open_report(col, gen):
    ch = channel(col.grpc_addr)
    call = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
    fut = call.future(gen, metadata=[("authorization", "Bearer " + col.tokens["ingest"])],
                      timeout=60)
    return ch, fut


def ended_by_the_collector(ch, fut, t0):
    """The status of a call the client never ends itself: (code, details, seconds taken)."""
    with pytest.raises(grpc.RpcError) as e:
        fut.result(timeout=30)
    took = time.monotonic() - t0
    ch.close()
    return e.value.code(), e.value.details(), took


@pytest.mark.parametrize("kind", ["idle", "trickle"])
def test_a_stream_past_the_time_limit_is_cancelled(timed, db, kind):
    col = timed
    before = db_snapshot(db.url)
    stop = threading.Event()
    chunks = make_report(REPO_ID, REPO, 7000, jobs=1, steps=1, log_bytes=10)

    def idle():
        stop.wait(60)
        yield from ()

    def trickle():
        # The header and the job, then a log chunk every 300 ms, never the end.
        yield from chunks[:2]
        seq = 0
        while not stop.wait(0.3):
            yield pbwire.chunk_log(job_id=700001, step_number=1, seq=seq, text="z" * 1000)
            seq += 1

    t0 = time.monotonic()
    ch, fut = open_report(col, idle() if kind == "idle" else trickle())
    try:
        code, details, took = ended_by_the_collector(ch, fut, t0)
    finally:
        stop.set()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, (code, details)
    assert "time limit" in (details or ""), details
    assert took >= TIMEOUT_S - 0.2, took  # cut at the limit, not before
    # The call is gone from the collector, with its memory, and nothing was stored.
    wait_for(lambda: metric(col, "cipulse_ingest_reports_in_flight") == 0,
             what="the late stream to be freed")
    assert metric(col, "cipulse_ingest_inflight_bytes") == 0
    assert metric(col, 'cipulse_reports_total{result="timeout"}') == 1
    assert metric(col, 'cipulse_reports_total{result="error"}') == 0
    assert db_snapshot(db.url) == before
    # The collector serves the next report as usual.
    ack = send_report(col.grpc_addr, chunks, col.tokens["ingest"])
    assert ack.get("jobs") == 1


def test_health_calls_get_the_time_limit_but_watch_streams_outlive_it(timed):
    col = timed
    stop = threading.Event()

    def idle():
        stop.wait(60)
        yield from ()

    # A Check whose request never comes.
    ch = channel(col.grpc_addr)
    call = ch.stream_unary(CHECK, request_serializer=None, response_deserializer=None)
    t0 = time.monotonic()
    try:
        code, details, took = ended_by_the_collector(ch, call.future(idle(), timeout=60), t0)
    finally:
        stop.set()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED, (code, details)
    assert took >= TIMEOUT_S - 0.2, took

    # A Watch that asked: it streams for as long as its client wants.
    with channel(col.grpc_addr) as wch:
        stream, seen = start_watch(wch)
        assert seen.get(timeout=10) == pbwire.SERVING
        # Neither a new status nor an end, well past the time limit.
        with pytest.raises(queue.Empty):
            seen.get(timeout=TIMEOUT_S + 1.5)
        stream.cancel()
