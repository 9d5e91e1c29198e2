/*
 * GET /api/v1/logs/search?q=&repo=: log tails containing q (case-insensitive substring), newest
 * jobs first, each with its matching lines and links to the job and run.
 *
 * PostgreSQL finds the rows (ILIKE through the pg_trgm index of sql/002_api.sql, which needs at
 * least 3 characters to narrow anything down); this file picks the matching lines out of each
 * tail. Matching folds ASCII case only, as ILIKE does in the C locale the collector's database
 * uses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_buf.h"
#include "cm_err.h"

#define SEARCH_DEFAULT_LIMIT 20
#define SEARCH_MAX_LIMIT     100
#define Q_MIN		     3
#define Q_MAX		     200
#define MAX_LINES	     10	 /* matching lines shown per tail */
#define MAX_LINE_BYTES	     500 /* longer lines are cut (at a UTF-8 boundary) */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 1 when needle (already lower-cased) occurs in line[0..n) ignoring ASCII case. */
static int contains_ci(const char *line, size_t n, const char *needle, size_t m)
{
	if (m > n)
		return 0;
	for (size_t i = 0; i + m <= n; i++) {
		size_t k = 0;

		/* Both sides as unsigned bytes: UTF-8 beyond ASCII is >= 0x80. */
		while (k < m && lower((unsigned char)line[i + k]) == (unsigned char)needle[k])
			k++;
		if (k == m)
			return 1;
	}
	return 0;
}

/* Cuts n down to at most max bytes without splitting a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

static json_t *matching_lines(const char *text, const char *needle, size_t m)
{
	json_t *lines = json_array();
	const char *p = text;
	int lineno = 1, shown = 0;

	while (lines && *p && shown < MAX_LINES) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (contains_ci(p, n, needle, m)) {
			json_t *o = json_object();

			if (!o || json_array_append_new(lines, o) ||
			    api_set(o, "line", json_integer(lineno)) ||
			    api_set(o, "text", json_stringn(p, utf8_cut(p, n, MAX_LINE_BYTES)))) {
				json_decref(lines);
				return NULL;
			}
			shown++;
		}
		if (!nl)
			break;
		p = nl + 1;
		lineno++;
	}
	return lines;
}

/* "%" + s with LIKE's wildcards and escape character escaped + "%": q is data, never pattern. */
static int like_pattern(struct cm_buf *b, const char *s, size_t n)
{
	int rc = cm_buf_addc(b, '%');

	for (size_t i = 0; !rc && i < n; i++) {
		if (s[i] == '%' || s[i] == '_' || s[i] == '\\')
			rc = cm_buf_addc(b, '\\');
		if (!rc)
			rc = cm_buf_addc(b, s[i]);
	}
	return rc ? rc : cm_buf_addc(b, '%');
}

