-- cipulse schema: test results, flaky tests and failure groups (issue 13).
--
-- Test cases come from the agent (JUnit XML, report.proto TestBatch) and are stored per job
-- (so per run attempt) under a stable test id. Classification (flaky, new failure, already
-- failing) is defined here once, in SQL, for the API, the run detail and the job summary.

-- The stable id of a test within a repository: 16 hex characters of SHA-256 over the
-- repository id and the test's identity (suite, class, name, file), each part length-prefixed
-- so that no two identities share an input.
CREATE FUNCTION cipulse_test_id(p_repo_id bigint, p_suite text, p_class_name text, p_name text,
                                p_file text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT left(encode(sha256(convert_to(
        p_repo_id::text || '|' || length(p_suite) || ':' || p_suite || '|'
        || length(p_class_name) || ':' || p_class_name || '|'
        || length(p_name) || ':' || p_name || '|' || length(p_file) || ':' || p_file,
        'UTF8')), 'hex'), 16) $$;

-- One row per test of a repository (its identity).
CREATE TABLE tests (
    repo_id     bigint NOT NULL REFERENCES repositories(id) ON UPDATE CASCADE ON DELETE CASCADE,
    test_id     text NOT NULL,
    suite       text NOT NULL DEFAULT '',
    class_name  text NOT NULL DEFAULT '',
    name        text NOT NULL,
    file        text NOT NULL DEFAULT '',
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repo_id, test_id)
);

-- One row per test and job: the test's final result in that job (a run attempt's job).
-- `at` is when the job completed (when the report was stored if that is not known): the
-- window key of every per-test figure.
CREATE TABLE test_results (
    repo_id      bigint NOT NULL,
    job_id       bigint NOT NULL,
    test_id      text NOT NULL,
    run_id       bigint NOT NULL,
    run_attempt  integer NOT NULL,
    result       text NOT NULL CHECK (result IN ('passed', 'failed', 'error', 'skipped')),
    duration_us  bigint NOT NULL DEFAULT 0,
    -- Failed attempts before the final result within the job (re-runs of a test runner).
    retries      integer NOT NULL DEFAULT 0,
    message      text,
    at           timestamptz NOT NULL,
    PRIMARY KEY (repo_id, job_id, test_id),
    FOREIGN KEY (repo_id, job_id) REFERENCES jobs (repo_id, job_id)
        ON UPDATE CASCADE ON DELETE CASCADE,
    FOREIGN KEY (repo_id, test_id) REFERENCES tests (repo_id, test_id)
        ON UPDATE CASCADE ON DELETE CASCADE
);
-- The agent met more test cases than it sent for the job (its limit, or a JUnit file it could
-- not read whole: TestBatch.truncated).
ALTER TABLE jobs ADD COLUMN tests_truncated boolean NOT NULL DEFAULT false;

CREATE INDEX test_results_test_idx ON test_results (repo_id, test_id, at DESC);
CREATE INDEX test_results_at_idx ON test_results (at);

-- Severity of a result, for merging two results of the same test in one job (the worse wins,
-- whatever order they arrive in).
CREATE FUNCTION cipulse_test_result_rank(r text) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE r WHEN 'error' THEN 4 WHEN 'failed' THEN 3 WHEN 'passed' THEN 2
                        WHEN 'skipped' THEN 1 ELSE 0 END $$;

