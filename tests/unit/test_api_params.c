/* Unit tests of the API's decoders: query strings, paths, cursors, windows, and the metric maths.
 */
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api_int.h"
#include "api/query.h"
#include "cm_err.h"
#include "cm_time.h"

static const char *const keys[] = { "limit", "q", "from", "a b", NULL };

static int parse(struct col_query *q, const char *raw, char *param, const char **why)
{
	return col_query_parse(q, raw, keys, param, 80, why);
}

static void query_decodes_percent_plus_and_utf8(void **state)
{
	struct col_query q;
	char param[80];
	const char *why;

	assert_int_equal(parse(&q, "limit=5&q=caf%C3%A9+au%20lait&&a+b=%2B", param, &why), CM_OK);
	assert_int_equal(q.n, 3);
	assert_string_equal(col_query_get(&q, "limit"), "5");
	assert_string_equal(col_query_get(&q, "q"), "caf\xC3\xA9 au lait");
	assert_string_equal(col_query_get(&q, "a b"), "+");
	assert_null(col_query_get(&q, "from"));
	assert_int_equal(parse(&q, "", param, &why), CM_OK);
	assert_int_equal(q.n, 0);
	assert_int_equal(parse(&q, "q", param, &why), CM_OK);
	assert_string_equal(col_query_get(&q, "q"), "");
}

static void query_refuses_bad_input_naming_the_parameter(void **state)
{
	static const struct {
		const char *raw, *param;
		int rc;
	} cases[] = {
		{ "limit=1&limit=2", "limit", CM_EINVAL }, /* duplicate */
		{ "nope=1", "nope", CM_EINVAL },	   /* unknown */
		{ "limit=%zz", "limit", CM_EINVAL },	   /* bad escape */
		{ "limit=%4", "limit", CM_EINVAL },	   /* truncated escape */
		{ "limit=%", "limit", CM_EINVAL },
		{ "q=%C3%28", "q", CM_EINVAL },		     /* invalid UTF-8 */
		{ "q=a%00b", "q", CM_EINVAL },		     /* NUL */
		{ "q=%ED%A0%80", "q", CM_EINVAL },	     /* surrogate */
		{ "%ff=1", "query", CM_EINVAL },	     /* unprintable key */
		{ "=1", "query", CM_EINVAL },		     /* empty key */
		{ "li%6Dit=1&limit=2", "limit", CM_EINVAL }, /* duplicate once decoded */
	};
	struct col_query q;
	char param[80], big[COL_QUERY_MAX_BYTES + 16];
	const char *why = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(&q, cases[i].raw, param, &why), cases[i].rc);
		assert_string_equal(param, cases[i].param);
		assert_non_null(why);
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(parse(&q, big, param, &why), CM_ETOOBIG);
	assert_string_equal(param, "query");
}

