/* Unit tests of the tenancy rule (collector/store/claim.c): who may write, claim or rename which
 * repository. The integration matrix (tests/integration/test_tenancy.py) drives the same rule
 * through gRPC, webhooks and the poller. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/claim.h"

#define ALPHA_ID   1001
#define TARGET_ID  1003
#define NEW_ID	   4004
#define PENDING_ID (-3)

static struct col_cred repo_cred(int64_t id, const char *name)
{
	struct col_cred c = { .scope = COL_CRED_REPO, .repo_id = id };

	strcpy(c.repo_name, name);
	return c;
}

static struct col_cred org_cred(int may_register)
{
	struct col_cred c = { .scope = COL_CRED_ORG, .may_register = may_register };

	return c;
}

/* The database of the integration tests: alpha and target known, pending provisional. */
static const struct col_repo_row rows[] = {
	{ 1, ALPHA_ID, "acme/alpha", 1 },
	{ 1, TARGET_ID, "acme/target", 1 },
	{ 1, PENDING_ID, "acme/pending", 1 },
	{ 1, -4, "acme/orgwide", 0 }, /* provisional, no secret of its own */
};

static enum col_claim decide(const struct col_cred *cred, int64_t id, const char *name)
{
	struct col_claim_state st;
	const char *why = NULL;
	enum col_claim claim;

	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int wanted =
		    rows[i].id == id || !strcmp(rows[i].full_name, name) ||
		    (cred->scope == COL_CRED_REPO &&
		     (rows[i].id == cred->repo_id || !strcmp(rows[i].full_name, cred->repo_name)));

		if (wanted)
			col_claim_state_add(&st, cred, id, name, &rows[i]);
	}
	claim = col_claim_decide(cred, id, name, &st, &why);
	if (claim == COL_CLAIM_DENY)
		assert_non_null(why);
	return claim;
}

/* One row of the matrix: a credential writes (id, name) and gets `want`. */
struct want {
	const char *cred; /* "alpha", "pending", "adopted", "gone", "org" or "admin" */
	int64_t id;
	const char *name;
	enum col_claim want;
};

static const struct want matrix[] = {
	/* A repository's own credential: its own id, renamed only onto a free name. */
	{ "alpha", ALPHA_ID, "acme/alpha", COL_CLAIM_WRITE },
	{ "alpha", ALPHA_ID, "acme/alpha-renamed", COL_CLAIM_WRITE },
	{ "alpha", ALPHA_ID, "acme/target", COL_CLAIM_DENY },
	{ "alpha", TARGET_ID, "acme/alpha", COL_CLAIM_DENY },
	{ "alpha", TARGET_ID, "acme/target", COL_CLAIM_DENY },
	{ "alpha", NEW_ID, "acme/target", COL_CLAIM_DENY },
	{ "alpha", NEW_ID, "acme/pending", COL_CLAIM_DENY },
	{ "alpha", NEW_ID, "acme/new", COL_CLAIM_DENY },
	/* A provisional repository's credential: claims it under its own name and a free id. */
	{ "pending", NEW_ID, "acme/pending", COL_CLAIM_ADOPT },
	{ "pending", TARGET_ID, "acme/pending", COL_CLAIM_DENY },
	{ "pending", NEW_ID, "acme/target", COL_CLAIM_DENY },
	{ "pending", NEW_ID, "acme/new", COL_CLAIM_DENY },
	{ "pending", TARGET_ID, "acme/target", COL_CLAIM_DENY },
	/* Claimed under GitHub's id since the credential was checked: the name still finds it. */
	{ "adopted", ALPHA_ID, "acme/alpha", COL_CLAIM_WRITE },
	{ "adopted", TARGET_ID, "acme/alpha", COL_CLAIM_DENY },
	/* A credential whose repository is gone writes nothing. */
	{ "gone", NEW_ID, "acme/gone", COL_CLAIM_DENY },
	/* Organisation-wide: any repository under its own id, no name taken from another. */
	{ "org", ALPHA_ID, "acme/alpha", COL_CLAIM_WRITE },
	{ "org", TARGET_ID, "acme/target", COL_CLAIM_WRITE },
	{ "org", ALPHA_ID, "acme/alpha-renamed", COL_CLAIM_WRITE },
	{ "org", ALPHA_ID, "acme/target", COL_CLAIM_DENY },
	{ "org", NEW_ID, "acme/target", COL_CLAIM_DENY },
	{ "org", NEW_ID, "acme/pending", COL_CLAIM_DENY },
	{ "org", NEW_ID, "acme/orgwide", COL_CLAIM_ADOPT },
	{ "org", NEW_ID, "acme/new", COL_CLAIM_DENY },
	{ "admin", NEW_ID, "acme/new", COL_CLAIM_REGISTER },
	{ "admin", NEW_ID, "acme/target", COL_CLAIM_DENY },
};

static struct col_cred cred_named(const char *name)
{
	if (!strcmp(name, "alpha"))
		return repo_cred(ALPHA_ID, "acme/alpha");
	if (!strcmp(name, "pending"))
		return repo_cred(PENDING_ID, "acme/pending");
	if (!strcmp(name, "adopted"))
		return repo_cred(-9, "acme/alpha");
	if (!strcmp(name, "gone"))
		return repo_cred(-9, "acme/gone");
	return org_cred(!strcmp(name, "admin"));
}

static void with_the_database(void **state)
{
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		const struct want *w = &matrix[i];
		struct col_cred cred = cred_named(w->cred);

		if (decide(&cred, w->id, w->name) != w->want)
			fail_msg("%s writing %lld %s: want %d", w->cred, (long long)w->id, w->name,
				 (int)w->want);
	}
}

static void without_the_database(void **state)
{
	struct col_cred alpha = repo_cred(ALPHA_ID, "acme/alpha");
	struct col_cred pending = repo_cred(PENDING_ID, "acme/pending");
	struct col_cred org = org_cred(0), admin = org_cred(1);
	const char *why = NULL;

	assert_int_equal(col_claim_decide(&alpha, ALPHA_ID, "acme/x", NULL, NULL), COL_CLAIM_WRITE);
	assert_int_equal(col_claim_decide(&alpha, TARGET_ID, "acme/alpha", NULL, &why),
			 COL_CLAIM_DENY);
	assert_non_null(why);
	assert_int_equal(col_claim_decide(&pending, NEW_ID, "acme/pending", NULL, NULL),
			 COL_CLAIM_WRITE);
	assert_int_equal(col_claim_decide(&pending, NEW_ID, "acme/alpha", NULL, NULL),
			 COL_CLAIM_DENY);
	assert_int_equal(col_claim_decide(&org, NEW_ID, "acme/x", NULL, NULL), COL_CLAIM_WRITE);
	/* Missing parts are for validation to name before the database; there they are refused. */
	assert_int_equal(col_claim_decide(&alpha, 0, "acme/x", NULL, NULL), COL_CLAIM_WRITE);
	assert_int_equal(col_claim_decide(&pending, NEW_ID, NULL, NULL, NULL), COL_CLAIM_WRITE);
	assert_int_equal(decide(&org, 0, "acme/alpha"), COL_CLAIM_DENY);
	assert_int_equal(decide(&admin, NEW_ID, ""), COL_CLAIM_DENY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(with_the_database),
		cmocka_unit_test(without_the_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