-- Writes one batch of test cases of a job (one statement per batch, the cases as arrays of the
-- same length: collector/store/tests.c). A test that appears twice in the job keeps its worse
-- result, its larger retry count and its longer duration. Returns the number of tests written.
CREATE FUNCTION cipulse_tests_put(p_repo_id bigint, p_job_id bigint, p_run_id bigint,
                                  p_run_attempt integer, p_suite text[], p_class_name text[],
                                  p_name text[], p_file text[], p_duration_us bigint[],
                                  p_result text[], p_message text[], p_retries integer[])
    RETURNS bigint
    LANGUAGE sql AS $$
    WITH i AS (
        SELECT DISTINCT ON (1) cipulse_test_id(p_repo_id, u.s, u.c, u.nm, u.f) AS test_id,
               u.s AS suite, u.c AS class_name, u.nm AS name, u.f AS file, u.d AS duration_us,
               u.r AS result, NULLIF(u.m, '') AS message, u.rt AS retries
          FROM unnest(p_suite, p_class_name, p_name, p_file, p_duration_us, p_result,
                      p_message, p_retries) AS u(s, c, nm, f, d, r, m, rt)
         ORDER BY 1, cipulse_test_result_rank(u.r) DESC, u.rt DESC, u.d DESC
    ), t AS (
        INSERT INTO tests (repo_id, test_id, suite, class_name, name, file)
        SELECT p_repo_id, i.test_id, i.suite, i.class_name, i.name, i.file FROM i
        ON CONFLICT (repo_id, test_id) DO NOTHING
    ), w AS (
        INSERT INTO test_results AS t (repo_id, job_id, test_id, run_id, run_attempt, result,
                                       duration_us, retries, message, at)
        SELECT p_repo_id, p_job_id, i.test_id, p_run_id, p_run_attempt, i.result,
               i.duration_us, i.retries, i.message,
               COALESCE((SELECT j.completed_at FROM jobs j
                          WHERE j.repo_id = p_repo_id AND j.job_id = p_job_id), now())
          FROM i
        ON CONFLICT (repo_id, job_id, test_id) DO UPDATE SET
            result = CASE WHEN cipulse_test_result_rank(EXCLUDED.result)
                               >= cipulse_test_result_rank(t.result)
                          THEN EXCLUDED.result ELSE t.result END,
            message = CASE WHEN cipulse_test_result_rank(EXCLUDED.result)
                                >= cipulse_test_result_rank(t.result)
                           THEN COALESCE(EXCLUDED.message, t.message) ELSE t.message END,
            retries = GREATEST(EXCLUDED.retries, t.retries),
            duration_us = GREATEST(EXCLUDED.duration_us, t.duration_us),
            at = EXCLUDED.at
        RETURNING 1
    )
    SELECT count(*) FROM w
$$;

-- The commit a result belongs to, for flakiness: the run's head SHA, or the run itself when
-- the SHA is not known (the attempts of one run share their commit).
CREATE FUNCTION cipulse_commit_key(p_head_sha text, p_run_id bigint) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT COALESCE(NULLIF(p_head_sha, ''), 'run:' || p_run_id) $$;

-- Was the test flaky on this commit? It failed (or errored) and passed on the same commit
-- (across the attempts of a run, or in different runs of that commit), or it passed after
-- failed retries within one job.
CREATE FUNCTION cipulse_test_flaky_on(p_repo_id bigint, p_test_id text, p_commit text)
    RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT COALESCE((bool_or(r.result = 'passed') AND bool_or(r.result IN ('failed', 'error')))
                    OR bool_or(r.result = 'passed' AND r.retries > 0), false)
      FROM test_results r
      JOIN workflow_runs w ON w.repo_id = r.repo_id AND w.run_id = r.run_id
                          AND w.run_attempt = r.run_attempt
     WHERE r.repo_id = p_repo_id AND r.test_id = p_test_id
       AND cipulse_commit_key(w.head_sha, r.run_id) = p_commit
$$;

-- Is a failure at p_at a new one? Yes when the test's last result on the repository's default
-- branch before p_at (skipped ones aside) was passed; otherwise (it failed there last, or it
-- never ran there, or the default branch is not known) it is already failing.
CREATE FUNCTION cipulse_test_new_failure(p_repo_id bigint, p_test_id text, p_at timestamptz)
    RETURNS boolean
    LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
        SELECT r.result = 'passed'
          FROM test_results r
          JOIN workflow_runs w ON w.repo_id = r.repo_id AND w.run_id = r.run_id
                              AND w.run_attempt = r.run_attempt
          JOIN repositories rp ON rp.id = r.repo_id
         WHERE r.repo_id = p_repo_id AND r.test_id = p_test_id AND r.at < p_at
           AND r.result <> 'skipped' AND w.head_branch = rp.default_branch
         ORDER BY r.at DESC, r.job_id DESC LIMIT 1), false)
