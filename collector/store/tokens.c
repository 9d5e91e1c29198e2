#include "store/tokens.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"

int col_repo_ensure(struct col_conn *c, const char *full_name, int64_t *repo_id)
{
	const char *params[1] = { full_name };
	PGresult *res;
	int rc;

	/* A provisional id is negative so it can never collide with GitHub's (positive) ids. */
	res = col_db_query(c, "repository",
			   "WITH ins AS (INSERT INTO repositories (id, full_name) "
			   "  SELECT -nextval('repositories_provisional_id_seq'), $1 "
			   "  WHERE NOT EXISTS (SELECT 1 FROM repositories WHERE full_name = $1) "
			   "  ON CONFLICT DO NOTHING RETURNING id) "
			   "SELECT id FROM ins UNION ALL "
			   "SELECT id FROM repositories WHERE full_name = $1",
			   1, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) < 1) {
		PQclear(res);
		return CM_EIO;
	}
	*repo_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return CM_OK;
}

static const char *const kind_names[] = {
	[COL_TOKEN_INGEST] = "ingest",
	[COL_TOKEN_READ] = "read",
	[COL_TOKEN_ADMIN] = "admin",
	[COL_TOKEN_PERSONAL] = "personal",
};

int col_token_kind_parse(const char *s, enum col_token_kind *out)
{
	for (size_t i = 0; s && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (!strcmp(s, kind_names[i])) {
			*out = (enum col_token_kind)i;
			return CM_OK;
		}
	}
	return CM_EINVAL;
}

const char *col_token_kind_name(enum col_token_kind kind)
{
	return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

int col_token_create(struct col_conn *c, enum col_token_kind kind, const char *repo_full_name,
		     const char *description, char out[COL_TOKEN_SIZE])
{
	char hash[65], repo[32] = "";
	const char *params[4];
	int64_t repo_id = 0;
	PGresult *res;
	int rc;

	if (kind == COL_TOKEN_INGEST && (!repo_full_name || !*repo_full_name))
		return CM_EINVAL;
	if (repo_full_name && *repo_full_name) {
		rc = col_repo_ensure(c, repo_full_name, &repo_id);
		if (rc)
			return rc;
		snprintf(repo, sizeof(repo), "%lld", (long long)repo_id);
	}
	rc = cm_random_token("cip_", out, COL_TOKEN_SIZE);
	if (rc)
		return rc;
	cm_sha256_hex(out, strlen(out), hash);
	params[0] = hash;
	params[1] = col_token_kind_name(kind);
	params[2] = *repo ? repo : NULL;
	params[3] = description;
	res = col_db_query(c, "token",
			   "INSERT INTO api_tokens (token_hash, kind, repo_id, description) "
			   "VALUES ($1, $2, $3::bigint, $4)",
			   4, params, &rc);
	PQclear(res);
	return rc;
}

int col_token_check(struct col_conn *c, const char *token, struct col_token_info *info)
{
	char hash[65];
	const char *params[1] = { hash };
	PGresult *res;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!token || !*token || strlen(token) > 256)
		return CM_EAUTH;
	/* Lookup by hash: the comparison is an index probe on a digest, not on the secret. */
	cm_sha256_hex(token, strlen(token), hash);
	res = col_db_query(
	    c, "token",
	    "WITH t AS (SELECT t.id, t.kind, COALESCE(t.repo_id, 0) AS repo_id, "
	    "  COALESCE(r.full_name, '') AS repo, t.scope = 'write' AS write, "
	    "  COALESCE(u.id, 0) AS owner_id, COALESCE(u.username, '') AS owner, "
	    "  COALESCE(u.display_name, '') AS owner_display, COALESCE(u.role, '') AS owner_role "
	    "  FROM api_tokens t LEFT JOIN repositories r ON r.id = t.repo_id "
	    "  LEFT JOIN users u ON u.id = t.owner_id "
	    "  WHERE t.token_hash = $1 AND t.revoked_at IS NULL "
	    "    AND (t.expires_at IS NULL OR t.expires_at > now()) "
	    "    AND (t.owner_id IS NULL OR NOT u.disabled)), "
	    "touch AS (UPDATE api_tokens a SET last_used_at = now() FROM t WHERE a.id = t.id "
	    "  AND a.kind = 'personal' "
	    "  AND (a.last_used_at IS NULL OR a.last_used_at < now() - interval '1 minute')) "
	    "SELECT id, kind, repo_id, repo, write, owner_id, owner, owner_display, owner_role "
	    "FROM t",
	    1, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_EAUTH;
	}
	if (col_token_kind_parse(PQgetvalue(res, 0, 1), &info->kind)) {
		PQclear(res);
		return CM_EAUTH; /* a kind this collector does not know grants nothing */
	}
	info->id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	info->repo_id = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	snprintf(info->repo_name, sizeof(info->repo_name), "%s", PQgetvalue(res, 0, 3));
	info->write = PQgetvalue(res, 0, 4)[0] == 't';
	info->owner_id = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	snprintf(info->owner, sizeof(info->owner), "%s", PQgetvalue(res, 0, 6));
	snprintf(info->owner_display, sizeof(info->owner_display), "%s", PQgetvalue(res, 0, 7));
	snprintf(info->owner_role, sizeof(info->owner_role), "%s", PQgetvalue(res, 0, 8));
	PQclear(res);
	return CM_OK;
}

