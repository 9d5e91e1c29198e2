/*
 * cipulse.v1.Collector/Report: an agent streams its report in messages; the token is checked
 * first (by a worker), the header right after it arrives, the whole report on half-close, and
 * a worker writes it in one transaction before the ack goes out (server.c drives the calls).
 * Every report being received is charged for the memory it holds against one budget.
 */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cipulse/v1/collector.pb-c.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/status.h"
#include "ingest/ingest_int.h"
#include "store/db.h"
#include "store/store.h"
#include "store/auth.h"
#include "store/tokens.h"

/*
 * Charged for a message before it is copied and decoded, per wire byte: the copy, and about
 * twice the wire size decoded (the assembly's own decode budget uses the same factor). The
 * charge is settled to what the assembly really holds right after.
 */
#define CHARGE_PER_WIRE_BYTE 3

/* ---- memory of reports in flight ---------------------------------------------------------- */

/*
 * Grows the call's charge by n bytes, unless that takes the total past the budget while other
 * calls hold memory too: CM_EUNAVAIL then. A report alone is always let through (its own size
 * is bounded by max_report_bytes, and the settings keep that under the budget), so that big
 * reports cannot be starved forever by a budget they could never fit in.
 */
static int charge_grow(struct call *c, size_t n)
{
	struct col_ingest *ing = c->ing;
	size_t cur = atomic_load(&ing->inflight);

	do {
		if (cur > c->charged && (n > ing->inflight_max || cur > ing->inflight_max - n))
			return CM_EUNAVAIL;
	} while (!atomic_compare_exchange_weak(&ing->inflight, &cur, cur + n));
	c->charged += n;
	return CM_OK;
}

/*
 * Sets the call's charge to what it really holds. No check against the budget: the memory is
 * held already, and the call's next message will be refused if the total is over.
 */
static void charge_settle(struct call *c, size_t held)
{
	struct col_ingest *ing = c->ing;

	if (held > c->charged)
		atomic_fetch_add(&ing->inflight, held - c->charged);
	else
		atomic_fetch_sub(&ing->inflight, c->charged - held);
	c->charged = held;
}

/* What a report call holds: its assembly and its message buffer. */
static size_t report_held(const struct call *c)
{
	return col_assembly_mem(&c->as) + c->msg.cap;
}

/*
 * Frees what a report call holds and gives its charge back, as soon as the call needs it no
 * more (refused, acknowledged, broken): a slow client reading its status must not keep memory
 * other reports could use.
 */
void ing_report_free(struct call *c)
{
	c->report = NULL;
	col_assembly_release(&c->as);
	cm_buf_release(&c->msg);
	charge_settle(c, 0);
}

/* ---- Report ------------------------------------------------------------------------------- */

static void report_refused(struct call *c, struct col_metric *m, grpc_status_code status,
			   const char *msg)
{
	col_metric_inc(m);
	/* The message names a field or a limit, never a token or the report's content. */
	cm_log_info("ingest", "report refused status=%d reason=\"%s\"", (int)status, msg);
	ing_finish(c, status, msg);
}

/* The status of an error code (core/status.h), and the metric that counts it. */
static grpc_status_code status_of(int rc, struct col_ingest *ing, struct col_metric **m)
{
	grpc_status_code st = (grpc_status_code)col_status_of(rc)->grpc;

	switch (st) {
	case GRPC_STATUS_INVALID_ARGUMENT:
		*m = ing->m_invalid;
		break;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		*m = ing->m_too_big;
		break;
	case GRPC_STATUS_UNAUTHENTICATED:
		*m = ing->m_unauth;
		break;
	case GRPC_STATUS_PERMISSION_DENIED:
		*m = ing->m_denied;
		break;
	case GRPC_STATUS_UNAVAILABLE:
		*m = ing->m_unavailable;
		break;
	default:
		*m = ing->m_error;
	}
	return st;
}

char *ing_bearer_token(const grpc_metadata_array *md)
{
	char token[COL_BEARER_MAX + 1];
	char *out = NULL;

	for (size_t i = 0; i < md->count; i++) {
		const grpc_slice *v = &md->metadata[i].value;

		if (grpc_slice_str_cmp(md->metadata[i].key, "authorization"))
			continue;
		if (col_bearer_parse((const char *)GRPC_SLICE_START_PTR(*v), GRPC_SLICE_LENGTH(*v),
				     token, sizeof(token)) == CM_OK)
			out = strdup(token);
		break;
	}
	memset(token, 0, sizeof(token));
	return out;
}

void ing_report_begin(struct call *c)
{
	struct col_ingest *ing = c->ing;

	c->kind = CALL_REPORT;
	pthread_mutex_lock(&ing->lock);
	ing->reports_live++;
	pthread_mutex_unlock(&ing->lock);
	c->token = ing_bearer_token(&c->md);
	if (!c->token) {
		report_refused(c, ing->m_unauth, GRPC_STATUS_UNAUTHENTICATED,
			       "missing authorization: Bearer token");
		return;
	}
	ing_enqueue(c, JOB_AUTH);
}

/* Worker: is the token one we know? Then start receiving. */
void ing_report_auth(struct call *c)
{
	struct col_ingest *ing = c->ing;
	struct col_metric *m;
	int rc = col_auth_check(ing->ctx->cfg, ing->ctx->db, c->token, COL_TOKEN_INGEST, &c->tok);

	memset(c->token, 0, strlen(c->token));
	free(c->token);
	c->token = NULL;
	if (rc == CM_OK && col_token_cred(&c->tok, &c->cred)) {
		report_refused(c, ing->m_denied, GRPC_STATUS_PERMISSION_DENIED,
			       "the token may not send reports");
		return;
	}
	switch (rc) {
	case CM_OK:
		ing_start_recv(c);
		return;
	case CM_EAUTH:
		report_refused(c, ing->m_unauth, GRPC_STATUS_UNAUTHENTICATED,
			       "unknown or revoked token");
		return;
	case CM_EDENIED:
		report_refused(c, ing->m_denied, GRPC_STATUS_PERMISSION_DENIED,
			       "the token may not report");
		return;
	default:
		status_of(CM_EUNAVAIL, ing, &m);
		report_refused(c, m, GRPC_STATUS_UNAVAILABLE, "database unavailable, retry later");
	}
}

