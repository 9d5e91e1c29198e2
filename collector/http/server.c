#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cm_err.h"
#include "cm_json.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/status.h"
#include "core/ticker.h"
#include "http/static.h"

#define MAX_ROUTES   64
#define MAX_URI	     16384
#define MAX_RESPONSE (64u << 20)

struct route {
	const char *method;
	const char *pattern;
	size_t plen;
	int prefix;
	col_http_handler fn;
};

static struct route routes[MAX_ROUTES];
static int nroutes;

/*
 * A connection's request deadline. MHD's own timeout is an idle timeout that every trickled
 * byte resets; this one runs from the connection's start (or the previous answer's end) until
 * the request is complete, and a reaper thread cuts off connections past it. fd is a dup of the
 * connection's socket, so shutting it down can never hit a descriptor number reused elsewhere.
 */
struct tracked {
	int fd;
	int64_t deadline; /* cm_time_mono_ms; 0: not waiting for a request (handler, answer) */
	struct tracked *prev, *next;
};

struct col_http {
	struct MHD_Daemon *daemon;
	struct col_ctx *ctx;
	/* The probe listener (CIPULSE_PROBE_ADDR): answers probe_path()s only. */
	int probe_only;
	struct col_http *probe;
	char *tls_cert;
	char *tls_key;
	pthread_mutex_t lock; /* tracked list and deadlines */
	struct tracked *tracked;
	struct col_ticker *reaper;
};

/* Per-request state, from the URI log callback to the completion callback. */
struct request {
	char *uri; /* the raw request target, query string included */
	struct cm_buf body;
	int too_big;
	int64_t start_ms;
};

int col_http_route(const char *method, const char *pattern, col_http_handler fn)
{
	size_t len = strlen(pattern);

	if (nroutes >= MAX_ROUTES)
		return CM_ENOMEM;
	for (int i = 0; i < nroutes; i++) {
		if (!strcmp(routes[i].method, method) && !strcmp(routes[i].pattern, pattern))
			return CM_ECONFLICT;
	}
	routes[nroutes].method = method;
	routes[nroutes].pattern = pattern;
	routes[nroutes].prefix = len >= 2 && pattern[len - 1] == '*' && pattern[len - 2] == '/';
	routes[nroutes].plen = routes[nroutes].prefix ? len - 1 : len;
	routes[nroutes].fn = fn;
	nroutes++;
	return CM_OK;
}

static int route_matches(const struct route *r, const char *path)
{
	if (r->prefix)
		return !strncmp(path, r->pattern, r->plen) && path[r->plen] != '\0';
	return !strcmp(path, r->pattern);
}

/* The best route for the path; *other_method set when only other methods match. */
static const struct route *find_route(const char *method, const char *path, int *other_method)
{
	const struct route *best = NULL;

	*other_method = 0;
	for (int i = 0; i < nroutes; i++) {
		if (!route_matches(&routes[i], path))
			continue;
		if (strcmp(routes[i].method, method)) {
			*other_method = 1;
			continue;
		}
		if (!best || (best->prefix && !routes[i].prefix) ||
		    (best->prefix == routes[i].prefix && routes[i].plen > best->plen))
			best = &routes[i];
	}
	return best;
}

const char *col_http_header(const struct col_http_req *req, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND,
					   name);
}

int col_http_client_fd(const struct col_http_req *req)
{
	const union MHD_ConnectionInfo *ci =
	    req->conn ? MHD_get_connection_info((struct MHD_Connection *)req->conn,
						MHD_CONNECTION_INFO_CONNECTION_FD)
		      : NULL;

	return ci ? ci->connect_fd : -1;
}

static void error_body(struct col_http_resp *resp, int status, const char *code, const char *msg)
{
	resp->status = status;
	resp->content_type = "application/json";
	resp->file_path = NULL;
	cm_buf_reset(&resp->body);
	if (cm_buf_adds(&resp->body, "{\"error\":{\"code\":") ||
	    cm_json_add_string(&resp->body, code) || cm_buf_adds(&resp->body, ",\"message\":") ||
	    cm_json_add_string(&resp->body, msg) || cm_buf_adds(&resp->body, "}}"))
		cm_buf_reset(&resp->body); /* no memory even for that: the status says it alone */
}

