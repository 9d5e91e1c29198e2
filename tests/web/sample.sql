-- Sample data for the browser tests (tests/web): a few repositories, workflows, runs, jobs, steps,
-- log tails and alerts, written straight into the schema (the data path itself is tested by the
-- integration tests). Times are relative to now() so that every metrics window has data.
BEGIN;

INSERT INTO repositories (id, full_name) VALUES
  (1001, 'acme/api'),
  (1002, 'acme/web'),
  (1003, 'acme/empty');

INSERT INTO workflows (repo_id, id, name, path, state) VALUES
  (1001, 501, 'CI', '.github/workflows/ci.yml', 'active'),
  (1001, 502, 'Release', '.github/workflows/release.yml', 'active'),
  (1002, 601, 'Build', '.github/workflows/build.yml', 'active');

-- acme/api CI: 40 runs over the last 5 days, mostly green.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
                           conclusion, head_branch, head_sha, actor, html_url, created_at,
                           run_started_at, updated_at, completed_at)
SELECT 1001, 200000 + i, 1, 501, 100 - i, 'CI', CASE WHEN i % 3 = 0 THEN 'pull_request' ELSE 'push' END,
       'completed',
       CASE WHEN i % 7 = 0 THEN 'failure' WHEN i % 11 = 0 THEN 'cancelled' ELSE 'success' END,
       CASE WHEN i % 5 = 0 THEN 'feature/login' ELSE 'main' END,
       md5('api' || i) || 'abcdefgh', CASE WHEN i % 2 = 0 THEN 'octocat' ELSE 'monalisa' END,
       'https://github.com/acme/api/actions/runs/' || (200000 + i),
       now() - i * interval '3 hours', now() - i * interval '3 hours' + interval '5 seconds',
       now() - i * interval '3 hours' + (180 + (i * 37) % 400) * interval '1 second',
       now() - i * interval '3 hours' + (180 + (i * 37) % 400) * interval '1 second'
FROM generate_series(1, 40) AS i;

INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at, started_at,
                  completed_at, runner_name, runner_os, labels, html_url)
SELECT r.repo_id, 300000 + (r.run_id - 200000), r.run_id, 1, 'test', 'completed', r.conclusion,
       r.run_started_at, r.run_started_at + (i % 9) * interval '1 second', r.completed_at,
       'GitHub Actions ' || i, 'Linux', ARRAY['ubuntu-latest'],
       'https://github.com/acme/api/actions/runs/' || r.run_id || '/job/' || (300000 + i)
FROM workflow_runs r, LATERAL (SELECT (r.run_id - 200000)::int AS i) x
WHERE r.repo_id = 1001 AND r.workflow_id = 501 AND r.run_id > 200000;

-- acme/api Release: a few green runs and one still running.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
                           conclusion, head_branch, head_sha, actor, created_at, run_started_at,
                           updated_at, completed_at)
SELECT 1001, 210000 + i, 1, 502, 20 - i, 'Release', 'push', 'completed', 'success', 'main',
       md5('rel' || i), 'hubot', now() - i * interval '1 day', now() - i * interval '1 day',
       now() - i * interval '1 day' + interval '95 seconds', now() - i * interval '1 day' + interval '95 seconds'
FROM generate_series(1, 5) AS i;
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
                           head_branch, head_sha, actor, created_at, run_started_at, updated_at)
VALUES (1001, 210100, 1, 502, 21, 'Release', 'push', 'in_progress', 'main', md5('rel-now'), 'hubot',
        now() - interval '2 minutes', now() - interval '2 minutes', now());

-- acme/web Build: 20 runs, flakier.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
                           conclusion, head_branch, head_sha, actor, created_at, run_started_at,
                           updated_at, completed_at)
SELECT 1002, 220000 + i, 1, 601, 60 - i, 'Build', 'push', 'completed',
       CASE WHEN i % 3 = 0 THEN 'failure' WHEN i = 4 THEN 'timed_out' ELSE 'success' END,
       'main', md5('web' || i), 'octocat', now() - i * interval '5 hours', now() - i * interval '5 hours',
       now() - i * interval '5 hours' + (400 + i * 13) * interval '1 second',
       now() - i * interval '5 hours' + (400 + i * 13) * interval '1 second'
FROM generate_series(1, 20) AS i;

-- Run 123 (acme/api CI #57): attempt 1 failed in "test", attempt 2 on the same commit passed
-- (a flaky run). Attempt 1's test log has ANSI colours and hostile HTML.
INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number, name, event, status,
                           conclusion, head_branch, head_sha, actor, html_url, created_at,
                           run_started_at, updated_at, completed_at) VALUES
  (1001, 123, 1, 501, 57, 'CI', 'push', 'completed', 'failure', 'main',
   'c0ffee1234567890c0ffee1234567890c0ffee12', 'octocat', 'https://github.com/acme/api/actions/runs/123',
   now() - interval '50 minutes', now() - interval '50 minutes', now() - interval '44 minutes', now() - interval '44 minutes'),
  (1001, 123, 2, 501, 57, 'CI', 'push', 'completed', 'success', 'main',
   'c0ffee1234567890c0ffee1234567890c0ffee12', 'octocat', 'https://github.com/acme/api/actions/runs/123',
   now() - interval '40 minutes', now() - interval '40 minutes', now() - interval '33 minutes', now() - interval '33 minutes');

INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, created_at, started_at,
                  completed_at, runner_name, runner_os, labels, html_url) VALUES
  (1001, 12301, 123, 1, 'lint', 'completed', 'success', now() - interval '50 minutes',
   now() - interval '50 minutes' + interval '4 seconds', now() - interval '49 minutes', 'GitHub Actions 3', 'Linux',
   ARRAY['ubuntu-latest'], 'https://github.com/acme/api/actions/runs/123/job/12301'),
  (1001, 12302, 123, 1, 'test', 'completed', 'failure', now() - interval '50 minutes',
   now() - interval '50 minutes' + interval '9 seconds', now() - interval '44 minutes', 'GitHub Actions 4', 'Linux',
   ARRAY['ubuntu-latest'], 'https://github.com/acme/api/actions/runs/123/job/12302'),
  (1001, 12311, 123, 2, 'lint', 'completed', 'success', now() - interval '40 minutes',
   now() - interval '40 minutes' + interval '3 seconds', now() - interval '39 minutes', 'GitHub Actions 5', 'Linux',
   ARRAY['ubuntu-latest'], 'https://github.com/acme/api/actions/runs/123/job/12311'),
  (1001, 12312, 123, 2, 'test', 'completed', 'success', now() - interval '40 minutes',
   now() - interval '40 minutes' + interval '12 seconds', now() - interval '35 minutes', 'GitHub Actions 6', 'Linux',
   ARRAY['ubuntu-latest'], 'https://github.com/acme/api/actions/runs/123/job/12312'),
  (1001, 12313, 123, 2, 'build', 'completed', 'success', now() - interval '35 minutes',
   now() - interval '35 minutes' + interval '20 seconds', now() - interval '33 minutes', 'GitHub Actions 7', 'Linux',
   ARRAY['ubuntu-latest'], 'https://github.com/acme/api/actions/runs/123/job/12313');

INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, completed_at)
SELECT 1001, j.job_id, s.number, s.name, 'completed',
       CASE WHEN j.job_id = 12302 AND s.number = 3 THEN 'failure' ELSE 'success' END,
       j.started_at + (j.completed_at - j.started_at) * s.f0, j.started_at + (j.completed_at - j.started_at) * s.f1
FROM jobs j
CROSS JOIN (VALUES (1, 'Set up job', 0.0, 0.03), (2, 'Checkout', 0.03, 0.08),
                   (3, 'Run tests', 0.08, 0.96), (4, 'Complete job', 0.96, 1.0)) AS s(number, name, f0, f1)
WHERE j.run_id = 123;

INSERT INTO logs (repo_id, job_id, step_number, content, original_size, truncated, exit_code) VALUES
  (1001, 12302, 3,
   E'\033[36m$ make test\033[0m\n' ||
   E'\033[32m  ok\033[0m   parses config (3 ms)\n' ||
   E'\033[32m  ok\033[0m   opens the pool (41 ms)\n' ||
   E'\033[31mFAILED\033[0m test_login: expected 200, got \033[38;5;208m500\033[0m\n' ||
   E'  user name: <img src=x onerror="window.__cipulse_xss=1">\n' ||
   E'  <script>window.__cipulse_xss=2</script>\n' ||
   E'\033[1;31mError: connect ECONNREFUSED 127.0.0.1:5432\033[0m\n' ||
   E'\033[38;2;250;200;40m1 failed\033[0m, 41 passed\n',
   182344, true, 2),
  (1001, 12312, 3, E'\033[36m$ make test\033[0m\n\033[32m42 passed\033[0m in 4.1s\n', NULL, false, 0);

INSERT INTO notification_channels (id, name, kind, target) VALUES
  (1, 'team-slack', 'slack', 'https://hooks.slack.invalid/services/T000/B000/SECRETSECRET');
INSERT INTO alert_rules (id, name, kind, repo_id, workflow_id, branch, params, channel_ids) VALUES
  (1, 'main-failures', 'failure', 1001, NULL, 'main', '{}', '{1}'),
  (2, 'slow-ci', 'slow_build', 1001, 501, NULL, '{"threshold": 600, "window_s": 86400}', '{1}');

INSERT INTO alerts (kind, repo_id, workflow_id, branch, run_id, run_attempt, condition_key, state, summary,
                    opened_at, resolved_at) VALUES
  ('failure', 1001, 501, 'main', 200007, 1, 'failure:1001:501:main', 'open', 'CI failed on main (acme/api #93)',
   now() - interval '21 hours', NULL),
  ('flapping', 1002, 601, 'main', 220003, 1, 'flapping:1002:601:main', 'resolved',
   'Build failed 3 of the last 5 runs on main', now() - interval '3 days', now() - interval '2 days');

-- The rows above chose their ids: move the sequences past them, so that rules and channels
-- created through the API (the alerting tests) get ids of their own.
SELECT setval(pg_get_serial_sequence('notification_channels', 'id'), (SELECT max(id) FROM notification_channels));
SELECT setval(pg_get_serial_sequence('alert_rules', 'id'), (SELECT max(id) FROM alert_rules));

COMMIT;
