/*
 * The sender: threads (core/ticker.h) that deliver the notification outbox.
 *
 * A listener thread holds its own connection with LISTEN cipulse_outbox (sql/004_alerting.sql
 * notifies on every insert, at commit) and wakes the senders at once. Each sender claims the
 * oldest due message whose channel has nothing older pending (FOR UPDATE SKIP LOCKED, then a
 * lease), delivers it without holding a database connection, and records the outcome: sent, or
 * a retry after exponential back-off with jitter (or the receiver's Retry-After), or failed for
 * a permanent error or after CIPULSE_NOTIFY_GIVE_UP. A channel's messages thus go one at a time
 * and in order, while a slow or dead channel holds up only its own.
 */
#include "alert/alert.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/message.h"
#include "alert/notify.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/ticker.h"
#include "store/db.h"

#define MAX_SENDERS 64
/* Longest sleep when nothing is due (a safety net; new messages wake the senders at once). */
#define IDLE_WAIT_MS 30000
/* First retry after about this long; doubles per attempt up to CIPULSE_NOTIFY_BACKOFF_MAX. */
#define BACKOFF_BASE_MS 1000

/* Messages one tick delivers at most before the ticker checks whether it is being stopped. */
#define BATCH 16

struct sender {
	struct col_outbox *o;
	struct col_ticker *ticker;
	unsigned seed;
};

struct col_outbox {
	struct col_ctx *ctx;
	struct col_ticker *listener;
	PGconn *pg; /* the listener's own connection (LISTEN cipulse_outbox) */
	struct sender senders[MAX_SENDERS];
	int nsenders;
};

struct claimed {
	int64_t id;
	int64_t alert_id; /* 0: a test message */
	int64_t channel_id;
	char event[16];
	int64_t run_id;
	int run_attempt;
	int attempts;
	char *name, *kind, *target, *secret;
};

static void claimed_release(struct claimed *m)
{
	free(m->name);
	free(m->kind);
	free(m->target);
	free(m->secret);
}

static void wake_all(struct col_outbox *o)
{
	for (int i = 0; i < o->nsenders; i++)
		col_ticker_wake(o->senders[i].ticker);
}

/* ---- the listener ---- */

/* One round of the listener: (re)connect when needed, then wait up to 250 ms for a NOTIFY. */
static void listen_tick(void *arg)
{
	struct col_outbox *o = arg;
	const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *vals[] = { o->ctx->cfg->database_url, "5", "cipulsed-outbox", NULL };
	struct pollfd pfd;
	PGnotify *n;
	int got = 0;

	if (!o->pg || PQstatus(o->pg) != CONNECTION_OK) {
		if (o->pg)
			PQfinish(o->pg);
		o->pg = PQconnectdbParams(keys, vals, 1);
		if (PQstatus(o->pg) != CONNECTION_OK ||
		    col_db_exec(o->pg, "LISTEN cipulse_outbox")) {
			PQfinish(o->pg);
			o->pg = NULL;
			/* Meanwhile the senders' own timers keep messages moving. */
			col_ticker_next(o->listener, 1000);
			return;
		}
		/* Whatever was queued while nobody listened. */
		wake_all(o);
	}
	pfd.fd = PQsocket(o->pg);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, 250) < 0 && errno != EINTR)
		return;
	if (!PQconsumeInput(o->pg))
		return; /* reconnects on the next round */
	while ((n = PQnotifies(o->pg))) {
		got = 1;
		PQfreemem(n);
	}
	if (got)
		wake_all(o);
}

/* ---- claiming and recording ---- */

