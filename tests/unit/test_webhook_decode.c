/*
 * Unit tests of the GitHub JSON decoder (collector/github/decode.c): every real payload in
 * tests/fixtures/github/webhooks converts into the wire-contract structs field by field, and the
 * scanner that picks a webhook's secret agrees with the full parser on each of them.
 * Run from the repository root (or set CIPULSE_FIXTURES to tests/fixtures/github).
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cm_err.h"
#include "cm_time.h"
#include "github/decode.h"
#include "github/payload.h"
#include "github/webhook.h"

static char dir[512];

static json_t *load(const char *name, char **text, size_t *len)
{
	char path[1024];
	json_error_t e;
	FILE *f;
	long n;
	json_t *doc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	*text = malloc((size_t)n + 1);
	assert_non_null(*text);
	assert_int_equal(fread(*text, 1, (size_t)n, f), (size_t)n);
	(*text)[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	doc = json_loadb(*text, *len, JSON_REJECT_DUPLICATES, &e);
	assert_non_null(doc);
	return doc;
}

static const char *s_or_empty(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int64_t ms(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	int64_t v = 0;

	if (s)
		assert_int_equal(cm_time_parse_iso8601(s, &v), CM_OK);
	return v;
}

static void check_job(const Cipulse__V1__Job *j, json_t *o)
{
	json_t *steps = json_object_get(o, "steps"), *labels = json_object_get(o, "labels");
	const char *status = s_or_empty(o, "status");

	assert_int_equal(j->id, json_integer_value(json_object_get(o, "id")));
	assert_string_equal(j->name, s_or_empty(o, "name"));
	assert_string_equal(j->status, status);
	assert_string_equal(j->conclusion, s_or_empty(o, "conclusion"));
	assert_int_equal(j->created_at, ms(o, "created_at"));
	if (!strcmp(status, "queued") || !strcmp(status, "waiting"))
		assert_int_equal(j->started_at, 0);
	else
		assert_int_equal(j->started_at, ms(o, "started_at"));
	assert_int_equal(j->completed_at, ms(o, "completed_at"));
	assert_string_equal(j->runner_name, s_or_empty(o, "runner_name"));
	assert_string_equal(j->html_url, s_or_empty(o, "html_url"));
	assert_int_equal(j->n_labels, json_array_size(labels));
	for (size_t i = 0; i < j->n_labels; i++)
		assert_string_equal(j->labels[i], json_string_value(json_array_get(labels, i)));
	assert_int_equal(j->n_steps, json_array_size(steps));
	for (size_t i = 0; i < j->n_steps; i++) {
		json_t *s = json_array_get(steps, i);

		assert_int_equal(j->steps[i]->number,
				 json_integer_value(json_object_get(s, "number")));
		assert_string_equal(j->steps[i]->name, s_or_empty(s, "name"));
		assert_string_equal(j->steps[i]->status, s_or_empty(s, "status"));
		assert_string_equal(j->steps[i]->conclusion, s_or_empty(s, "conclusion"));
		assert_int_equal(j->steps[i]->started_at, ms(s, "started_at"));
		assert_int_equal(j->steps[i]->completed_at, ms(s, "completed_at"));
	}
}

static void check_run(const struct col_gh_report *r, json_t *payload)
{
	json_t *u = json_object_get(payload, "workflow_run");
	json_t *wf = json_object_get(payload, "workflow");

	assert_int_equal(r->run.id, json_integer_value(json_object_get(u, "id")));
	assert_int_equal(r->run.attempt, json_integer_value(json_object_get(u, "run_attempt")));
	assert_int_equal(r->run.number, json_integer_value(json_object_get(u, "run_number")));
	assert_string_equal(r->run.event, s_or_empty(u, "event"));
	assert_string_equal(r->run.status, s_or_empty(u, "status"));
	assert_string_equal(r->run.conclusion, s_or_empty(u, "conclusion"));
	assert_string_equal(r->run.head_branch, s_or_empty(u, "head_branch"));
	assert_string_equal(r->run.head_sha, s_or_empty(u, "head_sha"));
	assert_string_equal(r->run.html_url, s_or_empty(u, "html_url"));
	assert_string_equal(r->run.actor, s_or_empty(json_object_get(u, "actor"), "login"));
	assert_int_equal(r->run.created_at, ms(u, "created_at"));
	assert_int_equal(r->run.run_started_at, ms(u, "run_started_at"));
	assert_int_equal(r->run.updated_at, ms(u, "updated_at"));
	assert_int_equal(r->workflow.id, json_integer_value(json_object_get(wf, "id")));
	assert_string_equal(r->workflow.path, s_or_empty(wf, "path"));
	assert_string_equal(r->workflow.name, s_or_empty(wf, "name"));
	assert_int_equal(r->report.njobs, 0);
}

static void every_fixture_decodes(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int seen = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		struct col_gh_report r;
		char event[32], err[256], *text, name[256];
		const char *dot = strchr(e->d_name, '.');
		json_t *doc, *repo, *part;
		size_t len;
		int64_t id;
		int rc;

		if (!dot || !strstr(e->d_name, ".json"))
			continue;
		snprintf(event, sizeof(event), "%.*s", (int)(dot - e->d_name), e->d_name);
		doc = load(e->d_name, &text, &len);
		repo = json_object_get(doc, "repository");

		/* The scanner picks the same repository as the parser. */
		rc = col_webhook_peek_repo(text, len, &id, name, sizeof(name));
		if (repo) {
			assert_int_equal(rc, CM_OK);
			assert_int_equal(id, json_integer_value(json_object_get(repo, "id")));
			assert_string_equal(name, s_or_empty(repo, "full_name"));
		} else {
			assert_int_equal(rc, CM_ENOTFOUND);
		}

		/* Decoded from the members the receiver loads (github/payload.h), checked against
		 * the whole document. */
		part = col_gh_payload_load(text, len, NULL);
		assert_non_null(part);
		assert_null(json_object_get(part, "sender"));
		col_gh_report_init(&r, "webhook");
		rc = col_gh_decode_event(&r, event, part, err, sizeof(err));
		json_decref(part);
		if (!strcmp(event, "ping")) {
			assert_int_equal(rc, CM_ENOTFOUND);
		} else {
			char field[64];

			if (rc)
				fail_msg("%s: %s", e->d_name, err);
			assert_int_equal(r.repo.id,
					 json_integer_value(json_object_get(repo, "id")));
			assert_string_equal(r.repo.full_name, s_or_empty(repo, "full_name"));
			assert_string_equal(r.repo.server_url, "https://github.com");
			assert_string_equal(r.report.source, "webhook");
			if (!strcmp(event, "workflow_job")) {
				json_t *j = json_object_get(doc, "workflow_job");

				assert_int_equal(r.report.njobs, 1);
				check_job(r.jobs[0], j);
				assert_int_equal(r.run.id,
						 json_integer_value(json_object_get(j, "run_id")));
				assert_int_equal(r.run.attempt, json_integer_value(json_object_get(
								    j, "run_attempt")));
				assert_string_equal(r.run.head_sha, s_or_empty(j, "head_sha"));
				assert_string_equal(r.workflow.name,
						    s_or_empty(j, "workflow_name"));
			} else {
				check_run(&r, doc);
			}
			/* What the store requires is there. */
			assert_int_equal(col_store_validate(&r.report, field, sizeof(field)),
					 CM_OK);
		}
		/* The report keeps its own references: the caller may drop the document first. */
		json_decref(doc);
		col_gh_report_release(&r);
		free(text);
		seen++;
	}
	closedir(d);
	assert_true(seen >= 14);
}

