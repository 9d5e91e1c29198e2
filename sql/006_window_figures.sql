-- cipulse schema, version 6: one definition of the window figures.
--
-- Version 5 shared the runs of a window (cipulse_window_runs) between the metrics API and the
-- window rules, but each computed the figures itself: the rules in SQL (cipulse_window_figures),
-- the API in C (its own mean and percentile). Now the arithmetic lives here only:
-- cipulse_window_figures_by computes them for a window and for each bucket of its time series,
-- GET /api/v1/metrics reads them from it (collector/api/pipeline_metrics.c), and
-- cipulse_window_figures, which the regression and slow_build rules read, is its whole-window row.

-- The figures of the runs of a window (the definitions of DESIGN.md "Data model"):
--   success_rate   success / (success + failure + timed_out); NULL without such runs
--   decided        success + failure + timed_out runs
--   timed          runs with a duration
--   avg/p50/p95_duration_s   over the runs' durations (percentiles by linear interpolation)
--   avg/p95_queue_s          over the queue times of all jobs of those runs
-- One row for the whole window (bucket NULL), then one per bucket that has runs when p_bucket_ms
-- is given: bucket i holds the runs completed in [from + i * bucket_ms, from + (i + 1) *
-- bucket_ms) in epoch milliseconds, the last of p_nbuckets also whatever is later.
CREATE FUNCTION cipulse_window_figures_by(p_from timestamptz, p_to timestamptz, p_repo bigint,
                                          p_wf bigint, p_branch text, p_bucket_ms bigint,
                                          p_nbuckets integer)
    RETURNS TABLE (bucket integer, decided bigint, success_rate double precision, timed bigint,
                   avg_duration_s double precision, p50_duration_s double precision,
                   p95_duration_s double precision, avg_queue_s double precision,
                   p95_queue_s double precision)
    LANGUAGE sql STABLE AS $$
    WITH r AS (
        SELECT w.conclusion, w.duration_s::double precision AS d, w.queue_s,
               CASE WHEN p_bucket_ms > 0 THEN LEAST(GREATEST(
                   (floor(extract(epoch FROM w.completed_at) * 1000)::bigint
                    - floor(extract(epoch FROM p_from) * 1000)::bigint) / p_bucket_ms, 0),
                   p_nbuckets - 1)::integer END AS b
          FROM cipulse_window_runs(p_from, p_to, p_repo, p_wf, p_branch) w
    ), runs AS (
        SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS b, grouping(r.b) AS whole,
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
        SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS b, grouping(r.b) AS whole,
               avg(q.v) AS avg_q,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY q.v) AS p95_q
          FROM r CROSS JOIN LATERAL unnest(r.queue_s) AS q(v)
         GROUP BY GROUPING SETS ((), (r.b))
    )
    SELECT runs.b, runs.decided, runs.success_rate, runs.timed, runs.avg_d, runs.p50_d,
           runs.p95_d, queues.avg_q, queues.p95_q
      FROM runs LEFT JOIN queues ON queues.whole = runs.whole
                                AND queues.b IS NOT DISTINCT FROM runs.b
     -- Without buckets, GROUP BY (r.b) is one group of NULL: the whole window again.
     WHERE runs.whole = 1 OR runs.b IS NOT NULL
     ORDER BY runs.b NULLS FIRST
$$;

-- The whole-window figures the window rules read (version 5's signature, now defined above).
CREATE OR REPLACE FUNCTION cipulse_window_figures(p_from timestamptz, p_to timestamptz,
                                                  p_repo bigint, p_wf bigint, p_branch text,
                                                  OUT decided bigint,
                                                  OUT success_rate double precision,
                                                  OUT timed bigint,
                                                  OUT avg_duration_s double precision,
                                                  OUT p95_duration_s double precision)
    LANGUAGE sql STABLE AS $$
    SELECT f.decided, f.success_rate, f.timed, f.avg_duration_s, f.p95_duration_s
      FROM cipulse_window_figures_by(p_from, p_to, p_repo, p_wf, p_branch, NULL, NULL) f
     WHERE f.bucket IS NULL
$$;
