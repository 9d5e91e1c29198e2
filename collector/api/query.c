#include "api/query.h"

#include <stdio.h>
#include <string.h>

#include "cm_err.h"
#include "cm_http.h"
#include "cm_text.h"
#include "cm_time.h"

/* The key, for an error message: only when it is short printable ASCII, else "query". */
static void name_param(char *param, size_t size, const char *key, size_t len)
{
	int printable = len > 0 && len < 64;

	for (size_t i = 0; printable && i < len; i++) {
		if (key[i] < 0x21 || key[i] > 0x7e || key[i] == '"' || key[i] == '\\')
			printable = 0;
	}
	if (printable)
		snprintf(param, size, "%.*s", (int)len, key);
	else
		snprintf(param, size, "query");
}

static int fail(char *param, size_t size, const char *key, size_t klen, const char **why,
		const char *reason, int rc)
{
	name_param(param, size, key, klen);
	*why = reason;
	return rc;
}

int col_query_parse(struct col_query *q, const char *raw, const char *const *allowed, char *param,
		    size_t param_size, const char **why)
{
	size_t rawlen = strlen(raw), used = 0;
	const char *p = raw;

	q->n = 0;
	if (rawlen > COL_QUERY_MAX_BYTES)
		return fail(param, param_size, "", 0, why, "query string too long", CM_ETOOBIG);
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', plen);
		size_t klen = eq ? (size_t)(eq - p) : plen;
		char *key = q->buf + used, *val;
		long kd, vd;
		int known = 0;

		if (plen == 0) { /* "a=1&&b=2": an empty pair means nothing */
			p += 1;
			continue;
		}
		kd = cm_http_form_decode(p, klen, key);
		if (kd < 0)
			return fail(param, param_size, p, klen, why, "bad percent-encoding",
				    CM_EINVAL);
		if (kd == 0 || !cm_text_valid_utf8(key, (size_t)kd))
			return fail(param, param_size, key, (size_t)(kd > 0 ? kd : 0), why,
				    "parameter name is not valid UTF-8 text", CM_EINVAL);
		used += (size_t)kd + 1;
		val = q->buf + used;
		vd = cm_http_form_decode(eq ? eq + 1 : "", eq ? plen - klen - 1 : 0, val);
		if (vd < 0)
			return fail(param, param_size, key, (size_t)kd, why, "bad percent-encoding",
				    CM_EINVAL);
		if (!cm_text_valid_utf8(val, (size_t)vd))
			return fail(param, param_size, key, (size_t)kd, why,
				    "value is not valid UTF-8 text", CM_EINVAL);
		used += (size_t)vd + 1;
		for (const char *const *a = allowed; a && *a; a++) {
			if (!strcmp(*a, key))
				known = 1;
		}
		if (!known)
			return fail(param, param_size, key, (size_t)kd, why, "unknown parameter",
				    CM_EINVAL);
		if (col_query_get(q, key))
			return fail(param, param_size, key, (size_t)kd, why,
				    "parameter given more than once", CM_EINVAL);
		if (q->n >= COL_QUERY_MAX_PARAMS)
			return fail(param, param_size, "", 0, why, "too many parameters",
				    CM_ETOOBIG);
		q->p[q->n].key = key;
		q->p[q->n].val = val;
		q->n++;
		p += plen;
		if (*p == '&')
			p++;
	}
	return CM_OK;
}

const char *col_query_get(const struct col_query *q, const char *key)
{
	for (int i = 0; i < q->n; i++) {
		if (!strcmp(q->p[i].key, key))
			return q->p[i].val;
	}
	return NULL;
}

int col_path_repo(const char *path, char *full_name, size_t size, const char **rest)
{
	size_t len = cm_repo_name_prefix(path);

	if (!len || len >= size)
		return CM_EINVAL;
	memcpy(full_name, path, len);
	full_name[len] = '\0';
	*rest = path + len;
	return CM_OK;
}

int col_parse_id(const char *s, size_t len, int64_t *out)
{
	return col_parse_i64(s, len, 1, 999999999999999999LL, out);
}

int col_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	uint64_t v = 0, limit;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (len == i || len - i > 19 || (s[i] == '0' && (len - i > 1 || neg)))
		return CM_EINVAL;
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return CM_EINVAL;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return CM_EINVAL;
		v = v * 10 + d;
	}
	/* v <= INT64_MAX + 1 here; the negative extreme is built without overflow. */
	if (neg) {
		if (v == (uint64_t)INT64_MAX + 1) {
			if (min > INT64_MIN)
				return CM_EINVAL;
			*out = INT64_MIN;
			return CM_OK;
		}
		if (-(int64_t)v < min || -(int64_t)v > max)
			return CM_EINVAL;
		*out = -(int64_t)v;
		return CM_OK;
	}
	if ((int64_t)v < min || (int64_t)v > max)
		return CM_EINVAL;
	*out = (int64_t)v;
	return CM_OK;
}

