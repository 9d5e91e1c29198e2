/*
 * Decoders of the request target for the REST API: the query string (percent-decoding, "+" as
 * space, UTF-8 validation, duplicate and unknown keys refused) and the path segments that carry
 * ids and repository names. Pure functions of their input (no database, no globals), so that a
 * fuzzer and unit tests drive them directly.
 */
#ifndef COL_API_QUERY_H
#define COL_API_QUERY_H

#include <stddef.h>
#include <stdint.h>

#define COL_QUERY_MAX_BYTES 4096 /* longer raw query strings are refused */
#define COL_QUERY_MAX_PARAMS 32

struct col_qparam {
	const char *key; /* decoded, valid UTF-8, NUL-terminated; points into col_query.buf */
	const char *val; /* "" when the pair had no "=" */
};

struct col_query {
	struct col_qparam p[COL_QUERY_MAX_PARAMS];
	int n;
	char buf[COL_QUERY_MAX_BYTES + 2]; /* decoded keys and values; never longer than raw */
};

/*
 * Decodes `raw` (the query string without "?") into q. `allowed` is a NULL-terminated list of
 * the keys the endpoint accepts. On failure returns CM_EINVAL (or CM_ETOOBIG for an over-long
 * string or too many pairs) and writes the name of the offending parameter into `param` (the
 * decoded key when it is printable, else "query") and a short reason into `why`.
 */
int col_query_parse(struct col_query *q, const char *raw, const char *const *allowed,
		    char *param, size_t param_size, const char **why);
/* The value of key, or NULL when absent. */
const char *col_query_get(const struct col_query *q, const char *key);

/*
 * Path helpers. `rest` receives the part after the parsed segments ("" when none).
 * col_path_repo: "owner/name[/rest]" with GitHub's character rules (owner: 1-39 of [A-Za-z0-9-];
 * name: 1-100 of [A-Za-z0-9._-], not "." or ".."). Returns CM_EINVAL when malformed.
 */
int col_path_repo(const char *path, char *full_name, size_t size, const char **rest);
/* A positive decimal id (at most 18 digits, no sign, no leading zero). */
int col_parse_id(const char *s, size_t len, int64_t *out);
/* "owner/name" as a whole string (see col_path_repo). */
int col_valid_repo_name(const char *s);

/* A time window [from, to) cut into nbuckets series buckets of bucket_ms (the last may be short). */
struct api_window {
	int64_t from_ms, to_ms, bucket_ms;
	int nbuckets;
	char name[8]; /* "1h", "24h", "7d", "30d" or "custom" */
};
/*
 * window=1h|24h|7d|30d (default 24h), or from=&to= (ISO 8601; to defaults to now). Pure apart
 * from `now_ms`; returns CM_EINVAL with the parameter and reason in param/why.
 */
int api_window_parse(const char *window, const char *from, const char *to, int64_t now_ms,
		     struct api_window *w, const char **param, const char **why);

/*
 * Opaque cursors: base64url of "kind|field|field...". Fields must not contain '|'. encode writes
 * at most size bytes (NUL included) and returns CM_ETOOBIG when it does not fit. decode checks
 * the kind and the number of fields and returns pointers into `scratch` (size bytes).
 */
#define API_CURSOR_MAX 256
#define API_CURSOR_FIELDS 4
int api_cursor_encode(char *out, size_t size, const char *kind, const char *const *fields,
		      int nfields);
int api_cursor_decode(const char *cursor, const char *kind, char *scratch, size_t size,
		      const char **fields, int nfields);

#endif
