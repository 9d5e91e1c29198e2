"""A run attempt's figures (duration, queue times) follow its jobs when many jobs change in one
statement: the jobs' statement triggers (sql/021) touch each attempt a statement changed, once.

The expected figures are the attempt's BEFORE trigger run again over the jobs as they are
(`UPDATE workflow_runs SET queue_n = queue_n`), compared with what the jobs' triggers left.
"""

FIGURES = ("SELECT run_id, run_attempt, duration_s, queue_sum_s, queue_n, queue_s"
           " FROM workflow_runs ORDER BY 1, 2")


def check(db):
    kept = db.query(FIGURES)
    db.execute("UPDATE workflow_runs SET queue_n = queue_n")
    assert kept == db.query(FIGURES)
    return kept


def test_figures_follow_jobs_written_many_at_once(db):
    db.execute("INSERT INTO repositories (id, full_name) VALUES (1, 'o/r')")
    db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status, created_at,"
               " run_started_at, updated_at) SELECT 1, r, a, 'completed',"
               " '2026-01-01T10:00Z', '2026-01-01T10:00Z', '2026-01-01T10:30Z'"
               " FROM generate_series(1, 3) r, generate_series(1, 2) a")
    before = check(db)
    assert all(r["queue_n"] == 0 for r in before)

    # Jobs of several attempts in one statement, two and three to an attempt.
    db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, created_at, started_at,"
               " completed_at) SELECT 1, j, 1 + j % 3, 1 + j % 2,"
               " '2026-01-01T10:00Z'::timestamptz + j * interval '1 minute',"
               " '2026-01-01T10:00Z'::timestamptz + j * interval '2 minutes',"
               " '2026-01-01T10:00Z'::timestamptz + j * interval '5 minutes'"
               " FROM generate_series(1, 14) j")
    inserted = check(db)
    assert sum(r["queue_n"] for r in inserted) == 14
    assert all(r["duration_s"] for r in inserted)

    # Upserts in one statement: some jobs retimed, one moved to another attempt, one new.
    db.execute("INSERT INTO jobs AS t (repo_id, job_id, run_id, run_attempt, created_at,"
               " started_at, completed_at) VALUES"
               " (1, 1, 2, 2, '2026-01-01T10:01Z', '2026-01-01T10:03Z', '2026-01-01T11:00Z'),"
               " (1, 2, 1, 2, '2026-01-01T10:02Z', '2026-01-01T10:04Z', '2026-01-01T10:10Z'),"
               " (1, 4, 3, 2, '2026-01-01T10:04Z', '2026-01-01T10:09Z', '2026-01-01T10:40Z'),"
               " (1, 15, 1, 1, '2026-01-01T09:00Z', '2026-01-01T09:30Z', '2026-01-01T12:00Z')"
               " ON CONFLICT (repo_id, job_id) DO UPDATE SET run_id = EXCLUDED.run_id,"
               " run_attempt = EXCLUDED.run_attempt, created_at = EXCLUDED.created_at,"
               " started_at = EXCLUDED.started_at, completed_at = EXCLUDED.completed_at")
    upserted = check(db)
    assert upserted != inserted
    # A plain UPDATE of many rows, and one that changes nothing the figures read.
    db.execute("UPDATE jobs SET started_at = started_at + interval '20 seconds' WHERE job_id % 3 = 0")
    db.execute("UPDATE jobs SET name = 'renamed' WHERE job_id < 8")
    updated = check(db)
    assert updated != upserted

    # Deleted in one statement, and with their attempt (ON DELETE CASCADE).
    db.execute("DELETE FROM jobs WHERE job_id % 4 = 0")
    deleted = check(db)
    assert sum(r["queue_n"] for r in deleted) < sum(r["queue_n"] for r in updated)
    db.execute("DELETE FROM workflow_runs WHERE run_id = 3 AND run_attempt = 1")
    check(db)
    assert db.scalar("SELECT count(*) FROM jobs WHERE run_id = 3 AND run_attempt = 1") == 0
