"""Driver of scripts/bench-tests.sh: test-case rows/s through the collector (gRPC, agent
reports with TestBatch messages) next to PostgreSQL COPY of the same rows.

    bench_tests.py GRPC_ADDR INGEST_TOKEN INGEST_DB_URL CEILING_DB_URL

Sizes come from BENCH_REPORTS, BENCH_JOBS, BENCH_TESTS (per job), BENCH_FAIL_EVERY and
BENCH_AGENTS (concurrent senders). Reports are encoded before the clock starts; the collector's
time is from the first call's start to the last ack.
"""
import hashlib
import io
import os
import sys
import threading
import time
import uuid

import psycopg2

import pbwire
from ingest_env import send_report

REPO_ID, REPO = 777001, "bench/tests"
RESULTS = {pbwire.PASSED: "passed", pbwire.FAILED: "failed"}


def env(name):
    return int(os.environ[name])


def cases(job, n, fail_every):
    out = []
    for i in range(n):
        failed = i % fail_every == 0
        out.append({"suite": "suite_%d" % (i // 500), "class_name": "pkg.module_%d.Class" % (i // 50),
                    "name": "test_case_%d[param-%d]" % (i, job % 3),
                    "file": "tests/test_module_%d.py" % (i // 50),
                    "duration_us": 1000 + (i * 37) % 90000,
                    "result": pbwire.FAILED if failed else pbwire.PASSED,
                    "message": "AssertionError: expected %d, got %d" % (i, i + 1) if failed else ""})
    return out


def report(n, jobs, tests, fail_every):
    now = int(time.time() * 1000)
    run_id = 5000 + n
    header = dict(report_id=str(uuid.uuid4()), agent_version="bench", mode=1,
                  repository={"id": REPO_ID, "full_name": REPO, "default_branch": "main"},
                  workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
                  run={"id": run_id, "attempt": 1, "head_branch": "main",
                       "head_sha": "%040x" % run_id, "status": "completed",
                       "conclusion": "failure", "created_at": now - 60000, "updated_at": now})
    chunks, rows = [pbwire.chunk_header(**header)], []
    for j in range(jobs):
        job_id = run_id * 100 + j
        chunks.append(pbwire.chunk_job(id=job_id, name="test %d" % j, status="completed",
                                       conclusion="failure", completed_at=now))
        cs = cases(j, tests, fail_every)
        for i in range(0, len(cs), 1000):
            chunks.append(pbwire.chunk_tests(job_id=job_id, cases=cs[i:i + 1000]))
        rows.append((run_id, job_id, cs))
    return chunks, rows


def test_id(c):
    """cipulse_test_id of sql/009_tests_failures.sql (ASCII names: length = bytes)."""
    parts = [str(REPO_ID)] + ["%d:%s" % (len(c[k]), c[k])
                              for k in ("suite", "class_name", "name", "file")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def copy_rows(url, all_rows):
    """The same rows into the ceiling database: runs and jobs first (not timed), then tests and
    test_results with COPY FROM STDIN (timed). Returns (rows, seconds)."""
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("INSERT INTO repositories (id, full_name, default_branch) VALUES (%s, %s, 'main')",
                (REPO_ID, REPO))
    for run_id, job_id, _ in all_rows:
        cur.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, head_sha, head_branch, "
                    "completed_at) VALUES (%s, %s, 1, %s, 'main', now()) ON CONFLICT DO NOTHING",
                    (REPO_ID, run_id, "%040x" % run_id))
        cur.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, completed_at) "
                    "VALUES (%s, %s, %s, 1, now())", (REPO_ID, job_id, run_id))
    conn.commit()
    tests, results = io.StringIO(), io.StringIO()
    seen = set()
    n = 0
    for run_id, job_id, cs in all_rows:
        for c in cs:
            tid = test_id(c)
            if tid not in seen:
                seen.add(tid)
                tests.write("%d\t%s\t%s\t%s\t%s\t%s\n" % (REPO_ID, tid, c["suite"], c["class_name"],
                                                       c["name"], c["file"]))
            results.write("%d\t%d\t%s\t%d\t1\t%s\t%d\t0\t%s\t2026-01-01 00:00:00+00\n" % (
                REPO_ID, job_id, tid, run_id, RESULTS[c["result"]], c["duration_us"],
                c["message"] or "\\N"))
            n += 1
    tests.seek(0)
    results.seek(0)
    start = time.monotonic()
    cur.copy_expert("COPY tests (repo_id, test_id, suite, class_name, name, file) FROM STDIN", tests)
    cur.copy_expert("COPY test_results (repo_id, job_id, test_id, run_id, run_attempt, result, "
                    "duration_us, retries, message, at) FROM STDIN", results)
    conn.commit()
    took = time.monotonic() - start
    conn.close()
    return n, took


def count(url):
    conn = psycopg2.connect(url)
    cur = conn.cursor()
    cur.execute("SELECT (SELECT count(*) FROM tests), (SELECT count(*) FROM test_results), "
                "(SELECT count(*) FROM test_results WHERE result = 'failed')")
    out = cur.fetchone()
    conn.close()
    return out


def main():
    addr, token, ingest_url, ceiling_url = sys.argv[1:5]
    reports, jobs, tests = env("BENCH_REPORTS"), env("BENCH_JOBS"), env("BENCH_TESTS")
    fail_every, agents = env("BENCH_FAIL_EVERY"), env("BENCH_AGENTS")
    built = [report(n, jobs, tests, fail_every) for n in range(reports)]
    wire = sum(len(c) for chunks, _ in built for c in chunks)
    print("workload: %d reports from %d concurrent agents; each %d jobs x %d test cases "
          "(batches of 1,000, 1 in %d failed): %d test-case rows, %.1f MB on the wire; %d cores"
          % (reports, agents, jobs, tests, fail_every, reports * jobs * tests, wire / 1e6,
             os.cpu_count()))
    latencies, errors = [], []
    todo = list(range(reports))
    lock = threading.Lock()

    def agent():
        while True:
            with lock:
                if not todo:
                    return
                n = todo.pop()
            t0 = time.monotonic()
            try:
                ack = send_report(addr, built[n][0], token, timeout=600)
                assert ack.get("tests") == jobs * tests, ack
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
                return
            with lock:
                latencies.append(time.monotonic() - t0)

    start = time.monotonic()
    threads = [threading.Thread(target=agent) for _ in range(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    if errors:
        sys.exit("bench: %s" % errors[0])
    rows = reports * jobs * tests
    latencies.sort()
    print("ingest %d test-case rows in %.2f s: %.0f rows/s (%.2f reports/s, p50 %.0f ms, "
          "max %.0f ms per report)" % (rows, took, rows / took, reports / took,
                                      latencies[len(latencies) // 2] * 1000, latencies[-1] * 1000))
    crows, ctook = copy_rows(ceiling_url, [r for _, rs in built for r in rs])
    print("copy   %d test-case rows in %.2f s: %.0f rows/s" % (crows, ctook, crows / ctook))
    a, b = count(ingest_url), count(ceiling_url)
    assert a == b, "ingest stored %r (tests, results, failed), COPY %r" % (a, b)
    print("rows stored (tests, test_results, failed): %s in both databases" % (a,))
    print("ratio ingest/COPY %.2f" % ((rows / took) / (crows / ctook)))


if __name__ == "__main__":
    main()
