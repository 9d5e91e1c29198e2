/*
 * The gRPC server (gRPC core C API): the completion queue, accepting calls, the work queue,
 * the time limit, start and stop. The RPCs themselves are in report_rpc.c,
 * summary_rpc.c and health_rpc.c.
 *
 * Threads: one poller runs the single completion queue; cfg->grpc_threads workers do whatever
 * touches the database (token checks, report writes), so a slow database never stalls the
 * queue; the health monitor (store/db_health.c) pings the database.
 *
 * A Report call: worker checks the token -> poller receives messages one by one into the
 * assembly (assemble.c), checking the header against the token -> on the client's half-close
 * a worker writes the report in one transaction -> the ack (or an error status) goes out.
 *
 * Two limits protect the process from its clients, beyond the per-report size limits:
 * - Memory: every report being received is charged for what its assembly holds, against one
 *   process-wide budget (CIPULSE_MAX_INFLIGHT_BYTES). A message that would take the total past
 *   it ends its stream with UNAVAILABLE "collector busy": a transient state, so the agent
 *   retries and then spools (RESOURCE_EXHAUSTED means "this report is too big" and makes the
 *   agent drop it). A report is never refused while it is alone, so one always gets through.
 * - Time: a call must have sent all its input within CIPULSE_REPORT_TIMEOUT of its start. gRPC
 *   core gives a server no way to set a call's deadline, and grpc_alarm is C++ only: the poller
 *   wakes at least every SCAN_MS and cancels late calls with DEADLINE_EXCEEDED.
 */
#include "ingest/ingest.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/ticker.h"
#include "ingest/ingest_int.h"
#include "store/db_health.h"

#define METHOD_REPORT  "/cipulse.v1.Collector/Report"
#define METHOD_SUMMARY "/cipulse.v1.Collector/Summary"
#define METHOD_CHECK   "/grpc.health.v1.Health/Check"
#define METHOD_WATCH   "/grpc.health.v1.Health/Watch"

/* Calls waiting to be accepted: a burst of new streams need not wait for a re-arm each. */
#define ACCEPT_AHEAD 8
/* How often, at least, the poller looks for calls past their time limit. */
#define SCAN_MS 200

static void handle_event(struct col_ingest *ing, struct call_tag *t, int ok);

/* ---- call contexts ------------------------------------------------------------------------ */

static struct call *call_new(struct col_ingest *ing)
{
	struct call *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ing = ing;
	atomic_init(&c->refs, 1);
	c->tags[OP_MAIN].call = c;
	c->tags[OP_MAIN].op = OP_MAIN;
	c->tags[OP_CLOSE].call = c;
	c->tags[OP_CLOSE].op = OP_CLOSE;
	c->kind = CALL_ACCEPTING;
	c->w_sent = -1;
	grpc_call_details_init(&c->details);
	grpc_metadata_array_init(&c->md);
	col_assembly_init(&c->as, (size_t)ing->ctx->cfg->max_report_bytes);
	cm_buf_init(&c->msg, (size_t)ing->ctx->cfg->max_message_bytes);
	pthread_mutex_lock(&ing->lock);
	ing->calls_live++;
	pthread_mutex_unlock(&ing->lock);
	return c;
}

void ing_call_ref(struct call *c)
{
	atomic_fetch_add(&c->refs, 1);
}

