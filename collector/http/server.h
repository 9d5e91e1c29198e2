/*
 * HTTP server (libmicrohttpd): routes requests to handlers, bounds request bodies, answers JSON
 * errors as {"error": {"code": "...", "message": "..."}}. Each connection has a thread of its
 * own, so a handler may wait (on the database, on GitHub's rate limit) without holding up any
 * other client; handlers borrow database connections from ctx->db.
 */
#ifndef COL_HTTP_H
#define COL_HTTP_H

#include <stddef.h>

#include "cm_buf.h"
#include "core/ctx.h"

struct col_http;

/* One request, as a handler sees it. All strings are NUL-terminated and owned by the server. */
struct col_http_req {
	struct col_ctx *ctx;
	const char *method; /* "GET", "POST", ... */
	const char *path;   /* decoded path without the query string */
	const char *query;  /* raw query string without '?', "" when none */
	const char *body;   /* request body ("" when none), NUL-terminated */
	size_t body_len;
	void *conn;		 /* struct MHD_Connection *, for col_http_header */
	const char *remote_addr; /* peer IP as text */
};

/* A handler's answer. Set status and write the body into `body`. */
struct col_http_resp {
	int status;
	const char *content_type; /* default "application/json" */
	struct cm_buf body;	  /* max 64 MiB */
	const char *file_path;	  /* or: serve this file (static files) */
	char extra_headers[2048]; /* "Name: value\r\n" lines, e.g. Cache-Control, Retry-After */
};

typedef void (*col_http_handler)(const struct col_http_req *req, struct col_http_resp *resp);

/* Returns a request header (case-insensitive name), or NULL. */
const char *col_http_header(const struct col_http_req *req, const char *name);
/*
 * Whether an Accept-Encoding value allows gzip (RFC 9110 12.5.3): "gzip" (or "x-gzip") with a
 * q above 0, else "*" with a q above 0. NULL (no header) allows nothing but the identity.
 */
int col_http_accepts_gzip(const char *accept_encoding);
/*
 * In-memory answers of at least this many bytes go gzip-compressed (zlib, fastest level) to a
 * client that accepts it, with "Vary: Accept-Encoding" whether compressed or not.
 */
#define COL_HTTP_GZIP_MIN 1024
/* The client's socket (to notice it hanging up), or -1 when not known. */
int col_http_client_fd(const struct col_http_req *req);
/* Sets status and a JSON error body {"error": {"code": code, "message": message}}. */
void col_http_error(struct col_http_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * Answers a failure (an error code of cm_err.h) by the one mapping of core/status.h: its
 * status, Retry-After when it is transient, and the JSON error with the mapping's code.
 */
void col_http_fail(struct col_http_resp *resp, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Registers a handler for method + path pattern before col_http_start. Patterns are literal
 * paths, or end in "/" followed by "*" to match a prefix (e.g. "/api/v1/repos/" + "*": every
 * path below /api/v1/repos/). The most specific (longest)
 * matching pattern wins. A path that matches a pattern of another method answers 405.
 */
int col_http_route(const char *method, const char *pattern, col_http_handler fn);
/* Starts serving on ctx->cfg->http_addr (TLS when configured). */
int col_http_start(struct col_ctx *ctx, struct col_http **out);
/* Stops the server, waiting for requests in progress. NULL is a no-op. */
void col_http_stop(struct col_http *h);

#endif
