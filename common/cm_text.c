#include "cm_text.h"

#include <string.h>

#include "cm_err.h"

size_t cm_text_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned int cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
		cp = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		cp = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

int cm_text_sanitize(struct cm_buf *out, const char *in, size_t n)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, start = 0;
	int rc;

	while (i < n) {
		size_t len;

		if (s[i] == 0) {
			len = 0;
		} else {
			len = cm_text_utf8_seq(s + i, n - i);
			if (len) {
				i += len;
				continue;
			}
		}
		/* Flush the valid run, then replace or drop the bad byte. */
		rc = cm_buf_add(out, in + start, i - start);
		if (rc == CM_OK && s[i] != 0)
			rc = cm_buf_add(out, "\xEF\xBF\xBD", 3);
		if (rc)
			return rc;
		i++;
		start = i;
	}
	return cm_buf_add(out, in + start, i - start);
}

int cm_text_valid_utf8(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t len = s[i] ? cm_text_utf8_seq((const unsigned char *)s + i, n - i) : 0;

		if (!len)
			return 0;
		i += len;
	}
	return 1;
}

int cm_text_mask(struct cm_buf *b, const char *const *secrets, size_t nsecrets)
{
	for (size_t k = 0; k < nsecrets; k++) {
		const char *sec = secrets[k];
		size_t slen = sec ? strlen(sec) : 0;
		struct cm_buf tmp;
		const char *p, *hit;
		int rc;

		if (slen < 4 || !b->data || !memmem(b->data, b->len, sec, slen))
			continue;
		cm_buf_init(&tmp, b->max);
		p = b->data;
		while ((hit = memmem(p, b->len - (size_t)(p - b->data), sec, slen))) {
			rc = cm_buf_add(&tmp, p, (size_t)(hit - p));
			if (rc == CM_OK)
				rc = cm_buf_add(&tmp, "***", 3);
			if (rc) {
				cm_buf_release(&tmp);
				return rc;
			}
			p = hit + slen;
		}
		rc = cm_buf_add(&tmp, p, b->len - (size_t)(p - b->data));
		if (rc) {
			cm_buf_release(&tmp);
			return rc;
		}
		cm_buf_release(b);
		*b = tmp;
	}
	return CM_OK;
}

const char *cm_workflow_path(const char *ref, const char *repo, size_t *len)
{
	size_t rlen = repo ? strlen(repo) : 0;
	const char *p = ref ? ref : "", *at;

	if (rlen && !strncmp(p, repo, rlen) && p[rlen] == '/')
		p += rlen + 1;
	at = strchr(p, '@');
	*len = at ? (size_t)(at - p) : strlen(p);
	return p;
}

static int owner_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static int name_char(char c)
{
	return owner_char(c) || c == '.' || c == '_';
}

size_t cm_repo_name_prefix(const char *s)
{
	size_t o = 0, n = 0;

	while (owner_char(s[o]))
		o++;
	if (o == 0 || o > 39 || s[o] != '/')
		return 0;
	while (name_char(s[o + 1 + n]))
		n++;
	if (n == 0 || n > 100 || (s[o + 1 + n] != '\0' && s[o + 1 + n] != '/'))
		return 0;
	if ((n == 1 && s[o + 1] == '.') || (n == 2 && !strncmp(s + o + 1, "..", 2)))
		return 0;
	return o + 1 + n;
}

int cm_repo_name_valid(const char *s)
{
	size_t len = s ? cm_repo_name_prefix(s) : 0;

	return len && s[len] == '\0';
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

const char *cm_list_next(const char **p, size_t *len)
{
	while (**p) {
		const char *s = *p;
		size_t n = strcspn(s, ",\n");

		*p += n;
		if (**p)
			(*p)++;
		while (n && is_blank(*s)) {
			s++;
			n--;
		}
		while (n && is_blank(s[n - 1]))
			n--;
		if (n) {
			*len = n;
			return s;
		}
	}
	return NULL;
}
