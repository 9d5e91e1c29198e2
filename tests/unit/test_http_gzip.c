/* Unit tests of the Accept-Encoding check that decides gzip answers (http/server.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/server.h"

static void accepts(void **state)
{
	static const char *const yes[] = {
		"gzip",
		"GZip",
		"x-gzip",
		"gzip, deflate, br, zstd", /* Chromium */
		"br;q=1.0, gzip;q=0.8, *;q=0.1",
		"deflate, gzip;q=0.001",
		" gzip ; q=1",
		"*",
		"identity;q=1, *;q=0.5",
		"gzip;q=",
	};
	static const char *const no[] = {
		"",
		"identity",
		"deflate, br",
		"gzip;q=0",
		"gzip;q=0.",
		"gzip; q=0.000",
		"gzip;Q=0.0, deflate",
		"*;q=0",
		"gzip;q=0, *",	/* the explicit refusal wins over the wildcard */
		"gzipx, xgzip", /* whole tokens only */
		"br;gzip",	/* a parameter, not a coding */
		",,, ,",
	};

	assert_false(col_http_accepts_gzip(NULL));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!col_http_accepts_gzip(yes[i]))
			fail_msg("should accept gzip: \"%s\"", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (col_http_accepts_gzip(no[i]))
			fail_msg("should not accept gzip: \"%s\"", no[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
