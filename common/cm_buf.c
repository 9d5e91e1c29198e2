#include "cm_buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cm_err.h"

void cm_buf_init(struct cm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void cm_buf_release(struct cm_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void cm_buf_reset(struct cm_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int cm_buf_reserve(struct cm_buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return CM_ETOOBIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return CM_OK;
	ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > ((size_t)-1) / 2 ? need : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	p = realloc(b->data, ncap);
	if (!p)
		return CM_ENOMEM;
	b->data = p;
	b->cap = ncap;
	return CM_OK;
}

int cm_buf_add(struct cm_buf *b, const void *p, size_t n)
{
	int rc = cm_buf_reserve(b, n);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return CM_OK;
}

int cm_buf_adds(struct cm_buf *b, const char *s)
{
	return cm_buf_add(b, s, strlen(s));
}

int cm_buf_addc(struct cm_buf *b, char c)
{
	return cm_buf_add(b, &c, 1);
}

int cm_buf_vaddf(struct cm_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return CM_EINVAL;
	rc = cm_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return CM_OK;
}

int cm_buf_addf(struct cm_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cm_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void cm_buf_truncate(struct cm_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

const char *cm_buf_str(const struct cm_buf *b)
{
	return b->data ? b->data : "";
}

char *cm_buf_detach(struct cm_buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

int cm_buf_read_file(struct cm_buf *b, const char *path)
{
	size_t start = b->len;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = CM_OK, saved;

	if (fd < 0)
		return CM_EIO;
	/* One allocation of the right size when the file says how big it is (not a promise). */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		rc = cm_buf_reserve(b, (size_t)st.st_size);
	while (rc == CM_OK) {
		ssize_t n;
		char probe;

		if (b->len == b->max) {
			/* Full: fine only if the file ends here. */
			n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			rc = n == 0 ? CM_OK : n > 0 ? CM_ETOOBIG : CM_EIO;
			break;
		}
		if (b->cap - b->len <= 1) {
			rc = cm_buf_reserve(b, b->max - b->len < 8192 ? b->max - b->len : 8192);
			if (rc)
				break;
		}
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? CM_EIO : CM_OK;
			break;
		}
		b->len += (size_t)n;
		b->data[b->len] = '\0';
	}
	saved = errno;
	close(fd);
	if (rc)
		cm_buf_truncate(b, start);
	errno = saved;
	return rc;
}
