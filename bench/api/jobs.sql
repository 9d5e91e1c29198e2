-- Jobs and steps of the runs after :first in workflow_runs (included by gen.sql and grow.sql).
-- Five jobs per attempt between the attempt's start and completion.
INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at,
    started_at, completed_at, runner_name, runner_os, runner_arch)
SELECT w.repo_id, (w.run_id - 1000000000) * 10 + (w.run_attempt - 1) * 5 + k, w.run_id,
       w.run_attempt, 'job-' || k, 'completed', w.conclusion, w.run_started_at - q,
       w.run_started_at + k * 0.1 * span,
       w.run_started_at + (k * 0.1 + 0.5) * span, 'runner-' || k, 'Linux', 'X64'
FROM (SELECT *, completed_at - run_started_at AS span FROM workflow_runs
       WHERE run_id > 1000000000 + :first) w,
     generate_series(0, 4) k, LATERAL (SELECT random() * interval '60 seconds' AS q) r;

INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, completed_at)
SELECT j.repo_id, j.job_id, n, (ARRAY['Checkout', 'Build', 'Test'])[n], 'completed', j.conclusion,
       j.started_at + (n - 1) * (j.completed_at - j.started_at) / 3,
       j.started_at + n * (j.completed_at - j.started_at) / 3
FROM jobs j, generate_series(1, 3) n WHERE j.job_id >= (:first::bigint + 1) * 10;
