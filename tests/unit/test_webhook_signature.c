/*
 * Unit tests of the webhook receiver's unauthenticated path: GitHub's signature test vector, the
 * bounded repository scanner that picks the secret, and the form-encoded payload decoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "github/webhook.h"

static const char vector_secret[] = "It's a Secret to Everybody";
static const char vector_body[] = "Hello, World!";
static const char vector_sig[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static void github_test_vector(void **state)
{
	char made[72];

	cm_hmac_sha256_header(vector_secret, vector_body, strlen(vector_body), made);
	assert_string_equal(made, vector_sig);
	assert_int_equal(
	    cm_hmac_sha256_verify(vector_secret, vector_body, strlen(vector_body), vector_sig),
	    CM_OK);
}

static void signature_mismatches(void **state)
{
	char bad[sizeof(vector_sig)];
	size_t n = strlen(vector_body);

	/* Another body, another secret, one hex digit changed, upper case, truncated, no prefix. */
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, "Hello, World?", n, vector_sig),
			 CM_EAUTH);
	assert_int_equal(
	    cm_hmac_sha256_verify("It's a secret to everybody", vector_body, n, vector_sig),
	    CM_EAUTH);
	memcpy(bad, vector_sig, sizeof(bad));
	bad[sizeof(bad) - 2] = bad[sizeof(bad) - 2] == '7' ? '8' : '7';
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, bad), CM_EAUTH);
	memcpy(bad, vector_sig, sizeof(bad));
	for (char *p = bad; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'f' ? *p - 32 : *p);
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, bad), CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, "sha256=7571"),
			 CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, vector_sig + 7),
			 CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, ""), CM_EAUTH);
	assert_int_equal(cm_hmac_sha256_verify(vector_secret, vector_body, n, NULL), CM_EAUTH);
	/* No secret never verifies, whatever the header says. */
	assert_int_equal(cm_hmac_sha256_verify("", vector_body, n, vector_sig), CM_EAUTH);
}

static int peek(const char *s, int64_t *id, char *name, size_t size)
{
	return col_webhook_peek_repo(s, strlen(s), id, name, size);
}

static void peek_finds_top_level_repository(void **state)
{
	char name[64];
	int64_t id;

	assert_int_equal(peek("{\"action\":\"x\",\"repository\":{\"id\":42,\"full_name\":\"o/r\"}}",
			      &id, name, sizeof(name)),
			 CM_OK);
	assert_int_equal(id, 42);
	assert_string_equal(name, "o/r");
	/* Nested repositories (workflow_run.repository) are not the top-level one. */
	assert_int_equal(peek("{\"workflow_run\":{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},"
			      "\"x\":[1,{\"repository\":2}]},\"s\":\"}\\\"{\",\"repository\":"
			      " { \"owner\" : {\"id\": 7}, \"full_name\" : \"c/d\", \"id\" : 9 } }",
			      &id, name, sizeof(name)),
			 CM_OK);
	assert_int_equal(id, 9);
	assert_string_equal(name, "c/d");
	/* None at the top level. */
	assert_int_equal(peek("{\"hook\":{\"repository\":{\"id\":1}}}", &id, name, sizeof(name)),
			 CM_ENOTFOUND);
	assert_int_equal(id, 0);
	assert_string_equal(name, "");
	/* A name with escapes or too long is not used. */
	assert_int_equal(
	    peek("{\"repository\":{\"id\":3,\"full_name\":\"a\\/b\"}}", &id, name, sizeof(name)),
	    CM_OK);
	assert_int_equal(id, 3);
	assert_string_equal(name, "");
	assert_int_equal(peek("{\"repository\":{\"full_name\":\"abcdefgh/ij\"}}", &id, name, 8),
			 CM_OK);
	assert_string_equal(name, "");
	/* Escaped key names are not "repository". */
	assert_int_equal(peek("{\"repositor\\u0079\":{\"id\":3}}", &id, name, sizeof(name)),
			 CM_ENOTFOUND);
}

static void peek_rejects_and_stops_within_bounds(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{",
		"{\"a\"",
		"{\"a\":",
		"{\"a\":\"x",
		"{\"a\":{",
		"{\"a\":1 \"b\":2}",
		"{\"repository\":{\"id\":1,",
		"{\"a\":\"\\",
		"{\"a\":[[[[",
		"{\"a\":}",
		"nul",
	};
	char name[64];
	int64_t id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(peek(bad[i], &id, name, sizeof(name)), CM_EINVAL);
	/* What was read before the error is kept: a hint, checked by the HMAC anyway. */
	assert_int_equal(
	    peek("{\"repository\":{\"id\":5,\"full_name\":\"o/r\",\"x\":", &id, name, sizeof(name)),
	    CM_EINVAL);
	assert_int_equal(id, 5);
	assert_string_equal(name, "o/r");
	/* The length bounds the scan, not the NUL. */
	assert_int_equal(
	    col_webhook_peek_repo("{\"repository\":{\"id\":12}}", 20, &id, name, sizeof(name)),
	    CM_EINVAL);
}

static void form_payload(void **state)
{
	const char *body = "a=1&payload=%7B%22x%22%3A+%22y%2Bz%22%7D&b=2";
	char out[64];
	size_t n = 0;

	assert_int_equal(col_webhook_form_payload(body, strlen(body), out, &n), CM_OK);
	assert_int_equal(n, strlen("{\"x\": \"y+z\"}"));
	assert_memory_equal(out, "{\"x\": \"y+z\"}", n);
	assert_int_equal(col_webhook_form_payload("a=1", 3, out, &n), CM_ENOTFOUND);
	assert_int_equal(col_webhook_form_payload("payload=%7", 10, out, &n), CM_EINVAL);
	assert_int_equal(col_webhook_form_payload("payload=%zz", 11, out, &n), CM_EINVAL);
	assert_int_equal(col_webhook_form_payload("xpayload=1", 10, out, &n), CM_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(github_test_vector),
		cmocka_unit_test(signature_mismatches),
		cmocka_unit_test(peek_finds_top_level_repository),
		cmocka_unit_test(peek_rejects_and_stops_within_bounds),
		cmocka_unit_test(form_payload),
	};

	return cmocka_run_group_tests_name("webhook_signature", tests, NULL, NULL);
}
