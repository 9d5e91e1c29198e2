-- cipulse schema, version 7: several collectors on one database, and run retention.
--
-- pipeline_counters  per (repo, workflow): every run attempt counted once, when the transaction
--                    that first stores it completed commits, by conclusion, with its duration
--                    (histogram) and its jobs' queue times. Rows are only ever added to, never
--                    taken from: a re-run, a late correction of an attempt or the retention sweep
--                    leave them alone, so the /metrics counters and histograms built on them
--                    never go down (Prometheus reads a decrease as a counter reset).
-- pipeline_counted   which attempts are in pipeline_counters already (deleted with the attempt).
-- cluster_leases     named leases that one collector of several holds at a time (the replica
--                    that serves the database's pipeline series on /metrics).

CREATE TABLE pipeline_counters (
    repo_id       bigint NOT NULL,
    workflow_id   bigint NOT NULL,  -- 0 when the attempt's workflow was not known
    n_success     bigint NOT NULL DEFAULT 0,
    n_failure     bigint NOT NULL DEFAULT 0,
    n_timed_out   bigint NOT NULL DEFAULT 0,
    n_cancelled   bigint NOT NULL DEFAULT 0,
    n_skipped     bigint NOT NULL DEFAULT 0,
    n_other       bigint NOT NULL DEFAULT 0,
    dur_n         bigint NOT NULL DEFAULT 0,
    dur_sum_ms    bigint NOT NULL DEFAULT 0,
    dur_hist      bigint[] NOT NULL,
    queue_n       bigint NOT NULL DEFAULT 0,
    queue_sum_ms  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (repo_id, workflow_id)
);

CREATE TABLE pipeline_counted (
    repo_id      bigint NOT NULL,
    run_id       bigint NOT NULL,
    run_attempt  integer NOT NULL,
    PRIMARY KEY (repo_id, run_id, run_attempt),
    FOREIGN KEY (repo_id, run_id, run_attempt)
        REFERENCES workflow_runs (repo_id, run_id, run_attempt) ON UPDATE CASCADE ON DELETE CASCADE
);

CREATE TABLE cluster_leases (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Adds one completed attempt to its counters, unless it was counted before.
CREATE FUNCTION cipulse_counters_add(r workflow_runs) RETURNS void
    LANGUAGE plpgsql AS $$
DECLARE
    c    text := COALESCE(r.conclusion, '');
    dn   integer := CASE WHEN r.duration_s IS NULL THEN 0 ELSE 1 END;
    slot integer := CASE WHEN r.duration_s IS NULL THEN 0
                         ELSE cipulse_duration_slot(r.duration_s) END;
    hist bigint[] := array_fill(0::bigint, ARRAY[11]);
BEGIN
    INSERT INTO pipeline_counted (repo_id, run_id, run_attempt)
    VALUES (r.repo_id, r.run_id, r.run_attempt) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF slot > 0 THEN
        hist[slot] := 1;
    END IF;
    INSERT INTO pipeline_counters AS t (repo_id, workflow_id, n_success, n_failure, n_timed_out,
        n_cancelled, n_skipped, n_other, dur_n, dur_sum_ms, dur_hist, queue_n, queue_sum_ms)
    VALUES (r.repo_id, COALESCE(r.workflow_id, 0),
        (c = 'success')::integer, (c = 'failure')::integer, (c = 'timed_out')::integer,
        (c = 'cancelled')::integer, (c = 'skipped')::integer,
        (c NOT IN ('success', 'failure', 'timed_out', 'cancelled', 'skipped'))::integer,
        dn, COALESCE(round(r.duration_s * 1000)::bigint, 0), hist, r.queue_n,
        COALESCE(round(r.queue_sum_s * 1000)::bigint, 0))
    ON CONFLICT (repo_id, workflow_id) DO UPDATE SET
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
END $$;

-- Deferred to commit: by then the writer's transaction has stored the attempt's jobs too (an
-- agent report writes the run row first), so the duration counted is the best the transaction
-- knew. The row is read again because NEW is the version of the statement that queued the event.
CREATE FUNCTION cipulse_runs_counted() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    r workflow_runs;
BEGIN
    IF NEW.completed_at IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO r FROM workflow_runs
     WHERE repo_id = NEW.repo_id AND run_id = NEW.run_id AND run_attempt = NEW.run_attempt;
    IF FOUND AND r.completed_at IS NOT NULL THEN
        PERFORM cipulse_counters_add(r);
    END IF;
    RETURN NULL;
END $$;

-- Two triggers, so that only the write that completes an attempt queues an event (completed_at
-- is never cleared again), not every later update of a completed attempt.
CREATE CONSTRAINT TRIGGER workflow_runs_counted_ins AFTER INSERT ON workflow_runs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.completed_at IS NOT NULL) EXECUTE FUNCTION cipulse_runs_counted();
CREATE CONSTRAINT TRIGGER workflow_runs_counted_upd AFTER UPDATE ON workflow_runs
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.completed_at IS NULL AND NEW.completed_at IS NOT NULL)
    EXECUTE FUNCTION cipulse_runs_counted();

