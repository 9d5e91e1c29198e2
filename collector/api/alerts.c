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
	int limit, has_cursor, has_from, has_to, rc;

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
	items = api_rows_json(res, limit, api_alert_json);
	api_reply_page(resp, items, res, limit, "alerts", (const int[]){ 0 }, 1);
out:
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

/* The channel names of a rule from their text[] as {a,b}; names are plain words (checked on
 * the way in). */
static json_t *channel_names(const char *array_text)
{
	json_t *names = json_array();
	char *list = strdup(array_text), *save = NULL;

	if (list && strlen(list) >= 2) {
		list[strlen(list) - 1] = '\0';
		for (char *t = strtok_r(list + 1, ",", &save); t && names;
		     t = strtok_r(NULL, ",", &save))
			json_array_append_new(names, json_string(t));
	}
	free(list);
	return names;
}

/* Appends the rules of rres (settings_json's rules_sql) to rules; -1 when out of memory. */
static int rules_json(const PGresult *rres, json_t *rules)
{
	for (int i = 0; i < PQntuples(rres); i++) {
		json_t *it = json_object(), *params = json_loads(PQgetvalue(rres, i, 6), 0, NULL);
		json_t *names = channel_names(PQgetvalue(rres, i, 9));

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
			return -1;
	}
	return 0;
}

/* Appends the channels of cres (settings_json's channels_sql) to chans; -1 when out of memory.
 * Targets are secrets: only whether one is set. */
static int channels_json(const PGresult *cres, json_t *chans)
{
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
			return -1;
	}
	return 0;
}

/* {"rules": [...], "channels": [...]} as stored; NULL on a database error (resp answered). */
static json_t *settings_json(struct col_conn *c, struct col_http_resp *resp)
{
	/* clang-format off */
	static const char rules_sql[] =
	    "SELECT a.id, a.name, a.kind, r.full_name, a.workflow_id, a.branch, a.params::text, "
	    "a.enabled, " API_MS("a.created_at") ", "
	    "ARRAY(SELECT n.name FROM notification_channels n WHERE n.id = ANY (a.channel_ids) "
	    "  ORDER BY n.name)::text, a.severity "
	    "FROM alert_rules a LEFT JOIN repositories r ON r.id = a.repo_id ORDER BY a.id";
	static const char channels_sql[] =
	    "SELECT id, name, kind, enabled, has_target, " API_MS("created_at") ", "
	    "has_secret, origin FROM notification_channels ORDER BY name";
	/* clang-format on */
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
	    api_set(out, "channels", json_incref(chans)) || rules_json(rres, rules) ||
	    channels_json(cres, chans)) {
		col_http_error(resp, 500, "internal", "out of memory");
		goto fail;
	}
	PQclear(rres);
	PQclear(cres);
	json_decref(rules);
	json_decref(chans);
	return out;
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

/* Answers 400 naming LIST[i]FIELD (e.g. "rules[2].name") with msg; returns CM_EINVAL. */
static int bad_field(struct col_http_resp *resp, const char *list, size_t i, const char *field,
		     const char *msg)
{
	char param[128];

	snprintf(param, sizeof(param), "%s[%zu]%s", list, i, field);
	api_bad_param(resp, param, "%s", msg);
	return CM_EINVAL;
}

/* Where the collector would post to: never its own network unless allowed (SSRF). A name that
 * does not resolve now is accepted; the notifier checks again before each send. */
static int check_channel_target(struct col_http_resp *resp, size_t i, const char *kind,
				json_t *target, int allow_private)
{
	char why[160];
	int rc;

	if (!json_is_string(target) || !valid_target(kind, json_string_value(target)))
		return bad_field(resp, "channels", i, ".target",
				 "must be an http(s) URL (an e-mail address for email)");
	if (!strcmp(kind, "email"))
		return CM_OK;
	rc = col_target_check(json_string_value(target), allow_private, NULL, 0, why, sizeof(why));
	if (rc && rc != CM_EUNAVAIL)
		return bad_field(resp, "channels", i, ".target", why);
	return CM_OK;
}

