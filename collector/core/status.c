#include "core/status.h"

#include <grpc/status.h>

#include "cm_err.h"

/* Seconds a client should wait before retrying a transient failure. */
#define RETRY_AFTER_S 1

const struct col_status *col_status_of(int rc)
{
	static const struct col_status
	    ok = { 200, 0, GRPC_STATUS_OK, "ok" },
	    invalid = { 400, 0, GRPC_STATUS_INVALID_ARGUMENT, "invalid" },
	    too_big = { 413, 0, GRPC_STATUS_RESOURCE_EXHAUSTED, "payload_too_large" },
	    not_found = { 404, 0, GRPC_STATUS_NOT_FOUND, "not_found" },
	    unauth = { 401, 0, GRPC_STATUS_UNAUTHENTICATED, "unauthorized" },
	    denied = { 403, 0, GRPC_STATUS_PERMISSION_DENIED, "forbidden" },
	    unavail = { 503, RETRY_AFTER_S, GRPC_STATUS_UNAVAILABLE, "unavailable" },
	    nomem = { 500, 0, GRPC_STATUS_RESOURCE_EXHAUSTED, "internal" },
	    internal = { 500, 0, GRPC_STATUS_INTERNAL, "internal" };

	switch (rc) {
	case CM_OK:
		return &ok;
	case CM_EINVAL:
		return &invalid;
	case CM_ETOOBIG:
		return &too_big;
	case CM_ENOTFOUND:
		return &not_found;
	case CM_EAUTH:
		return &unauth;
	case CM_EDENIED:
		return &denied;
	case CM_EUNAVAIL:
	case CM_ETIMEDOUT:
	case CM_ECONFLICT:
		return &unavail;
	case CM_ENOMEM:
		return &nomem;
	default:
		return &internal;
	}
}
