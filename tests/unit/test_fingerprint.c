/* Unit tests of failure fingerprints (collector/store/fingerprint.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/fingerprint.h"
#include "cm_err.h"

static void assert_normalised(const char *in, const char *want)
{
	char out[COL_FP_LINE_MAX + 1];

	col_fp_normalise(in, strlen(in), out, sizeof(out));
	if (strcmp(out, want))
		fail_msg("normalise(\"%s\") = \"%s\", want \"%s\"", in, out, want);
}

static void normalise_lines(void **state)
{
	assert_normalised("2024-05-01T10:11:12.1234567Z ##[error]Process failed", "Process failed");
	assert_normalised("\x1b[31mERROR\x1b[0m: boom \x1b]8;;http://x\a", "ERROR: boom");
	assert_normalised("::error file=a.c,line=3::bad thing", "bad thing");
	assert_normalised("at 2024-05-01 10:11:12 took 1.25s", "at <time> took <n>s");
	assert_normalised("[12:01:02.5] step 3 of 10", "[<time>] step <n> of <n>");
	assert_normalised("request 123e4567-e89b-12d3-a456-426614174000 failed",
			  "request <uuid> failed");
	assert_normalised("commit 3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a broke",
			  "commit <hex> broke");
	assert_normalised("pointer 0x7ffd5e8c and id deadbeef1", "pointer <hex> and id <hex>");
	/* Words that happen to be hex, without digits, stay. */
	assert_normalised("added feed to cafe", "added feed to cafe");
	assert_normalised("open /tmp/pytest-of-runner/pytest-3/test_x0/data.json: denied",
			  "open <path>: denied");
	assert_normalised("/home/runner/work/app/app/src/main.c:42:7: error: x undeclared",
			  "<path>:<n>:<n>: error: x undeclared");
	assert_normalised("File \"C:\\Users\\runneradmin\\AppData\\Local\\Temp\\t1\\x.py\", line 9",
			  "File \"<path>\", line <n>");
	assert_normalised("  many    blanks\there  ", "many blanks here");
	/* Paths outside temporary and workspace directories are kept (they tell the error). */
	assert_normalised("/usr/include/stdio.h not found", "/usr/include/stdio.h not found");
}

static void long_lines_are_cut(void **state)
{
	char in[2000], out[COL_FP_LINE_MAX + 1];

	memset(in, 'x', sizeof(in));
	col_fp_normalise(in, sizeof(in), out, sizeof(out));
	assert_int_equal(strlen(out), COL_FP_LINE_MAX);
	/* A multi-byte character is never split. */
	for (size_t i = 0; i + 1 < sizeof(in); i += 2) {
		in[i] = (char)0xc3;
		in[i + 1] = (char)0xa9;
	}
	col_fp_normalise(in, sizeof(in), out, sizeof(out));
	assert_int_equal(strlen(out) % 2, 0);
}

static void error_lines(void **state)
{
	assert_true(col_fp_is_error("FAILED tests/test_a.py::test_x - AssertionError"));
	assert_true(col_fp_is_error("Traceback (most recent call last):"));
	assert_true(col_fp_is_error("thread 'main' panicked at src/lib.rs:<n>:<n>"));
	assert_true(col_fp_is_error("npm ERR! code ELIFECYCLE"));
	assert_false(col_fp_is_error("Compiling widgets v<n>.<n>.<n>"));
	/* GitHub's closing line says nothing about which error it was. */
	assert_false(col_fp_is_error("Process completed with exit code <n>."));
}

/* A failing step's log as GitHub writes it, with this run's own times, ids and paths. */
static void make_log(char *buf, size_t size, int run, const char *error)
{
	snprintf(buf, size,
		 "2024-05-%02dT10:%02d:12.%07dZ ##[group]Run make test\n"
		 "2024-05-%02dT10:%02d:13.0000000Z cc -o /tmp/build-%d/obj/x.o src/x.c\n"
		 "2024-05-%02dT10:%02d:14.0000000Z \x1b[1mtest %d of 140 ok\x1b[0m\n"
		 "2024-05-%02dT10:%02d:15.0000000Z /home/runner/work/app%d/app/src/db.c:%d: %s "
		 "(session %08x-1234-4abc-8def-%012x)\n"
		 "2024-05-%02dT10:%02d:16.0000000Z ##[error]Process completed with exit code %d.\n",
		 run % 28 + 1, run % 60, run * 7919 % 10000000, run % 28 + 1, run % 60, run,
		 run % 28 + 1, run % 60, run, run % 28 + 1, run % 60, run, 100 + run, error,
		 (unsigned)run * 2654435761u, (unsigned)run * 40503u, run % 28 + 1, run % 60,
		 1 + run % 3);
}

