#include "cm_grpc.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdio.h>
#include <string.h>

#include "cm_err.h"
#include "cm_time.h"

gpr_timespec cm_grpc_deadline_ms(long ms)
{
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int cm_grpc_bb_read(grpc_byte_buffer *bb, struct cm_buf *out)
{
	grpc_byte_buffer_reader reader;
	grpc_slice s;
	int rc = CM_OK;

	cm_buf_reset(out);
	if (!grpc_byte_buffer_reader_init(&reader, bb))
		return CM_EPROTO;
	while (rc == CM_OK && grpc_byte_buffer_reader_next(&reader, &s)) {
		rc = cm_buf_add(out, GRPC_SLICE_START_PTR(s), GRPC_SLICE_LENGTH(s));
		grpc_slice_unref(s);
	}
	grpc_byte_buffer_reader_destroy(&reader);
	return rc;
}

grpc_byte_buffer *cm_grpc_bb_new(const void *data, size_t n)
{
	grpc_slice s = grpc_slice_from_copied_buffer(data, n);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);

	grpc_slice_unref(s);
	return bb;
}

const char *cm_grpc_status_name(grpc_status_code s)
{
	static const char *const names[] = {
		"OK",
		"CANCELLED",
		"UNKNOWN",
		"INVALID_ARGUMENT",
		"DEADLINE_EXCEEDED",
		"NOT_FOUND",
		"ALREADY_EXISTS",
		"PERMISSION_DENIED",
		"RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION",
		"ABORTED",
		"OUT_OF_RANGE",
		"UNIMPLEMENTED",
		"INTERNAL",
		"UNAVAILABLE",
		"DATA_LOSS",
		"UNAUTHENTICATED",
	};

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "UNKNOWN";
}

int cm_grpc_shutdown(long wait_ms)
{
	int64_t end = cm_time_mono_ms() + wait_ms;

	grpc_shutdown();
	while (grpc_is_initialized()) {
		if (cm_time_mono_ms() >= end)
			return -1;
		cm_time_sleep_ms(1);
	}
	return 0;
}

void cm_grpc_cq_destroy(grpc_completion_queue *cq)
{
	grpc_completion_queue_shutdown(cq);
	while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
}

void cm_grpc_reply_init(struct cm_grpc_reply *r)
{
	grpc_metadata_array_init(&r->initial_md);
	grpc_metadata_array_init(&r->trailing_md);
	r->msg = NULL;
	r->status = GRPC_STATUS_UNKNOWN;
	r->details = grpc_empty_slice();
}

void cm_grpc_reply_release(struct cm_grpc_reply *r)
{
	if (r->msg)
		grpc_byte_buffer_destroy(r->msg);
	r->msg = NULL;
	grpc_slice_unref(r->details);
	r->details = grpc_empty_slice();
	grpc_metadata_array_destroy(&r->initial_md);
	grpc_metadata_array_destroy(&r->trailing_md);
}

size_t cm_grpc_reply_ops(struct cm_grpc_reply *r, grpc_op *ops)
{
	memset(ops, 0, 3 * sizeof(*ops));
	ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[0].data.recv_initial_metadata.recv_initial_metadata = &r->initial_md;
	ops[1].op = GRPC_OP_RECV_MESSAGE;
	ops[1].data.recv_message.recv_message = &r->msg;
	ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[2].data.recv_status_on_client.trailing_metadata = &r->trailing_md;
	ops[2].data.recv_status_on_client.status = &r->status;
	ops[2].data.recv_status_on_client.status_details = &r->details;
	return 3;
}

void cm_grpc_reply_describe(const struct cm_grpc_reply *r, char *out, size_t size)
{
	size_t n = GRPC_SLICE_LENGTH(r->details);

	snprintf(out, size, "%s%s%.*s", cm_grpc_status_name(r->status), n ? ": " : "",
		 (int)(n < 200 ? n : 200), (const char *)GRPC_SLICE_START_PTR(r->details));
}

int cm_grpc_bearer(grpc_metadata *md, const char *token)
{
	char value[4096 + 8];
	int n = snprintf(value, sizeof(value), "Bearer %s", token);

	memset(md, 0, sizeof(*md));
	if (n < 0 || (size_t)n >= sizeof(value)) {
		explicit_bzero(value, sizeof(value));
		return CM_ETOOBIG;
	}
	md->key = grpc_slice_from_static_string("authorization");
	md->value = grpc_slice_from_copied_buffer(value, (size_t)n);
	explicit_bzero(value, (size_t)n);
	return CM_OK;
}

void cm_grpc_bearer_release(grpc_metadata *md)
{
	grpc_slice_unref(md->value);
	memset(md, 0, sizeof(*md));
}

int cm_grpc_unary(grpc_channel *ch, const char *method, long timeout_ms, const grpc_metadata *md,
		  size_t nmd, const void *req, size_t len, struct cm_buf *reply,
		  grpc_status_code *status, char *why, size_t whysize)
{
	grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
	grpc_byte_buffer *send = cm_grpc_bb_new(req, len);
	struct cm_grpc_reply r;
	grpc_call *call;
	grpc_op ops[6];
	grpc_event ev;
	int rc;

	cm_grpc_reply_init(&r);
	*status = GRPC_STATUS_UNKNOWN;
	call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
					grpc_slice_from_static_string(method), NULL,
					cm_grpc_deadline_ms(timeout_ms), NULL);
	if (!call || !send) {
		snprintf(why, whysize, "could not start the call");
		rc = CM_ENOMEM;
		goto out;
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = nmd;
	ops[0].data.send_initial_metadata.metadata = (grpc_metadata *)md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	cm_grpc_reply_ops(&r, ops + 3);
	if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) {
		snprintf(why, whysize, "could not start the call");
		rc = CM_EPROTO;
		goto out;
	}
	/* The call has a deadline, so the batch always completes. */
	ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	*status = ev.type == GRPC_OP_COMPLETE ? r.status : GRPC_STATUS_UNKNOWN;
	if (*status != GRPC_STATUS_OK) {
		cm_grpc_reply_describe(&r, why, whysize);
		rc = CM_EUNAVAIL;
	} else if (!r.msg) {
		snprintf(why, whysize, "OK without a reply message");
		rc = CM_EPROTO;
	} else {
		rc = cm_grpc_bb_read(r.msg, reply);
		snprintf(why, whysize, rc ? "reply over %zu bytes" : "OK", reply->max);
	}
out:
	cm_grpc_reply_release(&r);
	if (send)
		grpc_byte_buffer_destroy(send);
	if (call)
		grpc_call_unref(call);
	cm_grpc_cq_destroy(cq);
	return rc;
}
