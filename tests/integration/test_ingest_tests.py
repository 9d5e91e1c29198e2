"""Test results in agent reports (TestBatch): stored per job under a stable test id, counted in
the ack, refused with the field named when bad, and a newer agent's unknown kind of message
skipped."""
import grpc

import pbwire
from ingest_env import (REPO, REPO_ID, db_snapshot, ingest, query,  # noqa: F401
                        report_parts, encode_report, report_status, send_report, with_tokens)


def cases(n, prefix="test_", fail_every=0, suite="tests.unit", message="assert 1 == 2"):
    out = []
    for i in range(n):
        failed = fail_every and i % fail_every == 0
        out.append({"suite": suite, "class_name": "pkg.Class%d" % (i % 7),
                    "name": "%s%d" % (prefix, i), "file": "tests/test_x.py",
                    "duration_us": 1000 + i, "retries": 0,
                    "result": pbwire.FAILED if failed else pbwire.PASSED,
                    "message": message if failed else ""})
    return out


def report_with_tests(run_id, batches, jobs=2, **kw):
    """Chunk bytes of a report whose jobs are followed by the given test batches
    ([(job index, [cases])])."""
    parts = report_parts(REPO_ID, REPO, run_id, jobs=jobs, steps=1, **kw)
    chunks = encode_report(parts)
    job_ids = [job["id"] for job, _ in parts[1]]
    for j, cs in batches:
        for i in range(0, max(len(cs), 1), 1000):
            chunks.append(pbwire.chunk_tests(job_id=job_ids[j], cases=cs[i:i + 1000]))
    return chunks, job_ids


def test_tests_are_stored_per_job(ingest, db):
    a, b = cases(1500, fail_every=100), cases(40, prefix="other_", fail_every=3)
    chunks, job_ids = report_with_tests(3001, [(0, a), (1, b)])
    ack = send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    assert ack.get("tests") == 1540, ack
    rows = query(db.url, "SELECT job_id, count(*), count(*) FILTER (WHERE result = 'failed'), "
                 "sum(duration_us) FROM test_results WHERE repo_id = %s GROUP BY job_id "
                 "ORDER BY job_id", REPO_ID)
    assert rows == [(job_ids[0], 1500, 15, sum(c["duration_us"] for c in a)),
                    (job_ids[1], 40, 14, sum(c["duration_us"] for c in b))]
    # One identity per test, shared by the jobs that ran it; the id is the contract's.
    assert query(db.url, "SELECT count(*) FROM tests WHERE repo_id = %s", REPO_ID) == [(1540,)]
    t = query(db.url, "SELECT t.test_id, t.suite, t.class_name, t.name, t.file, r.message, "
              "cipulse_test_id(%s, t.suite, t.class_name, t.name, t.file) FROM tests t "
              "JOIN test_results r USING (repo_id, test_id) WHERE t.name = 'test_100'", REPO_ID)
    assert len(t) == 1 and len(t[0][0]) == 16 and t[0][0] == t[0][6]
    assert t[0][1:6] == ("tests.unit", "pkg.Class2", "test_100", "tests/test_x.py",
                         "assert 1 == 2")
    # The job's failed tests, by the function the run detail and the job summary call.
    failed = query(db.url, "SELECT f.name, f.message, f.total FROM jobs j, cipulse_job_failed_tests(j.repo_id, j.job_id, 5) f WHERE j.job_id = %s",
                   job_ids[1])
    want = sorted((c["class_name"], c["name"]) for c in b if c["result"] == pbwire.FAILED)
    assert [f[0] for f in failed] == [n for _, n in want[:5]]
    assert all(f[2] == 14 for f in failed)


def test_a_second_report_of_the_job_merges(ingest, db):
    """The same job reported again (a spool replay under a new report id, or the run-mode
    report after the job's own): one row per test, the worse result kept."""
    first = cases(10)
    chunks, job_ids = report_with_tests(3002, [(0, first)], jobs=1)
    send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    again = cases(10, fail_every=5)
    chunks, _ = report_with_tests(3002, [(0, again)], jobs=1)
    ack = send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    assert ack.get("tests") == 10
    rows = query(db.url, "SELECT count(*), count(*) FILTER (WHERE result = 'failed') "
                 "FROM test_results WHERE job_id = %s", job_ids[0])
    assert rows == [(10, 2)]


def test_twenty_thousand_tests_in_one_job(collector_factory, db):
    col = with_tokens(collector_factory(env={"CIPULSE_MAX_REPORT_BYTES": str(16 << 20)}))
    chunks, job_ids = report_with_tests(3003, [(0, cases(20000, fail_every=1000))], jobs=1)
    ack = send_report(col.grpc_addr, chunks, col.tokens["ingest"], timeout=120)
    assert ack.get("tests") == 20000
    assert query(db.url, "SELECT count(*), count(*) FILTER (WHERE result = 'failed') "
                 "FROM test_results WHERE job_id = %s", job_ids[0]) == [(20000, 20)]


def test_bad_batches_are_refused_and_name_the_field(ingest, db):
    before = db_snapshot(db.url)
    bad_job, _ = report_with_tests(3004, [], jobs=1)
    bad_job.append(pbwire.chunk_tests(job_id=99999999, cases=cases(1)))
    bad_result, _ = report_with_tests(3005, [(0, cases(3))], jobs=1)
    c = cases(3)
    c[2]["result"] = 7
    bad_result[-1] = pbwire.chunk_tests(job_id=3005 * 100 + 1, cases=c)
    for chunks, field in ((bad_job, "tests.job_id"), (bad_result, "tests.cases[2].result")):
        code, details = report_status(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
        assert field in details, details
    assert db_snapshot(db.url) == before
    assert query(db.url, "SELECT count(*) FROM test_results") == [(0,)]


def test_unknown_kind_of_message_is_skipped(ingest, db):
    """A newer agent's kind of message (a ReportChunk field this collector does not know) is
    skipped and the rest stored; a message with nothing in it is refused."""
    chunks, job_ids = report_with_tests(3006, [(0, cases(4))], jobs=1)
    newer = pbwire._key(15, 2) + pbwire.varint(3) + b"\x08\x01\x10"
    ack = send_report(ingest.grpc_addr, chunks[:2] + [newer] + chunks[2:],
                      ingest.tokens["ingest"])
    assert ack.get("jobs") == 1 and ack.get("tests") == 4
    code, details = report_status(ingest.grpc_addr, chunks[:2] + [b""] + chunks[2:],
                                  ingest.tokens["ingest"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "empty" in details, details


def test_names_are_stored_exactly(ingest, db):
    """What array literals must quote (quotes, backslashes, braces, commas, blanks, the word
    NULL, an empty string, non-ASCII) comes back byte for byte."""
    names = ['say "hi"', "back\\slash", "{braces}", "a,b", "  spaced  ", "NULL", "",
             "naïve ✓ 测试", "tab\tnew\nline", "}"]
    cs = [{"suite": n, "class_name": n, "name": n, "file": n, "result": pbwire.FAILED,
           "message": "msg " + n} for n in names]
    chunks, job_ids = report_with_tests(3007, [(0, cs)], jobs=1)
    assert send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"]).get("tests") == 10
    rows = query(db.url, "SELECT t.suite, t.class_name, t.name, t.file, r.message FROM tests t "
                 "JOIN test_results r USING (repo_id, test_id) WHERE r.job_id = %s", job_ids[0])
    assert sorted(rows) == sorted((n, n, n, n, "msg " + n) for n in names)