/* The one place a call's memory is freed: everything it allocated goes at once. */
void ing_call_unref(struct call *c)
{
	struct col_ingest *ing = c->ing;

	if (atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	/* First out of the live list: the poller may be cancelling c->call under the lock. */
	pthread_mutex_lock(&ing->lock);
	if (c->listed) {
		if (c->lprev)
			c->lprev->lnext = c->lnext;
		else
			ing->live = c->lnext;
		if (c->lnext)
			c->lnext->lprev = c->lprev;
		c->listed = 0;
	}
	pthread_mutex_unlock(&ing->lock);
	if (c->kind == CALL_REPORT)
		ing_report_free(c);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_call_details_destroy(&c->details);
	grpc_metadata_array_destroy(&c->md);
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	if (c->token) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	col_assembly_release(&c->as);
	cm_buf_release(&c->msg);
	free(c->service);
	pthread_mutex_lock(&ing->lock);
	ing->calls_live--;
	if (c->kind == CALL_REPORT)
		ing->reports_live--;
	pthread_cond_broadcast(&ing->cond);
	pthread_mutex_unlock(&ing->lock);
	free(c);
}

/* The call's input is all in (or it ended): the time limit no longer applies. */
void ing_deadline_clear(struct call *c)
{
	pthread_mutex_lock(&c->ing->lock);
	c->deadline_ms = 0;
	pthread_mutex_unlock(&c->ing->lock);
}

/*
 * Starts a batch on the call's OP_MAIN (or OP_CLOSE) tag; the batch holds a reference. After
 * the grace period no batch is started any more: the call is being cancelled anyway, and a
 * batch started on a call of a server in shutdown can trip gRPC's assertions (NOTES.md).
 */
int ing_start_batch(struct call *c, enum call_op op, const grpc_op *ops, size_t n)
{
	grpc_call_error err;

	if (atomic_load(&c->ing->cancelling))
		return CM_EUNAVAIL;
	ing_call_ref(c);
	err = grpc_call_start_batch(c->call, ops, n, &c->tags[op], NULL);
	if (err != GRPC_CALL_OK) {
		cm_log_error("ingest", "could not start a batch: error %d", (int)err);
		ing_call_unref(c);
		return CM_EIO;
	}
	return CM_OK;
}

void ing_start_recv(struct call *c)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &c->recv_bb;
	c->step = STEP_RECV;
	ing_start_batch(c, OP_MAIN, &op, 1);
}

/*
 * Ends the call: initial metadata (if not sent yet), an optional message (c->send_bb), the
 * status, and RECV_CLOSE_ON_SERVER unless a Watch started it already.
 */
void ing_finish(struct call *c, grpc_status_code status, const char *msg)
{
	grpc_slice details = grpc_slice_from_copied_string(msg ? msg : "");
	grpc_op ops[4];
	size_t n = 0;

	/* The call has all it will take from the client: no time limit, no report memory. */
	ing_deadline_clear(c);
	if (c->kind == CALL_REPORT)
		ing_report_free(c);
	memset(ops, 0, sizeof(ops));
	if (!c->metadata_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->metadata_sent = 1;
	}
	if (c->send_bb) {
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = c->send_bb;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = status;
	ops[n++].data.send_status_from_server.status_details =
	    status == GRPC_STATUS_OK ? NULL : &details;
	if (!c->close_started) {
		ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
		ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
		c->close_started = 1;
	}
	c->step = STEP_FINISH;
	ing_start_batch(c, OP_MAIN, ops, n);
	/* gRPC copied what it needs of the details at start_batch. */
	grpc_slice_unref(details);
}

int ing_recv_request(struct call *c, int ok, size_t max)
{
	grpc_byte_buffer *bb = c->recv_bb;
	int rc;

	c->recv_bb = NULL;
	if (!ok || atomic_load(&c->ing->cancelling)) {
		if (bb)
			grpc_byte_buffer_destroy(bb);
		return CM_EIO;
	}
	/* The request is in: the time limit no longer applies (a Watch may stream on). */
	ing_deadline_clear(c);
	cm_buf_init(&c->msg, max);
	rc = bb ? cm_grpc_bb_read(bb, &c->msg) : CM_EINVAL;
	if (bb)
		grpc_byte_buffer_destroy(bb);
	return rc ? CM_EINVAL : CM_OK;
}

/* A packed protobuf-c message as the next SEND_MESSAGE buffer. */
int ing_set_send(struct call *c, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t stackbuf[256], *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);

	if (!buf)
		return CM_ENOMEM;
	protobuf_c_message_pack(m, buf);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	c->send_bb = cm_grpc_bb_new(buf, n);
	if (buf != stackbuf)
		free(buf);
	return c->send_bb ? CM_OK : CM_ENOMEM;
}

/* ---- work queue --------------------------------------------------------------------------- */

void ing_enqueue(struct call *c, enum job job)
{
	struct col_ingest *ing = c->ing;

	ing_call_ref(c);
	c->job = job;
	c->qnext = NULL;
	pthread_mutex_lock(&ing->qlock);
	if (ing->qtail)
		ing->qtail->qnext = c;
	else
		ing->qhead = c;
	ing->qtail = c;
	pthread_cond_signal(&ing->qcond);
	pthread_mutex_unlock(&ing->qlock);
}

