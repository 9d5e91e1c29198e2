/*
 * libFuzzer target for what the webhook receiver does with outside bytes: the bounded scanner
 * that picks the secret (runs before authentication), the form-encoded payload decoder, and the
 * GitHub JSON -> wire-contract decoder (workflow_run and workflow_job events, and jobs-API
 * objects added to a run). The first input byte picks the event.
 *
 * Build (scripts/fuzz.sh does this for every tests/fuzz/fuzz_NAME.c): clang -g -O1
 * -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Icommon -Icollector -Ibuild/gen with the
 * libpq include path, this file, every collector source except main.c, the common sources, the
 * generated protobuf-c sources and build/gen/migrations.c; link -lgrpc -lgpr -lprotobuf-c -lpq
 * -lcurl -lssl -lcrypto -lmicrohttpd -ljansson -lm. Seeds: tests/fixtures/github/webhooks,
 * each prefixed with the event byte (tests/fuzz/seed-webhook.sh writes them).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "github/decode.h"
#include "github/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode(const char *event, const char *text, size_t len)
{
	struct col_gh_report r;
	char err[256], field[64];
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);

	if (!doc)
		return;
	col_gh_report_init(&r, "webhook");
	if (col_gh_decode_event(&r, event, doc, err, sizeof(err)) == CM_OK) {
		/* Whatever decodes must be safe to hand to the store's checks. */
		col_store_validate(&r.report, field, sizeof(field));
		for (size_t i = 0; i < r.njobs; i++) {
			const Cipulse__V1__Job *j = r.jobs[i];

			for (size_t k = 0; k < j->n_steps; k++)
				(void)strlen(j->steps[k]->name);
			for (size_t k = 0; k < j->n_labels; k++)
				(void)strlen(j->labels[k]);
		}
	}
	col_gh_report_release(&r);

	/* The poller's shape: the document as a run, its "jobs" as that run's jobs. */
	col_gh_report_init(&r, "poller");
	if (col_gh_decode_run(&r, doc, NULL, NULL, err, sizeof(err)) == CM_OK) {
		json_t *jobs = json_object_get(doc, "jobs"), *job;
		size_t i;

		json_array_foreach(jobs, i, job)
		{
			if (col_gh_add_job(&r, job, NULL, err, sizeof(err)) == CM_ETOOBIG)
				break;
		}
		col_store_validate(&r.report, field, sizeof(field));
	}
	col_gh_report_release(&r);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const events[] = { "workflow_job", "workflow_run", "ping" };
	const char *text;
	char name[256], *form;
	size_t len, flen = 0;
	int64_t id;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	len = size - 1;
	/* No NUL terminator: the scanner must stay within len. */
	col_webhook_peek_repo(text, len, &id, name, sizeof(name));
	decode(events[data[0] % 3], text, len);
	form = malloc(len + 1);
	if (form && col_webhook_form_payload(text, len, form, &flen) == CM_OK) {
		col_webhook_peek_repo(form, flen, &id, name, sizeof(name));
		decode(events[data[0] % 3], form, flen);
	}
	free(form);
	return 0;
}
