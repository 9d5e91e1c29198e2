"""CIPULSE_LOG_RETENTION_DAYS: the sweep deletes old log tails and nothing else."""
import threading

from harness import wait_for


def seed(db):
    db.execute("INSERT INTO repositories (id, full_name) VALUES (1, 'o/r')")
    db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt) VALUES (1, 10, 1)")
    db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt) VALUES (1, 100, 10, 1)")
    for step, age in ((1, "40 days"), (2, "29 days"), (3, "1 hour")):
        db.execute("INSERT INTO logs (repo_id, job_id, step_number, content, updated_at) "
                   "VALUES (1, 100, %s, 'line', now() - %s::interval)", (step, age))


def test_old_log_tails_are_deleted_at_start_up(collector_factory, db):
    c = collector_factory(env={"CIPULSE_LOG_RETENTION_DAYS": "30"}, start=False)
    c.run("migrate")
    seed(db)
    c.start()
    wait_for(lambda: db.scalar("SELECT count(*) FROM logs") == 2, what="retention sweep")
    assert [r["step_number"] for r in db.query(
        "SELECT step_number FROM logs ORDER BY step_number")] == [2, 3]
    # Runs and jobs stay: retention is about log text only.
    assert db.scalar("SELECT count(*) FROM jobs") == 1
    status, text = c.http("GET", "/metrics")
    assert "cipulse_retention_logs_deleted_total 1" in text


def test_retention_setting_is_validated(collector_factory):
    c = collector_factory(env={"CIPULSE_LOG_RETENTION_DAYS": "0"}, start=False)
    p = c.run("serve", check=False)
    assert p.returncode == 2 and "CIPULSE_LOG_RETENTION_DAYS" in p.stderr


def seed_runs(db, old, recent):
    """`old` run attempts last known 40 days ago (with a job, a step and a log tail each, and
    some re-run attempts), `recent` ones an hour ago; old and new report and delivery ids."""
    db.execute("INSERT INTO repositories (id, full_name) VALUES (2, 'o/runs')")
    db.execute(
        "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status, conclusion, completed_at,"
        " updated_at) SELECT 2, i / 2, 1 + mod(i, 2), 'completed', 'success',"
        " CASE WHEN i < %s THEN now() - interval '40 days' + make_interval(secs => i)"
        " ELSE now() - interval '1 hour' END, now() - interval '40 days'"
        " FROM generate_series(0, %s - 1) i", (old, old + recent))
    db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt) SELECT repo_id,"
               " run_id * 10 + run_attempt, run_id, run_attempt FROM workflow_runs WHERE repo_id = 2")
    db.execute("INSERT INTO steps (repo_id, job_id, number) SELECT repo_id, job_id, 1 FROM jobs"
               " WHERE repo_id = 2")
    db.execute("INSERT INTO logs (repo_id, job_id, step_number, content) SELECT repo_id, job_id,"
               " 1, 'line' FROM jobs WHERE repo_id = 2")
    # A run never completed, last heard of 40 days ago (a lost webhook): old too.
    db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status, updated_at)"
               " VALUES (2, 999999, 1, 'in_progress', now() - interval '40 days')")
    for age, n in (("40 days", 3), ("1 hour", 2)):
        for i in range(n):
            db.execute("INSERT INTO reports (report_id, repo_id, run_id, run_attempt, received_at)"
                       " VALUES (%s, 2, 1, 1, now() - %s::interval)", ("r-%s-%d" % (age, i), age))
            db.execute("INSERT INTO webhook_deliveries (delivery_id, event, received_at)"
                       " VALUES (%s, 'ping', now() - %s::interval)", ("d-%s-%d" % (age, i), age))