-- What is stored already is counted once now, by the same function (a row at a time: about a
-- minute per million attempts, once).
SELECT count(cipulse_counters_add(r)) FROM workflow_runs r WHERE completed_at IS NOT NULL;

-- Run retention (CIPULSE_RUN_RETENTION_DAYS): the sweep takes the oldest attempts by the last
-- time anything is known of them, a batch at a time.
CREATE INDEX workflow_runs_age_idx ON workflow_runs
    ((COALESCE(completed_at, updated_at, inserted_at)));
CREATE INDEX reports_received_idx ON reports (received_at);
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at);

-- An open alert counts a run once, however its sources interleave with another run's: sources
-- of runs 1 and 2 arriving as 1, 2, 1 (agent, webhook and poller, on several collectors at once)
-- counted three runs when any change of the last run counted. alert_runs records the runs an
-- alert counted; the last run is the latest one (the highest run id and attempt) seen.
CREATE TABLE alert_runs (
    repo_id      bigint NOT NULL,
    alert_id     bigint NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    run_id       bigint NOT NULL,
    run_attempt  integer NOT NULL,
    PRIMARY KEY (repo_id, alert_id, run_id, run_attempt)
);
INSERT INTO alert_runs (repo_id, alert_id, run_id, run_attempt)
SELECT repo_id, id, last_run_id, last_run_attempt FROM alerts
 WHERE state = 'open' AND last_run_id IS NOT NULL AND last_run_attempt IS NOT NULL;

CREATE OR REPLACE FUNCTION cipulse_alert_fire(p_rule bigint, p_kind text, p_severity text, p_params jsonb,
                                   p_chans bigint[], p_key text, r workflow_runs,
                                   p_page boolean, p_summary text) RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    a_id   bigint;
    a_new  boolean;
    a_told timestamptz;
    rep    double precision;
BEGIN
    INSERT INTO alerts AS a (rule_id, kind, severity, repo_id, workflow_id, branch, run_id,
                             run_attempt, last_run_id, last_run_attempt, condition_key, summary,
                             details)
    VALUES (p_rule, p_kind, p_severity, r.repo_id, r.workflow_id, r.head_branch, r.run_id,
            r.run_attempt, r.run_id, r.run_attempt, p_key, p_summary,
            jsonb_build_object('conclusion', r.conclusion, 'head_sha', r.head_sha,
                               'html_url', r.html_url))
    ON CONFLICT (condition_key) WHERE state = 'open' DO UPDATE SET
        last_run_id = CASE WHEN (EXCLUDED.last_run_id, EXCLUDED.last_run_attempt)
            > (a.last_run_id, a.last_run_attempt) THEN EXCLUDED.last_run_id
            ELSE a.last_run_id END,
        last_run_attempt = CASE WHEN (EXCLUDED.last_run_id, EXCLUDED.last_run_attempt)
            > (a.last_run_id, a.last_run_attempt) THEN EXCLUDED.last_run_attempt
            ELSE a.last_run_attempt END,
        workflow_id = EXCLUDED.workflow_id, updated_at = now()
    RETURNING a.id, (a.xmax = 0), a.notified_at INTO a_id, a_new, a_told;
    INSERT INTO alert_runs (repo_id, alert_id, run_id, run_attempt)
    VALUES (r.repo_id, a_id, r.run_id, r.run_attempt) ON CONFLICT DO NOTHING;
    IF FOUND AND NOT a_new THEN
        UPDATE alerts SET run_count = run_count + 1 WHERE id = a_id;
    END IF;
    IF NOT p_page THEN
        RETURN 0;
    ELSIF a_new THEN
        RETURN cipulse_alert_queue(a_id, 'open', p_chans, r.run_id, r.run_attempt);
    ELSIF jsonb_typeof(p_params -> 'repeat_interval_s') = 'number' THEN
        -- Alertmanager's repeat_interval: remind while it stays broken.
        rep := (p_params ->> 'repeat_interval_s')::double precision;
        IF a_told IS NULL OR a_told < now() - make_interval(secs => rep) THEN
            RETURN cipulse_alert_queue(a_id, 'repeat', p_chans, r.run_id, r.run_attempt);
        END IF;
    END IF;
    RETURN 0;
END $$;