/* ---- windows ---- */

#define MIN_MS	    60000LL
#define HOUR_MS	    3600000LL
#define DAY_MS	    86400000LL
#define MAX_BUCKETS 60
#define MAX_SPAN_MS (400 * DAY_MS)

int api_window_parse(const char *window, const char *from, const char *to, int64_t now_ms,
		     struct api_window *w, const char **param, const char **why)
{
	static const struct {
		const char *name;
		int64_t span, bucket;
	} named[] = {
		{ "1h", HOUR_MS, 5 * MIN_MS },
		{ "24h", DAY_MS, HOUR_MS },
		{ "7d", 7 * DAY_MS, 6 * HOUR_MS },
		{ "30d", 30 * DAY_MS, DAY_MS },
	};
	static const int64_t sizes[] = { MIN_MS,       5 * MIN_MS,  15 * MIN_MS,
					 HOUR_MS,      3 * HOUR_MS, 6 * HOUR_MS,
					 12 * HOUR_MS, DAY_MS,	    7 * DAY_MS };
	int64_t span;

	memset(w, 0, sizeof(*w));
	if (window && (from || to)) {
		*param = "window";
		*why = "give either window or from/to, not both";
		return CM_EINVAL;
	}
	if (from || to) {
		if (!from) {
			*param = "from";
			*why = "is required with to";
			return CM_EINVAL;
		}
		if (cm_time_parse_iso8601(from, &w->from_ms)) {
			*param = "from";
			*why = "must be an ISO 8601 time such as 2024-05-01T12:00:00Z";
			return CM_EINVAL;
		}
		w->to_ms = now_ms;
		if (to && cm_time_parse_iso8601(to, &w->to_ms)) {
			*param = "to";
			*why = "must be an ISO 8601 time such as 2024-05-01T12:00:00Z";
			return CM_EINVAL;
		}
		if (w->from_ms >= w->to_ms) {
			*param = "from";
			*why = "must be before to";
			return CM_EINVAL;
		}
		span = w->to_ms - w->from_ms;
		if (span > MAX_SPAN_MS) {
			*param = "from";
			*why = "the range may span at most 400 days";
			return CM_EINVAL;
		}
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			w->bucket_ms = sizes[i];
			if ((span + sizes[i] - 1) / sizes[i] <= MAX_BUCKETS)
				break;
		}
		w->nbuckets = (int)((span + w->bucket_ms - 1) / w->bucket_ms);
		snprintf(w->name, sizeof(w->name), "custom");
		return CM_OK;
	}
	if (!window)
		window = "24h";
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		if (!strcmp(window, named[i].name)) {
			w->to_ms = now_ms;
			w->from_ms = now_ms - named[i].span;
			w->bucket_ms = named[i].bucket;
			w->nbuckets = (int)(named[i].span / named[i].bucket);
			snprintf(w->name, sizeof(w->name), "%s", named[i].name);
			return CM_OK;
		}
	}
	*param = "window";
	*why = "must be one of 1h, 24h, 7d, 30d (or use from/to)";
	return CM_EINVAL;
}

/* ---- cursors ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int api_cursor_encode(char *out, size_t size, const char *kind, const char *const *fields,
		      int nfields)
{
	unsigned char raw[API_CURSOR_RAW_MAX];
	size_t n = 0, o = 0;
	int len;

	len = snprintf((char *)raw, sizeof(raw), "%s", kind);
	if (len < 0 || (size_t)len >= sizeof(raw))
		return CM_ETOOBIG;
	n = (size_t)len;
	for (int i = 0; i < nfields; i++) {
		if (n + 1 > sizeof(raw))
			return CM_ETOOBIG;
		raw[n++] = '|';
		for (const char *f = fields[i]; *f; f++) {
			const char *esc = *f == '%' ? "%25" : *f == '|' ? "%7C" : NULL;
			size_t k = esc ? 3 : 1;

			if (n + k > sizeof(raw))
				return CM_ETOOBIG;
			memcpy(raw + n, esc ? esc : f, k);
			n += k;
		}
	}
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)raw[i] << 16;
		size_t chunk = n - i < 3 ? n - i : 3;

		if (chunk > 1)
			v |= (unsigned)raw[i + 1] << 8;
		if (chunk > 2)
			v |= raw[i + 2];
		if (o + chunk + 2 > size)
			return CM_ETOOBIG;
		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		if (chunk > 1)
			out[o++] = b64url[(v >> 6) & 63];
		if (chunk > 2)
			out[o++] = b64url[v & 63];
	}
	if (o >= size)
		return CM_ETOOBIG;
	out[o] = '\0';
	return CM_OK;
}

/* Undoes the field escapes in place; only "%25" and "%7C" exist (one spelling per text). */
static int unescape(char *f)
{
	char *w = f;

	for (const char *r = f; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		if (r[1] == '2' && r[2] == '5')
			*w++ = '%';
		else if (r[1] == '7' && r[2] == 'C')
			*w++ = '|';
		else
			return CM_EINVAL;
		r += 2;
	}
	*w = '\0';
	return CM_OK;
}

