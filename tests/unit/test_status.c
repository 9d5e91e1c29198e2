/* Unit tests of the one mapping from error codes to HTTP and gRPC statuses (core/status.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <grpc/status.h>

#include "cm_err.h"
#include "core/status.h"

static void check(int rc, int http, int retry, int grpc)
{
	const struct col_status *st = col_status_of(rc);

	assert_int_equal(st->http, http);
	assert_int_equal(st->retry_after_s > 0, retry);
	assert_int_equal(st->grpc, grpc);
	assert_non_null(st->code);
}

static void mapping(void **state)
{
	check(CM_OK, 200, 0, GRPC_STATUS_OK);
	check(CM_EINVAL, 400, 0, GRPC_STATUS_INVALID_ARGUMENT);
	check(CM_ETOOBIG, 413, 0, GRPC_STATUS_RESOURCE_EXHAUSTED);
	check(CM_ENOTFOUND, 404, 0, GRPC_STATUS_NOT_FOUND);
	check(CM_EAUTH, 401, 0, GRPC_STATUS_UNAUTHENTICATED);
	check(CM_EDENIED, 403, 0, GRPC_STATUS_PERMISSION_DENIED);
	/* Transient: the database away, the pool busy, writes still conflicting after retries. */
	check(CM_EUNAVAIL, 503, 1, GRPC_STATUS_UNAVAILABLE);
	check(CM_ETIMEDOUT, 503, 1, GRPC_STATUS_UNAVAILABLE);
	check(CM_ECONFLICT, 503, 1, GRPC_STATUS_UNAVAILABLE);
	check(CM_ENOMEM, 500, 0, GRPC_STATUS_RESOURCE_EXHAUSTED);
	check(CM_EIO, 500, 0, GRPC_STATUS_INTERNAL);
	check(CM_EPROTO, 500, 0, GRPC_STATUS_INTERNAL);
	check(-1000, 500, 0, GRPC_STATUS_INTERNAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
