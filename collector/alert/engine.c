/*
 * Rule evaluation and the channels of the environment. The rules themselves are SQL
 * (cipulse_alert_eval in sql/004_alerting.sql and sql/005_window_rules.sql): they run inside the
 * transaction that stores the completed run, so the run, the alert and its outbox rows commit
 * together; the window rules (regression, slow_build) are also re-evaluated by a periodic sweep.
 */
#include "alert/alert.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/message.h"
#include "alert/notify.h"
#include "cm_err.h"
#include "cm_log.h"
#include "core/ticker.h"
#include "store/db.h"
#include "store/lease.h"

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
	static const char disable[] = "UPDATE notification_channels SET enabled = false "
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

int col_alert_send_test(struct col_ctx *ctx, const char *name, struct col_notify_result *res)
{
	const char *params[1] = { name };
	const struct col_notifier *nt;
	struct col_alert_msg msg;
	struct col_channel ch;
	struct col_conn *c;
	PGresult *r;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = col_db_acquire(ctx->db, &c, 5000);
	if (rc)
		return rc;
	r = PQexecParams(c->pg,
			 "SELECT id, name, kind, target, secret FROM notification_channels "
			 "WHERE name = $1",
			 1, NULL, params, NULL, NULL, 0);
	if (!col_db_ok(r)) {
		rc = col_db_error(c->pg, r);
		goto out;
	}
	if (PQntuples(r) != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	ch.id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	ch.name = PQgetvalue(r, 0, 1);
	ch.kind = PQgetvalue(r, 0, 2);
	ch.target = PQgetvalue(r, 0, 3);
	ch.secret = PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4);
	nt = col_notifier_find(ch.kind);
	if (!nt) {
		rc = CM_EINVAL;
		goto out;
	}
	/* The connection goes back before the receiver is waited for. */
	col_db_release(ctx->db, c);
	c = NULL;
	col_alert_msg_test(&msg, ctx->cfg);
	rc = nt->send(ctx->cfg, &ch, &msg, res);
	col_alert_msg_release(&msg);
	cm_log_info("alert", "test message channel=%s result=%s status=%ld", ch.name,
		    rc ? "failed" : "sent", res->status);
out:
	PQclear(r);
	if (c)
		col_db_release(ctx->db, c);
	return rc;
}

int col_alert_prom_render(struct col_ctx *ctx, struct cm_buf *out)
{
	static const char sql[] =
	    "SELECT (SELECT count(*) FROM notifications WHERE state = 'pending'), "
	    "(SELECT COALESCE(extract(epoch FROM now() - min(created_at)), 0) FROM notifications "
	    " WHERE state = 'pending'), k.kind, "
	    "(SELECT count(*) FROM alerts a WHERE a.state = 'open' AND a.kind = k.kind) "
	    "FROM unnest(ARRAY['failure', 'flapping', 'regression', 'slow_build']) AS k(kind)";
	struct col_conn *c;
	PGresult *r;
	int rc;

	rc = col_db_acquire(ctx->db, &c, 2000);
	if (rc)
		return rc;
	r = PQexec(c->pg, sql);
	if (!col_db_ok(r) || PQntuples(r) < 1) {
		rc = col_db_error(c->pg, r);
		cm_log_warn("alert", "alert metrics query failed: %s", PQresultErrorMessage(r));
		goto out;
	}
	rc = cm_buf_addf(
	    out,
	    "# HELP cipulse_notifications_pending Notifications waiting in the outbox.\n"
	    "# TYPE cipulse_notifications_pending gauge\n"
	    "cipulse_notifications_pending %s\n"
	    "# HELP cipulse_notifications_oldest_pending_seconds Age of the oldest "
	    "notification waiting in the outbox.\n"
	    "# TYPE cipulse_notifications_oldest_pending_seconds gauge\n"
	    "cipulse_notifications_oldest_pending_seconds %s\n"
	    "# HELP cipulse_alerts_open Alerts open, by kind.\n"
	    "# TYPE cipulse_alerts_open gauge\n",
	    PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	for (int i = 0; !rc && i < PQntuples(r); i++)
		rc = cm_buf_addf(out, "cipulse_alerts_open{kind=\"%s\"} %s\n", PQgetvalue(r, i, 2),
				 PQgetvalue(r, i, 3));
out:
	PQclear(r);
	col_db_release(ctx->db, c);
	return rc;
}

struct col_alert_sweep {
	struct col_ctx *ctx;
	struct col_ticker *ticker;
};

int col_alert_sweep_once(struct col_ctx *ctx, long *queued)
{
	struct col_conn *c;
	PGresult *res;
	int rc;

	*queued = 0;
	/* One collector of several sweeps (store/lease.h); -1: not this one's turn. */
	rc = col_duty_begin(ctx, COL_DUTY_ALERT_SWEEP, &c);
	if (rc == CM_ECONFLICT) {
		*queued = -1;
		return CM_OK;
	}
	if (rc)
		return rc;
	res = col_db_query(c, "alert sweep", "SELECT cipulse_alert_sweep()", 0, NULL, &rc);
	if (res)
		*queued = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	col_duty_end(ctx, COL_DUTY_ALERT_SWEEP, c);
	return rc;
}

static void sweep_tick(void *arg)
{
	struct col_alert_sweep *s = arg;
	long queued;

	if (col_alert_sweep_once(s->ctx, &queued) != CM_OK)
		return;
	if (queued > 0)
		cm_log_info("alert", "window rules swept queued=%ld", queued);
}

int col_alert_sweep_start(struct col_ctx *ctx, struct col_alert_sweep **out)
{
	struct col_alert_sweep *s = calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return CM_ENOMEM;
	s->ctx = ctx;
	rc = col_ticker_start("alert-sweep", ctx->cfg->alert_sweep_interval_ms, sweep_tick, s,
			      &s->ticker);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return CM_OK;
}

void col_alert_sweep_stop(struct col_alert_sweep *s)
{
	if (!s)
		return;
	col_ticker_stop(s->ticker);
	free(s);
}
