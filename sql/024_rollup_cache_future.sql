-- cipulse schema, version 24: the all-repository cache reads everything again when its snapshot
-- is from the future.
--
-- cipulse_rollup_cells (sql/022_rollup_cache.sql; same arguments, same rows) trusts the cache's
-- snapshot (p_since) to be in the past of the request's: a transaction it does not name as
-- running, below its xmax, committed before it was taken. A database that goes back in
-- transaction ids while a collector keeps its cache (a point-in-time recovery or a restore from a
-- backup, or a collector pointed at another cluster) breaks that: its new transactions get ids the
-- cache's snapshot counts as seen, so their changes were never read again and the cache served
-- the old figures until the changes were pruned.
--
-- A snapshot's xmax (one past the newest transaction id completed when it was taken) never goes
-- down in one database's history: a later snapshot's is at least as high, and equal when nothing
-- completed in between (the common case when the database is quiet, so >= would read everything
-- on every request). A snapshot whose xmax is above the current one's was therefore not taken in
-- this history, and every bucket is read again (whole). The xmins are not compared: after a
-- restore the current snapshot's xmin is below the cache's only while a transaction that got its
-- id below the cache's xmin still runs, so that test would catch a restore no longer than one
-- transaction lasts. Neither catches it once the restored database's transaction ids have
-- passed the cache's xmax: the collector also reads everything again on a connection opened after
-- the newest one the cache was read on (cached_rollup_rows, col_conn.serial), and a restore
-- restarts the server, which breaks every connection.
CREATE OR REPLACE FUNCTION cipulse_rollup_cells(p_since text, p_grain integer,
                                                p_keep_from timestamptz,
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
             OR pg_snapshot_xmin(since) < (SELECT h.below FROM rollup_changes_horizon h)
             OR pg_snapshot_xmax(since) > pg_snapshot_xmax(pg_current_snapshot());
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
