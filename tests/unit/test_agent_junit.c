/*
 * The agent's JUnit reader: each tool's shape (fixtures from real pytest and Node, the others
 * in their documented shapes), results and retries, durations, messages cut and masked, hostile
 * XML refused with the cases before it kept, limits, and the test batches of a report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "junit.h"
#include "report.h"
#include "cm_buf.h"
#include "cm_err.h"

#define PASSED	CIPULSE__V1__TEST_RESULT__TEST_RESULT_PASSED
#define FAILED	CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED
#define ERROR	CIPULSE__V1__TEST_RESULT__TEST_RESULT_ERROR
#define SKIPPED CIPULSE__V1__TEST_RESULT__TEST_RESULT_SKIPPED

static const struct ag_junit_opts big = { 1L << 30, 1L << 30, NULL };

/* Fixtures are found next to this source file (tests are run from the repository root). */
static void fixture_path(const char *name, char *path, size_t size)
{
	const char *src = __FILE__, *slash = strrchr(src, '/');
	const char *root = getenv("CIPULSE_SRC");

	if (root)
		snprintf(path, size, "%s/tests/fixtures/junit/%s", root, name);
	else
		snprintf(path, size, "%.*s/../fixtures/junit/%s", slash ? (int)(slash - src) : 1,
			 slash ? src : ".", name);
}

static int read_fixture(struct ag_tests *t, const char *name, const struct ag_junit_opts *o)
{
	char path[1024], why[512] = "";
	int rc;

	fixture_path(name, path, sizeof(path));
	rc = ag_junit_read_file(t, path, o, why, sizeof(why));
	if (rc)
		printf("# %s: %s\n", name, why);
	return rc;
}

static int parse(struct ag_tests *t, const char *xml, char *why, size_t whysize)
{
	return ag_junit_parse(t, "mem.xml", xml, strlen(xml), &big, why, whysize);
}

static const Cipulse__V1__TestCase *find(const struct ag_tests *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->cases[i]->name, name) == 0)
			return t->cases[i];
	}
	fail_msg("no test case named %s", name);
	return NULL;
}

static void pytest_shape(void **state)
{
	struct ag_secrets secrets = { NULL, 0 };
	struct ag_junit_opts o = big;
	struct ag_tests t;
	const Cipulse__V1__TestCase *c;

	assert_int_equal(ag_secrets_add(&secrets, "hunter2-secret-value", 20), 0);
	o.secrets = &secrets;
	ag_tests_init(&t, 100);
	assert_int_equal(read_fixture(&t, "pytest.xml", &o), 0);
	assert_int_equal(t.n, 5);
	assert_false(t.truncated);
	c = find(&t, "test_passes");
	assert_string_equal(c->suite, "pytest");
	assert_string_equal(c->class_name, "test_sample");
	assert_int_equal(c->result, PASSED);
	assert_string_equal(c->message, "");
	assert_int_equal(c->duration_us, 1000);
	c = find(&t, "test_fails");
	assert_int_equal(c->result, FAILED);
	assert_int_equal(c->duration_us, 5000);
	/* The message attribute first, then the traceback; the secret masked in both. */
	assert_non_null(strstr(c->message, "AssertionError: values differ"));
	assert_non_null(strstr(c->message, "test_sample.py:11: AssertionError"));
	assert_null(strstr(c->message, "hunter2"));
	assert_non_null(strstr(c->message, "***"));
	assert_int_equal(find(&t, "test_errors")->result, ERROR);
	assert_non_null(strstr(find(&t, "test_errors")->message, "fixture could not start"));
	assert_int_equal(find(&t, "test_skipped")->result, SKIPPED);
	assert_string_equal(find(&t, "test_skipped")->message, "");
	assert_string_equal(find(&t, "test_in_class")->class_name, "test_sample.TestGroup");
	ag_tests_release(&t);
	ag_secrets_release(&secrets);
}

static void node_shape(void **state)
{
	struct ag_tests t;
	const Cipulse__V1__TestCase *c;

	ag_tests_init(&t, 100);
	assert_int_equal(read_fixture(&t, "node.xml", &big), 0);
	assert_int_equal(t.n, 5);
	c = find(&t, "adds");
	assert_int_equal(c->result, PASSED);
	assert_string_equal(c->suite, "");
	assert_int_equal(c->duration_us, 1098);
	c = find(&t, "fails");
	assert_int_equal(c->result, FAILED);
	assert_true(strncmp(c->message, "math is broken", 14) == 0);
	assert_int_equal(find(&t, "skipped")->result, SKIPPED);
	/* Nested describe(): its own <testsuite>; the case after it is back at the top. */
	c = find(&t, "nested fails");
	assert_string_equal(c->suite, "group");
	assert_int_equal(c->result, FAILED);
	assert_non_null(strstr(c->message, "nested boom"));
	assert_string_equal(find(&t, "nested passes")->suite, "group");
	ag_tests_release(&t);
}

