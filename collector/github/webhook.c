#include "github/webhook.h"

#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_http.h"
#include "cm_json.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ratelimit.h"
#include "store/db.h"
#include "github/app.h"
#include "github/decode.h"
#include "github/installation.h"
#include "github/payload.h"
#include "http/server.h"
#include "core/process_metrics.h"
#include "store/claim.h"
#include "store/group.h"
#include "store/store.h"

/* ---- the bounded scanner (runs on unauthenticated input: keep it simple) ---- */

struct scan {
	const char *p;
	const char *end;
};

static void skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/* A string at s->p: start and len get its raw contents, escaped whether it has escapes. */
static int scan_string(struct scan *s, const char **start, size_t *len, int *escaped)
{
	if (s->p >= s->end || *s->p != '"')
		return CM_EINVAL;
	s->p++;
	*start = s->p;
	*escaped = 0;
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\') {
			*escaped = 1;
			s->p++;
			if (s->p >= s->end)
				return CM_EINVAL;
		}
		s->p++;
	}
	if (s->p >= s->end)
		return CM_EINVAL;
	*len = (size_t)(s->p - *start);
	s->p++;
	return CM_OK;
}

/* Skips one value of any kind; nesting is counted, not recursed into. */
static int skip_value(struct scan *s)
{
	const char *start;
	size_t len, depth = 0;
	int esc;

	skip_ws(s);
	if (s->p >= s->end)
		return CM_EINVAL;
	if (*s->p == '"')
		return scan_string(s, &start, &len, &esc);
	if (*s->p != '{' && *s->p != '[') {
		const char *from = s->p;

		while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
			s->p++;
		return s->p > from ? CM_OK : CM_EINVAL;
	}
	do {
		if (s->p >= s->end)
			return CM_EINVAL;
		if (*s->p == '"') {
			if (scan_string(s, &start, &len, &esc))
				return CM_EINVAL;
			continue;
		}
		if (*s->p == '{' || *s->p == '[')
			depth++;
		else if (*s->p == '}' || *s->p == ']')
			depth--;
		s->p++;
	} while (depth > 0);
	return CM_OK;
}

static int key_is(const char *k, size_t len, int esc, const char *want)
{
	return !esc && len == strlen(want) && !memcmp(k, want, len);
}

/* Reads the members "id" and "full_name" of the object at s->p. */
static int scan_repo(struct scan *s, int64_t *id, char *name, size_t size)
{
	const char *k, *v;
	size_t klen, vlen;
	int esc, vesc;

	skip_ws(s);
	if (s->p >= s->end || *s->p != '{')
		return skip_value(s);
	s->p++;
	for (;;) {
		skip_ws(s);
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return CM_OK;
		}
		if (scan_string(s, &k, &klen, &esc))
			return CM_EINVAL;
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return CM_EINVAL;
		s->p++;
		skip_ws(s);
		if (key_is(k, klen, esc, "id") && s->p < s->end && isdigit((unsigned char)*s->p)) {
			int64_t n = 0;

			while (s->p < s->end && isdigit((unsigned char)*s->p) && n < INT64_MAX / 10)
				n = n * 10 + (*s->p++ - '0');
			*id = n;
		} else if (key_is(k, klen, esc, "full_name") && s->p < s->end && *s->p == '"') {
			if (scan_string(s, &v, &vlen, &vesc))
				return CM_EINVAL;
			if (!vesc && vlen < size) {
				memcpy(name, v, vlen);
				name[vlen] = '\0';
			}
		} else if (skip_value(s)) {
			return CM_EINVAL;
		}
		skip_ws(s);
		if (s->p < s->end && *s->p == ',')
			s->p++;
		else if (s->p >= s->end || *s->p != '}')
			return CM_EINVAL;
	}
}

