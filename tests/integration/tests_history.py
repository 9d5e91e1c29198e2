"""A generated history of test results with its ground truth, for the flaky / new-failure
classification (sql/009_tests_failures.sql) and the tests API.

The history is a list of run attempts on commits of `main` (the default branch) and of feature
branches; each attempt is one agent report with one job and a result for every test. The
oracle below computes, from the generated rows alone, what the collector must say: the rule of
docs/DESIGN.md ("Test results") written a second time, independently of the SQL.
"""
import random
import time
import uuid

import pbwire
from ingest_env import send_report

PASSED, FAILED, ERROR, SKIPPED = pbwire.PASSED, pbwire.FAILED, pbwire.ERROR, pbwire.SKIPPED
NAMES = {PASSED: "passed", FAILED: "failed", ERROR: "error", SKIPPED: "skipped"}


class Attempt:
    def __init__(self, run_id, attempt, sha, branch, at_ms, results):
        self.run_id, self.attempt, self.sha, self.branch = run_id, attempt, sha, branch
        self.at_ms = at_ms
        self.job_id = run_id * 10 + attempt
        self.results = results  # test name -> (result, retries, duration_us)


def scripted(base_ms):
    """Hand-written histories, one per state, oldest first. Returns (attempts, expected state
    by test name)."""
    t = [base_ms + i * 60000 for i in range(20)]
    P, F = (PASSED, 0, 1000), (FAILED, 0, 2000)
    runs = [
        # run, attempt, sha, branch, time, results
        (501, 1, "a1", "main", t[0], {"steady": P, "attempt_flaky": P, "retry_flaky": P,
                                      "new_fail": P, "old_fail": F, "pr_new": P,
                                      "fixed": F}),
        (502, 1, "a2", "main", t[1], {"steady": P, "attempt_flaky": F, "retry_flaky": P,
                                      "new_fail": P, "old_fail": F, "pr_new": P,
                                      "fixed": F}),
        # Run 502 again: attempt 2 on the same commit passes: flaky.
        (502, 2, "a2", "main", t[2], {"steady": P, "attempt_flaky": P, "retry_flaky": P,
                                      "new_fail": P, "old_fail": F, "pr_new": P,
                                      "fixed": F}),
        # Passed only after a retry within the job: flaky.
        (503, 1, "a3", "main", t[3], {"steady": P, "attempt_flaky": P,
                                      "retry_flaky": (PASSED, 2, 3000), "new_fail": P,
                                      "old_fail": (SKIPPED, 0, 0), "pr_new": P, "fixed": P}),
        # Failed on main after passing there: a new failure. old_fail kept failing.
        (504, 1, "a4", "main", t[4], {"steady": P, "attempt_flaky": P, "retry_flaky": P,
                                      "new_fail": (ERROR, 0, 500), "old_fail": F,
                                      "fixed": P}),
        # A feature branch: pr_new fails there after passing on main; never_main only ever
        # ran (and failed) on a branch: without a default-branch pass it is not new.
        (505, 1, "b1", "feature", t[5], {"steady": P, "pr_new": F,
                                         "never_main": F}),
    ]
    attempts = [Attempt(r, a, s, b, at, res) for r, a, s, b, at, res in runs]
    expected = {"steady": "passing", "attempt_flaky": "flaky", "retry_flaky": "flaky",
                "new_fail": "new_failure", "old_fail": "already_failing",
                "pr_new": "new_failure", "fixed": "passing", "never_main": "already_failing"}
    return attempts, expected


def generated(base_ms, seed, ntests=12, nruns=14):
    """A random history: runs on main and on feature branches, some with a second attempt on
    the same commit, tests that are stable, broken at some point, or flaky with some odds."""
    rnd = random.Random(seed)
    kinds = {}
    for i in range(ntests):
        kinds["gen_%02d" % i] = rnd.choice(["stable", "breaks", "flaky", "flaky", "broken"])
    attempts, at = [], base_ms
    for n in range(nruns):
        run_id = 900 + n
        branch = "main" if rnd.random() < 0.6 else "feature-%d" % rnd.randint(1, 3)
        sha = "%040x" % rnd.getrandbits(160)
        for attempt in (1, 2) if rnd.random() < 0.3 else (1,):
            at += 60000
            res = {}
            for name, kind in kinds.items():
                if rnd.random() < 0.08:
                    res[name] = (SKIPPED, 0, 0)
                    continue
                if kind == "stable":
                    r = PASSED
                elif kind == "broken":
                    r = FAILED
                elif kind == "breaks":
                    r = FAILED if n >= nruns // 2 else PASSED
                else:
                    r = FAILED if rnd.random() < 0.3 else PASSED
                retries = 1 if r == PASSED and kind == "flaky" and rnd.random() < 0.15 else 0
                res[name] = (r, retries, rnd.randint(100, 90000))
            attempts.append(Attempt(run_id, attempt, sha, branch, at, res))
    return attempts