static void jest_shape(void **state)
{
	struct ag_tests t;
	const Cipulse__V1__TestCase *c;

	ag_tests_init(&t, 100);
	assert_int_equal(read_fixture(&t, "jest.xml", &big), 0);
	assert_int_equal(t.n, 3);
	c = find(&t, "math utils divides by zero");
	assert_int_equal(c->result, FAILED);
	assert_string_equal(c->file, "src/math.test.js");
	assert_string_equal(c->suite, "math utils");
	assert_true(strncmp(c->message, "Error: expect(received)", 23) == 0);
	assert_int_equal(find(&t, "math utils rounds")->result, SKIPPED);
	ag_tests_release(&t);
}

static void surefire_shape(void **state)
{
	struct ag_tests t;
	const Cipulse__V1__TestCase *c;

	ag_tests_init(&t, 100);
	assert_int_equal(read_fixture(&t, "surefire.xml", &big), 0);
	assert_int_equal(t.n, 5);
	c = find(&t, "placesOrder");
	assert_string_equal(c->suite, "com.example.OrderServiceTest");
	assert_int_equal(c->result, PASSED);
	assert_int_equal(c->retries, 0);
	/* Failed once, then passed: passed, one retry, no message (flaky). */
	c = find(&t, "retriesPayment");
	assert_int_equal(c->result, PASSED);
	assert_int_equal(c->retries, 1);
	assert_string_equal(c->message, "");
	/* Failed in every attempt: failed, two reruns. */
	c = find(&t, "cancelsOrder");
	assert_int_equal(c->result, FAILED);
	assert_int_equal(c->retries, 2);
	assert_true(strncmp(c->message, "order still open\njava.lang.AssertionError", 41) == 0);
	c = find(&t, "connectsDb");
	assert_int_equal(c->result, ERROR);
	assert_int_equal(c->retries, 1);
	assert_int_equal(c->duration_us, 2500000);
	assert_int_equal(find(&t, "legacyPath")->result, SKIPPED);
	ag_tests_release(&t);
}

static void gradle_go_nextest_shapes(void **state)
{
	struct ag_tests t;
	const Cipulse__V1__TestCase *c;

	ag_tests_init(&t, 100);
	assert_int_equal(read_fixture(&t, "gradle.xml", &big), 0);
	assert_int_equal(read_fixture(&t, "gotestsum.xml", &big), 0);
	assert_int_equal(read_fixture(&t, "nextest.xml", &big), 0);
	assert_int_equal(t.n, 2 + 3 + 3);
	c = find(&t, "parsesNested()");
	assert_int_equal(c->result, FAILED);
	assert_string_equal(c->class_name, "org.acme.ParserTest");
	c = find(&t, "TestPut/overwrite");
	assert_int_equal(c->result, FAILED);
	assert_string_equal(c->suite, "github.com/acme/svc/store");
	assert_non_null(strstr(c->message, "store_test.go:44: got 1, want 2"));
	assert_int_equal(c->duration_us, 200000);
	assert_int_equal(find(&t, "TestSlow")->result, SKIPPED);
	c = find(&t, "tests::flaky_net");
	assert_int_equal(c->result, PASSED);
	assert_int_equal(c->retries, 2);
	c = find(&t, "tests::broken");
	assert_int_equal(c->result, FAILED);
	assert_int_equal(c->retries, 1);
	assert_non_null(strstr(c->message, "assertion `left == right` failed"));
	ag_tests_release(&t);
}

