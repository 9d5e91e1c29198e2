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
	res = col_db_query(c, "token",
			   "SELECT t.kind, COALESCE(t.repo_id, 0), COALESCE(r.full_name, '') "
			   "FROM api_tokens t LEFT JOIN repositories r ON r.id = t.repo_id "
			   "WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
			   1, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_EAUTH;
	}
	if (col_token_kind_parse(PQgetvalue(res, 0, 0), &info->kind)) {
		PQclear(res);
		return CM_EAUTH; /* a kind this collector does not know grants nothing */
	}
	info->repo_id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(info->repo_name, sizeof(info->repo_name), "%s", PQgetvalue(res, 0, 2));
	PQclear(res);
	return CM_OK;
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

/* Constant-time comparison with a configured secret ("" or NULL: never equal). */
static int token_is(const char *token, const char *secret)
{
	return secret && *secret && cm_consttime_eq(token, strlen(token), secret, strlen(secret));
}

int col_auth_check(const struct col_config *cfg, struct col_db *db, const char *token,
		   enum col_token_kind need, struct col_token_info *info)
{
	struct col_conn *c;
	int rc;

	memset(info, 0, sizeof(*info));
	if (need == COL_TOKEN_READ && !(cfg->read_token && *cfg->read_token)) {
		info->kind = COL_TOKEN_READ;
		return CM_OK;
	}
	if (!token || !*token)
		return CM_EAUTH;
	if (token_is(token, cfg->admin_token)) {
		info->kind = COL_TOKEN_ADMIN;
	} else if (token_is(token, cfg->read_token)) {
		info->kind = COL_TOKEN_READ;
	} else {
		rc = col_db_acquire(db, &c, COL_DB_WAIT_MS);
		if (rc)
			return rc;
		rc = col_token_check(c, token, info);
		col_db_release(db, c);
		if (rc)
			return rc;
	}
	return info->kind == COL_TOKEN_ADMIN || info->kind == need ? CM_OK : CM_EDENIED;
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