static int b64val(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

int api_cursor_decode(const char *cursor, const char *kind, char *scratch, size_t size,
		      const char **fields, int nfields)
{
	size_t len = strlen(cursor), o = 0;
	size_t klen = strlen(kind);
	char *p;
	int n = 0;

	/* Unpadded base64url: a length of 1 modulo 4 cannot be produced. */
	if (len == 0 || len > API_CURSOR_MAX || len % 4 == 1 || nfields > API_CURSOR_FIELDS)
		return CM_EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4] = { 0, 0, 0, 0 };
		size_t chunk = len - i < 4 ? len - i : 4;
		unsigned bits;

		for (size_t k = 0; k < chunk; k++) {
			v[k] = b64val(cursor[i + k]);
			if (v[k] < 0)
				return CM_EINVAL;
		}
		/* Canonical only: the unused low bits of a short last group must be zero. */
		if ((chunk == 2 && (v[1] & 0x0F)) || (chunk == 3 && (v[2] & 0x03)))
			return CM_EINVAL;
		bits = (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 |
		       (unsigned)v[3];
		if (o + 3 >= size)
			return CM_EINVAL;
		scratch[o++] = (char)(bits >> 16);
		if (chunk > 2)
			scratch[o++] = (char)(bits >> 8);
		if (chunk > 3)
			scratch[o++] = (char)bits;
	}
	scratch[o] = '\0';
	if (strlen(scratch) != o || strncmp(scratch, kind, klen) || scratch[klen] != '|')
		return CM_EINVAL;
	p = scratch + klen;
	while (*p == '|' && n < nfields) {
		*p++ = '\0';
		fields[n++] = p;
		while (*p && *p != '|')
			p++;
	}
	if (n != nfields || *p)
		return CM_EINVAL;
	/* Every field is cut off by now (the '|' after it became a NUL, or the text ended). */
	for (int i = 0; i < n; i++) {
		if (unescape((char *)fields[i]))
			return CM_EINVAL;
	}
	return CM_OK;
}

int api_cursor_parse(const char *cursor, const char *kind, char *scratch, size_t size,
		     struct api_cursor *out)
{
	const char *f[2] = { NULL, NULL };
	int n = !strcmp(kind, "runs") || !strcmp(kind, "logs") || !strcmp(kind, "history") ||
			!strcmp(kind, "fruns")
		    ? 2
		    : 1;

	memset(out, 0, sizeof(*out));
	if (api_cursor_decode(cursor, kind, scratch, size, f, n))
		return CM_EINVAL;
	if (!strcmp(kind, "repos")) {
		if (!f[0][0] || !cm_text_valid_utf8(f[0], strlen(f[0])))
			return CM_EINVAL;
		out->text = f[0];
		return CM_OK;
	}
	if (!strcmp(kind, "wf"))
		return col_parse_i64(f[0], strlen(f[0]), INT64_MIN, INT64_MAX, &out->a);
	if (!strcmp(kind, "alerts") || !strcmp(kind, "audit"))
		return col_parse_id(f[0], strlen(f[0]), &out->a);
	if (!strcmp(kind, "tests") || !strcmp(kind, "failures"))
		return col_parse_i64(f[0], strlen(f[0]), 0, API_CURSOR_OFFSET_MAX, &out->a);
	if (!strcmp(kind, "runs") || !strcmp(kind, "history") || !strcmp(kind, "fruns"))
		return col_parse_i64(f[0], strlen(f[0]), API_CURSOR_US_MIN, API_CURSOR_US_MAX,
				     &out->a) ||
			       col_parse_id(f[1], strlen(f[1]), &out->b)
			   ? CM_EINVAL
			   : CM_OK;
	if (!strcmp(kind, "logs"))
		return col_parse_id(f[0], strlen(f[0]), &out->a) ||
			       col_parse_i64(f[1], strlen(f[1]), 0, INT32_MAX, &out->b)
			   ? CM_EINVAL
			   : CM_OK;
	return CM_EINVAL;
}
