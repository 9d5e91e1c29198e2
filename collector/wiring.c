#include "wiring.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "cm_err.h"
#include "cm_log.h"
#include <curl/curl.h>

#include "alert/alert.h"
#include "api/probes.h"
#include "core/healthcheck.h"
#include "github/app.h"
#include "github/backfill.h"
#include "github/poller.h"
#include "store/lease.h"
#include "store/auth.h"
#include "store/auth_cli.h"
#include "store/retention.h"
#include "github/webhook.h"

struct col_services {
	struct col_outbox *outbox;
	struct col_alert_sweep *sweep;
	struct col_poller *poller;
	struct col_retention *retention;
	struct col_lease *leader;
};

void col_routes_register(void)
{
	col_health_http_routes();
	col_api_routes();
	col_webhook_routes();
}

void col_services_prepare(struct col_ctx *ctx)
{
	int rc;

	col_alert_configure(ctx->cfg);
	rc = col_alert_env_channels(ctx);
	/* Not fatal: the collector also serves while the database is away. */
	if (rc)
		cm_log_warn("main", "alert channels from the environment not set up: %s",
			    cm_strerror(rc));
	/*
	 * Learn now whether user accounts exist (store/auth.h): anonymous reads (/metrics too)
	 * then keep their answer through a later database outage instead of failing closed.
	 */
	(void)col_auth_anonymous_read(ctx->cfg, ctx->db);
}

int col_services_start(struct col_ctx *ctx, struct col_services **out)
{
	struct col_services *svc = calloc(1, sizeof(*svc));
	int rc;

	if (!svc)
		return CM_ENOMEM;
	/* Not fatal: without its group, each delivery is written on its own (github/webhook.h). */
	col_webhook_start(ctx);
	/* First: the poller and the retention sweep ask at once whether this one leads. */
	rc = col_lease_start(ctx, "leader", &ctx->leader_until, &svc->leader);
	if (rc)
		goto fail_lease_start;
	rc = col_outbox_start(ctx, &svc->outbox);
	if (rc)
		goto fail_lease;
	rc = col_poller_start(ctx, &svc->poller);
	if (rc)
		goto fail_outbox;
	rc = col_retention_start(ctx, &svc->retention);
	if (rc)
		goto fail_poller;
	rc = col_alert_sweep_start(ctx, &svc->sweep);
	if (rc)
		goto fail_retention;
	*out = svc;
	return CM_OK;
fail_retention:
	col_retention_stop(svc->retention);
fail_poller:
	col_poller_stop(svc->poller);
fail_outbox:
	col_outbox_stop(svc->outbox);
fail_lease:
	col_lease_stop(svc->leader);
fail_lease_start:
	col_webhook_stop();
	free(svc);
	return rc;
}

void col_services_stop(struct col_services *svc)
{
	if (!svc)
		return;
	/* First: the deliveries waiting for a batch are written while everything else runs. */
	col_webhook_stop();
	col_alert_sweep_stop(svc->sweep);
	col_retention_stop(svc->retention);
	col_poller_stop(svc->poller);
	col_outbox_stop(svc->outbox);
	/* Last, after the duties it covers: another collector takes them on at once. */
	col_lease_stop(svc->leader);
	free(svc);
}

int col_libs_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) ? CM_EIO : CM_OK;
}

void col_libs_cleanup(void)
{
	curl_global_cleanup();
}

int col_extra_command(struct col_ctx *ctx, const char *cmd, int argc, char **argv)
{
	if (!strcmp(cmd, "backfill")) {
		col_alert_configure(ctx->cfg);
		return col_backfill_command(ctx, argc, argv);
	}
	if (!strcmp(cmd, "health"))
		return col_healthcheck_command(ctx, argc, argv);
	if (!strcmp(cmd, "user"))
		return col_user_command(ctx, argc, argv);
	if (!strcmp(cmd, "github-app"))
		return col_gh_app_command(argc, argv);
	return -1;
}

const char *col_extra_commands_help(void)
{
	return "  backfill --repo owner/name [--days N]\n"
	       "                              import the last N days (default 30) of runs and\n"
	       "                              jobs from the GitHub API; resumable\n"
	       "  github-app manifest --url URL [--name NAME] [--org ORG]\n"
	       "                              print the GitHub App manifest for this collector\n"
	       "                              (permissions, events, webhook URL)\n" COL_HEALTHCHECK_HELP
		   COL_USER_HELP;
}
