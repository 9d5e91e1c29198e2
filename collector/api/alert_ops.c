/*
 * One alert with its deliveries (GET /api/v1/alerts/{id}), acknowledging it (POST
 * /api/v1/alerts/{id}/ack, admin), a test message to a channel (POST
 * /api/v1/settings/alerts/test, admin; a slow route) and silences (GET/POST
 * /api/v1/silences, DELETE /api/v1/silences/{id}). Channel targets never appear in replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "alert/notify.h"
#include "api/api_int.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"

static int alert_fields(json_t *it, const PGresult *res, int i)
{
	json_t *details = json_loads(PQgetvalue(res, i, 10), 0, NULL);

	return api_set(it, "id", api_col_int(res, i, 0)) ||
	       api_set(it, "rule_id", api_col_int(res, i, 1)) ||
	       api_set(it, "kind", api_col_str(res, i, 2)) ||
	       api_set(it, "repo", api_col_str(res, i, 3)) ||
	       api_set(it, "workflow_id", api_col_int(res, i, 4)) ||
	       api_set(it, "branch", api_col_str(res, i, 5)) ||
	       api_set(it, "run_id", api_col_int(res, i, 6)) ||
	       api_set(it, "run_attempt", api_col_int(res, i, 7)) ||
	       api_set(it, "state", api_col_str(res, i, 8)) ||
	       api_set(it, "summary", api_col_str(res, i, 9)) ||
	       api_set(it, "details", details ? details : json_object()) ||
	       api_set(it, "opened_at", api_col_time(res, i, 11)) ||
	       api_set(it, "resolved_at", api_col_time(res, i, 12)) ||
	       api_set(it, "severity", api_col_str(res, i, 13)) ||
	       api_set(it, "run_count", api_col_int(res, i, 14)) ||
	       api_set(it, "acked_at", api_col_time(res, i, 15));
}

json_t *api_alert_json(const PGresult *res, int row)
{
	json_t *it = json_object();

	if (!it || alert_fields(it, res, row)) {
		json_decref(it);
		return NULL;
	}
	return it;
}

void api_alert_get(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	/* clang-format off */
	static const char sql[] = "SELECT " API_ALERT_COLS " FROM alerts a "
				  "JOIN repositories r ON r.id = a.repo_id WHERE a.id = $1";
	static const char deliveries_sql[] =
		"SELECT n.id, c.name, c.kind, n.event, n.state, n.attempts, n.last_status, "
		"n.last_error, " API_MS("n.created_at") ", " API_MS("n.sent_at") ", "
		API_MS("n.next_attempt_at")
		" FROM notifications n JOIN notification_channels c ON c.id = n.channel_id "
		"WHERE n.alert_id = $1 ORDER BY n.id";
	/* clang-format on */
	struct col_params p = { .n = 0 };
	int qrc;
	struct col_query q;
	struct col_conn *c;
	PGresult *res = NULL, *dres = NULL;
	json_t *out = NULL, *list;
	int64_t id;

	if (api_path_id(req->path, "/api/v1/alerts/", "", &id)) {
		col_http_error(resp, 404, "not_found", "no such resource (expected an alert id)");
		return;
	}
	if (api_begin(req, resp, API_READ, &q, allowed) || api_conn(req, resp, &c))
		return;
	col_p_i64(&p, id);
	res = col_db_query(c, "alert", sql, p.n, p.v, &qrc);
	if (!res) {
		api_db_fail(resp, qrc, "alert");
		goto out;
	}
	if (PQntuples(res) != 1) {
		api_not_found(resp, "alert");
		goto out;
	}
	dres = col_db_query(c, "deliveries", deliveries_sql, p.n, p.v, &qrc);
	if (!dres) {
		api_db_fail(resp, qrc, "deliveries");
		goto out;
	}
	out = api_alert_json(res, 0);
	list = json_array();
	if (!out || !list || api_set(out, "deliveries", list)) {
		json_decref(out);
		col_http_error(resp, 500, "internal", "out of memory");
		goto out;
	}
	for (int i = 0; i < PQntuples(dres); i++) {
		json_t *d = json_object();

		if (!d || json_array_append_new(list, d) ||
		    api_set(d, "id", api_col_int(dres, i, 0)) ||
		    api_set(d, "channel", api_col_str(dres, i, 1)) ||
		    api_set(d, "kind", api_col_str(dres, i, 2)) ||
		    api_set(d, "event", api_col_str(dres, i, 3)) ||
		    api_set(d, "state", api_col_str(dres, i, 4)) ||
		    api_set(d, "attempts", api_col_int(dres, i, 5)) ||
		    api_set(d, "last_status", api_col_int(dres, i, 6)) ||
		    api_set(d, "last_error", api_col_str(dres, i, 7)) ||
		    api_set(d, "created_at", api_col_time(dres, i, 8)) ||
		    api_set(d, "sent_at", api_col_time(dres, i, 9)) ||
		    api_set(d, "next_attempt_at", api_col_time(dres, i, 10))) {
			json_decref(out);
			col_http_error(resp, 500, "internal", "out of memory");
			goto out;
		}
	}
	api_reply(resp, 200, out);