static void durations(void **state)
{
	struct ag_tests t;
	char why[256];

	ag_tests_init(&t, 100);
	assert_int_equal(parse(&t,
			       "<testsuite><testcase name='a' time='1.5'/>"
			       "<testcase name='b' time='-3'/><testcase name='c' time='nan'/>"
			       "<testcase name='d' time='1e300'/><testcase name='e'/>"
			       "<testcase name='f' time='12,345.000001'/>"
			       "<testcase name='g' time='2678401'/></testsuite>",
			       why, sizeof(why)),
			 0);
	assert_int_equal(t.n, 7);
	assert_int_equal(t.cases[0]->duration_us, 1500000);
	assert_int_equal(t.cases[1]->duration_us, 0);
	assert_int_equal(t.cases[2]->duration_us, 0);
	assert_int_equal(t.cases[3]->duration_us, 0);
	assert_int_equal(t.cases[4]->duration_us, 0);
	assert_int_equal(t.cases[5]->duration_us, 12345000001LL);
	/* Over 31 days (what the collector accepts): not a duration. */
	assert_int_equal(t.cases[6]->duration_us, 0);
	ag_tests_release(&t);
}

static void message_cut_at_4k(void **state)
{
	struct cm_buf xml = CM_BUF_INIT(1 << 20);
	struct ag_tests t;
	char why[256];

	ag_tests_init(&t, 100);
	assert_int_equal(cm_buf_adds(&xml, "<testsuite><testcase name='x'><failure message='m'>"),
			 0);
	/* 3-byte characters, so that 4096 falls inside one: the cut backs off to a boundary. */
	for (int i = 0; i < 5000; i++)
		assert_int_equal(cm_buf_adds(&xml, "\xE2\x82\xAC"), 0);
	assert_int_equal(cm_buf_adds(&xml, "</failure></testcase></testsuite>"), 0);
	assert_int_equal(ag_junit_parse(&t, "m.xml", xml.data, xml.len, &big, why, sizeof(why)), 0);
	assert_int_equal(t.n, 1);
	assert_true(strlen(t.cases[0]->message) <= AG_JUNIT_MESSAGE_MAX);
	assert_true(strlen(t.cases[0]->message) > AG_JUNIT_MESSAGE_MAX - 4);
	assert_int_equal((strlen(t.cases[0]->message) - 2) % 3, 0);
	assert_true(strncmp(t.cases[0]->message, "m\n\xE2\x82\xAC", 5) == 0);
	ag_tests_release(&t);
	cm_buf_release(&xml);
}

/* Retries and the encoded size stay within what the collector accepts. */
static void collector_limits(void **state)
{
	struct cm_buf xml = CM_BUF_INIT(64 << 20);
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 100000);
	assert_int_equal(cm_buf_adds(&xml, "<testsuite><testcase name='r'>"), 0);
	for (int i = 0; i < 1500; i++)
		assert_int_equal(cm_buf_adds(&xml, "<flakyFailure/>"), 0);
	assert_int_equal(cm_buf_adds(&xml, "</testcase>"), 0);
	/* 6,000 failures with 4 KiB messages: ~24 MiB encoded, over the report's 16 MiB. */
	for (int i = 0; i < 6000; i++) {
		assert_int_equal(cm_buf_addf(&xml, "<testcase name='f%d'><failure>", i), 0);
		for (int k = 0; k < 80; k++)
			assert_int_equal(cm_buf_adds(&xml, "0123456789abcdef0123456789abcdef"
							   "0123456789abcdef0123456789abcdef"),
					 0);
		assert_int_equal(cm_buf_adds(&xml, "</failure></testcase>"), 0);
	}
	assert_int_equal(cm_buf_adds(&xml, "</testsuite>"), 0);
	assert_int_equal(ag_junit_parse(&t, "big.xml", xml.data, xml.len, &big, why, sizeof(why)),
			 CM_ETOOBIG);
	assert_int_equal(t.cases[0]->retries, 1000);
	assert_true(t.truncated);
	assert_true(t.wire <= AG_TESTS_WIRE_MAX);
	assert_true(t.n > 3000 && t.n < 6000);
	assert_non_null(strstr(why, "16 MiB"));
	ag_tests_release(&t);
	cm_buf_release(&xml);
}

static void bad_bytes_repaired(void **state)
{
	/* NUL, a stray continuation byte, a control character: none stops the parse. */
	static const char xml[] = "<testsuite name='s\x01'><testcase name='a\x80' classname='c'>"
				  "<failure message='x'>bad\0byte \xC3</failure></testcase>"
				  "<testcase name='b'/></testsuite>";
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 100);
	assert_int_equal(ag_junit_parse(&t, "b.xml", xml, sizeof(xml) - 1, &big, why, sizeof(why)),
			 0);
	assert_int_equal(t.n, 2);
	assert_string_equal(t.cases[0]->name, "a\xEF\xBF\xBD");
	assert_string_equal(t.cases[0]->suite, "s\xEF\xBF\xBD");
	assert_string_equal(t.cases[0]->message, "x\nbadbyte \xEF\xBF\xBD");
	assert_false(t.truncated);
	ag_tests_release(&t);
}

