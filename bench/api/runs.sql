-- Runs for the API benchmark (included by gen.sql and grow.sql): runs :first + 1 .. :first + :runs
-- of the repositories 1..:repos whose id % :parts = :part, completed in the :days days before
-- :newest; every tenth run failed and was re-run. Into workflow_runs as the search path finds it.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event,
    status, conclusion, head_branch, head_sha, actor, created_at, run_started_at, updated_at,
    completed_at)
SELECT repo, 1000000000 + i, 1, repo * 100 + 1 + (i / :repos) % 20, i, 'CI', 'push', 'completed',
       CASE WHEN (i / 100) % 10 = 0 THEN 'failure'
            ELSE (ARRAY['success','success','success','success','success','success','success',
                        'failure','cancelled','timed_out'])[1 + floor(random() * 10)::int] END,
       (ARRAY['main', 'main', 'dev', 'feature/a'])[1 + i % 4], md5(i::text), 'dev' || i % 50,
       t - d - q, t - d, t, t
FROM (SELECT i, 1 + i % :repos AS repo,
             :'newest'::timestamptz - random() * :days * interval '1 day' AS t,
             (60 + random() * 1200) * interval '1 second' AS d,
             random() * 120 * interval '1 second' AS q
        FROM generate_series(:first + 1, :first + :runs) i
       WHERE (1 + i % :repos) % :parts = :part) s;
-- Re-runs: every tenth run (spread over all repositories) failed and was re-run on the same sha.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event,
    status, conclusion, head_branch, head_sha, actor, created_at, run_started_at, updated_at,
    completed_at)
SELECT repo_id, run_id, 2, workflow_id, run_number, name, event, 'completed',
       CASE WHEN random() < 0.8 THEN 'success' ELSE 'failure' END, head_branch, head_sha, actor,
       created_at, completed_at + interval '5 minutes',
       completed_at + (300 + extract(epoch FROM completed_at - run_started_at)) * interval '1 second',
       completed_at + (300 + extract(epoch FROM completed_at - run_started_at)) * interval '1 second'
FROM workflow_runs WHERE run_attempt = 1 AND (run_id / 100) % 10 = 0
 AND run_id > 1000000000 + :first;