$$;

-- Per-test figures over a window (results with `at` >= p_since), optionally narrowed to a
-- repository, a workflow, a branch or one test (NULL: all):
-- - runs: results that ran (skipped ones aside); failures: failed or errored ones;
-- - flaky_runs: runs (run ids) in which the test was flaky: a result that passed after
--   retries, or a pass or failure on a commit where the test both passed and failed;
-- - flip_rate: changes between pass and fail from one result to the next (in time order),
--   divided by the number of consecutive pairs (0 with fewer than two results);
-- - p50/p95 of the duration of results that ran, in ms;
-- - last_result and last_seen: the newest result in the window;
-- - state: 'flaky' when flaky_runs > 0; else 'new_failure' or 'already_failing' when the last
--   result failed (cipulse_test_new_failure); else 'passing'.
CREATE FUNCTION cipulse_test_window(p_since timestamptz, p_repo_id bigint, p_workflow_id bigint,
                                    p_branch text, p_test_id text)
    RETURNS TABLE(repo_id bigint, test_id text, runs bigint, failures bigint, flaky_runs bigint,
                  flip_rate double precision, p50_duration_ms double precision,
                  p95_duration_ms double precision, last_result text, last_seen timestamptz,
                  state text)
    LANGUAGE sql STABLE AS $$
    WITH r AS (
        SELECT r.repo_id, r.test_id, r.job_id, r.run_id, r.result, r.retries, r.duration_us,
               r.at, cipulse_commit_key(w.head_sha, r.run_id) AS commit_key
          FROM test_results r
          JOIN workflow_runs w ON w.repo_id = r.repo_id AND w.run_id = r.run_id
                              AND w.run_attempt = r.run_attempt
         WHERE r.at >= p_since
           AND (p_repo_id IS NULL OR r.repo_id = p_repo_id)
           AND (p_workflow_id IS NULL OR w.workflow_id = p_workflow_id)
           AND (p_branch IS NULL OR w.head_branch = p_branch)
           AND (p_test_id IS NULL OR r.test_id = p_test_id)
    ), x AS (
        -- Window functions, not a join: a join of r with its own aggregate is planned as a
        -- nested loop when r's size is misjudged (fresh tables), quadratic in the results.
        SELECT r.*,
               (r.result = 'passed' AND r.retries > 0)
               OR (r.result <> 'skipped'
                   AND bool_or(r.result = 'passed') OVER per_commit
                   AND bool_or(r.result IN ('failed', 'error')) OVER per_commit) AS flaky,
               r.result IN ('failed', 'error') AS failing,
               lag(r.result IN ('failed', 'error')) OVER (
                   PARTITION BY r.repo_id, r.test_id, r.result = 'skipped'
                   ORDER BY r.at, r.job_id) AS prev_failing,
               row_number() OVER (PARTITION BY r.repo_id, r.test_id
                                  ORDER BY r.at DESC, r.job_id DESC) AS newest
          FROM r
        WINDOW per_commit AS (PARTITION BY r.repo_id, r.test_id, r.commit_key)
    ), agg AS (
        SELECT x.repo_id, x.test_id,
               count(*) FILTER (WHERE x.result <> 'skipped') AS runs,
               count(*) FILTER (WHERE x.failing) AS failures,
               count(DISTINCT x.run_id) FILTER (WHERE x.flaky) AS flaky_runs,
               count(*) FILTER (WHERE x.result <> 'skipped' AND x.prev_failing IS NOT NULL
                                AND x.prev_failing <> x.failing) AS flips,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.duration_us / 1000.0)
                   FILTER (WHERE x.result <> 'skipped') AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY x.duration_us / 1000.0)
                   FILTER (WHERE x.result <> 'skipped') AS p95,
               max(x.result) FILTER (WHERE x.newest = 1) AS last_result,
               max(x.at) FILTER (WHERE x.newest = 1) AS last_seen
          FROM x GROUP BY 1, 2
    )
    SELECT a.repo_id, a.test_id, a.runs, a.failures, a.flaky_runs,
           CASE WHEN a.runs > 1 THEN a.flips::double precision / (a.runs - 1) ELSE 0 END,
           a.p50, a.p95, a.last_result, a.last_seen,
           CASE WHEN a.flaky_runs > 0 THEN 'flaky'
                WHEN a.last_result IN ('failed', 'error') THEN
                    CASE WHEN cipulse_test_new_failure(a.repo_id, a.test_id, a.last_seen)
                         THEN 'new_failure' ELSE 'already_failing' END
                ELSE 'passing' END
      FROM agg a