void col_http_error(struct col_http_resp *resp, int status, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_body(resp, status, code, msg);
}

void col_http_fail(struct col_http_resp *resp, int rc, const char *fmt, ...)
{
	const struct col_status *st = col_status_of(rc);
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_body(resp, st->http, st->code, msg);
	if (st->retry_after_s > 0)
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: %d\r\n",
			 st->retry_after_s);
}

static void add_extra_headers(struct MHD_Response *r, char *lines)
{
	char *save = NULL;

	for (char *line = strtok_r(lines, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		char *colon = strchr(line, ':');

		if (!colon)
			continue;
		*colon = '\0';
		MHD_add_response_header(r, line, colon + 1 + strspn(colon + 1, " "));
	}
}

/* The q value of one Accept-Encoding element's parameters ("; q=0.5"), 1 when none is given. */
static int q_nonzero(const char *p, const char *end)
{
	while (p < end) {
		p += strspn(p, " \t;");
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			/* "0", "0.", "0.0" .. "0.000" are zero; anything else (1, 0.5, 0.001) is
			 * not. */
			p += 2;
			if (p >= end || *p != '0')
				return 1;
			for (p++; p < end && (*p == '.' || *p == '0'); p++)
				;
			return p < end && *p >= '1' && *p <= '9';
		}
		while (p < end && *p != ';')
			p++;
	}
	return 1;
}

int col_http_accepts_gzip(const char *ae)
{
	int gzip = -1, star = -1;

	while (ae && *ae) {
		const char *end = ae + strcspn(ae, ","), *tok = ae + strspn(ae, " \t");
		size_t n = strcspn(tok, " \t;,");

		if (tok + n <= end) {
			if ((n == 4 && !strncasecmp(tok, "gzip", 4)) ||
			    (n == 6 && !strncasecmp(tok, "x-gzip", 6)))
				gzip = q_nonzero(tok + n, end);
			else if (n == 1 && *tok == '*')
				star = q_nonzero(tok + n, end);
		}
		ae = *end ? end + 1 : end;
	}
	return gzip >= 0 ? gzip : star > 0;
}

/* body (len bytes) as a gzip member in a new buffer (*out_len bytes); NULL when out of memory. */
static char *gzip_body(const char *body, size_t len, size_t *out_len)
{
	z_stream zs = { 0 };
	char *out;
	uLong cap;

	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&zs, (uLong)len);
	out = malloc(cap);
	if (!out) {
		deflateEnd(&zs);
		return NULL;
	}
	zs.next_in = (Bytef *)body;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&zs);
		free(out);
		return NULL;
	}
	*out_len = zs.total_out;
	deflateEnd(&zs);
	return out;
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct col_http_resp *resp)
{
	int gzipped = 0;
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;

	if (resp->file_path) {
		int fd = open(resp->file_path, O_RDONLY | O_CLOEXEC);
		struct stat st;

		if (fd >= 0 && fstat(fd, &st) == 0) {
			r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
		} else {
			if (fd >= 0)
				close(fd);
			/* The file's headers (gzip, cached for a year) are not the error's. */
			resp->extra_headers[0] = '\0';
			col_http_error(resp, 404, "not_found", "no such resource");
		}
		free((char *)resp->file_path);
		resp->file_path = NULL;
	}
	if (!r) {
		size_t len;
		char *data = cm_buf_detach(&resp->body, &len), *gz;

		/* Large answers (a run of 200 jobs, a page of repositories) compress 10-15x. */
		if (data && len >= COL_HTTP_GZIP_MIN) {
			gzipped = -1; /* varies by Accept-Encoding */
			if (col_http_accepts_gzip(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									      "Accept-Encoding")) &&
			    (gz = gzip_body(data, len, &len)) != NULL) {
				free(data);
				data = gz;
				gzipped = 1;
			}
		}
		r = MHD_create_response_from_buffer(len, data ? data : (char *)"",
						    data ? MHD_RESPMEM_MUST_FREE
							 : MHD_RESPMEM_PERSISTENT);
		if (!r)
			free(data);
	}
	if (!r)
		return MHD_NO;
	if (gzipped)
		MHD_add_response_header(r, "Vary", "Accept-Encoding");
	if (gzipped > 0)
		MHD_add_response_header(r, "Content-Encoding", "gzip");
	MHD_add_response_header(r, "Content-Type",
				resp->content_type ? resp->content_type : "application/json");
	/*
	 * The dashboard loads its scripts and styles from files only (no inline script); nothing
	 * may frame it; links leak no URL. On every answer: API replies are as well off with them.
	 */
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; script-src 'self'; style-src 'self'; "
				"img-src 'self' data:; connect-src 'self'; object-src 'none'; "
				"base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	add_extra_headers(r, resp->extra_headers);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *remote_addr(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	buf[0] = '\0';
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET,
				  &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
				  (socklen_t)size);
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
				  (socklen_t)size);
	}
	return buf;
}

