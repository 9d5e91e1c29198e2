#include "http1.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"

#define MAX_INTERIM 8 /* 1xx replies before the real one */
#define CHUNK_MAX   ((uint64_t)1 << 40)

enum {
	P_STATUS,
	P_HEADER,
	P_BODY_LEN,
	P_BODY_EOF,
	P_CHUNK_SIZE,
	P_CHUNK_DATA,
	P_CHUNK_END,
	P_TRAILER,
	P_DONE
};

static int no_body_cb(void *ctx, const char *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

int ag_http1_is_redirect(int status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

void ag_http1_parser_init(struct ag_http1_parser *p, const struct ag_http1_cb *cb)
{
	memset(p, 0, sizeof(*p));
	p->state = P_STATUS;
	p->length = -1;
	p->cb = *cb;
	p->body = cb->body ? cb->body : no_body_cb;
}

static int bad(struct ag_http1_parser *p, const char *why)
{
	p->error = why;
	return CM_EPROTO;
}

/* "HTTP/1.x NNN reason": the status, or -1. */
static int status_line(const char *s, size_t n)
{
	int st;

	if (n < 12 || memcmp(s, "HTTP/1.", 7) || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	if (n > 12 && s[12] != ' ')
		return -1;
	st = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return st >= 100 ? st : -1;
}

/* The value of "Name: value" when the name is `name`: trimmed, in *v / *vn. */
static int header_is(const char *s, size_t n, const char *name, const char **v, size_t *vn)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(s, name, k) || s[k] != ':')
		return 0;
	s += k + 1;
	n -= k + 1;
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	*v = s;
	*vn = n;
	return 1;
}

static int header_line(struct ag_http1_parser *p, const char *s, size_t n)
{
	const char *v;
	size_t vn, i;

	/* Obsolete line folding (RFC 9112 5.2): refused, like a name with a space before ':'. */
	for (i = 0; i < n && s[i] != ':'; i++)
		if (s[i] <= ' ' || s[i] == 0x7f)
			return bad(p, "bad header line");
	if (i == 0 || i == n)
		return bad(p, "bad header line");
	if (header_is(s, n, "content-length", &v, &vn)) {
		int64_t len = 0;

		if (vn == 0 || vn > 18)
			return bad(p, "bad Content-Length");
		for (i = 0; i < vn; i++) {
			if (v[i] < '0' || v[i] > '9')
				return bad(p, "bad Content-Length");
			len = len * 10 + (v[i] - '0');
		}
		if (p->length >= 0 && p->length != len)
			return bad(p, "two different Content-Length headers");
		p->length = len;
	} else if (header_is(s, n, "transfer-encoding", &v, &vn)) {
		/* Only "chunked" is asked for (no TE header), so it is the only coding taken. */
		if (vn != 7 || strncasecmp(v, "chunked", 7) || p->chunked)
			return bad(p, "unsupported Transfer-Encoding");
		p->chunked = 1;
	} else if (header_is(s, n, "location", &v, &vn)) {
		if (vn >= sizeof(p->location))
			return bad(p, "Location too long");
		memcpy(p->location, v, vn);
		p->location[vn] = '\0';
	}
	return CM_OK;
}

/* The end of a reply's header lines: where its body goes, if it has one. */
static int headers_done(struct ag_http1_parser *p)
{
	if (p->status < 200) {
		/* An interim reply (100 Continue, 103 Early Hints): the real one follows. */
		if (p->status == 101 || ++p->interim > MAX_INTERIM)
			return bad(p, "unexpected interim reply");
		p->state = P_STATUS;
		p->status = 0;
		p->chunked = 0;
		p->length = -1;
		p->location[0] = '\0';
		p->header_bytes = 0;
		return CM_OK;
	}
	if (p->no_body || p->status == 204 || p->status == 304) {
		p->state = P_DONE;
	} else if (p->chunked) {
		p->state = P_CHUNK_SIZE;
	} else if (p->length >= 0) {
		p->left = (uint64_t)p->length;
		p->state = p->left ? P_BODY_LEN : P_DONE;
	} else {
		p->state = P_BODY_EOF;
	}
	return CM_OK;
}

/* "1a2b[;ext]": the chunk's size. */
static int chunk_size(struct ag_http1_parser *p, const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
			: s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
			: s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
						     : -1;

		if (d < 0)
			break;
		v = v * 16 + (uint64_t)d;
		if (v > CHUNK_MAX)
			return bad(p, "chunk too large");
	}
	if (i == 0)
		return bad(p, "bad chunk size");
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < n && s[i] != ';')
		return bad(p, "bad chunk size");
	p->left = v;
	p->state = v ? P_CHUNK_DATA : P_TRAILER;
	return CM_OK;
}

