"""Failure groups: failed jobs' log tails and failed tests' messages, normalised and
fingerprinted by the collector (collector/store/fingerprint.c), grouped across runs and
repositories (sql/009_tests_failures.sql)."""
import threading
import time
import uuid

import pbwire
from harness import wait_for
from ingest_env import OTHER_REPO, REPO, REPO_ID, ingest, query, send_report  # noqa: F401

OTHER_REPO_ID = 515151


def failing_log(run, error):
    """A failing step's log as GitHub writes it, with this run's own times, ids and paths."""
    ts = "2024-05-%02dT10:%02d:%02d.%07dZ" % (run % 28 + 1, run % 60, run % 60, run * 7919)
    return "\n".join([
        ts + " ##[group]Run make test",
        ts + " cc -o /tmp/build-%d/x.o src/x.c" % run,
        ts + " \x1b[1mtest %d of 140 ok\x1b[0m" % run,
        ts + " /home/runner/work/app%d/app/src/db.c:%d: %s (session %s)"
        % (run, 100 + run, error, uuid.uuid4()),
        ts + " ##[error]Process completed with exit code %d." % (run % 3 + 1),
    ])


def send_failed_run(col, token, repo_id, full_name, run_id, error=None, tests=None,
                    at_ms=None, conclusion="failure", truncated=False):
    """One report of a run attempt with one job that failed in step 2 (with the log tail
    `error`) and optionally test cases (a batch marked `truncated`). Returns the job id."""
    at_ms = at_ms or int(time.time() * 1000)
    job_id = run_id * 10 + 1
    header = dict(report_id=str(uuid.uuid4()), agent_version="0.1.0-test", mode=1,
                  repository={"id": repo_id, "full_name": full_name, "default_branch": "main"},
                  workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
                  run={"id": run_id, "attempt": 1, "head_branch": "main",
                       "head_sha": "%040x" % run_id, "status": "completed",
                       "conclusion": conclusion, "created_at": at_ms - 60000,
                       "updated_at": at_ms})
    job = dict(id=job_id, name="build", status="completed", conclusion=conclusion,
               started_at=at_ms - 50000, completed_at=at_ms,
               steps=[{"number": 1, "name": "checkout", "status": "completed",
                       "conclusion": "success"},
                      {"number": 2, "name": "test", "status": "completed",
                       "conclusion": conclusion}])
    chunks = [pbwire.chunk_header(**header), pbwire.chunk_job(**job),
              pbwire.chunk_log(job_id=job_id, step_number=1, seq=0, text="Cloning into app...",
                               last=True)]
    if error is not None:
        chunks.append(pbwire.chunk_log(job_id=job_id, step_number=2, seq=0,
                                       text=failing_log(run_id, error), last=True))
    if tests:
        chunks.append(pbwire.chunk_tests(job_id=job_id, cases=tests, truncated=truncated))
    send_report(col.grpc_addr, chunks, token)
    return job_id


def groups(url):
    return query(url, "SELECT g.fingerprint, g.title, count(DISTINCT (f.repo_id, f.run_id)), "
                 "count(DISTINCT f.repo_id) FROM failure_groups g JOIN job_failures f "
                 "USING (fingerprint) GROUP BY 1, 2 ORDER BY 3 DESC, 2")


def test_same_error_is_one_group_across_runs_and_repositories(ingest, db):
    tok, other = ingest.tokens["ingest"], ingest.tokens["other"]
    jobs = []
    for run in range(7001, 7006):
        jobs.append(send_failed_run(ingest, tok, REPO_ID, REPO, run,
                                    "error: connection refused"))
    for run in range(7101, 7103):
        send_failed_run(ingest, other, OTHER_REPO_ID, OTHER_REPO, run,
                        "error: connection refused")
    send_failed_run(ingest, tok, REPO_ID, REPO, 7201, "error: permission denied")
    # A successful job with a tail that mentions errors has no group.
    send_failed_run(ingest, tok, REPO_ID, REPO, 7301, "error: not really", conclusion="success")
    got = groups(db.url)
    assert [(g[1], g[2], g[3]) for g in got] == [
        ("<path>:<n>: error: connection refused (session <uuid>)", 7, 2),
        ("<path>:<n>: error: permission denied (session <uuid>)", 1, 1)]
    assert all(len(g[0]) == 64 for g in got)
    # What the run detail and the job summary read for a job.
    fg = query(db.url, "SELECT fingerprint, title, runs, repositories FROM "
               "jobs j, cipulse_job_failure_group(j.repo_id, j.job_id) WHERE j.job_id = %s", jobs[2])
    assert fg == [(got[0][0], got[0][1], 7, 2)]
    assert query(db.url, "SELECT count(*) FROM jobs j, cipulse_job_failure_group(j.repo_id, j.job_id) WHERE j.job_id = %s", 7301 * 10 + 1) \
        == [(0,)]


