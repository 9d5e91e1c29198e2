-- Grows a loaded API benchmark history (bench/api/gen.sql) by older runs: BENCH_API_GROW in
-- scripts/bench-api.sh. A real history grows in length, so the added runs complete in a window
-- of :days days that ends at :until (a UTC midnight at or before the oldest completion there is),
-- at the loaded history's density, and the recent windows the API reads stay as they were.
-- psql variables: runs (distinct runs to add; 10% get a second attempt), first (runs 1..first
-- exist), until, days, repos (as loaded), part and parts (this session adds the runs of the
-- repositories whose id % parts = part, so that parts sessions can add in parallel: the derived
-- figures are per repository).
--
-- The figures the API reads (is_latest, durations, queues, flaky, recovery; run_rollup_daily,
-- run_rollup_repo) are derived by the migrations' own cipulse_api_rebuild(), run over the new
-- rows only: runs and jobs are generated into tables of a scratch schema that shadows
-- workflow_runs, jobs and the two rollups on the search path (steps go straight to their
-- table), the rebuild runs there, and the rows are then appended to the real tables (whose
-- rollup buckets they do not share: they are older). The rebuild over the whole history,
-- which grew with it, is what made growing slow. A growth that fails half-way leaves steps
-- without their runs: load the history again.
--
-- Recovery times pair a failure with the next success of the same workflow and branch in
-- completion order; the history after :until is unchanged only if the newest decided run
-- before it, per workflow and branch, succeeded: that run is made a success.
\set ON_ERROR_STOP 1
\set schema grow_ :part
SET synchronous_commit = off;
SELECT setseed(0.42 + :part / 1000.0);

DROP SCHEMA IF EXISTS :schema CASCADE;
CREATE SCHEMA :schema;
CREATE UNLOGGED TABLE :schema.workflow_runs (LIKE public.workflow_runs INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE :schema.jobs (LIKE public.jobs INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE :schema.run_rollup_daily (LIKE public.run_rollup_daily INCLUDING DEFAULTS);
CREATE UNLOGGED TABLE :schema.run_rollup_repo (LIKE public.run_rollup_repo INCLUDING DEFAULTS);
-- The rebuild switches these triggers off and on by name.
CREATE FUNCTION :schema.nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER workflow_runs_api_before AFTER INSERT ON :schema.workflow_runs
    FOR EACH ROW EXECUTE FUNCTION :schema.nothing();
CREATE TRIGGER workflow_runs_api_after AFTER INSERT ON :schema.workflow_runs
    FOR EACH ROW EXECUTE FUNCTION :schema.nothing();
CREATE TRIGGER workflow_runs_api_before_rollup AFTER INSERT ON :schema.workflow_runs
    FOR EACH ROW EXECUTE FUNCTION :schema.nothing();
CREATE TRIGGER workflow_runs_api_after_rollup AFTER INSERT ON :schema.workflow_runs
    FOR EACH ROW EXECUTE FUNCTION :schema.nothing();
SET search_path = :schema, public;
SET session_replication_role = replica;

-- Runs as gen.sql makes them, completed in [until - days, until).
SELECT :'until'::timestamptz - interval '1 second' AS newest \gset
\ir runs.sql
-- A second attempt may complete past :until: pulled back with its run.
UPDATE workflow_runs w SET completed_at = w.completed_at - x.over, updated_at = w.updated_at - x.over,
       run_started_at = w.run_started_at - x.over, created_at = w.created_at - x.over
  FROM (SELECT run_id, max(completed_at) - (:'until'::timestamptz - interval '1 second') AS over
          FROM workflow_runs GROUP BY run_id
        HAVING max(completed_at) >= :'until'::timestamptz) x
 WHERE w.run_id = x.run_id;
ALTER TABLE workflow_runs ADD PRIMARY KEY (repo_id, run_id, run_attempt);
-- The newest decided latest attempt per workflow and branch succeeds (see the top).
UPDATE workflow_runs w SET conclusion = 'success'
  FROM (SELECT DISTINCT ON (repo_id, workflow_id, head_branch) repo_id, run_id, run_attempt,
               conclusion
          FROM workflow_runs v
         WHERE conclusion IN ('success', 'failure', 'timed_out')
           AND NOT EXISTS (SELECT 1 FROM workflow_runs n WHERE n.repo_id = v.repo_id
                           AND n.run_id = v.run_id AND n.run_attempt > v.run_attempt)
         ORDER BY repo_id, workflow_id, head_branch, completed_at DESC, run_id DESC) x
 WHERE (w.repo_id, w.run_id, w.run_attempt) = (x.repo_id, x.run_id, x.run_attempt)
   AND x.conclusion <> 'success';

-- Their jobs (here) and steps (in public.steps), as gen.sql makes them.
\ir jobs.sql

-- The figures, by the migrations' rebuild over these rows.
SELECT cipulse_api_rebuild();

-- Appended to the real tables in key order (the new rows' index entries go together).
INSERT INTO public.workflow_runs SELECT * FROM workflow_runs ORDER BY repo_id, run_id, run_attempt;
INSERT INTO public.jobs SELECT * FROM jobs ORDER BY repo_id, job_id;
-- Older buckets than any there: a key already present is an error, not a merge.
INSERT INTO public.run_rollup_daily SELECT * FROM run_rollup_daily;
INSERT INTO public.run_rollup_repo SELECT * FROM run_rollup_repo;

RESET search_path;
DROP SCHEMA :schema CASCADE;
