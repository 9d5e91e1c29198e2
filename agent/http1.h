/*
 * A small HTTP/1.1 client for the agent's GitHub API GETs, over the OpenSSL that gRPC loads
 * anyway: libcurl's ~26 libraries were most of what a report spent on the API
 * (docs/agent-footprint.md).
 *
 * One GET per connection (Connection: close); http and https; TLS 1.2 or newer with the
 * server's certificate checked against the trust store (the hashed directory first, the CA
 * bundle when that does not verify; SSL_CERT_DIR and SSL_CERT_FILE honoured) and against the
 * URL's host name or IP address; Content-Length,
 * chunked and close-delimited bodies; redirects (301, 302, 303, 307, 308); one deadline for
 * everything, name resolution included. Not done here, so the caller uses libcurl instead:
 * proxies (ag_http1_proxy_env) and URLs with user names. No content coding is asked for.
 * Not thread safe (one TLS context per process).
 */
#ifndef AG_HTTP1_H
#define AG_HTTP1_H

#include <stddef.h>
#include <stdint.h>

#define AG_HTTP1_LINE_MAX    8192	 /* one status, header or chunk-size line */
#define AG_HTTP1_HEADERS_MAX (64 * 1024) /* all header lines of one reply */

/* Callbacks get 0 to go on; anything else stops the reply and is returned. */
struct ag_http1_cb {
	/* Each status and header line, without its line end (interim and redirect replies too). */
	int (*header)(void *ctx, const char *line, size_t len);
	/* Body bytes of the reply that is not followed. */
	int (*body)(void *ctx, const char *p, size_t n);
	void *ctx;
};

/*
 * The reply parser, apart from the sockets (tests/fuzz/fuzz_http1.c feeds it): bytes in, header
 * lines and body bytes out through cb. ag_http1_parser_init before each reply.
 */
struct ag_http1_parser {
	int state;
	int status;	     /* of the reply being read (0 until its status line) */
	int chunked;	     /* Transfer-Encoding: chunked */
	int64_t length;	     /* Content-Length, -1 when none */
	uint64_t left;	     /* body or chunk bytes still to come */
	size_t header_bytes; /* header bytes of this reply so far */
	int interim;	     /* 1xx replies skipped */
	int no_body;	     /* the reply has no body whatever its headers say (204, 304) */
	const char *error;   /* why the reply was refused (a static string) */
	char location[4096]; /* the Location header ("" when none) */
	size_t line_len;
	char line[AG_HTTP1_LINE_MAX];
	struct ag_http1_cb cb;
	int (*body)(void *ctx, const char *p, size_t n); /* where body bytes go now */
};

void ag_http1_parser_init(struct ag_http1_parser *p, const struct ag_http1_cb *cb);

/*
 * Feeds n bytes. Returns 0 (more to come), 1 (the reply is complete; *used bytes were read, the
 * rest is not ours), CM_EPROTO (a bad reply: p->error says why) or a callback's error.
 */
int ag_http1_parse(struct ag_http1_parser *p, const char *data, size_t n, size_t *used);

/* The connection closed: 1 when that ends the reply (a close-delimited body), else CM_EPROTO. */
int ag_http1_parse_eof(struct ag_http1_parser *p);

/* The body of a reply with this status is not passed on: it is a redirect that is followed. */
int ag_http1_is_redirect(int status);

struct ag_http1_req {
	const char *url;
	const char *const *headers; /* "Name: value" lines for every hop, NULL-terminated */
	const char *auth;	    /* an "Authorization: ..." line, sent only to url's origin */
	int max_redirects;	    /* 0: a redirect is the reply */
	int64_t deadline;	    /* cm_time_mono_ms() by which all is done */
	long connect_ms;	    /* at most this long to connect to a host (each hop) */
	struct ag_http1_cb cb;
};

/*
 * GETs req->url. Returns 0 with the final reply's status in *status (its body went to
 * req->cb.body), CM_EINVAL (a URL this client does not take), CM_EUNAVAIL (name resolution,
 * connection or TLS failed), CM_ETIMEDOUT, CM_EPROTO (a bad reply or redirect), CM_ENOMEM, or
 * a callback's error. err gets a one-line reason for every error but a callback's.
 */
int ag_http1_get(const struct ag_http1_req *req, int *status, char *err, size_t errsize);

/* 1 when this client takes url (http or https, a host, no user name), else 0. */
int ag_http1_url_ok(const char *url);

/* The name of the first proxy variable libcurl would honour that is set, or NULL. */
const char *ag_http1_proxy_env(void);

/* Frees the TLS context (ag_http1_get makes it again when called). */
void ag_http1_global_cleanup(void);

#endif