/* Answers the request into resp. */
/* What the probe listener answers: what Kubernetes and Prometheus ask, nothing else. */
static int probe_path(const char *path)
{
	return !strcmp(path, "/healthz") || !strcmp(path, "/readyz") || !strcmp(path, "/metrics");
}

static void dispatch(struct col_http *h, struct MHD_Connection *conn, const char *method,
		     const char *url, struct request *rq, struct col_http_resp *resp)
{
	struct col_http_req req;
	const struct route *rt;
	char addr[64];
	const char *q = rq->uri ? strchr(rq->uri, '?') : NULL;
	int other;

	memset(&req, 0, sizeof(req));
	req.ctx = h->ctx;
	req.method = method;
	req.path = url;
	req.query = q ? q + 1 : "";
	req.body = cm_buf_str(&rq->body);
	req.body_len = rq->body.len;
	req.conn = conn;
	req.remote_addr = remote_addr(conn, addr, sizeof(addr));

	if (rq->uri && strlen(rq->uri) >= MAX_URI) {
		col_http_error(resp, 414, "uri_too_long", "request URI over %d bytes", MAX_URI);
		return;
	}
	if (rq->too_big) {
		col_http_error(resp, 413, "payload_too_large", "request body over %ld bytes",
			       h->ctx->cfg->max_body_bytes);
		return;
	}
	if (h->probe_only && !probe_path(url)) {
		col_http_error(resp, 404, "not_found",
			       "the probe listener answers /healthz, "
			       "/readyz and /metrics only");
		return;
	}
	rt = find_route(method, url, &other);
	if (rt) {
		rt->fn(&req, resp);
		return;
	}
	if (other) {
		col_http_error(resp, 405, "method_not_allowed", "method %s not allowed here",
			       method);
		return;
	}
	if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && !col_static_reserved(url)) {
		col_static_serve(&req, resp);
		return;
	}
	col_http_error(resp, 404, "not_found", "no such resource");
}

static void set_deadline(struct col_http *h, struct MHD_Connection *conn, int64_t deadline)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct tracked *t = ci ? ci->socket_context : NULL;

	if (!t)
		return;
	pthread_mutex_lock(&h->lock);
	t->deadline = deadline;
	pthread_mutex_unlock(&h->lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct col_http *h = cls;
	struct tracked *t = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = calloc(1, sizeof(*t));
		if (!t)
			return;
		t->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
		t->deadline = cm_time_mono_ms() + h->ctx->cfg->http_request_timeout_ms;
		pthread_mutex_lock(&h->lock);
		t->next = h->tracked;
		if (h->tracked)
			h->tracked->prev = t;
		h->tracked = t;
		pthread_mutex_unlock(&h->lock);
		*socket_context = t;
		return;
	}
	if (!t)
		return;
	pthread_mutex_lock(&h->lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		h->tracked = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&h->lock);
	if (t->fd >= 0)
		close(t->fd);
	free(t);
	*socket_context = NULL;
}

