/* Unit tests of report assembly (collector/ingest/assemble.c): what the gRPC ingest runs per
 * stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest/assemble.h"
#include "store/tokens.h"
#include "cm_err.h"

#define MAX_BYTES (1u << 20)

/* ---- building messages -------------------------------------------------------------------- */

static Cipulse__V1__Repository repo = CIPULSE__V1__REPOSITORY__INIT;
static Cipulse__V1__Run run = CIPULSE__V1__RUN__INIT;
static Cipulse__V1__ReportHeader header = CIPULSE__V1__REPORT_HEADER__INIT;

static int setup(void **state)
{
	cipulse__v1__repository__init(&repo);
	repo.id = 42;
	repo.full_name = "octo/widgets";
	cipulse__v1__run__init(&run);
	run.id = 1000;
	run.attempt = 1;
	cipulse__v1__report_header__init(&header);
	header.report_id = "r-1";
	header.repository = &repo;
	header.run = &run;
	return 0;
}

/* Packs a ReportChunk and feeds it; returns what col_assembly_add returned. */
static int feed_chunk(struct col_assembly *a, Cipulse__V1__ReportChunk *c)
{
	size_t n = cipulse__v1__report_chunk__get_packed_size(c);
	uint8_t *buf = malloc(n ? n : 1);
	int rc;

	assert_non_null(buf);
	cipulse__v1__report_chunk__pack(c, buf);
	rc = col_assembly_add(a, buf, n);
	free(buf);
	return rc;
}

static int feed_header(struct col_assembly *a)
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;

	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER;
	c.header = &header;
	return feed_chunk(a, &c);
}

static int feed_job(struct col_assembly *a, int64_t id, size_t nsteps)
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
	Cipulse__V1__Job job = CIPULSE__V1__JOB__INIT;
	Cipulse__V1__Step *steps = calloc(nsteps ? nsteps : 1, sizeof(*steps));
	Cipulse__V1__Step **ptrs = calloc(nsteps ? nsteps : 1, sizeof(*ptrs));
	int rc;

	assert_non_null(steps);
	assert_non_null(ptrs);
	for (size_t i = 0; i < nsteps; i++) {
		cipulse__v1__step__init(&steps[i]);
		steps[i].number = (int32_t)i + 1;
		ptrs[i] = &steps[i];
	}
	job.id = id;
	job.name = "build";
	job.n_steps = nsteps;
	job.steps = ptrs;
	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB;
	c.job = &job;
	rc = feed_chunk(a, &c);
	free(ptrs);
	free(steps);
	return rc;
}

static int feed_log(struct col_assembly *a, int64_t job, int32_t step, int32_t seq,
		    const char *text, int last)
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
	Cipulse__V1__LogChunk l = CIPULSE__V1__LOG_CHUNK__INIT;

	l.job_id = job;
	l.step_number = step;
	l.seq = seq;
	l.text = (char *)text;
	l.last = last;
	if (last) {
		l.original_size = 999;
		l.truncated = 1;
		l.has_exit_code = 1;
		l.exit_code = 3;
	}
	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_LOG;
	c.log = &l;
	return feed_chunk(a, &c);
}

/* A batch of n test cases for job (case i named "t<i>", failed when i is odd). */
static int feed_tests(struct col_assembly *a, int64_t job, size_t n,
		      void (*edit)(Cipulse__V1__TestCase *t, size_t i))
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
	Cipulse__V1__TestBatch b = CIPULSE__V1__TEST_BATCH__INIT;
	Cipulse__V1__TestCase *cases = calloc(n ? n : 1, sizeof(*cases));
	Cipulse__V1__TestCase **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	char(*names)[24] = calloc(n ? n : 1, sizeof(*names));
	int rc;

	assert_non_null(cases);
	assert_non_null(ptrs);
	assert_non_null(names);
	for (size_t i = 0; i < n; i++) {
		cipulse__v1__test_case__init(&cases[i]);
		snprintf(names[i], sizeof(names[i]), "t%zu", i);
		cases[i].suite = "suite";
		cases[i].class_name = "pkg.Class";
		cases[i].name = names[i];
		cases[i].duration_us = 1500;
		cases[i].result = i % 2 ? CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED
					: CIPULSE__V1__TEST_RESULT__TEST_RESULT_PASSED;
		cases[i].message = i % 2 ? "assert 1 == 2" : "";
		if (edit)
			edit(&cases[i], i);
		ptrs[i] = &cases[i];
	}
	b.job_id = job;
	b.n_cases = n;
	b.cases = ptrs;
	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_TESTS;
	c.tests = &b;
	rc = feed_chunk(a, &c);
	free(names);
	free(ptrs);
	free(cases);
	return rc;
}