/* The longest run of letters, digits, '_' and non-ASCII bytes in s (a substring of any match). */
static void longest_word(const char *s, size_t n, size_t *start, size_t *len)
{
	size_t i = 0;

	*start = *len = 0;
	while (i < n) {
		size_t j = i;

		while (j < n && ((unsigned char)s[j] >= 0x80 || (s[j] >= 'a' && s[j] <= 'z') ||
				 (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9') ||
				 s[j] == '_'))
			j++;
		if (j - i > *len) {
			*start = i;
			*len = j - i;
		}
		i = j + 1;
	}
}

static json_t *links(const char *run_id, const char *attempt, const char *job_id)
{
	char run[96], logs[96], web[96];
	json_t *o = json_object();

	snprintf(run, sizeof(run), "/api/v1/runs/%s?attempt=%s", run_id, attempt);
	snprintf(logs, sizeof(logs), "/api/v1/jobs/%s/logs", job_id);
	snprintf(web, sizeof(web), "/runs/%s", run_id);
	if (!o || api_set(o, "run", json_string(run)) || api_set(o, "logs", json_string(logs)) ||
	    api_set(o, "web", json_string(web))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Checks q (length, no control characters) and derives what the search needs: needle, q in
 * lower case (qlen bytes); pattern, q as an ILIKE pattern; word, the longest word of q as one
 * (the index condition). Returns 0, or -1 with the answer written.
 */
static int search_terms(struct col_http_resp *resp, const char *text, char *needle, size_t *qlen,
			struct cm_buf *word, struct cm_buf *pattern)
{
	size_t n = text ? strlen(text) : 0, wstart, wlen;

	if (n < Q_MIN || n > Q_MAX) {
		api_bad_param(resp, "q", "must be %d to %d characters", Q_MIN, Q_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
			api_bad_param(resp, "q", "must not contain control characters");
			return -1;
		}
		needle[i] = (char)lower((unsigned char)text[i]);
	}
	needle[n] = '\0';
	*qlen = n;
	longest_word(text, n, &wstart, &wlen);
	if (wlen < Q_MIN) { /* no word long enough to narrow anything: the whole of q */
		wstart = 0;
		wlen = n;
	}
	if (like_pattern(word, text + wstart, wlen) || like_pattern(pattern, text, n)) {
		col_http_error(resp, 500, "internal", "out of memory");
		return -1;
	}
	return 0;
}

/* One hit of the search query's row i as the API shows it; NULL when out of memory. */
static json_t *hit_json(const PGresult *res, int i, const char *needle, size_t qlen)
{
	json_t *it = json_object();

	if (!it || api_set(it, "repo", api_col_str(res, i, 0)) ||
	    api_set(it, "job_id", api_col_int(res, i, 1)) ||
	    api_set(it, "step_number", api_col_int(res, i, 2)) ||
	    api_set(it, "run_id", api_col_int(res, i, 3)) ||
	    api_set(it, "run_attempt", api_col_int(res, i, 4)) ||
	    api_set(it, "job_name", api_col_str(res, i, 5)) ||
	    api_set(it, "step_name", api_col_str(res, i, 6)) ||
	    api_set(it, "lines", matching_lines(PQgetvalue(res, i, 7), needle, qlen)) ||
	    api_set(it, "links",
		    links(PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), PQgetvalue(res, i, 1)))) {
		json_decref(it);
		return NULL;
	}
	return it;
}

void api_logs_search(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "q", "repo", "limit", "cursor", NULL };
	/*
	 * The page's keys first (only they are joined), from cipulse_log_search
	 * (sql/016_repo_rollup.sql: the newest job ids in growing ranges, through the trigram
	 * index with $1, the longest word of q: trigrams of common short words (" in", "the") have
	 * posting lists as long as the table); $6, the whole of q, then filters the candidates.
	 */
	static const char sql[] =
	    "SELECT r.full_name, k.job_id, k.step_number, j.run_id, j.run_attempt, j.name, "
	    "s.name, k.content FROM cipulse_log_search($1, $6, "
	    "  CASE WHEN $2::bigint IS NULL THEN NULL ELSE ARRAY[$2::bigint] END, "
	    "  $3::bigint, $4::integer, $5::integer) k "
	    "JOIN jobs j ON j.repo_id = k.repo_id AND j.job_id = k.job_id "
	    "JOIN repositories r ON r.id = k.repo_id "
	    "LEFT JOIN steps s ON s.repo_id = k.repo_id AND s.job_id = k.job_id "
	    "AND s.number = k.step_number "
	    "ORDER BY k.job_id DESC, k.step_number DESC";
	struct col_query q;
	struct col_params p = { .n = 0 };
	struct cm_buf pattern = CM_BUF_INIT(4 * Q_MAX), word = CM_BUF_INIT(4 * Q_MAX);
	char scratch[API_CURSOR_MAX + 1], needle[Q_MAX + 1];
	const char *repo;
	struct api_cursor cur;
	struct col_conn *c = NULL;
	PGresult *res = NULL;
	json_t *items = NULL;
	int64_t repo_id = 0;
	size_t qlen;
	int limit, has_cursor, n, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_limit(resp, &q, SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT, &limit) ||
	    api_param_repo(resp, &q, "repo", &repo) ||
	    api_param_cursor(resp, &q, "logs", scratch, sizeof(scratch), &cur, &has_cursor))
		return;
	if (search_terms(resp, col_query_get(&q, "q"), needle, &qlen, &word, &pattern))
		goto out;
	if (api_expensive_conn(req, resp, &c))
		goto out;
	if (repo) {
		if (api_lookup_repo(resp, c, repo, &repo_id))
			goto out;
	}
	col_p_str(&p, cm_buf_str(&word));
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_opt_i64(&p, has_cursor, cur.a);
	col_p_opt_i64(&p, has_cursor, cur.b);
	col_p_i64(&p, limit + 1);
	col_p_str(&p, cm_buf_str(&pattern));
	res = col_db_query(c, "logs", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "logs");
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (int i = 0; items && i < n && i < limit; i++) {
		if (json_array_append_new(items, hit_json(res, i, needle, qlen))) {
			json_decref(items);
			items = NULL;
		}
	}
	api_reply_page(resp, items, res, limit, "logs", (const int[]){ 1, 2 }, 2);
out:
	cm_buf_release(&pattern);
	cm_buf_release(&word);
	PQclear(res);
	if (c)
		api_expensive_release(req, c);
}