out:
	PQclear(res);
	PQclear(dres);
	col_db_release(req->ctx->db, c);
}

void api_alert_ack(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	/* clang-format off */
	static const char sql[] =
		"WITH u AS (UPDATE alerts SET acked_at = COALESCE(acked_at, now()), updated_at = now() "
		"  WHERE id = $1 RETURNING *) "
		"SELECT " API_ALERT_COLS " FROM u a JOIN repositories r ON r.id = a.repo_id";
	/* clang-format on */
	struct col_principal who;
	char target[32];
	struct col_params p = { .n = 0 };
	int qrc;
	struct col_query q;
	struct col_conn *c;
	PGresult *res;
	json_t *out;
	int64_t id;

	if (api_path_id(req->path, "/api/v1/alerts/", "/ack", &id)) {
		col_http_error(resp, 404, "not_found",
			       "no such resource (expected /alerts/{id}/ack)");
		return;
	}
	if (api_begin_as(req, resp, API_MAINTAIN, &q, allowed, &who) || api_conn(req, resp, &c))
		return;
	col_p_i64(&p, id);
	snprintf(target, sizeof(target), "alert:%lld", (long long)id);
	qrc = col_db_exec(c->pg, "BEGIN");
	res = qrc ? NULL : col_db_query(c, "alert", sql, p.n, p.v, &qrc);
	if (res && PQntuples(res) == 1 &&
	    (api_audit(c, req, &who, "alert.ack", target, NULL, NULL) ||
	     col_db_exec(c->pg, "COMMIT"))) {
		PQclear(res);
		res = NULL;
		qrc = CM_EIO;
	}
	if (!res) {
		api_db_fail(resp, qrc, "alert");
	} else if (PQntuples(res) != 1) {
		api_not_found(resp, "alert");
	} else {
		out = api_alert_json(res, 0);
		if (out)
			api_reply(resp, 200, out);
		else
			col_http_error(resp, 500, "internal", "out of memory");
		cm_log_info("api", "alert acknowledged id=%lld", (long long)id);
	}
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

void api_alert_test(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_notify_result res;
	struct col_query q;
	json_error_t jerr;
	json_t *body, *out;
	const char *name, *key;
	json_t *v;
	int rc;

	if (api_begin(req, resp, API_MAINTAIN, &q, allowed) ||
	    api_need_all(req, resp, "test messages to a channel"))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	name = json_string_value(json_object_get(body, "channel"));
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "channel"))
			name = NULL;
	}
	if (!json_is_object(body) || !name || !*name || strlen(name) > 100) {
		json_decref(body);
		api_bad_param(resp, "channel", "must be {\"channel\": NAME} naming a channel");
		return;
	}
	rc = col_alert_send_test(req->ctx, name, &res);
	if (rc == CM_ENOTFOUND) {
		api_not_found(resp, "channel");
	} else if (rc == CM_EUNAVAIL && !res.status && !res.error[0]) {
		col_http_error(resp, 503, "unavailable", "database unavailable");
	} else {
		out = json_pack("{s:s, s:b, s:o, s:o}", "channel", name, "delivered", rc == CM_OK,
				"status", res.status ? json_integer(res.status) : json_null(),
				"error", res.error[0] ? json_string(res.error) : json_null());
		if (out)
			api_reply(resp, 200, out);
		else
			col_http_error(resp, 500, "internal", "out of memory");
	}
	json_decref(body);
}

/* ---- silences ---- */

/* clang-format off */
#define SILENCE_COLS                                                                           \
	"s.id, r.full_name, s.workflow_id, s.branch, s.kind, " API_MS("s.until") ", s.comment, " \
	API_MS("s.created_at") ", s.until > now()"
/* clang-format on */

