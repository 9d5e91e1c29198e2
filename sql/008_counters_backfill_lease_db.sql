-- cipulse schema, version 7 (continued; 007_replicas_retention.sql was merged before these).

-- Counts every completed attempt not counted yet (cipulse_counters_add of
-- 007_replicas_retention.sql, a row at a time: about a minute per million attempts), and returns
-- how many: after a bulk load with triggers disabled, call it after cipulse_api_rebuild().
CREATE FUNCTION cipulse_counters_backfill() RETURNS bigint
    LANGUAGE sql AS $$
    SELECT count(cipulse_counters_add(r)) FROM workflow_runs r
     WHERE r.completed_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM pipeline_counted c WHERE c.repo_id = r.repo_id
                       AND c.run_id = r.run_id AND c.run_attempt = r.run_attempt)
$$;

-- The database a lease was taken in: a lease restored from a dump into a new database belongs
-- to a collector of the old one, and is free at once (collector/store/lease.c).
ALTER TABLE cluster_leases ADD COLUMN db_oid oid;