def test_old_runs_are_deleted_in_batches_with_their_jobs(collector_factory, db):
    old, recent = 1203, 40  # more than two batches of 500 attempts
    c = collector_factory(env={"CIPULSE_RUN_RETENTION_DAYS": "30"}, start=False)
    c.run("migrate")
    seed_runs(db, old, recent)
    counters = db.query("SELECT * FROM pipeline_counters ORDER BY repo_id, workflow_id")
    assert counters and counters[0]["n_success"] == old + recent
    c.start()
    wait_for(lambda: db.scalar("SELECT count(*) FROM workflow_runs") == recent,
             timeout=60, what="run retention sweep")
    assert db.scalar("SELECT min(completed_at) > now() - interval '2 hours' FROM workflow_runs")
    for table in ("jobs", "steps", "logs", "pipeline_counted"):
        assert db.scalar("SELECT count(*) FROM %s" % table) == recent, table
    assert db.scalar("SELECT count(*) FROM reports") == 2
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 2
    # The rollup of runs stored follows; the counters of runs seen do not go down.
    assert db.scalar("SELECT sum(runs) FROM run_rollup_daily") == db.scalar(
        "SELECT count(*) FROM workflow_runs WHERE is_latest")
    assert db.query("SELECT * FROM pipeline_counters ORDER BY repo_id, workflow_id") == counters
    # Batches: the log shows one line for the whole sweep, the metric counts every attempt.
    wait_for(lambda: "cipulse_retention_runs_deleted_total %d" % (old + 1) in
             c.http("GET", "/metrics")[1], what="runs deleted metric")
    assert "deleted old run attempts count=%d" % (old + 1) in c.log()


def test_runs_are_kept_for_ever_by_default(collector_factory, db):
    c = collector_factory(start=False)
    c.run("migrate")
    seed_runs(db, 10, 2)
    c.start()
    wait_for(lambda: "cipulse_retention_sweeps_total 1" in c.http("GET", "/metrics")[1],
             what="first retention sweep")
    assert db.scalar("SELECT count(*) FROM workflow_runs") == 13
    assert db.scalar("SELECT count(*) FROM reports") == 5
    # Webhook delivery ids go after 30 days whatever the run retention.
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 2


def test_tests_and_failure_groups_left_without_results_are_swept(collector_factory, db):
    """Run retention takes test results and job-group links with their runs; the tests and
    failure groups left with nothing go too, page by page (more than two pages of 5,000), and
    those with a result or a link left stay."""
    c = collector_factory(env={"CIPULSE_RUN_RETENTION_DAYS": "30"}, start=False)
    c.run("migrate")
    seed_runs(db, 4, 2)  # old runs 0 and 1 (jobs 1, 2, 11, 12), recent run 2 (jobs 21, 22)
    old_jobs = [(0, 1, 1), (0, 2, 2), (1, 1, 11), (1, 2, 12)]
    new_jobs = [(2, 1, 21), (2, 2, 22)]
    n_old = 11000
    db.execute("INSERT INTO tests (repo_id, test_id, name) SELECT 2, 'old-' || i, 't' || i"
               " FROM generate_series(1, %s) i", (n_old,))
    db.execute("INSERT INTO tests (repo_id, test_id, name) VALUES (2, 'kept', 'kept'),"
               " (2, 'new', 'new')")
    # Old results of every test; 'kept' has a recent result besides, 'new' only a recent one.
    for run, attempt, job in old_jobs:
        db.execute("INSERT INTO test_results (repo_id, job_id, test_id, run_id, run_attempt,"
                   " result, at) SELECT 2, %s, test_id, %s, %s, 'passed', now() - interval"
                   " '40 days' FROM tests WHERE test_id <> 'new'", (job, run, attempt))
    for run, attempt, job in new_jobs:
        db.execute("INSERT INTO test_results (repo_id, job_id, test_id, run_id, run_attempt,"
                   " result, at) VALUES (2, %s, 'kept', %s, %s, 'failed', now()),"
                   " (2, %s, 'new', %s, %s, 'passed', now())",
                   (job, run, attempt, job, run, attempt))
    # One group per job: g-old links old jobs only, g-both an old and a new one.
    groups = {"g-old": old_jobs[1:], "g-both": old_jobs[:1] + new_jobs[:1], "g-new": new_jobs[1:]}
    for fp, jobs in groups.items():
        db.execute("INSERT INTO failure_groups (fingerprint, title, lines) VALUES (%s, 'e',"
                   " ARRAY['e'])", (fp,))
        for run, attempt, job in jobs:
            db.execute("INSERT INTO job_failures (repo_id, job_id, fingerprint, run_id,"
                       " run_attempt, at) VALUES (2, %s, %s, %s, %s, now())",
                       (job, fp, run, attempt))
    c.start()
    wait_for(lambda: "deleted tests and failure groups" in c.log(), timeout=120,
             what="the sweep of tests and failure groups")
    assert db.scalar("SELECT count(*) FROM workflow_runs") == 2
    assert [r["test_id"] for r in db.query("SELECT test_id FROM tests ORDER BY test_id")] == [
        "kept", "new"]
    assert [r["fingerprint"] for r in db.query(
        "SELECT fingerprint FROM failure_groups ORDER BY 1")] == ["g-both", "g-new"]
    assert "tests=%d groups=1" % n_old in c.log()


