/*
 * cipulsed — the cipulse collector.
 *
 *   cipulsed [options] [serve]                 run the collector (default)
 *   cipulsed [options] migrate                 apply database migrations and exit
 *   cipulsed [options] token create --kind ingest --repo owner/name [--description TEXT]
 *   cipulsed [options] token revoke ID
 *   cipulsed [options] user add|reset|disable|enable|list ...   local accounts
 *   cipulsed [options] health [--ca FILE] ...  ask a running collector whether it is ready
 *   cipulsed config-doc                        print the settings as a Markdown table
 *   cipulsed config-env                        print the settings as an env file
 *   cipulsed version (or --version)
 */
#include <errno.h>
#include <grpc/grpc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "core/config.h"
#include "core/ctx.h"
#include "store/db.h"
#include "http/server.h"
#include "ingest/ingest.h"
#include "core/process_metrics.h"
#include "store/migrate.h"
#include "store/visibility.h"
#include "wiring.h"
#include "store/auth_cli.h"
#include "version.h"

static struct col_ctx *signal_ctx;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_ctx)
		signal_ctx->stopping = 1;
}

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: cipulsed [options] [command]\n"
	    "\n"
	    "The cipulse collector: receives agent reports (gRPC) and GitHub webhooks, polls the\n"
	    "GitHub API, stores runs in PostgreSQL, serves the REST API, /metrics and the\n"
	    "dashboard.\n"
	    "\n"
	    "commands:\n"
	    "  serve                       run the collector (default)\n"
	    "  migrate                     apply database migrations and exit\n"
	    "  token create --kind KIND [--repo owner/name] [--description TEXT]\n"
	    "                              create an API token (kind: ingest, admin, read) and\n"
	    "                              print it; ingest tokens need --repo\n"
	    "  token revoke ID             revoke a token (stored ones; GET /api/v1/tokens?all=true\n"
	    "                              lists their ids)\n"
	    "%s"
	    "  config-doc                  print the settings below as a Markdown table\n"
	    "  config-env                  print the settings below as an env file, all\n"
	    "                              commented out (deploy/.env.example)\n"
	    "  version                     print the version (also --version)\n"
	    "\n"
	    "COMMAND --help prints this text too. serve, migrate, token, user and backfill need\n"
	    "CIPULSE_DATABASE_URL.\n"
	    "\n"
	    "options (each also settable by its environment variable):\n",
	    col_extra_commands_help());
	cm_config_help(out, col_config_opts, col_config_nopts);
}

/*
 * Each HTTP connection holds two descriptors (see http/server.c) besides the database's and
 * gRPC's: take the hard limit rather than a soft default of 1024.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_db(struct col_ctx *ctx, struct col_conn **conn)
{
	int rc = col_db_new(&ctx->db, ctx->cfg->database_url, (int)ctx->cfg->db_pool_size);

	if (rc)
		return rc;
	col_db_set_limits(ctx->db, ctx->cfg->db_statement_timeout_ms, ctx->cfg->db_lock_timeout_ms);
	rc = col_db_acquire(ctx->db, conn, COL_DB_CLI_WAIT_MS);
	if (rc)
		cm_log_error("main", "could not connect to the database (CIPULSE_DATABASE_URL)");
	return rc;
}

static int cmd_migrate(struct col_ctx *ctx)
{
	struct col_conn *conn;
	int applied = 0, rc = open_db(ctx, &conn);

	if (rc)
		return 1;
	rc = col_migrate(conn->pg, &applied);
	col_db_release(ctx->db, conn);
	if (rc) {
		cm_log_error("main", "migration failed: %s", cm_strerror(rc));
		return 1;
	}
	cm_log_info("main", "database schema is current applied=%d", applied);
	return 0;
}

static int cmd_serve(struct col_ctx *ctx)
{
	struct col_ingest *ing = NULL;
	struct col_http *http = NULL;
	struct col_services *svc = NULL;
	struct col_conn *conn;
	struct sigaction sa;
	sigset_t stop_sigs, wait_mask;
	int rc, applied = 0, status = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	signal_ctx = ctx;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	rc = col_db_new(&ctx->db, ctx->cfg->database_url, (int)ctx->cfg->db_pool_size);
	if (rc)
		goto out;
	col_db_set_limits(ctx->db, ctx->cfg->db_statement_timeout_ms, ctx->cfg->db_lock_timeout_ms);
	if (ctx->cfg->migrate_on_start) {
		/* Start-up waits for the database: a collector may come up before PostgreSQL. */
		for (int tries = 0;; tries++) {
			rc = col_db_acquire(ctx->db, &conn, COL_DB_CLI_WAIT_MS);
			if (rc == CM_OK || ctx->stopping || tries >= 30)
				break;
			sleep(1);
		}
		if (rc) {
			cm_log_error("main", "database unreachable at start-up; giving up");
			goto out;
		}
		rc = col_migrate(conn->pg, &applied);
		col_db_release(ctx->db, conn);
		if (rc) {
			cm_log_error("main", "migration failed: %s", cm_strerror(rc));
			goto out;
		}
	}
	/* github visibility is enforced by row-level security: no serving without it. */
	if (col_visibility_on(ctx->cfg)) {
		rc = col_db_acquire(ctx->db, &conn, COL_DB_CLI_WAIT_MS);
		if (!rc) {
			rc = col_visibility_prepare(conn);
			col_db_release(ctx->db, conn);
		}
		if (rc) {
			cm_log_error("main",
				     "CIPULSE_VISIBILITY=github: row-level security not set "
				     "up: %s",
				     cm_strerror(rc));
			goto out;
		}
	}
	col_services_prepare(ctx);
	/*
	 * From here on SIGTERM and SIGINT are blocked in every thread that starts (they inherit
	 * the mask) and taken by sigsuspend below alone: delivered to another thread, pause() here
	 * never woke up and the collector did not stop.
	 */
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_sigs, &wait_mask);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	if (col_libs_init()) {
		cm_log_error("main", "libcurl could not be initialised");
		goto out;
	}
	grpc_init();
	rc = col_ingest_start(ctx, &ing);
	if (rc)
		goto out_grpc;
	col_routes_register();
	rc = col_http_start(ctx, &http);
	if (rc)
		goto out_ingest;
	rc = col_services_start(ctx, &svc);
	if (rc)
		goto out_http;
	cm_log_info("main", "cipulsed %s serving grpc=%s http=%s", CIPULSE_VERSION,
		    ctx->cfg->grpc_addr, ctx->cfg->http_addr);
	while (!ctx->stopping)
		sigsuspend(&wait_mask);
	cm_log_info("main", "shutting down");
	status = 0;
	col_services_stop(svc);
