/*
 * Unit tests of the one access policy (store/auth.h, store/tokens.h): the bearer parser every
 * entry point uses, the decisions that need no database (configured tokens, open reads), the
 * role x need table of col_auth_allow, and argon2id password hashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cm_err.h"
#include "store/auth.h"
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
	cfg.anonymous_read = 1;
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
	/* CIPULSE_ANONYMOUS_READ=false closes reads even without a read token. */
	cfg.read_token = NULL;
	cfg.anonymous_read = 0;
	assert_int_equal(col_auth_check(&cfg, NULL, NULL, COL_TOKEN_READ, &info), CM_EAUTH);
}

static struct col_principal token_of(enum col_token_kind kind, int write, const char *owner_role)
{
	struct col_principal p;

	memset(&p, 0, sizeof(p));
	p.who = COL_WHO_TOKEN;
	p.tok.kind = kind;
	p.tok.write = write;
	snprintf(p.tok.owner_role, sizeof(p.tok.owner_role), "%s", owner_role);
	switch (kind) {
	case COL_TOKEN_ADMIN:
		p.role = COL_ROLE_ADMIN;
		break;
	case COL_TOKEN_READ:
		p.role = COL_ROLE_VIEWER;
		break;
	case COL_TOKEN_PERSONAL: {
		enum col_role r = COL_ROLE_NONE;

		col_role_parse(owner_role, &r);
		p.role = write ? r : COL_ROLE_VIEWER;
		break;
	}
	default:
		p.role = COL_ROLE_NONE;
	}
	return p;
}

struct row {
	const char *name;
	struct col_principal p;
	int want[4]; /* ingest, viewer, maintainer, admin */
};

/* Every principal against every need: 0 allowed, else 401 (EAUTH) or 403 (EDENIED). */
static void policy_table(void **state)
{
	struct row rows[6];
	struct col_principal anon, viewer, maint, admin;
	int n = 0;

	memset(&anon, 0, sizeof(anon));
	viewer = maint = admin = anon;
	viewer.who = maint.who = admin.who = COL_WHO_USER;
	viewer.role = COL_ROLE_VIEWER;
	maint.role = COL_ROLE_MAINTAINER;
	admin.role = COL_ROLE_ADMIN;
	rows[n++] = (struct row){ "viewer", viewer, { CM_EDENIED, 0, CM_EDENIED, CM_EDENIED } };
	rows[n++] = (struct row){ "maintainer", maint, { CM_EDENIED, 0, 0, CM_EDENIED } };
	rows[n++] = (struct row){ "admin", admin, { CM_EDENIED, 0, 0, 0 } };
	rows[n++] = (struct row){ "ingest token",
				  token_of(COL_TOKEN_INGEST, 0, ""),
				  { 0, CM_EDENIED, CM_EDENIED, CM_EDENIED } };
	rows[n++] = (struct row){ "admin token", token_of(COL_TOKEN_ADMIN, 0, ""), { 0, 0, 0, 0 } };
	rows[n++] = (struct row){ "read token",
				  token_of(COL_TOKEN_READ, 0, ""),
				  { CM_EDENIED, 0, CM_EDENIED, CM_EDENIED } };
	for (int i = 0; i < n; i++) {
		for (int need = COL_NEED_INGEST; need <= COL_NEED_ADMIN; need++) {
			int got = col_auth_allow(&rows[i].p, (enum col_need)need, 0);

			if (got != rows[i].want[need])
				fail_msg("%s need %d: got %d want %d", rows[i].name, need, got,
					 rows[i].want[need]);
		}
	}
	/* Anonymous: reads only when open; never anything else (401, not 403). */
	assert_int_equal(col_auth_allow(&anon, COL_NEED_VIEWER, 1), CM_OK);
	assert_int_equal(col_auth_allow(&anon, COL_NEED_VIEWER, 0), CM_EAUTH);
	assert_int_equal(col_auth_allow(&anon, COL_NEED_MAINTAINER, 1), CM_EAUTH);
	assert_int_equal(col_auth_allow(&anon, COL_NEED_ADMIN, 1), CM_EAUTH);
	assert_int_equal(col_auth_allow(&anon, COL_NEED_INGEST, 1), CM_EAUTH);
}

static void roles_round_trip(void **state)
{
	enum col_role r;

	assert_int_equal(col_role_parse("maintainer", &r), CM_OK);
	assert_int_equal(r, COL_ROLE_MAINTAINER);
	assert_string_equal(col_role_name(r), "maintainer");
	assert_int_equal(col_role_parse("none", &r), CM_EINVAL);
	assert_int_equal(col_role_parse("Admin", &r), CM_EINVAL);
	assert_int_equal(col_role_parse(NULL, &r), CM_EINVAL);
	assert_true(col_username_valid("alice.b-2_x"));
	assert_false(col_username_valid("-alice"));
	assert_false(col_username_valid("al ice"));
	assert_false(col_username_valid(""));
}

static void password_hashing(void **state)
{
	char h1[COL_PASSWORD_HASH_MAX], h2[COL_PASSWORD_HASH_MAX];

	assert_int_equal(col_password_hash("correct horse", h1), CM_OK);
	assert_int_equal(col_password_hash("correct horse", h2), CM_OK);
	assert_memory_equal(h1, "$argon2id$v=19$m=19456,t=2,p=1$", 31);
	assert_string_not_equal(h1, h2); /* a salt of its own each time */
	assert_int_equal(col_password_verify(h1, "correct horse"), CM_OK);
	assert_int_equal(col_password_verify(h2, "correct horse"), CM_OK);
	assert_int_equal(col_password_verify(h1, "correct horsf"), CM_EAUTH);
	assert_int_equal(col_password_verify(h1, ""), CM_EAUTH);
	/* No hash (unknown user): the dummy is verified and the answer is no. */
	assert_int_equal(col_password_verify(NULL, "correct horse"), CM_EAUTH);
	assert_int_equal(col_password_verify("", "correct horse"), CM_EAUTH);
	/* A damaged hash grants nothing. */
	h1[40] = h1[40] == 'A' ? 'B' : 'A';
	assert_int_equal(col_password_verify(h1, "correct horse"), CM_EAUTH);
	assert_int_equal(col_password_hash("short", h1), CM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bearer_values),
		cmocka_unit_test(kinds_round_trip),
		cmocka_unit_test(policy_of_configured_tokens),
		cmocka_unit_test(policy_table),
		cmocka_unit_test(roles_round_trip),
		cmocka_unit_test(password_hashing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
