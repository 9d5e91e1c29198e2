/*
 * Alerts (GET /api/v1/alerts) and their settings (GET/POST /api/v1/settings/alerts): alert rules
 * and notification channels. Channel targets (webhook URLs, addresses) are secrets: they are
 * written, never read back ("target_set" says whether one is stored).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/target.h"
#include "api/api_int.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"

void api_alerts_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { "repo", "state", "kind",	  "severity", "from",
					       "to",   "limit", "cursor", NULL };
	static const char sql[] =
	    "SELECT " API_ALERT_COLS " FROM alerts a JOIN repositories r ON r.id = a.repo_id "
	    "WHERE ($1::bigint IS NULL OR a.repo_id = $1) AND ($2::text IS NULL OR a.state = $2) "
	    "AND ($3::bigint IS NULL OR a.id < $3) AND ($5::text IS NULL OR a.kind = $5) "
	    "AND ($6::text IS NULL OR a.severity = $6) "
	    "AND ($7::bigint IS NULL OR a.opened_at >= " API_TS_US(
		"$7") ") "
		      "AND ($8::bigint IS NULL OR a.opened_at < " API_TS_US(
			  "$8") ") "
				"ORDER BY a.id DESC LIMIT $4";
	struct col_query q;
	struct col_params p = { .n = 0 };
	char scratch[API_CURSOR_MAX + 1];
	const char *repo, *state, *kind, *severity;
	struct api_cursor cur;
	struct col_conn *c;
	PGresult *res = NULL;
	json_t *items;
	int64_t repo_id = 0, from = 0, to = 0;
	int limit, has_cursor, has_from, has_to, n, rc;

	if (api_begin(req, resp, API_READ, &q, allowed) ||
	    api_param_limit(resp, &q, API_DEFAULT_LIMIT, API_MAX_LIMIT, &limit) ||
	    api_param_repo(resp, &q, "repo", &repo) ||
	    api_param_enum(resp, &q, "state", "open|resolved", &state) ||
	    api_param_enum(resp, &q, "kind", "failure|flapping|regression|slow_build", &kind) ||
	    api_param_enum(resp, &q, "severity", "critical|warning|info", &severity) ||
	    api_param_time(resp, &q, "from", &from, &has_from) ||
	    api_param_time(resp, &q, "to", &to, &has_to) ||
	    api_param_cursor(resp, &q, "alerts", scratch, sizeof(scratch), &cur, &has_cursor))
		return;
	if (api_conn(req, resp, &c))
		return;
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_str(&p, state);
	col_p_opt_i64(&p, has_cursor, cur.a);
	col_p_i64(&p, limit + 1);
	col_p_str(&p, kind);
	col_p_str(&p, severity);
	col_p_opt_i64(&p, has_from, from * 1000);
	col_p_opt_i64(&p, has_to, to * 1000);
	res = col_db_query(c, "alerts", sql, p.n, p.v, &rc);
	if (!res) {
		api_db_fail(resp, rc, "alerts");
		goto out;
	}
	n = PQntuples(res);
	items = json_array();
	for (int i = 0; items && i < n && i < limit; i++) {
		if (json_array_append_new(items, api_alert_json(res, i))) {
			json_decref(items);
			items = NULL;
		}
	}
	api_reply_page(resp, items, res, limit, "alerts", (const int[]){ 0 }, 1);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

/* {"rules": [...], "channels": [...]} as stored; NULL on a database error (resp answered). */
static json_t *settings_json(struct col_conn *c, struct col_http_resp *resp)
{
	static const char rules_sql[] =
	    "SELECT a.id, a.name, a.kind, r.full_name, a.workflow_id, a.branch, a.params::text, "
	    "a.enabled, " API_MS(
		"a.created_at") ", "
				"ARRAY(SELECT n.name FROM notification_channels n WHERE n.id = ANY (a.channel_ids) "
				"  ORDER BY n.name)::text, a.severity "
				"FROM alert_rules a LEFT JOIN repositories r ON r.id = a.repo_id ORDER BY a.id";
	static const char channels_sql[] = "SELECT id, name, kind, enabled, target <> '', " API_MS(
	    "created_at") ", secret IS NOT NULL, origin FROM notification_channels ORDER BY name";
	int rc;
	PGresult *rres = col_db_query(c, "alert rules", rules_sql, 0, NULL, &rc), *cres = NULL;
	json_t *out = json_object(), *rules = json_array(), *chans = json_array();

	if (!rres) {
		api_db_fail(resp, rc, "alert rules");
		goto fail;
	}
	cres = col_db_query(c, "channels", channels_sql, 0, NULL, &rc);
	if (!cres) {
		api_db_fail(resp, rc, "channels");
		goto fail;
	}
	if (!out || !rules || !chans || api_set(out, "rules", json_incref(rules)) ||
	    api_set(out, "channels", json_incref(chans)))
		goto oom;
	for (int i = 0; i < PQntuples(rres); i++) {
		json_t *it = json_object(), *params = json_loads(PQgetvalue(rres, i, 6), 0, NULL);
		json_t *names = json_array();
		/* A text[] of names as {a,b}: names are plain words (checked on the way in). */
		char *list = strdup(PQgetvalue(rres, i, 9)), *save = NULL;

		if (list && strlen(list) >= 2) {
			list[strlen(list) - 1] = '\0';
			for (char *t = strtok_r(list + 1, ",", &save); t && names;
			     t = strtok_r(NULL, ",", &save))
				json_array_append_new(names, json_string(t));
		}
		free(list);
		if (!it || json_array_append_new(rules, it) ||
		    api_set(it, "id", api_col_int(rres, i, 0)) ||
		    api_set(it, "name", api_col_str(rres, i, 1)) ||
		    api_set(it, "kind", api_col_str(rres, i, 2)) ||
		    api_set(it, "repo", api_col_str(rres, i, 3)) ||
		    api_set(it, "workflow_id", api_col_int(rres, i, 4)) ||
		    api_set(it, "branch", api_col_str(rres, i, 5)) ||
		    api_set(it, "params", params ? params : json_object()) ||
		    api_set(it, "enabled", api_col_bool(rres, i, 7)) ||
		    api_set(it, "severity", api_col_str(rres, i, 10)) ||
		    api_set(it, "created_at", api_col_time(rres, i, 8)) ||
		    api_set(it, "channels", names))
			goto oom;
	}
	for (int i = 0; i < PQntuples(cres); i++) {
		json_t *it = json_object();

		if (!it || json_array_append_new(chans, it) ||
		    api_set(it, "id", api_col_int(cres, i, 0)) ||
		    api_set(it, "name", api_col_str(cres, i, 1)) ||
		    api_set(it, "kind", api_col_str(cres, i, 2)) ||
		    api_set(it, "enabled", api_col_bool(cres, i, 3)) ||
		    api_set(it, "target_set", api_col_bool(cres, i, 4)) ||
		    api_set(it, "secret_set", api_col_bool(cres, i, 6)) ||
		    api_set(it, "origin", api_col_str(cres, i, 7)) ||
		    api_set(it, "created_at", api_col_time(cres, i, 5)))
			goto oom;
	}
	PQclear(rres);
	PQclear(cres);
	json_decref(rules);
	json_decref(chans);
	return out;
oom:
	col_http_error(resp, 500, "internal", "out of memory");
fail:
	PQclear(rres);
	PQclear(cres);
	json_decref(rules);
	json_decref(chans);
	json_decref(out);
	return NULL;
}