static void jobs_api_reply_decodes(void **state)
{
	char *text, err[256];
	size_t len;
	json_t *doc = load("workflow_job.completed.failure.with-organization.json", &text, &len);
	json_t *job = json_object_get(doc, "workflow_job");
	json_t *run =
	    json_pack("{s:I,s:i,s:s,s:O}", "id", (json_int_t)2202229078, "run_attempt", 1, "status",
		      "completed", "repository", json_object_get(doc, "repository"));
	struct col_gh_report r;

	/* The poller's shape: the run from the runs API, then each job of the jobs API. */
	col_gh_report_init(&r, "poller");
	assert_int_equal(col_gh_decode_run(&r, run, NULL, NULL, err, sizeof(err)), CM_OK);
	assert_int_equal(col_gh_add_job(&r, job, NULL, err, sizeof(err)), CM_OK);
	assert_int_equal(r.report.njobs, 1);
	check_job(r.jobs[0], job);
	/* A job of another run attempt does not belong to this report. */
	json_object_set_new(job, "run_attempt", json_integer(2));
	assert_int_equal(col_gh_add_job(&r, job, NULL, err, sizeof(err)), CM_EINVAL);
	assert_non_null(strstr(err, "not of this run"));
	col_gh_report_release(&r);
	json_decref(run);
	json_decref(doc);
	free(text);
}

