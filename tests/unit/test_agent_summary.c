/* The job summary's Markdown: escaping of outside text, the table, tests, group, links. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "summary.h"
#include "cipulse/v1/collector.pb-c.h"
#include "cm_buf.h"
#include "cm_err.h"

static char *escaped(const char *s, size_t n)
{
	struct cm_buf b = CM_BUF_INIT(65536);
	size_t len;

	assert_int_equal(ag_summary_escape(&b, s, n), CM_OK);
	if (!b.data)
		return strdup("");
	return cm_buf_detach(&b, &len);
}

static void escape_markup(void **state)
{
	const char in[] = "a|b`c<script>&*_[x](y)\\~!$@#\"\r\nz";
	char *out = escaped(in, strlen(in));

	(void)state;
	assert_string_equal(out, "a&#124;b&#96;c&#60;script&#62;&#38;&#42;&#95;&#91;x&#93;(y)"
				 "&#92;&#126;&#33;&#36;&#64;&#35;&#34;  z");
	free(out);
}

static void escape_bad_utf8_nul_and_length(void **state)
{
	char in[1000];
	char *out;

	(void)state;
	/* Invalid UTF-8 becomes U+FFFD, NUL goes. */
	out = escaped("a\xff"
		      "b\0c",
		      5);
	assert_string_equal(out, "a\xEF\xBF\xBD"
				 "bc");
	free(out);
	/* 1000 bytes of two-byte characters: cut at 200 bytes, not inside one, then "…". */
	for (size_t i = 0; i + 1 < sizeof(in); i += 2) {
		in[i] = '\xC3';
		in[i + 1] = '\xA9';
	}
	out = escaped(in, sizeof(in));
	assert_int_equal(strlen(out), AG_SUMMARY_TEXT_MAX + 3);
	assert_memory_equal(out + AG_SUMMARY_TEXT_MAX, "\xE2\x80\xA6", 3);
	free(out);
}

/* A reply packed the way the collector sends it. */
static uint8_t *pack(const Cipulse__V1__SummaryReply *r, size_t *len)
{
	uint8_t *buf = malloc(cipulse__v1__summary_reply__get_packed_size(r) + 1);

	assert_non_null(buf);
	*len = cipulse__v1__summary_reply__pack(r, buf);
	return buf;
}

static void markdown_whole(void **state)
{
	Cipulse__V1__SummaryReply r = CIPULSE__V1__SUMMARY_REPLY__INIT;
	Cipulse__V1__StepBaseline s[2], *sp[2] = { &s[0], &s[1] };
	Cipulse__V1__FailedTest t[12], *tp[12];
	Cipulse__V1__FailureGroup g = CIPULSE__V1__FAILURE_GROUP__INIT;
	struct cm_buf md = CM_BUF_INIT(1 << 20);
	const char *text;
	uint8_t *wire;
	size_t len;

	(void)state;
	cipulse__v1__step_baseline__init(&s[0]);
	s[0].number = 1;
	s[0].name = "Build | all";
	s[0].duration_ms = 20000;
	s[0].p50_ms = 10000;
	s[0].p95_ms = 12000;
	s[0].samples = 12;
	cipulse__v1__step_baseline__init(&s[1]);
	s[1].number = 2;
	s[1].name = "Test";
	s[1].duration_ms = 0;
	for (int i = 0; i < 12; i++) {
		cipulse__v1__failed_test__init(&t[i]);
		t[i].name = "test_x";
		t[i].class_name = i ? "" : "pkg.Class";
		t[i].message = i ? "" : "assert 1 == 2\nmore";
		t[i].flaky = i == 0;
		t[i].new_failure = i == 1;
		tp[i] = &t[i];
	}
	g.fingerprint = "0123abcd";
	g.title = "error: <b>boom</b>";
	g.runs = 37;
	g.repositories = 5;
	g.first_seen = 1764547200000; /* 2025-12-01 */
	r.n_steps = 2;
	r.steps = sp;
	r.n_failed_tests = 12;
	r.failed_tests = tp;
	r.failed_tests_total = 40;
	r.failure_group = &g;
	r.job_url = "https://ci.example.com/runs/9?attempt=1&job=7";
	r.default_branch = "main";
	wire = pack(&r, &len);
	assert_int_equal(ag_summary_markdown(wire, len, "build <x>", &md), CM_OK);
	text = cm_buf_str(&md);
	assert_non_null(strstr(text, "### cipulse: build &#60;x&#62;\n"));
	assert_non_null(strstr(text, "| 1 | Build &#124; all | 20.0s | 10.0s | 12.0s | 12 | "
				     "⚠️ slow (over p95) |\n"));
	assert_non_null(strstr(text, "| 2 | Test | – | – | – | 0 |  |\n"));
	assert_non_null(strstr(text, "**Failed tests: 40**"));
	assert_non_null(strstr(text, "- test&#95;x (pkg.Class) — **flaky**: assert 1 == 2 more\n"));
	assert_non_null(strstr(text, "- test&#95;x — **new failure**\n"));
	assert_non_null(strstr(text, "- and 30 more\n"));
	assert_non_null(strstr(text, "error: &#60;b&#62;boom&#60;/b&#62; — seen in 37 runs in 5 "
				     "repositories since 2025-12-01 ([all of them]"
				     "(https://ci.example.com/failures/0123abcd))"));
	assert_non_null(strstr(text, "[Open this job in cipulse]"
				     "(https://ci.example.com/runs/9?attempt=1&job=7)"));
	assert_null(strstr(text, "<"));
	free(wire);
	cm_buf_release(&md);
}

static void markdown_links_only_http(void **state)
{
	Cipulse__V1__SummaryReply r = CIPULSE__V1__SUMMARY_REPLY__INIT;
	struct cm_buf md = CM_BUF_INIT(1 << 20);
	uint8_t *wire;
	size_t len;

	(void)state;
	r.job_url = "javascript:alert(1)//runs/1";
	wire = pack(&r, &len);
	assert_int_equal(ag_summary_markdown(wire, len, "j", &md), CM_OK);
	assert_null(strstr(cm_buf_str(&md), "javascript"));
	free(wire);
	cm_buf_reset(&md);
	r.job_url = "https://h/runs/1?a=(b) <c>";
	wire = pack(&r, &len);
	assert_int_equal(ag_summary_markdown(wire, len, "j", &md), CM_OK);
	assert_non_null(strstr(cm_buf_str(&md), "(https://h/runs/1?a=%28b%29%20%3Cc%3E)"));
	free(wire);
	cm_buf_release(&md);
	/* Not a SummaryReply. */
	assert_int_equal(ag_summary_markdown("\xff\xff\xff", 3, "j", &md), CM_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_markup),
		cmocka_unit_test(escape_bad_utf8_nul_and_length),
		cmocka_unit_test(markdown_whole),
		cmocka_unit_test(markdown_links_only_http),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