static void assert_error_names(const struct col_assembly *a, const char *what)
{
	if (!strstr(col_assembly_error(a), what))
		fail_msg("error \"%s\" does not name \"%s\"", col_assembly_error(a), what);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void good_report(void **state)
{
	struct col_assembly a;
	const struct col_report *r;

	col_assembly_init(&a, MAX_BYTES);
	assert_null(col_assembly_header(&a));
	assert_int_equal(feed_header(&a), CM_OK);
	assert_non_null(col_assembly_header(&a));
	assert_int_equal(feed_job(&a, 7, 2), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 0, "hello ", 0), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 1, "world", 1), CM_OK);
	assert_int_equal(feed_log(&a, 7, 0, 0, "whole job", 1), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_string_equal(r->source, "agent");
	assert_int_equal(r->header->run->id, 1000);
	assert_int_equal(r->njobs, 1);
	assert_int_equal(r->jobs[0]->id, 7);
	assert_int_equal(r->jobs[0]->n_steps, 2);
	assert_int_equal(r->nlogs, 2);
	assert_int_equal(r->logs[0].step_number, 1);
	assert_string_equal(r->logs[0].text, "hello world");
	assert_int_equal(r->logs[0].len, 11);
	assert_int_equal(r->logs[0].original_size, 999);
	assert_true(r->logs[0].truncated);
	assert_true(r->logs[0].has_exit_code);
	assert_int_equal(r->logs[0].exit_code, 3);
	assert_string_equal(r->logs[1].text, "whole job");
	col_assembly_release(&a);
}

static void interleaved_tails_keep_their_order(void **state)
{
	struct col_assembly a;
	const struct col_report *r;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 2), CM_OK);
	assert_int_equal(feed_log(&a, 7, 2, 0, "B0", 0), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 0, "A0", 0), CM_OK);
	assert_int_equal(feed_log(&a, 7, 2, 1, "B1", 1), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 1, "A1", 0), CM_OK);
	/* A tail without `last` is complete at the end of the stream. */
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_int_equal(r->nlogs, 2);
	assert_string_equal(r->logs[0].text, "B0B1");
	assert_string_equal(r->logs[1].text, "A0A1");
	assert_false(r->logs[1].truncated);
	col_assembly_release(&a);
}

static void many_tails(void **state)
{
	struct col_assembly a;
	const struct col_report *r;
	char text[64];

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	for (int j = 1; j <= 20; j++)
		assert_int_equal(feed_job(&a, j, 0), CM_OK);
	/* Two rounds over 2000 tails: every second chunk finds its tail through the index. */
	for (int seq = 0; seq < 2; seq++) {
		for (int j = 1; j <= 20; j++) {
			for (int s = 0; s < 100; s++) {
				snprintf(text, sizeof(text), "%d.%d.%d;", j, s, seq);
				assert_int_equal(feed_log(&a, j, s, seq, text, seq == 1), CM_OK);
			}
		}
	}
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_int_equal(r->nlogs, 2000);
	assert_int_equal(r->logs[1234].job_id, 13);
	assert_int_equal(r->logs[1234].step_number, 34);
	assert_string_equal(r->logs[1234].text, "13.34.0;13.34.1;");
	col_assembly_release(&a);
}

static void header_must_come_first(void **state)
{
	struct col_assembly a;
	const struct col_report *r;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_job(&a, 7, 1), CM_EINVAL);
	assert_error_names(&a, "header");
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_EINVAL);
	assert_null(r);
	assert_error_names(&a, "header");
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_header(&a), CM_EINVAL);
	assert_error_names(&a, "header");
	col_assembly_release(&a);
}