/* Cuts off connections past their request deadline (on a ticker's thread). */
static void reap(void *arg)
{
	struct col_http *h = arg;
	static struct col_metric *cut;
	int64_t now = cm_time_mono_ms();

	if (!cut)
		cut = col_metric_counter(
		    "cipulse_http_request_timeouts_total", "",
		    "HTTP connections closed because a request was not complete in time.");
	pthread_mutex_lock(&h->lock);
	for (struct tracked *t = h->tracked; t; t = t->next) {
		if (t->deadline && now > t->deadline && t->fd >= 0) {
			shutdown(t->fd, SHUT_RDWR);
			t->deadline = 0;
			col_metric_inc(cut);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct col_http *h = cls;
	struct request *rq = *con_cls;
	struct col_http_resp resp;
	enum MHD_Result ret;

	if (!rq)
		return MHD_NO; /* the URI callback could not allocate */
	if (*upload_size) {
		if (!rq->too_big && cm_buf_add(&rq->body, upload, *upload_size))
			rq->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->start_ms == 0) {
		/*
		 * First call: headers only. Refuse a declared oversized body before reading it.
		 * Otherwise answer on the last call, once the body (if any) is read, whatever the
		 * method: libmicrohttpd closes a connection whose answer was queued on the first
		 * call ("early", the request not yet read in full), so answering a GET there cost a
		 * new connection, and a thread, per request (no keep-alive).
		 */
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		rq->start_ms = cm_time_mono_ms();
		if (cl && strtoull(cl, NULL, 10) > (unsigned long long)h->ctx->cfg->max_body_bytes)
			rq->too_big = 1;
		else
			return MHD_YES;
	}
	/* The request is complete: the handler's time and the answer's are not the client's. */
	set_deadline(h, conn, 0);
	memset(&resp, 0, sizeof(resp));
	cm_buf_init(&resp.body, MAX_RESPONSE);
	resp.status = 200;
	dispatch(h, conn, method, url, rq, &resp);
	ret = send_resp(conn, &resp);
	cm_buf_release(&resp.body);
	free((char *)resp.file_path);
	return ret;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct col_http *h = cls;
	struct request *rq = calloc(1, sizeof(*rq));

	if (!rq)
		return NULL;
	rq->uri = strndup(uri, MAX_URI);
	cm_buf_init(&rq->body, (size_t)h->ctx->cfg->max_body_bytes);
	return rq;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct col_http *h = cls;
	struct request *rq = *con_cls;

	/* The next request on this connection (keep-alive) gets a deadline of its own. */
	set_deadline(h, conn, cm_time_mono_ms() + h->ctx->cfg->http_request_timeout_ms);
	if (!rq)
		return;
	if (rq->start_ms) {
		static struct col_metric *lat;

		if (!lat)
			lat = col_metric_histogram("cipulse_http_request_duration_seconds", "",
						   "Time to answer an HTTP request.", NULL, 0);
		col_metric_observe(lat, (double)(cm_time_mono_ms() - rq->start_ms) / 1000.0);
	}
	free(rq->uri);
	cm_buf_release(&rq->body);
	free(rq);
	*con_cls = NULL;
}

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
		msg[--len] = '\0';
	cm_log_warn("http", "%s", msg);
}

/* A PEM file (at most 1 MiB), NUL-terminated, for MHD's in-memory TLS options. */
static int read_file(const char *path, char **out)
{
	struct cm_buf b = CM_BUF_INIT(1 << 20);
	int rc = cm_buf_read_file(&b, path);

	if (rc) {
		cm_buf_release(&b);
		return rc;
	}
	*out = cm_buf_detach(&b, NULL);
	return *out ? CM_OK : CM_EIO;
}

/* "host:port" -> socket address (IPv4 or IPv6, numeric or resolved). */
static int resolve(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints, *ai = NULL;
	size_t hlen;

	if (!colon || (size_t)(colon - addr) >= sizeof(host))
		return CM_EINVAL;
	hlen = (size_t)(colon - addr);
	memcpy(host, addr, hlen);
	host[hlen] = '\0';
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(*host ? host : NULL, colon + 1, &hints, &ai) || !ai)
		return CM_EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return CM_OK;
}

