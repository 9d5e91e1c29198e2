-- cipulse schema, version 20: the all-repository figures' histograms are merged by the collector.
--
-- cipulse_rollup_metrics (sql/016_repo_rollup.sql) merges the rollup's histograms in SQL: every
-- bin of every repository's hour or day row becomes a row of its own (unnest), grouped twice (per
-- bucket and for the whole window). Over 100 repositories and 30 days that is 3,000 rollup rows
-- and ~110,000 bin rows per request, nine tenths of its time. This function returns, per bucket,
-- the sums of the rollup's counters and the histograms of its rows as text, and the collector
-- adds the bins and computes the percentiles (collector/api/pipeline_metrics.c, the same
-- estimate as cipulse_hist_quantile). The figures and their definitions do not change.
--
-- Rows: one per bucket that has rollup rows, bucket i = [p_from + i * p_bucket_ms, ...), the
-- rollup rows chosen as cipulse_rollup_metrics chooses them (day rows when the buckets are whole
-- days from a midnight, hour rows otherwise), in the repositories p_repos (NULL: all; row-level
-- security narrows it further). dur_hists and queue_hists: each row's histogram as
-- "LOW:n,n,...", LOW its lowest bin, separated by spaces (empty histograms left out).
CREATE FUNCTION cipulse_rollup_sums(p_from timestamptz, p_to timestamptz, p_repos bigint[],
                                    p_bucket_ms bigint, p_nbuckets integer)
    RETURNS TABLE (bucket integer, runs bigint, n_success bigint, n_failure bigint,
                   n_timed_out bigint, n_cancelled bigint, n_skipped bigint, n_neutral bigint,
                   n_action_required bigint, n_stale bigint, n_startup_failure bigint,
                   n_other bigint, n_none bigint, flaky bigint, dur_n bigint,
                   dur_sum_ms bigint, queue_n bigint, queue_sum_ms bigint, rec_n bigint,
                   rec_sum_ms bigint, dur_hists text, queue_hists text)
    -- plpgsql: its plan is kept for the session (see cipulse_rollup_metrics).
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT x.b, sum(x.runs)::bigint, sum(x.n_success)::bigint, sum(x.n_failure)::bigint,
           sum(x.n_timed_out)::bigint, sum(x.n_cancelled)::bigint, sum(x.n_skipped)::bigint,
           sum(x.n_neutral)::bigint, sum(x.n_action_required)::bigint, sum(x.n_stale)::bigint,
           sum(x.n_startup_failure)::bigint, sum(x.n_other)::bigint, sum(x.n_none)::bigint,
           sum(x.flaky)::bigint, sum(x.dur_n)::bigint, sum(x.dur_sum_ms)::bigint,
           sum(x.queue_n)::bigint, sum(x.queue_sum_ms)::bigint, sum(x.rec_n)::bigint,
           sum(x.rec_sum_ms)::bigint,
           string_agg(array_lower(x.dur_hist, 1) || ':' || array_to_string(x.dur_hist, ',', '0'),
                      ' '),
           string_agg(array_lower(x.queue_hist, 1) || ':'
                      || array_to_string(x.queue_hist, ',', '0'), ' ')
      FROM (SELECT r.*, LEAST(GREATEST((cipulse_ms(r.t0) - cipulse_ms(p_from)) / p_bucket_ms, 0),
                              p_nbuckets - 1)::integer AS b
              FROM run_rollup_repo r
             WHERE r.grain_s = CASE WHEN p_bucket_ms % 86400000 = 0
                                         AND p_from = date_bin('1 day', p_from, 'epoch')
                                    THEN 86400 ELSE 3600 END
               AND r.t0 >= p_from AND r.t0 < p_to
               AND (p_repos IS NULL OR r.repo_id = ANY (p_repos))) x
     GROUP BY x.b
     ORDER BY x.b;
END $$;