int col_webhook_peek_repo(const char *body, size_t len, int64_t *id, char *name, size_t size)
{
	struct scan s = { body, body + len };
	const char *k;
	size_t klen;
	int esc;

	*id = 0;
	if (size)
		name[0] = '\0';
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return CM_EINVAL;
	s.p++;
	for (;;) {
		skip_ws(&s);
		if (s.p < s.end && *s.p == '}')
			return CM_ENOTFOUND;
		if (scan_string(&s, &k, &klen, &esc))
			return CM_EINVAL;
		skip_ws(&s);
		if (s.p >= s.end || *s.p != ':')
			return CM_EINVAL;
		s.p++;
		if (key_is(k, klen, esc, "repository")) {
			skip_ws(&s);
			if (s.p < s.end && *s.p == '{')
				return scan_repo(&s, id, name, size) ? CM_EINVAL : CM_OK;
		}
		if (skip_value(&s))
			return CM_EINVAL;
		skip_ws(&s);
		if (s.p < s.end && *s.p == ',')
			s.p++;
		else if (s.p >= s.end || *s.p != '}')
			return CM_EINVAL;
	}
}

int col_webhook_form_payload(const char *body, size_t len, char *out, size_t *outlen)
{
	const char *p = body, *end = body + len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fend = amp ? amp : end;

		if ((size_t)(fend - p) >= 8 && !memcmp(p, "payload=", 8)) {
			long n = cm_http_form_decode(p + 8, (size_t)(fend - p - 8), out);

			if (n < 0)
				return CM_EINVAL;
			*outlen = (size_t)n;
			return CM_OK;
		}
		p = amp ? amp + 1 : end;
	}
	return CM_ENOTFOUND;
}

/* ---- the handler ---- */

/*
 * Deliveries that arrive together are written in one transaction (store/group.h), from
 * col_webhook_start to col_webhook_stop; before and after, each in its own.
 */
static struct col_group group = COL_GROUP_INIT;

/* Bad signatures per address and minute (CIPULSE_WEBHOOK_BAD_SIGNATURE_LIMIT), and their log. */
static struct col_addr_limit bad_signatures = COL_ADDR_LIMIT_INIT(60000);
static struct col_sampler mismatch_log = COL_SAMPLER_INIT(10000);

/* Event labels of the metrics: bounded, whatever GitHub sends. */
static const char *event_label(const char *event)
{
	static const char *const known[] = { "workflow_run", "workflow_job", "ping", "installation",
					     "installation_repositories" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(event, known[i]))
			return known[i];
	}
	return "other";
}

static void count(const char *event, const char *result)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "event=\"%s\",result=\"%s\"", event_label(event), result);
	col_metric_inc(col_metric_counter("cipulse_webhooks_total", labels,
					  "GitHub webhook deliveries by event and result."));
}

/* The media type of a Content-Type header, lowercased, without parameters. */
static void media_type(const char *ct, char *out, size_t size)
{
	size_t n = 0;

	if (!ct)
		ct = "";
	while (*ct == ' ')
		ct++;
	while (*ct && *ct != ';' && *ct != ' ' && n + 1 < size)
		out[n++] = (char)tolower((unsigned char)*ct++);
	out[n] = '\0';
}

struct secret_row {
	int64_t id;
	char name[256];
	char *secret; /* NULL when the repository has none */
};

/*
 * The registered repositories holding the payload's id or its name (at most two: ids and
 * names are unique), with their secrets. A repository registered by name only has a
 * provisional id: the name finds it.
 */