/* One whole line (without its end) in the state that reads lines. */
static int line(struct ag_http1_parser *p, const char *s, size_t n)
{
	int rc;

	switch (p->state) {
	case P_STATUS:
		p->status = status_line(s, n);
		if (p->status < 0)
			return bad(p, "not an HTTP/1.x reply");
		p->state = P_HEADER;
		return p->cb.header ? p->cb.header(p->cb.ctx, s, n) : CM_OK;
	case P_HEADER:
		if (n == 0)
			return headers_done(p);
		rc = header_line(p, s, n);
		if (rc == CM_OK && p->cb.header)
			rc = p->cb.header(p->cb.ctx, s, n);
		return rc;
	case P_CHUNK_SIZE:
		return chunk_size(p, s, n);
	case P_CHUNK_END:
		if (n)
			return bad(p, "chunk not followed by a line end");
		p->state = P_CHUNK_SIZE;
		return CM_OK;
	case P_TRAILER:
		if (n == 0)
			p->state = P_DONE;
		return CM_OK; /* trailer fields are not used */
	default:
		return bad(p, "parser state");
	}
}

int ag_http1_parse(struct ag_http1_parser *p, const char *data, size_t n, size_t *used)
{
	size_t i = 0;
	int rc;

	while (i < n && p->state != P_DONE) {
		if (p->state == P_BODY_EOF || p->state == P_BODY_LEN || p->state == P_CHUNK_DATA) {
			size_t k = n - i;

			if (p->state != P_BODY_EOF && k > p->left)
				k = (size_t)p->left;
			rc = p->body(p->cb.ctx, data + i, k);
			if (rc)
				return rc;
			i += k;
			if (p->state == P_BODY_EOF)
				continue;
			p->left -= k;
			if (p->left == 0)
				p->state = p->state == P_BODY_LEN ? P_DONE : P_CHUNK_END;
			continue;
		}
		/* A line: to its LF, with a CR before the LF dropped. */
		{
			const char *nl = memchr(data + i, '\n', n - i);
			size_t k = nl ? (size_t)(nl - (data + i)) : n - i;

			if (p->state == P_STATUS || p->state == P_HEADER) {
				p->header_bytes += k + (nl ? 1 : 0);
				if (p->header_bytes > AG_HTTP1_HEADERS_MAX)
					return bad(p, "header too large");
			}
			if (p->line_len + k >= sizeof(p->line))
				return bad(p, "line too long");
			memcpy(p->line + p->line_len, data + i, k);
			p->line_len += k;
			i += k;
			if (!nl)
				break;
			i++;
			if (p->line_len && p->line[p->line_len - 1] == '\r')
				p->line_len--;
			if (memchr(p->line, '\r', p->line_len) ||
			    memchr(p->line, '\0', p->line_len))
				return bad(p, "stray CR or NUL in a line");
			k = p->line_len;
			p->line_len = 0;
			rc = line(p, p->line, k);
			if (rc)
				return rc;
		}
	}
	if (used)
		*used = i;
	return p->state == P_DONE ? 1 : CM_OK;
}

int ag_http1_parse_eof(struct ag_http1_parser *p)
{
	if (p->state == P_DONE || p->state == P_BODY_EOF) {
		p->state = P_DONE;
		return 1;
	}
	return bad(p, "connection closed before the reply ended");
}

/* ------------------------------------------------------------------ URLs */

struct url {
	int tls;
	char host[256]; /* without brackets */
	int v6;		/* host is an IPv6 literal (brackets in URLs and Host) */
	int port;
	char target[4096]; /* path and query */
};