void api_alert_settings_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_query q;
	struct col_conn *c;
	json_t *out;

	if (api_begin(req, resp, API_READ, &q, allowed) || api_conn(req, resp, &c))
		return;
	out = settings_json(c, resp);
	if (out)
		api_reply(resp, 200, out);
	col_db_release(req->ctx->db, c);
}

/* ---- POST: validation, then one transaction ---- */

/* A name: 1-100 of [A-Za-z0-9._-] (kept plain so that lists of names need no quoting). */
static int valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 100)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static int valid_target(const char *kind, const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 2048 || !cm_text_valid_utf8(t, n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)t[i] < 0x20)
			return 0;
	}
	if (!strcmp(kind, "email"))
		return strchr(t, '@') != NULL;
	return !strncmp(t, "https://", 8) || !strncmp(t, "http://", 7);
}

/* A signing secret: 16-256 printable ASCII characters. */
static int valid_secret(const char *s)
{
	size_t n = strlen(s);

	if (n < 16 || n > 256)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* The conclusions a failure rule may fire on: a non-empty list of distinct known ones. */
static int valid_conclusions(json_t *v)
{
	static const char *const known[] = { "failure", "timed_out", "cancelled", "action_required",
					     "startup_failure" };
	size_t i;
	json_t *c;

	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > sizeof(known) / sizeof(known[0]))
		return 0;
	json_array_foreach(v, i, c)
	{
		const char *s = json_string_value(c);
		size_t k;

		for (k = 0; s && k < sizeof(known) / sizeof(known[0]); k++) {
			if (!strcmp(s, known[k]))
				break;
		}
		if (!s || k == sizeof(known) / sizeof(known[0]))
			return 0;
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(s, json_string_value(json_array_get(v, j))))
				return 0;
		}
	}
	return 1;
}