static int find_repos(struct col_conn *c, int64_t id, const char *name, struct secret_row out[2],
		      int *n)
{
	char idbuf[24];
	const char *params[2] = { idbuf, name };
	PGresult *res;
	int rc = CM_OK;

	memset(out, 0, 2 * sizeof(*out));
	*n = 0;
	snprintf(idbuf, sizeof(idbuf), "%" PRId64, id);
	res = col_db_query(c, "webhook repositories",
			   "SELECT id, full_name, webhook_secret FROM repositories "
			   "WHERE id = $1::bigint OR full_name = $2 "
			   "ORDER BY (id = $1::bigint) DESC LIMIT 2",
			   2, params, &rc);
	if (!res)
		return rc;
	for (int i = 0; i < PQntuples(res) && i < 2; i++) {
		out[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		snprintf(out[i].name, sizeof(out[i].name), "%s", PQgetvalue(res, i, 1));
		(*n)++;
		if (!PQgetisnull(res, i, 2)) {
			out[i].secret = strdup(PQgetvalue(res, i, 2));
			if (!out[i].secret) {
				rc = CM_ENOMEM;
				break;
			}
		}
	}
	PQclear(res);
	return rc;
}

/*
 * Secrets found recently, by the (id, name) hint that found them: a flood of deliveries naming
 * one repository costs one lookup per CACHE_MS, not one each. Secrets are set once at
 * registration, so a short-lived copy is never wrong for long.
 */
#define CACHE_SLOTS 64
#define CACHE_MS    10000

static struct {
	pthread_mutex_t lock;
	struct {
		int64_t hint_id, at;
		char hint_name[256];
		int n; /* 0: free slot */
		struct secret_row rows[2];
	} e[CACHE_SLOTS];
	unsigned next;
} cache = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void secret_free(struct secret_row *r);

/* What find_repos answered for this hint within CACHE_MS, copied into out; CM_ENOTFOUND if none. */
static int cache_get(int64_t id, const char *name, struct secret_row out[2], int *n)
{
	int64_t now = cm_time_mono_ms();
	int rc = CM_ENOTFOUND;

	pthread_mutex_lock(&cache.lock);
	for (int i = 0; i < CACHE_SLOTS && rc == CM_ENOTFOUND; i++) {
		if (!cache.e[i].n || cache.e[i].hint_id != id || now - cache.e[i].at >= CACHE_MS ||
		    strcmp(cache.e[i].hint_name, name))
			continue;
		memset(out, 0, 2 * sizeof(*out));
		*n = cache.e[i].n;
		rc = CM_OK;
		for (int k = 0; k < cache.e[i].n; k++) {
			out[k].id = cache.e[i].rows[k].id;
			memcpy(out[k].name, cache.e[i].rows[k].name, sizeof(out[k].name));
			if (cache.e[i].rows[k].secret) {
				out[k].secret = strdup(cache.e[i].rows[k].secret);
				if (!out[k].secret)
					rc = CM_ENOMEM;
			}
		}
	}
	pthread_mutex_unlock(&cache.lock);
	return rc;
}

/* Keeps a copy of what find_repos found (nothing when it found no repository). */
static void cache_put(int64_t id, const char *name, const struct secret_row rows[2], int n)
{
	struct secret_row copy[2];
	unsigned i;

	if (n <= 0 || strlen(name) >= sizeof(cache.e[0].hint_name))
		return;
	memset(copy, 0, sizeof(copy));
	for (int k = 0; k < n; k++) {
		copy[k] = rows[k];
		copy[k].secret = NULL;
		if (rows[k].secret && !(copy[k].secret = strdup(rows[k].secret))) {
			secret_free(&copy[0]);
			secret_free(&copy[1]);
			return;
		}
	}
	pthread_mutex_lock(&cache.lock);
	i = cache.next++ % CACHE_SLOTS;
	secret_free(&cache.e[i].rows[0]);
	secret_free(&cache.e[i].rows[1]);
	cache.e[i].hint_id = id;
	cache.e[i].at = cm_time_mono_ms();
	snprintf(cache.e[i].hint_name, sizeof(cache.e[i].hint_name), "%s", name);
	cache.e[i].n = n;
	memcpy(cache.e[i].rows, copy, sizeof(copy));
	pthread_mutex_unlock(&cache.lock);
}

static void secret_free(struct secret_row *r)
{
	if (r->secret) {
		/* The secret leaves no copy in freed memory. */
		memset(r->secret, 0, strlen(r->secret));
		free(r->secret);
		r->secret = NULL;
	}
}

/*
 * Decodes a verified workflow event and writes it: in the next group commit, answered once it
 * committed. *coming is the group's col_group_enter of this delivery, ended here.
 */
static void store_event(const struct col_http_req *req, struct col_http_resp *resp,
			const struct col_cred *cred, const char *event, json_t *payload,
			int *coming)
{
	struct col_gh_report r;
	struct col_store_result res;
	struct col_delivery d;
	const char *delivery = col_http_header(req, "X-GitHub-Delivery");
	char err[256];
	int rc;

	col_gh_report_init(&r, "webhook");
	rc = col_gh_decode_event(&r, event, payload, err, sizeof(err));
	if (rc) {
		count(event, "bad_request");
		if (rc == CM_EINVAL)
			col_http_error(resp, 400, "unknown_shape", "%s", err);
		else
			col_http_error(resp, 400, "unknown_shape", "payload %s", cm_strerror(rc));
		goto out;
	}
	if (delivery && *delivery) {
		d.id = delivery;
		d.event = event;
		d.action = json_string_value(json_object_get(payload, "action"));
		if (!d.action)
			d.action = "";
		r.report.delivery = &d;
	}
	r.report.cred = cred;
	rc = col_group_put(&group, req->ctx->db, &r.report, &res, *coming);
	*coming = 0;
	if (rc == CM_EDENIED) {
		/* The signature is good, the repository is not its signer's: nothing written. */
		count(event, "forbidden");
		cm_log_info("webhook", "event refused event=%s repo=%s: %s", event_label(event),
			    r.repo.full_name, res.why);
		col_http_error(resp, 403, "forbidden", "%s", res.why);
		goto out;
	}
	if (rc == CM_EINVAL) {
		count(event, "bad_request");
		col_http_error(resp, 400, "invalid", "the payload does not fit the data model");
		goto out;
	}
	if (rc) {
		count(event, "error");
		cm_log_warn("webhook", "could not store event=%s repo=%s: %s", event,
			    r.repo.full_name, cm_strerror(rc));
		col_http_fail(resp, rc, "could not store the event; retry later");
		goto out;
	}
	count(event, res.duplicate ? "duplicate" : "stored");
	cm_log_debug("webhook",
		     "event stored event=%s repo=%s run=%" PRId64 " attempt=%d jobs=%d "
		     "duplicate=%d",
		     event, r.repo.full_name, r.run.id, r.run.attempt, res.jobs, res.duplicate);
	resp->status = 200;
	if (cm_buf_addf(&resp->body, "{\"status\":\"%s\",\"jobs\":%d,\"steps\":%d}",
			res.duplicate ? "duplicate" : "stored", res.jobs, res.steps))
		col_http_fail(resp, CM_ENOMEM, "out of memory");
out:
	col_gh_report_release(&r);
}

/*
 * What is checked before the body is looked at: the sender's bad-signature budget, the event
 * and signature headers and the media type (into mt). Returns 0 to go on; otherwise the answer
 * is written.
 */
static int check_request(const struct col_http_req *req, struct col_http_resp *resp,
			 const char *event, const char *sig, char *mt, size_t mtsize)
{
	const struct col_config *cfg = req->ctx->cfg;
	long retry_s;

	/* An address that keeps sending bad signatures costs nothing more for a while. */
	if (col_addr_limit_over(&bad_signatures, req->remote_addr, cfg->webhook_bad_signature_limit,
				cm_time_mono_ms(), &retry_s)) {
		count(event ? event : "", "rate_limited");
		col_http_error(resp, 429, "too_many_bad_signatures",
			       "too many deliveries with a bad signature from this address");
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: %ld\r\n",
			 retry_s);
		return -1;
	}
	media_type(col_http_header(req, "Content-Type"), mt, mtsize);
	if (!event || !*event) {
		count("", "bad_request");
		col_http_error(resp, 400, "missing_event", "X-GitHub-Event header missing");
		return -1;
	}
	if (strcmp(mt, "application/json") && strcmp(mt, "application/x-www-form-urlencoded")) {
		count(event, "unsupported_media_type");
		col_http_error(resp, 415, "unsupported_media_type",
			       "content type must be application/json or "
			       "application/x-www-form-urlencoded");
		return -1;
	}
	if (!sig || !*sig) {
		count(event, "unauthorized");
		col_http_error(resp, 401, "missing_signature",
			       "X-Hub-Signature-256 header missing");
		return -1;
	}
	return 0;
}

