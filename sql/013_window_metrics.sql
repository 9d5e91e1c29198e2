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
    ), figures AS (
        -- GROUPING SETS: the whole window (whole = 1) and each bucket; without buckets, the
        -- group of b NULL is the whole window again and is left out below.
        SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS g, grouping(r.b) AS whole,
               count(*) AS runs, count(*) FILTER (WHERE r.flaky) AS flaky_runs,
               count(*) FILTER (WHERE r.conclusion IN ('success', 'failure', 'timed_out'))
                   AS decided,
               (count(*) FILTER (WHERE r.conclusion = 'success'))::double precision
                   / NULLIF(count(*) FILTER (WHERE r.conclusion IN ('success', 'failure',
                                                                    'timed_out')), 0)
                   AS success_rate,
               count(r.d) AS timed, avg(r.d) AS avg_d,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY r.d) AS p50_d,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY r.d) AS p95_d
          FROM r GROUP BY GROUPING SETS ((), (r.b))
    ), queues AS (
        SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS g, grouping(r.b) AS whole,
               avg(q.v) AS avg_q, percentile_cont(0.95) WITHIN GROUP (ORDER BY q.v) AS p95_q
          FROM r CROSS JOIN LATERAL unnest(r.queue_s) AS q(v)
         GROUP BY GROUPING SETS ((), (r.b))
    ), concl AS (
        SELECT c.g, c.whole, jsonb_object_agg(c.k, c.n) AS by_conclusion
          FROM (SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS g, grouping(r.b) AS whole,
                       k.k, count(*) AS n
                  FROM r CROSS JOIN LATERAL (SELECT CASE
                           WHEN r.conclusion IS NULL THEN 'none'
                           WHEN r.conclusion IN ('success', 'failure', 'cancelled', 'skipped',
                                                 'timed_out', 'neutral', 'action_required',
                                                 'stale', 'startup_failure') THEN r.conclusion
                           ELSE 'other' END AS k) k
                 GROUP BY GROUPING SETS ((k.k), (r.b, k.k))) c
         GROUP BY c.g, c.whole
    ), decided AS (
        -- MTTR: the decided runs of each workflow and branch in completion order, in the whole
        -- window (prev_w, start_w) and within their bucket (prev_b, start_b). A failed run
        -- after a success (or first) starts a streak; a success right after a failed run ends
        -- the streak that started last.
        SELECT d.b, d.conclusion, d.t, d.prev_w, d.prev_b,
               max(CASE WHEN d.conclusion <> 'success'
                         AND (d.prev_w IS NULL OR d.prev_w = 'success') THEN d.t END)
                   OVER (PARTITION BY d.repo_id, d.wf, d.branch ORDER BY d.t, d.run_id
                         ROWS UNBOUNDED PRECEDING) AS start_w,
               max(CASE WHEN d.conclusion <> 'success'
                         AND (d.prev_b IS NULL OR d.prev_b = 'success') THEN d.t END)
                   OVER (PARTITION BY d.repo_id, d.wf, d.branch, d.b ORDER BY d.t, d.run_id
                         ROWS UNBOUNDED PRECEDING) AS start_b
          FROM (SELECT r.repo_id, r.wf, r.branch, r.run_id, r.b, r.conclusion, r.t,
                       lag(r.conclusion) OVER (PARTITION BY r.repo_id, r.wf, r.branch
                                               ORDER BY r.t, r.run_id) AS prev_w,
                       lag(r.conclusion) OVER (PARTITION BY r.repo_id, r.wf, r.branch, r.b
                                               ORDER BY r.t, r.run_id) AS prev_b
                  FROM r WHERE r.conclusion IN ('success', 'failure', 'timed_out')) d
    ), mttr AS (
        SELECT CASE WHEN grouping(x.b) = 0 THEN x.b END AS g, grouping(x.b) AS whole,
               CASE WHEN grouping(x.b) = 1
                    THEN avg((x.t - x.start_w)::double precision / 1000.0)
                             FILTER (WHERE x.conclusion = 'success'
                                     AND x.prev_w IN ('failure', 'timed_out'))
                    ELSE avg((x.t - x.start_b)::double precision / 1000.0)
                             FILTER (WHERE x.conclusion = 'success'
                                     AND x.prev_b IN ('failure', 'timed_out')) END AS mttr_s
          FROM decided x GROUP BY GROUPING SETS ((), (x.b))
    )
    SELECT f.g, f.runs, COALESCE(c.by_conclusion, '{}'::jsonb), f.flaky_runs, m.mttr_s,
           f.decided, f.success_rate, f.timed, f.avg_d, f.p50_d, f.p95_d, q.avg_q, q.p95_q
      FROM figures f
      LEFT JOIN concl c ON c.whole = f.whole AND c.g IS NOT DISTINCT FROM f.g
      LEFT JOIN queues q ON q.whole = f.whole AND q.g IS NOT DISTINCT FROM f.g
      LEFT JOIN mttr m ON m.whole = f.whole AND m.g IS NOT DISTINCT FROM f.g
     WHERE f.whole = 1 OR f.g IS NOT NULL
     ORDER BY f.g NULLS FIRST
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
