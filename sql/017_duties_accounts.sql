-- cipulse schema, version 17: review leftovers of issues 11 and 12.
--
--   cipulse_alert_sweep  no advisory lock of its own any more: the collector runs it as a duty
--                        (collector/store/lease.c: the leader lease and its handover guard, the
--                        one "run once in the cluster" mechanism of the poller, the retention
--                        sweep and this sweep)
--   cipulse_sweep_tests, cipulse_sweep_failure_groups
--                        retention of tests and failure groups left without results
--   audit_log            actor_kind 'cli': changes made with the command line

-- As in 005_window_rules.sql, without the transaction's advisory lock (the duty's guard holds
-- the same key for the whole call).
CREATE OR REPLACE FUNCTION cipulse_alert_sweep() RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    s      record;
    r      workflow_runs;
    queued integer := 0;
BEGIN
    FOR s IN
        SELECT DISTINCT w.repo_id, w.workflow_id, w.head_branch
          FROM alert_rules a
          JOIN workflow_runs w ON w.is_latest AND w.completed_at >= now() - make_interval(
                   secs => COALESCE((a.params ->> 'window_s')::double precision, 86400))
                AND (a.repo_id IS NULL OR w.repo_id = a.repo_id)
                AND (a.workflow_id IS NULL OR w.workflow_id = a.workflow_id)
         WHERE a.enabled AND a.kind IN ('regression', 'slow_build')
        UNION
        SELECT al.repo_id, al.workflow_id, al.branch FROM alerts al
         WHERE al.state = 'open' AND al.kind IN ('regression', 'slow_build')
    LOOP
        SELECT * INTO r FROM workflow_runs x
         WHERE x.repo_id = s.repo_id AND x.workflow_id IS NOT DISTINCT FROM s.workflow_id
           AND x.head_branch IS NOT DISTINCT FROM s.head_branch AND x.is_latest
           AND x.completed_at IS NOT NULL
         ORDER BY x.completed_at DESC LIMIT 1;
        queued := queued + cipulse_alert_window_eval(s.repo_id, s.workflow_id, s.head_branch,
                                                     r, true);
    END LOOP;
    RETURN queued;
END $$;

-- Retention of what runs leave behind (collector/store/retention.c): tests with no result left
-- and failure groups no job links to any more (their results and links go with their runs).
-- One page of at most p_limit rows after the key given, in key order, per call (a short
-- transaction; the caller passes the returned last key back until it is NULL). A row is
-- deleted only when, locked by the sweep, it still has nothing, as seen by a statement that
-- started after the lock was taken; a report bringing the test or group back meanwhile either
-- holds the row first (the sweep skips it) or waits for the deletion:
--   tests           the report's result rows lock the test through their foreign key; one that
--                   waited fails and is retried (the agent keeps a report until acknowledged)
--   failure_groups  the store locks an existing group FOR KEY SHARE before it links a job to
--                   it (collector/store/store.c) and writes it anew after a deletion
-- Returns the rows deleted and the page's last key (NULL: no more pages).
CREATE FUNCTION cipulse_sweep_tests(p_after_repo bigint, p_after_test text, p_limit integer,
                                    OUT deleted bigint, OUT last_repo bigint,
                                    OUT last_test text)
    LANGUAGE plpgsql AS $$
DECLARE
    pr bigint[];
    pt text[];
    lr bigint[];
    lt text[];
BEGIN
    deleted := 0;
    SELECT array_agg(p.repo_id ORDER BY p.repo_id, p.test_id),
           array_agg(p.test_id ORDER BY p.repo_id, p.test_id) INTO pr, pt
      FROM (SELECT repo_id, test_id FROM tests
             WHERE (repo_id, test_id) > (p_after_repo, p_after_test)
             ORDER BY repo_id, test_id LIMIT p_limit) p;
    IF pr IS NULL THEN
        RETURN;
    END IF;
    last_repo := pr[cardinality(pr)];
    last_test := pt[cardinality(pt)];
    SELECT array_agg(l.repo_id), array_agg(l.test_id) INTO lr, lt
      FROM (SELECT x.repo_id, x.test_id FROM tests x JOIN unnest(pr, pt) AS u(r, t)
                ON x.repo_id = u.r AND x.test_id = u.t
             WHERE NOT EXISTS (SELECT 1 FROM test_results res
                                WHERE res.repo_id = x.repo_id AND res.test_id = x.test_id)
               FOR UPDATE OF x SKIP LOCKED) l;
    IF lr IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM tests x USING unnest(lr, lt) AS u(r, t)
     WHERE x.repo_id = u.r AND x.test_id = u.t
       AND NOT EXISTS (SELECT 1 FROM test_results res
                        WHERE res.repo_id = x.repo_id AND res.test_id = x.test_id);
    GET DIAGNOSTICS deleted = ROW_COUNT;
END $$;

CREATE FUNCTION cipulse_sweep_failure_groups(p_after text, p_limit integer,
                                             OUT deleted bigint, OUT last_key text)
    LANGUAGE plpgsql AS $$
DECLARE
    pf text[];
    lf text[];
BEGIN
    deleted := 0;
    SELECT array_agg(p.fingerprint ORDER BY p.fingerprint) INTO pf
      FROM (SELECT fingerprint FROM failure_groups WHERE fingerprint > p_after
             ORDER BY fingerprint LIMIT p_limit) p;
    IF pf IS NULL THEN
        RETURN;
    END IF;
    last_key := pf[cardinality(pf)];
    SELECT array_agg(l.fingerprint) INTO lf
      FROM (SELECT g.fingerprint FROM failure_groups g
             WHERE g.fingerprint = ANY (pf)
               AND NOT EXISTS (SELECT 1 FROM job_failures jf
                                WHERE jf.fingerprint = g.fingerprint)
               FOR UPDATE OF g SKIP LOCKED) l;
    IF lf IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM failure_groups g
     WHERE g.fingerprint = ANY (lf)
       AND NOT EXISTS (SELECT 1 FROM job_failures jf WHERE jf.fingerprint = g.fingerprint);
    GET DIAGNOSTICS deleted = ROW_COUNT;
END $$;

-- Changes made with the command line (cipulsed user ..., cipulsed token ...) are audited too:
-- actor "cli:<unix user>", actor_kind cli (collector/store/auth_cli.c).
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_kind_check,
    ADD CONSTRAINT audit_log_actor_kind_check
        CHECK (actor_kind IN ('user', 'token', 'config_token', 'cli'));

-- Failed sign-ins, counted in the database so that every collector of a cluster sees the same
-- counts (collector/store/auth.c, col_login_*): one row per address ('a:' || address) and per
-- account ('u:' || SHA-256 hex of the name), counting failures since window_start;
-- a row whose window (CIPULSE_LOGIN_WINDOW) has passed counts as none and is deleted by later
-- failures.
CREATE TABLE login_failures (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    failures     integer NOT NULL
);
CREATE INDEX login_failures_window_idx ON login_failures (window_start);
