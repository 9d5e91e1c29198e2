-- A page of a repository's runs (latest attempts, newest first) from the raw tables.
SELECT w.* FROM workflow_runs w
 WHERE w.repo_id = 1
   AND NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id
                   AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt)
 ORDER BY w.created_at DESC, w.run_id DESC LIMIT 51;
