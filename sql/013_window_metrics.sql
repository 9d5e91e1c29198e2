-- cipulse schema, version 13: every figure of a window from one read of its runs.
--
-- Version 6 computed the distribution figures in SQL (cipulse_window_figures_by) while the
-- metrics API read the same runs a second time, one row per run, to count them by conclusion and
-- to find MTTR and flaky runs in C: at 200k runs the all-repository 30-day metrics took 3.2 s,
-- twice the time of one read. cipulse_window_metrics computes everything of DESIGN.md "Data model"
-- for the window and each bucket of its series in one statement that reads the runs once;
-- GET /api/v1/metrics (collector/api/pipeline_metrics.c) reads it, and cipulse_window_figures_by,
-- which the window alert rules read, is now its figures: still one definition of each number.

-- One row for the whole window (bucket NULL), then one per bucket that has runs when p_bucket_ms
-- is given (bucket i: runs completed in [from + i * bucket_ms, from + (i + 1) * bucket_ms) in
-- epoch milliseconds; the last of p_nbuckets also whatever is later).
--   runs           the runs of the window (latest attempts)
--   by_conclusion  {"success": n, ...}; conclusions outside the list below count as "other",
--                  runs without one as "none"; conclusions with no runs are absent
--   flaky_runs     successful attempts > 1 with an earlier failed or timed-out attempt on the
--                  same head_sha
--   mttr_s         on each workflow and branch, in completion order: from the first failed
--                  (failure, timed_out) run of a streak to the next successful run, averaged over
--                  the streaks that end in the window or bucket (a bucket sees its own runs only)
--   the others     as in version 6 (sql/006_window_figures.sql)
CREATE FUNCTION cipulse_window_metrics(p_from timestamptz, p_to timestamptz, p_repo bigint,
                                       p_wf bigint, p_branch text, p_bucket_ms bigint,
                                       p_nbuckets integer)
    RETURNS TABLE (bucket integer, runs bigint, by_conclusion jsonb, flaky_runs bigint,
                   mttr_s double precision, decided bigint, success_rate double precision,
                   timed bigint, avg_duration_s double precision,
                   p50_duration_s double precision, p95_duration_s double precision,
                   avg_queue_s double precision, p95_queue_s double precision)
    LANGUAGE sql STABLE AS $$
    WITH r AS MATERIALIZED (
        SELECT w.repo_id, COALESCE(w.workflow_id, 0) AS wf, w.head_branch AS branch,
               w.run_id, w.conclusion, w.duration_s::double precision AS d, w.queue_s,
               floor(extract(epoch FROM w.completed_at) * 1000)::bigint AS t,
               w.conclusion = 'success' AND w.run_attempt > 1 AND EXISTS (
                   SELECT 1 FROM workflow_runs e
                    WHERE e.repo_id = w.repo_id AND e.run_id = w.run_id
                      AND e.run_attempt < w.run_attempt
                      AND e.head_sha IS NOT DISTINCT FROM w.head_sha
                      AND e.conclusion IN ('failure', 'timed_out')) AS flaky,
               CASE WHEN p_bucket_ms > 0 THEN LEAST(GREATEST(
                   (floor(extract(epoch FROM w.completed_at) * 1000)::bigint
                    - floor(extract(epoch FROM p_from) * 1000)::bigint) / p_bucket_ms, 0),
                   p_nbuckets - 1)::integer END AS b
          FROM cipulse_window_runs(p_from, p_to, p_repo, p_wf, p_branch) w
    ), x AS MATERIALIZED (
        -- Each run twice: in the whole window (lvl 0) and in its bucket (lvl 1).
        SELECT r.*, lvl, CASE WHEN lvl = 1 THEN r.b END AS g
          FROM r CROSS JOIN generate_series(0, CASE WHEN p_bucket_ms > 0 THEN 1 ELSE 0 END) lvl
    ), figures AS (
        SELECT x.lvl, x.g, count(*) AS runs,
               count(*) FILTER (WHERE x.flaky) AS flaky_runs,
               count(*) FILTER (WHERE x.conclusion IN ('success', 'failure', 'timed_out'))
                   AS decided,
               (count(*) FILTER (WHERE x.conclusion = 'success'))::double precision
                   / NULLIF(count(*) FILTER (WHERE x.conclusion IN ('success', 'failure',
                                                                    'timed_out')), 0)
                   AS success_rate,
               count(x.d) AS timed, avg(x.d) AS avg_d,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.d) AS p50_d,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY x.d) AS p95_d
          FROM x GROUP BY x.lvl, x.g
    ), queues AS (
        SELECT x.lvl, x.g, avg(q.v) AS avg_q,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY q.v) AS p95_q
          FROM x CROSS JOIN LATERAL unnest(x.queue_s) AS q(v)
         GROUP BY x.lvl, x.g
    ), concl AS (
        SELECT c.lvl, c.g, jsonb_object_agg(c.k, c.n) AS by_conclusion
          FROM (SELECT x.lvl, x.g, CASE
                           WHEN x.conclusion IS NULL THEN 'none'
                           WHEN x.conclusion IN ('success', 'failure', 'cancelled', 'skipped',
                                                 'timed_out', 'neutral', 'action_required',
                                                 'stale', 'startup_failure') THEN x.conclusion
                           ELSE 'other' END AS k, count(*) AS n
                  FROM x GROUP BY 1, 2, 3) c
         GROUP BY c.lvl, c.g
    ), streaks AS (
        -- s: the successful runs before this one on its workflow and branch (and bucket): a
        -- failed run belongs to streak s, and a successful run ends streak s (the failures since the
        -- previous success on its workflow and branch).
        SELECT x.lvl, x.g, x.repo_id, x.wf, x.branch, x.conclusion, x.t,
               count(*) FILTER (WHERE x.conclusion = 'success') OVER (
                   PARTITION BY x.lvl, x.g, x.repo_id, x.wf, x.branch
                   ORDER BY x.t, x.run_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                   AS s
          FROM x WHERE x.conclusion IN ('success', 'failure', 'timed_out')
    ), mttr AS (
        SELECT ok.lvl, ok.g, avg((ok.t - f.start)::double precision / 1000.0) AS mttr_s
          FROM streaks ok
          JOIN (SELECT lvl, g, repo_id, wf, branch, s, min(t) AS start FROM streaks
                 WHERE conclusion <> 'success' GROUP BY 1, 2, 3, 4, 5, 6) f
            ON f.lvl = ok.lvl AND f.g IS NOT DISTINCT FROM ok.g AND f.repo_id = ok.repo_id
           AND f.wf = ok.wf AND f.branch IS NOT DISTINCT FROM ok.branch
           AND f.s = COALESCE(ok.s, 0)
         WHERE ok.conclusion = 'success'
         GROUP BY ok.lvl, ok.g
    )
    SELECT f.g, f.runs, COALESCE(c.by_conclusion, '{}'::jsonb), f.flaky_runs, m.mttr_s,
           f.decided, f.success_rate, f.timed, f.avg_d, f.p50_d, f.p95_d, q.avg_q, q.p95_q
      FROM figures f
      LEFT JOIN concl c ON c.lvl = f.lvl AND c.g IS NOT DISTINCT FROM f.g
      LEFT JOIN queues q ON q.lvl = f.lvl AND q.g IS NOT DISTINCT FROM f.g
      LEFT JOIN mttr m ON m.lvl = f.lvl AND m.g IS NOT DISTINCT FROM f.g
     ORDER BY f.lvl, f.g
$$;

-- The figures the window rules read (version 6's signature), now from the definition above.
CREATE OR REPLACE FUNCTION cipulse_window_figures_by(p_from timestamptz, p_to timestamptz,
                                                     p_repo bigint, p_wf bigint, p_branch text,
                                                     p_bucket_ms bigint, p_nbuckets integer)
    RETURNS TABLE (bucket integer, decided bigint, success_rate double precision, timed bigint,
                   avg_duration_s double precision, p50_duration_s double precision,
                   p95_duration_s double precision, avg_queue_s double precision,
                   p95_queue_s double precision)
    LANGUAGE sql STABLE AS $$
    SELECT m.bucket, m.decided, m.success_rate, m.timed, m.avg_duration_s, m.p50_duration_s,
           m.p95_duration_s, m.avg_queue_s, m.p95_queue_s
      FROM cipulse_window_metrics(p_from, p_to, p_repo, p_wf, p_branch, p_bucket_ms,
                                  p_nbuckets) m
$$;