/* Checks one channel of a POST; on bad input answers 400 and returns CM_EINVAL. */
static int check_channel(struct col_http_resp *resp, json_t *ch, size_t i, int allow_private)
{
	const char *name = json_string_value(json_object_get(ch, "name"));
	const char *kind = json_string_value(json_object_get(ch, "kind"));
	json_t *target = json_object_get(ch, "target"), *enabled = json_object_get(ch, "enabled");
	json_t *secret = json_object_get(ch, "secret");

	if (!json_is_object(ch))
		return bad_field(resp, "channels", i, "", "must be an object");
	if (!name || !valid_name(name))
		return bad_field(resp, "channels", i, ".name",
				 "must be 1-100 of A-Z a-z 0-9 . _ -");
	if (!kind || (strcmp(kind, "slack") && strcmp(kind, "email") && strcmp(kind, "teams") &&
		      strcmp(kind, "webhook")))
		return bad_field(resp, "channels", i, ".kind",
				 "must be one of slack|email|teams|webhook");
	if (target && check_channel_target(resp, i, kind, target, allow_private))
		return CM_EINVAL;
	if (secret && (!json_is_string(secret) || strcmp(kind, "webhook") ||
		       !valid_secret(json_string_value(secret))))
		return bad_field(
		    resp, "channels", i, ".secret",
		    "must be a string of 16-256 printable characters (webhook channels only)");
	if (enabled && !json_is_boolean(enabled))
		return bad_field(resp, "channels", i, ".enabled", "must be true or false");
	return CM_OK;
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
	json_t *target = json_object_get(ch, "target"), *enabled = json_object_get(ch, "enabled");
	json_t *secret = json_object_get(ch, "secret");
	struct col_params p = { .n = 0 };
	PGresult *res = NULL;
	int ok;

	if (check_channel(resp, ch, i, allow_private))
		return CM_EINVAL;
	col_p_str(&p, json_string_value(json_object_get(ch, "name")));
	col_p_str(&p, json_string_value(json_object_get(ch, "kind")));
	col_p_str(&p, target ? json_string_value(target) : NULL);
	col_p_str(&p, enabled ? (json_is_true(enabled) ? "true" : "false") : NULL);
	col_p_str(&p, secret ? json_string_value(secret) : NULL);
	*err = exec_ok(c, sql, &p, &res);
	if (*err)
		return CM_EIO;
	ok = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!ok)
		return bad_field(resp, "channels", i, ".target", "is required for a new channel");
	return CM_OK;
}

/* A rule of a POST, its fields read (not owned, but pobj: the params to store, a reference). */
struct rule_in {
	json_t *id, *wf, *chans, *enabled, *pobj;
	const char *name, *kind, *repo, *branch, *severity;
};

/* Deletes rule r.id ({"id": N, "delete": true}); 400 when there is no such rule. */
static int delete_rule(struct col_conn *c, struct col_http_resp *resp, json_t *id, size_t i,
		       int *err)
{
	static const char sql[] = "DELETE FROM alert_rules WHERE id = $1 RETURNING id";
	struct col_params p = { .n = 0 };
	PGresult *res = NULL;
	int found;

	col_p_i64(&p, json_integer_value(id));
	*err = exec_ok(c, sql, &p, &res);
	if (*err)
		return CM_EIO;
	found = PQntuples(res) == 1;
	PQclear(res);
	return found ? CM_OK : bad_field(resp, "rules", i, ".id", "no such rule");
}

/* Reads and checks the scalar fields of rule r into in (not its params or channels). */
static int check_rule_fields(struct col_http_resp *resp, json_t *r, size_t i, struct rule_in *in)
{
	json_t *v;

	in->name = json_string_value(json_object_get(r, "name"));
	in->kind = json_string_value(json_object_get(r, "kind"));
	in->repo = json_string_value(json_object_get(r, "repo"));
	in->branch = json_string_value(json_object_get(r, "branch"));
	in->wf = json_object_get(r, "workflow_id");
	in->chans = json_object_get(r, "channels");
	in->enabled = json_object_get(r, "enabled");
	in->severity = json_string_value(json_object_get(r, "severity"));
	if (json_object_get(r, "severity") &&
	    (!in->severity || (strcmp(in->severity, "critical") &&
			       strcmp(in->severity, "warning") && strcmp(in->severity, "info"))))
		return bad_field(resp, "rules", i, ".severity",
				 "must be one of critical|warning|info");
	if (!in->name || !cm_text_valid_utf8(in->name, strlen(in->name)) ||
	    strlen(in->name) > 200 || !*in->name)
		return bad_field(resp, "rules", i, ".name",
				 "must be a non-empty string of at most 200 bytes");
	if (!in->kind || (strcmp(in->kind, "failure") && strcmp(in->kind, "flapping") &&
			  strcmp(in->kind, "regression") && strcmp(in->kind, "slow_build")))
		return bad_field(resp, "rules", i, ".kind",
				 "must be one of failure|flapping|regression|slow_build");
	v = json_object_get(r, "repo");
	if (v && !json_is_null(v) && (!in->repo || !cm_repo_name_valid(in->repo)))
		return bad_field(resp, "rules", i, ".repo", "must be a repository as owner/name");
	v = json_object_get(r, "branch");
	if (v && !json_is_null(v) &&
	    (!in->branch || !*in->branch || strlen(in->branch) > 255 ||
	     !cm_text_valid_utf8(in->branch, strlen(in->branch))))
		return bad_field(resp, "rules", i, ".branch", "must be a branch name");
	if (in->wf && !json_is_null(in->wf) && !json_is_integer(in->wf))
		return bad_field(resp, "rules", i, ".workflow_id", "must be an integer");
	if (in->wf && json_is_integer(in->wf) && !in->repo)
		return bad_field(resp, "rules", i, ".workflow_id", "needs repo");
	return CM_OK;
}