def test_a_report_racing_the_test_sweep_keeps_its_tests(collector_factory, db):
    """The sweep has locked a test left without results (FOR UPDATE, about to delete it) when a
    report with a result of that test comes: the report waits, the sweep deletes the test and
    commits, and the report writes the test again with its result. It used to fail on the
    result's foreign key (23503), and the report was refused with its tests."""
    c = collector_factory(start=False)
    c.run("migrate")
    db.execute("INSERT INTO repositories (id, full_name) VALUES (2, 'o/race')")
    db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt) VALUES (2, 7, 1)")
    db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt) VALUES (2, 70, 7, 1)")
    test_id = db.scalar("SELECT cipulse_test_id(2, 's', 'C', 'racer', '')")
    db.execute("INSERT INTO tests (repo_id, test_id, suite, class_name, name) VALUES"
               " (2, %s, 's', 'C', 'racer')", (test_id,))
    sweep, report = db.connect(), db.connect()
    sweep.autocommit = False
    pid = report.get_backend_pid()
    outcome = {}

    def put():
        try:
            with report.cursor() as cur:
                cur.execute("SELECT cipulse_tests_put(2, 70, 7, 1, ARRAY['s'], ARRAY['C'],"
                            " ARRAY['racer'], ARRAY[''], ARRAY[5]::bigint[], ARRAY['failed'],"
                            " ARRAY['boom'], ARRAY[0])")
                outcome["written"] = cur.fetchone()[0]
        except Exception as e:  # noqa: BLE001 (the failure is the finding)
            outcome["error"] = e

    try:
        with sweep.cursor() as cur:
            # The sweep's lock on the orphan (cipulse_sweep_tests), held open here.
            cur.execute("SELECT 1 FROM tests WHERE repo_id = 2 FOR UPDATE")
            writer = threading.Thread(target=put)
            writer.start()
            wait_for(lambda: db.scalar("SELECT wait_event_type FROM pg_stat_activity"
                                       " WHERE pid = %s", (pid,)) == "Lock",
                     timeout=60, what="the report to wait for the sweep's lock")
            cur.execute("SELECT deleted FROM cipulse_sweep_tests(-9223372036854775808, '', 10)")
            assert cur.fetchone()[0] == 1
        sweep.commit()
        writer.join(60)
        assert not writer.is_alive()
    finally:
        sweep.close()
        report.close()
    assert outcome == {"written": 1}
    assert db.query("SELECT t.name, r.result, r.message FROM test_results r JOIN tests t"
                    " USING (repo_id, test_id) WHERE r.repo_id = 2") == [
        {"name": "racer", "result": "failed", "message": "boom"}]
