#include "github/installation.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"

/* One repository of a delivery, checked before anything is written. */
struct inst_repo {
	int64_t id;
	const char *full_name;
};

struct inst_counts {
	int registered, restored, retired, skipped;
};

/* The repositories of list (absent: none) into *out, each with an id and a name GitHub allows. */
static int read_repos(json_t *list, struct inst_repo **out, size_t *n, char *why, size_t wsize)
{
	size_t i;
	json_t *r;

	*out = NULL;
	*n = 0;
	if (!list || json_is_null(list))
		return CM_OK;
	if (!json_is_array(list)) {
		snprintf(why, wsize, "a repository list is not an array");
		return CM_EINVAL;
	}
	if (!json_array_size(list))
		return CM_OK;
	*out = calloc(json_array_size(list), sizeof(**out));
	if (!*out)
		return CM_ENOMEM;
	json_array_foreach(list, i, r)
	{
		json_t *id = json_object_get(r, "id");
		const char *name = json_string_value(json_object_get(r, "full_name"));

		if (!json_is_integer(id) || json_integer_value(id) <= 0 || !name ||
		    strlen(name) > 255 || !cm_repo_name_valid(name)) {
			snprintf(why, wsize, "repository %zu has no id or no valid full_name", i);
			free(*out);
			*out = NULL;
			return CM_EINVAL;
		}
		(*out)[i].id = (int64_t)json_integer_value(id);
		(*out)[i].full_name = name;
	}
	*n = json_array_size(list);
	return CM_OK;
}

static int run(struct col_conn *c, const char *sql, struct col_params *p, PGresult **out)
{
	int rc;
	PGresult *res = col_db_query(c, "installation", sql, p->n, p->v, &rc);

	if (!res)
		return rc;
	if (out)
		*out = res;
	else
		PQclear(res);
	return CM_OK;
}

/* Registers (add) or retires the repositories r of installation inst, counting into k. */
static int each_repo(struct col_conn *c, int64_t inst, const struct inst_repo *r, size_t n, int add,
		     struct inst_counts *k)
{
	for (size_t i = 0; i < n; i++) {
		struct col_params p;
		PGresult *res = NULL;
		const char *what;
		int rc;

		col_params_init(&p);
		col_p_i64(&p, inst);
		col_p_i64(&p, r[i].id);
		if (add)
			col_p_str(&p, r[i].full_name);
		rc = run(
		    c,
		    add ? "SELECT cipulse_installation_add_repo($1::bigint, $2::bigint, $3)"
			: "SELECT cipulse_installation_retire_repo($1::bigint, $2::bigint)::text",
		    &p, &res);
		if (rc)
			return rc;
		what = PQgetvalue(res, 0, 0);
		if (!add)
			k->retired += !strcmp(what, "true");
		else if (!strcmp(what, "skipped")) {
			k->skipped++;
			cm_log_info("webhook",
				    "repository not taken by installation installation=%" PRId64
				    " repo=%s: another installation or repository holds it",
				    inst, r[i].full_name);
		} else if (!strcmp(what, "restored")) {
			k->restored++;
		} else if (strcmp(what, "kept")) {
			k->registered++;
		}
		PQclear(res);
	}
	return CM_OK;
}

/* The writes of one delivery, inside its transaction. */
static int apply(struct col_conn *c, const char *event, const char *action, int64_t inst,
		 const char *login, const char *type, const struct inst_repo *add, size_t nadd,
		 const struct inst_repo *del, size_t ndel, struct inst_counts *k)
{
	struct col_params p;
	PGresult *res = NULL;
	int rc;

	col_params_init(&p);
	col_p_i64(&p, inst);
	col_p_str(&p, login);
	col_p_str(&p, type);
	rc = run(c,
		 "INSERT INTO github_installations (id, account_login, account_type) "
		 "VALUES ($1::bigint, $2, $3) ON CONFLICT (id) DO UPDATE SET "
		 "account_login = EXCLUDED.account_login, account_type = EXCLUDED.account_type, "
		 "updated_at = now()",
		 &p, NULL);
	if (rc)
		return rc;
	col_params_init(&p);
	col_p_i64(&p, inst);
	if (!strcmp(event, "installation")) {
		if (!strcmp(action, "created"))
			rc = run(c,
				 "UPDATE github_installations SET removed_at = NULL, "
				 "suspended_at = NULL, updated_at = now() WHERE id = $1::bigint",
				 &p, NULL);
		else if (!strcmp(action, "deleted")) {
			rc = run(c,
				 "UPDATE github_installations SET removed_at = now(), "
				 "updated_at = now() WHERE id = $1::bigint",
				 &p, NULL);
			if (!rc)
				rc = run(
				    c,
				    "UPDATE repositories SET retired_at = now(), updated_at = "
				    "now() WHERE installation_id = $1::bigint AND retired_at IS "
				    "NULL RETURNING 1",
				    &p, &res);
			if (!rc) {
				k->retired += PQntuples(res);
				PQclear(res);
			}
			return rc;
		} else if (!strcmp(action, "suspend"))
			return run(c,
				   "UPDATE github_installations SET suspended_at = "
				   "COALESCE(suspended_at, now()), updated_at = now() "
				   "WHERE id = $1::bigint",
				   &p, NULL);
		else if (!strcmp(action, "unsuspend"))
			return run(c,
				   "UPDATE github_installations SET suspended_at = NULL, "
				   "updated_at = now() WHERE id = $1::bigint",
				   &p, NULL);
	}
	if (!rc)
		rc = each_repo(c, inst, add, nadd, 1, k);
	if (!rc)
		rc = each_repo(c, inst, del, ndel, 0, k);
	return rc;
}