static int claim(struct col_outbox *o, struct col_conn *c, struct claimed *m, long *next_ms)
{
	static const char sql[] =
	    "WITH due AS (SELECT n.id FROM notifications n "
	    "  WHERE n.state = 'pending' AND n.next_attempt_at <= now() "
	    "  AND (n.leased_until IS NULL OR n.leased_until < now()) "
	    "  AND NOT EXISTS (SELECT 1 FROM notifications o WHERE o.channel_id = n.channel_id "
	    "    AND o.state = 'pending' AND o.id < n.id) "
	    "  ORDER BY n.next_attempt_at, n.id LIMIT 1 FOR UPDATE SKIP LOCKED) "
	    "UPDATE notifications n SET attempts = n.attempts + 1, "
	    "  leased_until = now() + make_interval(secs => $1::double precision) "
	    "FROM due, notification_channels ch WHERE n.id = due.id AND ch.id = n.channel_id "
	    "RETURNING n.id, n.alert_id, n.channel_id, n.event, "
	    "  COALESCE((n.payload ->> 'run_id')::bigint, 0), "
	    "  COALESCE((n.payload ->> 'run_attempt')::integer, 0), n.attempts, ch.name, ch.kind, "
	    "  ch.target, ch.secret";
	static const char next_sql[] =
	    "SELECT floor(extract(epoch FROM min(GREATEST(next_attempt_at, "
	    "  COALESCE(leased_until, next_attempt_at))) - now()) * 1000)::bigint "
	    "FROM notifications WHERE state = 'pending'";
	char lease[32];
	const char *p[1] = { lease };
	PGresult *res;
	int rc = CM_OK;

	/* The lease outlasts one attempt: a sender that dies mid-send hands the message on then. */
	snprintf(lease, sizeof(lease), "%ld", o->ctx->cfg->notify_timeout_ms / 1000 + 30);
	res = PQexecParams(c->pg, sql, 1, NULL, p, NULL, NULL, 0);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		cm_log_warn("outbox", "could not claim a notification: %s",
			    PQresultErrorMessage(res));
		PQclear(res);
		return rc;
	}
	if (PQntuples(res) == 1) {
		m->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		m->alert_id = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		m->channel_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		snprintf(m->event, sizeof(m->event), "%s", PQgetvalue(res, 0, 3));
		m->run_id = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
		m->run_attempt = (int)strtol(PQgetvalue(res, 0, 5), NULL, 10);
		m->attempts = (int)strtol(PQgetvalue(res, 0, 6), NULL, 10);
		m->name = strdup(PQgetvalue(res, 0, 7));
		m->kind = strdup(PQgetvalue(res, 0, 8));
		m->target = strdup(PQgetvalue(res, 0, 9));
		m->secret = PQgetisnull(res, 0, 10) ? NULL : strdup(PQgetvalue(res, 0, 10));
		PQclear(res);
		if (!m->name || !m->kind || !m->target)
			return CM_ENOMEM;
		return 1;
	}
	PQclear(res);
	res = PQexec(c->pg, next_sql);
	*next_ms = IDLE_WAIT_MS;
	if (col_db_ok(res) && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		long ms = strtol(PQgetvalue(res, 0, 0), NULL, 10);

		*next_ms = ms < 0 ? 0 : ms < IDLE_WAIT_MS ? ms : IDLE_WAIT_MS;
	}
	PQclear(res);
	return CM_OK;
}

/* Exponential back-off with jitter: a random time in [d/2, d], d = base * 2^(attempts-1). */
static long backoff_ms(const struct col_config *cfg, int attempts, unsigned *seed)
{
	long d = BACKOFF_BASE_MS;

	for (int i = 1; i < attempts && d < cfg->notify_backoff_max_ms; i++)
		d *= 2;
	if (d > cfg->notify_backoff_max_ms)
		d = cfg->notify_backoff_max_ms;
	return d / 2 + (long)(rand_r(seed) % (unsigned)(d / 2 + 1));
}

