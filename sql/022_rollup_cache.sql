-- cipulse schema, version 22: the all-repository figures from a cache of merged buckets.
--
-- A principal who reads every repository asks for the same rollup buckets (hours, days) over and
-- over, and reading them costs 100 repositories x 30 days of rollup rows a request. The
-- collector keeps each bucket merged over all repositories (collector/api/pipeline_metrics.c)
-- together with the snapshot it was read in, and asks the database only which buckets changed
-- since that snapshot. What changed is written by the writers themselves, without a row they
-- contend on: every statement that changes run_rollup_repo adds (its transaction, grain, bucket)
-- to rollup_changes, a row a transaction and bucket, so two writers never update the same row.
-- A cached bucket is used only when no transaction that changed it committed after the
-- snapshot the cache was read in, so the figures are those a direct read would return at the
-- start of the request: exact, never older.
--
-- rollup_changes is pruned by the retention sweep (cipulse_rollup_changes_prune), an hour behind:
-- a cache whose snapshot is older than the rows kept (rollup_changes_horizon.below) reads
-- everything again.
CREATE TABLE rollup_changes (
    xid     xid8 NOT NULL,
    grain_s integer NOT NULL,
    t0      timestamptz NOT NULL,
    PRIMARY KEY (xid, grain_s, t0)
);

CREATE TABLE rollup_changes_horizon (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    below xid8 NOT NULL,  -- the changes of transactions before this one are no longer kept
    next  xid8 NOT NULL   -- the next prune's below: the oldest transaction running at the last
);
INSERT INTO rollup_changes_horizon (below, next)
    VALUES (pg_snapshot_xmin(pg_current_snapshot()), pg_snapshot_xmin(pg_current_snapshot()));

-- The buckets a statement changed (statement-level: a rebuild writes one row a bucket, not one
-- a rollup row), recorded in the writer's transaction: they appear when its rollup rows do.
CREATE FUNCTION cipulse_rollup_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO rollup_changes (xid, grain_s, t0)
        SELECT DISTINCT pg_current_xact_id(), n.grain_s, n.t0 FROM changed_new n
        ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO rollup_changes (xid, grain_s, t0)
        SELECT pg_current_xact_id(), n.grain_s, n.t0 FROM changed_new n
         UNION SELECT pg_current_xact_id(), o.grain_s, o.t0 FROM changed_old o
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO rollup_changes (xid, grain_s, t0)
        SELECT DISTINCT pg_current_xact_id(), o.grain_s, o.t0 FROM changed_old o
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER run_rollup_repo_changed_ins AFTER INSERT ON run_rollup_repo
    REFERENCING NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_rollup_changed();
CREATE TRIGGER run_rollup_repo_changed_upd AFTER UPDATE ON run_rollup_repo
    REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_rollup_changed();
CREATE TRIGGER run_rollup_repo_changed_del AFTER DELETE ON run_rollup_repo
    REFERENCING OLD TABLE AS changed_old
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_rollup_changed();
-- TRUNCATE leaves no rows to name: every cache that does not see it reads everything again (its
-- snapshot's oldest running transaction is at most this one, below this one + 1).
CREATE FUNCTION cipulse_rollup_truncated() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    past xid8 := (pg_current_xact_id()::text::numeric + 1)::text::xid8;
BEGIN
    UPDATE rollup_changes_horizon SET below = past, next = past;
    RETURN NULL;
END $$;
CREATE TRIGGER run_rollup_repo_truncated AFTER TRUNCATE ON run_rollup_repo
    FOR EACH STATEMENT EXECUTE FUNCTION cipulse_rollup_truncated();

-- Leaves out the changes older than the last prune's oldest running transaction (the retention
-- sweep calls it hourly): a cache last read before that reads everything again. The number of
-- rows deleted.
CREATE FUNCTION cipulse_rollup_changes_prune() RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    cut xid8;
    n   bigint;
BEGIN
    UPDATE rollup_changes_horizon
       SET below = GREATEST(below, next), next = pg_snapshot_xmin(pg_current_snapshot())
    RETURNING below INTO cut;
    DELETE FROM rollup_changes WHERE xid < cut;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The cache's read (sums and histograms as cipulse_rollup_sums returns them, per rollup bucket
