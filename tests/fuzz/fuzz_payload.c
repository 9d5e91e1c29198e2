/*
 * libFuzzer target for github/payload.c, the check and the selective load of a workflow
 * delivery (outside input, after its signature): differential against jansson. Whatever the
 * bytes, col_gh_json_check accepts exactly what json_loadb(JSON_REJECT_DUPLICATES) loads, and
 * col_gh_payload_load gives, for each member the webhook path reads, what jansson's whole
 * document has there (the repository's four members; the other five members whole). A
 * difference aborts, which libFuzzer reports as a crash.
 *
 * Build and seeds: scripts/fuzz.sh (as fuzz_webhook.c); seeds tests/fuzz/seed-payload.sh
 * (the GitHub fixtures) and tests/fuzz/corpus/payload (escapes, surrogates, numbers, depth).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "github/payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(json_t *want, json_t *got, const char *what)
{
	if (!json_equal(want, got) && (want || got)) {
		fprintf(stderr, "payload: %s differs from jansson's\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const top[] = { "action", "installation", "workflow", "workflow_job",
					   "workflow_run" };
	static const char *const repo[] = { "id", "full_name", "html_url", "default_branch" };
	const char *text = (const char *)data;
	json_t *whole = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	json_t *got = col_gh_payload_load(text, size, NULL);
	int ok = col_gh_json_check(text, size) == 0;

	if (ok != (whole != NULL)) {
		fprintf(stderr, "payload: check says %d, jansson %d\n", ok, whole != NULL);
		abort();
	}
	if ((got != NULL) != (whole != NULL))
		abort();
	if (json_is_object(whole)) {
		json_t *wr = json_object_get(whole, "repository");
		json_t *gr = json_object_get(got, "repository");

		for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++)
			same(json_object_get(whole, top[i]), json_object_get(got, top[i]), top[i]);
		if (json_is_object(wr)) {
			for (size_t i = 0; i < sizeof(repo) / sizeof(repo[0]); i++)
				same(json_object_get(wr, repo[i]), json_object_get(gr, repo[i]),
				     repo[i]);
		} else {
			same(wr, gr, "repository");
		}
	} else {
		same(whole, got, "document");
	}
	json_decref(whole);
	json_decref(got);
	return 0;
}
