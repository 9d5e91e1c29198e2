-- Log retention (CIPULSE_LOG_RETENTION_DAYS): the sweep deletes log tails by age.
CREATE INDEX logs_updated_at_idx ON logs (updated_at);
