-- cipulse schema, version 12: the job summary (collector/ingest/summary_rpc.c, issue 13).
--
-- The Summary RPC compares each step of a job with the same job's earlier runs on the default
-- branch: it looks the job up by (repository, job name) newest first. Without this index that is
-- a scan of every job of the repository (EXPLAIN on 40,000 jobs of one repository: a sequential
-- scan of jobs and of workflow_runs); with it, an index range walked backwards from now that
-- stops after the newest runs it needs.
CREATE INDEX jobs_name_idx ON jobs (repo_id, name, completed_at);
