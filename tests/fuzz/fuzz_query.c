/*
 * libFuzzer target for the REST API's decoders of the request target (collector/api/query.c):
 * query strings, repository paths, ids, cursors and metric windows. Built by scripts/fuzz.sh
 * (clang -fsanitize=fuzzer,address,undefined). The input's first byte picks the decoder; the rest
 * is its text. Besides memory errors it checks invariants: decoded text is valid UTF-8 and no
 * longer than its source, cursors round-trip, windows stay within their limits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/query.h"
#include "cm_err.h"
#include "cm_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = { "limit", "cursor", "from", "to", "window", "q", "repo",
				    "branch", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, param[80], name[160], scratch[API_CURSOR_MAX + 1], enc[API_CURSOR_MAX + 1];
	const char *why = NULL, *rest, *fields[API_CURSOR_FIELDS], *p2 = NULL, *w2 = NULL;
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
	switch (data[0] % 5) {
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
		    (!col_valid_repo_name(name) || strncmp(s, name, strlen(name))))
			abort();
		if (col_parse_id(s, strlen(s), &id) == CM_OK && id <= 0)
			abort();
		break;
	case 2:
		for (int n = 1; n <= API_CURSOR_FIELDS; n++) {
			if (api_cursor_decode(s, "runs", scratch, sizeof(scratch), fields, n))
				continue;
			/* What decodes must encode back to the same text. */
			if (api_cursor_encode(enc, sizeof(enc), "runs", fields, n) || strcmp(enc, s))
				abort();
		}
		break;
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
				     c && strcmp(c, "-") ? c : NULL, 1714000000000LL, &w, &p2, &w2) ==
		    CM_OK) {
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
