-- cipulse schema, version 15: visibility (issue 12.3). With CIPULSE_VISIBILITY=github a GitHub
-- user reads only the repositories GitHub lets them read (collector/store/visibility.c).
--
--   visibility_cache   per user, the registered repositories their GitHub token may read, and
--                      when GitHub said so: shared by every collector of a cluster
--   cipulse_reader     a role without rights of its own: the REST API runs a restricted
--                      principal's queries as this role (SET ROLE) with the setting
--                      cipulse.repos holding its repositories; row-level security policies, made
--                      for this role only by cipulse_visibility_prepare() at start-up, keep every
--                      other repository's rows out of every query, SQL functions included. The
--                      tables' owner (the collector's own user) is not subject to them, so with
--                      CIPULSE_VISIBILITY=all nothing changes.

CREATE TABLE visibility_cache (
    user_id    bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    repo_ids   bigint[] NOT NULL,
    checked_at timestamptz NOT NULL
);

-- The user token of a GitHub sign-in (sql/014, GitHub sign-in); here too so that this file
-- stands on its own. Never in a reply or a log.
ALTER TABLE sessions
    ADD COLUMN IF NOT EXISTS github_token text,
    ADD COLUMN IF NOT EXISTS github_token_expires_at timestamptz;

-- Roles belong to the cluster: another database of it may have made this one already, and a
-- user without CREATEROLE cannot make it (cipulse_visibility_prepare then says what to do).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cipulse_reader') THEN
        CREATE ROLE cipulse_reader NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege OR duplicate_object OR unique_violation THEN
    RAISE NOTICE 'role cipulse_reader not created here: %', SQLERRM;
END $$;

-- The repositories of the restricted principal of this connection; none when unset.
CREATE FUNCTION cipulse_visible_repos() RETURNS bigint[]
    LANGUAGE sql STABLE AS $$
    SELECT COALESCE(NULLIF(current_setting('cipulse.repos', true), ''), '{}')::bigint[]
$$;

-- Makes cipulse_reader usable and every repository's rows visible to it only through
-- cipulse.repos: grants, and on each table with a repo_id column (those of later migrations
-- too: this runs at every start-up in github mode), repositories (by id) and failure_groups
-- (groups with a visible job) row-level security with two policies: everyone may see every row
-- (cipulse_all), and cipulse_reader only its repositories' (cipulse_visible, restrictive).
-- Idempotent; one collector at a time.
CREATE FUNCTION cipulse_visibility_prepare() RETURNS integer
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
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I '
                   'TO cipulse_reader', current_schema());
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
