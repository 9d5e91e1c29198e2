/*
 * Unit tests of the flood guards (core/ratelimit.c: per-address limit, log sampler) and of the
 * notification target check (alert/target.c): every private range, IPv4 inside IPv6, numeric
 * host spellings that resolve to loopback, and CIPULSE_ALLOW_PRIVATE_TARGETS.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert/target.h"
#include "cm_err.h"
#include "core/ratelimit.h"

static struct col_addr_limit limit = COL_ADDR_LIMIT_INIT(60000);

static void addr_limit_counts_per_address_and_window(void **state)
{
	long retry;

	for (int i = 0; i < 3; i++) {
		assert_int_equal(col_addr_limit_over(&limit, "192.0.2.1", 3, 1000, &retry), 0);
		col_addr_limit_hit(&limit, "192.0.2.1", 1000);
	}
	assert_int_equal(col_addr_limit_over(&limit, "192.0.2.1", 3, 2000, &retry), 1);
	assert_int_equal(retry, 59);
	/* Another address is not affected. */
	assert_int_equal(col_addr_limit_over(&limit, "192.0.2.2", 3, 2000, &retry), 0);
	/* The window ends. */
	assert_int_equal(col_addr_limit_over(&limit, "192.0.2.1", 3, 61000, &retry), 0);
}

static void sampler_lets_one_through_per_interval(void **state)
{
	struct col_sampler s = COL_SAMPLER_INIT(10000);
	long held = -1;

	assert_int_equal(col_sampler_take(&s, 5000, &held), 1);
	assert_int_equal(held, 0);
	for (int i = 0; i < 7; i++)
		assert_int_equal(col_sampler_take(&s, 6000 + i, &held), 0);
	assert_int_equal(col_sampler_take(&s, 15000, &held), 1);
	assert_int_equal(held, 7);
}

static int check(const char *url, int allow)
{
	char why[200];

	return col_target_check(url, allow, NULL, 0, why, sizeof(why));
}

static void private_targets_are_refused(void **state)
{
	static const char *const refused[] = {
		"http://127.0.0.1:5432/",
		"http://127.1/",
		"http://2130706433/",
		"http://0x7f.1/",
		"http://0.0.0.0/",
		"http://10.0.0.1/",
		"http://100.64.1.1/",
		"http://169.254.169.254/",
		"http://172.31.255.255/",
		"http://192.168.0.1/",
		"http://198.18.0.1/",
		"http://224.0.0.1/",
		"http://255.255.255.255/",
		"http://[::1]/",
		"http://[::]/",
		"http://[fe80::1]/",
		"http://[fc00::1]/",
		"http://[fd12::1]/",
		"http://[ff02::1]/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:10.1.2.3]/",
		"http://[64:ff9b::a00:1]/",
		"http://[2002:7f00:1::]/",
		"https://user:pw@127.0.0.1/",
		"http://localhost/",
	};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (check(refused[i], 0) != CM_EDENIED)
			fail_msg("not refused: %s", refused[i]);
		assert_int_equal(check(refused[i], 1), CM_OK);
	}
}

static void public_targets_pass_and_are_pinned(void **state)
{
	char pin[128], why[200];

	assert_int_equal(
	    col_target_check("https://93.184.216.34/hook", 0, pin, sizeof(pin), why, sizeof(why)),
	    CM_OK);
	assert_string_equal(pin, "93.184.216.34:443:93.184.216.34");
	assert_int_equal(check("http://[2606:4700::1]:8080/x", 0), CM_OK);
	assert_int_equal(check("http://172.32.0.1/", 0), CM_OK);
	assert_int_equal(check("http://100.128.0.1/", 0), CM_OK);
}

static void non_http_targets_are_invalid(void **state)
{
	assert_int_equal(check("ftp://93.184.216.34/", 0), CM_EINVAL);
	assert_int_equal(check("gopher://127.0.0.1/", 1), CM_EINVAL);
	assert_int_equal(check("not a url", 0), CM_EINVAL);
	assert_int_equal(check("http://no-such-host.invalid/", 0), CM_EUNAVAIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(addr_limit_counts_per_address_and_window),
		cmocka_unit_test(sampler_lets_one_through_per_interval),
		cmocka_unit_test(private_targets_are_refused),
		cmocka_unit_test(public_targets_pass_and_are_pinned),
		cmocka_unit_test(non_http_targets_are_invalid),
	};

	return cmocka_run_group_tests_name("guards", tests, NULL, NULL);
}