/* Poller: one message of the stream arrived (or the client half-closed). */
void ing_report_recv(struct call *c, int ok)
{
	struct col_ingest *ing = c->ing;
	grpc_byte_buffer *bb = c->recv_bb;
	int had_header = col_assembly_header(&c->as) != NULL;
	struct col_metric *m;
	grpc_status_code st;
	int rc;

	c->recv_bb = NULL;
	/*
	 * A failed receive is a broken or cancelled call. A cancelled call (client gone, agent
	 * killed, server cancelling) also "succeeds" with no message, just like a half-close:
	 * only grpc_call_failed_before_recv_message tells them apart. Never commit then, or a
	 * report cut short would be stored (and its complete retry ignored as a duplicate).
	 */
	if (!ok || atomic_load(&ing->cancelling) ||
	    (!bb && grpc_call_failed_before_recv_message(c->call))) {
		if (bb)
			grpc_byte_buffer_destroy(bb);
		/* A late call was counted when the poller cancelled it. */
		if (!c->timed_out)
			col_metric_inc(ing->m_error);
		ing_report_free(c);
		return;
	}
	if (!bb) {
		/* The client is done; the database's time is not its fault. */
		ing_deadline_clear(c);
		rc = col_assembly_finish(&c->as, "agent", &c->report);
		if (rc) {
			st = status_of(rc, ing, &m);
			report_refused(c, m, st, col_assembly_error(&c->as));
			return;
		}
		ing_enqueue(c, JOB_WRITE);
		return;
	}
	/* gRPC bounds the message at max_message_bytes: the product cannot overflow. */
	if (charge_grow(c, CHARGE_PER_WIRE_BYTE * grpc_byte_buffer_length(bb))) {
		grpc_byte_buffer_destroy(bb);
		report_refused(c, ing->m_busy, GRPC_STATUS_UNAVAILABLE,
			       "collector busy: too many reports in flight, retry later");
		return;
	}
	rc = cm_grpc_bb_read(bb, &c->msg);
	grpc_byte_buffer_destroy(bb);
	col_metric_add(ing->m_bytes, (double)c->msg.len);
	if (rc) {
		report_refused(c, ing->m_too_big, GRPC_STATUS_RESOURCE_EXHAUSTED,
			       "message larger than the limit");
		return;
	}
	rc = col_assembly_add(&c->as, (const uint8_t *)c->msg.data, c->msg.len);
	charge_settle(c, report_held(c));
	if (rc) {
		st = status_of(rc, ing, &m);
		report_refused(c, m, st, col_assembly_error(&c->as));
		return;
	}
	/* Right after the header: refuse a report for another repository before reading more. */
	if (!had_header && col_assembly_allowed(&c->cred, col_assembly_header(&c->as))) {
		report_refused(c, ing->m_denied, GRPC_STATUS_PERMISSION_DENIED,
			       "the token may not report for this repository");
		return;
	}
	ing_start_recv(c);
}

/* Worker: the whole report is here and valid; store it and answer. */
void ing_report_write(struct call *c)
{
	struct col_ingest *ing = c->ing;
	Cipulse__V1__ReportAck ack = CIPULSE__V1__REPORT_ACK__INIT;
	struct col_report report = *c->report;
	struct col_store_result res = { 0 };
	struct col_metric *m;
	struct col_conn *conn;
	grpc_status_code st;
	int rc = CM_OK;

	/* Past the grace period the call is being cancelled: its client will not see an ack. */
	if (atomic_load(&ing->cancelling))
		return;
	report.cred = &c->cred;
	rc = col_db_acquire(ing->ctx->db, &conn, COL_DB_WAIT_MS);
	if (!rc) {
		rc = col_store_put_report(conn, &report, &res);
		col_db_release(ing->ctx->db, conn);
	}
	if (rc) {
		st = status_of(rc, ing, &m);
		report_refused(c, m, st,
			       rc == CM_EDENIED		       ? res.why
			       : st == GRPC_STATUS_UNAVAILABLE ? "database unavailable, retry later"
			       : st == GRPC_STATUS_INVALID_ARGUMENT
				   ? "the database rejected the report"
				   : "could not store the report");
		return;
	}
	ack.report_id = c->report->header->report_id;
	ack.duplicate = res.duplicate;
	ack.jobs = res.jobs;
	ack.steps = res.steps;
	ack.logs = res.logs;
	ack.tests = res.tests;
	if (ing_set_send(c, &ack.base)) {
		ing_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	col_metric_inc(res.duplicate ? ing->m_duplicate : ing->m_ok);
	col_metric_observe(ing->m_latency, (double)(cm_time_mono_ms() - c->started_ms) / 1000.0);
	cm_log_debug("ingest",
		     "report stored repo_id=%lld run_id=%lld attempt=%d jobs=%d steps=%d "
		     "logs=%d tests=%d duplicate=%d",
		     (long long)c->report->header->repository->id,
		     (long long)c->report->header->run->id, (int)c->report->header->run->attempt,
		     res.jobs, res.steps, res.logs, res.tests, res.duplicate);
	ing_finish(c, GRPC_STATUS_OK, NULL);
}
