#include "send.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "report.h"
#include "cipulse/v1/report.pb-c.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "cm_time.h"

#define METHOD	"/cipulse.v1.Collector/Report"
#define ACK_MAX 65536
#define CA_MAX	(1024 * 1024)
/* How long the exit waits for gRPC's clean-up (a failed connection holds it ~100 ms). */
#define AG_GRPC_SHUTDOWN_WAIT_MS 1000

enum { TAG_STATUS = 1, TAG_OP = 2 };

void ag_send_global_init(void)
{
	grpc_init();
}

void ag_send_global_shutdown(void)
{
	/* The agent exits right after: gRPC's threads must be done by then (cm_grpc.h). */
	if (cm_grpc_shutdown(AG_GRPC_SHUTDOWN_WAIT_MS))
		cm_log_warn("send", "gRPC was still shutting down after %dms; exiting anyway",
			    AG_GRPC_SHUTDOWN_WAIT_MS);
	else
		cm_log_debug("send", "gRPC shut down");
}

/*
 * What a status means for the report (collector.proto): CM_EUNAVAIL is "try again later" (the
 * report is retried, then spooled), CM_EINVAL and CM_ETOOBIG are "this report can never be
 * accepted" (it is dropped). An overloaded collector answers UNAVAILABLE "collector busy", not
 * RESOURCE_EXHAUSTED, and a stream it cut off for taking too long DEADLINE_EXCEEDED: both are
 * transient, so the report is kept.
 */
static int status_error(grpc_status_code s)
{
	switch (s) {
	case GRPC_STATUS_OK:
		return CM_OK;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_ABORTED:
	case GRPC_STATUS_INTERNAL:
	case GRPC_STATUS_UNKNOWN:
	case GRPC_STATUS_CANCELLED:
		return CM_EUNAVAIL;
	case GRPC_STATUS_UNAUTHENTICATED:
		return CM_EAUTH;
	case GRPC_STATUS_PERMISSION_DENIED:
		return CM_EDENIED;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return CM_EINVAL;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return CM_ETOOBIG;
	default:
		return CM_EPROTO;
	}
}

/* Waits for `want` on cq; notes other tags that complete meanwhile in done[]. */
static int wait_tag(grpc_completion_queue *cq, intptr_t want, int done[3], int ok[3])
{
	while (!done[want]) {
		grpc_event ev =
		    grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		intptr_t tag = (intptr_t)ev.tag;

		if (ev.type != GRPC_OP_COMPLETE || tag < 1 || tag > 2)
			return CM_EPROTO;
		done[tag] = 1;
		ok[tag] = ev.success;
	}
	done[want] = 0;
	return ok[want] ? CM_OK : CM_EIO;
}

static int start_op(grpc_call *call, grpc_op *ops, size_t n, intptr_t tag)
{
	return grpc_call_start_batch(call, ops, n, (void *)tag, NULL) == GRPC_CALL_OK ? CM_OK
										      : CM_EPROTO;
}

static int parse_ack(grpc_byte_buffer *bb, struct ag_ack *ack)
{
	struct cm_buf b = CM_BUF_INIT(ACK_MAX);
	Cipulse__V1__ReportAck *a = NULL;
	int rc;

	if (!bb)
		return CM_EPROTO;
	rc = cm_grpc_bb_read(bb, &b);
	if (rc == CM_OK) {
		a = cipulse__v1__report_ack__unpack(NULL, b.len,
						    (const uint8_t *)(b.data ? b.data : ""));
		rc = a ? CM_OK : CM_EPROTO;
	}
	if (a) {
		snprintf(ack->report_id, sizeof(ack->report_id), "%s", a->report_id);
		ack->duplicate = a->duplicate;
		ack->jobs = a->jobs;
		ack->steps = a->steps;
		ack->logs = a->logs;
		ack->tests = a->tests;
		cipulse__v1__report_ack__free_unpacked(a, NULL);
	}
	cm_buf_release(&b);
	return rc;
}

/* One call: the whole stream, then the status. */
static int attempt(const struct ag_send_opts *o, grpc_channel *ch, const char *frames, size_t n,
		   struct ag_ack *ack, char *why, size_t whysize)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	struct cm_grpc_reply r;
	grpc_metadata auth;
	grpc_call *call;
	grpc_op ops[3];
	int done[3] = { 0 }, ok[3] = { 0 };
	int has_token = o->token && *o->token;
	size_t off = 0, len;
	const char *msg;
	int rc, more;

	cm_grpc_reply_init(&r);
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string(METHOD), NULL,
					cm_grpc_deadline_ms(o->rpc_timeout_ms), NULL);
	memset(&auth, 0, sizeof(auth));
	if (has_token && cm_grpc_bearer(&auth, o->token)) {
		has_token = 0;
		rc = CM_ETOOBIG;
		goto out;
	}
	/* The status batch first: it completes when the call ends, however it ends. */
	rc = start_op(call, ops, cm_grpc_reply_ops(&r, ops), TAG_STATUS);
	if (rc)
		goto out;
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = has_token ? 1 : 0;
	ops[0].data.send_initial_metadata.metadata = &auth;
	rc = start_op(call, ops, 1, TAG_OP);
	if (rc == CM_OK)
		rc = wait_tag(cq, TAG_OP, done, ok);
	/* One message per frame; a failed send means the call is over: read its status. */
	while (rc == CM_OK && (more = ag_frames_next(frames, n, &off, &msg, &len)) == 1) {
		grpc_byte_buffer *bb = cm_grpc_bb_new(msg, len);

		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_SEND_MESSAGE;
		ops[0].data.send_message.send_message = bb;
		rc = start_op(call, ops, 1, TAG_OP);
		if (rc == CM_OK)
			rc = wait_tag(cq, TAG_OP, done, ok);
		grpc_byte_buffer_destroy(bb);
		if (rc == CM_OK && more < 0)
			rc = CM_EPROTO;
	}
	if (rc == CM_OK) {
		memset(ops, 0, sizeof(ops));
		ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		rc = start_op(call, ops, 1, TAG_OP);
		if (rc == CM_OK)
			rc = wait_tag(cq, TAG_OP, done, ok);
	}
	if (rc == CM_EPROTO) {
		grpc_call_cancel(call, NULL);
	}
	/* Whatever happened while sending, the status tells why. */
	if (wait_tag(cq, TAG_STATUS, done, ok) == CM_EPROTO) {
		rc = CM_EPROTO;
		snprintf(why, whysize, "unexpected completion queue event");
		goto out;
	}
	rc = status_error(r.status);
	if (snprintf(why, whysize, "collector answered ") < (int)whysize)
		cm_grpc_reply_describe(&r, why + strlen(why), whysize - strlen(why));
	if (rc == CM_OK && parse_ack(r.msg, ack)) {
		snprintf(why, whysize, "collector answered OK without a valid acknowledgement");
		rc = CM_EPROTO;
	}