/*
 * Finds the credential that signed the body: the secrets of the repositories the payload hints
 * at (into repos, *nrepos of them; name gets the hinted name), then the organisation secret.
 * Returns 0 with cred set; otherwise the answer is written. *c may be left holding a connection.
 */
static int verify_signature(const struct col_http_req *req, struct col_http_resp *resp,
			    const char *event, const char *sig, const char *json_text,
			    size_t json_len, struct col_conn **c, struct secret_row repos[2],
			    int *nrepos, char *name, size_t namesize, struct col_cred *cred)
{
	const struct col_config *cfg = req->ctx->cfg;
	int64_t id = 0;
	int rc, verified = 0;

	/*
	 * Only a hint of which secrets to try: nothing here is trusted until the HMAC matches, so
	 * what was found before a syntax error is as good a hint as any. Which repository the
	 * payload is about is decided later, from the whole decoded payload (store/claim.h).
	 */
	col_webhook_peek_repo(json_text, json_len, &id, name, namesize);
	if ((id || *name) && cache_get(id, name, repos, nrepos) == CM_ENOTFOUND) {
		rc = col_db_acquire(req->ctx->db, c, COL_DB_WAIT_MS);
		if (!rc)
			rc = find_repos(*c, id, name, repos, nrepos);
		if (!rc)
			cache_put(id, name, repos, *nrepos);
		if (rc) {
			count(event, "error");
			col_http_fail(resp, rc, "database unavailable; retry later");
			return -1;
		}
	}
	for (int i = 0; i < *nrepos && !verified; i++) {
		if (repos[i].secret &&
		    !cm_hmac_sha256_verify(repos[i].secret, req->body, req->body_len, sig)) {
			verified = 1;
			cred->scope = COL_CRED_REPO;
			cred->repo_id = repos[i].id;
			snprintf(cred->repo_name, sizeof(cred->repo_name), "%s", repos[i].name);
		}
	}
	if (!verified && cfg->webhook_secret && *cfg->webhook_secret &&
	    !cm_hmac_sha256_verify(cfg->webhook_secret, req->body, req->body_len, sig)) {
		verified = 1;
		cred->scope = COL_CRED_ORG; /* registers no repository: an unknown one is a 404 */
	}
	secret_free(&repos[0]);
	secret_free(&repos[1]);
	if (!verified) {
		long held;

		count(event, "bad_signature");
		col_addr_limit_hit(&bad_signatures, req->remote_addr, cm_time_mono_ms());
		if (col_sampler_take(&mismatch_log, cm_time_mono_ms(), &held))
			cm_log_info("webhook",
				    "signature mismatch event=%s remote=%s held_back=%ld",
				    event_label(event), req->remote_addr, held);
		col_http_error(resp, 401, "bad_signature",
			       "X-Hub-Signature-256 does not match this body");
		return -1;
	}
	return 0;
}