static int host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* Splits an absolute http(s) URL; the fragment is dropped. 0 or CM_EINVAL. */
static int url_parse(const char *s, struct url *u)
{
	const char *h, *end, *colon = NULL;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "https://", 8) == 0) {
		u->tls = 1;
		h = s + 8;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		h = s + 7;
	} else {
		return CM_EINVAL;
	}
	end = h + strcspn(h, "/?#");
	if (memchr(h, '@', (size_t)(end - h)))
		return CM_EINVAL; /* user names: libcurl's job */
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		struct in6_addr a6;

		if (!rb || (size_t)(rb - h - 1) >= sizeof(u->host))
			return CM_EINVAL;
		memcpy(u->host, h + 1, (size_t)(rb - h - 1));
		if (inet_pton(AF_INET6, u->host, &a6) != 1)
			return CM_EINVAL;
		u->v6 = 1;
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return CM_EINVAL;
			colon = rb + 1;
		}
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = (size_t)((colon ? colon : end) - h);
		if (n == 0 || n >= sizeof(u->host))
			return CM_EINVAL;
		for (size_t i = 0; i < n; i++)
			if (!host_char(h[i]))
				return CM_EINVAL;
		memcpy(u->host, h, n);
	}
	u->port = u->tls ? 443 : 80;
	if (colon && colon + 1 < end) {
		long port = 0;

		for (const char *c = colon + 1; c < end; c++) {
			if (*c < '0' || *c > '9' || (port = port * 10 + (*c - '0')) > 65535)
				return CM_EINVAL;
		}
		if (port == 0)
			return CM_EINVAL;
		u->port = (int)port;
	}
	n = strcspn(end, "#");
	if (n + 2 > sizeof(u->target))
		return CM_EINVAL;
	/* No spaces or control bytes: they would end the request line. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)end[i] <= ' ' || end[i] == 0x7f)
			return CM_EINVAL;
	if (*end != '/')
		u->target[0] = '/';
	memcpy(u->target + strlen(u->target), end, n);
	return CM_OK;
}

int ag_http1_url_ok(const char *url)
{
	struct url u;

	return url_parse(url, &u) == CM_OK;
}

static int same_origin(const struct url *a, const struct url *b)
{
	return a->tls == b->tls && a->port == b->port && strcasecmp(a->host, b->host) == 0;
}

/* Where a redirect goes: an absolute URL, "//host/..." or "/path" on the same origin. */
static int redirect_url(const struct url *cur, const char *loc, struct url *next)
{
	char abs[4096 + 300];

	if (strncmp(loc, "//", 2) == 0)
		snprintf(abs, sizeof(abs), "%s:%s", cur->tls ? "https" : "http", loc);
	else if (loc[0] == '/')
		snprintf(abs, sizeof(abs), "%s://%s%s%s:%d%s", cur->tls ? "https" : "http",
			 cur->v6 ? "[" : "", cur->host, cur->v6 ? "]" : "", cur->port, loc);
	else
		snprintf(abs, sizeof(abs), "%s", loc);
	return url_parse(abs, next);
}