out:
	if (has_token)
		cm_grpc_bearer_release(&auth);
	cm_grpc_reply_release(&r);
	grpc_call_unref(call);
	cm_grpc_cq_destroy(cq);
	return rc;
}

grpc_channel *ag_send_channel(const struct ag_send_opts *o, char *why, size_t whysize)
{
	const char *target = o->collector;
	int tls = o->tls;
	grpc_channel_credentials *creds;
	grpc_channel *ch;
	struct cm_buf roots = CM_BUF_INIT(CA_MAX);
	grpc_arg args[6];
	grpc_channel_args cargs = { sizeof(args) / sizeof(args[0]), args };

	if (strncmp(target, "grpcs://", 8) == 0) {
		target += 8;
		tls = 1;
	} else if (strncmp(target, "grpc://", 7) == 0) {
		target += 7;
	}
	/*
	 * The agent retries by itself, with its own budget; gRPC's reconnect back-off (1 s and
	 * up) would make a collector that just came back look down, so keep it short, and keep
	 * the connection private to this channel.
	 */
	args[0] = (grpc_arg){ GRPC_ARG_INTEGER, GRPC_ARG_ENABLE_RETRIES, { .integer = 0 } };
	args[1] = (grpc_arg){ GRPC_ARG_INTEGER,
			      GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
			      { .integer = 100 } };
	args[2] =
	    (grpc_arg){ GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, { .integer = 100 } };
	args[3] =
	    (grpc_arg){ GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, { .integer = 1000 } };
	args[4] =
	    (grpc_arg){ GRPC_ARG_INTEGER, GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, { .integer = 1 } };
	args[5] = (grpc_arg){ GRPC_ARG_STRING,
			      GRPC_ARG_PRIMARY_USER_AGENT_STRING,
			      { .string = (char *)"cipulse-agent/" AG_VERSION } };
	if (tls) {
		const char *pem = NULL;

		if (o->tls_ca && *o->tls_ca) {
			if (cm_buf_read_file(&roots, o->tls_ca) == CM_OK)
				pem = cm_buf_str(&roots);
			if (!pem) {
				snprintf(why, whysize, "could not read CIPULSE_TLS_CA file \"%s\"",
					 o->tls_ca);
				cm_buf_release(&roots);
				return NULL;
			}
		}
		creds = grpc_ssl_credentials_create(pem, NULL, NULL, NULL);
	} else {
		creds = grpc_insecure_credentials_create();
	}
	cm_buf_release(&roots);
	if (!creds) {
		snprintf(why, whysize, "could not set up %s credentials", tls ? "TLS" : "plain");
		return NULL;
	}
	ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	return ch;
}

int ag_send(const struct ag_send_opts *o, const char *frames, size_t n, struct ag_ack *ack,
	    char *why, size_t whysize)
{
	int64_t end = cm_time_mono_ms() + o->budget_ms;
	long backoff = 100;
	int rc;

	memset(ack, 0, sizeof(*ack));
	/*
	 * Our own settings failing (no collector, an unreadable CA file) is not the collector
	 * rejecting the report: CM_EIO, so that the report is kept and sent once they are fixed.
	 */
	if (!o->collector || !*o->collector) {
		snprintf(why, whysize, "no collector set (CIPULSE_COLLECTOR)");
		return CM_EIO;
	}
	for (;;) {
		grpc_channel *ch = ag_send_channel(o, why, whysize);
		long wait;

		if (!ch)
			return CM_EIO;
		ack->attempts++;
		rc = attempt(o, ch, frames, n, ack, why, whysize);
		grpc_channel_destroy(ch);
		if (rc != CM_EUNAVAIL)
			return rc;
		/* Jitter: agents of a whole matrix must not come back in lockstep. */
		wait = backoff / 2 + rand() % (backoff / 2 + 1);
		if (cm_time_mono_ms() + wait >= end)
			return rc;
		cm_log_info("send", "collector unavailable; retrying in %ldms attempt=%d", wait,
			    ack->attempts);
		cm_time_sleep_ms(wait);
		if (backoff < 1000)
			backoff *= 2;
	}
}