def oracle(attempts, default_branch="main"):
    """What the classification must say per test name: dict with runs, failures, flaky_runs,
    flip_rate, last_result and state (the rule of docs/DESIGN.md, from the rows alone)."""
    rows = {}
    for a in attempts:
        for name, (r, retries, dur) in a.results.items():
            rows.setdefault(name, []).append((a.at_ms, a.job_id, a, r, retries, dur))
    out = {}
    for name, rs in rows.items():
        rs.sort(key=lambda x: (x[0], x[1]))
        commits = {}
        for _, _, a, r, _, _ in rs:
            commits.setdefault(a.sha, set()).add(r)
        mixed = {s for s, seen in commits.items()
                 if PASSED in seen and (FAILED in seen or ERROR in seen)}
        ran = [x for x in rs if x[3] != SKIPPED]
        failing = [x[3] in (FAILED, ERROR) for x in ran]
        flaky_runs = {a.run_id for _, _, a, r, retries, _ in rs
                      if (r == PASSED and retries > 0) or (r != SKIPPED and a.sha in mixed)}
        flips = sum(1 for i in range(1, len(failing)) if failing[i] != failing[i - 1])
        last = rs[-1]
        if flaky_runs:
            state = "flaky"
        elif last[3] in (FAILED, ERROR):
            before = [x for x in ran if x[2].branch == default_branch and x[0] < last[0]]
            state = "new_failure" if before and before[-1][3] == PASSED else "already_failing"
        else:
            state = "passing"
        out[name] = {"runs": len(ran), "failures": sum(failing), "flaky_runs": len(flaky_runs),
                     "flip_rate": flips / (len(ran) - 1) if len(ran) > 1 else 0.0,
                     "last_result": NAMES[last[3]], "state": state}
    return out


def send_history(target, token, repo_id, full_name, attempts):
    """Sends each attempt as one agent report (one job, its tests in one batch)."""
    for a in attempts:
        header = dict(
            report_id=str(uuid.uuid4()), agent_version="0.1.0-test", mode=1,
            sent_at=int(time.time() * 1000),
            repository={"id": repo_id, "full_name": full_name, "default_branch": "main"},
            workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
            run={"id": a.run_id, "attempt": a.attempt, "number": a.run_id, "event": "push",
                 "head_branch": a.branch, "head_sha": a.sha, "status": "completed",
                 "conclusion": "success", "created_at": a.at_ms - 30000,
                 "updated_at": a.at_ms})
        job = dict(id=a.job_id, name="test", status="completed", conclusion="success",
                   started_at=a.at_ms - 20000, completed_at=a.at_ms)
        cases = [{"suite": "suite", "class_name": "Cls", "name": name, "result": r,
                  "retries": retries, "duration_us": dur,
                  "message": "boom %s" % name if r in (FAILED, ERROR) else ""}
                 for name, (r, retries, dur) in sorted(a.results.items())]
        chunks = [pbwire.chunk_header(**header), pbwire.chunk_job(**job),
                  pbwire.chunk_tests(job_id=a.job_id, cases=cases)]
        ack = send_report(target, chunks, token)
        assert ack.get("tests") == len(cases), ack


def insert_tests(db, repo="octo/alpha"):
    """Test results and failure groups for two recent jobs of a repository written by
    api_history.insert_history (plain SQL, as that history is): three tests in each job, one
    failing; failure group "a"*64 in both jobs, "b"*64 in a third. Returns (the failing test's
    id, "a"*64)."""
    jobs = db.query("SELECT j.repo_id, j.job_id, j.run_id, j.run_attempt FROM jobs j "
                    "JOIN repositories r ON r.id = j.repo_id WHERE r.full_name = %s "
                    "ORDER BY j.job_id DESC LIMIT 2", (repo,))
    assert len(jobs) == 2
    for n, j in enumerate(jobs):
        db.execute("UPDATE jobs SET completed_at = now() - interval '1 hour' * %s "
                   "WHERE repo_id = %s AND job_id = %s", (n + 1, j["repo_id"], j["job_id"]))
        db.execute("SELECT cipulse_tests_put(%s, %s, %s, %s, ARRAY['s', 's', 's'], "
                   "ARRAY['C', 'C', 'C'], ARRAY['a', 'b', 'c'], ARRAY['', '', ''], "
                   "ARRAY[1000, 2000, 3000]::bigint[], ARRAY['passed', 'failed', 'skipped'], "
                   "ARRAY['', 'assert 1 == 2', ''], ARRAY[0, 0, 0])",
                   (j["repo_id"], j["job_id"], j["run_id"], j["run_attempt"]))
    for fp, title in (("a" * 64, "error: a"), ("b" * 64, "error: b")):
        db.execute("INSERT INTO failure_groups (fingerprint, title, lines) "
                   "VALUES (%s, %s, ARRAY[%s])", (fp, title, title))
    third = db.query("SELECT j.repo_id, j.job_id, j.run_id, j.run_attempt FROM jobs j "
                     "JOIN repositories r ON r.id = j.repo_id WHERE r.full_name = %s "
                     "ORDER BY j.job_id DESC OFFSET 2 LIMIT 1", (repo,))[0]
    for fp, j in (("a" * 64, jobs[0]), ("a" * 64, jobs[1]), ("b" * 64, third)):
        db.execute("INSERT INTO job_failures (repo_id, job_id, fingerprint, run_id, run_attempt, "
                   "at) VALUES (%s, %s, %s, %s, %s, now())",
                   (j["repo_id"], j["job_id"], fp, j["run_id"], j["run_attempt"]))
    tid = db.scalar("SELECT test_id FROM tests t JOIN repositories r ON r.id = t.repo_id "
                    "WHERE r.full_name = %s AND t.name = 'b'", (repo,))
    return tid, "a" * 64