static int record(struct col_conn *c, const struct col_config *cfg, const struct claimed *m,
		  int outcome, const struct col_notify_result *res, long retry_ms)
{
	static const char sent_sql[] =
	    "UPDATE notifications SET state = 'sent', sent_at = now(), leased_until = NULL, "
	    "last_status = NULLIF($2::integer, 0), last_error = NULL WHERE id = $1";
	static const char retry_sql[] =
	    "UPDATE notifications SET leased_until = NULL, last_status = NULLIF($2::integer, 0), "
	    "last_error = $3, next_attempt_at = now() + make_interval(secs => $4::double precision), "
	    "state = CASE WHEN now() + make_interval(secs => $4::double precision) > created_at + "
	    "  make_interval(secs => $5::double precision) THEN 'failed' ELSE 'pending' END "
	    "WHERE id = $1 RETURNING state";
	static const char failed_sql[] =
	    "UPDATE notifications SET state = 'failed', leased_until = NULL, "
	    "last_status = NULLIF($2::integer, 0), last_error = $3 WHERE id = $1";
	char id[24], status[24], retry[32], giveup[32];
	const char *p[5] = { id, status, res->error, retry, giveup };
	PGresult *r;
	int rc = CM_OK;

	snprintf(id, sizeof(id), "%lld", (long long)m->id);
	snprintf(status, sizeof(status), "%ld", res->status);
	snprintf(retry, sizeof(retry), "%.3f", (double)retry_ms / 1000.0);
	snprintf(giveup, sizeof(giveup), "%.3f", (double)cfg->notify_give_up_ms / 1000.0);
	if (outcome == CM_OK)
		r = PQexecParams(c->pg, sent_sql, 2, NULL, p, NULL, NULL, 0);
	else if (outcome == CM_EUNAVAIL)
		r = PQexecParams(c->pg, retry_sql, 5, NULL, p, NULL, NULL, 0);
	else
		r = PQexecParams(c->pg, failed_sql, 3, NULL, p, NULL, NULL, 0);
	if (!col_db_ok(r)) {
		rc = col_db_error(c->pg, r);
		cm_log_warn("outbox", "could not record a delivery id=%lld: %s", (long long)m->id,
			    PQresultErrorMessage(r));
	} else if (outcome == CM_EUNAVAIL && PQntuples(r) == 1 &&
		   !strcmp(PQgetvalue(r, 0, 0), "failed")) {
		cm_log_warn("outbox", "notification given up id=%lld channel=%s attempts=%d",
			    (long long)m->id, m->name, m->attempts);
	}
	PQclear(r);
	return rc;
}

static struct col_metric *result_metric(const char *kind, const char *result)
{
	char labels[96];

	/* Registered once per series; the registry hands back the same one afterwards. */
	snprintf(labels, sizeof(labels), "kind=\"%s\",result=\"%s\"", kind, result);
	return col_metric_counter("cipulse_notifications_total", labels,
				  "Notification delivery attempts by channel kind and result.");
}

/* Delivers one claimed message; returns the outcome for record(). */
static int deliver(struct col_outbox *o, struct col_conn *c, const struct claimed *m,
		   struct col_notify_result *res)
{
	const struct col_config *cfg = o->ctx->cfg;
	const struct col_notifier *nt = col_notifier_find(m->kind);
	struct col_channel ch = { m->channel_id, m->name, m->kind, m->target, m->secret };
	struct col_alert_msg msg;
	int rc;

	memset(res, 0, sizeof(*res));
	if (!nt) {
		snprintf(res->error, sizeof(res->error), "unknown channel kind");
		return CM_EINVAL;
	}
	if (m->alert_id) {
		rc = col_alert_msg_load(c, cfg, m->alert_id, m->event, m->run_id, m->run_attempt,
					&msg);
	} else {
		col_alert_msg_test(&msg, cfg);
		rc = CM_OK;
	}
	if (rc == CM_ENOTFOUND) {
		snprintf(res->error, sizeof(res->error), "alert deleted");
		return CM_EINVAL;
	}
	if (rc) {
		snprintf(res->error, sizeof(res->error), "could not read the alert: %s",
			 cm_strerror(rc));
		return CM_EUNAVAIL;
	}
	rc = nt->send(cfg, &ch, &msg, res);
	col_alert_msg_release(&msg);
	return rc;
}

