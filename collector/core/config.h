/* cipulsed settings: one table (config.c) drives env vars, flags, --help and the README reference.
 */
#ifndef COL_CONFIG_H
#define COL_CONFIG_H

#include <stddef.h>

#include "cm_buf.h"
#include "cm_config.h"

struct col_config {
	char *database_url;
	char *grpc_addr;
	char *http_addr;
	char *probe_addr;
	char *admin_token;
	char *read_token;
	int anonymous_read;
	char *visibility;
	long visibility_ttl_ms;
	long session_idle_ms;
	long session_max_ms;
	long login_max_failures;
	long login_window_ms;
	char *web_dir;
	char *github_token;
	char *github_api_url;
	char *github_app_id;
	char *github_app_private_key_file;
	char *github_url;
	char *github_client_id;
	char *github_client_secret;
	char *github_client_secret_file;
	char *github_allowed_orgs;
	char *webhook_secret;
	char *slack_webhook_url;
	char *teams_webhook_url;
	char *smtp_url;
	char *smtp_ca_file;
	char *smtp_from;
	char *alert_email_to;
	char *public_url;
	long alert_max_age_ms;
	long alert_sweep_interval_ms;
	long notify_give_up_ms;
	long notify_timeout_ms;
	long notify_backoff_max_ms;
	long notify_senders;
	char *tls_cert;
	char *tls_key;
	char *log_level;
	char *log_format;
	long log_retention_days;
	long run_retention_days;
	long poll_interval_ms;
	long poll_stale_ms;
	long max_report_bytes;
	long max_message_bytes;
	long max_inflight_bytes;
	long report_timeout_ms;
	long max_body_bytes;
	long db_pool_size;
	long grpc_threads;
	long shutdown_grace_ms;
	long db_statement_timeout_ms;
	long api_timeout_ms;
	long db_lock_timeout_ms;
	long http_request_timeout_ms;
	long http_max_connections;
	long http_max_conns_per_addr;
	long max_expensive_requests;
	long webhook_bad_signature_limit;
	long webhook_batch;
	long webhook_batch_wait_ms;
	int migrate_on_start;
	int poll_enabled;
	int allow_private_targets;
};

extern const struct cm_opt col_config_opts[];
extern const size_t col_config_nopts;

/*
 * Loads settings from the environment and argv (options before the command); *argi gets the
 * index of the command. On a bad value returns CM_EINVAL with the reason in err.
 */
int col_config_load(struct col_config *cfg, int argc, char **argv, int *argi, int *help,
		    struct cm_buf *err);
void col_config_release(struct col_config *cfg);
/* 1 when "Sign in with GitHub" is configured (CIPULSE_GITHUB_CLIENT_ID and its secret). */
int col_config_github_signin(const struct col_config *cfg);
/*
 * The dashboard's page of a run attempt under CIPULSE_PUBLIC_URL ("/runs/ID?attempt=N", with
 * "&job=ID" focusing a job when job_id is not 0) into out; "" when no public URL is set or it
 * does not fit. Alert messages and the job summary link to it.
 */
void col_config_run_url(const struct col_config *cfg, long long run_id, int attempt,
			long long job_id, char *out, size_t size);

#endif