static json_t *silence_json(const PGresult *res, int i)
{
	json_t *it = json_object();

	if (!it || api_set(it, "id", api_col_int(res, i, 0)) ||
	    api_set(it, "repo", api_col_str(res, i, 1)) ||
	    api_set(it, "workflow_id", api_col_int(res, i, 2)) ||
	    api_set(it, "branch", api_col_str(res, i, 3)) ||
	    api_set(it, "kind", api_col_str(res, i, 4)) ||
	    api_set(it, "until", api_col_time(res, i, 5)) ||
	    api_set(it, "comment", api_col_str(res, i, 6)) ||
	    api_set(it, "created_at", api_col_time(res, i, 7)) ||
	    api_set(it, "active", api_col_bool(res, i, 8))) {
		json_decref(it);
		return NULL;
	}
	return it;
}

void api_silences_list(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	/* clang-format off */
	static const char sql[] = "SELECT " SILENCE_COLS " FROM silences s "
				  "LEFT JOIN repositories r ON r.id = s.repo_id ORDER BY s.id DESC "
				  "LIMIT 1000";
	/* clang-format on */
	struct col_query q;
	struct col_conn *c;
	PGresult *res;
	json_t *items;
	int qrc;

	if (api_begin(req, resp, API_READ, &q, allowed) || api_conn(req, resp, &c))
		return;
	res = col_db_query(c, "silences", sql, 0, NULL, &qrc);
	if (!res) {
		api_db_fail(resp, qrc, "silences");
	} else {
		items = api_rows_json(res, -1, silence_json);
		if (items)
			api_reply(resp, 200, api_page(items, NULL));
		else
			col_http_error(resp, 500, "internal", "out of memory");
	}
	PQclear(res);
	col_db_release(req->ctx->db, c);
}

void api_silence_create(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	char target[40];
	/* clang-format off */
	static const char sql[] =
		"WITH s AS (INSERT INTO silences (repo_id, workflow_id, branch, kind, until, comment) "
		"VALUES ($1::bigint, $2::bigint, $3, $4, " API_TS_US("$5") ", COALESCE($6, '')) "
		"RETURNING *) SELECT " SILENCE_COLS " FROM s LEFT JOIN repositories r "
		"ON r.id = s.repo_id";
	/* clang-format on */
	static const char *const keys[] = { "repo",  "workflow_id", "branch", "kind",
					    "until", "comment",	    NULL };
	struct col_params p = { .n = 0 };
	int qrc;
	struct col_query q;
	struct col_conn *c;
	json_error_t jerr;
	json_t *body, *v, *out;
	/* clang-format off */
	const char *key, *repo, *branch, *kind, *until, *comment;
	int64_t repo_id = 0, until_ms;
	PGresult *res = NULL;

	if (api_begin_as(req, resp, API_MAINTAIN, &q, allowed, &who))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(body)) {
		json_decref(body);
		api_bad_param(resp, "body", "must be a JSON object {\"until\": TIME, ...}");
		return;
	}
	json_object_foreach(body, key, v) {
		size_t k;

		for (k = 0; keys[k] && strcmp(keys[k], key); k++)
			;
		if (!keys[k]) {
			json_decref(body);
			api_bad_param(resp, "body",
				      "unknown key (repo, workflow_id, branch, kind, until, comment)");
			return;
		}
	}
	repo = json_string_value(json_object_get(body, "repo"));
	branch = json_string_value(json_object_get(body, "branch"));
	kind = json_string_value(json_object_get(body, "kind"));
	until = json_string_value(json_object_get(body, "until"));
	comment = json_string_value(json_object_get(body, "comment"));
	v = json_object_get(body, "workflow_id");
#define BAD(field, msg)                                                                         \
	do {                                                                                    \
		api_bad_param(resp, field, msg);                                                \
		json_decref(body);                                                              \
		return;                                                                         \
	} while (0)
	if (json_object_get(body, "repo") && (!repo || !cm_repo_name_valid(repo)))
		BAD("repo", "must be a repository as owner/name");
	if (v && !json_is_null(v) && (!json_is_integer(v) || !repo))
		BAD("workflow_id", "must be an integer (with repo)");
	if (json_object_get(body, "branch") &&
	    (!branch || !*branch || strlen(branch) > 255 || !cm_text_valid_utf8(branch,
									   strlen(branch))))
		BAD("branch", "must be a branch name");
	if (json_object_get(body, "kind") &&
	    (!kind || (strcmp(kind, "failure") && strcmp(kind, "flapping") &&
		       strcmp(kind, "regression") && strcmp(kind, "slow_build"))))
		BAD("kind", "must be one of failure|flapping|regression|slow_build");
	if (!until || cm_time_parse_iso8601(until, &until_ms) || until_ms <= cm_time_now_ms())
		BAD("until", "must be a time in the future (ISO 8601)");
	if (json_object_get(body, "comment") &&
	    (!comment || strlen(comment) > 1000 || !cm_text_valid_utf8(comment, strlen(comment))))
		BAD("comment", "must be a string of at most 1000 bytes");