static void log_seq_rules(void **state)
{
	/* Each case: two chunks of one tail (seq, last); the second must be refused. */
	static const struct {
		int32_t seq1;
		int last1;
		int32_t seq2;
		int rc1;
		const char *why;
	} cases[] = {
		{ 0, 0, 0, CM_OK, "expected 1, got 0" },     /* duplicate */
		{ 0, 0, 2, CM_OK, "expected 1, got 2" },     /* gap */
		{ 1, 0, 2, CM_EINVAL, "expected 0, got 1" }, /* not starting at 0 */
		{ 0, 1, 1, CM_OK, "after the last" },	     /* after the last */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct col_assembly a;

		col_assembly_init(&a, MAX_BYTES);
		assert_int_equal(feed_header(&a), CM_OK);
		assert_int_equal(feed_log(&a, 7, 1, cases[i].seq1, "a", cases[i].last1),
				 cases[i].rc1);
		if (cases[i].rc1 == CM_OK)
			assert_int_equal(feed_log(&a, 7, 1, cases[i].seq2, "b", 0), CM_EINVAL);
		assert_error_names(&a, "log.seq");
		assert_error_names(&a, cases[i].why);
		col_assembly_release(&a);
	}
}

static void text_must_be_utf8_without_nul(void **state)
{
	/* Hand-encoded log chunks {job_id: 7, text: "a\0b"} and {job_id: 7, text: "\xc3("}: packing
	 * from C strings could not carry the NUL. */
	static const uint8_t nul[] = { 0x1a, 0x07, 0x08, 0x07, 0x22, 0x03, 'a', 0x00, 'b' };
	static const uint8_t bad[] = { 0x1a, 0x06, 0x08, 0x07, 0x22, 0x02, 0xc3, 0x28 };
	struct col_assembly a;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(col_assembly_add(&a, nul, sizeof(nul)), CM_EINVAL);
	assert_error_names(&a, "log.text");
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(col_assembly_add(&a, bad, sizeof(bad)), CM_EINVAL);
	assert_error_names(&a, "log.text");
	col_assembly_release(&a);

	/* Nested: the name of the repository inside the header. */
	col_assembly_init(&a, MAX_BYTES);
	repo.full_name = "octo/\xff";
	assert_int_equal(feed_header(&a), CM_EINVAL);
	assert_error_names(&a, "header.repository.full_name");
	col_assembly_release(&a);
	repo.full_name = "octo/widgets";
}

static void malformed_messages(void **state)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t empty[] = { 0 };
	struct col_assembly a;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(col_assembly_add(&a, garbage, sizeof(garbage)), CM_EINVAL);
	assert_error_names(&a, "malformed");
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(col_assembly_add(&a, empty, 0), CM_EINVAL);
	assert_error_names(&a, "empty");
	col_assembly_release(&a);
}

static void size_limits(void **state)
{
	struct col_assembly a;
	char *big = malloc(40000);

	assert_non_null(big);
	memset(big, 'x', 39999);
	big[39999] = '\0';
	/* The whole report. */
	col_assembly_init(&a, 65536);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 0, big, 0), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 1, big, 0), CM_ETOOBIG);
	assert_error_names(&a, "larger than");
	col_assembly_release(&a);
	free(big);

	/* Decoded size: 30000 empty steps are 60 KB on the wire, megabytes once decoded. */
	col_assembly_init(&a, 65536);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 30000), CM_ETOOBIG);
	col_assembly_release(&a);

	/* Steps per job. */
	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, COL_ASM_MAX_STEPS + 1), CM_ETOOBIG);
	assert_error_names(&a, "job.steps");
	col_assembly_release(&a);

	/* Jobs per report. */
	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	for (int i = 1; i <= COL_ASM_MAX_JOBS; i++)
		assert_int_equal(feed_job(&a, i, 0), CM_OK);
	assert_int_equal(feed_job(&a, COL_ASM_MAX_JOBS + 1, 0), CM_ETOOBIG);
	col_assembly_release(&a);
}

/* What the collector charges a stream against its memory budget for reports in flight. */
static void memory_held(void **state)
{
	struct col_assembly a;
	const struct col_report *r;
	char *big = malloc(40001);
	size_t m0, m1, m2;

	assert_non_null(big);
	memset(big, 'x', 40000);
	big[40000] = '\0';
	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(col_assembly_mem(&a), 0);
	assert_int_equal(feed_header(&a), CM_OK);
	m0 = col_assembly_mem(&a);
	assert_true(m0 > 0); /* the decoded header is kept */
	assert_int_equal(feed_job(&a, 7, 3), CM_OK);
	m1 = col_assembly_mem(&a);
	assert_true(m1 > m0);
	/* Log text is copied into the tails: at least its size is held. */
	assert_int_equal(feed_log(&a, 7, 1, 0, big, 0), CM_OK);
	assert_int_equal(feed_log(&a, 7, 1, 1, big, 1), CM_OK);
	m2 = col_assembly_mem(&a);
	assert_true(m2 >= m1 + 80000);
	/* ... and not much more than twice (the buffers grow by doubling). */
	assert_true(m2 <= m1 + 2 * 80000 + 4096);
	/* A refused message gives back what its decoding took. */
	assert_int_equal(feed_log(&a, 7, 1, 2, "late", 0), CM_EINVAL);
	assert_int_equal(col_assembly_mem(&a), m2);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_true(col_assembly_mem(&a) >= m2);
	col_assembly_release(&a);
	assert_int_equal(col_assembly_mem(&a), 0);
	free(big);
}

