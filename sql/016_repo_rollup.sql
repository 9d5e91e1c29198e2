-- cipulse schema, version 16: the figures over all repositories (or a set of them) from rollups.
--
-- Version 13 computes every figure of a window from its runs (cipulse_window_metrics): exact, but
-- over all repositories and 30 days at a million runs it sorts a third of a million runs per
-- request (seconds). Here the same figures are kept per repository and UTC hour and per
-- repository and UTC day, maintained by triggers in the writer's transaction like
-- run_rollup_daily (sql/002_api.sql), so that a window over all repositories reads one row per
-- repository and hour or day of the window, however many runs it holds.
--
-- What this needs from the definitions of DESIGN.md "Data model", and what it changes:
--   counts, success rate, flaky runs, averages   exact (sums; durations and queue times summed
--                                                in whole milliseconds)
--   p50/p95 duration, p95 queue time             from fixed histograms: bin 0 holds [0, 1) s,
--                                                bin k >= 1 holds [2^((k-1)/4), 2^(k/4)) s (a
--                                                bin is 19 % wide); the estimate lies in the bin
--                                                of the percentile's lower neighbour (interpolated
--                                                log-linearly inside it)
--   MTTR                                         kept on the recovering run (recovery_ms): from
--                                                the first failed run of the streak to the
--                                                success that ends it, over the whole stored
--                                                history of the workflow and branch (version 13
--                                                clips a streak at the window's start); a
--                                                recovery counts in the window or bucket where
--                                                the success completed
--   the window                                   whole hours or days: the collector aligns named
--                                                windows over all repositories to their buckets
--                                                (collector/api/pipeline_metrics.c)
-- Every function here that reads across repositories takes the repository set (p_repos, NULL =
-- all), and the rows are per repository, so "all" is the sum over a set.

-- Per latest attempt: flaky (as in version 13: a success of attempt > 1 with an earlier failed or
-- timed-out attempt on the same head_sha) and recovery_ms (the run is a success right after a
-- failed or timed-out run of its workflow and branch: milliseconds since the streak's first
-- failed run). Both NULL / false on other attempts.
ALTER TABLE workflow_runs
    ADD COLUMN flaky       boolean NOT NULL DEFAULT false,
    ADD COLUMN recovery_ms bigint;

-- The decided latest attempts of a workflow and branch in completion order (the streaks).
CREATE INDEX workflow_runs_decided_idx ON workflow_runs
    (repo_id, (COALESCE(workflow_id, 0)), (COALESCE(head_branch, '')), completed_at, run_id)
    INCLUDE (conclusion)
    WHERE is_latest AND completed_at IS NOT NULL
      AND conclusion IN ('success', 'failure', 'timed_out');

-- Histogram bin of a duration in seconds (see above).
-- (k from the floating-point logarithm, then moved to the bin whose bounds hold d: exact at the
-- bounds that are whole numbers of seconds, 2, 4, 8, ...)
CREATE FUNCTION cipulse_hist_bin(d double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN d IS NULL THEN NULL WHEN d < 1 THEN 0
                WHEN power(2.0::double precision, (k + 1) / 4.0) <= d THEN k + 2
                WHEN power(2.0::double precision, k / 4.0) > d THEN k
                ELSE k + 1 END
      FROM (SELECT floor(4 * ln(d) / ln(2.0::double precision))::integer AS k) x
$$;

-- a + b, bin by bin. Histograms are arrays indexed by bin (lower bound: the lowest bin used, so
-- that a row holds only the bins it needs); absent bins and NULLs are 0.
CREATE FUNCTION cipulse_hist_add(a bigint[], b bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    k integer;
BEGIN
    IF b IS NULL OR cardinality(b) = 0 THEN
        RETURN a;
    END IF;
    IF a IS NULL OR cardinality(a) = 0 THEN
        RETURN b;
    END IF;
    FOR k IN array_lower(b, 1) .. array_upper(b, 1) LOOP
        IF b[k] IS NOT NULL AND b[k] <> 0 THEN
            -- Assigning beyond the bounds extends the array (NULLs in between).
            a[k] := COALESCE(a[k], 0) + b[k];
        END IF;
    END LOOP;
    RETURN a;
END $$;

-- The histogram of values (seconds), each counted sign times.
CREATE FUNCTION cipulse_hist_of(v double precision[], sign integer) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h bigint[] := '{}';
    x double precision;
    k integer;
BEGIN
    IF v IS NULL THEN
        RETURN h;
    END IF;
    FOREACH x IN ARRAY v LOOP
        IF x IS NOT NULL THEN
            k := cipulse_hist_bin(x);
            h[k] := COALESCE(h[k], 0) + sign;
        END IF;
    END LOOP;
    RETURN h;
END $$;

-- The p-quantile (0..1) of a histogram given as its bins (ascending) and their counts, with
-- percentile_cont's rank p * (n - 1): the value inside the bin holding that rank, log-linearly
-- interpolated (linearly in bin 0). NULL when empty.
CREATE FUNCTION cipulse_hist_quantile(bins integer[], counts numeric[], p double precision)
    RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    n numeric := 0;
    cum numeric := 0;
    rank double precision;
    f double precision;
    i integer;
BEGIN
    FOR i IN 1 .. COALESCE(cardinality(counts), 0) LOOP
        n := n + GREATEST(counts[i], 0);
    END LOOP;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    rank := p * (n - 1)::double precision;
    FOR i IN 1 .. cardinality(bins) LOOP
        IF counts[i] > 0 THEN
            IF rank < (cum + counts[i])::double precision OR i = cardinality(bins) THEN
                f := LEAST(GREATEST((rank - cum::double precision + 0.5)
                                    / counts[i]::double precision, 0), 1);
                IF bins[i] <= 0 THEN
                    RETURN f;
                END IF;
                RETURN power(2.0, (bins[i] - 1 + f) / 4.0);
            END IF;
            cum := cum + counts[i];
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

-- The rollup: per repository and UTC hour (grain_s 3600) and UTC day (86400) of completed_at,
-- the latest attempts that completed.
CREATE TABLE run_rollup_repo (
    repo_id       bigint NOT NULL,
    grain_s       integer NOT NULL,
    t0            timestamptz NOT NULL,
    runs          bigint NOT NULL DEFAULT 0,
    n_success     bigint NOT NULL DEFAULT 0,
    n_failure     bigint NOT NULL DEFAULT 0,
    n_timed_out   bigint NOT NULL DEFAULT 0,
    n_cancelled   bigint NOT NULL DEFAULT 0,
    n_skipped     bigint NOT NULL DEFAULT 0,
    n_neutral     bigint NOT NULL DEFAULT 0,
    n_action_required bigint NOT NULL DEFAULT 0,
    n_stale       bigint NOT NULL DEFAULT 0,
    n_startup_failure bigint NOT NULL DEFAULT 0,
    n_other       bigint NOT NULL DEFAULT 0,  -- a conclusion outside the list above
    n_none        bigint NOT NULL DEFAULT 0,  -- completed without a conclusion
    flaky         bigint NOT NULL DEFAULT 0,
    dur_n         bigint NOT NULL DEFAULT 0,
    dur_sum_ms    bigint NOT NULL DEFAULT 0,
    dur_hist      bigint[] NOT NULL DEFAULT '{}',
    queue_n       bigint NOT NULL DEFAULT 0,
    queue_sum_ms  bigint NOT NULL DEFAULT 0,
    queue_hist    bigint[] NOT NULL DEFAULT '{}',
    rec_n         bigint NOT NULL DEFAULT 0,
    rec_sum_ms    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (grain_s, t0, repo_id)
);
-- The repository list: one repository's days.
CREATE INDEX run_rollup_repo_repo_idx ON run_rollup_repo (repo_id, grain_s, t0);

-- Adds (sign 1) or takes away (sign -1) one attempt's share of its hour and its day.
CREATE FUNCTION cipulse_repo_rollup_apply(r workflow_runs, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    c    text := r.conclusion;
    dn   integer := CASE WHEN r.duration_s IS NULL THEN 0 ELSE sign END;
    dh   bigint[] := CASE WHEN r.duration_s IS NULL THEN '{}'::bigint[]
                          ELSE cipulse_hist_of(ARRAY[r.duration_s], sign) END;
    qh   bigint[] := cipulse_hist_of(r.queue_s, sign);
    g    integer;
BEGIN
    FOREACH g IN ARRAY ARRAY[3600, 86400] LOOP
        INSERT INTO run_rollup_repo AS t (repo_id, grain_s, t0, runs, n_success, n_failure,
            n_timed_out, n_cancelled, n_skipped, n_neutral, n_action_required, n_stale,
            n_startup_failure, n_other, n_none, flaky, dur_n, dur_sum_ms, dur_hist, queue_n,
            queue_sum_ms, queue_hist, rec_n, rec_sum_ms)
        VALUES (r.repo_id, g, date_bin(make_interval(secs => g), r.completed_at, 'epoch'), sign,
            CASE WHEN c = 'success' THEN sign ELSE 0 END,
            CASE WHEN c = 'failure' THEN sign ELSE 0 END,
            CASE WHEN c = 'timed_out' THEN sign ELSE 0 END,
            CASE WHEN c = 'cancelled' THEN sign ELSE 0 END,
            CASE WHEN c = 'skipped' THEN sign ELSE 0 END,
            CASE WHEN c = 'neutral' THEN sign ELSE 0 END,
            CASE WHEN c = 'action_required' THEN sign ELSE 0 END,
            CASE WHEN c = 'stale' THEN sign ELSE 0 END,
            CASE WHEN c = 'startup_failure' THEN sign ELSE 0 END,
            CASE WHEN c NOT IN ('success', 'failure', 'timed_out', 'cancelled', 'skipped',
                                'neutral', 'action_required', 'stale', 'startup_failure')
                 THEN sign ELSE 0 END,
            CASE WHEN c IS NULL THEN sign ELSE 0 END,
            CASE WHEN r.flaky THEN sign ELSE 0 END,
            dn, COALESCE(round(r.duration_s * 1000)::bigint, 0) * sign, dh,
            r.queue_n * sign, COALESCE(round(r.queue_sum_s * 1000)::bigint, 0) * sign, qh,
            CASE WHEN r.recovery_ms IS NULL THEN 0 ELSE sign END,
            COALESCE(r.recovery_ms, 0) * sign)
        ON CONFLICT (grain_s, t0, repo_id) DO UPDATE SET
            runs = t.runs + EXCLUDED.runs,
            n_success = t.n_success + EXCLUDED.n_success,
            n_failure = t.n_failure + EXCLUDED.n_failure,
            n_timed_out = t.n_timed_out + EXCLUDED.n_timed_out,
            n_cancelled = t.n_cancelled + EXCLUDED.n_cancelled,
            n_skipped = t.n_skipped + EXCLUDED.n_skipped,
            n_neutral = t.n_neutral + EXCLUDED.n_neutral,
            n_action_required = t.n_action_required + EXCLUDED.n_action_required,
            n_stale = t.n_stale + EXCLUDED.n_stale,
            n_startup_failure = t.n_startup_failure + EXCLUDED.n_startup_failure,
            n_other = t.n_other + EXCLUDED.n_other,
            n_none = t.n_none + EXCLUDED.n_none,
            flaky = t.flaky + EXCLUDED.flaky,
            dur_n = t.dur_n + EXCLUDED.dur_n,
            dur_sum_ms = t.dur_sum_ms + EXCLUDED.dur_sum_ms,
            dur_hist = cipulse_hist_add(t.dur_hist, EXCLUDED.dur_hist),
            queue_n = t.queue_n + EXCLUDED.queue_n,
            queue_sum_ms = t.queue_sum_ms + EXCLUDED.queue_sum_ms,
            queue_hist = cipulse_hist_add(t.queue_hist, EXCLUDED.queue_hist),
            rec_n = t.rec_n + EXCLUDED.rec_n,
            rec_sum_ms = t.rec_sum_ms + EXCLUDED.rec_sum_ms;
        IF sign < 0 THEN
            DELETE FROM run_rollup_repo
             WHERE grain_s = g AND t0 = date_bin(make_interval(secs => g), r.completed_at, 'epoch')
               AND repo_id = r.repo_id AND runs = 0;
        END IF;
    END LOOP;
END $$;

-- Epoch milliseconds, as version 13 orders and measures runs.
CREATE FUNCTION cipulse_ms(t timestamptz) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT floor(extract(epoch FROM t) * 1000)::bigint $$;

-- recovery_ms of a latest, successful attempt (see above); NULL when the previous decided run of
-- its workflow and branch did not fail. Runs of the same run id (the attempt being replaced)
-- are left out.
CREATE FUNCTION cipulse_recovery_ms(r workflow_runs) RETURNS bigint
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    wf  bigint := COALESCE(r.workflow_id, 0);
    br  text := COALESCE(r.head_branch, '');
    prev text;
    ls_t timestamptz;
    ls_id bigint;
    st  timestamptz;
BEGIN
    IF NOT r.is_latest OR r.completed_at IS NULL OR r.conclusion IS DISTINCT FROM 'success' THEN
        RETURN NULL;
    END IF;
    SELECT p.conclusion INTO prev FROM workflow_runs p
     WHERE p.repo_id = r.repo_id AND COALESCE(p.workflow_id, 0) = wf
       AND COALESCE(p.head_branch, '') = br AND p.is_latest AND p.completed_at IS NOT NULL
       AND p.conclusion IN ('success', 'failure', 'timed_out')
       AND (p.completed_at, p.run_id) < (r.completed_at, r.run_id) AND p.run_id <> r.run_id
     ORDER BY p.completed_at DESC, p.run_id DESC LIMIT 1;
    IF prev IS NULL OR prev = 'success' THEN
        RETURN NULL;
    END IF;
    SELECT p.completed_at, p.run_id INTO ls_t, ls_id FROM workflow_runs p
     WHERE p.repo_id = r.repo_id AND COALESCE(p.workflow_id, 0) = wf
       AND COALESCE(p.head_branch, '') = br AND p.is_latest AND p.completed_at IS NOT NULL
       AND p.conclusion IN ('success', 'failure', 'timed_out') AND p.conclusion = 'success'
       AND (p.completed_at, p.run_id) < (r.completed_at, r.run_id) AND p.run_id <> r.run_id
     ORDER BY p.completed_at DESC, p.run_id DESC LIMIT 1;
    SELECT p.completed_at INTO st FROM workflow_runs p
     WHERE p.repo_id = r.repo_id AND COALESCE(p.workflow_id, 0) = wf
       AND COALESCE(p.head_branch, '') = br AND p.is_latest AND p.completed_at IS NOT NULL
       AND p.conclusion IN ('success', 'failure', 'timed_out')
       AND (ls_t IS NULL OR (p.completed_at, p.run_id) > (ls_t, ls_id))
       AND (p.completed_at, p.run_id) < (r.completed_at, r.run_id) AND p.run_id <> r.run_id
     ORDER BY p.completed_at, p.run_id LIMIT 1;
    RETURN cipulse_ms(r.completed_at) - cipulse_ms(st);
END $$;

-- Before a write of an attempt (after workflow_runs_api_before, which sets is_latest): its flaky
-- mark and recovery.
CREATE FUNCTION cipulse_runs_before_rollup() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.flaky := NEW.is_latest AND NEW.conclusion IS NOT DISTINCT FROM 'success'
        AND NEW.run_attempt > 1 AND EXISTS (
            SELECT 1 FROM workflow_runs e
             WHERE e.repo_id = NEW.repo_id AND e.run_id = NEW.run_id
               AND e.run_attempt < NEW.run_attempt
               AND e.head_sha IS NOT DISTINCT FROM NEW.head_sha
               AND e.conclusion IN ('failure', 'timed_out'));
    NEW.recovery_ms := cipulse_recovery_ms(NEW);
    RETURN NEW;
END $$;

-- Recomputes (through the BEFORE triggers) the first success after position (t, id) in a
-- workflow and branch: the only recovery a change at that position can move.
CREATE FUNCTION cipulse_touch_next_success(r workflow_runs) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_runs w SET recovery_ms = w.recovery_ms
     WHERE (w.repo_id, w.run_id, w.run_attempt) = (
        SELECT p.repo_id, p.run_id, p.run_attempt FROM workflow_runs p
         WHERE p.repo_id = r.repo_id AND COALESCE(p.workflow_id, 0) = COALESCE(r.workflow_id, 0)
           AND COALESCE(p.head_branch, '') = COALESCE(r.head_branch, '') AND p.is_latest
           AND p.completed_at IS NOT NULL
           AND p.conclusion IN ('success', 'failure', 'timed_out') AND p.conclusion = 'success'
           AND (p.completed_at, p.run_id) > (r.completed_at, r.run_id)
         ORDER BY p.completed_at, p.run_id LIMIT 1);
END $$;

CREATE FUNCTION cipulse_runs_after_rollup() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    old_dec boolean := TG_OP <> 'INSERT' AND OLD.is_latest AND OLD.completed_at IS NOT NULL
                       AND OLD.conclusion IN ('success', 'failure', 'timed_out');
    new_dec boolean := TG_OP <> 'DELETE' AND NEW.is_latest AND NEW.completed_at IS NOT NULL
                       AND NEW.conclusion IN ('success', 'failure', 'timed_out');
BEGIN
    -- The rollup share.
    IF NOT (TG_OP = 'UPDATE' AND OLD.is_latest = NEW.is_latest
            AND OLD.completed_at IS NOT DISTINCT FROM NEW.completed_at
            AND OLD.conclusion IS NOT DISTINCT FROM NEW.conclusion
            AND OLD.duration_s IS NOT DISTINCT FROM NEW.duration_s
            AND OLD.queue_sum_s IS NOT DISTINCT FROM NEW.queue_sum_s
            AND OLD.queue_s IS NOT DISTINCT FROM NEW.queue_s
            AND OLD.queue_n = NEW.queue_n AND OLD.repo_id = NEW.repo_id
            AND OLD.flaky = NEW.flaky
            AND OLD.recovery_ms IS NOT DISTINCT FROM NEW.recovery_ms) THEN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_latest AND OLD.completed_at IS NOT NULL THEN
            PERFORM cipulse_repo_rollup_apply(OLD, -1);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_latest AND NEW.completed_at IS NOT NULL THEN
            PERFORM cipulse_repo_rollup_apply(NEW, 1);
        END IF;
    END IF;
    -- The streaks: a decided run that appeared, left or moved changes the recovery of the
    -- next success after where it was and where it is.
    IF old_dec AND new_dec AND OLD.repo_id = NEW.repo_id
       AND OLD.workflow_id IS NOT DISTINCT FROM NEW.workflow_id
       AND OLD.head_branch IS NOT DISTINCT FROM NEW.head_branch
       AND OLD.completed_at = NEW.completed_at AND OLD.conclusion = NEW.conclusion THEN
        RETURN NULL;  -- the same place in the same streaks
    END IF;
    IF old_dec THEN
        PERFORM cipulse_touch_next_success(OLD);
    END IF;
    IF new_dec THEN
        PERFORM cipulse_touch_next_success(NEW);
    END IF;
    -- Flaky: an earlier attempt written or removed after the latest one.
    IF (TG_OP <> 'INSERT' AND NOT OLD.is_latest) OR (TG_OP <> 'DELETE' AND NOT NEW.is_latest) THEN
        IF TG_OP <> 'UPDATE' OR OLD.conclusion IS DISTINCT FROM NEW.conclusion
           OR OLD.head_sha IS DISTINCT FROM NEW.head_sha OR OLD.is_latest <> NEW.is_latest THEN
            UPDATE workflow_runs w SET flaky = w.flaky
             WHERE w.repo_id = COALESCE(NEW.repo_id, OLD.repo_id)
               AND w.run_id = COALESCE(NEW.run_id, OLD.run_id) AND w.is_latest
               AND w.run_attempt > COALESCE(NEW.run_attempt, OLD.run_attempt)
               AND w.conclusion = 'success';
        END IF;
    END IF;
    RETURN NULL;
END $$;

-- Named after the version 2 triggers, so that they fire after them (triggers fire by name).
CREATE TRIGGER workflow_runs_api_before_rollup BEFORE INSERT OR UPDATE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION cipulse_runs_before_rollup();
CREATE TRIGGER workflow_runs_api_after_rollup AFTER INSERT OR UPDATE OR DELETE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION cipulse_runs_after_rollup();

-- A histogram from its bins (ascending) and counts (for the rebuild).
CREATE FUNCTION cipulse_hist_build(bins integer[], counts bigint[]) RETURNS bigint[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    h bigint[] := '{}';
    i integer;
BEGIN
    FOR i IN 1 .. COALESCE(cardinality(bins), 0) LOOP
        h[bins[i]] := counts[i];
    END LOOP;
    RETURN h;
END $$;

-- Set-wise: flaky, recovery_ms and run_rollup_repo from the raw rows.
CREATE FUNCTION cipulse_repo_rollup_rebuild() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_before_rollup;
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_after_rollup;
    UPDATE workflow_runs w SET flaky = x.flaky
      FROM (SELECT v.repo_id, v.run_id, v.run_attempt,
                   v.is_latest AND v.conclusion IS NOT DISTINCT FROM 'success'
                   AND v.run_attempt > 1 AND EXISTS (
                       SELECT 1 FROM workflow_runs e
                        WHERE e.repo_id = v.repo_id AND e.run_id = v.run_id
                          AND e.run_attempt < v.run_attempt
                          AND e.head_sha IS NOT DISTINCT FROM v.head_sha
                          AND e.conclusion IN ('failure', 'timed_out')) AS flaky
              FROM workflow_runs v) x
     WHERE (w.repo_id, w.run_id, w.run_attempt) = (x.repo_id, x.run_id, x.run_attempt)
       AND w.flaky <> x.flaky;
    UPDATE workflow_runs w SET recovery_ms = x.rec
      FROM (SELECT v.repo_id, v.run_id, v.run_attempt, d.rec
              FROM workflow_runs v
              LEFT JOIN (
                SELECT s.repo_id, s.run_id, s.run_attempt,
                       CASE WHEN s.conclusion = 'success' AND s.prev IN ('failure', 'timed_out')
                            THEN s.t - s.start END AS rec
                  FROM (SELECT q.*, max(CASE WHEN q.conclusion <> 'success'
                                             AND (q.prev IS NULL OR q.prev = 'success')
                                             THEN q.t END)
                                    OVER (PARTITION BY q.repo_id, q.wf, q.br
                                          ORDER BY q.completed_at, q.run_id
                                          ROWS UNBOUNDED PRECEDING) AS start
                          FROM (SELECT u.repo_id, u.run_id, u.run_attempt, u.conclusion,
                                       u.completed_at, cipulse_ms(u.completed_at) AS t,
                                       COALESCE(u.workflow_id, 0) AS wf,
                                       COALESCE(u.head_branch, '') AS br,
                                       lag(u.conclusion) OVER (
                                           PARTITION BY u.repo_id, COALESCE(u.workflow_id, 0),
                                                        COALESCE(u.head_branch, '')
                                           ORDER BY u.completed_at, u.run_id) AS prev
                                  FROM workflow_runs u
                                 WHERE u.is_latest AND u.completed_at IS NOT NULL
                                   AND u.conclusion IN ('success', 'failure', 'timed_out')) q) s
              ) d ON (d.repo_id, d.run_id, d.run_attempt) = (v.repo_id, v.run_id, v.run_attempt)
           ) x
     WHERE (w.repo_id, w.run_id, w.run_attempt) = (x.repo_id, x.run_id, x.run_attempt)
       AND w.recovery_ms IS DISTINCT FROM x.rec;
    ALTER TABLE workflow_runs ENABLE TRIGGER workflow_runs_api_before_rollup;
    ALTER TABLE workflow_runs ENABLE TRIGGER workflow_runs_api_after_rollup;
    DELETE FROM run_rollup_repo;
    INSERT INTO run_rollup_repo (repo_id, grain_s, t0, runs, n_success, n_failure, n_timed_out,
        n_cancelled, n_skipped, n_neutral, n_action_required, n_stale, n_startup_failure,
        n_other, n_none, flaky, dur_n, dur_sum_ms, dur_hist, queue_n, queue_sum_ms, queue_hist,
        rec_n, rec_sum_ms)
    WITH a AS MATERIALIZED (
        SELECT w.repo_id, w.run_id, w.run_attempt, w.conclusion, w.flaky, w.duration_s,
               w.queue_n, w.queue_sum_s, w.queue_s, w.recovery_ms, g.g,
               date_bin(make_interval(secs => g.g), w.completed_at, 'epoch') AS t0
          FROM workflow_runs w, (VALUES (3600), (86400)) g(g)
         WHERE w.is_latest AND w.completed_at IS NOT NULL
    ), bins AS (
        SELECT x.repo_id, x.g, x.t0, x.q, x.k, count(*) AS n
          FROM (SELECT a.repo_id, a.g, a.t0, false AS q, cipulse_hist_bin(a.duration_s) AS k
                  FROM a WHERE a.duration_s IS NOT NULL
                UNION ALL
                SELECT a.repo_id, a.g, a.t0, true, cipulse_hist_bin(v)
                  FROM a CROSS JOIN LATERAL unnest(a.queue_s) v WHERE v IS NOT NULL) x
         GROUP BY 1, 2, 3, 4, 5
    ), hists AS (
        SELECT b.repo_id, b.g, b.t0,
               cipulse_hist_build(array_agg(b.k ORDER BY b.k) FILTER (WHERE NOT b.q),
                                  array_agg(b.n ORDER BY b.k) FILTER (WHERE NOT b.q)) AS dh,
               cipulse_hist_build(array_agg(b.k ORDER BY b.k) FILTER (WHERE b.q),
                                  array_agg(b.n ORDER BY b.k) FILTER (WHERE b.q)) AS qh
          FROM bins b GROUP BY 1, 2, 3
    )
    SELECT a.repo_id, a.g, a.t0, count(*),
        count(*) FILTER (WHERE conclusion = 'success'),
        count(*) FILTER (WHERE conclusion = 'failure'),
        count(*) FILTER (WHERE conclusion = 'timed_out'),
        count(*) FILTER (WHERE conclusion = 'cancelled'),
        count(*) FILTER (WHERE conclusion = 'skipped'),
        count(*) FILTER (WHERE conclusion = 'neutral'),
        count(*) FILTER (WHERE conclusion = 'action_required'),
        count(*) FILTER (WHERE conclusion = 'stale'),
        count(*) FILTER (WHERE conclusion = 'startup_failure'),
        count(*) FILTER (WHERE conclusion NOT IN ('success', 'failure', 'timed_out', 'cancelled',
                         'skipped', 'neutral', 'action_required', 'stale', 'startup_failure')),
        count(*) FILTER (WHERE conclusion IS NULL),
        count(*) FILTER (WHERE flaky),
        count(duration_s), COALESCE(sum(round(duration_s * 1000)::bigint), 0),
        COALESCE(min(h.dh), '{}'),
        COALESCE(sum(queue_n), 0), COALESCE(sum(round(queue_sum_s * 1000)::bigint), 0),
        COALESCE(min(h.qh), '{}'),
        count(recovery_ms), COALESCE(sum(recovery_ms), 0)
      FROM a LEFT JOIN hists h ON (h.repo_id, h.g, h.t0) = (a.repo_id, a.g, a.t0)
     GROUP BY a.repo_id, a.g, a.t0;
END $$;


-- cipulse_api_rebuild (sql/002_api.sql) rebuilds this rollup too.
ALTER FUNCTION cipulse_api_rebuild() RENAME TO cipulse_api_rebuild_v2;
CREATE FUNCTION cipulse_api_rebuild() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    -- Version 2's rebuild rewrites every attempt: these triggers would redo per row what the
    -- rebuild below does set-wise.
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_before_rollup;
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_after_rollup;
    PERFORM cipulse_api_rebuild_v2();
    PERFORM cipulse_repo_rollup_rebuild();
END $$;

SELECT cipulse_repo_rollup_rebuild();

-- The figures of cipulse_window_metrics (sql/013_window_metrics.sql, same columns) over the
-- repositories p_repos (NULL: all) from the rollup, with the differences written at the top.
-- [p_from, p_to) must be whole hours (whole UTC days when p_bucket_ms is a multiple of a day and
-- p_from a midnight: the day rows are read then); bucket i is [from + i * bucket_ms, ...).
CREATE FUNCTION cipulse_rollup_metrics(p_from timestamptz, p_to timestamptz, p_repos bigint[],
                                       p_bucket_ms bigint, p_nbuckets integer)
    RETURNS TABLE (bucket integer, runs bigint, by_conclusion jsonb, flaky_runs bigint,
                   mttr_s double precision, decided bigint, success_rate double precision,
                   timed bigint, avg_duration_s double precision,
                   p50_duration_s double precision, p95_duration_s double precision,
                   avg_queue_s double precision, p95_queue_s double precision)
    -- plpgsql: its plan is kept for the session, where an SQL function's body would be planned
    -- again on every call (a tenth of the time of the query itself).
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH r AS MATERIALIZED (
        SELECT x.*, CASE WHEN p_bucket_ms > 0 THEN LEAST(GREATEST(
                   (cipulse_ms(x.t0) - cipulse_ms(p_from)) / p_bucket_ms, 0),
                   p_nbuckets - 1)::integer END AS b
          FROM run_rollup_repo x
         WHERE x.grain_s = CASE WHEN p_bucket_ms % 86400000 = 0
                                     AND p_from = date_bin('1 day', p_from, 'epoch')
                                THEN 86400 ELSE 3600 END
           AND x.t0 >= p_from AND x.t0 < p_to
           AND (p_repos IS NULL OR x.repo_id = ANY (p_repos))
    ), sums AS (
        SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS g, grouping(r.b) AS whole,
               sum(r.runs)::bigint AS runs, sum(r.n_success) AS s, sum(r.n_failure) AS f,
               sum(r.n_timed_out) AS tout, sum(r.n_cancelled) AS ca, sum(r.n_skipped) AS sk,
               sum(r.n_neutral) AS ne, sum(r.n_action_required) AS ar, sum(r.n_stale) AS st,
               sum(r.n_startup_failure) AS sf, sum(r.n_other) AS ot, sum(r.n_none) AS no,
               sum(r.flaky)::bigint AS flaky, sum(r.dur_n)::bigint AS dur_n,
               sum(r.dur_sum_ms) AS dur_sum, sum(r.queue_n) AS queue_n,
               sum(r.queue_sum_ms) AS queue_sum, sum(r.rec_n) AS rec_n,
               sum(r.rec_sum_ms) AS rec_sum
          FROM r GROUP BY GROUPING SETS ((), (r.b))
    ), hist AS (
        SELECT h.g, h.whole, h.kind, array_agg(h.k ORDER BY h.k) AS bins,
               array_agg(h.n ORDER BY h.k) AS counts
          FROM (SELECT CASE WHEN grouping(r.b) = 0 THEN r.b END AS g, grouping(r.b) AS whole,
                       e.kind, e.k, sum(e.n) AS n
                  -- unnest, not generate_subscripts and a subscript per bin: a third of the
                  -- CPU time
                  FROM r CROSS JOIN LATERAL (
                         SELECT 'd' AS kind, array_lower(r.dur_hist, 1) + u.o::integer - 1 AS k,
                                u.n
                           FROM unnest(r.dur_hist) WITH ORDINALITY u(n, o)
                         UNION ALL
                         SELECT 'q', array_lower(r.queue_hist, 1) + u.o::integer - 1, u.n
                           FROM unnest(r.queue_hist) WITH ORDINALITY u(n, o)
                       ) e
                 WHERE e.n IS NOT NULL AND e.n <> 0
                 GROUP BY GROUPING SETS ((e.kind, e.k), (r.b, e.kind, e.k))) h
         GROUP BY h.g, h.whole, h.kind
    )
    SELECT s.g, COALESCE(s.runs, 0),
           jsonb_strip_nulls(jsonb_build_object(
               'success', NULLIF(s.s, 0), 'failure', NULLIF(s.f, 0),
               'timed_out', NULLIF(s.tout, 0), 'cancelled', NULLIF(s.ca, 0),
               'skipped', NULLIF(s.sk, 0), 'neutral', NULLIF(s.ne, 0),
               'action_required', NULLIF(s.ar, 0), 'stale', NULLIF(s.st, 0),
               'startup_failure', NULLIF(s.sf, 0), 'other', NULLIF(s.ot, 0),
               'none', NULLIF(s.no, 0))),
           COALESCE(s.flaky, 0),
           (s.rec_sum::double precision / 1000.0) / NULLIF(s.rec_n, 0)::double precision,
           COALESCE(s.s + s.f + s.tout, 0)::bigint,
           s.s::double precision / NULLIF(s.s + s.f + s.tout, 0)::double precision,
           COALESCE(s.dur_n, 0),
           (s.dur_sum::double precision / 1000.0) / NULLIF(s.dur_n, 0)::double precision,
           cipulse_hist_quantile(hd.bins, hd.counts, 0.5),
           cipulse_hist_quantile(hd.bins, hd.counts, 0.95),
           (s.queue_sum::double precision / 1000.0) / NULLIF(s.queue_n, 0)::double precision,
           cipulse_hist_quantile(hq.bins, hq.counts, 0.95)
      FROM sums s
      LEFT JOIN hist hd ON hd.kind = 'd' AND hd.whole = s.whole AND hd.g IS NOT DISTINCT FROM s.g
      LEFT JOIN hist hq ON hq.kind = 'q' AND hq.whole = s.whole AND hq.g IS NOT DISTINCT FROM s.g
     WHERE s.whole = 1 OR s.g IS NOT NULL
     ORDER BY s.g NULLS FIRST;
END $$;

-- Log search (GET /api/v1/logs/search, collector/api/logs.c): the newest tails (job id, then
-- step, descending) after the cursor (p_before_job, p_before_step) that match p_word (the
-- trigram index's pattern) and p_pattern (the whole query; both escape with a backslash,
-- written chr(92): this file is embedded in C without escaping), at most p_limit, in the
-- repositories p_repos (NULL: all).
-- One query ordered by job id finds a rare term only after reading every newer tail (at a
-- million runs, 150+ ms for a term in one tail of a thousand), and one through the trigram index
-- reads every match of the history before it can sort them. So this reads the newest job ids in
-- ranges growing eightfold, each planned for its own range (an index range scan for a narrow
-- one, the trigram index within a wide one), until the page is full: a common term costs the
-- page, a rare one the matches of the ranges it needs.
CREATE FUNCTION cipulse_log_search(p_word text, p_pattern text, p_repos bigint[],
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
            'WHERE l.job_id > $1 AND l.job_id <= $2 AND l.content ILIKE $3 ESCAPE chr(92) '
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