static int is_installation_event(const char *event)
{
	return !strcmp(event, "installation") || !strcmp(event, "installation_repositories");
}

/*
 * App mode: the installation a payload names (installation.id), 0 when none. Every delivery of
 * the app carries it; hooks of repositories and organisations do not.
 */
static int64_t payload_installation(json_t *payload)
{
	json_t *id = json_object_get(json_object_get(payload, "installation"), "id");

	return json_is_integer(id) && json_integer_value(id) > 0 ? (int64_t)json_integer_value(id)
								 : 0;
}

/*
 * An installation delivery (github/installation.h), verified: it must come with the
 * organisation-wide credential (the app's secret), never a repository's own, and from this app.
 */
static void installation_delivery(const struct col_http_req *req, struct col_http_resp *resp,
				  struct col_conn **c, const struct col_cred *cred,
				  const char *event, json_t *payload)
{
	json_t *app_id = json_object_get(json_object_get(payload, "installation"), "app_id");
	char want[32];

	if (!col_gh_app_enabled()) {
		count(event, "ignored");
		resp->status = 202;
		if (cm_buf_adds(&resp->body, "{\"status\":\"ignored\",\"reason\":\"not in GitHub "
					     "App mode (CIPULSE_GITHUB_APP_ID)\"}"))
			col_http_fail(resp, CM_ENOMEM, "out of memory");
		return;
	}
	if (cred->scope != COL_CRED_ORG) {
		count(event, "forbidden");
		col_http_error(resp, 403, "forbidden",
			       "installation events must be signed with the app's webhook secret");
		return;
	}
	snprintf(want, sizeof(want), "%s", req->ctx->cfg->github_app_id);
	if (json_is_integer(app_id) && strtoll(want, NULL, 10) != json_integer_value(app_id)) {
		count(event, "forbidden");
		col_http_error(resp, 403, "forbidden", "the installation is of another GitHub App");
		return;
	}
	if (!*c && col_db_acquire(req->ctx->db, c, COL_DB_WAIT_MS)) {
		*c = NULL;
		count(event, "error");
		col_http_error(resp, 503, "unavailable", "database unavailable; retry later");
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 5\r\n");
		return;
	}
	col_installation_event(req, resp, *c, event, payload);
	count(event, resp->status == 200   ? "stored"
		     : resp->status == 202 ? "ignored"
		     : resp->status < 500  ? "bad_request"
					   : "error");
}

