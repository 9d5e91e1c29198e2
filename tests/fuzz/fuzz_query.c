/*
 * libFuzzer target for the REST API's decoders of the request target (collector/api/query.c):
 * query strings, repository paths, ids, cursors and metric windows. Built by scripts/fuzz.sh
 * (clang -fsanitize=fuzzer,address,undefined). The input's first byte picks the decoder; the rest
 * is its text. Besides memory errors it checks invariants: decoded text is valid UTF-8 and no
 * longer than its source, cursors round-trip, windows stay within their limits, and:
 * - 3: the text as a cursor of every list kind, read as the server reads it
 *   (api_cursor_parse): what is accepted is a position the SQL can take (the ranges of query.h)
 *   and exactly what the server writes for it (encoding the values gives the text back);
 * - 4: the text as up to four '\n'-separated fields of any bytes, as rows may hold: what encodes
 *   decodes to the same fields, so every cursor the server emits is accepted by it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "cm_err.h"
#include "cm_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = { "limit",  "cursor",	  "from",  "to",      "window", "q", "repo",
				    "branch", "workflow", "flaky", "failing", "sort",	NULL };
static const char *const kinds[] = { "repos", "wf",	  "runs",    "logs", "alerts",
				     "tests", "failures", "history", "fruns" };

static void check_parsed(const char *s, const char *kind, const struct api_cursor *c)
{
	char enc[API_CURSOR_MAX + 1], num[2][24];
	const char *f[2] = { num[0], num[1] };
	int n = 1;

	if (!strcmp(kind, "repos")) {
		if (!c->text || !c->text[0] || !cm_text_valid_utf8(c->text, strlen(c->text)))
			abort();
		f[0] = c->text;
	} else {
		snprintf(num[0], sizeof(num[0]), "%" PRId64, c->a);
		snprintf(num[1], sizeof(num[1]), "%" PRId64, c->b);
		n = !strcmp(kind, "runs") || !strcmp(kind, "logs") || !strcmp(kind, "history") ||
			    !strcmp(kind, "fruns")
			? 2
			: 1;
	}
	if ((!strcmp(kind, "tests") || !strcmp(kind, "failures")) &&
	    (c->a < 0 || c->a > API_CURSOR_OFFSET_MAX))
		abort();
	if ((!strcmp(kind, "runs") || !strcmp(kind, "history") || !strcmp(kind, "fruns")) &&
	    (c->a < API_CURSOR_US_MIN || c->a > API_CURSOR_US_MAX || c->b <= 0))
		abort();
	if (!strcmp(kind, "logs") && (c->a <= 0 || c->b < 0 || c->b > INT32_MAX))
		abort();
	if (!strcmp(kind, "alerts") && c->a <= 0)
		abort();
	if (api_cursor_encode(enc, sizeof(enc), kind, f, n) || strcmp(enc, s))
		abort();
}

/* Up to API_CURSOR_FIELDS '\n'-separated fields of s (cut in place); returns how many. */
static int split_fields(char *s, const char **fields)
{
	int n = 0;

	while (n < API_CURSOR_FIELDS) {
		char *nl = strchr(s, '\n');

		fields[n++] = s;
		if (!nl)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, param[80], name[160], scratch[API_CURSOR_MAX + 1], enc[API_CURSOR_MAX + 1];
	const char *why = NULL, *rest, *fields[API_CURSOR_FIELDS], *p2 = NULL, *w2 = NULL;
	const char *back[API_CURSOR_FIELDS];
	struct api_cursor cur;
	struct col_query q;
	struct api_window w;
	int64_t id;

	if (size < 1 || size > 2 * COL_QUERY_MAX_BYTES)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0'; /* the server's strings are NUL-terminated: stop at the first NUL */
	switch (data[0] % 7) {
	case 0:
		if (col_query_parse(&q, s, keys, param, sizeof(param), &why) == CM_OK) {
			size_t total = 0;

			for (int i = 0; i < q.n; i++) {
				if (!cm_text_valid_utf8(q.p[i].key, strlen(q.p[i].key)) ||
				    !cm_text_valid_utf8(q.p[i].val, strlen(q.p[i].val)))
					abort();
				total += strlen(q.p[i].key) + strlen(q.p[i].val);
			}
			if (total > strlen(s))
				abort();
		} else if (!why || !param[0]) {
			abort();
		}
		break;
	case 1:
		if (col_path_repo(s, name, sizeof(name), &rest) == CM_OK &&
		    (!cm_repo_name_valid(name) || strncmp(s, name, strlen(name))))
			abort();
		if (col_parse_id(s, strlen(s), &id) == CM_OK && id <= 0)
			abort();
		break;
	case 2:
		for (int n = 1; n <= API_CURSOR_FIELDS; n++) {
			if (api_cursor_decode(s, "runs", scratch, sizeof(scratch), fields, n))
				continue;
			/* What decodes must encode back to the same text. */
			if (api_cursor_encode(enc, sizeof(enc), "runs", fields, n) ||
			    strcmp(enc, s))
				abort();
		}
		break;
	case 3:
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if (api_cursor_parse(s, kinds[k], scratch, sizeof(scratch), &cur) == CM_OK)
				check_parsed(s, kinds[k], &cur);
		}
		break;
	case 4: {
		int n = split_fields(s, fields);

		if (api_cursor_encode(enc, sizeof(enc), "runs", fields, n) == CM_OK) {
			if (api_cursor_decode(enc, "runs", scratch, sizeof(scratch), back, n))
				abort();
			for (int i = 0; i < n; i++) {
				if (strcmp(back[i], fields[i]))
					abort();
			}
		}
		break;
	}
	default: {
		/* Up to three '\n'-separated strings: window, from, to ("-" for absent). */
		char *a = s, *b = strchr(a, '\n'), *c = NULL;

		if (b) {
			*b++ = '\0';
			c = strchr(b, '\n');
			if (c)
				*c++ = '\0';
		}
		if (api_window_parse(strcmp(a, "-") ? a : NULL, b && strcmp(b, "-") ? b : NULL,
				     c && strcmp(c, "-") ? c : NULL, 1714000000000LL, &w, &p2,
				     &w2) == CM_OK) {
			if (w.from_ms >= w.to_ms || w.nbuckets < 1 || w.nbuckets > 60 ||
			    (int64_t)w.nbuckets * w.bucket_ms < w.to_ms - w.from_ms)
				abort();
		} else if (!p2 || !w2) {
			abort();
		}
		break;
	}
	}
	free(s);
	return 0;
}