static void billion_laughs_refused(void **state)
{
	static const char xml[] =
	    "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
	    "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
	    "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
	    "<testsuite><testcase name='&lol3;'/></testsuite>";
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 100);
	assert_int_equal(parse(&t, xml, why, sizeof(why)), CM_EPROTO);
	assert_int_equal(t.n, 0);
	assert_true(t.truncated);
	assert_non_null(strstr(why, "mem.xml"));
	assert_non_null(strstr(why, "refused"));
	ag_tests_release(&t);
}

static void external_entity_refused(void **state)
{
	static const char xml[] =
	    "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
	    "<testsuite><testcase name='a'><failure>&x;</failure></testcase></testsuite>";
	static const char undeclared[] = "<testsuite><testcase name='a'/>"
					 "<testcase name='b'><failure>&x;</failure></testcase>"
					 "</testsuite>";
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 100);
	assert_int_equal(parse(&t, xml, why, sizeof(why)), CM_EPROTO);
	assert_int_equal(t.n, 0);
	assert_non_null(strstr(why, "refused"));
	/* An entity never declared is an error too; the case completed before it is kept. */
	assert_int_equal(parse(&t, undeclared, why, sizeof(why)), CM_EPROTO);
	assert_int_equal(t.n, 1);
	assert_string_equal(t.cases[0]->name, "a");
	ag_tests_release(&t);
}

static void broken_file_keeps_earlier_cases(void **state)
{
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 100);
	assert_int_equal(parse(&t, "<testsuite><testcase name='a'/><testcase name='b'/><testc", why,
			       sizeof(why)),
			 CM_EPROTO);
	assert_int_equal(t.n, 2);
	assert_true(t.truncated);
	assert_non_null(strstr(why, "not read whole"));
	ag_tests_release(&t);
}

static void max_tests(void **state)
{
	struct ag_tests t;
	char why[256] = "";

	ag_tests_init(&t, 2);
	assert_int_equal(parse(&t,
			       "<testsuite><testcase name='a'/><testcase name='b'/></testsuite>",
			       why, sizeof(why)),
			 0);
	assert_false(t.truncated);
	assert_int_equal(parse(&t, "<testsuite><testcase name='c'/></testsuite>", why, sizeof(why)),
			 CM_ETOOBIG);
	assert_int_equal(t.n, 2);
	assert_true(t.truncated);
	assert_non_null(strstr(why, "CIPULSE_MAX_TESTS"));
	ag_tests_release(&t);
}

static void file_byte_limit(void **state)
{
	struct ag_junit_opts o = { 300, 1L << 30, NULL };
	char path[] = "/tmp/cipulse-junit-XXXXXX";
	struct ag_tests t;
	char why[512] = "";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	assert_non_null(f);
	fputs("<testsuite>", f);
	for (int i = 0; i < 100; i++)
		fprintf(f, "<testcase name='t%d'/>", i);
	fputs("</testsuite>", f);
	fclose(f);
	ag_tests_init(&t, 1000);
	assert_int_equal(ag_junit_read_file(&t, path, &o, why, sizeof(why)), CM_ETOOBIG);
	assert_true(t.n > 5 && t.n < 30);
	assert_true(t.truncated);
	assert_int_equal(t.bytes, 300);
	assert_non_null(strstr(why, "CIPULSE_TEST_FILE_BYTES"));
	assert_non_null(strstr(why, path));
	ag_tests_release(&t);
	/* Not a regular file: refused without reading. */
	ag_tests_init(&t, 1000);
	assert_int_equal(ag_junit_read_file(&t, "/dev/zero", &o, why, sizeof(why)), CM_EIO);
	assert_int_equal(ag_junit_read_file(&t, "/nonexistent/x.xml", &o, why, sizeof(why)),
			 CM_EIO);
	ag_tests_release(&t);
	unlink(path);
}

static void globs_relative_to_workspace(void **state)
{
	char dir[1024], *slash;
	struct ag_tests t;

	fixture_path("pytest.xml", dir, sizeof(dir));
	slash = strrchr(dir, '/');
	*slash = '\0';
	ag_tests_init(&t, 1000);
	/* pytest.xml twice (two patterns match it) is read once; a pattern without match warns. */
	assert_int_equal(
	    ag_junit_read_globs(&t, "py*.xml, pytest.xml\nnothing-*.xml,,node.xml", dir, &big), 0);
	assert_int_equal(t.n, 5 + 5);
	assert_false(t.truncated);
	ag_tests_release(&t);
}

