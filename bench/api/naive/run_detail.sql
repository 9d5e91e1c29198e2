-- A run's attempts and the latest attempt's jobs with steps (the same reads as the API).
SELECT * FROM workflow_runs WHERE run_id = :run_id ORDER BY run_attempt DESC;
SELECT j.*, s.* FROM jobs j LEFT JOIN steps s ON s.repo_id = j.repo_id AND s.job_id = j.job_id
 WHERE j.repo_id = 1 AND j.run_id = :run_id
   AND j.run_attempt = (SELECT max(run_attempt) FROM workflow_runs WHERE run_id = :run_id)
 ORDER BY j.started_at, j.job_id, s.number;