const char *ag_http1_proxy_env(void)
{
	static const char *const names[] = { "http_proxy", "https_proxy", "HTTPS_PROXY",
					     "all_proxy", "ALL_PROXY" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);

		if (v && *v)
			return names[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------ connections */

static SSL_CTX *tls_ctx;
static int tls_bundle; /* tls_ctx trusts the whole CA bundle, not only the hashed directory */

void ag_http1_global_cleanup(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
	tls_bundle = 0;
}

struct conn {
	int fd;
	SSL *ssl;
	const struct url *u;
	int64_t deadline;
	char *err;
	size_t errsize;
};

/* Writes "<what> <host> port <port>[: <detail>]" into c->err and returns rc. */
static int fail(struct conn *c, int rc, const char *what, const char *detail)
{
	snprintf(c->err, c->errsize, "%s %s port %d%s%s", what, c->u->host, c->u->port,
		 detail && *detail ? ": " : "", detail ? detail : "");
	return rc;
}

/* Waits for fd to be ready for `events` until the deadline. */
static int wait_fd(struct conn *c, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - cm_time_mono_ms();
		struct pollfd pfd = { c->fd, events, 0 };
		int n;

		if (left <= 0)
			return CM_ETIMEDOUT;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return CM_OK;
		if (n < 0 && errno != EINTR)
			return CM_EIO;
	}
}

/*
 * Name resolution with the deadline: getaddrinfo_a (glibc's resolver in a helper thread), so a
 * slow DNS server cannot hold the agent past its budget. A literal address needs no lookup.
 */
static int resolve(struct conn *c, struct addrinfo **res)
{
	struct addrinfo hints = { 0 };
	struct gaicb *req;
	struct gaicb *list[1];
	char port[8];
	int rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", c->u->port);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(c->u->host, port, &hints, res) == 0)
		return CM_OK;
	hints.ai_flags = AI_NUMERICSERV;
	/* Heap, not stack: a lookup that cannot be cancelled still writes into it (then leaked). */
	req = calloc(1, sizeof(*req) + sizeof(hints) + strlen(c->u->host) + 1 + sizeof(port));
	if (!req)
		return CM_ENOMEM;
	{
		char *p = (char *)(req + 1);

		memcpy(p, &hints, sizeof(hints));
		req->ar_request = (struct addrinfo *)p;
		p += sizeof(hints);
		memcpy(p, c->u->host, strlen(c->u->host) + 1);
		req->ar_name = p;
		p += strlen(c->u->host) + 1;
		memcpy(p, port, sizeof(port));
		req->ar_service = p;
	}
	list[0] = req;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL)) {
		free(req);
		return fail(c, CM_EUNAVAIL, "could not resolve", "lookup not started");
	}
	for (;;) {
		int64_t left = c->deadline - cm_time_mono_ms();
		struct timespec ts;

		rc = gai_error(req);
		if (rc != EAI_INPROGRESS)
			break;
		if (left <= 0) {
			if (gai_cancel(req) == EAI_CANCELED) {
				free(req);
			} /* else it is still running: leave req to it */
			return fail(c, CM_ETIMEDOUT, "timed out resolving", NULL);
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000L;
		gai_suspend((const struct gaicb *const *)list, 1, &ts);
	}
	if (rc) {
		free(req);
		return fail(c, CM_EUNAVAIL, "could not resolve", gai_strerror(rc));
	}
	*res = req->ar_result;
	free(req);
	return CM_OK;
}

static int tcp_connect(struct conn *c, long connect_ms)
{
	struct addrinfo *res = NULL, *ai;
	int64_t until = cm_time_mono_ms() + connect_ms;
	int rc, n = 0, err = 0;

	if (until > c->deadline)
		until = c->deadline;
	rc = resolve(c, &res);
	if (rc)
		return rc;
	for (ai = res; ai; ai = ai->ai_next)
		n++;
	for (ai = res; ai; ai = ai->ai_next, n--) {
		/* Each address gets its share of what is left, so one that hangs leaves time. */
		int64_t now = cm_time_mono_ms(), mine = now + (until - now) / n;
		socklen_t len = sizeof(err);
		int one = 1;

		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (c->fd < 0) {
			err = errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && (rc = wait_fd(c, POLLOUT, mine)) == CM_OK &&
		     getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)) {
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			freeaddrinfo(res);
			return CM_OK;
		}
		if (errno != EINPROGRESS)
			err = errno;
		else if (rc == CM_ETIMEDOUT)
			err = ETIMEDOUT;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (cm_time_mono_ms() >= c->deadline)
		return fail(c, CM_ETIMEDOUT, "timed out connecting to", NULL);
	return fail(c, CM_EUNAVAIL, "could not connect to", strerror(err ? err : ECONNREFUSED));
}

/* One SSL call with non-blocking I/O: its result, or -1 after a wait that timed out. */
static int tls_wait(struct conn *c, int r, int *rc)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*rc = wait_fd(c, POLLIN, c->deadline);
		return *rc == CM_OK;
	case SSL_ERROR_WANT_WRITE:
		*rc = wait_fd(c, POLLOUT, c->deadline);
		return *rc == CM_OK;
	default:
		return 0;
	}
}

static int tls_error(struct conn *c, const char *what)
{
	char buf[256];
	unsigned long e = ERR_get_error();
	long v = SSL_get_verify_result(c->ssl);

	if (v != X509_V_OK) {
		snprintf(buf, sizeof(buf), "certificate not accepted: %s",
			 X509_verify_cert_error_string(v));
	} else if (e) {
		snprintf(buf, sizeof(buf), "%s: ", what);
		ERR_error_string_n(e, buf + strlen(buf), sizeof(buf) - strlen(buf));
	} else {
		snprintf(buf, sizeof(buf), "%s failed", what);
	}
	ERR_clear_error();
	return fail(c, CM_EUNAVAIL, "TLS with", buf);
}

