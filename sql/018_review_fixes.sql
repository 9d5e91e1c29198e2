-- cipulse schema, version 18: review findings of sessions 5-6.
--
--   cipulse_tests_put          a report's tests are not lost to the orphan sweep: the tests it
--                              refers to are locked FOR KEY SHARE (inserted again when the sweep
--                              deleted them meanwhile) before its results are written
--   cipulse_alert_sweep        its own transaction advisory lock again, so that collectors of a
--                              version before 17 (which sweep on every collector) and the duty's
--                              holder (collector/store/lease.c, the same key held for the
--                              session) do not sweep at once during a rolling upgrade
--   cipulse_visibility_prepare cipulse_reader gets no secret: no grant on the credential tables,
--                              and on tables that hold a secret column only the other columns
--   notification_channels      has_target, has_secret: what the alert settings show of a
--                              channel's destination and secret, readable without them

-- As in 009_tests_failures.sql, plus the locks. The sweep (cipulse_sweep_tests, sql/017) locks a
-- test without results FOR UPDATE and deletes it; a result row's foreign key check that waited
-- for it then failed (23503), and the report was refused with its tests. Here each test of the
-- batch is held FOR KEY SHARE until the report commits (the sweep skips it; reports of the same
-- tests do not wait for each other), and a test the sweep deleted while this waited is written
-- again: the insert and the lock are repeated (each statement sees the sweep's commit) until
-- every test of the batch is held.
CREATE OR REPLACE FUNCTION cipulse_tests_put(p_repo_id bigint, p_job_id bigint, p_run_id bigint,
                                             p_run_attempt integer, p_suite text[],
                                             p_class_name text[], p_name text[], p_file text[],
                                             p_duration_us bigint[], p_result text[],
                                             p_message text[], p_retries integer[])
    RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    v_id     text[];
    v_suite  text[];
    v_class  text[];
    v_name   text[];
    v_file   text[];
    v_dur    bigint[];
    v_result text[];
    v_msg    text[];
    v_retry  integer[];
    held     integer;
    written  bigint;
BEGIN
    SELECT array_agg(i.test_id ORDER BY i.test_id), array_agg(i.suite ORDER BY i.test_id),
           array_agg(i.class_name ORDER BY i.test_id), array_agg(i.name ORDER BY i.test_id),
           array_agg(i.file ORDER BY i.test_id), array_agg(i.duration_us ORDER BY i.test_id),
           array_agg(i.result ORDER BY i.test_id), array_agg(i.message ORDER BY i.test_id),
           array_agg(i.retries ORDER BY i.test_id)
      INTO v_id, v_suite, v_class, v_name, v_file, v_dur, v_result, v_msg, v_retry
      FROM (SELECT DISTINCT ON (1) cipulse_test_id(p_repo_id, u.s, u.c, u.nm, u.f) AS test_id,
                   u.s AS suite, u.c AS class_name, u.nm AS name, u.f AS file,
                   u.d AS duration_us, u.r AS result, NULLIF(u.m, '') AS message,
                   u.rt AS retries
              FROM unnest(p_suite, p_class_name, p_name, p_file, p_duration_us, p_result,
                          p_message, p_retries) AS u(s, c, nm, f, d, r, m, rt)
             ORDER BY 1, cipulse_test_result_rank(u.r) DESC, u.rt DESC, u.d DESC) i;
    IF v_id IS NULL THEN
        RETURN 0;
    END IF;
    LOOP
        INSERT INTO tests (repo_id, test_id, suite, class_name, name, file)
        SELECT p_repo_id, u.t, u.s, u.c, u.n, u.f
          FROM unnest(v_id, v_suite, v_class, v_name, v_file) AS u(t, s, c, n, f)
        ON CONFLICT (repo_id, test_id) DO NOTHING;
        SELECT count(*) INTO held
          FROM (SELECT 1 FROM tests x
                 WHERE x.repo_id = p_repo_id AND x.test_id = ANY (v_id)
                 ORDER BY x.test_id FOR KEY SHARE) l;
        EXIT WHEN held = cardinality(v_id);
    END LOOP;
    INSERT INTO test_results AS t (repo_id, job_id, test_id, run_id, run_attempt, result,
                                   duration_us, retries, message, at)
    SELECT p_repo_id, p_job_id, u.t, p_run_id, p_run_attempt, u.r, u.d, u.rt, u.m,
           COALESCE((SELECT j.completed_at FROM jobs j
                      WHERE j.repo_id = p_repo_id AND j.job_id = p_job_id), now())
      FROM unnest(v_id, v_result, v_dur, v_retry, v_msg) AS u(t, r, d, rt, m)
    ON CONFLICT (repo_id, job_id, test_id) DO UPDATE SET
        result = CASE WHEN cipulse_test_result_rank(EXCLUDED.result)
                           >= cipulse_test_result_rank(t.result)
                      THEN EXCLUDED.result ELSE t.result END,
        message = CASE WHEN cipulse_test_result_rank(EXCLUDED.result)
                            >= cipulse_test_result_rank(t.result)
                       THEN COALESCE(EXCLUDED.message, t.message) ELSE t.message END,
        retries = GREATEST(EXCLUDED.retries, t.retries),
        duration_us = GREATEST(EXCLUDED.duration_us, t.duration_us),
        at = EXCLUDED.at;
    GET DIAGNOSTICS written = ROW_COUNT;
    RETURN written;
END $$;

-- As in 017_duties_accounts.sql, with 005's lock back. The duty's holder runs it on the
-- connection that holds the same key for its session, and advisory locks are re-entrant within
-- a session: it sweeps. Any other session (a collector of a version before 17 sweeping by
-- itself) gets -1 while the duty runs, as two old collectors did.
CREATE OR REPLACE FUNCTION cipulse_alert_sweep() RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    s      record;
    r      workflow_runs;
    queued integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7263105824) THEN
        RETURN -1;
    END IF;
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