def test_failed_tests_messages_make_the_group(ingest, db):
    """Without a failing step's tail, the failed tests' messages are the signature, whatever
    order the tests come in and whatever numbers and paths they name."""
    tok = ingest.tokens["ingest"]

    def cases(order, n):
        cs = [{"suite": "s", "class_name": "C", "name": "test_a", "result": pbwire.FAILED,
               "message": "AssertionError: assert %d == %d" % (n, n + 1)},
              {"suite": "s", "class_name": "C", "name": "test_b", "result": pbwire.ERROR,
               "message": "TimeoutError: waited %ds for /tmp/sock-%d" % (n, n)},
              {"suite": "s", "class_name": "C", "name": "test_c", "result": pbwire.PASSED}]
        return cs if order else cs[::-1]

    a = send_failed_run(ingest, tok, REPO_ID, REPO, 7401, None, tests=cases(True, 3))
    b = send_failed_run(ingest, tok, REPO_ID, REPO, 7402, None, tests=cases(False, 17))
    fa = query(db.url, "SELECT fingerprint, title FROM jobs j, cipulse_job_failure_group(j.repo_id, j.job_id) WHERE j.job_id = %s", a)
    fb = query(db.url, "SELECT fingerprint, runs FROM jobs j, cipulse_job_failure_group(j.repo_id, j.job_id) WHERE j.job_id = %s", b)
    assert fa[0][0] == fb[0][0] and fb[0][1] == 2
    assert fa[0][1] == "AssertionError: assert <n> == <n>"
    lines = query(db.url, "SELECT lines FROM failure_groups WHERE fingerprint = %s", fa[0][0])
    assert lines == [(["AssertionError: assert <n> == <n>",
                       "TimeoutError: waited <n>s for <path>"],)]


def test_a_group_the_retention_sweep_deletes_meanwhile_is_written_anew(ingest, db):
    """The retention sweep deletes a failure group no job links to only while it holds it FOR
    UPDATE (sql/017). A report linking a new job to that group waits for the sweep (it locks the
    group FOR KEY SHARE) and, the group deleted meanwhile, writes it anew: the new link never
    points at a deleted group."""
    tok = ingest.tokens["ingest"]
    send_failed_run(ingest, tok, REPO_ID, REPO, 7601, "error: disk full")
    fp = query(db.url, "SELECT fingerprint FROM failure_groups")[0][0]
    # The first job's run is gone (as run retention would have it): the group has no link.
    db.execute("DELETE FROM workflow_runs WHERE run_id = 7601")
    assert db.scalar("SELECT count(*) FROM job_failures") == 0
    sweep = db.connect()
    done = []
    try:
        sweep.autocommit = False
        with sweep.cursor() as cur:
            # The sweep's first step: the orphaned group locked.
            cur.execute("SELECT 1 FROM failure_groups WHERE fingerprint = %s FOR UPDATE", (fp,))
            t = threading.Thread(target=lambda: done.append(send_failed_run(
                ingest, tok, REPO_ID, REPO, 7602, "error: disk full")))
            t.start()
            wait_for(lambda: db.scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%%failure_groups%%'") == 1, timeout=60,
                what="the report waiting for the sweep's lock on the group")
            # Its second step: no committed link, so the group goes.
            cur.execute("DELETE FROM failure_groups WHERE fingerprint = %s", (fp,))
        sweep.commit()
    finally:
        sweep.close()
    t.join(60)
    assert done, "the report was not acknowledged"
    assert query(db.url, "SELECT g.fingerprint FROM job_failures f JOIN failure_groups g "
                 "USING (fingerprint) WHERE f.run_id = 7602") == [(fp,)]
