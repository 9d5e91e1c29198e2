#include "cm_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
