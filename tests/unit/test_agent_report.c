/* Reports: GitHub job JSON (the fixture job objects) to messages, frames, chunking of tails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "report.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_time.h"

/* Fixtures are found next to this source file (tests are run from the repository root). */
static json_t *fixture_job(const char *name)
{
	char path[1024];
	const char *src = __FILE__, *slash = strrchr(src, '/');
	const char *root = getenv("CIPULSE_SRC");
	json_error_t err;
	json_t *doc, *job;

	if (root)
		snprintf(path, sizeof(path), "%s/tests/fixtures/github/webhooks/%s", root, name);
	else
		snprintf(path, sizeof(path), "%.*s/../fixtures/github/webhooks/%s",
			 slash ? (int)(slash - src) : 1, slash ? src : ".", name);
	doc = json_load_file(path, 0, &err);
	assert_non_null(doc);
	job = json_incref(json_object_get(doc, "workflow_job"));
	json_decref(doc);
	return job;
}

static void job_from_fixture(void **state)
{
	json_t *j = fixture_job("workflow_job.completed.failure.with-organization.json");
	Cipulse__V1__Job *job;
	int64_t t;

	assert_int_equal(ag_job_from_json(j, &job), 0);
	assert_int_equal(job->id, 289782451);
	assert_string_equal(job->name, "linters");
	assert_string_equal(job->status, "completed");
	assert_string_equal(job->conclusion, "failure");
	assert_string_equal(job->runner_name, "GitHub Actions 5");
	assert_int_equal(job->n_labels, 1);
	assert_string_equal(job->labels[0], "ubuntu-latest");
	assert_int_equal(cm_time_parse_iso8601("2021-08-05T10:34:58Z", &t), 0);
	assert_int_equal(job->started_at, t);
	assert_int_equal(job->n_steps, 12);
	assert_int_equal(job->steps[7]->number, 8);
	assert_string_equal(job->steps[7]->name, "Run yarn run format-check");
	assert_string_equal(job->steps[7]->conclusion, "failure");
	assert_int_equal(job->steps[8]->number, 14);
	assert_string_equal(ag_job_conclusion_from_steps(job), "failure");
	protobuf_c_message_free_unpacked(&job->base, NULL);
	json_decref(j);
}

static void job_in_progress_has_nulls(void **state)
{
	json_t *j = fixture_job("workflow_job.in_progress.with-queued-steps.json");
	Cipulse__V1__Job *job;
	int64_t s3;

	assert_int_equal(ag_job_from_json(j, &job), 0);
	assert_int_equal(job->id, 14541957942LL);
	assert_string_equal(job->conclusion, "");
	assert_int_equal(job->completed_at, 0);
	assert_int_equal(job->n_steps, 9);
	assert_string_equal(job->steps[2]->status, "in_progress");
	assert_int_equal(job->steps[2]->completed_at, 0);
	assert_int_equal(job->steps[3]->started_at, 0);
	assert_string_equal(ag_job_conclusion_from_steps(job), "success");
	/* Something that ran during step 3 (started 03:31:37, still running) maps to it. */
	assert_int_equal(cm_time_parse_iso8601("2023-06-26T03:31:37.000Z", &s3), 0);
	assert_int_equal(ag_job_step_at(job, s3 + 500, s3 + 9000), 3);
	/* Step 2 ran 03:31:36..37: a command inside it. */
	assert_int_equal(ag_job_step_at(job, s3 - 900, s3 - 100), 2);
	/* Long before the job: no step. */
	assert_int_equal(ag_job_step_at(job, s3 - 3600000, s3 - 3590000), 0);
	protobuf_c_message_free_unpacked(&job->base, NULL);
	json_decref(j);
}

static void job_without_id_is_rejected(void **state)
{
	json_t *j = json_pack("{s:s}", "name", "x");
	Cipulse__V1__Job *job;

	assert_int_equal(ag_job_from_json(j, &job), CM_EINVAL);
	assert_null(job);
	json_decref(j);
}

static void config_for_test(struct ag_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->log_report_bytes = 1 << 20;
	cfg->github_server_url = "https://github.com";
	cfg->github_repository = "octo-org/octo-repo";
	cfg->github_repository_id = 42;
	cfg->github_workflow_ref = "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main";
	cfg->github_workflow = "CI";
	cfg->github_run_id = 1234;
	cfg->github_run_attempt = 2;
	cfg->github_run_number = 7;
	cfg->github_event_name = "push";
	cfg->github_ref_name = "main";
	cfg->github_sha = "abc";
	cfg->github_actor = "octocat";
	cfg->github_job = "build";
	cfg->runner_name = "r1";
	cfg->runner_os = "Linux";
	cfg->runner_arch = "X64";
}

