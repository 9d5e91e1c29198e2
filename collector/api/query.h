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

#define COL_QUERY_MAX_BYTES  4096 /* longer raw query strings are refused */
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
int col_query_parse(struct col_query *q, const char *raw, const char *const *allowed, char *param,
		    size_t param_size, const char **why);
/* The value of key, or NULL when absent. */
const char *col_query_get(const struct col_query *q, const char *key);

/*
 * Path helpers. `rest` receives the part after the parsed segments ("" when none).
 * col_path_repo: "owner/name[/rest]" by GitHub's rules (cm_repo_name_prefix). Returns CM_EINVAL
 * when malformed. A whole name alone is checked with cm_repo_name_valid.
 */
int col_path_repo(const char *path, char *full_name, size_t size, const char **rest);
/* A positive decimal id (at most 18 digits, no sign, no leading zero). */
int col_parse_id(const char *s, size_t len, int64_t *out);
/*
 * A decimal integer in [min, max]: an optional '-', no leading zero ("0" alone is zero), no
 * "-0", at most 19 digits. CM_EINVAL otherwise (also on overflow).
 */
int col_parse_i64(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);

/* A time window [from, to) cut into nbuckets series buckets of bucket_ms (the last may be short).
 */
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
 * Opaque cursors: base64url (unpadded) of "kind|field|field...", each field with '%' and '|'
 * written as "%25" and "%7C", so that a field may hold any text the database returns (a
 * repository name with '|' among them): every cursor the server emits decodes to the same
 * fields. encode writes at most size bytes (NUL included) and returns CM_ETOOBIG when it does
 * not fit. decode accepts only what encode produces (canonical base64 and escapes, no NUL),
 * checks the kind and the number of fields and returns pointers into `scratch` (size bytes);
 * the fields' own syntax and ranges are the caller's to check (col_parse_i64).
 * API_CURSOR_MAX is the longest cursor text; its fields hold up to API_CURSOR_RAW_MAX bytes.
 */
#define API_CURSOR_MAX	   1024
#define API_CURSOR_RAW_MAX (API_CURSOR_MAX / 4 * 3)
#define API_CURSOR_FIELDS  4
/* Microseconds since 1970 that a time in a cursor may hold: years 1 to 9999. */
#define API_CURSOR_US_MIN (-62135596800000000LL)
#define API_CURSOR_US_MAX 253402300799999999LL
int api_cursor_encode(char *out, size_t size, const char *kind, const char *const *fields,
		      int nfields);
int api_cursor_decode(const char *cursor, const char *kind, char *scratch, size_t size,
		      const char **fields, int nfields);

/*
 * The cursor of a list endpoint, decoded and checked to be a position the endpoint's SQL can
 * take (so that no cursor yields a database error), whatever the rows hold:
 * - "repos": text = the last full_name (any non-empty UTF-8: older rows may break GitHub's rules)
 * - "wf":    a = the last workflow id (signed: provisional workflows have negative ids)
 * - "runs":  a = the last creation time in microseconds (API_CURSOR_US_MIN..MAX), b = run id
 * - "logs":  a = job id, b = step number (0..INT32_MAX)
 * - "alerts": a = alert id
 * - "tests", "failures": a = the offset of the next row in the ranked list (0..
 *   API_CURSOR_OFFSET_MAX): these lists are ranked by figures over a window, not by a key
 * - "history" (a test's results), "fruns" (a failure group's jobs): a = the last time in
 *   microseconds (API_CURSOR_US_MIN..MAX), b = the last job id
 * - "audit": a = audit entry id
 * text points into scratch (size bytes). CM_EINVAL for anything else.
 */
#define API_CURSOR_OFFSET_MAX 1000000
struct api_cursor {
	int64_t a, b;
	const char *text;
};
int api_cursor_parse(const char *cursor, const char *kind, char *scratch, size_t size,
		     struct api_cursor *out);

#endif
