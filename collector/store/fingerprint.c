#include "store/fingerprint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_crypto.h"
#include "cm_err.h"

/* Distinct candidates kept per kind: more error lines than this are the same story. */
#define FP_MAX_CANDIDATES 200

void col_fp_init(struct col_fp *f)
{
	memset(f, 0, sizeof(*f));
	/* Each kind holds at most FP_MAX_CANDIDATES lines of COL_FP_LINE_MAX bytes. */
	cm_buf_init(&f->errors, FP_MAX_CANDIDATES * (COL_FP_LINE_MAX + 1) + 1);
	cm_buf_init(&f->others, FP_MAX_CANDIDATES * (COL_FP_LINE_MAX + 1) + 1);
}

void col_fp_release(struct col_fp *f)
{
	cm_buf_release(&f->errors);
	cm_buf_release(&f->others);
	free(f->lines);
	col_fp_init(f);
}

/* ---- normalising one line ----------------------------------------------------------------- */

struct out {
	char *p;
	size_t n, size;
};

static void put(struct out *o, const char *s, size_t n)
{
	for (size_t i = 0; i < n && o->n + 1 < o->size; i++)
		o->p[o->n++] = s[i];
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static int is_hex(int c)
{
	return isxdigit((unsigned char)c);
}

static int is_word(int c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Digits at s[0..n): how many (0 when none). */
static size_t digits(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	return i;
}

/* A fixed shape: 'd' a digit, any other character itself. Returns its length or 0. */
static size_t shape(const char *s, size_t n, const char *pat)
{
	size_t i;

	for (i = 0; pat[i]; i++) {
		if (i >= n)
			return 0;
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
			return 0;
	}
	return i;
}

/* A time of day "12:34:56", with fractions and a zone; its length or 0. */
static size_t time_of_day(const char *s, size_t n)
{
	size_t i = shape(s, n, "dd:dd:dd");

	if (!i)
		i = shape(s, n, "d:dd:dd");
	if (!i)
		return 0;
	if (i < n && (s[i] == '.' || s[i] == ',') && i + 1 < n && isdigit((unsigned char)s[i + 1]))
		i += 1 + digits(s + i + 1, n - i - 1);
	if (i < n && s[i] == 'Z')
		i++;
	else if (i < n && (s[i] == '+' || s[i] == '-') && shape(s + i + 1, n - i - 1, "dd:dd"))
		i += 6;
	else if (i < n && (s[i] == '+' || s[i] == '-') && shape(s + i + 1, n - i - 1, "dddd"))
		i += 5;
	return i;
}

/* "2024-01-02", "2024-01-02T03:04:05.123Z", "2024/01/02 03:04:05", or a time of day. */
static size_t timestamp(const char *s, size_t n)
{
	size_t i = shape(s, n, "dddd-dd-dd");

	if (!i)
		i = shape(s, n, "dddd/dd/dd");
	if (!i)
		return time_of_day(s, n);
	if (i < n && (s[i] == 'T' || s[i] == ' ')) {
		size_t t = time_of_day(s + i + 1, n - i - 1);

		if (t)
			i += 1 + t;
	}
	return i;
}

/* A UUID: 8-4-4-4-12 hex digits. */
static size_t uuid(const char *s, size_t n)
{
	static const int groups[] = { 8, 4, 4, 4, 12 };
	size_t i = 0;

	for (int g = 0; g < 5; g++) {
		for (int k = 0; k < groups[g]; k++, i++) {
			if (i >= n || !is_hex(s[i]))
				return 0;
		}
		if (g < 4) {
			if (i >= n || s[i] != '-')
				return 0;
			i++;
		}
	}
	return i < n && is_word(s[i]) ? 0 : i;
}

/* A hex id: "0x1f..." or a word of 7+ hex digits with both a digit and a letter in it. */
static size_t hex_id(const char *s, size_t n)
{
	size_t i = 0;
	int digit = 0, letter = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && is_hex(s[2])) {
		for (i = 2; i < n && is_hex(s[i]); i++)
			;
		return i < n && is_word(s[i]) ? 0 : i;
	}
	for (; i < n && is_hex(s[i]); i++) {
		if (isdigit((unsigned char)s[i]))
			digit = 1;
		else
			letter = 1;
	}
	if (i < 7 || !digit || !letter || (i < n && is_word(s[i])))
		return 0;
	return i;
}

/* Starts of paths that hold per-run names: temporary and workspace directories. */
static const char *const path_starts[] = {
	"/tmp/",	 "/var/tmp/",	       "/var/folders/",
	"/private/var/", "/home/runner/work/", "/Users/runner/work/",
	"/__w/",	 "/github/workspace/", "/runner/_work/",
	"/home/runner/"
};

/* A temporary or workspace path up to a blank, a quote, a bracket or a colon; its length or 0. */
static size_t temp_path(const char *s, size_t n)
{
	size_t i = 0;

	for (size_t k = 0; k < sizeof(path_starts) / sizeof(path_starts[0]); k++) {
		size_t len = strlen(path_starts[k]);

		if (n >= len && !memcmp(s, path_starts[k], len)) {
			i = len;
			break;
		}
	}
	/* Windows: a drive, "C:\..." */
	if (!i && n >= 3 && isalpha((unsigned char)s[0]) && s[1] == ':' && s[2] == '\\')
		i = 3;
	if (!i)
		return 0;
	/* A colon ends it too (": message", ":12" a line number), but not a drive's. */
	while (i < n && !isspace((unsigned char)s[i]) && !strchr("'\"`()[]{}<>,;:", s[i]))
		i++;
	return i;
}

/* An ANSI escape sequence (CSI "ESC [ ... final", OSC "ESC ] ... BEL/ST", or ESC + one). */
static size_t ansi(const char *s, size_t n)
{
	size_t i;

	if (n < 2 || s[0] != '\x1b')
		return 0;
	if (s[1] == '[') {
		for (i = 2; i < n && !((unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7e);
		     i++)
			;
		return i < n ? i + 1 : n;
	}
	if (s[1] == ']') {
		for (i = 2; i < n; i++) {
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == '\x1b' && i + 1 < n && s[i + 1] == '\\')
				return i + 2;
		}
		return n;
	}
	return 2;
}

/* GitHub's workflow-command prefixes at the start of a line: "##[error]", "::error ...::". */
static size_t gh_prefix(const char *s, size_t n)
{
	const char *end;

	if (n > 3 && s[0] == '#' && s[1] == '#' && s[2] == '[') {
		end = memchr(s, ']', n);
		return end ? (size_t)(end - s) + 1 : 0;
	}
	if (n > 2 && s[0] == ':' && s[1] == ':' && isalpha((unsigned char)s[2])) {
		end = memmem(s + 2, n - 2, "::", 2);
		return end ? (size_t)(end - s) + 2 : 0;
	}
	return 0;
}

void col_fp_normalise(const char *line, size_t len, char *outbuf, size_t size)
{
	struct out o = { outbuf, 0, size };
	int start = 1, blank = 0;
	size_t i = 0, m;

	if (!size)
		return;
	while (i < len) {
		char c = line[i];
		int boundary = i == 0 || !is_word(line[i - 1]);

		if ((m = ansi(line + i, len - i))) {
			i += m;
			continue;
		}
		if (isspace((unsigned char)c) || (unsigned char)c < 0x20) {
			blank = o.n > 0;
			i++;
			continue;
		}
		/* A leading timestamp (GitHub's log lines have one) and a "##[error]" go. */
		if (start &&
		    ((m = timestamp(line + i, len - i)) || (m = gh_prefix(line + i, len - i)))) {
			i += m;
			continue;
		}
		if (blank) {
			put(&o, " ", 1);
			blank = 0;
		}
		start = 0;
		if (boundary && (m = timestamp(line + i, len - i))) {
			puts_(&o, "<time>");
		} else if (boundary && (m = uuid(line + i, len - i))) {
			puts_(&o, "<uuid>");
		} else if (boundary && (m = hex_id(line + i, len - i))) {
			puts_(&o, "<hex>");
		} else if ((i == 0 || (!isalnum((unsigned char)line[i - 1]) && line[i - 1] != '/' &&
				       line[i - 1] != '.')) &&
			   (m = temp_path(line + i, len - i))) {
			puts_(&o, "<path>");
		} else if ((m = digits(line + i, len - i))) {
			/* 12, 1.5, 3,000: one placeholder for the whole number. */
			while (i + m + 1 < len && (line[i + m] == '.' || line[i + m] == ',') &&
			       isdigit((unsigned char)line[i + m + 1]))
				m += 1 + digits(line + i + m + 1, len - i - m - 1);
			puts_(&o, "<n>");
		} else {
			/* A whole UTF-8 sequence at once: a cut never splits a character. */
			m = 1;
			if ((unsigned char)c >= 0xc0)
				while (i + m < len && ((unsigned char)line[i + m] & 0xc0) == 0x80)
					m++;
			if (o.n + m + 1 > o.size)
				break;
			put(&o, line + i, m);
		}
		i += m;
	}
	/* A cut may have left a partial placeholder: harmless, and the same for equal input. */
	o.p[o.n] = '\0';
}

/* ---- picking lines ------------------------------------------------------------------------ */

/* clang-format off */
static const char *const error_words[] = {
	"error", "fail", "exception", "panic", "assert", "traceback", "fatal", "abort",
	"segmentation fault", "undefined reference", "denied", "timed out", "timeout", "killed",
	"cannot ", "could not ", "unable to", "not found", "expected", "err!",
};
/* clang-format on */

/* A line every failed job on GitHub ends with: not a signature by itself. */
static int generic(const char *line)
{
	return !strncmp(line, "Process completed with exit code", 32) ||
	       !strncmp(line, "Error: Process completed with exit code", 39);
}

int col_fp_is_error(const char *line)
{
	char low[COL_FP_LINE_MAX + 1];
	size_t n = strlen(line);

	if (n >= sizeof(low))
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)tolower((unsigned char)line[i]);
	low[n] = '\0';
	if (generic(line))
		return 0;
	for (size_t k = 0; k < sizeof(error_words) / sizeof(error_words[0]); k++) {
		if (strstr(low, error_words[k]))
			return 1;
	}
	return 0;
}