/*
 * Checks a rule's params for its kind: the numbers the alert engine reads. Returns why not, with
 * the offending or missing key in *bad ("" when it is the object as a whole).
 */
static const char *check_params(const char *kind, json_t *params, const char **bad)
{
	const char *key;
	json_t *v;

	*bad = "";
	if (!json_is_object(params))
		return "must be an object";
	json_object_foreach(params, key, v)
	{
		double x;

		*bad = key;
		if (!strcmp(key, "conclusions")) {
			if (strcmp(kind, "failure"))
				return "conclusions is for failure rules";
			if (!valid_conclusions(v))
				return "conclusions must be a non-empty list of "
				       "failure|timed_out|cancelled|action_required|startup_failure";
			continue;
		}
		if (!strcmp(key, "stat")) {
			const char *st = json_string_value(v);

			if (strcmp(kind, "slow_build"))
				return "stat is for slow_build rules";
			if (!st || (strcmp(st, "avg") && strcmp(st, "p95")))
				return "stat must be avg or p95";
			continue;
		}
		if (!json_is_number(v))
			return "values must be numbers";
		x = json_number_value(v);
		if (!strcmp(key, "threshold")) {
			if (!strcmp(kind, "regression") ? x < 0 || x > 1 : x <= 0)
				return "threshold out of range (regression: 0..1; slow_build: seconds > 0)";
		} else if (!strcmp(key, "failures") || !strcmp(key, "runs") ||
			   !strcmp(key, "minutes") || !strcmp(key, "window_s") ||
			   !strcmp(key, "min_runs") || !strcmp(key, "repeat_interval_s")) {
			if (!json_is_integer(v) || x < 1 || x > 1e9)
				return "counts and durations must be positive integers";
		} else {
			return "unknown key (failures, runs, minutes, threshold, window_s, min_runs, "
			       "stat, repeat_interval_s, conclusions)";
		}
	}
	/* A missing key is named too, so that a form can show the message beside its field. */
	*bad = "threshold";
	if ((!strcmp(kind, "regression") || !strcmp(kind, "slow_build")) &&
	    !json_object_get(params, "threshold"))
		return "is required for this kind of rule";
	*bad = "failures";
	if (!strcmp(kind, "flapping") && !json_object_get(params, "failures"))
		return "is required for flapping rules";
	*bad = "";
	return NULL;
}

/* col_db_query: 0 and the result in *out, or the error code (the cause is logged). */
static int exec_ok(struct col_conn *c, const char *sql, const struct col_params *p, PGresult **out)
{
	int rc;

	*out = col_db_query(c, "alert settings", sql, p->n, p->v, &rc);
	return rc;
}

