#include "core/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_http.h"
#include "cm_log.h"
#include "github/app.h"

#define OFF(field) offsetof(struct col_config, field)

const struct cm_opt col_config_opts[] = {
	{ "database-url", "CIPULSE_DATABASE_URL", CM_OPT_STRING, NULL, OFF(database_url), 0, 0,
	  NULL, CM_OPT_SECRET,
	  "PostgreSQL connection URI (libpq), e.g. postgresql://user:pass@host:5432/cipulse" },
	{ "grpc-addr", "CIPULSE_GRPC_ADDR", CM_OPT_ADDR, "127.0.0.1:50051", OFF(grpc_addr), 0, 0,
	  NULL, 0, "gRPC listen address (agent reports, grpc.health.v1)" },
	{ "http-addr", "CIPULSE_HTTP_ADDR", CM_OPT_ADDR, "127.0.0.1:8080", OFF(http_addr), 0, 0,
	  NULL, 0, "HTTP listen address (REST API, webhooks, /metrics, dashboard)" },
	{ "probe-addr", "CIPULSE_PROBE_ADDR", CM_OPT_ADDR, NULL, OFF(probe_addr), 0, 0, NULL, 0,
	  "a second HTTP listener (plain HTTP) that answers only /healthz, /readyz and /metrics, "
	  "with connections of its own: probes get through while the main listener is full" },
	{ "admin-token", "CIPULSE_ADMIN_TOKEN", CM_OPT_STRING, NULL, OFF(admin_token), 0, 0, NULL,
	  CM_OPT_SECRET,
	  "bearer token for admin endpoints (admin tokens in the database work too)" },
	{ "read-token", "CIPULSE_READ_TOKEN", CM_OPT_STRING, NULL, OFF(read_token), 0, 0, NULL,
	  CM_OPT_SECRET,
	  "when set, reads of the REST API need this bearer token (or an admin token)" },
	{ "anonymous-read", "CIPULSE_ANONYMOUS_READ", CM_OPT_BOOL, "1", OFF(anonymous_read), 0, 0,
	  NULL, 0,
	  "let reads of the REST API go without signing in while no user account exists and "
	  "CIPULSE_READ_TOKEN is unset (0: never)" },
	{ "visibility", "CIPULSE_VISIBILITY", CM_OPT_ENUM, "all", OFF(visibility), 0, 0,
	  "all|github", 0,
	  "who reads which repositories: all (whoever may read reads every repository) or github "
	  "(a user signed in with GitHub reads only the repositories GitHub lets them read; admins "
	  "and the read and admin tokens read all; needs CIPULSE_ANONYMOUS_READ=false)" },
	{ "visibility-ttl", "CIPULSE_VISIBILITY_TTL", CM_OPT_DURATION, "5m", OFF(visibility_ttl_ms),
	  1000, 86400000, NULL, 0,
	  "how long GitHub's answer to which repositories a user may read is used (asked again "
	  "after half of it); a revoked permission shows within it" },
	{ "session-idle", "CIPULSE_SESSION_IDLE", CM_OPT_DURATION, "8h", OFF(session_idle_ms),
	  60000, 2592000000L, NULL, 0, "a dashboard session unused this long ends" },
	{ "session-max", "CIPULSE_SESSION_MAX", CM_OPT_DURATION, "7d", OFF(session_max_ms), 60000,
	  31536000000L, NULL, 0, "a dashboard session ends this long after sign-in, used or not" },
	{ "login-max-failures", "CIPULSE_LOGIN_MAX_FAILURES", CM_OPT_INT, "5",
	  OFF(login_max_failures), 1, 1000, NULL, 0,
	  "failed sign-ins per account and per address within CIPULSE_LOGIN_WINDOW; past it "
	  "sign-in answers 429 until the window is over (counted by each collector)" },
	{ "login-window", "CIPULSE_LOGIN_WINDOW", CM_OPT_DURATION, "15m", OFF(login_window_ms),
	  1000, 86400000L, NULL, 0, "the window of CIPULSE_LOGIN_MAX_FAILURES" },
	{ "web-dir", "CIPULSE_WEB_DIR", CM_OPT_STRING, NULL, OFF(web_dir), 0, 0, NULL, 0,
	  "directory of the built web dashboard to serve (web/dist)" },
	{ "github-token", "CIPULSE_GITHUB_TOKEN", CM_OPT_STRING, NULL, OFF(github_token), 0, 0,
	  NULL, CM_OPT_SECRET, "GitHub token for the poller and backfill" },
	{ "github-api-url", "CIPULSE_GITHUB_API_URL", CM_OPT_URL, "https://api.github.com",
	  OFF(github_api_url), 0, 0, "http|https", 0,
	  "GitHub REST API base URL (GitHub Enterprise Server: https://HOST/api/v3)" },
	{ "github-app-id", "CIPULSE_GITHUB_APP_ID", CM_OPT_STRING, NULL, OFF(github_app_id), 0, 0,
	  NULL, 0,
	  "GitHub App mode: the app's numeric id; the poller and backfill then read each "
	  "repository with its installation's token (docs/operations.md, \"GitHub App\")" },
	{ "github-app-private-key-file", "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE", CM_OPT_STRING, NULL,
	  OFF(github_app_private_key_file), 0, 0, NULL, 0,
	  "GitHub App mode: the app's private key (PEM file as GitHub generates it; keep it chmod "
	  "600). The app's webhook secret is CIPULSE_WEBHOOK_SECRET" },
	{ "github-url", "CIPULSE_GITHUB_URL", CM_OPT_URL, "https://github.com", OFF(github_url), 0,
	  0, "http|https", 0,
	  "GitHub's web address, where people sign in (GitHub Enterprise Server: https://HOST)" },
	{ "github-client-id", "CIPULSE_GITHUB_CLIENT_ID", CM_OPT_STRING, NULL,
	  OFF(github_client_id), 0, 0, NULL, 0,
	  "\"Sign in with GitHub\": the GitHub App's client ID (its OAuth part); needs the client "
	  "secret, CIPULSE_PUBLIC_URL and CIPULSE_GITHUB_ALLOWED_ORGS (docs/operations.md, "
	  "\"Sign in with GitHub\")" },
	{ "github-client-secret", "CIPULSE_GITHUB_CLIENT_SECRET", CM_OPT_STRING, NULL,
	  OFF(github_client_secret), 0, 0, NULL, CM_OPT_SECRET,
	  "\"Sign in with GitHub\": the GitHub App's client secret (or CIPULSE_GITHUB_CLIENT_SECRET_FILE)" },
	{ "github-client-secret-file", "CIPULSE_GITHUB_CLIENT_SECRET_FILE", CM_OPT_STRING, NULL,
	  OFF(github_client_secret_file), 0, 0, NULL, 0,
	  "\"Sign in with GitHub\": a file holding the client secret (read at start-up; trailing "
	  "newline ignored)" },
	{ "github-allowed-orgs", "CIPULSE_GITHUB_ALLOWED_ORGS", CM_OPT_STRING, NULL,
	  OFF(github_allowed_orgs), 0, 0, NULL, 0,
	  "\"Sign in with GitHub\": comma-separated organisations whose active members may sign "
	  "in; required with CIPULSE_GITHUB_CLIENT_ID. \"*\" lets any GitHub account in (not for "
	  "github.com: anyone can make an account). New GitHub users are viewers" },
	{ "webhook-secret", "CIPULSE_WEBHOOK_SECRET", CM_OPT_STRING, NULL, OFF(webhook_secret), 0,
	  0, NULL, CM_OPT_SECRET,
	  "secret of an organisation-wide GitHub webhook or of the GitHub App (one secret for all "
	  "its installations; repository secrets are tried first)" },
	{ "slack-webhook-url", "CIPULSE_SLACK_WEBHOOK_URL", CM_OPT_URL, NULL,
	  OFF(slack_webhook_url), 0, 0, "http|https", CM_OPT_SECRET,
	  "Slack incoming webhook for alerts (channel env-slack of the default rule)" },
	{ "teams-webhook-url", "CIPULSE_TEAMS_WEBHOOK_URL", CM_OPT_URL, NULL,
	  OFF(teams_webhook_url), 0, 0, "http|https", CM_OPT_SECRET,
	  "Microsoft Teams Workflows webhook for alerts (channel env-teams of the default rule)" },
	{ "smtp-url", "CIPULSE_SMTP_URL", CM_OPT_URL, NULL, OFF(smtp_url), 0, 0, "smtp|smtps",
	  CM_OPT_SECRET,
	  "SMTP server for alert e-mail, e.g. smtp://user:pass@mail:587 (STARTTLS when offered) or smtps://" },
	{ "smtp-ca-file", "CIPULSE_SMTP_CA_FILE", CM_OPT_STRING, NULL, OFF(smtp_ca_file), 0, 0,
	  NULL, 0, "PEM CA certificates to verify the SMTP server with (default: the system's)" },
	{ "smtp-from", "CIPULSE_SMTP_FROM", CM_OPT_STRING, "cipulse@localhost", OFF(smtp_from), 0,
	  0, NULL, 0, "sender address of alert e-mail" },
	{ "alert-email-to", "CIPULSE_ALERT_EMAIL_TO", CM_OPT_STRING, NULL, OFF(alert_email_to), 0,
	  0, NULL, 0,
	  "comma-separated recipients of alert e-mail (channel env-email of the default rule)" },
	{ "public-url", "CIPULSE_PUBLIC_URL", CM_OPT_URL, NULL, OFF(public_url), 0, 0, "http|https",
	  0, "the dashboard's address as people reach it, for links in alert messages" },
	{ "alert-max-age", "CIPULSE_ALERT_MAX_AGE", CM_OPT_DURATION, "1h", OFF(alert_max_age_ms), 0,
	  31536000000L, NULL, 0,
	  "runs that completed longer ago than this (backfill, a poller catching up) update alert "
	  "state but send no message" },
	{ "alert-sweep-interval", "CIPULSE_ALERT_SWEEP_INTERVAL", CM_OPT_DURATION, "1m",
	  OFF(alert_sweep_interval_ms), 1000, 86400000L, NULL, 0,
	  "how often regression and slow_build rules are re-evaluated as their window slides (one "
	  "collector of several at a time)" },
	{ "notify-give-up", "CIPULSE_NOTIFY_GIVE_UP", CM_OPT_DURATION, "24h",
	  OFF(notify_give_up_ms), 1000, 31536000000L, NULL, 0,
	  "a notification still not delivered this long after it was queued is given up" },
	{ "notify-timeout", "CIPULSE_NOTIFY_TIMEOUT", CM_OPT_DURATION, "15s",
	  OFF(notify_timeout_ms), 1000, 600000, NULL, 0,
	  "longest one delivery attempt may take (connecting takes at most a third of it)" },
	{ "notify-backoff-max", "CIPULSE_NOTIFY_BACKOFF_MAX", CM_OPT_DURATION, "10m",
	  OFF(notify_backoff_max_ms), 1000, 86400000, NULL, 0,
	  "longest wait between two delivery attempts (exponential back-off with jitter up to it)" },
	{ "notify-senders", "CIPULSE_NOTIFY_SENDERS", CM_OPT_INT, "4", OFF(notify_senders), 1, 64,
	  NULL, 0, "threads delivering notifications (a channel's messages go one at a time)" },
	{ "tls-cert", "CIPULSE_TLS_CERT", CM_OPT_STRING, NULL, OFF(tls_cert), 0, 0, NULL, 0,
	  "PEM certificate chain: serve gRPC and HTTP over TLS" },
	{ "tls-key", "CIPULSE_TLS_KEY", CM_OPT_STRING, NULL, OFF(tls_key), 0, 0, NULL, 0,
	  "PEM private key for --tls-cert" },
	{ "log-level", "CIPULSE_LOG_LEVEL", CM_OPT_ENUM, "info", OFF(log_level), 0, 0,
	  "debug|info|warn|error", 0, "least severe level logged" },
	{ "log-format", "CIPULSE_LOG_FORMAT", CM_OPT_ENUM, "text", OFF(log_format), 0, 0,
	  "text|json", 0, "log line format" },
	{ "log-retention-days", "CIPULSE_LOG_RETENTION_DAYS", CM_OPT_INT, "30",
	  OFF(log_retention_days), 1, 3650, NULL, 0, "days of log tails kept" },
	{ "run-retention-days", "CIPULSE_RUN_RETENTION_DAYS", CM_OPT_INT, "0",
	  OFF(run_retention_days), 0, 36500, NULL, 0,
	  "days of runs kept (attempts with their jobs, steps and log tails, by their last known "
	  "time); 0 keeps them for ever" },
	{ "poll-interval", "CIPULSE_POLL_INTERVAL", CM_OPT_DURATION, "5m", OFF(poll_interval_ms),
	  1000, 86400000, NULL, 0, "how often the poller reconciles each repository with GitHub" },
	{ "poll-stale-after", "CIPULSE_POLL_STALE_AFTER", CM_OPT_DURATION, "10m",
	  OFF(poll_stale_ms), 0, 86400000, NULL, 0,
	  "a run queued or in progress this long, or known only from webhooks, is re-read from GitHub" },
	{ "poll", "CIPULSE_POLL", CM_OPT_BOOL, "1", OFF(poll_enabled), 0, 0, NULL, 0,
	  "run the GitHub poller (needs a GitHub token)" },
	{ "max-report-bytes", "CIPULSE_MAX_REPORT_BYTES", CM_OPT_INT, "33554432",
	  OFF(max_report_bytes), 65536, 1073741824, NULL, 0,
	  "largest agent report accepted, all messages together (bytes)" },
	{ "max-message-bytes", "CIPULSE_MAX_MESSAGE_BYTES", CM_OPT_INT, "1048576",
	  OFF(max_message_bytes), 65536, 67108864, NULL, 0,
	  "largest single gRPC message accepted (bytes)" },
	{ "max-inflight-bytes", "CIPULSE_MAX_INFLIGHT_BYTES", CM_OPT_INT, "268435456",
	  OFF(max_inflight_bytes), 65536, 68719476736L, NULL, 0,
	  "memory all agent reports being received may hold together (bytes); past it, new data "
	  "is refused with UNAVAILABLE \"collector busy\" and agents retry or spool" },
	{ "report-timeout", "CIPULSE_REPORT_TIMEOUT", CM_OPT_DURATION, "60s",
	  OFF(report_timeout_ms), 1000, 3600000, NULL, 0,
	  "an agent report stream not complete this long after it opened is cancelled "
	  "(DEADLINE_EXCEEDED, nothing stored)" },
	{ "max-body-bytes", "CIPULSE_MAX_BODY_BYTES", CM_OPT_INT, "5242880", OFF(max_body_bytes),
	  1024, 104857600, NULL, 0,
	  "largest HTTP request body accepted, webhooks included (bytes)" },
	{ "db-pool-size", "CIPULSE_DB_POOL_SIZE", CM_OPT_INT, "8", OFF(db_pool_size), 1, 256, NULL,
	  0, "PostgreSQL connections kept open" },
	{ "grpc-threads", "CIPULSE_GRPC_THREADS", CM_OPT_INT, "4", OFF(grpc_threads), 1, 64, NULL,
	  0, "threads that write agent reports to the database" },
	{ "shutdown-grace", "CIPULSE_SHUTDOWN_GRACE", CM_OPT_DURATION, "10s",
	  OFF(shutdown_grace_ms), 0, 600000, NULL, 0,
	  "how long SIGTERM waits for in-flight reports before cancelling them" },
	{ "db-statement-timeout", "CIPULSE_DB_STATEMENT_TIMEOUT", CM_OPT_DURATION, "30s",
	  OFF(db_statement_timeout_ms), 0, 3600000, NULL, 0,
	  "longest a database statement may run (PostgreSQL statement_timeout; 0: no limit); "
	  "past it the request answers 503 (migrations have none)" },
	{ "api-timeout", "CIPULSE_API_TIMEOUT", CM_OPT_DURATION, "10s", OFF(api_timeout_ms), 100,
	  3600000, NULL, 0,
	  "longest a REST API request's database work may run (its statement_timeout); past it "
	  "the request answers 503 with Retry-After. A client that disconnects cancels its query" },
	{ "db-lock-timeout", "CIPULSE_DB_LOCK_TIMEOUT", CM_OPT_DURATION, "5s",
	  OFF(db_lock_timeout_ms), 0, 3600000, NULL, 0,
	  "longest a database statement waits for a lock (PostgreSQL lock_timeout; 0: no limit)" },
	{ "http-request-timeout", "CIPULSE_HTTP_REQUEST_TIMEOUT", CM_OPT_DURATION, "30s",
	  OFF(http_request_timeout_ms), 1000, 3600000, NULL, 0,
	  "a request's headers and body must arrive within this after the connection opens (or "
	  "the previous answer on it); trickling bytes does not extend it" },
	{ "http-max-connections", "CIPULSE_HTTP_MAX_CONNECTIONS", CM_OPT_INT, "1000",
	  OFF(http_max_connections), 16, 100000, NULL, 0, "HTTP connections open at once" },
	{ "http-max-conns-per-addr", "CIPULSE_HTTP_MAX_CONNS_PER_ADDR", CM_OPT_INT, "32",
	  OFF(http_max_conns_per_addr), 0, 100000, NULL, 0,
	  "HTTP connections open at once from one client address (0: no limit; raise it behind a "
	  "reverse proxy, whose address all requests share)" },
	{ "max-expensive-requests", "CIPULSE_MAX_EXPENSIVE_REQUESTS", CM_OPT_INT, "4",
	  OFF(max_expensive_requests), 1, 256, NULL, 0,
	  "log searches and all-repository metrics answered at once; past it a request waits up "
	  "to 5 s for one of them to end, then answers 503 with Retry-After" },
	{ "webhook-bad-signature-limit", "CIPULSE_WEBHOOK_BAD_SIGNATURE_LIMIT", CM_OPT_INT, "20",
	  OFF(webhook_bad_signature_limit), 1, 100000, NULL, 0,
	  "webhooks with a bad signature one address may send per minute; past it its webhooks "
	  "answer 429 until the minute is over" },
	{ "webhook-batch", "CIPULSE_WEBHOOK_BATCH", CM_OPT_INT, "64", OFF(webhook_batch), 1, 1024,
	  NULL, 0,
	  "most webhook deliveries written in one transaction (group commit; each is answered "
	  "after its transaction committed); 1 writes each delivery in a transaction of its own" },
	{ "webhook-batch-wait", "CIPULSE_WEBHOOK_BATCH_WAIT", CM_OPT_DURATION, "5ms",
	  OFF(webhook_batch_wait_ms), 0, 1000, NULL, 0,
	  "longest a batch of webhook deliveries waits to fill while more deliveries are still "
	  "being verified (a lone delivery is written at once)" },
	{ "allow-private-targets", "CIPULSE_ALLOW_PRIVATE_TARGETS", CM_OPT_BOOL, "0",
	  OFF(allow_private_targets), 0, 0, NULL, 0,
	  "let notification channels point at loopback, link-local and private addresses "
	  "(refused by default: they could reach internal services)" },
	{ "migrate", "CIPULSE_MIGRATE", CM_OPT_BOOL, "1", OFF(migrate_on_start), 0, 0, NULL, 0,
	  "apply database migrations at start-up" },
};
const size_t col_config_nopts = sizeof(col_config_opts) / sizeof(col_config_opts[0]);