/* clang-format on */
#undef BAD
	/* A silence without a repository mutes alerts of every repository. */
	if ((!repo && api_need_all(req, resp, "silences without a repository")) ||
	    api_conn(req, resp, &c)) {
		json_decref(body);
		return;
	}
	if (repo && api_lookup_repo(resp, c, repo, &repo_id))
		goto out;
	col_p_opt_i64(&p, repo != NULL, repo_id);
	col_p_opt_i64(&p, v && json_is_integer(v), v ? json_integer_value(v) : 0);
	col_p_str(&p, branch);
	col_p_str(&p, kind);
	col_p_i64(&p, until_ms * 1000);
	col_p_str(&p, comment);
	qrc = col_db_exec(c->pg, "BEGIN");
	res = qrc ? NULL : col_db_query(c, "silence", sql, p.n, p.v, &qrc);
	if (!res) {
		api_db_fail(resp, qrc, "silence");
		goto out;
	}
	out = PQntuples(res) == 1 ? silence_json(res, 0) : NULL;
	snprintf(target, sizeof(target), "silence:%s", out ? PQgetvalue(res, 0, 0) : "");
	if (out &&
	    ((qrc = api_audit(c, req, &who, "silence.create", target, NULL, json_deep_copy(out))) ||
	     (qrc = col_db_exec(c->pg, "COMMIT")))) {
		json_decref(out);
		api_db_fail(resp, qrc, "silence");
	} else if (out) {
		cm_log_info("api", "silence created id=%s", PQgetvalue(res, 0, 0));
		api_reply(resp, 201, out);
	} else {
		col_http_error(resp, 500, "internal", "out of memory");
	}
out:
	PQclear(res);
	json_decref(body);
	col_db_release(req->ctx->db, c);
}

void api_silence_delete(const struct col_http_req *req, struct col_http_resp *resp)
{
	/* clang-format off */
	static const char del_sql[] =
		"DELETE FROM silences s USING silences o LEFT JOIN repositories r "
		"ON r.id = o.repo_id WHERE s.id = $1 AND o.id = s.id "
		/* a silence of every repository: only for who reads every repository */
		"AND (o.repo_id IS NOT NULL OR $2) RETURNING "
		"o.id, r.full_name, o.workflow_id, o.branch, o.kind, " API_MS("o.until") ", "
		"o.comment, " API_MS("o.created_at") ", o.until > now()";
	/* clang-format on */
	static const char *const allowed[] = { NULL };
	struct col_principal who;
	char target[40];
	struct col_params p = { .n = 0 };
	int qrc;
	struct col_query q;
	struct col_conn *c;
	PGresult *res;
	int64_t id;

	if (api_path_id(req->path, "/api/v1/silences/", "", &id)) {
		col_http_error(resp, 404, "not_found", "no such resource (expected a silence id)");
		return;
	}
	if (api_begin_as(req, resp, API_MAINTAIN, &q, allowed, &who) || api_conn(req, resp, &c))
		return;
	col_p_i64(&p, id);
	col_p_bool(&p, api_sees_all(req));
	snprintf(target, sizeof(target), "silence:%lld", (long long)id);
	qrc = col_db_exec(c->pg, "BEGIN");
	res = qrc ? NULL : col_db_query(c, "silence", del_sql, p.n, p.v, &qrc);
	if (res && PQntuples(res) == 1 &&
	    ((qrc =
		  api_audit(c, req, &who, "silence.delete", target, silence_json(res, 0), NULL)) ||
	     (qrc = col_db_exec(c->pg, "COMMIT")))) {
		PQclear(res);
		res = NULL;
	}
	if (!res) {
		api_db_fail(resp, qrc, "silence");
	} else if (PQntuples(res) != 1) {
		api_not_found(resp, "silence");
	} else {
		cm_log_info("api", "silence deleted id=%lld", (long long)id);
		api_reply(resp, 200, json_pack("{s:I}", "deleted", (json_int_t)id));
	}
	PQclear(res);
	col_db_release(req->ctx->db, c);
}