static void fingerprint_of(const char *const *texts, size_t n, struct col_fp *f)
{
	col_fp_init(f);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(col_fp_add(f, texts[i], strlen(texts[i])), CM_OK);
	assert_int_equal(col_fp_finish(f), CM_OK);
	assert_int_equal(strlen(f->hex), 64);
}

/* The same error in logs with different times, ids and paths is one group; another error is
 * another group. */
static void same_error_one_group(void **state)
{
	char log[2048], first[65] = "", other[65];
	struct col_fp f;

	for (int run = 1; run <= 50; run++) {
		const char *text = log;

		make_log(log, sizeof(log), run, "error: connection refused");
		fingerprint_of(&text, 1, &f);
		if (run == 1) {
			memcpy(first, f.hex, sizeof(first));
			assert_string_equal(
			    f.title, "<path>:<n>: error: connection refused (session <uuid>)");
			assert_int_equal(f.nlines, 1);
		}
		assert_string_equal(f.hex, first);
		col_fp_release(&f);
	}
	{
		const char *text = log;

		make_log(log, sizeof(log), 7, "error: permission denied");
		fingerprint_of(&text, 1, &f);
		memcpy(other, f.hex, sizeof(other));
		col_fp_release(&f);
		make_log(log, sizeof(log), 8, "error: disk full");
		fingerprint_of(&text, 1, &f);
	}
	assert_string_not_equal(other, first);
	assert_string_not_equal(f.hex, first);
	assert_string_not_equal(f.hex, other);
	col_fp_release(&f);
}

/* Failed tests' messages, whatever order the tests ran in, give one fingerprint. */
static void test_messages_in_any_order(void **state)
{
	const char *a[] = { "AssertionError: assert 3 == 4\nfull diff follows",
			    "TimeoutError: waited 30s for /tmp/sock-81" };
	const char *b[] = { "TimeoutError: waited 12s for /tmp/sock-19",
			    "AssertionError: assert 7 == 9\nfull diff follows" };
	struct col_fp fa, fb;

	fingerprint_of(a, 2, &fa);
	fingerprint_of(b, 2, &fb);
	assert_string_equal(fa.hex, fb.hex);
	assert_int_equal(fa.nlines, 2);
	assert_string_equal(fa.lines[0], "AssertionError: assert <n> == <n>");
	assert_string_equal(fa.title, "AssertionError: assert <n> == <n>");
	assert_string_equal(fb.title, "TimeoutError: waited <n>s for <path>");
	col_fp_release(&fa);
	col_fp_release(&fb);
}

/* Without an error line, the last non-empty lines are the signature. */
static void no_error_line_takes_the_tail(void **state)
{
	const char *text = "one\ntwo\n\nthree 3\nfour\nfive\nsix\nseven\n\n";
	struct col_fp f;

	fingerprint_of(&text, 1, &f);
	assert_int_equal(f.nlines, COL_FP_TAIL_LINES);
	assert_string_equal(f.title, "three <n>");
	col_fp_release(&f);

	col_fp_init(&f);
	assert_int_equal(col_fp_add(&f, "\n \n", 3), CM_OK);
	assert_int_equal(col_fp_finish(&f), CM_ENOTFOUND);
	col_fp_release(&f);
}

/* Many distinct error lines: bounded, and the signature keeps COL_FP_MAX_LINES of them. */
static void many_error_lines(void **state)
{
	struct col_fp f;
	char line[64];

	col_fp_init(&f);
	for (int i = 0; i < 5000; i++) {
		snprintf(line, sizeof(line), "error in module_%c%c\n", 'a' + i % 26,
			 'a' + (i / 26) % 26);
		assert_int_equal(col_fp_add(&f, line, strlen(line)), CM_OK);
	}
	assert_int_equal(col_fp_finish(&f), CM_OK);
	assert_int_equal(f.nlines, COL_FP_MAX_LINES);
	col_fp_release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(normalise_lines),
		cmocka_unit_test(long_lines_are_cut),
		cmocka_unit_test(error_lines),
		cmocka_unit_test(same_error_one_group),
		cmocka_unit_test(test_messages_in_any_order),
		cmocka_unit_test(no_error_line_takes_the_tail),
		cmocka_unit_test(many_error_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