/* The client secret from its file; the GitHub sign-in settings checked together. */
static int github_signin_load(struct col_config *cfg, struct cm_buf *err)
{
	const char *why = NULL;
	char buf[512];
	size_t n;
	FILE *f;
	int rc;

	if (cfg->github_client_secret_file && *cfg->github_client_secret_file) {
		if (cfg->github_client_secret && *cfg->github_client_secret) {
			why =
			    "set CIPULSE_GITHUB_CLIENT_SECRET or CIPULSE_GITHUB_CLIENT_SECRET_FILE, "
			    "not both";
			goto bad;
		}
		f = fopen(cfg->github_client_secret_file, "r");
		n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
		if (f)
			fclose(f);
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
			n--;
		buf[n] = '\0';
		if (!n || n >= sizeof(buf) - 2) {
			rc = cm_buf_addf(
			    err, "CIPULSE_GITHUB_CLIENT_SECRET_FILE: cannot read a secret from %s",
			    cfg->github_client_secret_file);
			return rc ? rc : CM_EINVAL;
		}
		free(cfg->github_client_secret);
		cfg->github_client_secret = strdup(buf);
		memset(buf, 0, sizeof(buf));
		if (!cfg->github_client_secret)
			return CM_ENOMEM;
	}
	if (!cfg->github_client_id || !*cfg->github_client_id) {
		if (cfg->github_client_secret && *cfg->github_client_secret)
			why = "CIPULSE_GITHUB_CLIENT_SECRET needs CIPULSE_GITHUB_CLIENT_ID";
	} else if (!cfg->github_client_secret || !*cfg->github_client_secret) {
		why = "CIPULSE_GITHUB_CLIENT_ID needs CIPULSE_GITHUB_CLIENT_SECRET (or _FILE)";
	} else if (!cfg->public_url || !*cfg->public_url) {
		why =
		    "CIPULSE_GITHUB_CLIENT_ID needs CIPULSE_PUBLIC_URL (GitHub sends people back to "
		    "its /api/v1/auth/github/callback)";
	} else if (!cfg->github_allowed_orgs || !*cfg->github_allowed_orgs) {
		why =
		    "CIPULSE_GITHUB_CLIENT_ID needs CIPULSE_GITHUB_ALLOWED_ORGS: the organisations "
		    "whose members may sign in (\"*\": any GitHub account)";
	} else if (strpbrk(cfg->github_client_id, " &?#=/%\"\r\n")) {
		why = "CIPULSE_GITHUB_CLIENT_ID is not a GitHub client ID";
	} else {
		for (const char *p = cfg->github_allowed_orgs; *p; p++) {
			if (!(*p == ',' || *p == ' ' || *p == '-' || *p == '*' ||
			      (*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= 'a' && *p <= 'z')))
				why =
				    "CIPULSE_GITHUB_ALLOWED_ORGS: organisation names are letters, digits "
				    "and '-', separated by commas (or \"*\")";
		}
	}
bad:
	if (!why)
		return CM_OK;
	rc = cm_buf_adds(err, why);
	return rc ? rc : CM_EINVAL;
}