/*
 * App mode: a delivery signed with the app's one secret acts for the repositories of its own
 * installation only. 1 (answer written) when the payload's repository is held by another
 * installation of the app that still has it.
 */
static int other_installation(const struct col_http_req *req, struct col_http_resp *resp,
			      struct col_conn **c, const struct col_cred *cred, const char *event,
			      json_t *payload)
{
	int64_t inst = payload_installation(payload);
	json_t *rid = json_object_get(json_object_get(payload, "repository"), "id");
	struct col_params p;
	PGresult *res;
	int rc, other;

	if (!inst || cred->scope != COL_CRED_ORG || !json_is_integer(rid) || !col_gh_app_enabled())
		return 0;
	rc = *c ? CM_OK : col_db_acquire(req->ctx->db, c, COL_DB_WAIT_MS);
	if (rc) {
		*c = NULL;
		count(event, "error");
		col_http_fail(resp, rc, "database unavailable; retry later");
		return 1;
	}
	col_params_init(&p);
	col_p_i64(&p, (int64_t)json_integer_value(rid));
	col_p_i64(&p, inst);
	res =
	    col_db_query(*c, "webhook installation",
			 "SELECT 1 FROM repositories WHERE id = $1::bigint AND retired_at IS NULL "
			 "AND installation_id IS NOT NULL AND installation_id <> $2::bigint",
			 p.n, p.v, &rc);
	if (!res) {
		count(event, "error");
		col_http_fail(resp, rc, "database unavailable; retry later");
		return 1;
	}
	other = PQntuples(res) > 0;
	PQclear(res);
	if (other) {
		count(event, "forbidden");
		col_http_error(resp, 403, "forbidden",
			       "the repository belongs to another installation of the app");
	}
	return other;
}

