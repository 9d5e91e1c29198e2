/*
 * The agent's HTTP/1.1 client without the network: the reply parser (each framing, fed whole and
 * a byte at a time; what it refuses) and which URLs and environments it takes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"
#include "cm_buf.h"
#include "cm_err.h"

struct got {
	char body[256];
	size_t len;
	char location[4096];
	int lines;
};

static int on_header(void *ctx, const char *line, size_t n)
{
	((struct got *)ctx)->lines++;
	return 0;
}

static int on_body(void *ctx, const char *p, size_t n)
{
	struct got *g = ctx;

	if (g->len + n >= sizeof(g->body))
		return CM_ETOOBIG;
	memcpy(g->body + g->len, p, n);
	g->len += n;
	return 0;
}

/* Parses text whole (piece 0) or in pieces; the result (1, 0 at EOF or an error), status. */
static int parse(const char *text, size_t piece, struct got *g, int *status, int eof)
{
	struct ag_http1_parser *p = malloc(sizeof(*p));
	struct ag_http1_cb cb = { on_header, on_body, g };
	size_t n = strlen(text), off = 0;
	int rc = 0;

	assert_non_null(p);
	memset(g, 0, sizeof(*g));
	ag_http1_parser_init(p, &cb);
	while (off < n && rc == 0) {
		size_t k = piece && piece < n - off ? piece : n - off;

		rc = ag_http1_parse(p, text + off, k, NULL);
		off += k;
	}
	if (rc == 0 && eof)
		rc = ag_http1_parse_eof(p);
	*status = p->status;
	snprintf(g->location, sizeof(g->location), "%s", p->location);
	free(p);
	return rc;
}

static void framings(void **state)
{
	static const char *const replies[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello worldIGNORED",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n "
		"world\r\n0\r\nX-T: 1\r\n\r\nIGNORED",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 11\n\nhello world",
		"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nhello world",
	};
	struct got g;
	int status;

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		for (size_t piece = 0; piece < 3; piece++) {
			assert_int_equal(parse(replies[i], piece, &g, &status, 1), 1);
			assert_int_equal(status, 200);
			assert_int_equal(g.len, 11);
			assert_memory_equal(g.body, "hello world", 11);
		}
	}
	/* No body whatever the headers say; a redirect's Location. */
	assert_int_equal(
	    parse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", 0, &g, &status, 0), 1);
	assert_int_equal(g.len, 0);
	assert_int_equal(parse("HTTP/1.1 302 Found\r\nlocation:  https://b.example/x?s=1 \r\n"
			       "Content-Length: 0\r\n\r\n",
			       1, &g, &status, 0),
			 1);
	assert_int_equal(status, 302);
	assert_string_equal(g.location, "https://b.example/x?s=1");
	assert_true(ag_http1_is_redirect(302) && ag_http1_is_redirect(308));
	assert_false(ag_http1_is_redirect(304) || ag_http1_is_redirect(300));
}

static void refused(void **state)
{
	static const char *const replies[] = {
		"HTTP/2 200\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000001\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		/* A body cut short, and a reply that never ended its headers. */
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
	};
	struct got g;
	int status;

	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		assert_int_equal(parse(replies[i], i % 3, &g, &status, 1), CM_EPROTO);
}

static void limits(void **state)
{
	struct cm_buf b = CM_BUF_INIT(1 << 20);
	struct got g;
	int status;

	/* One line over the line limit; many lines over the header limit. */
	assert_int_equal(cm_buf_adds(&b, "HTTP/1.1 200 OK\r\nX-Long: "), 0);
	for (int i = 0; i < AG_HTTP1_LINE_MAX; i++)
		assert_int_equal(cm_buf_addc(&b, 'a'), 0);
	assert_int_equal(cm_buf_adds(&b, "\r\n\r\n"), 0);
	assert_int_equal(parse(cm_buf_str(&b), 0, &g, &status, 1), CM_EPROTO);
	cm_buf_reset(&b);
	assert_int_equal(cm_buf_adds(&b, "HTTP/1.1 200 OK\r\n"), 0);
	for (int i = 0; i < AG_HTTP1_HEADERS_MAX / 8; i++)
		assert_int_equal(cm_buf_adds(&b, "X-Many: 1234\r\n"), 0);
	assert_int_equal(cm_buf_adds(&b, "\r\n"), 0);
	assert_int_equal(parse(cm_buf_str(&b), 7, &g, &status, 1), CM_EPROTO);
	cm_buf_release(&b);
	/* A body callback's error stops the reply and comes back as it is. */
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789012345678901234567890123456789"
		  "0123456789012345678901234567890123456789",
		  0, &g, &status, 1),
	    CM_ETOOBIG);
}

static void urls(void **state)
{
	assert_true(ag_http1_url_ok("https://api.github.com"));
	assert_true(ag_http1_url_ok("http://127.0.0.1:8080/api/v3"));
	assert_true(ag_http1_url_ok("HTTPS://[::1]:8443/api?x=1#frag"));
	assert_true(ag_http1_url_ok("https://ghe.example"));
	assert_false(ag_http1_url_ok("https://user:pw@ghe.example"));
	assert_false(ag_http1_url_ok("ftp://ghe.example"));
	assert_false(ag_http1_url_ok("https://"));
	assert_false(ag_http1_url_ok("https://ghe.example:0/"));
	assert_false(ag_http1_url_ok("https://ghe.example:65536/"));
	assert_false(ag_http1_url_ok("https://ghe.example/a b"));
	assert_false(ag_http1_url_ok("https://ghe.example/a\r\nX: 1"));
	assert_false(ag_http1_url_ok("https://[nothex]/"));
	assert_false(ag_http1_url_ok("https://gh e.example/"));
}

static void proxies(void **state)
{
	static const char *const names[] = { "http_proxy", "https_proxy", "HTTPS_PROXY",
					     "all_proxy", "ALL_PROXY" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	/* HTTP_PROXY (upper case) is one libcurl ignores, as a CGI header could set it. */
	setenv("HTTP_PROXY", "http://proxy:3128", 1);
	assert_null(ag_http1_proxy_env());
	setenv("HTTPS_PROXY", "", 1);
	assert_null(ag_http1_proxy_env());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		setenv(names[i], "http://proxy:3128", 1);
		assert_string_equal(ag_http1_proxy_env(), names[i]);
		unsetenv(names[i]);
	}
	unsetenv("HTTP_PROXY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(framings), cmocka_unit_test(refused), cmocka_unit_test(limits),
		cmocka_unit_test(urls),	    cmocka_unit_test(proxies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