int col_token_create_personal(struct col_conn *c, int64_t owner_id, const char *name, int write,
			      int expires_days, char out[COL_TOKEN_SIZE], int64_t *id)
{
	struct col_params p;
	char hash[65];
	PGresult *res;
	int rc = cm_random_token("cip_", out, COL_TOKEN_SIZE);

	if (rc)
		return rc;
	cm_sha256_hex(out, strlen(out), hash);
	col_params_init(&p);
	col_p_str(&p, hash);
	col_p_i64(&p, owner_id);
	col_p_str(&p, write ? "write" : "read");
	col_p_str(&p, name);
	col_p_i64(&p, expires_days);
	res = col_db_query(c, "token",
			   "INSERT INTO api_tokens (token_hash, kind, owner_id, scope, name, "
			   "description, expires_at) VALUES ($1, 'personal', $2, $3, $4, $4, "
			   "CASE WHEN $5::int > 0 THEN now() + $5::int * interval '1 day' END) "
			   "RETURNING id",
			   p.n, p.v, &rc);
	if (!res)
		return rc;
	*id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return *id ? CM_OK : CM_EIO;
}

int col_token_revoke(struct col_conn *c, int64_t id, int64_t owner_id)
{
	struct col_params p;
	PGresult *res;
	int rc;

	col_params_init(&p);
	col_p_i64(&p, id);
	col_p_i64(&p, owner_id);
	res = col_db_query(
	    c, "token",
	    "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 "
	    "AND revoked_at IS NULL AND ($2::bigint = 0 OR owner_id = $2) RETURNING id",
	    p.n, p.v, &rc);
	if (!res)
		return rc;
	rc = PQntuples(res) == 1 ? CM_OK : CM_ENOTFOUND;
	PQclear(res);
	return rc;
}

int col_bearer_parse(const char *value, size_t len, char *out, size_t size)
{
	size_t i = 6;

	if (!value || len < 7 || strncasecmp(value, "Bearer", 6) || value[6] != ' ')
		return CM_EAUTH;
	while (i < len && value[i] == ' ')
		i++;
	if (i == len || len - i > COL_BEARER_MAX || len - i >= size)
		return CM_EAUTH;
	memcpy(out, value + i, len - i);
	out[len - i] = '\0';
	return CM_OK;
}

int col_token_cred(const struct col_token_info *info, struct col_cred *cred)
{
	memset(cred, 0, sizeof(*cred));
	if (info->kind == COL_TOKEN_ADMIN) {
		cred->scope = COL_CRED_ORG;
		cred->may_register = 1;
		return CM_OK;
	}
	if (info->kind != COL_TOKEN_INGEST || !info->repo_id)
		return CM_EDENIED;
	cred->scope = COL_CRED_REPO;
	cred->repo_id = info->repo_id;
	snprintf(cred->repo_name, sizeof(cred->repo_name), "%s", info->repo_name);
	return CM_OK;
}