out_http:
	col_http_stop(http);
out_ingest:
	col_ingest_stop(ing, ctx->cfg->shutdown_grace_ms);
out_grpc:
	if (cm_grpc_shutdown(ctx->cfg->shutdown_grace_ms))
		cm_log_warn("main", "gRPC was still shutting down after %ldms; exiting anyway",
			    ctx->cfg->shutdown_grace_ms);
	/* After the HTTP server stopped: its sign-in and visibility handlers use libcurl. */
	col_libs_cleanup();
out:
	return status;
}

/* `cipulsed CMD ... --help`: asking a command for help never runs it. */
static int command_help_asked(int argc, char **argv, int argi)
{
	for (int i = argi + 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
	}
	return 0;
}

/*
 * The commands that work on the database say so before anything else when there is none,
 * rather than try a default that is rarely the operator's.
 */
static int database_missing(const char *cmd, const struct col_config *cfg)
{
	static const char *const need[] = { "serve", "migrate", "token", "backfill", "user" };

	if (cfg->database_url && *cfg->database_url)
		return 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (!strcmp(cmd, need[i])) {
			fprintf(stderr,
				"cipulsed: %s needs a database: set CIPULSE_DATABASE_URL (or "
				"--database-url), e.g. "
				"postgresql://cipulse:PASSWORD@db.example:5432/cipulse\n",
				cmd);
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cm_buf err = CM_BUF_INIT(4096);
	struct col_config cfg;
	struct col_ctx ctx;
	int argi = argc, help = 0, status;
	const char *cmd;

	memset(&ctx, 0, sizeof(ctx));
	if (col_config_load(&cfg, argc, argv, &argi, &help, &err)) {
		fprintf(stderr, "cipulsed: %s\n", cm_buf_str(&err));
		cm_buf_release(&err);
		col_config_release(&cfg);
		return 2;
	}
	cm_buf_release(&err);
	ctx.cfg = &cfg;
	cmd = argi < argc ? argv[argi] : "serve";
	if (help == CM_CONFIG_HELP || !strcmp(cmd, "help") ||
	    command_help_asked(argc, argv, argi)) {
		usage(stdout);
		status = 0;
	} else if (help == CM_CONFIG_VERSION || !strcmp(cmd, "version")) {
		printf("cipulsed %s\n", CIPULSE_VERSION);
		status = 0;
	} else if (!strcmp(cmd, "config-doc")) {
		cm_config_markdown(stdout, col_config_opts, col_config_nopts);
		status = 0;
	} else if (!strcmp(cmd, "config-env")) {
		cm_config_env_file(stdout, col_config_opts, col_config_nopts);
		status = 0;
	} else if (database_missing(cmd, &cfg)) {
		status = 2;
	} else if (!strcmp(cmd, "serve")) {
		status = cmd_serve(&ctx);
	} else if (!strcmp(cmd, "migrate")) {
		status = cmd_migrate(&ctx);
	} else if (!strcmp(cmd, "token")) {
		status = col_token_command(&ctx, argc - argi - 1, argv + argi + 1);
	} else {
		status = col_extra_command(&ctx, cmd, argc - argi - 1, argv + argi + 1);
		if (status < 0) {
			fprintf(stderr, "cipulsed: unknown command \"%s\" (see --help)\n", cmd);
			status = 2;
		}
	}
	col_db_free(ctx.db);
	col_metrics_free();
	col_config_release(&cfg);
	return status;
}