-- t0 of grain p_grain, in epoch milliseconds, over every repository): with p_since the snapshot
-- the cache was read in (pg_snapshot text; NULL: none), the buckets in [p_keep_from, p_keep_to)
-- changed by a transaction p_since does not see, and the buckets p_need, a row each (null sums
-- when the bucket has no rollup rows); when p_since is NULL or older than the changes kept, every
-- bucket of [p_from, p_to) that has rollup rows (whole). A last row with t0 NULL holds this read's
-- snapshot (snap) and whether it was whole. STABLE: every statement here reads the calling
-- statement's snapshot, the one returned.
CREATE FUNCTION cipulse_rollup_cells(p_since text, p_grain integer, p_keep_from timestamptz,
                                     p_keep_to timestamptz, p_from timestamptz,
                                     p_to timestamptz, p_need timestamptz[])
    RETURNS TABLE (t0 bigint, runs bigint, n_success bigint, n_failure bigint,
                   n_timed_out bigint, n_cancelled bigint, n_skipped bigint, n_neutral bigint,
                   n_action_required bigint, n_stale bigint, n_startup_failure bigint,
                   n_other bigint, n_none bigint, flaky bigint, dur_n bigint,
                   dur_sum_ms bigint, queue_n bigint, queue_sum_ms bigint, rec_n bigint,
                   rec_sum_ms bigint, dur_hists text, queue_hists text, snap text,
                   whole boolean)
    LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    since pg_snapshot := p_since::pg_snapshot;
    whole boolean;
BEGIN
    whole := since IS NULL
             OR pg_snapshot_xmin(since) < (SELECT h.below FROM rollup_changes_horizon h);
    IF whole THEN
        RETURN QUERY
        SELECT cipulse_ms(x.t0), sum(x.runs)::bigint, sum(x.n_success)::bigint,
               sum(x.n_failure)::bigint, sum(x.n_timed_out)::bigint, sum(x.n_cancelled)::bigint,
               sum(x.n_skipped)::bigint, sum(x.n_neutral)::bigint,
               sum(x.n_action_required)::bigint, sum(x.n_stale)::bigint,
               sum(x.n_startup_failure)::bigint, sum(x.n_other)::bigint, sum(x.n_none)::bigint,
               sum(x.flaky)::bigint, sum(x.dur_n)::bigint, sum(x.dur_sum_ms)::bigint,
               sum(x.queue_n)::bigint, sum(x.queue_sum_ms)::bigint, sum(x.rec_n)::bigint,
               sum(x.rec_sum_ms)::bigint,
               string_agg(array_lower(x.dur_hist, 1) || ':'
                          || array_to_string(x.dur_hist, ',', '0'), ' '),
               string_agg(array_lower(x.queue_hist, 1) || ':'
                          || array_to_string(x.queue_hist, ',', '0'), ' '),
               NULL::text, NULL::boolean
          FROM run_rollup_repo x
         WHERE x.grain_s = p_grain AND x.t0 >= p_from AND x.t0 < p_to
         GROUP BY x.t0;
    ELSE
        RETURN QUERY
        SELECT cipulse_ms(c.t0), sum(x.runs)::bigint, sum(x.n_success)::bigint,
               sum(x.n_failure)::bigint, sum(x.n_timed_out)::bigint, sum(x.n_cancelled)::bigint,
               sum(x.n_skipped)::bigint, sum(x.n_neutral)::bigint,
               sum(x.n_action_required)::bigint, sum(x.n_stale)::bigint,
               sum(x.n_startup_failure)::bigint, sum(x.n_other)::bigint, sum(x.n_none)::bigint,
               sum(x.flaky)::bigint, sum(x.dur_n)::bigint, sum(x.dur_sum_ms)::bigint,
               sum(x.queue_n)::bigint, sum(x.queue_sum_ms)::bigint, sum(x.rec_n)::bigint,
               sum(x.rec_sum_ms)::bigint,
               string_agg(array_lower(x.dur_hist, 1) || ':'
                          || array_to_string(x.dur_hist, ',', '0'), ' '),
               string_agg(array_lower(x.queue_hist, 1) || ':'
                          || array_to_string(x.queue_hist, ',', '0'), ' '),
               NULL::text, NULL::boolean
          FROM (SELECT ch.t0 FROM rollup_changes ch
                 WHERE ch.xid >= pg_snapshot_xmin(since)
                   AND NOT pg_visible_in_snapshot(ch.xid, since)
                   AND ch.grain_s = p_grain AND ch.t0 >= p_keep_from AND ch.t0 < p_keep_to
                UNION
                SELECT unnest(p_need)) c
          LEFT JOIN run_rollup_repo x ON x.grain_s = p_grain AND x.t0 = c.t0
         GROUP BY c.t0;
    END IF;
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
        NULL::bigint, NULL::bigint, NULL::bigint, NULL::text, NULL::text,
        pg_current_snapshot()::text, whole;
END $$;
