/*
 * Unit tests of the one token policy (store/tokens.h): the bearer parser every entry point
 * uses, and the decisions that need no database (configured tokens, open reads).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cm_err.h"
#include "store/tokens.h"

static int parse(const char *v, char *out)
{
	return col_bearer_parse(v, v ? strlen(v) : 0, out, COL_BEARER_MAX + 1);
}

static void bearer_values(void **state)
{
	char out[COL_BEARER_MAX + 1], big[COL_BEARER_MAX + 16];

	assert_int_equal(parse("Bearer abc", out), CM_OK);
	assert_string_equal(out, "abc");
	assert_int_equal(parse("bearer   abc", out), CM_OK); /* scheme in any case, spaces */
	assert_string_equal(out, "abc");
	/* Not NUL-terminated (gRPC metadata): only len bytes count. */
	assert_int_equal(col_bearer_parse("Bearer abcdef", 10, out, sizeof(out)), CM_OK);
	assert_string_equal(out, "abc");
	/* Missing and malformed are the same answer. */
	assert_int_equal(parse(NULL, out), CM_EAUTH);
	assert_int_equal(parse("", out), CM_EAUTH);
	assert_int_equal(parse("Bearer", out), CM_EAUTH);
	assert_int_equal(parse("Bearer ", out), CM_EAUTH);
	assert_int_equal(parse("Bearer    ", out), CM_EAUTH);
	assert_int_equal(parse("Basic abc", out), CM_EAUTH);
	assert_int_equal(parse("Bearerabc", out), CM_EAUTH);
	assert_int_equal(parse("cip_abc", out), CM_EAUTH);
	memcpy(big, "Bearer ", 7);
	memset(big + 7, 'x', COL_BEARER_MAX);
	big[7 + COL_BEARER_MAX] = '\0';
	assert_int_equal(parse(big, out), CM_OK);
	big[7 + COL_BEARER_MAX] = 'x';
	big[8 + COL_BEARER_MAX] = '\0';
	assert_int_equal(parse(big, out), CM_EAUTH);
}

static void kinds_round_trip(void **state)
{
	enum col_token_kind k;

	assert_int_equal(col_token_kind_parse("admin", &k), CM_OK);
	assert_int_equal(k, COL_TOKEN_ADMIN);
	assert_string_equal(col_token_kind_name(k), "admin");
	assert_int_equal(col_token_kind_parse("read", &k), CM_OK);
	assert_string_equal(col_token_kind_name(k), "read");
	assert_int_equal(col_token_kind_parse("ingest", &k), CM_OK);
	assert_string_equal(col_token_kind_name(k), "ingest");
	assert_int_equal(col_token_kind_parse("Admin", &k), CM_EINVAL);
	assert_int_equal(col_token_kind_parse("", &k), CM_EINVAL);
}

/* Configured tokens are decided without the database (db NULL: asking it would crash). */
static void policy_of_configured_tokens(void **state)
{
	struct col_config cfg;
	struct col_token_info info;
	char admin[] = "admin-secret", read[] = "read-secret";

	memset(&cfg, 0, sizeof(cfg));
	/* No read token configured: reads are open, even with no token. */
	assert_int_equal(col_auth_check(&cfg, NULL, NULL, COL_TOKEN_READ, &info), CM_OK);
	assert_int_equal(col_auth_check(&cfg, NULL, NULL, COL_TOKEN_ADMIN, &info), CM_EAUTH);
	assert_int_equal(col_auth_check(&cfg, NULL, "", COL_TOKEN_INGEST, &info), CM_EAUTH);

	cfg.admin_token = admin;
	cfg.read_token = read;
	assert_int_equal(col_auth_check(&cfg, NULL, NULL, COL_TOKEN_READ, &info), CM_EAUTH);
	/* The admin token may do everything. */
	for (int need = COL_TOKEN_INGEST; need <= COL_TOKEN_ADMIN; need++) {
		assert_int_equal(
		    col_auth_check(&cfg, NULL, admin, (enum col_token_kind)need, &info), CM_OK);
		assert_int_equal(info.kind, COL_TOKEN_ADMIN);
	}
	/* The read token reads, and only that: 403, not 401. */
	assert_int_equal(col_auth_check(&cfg, NULL, read, COL_TOKEN_READ, &info), CM_OK);
	assert_int_equal(col_auth_check(&cfg, NULL, read, COL_TOKEN_ADMIN, &info), CM_EDENIED);
	assert_int_equal(col_auth_check(&cfg, NULL, read, COL_TOKEN_INGEST, &info), CM_EDENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bearer_values),
		cmocka_unit_test(kinds_round_trip),
		cmocka_unit_test(policy_of_configured_tokens),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
