/*
 * Failure fingerprints: the same error, recognised across runs and repositories.
 *
 * The texts of a failed job (the failing step's log tail, the failed tests' messages) are
 * normalised line by line: ANSI escapes, GitHub's "##[error]"-style prefixes, timestamps, UUIDs,
 * hex ids and SHAs, temporary and workspace paths (/tmp/..., /home/runner/work/..., C:\...) and
 * numbers are replaced by placeholders, blanks collapsed. The error lines (those that mention
 * error, fail, exception, panic, assert, Traceback, ...; else the last non-empty lines) are the
 * failure's signature: the fingerprint is the SHA-256 hex of those lines, distinct and sorted,
 * joined by newlines, so that the order in which tests report does not matter.
 *
 * Pure code: no I/O, no database. Not thread safe per struct; distinct structs are independent.
 */
#ifndef COL_FINGERPRINT_H
#define COL_FINGERPRINT_H

#include <stddef.h>

#include "cm_buf.h"

#define COL_FP_MAX_LINES  20  /* error lines kept in the signature */
#define COL_FP_LINE_MAX	  300 /* bytes of a normalised line kept */
#define COL_FP_TAIL_LINES 5   /* last non-empty lines taken when no line looks like an error */

struct col_fp {
	/* Candidates seen so far (normalised), each NUL-terminated, in the order met. */
	struct cm_buf errors, others;
	size_t nerrors, nothers;
	/* Filled by col_fp_finish. */
	char hex[65];
	char title[COL_FP_LINE_MAX + 1];
	char **lines; /* the signature's lines, sorted; point into the buffers */
	size_t nlines;
};

void col_fp_init(struct col_fp *f);
void col_fp_release(struct col_fp *f);

/* Normalises one line (len bytes, no newline) into out (size bytes, NUL-terminated). */
void col_fp_normalise(const char *line, size_t len, char *out, size_t size);
/* Does a normalised line look like an error? */
int col_fp_is_error(const char *line);

/* Adds a text (a log tail or a test message: many lines). CM_ENOMEM or CM_OK. */
int col_fp_add(struct col_fp *f, const char *text, size_t len);
/*
 * Picks the signature and computes the fingerprint. Returns CM_OK, CM_ENOTFOUND when the texts
 * held no non-empty line (no fingerprint), CM_ENOMEM.
 */
int col_fp_finish(struct col_fp *f);

#endif
