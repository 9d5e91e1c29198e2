/*
 * Log tails: the last N lines of a stream of output, bounded in bytes, made safe to store.
 *
 * Feed any number of bytes with ag_tail_feed (memory stays bounded by about twice the byte cap
 * however long the stream is), then ag_tail_finish produces the tail: the last `max_lines`
 * lines, NUL bytes removed, invalid UTF-8 replaced by U+FFFD, ANSI escapes kept, every secret
 * masked as "***", and at most `max_bytes` bytes (cut at a line start, else at a character
 * boundary). ::add-mask::VALUE workflow commands seen anywhere in the stream add VALUE to the
 * secrets, so that values masked early in a step are masked in the tail too.
 */
#ifndef AG_LOGTAIL_H
#define AG_LOGTAIL_H

#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"

/* Upper bound of a finished tail's text (a tail is capped far below this). */
#define AG_TAIL_TEXT_MAX (64 * 1024 * 1024)

/* A set of secret strings (owned copies), shared by the tails of one report. */
struct ag_secrets {
	char **v;
	size_t n;
};

/* Adds a copy of s[0..n) unless it is shorter than 4 bytes or already present. */
int ag_secrets_add(struct ag_secrets *s, const char *p, size_t n);
void ag_secrets_release(struct ag_secrets *s);

struct ag_tail {
	struct cm_buf win; /* the last bytes of the stream (raw) */
	size_t max_lines;
	size_t max_bytes;
	int64_t total;		  /* bytes fed so far: the original size */
	int64_t dropped;	  /* bytes dropped from the front of `win` */
	struct cm_buf line;	  /* start of the current line, for ::add-mask:: */
	struct ag_secrets *masks; /* not owned; NULL: ::add-mask:: is not tracked */
};

void ag_tail_init(struct ag_tail *t, size_t max_lines, size_t max_bytes, struct ag_secrets *masks);
int ag_tail_feed(struct ag_tail *t, const char *p, size_t n);
/*
 * Writes the tail into out (appended). *truncated is set when the tail is shorter than what
 * was fed. `secrets` are masked in addition to t->masks. Returns 0 or CM_ENOMEM.
 */
int ag_tail_finish(struct ag_tail *t, const struct ag_secrets *secrets, struct cm_buf *out,
		   int *truncated);
void ag_tail_release(struct ag_tail *t);
/* Forgets what was fed (a retried download starts again); keeps the limits and masks. */
void ag_tail_reset(struct ag_tail *t);

/* Makes `text` safe (sanitized, masked, capped like a tail); for text already tailed elsewhere. */
int ag_tail_text(const char *text, size_t n, size_t max_lines, size_t max_bytes,
		 const struct ag_secrets *secrets, struct cm_buf *out, int *truncated);

/*
 * Makes the START of `text` safe like a tail (sanitized, `secrets` masked) and appends at most
 * `max_bytes` of it to out, cut at a character boundary (*truncated then set); for messages
 * whose beginning says most (a test's failure message). Masking happens before the cut.
 */
int ag_text_head(const char *text, size_t n, size_t max_bytes, const struct ag_secrets *secrets,
		 struct cm_buf *out, int *truncated);

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence (<= max). */
size_t ag_utf8_prefix(const char *s, size_t n, size_t max);

#endif