static void handle(const struct col_http_req *req, struct col_http_resp *resp)
{
	const char *event = col_http_header(req, "X-GitHub-Event");
	const char *sig = col_http_header(req, "X-Hub-Signature-256");
	const char *json_text = req->body;
	struct secret_row repos[2] = { { 0 }, { 0 } };
	struct col_conn *c = NULL;
	struct col_cred cred = { 0 };
	char mt[64], name[256], *form = NULL;
	size_t json_len = req->body_len;
	json_t *payload = NULL;
	json_error_t jerr;
	int rc, nrepos = 0, coming = 0;

	if (check_request(req, resp, event, sig, mt, sizeof(mt)))
		return;
	/* A delivery to store: a batch being filled waits for it while it is verified. */
	if (!strcmp(event, "workflow_run") || !strcmp(event, "workflow_job")) {
		col_group_enter(&group);
		coming = 1;
	}
	if (!strcmp(mt, "application/x-www-form-urlencoded")) {
		/* GitHub's form encoding signs the form body; the JSON is in its payload field. */
		form = malloc(req->body_len + 1);
		if (!form) {
			/* Through out: a batch must not wait for a delivery that will not come. */
			col_http_error(resp, 503, "unavailable", "out of memory");
			goto out;
		}
		rc = col_webhook_form_payload(req->body, req->body_len, form, &json_len);
		if (rc) {
			count(event, "bad_request");
			col_http_error(resp, 400, "malformed_form",
				       "no payload field in the form body");
			goto out;
		}
		form[json_len] = '\0';
		json_text = form;
	}
	if (verify_signature(req, resp, event, sig, json_text, json_len, &c, repos, &nrepos, name,
			     sizeof(name), &cred))
		goto out;
	if (!strcmp(event, "ping")) {
		count(event, "pong");
		if (cm_buf_adds(&resp->body, "{\"status\":\"pong\"}"))
			col_http_fail(resp, CM_ENOMEM, "out of memory");
		goto out;
	}
	if (strcmp(event, "workflow_run") && strcmp(event, "workflow_job") &&
	    !is_installation_event(event)) {
		count(event, "ignored");
		resp->status = 202;
		if (cm_buf_adds(&resp->body, "{\"status\":\"ignored\"}"))
			col_http_fail(resp, CM_ENOMEM, "out of memory");
		goto out;
	}
	/* A workflow event: only the members read below are built (github/payload.h). */
	payload = is_installation_event(event)
		      ? json_loadb(json_text, json_len, JSON_REJECT_DUPLICATES, &jerr)
		      : col_gh_payload_load(json_text, json_len, &jerr);
	if (!payload) {
		count(event, "bad_request");
		col_http_error(resp, 400, "malformed_json", "body is not valid JSON: %s at %d:%d",
			       jerr.text, jerr.line, jerr.column);
		goto out;
	}
	if (is_installation_event(event)) {
		installation_delivery(req, resp, &c, &cred, event, payload);
		goto out;
	}
	if (!nrepos) {
		/* Signed with the organisation secret: the sender is ours, the repository is not.
		 */
		count(event, "unknown_repository");
		col_http_error(resp, 404, "unknown_repository",
			       "repository %s is not registered with cipulse", name);
		goto out;
	}
	if (other_installation(req, resp, &c, &cred, event, payload))
		goto out;
	/* The write has a connection of its own (the group's): none is held while it waits. */
	if (c) {
		col_db_release(req->ctx->db, c);
		c = NULL;
	}
	store_event(req, resp, &cred, event, payload, &coming);
out:
	if (coming)
		col_group_leave(&group);
	json_decref(payload);
	secret_free(&repos[0]);
	secret_free(&repos[1]);
	if (c)
		col_db_release(req->ctx->db, c);
	free(form);
}

void col_webhook_routes(void)
{
	col_http_route("POST", "/webhook/github", handle);
}

void col_webhook_start(struct col_ctx *ctx)
{
	int rc;

	if (ctx->cfg->webhook_batch < 2)
		return;
	rc = col_group_start(&group, ctx->db, (size_t)ctx->cfg->webhook_batch,
			     ctx->cfg->webhook_batch_wait_ms, "webhook");
	if (rc)
		cm_log_warn("webhook",
			    "group commit not started, each delivery is written on its own: %s",
			    cm_strerror(rc));
}

void col_webhook_stop(void)
{
	col_group_stop(&group);
}