/* Applies one channel; on bad input answers 400 and returns CM_EINVAL. */
static int put_channel(struct col_conn *c, struct col_http_resp *resp, json_t *ch, size_t i,
		       int allow_private, int *err)
{
	static const char sql[] =
	    "INSERT INTO notification_channels AS t (name, kind, target, enabled, secret) "
	    "VALUES ($1, $2, COALESCE($3, ''), COALESCE($4::boolean, true), $5) "
	    "ON CONFLICT (name) DO UPDATE SET kind = EXCLUDED.kind, "
	    "target = COALESCE($3, t.target), enabled = COALESCE($4::boolean, t.enabled), "
	    "secret = COALESCE($5, t.secret), origin = 'api' "
	    "RETURNING target <> ''";
	const char *name = json_string_value(json_object_get(ch, "name"));
	const char *kind = json_string_value(json_object_get(ch, "kind"));
	json_t *target = json_object_get(ch, "target"), *enabled = json_object_get(ch, "enabled");
	json_t *secret = json_object_get(ch, "secret");
	struct col_params p = { .n = 0 };
	char param[64], why[160];
	PGresult *res = NULL;
	int ok;

	snprintf(param, sizeof(param), "channels[%zu]", i);
	if (!json_is_object(ch)) {
		api_bad_param(resp, param, "must be an object");
		return CM_EINVAL;
	}
	snprintf(param, sizeof(param), "channels[%zu].name", i);
	if (!name || !valid_name(name)) {
		api_bad_param(resp, param, "must be 1-100 of A-Z a-z 0-9 . _ -");
		return CM_EINVAL;
	}
	snprintf(param, sizeof(param), "channels[%zu].kind", i);
	if (!kind || (strcmp(kind, "slack") && strcmp(kind, "email") && strcmp(kind, "teams") &&
		      strcmp(kind, "webhook"))) {
		api_bad_param(resp, param, "must be one of slack|email|teams|webhook");
		return CM_EINVAL;
	}
	snprintf(param, sizeof(param), "channels[%zu].target", i);
	if (target && (!json_is_string(target) || !valid_target(kind, json_string_value(target)))) {
		api_bad_param(resp, param, "must be an http(s) URL (an e-mail address for email)");
		return CM_EINVAL;
	}
	/*
	 * Where the collector would post to: never its own network unless allowed (SSRF). A name
	 * that does not resolve now is stored; the notifier checks again before each send.
	 */
	if (target && strcmp(kind, "email")) {
		int rc = col_target_check(json_string_value(target), allow_private, NULL, 0, why,
					  sizeof(why));

		if (rc && rc != CM_EUNAVAIL) {
			api_bad_param(resp, param, "%s", why);
			return CM_EINVAL;
		}
	}
	snprintf(param, sizeof(param), "channels[%zu].secret", i);
	if (secret && (!json_is_string(secret) || strcmp(kind, "webhook") ||
		       !valid_secret(json_string_value(secret)))) {
		api_bad_param(
		    resp, param,
		    "must be a string of 16-256 printable characters (webhook channels only)");
		return CM_EINVAL;
	}
	snprintf(param, sizeof(param), "channels[%zu].enabled", i);
	if (enabled && !json_is_boolean(enabled)) {
		api_bad_param(resp, param, "must be true or false");
		return CM_EINVAL;
	}
	col_p_str(&p, name);
	col_p_str(&p, kind);
	col_p_str(&p, target ? json_string_value(target) : NULL);
	col_p_str(&p, enabled ? (json_is_true(enabled) ? "true" : "false") : NULL);
	col_p_str(&p, secret ? json_string_value(secret) : NULL);
	*err = exec_ok(c, sql, &p, &res);
	if (*err)
		return CM_EIO;
	ok = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!ok) {
		snprintf(param, sizeof(param), "channels[%zu].target", i);
		api_bad_param(resp, param, "is required for a new channel");
		return CM_EINVAL;
	}
	return CM_OK;
}

