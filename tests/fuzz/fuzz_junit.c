/*
 * libFuzzer target for the agent's JUnit reader (agent/junit.c): any bytes, fed as a document
 * in one piece, must give test cases whose strings are valid UTF-8 without NUL bytes, names and
 * messages within their caps, no more cases than the limit, and a reason whenever the document
 * was not read whole. Entities must never expand (the secret below must never come out).
 * tests/fuzz/seed-junit.sh writes the seeds. Built by scripts/fuzz.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "junit.h"
#include "cm_err.h"
#include "cm_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n > max || !cm_text_valid_utf8(s, n))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ag_secrets secrets = { NULL, 0 };
	struct ag_junit_opts o = { 1L << 30, 1L << 30, &secrets };
	struct ag_tests t;
	char why[512] = "";
	int rc;

	if (ag_secrets_add(&secrets, "s3cr3t-value", 12))
		return 0;
	/* A small limit keeps CIPULSE_MAX_TESTS within the fuzzer's reach. */
	ag_tests_init(&t, 64);
	rc = ag_junit_parse(&t, "fuzz.xml", (const char *)data, size, &o, why, sizeof(why));
	if (rc != CM_OK && rc != CM_ENOMEM && (!why[0] || !t.truncated))
		__builtin_trap();
	if (t.n > t.max)
		__builtin_trap();
	for (size_t i = 0; i < t.n; i++) {
		const Cipulse__V1__TestCase *c = t.cases[i];

		check_str(c->suite, AG_JUNIT_FIELD_MAX);
		check_str(c->class_name, AG_JUNIT_FIELD_MAX);
		check_str(c->name, AG_JUNIT_FIELD_MAX);
		check_str(c->file, AG_JUNIT_FIELD_MAX);
		check_str(c->message, AG_JUNIT_MESSAGE_MAX);
		if (strstr(c->message, "s3cr3t-value") || c->duration_us < 0 || c->retries < 0)
			__builtin_trap();
	}
	ag_tests_release(&t);
	ag_secrets_release(&secrets);
	return 0;
}
