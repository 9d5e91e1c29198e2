#include "logtail.h"

#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_text.h"

/* Only the start of a line is kept to look for ::add-mask::; longer values are rare. */
#define LINE_KEEP 4096
/* Raw bytes kept beyond the byte cap, so that a cut can move forward to a line start. */
#define WIN_SLACK 4096

static const char ADD_MASK[] = "::add-mask::";

int ag_secrets_add(struct ag_secrets *s, const char *p, size_t n)
{
	char **v, *copy;

	if (n < 4)
		return CM_OK;
	for (size_t i = 0; i < s->n; i++) {
		if (strlen(s->v[i]) == n && memcmp(s->v[i], p, n) == 0)
			return CM_OK;
	}
	copy = strndup(p, n);
	if (!copy)
		return CM_ENOMEM;
	v = realloc(s->v, (s->n + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return CM_ENOMEM;
	}
	v[s->n++] = copy;
	s->v = v;
	return CM_OK;
}

void ag_secrets_release(struct ag_secrets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		/* Secrets should not linger in freed memory. */
		explicit_bzero(s->v[i], strlen(s->v[i]));
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

void ag_tail_init(struct ag_tail *t, size_t max_lines, size_t max_bytes, struct ag_secrets *masks)
{
	/* Compaction keeps the window under twice its size; the cap only guards that. */
	cm_buf_init(&t->win, 3 * (max_bytes + WIN_SLACK));
	cm_buf_init(&t->line, LINE_KEEP + 1);
	t->max_lines = max_lines;
	t->max_bytes = max_bytes;
	t->total = 0;
	t->dropped = 0;
	t->masks = masks;
}

void ag_tail_release(struct ag_tail *t)
{
	cm_buf_release(&t->win);
	cm_buf_release(&t->line);
}

void ag_tail_reset(struct ag_tail *t)
{
	cm_buf_reset(&t->win);
	cm_buf_reset(&t->line);
	t->total = 0;
	t->dropped = 0;
}

/* Records the value of an ::add-mask::VALUE command found in a (start of a) line. */
static int scan_line(struct ag_tail *t)
{
	const char *l = t->line.data, *hit, *v, *end;

	if (!t->masks || !l)
		return CM_OK;
	hit = memmem(l, t->line.len, ADD_MASK, sizeof(ADD_MASK) - 1);
	if (!hit)
		return CM_OK;
	v = hit + sizeof(ADD_MASK) - 1;
	end = l + t->line.len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	return ag_secrets_add(t->masks, v, (size_t)(end - v));
}

static int track_lines(struct ag_tail *t, const char *p, size_t n)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;
		size_t room = LINE_KEEP - t->line.len;
		int rc;

		rc = cm_buf_add(&t->line, p, seg < room ? seg : room);
		if (rc)
			return rc;
		if (!nl)
			break;
		rc = scan_line(t);
		if (rc)
			return rc;
		cm_buf_reset(&t->line);
		p = nl + 1;
		n -= seg + 1;
	}
	return CM_OK;
}

int ag_tail_feed(struct ag_tail *t, const char *p, size_t n)
{
	size_t keep = t->max_bytes + WIN_SLACK;
	int rc;

	t->total += (int64_t)n;
	rc = track_lines(t, p, n);
	if (rc)
		return rc;
	/* A chunk larger than the window: only its end can be part of the tail. */
	if (n > keep) {
		t->dropped += (int64_t)(t->win.len + n - keep);
		cm_buf_reset(&t->win);
		p += n - keep;
		n = keep;
	}
	rc = cm_buf_add(&t->win, p, n);
	if (rc)
		return rc;
	/* Compact rarely (at twice the window) so that the copying stays linear overall. */
	if (t->win.len > 2 * keep) {
		size_t drop = t->win.len - keep;

		memmove(t->win.data, t->win.data + drop, keep);
		cm_buf_truncate(&t->win, keep);
		t->dropped += (int64_t)drop;
	}
	return CM_OK;
}

