#include "store/tokens.h"

#include <stdlib.h>
#include <string.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"

int col_repo_ensure(struct col_conn *c, const char *full_name, int64_t *repo_id)
{
	const char *params[1] = { full_name };
	PGresult *res;
	int rc;

	/* A provisional id is negative so it can never collide with GitHub's (positive) ids. */
	res = PQexecParams(c->pg,
			   "WITH ins AS (INSERT INTO repositories (id, full_name) "
			   "  SELECT -nextval('repositories_provisional_id_seq'), $1 "
			   "  WHERE NOT EXISTS (SELECT 1 FROM repositories WHERE full_name = $1) "
			   "  ON CONFLICT DO NOTHING RETURNING id) "
			   "SELECT id FROM ins UNION ALL "
			   "SELECT id FROM repositories WHERE full_name = $1",
			   1, NULL, params, NULL, NULL, 0);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		PQclear(res);
		return rc;
	}
	if (PQntuples(res) < 1) {
		PQclear(res);
		return CM_EIO;
	}
	*repo_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return CM_OK;
}

int col_token_create(struct col_conn *c, const char *kind, const char *repo_full_name,
		     const char *description, char out[COL_TOKEN_SIZE])
{
	char hash[65], repo[32] = "";
	const char *params[4];
	int64_t repo_id = 0;
	PGresult *res;
	int rc;

	if (strcmp(kind, "ingest") && strcmp(kind, "admin") && strcmp(kind, "read"))
		return CM_EINVAL;
	if (!strcmp(kind, "ingest") && (!repo_full_name || !*repo_full_name))
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
	params[1] = kind;
	params[2] = *repo ? repo : NULL;
	params[3] = description;
	res = PQexecParams(c->pg,
			   "INSERT INTO api_tokens (token_hash, kind, repo_id, description) "
			   "VALUES ($1, $2, $3::bigint, $4)",
			   4, NULL, params, NULL, NULL, 0);
	rc = col_db_ok(res) ? CM_OK : col_db_error(c->pg, res);
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
	res = PQexecParams(c->pg,
			   "SELECT t.kind, COALESCE(t.repo_id, 0), COALESCE(r.full_name, '') "
			   "FROM api_tokens t LEFT JOIN repositories r ON r.id = t.repo_id "
			   "WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
			   1, NULL, params, NULL, NULL, 0);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		PQclear(res);
		return rc;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_EAUTH;
	}
	snprintf(info->kind, sizeof(info->kind), "%s", PQgetvalue(res, 0, 0));
	info->repo_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(info->repo_name, sizeof(info->repo_name), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return CM_OK;
}

int col_token_cred(const struct col_token_info *info, struct col_cred *cred)
{
	memset(cred, 0, sizeof(*cred));
	if (!strcmp(info->kind, "admin")) {
		cred->scope = COL_CRED_ORG;
		cred->may_register = 1;
		return CM_OK;
	}
	if (strcmp(info->kind, "ingest") || !info->repo_id)
		return CM_EDENIED;
	cred->scope = COL_CRED_REPO;
	cred->repo_id = info->repo_id;
	snprintf(cred->repo_name, sizeof(cred->repo_name), "%s", info->repo_name);
	return CM_OK;
}