static void test_batches_are_kept(void **state)
{
	struct col_assembly a;
	const struct col_report *r;

	col_assembly_init(&a, 4u << 20);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 1), CM_OK);
	assert_int_equal(feed_job(&a, 8, 1), CM_OK);
	assert_int_equal(feed_tests(&a, 7, COL_ASM_MAX_BATCH_CASES, NULL), CM_OK);
	assert_int_equal(feed_tests(&a, 7, 3, NULL), CM_OK);
	assert_int_equal(feed_tests(&a, 8, 0, NULL), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_int_equal(r->ntests, 3);
	assert_int_equal(r->tests[0]->job_id, 7);
	assert_int_equal(r->tests[0]->n_cases, COL_ASM_MAX_BATCH_CASES);
	assert_string_equal(r->tests[0]->cases[999]->name, "t999");
	assert_int_equal(r->tests[0]->cases[999]->result,
			 CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED);
	assert_int_equal(r->tests[1]->n_cases, 3);
	assert_int_equal(r->tests[2]->job_id, 8);
	col_assembly_release(&a);
}

static void bad_result(Cipulse__V1__TestCase *t, size_t i)
{
	if (i == 2)
		t->result = 9;
}

static void unspecified_result(Cipulse__V1__TestCase *t, size_t i)
{
	if (i == 1)
		t->result = CIPULSE__V1__TEST_RESULT__TEST_RESULT_UNSPECIFIED;
}

static void long_name(Cipulse__V1__TestCase *t, size_t i)
{
	static char name[COL_ASM_MAX_TEST_FIELD + 2];

	memset(name, 'n', sizeof(name) - 1);
	if (i == 4)
		t->name = name;
}

static void long_message(Cipulse__V1__TestCase *t, size_t i)
{
	static char msg[COL_ASM_MAX_TEST_MSG + 2];

	memset(msg, 'm', sizeof(msg) - 1);
	if (i == 1)
		t->message = msg;
}

static void negative_duration(Cipulse__V1__TestCase *t, size_t i)
{
	if (i == 0)
		t->duration_us = -1;
}

static void many_retries(Cipulse__V1__TestCase *t, size_t i)
{
	if (i == 3)
		t->retries = COL_ASM_MAX_RETRIES + 1;
}

/* Bad test batches are refused, and the error names the field (and the case). */
static void test_batch_rules(void **state)
{
	static const struct {
		void (*edit)(Cipulse__V1__TestCase *t, size_t i);
		const char *field;
	} bad[] = {
		{ bad_result, "tests.cases[2].result" },
		{ unspecified_result, "tests.cases[1].result" },
		{ long_name, "tests.cases[4].name" },
		{ long_message, "tests.cases[1].message" },
		{ negative_duration, "tests.cases[0].duration_us" },
		{ many_retries, "tests.cases[3].retries" },
	};
	struct col_assembly a;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		col_assembly_init(&a, MAX_BYTES);
		assert_int_equal(feed_header(&a), CM_OK);
		assert_int_equal(feed_job(&a, 7, 0), CM_OK);
		assert_int_equal(feed_tests(&a, 7, 5, bad[i].edit), CM_EINVAL);
		assert_error_names(&a, bad[i].field);
		col_assembly_release(&a);
	}
	/* A batch of a job the report does not have (or has not sent yet). */
	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_tests(&a, 7, 1, NULL), CM_EINVAL);
	assert_error_names(&a, "tests.job_id");
	col_assembly_release(&a);
	/* More cases in one batch than the contract allows. */
	col_assembly_init(&a, 4u << 20);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 0), CM_OK);
	assert_int_equal(feed_tests(&a, 7, COL_ASM_MAX_BATCH_CASES + 1, NULL), CM_ETOOBIG);
	assert_error_names(&a, "tests.cases");
	col_assembly_release(&a);
}