static struct call *dequeue(struct col_ingest *ing)
{
	struct call *c;

	pthread_mutex_lock(&ing->qlock);
	while (!ing->qhead && !ing->qstop)
		pthread_cond_wait(&ing->qcond, &ing->qlock);
	c = ing->qhead;
	if (c) {
		ing->qhead = c->qnext;
		if (!ing->qhead)
			ing->qtail = NULL;
	}
	pthread_mutex_unlock(&ing->qlock);
	return c;
}

static double inflight_bytes(void *arg)
{
	struct col_ingest *ing = arg;

	return (double)atomic_load(&ing->inflight);
}

static double reports_in_flight(void *arg)
{
	struct col_ingest *ing = arg;
	int n;

	pthread_mutex_lock(&ing->lock);
	n = ing->reports_live;
	pthread_mutex_unlock(&ing->lock);
	return n;
}

/* ---- time limit ---------------------------------------------------------------------------- */

/*
 * Poller: cancels every call whose client has not sent all its input in time. Cancelling makes
 * the call's outstanding receive fail (ing_report_recv then commits nothing) and sends the
 * status. Under the lock: ing_call_unref takes a call out of the list before it drops the
 * grpc_call.
 */
static void expire_calls(struct col_ingest *ing, int64_t now)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "stream not complete within the collector's time limit (%llds)",
		 (long long)(ing->timeout_ms / 1000));
	pthread_mutex_lock(&ing->lock);
	for (struct call *c = ing->live; c; c = c->lnext) {
		grpc_call_error err;

		if (!c->deadline_ms || now < c->deadline_ms)
			continue;
		c->deadline_ms = 0;
		c->timed_out = 1;
		err =
		    grpc_call_cancel_with_status(c->call, GRPC_STATUS_DEADLINE_EXCEEDED, msg, NULL);
		if (err != GRPC_CALL_OK)
			cm_log_error("ingest", "could not cancel a late call: error %d", (int)err);
		if (c->kind == CALL_REPORT)
			col_metric_inc(ing->m_timeout);
		cm_log_info("ingest", "call cancelled: time limit passed kind=%s after_ms=%lld",
			    c->kind == CALL_REPORT    ? "report"
			    : c->kind == CALL_SUMMARY ? "summary"
						      : "health",
			    (long long)(now - c->started_ms));
	}
	pthread_mutex_unlock(&ing->lock);
}

static void *worker(void *arg)
{
	struct col_ingest *ing = arg;
	struct call *c;

	while ((c = dequeue(ing))) {
		if (c->job == JOB_AUTH)
			ing_report_auth(c);
		else if (c->job == JOB_SUMMARY)
			ing_summary_run(c);
		else
			ing_report_write(c);
		ing_call_unref(c);
	}
	return NULL;
}

/* ---- the completion queue ----------------------------------------------------------------- */

static void accept_next(struct col_ingest *ing)
{
	struct call *c;
	grpc_call_error err;

	if (atomic_load(&ing->stopping))
		return;
	c = call_new(ing);
	if (!c) {
		cm_log_error("ingest", "out of memory: not accepting a call");
		return;
	}
	c->step = STEP_ACCEPT;
	err = grpc_server_request_call(ing->server, &c->call, &c->details, &c->md, ing->cq, ing->cq,
				       &c->tags[OP_MAIN]);
	if (err != GRPC_CALL_OK) {
		cm_log_error("ingest", "could not request a call: error %d", (int)err);
		ing_call_unref(c);
	}
	/* The reference from call_new is the accept batch's. */
}