#define TLS_AGAIN 1 /* the handshake is worth another try with the whole CA bundle */

/*
 * Where distributions keep the trusted certificates, for when the OpenSSL the agent runs with
 * has its defaults elsewhere (the release package bundles Debian's: /usr/lib/ssl, which
 * Fedora, RHEL and openSUSE do not have): Debian/Ubuntu/Arch, Fedora/RHEL, openSUSE, RHEL's
 * extracted bundle, Alpine.
 */
static const char *const CA_FILES[] = { "/etc/ssl/certs/ca-certificates.crt",
					"/etc/pki/tls/certs/ca-bundle.crt",
					"/etc/ssl/ca-bundle.pem",
					"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
					"/etc/ssl/cert.pem" };
static const char *const CA_DIRS[] = { "/etc/ssl/certs", "/etc/pki/tls/certs" };

/* The variable's value; else OpenSSL's default if it is there; else the first of alt there. */
static const char *trust_path(const char *var, const char *deflt, const char *const *alt, size_t n)
{
	const char *v = getenv(var);

	if (v && *v)
		return v;
	if (access(deflt, R_OK) == 0)
		return deflt;
	for (size_t i = 0; i < n; i++)
		if (access(alt[i], R_OK) == 0)
			return alt[i];
	return NULL;
}

/*
 * The trust store. Parsing the whole CA bundle (Debian's ca-certificates.crt, ~140
 * certificates) costs more CPU than the rest of a report (docs/agent-footprint.md), so issuers
 * are first looked up in the hashed directory (SSL_CERT_DIR, else OpenSSL's default, else
 * CA_DIRS), which reads one file per issuer during the handshake. A certificate that does not
 * verify that way is tried again with the bundle (SSL_CERT_FILE, else OpenSSL's default, else
 * CA_FILES) and the directory: distributions without hash links. SSL_CERT_FILE set: the bundle
 * at once.
 */
static int tls_ctx_make(struct conn *c, int bundle)
{
	const char *dir = trust_path("SSL_CERT_DIR", X509_get_default_cert_dir(), CA_DIRS,
				     sizeof(CA_DIRS) / sizeof(CA_DIRS[0]));
	const char *file = NULL;
	int ok;

	ag_http1_global_cleanup();
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx)
		return CM_ENOMEM;
	SSL_CTX_set_min_proto_version(tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	tls_bundle = bundle || (getenv("SSL_CERT_FILE") && *getenv("SSL_CERT_FILE"));
	if (tls_bundle) {
		file = trust_path("SSL_CERT_FILE", X509_get_default_cert_file(), CA_FILES,
				  sizeof(CA_FILES) / sizeof(CA_FILES[0]));
		cm_log_debug("http", "trust store: the CA bundle and directory (%s, %s)",
			     file ? file : "none found", dir ? dir : "none found");
	} else {
		cm_log_debug("http", "trust store: the hashed directory (%s)",
			     dir ? dir : "none found");
	}
	/* Neither there: nothing to trust, and the handshake says so (certificate not accepted). */
	ok = file || dir ? SSL_CTX_load_verify_locations(tls_ctx, file, dir) : 1;
	if (ok != 1) {
		ag_http1_global_cleanup();
		ERR_clear_error();
		return fail(c, CM_EUNAVAIL, "TLS with", "could not load the trusted certificates");
	}
	return CM_OK;
}

/* CM_OK, an error, or TLS_AGAIN (a new connection is worth trying: tls_ctx has the bundle). */
static int tls_connect(struct conn *c)
{
	int r, rc = CM_OK;
	int literal = c->u->v6 || strspn(c->u->host, "0123456789.") == strlen(c->u->host);

	if (!tls_ctx && (rc = tls_ctx_make(c, 0)))
		return rc;
	c->ssl = SSL_new(tls_ctx);
	if (!c->ssl)
		return CM_ENOMEM;
	/*
	 * SSL_set1_host takes an IP address literal too (checked against the certificate's IP
	 * SANs); the server name indication is for names only.
	 */
	if (SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, c->u->host) != 1 ||
	    (!literal && SSL_set_tlsext_host_name(c->ssl, c->u->host) != 1))
		return tls_error(c, "setting up");
	while ((r = SSL_connect(c->ssl)) != 1) {
		long v;

		if (tls_wait(c, r, &rc))
			continue;
		if (rc == CM_ETIMEDOUT)
			return fail(c, rc, "timed out in TLS with", NULL);
		v = SSL_get_verify_result(c->ssl);
		/* The errors of an issuer (or a self-signed certificate) the directory lacks. */
		if (!tls_bundle && (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
				    v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
				    v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
				    v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
				    v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE)) {
			cm_log_debug("http",
				     "issuer not in the hashed directory (%s); trying the "
				     "CA bundle",
				     X509_verify_cert_error_string(v));
			ERR_clear_error();
			rc = tls_ctx_make(c, 1);
			return rc ? rc : TLS_AGAIN;
		}
		return tls_error(c, "handshake");
	}
	return CM_OK;
}