/*
 * A newer agent's new kind of message (a oneof field this collector does not know) is skipped;
 * a message with nothing in it is still refused.
 */
static void unknown_kinds_are_skipped(void **state)
{
	/* Field 15, length-delimited, 3 bytes: a ReportChunk kind added after this collector. */
	static const uint8_t newer[] = { 0x7a, 0x03, 0x08, 0x01, 0x10 };
	struct col_assembly a;
	const struct col_report *r;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 0), CM_OK);
	assert_int_equal(col_assembly_add(&a, newer, sizeof(newer)), CM_OK);
	assert_int_equal(feed_tests(&a, 7, 2, NULL), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_OK);
	assert_int_equal(r->njobs, 1);
	assert_int_equal(r->ntests, 1);
	assert_int_equal(a.skipped, 1);
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(col_assembly_add(&a, newer, 0), CM_EINVAL);
	assert_error_names(&a, "empty");
	col_assembly_release(&a);
}

static void validation_names_the_field(void **state)
{
	struct col_assembly a;
	const struct col_report *r;

	run.attempt = 0;
	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_EINVAL);
	assert_error_names(&a, "header.run.attempt");
	col_assembly_release(&a);
	run.attempt = 1;

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 0, 1), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_EINVAL);
	assert_error_names(&a, "job.id");
	col_assembly_release(&a);

	col_assembly_init(&a, MAX_BYTES);
	assert_int_equal(feed_header(&a), CM_OK);
	assert_int_equal(feed_job(&a, 7, 1), CM_OK);
	assert_int_equal(feed_log(&a, 8, 1, 0, "x", 1), CM_OK);
	assert_int_equal(col_assembly_finish(&a, "agent", &r), CM_EINVAL);
	assert_error_names(&a, "log.job_id");
	col_assembly_release(&a);
}

/* What a token may report for before the store is asked: through its credential. */
static int token_allows(const struct col_token_info *t)
{
	struct col_cred cred;
	int rc = col_token_cred(t, &cred);

	return rc ? rc : col_assembly_allowed(&cred, &header);
}

static void token_rules(void **state)
{
	struct col_token_info t;

	memset(&t, 0, sizeof(t));
	t.kind = COL_TOKEN_ADMIN;
	assert_int_equal(token_allows(&t), CM_OK);

	t.kind = COL_TOKEN_INGEST;
	t.repo_id = 42;
	assert_int_equal(token_allows(&t), CM_OK);
	t.repo_id = 43;
	assert_int_equal(token_allows(&t), CM_EDENIED);
	/* Registered by name, id not known yet. */
	t.repo_id = -5;
	strcpy(t.repo_name, "octo/widgets");
	assert_int_equal(token_allows(&t), CM_OK);
	strcpy(t.repo_name, "octo/other");
	assert_int_equal(token_allows(&t), CM_EDENIED);

	t.kind = COL_TOKEN_READ;
	t.repo_id = 0;
	assert_int_equal(token_allows(&t), CM_EDENIED);
	/* A header without a repository id is invalid, not refused: validation names the field. */
	t.kind = COL_TOKEN_INGEST;
	t.repo_id = 43;
	repo.id = 0;
	assert_int_equal(token_allows(&t), CM_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(good_report, setup),
		cmocka_unit_test_setup(interleaved_tails_keep_their_order, setup),
		cmocka_unit_test_setup(many_tails, setup),
		cmocka_unit_test_setup(header_must_come_first, setup),
		cmocka_unit_test_setup(log_seq_rules, setup),
		cmocka_unit_test_setup(text_must_be_utf8_without_nul, setup),
		cmocka_unit_test_setup(malformed_messages, setup),
		cmocka_unit_test_setup(size_limits, setup),
		cmocka_unit_test_setup(memory_held, setup),
		cmocka_unit_test_setup(validation_names_the_field, setup),
		cmocka_unit_test_setup(token_rules, setup),
		cmocka_unit_test_setup(test_batches_are_kept, setup),
		cmocka_unit_test_setup(test_batch_rules, setup),
		cmocka_unit_test_setup(unknown_kinds_are_skipped, setup),
	};

	return cmocka_run_group_tests_name("ingest_assemble", tests, NULL, NULL);
}