int col_config_github_signin(const struct col_config *cfg)
{
	return cfg->github_client_id && *cfg->github_client_id && cfg->github_client_secret &&
	       *cfg->github_client_secret && cfg->public_url && *cfg->public_url &&
	       cfg->github_allowed_orgs && *cfg->github_allowed_orgs;
}

int col_config_load(struct col_config *cfg, int argc, char **argv, int *argi, int *help,
		    struct cm_buf *err)
{
	enum cm_log_level level;
	enum cm_log_format format;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = cm_config_load(col_config_opts, col_config_nopts, cfg, argc, argv, argi, help, err);
	if (rc || *help)
		return rc;
	/* Anonymous readers have no GitHub account: github visibility would have to show them
	 * everything or nothing. */
	if (cfg->visibility && !strcmp(cfg->visibility, "github") && cfg->anonymous_read) {
		rc = cm_buf_adds(err,
				 "CIPULSE_VISIBILITY=github needs CIPULSE_ANONYMOUS_READ=false");
		return rc ? rc : CM_EINVAL;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		rc = cm_buf_adds(err, "CIPULSE_TLS_CERT and CIPULSE_TLS_KEY must be set together");
		return rc ? rc : CM_EINVAL;
	}
	/* A report that could never fit under the process-wide cap would be retried forever. */
	if (cfg->max_inflight_bytes < cfg->max_report_bytes) {
		rc = cm_buf_adds(
		    err, "CIPULSE_MAX_INFLIGHT_BYTES must be at least CIPULSE_MAX_REPORT_BYTES");
		return rc ? rc : CM_EINVAL;
	}
	rc = github_signin_load(cfg, err);
	if (rc)
		return rc;
	/* Both were validated by the table; this only applies them. */
	cm_log_parse_level(cfg->log_level, &level);
	cm_log_parse_format(cfg->log_format, &format);
	cm_log_setup(level, format);
	/* App mode: the key is read now (after the log set-up: it may warn), so that a bad one
	 * stops start-up. */
	return col_gh_app_configure(cfg->github_app_id, cfg->github_app_private_key_file,
				    cfg->github_api_url, err);
}

void col_config_release(struct col_config *cfg)
{
	col_gh_app_reset();
	cm_config_free(col_config_opts, col_config_nopts, cfg);
}

void col_config_run_url(const struct col_config *cfg, long long run_id, int attempt,
			long long job_id, char *out, size_t size)
{
	int n = cm_http_url_base_len(cfg->public_url);
	int k;

	if (!n) {
		if (size)
			out[0] = '\0';
		return;
	}
	if (job_id)
		k = snprintf(out, size, "%.*s/runs/%lld?attempt=%d&job=%lld", n, cfg->public_url,
			     run_id, attempt, job_id);
	else
		k = snprintf(out, size, "%.*s/runs/%lld?attempt=%d", n, cfg->public_url, run_id,
			     attempt);
	if (k < 0 || (size_t)k >= size)
		out[0] = '\0';
}
