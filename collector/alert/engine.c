/*
 * Rule evaluation and the channels of the environment. The failure rule itself is SQL
 * (cipulse_alert_eval in sql/004_alerting.sql): it runs inside the transaction that stores the
 * completed run, so the run, the alert and its outbox rows commit together.
 */
#include "alert/alert.h"

#include <stdatomic.h>
#include <stddef.h>

#include "cm_err.h"
#include "cm_log.h"
#include "store/db.h"

/* Milliseconds; the option table's default until configured. */
static _Atomic long max_age_ms = 3600000;

void col_alert_configure(const struct col_config *cfg)
{
	atomic_store(&max_age_ms, cfg->alert_max_age_ms);
}

double col_alert_max_age_s(void)
{
	return (double)atomic_load(&max_age_ms) / 1000.0;
}

/* Upserts one channel of the environment, or disables it when its setting is gone. */
static int env_channel(struct col_conn *c, const char *name, const char *kind, const char *target)
{
	static const char upsert[] =
		"INSERT INTO notification_channels AS t (name, kind, target, origin) "
		"VALUES ($1, $2, $3, 'env') ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, "
		"target = EXCLUDED.target, origin = 'env', enabled = true "
		"WHERE (t.kind, t.target, t.origin, t.enabled) IS DISTINCT FROM "
		"(EXCLUDED.kind, EXCLUDED.target, 'env', true)";
	static const char disable[] =
		"UPDATE notification_channels SET enabled = false "
		"WHERE name = $1 AND origin = 'env' AND enabled";
	const char *params[3] = { name, kind, target };
	PGresult *res;
	int rc = CM_OK;

	if (target && *target)
		res = PQexecParams(c->pg, upsert, 3, NULL, params, NULL, NULL, 0);
	else
		res = PQexecParams(c->pg, disable, 1, NULL, params, NULL, NULL, 0);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		cm_log_error("alert", "could not set up channel name=%s: %s", name,
			     PQresultErrorMessage(res));
	} else if (target && *target) {
		cm_log_info("alert", "channel from the environment name=%s kind=%s", name, kind);
	}
	PQclear(res);
	return rc;
}

int col_alert_env_channels(struct col_ctx *ctx)
{
	const struct col_config *cfg = ctx->cfg;
	const char *email_to = cfg->smtp_url && *cfg->smtp_url ? cfg->alert_email_to : NULL;
	struct col_conn *c;
	int rc;

	rc = col_db_acquire(ctx->db, &c, 5000);
	if (rc)
		return rc;
	rc = env_channel(c, "env-slack", "slack", cfg->slack_webhook_url);
	if (!rc)
		rc = env_channel(c, "env-teams", "teams", cfg->teams_webhook_url);
	if (!rc)
		rc = env_channel(c, "env-email", "email", email_to);
	col_db_release(ctx->db, c);
	return rc;
}
