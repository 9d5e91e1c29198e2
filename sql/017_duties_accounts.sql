-- cipulse schema, version 17: review leftovers of issues 11 and 12.
--
--   cipulse_alert_sweep  no advisory lock of its own any more: the collector runs it as a duty
--                        (collector/store/lease.c: the leader lease and its handover guard, the
--                        one "run once in the cluster" mechanism of the poller, the retention
--                        sweep and this sweep)

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