size_t ag_utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t len = n < max ? n : max;

	if (len == n)
		return n;
	/* Back off while the byte after the cut is a continuation byte. */
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/* Sanitizes raw[0..n) into s (initialised here) and masks the secrets of a and b in it. */
static int clean_text(const char *raw, size_t n, const struct ag_secrets *a,
		      const struct ag_secrets *b, struct cm_buf *s)
{
	int rc;

	/* Sanitizing turns each bad byte into 3 bytes at most. */
	cm_buf_init(s, 3 * n + 16);
	rc = cm_text_sanitize(s, raw, n);
	if (rc == CM_OK && a)
		rc = cm_text_mask(s, (const char *const *)a->v, a->n);
	if (rc == CM_OK && b)
		rc = cm_text_mask(s, (const char *const *)b->v, b->n);
	return rc;
}

/* Sanitizes, masks and caps raw[0..n) into out; *capped when the byte cap cut something. */
static int finish_text(const char *raw, size_t n, size_t max_bytes, const struct ag_secrets *a,
		       const struct ag_secrets *b, struct cm_buf *out, int *capped)
{
	struct cm_buf s;
	size_t start = 0;
	int rc;

	*capped = 0;
	rc = clean_text(raw, n, a, b, &s);
	if (rc)
		goto out;
	if (s.len > max_bytes) {
		const char *nl;

		*capped = 1;
		start = s.len - max_bytes;
		nl = memchr(s.data + start, '\n', s.len - start);
		if (start > 0 && s.data[start - 1] == '\n')
			nl = NULL; /* already at a line start */
		if (nl && nl + 1 < s.data + s.len)
			start = (size_t)(nl + 1 - s.data);
		else
			while (start < s.len && ((unsigned char)s.data[start] & 0xC0) == 0x80)
				start++;
	}
	rc = cm_buf_add(out, s.data ? s.data + start : "", s.len - start);
out:
	cm_buf_release(&s);
	return rc;
}

/* Offset in raw[0..n) where the last `lines` lines start (a final "\n" ends the last line). */
static size_t last_lines_start(const char *raw, size_t n, size_t lines)
{
	size_t i = n, seen = 0;

	if (i > 0 && raw[i - 1] == '\n')
		i--;
	while (i > 0) {
		if (raw[i - 1] == '\n' && ++seen == lines)
			return i;
		i--;
	}
	return 0;
}

int ag_tail_finish(struct ag_tail *t, const struct ag_secrets *secrets, struct cm_buf *out,
		   int *truncated)
{
	const char *raw = t->win.data ? t->win.data : "";
	size_t n = t->win.len, start = 0;
	int capped, rc;

	rc = scan_line(t);
	if (rc)
		return rc;
	*truncated = 0;
	if (t->max_lines == 0) {
		*truncated = t->total > 0;
		return CM_OK;
	}
	/* After a compaction the window starts mid-line: that partial line is not kept. */
	if (t->dropped > 0) {
		const char *nl = memchr(raw, '\n', n);

		if (nl)
			start = (size_t)(nl + 1 - raw);
	}
	start += last_lines_start(raw + start, n - start, t->max_lines);
	rc = finish_text(raw + start, n - start, t->max_bytes, t->masks, secrets, out, &capped);
	*truncated = capped || t->dropped > 0 || start > 0;
	return rc;
}

int ag_tail_text(const char *text, size_t n, size_t max_lines, size_t max_bytes,
		 const struct ag_secrets *secrets, struct cm_buf *out, int *truncated)
{
	struct ag_tail t;
	int rc;

	ag_tail_init(&t, max_lines, max_bytes, NULL);
	rc = ag_tail_feed(&t, text, n);
	if (rc == CM_OK)
		rc = ag_tail_finish(&t, secrets, out, truncated);
	ag_tail_release(&t);
	return rc;
}

int ag_text_head(const char *text, size_t n, size_t max_bytes, const struct ag_secrets *secrets,
		 struct cm_buf *out, int *truncated)
{
	struct cm_buf s;
	size_t len;
	int rc;

	rc = clean_text(text, n, secrets, NULL, &s);
	if (rc == CM_OK) {
		len = ag_utf8_prefix(s.data ? s.data : "", s.len, max_bytes);
		*truncated = len < s.len;
		rc = cm_buf_add(out, s.data ? s.data : "", len);
	}
	cm_buf_release(&s);
	return rc;
}
