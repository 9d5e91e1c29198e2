-- cipulse schema, version 21: a run's figures are recomputed once per statement on jobs, not once
-- per job row.
--
-- jobs_api_after (sql/002_api.sql) was a row trigger: every job row inserted, moved or retimed
-- touched its run attempt (UPDATE workflow_runs SET queue_n = queue_n), so that the attempt's
-- BEFORE trigger recomputed its figures from all its jobs and the AFTER triggers moved its rollup
-- share. A batch of webhook deliveries writes its jobs in one statement (store.c), four jobs of
-- one run were four such updates of the same row, each recomputing the same figures. These
-- statement triggers read the statement's rows (transition tables) and touch each attempt the
-- statement changed once, in key order. What counts as a change is the row trigger's rule: a job
-- inserted or deleted, or updated with another attempt or other created/started/completed times.
-- The figures are the same: the BEFORE trigger recomputes them from the jobs as they are after
-- the statement, as it did after the last of the row triggers.
DROP TRIGGER jobs_api_after ON jobs;
DROP FUNCTION cipulse_jobs_after();

CREATE FUNCTION cipulse_jobs_touch_runs() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    k record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR k IN SELECT DISTINCT repo_id, run_id, run_attempt FROM new_jobs
                  ORDER BY 1, 2, 3 LOOP
            UPDATE workflow_runs SET queue_n = queue_n
             WHERE repo_id = k.repo_id AND run_id = k.run_id AND run_attempt = k.run_attempt;
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR k IN SELECT DISTINCT repo_id, run_id, run_attempt FROM old_jobs
                  ORDER BY 1, 2, 3 LOOP
            UPDATE workflow_runs SET queue_n = queue_n
             WHERE repo_id = k.repo_id AND run_id = k.run_id AND run_attempt = k.run_attempt;
        END LOOP;
    ELSE
        -- A row is its old and new versions by key; a key that changed (ON UPDATE CASCADE from
        -- a repository adopted) has no partner, and both its attempts are touched.
        FOR k IN
            SELECT n.repo_id, n.run_id, n.run_attempt
              FROM new_jobs n LEFT JOIN old_jobs o
                ON o.repo_id = n.repo_id AND o.job_id = n.job_id
             WHERE o.job_id IS NULL OR o.run_id <> n.run_id OR o.run_attempt <> n.run_attempt
                OR o.created_at IS DISTINCT FROM n.created_at
                OR o.started_at IS DISTINCT FROM n.started_at
                OR o.completed_at IS DISTINCT FROM n.completed_at
            UNION
            SELECT o.repo_id, o.run_id, o.run_attempt
              FROM old_jobs o LEFT JOIN new_jobs n
                ON n.repo_id = o.repo_id AND n.job_id = o.job_id
             WHERE n.job_id IS NULL OR o.run_id <> n.run_id OR o.run_attempt <> n.run_attempt
            ORDER BY 1, 2, 3
        LOOP
            UPDATE workflow_runs SET queue_n = queue_n
             WHERE repo_id = k.repo_id AND run_id = k.run_id AND run_attempt = k.run_attempt;
        END LOOP;
    END IF;
    RETURN NULL;
END $$;

-- A trigger with transition tables has one event; the three share the function.
CREATE TRIGGER jobs_api_after_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_jobs_touch_runs();
CREATE TRIGGER jobs_api_after_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_jobs_touch_runs();
CREATE TRIGGER jobs_api_after_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_jobs_touch_runs();
