-- cipulse schema, version 2: what the dashboard API reads, kept ready for reading.
--
-- The API's numbers follow the definitions of DESIGN.md. Computing them from the raw rows on every
-- request is too slow at a million runs, so the figures that only depend on one run attempt are
-- kept on the attempt itself, and the additive ones are summed per workflow and UTC day. Triggers
-- keep both current inside the writer's own transaction, whoever writes (agent report, webhook,
-- poller, a restore): nothing in the collector has to remember to do it.
--
--   workflow_runs.is_latest    the attempt is the highest stored attempt of its run
--   workflow_runs.duration_s   run duration: last job completed_at - first job started_at, else
--                              updated_at - run_started_at, else NULL
--   workflow_runs.queue_sum_s  sum of the jobs' queue times (started_at - created_at), over
--   workflow_runs.queue_n      the queue_n jobs where both are known
--   workflow_runs.queue_s      those jobs' queue times (for percentiles without reading jobs)
--   run_rollup_daily           per (repo, workflow, UTC day of completed_at): the latest attempts
--                              that completed, by conclusion, with duration and queue sums and a
--                              duration histogram (for /metrics)
--
-- cipulse_api_rebuild() recomputes all of it from the raw rows (after a bulk load with triggers
-- disabled, or to repair).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE workflow_runs
    ADD COLUMN is_latest    boolean NOT NULL DEFAULT true,
    ADD COLUMN duration_s   double precision,
    ADD COLUMN queue_sum_s  double precision,
    ADD COLUMN queue_n      integer NOT NULL DEFAULT 0,
    ADD COLUMN queue_s      double precision[];