/* Decodes frames back into messages and checks the stream's shape. */
static void encode_and_decode(void **state)
{
	struct ag_config cfg;
	struct ag_report r;
	struct cm_buf frames = CM_BUF_INIT(1 << 24), big = CM_BUF_INIT(1 << 20);
	json_t *j = fixture_job("workflow_job.completed.failure.with-organization.json");
	Cipulse__V1__Job *job;
	const char *msg;
	size_t off = 0, len, total_text = 0;
	int n = 0, logs = 0, last_seen = 0, rc;
	char id[64];

	config_for_test(&cfg);
	assert_int_equal(ag_report_init(&r, &cfg, CIPULSE__V1__AGENT_MODE__AGENT_MODE_REPORT), 0);
	assert_int_equal(strlen(r.header->report_id), 36);
	assert_string_equal(r.header->workflow->path, ".github/workflows/ci.yml");
	assert_string_equal(r.header->run->html_url,
			    "https://github.com/octo-org/octo-repo/actions/runs/1234/attempts/2");
	assert_int_equal(ag_job_from_json(j, &job), 0);
	assert_int_equal(ag_report_add_job(&r, job), 0);
	/* 150 KiB of 3-byte characters: three chunks, none splitting a character. */
	for (int i = 0; i < 51200; i++)
		assert_int_equal(cm_buf_adds(&big, "\xE2\x82\xAC"), CM_OK);
	assert_int_equal(ag_report_add_tail(&r, job->id, 8, big.data, big.len, 999999, 1, 1, 2), 0);
	assert_int_equal(ag_report_add_tail(&r, job->id, 0, "x\n", 2, 2, 0, 0, 0), 0);
	assert_int_equal(ag_report_encode(&r, &frames), 0);

	assert_int_equal(ag_frames_report_id(frames.data, frames.len, id, sizeof(id), NULL), 0);
	assert_string_equal(id, r.header->report_id);
	while ((rc = ag_frames_next(frames.data, frames.len, &off, &msg, &len)) == 1) {
		Cipulse__V1__ReportChunk *c =
		    cipulse__v1__report_chunk__unpack(NULL, len, (const uint8_t *)msg);

		assert_non_null(c);
		if (n == 0) {
			assert_int_equal(c->chunk_case, CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER);
			assert_int_equal(c->header->repository->id, 42);
			assert_int_equal(c->header->run->attempt, 2);
		} else if (n == 1) {
			assert_int_equal(c->chunk_case, CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB);
			assert_int_equal(c->job->n_steps, 12);
		} else {
			assert_int_equal(c->chunk_case, CIPULSE__V1__REPORT_CHUNK__CHUNK_LOG);
			assert_true(strlen(c->log->text) <= AG_CHUNK_TEXT_MAX);
			if (c->log->step_number == 8) {
				assert_int_equal(c->log->seq, logs);
				assert_int_equal(strlen(c->log->text) % 3, 0);
				total_text += strlen(c->log->text);
				logs++;
				if (c->log->last) {
					last_seen = 1;
					assert_int_equal(c->log->original_size, 999999);
					assert_true(c->log->truncated);
					assert_true(c->log->has_exit_code);
					assert_int_equal(c->log->exit_code, 2);
				} else {
					assert_int_equal(c->log->original_size, 0);
				}
			}
		}
		cipulse__v1__report_chunk__free_unpacked(c, NULL);
		n++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(logs, 3);
	assert_true(last_seen);
	assert_int_equal(total_text, big.len);
	assert_int_equal(n, 2 + 3 + 1);
	/* A damaged stream is refused. */
	assert_int_equal(ag_frames_report_id(frames.data, frames.len - 1, id, sizeof(id), NULL),
			 CM_EPROTO);

	cm_buf_release(&frames);
	cm_buf_release(&big);
	ag_report_release(&r);
	json_decref(j);
}

static void report_tail_budget(void **state)
{
	struct ag_config cfg;
	struct ag_report r;
	Cipulse__V1__Job *job;

	config_for_test(&cfg);
	cfg.log_report_bytes = 10;
	assert_int_equal(ag_report_init(&r, &cfg, 1), 0);
	assert_int_equal(ag_job_from_env(&cfg, 5, "success", &job), 0);
	assert_string_equal(job->status, "completed");
	assert_string_equal(job->runner_os, "Linux");
	assert_int_equal(ag_report_add_job(&r, job), 0);
	assert_int_equal(ag_report_add_tail(&r, 5, 1, "0123456789abcdef", 16, 16, 0, 0, 0), 0);
	/* The end is kept. */
	assert_string_equal(r.tails[0].text, "6789abcdef");
	assert_true(r.tails[0].truncated);
	assert_int_equal(ag_report_add_tail(&r, 5, 2, "more", 4, 4, 0, 0, 0), CM_ETOOBIG);
	/* Same step twice: appended (budget permitting), first failing exit code kept. */
	cfg.log_report_bytes = 100;
	ag_report_release(&r);
	assert_int_equal(ag_report_init(&r, &cfg, 1), 0);
	assert_int_equal(ag_report_add_tail(&r, 5, 3, "a\n", 2, 2, 0, 1, 0), 0);
	assert_int_equal(ag_report_add_tail(&r, 5, 3, "b\n", 2, 2, 0, 1, 7), 0);
	assert_int_equal(ag_report_add_tail(&r, 5, 3, "c\n", 2, 2, 0, 1, 9), 0);
	assert_int_equal(r.ntails, 1);
	assert_string_equal(r.tails[0].text, "a\nb\nc\n");
	assert_int_equal(r.tails[0].exit_code, 7);
	assert_int_equal(r.tails[0].original_size, 6);
	ag_report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(job_from_fixture),
		cmocka_unit_test(job_in_progress_has_nulls),
		cmocka_unit_test(job_without_id_is_rejected),
		cmocka_unit_test(encode_and_decode),
		cmocka_unit_test(report_tail_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
