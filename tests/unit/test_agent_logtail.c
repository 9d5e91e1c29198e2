/* Log tails: line and byte bounds, UTF-8 repair, NUL removal, ANSI kept, masking, truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "logtail.h"
#include "cm_buf.h"
#include "cm_err.h"

static char *tail_of(const char *in, size_t n, size_t lines, size_t bytes, struct ag_secrets *masks,
		     const struct ag_secrets *secrets, size_t feed, int *truncated)
{
	struct ag_tail t;
	struct cm_buf out = CM_BUF_INIT(1 << 24);
	size_t off = 0;

	ag_tail_init(&t, lines, bytes, masks);
	/* Feed in pieces of `feed` bytes: results must not depend on how output arrives. */
	while (off < n) {
		size_t k = n - off < feed ? n - off : feed;

		assert_int_equal(ag_tail_feed(&t, in + off, k), 0);
		off += k;
	}
	assert_int_equal(ag_tail_finish(&t, secrets, &out, truncated), 0);
	assert_int_equal(t.total, (int64_t)n);
	ag_tail_release(&t);
	return cm_buf_detach(&out, NULL) ?: strdup("");
}

static void last_lines(void **state)
{
	const char *in = "one\ntwo\nthree\nfour\n";
	int tr;
	char *s;

	for (size_t feed = 1; feed <= 20; feed++) {
		s = tail_of(in, strlen(in), 2, 1000, NULL, NULL, feed, &tr);
		assert_string_equal(s, "three\nfour\n");
		assert_true(tr);
		free(s);
	}
	s = tail_of(in, strlen(in), 4, 1000, NULL, NULL, 64, &tr);
	assert_string_equal(s, in);
	assert_false(tr);
	free(s);
	/* No final newline: the partial last line counts as a line. */
	s = tail_of("a\nb\nc", 5, 2, 1000, NULL, NULL, 64, &tr);
	assert_string_equal(s, "b\nc");
	assert_true(tr);
	free(s);
	s = tail_of("", 0, 5, 1000, NULL, NULL, 1, &tr);
	assert_string_equal(s, "");
	assert_false(tr);
	free(s);
}

static void byte_cap_cuts_at_line_start(void **state)
{
	const char *in = "aaaaaaaaaa\nbbbbbbbbbb\ncccccccccc\n";
	int tr;
	char *s = tail_of(in, strlen(in), 100, 15, NULL, NULL, 7, &tr);

	assert_string_equal(s, "cccccccccc\n");
	assert_true(tr);
	free(s);
}

static void byte_cap_keeps_utf8_whole(void **state)
{
	/* One long line of 3-byte characters: the cut must land on a character boundary. */
	struct cm_buf in = CM_BUF_INIT(1 << 20);
	int tr;
	char *s;

	for (int i = 0; i < 100; i++)
		assert_int_equal(cm_buf_adds(&in, "\xE2\x82\xAC"), CM_OK);
	s = tail_of(in.data, in.len, 10, 10, NULL, NULL, 5, &tr);
	assert_true(tr);
	assert_true(strlen(s) <= 10);
	assert_int_equal(strlen(s) % 3, 0);
	assert_true(strlen(s) > 0);
	assert_memory_equal(s, "\xE2\x82\xAC", 3);
	free(s);
	cm_buf_release(&in);
}

static void long_stream_stays_bounded(void **state)
{
	struct ag_tail t;
	struct cm_buf out = CM_BUF_INIT(1 << 20);
	char line[64];
	int tr;

	ag_tail_init(&t, 3, 4096, NULL);
	for (int i = 0; i < 200000; i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", i);

		assert_int_equal(ag_tail_feed(&t, line, (size_t)n), 0);
		assert_true(t.win.len <= 2 * (4096 + 4096));
	}
	assert_int_equal(ag_tail_finish(&t, NULL, &out, &tr), 0);
	assert_string_equal(out.data, "line 199997\nline 199998\nline 199999\n");
	assert_true(tr);
	ag_tail_release(&t);
	cm_buf_release(&out);
}

static void sanitizes_but_keeps_ansi(void **state)
{
	const char in[] = "ok \x1b[31mred\x1b[0m\nbad \xff\xfe byte\nnul\0here\n";
	int tr;
	char *s = tail_of(in, sizeof(in) - 1, 10, 1000, NULL, NULL, 3, &tr);

	assert_string_equal(s,
			    "ok \x1b[31mred\x1b[0m\nbad \xEF\xBF\xBD\xEF\xBF\xBD byte\nnulhere\n");
	assert_false(tr);
	free(s);
}

static void masks_secrets_and_add_mask_values(void **state)
{
	struct ag_secrets secrets = { NULL, 0 }, masks = { NULL, 0 };
	const char *in = "token is s3cr3t-token\n"
			 "::add-mask::hunter22\n"
			 "2023-06-26T03:31:36.1Z ::add-mask::  padded-value \r\n"
			 "pw=hunter22 again padded-value\n"
			 "tiny: abc\n";
	int tr;
	char *s;

	assert_int_equal(ag_secrets_add(&secrets, "s3cr3t-token", 12), 0);
	assert_int_equal(ag_secrets_add(&secrets, "abc", 3), 0); /* too short: ignored */
	assert_int_equal(secrets.n, 1);
	for (size_t feed = 1; feed < 9; feed += 3) {
		s = tail_of(in, strlen(in), 2, 1000, &masks, &secrets, feed, &tr);
		/* The add-mask lines themselves are outside the last 2 lines, their values not. */
		assert_string_equal(s, "pw=*** again ***\ntiny: abc\n");
		assert_null(strstr(s, "hunter22"));
		free(s);
	}
	assert_int_equal(masks.n, 2);
	s = tail_of(in, strlen(in), 10, 1000, &masks, &secrets, 4, &tr);
	assert_null(strstr(s, "s3cr3t-token"));
	assert_non_null(strstr(s, "token is ***"));
	free(s);
	ag_secrets_release(&masks);
	ag_secrets_release(&secrets);
}

static void zero_lines_keeps_nothing(void **state)
{
	int tr;
	char *s = tail_of("a\nb\n", 4, 0, 1000, NULL, NULL, 2, &tr);

	assert_string_equal(s, "");
	assert_true(tr);
	free(s);
}

static void utf8_prefix(void **state)
{
	const char *s = "ab\xE2\x82\xAC"
			"cd";

	assert_int_equal(ag_utf8_prefix(s, 7, 100), 7);
	assert_int_equal(ag_utf8_prefix(s, 7, 3), 2);
	assert_int_equal(ag_utf8_prefix(s, 7, 4), 2);
	assert_int_equal(ag_utf8_prefix(s, 7, 5), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(last_lines),
		cmocka_unit_test(byte_cap_cuts_at_line_start),
		cmocka_unit_test(byte_cap_keeps_utf8_whole),
		cmocka_unit_test(long_stream_stays_bounded),
		cmocka_unit_test(sanitizes_but_keeps_ansi),
		cmocka_unit_test(masks_secrets_and_add_mask_values),
		cmocka_unit_test(zero_lines_keeps_nothing),
		cmocka_unit_test(utf8_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