-- The alert settings (GET /api/v1/settings/alerts, readable by viewers, so by cipulse_reader)
-- say whether a channel has a destination and a secret, never what they are.
ALTER TABLE notification_channels
    ADD COLUMN has_target boolean GENERATED ALWAYS AS (target <> '') STORED,
    ADD COLUMN has_secret boolean GENERATED ALWAYS AS (secret IS NOT NULL) STORED;

-- What cipulse_reader may never read (a restricted principal's requests need none of it):
-- whole tables (*) of credentials and sign-in state, and secret columns of tables it reads.
CREATE FUNCTION cipulse_reader_secrets() RETURNS TABLE(tbl text, col text)
    LANGUAGE sql IMMUTABLE AS $$
    VALUES ('sessions', '*'), ('github_signin_states', '*'), ('login_failures', '*'),
           ('visibility_cache', '*'),
           ('api_tokens', 'token_hash'), ('users', 'password_hash'),
           ('repositories', 'webhook_secret'), ('repositories', 'github_token'),
           ('notification_channels', 'target'), ('notification_channels', 'secret')
$$;

-- As in 015_visibility.sql, but the grants: every grant of an earlier start-up is taken back
-- first (a table's REVOKE takes its column privileges too); then each table of the schema
-- (later migrations' tables too) is granted whole, unless cipulse_reader_secrets names it: a
-- table named whole gets nothing, a table with secret columns SELECT and UPDATE of its other
-- columns and INSERT (a restricted user makes personal tokens: writing a token's hash is not
-- reading one). Views and materialized views get nothing: they read their tables as their
-- owner, past row-level security.
CREATE OR REPLACE FUNCTION cipulse_visibility_prepare() RETURNS integer
    LANGUAGE plpgsql AS $$
DECLARE
    t record;
    cond text;
    n integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('cipulse_visibility_prepare'));
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cipulse_reader') THEN
        RAISE EXCEPTION 'role cipulse_reader does not exist: as a superuser run '
            '"CREATE ROLE cipulse_reader NOLOGIN; GRANT cipulse_reader TO %"', current_user;
    END IF;
    IF NOT pg_has_role(current_user, 'cipulse_reader', 'MEMBER') THEN
        EXECUTE format('GRANT cipulse_reader TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO cipulse_reader', current_schema());
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM cipulse_reader',
                   current_schema());
    FOR t IN
        SELECT c.oid::regclass AS tbl,
               EXISTS (SELECT 1 FROM cipulse_reader_secrets() s
                        WHERE s.tbl = c.relname AND s.col = '*') AS whole,
               (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                  FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                   AND NOT EXISTS (SELECT 1 FROM cipulse_reader_secrets() s
                                    WHERE s.tbl = c.relname AND s.col = a.attname)) AS cols,
               EXISTS (SELECT 1 FROM cipulse_reader_secrets() s WHERE s.tbl = c.relname)
                   AS secret
          FROM pg_class c
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
    LOOP
        IF t.whole THEN
            CONTINUE;
        ELSIF t.secret THEN
            EXECUTE format('GRANT SELECT (%s), UPDATE (%s), INSERT ON %s TO cipulse_reader',
                           t.cols, t.cols, t.tbl);
        ELSE
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO cipulse_reader',
                           t.tbl);
        END IF;
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I '
                   'TO cipulse_reader', current_schema());
    FOR t IN
        SELECT c.oid::regclass AS tbl, c.relname,
               (SELECT a.attnotnull FROM pg_attribute a
                 WHERE a.attrelid = c.oid AND a.attname = 'repo_id' AND NOT a.attisdropped)
                   AS notnull
          FROM pg_class c
         WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
           AND (c.relname IN ('repositories', 'failure_groups')
                OR EXISTS (SELECT 1 FROM pg_attribute a
                            WHERE a.attrelid = c.oid AND a.attname = 'repo_id'
                              AND NOT a.attisdropped))
           AND NOT EXISTS (SELECT 1 FROM pg_policy p
                            WHERE p.polrelid = c.oid AND p.polname = 'cipulse_visible')
    LOOP
        cond := CASE
            WHEN t.relname = 'repositories' THEN 'id = ANY ((SELECT cipulse_visible_repos())::bigint[])'
            WHEN t.relname = 'failure_groups' THEN
                'EXISTS (SELECT 1 FROM job_failures jf '
                'WHERE jf.fingerprint = failure_groups.fingerprint)'
            WHEN t.notnull THEN 'repo_id = ANY ((SELECT cipulse_visible_repos())::bigint[])'
            ELSE 'repo_id IS NULL OR repo_id = ANY ((SELECT cipulse_visible_repos())::bigint[])'
        END;
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t.tbl);
        EXECUTE format('CREATE POLICY cipulse_all ON %s USING (true) WITH CHECK (true)', t.tbl);
        EXECUTE format('CREATE POLICY cipulse_visible ON %s AS RESTRICTIVE TO cipulse_reader '
                       'USING (%s) WITH CHECK (%s)', t.tbl, cond, cond);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