static void paths_and_ids(void **state)
{
	char name[160];
	const char *rest;
	int64_t id;

	assert_int_equal(col_path_repo("octo/hello.js/runs", name, sizeof(name), &rest), CM_OK);
	assert_string_equal(name, "octo/hello.js");
	assert_string_equal(rest, "/runs");
	assert_int_equal(col_path_repo("octo/hello", name, sizeof(name), &rest), CM_OK);
	assert_string_equal(rest, "");
	assert_int_equal(col_path_repo("octo", name, sizeof(name), &rest), CM_EINVAL);
	assert_int_equal(col_path_repo("octo/..", name, sizeof(name), &rest), CM_EINVAL);
	assert_int_equal(col_path_repo("oc to/x", name, sizeof(name), &rest), CM_EINVAL);
	assert_int_equal(col_path_repo("/x", name, sizeof(name), &rest), CM_EINVAL);
	assert_int_equal(col_parse_id("123", 3, &id), CM_OK);
	assert_int_equal(id, 123);
	assert_int_equal(col_parse_id("0", 1, &id), CM_EINVAL);
	assert_int_equal(col_parse_id("-1", 2, &id), CM_EINVAL);
	assert_int_equal(col_parse_id("012", 3, &id), CM_EINVAL);
	assert_int_equal(col_parse_id("1234567890123456789", 19, &id), CM_EINVAL);
	assert_int_equal(col_parse_id("", 0, &id), CM_EINVAL);
	/* Signed, ranged: what the cursors of times, steps and workflow ids hold. */
	assert_int_equal(col_parse_i64("-42", 3, -100, 100, &id), CM_OK);
	assert_int_equal(id, -42);
	assert_int_equal(col_parse_i64("0", 1, 0, 10, &id), CM_OK);
	assert_int_equal(id, 0);
	assert_int_equal(col_parse_i64("-0", 2, -10, 10, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("-", 1, -10, 10, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("007", 3, 0, 10, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("11", 2, 0, 10, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("-11", 3, -10, 10, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("99999999999999", 14, 0, INT32_MAX, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("2147483647", 10, 0, INT32_MAX, &id), CM_OK);
	assert_int_equal(col_parse_i64("9223372036854775807", 19, INT64_MIN, INT64_MAX, &id),
			 CM_OK);
	assert_true(id == INT64_MAX);
	assert_int_equal(col_parse_i64("-9223372036854775808", 20, INT64_MIN, INT64_MAX, &id),
			 CM_OK);
	assert_true(id == INT64_MIN);
	assert_int_equal(col_parse_i64("9223372036854775808", 19, INT64_MIN, INT64_MAX, &id),
			 CM_EINVAL);
	assert_int_equal(col_parse_i64("-9223372036854775809", 20, INT64_MIN, INT64_MAX, &id),
			 CM_EINVAL);
	assert_int_equal(col_parse_i64("-9223372036854775808", 20, -1, 0, &id), CM_EINVAL);
	assert_int_equal(col_parse_i64("12a", 3, 0, 1000, &id), CM_EINVAL);
}

static void cursors_round_trip_and_refuse_garbage(void **state)
{
	const char *in[2] = { "1714000000123456", "98765" }, *out[2];
	char enc[API_CURSOR_MAX + 1], scratch[API_CURSOR_MAX + 1];

	assert_int_equal(api_cursor_encode(enc, sizeof(enc), "runs", in, 2), CM_OK);
	assert_null(strpbrk(enc, "+/=|"));
	assert_int_equal(api_cursor_decode(enc, "runs", scratch, sizeof(scratch), out, 2), CM_OK);
	assert_string_equal(out[0], in[0]);
	assert_string_equal(out[1], in[1]);
	/* Wrong kind, wrong field count, bad alphabet, impossible length, empty. */
	assert_int_equal(api_cursor_decode(enc, "repos", scratch, sizeof(scratch), out, 2),
			 CM_EINVAL);
	assert_int_equal(api_cursor_decode(enc, "runs", scratch, sizeof(scratch), out, 1),
			 CM_EINVAL);
	assert_int_equal(api_cursor_decode("ab+/", "runs", scratch, sizeof(scratch), out, 2),
			 CM_EINVAL);
	assert_int_equal(api_cursor_decode("abcde", "runs", scratch, sizeof(scratch), out, 2),
			 CM_EINVAL);
	assert_int_equal(api_cursor_decode("", "runs", scratch, sizeof(scratch), out, 2),
			 CM_EINVAL);
	/* Base64 of "runs|1\0|2": a NUL inside is refused. */
	assert_int_equal(
	    api_cursor_decode("cnVuc3wxAHwy", "runs", scratch, sizeof(scratch), out, 2), CM_EINVAL);
	/* Non-canonical base64 (non-zero unused bits in the last group; found by fuzz_query). */
	assert_int_equal(api_cursor_decode("cnVuc3wxNzE0MDAwMDAwMT4NzY1", "runs", scratch,
					   sizeof(scratch), out, 2),
			 CM_EINVAL);
	/* Any field text survives: '|' and '%' are escaped, and only that spelling decodes. */
	{
		char big[200];
		const char *odd[] = { "a|b", "100%", "%7C|%25", "", big, "acme/target (-7)" };

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
			in[0] = odd[i];
			assert_int_equal(api_cursor_encode(enc, sizeof(enc), "runs", in, 2), CM_OK);
			assert_int_equal(
			    api_cursor_decode(enc, "runs", scratch, sizeof(scratch), out, 2),
			    CM_OK);
			assert_string_equal(out[0], odd[i]);
			assert_string_equal(out[1], in[1]);
		}
	}
	/* Base64 of "repos|50%off" and "repos|a%7cb": escapes that encode never writes. */
	assert_int_equal(
	    api_cursor_decode("cmVwb3N8NTAlb2Zm", "repos", scratch, sizeof(scratch), out, 1),
	    CM_EINVAL);
	assert_int_equal(
	    api_cursor_decode("cmVwb3N8YSU3Y2I", "repos", scratch, sizeof(scratch), out, 1),
	    CM_EINVAL);
}

static void typed_cursors_are_positions_the_sql_can_take(void **state)
{
	char enc[API_CURSOR_MAX + 1], scratch[API_CURSOR_MAX + 1];
	struct api_cursor cur;
	static const struct {
		const char *kind, *f0, *f1;
		int ok;
	} cases[] = {
		{ "runs", "-1000000", "5", 1 },		  /* before 1970 */
		{ "runs", "253402300799999999", "5", 1 }, /* the end of 9999 */
		{ "runs", "253402300800000000", "5", 0 },
		{ "runs", "-62135596800000001", "5", 0 },
		{ "runs", "0", "0", 0 },	      /* run ids are positive */
		{ "logs", "1", "99999999999999", 0 }, /* steps are 32-bit */
		{ "logs", "1", "2147483647", 1 },
		{ "logs", "1", "0", 1 },
		{ "logs", "1", "-1", 0 },
		{ "wf", "-9223372036854775808", NULL, 1 },
		{ "wf", "x", NULL, 0 },
		{ "alerts", "99999999999999999999", NULL, 0 },
		{ "repos", "acme/target (-7)", NULL, 1 },
		{ "repos", "a|b%c", NULL, 1 },
		{ "repos", "", NULL, 0 },
		{ "repos", "\xff", NULL, 0 }, /* not UTF-8: the database refuses it */
		{ "tests", "0", NULL, 1 },    /* offsets of ranked lists */
		{ "tests", "1000000", NULL, 1 },
		{ "tests", "1000001", NULL, 0 },
		{ "failures", "-1", NULL, 0 },
		{ "failures", "50", NULL, 1 },
		{ "history", "-1000000", "5", 1 }, /* a result's time and job id */
		{ "history", "1", "0", 0 },
		{ "fruns", "253402300800000000", "5", 0 },
		{ "fruns", "1714000000000000", "7", 1 },
		{ "history", "1", NULL, 0 }, /* two fields */
		{ "nope", "1", NULL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *f[2] = { cases[i].f0, cases[i].f1 };

		const char *kind = cases[i].kind;

		assert_int_equal(api_cursor_encode(enc, sizeof(enc), kind, f, f[1] ? 2 : 1), CM_OK);
		assert_int_equal(api_cursor_parse(enc, kind, scratch, sizeof(scratch), &cur),
				 cases[i].ok ? CM_OK : CM_EINVAL);
	}
	{
		const char *f[2] = { "-1000000", "5" };

		assert_int_equal(api_cursor_encode(enc, sizeof(enc), "runs", f, 2), CM_OK);
		assert_int_equal(api_cursor_parse(enc, "runs", scratch, sizeof(scratch), &cur),
				 CM_OK);
		assert_true(cur.a == -1000000 && cur.b == 5);
	}
}

static void windows(void **state)
{
	const int64_t now = 1714000000000LL;
	struct api_window w;
	const char *param = NULL, *why = NULL;

	assert_int_equal(api_window_parse(NULL, NULL, NULL, now, &w, &param, &why), CM_OK);
	assert_string_equal(w.name, "24h");
	assert_int_equal(w.to_ms - w.from_ms, 86400000LL);
	assert_int_equal(w.nbuckets, 24);
	assert_int_equal(api_window_parse("1h", NULL, NULL, now, &w, &param, &why), CM_OK);
	assert_int_equal(w.bucket_ms, 300000);
	assert_int_equal(w.nbuckets, 12);
	assert_int_equal(api_window_parse("7d", NULL, NULL, now, &w, &param, &why), CM_OK);
	assert_int_equal(w.nbuckets, 28);
	assert_int_equal(api_window_parse("30d", NULL, NULL, now, &w, &param, &why), CM_OK);
	assert_int_equal(w.nbuckets, 30);
	/* Custom: 3 days -> 3 h buckets (1 h would give 72 > 60); the last bucket may be short. */
	assert_int_equal(api_window_parse(NULL, "2024-01-01T00:00:00Z", "2024-01-04T00:30:00Z", now,
					  &w, &param, &why),
			 CM_OK);
	assert_int_equal(w.bucket_ms, 3 * 3600000LL);
	assert_int_equal(w.nbuckets, 25);
	assert_string_equal(w.name, "custom");
	assert_int_equal(
	    api_window_parse(NULL, "2024-04-24T00:00:00Z", NULL, now, &w, &param, &why), CM_OK);
	assert_int_equal(w.to_ms, now);

	assert_int_equal(api_window_parse("2d", NULL, NULL, now, &w, &param, &why), CM_EINVAL);
	assert_string_equal(param, "window");
	assert_int_equal(
	    api_window_parse("24h", "2024-01-01T00:00:00Z", NULL, now, &w, &param, &why),
	    CM_EINVAL);
	assert_string_equal(param, "window");
	assert_int_equal(
	    api_window_parse(NULL, NULL, "2024-01-01T00:00:00Z", now, &w, &param, &why), CM_EINVAL);
	assert_string_equal(param, "from");
	assert_int_equal(api_window_parse(NULL, "2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", now,
					  &w, &param, &why),
			 CM_EINVAL);
	assert_string_equal(param, "from");
	assert_int_equal(api_window_parse(NULL, "2024-01-01", NULL, now, &w, &param, &why),
			 CM_EINVAL);
	assert_string_equal(param, "from");
	assert_int_equal(api_window_parse(NULL, "2024-01-01T00:00:00Z", "x", now, &w, &param, &why),
			 CM_EINVAL);
	assert_string_equal(param, "to");
	assert_int_equal(
	    api_window_parse(NULL, "2020-01-01T00:00:00Z", NULL, now, &w, &param, &why), CM_EINVAL);
	assert_string_equal(param, "from");
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_number(v));
	return json_number_value(v);
}

static void metrics_figures(void **state)
{
	/* The database's rows (cipulse_window_metrics) are passed through, per window and bucket;
	 * a bucket without a row has no runs and null figures. The figures themselves are checked
	 * against raw rows in tests/integration/test_api_metrics.py. */
	const int64_t t0 = 1714000000000LL;
	struct api_window w = { t0, t0 + 3600000, 1800000, 2, "1h" };
	struct api_mrow rows[] = {
		{ -1, 7, 1, json_pack("{s:i,s:i}", "failure", 2, "other", 1), 300, 0.4, 51.8, 45,
		  114, 20, 37.5 },
		{ 1, 2, 1, json_pack("{s:i}", "success", 2), NAN, 1, 45.5, 45.5, 88.6, 40, 40 },
	};
	json_t *m = api_metrics_json(&w, rows, 2), *s0, *s1, *by;

	assert_non_null(m);
	assert_int_equal(json_integer_value(json_object_get(m, "runs")), 7);
	assert_float_equal(num(m, "success_rate"), 0.4, 1e-12);
	assert_float_equal(num(m, "avg_duration_s"), 51.8, 1e-12);
	assert_float_equal(num(m, "p50_duration_s"), 45, 1e-12);
	assert_float_equal(num(m, "p95_duration_s"), 114, 1e-12);
	assert_float_equal(num(m, "avg_queue_s"), 20, 1e-12);
	assert_float_equal(num(m, "p95_queue_s"), 37.5, 1e-12);
	assert_float_equal(num(m, "mttr_s"), 300, 1e-9);
	assert_int_equal(json_integer_value(json_object_get(m, "flaky_runs")), 1);
	by = json_object_get(m, "by_conclusion");
	assert_int_equal(json_integer_value(json_object_get(by, "failure")), 2);
	assert_int_equal(json_integer_value(json_object_get(by, "other")), 1);
	assert_null(json_object_get(by, "neutral"));
	s0 = json_array_get(json_object_get(m, "series"), 0);
	s1 = json_array_get(json_object_get(m, "series"), 1);
	assert_int_equal(json_array_size(json_object_get(m, "series")), 2);
	/* No row for bucket 0: no runs, null figures, an empty by_conclusion. */
	assert_int_equal(json_integer_value(json_object_get(s0, "runs")), 0);
	assert_int_equal(json_object_size(json_object_get(s0, "by_conclusion")), 0);
	assert_true(json_is_null(json_object_get(s0, "success_rate")));
	assert_true(json_is_null(json_object_get(s0, "mttr_s")));
	assert_int_equal(json_integer_value(json_object_get(s1, "runs")), 2);
	assert_true(json_is_null(json_object_get(s1, "mttr_s")));
	assert_float_equal(num(s1, "success_rate"), 1, 1e-12);
	assert_float_equal(num(s1, "p95_duration_s"), 88.6, 1e-12);
	assert_float_equal(num(s1, "p95_queue_s"), 40, 1e-12);
	json_decref(m);
	json_decref(rows[0].by_conclusion);
	json_decref(rows[1].by_conclusion);
}

static void rollup_histograms(void **state)
{
	/* Rows of cipulse_rollup_sums added bin by bin; quantiles as cipulse_hist_quantile
	 * (sql/016_repo_rollup.sql) gives them for the same bins (values from PostgreSQL). */
	static int64_t h[API_HIST_BINS];

	memset(h, 0, sizeof(h));
	assert_int_equal(api_hist_add_text(h, "0:1 5:2,0"), 0);
	assert_int_equal(api_hist_add_text(h, "9:1,0,0 9:2"), 0);
	assert_int_equal(api_hist_add_text(h, ""), 0);
	assert_true(h[0] == 1 && h[5] == 2 && h[6] == 0 && h[9] == 3 && h[10] == 0);
	assert_float_equal(api_hist_quantile(h, 0.5), 2.378414230005442, 1e-12);
	assert_float_equal(api_hist_quantile(h, 0.95), 4.555154539026766, 1e-12);
	memset(h, 0, sizeof(h));
	assert_true(isnan(api_hist_quantile(h, 0.5)));
	h[0] = 4;
	assert_float_equal(api_hist_quantile(h, 0.5), 0.5, 1e-12);
	memset(h, 0, sizeof(h));
	assert_int_equal(api_hist_add_text(h, "24:3,0,1"), 0);
	assert_float_equal(api_hist_quantile(h, 0.95), 64, 1e-9);
	/* Malformed text is refused. */
	assert_int_equal(api_hist_add_text(h, "24"), -1);
	assert_int_equal(api_hist_add_text(h, "24:1,x"), -1);
	assert_int_equal(api_hist_add_text(h, "-1:1"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(query_decodes_percent_plus_and_utf8),
		cmocka_unit_test(query_refuses_bad_input_naming_the_parameter),
		cmocka_unit_test(paths_and_ids),
		cmocka_unit_test(cursors_round_trip_and_refuse_garbage),
		cmocka_unit_test(typed_cursors_are_positions_the_sql_can_take),
		cmocka_unit_test(windows),
		cmocka_unit_test(rollup_histograms),
		cmocka_unit_test(metrics_figures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