static void on_accept(struct call *c, int ok)
{
	struct col_ingest *ing = c->ing;

	if (!ok)
		return; /* the server is shutting down */
	accept_next(ing);
	c->started_ms = cm_time_mono_ms();
	/* Every kind gets the time limit until its input is in; Watch streams then live on. */
	pthread_mutex_lock(&ing->lock);
	c->deadline_ms = c->started_ms + ing->timeout_ms;
	c->lprev = NULL;
	c->lnext = ing->live;
	if (ing->live)
		ing->live->lprev = c;
	ing->live = c;
	c->listed = 1;
	pthread_mutex_unlock(&ing->lock);
	if (!grpc_slice_str_cmp(c->details.method, METHOD_REPORT)) {
		ing_report_begin(c);
	} else if (!grpc_slice_str_cmp(c->details.method, METHOD_SUMMARY)) {
		c->kind = CALL_SUMMARY;
		ing_start_recv(c);
	} else if (!grpc_slice_str_cmp(c->details.method, METHOD_CHECK)) {
		c->kind = CALL_CHECK;
		ing_start_recv(c);
	} else if (!grpc_slice_str_cmp(c->details.method, METHOD_WATCH)) {
		c->kind = CALL_WATCH;
		ing_start_recv(c);
	} else {
		c->kind = CALL_OTHER;
		ing_finish(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
	}
}

static void handle_event(struct col_ingest *ing, struct call_tag *t, int ok)
{
	struct call *c = t->call;

	if (t == &ing->shutdown_tag) {
		pthread_mutex_lock(&ing->lock);
		ing->shutdown_done = 1;
		pthread_cond_broadcast(&ing->cond);
		pthread_mutex_unlock(&ing->lock);
		return;
	}
	if (t->op == OP_CLOSE) {
		/* A Watch client went away (or the call ended). */
		pthread_mutex_lock(&ing->watch_lock);
		c->w_closed = 1;
		if (!c->w_busy)
			ing_watch_remove(c);
		pthread_mutex_unlock(&ing->watch_lock);
		ing_call_unref(c);
		return;
	}
	switch (c->step) {
	case STEP_ACCEPT:
		on_accept(c, ok);
		break;
	case STEP_RECV:
		if (c->kind == CALL_REPORT)
			ing_report_recv(c, ok);
		else if (c->kind == CALL_SUMMARY)
			ing_summary_recv(c, ok);
		else
			ing_health_recv(c, ok);
		break;
	case STEP_SEND:
		ing_watch_sent(c, ok);
		break;
	case STEP_FINISH:
		break;
	}
	ing_call_unref(c);
}

static void *poller(void *arg)
{
	struct col_ingest *ing = arg;
	int64_t next_scan = cm_time_mono_ms() + SCAN_MS;

	for (;;) {
		gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						  gpr_time_from_millis(SCAN_MS, GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(ing->cq, until, NULL);
		int64_t now;

		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE)
			handle_event(ing, ev.tag, ev.success);
		/* On every wakeup, not only on timeouts: a busy queue never times out. */
		now = cm_time_mono_ms();
		if (now >= next_scan) {
			/* Past the grace period every call is being cancelled anyway. */
			if (!atomic_load(&ing->cancelling))
				expire_calls(ing, now);
			next_scan = now + SCAN_MS;
		}
	}
	return NULL;
}

/* ---- start and stop ----------------------------------------------------------------------- */

static grpc_server_credentials *server_creds(const struct col_config *cfg)
{
	struct cm_buf cert = CM_BUF_INIT(1 << 20), key = CM_BUF_INIT(1 << 20);
	grpc_ssl_pem_key_cert_pair pair;
	grpc_server_credentials *creds = NULL;

	if (!cfg->tls_cert)
		return grpc_insecure_server_credentials_create();
	if (cm_buf_read_file(&cert, cfg->tls_cert)) {
		cm_log_error("ingest", "could not read CIPULSE_TLS_CERT file=%s", cfg->tls_cert);
		goto out;
	}
	if (cm_buf_read_file(&key, cfg->tls_key)) {
		cm_log_error("ingest", "could not read CIPULSE_TLS_KEY file=%s", cfg->tls_key);
		goto out;
	}
	pair.private_key = cm_buf_str(&key);
	pair.cert_chain = cm_buf_str(&cert);
	creds = grpc_ssl_server_credentials_create(NULL, &pair, 1, 0, NULL);
	if (!creds)
		cm_log_error("ingest", "the TLS certificate or key is not usable");
out:
	/* The key is a secret: wipe our copy (gRPC keeps its own). */
	if (key.data)
		memset(key.data, 0, key.len);
	cm_buf_release(&key);
	cm_buf_release(&cert);
	return creds;
}

static double zero(void *arg)
{
	(void)arg;
	return 0;
}

/* The gauges read ing when rendered; NULL points them away before ing is freed. */
static void gauges_point_at(struct col_ingest *ing)
{
	col_metric_gauge_fn("cipulse_ingest_inflight_bytes", NULL,
			    "Memory held by agent reports being received (bytes).",
			    ing ? inflight_bytes : zero, ing);
	col_metric_gauge_fn("cipulse_ingest_reports_in_flight", NULL,
			    "Agent report streams open or being stored.",
			    ing ? reports_in_flight : zero, ing);
}

static void register_metrics(struct col_ingest *ing)
{
	static const char help[] = "Agent reports received, by result.";
	static const double latency_buckets[] = {
		0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
	};

	ing->m_ok = col_metric_counter("cipulse_reports_total", "result=\"ok\"", help);
	ing->m_duplicate =
	    col_metric_counter("cipulse_reports_total", "result=\"duplicate\"", help);
	ing->m_invalid = col_metric_counter("cipulse_reports_total", "result=\"invalid\"", help);
	ing->m_unauth =
	    col_metric_counter("cipulse_reports_total", "result=\"unauthenticated\"", help);
	ing->m_denied = col_metric_counter("cipulse_reports_total", "result=\"denied\"", help);
	ing->m_too_big = col_metric_counter("cipulse_reports_total", "result=\"too_big\"", help);
	ing->m_unavailable =
	    col_metric_counter("cipulse_reports_total", "result=\"unavailable\"", help);
	ing->m_busy = col_metric_counter("cipulse_reports_total", "result=\"busy\"", help);
	ing->m_timeout = col_metric_counter("cipulse_reports_total", "result=\"timeout\"", help);
	ing->m_error = col_metric_counter("cipulse_reports_total", "result=\"error\"", help);
	ing->m_latency = col_metric_histogram(
	    "cipulse_ingest_seconds", NULL, "Time from a report stream's start to its ack.",
	    latency_buckets, sizeof(latency_buckets) / sizeof(latency_buckets[0]));
	ing->m_bytes = col_metric_counter("cipulse_report_bytes_total", NULL,
					  "Bytes of agent report messages received.");
	gauges_point_at(ing);
}

/* Frees what col_ingest_start allocated before the server existed. */
static void ingest_free(struct col_ingest *ing)
{
	gauges_point_at(NULL);
	free(ing->workers);
	pthread_mutex_destroy(&ing->watch_lock);
	pthread_cond_destroy(&ing->qcond);
	pthread_mutex_destroy(&ing->qlock);
	pthread_cond_destroy(&ing->cond);
	pthread_mutex_destroy(&ing->lock);
	free(ing);
}

int col_ingest_start(struct col_ctx *ctx, struct col_ingest **out)
{
	const struct col_config *cfg = ctx->cfg;
	grpc_arg arg[2];
	grpc_channel_args args = { 2, arg };
	grpc_server_credentials *creds;
	struct col_ingest *ing = calloc(1, sizeof(*ing));
	int port, rc = CM_ENOMEM;

	*out = NULL;
	if (!ing)
		return CM_ENOMEM;
	ing->ctx = ctx;
	ing->shutdown_tag.call = NULL;
	atomic_init(&ing->inflight, 0);
	ing->inflight_max = (size_t)cfg->max_inflight_bytes;
	ing->timeout_ms = cfg->report_timeout_ms;
	pthread_mutex_init(&ing->lock, NULL);
	pthread_cond_init(&ing->cond, NULL);
	pthread_mutex_init(&ing->qlock, NULL);
	pthread_cond_init(&ing->qcond, NULL);
	pthread_mutex_init(&ing->watch_lock, NULL);
	register_metrics(ing);
	ing->workers = calloc((size_t)cfg->grpc_threads, sizeof(*ing->workers));
	if (!ing->workers)
		goto fail_alloc;

	arg[0].type = GRPC_ARG_INTEGER;
	arg[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	arg[0].value.integer = (int)cfg->max_message_bytes;
	/*
	 * gRPC listens with SO_REUSEPORT by default: a second process on the same address then
	 * starts without a word and takes a share of the agents' connections (a plaintext one
	 * beside a TLS one fails their handshakes). Off: it fails to listen instead.
	 */
	arg[1].type = GRPC_ARG_INTEGER;
	arg[1].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
	arg[1].value.integer = 0;
	ing->cq = grpc_completion_queue_create_for_next(NULL);
	ing->server = grpc_server_create(&args, NULL);
	grpc_server_register_completion_queue(ing->server, ing->cq, NULL);
	creds = server_creds(cfg);
	if (!creds) {
		rc = CM_EINVAL;
		goto fail_server;
	}
	port = grpc_server_add_http2_port(ing->server, cfg->grpc_addr, creds);
	grpc_server_credentials_release(creds);
	if (!port) {
		cm_log_error("ingest", "could not listen on CIPULSE_GRPC_ADDR addr=%s",
			     cfg->grpc_addr);
		rc = CM_EIO;
		goto fail_server;
	}
	rc = col_health_start(ctx->db, ing_health_changed, ing, &ing->health);
	if (rc)
		goto fail_server;
	ctx->health = ing->health; /* /readyz reads the same answer */
	grpc_server_start(ing->server);
	if (pthread_create(&ing->poller, NULL, poller, ing)) {
		rc = CM_ENOMEM;
		goto fail_started;
	}
	for (; ing->nworkers < cfg->grpc_threads; ing->nworkers++) {
		if (pthread_create(&ing->workers[ing->nworkers], NULL, worker, ing)) {
			cm_log_error("ingest", "could not start worker threads");
			col_ingest_stop(ing, 0);
			return CM_ENOMEM;
		}
	}
	for (int i = 0; i < ACCEPT_AHEAD; i++)
		accept_next(ing);
	cm_log_info("ingest", "grpc listening addr=%s port=%d tls=%s", cfg->grpc_addr, port,
		    cfg->tls_cert ? "on" : "off");
	*out = ing;
	return CM_OK;

fail_started:
	/* No call was ever accepted: shut the server down on a queue nobody else reads. */
	col_health_stop(ing->health);
	grpc_server_shutdown_and_notify(ing->server, ing->cq, &ing->shutdown_tag);
	grpc_server_cancel_all_calls(ing->server);
	grpc_completion_queue_next(ing->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
fail_server:
	grpc_server_destroy(ing->server);
	cm_grpc_cq_destroy(ing->cq);
fail_alloc:
	ingest_free(ing);
	return rc;
}

static void wait_until(struct col_ingest *ing, const struct timespec *until, int all)
{
	pthread_mutex_lock(&ing->lock);
	for (;;) {
		int done =
		    all ? ing->calls_live == 0 && ing->shutdown_done : ing->reports_live == 0;

		if (done)
			break;
		if (until) {
			if (pthread_cond_timedwait(&ing->cond, &ing->lock, until))
				break;
		} else {
			pthread_cond_wait(&ing->cond, &ing->lock);
		}
	}
	pthread_mutex_unlock(&ing->lock);
}

void col_ingest_stop(struct col_ingest *ing, long grace_ms)
{
	struct timespec until;
	int left;

	if (!ing)
		return;
	/* 1. Accept nothing new; health says NOT_SERVING; Watch streams end. */
	atomic_store(&ing->stopping, 1);
	grpc_server_shutdown_and_notify(ing->server, ing->cq, &ing->shutdown_tag);
	col_health_drain(ing->health);
	ing_watchers_end(ing);

	/* 2. Let reports in flight finish, for up to the grace period. */
	until = col_ticker_deadline(grace_ms);
	wait_until(ing, &until, 0);
	pthread_mutex_lock(&ing->lock);
	left = ing->reports_live;
	pthread_mutex_unlock(&ing->lock);
	if (left)
		cm_log_warn("ingest", "grace period over: cancelling reports in flight count=%d",
			    left);

	/* 3. Cancel the rest; nothing of a cancelled report is committed. */
	atomic_store(&ing->cancelling, 1);
	grpc_server_cancel_all_calls(ing->server);
	wait_until(ing, NULL, 1);

	/* 4. Every call is gone: stop the threads, then the queue. */
	pthread_mutex_lock(&ing->qlock);
	ing->qstop = 1;
	pthread_cond_broadcast(&ing->qcond);
	pthread_mutex_unlock(&ing->qlock);
	for (int i = 0; i < ing->nworkers; i++)
		pthread_join(ing->workers[i], NULL);
	col_health_stop(ing->health);
	grpc_server_destroy(ing->server);
	grpc_completion_queue_shutdown(ing->cq);
	pthread_join(ing->poller, NULL);
	grpc_completion_queue_destroy(ing->cq);
	ingest_free(ing);
	cm_log_info("ingest", "grpc server stopped");
}