static int conn_write(struct conn *c, const char *p, size_t n)
{
	int rc = CM_OK;

	while (n) {
		ssize_t w;

		if (c->ssl) {
			int r = SSL_write(c->ssl, p, n > 65536 ? 65536 : (int)n);

			if (r <= 0) {
				if (tls_wait(c, r, &rc))
					continue;
				return rc == CM_ETIMEDOUT
					   ? fail(c, rc, "timed out sending to", NULL)
					   : tls_error(c, "sending");
			}
			w = r;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK)
					return fail(c, CM_EUNAVAIL, "could not send to",
						    strerror(errno));
				if ((rc = wait_fd(c, POLLOUT, c->deadline)))
					return fail(c, rc, "timed out sending to", NULL);
				continue;
			}
		}
		p += w;
		n -= (size_t)w;
	}
	return CM_OK;
}

/* Bytes read (0: the peer closed), or a negative error code. */
static long conn_read(struct conn *c, char *buf, size_t size)
{
	int rc = CM_OK;

	for (;;) {
		if (c->ssl) {
			int r = SSL_read(c->ssl, buf, (int)size);

			if (r > 0)
				return r;
			if (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN)
				return 0;
			if (tls_wait(c, r, &rc))
				continue;
			return rc == CM_ETIMEDOUT ? fail(c, rc, "timed out reading from", NULL)
						  : tls_error(c, "reading");
		} else {
			ssize_t r = recv(c->fd, buf, size, 0);

			if (r >= 0)
				return (long)r;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return fail(c, CM_EUNAVAIL, "could not read from", strerror(errno));
			if ((rc = wait_fd(c, POLLIN, c->deadline)))
				return fail(c, rc, "timed out reading from", NULL);
		}
	}
}

/* clean: the reply was read whole, so the TLS session ends with a close_notify of ours. */
static void conn_close(struct conn *c, int clean)
{
	if (c->ssl && clean)
		SSL_shutdown(c->ssl); /* once, not waiting for the server's */
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* Where body bytes go: the caller's callback, unless this reply is a redirect we follow. */
struct hop {
	const struct ag_http1_req *req;
	struct ag_http1_parser *p;
	int follow; /* redirects may still be followed from this hop */
};

static int hop_body(void *ctx, const char *p, size_t n)
{
	struct hop *h = ctx;

	if (h->follow && ag_http1_is_redirect(h->p->status) && h->p->location[0])
		return CM_OK;
	return h->req->cb.body ? h->req->cb.body(h->req->cb.ctx, p, n) : CM_OK;
}

static int hop_header(void *ctx, const char *line, size_t n)
{
	struct hop *h = ctx;

	return h->req->cb.header ? h->req->cb.header(h->req->cb.ctx, line, n) : CM_OK;
}

/*
 * OpenSSL writes to the socket with write(2): a server that has closed the connection must
 * not kill the agent with SIGPIPE. It is blocked during a request, and one raised by the
 * request is taken off the pending set before the old mask comes back (as libpq does).
 */
struct sigpipe {
	sigset_t old;
	int was_pending;
};

static void sigpipe_block(struct sigpipe *s)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	s->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &s->old);
}