static int put_rule(struct col_conn *c, struct col_http_resp *resp, json_t *r, size_t i, int *err)
{
	static const char insert_sql[] =
	    "INSERT INTO alert_rules (name, kind, repo_id, workflow_id, branch, params, "
	    "channel_ids, enabled, severity) SELECT $1, $2, "
	    "(SELECT id FROM repositories WHERE full_name = $3), "
	    "$4::bigint, $5, $6::jsonb, ARRAY(SELECT id FROM notification_channels "
	    "WHERE name = ANY ($7::text[]) ORDER BY id), COALESCE($8::boolean, true), "
	    "COALESCE($9, 'critical') RETURNING id";
	static const char update_sql[] =
	    "UPDATE alert_rules SET name = $1, kind = $2, "
	    "repo_id = (SELECT id FROM repositories WHERE full_name = $3), workflow_id = $4::bigint, "
	    "branch = $5, params = $6::jsonb, channel_ids = ARRAY(SELECT id FROM "
	    "notification_channels WHERE name = ANY ($7::text[]) ORDER BY id), "
	    "enabled = COALESCE($8::boolean, enabled), severity = COALESCE($9, severity) "
	    "WHERE id = $10 RETURNING id";
	static const char delete_sql[] = "DELETE FROM alert_rules WHERE id = $1 RETURNING id";
	static const char repo_sql[] = "SELECT 1 FROM repositories WHERE full_name = $1";
	static const char chans_sql[] =
	    "SELECT count(*) FROM notification_channels WHERE name = ANY ($1::text[])";
	const char *name, *kind, *repo, *branch, *why, *severity;
	json_t *id = json_object_get(r, "id"), *wf, *params, *chans, *enabled, *del, *v;
	json_t *pobj = NULL;
	struct col_params p = { .n = 0 };
	struct cm_buf names = CM_BUF_INIT(1 << 16);
	const char *badkey = "";
	char param[96], *ptext = NULL;
	PGresult *res = NULL;
	size_t k;
	int rc = CM_EINVAL;

#define BAD(field, ...)                                                                            \
	do {                                                                                       \
		snprintf(param, sizeof(param), "rules[%zu]" field, i);                             \
		api_bad_param(resp, param, __VA_ARGS__);                                           \
		goto out;                                                                          \
	} while (0)

	if (!json_is_object(r))
		BAD("", "must be an object");
	if (id && (!json_is_integer(id) || json_integer_value(id) < 1))
		BAD(".id", "must be a positive integer");
	del = json_object_get(r, "delete");
	if (del && (!json_is_boolean(del) || (json_is_true(del) && !id)))
		BAD(".delete", "must be true together with an id");
	if (del && json_is_true(del)) {
		col_p_i64(&p, json_integer_value(id));
		if ((*err = exec_ok(c, delete_sql, &p, &res)))
			goto dberr;
		if (PQntuples(res) != 1)
			BAD(".id", "no such rule");
		rc = CM_OK;
		goto out;
	}
	name = json_string_value(json_object_get(r, "name"));
	kind = json_string_value(json_object_get(r, "kind"));
	repo = json_string_value(json_object_get(r, "repo"));
	branch = json_string_value(json_object_get(r, "branch"));
	wf = json_object_get(r, "workflow_id");
	params = json_object_get(r, "params");
	chans = json_object_get(r, "channels");
	enabled = json_object_get(r, "enabled");
	severity = json_string_value(json_object_get(r, "severity"));
	if (json_object_get(r, "severity") &&
	    (!severity || (strcmp(severity, "critical") && strcmp(severity, "warning") &&
			   strcmp(severity, "info"))))
		BAD(".severity", "must be one of critical|warning|info");
	if (!name || !cm_text_valid_utf8(name, strlen(name)) || strlen(name) > 200 || !*name)
		BAD(".name", "must be a non-empty string of at most 200 bytes");
	if (!kind || (strcmp(kind, "failure") && strcmp(kind, "flapping") &&
		      strcmp(kind, "regression") && strcmp(kind, "slow_build")))
		BAD(".kind", "must be one of failure|flapping|regression|slow_build");
	v = json_object_get(r, "repo");
	if (v && !json_is_null(v) && (!repo || !cm_repo_name_valid(repo)))
		BAD(".repo", "must be a repository as owner/name");
	v = json_object_get(r, "branch");
	if (v && !json_is_null(v) &&
	    (!branch || !*branch || strlen(branch) > 255 ||
	     !cm_text_valid_utf8(branch, strlen(branch))))
		BAD(".branch", "must be a branch name");
	if (wf && !json_is_null(wf) && !json_is_integer(wf))
		BAD(".workflow_id", "must be an integer");
	if (wf && json_is_integer(wf) && !repo)
		BAD(".workflow_id", "needs repo");
	/* Without params a rule has {}: checked (kinds that need some refuse it) and stored. */
	pobj = params ? json_incref(params) : json_object();
	why = pobj ? check_params(kind, pobj, &badkey) : "could not be read";
	if (why) {
		snprintf(param, sizeof(param), "rules[%zu].params%s%.40s", i, *badkey ? "." : "",
			 badkey);
		api_bad_param(resp, param, "%s", why);
		goto out;
	}
	if (enabled && !json_is_boolean(enabled))
		BAD(".enabled", "must be true or false");
	if (chans && !json_is_array(chans))
		BAD(".channels", "must be a list of channel names");
	if (cm_buf_addc(&names, '{'))
		BAD(".channels", "too many channels");
	json_array_foreach(chans, k, v)
	{
		const char *cn = json_string_value(v);

		if (!cn || !valid_name(cn))
			BAD(".channels", "must be a list of channel names");
		if ((k && cm_buf_addc(&names, ',')) || cm_buf_adds(&names, cn))
			BAD(".channels", "too many channels");
	}
	if (cm_buf_addc(&names, '}'))
		BAD(".channels", "too many channels");
	if (repo) {
		col_p_str(&p, repo);
		if ((*err = exec_ok(c, repo_sql, &p, &res)))
			goto dberr;
		if (PQntuples(res) != 1)
			BAD(".repo", "unknown repository (register it first)");
		PQclear(res);
		res = NULL;
		p.n = 0;
	}
	col_p_str(&p, cm_buf_str(&names));
	if ((*err = exec_ok(c, chans_sql, &p, &res)))
		goto dberr;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) != (long long)json_array_size(chans))
		BAD(".channels", "names an unknown channel (or one twice)");
	PQclear(res);
	res = NULL;
	ptext = json_dumps(pobj, JSON_COMPACT);
	if (!ptext)
		BAD(".params", "could not be stored");
	p.n = 0;
	col_p_str(&p, name);
	col_p_str(&p, kind);
	col_p_str(&p, repo);
	if (wf && json_is_integer(wf))
		col_p_i64(&p, json_integer_value(wf));
	else
		col_p_str(&p, NULL);
	col_p_str(&p, branch);
	col_p_str(&p, ptext);
	col_p_str(&p, cm_buf_str(&names));
	col_p_str(&p, enabled ? (json_is_true(enabled) ? "true" : "false") : NULL);
	col_p_str(&p, severity);
	if (id)
		col_p_i64(&p, json_integer_value(id));
	if ((*err = exec_ok(c, id ? update_sql : insert_sql, &p, &res)))
		goto dberr;
	if (PQntuples(res) != 1)
		BAD(".id", "no such rule");
	rc = CM_OK;
	goto out;