/* Checks the params of rule r into in->pobj (a new reference; {} without params). */
static int check_rule_params(struct col_http_resp *resp, json_t *r, size_t i, struct rule_in *in)
{
	json_t *params = json_object_get(r, "params");
	const char *badkey = "", *why;
	char field[64];

	/* Without params a rule has {}: checked (kinds that need some refuse it) and stored. */
	in->pobj = params ? json_incref(params) : json_object();
	why = in->pobj ? check_params(in->kind, in->pobj, &badkey) : "could not be read";
	if (!why)
		return CM_OK;
	snprintf(field, sizeof(field), ".params%s%.40s", *badkey ? "." : "", badkey);
	return bad_field(resp, "rules", i, field, why);
}

/* The channel names of in as a text[] literal {a,b} in names. */
static int rule_channel_names(struct col_http_resp *resp, const struct rule_in *in, size_t i,
			      struct cm_buf *names)
{
	size_t k;
	json_t *v;

	if (in->chans && !json_is_array(in->chans))
		return bad_field(resp, "rules", i, ".channels", "must be a list of channel names");
	if (cm_buf_addc(names, '{'))
		return bad_field(resp, "rules", i, ".channels", "too many channels");
	json_array_foreach(in->chans, k, v)
	{
		const char *cn = json_string_value(v);

		if (!cn || !valid_name(cn))
			return bad_field(resp, "rules", i, ".channels",
					 "must be a list of channel names");
		if ((k && cm_buf_addc(names, ',')) || cm_buf_adds(names, cn))
			return bad_field(resp, "rules", i, ".channels", "too many channels");
	}
	if (cm_buf_addc(names, '}'))
		return bad_field(resp, "rules", i, ".channels", "too many channels");
	return CM_OK;
}

/* Checks that the repository and the channels that in names exist. */
static int check_rule_refs(struct col_conn *c, struct col_http_resp *resp, const struct rule_in *in,
			   size_t i, const char *names, int *err)
{
	static const char repo_sql[] = "SELECT 1 FROM repositories WHERE full_name = $1";
	static const char chans_sql[] =
	    "SELECT count(*) FROM notification_channels WHERE name = ANY ($1::text[])";
	struct col_params p = { .n = 0 };
	PGresult *res = NULL;
	int ok;

	if (in->repo) {
		col_p_str(&p, in->repo);
		if ((*err = exec_ok(c, repo_sql, &p, &res)))
			return CM_EIO;
		ok = PQntuples(res) == 1;
		PQclear(res);
		if (!ok)
			return bad_field(resp, "rules", i, ".repo",
					 "unknown repository (register it first)");
		p.n = 0;
	}
	col_p_str(&p, names);
	if ((*err = exec_ok(c, chans_sql, &p, &res)))
		return CM_EIO;
	ok = strtoll(PQgetvalue(res, 0, 0), NULL, 10) == (long long)json_array_size(in->chans);
	PQclear(res);
	if (!ok)
		return bad_field(resp, "rules", i, ".channels",
				 "names an unknown channel (or one twice)");
	return CM_OK;
}

