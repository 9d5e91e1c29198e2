#include "cm_grpc.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"

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

char *cm_grpc_slice_strdup(grpc_slice s)
{
	size_t n = GRPC_SLICE_LENGTH(s);
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, GRPC_SLICE_START_PTR(s), n);
	p[n] = '\0';
	return p;
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
