-- cipulse schema, version 20: the all-repository figures' histograms are merged by the collector;
-- log search reads its first range of job ids without the trigram index.
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

-- Log search (sql/016_repo_rollup.sql, same arguments and rows): the narrow ranges of job ids are
-- read through the job id index alone. With the trigram condition in their query the planner
-- ANDed the trigram index's bitmap of the whole table into a range of a few hundred tails: for a
-- word in every tail, its posting list of every tail (1.4 s over 1 GB of tails for a page a range
-- scan fills in milliseconds). The wide ranges keep the trigram index, which finds a rare term
-- without reading the tails that lack it.
CREATE OR REPLACE FUNCTION cipulse_log_search(p_word text, p_pattern text, p_repos bigint[],
                                              p_before_job bigint, p_before_step integer,
                                              p_limit integer)
    RETURNS TABLE (repo_id bigint, job_id bigint, step_number integer, content text)
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    hi    bigint;
    lo    bigint;
    first bigint;
    width bigint := 4096;
    found integer := 0;
    n     integer;
    -- $3 in an expression no index holds: the range scan only.
    narrow CONSTANT text := '(l.content || '''') ILIKE $3 ESCAPE chr(92) ';
    wide   CONSTANT text := 'l.content ILIKE $3 ESCAPE chr(92) ';
BEGIN
    SELECT l.job_id INTO hi FROM logs l ORDER BY l.job_id DESC LIMIT 1;
    SELECT l.job_id INTO first FROM logs l ORDER BY l.job_id LIMIT 1;
    IF hi IS NULL OR p_limit <= 0 THEN
        RETURN;
    END IF;
    hi := LEAST(hi, COALESCE(p_before_job, hi));
    LOOP
        lo := hi - width;
        RETURN QUERY EXECUTE
            'SELECT l.repo_id, l.job_id, l.step_number, l.content FROM logs l '
            'WHERE l.job_id > $1 AND l.job_id <= $2 AND '
            || CASE WHEN width <= 4096 THEN narrow ELSE wide END ||
            '  AND (l.content || '''') ILIKE $4 ESCAPE chr(92) '
            '  AND ($5::bigint[] IS NULL OR l.repo_id = ANY ($5)) '
            '  AND ($6::bigint IS NULL OR (l.job_id, l.step_number) < ($6, $7)) '
            'ORDER BY l.job_id DESC, l.step_number DESC LIMIT $8'
            USING lo, hi, p_word, p_pattern, p_repos, p_before_job, p_before_step,
                  p_limit - found;
        GET DIAGNOSTICS n = ROW_COUNT;
        found := found + n;
        EXIT WHEN found >= p_limit OR lo < first;
        hi := lo;
        width := width * 8;
    END LOOP;
END $$;
