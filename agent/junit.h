/*
 * Test results: JUnit XML files (pytest --junitxml, jest-junit, node --test-reporter=junit,
 * gotestsum, Maven Surefire, Gradle, cargo-nextest) read into TestCase messages.
 *
 * The reader streams (libexpat, 64 KiB at a time) and keeps fixed memory whatever the file's
 * size: per-field buffers are bounded, character data is kept only inside <failure>/<error>
 * and only its start, and libexpat's own allocations are capped (AG_JUNIT_PARSER_MEM). A
 * DOCTYPE with an internal subset, any entity declaration and any external entity are refused.
 * Bytes are made valid before the parser sees them: NUL bytes removed, invalid UTF-8 and
 * control characters replaced by U+FFFD. A file that is refused, broken or cut by a limit keeps
 * the test cases completed before that point and marks the set truncated.
 */
#ifndef AG_JUNIT_H
#define AG_JUNIT_H

#include <stddef.h>
#include <stdint.h>

#include "logtail.h"
#include "cipulse/v1/report.pb-c.h"

/* Longest suite, class, name or file value kept (cut at a character boundary). */
#define AG_JUNIT_FIELD_MAX 1024
/* Longest failure message sent (the contract's 4 KiB). */
#define AG_JUNIT_MESSAGE_MAX 4096
/*
 * Most bytes of encoded test cases in one report: half the collector's default report limit
 * (CIPULSE_MAX_REPORT_BYTES, 32 MiB), so that tests never cost a report its jobs and logs.
 * 20,000 passing tests take about 2 MiB; 16 MiB holds ~3,500 failures with 4 KiB messages.
 */
#define AG_TESTS_WIRE_MAX (16 * 1024 * 1024)
/* Most bytes libexpat may hold at once for one file (its buffers, names, attributes). */
#define AG_JUNIT_PARSER_MEM (16L * 1024 * 1024)

/* The test cases of one job, in the order read. */
struct ag_tests {
	Cipulse__V1__TestCase **cases;
	size_t n, cap;
	size_t max;    /* most cases kept (CIPULSE_MAX_TESTS); more set `truncated` */
	int truncated; /* a limit was hit or a file could not be read whole */
	int64_t bytes; /* bytes of JUnit read so far (for the total limit) */
	size_t wire;   /* encoded size of the cases kept (at most AG_TESTS_WIRE_MAX) */
};

struct ag_junit_opts {
	int64_t max_file_bytes;		  /* bytes read of one file at most */
	int64_t max_total_bytes;	  /* bytes read of all files at most */
	const struct ag_secrets *secrets; /* masked in failure messages; may be NULL */
};

void ag_tests_init(struct ag_tests *t, size_t max);
void ag_tests_release(struct ag_tests *t);

/*
 * Reads one JUnit document held in memory (`name` is only used in `why`). Returns 0 when it
 * was read whole; CM_EPROTO when it is not well-formed or was refused (DOCTYPE subset,
 * entities), CM_ETOOBIG when a limit cut it: both keep the cases read before, set
 * t->truncated and write one line into why. CM_ENOMEM otherwise.
 */
int ag_junit_parse(struct ag_tests *t, const char *name, const char *data, size_t n,
		   const struct ag_junit_opts *o, char *why, size_t whysize);

/* Reads one file (a regular file only), in chunks, like ag_junit_parse; CM_EIO if unreadable. */
int ag_junit_read_file(struct ag_tests *t, const char *path, const struct ag_junit_opts *o,
		       char *why, size_t whysize);

/*
 * Reads every file matched by `globs` (glob(3) patterns separated by newlines or commas,
 * relative ones taken from `base` when it is set), each file once. A pattern that matches
 * nothing and a file that cannot be read whole print a ::warning:: line naming it; the other
 * files are still read. Returns 0 or CM_ENOMEM.
 */
int ag_junit_read_globs(struct ag_tests *t, const char *globs, const char *base,
			const struct ag_junit_opts *o);

#endif