static void malformed_shapes_name_the_field(void **state)
{
	static const struct {
		const char *event, *json, *field;
	} cases[] = {
		{ "workflow_job", "{}", "payload.repository" },
		{ "workflow_job", "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"}}",
		  "payload.workflow_job" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},\"workflow_job\":{\"id\":1}}",
		  "no id or run_id" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2,\"created_at\":\"2021-13-01T00:00:00Z\"}}",
		  "workflow_job.created_at" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2,\"steps\":[{\"number\":1},{\"number\":-1}]}}",
		  "workflow_job.steps[1].number" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2,\"labels\":[1]}}",
		  "workflow_job.labels[0]" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"ab\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2}}",
		  "repository.full_name" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b|c\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2}}",
		  "repository.full_name" },
		{ "workflow_job",
		  "{\"repository\":{\"id\":0,\"full_name\":\"a/b\"},\"workflow_job\":{\"id\":1,"
		  "\"run_id\":2}}",
		  "repository: no id" },
		{ "workflow_run",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},"
		  "\"workflow_run\":{\"id\":1,\"status\":7}}",
		  "workflow_run.status" },
		{ "workflow_run",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},"
		  "\"workflow_run\":{\"id\":1,\"run_attempt\":99999999999}}",
		  "workflow_run.run_attempt" },
		{ "workflow_run",
		  "{\"repository\":{\"id\":1,\"full_name\":\"a/b\"},"
		  "\"workflow_run\":{\"id\":1},\"workflow\":[]}",
		  "payload.workflow" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct col_gh_report r;
		json_t *doc = json_loads(cases[i].json, 0, NULL);
		char err[256] = "";

		assert_non_null(doc);
		col_gh_report_init(&r, "webhook");
		assert_int_equal(col_gh_decode_event(&r, cases[i].event, doc, err, sizeof(err)),
				 CM_EINVAL);
		if (!strstr(err, cases[i].field))
			fail_msg("case %zu: \"%s\" does not name %s", i, err, cases[i].field);
		col_gh_report_release(&r);
		json_decref(doc);
	}
}

/* The check refuses what jansson refuses, and only that (tests/fuzz/fuzz_payload.c at large). */
static void payload_check_agrees_with_jansson(void **state)
{
	static const char *const texts[] = {
		"{\"a\":1}",
		"{\"a\":1,\"\\u0061\":2}",
		"{\"k\":{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
		"\"i\":9,\"\\u0069\":10}}",
		"{\"a\":\"\\ud83d\\ude00\"}",
		"{\"a\":\"\\ud83d\"}",
		"{\"a\":\"\\ude00\"}",
		"{\"a\":\"\\u0000\"}",
		"{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xe2\x82\xac\"}",
		"{\"a\":\"tab\there\"}",
		"{\"a\":9223372036854775807}",
		"{\"a\":9223372036854775808}",
		"{\"a\":-9223372036854775809}",
		"{\"a\":1e400}",
		"{\"a\":1e-400}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":-}",
		"{\"a\":[1,]}",
		"{\"a\":1,}",
		"{\"a\":nul}",
		"{\"a\":true} x",
		"\"a\"",
		"[]",
		"",
	};
	char deep[2 * 2049 + 16];

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		json_t *whole =
		    json_loadb(texts[i], strlen(texts[i]), JSON_REJECT_DUPLICATES, NULL);

		if ((col_gh_json_check(texts[i], strlen(texts[i])) == 0) != (whole != NULL))
			fail_msg("case %zu: the check and jansson disagree on %s", i, texts[i]);
		json_decref(whole);
	}
	/* Depth: 2048 values deep is the most jansson takes. */
	for (int d = 2047; d <= 2048; d++) {
		json_t *whole;
		size_t n = 0;

		for (int i = 0; i < d; i++)
			deep[n++] = '[';
		for (int i = 0; i < d; i++)
			deep[n++] = ']';
		assert_int_equal(col_gh_json_check(deep, n), 0);
		deep[0] = '[';
		memmove(deep + 1, deep, n);
		deep[n + 1] = ']';
		assert_int_equal(col_gh_json_check(deep, n + 2), d < 2048 ? 0 : -1);
		whole = json_loadb(deep, n + 2, 0, NULL);
		assert_int_equal(whole == NULL, d >= 2048);
		json_decref(whole);
	}
}

int main(void)
{
	const char *env = getenv("CIPULSE_FIXTURES");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_fixture_decodes),
		cmocka_unit_test(jobs_api_reply_decodes),
		cmocka_unit_test(malformed_shapes_name_the_field),
		cmocka_unit_test(payload_check_agrees_with_jansson),
	};

	snprintf(dir, sizeof(dir), "%s/webhooks", env && *env ? env : "tests/fixtures/github");
	return cmocka_run_group_tests_name("webhook_decode", tests, NULL, NULL);
}
