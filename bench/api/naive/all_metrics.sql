-- The figures over all repositories (:window_s seconds, :nbuckets buckets of :bucket_ms), exactly
-- from the runs of the window (sql/013_window_metrics.sql: every run of the window read and
-- sorted on each request), next to the API's rollup (sql/016_repo_rollup.sql).
SELECT * FROM cipulse_window_metrics(now() - :window_s * interval '1 second', now(), NULL, NULL,
                                     NULL, :bucket_ms, :nbuckets);
