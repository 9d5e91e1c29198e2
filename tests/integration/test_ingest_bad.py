"""Bad reports: each gets the status that means something, and the database stays as it was."""
import threading

import grpc
import pytest

import pbwire
from harness import collector_on_a_new_database, wait_for
from ingest_env import (INGEST_LIMITS, REPO, REPO_ID, REPORT, channel, db_snapshot,  # noqa: F401
                        ingest, make_report, metric, report_status, wait_held, wait_released,
                        with_tokens)

BAD = grpc.StatusCode.INVALID_ARGUMENT


def good(run_id, **kw):
    return make_report(REPO_ID, REPO, run_id=run_id, **kw)


def header_with(run_id, **changes):
    """A header chunk with some fields replaced (None removes a field)."""
    h = {"report_id": "bad-%d" % run_id,
         "repository": {"id": REPO_ID, "full_name": REPO},
         "run": {"id": run_id, "attempt": 1}}
    for path, value in changes.items():
        node, keys = h, path.split(".")
        for k in keys[:-1]:
            node = node[k]
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    return pbwire.chunk_header(**h)


def job(job_id=1, **kw):
    return pbwire.chunk_job(id=job_id, name="build", **kw)


CASES = {
    "garbage bytes": (lambda: [b"\xff\xff\xff\xff\xff\xff"], BAD, "malformed message"),
    "truncated message": (lambda: [good(2001)[0][:-5]], BAD, "malformed message"),
    "truncated job after a good header": (lambda: [good(2002)[0], good(2002)[1][:-3]], BAD,
                                          "malformed message"),
    "empty stream": (lambda: [], BAD, "header"),
    "empty message": (lambda: [good(2003)[0], b""], BAD, "empty message"),
    "job before the header": (lambda: [job(), header_with(2004)], BAD, "header"),
    "two headers": (lambda: [header_with(2005), header_with(2005)], BAD, "header"),
    "missing repository id": (lambda: [header_with(2006, **{"repository.id": None})], BAD,
                              "header.repository.id"),
    "missing run attempt": (lambda: [header_with(2007, **{"run.attempt": None})], BAD,
                            "header.run.attempt"),
    "missing run": (lambda: [header_with(2008, run=None)], BAD, "header.run.id"),
    "missing job id": (lambda: [header_with(2009), pbwire.chunk_job(name="x")], BAD, "job.id"),
    "step number 0": (lambda: [header_with(2010), job(steps=[{"number": 0}])], BAD,
                      "job.steps.number"),
    "log of a job not in the report": (
        lambda: [header_with(2011), job(5), pbwire.chunk_log(job_id=6, text="x", last=True)],
        BAD, "log.job_id"),
    "invalid UTF-8 in log text": (
        lambda: [header_with(2012), job(5), pbwire.chunk_log(job_id=5, text=b"ok \xc3\x28 no")],
        BAD, "log.text"),
    "NUL in log text": (
        lambda: [header_with(2013), job(5), pbwire.chunk_log(job_id=5, text=b"before\0after")],
        BAD, "log.text"),
    "invalid UTF-8 in a step name": (
        lambda: [header_with(2014), job(5, steps=[{"number": 1, "name": b"\xff"}])],
        BAD, "job.steps.name"),
    "invalid UTF-8 in the repository name": (
        lambda: [header_with(2015, **{"repository.full_name": b"octo/\xe2\x82"})],
        BAD, "header.repository.full_name"),
    "log chunk out of order": (
        lambda: [header_with(2016), job(5), pbwire.chunk_log(job_id=5, seq=1, text="b")],
        BAD, "log.seq"),
    "duplicate log chunk": (
        lambda: [header_with(2017), job(5), pbwire.chunk_log(job_id=5, seq=0, text="a"),
                 pbwire.chunk_log(job_id=5, seq=0, text="a")], BAD, "log.seq"),
    "log chunk after the last": (
        lambda: [header_with(2018), job(5), pbwire.chunk_log(job_id=5, seq=0, last=True),
                 pbwire.chunk_log(job_id=5, seq=1, text="late")], BAD, "log.seq"),
    "oversized message": (
        lambda: [header_with(2019), job(5), pbwire.chunk_log(job_id=5, text="x" * 300000)],
        grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
    "report over the total limit": (
        lambda: [header_with(2020), job(5)] + [
            pbwire.chunk_log(job_id=5, seq=i, text="y" * 200000) for i in range(8)],
        grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than"),
}


@pytest.fixture(scope="module")
def refusing(pg_cluster):
    """The ingest fixture's collector, shared by the tests below whose reports are all refused
    (each checks that its report changed nothing)."""
    with collector_on_a_new_database(pg_cluster, env=INGEST_LIMITS) as (_db, col):
        yield with_tokens(col)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_report(refusing, name):
    ingest, db = refusing, refusing.db
    build, code, needle = CASES[name]
    before = db_snapshot(db.url)
    got, details = report_status(ingest.grpc_addr, build(), ingest.tokens["ingest"])
    assert got == code, "%s: got %s %r" % (name, got, details)
    assert needle in (details or ""), details
    assert db_snapshot(db.url) == before


@pytest.mark.parametrize("token,code", [
    (None, grpc.StatusCode.UNAUTHENTICATED),
    ("", grpc.StatusCode.UNAUTHENTICATED),
    ("cip_not_a_real_token_0000000000000000000000", grpc.StatusCode.UNAUTHENTICATED),
    ("other", grpc.StatusCode.PERMISSION_DENIED),
    ("read", grpc.StatusCode.PERMISSION_DENIED),
])
def test_token_refused(refusing, token, code):
    ingest, db = refusing, refusing.db
    token = ingest.tokens.get(token, token)
    before = db_snapshot(db.url)
    got, details = report_status(ingest.grpc_addr, good(2100), token)
    assert got == code, details
    assert db_snapshot(db.url) == before


def test_bearer_scheme_is_required(ingest, db):
    before = db_snapshot(db.url)
    with channel(ingest.grpc_addr) as ch:
        call = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.RpcError) as e:
            call(iter(good(2101)), metadata=[("authorization", ingest.tokens["ingest"])],
                 timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert db_snapshot(db.url) == before


def wait_broken_call_freed(col):
    """Waits until the collector has ended the broken call (counted as an error) and freed it."""
    wait_for(lambda: metric(col, 'cipulse_reports_total{result="error"}') == 1,
             what="the broken call to be counted")
    wait_released(col)


def test_client_cancel_mid_stream_commits_nothing(ingest, db):
    """A stream cut short is not a report: nothing of it may be stored."""
    before = db_snapshot(db.url)
    chunks = good(2200, jobs=3)
    sent_some = threading.Event()
    release = threading.Event()

    def stream():
        for c in chunks[:4]:
            yield c
        sent_some.set()
        release.wait(10)

    with channel(ingest.grpc_addr) as ch:
        call = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
        fut = call.future(stream(), metadata=[("authorization",
                                               "Bearer " + ingest.tokens["ingest"])],
                          timeout=30)
        assert sent_some.wait(10)
        wait_held(ingest)  # the collector has the first messages
        fut.cancel()
        release.set()
    wait_broken_call_freed(ingest)
    assert db_snapshot(db.url) == before


def test_client_error_mid_stream_commits_nothing(ingest, db):
    before = db_snapshot(db.url)
    chunks = good(2201, jobs=3)
    crash = threading.Event()

    def stream():
        for c in chunks[:4]:
            yield c
        crash.wait(10)
        raise RuntimeError("agent crashed")

    with channel(ingest.grpc_addr) as ch:
        call = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
        fut = call.future(stream(), metadata=[("authorization",
                                               "Bearer " + ingest.tokens["ingest"])],
                          timeout=30)
        wait_held(ingest)  # the collector has the first messages
        crash.set()
        with pytest.raises((grpc.RpcError, grpc.FutureCancelledError)):
            fut.result(timeout=30)
    wait_broken_call_freed(ingest)
    assert db_snapshot(db.url) == before