static void sigpipe_restore(struct sigpipe *s)
{
	sigset_t set, pending;
	struct timespec zero = { 0, 0 };

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	if (!s->was_pending && sigismember(&pending, SIGPIPE))
		sigtimedwait(&set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}

/* One request and its reply on a new connection. */
static int get_once(const struct ag_http1_req *req, const struct url *u, int auth,
		    struct ag_http1_parser *p, int follow, char *err, size_t errsize)
{
	struct conn c = { -1, NULL, u, req->deadline, err, errsize };
	struct cm_buf out = CM_BUF_INIT(64 * 1024);
	struct hop h = { req, p, follow };
	struct ag_http1_cb cb = { hop_header, hop_body, &h };
	struct sigpipe sp;
	char buf[16384];
	int rc, blocked = 0;

	ag_http1_parser_init(p, &cb);
	rc = cm_buf_addf(&out, "GET %s HTTP/1.1\r\nHost: %s%s%s", u->target, u->v6 ? "[" : "",
			 u->host, u->v6 ? "]" : "");
	if (rc == CM_OK && u->port != (u->tls ? 443 : 80))
		rc = cm_buf_addf(&out, ":%d", u->port);
	rc = rc ? rc : cm_buf_adds(&out, "\r\nConnection: close\r\n");
	for (const char *const *hd = req->headers; rc == CM_OK && hd && *hd; hd++)
		rc = cm_buf_addf(&out, "%s\r\n", *hd);
	if (rc == CM_OK && auth && req->auth)
		rc = cm_buf_addf(&out, "%s\r\n", req->auth);
	rc = rc ? rc : cm_buf_adds(&out, "\r\n");
	if (rc) {
		snprintf(err, errsize, "request too large");
		goto out;
	}
	sigpipe_block(&sp);
	blocked = 1;
	rc = tcp_connect(&c, req->connect_ms);
	if (rc == CM_OK && u->tls)
		rc = tls_connect(&c);
	if (rc == TLS_AGAIN) {
		conn_close(&c, 0);
		rc = tcp_connect(&c, req->connect_ms);
		if (rc == CM_OK)
			rc = tls_connect(&c);
		if (rc == TLS_AGAIN) /* cannot happen: the bundle is loaded now */
			rc = tls_error(&c, "handshake");
	}
	if (rc == CM_OK)
		rc = conn_write(&c, out.data, out.len);
	while (rc == CM_OK) {
		long n = conn_read(&c, buf, sizeof(buf));

		if (n < 0) {
			rc = (int)n;
			break;
		}
		rc = n ? ag_http1_parse(p, buf, (size_t)n, NULL) : ag_http1_parse_eof(p);
		if (rc == 1) {
			rc = CM_OK;
			break;
		}
		if (rc == CM_EPROTO && p->error)
			snprintf(err, errsize, "bad reply from %s port %d: %s", u->host, u->port,
				 p->error);
		if (rc == CM_OK && n == 0)
			rc = CM_EPROTO;
	}
out:
	if (out.data)
		explicit_bzero(out.data, out.len); /* it held the token */
	cm_buf_release(&out);
	conn_close(&c, rc == CM_OK);
	if (blocked)
		sigpipe_restore(&sp);
	return rc;
}

int ag_http1_get(const struct ag_http1_req *req, int *status, char *err, size_t errsize)
{
	struct ag_http1_parser *p = malloc(sizeof(*p));
	struct url *first = malloc(sizeof(*first)), *u = malloc(sizeof(*u));
	int rc, hops = 0;

	*status = 0;
	err[0] = '\0';
	if (!p || !first || !u) {
		rc = CM_ENOMEM;
		goto out;
	}
	if (url_parse(req->url, first)) {
		snprintf(err, errsize, "URL not supported: %.200s", req->url);
		rc = CM_EINVAL;
		goto out;
	}
	*u = *first;
	for (;;) {
		int follow = hops < req->max_redirects;

		rc = get_once(req, u, same_origin(u, first), p, follow, err, errsize);
		if (rc)
			goto out;
		*status = p->status;
		if (!follow || !ag_http1_is_redirect(p->status) || !p->location[0])
			break;
		hops++;
		{
			struct url cur = *u;

			if (redirect_url(&cur, p->location, u)) {
				snprintf(err, errsize, "redirect to a URL not supported: %.200s",
					 p->location);
				rc = CM_EPROTO;
				goto out;
			}
		}
	}
	if (ag_http1_is_redirect(*status) && req->max_redirects && hops >= req->max_redirects) {
		snprintf(err, errsize, "more than %d redirects", req->max_redirects);
		rc = CM_EPROTO;
	}
out:
	free(p);
	free(first);
	free(u);
	return rc;
}
