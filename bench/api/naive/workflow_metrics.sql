-- A workflow's figures over a window (:window_s seconds), from the raw tables at query time:
-- latest attempts, durations from jobs, queue times, percentiles, flaky runs (no series, no MTTR).
WITH runs AS (
  SELECT w.*,
         (SELECT CASE WHEN min(j.started_at) IS NOT NULL AND max(j.completed_at) IS NOT NULL
                      THEN extract(epoch FROM max(j.completed_at) - min(j.started_at))
                      ELSE extract(epoch FROM w.updated_at - w.run_started_at) END
            FROM jobs j WHERE j.repo_id = w.repo_id AND j.run_id = w.run_id
             AND j.run_attempt = w.run_attempt) AS d
    FROM workflow_runs w
   WHERE w.repo_id = 1 AND w.workflow_id = 101
     AND w.completed_at >= now() - :window_s * interval '1 second' AND w.completed_at < now()
     AND NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id
                     AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt)),
q AS (SELECT extract(epoch FROM j.started_at - j.created_at) AS qs
        FROM runs r JOIN jobs j ON j.repo_id = r.repo_id AND j.run_id = r.run_id
         AND j.run_attempt = r.run_attempt
       WHERE j.started_at IS NOT NULL AND j.created_at IS NOT NULL)
SELECT count(*), count(*) FILTER (WHERE conclusion = 'success'),
       count(*) FILTER (WHERE conclusion IN ('success', 'failure', 'timed_out')),
       avg(d), percentile_cont(0.5) WITHIN GROUP (ORDER BY d),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d),
       (SELECT avg(qs) FROM q), (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY qs) FROM q),
       count(*) FILTER (WHERE conclusion = 'success' AND EXISTS (
           SELECT 1 FROM workflow_runs e WHERE e.repo_id = runs.repo_id AND e.run_id = runs.run_id
              AND e.run_attempt < runs.run_attempt AND e.head_sha = runs.head_sha
              AND e.conclusion IN ('failure', 'timed_out')))
FROM runs;
