/* GitHub client pieces that need no network: Link headers, retry and rate-limit waits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "github.h"
#include "cm_err.h"
#include "cm_http.h"

static void link_next(void **state)
{
	char out[512];

	assert_int_equal(
	    cm_http_link_next(
		"<https://api.github.com/repositories/1/actions/runs/2/attempts/1/jobs?per_page=100&page=2>; rel=\"next\", "
		"<https://api.github.com/repositories/1/actions/runs/2/attempts/1/jobs?per_page=100&page=5>; rel=\"last\"",
		out, sizeof(out)),
	    0);
	assert_string_equal(
	    out,
	    "https://api.github.com/repositories/1/actions/runs/2/attempts/1/jobs?per_page=100&page=2");
	/* next after prev, params in another order, no quotes. */
	assert_int_equal(
	    cm_http_link_next(
		"<http://h/x?page=1>; rel=\"prev\", <http://h/x?page=3>; foo=bar; rel=next", out,
		sizeof(out)),
	    0);
	assert_string_equal(out, "http://h/x?page=3");
	/* Several relation types in one rel. */
	assert_int_equal(cm_http_link_next("<http://h/y>; rel=\"last next\"", out, sizeof(out)), 0);
	assert_string_equal(out, "http://h/y");
	/* Last page: only prev/first. */
	assert_int_equal(
	    cm_http_link_next(
		"<http://h/x?page=1>; rel=\"prev\", <http://h/x?page=1>; rel=\"first\"", out,
		sizeof(out)),
	    CM_ENOTFOUND);
	/* "nextish" is not "next". */
	assert_int_equal(cm_http_link_next("<http://h/z>; rel=\"nextish\"", out, sizeof(out)),
			 CM_ENOTFOUND);
	assert_int_equal(cm_http_link_next("", out, sizeof(out)), CM_ENOTFOUND);
	assert_int_equal(cm_http_link_next("garbage <unterminated", out, sizeof(out)),
			 CM_ENOTFOUND);
	assert_int_equal(cm_http_link_next("<http://h/a-long-url>; rel=\"next\"", out, 5),
			 CM_ETOOBIG);
}

static void url_base_len(void **state)
{
	assert_int_equal(cm_http_url_base_len("https://ci.example.com"), 22);
	assert_int_equal(cm_http_url_base_len("https://ci.example.com/"), 22);
	assert_int_equal(cm_http_url_base_len("https://ci.example.com/x//"), 24);
	assert_int_equal(cm_http_url_base_len("///"), 0);
	assert_int_equal(cm_http_url_base_len(""), 0);
	assert_int_equal(cm_http_url_base_len(NULL), 0);
}

static void url_inside(void **state)
{
	const char *api = "https://api.github.com";

	assert_true(ag_gh_url_inside("https://api.github.com/repos/o/r/actions/runs?page=2", api));
	assert_true(ag_gh_url_inside("https://api.github.com", api));
	assert_true(ag_gh_url_inside("https://api.github.com?page=2", api));
	/* Another host that starts with the same letters, or user info before another host. */
	assert_false(ag_gh_url_inside("https://api.github.com.evil.example/repos", api));
	assert_false(ag_gh_url_inside("https://api.github.com@evil.example/repos", api));
	assert_false(ag_gh_url_inside("https://api.github.com:8443/repos", api));
	assert_false(ag_gh_url_inside("https://evil.example/https://api.github.com/", api));
	/* GitHub Enterprise Server: the API is a path. */
	assert_true(
	    ag_gh_url_inside("https://ghe.example/api/v3/repos/o/r", "https://ghe.example/api/v3"));
	assert_false(
	    ag_gh_url_inside("https://ghe.example/api/v3x/repos", "https://ghe.example/api/v3"));
	assert_true(
	    ag_gh_url_inside("https://ghe.example/api/v3/repos", "https://ghe.example/api/v3/"));
	assert_false(ag_gh_url_inside("https://x", ""));
}

static void retry_waits(void **state)
{
	/* Retry-After wins. */
	assert_int_equal(ag_gh_retry_wait(403, "7", "0", "1000", 900, 500), 7000);
	assert_int_equal(ag_gh_retry_wait(429, "0", NULL, NULL, 900, 500), 0);
	/* Primary rate limit: wait until the reset, plus a second. */
	assert_int_equal(ag_gh_retry_wait(403, "", "0", "1010", 1000, 500), 11000);
	/* Reset already past: a short wait. */
	assert_int_equal(ag_gh_retry_wait(403, NULL, "0", "990", 1000, 500), 1000);
	/* A 403 that is not a rate limit (no permission): no retry. */
	assert_int_equal(ag_gh_retry_wait(403, NULL, "4999", "1010", 1000, 500), -1);
	assert_int_equal(ag_gh_retry_wait(403, NULL, NULL, NULL, 1000, 500), -1);
	/* 429 without headers: back off. */
	assert_int_equal(ag_gh_retry_wait(429, NULL, NULL, NULL, 1000, 500), 500);
	/* Server errors and network errors: back off; client errors: no retry. */
	assert_int_equal(ag_gh_retry_wait(502, NULL, NULL, NULL, 1000, 800), 800);
	assert_int_equal(ag_gh_retry_wait(0, NULL, NULL, NULL, 1000, 800), 800);
	assert_int_equal(ag_gh_retry_wait(404, NULL, NULL, NULL, 1000, 800), -1);
	assert_int_equal(ag_gh_retry_wait(401, NULL, NULL, NULL, 1000, 800), -1);
	/* Garbage headers are not trusted. */
	assert_int_equal(ag_gh_retry_wait(403, "soon", "0", "x", 1000, 500), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(link_next),
		cmocka_unit_test(url_base_len),
		cmocka_unit_test(url_inside),
		cmocka_unit_test(retry_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