/* The report's frames: test batches after their job, split at 1,000 cases, truncated last. */
static void report_batches(void **state)
{
	struct ag_config cfg;
	struct ag_report r;
	struct cm_buf frames = CM_BUF_INIT(1 << 26), bare = CM_BUF_INIT(1 << 26);
	Cipulse__V1__Job *job;
	const char *msg;
	size_t off = 0, len, cases = 0;
	int nframes = 0, batches = 0, last_truncated = -1, saw_job = 0;
	struct cm_buf xml = CM_BUF_INIT(1 << 22);
	char why[256];

	memset(&cfg, 0, sizeof(cfg));
	cfg.log_report_bytes = 1 << 20;
	cfg.github_repository = (char *)"octo/widgets";
	cfg.github_repository_id = 42;
	cfg.github_run_id = 7;
	cfg.github_run_attempt = 1;
	assert_int_equal(ag_report_init(&r, &cfg, CIPULSE__V1__AGENT_MODE__AGENT_MODE_REPORT), 0);
	assert_int_equal(ag_job_from_env(&cfg, 99, "success", &job), 0);
	assert_int_equal(ag_report_add_job(&r, job), 0);
	assert_int_equal(cm_buf_adds(&xml, "<testsuite name='s'>"), 0);
	for (int i = 0; i < 2500; i++)
		assert_int_equal(cm_buf_addf(&xml, "<testcase name='t%d'/>", i), 0);
	assert_int_equal(cm_buf_adds(&xml, "</testsuite>"), 0);
	ag_tests_init(&r.tests, 2400);
	r.tests_job = 99;
	assert_int_equal(
	    ag_junit_parse(&r.tests, "x.xml", xml.data, xml.len, &big, why, sizeof(why)),
	    CM_ETOOBIG);
	assert_int_equal(ag_report_encode(&r, &frames), 0);
	assert_true(ag_frames_have_tests(frames.data, frames.len));
	while (ag_frames_next(frames.data, frames.len, &off, &msg, &len) == 1) {
		Cipulse__V1__ReportChunk *c =
		    cipulse__v1__report_chunk__unpack(NULL, len, (const uint8_t *)msg);

		assert_non_null(c);
		nframes++;
		if (c->chunk_case == CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB)
			saw_job = 1;
		if (c->chunk_case == CIPULSE__V1__REPORT_CHUNK__CHUNK_TESTS) {
			assert_true(saw_job);
			assert_int_equal(c->tests->job_id, 99);
			assert_true(c->tests->n_cases <= AG_BATCH_CASES);
			cases += c->tests->n_cases;
			batches++;
			last_truncated = c->tests->truncated;
		}
		cipulse__v1__report_chunk__free_unpacked(c, NULL);
	}
	assert_int_equal(cases, 2400);
	assert_int_equal(batches, 3);
	assert_int_equal(last_truncated, 1);
	/* For an older collector: the same frames without the batches. */
	assert_int_equal(ag_frames_without_tests(frames.data, frames.len, &bare), 0);
	assert_false(ag_frames_have_tests(bare.data, bare.len));
	off = 0;
	while (ag_frames_next(bare.data, bare.len, &off, &msg, &len) == 1)
		nframes--;
	assert_int_equal(nframes, batches);
	cm_buf_release(&xml);
	cm_buf_release(&frames);
	cm_buf_release(&bare);
	ag_report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pytest_shape),
		cmocka_unit_test(node_shape),
		cmocka_unit_test(jest_shape),
		cmocka_unit_test(surefire_shape),
		cmocka_unit_test(gradle_go_nextest_shapes),
		cmocka_unit_test(durations),
		cmocka_unit_test(message_cut_at_4k),
		cmocka_unit_test(collector_limits),
		cmocka_unit_test(bad_bytes_repaired),
		cmocka_unit_test(billion_laughs_refused),
		cmocka_unit_test(external_entity_refused),
		cmocka_unit_test(broken_file_keeps_earlier_cases),
		cmocka_unit_test(max_tests),
		cmocka_unit_test(file_byte_limit),
		cmocka_unit_test(globs_relative_to_workspace),
		cmocka_unit_test(report_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