/* Is s (NUL-terminated) one of the n lines in b? */
static int seen(const struct cm_buf *b, size_t n, const char *s)
{
	const char *p = b->data;

	for (size_t i = 0; i < n; i++) {
		if (!strcmp(p, s))
			return 1;
		p += strlen(p) + 1;
	}
	return 0;
}

static int keep(struct cm_buf *b, size_t *n, const char *s)
{
	int rc;

	if (*n >= FP_MAX_CANDIDATES || seen(b, *n, s))
		return CM_OK;
	rc = cm_buf_add(b, s, strlen(s) + 1);
	if (rc == CM_ETOOBIG)
		return CM_OK;
	if (rc)
		return rc;
	(*n)++;
	return CM_OK;
}

int col_fp_add(struct col_fp *f, const char *text, size_t len)
{
	char line[COL_FP_LINE_MAX + 1];
	size_t i = 0;
	int rc;

	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;

		col_fp_normalise(text + i, n, line, sizeof(line));
		i += n + 1;
		if (!*line)
			continue;
		if (col_fp_is_error(line)) {
			rc = keep(&f->errors, &f->nerrors, line);
		} else {
			/* The last few non-empty lines, for a failure without an error line. */
			if (f->nothers >= COL_FP_TAIL_LINES) {
				size_t first = strlen(f->others.data) + 1;

				memmove(f->others.data, f->others.data + first,
					f->others.len - first);
				cm_buf_truncate(&f->others, f->others.len - first);
				f->nothers--;
			}
			rc = cm_buf_add(&f->others, line, strlen(line) + 1);
			if (rc == CM_OK)
				f->nothers++;
			else if (rc == CM_ETOOBIG)
				rc = CM_OK;
		}
		if (rc)
			return rc;
	}
	return CM_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int col_fp_finish(struct col_fp *f)
{
	struct cm_buf joined = CM_BUF_INIT(COL_FP_MAX_LINES * (COL_FP_LINE_MAX + 1) + 1);
	const struct cm_buf *src = f->nerrors ? &f->errors : &f->others;
	size_t n = f->nerrors ? f->nerrors : f->nothers, k = 0;
	const char *p;
	int rc = CM_OK;

	free(f->lines);
	f->lines = NULL;
	f->nlines = 0;
	f->hex[0] = f->title[0] = '\0';
	if (!n)
		return CM_ENOTFOUND;
	f->lines = calloc(n, sizeof(*f->lines));
	if (!f->lines)
		return CM_ENOMEM;
	for (p = src->data; k < n; k++, p += strlen(p) + 1)
		f->lines[k] = (char *)p;
	/* The title is the first line met; the signature does not depend on the order. */
	snprintf(f->title, sizeof(f->title), "%s", f->lines[0]);
	qsort(f->lines, n, sizeof(*f->lines), cmp_str);
	f->nlines = n < COL_FP_MAX_LINES ? n : COL_FP_MAX_LINES;
	for (k = 0; rc == CM_OK && k < f->nlines; k++) {
		rc = cm_buf_adds(&joined, f->lines[k]);
		if (rc == CM_OK)
			rc = cm_buf_addc(&joined, '\n');
	}
	if (rc == CM_OK)
		cm_sha256_hex(joined.data, joined.len, f->hex);
	cm_buf_release(&joined);
	return rc;
}
