/*
 * The one mapping from the project's error codes (cm_err.h) to what a client is told: an HTTP
 * status (with Retry-After when trying again later can help) and a gRPC status. Every REST
 * handler, the webhook receiver and gRPC ingest answer a failure through it, so that the same
 * cause (say, the database being away) reads the same everywhere.
 */
#ifndef COL_STATUS_H
#define COL_STATUS_H

struct col_status {
	int http;	   /* HTTP status */
	int retry_after_s; /* > 0: answer "Retry-After: N" too */
	int grpc;	   /* grpc_status_code */
	const char *code;  /* the "code" of a JSON error body */
};

/*
 * CM_EINVAL 400/INVALID_ARGUMENT, CM_ETOOBIG 413/RESOURCE_EXHAUSTED, CM_ENOTFOUND 404/NOT_FOUND,
 * CM_EAUTH 401/UNAUTHENTICATED, CM_EDENIED 403/PERMISSION_DENIED; CM_EUNAVAIL, CM_ETIMEDOUT and
 * CM_ECONFLICT (a write that kept conflicting after its retries) 503/UNAVAILABLE with
 * Retry-After; CM_ENOMEM 500/RESOURCE_EXHAUSTED; anything else 500/INTERNAL.
 */
const struct col_status *col_status_of(int rc);

#endif