/* Delivers one claimed message and records the outcome. */
static void handle(struct sender *s, struct claimed *m)
{
	struct col_outbox *o = s->o;
	const struct col_config *cfg = o->ctx->cfg;
	struct col_notify_result res;
	struct col_conn *c;
	long retry_ms = 0;
	int outcome;

	/* The connection goes back to the pool while the receiver takes its time. */
	if (col_db_acquire(o->ctx->db, &c, 5000) == CM_OK) {
		outcome = deliver(o, c, m, &res);
		col_db_release(o->ctx->db, c);
	} else {
		memset(&res, 0, sizeof(res));
		snprintf(res.error, sizeof(res.error), "database unavailable");
		outcome = CM_EUNAVAIL;
	}
	if (outcome == CM_EUNAVAIL) {
		retry_ms = backoff_ms(cfg, m->attempts, &s->seed);
		if (res.retry_after_s > 0)
			retry_ms = res.retry_after_s * 1000;
	}
	col_metric_inc(result_metric(m->kind, outcome == CM_OK	       ? "sent"
					      : outcome == CM_EUNAVAIL ? "retry"
								       : "failed"));
	if (outcome == CM_OK)
		cm_log_info("outbox",
			    "notification sent id=%lld channel=%s event=%s attempts=%d "
			    "status=%ld",
			    (long long)m->id, m->name, m->event, m->attempts, res.status);
	else
		cm_log_warn("outbox",
			    "notification not delivered id=%lld channel=%s attempts=%d "
			    "retry_ms=%ld error=\"%s\"",
			    (long long)m->id, m->name, m->attempts,
			    outcome == CM_EUNAVAIL ? retry_ms : -1, res.error);
	if (col_db_acquire(o->ctx->db, &c, 5000) == CM_OK) {
		record(c, cfg, m, outcome, &res, retry_ms);
		col_db_release(o->ctx->db, c);
	}
}

/*
 * One round of a sender: delivers what is due (up to BATCH messages), then sleeps until the next
 * message is due, or a NOTIFY wakes it (col_ticker_wake).
 */
static void sender_tick(void *arg)
{
	struct sender *s = arg;
	struct col_outbox *o = s->o;
	long next_ms = IDLE_WAIT_MS;
	int i;

	for (i = 0; i < BATCH; i++) {
		struct claimed m = { .id = 0 };
		struct col_conn *c;
		int rc = col_db_acquire(o->ctx->db, &c, 5000);

		if (rc == CM_OK) {
			rc = claim(o, c, &m, &next_ms);
			col_db_release(o->ctx->db, c);
		}
		if (rc == 1)
			handle(s, &m);
		claimed_release(&m);
		if (rc < 0)
			next_ms = 1000; /* the database is away: try again soon */
		if (rc != 1)
			break;
	}
	col_ticker_next(s->ticker, i == BATCH ? 0 : next_ms);
}

int col_outbox_start(struct col_ctx *ctx, struct col_outbox **out)
{
	struct col_outbox *o = calloc(1, sizeof(*o));
	long n = ctx->cfg->notify_senders;

	if (!o)
		return CM_ENOMEM;
	o->ctx = ctx;
	if (n > MAX_SENDERS)
		n = MAX_SENDERS;
	for (long i = 0; i < n; i++) {
		struct sender *s = &o->senders[i];

		s->o = o;
		s->seed = (unsigned)cm_time_mono_ms() ^ (unsigned)(i * 2654435761u);
		if (col_ticker_start("outbox-send", IDLE_WAIT_MS, sender_tick, s, &s->ticker))
			goto fail;
		o->nsenders++;
	}
	/* Last: it wakes the senders. */
	if (col_ticker_start("outbox-listen", 0, listen_tick, o, &o->listener))
		goto fail;
	*out = o;
	return CM_OK;
fail:
	col_outbox_stop(o);
	return CM_ENOMEM;
}

void col_outbox_stop(struct col_outbox *o)
{
	if (!o)
		return;
	col_ticker_stop(o->listener);
	for (int i = 0; i < o->nsenders; i++)
		col_ticker_stop(o->senders[i].ticker);
	if (o->pg)
		PQfinish(o->pg);
	free(o);
}