/* Inserts the rule in, or updates rule in->id. */
static int store_rule(struct col_conn *c, struct col_http_resp *resp, const struct rule_in *in,
		      size_t i, const char *names, int *err)
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
	struct col_params p = { .n = 0 };
	char *ptext = json_dumps(in->pobj, JSON_COMPACT);
	PGresult *res = NULL;
	int found;

	if (!ptext)
		return bad_field(resp, "rules", i, ".params", "could not be stored");
	col_p_str(&p, in->name);
	col_p_str(&p, in->kind);
	col_p_str(&p, in->repo);
	if (in->wf && json_is_integer(in->wf))
		col_p_i64(&p, json_integer_value(in->wf));
	else
		col_p_str(&p, NULL);
	col_p_str(&p, in->branch);
	col_p_str(&p, ptext);
	col_p_str(&p, names);
	col_p_str(&p, in->enabled ? (json_is_true(in->enabled) ? "true" : "false") : NULL);
	col_p_str(&p, in->severity);
	if (in->id)
		col_p_i64(&p, json_integer_value(in->id));
	*err = exec_ok(c, in->id ? update_sql : insert_sql, &p, &res);
	free(ptext);
	if (*err)
		return CM_EIO;
	found = PQntuples(res) == 1;
	PQclear(res);
	return found ? CM_OK : bad_field(resp, "rules", i, ".id", "no such rule");
}

/* Applies one rule (create, update by id, or delete); on bad input answers 400, CM_EINVAL. */
static int put_rule(struct col_conn *c, struct col_http_resp *resp, json_t *r, size_t i, int *err)
{
	struct rule_in in = { .id = json_object_get(r, "id") };
	struct cm_buf names = CM_BUF_INIT(1 << 16);
	json_t *del;
	int rc;

	if (!json_is_object(r))
		return bad_field(resp, "rules", i, "", "must be an object");
	if (in.id && (!json_is_integer(in.id) || json_integer_value(in.id) < 1))
		return bad_field(resp, "rules", i, ".id", "must be a positive integer");
	del = json_object_get(r, "delete");
	if (del && (!json_is_boolean(del) || (json_is_true(del) && !in.id)))
		return bad_field(resp, "rules", i, ".delete", "must be true together with an id");
	if (del && json_is_true(del))
		return delete_rule(c, resp, in.id, i, err);
	rc = check_rule_fields(resp, r, i, &in);
	if (!rc)
		rc = check_rule_params(resp, r, i, &in);
	if (!rc && in.enabled && !json_is_boolean(in.enabled))
		rc = bad_field(resp, "rules", i, ".enabled", "must be true or false");
	if (!rc)
		rc = rule_channel_names(resp, &in, i, &names);
	if (!rc)
		rc = check_rule_refs(c, resp, &in, i, cm_buf_str(&names), err);
	if (!rc)
		rc = store_rule(c, resp, &in, i, cm_buf_str(&names), err);
	json_decref(in.pobj);
	cm_buf_release(&names);
	return rc;
}

/* The body of a POST: {"channels": [...], "rules": [...]}, both optional; NULL when it is not
 * one (400 answered). */
static json_t *settings_body(const struct col_http_req *req, struct col_http_resp *resp)
{
	json_error_t jerr;
	json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *chans, *rules, *v;
	const char *key;

	if (!json_is_object(body)) {
		json_decref(body);
		api_bad_param(resp, "body",
			      "must be a JSON object {\"channels\": [...], \"rules\": [...]}");
		return NULL;
	}
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "channels") && strcmp(key, "rules")) {
			json_decref(body);
			api_bad_param(resp, "body", "unknown key (channels, rules)");
			return NULL;
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
		return NULL;
	}
	return body;
}

void api_alert_settings_post(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_query q;
	struct col_conn *c;
	json_t *body, *chans, *rules, *v, *out;
	int err = 0;
	size_t i;
	int rc = CM_OK;
	struct col_principal who;

	if (api_begin_as(req, resp, API_MAINTAIN, &q, allowed, &who) ||
	    api_need_all(req, resp, "alert rules and channels"))
		return;
	body = settings_body(req, resp);
	if (!body)
		return;
	chans = json_object_get(body, "channels");
	rules = json_object_get(body, "rules");
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
	/* What was asked for, destinations and secrets redacted. */
	if (!rc && api_audit(c, req, &who, "alert_settings.update", "", NULL,
			     api_redact(json_deep_copy(body))))
		rc = CM_EIO;
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