/* Connections the probe listener keeps open at once, and from one address. */
#define PROBE_MAX_CONNECTIONS	 64
#define PROBE_MAX_CONNS_PER_ADDR 16

/*
 * Starts one listener on addr: the main one (TLS when configured, the configured connection
 * limits) or the probe listener (plain HTTP, limits of its own, probe paths only).
 */
static int http_listen(struct col_ctx *ctx, const char *addr, const char *setting, int probe_only,
		       struct col_http **out)
{
	struct col_http *h = calloc(1, sizeof(*h));
	/*
	 * A thread per connection: a handler that waits (a search, the database) holds up its own
	 * client only. With a pool of threads, connections queued behind it on its thread waited
	 * too, probes included. The connection limits bound the threads.
	 */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG;
	unsigned int max_conns =
	    probe_only ? PROBE_MAX_CONNECTIONS : (unsigned int)ctx->cfg->http_max_connections;
	unsigned int per_addr =
	    probe_only ? PROBE_MAX_CONNS_PER_ADDR : (unsigned int)ctx->cfg->http_max_conns_per_addr;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	int rc;

	if (!h)
		return CM_ENOMEM;
	h->ctx = ctx;
	h->probe_only = probe_only;
	pthread_mutex_init(&h->lock, NULL);
	rc = resolve(addr, &ss, &sslen);
	if (rc) {
		cm_log_error("http", "cannot resolve %s %s", setting, addr);
		goto fail;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (!probe_only && ctx->cfg->tls_cert) {
		if (read_file(ctx->cfg->tls_cert, &h->tls_cert) ||
		    read_file(ctx->cfg->tls_key, &h->tls_key)) {
			cm_log_error("http", "cannot read CIPULSE_TLS_CERT or CIPULSE_TLS_KEY");
			rc = CM_EIO;
			goto fail;
		}
		flags |= MHD_USE_TLS;
	}
	h->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, h,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)60,
	    MHD_OPTION_CONNECTION_LIMIT, max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_addr,
	    h->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->tls_cert,
	    MHD_OPTION_HTTPS_MEM_KEY, h->tls_key, MHD_OPTION_END);
	if (!h->daemon) {
		cm_log_error("http", "cannot listen on %s (%s)", addr, setting);
		rc = CM_EIO;
		goto fail;
	}
	if (col_ticker_start("http-reaper", 250, reap, h, &h->reaper)) {
		MHD_stop_daemon(h->daemon);
		rc = CM_ENOMEM;
		goto fail;
	}
	*out = h;
	return CM_OK;
fail:
	pthread_mutex_destroy(&h->lock);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
	return rc;
}

int col_http_start(struct col_ctx *ctx, struct col_http **out)
{
	struct col_http *h;
	int rc = http_listen(ctx, ctx->cfg->http_addr, "CIPULSE_HTTP_ADDR", 0, &h);

	if (rc)
		return rc;
	if (ctx->cfg->probe_addr && *ctx->cfg->probe_addr) {
		rc = http_listen(ctx, ctx->cfg->probe_addr, "CIPULSE_PROBE_ADDR", 1, &h->probe);
		if (rc) {
			col_http_stop(h);
			return rc;
		}
	}
	*out = h;
	return CM_OK;
}

void col_http_stop(struct col_http *h)
{
	if (!h)
		return;
	col_http_stop(h->probe);
	/* Waits for every connection's thread: handlers see ctx->stopping and end promptly. */
	MHD_stop_daemon(h->daemon);
	col_ticker_stop(h->reaper);
	pthread_mutex_destroy(&h->lock);
	free(h->tls_cert);
	free(h->tls_key);
	free(h);
}