-- Upper bounds (seconds) of the duration histogram buckets; the last slot is +Inf. The collector's
-- /metrics renderer (collector/api_prom.c) carries the same list.
CREATE FUNCTION cipulse_duration_bounds() RETURNS double precision[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT '{10,30,60,120,300,600,1200,1800,3600,7200}'::double precision[] $$;

-- 1-based slot of a duration in the histogram: the first bound >= d (Prometheus "le").
CREATE FUNCTION cipulse_duration_slot(d double precision) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 1 + count(*)::integer FROM unnest(cipulse_duration_bounds()) b WHERE b < d $$;

CREATE TABLE run_rollup_daily (
    repo_id       bigint NOT NULL,
    workflow_id   bigint NOT NULL,  -- 0 when the run's workflow is not known
    day           date NOT NULL,    -- UTC day of completed_at
    runs          bigint NOT NULL DEFAULT 0,
    n_success     bigint NOT NULL DEFAULT 0,
    n_failure     bigint NOT NULL DEFAULT 0,
    n_timed_out   bigint NOT NULL DEFAULT 0,
    n_cancelled   bigint NOT NULL DEFAULT 0,
    n_skipped     bigint NOT NULL DEFAULT 0,
    n_other       bigint NOT NULL DEFAULT 0,
    -- Sums in whole milliseconds: integer sums stay exact however often rows are added and
    -- taken away again.
    dur_n         bigint NOT NULL DEFAULT 0,
    dur_sum_ms    bigint NOT NULL DEFAULT 0,
    dur_hist      bigint[] NOT NULL,
    queue_n       bigint NOT NULL DEFAULT 0,
    queue_sum_ms  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (repo_id, workflow_id, day)
);
-- Covering: the repository list sums these columns over a few days without visiting the table.
CREATE INDEX run_rollup_daily_day_idx ON run_rollup_daily (repo_id, day)
    INCLUDE (runs, n_success, n_failure, n_timed_out, n_cancelled, n_skipped, n_other, dur_n,
             dur_sum_ms);

-- Adds (sign 1) or takes away (sign -1) one attempt's contribution to its rollup row.
CREATE FUNCTION cipulse_rollup_apply(r workflow_runs, sign integer) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    wf   bigint := COALESCE(r.workflow_id, 0);
    d    date := (r.completed_at AT TIME ZONE 'UTC')::date;
    c    text := COALESCE(r.conclusion, '');
    dn   integer := CASE WHEN r.duration_s IS NULL THEN 0 ELSE sign END;
    dms  bigint := COALESCE(round(r.duration_s * 1000)::bigint, 0) * sign;
    slot integer := CASE WHEN r.duration_s IS NULL THEN 0
                         ELSE cipulse_duration_slot(r.duration_s) END;
    hist bigint[] := array_fill(0::bigint, ARRAY[11]);
    qms  bigint := COALESCE(round(r.queue_sum_s * 1000)::bigint, 0) * sign;
    qn   integer := r.queue_n * sign;
BEGIN
    IF slot > 0 THEN
        hist[slot] := dn;
    END IF;
    INSERT INTO run_rollup_daily AS t (repo_id, workflow_id, day, runs, n_success, n_failure,
        n_timed_out, n_cancelled, n_skipped, n_other, dur_n, dur_sum_ms, dur_hist, queue_n,
        queue_sum_ms)
    VALUES (r.repo_id, wf, d, sign,
        CASE WHEN c = 'success' THEN sign ELSE 0 END,
        CASE WHEN c = 'failure' THEN sign ELSE 0 END,
        CASE WHEN c = 'timed_out' THEN sign ELSE 0 END,
        CASE WHEN c = 'cancelled' THEN sign ELSE 0 END,
        CASE WHEN c = 'skipped' THEN sign ELSE 0 END,
        CASE WHEN c IN ('success', 'failure', 'timed_out', 'cancelled', 'skipped') THEN 0
             ELSE sign END,
        dn, dms, hist, qn, qms)
    ON CONFLICT (repo_id, workflow_id, day) DO UPDATE SET
        runs = t.runs + EXCLUDED.runs,
        n_success = t.n_success + EXCLUDED.n_success,
        n_failure = t.n_failure + EXCLUDED.n_failure,
        n_timed_out = t.n_timed_out + EXCLUDED.n_timed_out,
        n_cancelled = t.n_cancelled + EXCLUDED.n_cancelled,
        n_skipped = t.n_skipped + EXCLUDED.n_skipped,
        n_other = t.n_other + EXCLUDED.n_other,
        dur_n = t.dur_n + EXCLUDED.dur_n,
        dur_sum_ms = t.dur_sum_ms + EXCLUDED.dur_sum_ms,
        dur_hist = ARRAY(SELECT a + b FROM unnest(t.dur_hist, EXCLUDED.dur_hist) AS u(a, b)),
        queue_n = t.queue_n + EXCLUDED.queue_n,
        queue_sum_ms = t.queue_sum_ms + EXCLUDED.queue_sum_ms;
    IF sign < 0 THEN
        DELETE FROM run_rollup_daily
        WHERE repo_id = r.repo_id AND workflow_id = wf AND day = d AND runs = 0;
    END IF;
END $$;

-- Per-attempt figures, recomputed whenever the attempt row is written.
CREATE FUNCTION cipulse_runs_before() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    j_start timestamptz;
    j_end   timestamptz;
    q_sum   double precision;
    q_n     integer;
    q_all   double precision[];
BEGIN
    SELECT min(started_at), max(completed_at),
           sum(extract(epoch FROM started_at - created_at)::double precision)
               FILTER (WHERE started_at IS NOT NULL AND created_at IS NOT NULL),
           count(*) FILTER (WHERE started_at IS NOT NULL AND created_at IS NOT NULL),
           array_agg(extract(epoch FROM started_at - created_at)::double precision ORDER BY job_id)
               FILTER (WHERE started_at IS NOT NULL AND created_at IS NOT NULL)
      INTO j_start, j_end, q_sum, q_n, q_all
      FROM jobs
     WHERE repo_id = NEW.repo_id AND run_id = NEW.run_id AND run_attempt = NEW.run_attempt;
    IF j_start IS NOT NULL AND j_end IS NOT NULL THEN
        NEW.duration_s := extract(epoch FROM j_end - j_start)::double precision;
    ELSIF NEW.updated_at IS NOT NULL AND NEW.run_started_at IS NOT NULL THEN
        NEW.duration_s := extract(epoch FROM NEW.updated_at - NEW.run_started_at)::double precision;
    ELSE
        NEW.duration_s := NULL;
    END IF;
    NEW.queue_sum_s := q_sum;
    NEW.queue_n := COALESCE(q_n, 0);
    NEW.queue_s := q_all;
    IF TG_OP = 'INSERT' THEN
        NEW.is_latest := NOT EXISTS (SELECT 1 FROM workflow_runs
            WHERE repo_id = NEW.repo_id AND run_id = NEW.run_id AND run_attempt > NEW.run_attempt);
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION cipulse_runs_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.is_latest THEN
        -- A re-run supersedes the earlier attempts (their own trigger moves their rollup share).
        UPDATE workflow_runs SET is_latest = false
         WHERE repo_id = NEW.repo_id AND run_id = NEW.run_id AND run_attempt < NEW.run_attempt
           AND is_latest;
    ELSIF TG_OP = 'DELETE' AND OLD.is_latest THEN
        UPDATE workflow_runs SET is_latest = true
         WHERE repo_id = OLD.repo_id AND run_id = OLD.run_id AND run_attempt =
               (SELECT max(run_attempt) FROM workflow_runs
                 WHERE repo_id = OLD.repo_id AND run_id = OLD.run_id);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.is_latest = NEW.is_latest
       AND OLD.completed_at IS NOT DISTINCT FROM NEW.completed_at
       AND OLD.conclusion IS NOT DISTINCT FROM NEW.conclusion
       AND OLD.duration_s IS NOT DISTINCT FROM NEW.duration_s
       AND OLD.queue_sum_s IS NOT DISTINCT FROM NEW.queue_sum_s
       AND OLD.queue_n = NEW.queue_n AND OLD.repo_id = NEW.repo_id
       AND OLD.workflow_id IS NOT DISTINCT FROM NEW.workflow_id THEN
        RETURN NULL; -- nothing the rollup counts changed (the common upsert)
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_latest AND OLD.completed_at IS NOT NULL THEN
        PERFORM cipulse_rollup_apply(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.is_latest AND NEW.completed_at IS NOT NULL THEN
        PERFORM cipulse_rollup_apply(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

-- A job changed: touch its attempt so that the BEFORE trigger recomputes the figures.
CREATE FUNCTION cipulse_jobs_after() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND (TG_OP = 'DELETE'
       OR OLD.repo_id <> NEW.repo_id OR OLD.run_id <> NEW.run_id
       OR OLD.run_attempt <> NEW.run_attempt) THEN
        UPDATE workflow_runs SET queue_n = queue_n
         WHERE repo_id = OLD.repo_id AND run_id = OLD.run_id AND run_attempt = OLD.run_attempt;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND (TG_OP = 'INSERT'
       OR OLD.created_at IS DISTINCT FROM NEW.created_at
       OR OLD.started_at IS DISTINCT FROM NEW.started_at
       OR OLD.completed_at IS DISTINCT FROM NEW.completed_at
       OR OLD.repo_id <> NEW.repo_id OR OLD.run_id <> NEW.run_id
       OR OLD.run_attempt <> NEW.run_attempt) THEN
        UPDATE workflow_runs SET queue_n = queue_n
         WHERE repo_id = NEW.repo_id AND run_id = NEW.run_id AND run_attempt = NEW.run_attempt;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER workflow_runs_api_before BEFORE INSERT OR UPDATE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION cipulse_runs_before();
CREATE TRIGGER workflow_runs_api_after AFTER INSERT OR UPDATE OR DELETE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION cipulse_runs_after();
CREATE TRIGGER jobs_api_after AFTER INSERT OR UPDATE OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION cipulse_jobs_after();

-- Recomputes every derived figure and the rollup from the raw rows, set-wise.
CREATE FUNCTION cipulse_api_rebuild() RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    -- After a bulk load the planner knows nothing of these tables: without statistics the
    -- joins below can be planned as nested loops over millions of rows.
    ANALYZE workflow_runs;
    ANALYZE jobs;
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_before;
    ALTER TABLE workflow_runs DISABLE TRIGGER workflow_runs_api_after;
    UPDATE workflow_runs w SET
        is_latest = NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id
                                AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt),
        duration_s = CASE WHEN j.j_start IS NOT NULL AND j.j_end IS NOT NULL
                          THEN extract(epoch FROM j.j_end - j.j_start)::double precision
                          ELSE extract(epoch FROM w.updated_at - w.run_started_at)::double precision END,
        queue_sum_s = j.q_sum,
        queue_n = COALESCE(j.q_n, 0),
        queue_s = j.q_all
    FROM (SELECT w2.repo_id, w2.run_id, w2.run_attempt, min(jb.started_at) AS j_start,
                 max(jb.completed_at) AS j_end,
                 sum(extract(epoch FROM jb.started_at - jb.created_at)::double precision)
                     FILTER (WHERE jb.started_at IS NOT NULL AND jb.created_at IS NOT NULL) AS q_sum,
                 count(jb.job_id) FILTER (WHERE jb.started_at IS NOT NULL
                                          AND jb.created_at IS NOT NULL) AS q_n,
                 array_agg(extract(epoch FROM jb.started_at - jb.created_at)::double precision
                           ORDER BY jb.job_id)
                     FILTER (WHERE jb.started_at IS NOT NULL AND jb.created_at IS NOT NULL) AS q_all
            FROM workflow_runs w2 LEFT JOIN jobs jb ON jb.repo_id = w2.repo_id
                 AND jb.run_id = w2.run_id AND jb.run_attempt = w2.run_attempt
           GROUP BY 1, 2, 3) j
    WHERE j.repo_id = w.repo_id AND j.run_id = w.run_id AND j.run_attempt = w.run_attempt;
    ALTER TABLE workflow_runs ENABLE TRIGGER workflow_runs_api_before;
    ALTER TABLE workflow_runs ENABLE TRIGGER workflow_runs_api_after;
    DELETE FROM run_rollup_daily;
    INSERT INTO run_rollup_daily (repo_id, workflow_id, day, runs, n_success, n_failure,
        n_timed_out, n_cancelled, n_skipped, n_other, dur_n, dur_sum_ms, dur_hist, queue_n,
        queue_sum_ms)
    SELECT repo_id, wf, day, count(*),
        count(*) FILTER (WHERE conclusion = 'success'),
        count(*) FILTER (WHERE conclusion = 'failure'),
        count(*) FILTER (WHERE conclusion = 'timed_out'),
        count(*) FILTER (WHERE conclusion = 'cancelled'),
        count(*) FILTER (WHERE conclusion = 'skipped'),
        count(*) FILTER (WHERE conclusion IS NULL OR conclusion NOT IN
                         ('success', 'failure', 'timed_out', 'cancelled', 'skipped')),
        count(duration_s), COALESCE(sum(round(duration_s * 1000)::bigint), 0),
        ARRAY[count(*) FILTER (WHERE slot = 1), count(*) FILTER (WHERE slot = 2),
              count(*) FILTER (WHERE slot = 3), count(*) FILTER (WHERE slot = 4),
              count(*) FILTER (WHERE slot = 5), count(*) FILTER (WHERE slot = 6),
              count(*) FILTER (WHERE slot = 7), count(*) FILTER (WHERE slot = 8),
              count(*) FILTER (WHERE slot = 9), count(*) FILTER (WHERE slot = 10),
              count(*) FILTER (WHERE slot = 11)],
        sum(queue_n), COALESCE(sum(round(queue_sum_s * 1000)::bigint), 0)
    FROM (SELECT repo_id, COALESCE(workflow_id, 0) AS wf,
                 (completed_at AT TIME ZONE 'UTC')::date AS day, conclusion, duration_s,
                 queue_n, queue_sum_s,
                 CASE WHEN duration_s IS NULL THEN 0
                      ELSE cipulse_duration_slot(duration_s) END AS slot
            FROM workflow_runs WHERE is_latest AND completed_at IS NOT NULL) r
    GROUP BY 1, 2, 3;
END $$;

SELECT cipulse_api_rebuild();

-- Reading paths of the API (see collector/api_*.c for the queries they serve).
-- Metrics windows: the latest attempts completed in a time range, per repo / workflow / overall.
CREATE INDEX workflow_runs_latest_wf_idx ON workflow_runs (repo_id, workflow_id, completed_at)
    WHERE is_latest AND completed_at IS NOT NULL;
CREATE INDEX workflow_runs_latest_repo_idx ON workflow_runs (repo_id, completed_at)
    INCLUDE (conclusion, duration_s) WHERE is_latest AND completed_at IS NOT NULL;
CREATE INDEX workflow_runs_latest_idx ON workflow_runs (completed_at)
    WHERE is_latest AND completed_at IS NOT NULL;
-- Run list: newest first, keyset pagination on (created time, run id).
CREATE INDEX workflow_runs_list_idx ON workflow_runs
    (repo_id, (COALESCE(created_at, inserted_at)) DESC, run_id DESC) WHERE is_latest;
-- Log search: case-insensitive substring (ILIKE) through trigrams; newest jobs first.
CREATE INDEX logs_content_trgm_idx ON logs USING gin (content gin_trgm_ops);
CREATE INDEX logs_job_idx ON logs (job_id DESC, step_number);
-- Alerts list, newest first, across repositories.
CREATE INDEX alerts_id_state_idx ON alerts (state, id DESC);
