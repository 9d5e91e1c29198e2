-- One large run for the web benchmark (scripts/bench-web.sh), added after bench/api/gen.sql's
-- history: a matrix of :jobs jobs (default 200) with :steps steps each (default 12) in workflow
-- :workflow_id (default 101) of repository :repo_id (default 1), the newest run there, with every
-- 20th job failed. Inserted with the triggers on, so the API's derived figures include it.
-- psql variable run_id: its run id. The browser tests (tests/web/scale.test.mjs) load it too.
\set ON_ERROR_STOP 1
\if :{?repo_id}
\else
  \set repo_id 1
\endif
\if :{?workflow_id}
\else
  \set workflow_id 101
\endif
\if :{?jobs}
\else
  \set jobs 200
\endif
\if :{?steps}
\else
  \set steps 12
\endif
BEGIN;
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event,
    status, conclusion, head_branch, head_sha, actor, html_url, created_at, run_started_at,
    updated_at, completed_at)
SELECT :repo_id, :run_id, 1, :workflow_id, 9999999, 'CI', 'push', 'completed', 'failure', 'main',
        md5('bench-web'), 'bench', 'https://github.com/' || full_name || '/actions/runs/' || :run_id,
        now() - interval '40 minutes', now() - interval '40 minutes', now() - interval '2 minutes',
        now() - interval '2 minutes'
  FROM repositories WHERE id = :repo_id;
-- Jobs queue for up to 5 minutes (runners taken in turn) and take 10 to 30 minutes.
INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at,
    started_at, completed_at, runner_name, runner_os, runner_arch, labels, html_url)
SELECT :repo_id, :run_id::bigint * 1000 + k, :run_id, 1,
       format('test (%s, shard %s/%s)', (ARRAY['ubuntu-latest','windows-latest','macos-latest'])[1 + k % 3],
              k, :jobs),
       'completed', CASE WHEN k % 20 = 7 THEN 'failure' ELSE 'success' END,
       now() - interval '40 minutes',
       now() - interval '40 minutes' + (k % 50) * interval '6 seconds',
       now() - interval '40 minutes' + (k % 50) * interval '6 seconds'
         + (600 + (k * 37) % 1200) * interval '1 second',
       'runner-' || k % 50, 'Linux', 'X64', ARRAY['self-hosted', 'linux'],
       'https://github.com/' || r.full_name || '/actions/runs/' || :run_id || '/job/' || (:run_id::bigint * 1000 + k)
FROM generate_series(1, :jobs) k, repositories r WHERE r.id = :repo_id;
-- Steps split the job's time evenly; a failed job's last-but-one step failed, the last skipped.
INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, completed_at)
SELECT :repo_id, j.job_id, n,
       (ARRAY['Set up job','Checkout','Set up toolchain','Restore cache','Install dependencies',
              'Lint','Build','Unit tests','Integration tests','Upload artifacts','Save cache',
              'Complete job'])[1 + (n - 1) % 12] || CASE WHEN n > 12 THEN ' ' || n ELSE '' END,
       'completed',
       CASE WHEN j.conclusion = 'failure' AND n = :steps - 1 THEN 'failure'
            WHEN j.conclusion = 'failure' AND n = :steps THEN 'skipped' ELSE 'success' END,
       j.started_at + (n - 1) * (j.completed_at - j.started_at) / :steps,
       j.started_at + n * (j.completed_at - j.started_at) / :steps
FROM jobs j, generate_series(1, :steps) n
WHERE j.repo_id = :repo_id AND j.run_id = :run_id;
COMMIT;
