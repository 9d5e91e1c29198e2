/*
 * A growable byte buffer with a hard maximum size, for everything that comes from outside
 * (request bodies, log text, API replies). Modelled on curl's dynbuf.
 *
 * Invariants: `data` is NULL or NUL-terminated at `len`; `len < cap`; `len <= max`.
 * A buffer is initialised with cm_buf_init (no allocation) and released with cm_buf_release.
 * Appending past `max` fails with CM_ETOOBIG and leaves the buffer as it was.
 * Not thread safe.
 */
#ifndef CM_BUF_H
#define CM_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cm_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

#define CM_BUF_INIT(maxsize)                                                                       \
	{                                                                                          \
		NULL, 0, 0, (maxsize)                                                              \
	}

void cm_buf_init(struct cm_buf *b, size_t max);
/* Frees the contents; the buffer may be used again afterwards. */
void cm_buf_release(struct cm_buf *b);
/* Empties the buffer, keeping its allocation. */
void cm_buf_reset(struct cm_buf *b);
/*
 * Appending can fail (CM_ENOMEM, or CM_ETOOBIG past the maximum, the buffer then unchanged):
 * the result must be checked, which the compiler enforces.
 */
#define CM_MUST_CHECK __attribute__((warn_unused_result))
int cm_buf_add(struct cm_buf *b, const void *p, size_t n) CM_MUST_CHECK;
int cm_buf_adds(struct cm_buf *b, const char *s) CM_MUST_CHECK;
int cm_buf_addc(struct cm_buf *b, char c) CM_MUST_CHECK;
int cm_buf_addf(struct cm_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3))) CM_MUST_CHECK;
int cm_buf_vaddf(struct cm_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0))) CM_MUST_CHECK;
/* Makes sure `n` more bytes fit without reallocating. */
int cm_buf_reserve(struct cm_buf *b, size_t n) CM_MUST_CHECK;
/* Drops everything after the first `len` bytes. */
void cm_buf_truncate(struct cm_buf *b, size_t len);
/* Always a NUL-terminated string ("" when empty); owned by the buffer. */
const char *cm_buf_str(const struct cm_buf *b);
/*
 * Appends the whole file at `path`; read errors, and a file larger than what fits, fail
 * (CM_EIO, CM_ETOOBIG) with errno kept and the buffer left as it was.
 */
int cm_buf_read_file(struct cm_buf *b, const char *path) CM_MUST_CHECK;
/* Hands the contents to the caller (free() them); the buffer is left empty. May return NULL. */
char *cm_buf_detach(struct cm_buf *b, size_t *len);

#endif