/* The actions handled, per event; others are acknowledged and ignored. */
static int handled(const char *event, const char *action)
{
	static const char *const inst[] = { "created", "deleted", "suspend", "unsuspend",
					    "new_permissions_accepted" };

	if (!strcmp(event, "installation_repositories"))
		return !strcmp(action, "added") || !strcmp(action, "removed");
	for (size_t i = 0; i < sizeof(inst) / sizeof(inst[0]); i++) {
		if (!strcmp(action, inst[i]))
			return 1;
	}
	return 0;
}

static int record_delivery(struct col_conn *c, const char *delivery, const char *event,
			   const char *action, int *duplicate)
{
	struct col_params p;
	PGresult *res = NULL;
	int rc;

	*duplicate = 0;
	if (!delivery || !*delivery)
		return CM_OK;
	col_params_init(&p);
	col_p_str(&p, delivery);
	col_p_str(&p, event);
	col_p_str(&p, action);
	rc = run(c,
		 "INSERT INTO webhook_deliveries (delivery_id, event, action) VALUES ($1, $2, $3) "
		 "ON CONFLICT (delivery_id) DO NOTHING RETURNING 1",
		 &p, &res);
	if (rc)
		return rc;
	*duplicate = PQntuples(res) == 0;
	PQclear(res);
	return CM_OK;
}

void col_installation_event(const struct col_http_req *req, struct col_http_resp *resp,
			    struct col_conn *c, const char *event, json_t *payload)
{
	const char *action = json_string_value(json_object_get(payload, "action"));
	json_t *inst = json_object_get(payload, "installation");
	json_t *account = json_object_get(inst, "account");
	json_t *idv = json_object_get(inst, "id");
	const char *login = json_string_value(json_object_get(account, "login"));
	const char *type = json_string_value(json_object_get(account, "type"));
	struct inst_repo *add = NULL, *del = NULL;
	struct inst_counts k = { 0 };
	size_t nadd = 0, ndel = 0;
	char why[160] = "";
	int64_t id;
	int rc, duplicate = 0;

	if (!action || !json_is_integer(idv) || json_integer_value(idv) <= 0 || !login || !*login ||
	    strlen(login) > 255 || !type || strlen(type) > 64) {
		col_http_error(resp, 400, "unknown_shape",
			       "%s payload without action, installation.id or installation.account",
			       event);
		return;
	}
	id = (int64_t)json_integer_value(idv);
	if (!handled(event, action)) {
		resp->status = 202;
		if (cm_buf_adds(&resp->body, "{\"status\":\"ignored\"}"))
			col_http_fail(resp, CM_ENOMEM, "out of memory");
		return;
	}
	if (!strcmp(event, "installation")) {
		rc = !strcmp(action, "created")
			 ? read_repos(json_object_get(payload, "repositories"), &add, &nadd, why,
				      sizeof(why))
			 : CM_OK;
	} else {
		rc = read_repos(json_object_get(payload, "repositories_added"), &add, &nadd, why,
				sizeof(why));
		if (!rc)
			rc = read_repos(json_object_get(payload, "repositories_removed"), &del,
					&ndel, why, sizeof(why));
		if (!strcmp(action, "added"))
			ndel = 0; /* what an action does not name is not acted on */
		else
			nadd = 0;
	}
	if (rc) {
		if (rc == CM_EINVAL)
			col_http_error(resp, 400, "unknown_shape", "%s", why);
		else
			col_http_fail(resp, rc, "out of memory");
		goto out;
	}
	rc = col_db_exec(c->pg, "BEGIN");
	if (!rc)
		rc = record_delivery(c, col_http_header(req, "X-GitHub-Delivery"), event, action,
				     &duplicate);
	if (!rc && !duplicate)
		rc = apply(c, event, action, id, login, type, add, nadd, del, ndel, &k);
	if (!rc && !duplicate)
		rc = col_db_exec(c->pg, "COMMIT");
	if (rc || duplicate)
		col_db_exec(c->pg, "ROLLBACK");
	if (rc) {
		cm_log_warn("webhook", "could not store event=%s installation=%" PRId64 ": %s",
			    event, id, cm_strerror(rc));
		col_http_fail(resp, rc, "could not store the event; retry later");
		goto out;
	}
	cm_log_info("webhook",
		    "installation event event=%s action=%s installation=%" PRId64
		    " account=%s registered=%d restored=%d retired=%d skipped=%d duplicate=%d",
		    event, action, id, login, k.registered, k.restored, k.retired, k.skipped,
		    duplicate);
	resp->status = 200;
	if (cm_buf_addf(&resp->body,
			"{\"status\":\"%s\",\"installation\":%" PRId64
			",\"registered\":%d,\"restored\":%d,\"retired\":%d,\"skipped\":%d}",
			duplicate ? "duplicate" : "stored", id, k.registered, k.restored, k.retired,
			k.skipped))
		col_http_fail(resp, CM_ENOMEM, "out of memory");
out:
	free(add);
	free(del);
}