dberr:
	rc = CM_EIO;
out:
#undef BAD
	json_decref(pobj);
	free(ptext);
	cm_buf_release(&names);
	PQclear(res);
	return rc;
}

void api_alert_settings_post(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_query q;
	struct col_conn *c;
	json_error_t jerr;
	json_t *body, *chans, *rules, *v, *out;
	int err = 0;
	const char *key;
	size_t i;
	int rc = CM_OK;

	if (api_begin(req, resp, API_ADMIN, &q, allowed))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		json_decref(body);
		api_bad_param(resp, "body",
			      "must be a JSON object {\"channels\": [...], \"rules\": [...]}");
		return;
	}
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "channels") && strcmp(key, "rules")) {
			json_decref(body);
			api_bad_param(resp, "body", "unknown key (channels, rules)");
			return;
		}
	}
	chans = json_object_get(body, "channels");
	rules = json_object_get(body, "rules");
	if ((chans && !json_is_array(chans)) || (rules && !json_is_array(rules)) ||
	    json_array_size(chans) + json_array_size(rules) > 1000) {
		/* Named before the body (which owns chans) is freed. */
		api_bad_param(resp, chans && !json_is_array(chans) ? "channels" : "rules",
			      "must be a list (at most 1000 entries in all)");
		json_decref(body);
		return;
	}
	if (api_conn(req, resp, &c)) {
		json_decref(body);
		return;
	}
	/* Channels first, so that rules of the same request can name them. */
	if (col_db_exec(c->pg, "BEGIN"))
		rc = CM_EIO;
	json_array_foreach(chans, i, v)
	{
		if (!rc)
			rc = put_channel(c, resp, v, i, req->ctx->cfg->allow_private_targets, &err);
	}
	json_array_foreach(rules, i, v)
	{
		if (!rc)
			rc = put_rule(c, resp, v, i, &err);
	}
	if (!rc && col_db_exec(c->pg, "COMMIT"))
		rc = CM_EIO;
	if (rc) {
		/* CM_EINVAL: put_* answered 400 naming the field. */
		if (rc != CM_EINVAL)
			api_db_fail(resp, err ? err : rc, "alert settings");
		PQclear(PQexec(c->pg, "ROLLBACK"));
	} else {
		cm_log_info("api", "alert settings changed channels=%zu rules=%zu",
			    json_array_size(chans), json_array_size(rules));
		out = settings_json(c, resp);
		if (out)
			api_reply(resp, 200, out);
	}
	json_decref(body);
	col_db_release(req->ctx->db, c);
}
