"""CIPULSE_LOG_RETENTION_DAYS: the sweep deletes old log tails and nothing else."""
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