$$;

-- Failure groups: the same error, recognised by the fingerprint of its normalised error lines
-- (collector/store/fingerprint.c), across runs and repositories. A group is shared by every
-- repository by design, so failure_groups is not keyed by repository (a reference table on
-- Citus: tests/integration/test_schema_keys.py, docs/scaling.md).
CREATE TABLE failure_groups (
    fingerprint  text PRIMARY KEY,          -- SHA-256 hex of the normalised error lines
    title        text NOT NULL,             -- the first error line
    lines        text[] NOT NULL,           -- the normalised error lines
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- The failure group of a failed job. The group's row is written first, in the same
-- transaction; there is no foreign key to it because every key of a table distributed by
-- repository includes repo_id (test_schema_keys.py).
CREATE TABLE job_failures (
    repo_id      bigint NOT NULL,
    job_id       bigint NOT NULL,
    fingerprint  text NOT NULL,
    run_id       bigint NOT NULL,
    run_attempt  integer NOT NULL,
    at           timestamptz NOT NULL,
    PRIMARY KEY (repo_id, job_id),
    FOREIGN KEY (repo_id, job_id) REFERENCES jobs (repo_id, job_id)
        ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX job_failures_fp_idx ON job_failures (fingerprint, at);
CREATE INDEX job_failures_at_idx ON job_failures (at);

-- The failed tests of a job (failed or errored), at most p_limit of them by suite, class and
-- name, each with its classification; `total` is the number of failed tests of the job.
-- Called by the run detail (collector/api/runs.c) and the job summary (Summary RPC).
CREATE FUNCTION cipulse_job_failed_tests(p_repo_id bigint, p_job_id bigint, p_limit int)
    RETURNS TABLE(test_id text, suite text, class_name text, name text, message text,
                  flaky boolean, new_failure boolean, total bigint)
    LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT r.repo_id, r.test_id, r.message, r.at, t.suite, t.class_name, t.name,
               cipulse_commit_key(w.head_sha, r.run_id) AS commit_key,
               count(*) OVER () AS total
          FROM jobs j
          JOIN test_results r ON r.repo_id = j.repo_id AND r.job_id = j.job_id
          JOIN tests t ON t.repo_id = r.repo_id AND t.test_id = r.test_id
          JOIN workflow_runs w ON w.repo_id = r.repo_id AND w.run_id = r.run_id
                              AND w.run_attempt = r.run_attempt
         WHERE j.repo_id = p_repo_id AND j.job_id = p_job_id AND r.result IN ('failed', 'error')
         ORDER BY t.suite, t.class_name, t.name, r.test_id
         LIMIT GREATEST(p_limit, 0)
    )
    SELECT f.test_id, f.suite, f.class_name, f.name, f.message,
           cipulse_test_flaky_on(f.repo_id, f.test_id, f.commit_key),
           cipulse_test_new_failure(f.repo_id, f.test_id, f.at), f.total
      FROM f ORDER BY f.suite, f.class_name, f.name, f.test_id
$$;

-- The failure group of a job (no row when it has none): how many runs (repository and run id)
-- and repositories it has been seen in, and since when.
CREATE FUNCTION cipulse_job_failure_group(p_repo_id bigint, p_job_id bigint)
    RETURNS TABLE(fingerprint text, title text, runs bigint, repositories int,
                  first_seen timestamptz)
    LANGUAGE sql STABLE AS $$
    SELECT g.fingerprint, g.title,
           (SELECT count(*) FROM (SELECT DISTINCT a.repo_id, a.run_id FROM job_failures a
                                   WHERE a.fingerprint = g.fingerprint) d),
           (SELECT count(DISTINCT a.repo_id)::int FROM job_failures a
             WHERE a.fingerprint = g.fingerprint),
           (SELECT min(a.at) FROM job_failures a WHERE a.fingerprint = g.fingerprint)
      FROM jobs j
      JOIN job_failures jf ON jf.repo_id = j.repo_id AND jf.job_id = j.job_id
      JOIN failure_groups g ON g.fingerprint = jf.fingerprint
     WHERE j.repo_id = p_repo_id AND j.job_id = p_job_id
     LIMIT 1
$$;

-- A time as the API writes it (cm_time_format_iso8601): "2024-05-01T10:11:12.345Z".
CREATE FUNCTION cipulse_iso(t timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

-- A failure group as the API shows it (GET /api/v1/failures and /failures/{fingerprint}):
-- runs (repository and run id) and repositories with the group since p_since (in one
-- repository when p_repo_id is set), first and last seen (of all time), a daily trend since
-- p_since, and the newest example jobs.
CREATE FUNCTION cipulse_failure_group_json(p_fingerprint text, p_since timestamptz,
                                           p_repo_id bigint, p_examples int)
    RETURNS json
    LANGUAGE sql STABLE AS $$
    WITH f AS (
        SELECT jf.repo_id, jf.job_id, jf.run_id, jf.run_attempt, jf.at, r.full_name
          FROM job_failures jf JOIN repositories r ON r.id = jf.repo_id
         WHERE jf.fingerprint = p_fingerprint AND jf.at >= p_since
           AND (p_repo_id IS NULL OR jf.repo_id = p_repo_id)
    )
    SELECT json_build_object(
        'fingerprint', g.fingerprint, 'title', g.title,
        'runs', (SELECT count(*) FROM (SELECT DISTINCT f.repo_id, f.run_id FROM f) d),
        'repositories', (SELECT count(DISTINCT f.repo_id) FROM f),
        'repos', COALESCE((SELECT json_agg(x.n ORDER BY x.n)
                             FROM (SELECT DISTINCT f.full_name AS n FROM f) x), '[]'),
        'first_seen', (SELECT cipulse_iso(min(a.at)) FROM job_failures a
                        WHERE a.fingerprint = g.fingerprint),
        'last_seen', (SELECT cipulse_iso(max(a.at)) FROM job_failures a
                       WHERE a.fingerprint = g.fingerprint),
        'trend', COALESCE((SELECT json_agg(json_build_object('day', d.day, 'runs', d.runs)
                                           ORDER BY d.day)
                             FROM (SELECT to_char(f.at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
                                          count(DISTINCT (f.repo_id, f.run_id)) AS runs
                                     FROM f GROUP BY 1) d), '[]'),
        'examples', COALESCE((SELECT json_agg(json_build_object(
                                  'repo', e.full_name, 'run_id', e.run_id,
                                  'run_attempt', e.run_attempt, 'job_id', e.job_id,
                                  'job_name', e.name) ORDER BY e.at DESC, e.job_id DESC)
                                FROM (SELECT f.*, j.name FROM f
                                        JOIN jobs j ON j.repo_id = f.repo_id
                                                   AND j.job_id = f.job_id
                                       ORDER BY f.at DESC, f.job_id DESC
                                       LIMIT GREATEST(p_examples, 0)) e), '[]'))
      FROM failure_groups g
     WHERE g.fingerprint = p_fingerprint
$$;
