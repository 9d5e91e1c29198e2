-- The repository list with its figures (7 UTC days), computed from the raw tables at query time.
SELECT r.full_name, s.runs, s.succ, s.counted, s.avg_dur, lr.run_id
FROM repositories r
LEFT JOIN LATERAL (
  SELECT count(*) AS runs, count(*) FILTER (WHERE conclusion = 'success') AS succ,
         count(*) FILTER (WHERE conclusion IN ('success', 'failure', 'timed_out')) AS counted,
         avg(d) AS avg_dur
  FROM (SELECT w.conclusion,
               (SELECT CASE WHEN min(j.started_at) IS NOT NULL AND max(j.completed_at) IS NOT NULL
                            THEN extract(epoch FROM max(j.completed_at) - min(j.started_at))
                            ELSE extract(epoch FROM w.updated_at - w.run_started_at) END
                  FROM jobs j WHERE j.repo_id = w.repo_id AND j.run_id = w.run_id
                   AND j.run_attempt = w.run_attempt) AS d
          FROM workflow_runs w
         WHERE w.repo_id = r.id
           AND w.completed_at >= (date_trunc('day', now() AT TIME ZONE 'UTC') - interval '6 days') AT TIME ZONE 'UTC'
           AND NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id
                           AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt)) q) s ON true
LEFT JOIN LATERAL (
  SELECT w.run_id FROM workflow_runs w
   WHERE w.repo_id = r.id AND w.completed_at IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id
                     AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt)
   ORDER BY w.completed_at DESC LIMIT 1) lr ON true
ORDER BY r.full_name LIMIT 51;
