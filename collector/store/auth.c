#include "store/auth.h"

#include <argon2.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"

static const char *const role_names[] = {
	[COL_ROLE_NONE] = "none",
	[COL_ROLE_VIEWER] = "viewer",
	[COL_ROLE_MAINTAINER] = "maintainer",
	[COL_ROLE_ADMIN] = "admin",
};

int col_role_parse(const char *s, enum col_role *out)
{
	for (int i = COL_ROLE_VIEWER; s && i <= COL_ROLE_ADMIN; i++) {
		if (!strcmp(s, role_names[i])) {
			*out = (enum col_role)i;
			return CM_OK;
		}
	}
	return CM_EINVAL;
}

const char *col_role_name(enum col_role role)
{
	return (unsigned)role <= COL_ROLE_ADMIN ? role_names[role] : "none";
}

int col_auth_allow(const struct col_principal *p, enum col_need need, int anonymous_read)
{
	if (p->who == COL_WHO_ANONYMOUS)
		return need == COL_NEED_VIEWER && anonymous_read ? CM_OK : CM_EAUTH;
	if (need == COL_NEED_INGEST) {
		/* Reports come from ingest tokens (their repository's) and admin tokens alone. */
		return p->who == COL_WHO_TOKEN &&
			       (p->tok.kind == COL_TOKEN_INGEST || p->tok.kind == COL_TOKEN_ADMIN)
			   ? CM_OK
			   : CM_EDENIED;
	}
	switch (need) {
	case COL_NEED_VIEWER:
		return p->role >= COL_ROLE_VIEWER ? CM_OK : CM_EDENIED;
	case COL_NEED_MAINTAINER:
		return p->role >= COL_ROLE_MAINTAINER ? CM_OK : CM_EDENIED;
	case COL_NEED_ADMIN:
		return p->role >= COL_ROLE_ADMIN ? CM_OK : CM_EDENIED;
	default:
		return CM_EDENIED;
	}
}

/* Constant-time comparison with a configured secret ("" or NULL: never equal). */
static int token_is(const char *token, const char *secret)
{
	return secret && *secret && cm_consttime_eq(token, strlen(token), secret, strlen(secret));
}

/* The role, name and actor of a token looked up in api_tokens. */
static void token_principal(struct col_principal *p)
{
	enum col_role owner = COL_ROLE_NONE;

	switch (p->tok.kind) {
	case COL_TOKEN_ADMIN:
		p->role = COL_ROLE_ADMIN;
		break;
	case COL_TOKEN_READ:
		p->role = COL_ROLE_VIEWER;
		break;
	case COL_TOKEN_PERSONAL:
		if (col_role_parse(p->tok.owner_role, &owner))
			owner = COL_ROLE_NONE;
		/* scope read: viewer rights (or none, if the owner has none); write: the owner's */
		p->role = p->tok.write ? owner : (owner ? COL_ROLE_VIEWER : COL_ROLE_NONE);
		p->user_id = p->tok.owner_id;
		snprintf(p->username, sizeof(p->username), "%s", p->tok.owner);
		snprintf(p->display_name, sizeof(p->display_name), "%s", p->tok.owner_display);
		break;
	default:
		p->role = COL_ROLE_NONE; /* ingest tokens only ingest */
	}
	snprintf(p->actor, sizeof(p->actor), "token:%lld", (long long)p->tok.id);
}

int col_auth_token(const struct col_config *cfg, struct col_db *db, const char *token,
		   struct col_principal *p)
{
	struct col_conn *c;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!token || !*token)
		return CM_EAUTH;
	p->who = COL_WHO_TOKEN;
	if (token_is(token, cfg->admin_token)) {
		p->tok.kind = COL_TOKEN_ADMIN;
		p->role = COL_ROLE_ADMIN;
		p->config_token = 1;
		snprintf(p->actor, sizeof(p->actor), "admin-token");
		return CM_OK;
	}
	if (token_is(token, cfg->read_token)) {
		p->tok.kind = COL_TOKEN_READ;
		p->role = COL_ROLE_VIEWER;
		p->config_token = 1;
		snprintf(p->actor, sizeof(p->actor), "read-token");
		return CM_OK;
	}
	rc = col_db_acquire(db, &c, COL_DB_WAIT_MS);
	if (rc)
		return rc;
	rc = col_token_check(c, token, &p->tok);
	col_db_release(db, c);
	if (rc)
		return rc;
	token_principal(p);
	return CM_OK;
}

/* -1 not known yet, 0 no user seen, 1 a user exists (users are never deleted: stays 1). */
static atomic_int users_known = -1;

int col_auth_anonymous_read(const struct col_config *cfg, struct col_db *db)
{
	struct col_conn *c;
	PGresult *res;
	int rc, known;

	if (!cfg->anonymous_read || (cfg->read_token && *cfg->read_token))
		return 0;
	known = atomic_load(&users_known);
	if (known == 1)
		return 0;
	rc = col_db_acquire(db, &c, COL_DB_WAIT_MS);
	if (rc)
		return known == 0 ? 1 : -rc;
	res = col_db_query(c, "users", "SELECT EXISTS (SELECT 1 FROM users)", 0, NULL, &rc);
	col_db_release(db, c);
	if (!res)
		return known == 0 ? 1 : -rc;
	known = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	atomic_store(&users_known, known);
	return !known;
}

int col_auth_check(const struct col_config *cfg, struct col_db *db, const char *token,
		   enum col_token_kind need, struct col_token_info *info)
{
	static const enum col_need needs[] = {
		[COL_TOKEN_INGEST] = COL_NEED_INGEST,
		[COL_TOKEN_READ] = COL_NEED_VIEWER,
		[COL_TOKEN_ADMIN] = COL_NEED_ADMIN,
		[COL_TOKEN_PERSONAL] = COL_NEED_ADMIN,
	};
	struct col_principal p;
	int rc = CM_OK;

	memset(&p, 0, sizeof(p));
	if (token && *token)
		rc = col_auth_token(cfg, db, token, &p);
	if (rc)
		return rc;
	*info = p.tok;
	return col_auth_allow(&p, needs[need],
			      cfg->anonymous_read && !(cfg->read_token && *cfg->read_token));
}

/* ---- passwords ---- */

/*
 * argon2id with OWASP's second recommended setting (19 MiB, 2 passes, 1 lane): memory-hard
 * against guessing on GPUs; one hash took 126-148 ms of one core on the (shared, loaded) 2-core
 * build machine, so the login rate limit, not the hash, bounds the work a client can cause.
 */
#define ARGON_T	   2
#define ARGON_M	   19456
#define ARGON_P	   1
#define ARGON_SALT 16
#define ARGON_LEN  32

int col_password_hash(const char *password, char out[COL_PASSWORD_HASH_MAX])
{
	unsigned char salt[ARGON_SALT];
	size_t len = password ? strlen(password) : 0;

	if (len < COL_PASSWORD_MIN || len > COL_PASSWORD_MAX)
		return CM_EINVAL;
	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return CM_EIO;
	if (argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, password, len, salt, sizeof(salt),
				  ARGON_LEN, out, COL_PASSWORD_HASH_MAX) != ARGON2_OK)
		return CM_EIO;
	return CM_OK;
}

static char dummy_hash[COL_PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
	if (col_password_hash("not-a-password-of-anyone", dummy_hash))
		dummy_hash[0] = '\0';
}

int col_password_verify(const char *encoded, const char *password)
{
	size_t len = password ? strlen(password) : 0;
	int ok;

	if (!encoded || !*encoded) {
		/* Same work as for a real user, and the answer is no whatever it finds. */
		pthread_once(&dummy_once, make_dummy);
		if (dummy_hash[0])
			(void)argon2id_verify(dummy_hash, password ? password : "", len);
		return CM_EAUTH;
	}
	if (len > COL_PASSWORD_MAX)
		return CM_EAUTH;
	/* argon2_verify compares the digests in constant time. */
	ok = argon2id_verify(encoded, password ? password : "", len) == ARGON2_OK;
	return ok ? CM_OK : CM_EAUTH;
}

int col_username_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 1 || n > COL_USERNAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			    (ch >= '0' && ch <= '9');

		if (!alnum && (i == 0 || !strchr("._-", ch)))
			return 0;
	}
	return 1;
}

/* ---- sign-in limits ---- */

/* The two keys of login_failures: the address's and the account's (a digest: any name fits). */
static void login_keys(const char *addr, const char *username, char a[80], char u[80])
{
	char hex[65];

	cm_sha256_hex(username, strlen(username), hex);
	snprintf(a, 80, "a:%.60s", addr ? addr : "");
	snprintf(u, 80, "u:%s", hex);
}

int col_login_limited(struct col_conn *c, const char *addr, const char *username, long max,
		      long window_ms, long *retry_s)
{
	char a[80], u[80], mx[24], win[24];
	const char *params[4] = { a, u, mx, win };
	PGresult *res;
	int rc, over;

	login_keys(addr, username, a, u);
	snprintf(mx, sizeof(mx), "%ld", max);
	snprintf(win, sizeof(win), "%ld", window_ms);
	res = col_db_query(c, "login limit",
			   "SELECT count(*), COALESCE(ceil(extract(epoch FROM max(window_start + "
			   "$4::bigint * interval '1 millisecond' - now()))), 0)::bigint "
			   "FROM login_failures WHERE key IN ($1, $2) AND failures >= $3::int "
			   "AND window_start > now() - $4::bigint * interval '1 millisecond'",
			   4, params, &rc);
	if (!res)
		return rc;
	over = strtol(PQgetvalue(res, 0, 0), NULL, 10) > 0;
	*retry_s = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	if (*retry_s < 1)
		*retry_s = 1;
	PQclear(res);
	return over;
}

int col_login_failed(struct col_conn *c, const char *addr, const char *username, long window_ms)
{
	char a[80], u[80], win[24];
	const char *params[3] = { a, u, win };
	PGresult *res;
	int rc;

	login_keys(addr, username, a, u);
	snprintf(win, sizeof(win), "%ld", window_ms);
	/* A count whose window has passed starts again at 1; a few stale rows go each time. */
	res = col_db_query(
	    c, "login limit",
	    "WITH gone AS (DELETE FROM login_failures WHERE key IN (SELECT key FROM "
	    "  login_failures WHERE window_start <= now() - $3::bigint * interval '1 millisecond' "
	    "  AND key NOT IN ($1, $2) LIMIT 100)) "
	    "INSERT INTO login_failures AS f (key, window_start, failures) "
	    "VALUES ($1, now(), 1), ($2, now(), 1) ON CONFLICT (key) DO UPDATE SET "
	    "failures = CASE WHEN f.window_start > now() - $3::bigint * interval '1 millisecond' "
	    "  THEN f.failures + 1 ELSE 1 END, "
	    "window_start = CASE WHEN f.window_start > now() - $3::bigint * interval "
	    "  '1 millisecond' THEN f.window_start ELSE now() END",
	    3, params, &rc);
	PQclear(res);
	return res ? CM_OK : rc;
}

/* ---- users ---- */

int col_user_add(struct col_conn *c, const char *username, enum col_role role,
		 const char *display_name, const char *hash)
{
	struct col_params p;
	PGresult *res;
	int rc;

	if (!col_username_valid(username))
		return CM_EINVAL;
	col_params_init(&p);
	col_p_str(&p, username);
	col_p_str(&p, col_role_name(role));
	col_p_text(&p, display_name);
	col_p_str(&p, hash);
	res = col_db_query(c, "user",
			   "INSERT INTO users (username, role, display_name, password_hash) "
			   "VALUES ($1, $2, $3, $4) ON CONFLICT (username) DO NOTHING RETURNING id",
			   p.n, p.v, &rc);
	if (!res)
		return rc;
	rc = PQntuples(res) == 1 ? CM_OK : CM_ECONFLICT;
	PQclear(res);
	if (!rc)
		atomic_store(&users_known, 1);
	return rc;
}

int col_user_update(struct col_conn *c, const char *username, int role, int disabled,
		    const char *hash, const char *display_name)
{
	struct col_params p;
	PGresult *res;
	int rc;

	col_params_init(&p);
	col_p_str(&p, username);
	col_p_str(&p, role >= 0 ? col_role_name((enum col_role)role) : NULL);
	col_p_str(&p, disabled < 0 ? NULL : disabled ? "true" : "false");
	col_p_str(&p, hash);
	col_p_str(&p, display_name);
	/*
	 * A disabled user's sessions end in the same statement (its tokens check the flag). The
	 * enabled admins are locked (in id order: no deadlock) before the guard reads them: a
	 * concurrent change of one waits, and FOR UPDATE then sees its committed state.
	 */
	res = col_db_query(
	    c, "user",
	    "WITH a AS MATERIALIZED (SELECT username FROM users "
	    "  WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE), "
	    "n AS (SELECT count(*) FILTER (WHERE username = $1) AS me, "
	    "  count(*) FILTER (WHERE username <> $1) AS others FROM a), "
	    "u AS (UPDATE users SET role = COALESCE($2, role), "
	    "  disabled = COALESCE($3::boolean, disabled), "
	    "  password_hash = COALESCE($4, password_hash), "
	    "  display_name = COALESCE($5, display_name) "
	    "  WHERE username = $1 AND ((COALESCE($2, role) = 'admin' "
	    "    AND NOT COALESCE($3::boolean, disabled)) "
	    "    OR (SELECT me = 0 OR others > 0 FROM n)) "
	    "  RETURNING id, disabled, $4::text IS NOT NULL AS pw), "
	    "s AS (UPDATE sessions SET revoked_at = now() FROM u "
	    "  WHERE sessions.user_id = u.id AND (u.disabled OR u.pw) "
	    "  AND sessions.revoked_at IS NULL) "
	    "SELECT (SELECT id FROM u), EXISTS (SELECT 1 FROM users WHERE username = $1)",
	    p.n, p.v, &rc);
	if (!res)
		return rc;
	rc = !PQgetisnull(res, 0, 0)	       ? CM_OK
	     : PQgetvalue(res, 0, 1)[0] == 't' ? CM_EDENIED
					       : CM_ENOTFOUND;
	PQclear(res);
	return rc;
}

int col_user_login(struct col_conn *c, const char *username, const char *password,
		   struct col_principal *p)
{
	const char *params[1] = { username };
	PGresult *res = NULL;
	int rc = CM_OK, found, ok;

	memset(p, 0, sizeof(p[0]));
	if (col_username_valid(username))
		res = col_db_query(c, "user",
				   "SELECT id, password_hash, role, disabled, display_name "
				   "FROM users WHERE username = $1",
				   1, params, &rc);
	if (rc)
		return rc;
	found = res && PQntuples(res) == 1 && !PQgetisnull(res, 0, 1);
	/* Every path verifies one hash: unknown users and disabled ones take as long. */
	ok = col_password_verify(found ? PQgetvalue(res, 0, 1) : NULL, password) == CM_OK;
	if (ok &&
	    (PQgetvalue(res, 0, 3)[0] == 't' || col_role_parse(PQgetvalue(res, 0, 2), &p->role)))
		ok = 0;
	if (ok) {
		p->who = COL_WHO_USER;
		p->user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(p->username, sizeof(p->username), "%s", username);
		snprintf(p->display_name, sizeof(p->display_name), "%s", PQgetvalue(res, 0, 4));
		snprintf(p->actor, sizeof(p->actor), "%s", username);
	}
	PQclear(res);
	if (!ok) {
		memset(p, 0, sizeof(p[0]));
		return CM_EAUTH;
	}
	res = col_db_query(c, "user", "UPDATE users SET last_login_at = now() WHERE username = $1",
			   1, params, &rc);
	PQclear(res);
	return rc;
}

/* ---- sessions ---- */

/* p as the user of row 0's columns col.. col+2: id, username, display_name (role set apart). */
static void user_of_row(struct col_principal *p, const PGresult *res, int col)
{
	p->who = COL_WHO_USER;
	p->user_id = strtoll(PQgetvalue(res, 0, col), NULL, 10);
	snprintf(p->username, sizeof(p->username), "%s", PQgetvalue(res, 0, col + 1));
	snprintf(p->display_name, sizeof(p->display_name), "%s", PQgetvalue(res, 0, col + 2));
	snprintf(p->actor, sizeof(p->actor), "%s", p->username);
}

int col_session_create(struct col_conn *c, struct col_principal *p, long max_ms,
		       const char *remote_addr, const char *user_agent, char out[COL_TOKEN_SIZE])
{
	struct col_params q;
	char hash[65], ua[256];
	PGresult *res;
	int rc = cm_random_token("cps_", out, COL_TOKEN_SIZE);

	if (!rc)
		rc = cm_random_token("csrf_", p->csrf, sizeof(p->csrf));
	if (rc)
		return rc;
	cm_sha256_hex(out, strlen(out), hash);
	snprintf(ua, sizeof(ua), "%s", user_agent ? user_agent : "");
	col_params_init(&q);
	col_p_str(&q, hash);
	col_p_i64(&q, p->user_id);
	col_p_str(&q, p->csrf);
	col_p_i64(&q, max_ms);
	col_p_str(&q, remote_addr);
	col_p_str(&q, ua);
	/* The user's ended sessions go as a new one starts: the table stays the size of its use. */
	res = col_db_query(c, "session",
			   "WITH gone AS (DELETE FROM sessions WHERE user_id = $2 "
			   "  AND (revoked_at IS NOT NULL OR expires_at < now())) "
			   "INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, "
			   "remote_addr, user_agent) VALUES ($1, $2, $3, "
			   "now() + $4::bigint * interval '1 millisecond', $5, $6) RETURNING id",
			   q.n, q.v, &rc);
	if (!res)
		return rc;
	p->session_id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return p->session_id ? CM_OK : CM_EIO;
}

int col_session_lookup(struct col_conn *c, const char *cookie, long idle_ms,
		       struct col_principal *p)
{
	struct col_params q;
	char hash[65];
	PGresult *res;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!cookie || !*cookie || strlen(cookie) > 128)
		return CM_EAUTH;
	cm_sha256_hex(cookie, strlen(cookie), hash);
	col_params_init(&q);
	col_p_str(&q, hash);
	col_p_i64(&q, idle_ms);
	res = col_db_query(c, "session",
			   "UPDATE sessions s SET last_seen_at = now() FROM users u "
			   "WHERE s.id_hash = $1 AND u.id = s.user_id AND NOT u.disabled "
			   "AND s.revoked_at IS NULL AND s.expires_at > now() "
			   "AND s.last_seen_at > now() - $2::bigint * interval '1 millisecond' "
			   "AND (s.github_token_expires_at IS NULL "
			   "OR s.github_token_expires_at > now()) "
			   "RETURNING s.id, s.csrf_token, u.id, u.username, u.display_name, u.role",
			   q.n, q.v, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) != 1 || col_role_parse(PQgetvalue(res, 0, 5), &p->role)) {
		PQclear(res);
		memset(p, 0, sizeof(*p));
		return CM_EAUTH;
	}
	p->session_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(p->csrf, sizeof(p->csrf), "%s", PQgetvalue(res, 0, 1));
	user_of_row(p, res, 2);
	PQclear(res);
	return CM_OK;
}

int col_session_revoke(struct col_conn *c, int64_t session_id)
{
	struct col_params q;
	PGresult *res;
	int rc;

	col_params_init(&q);
	col_p_i64(&q, session_id);
	res = col_db_query(c, "session",
			   "UPDATE sessions SET revoked_at = now(), github_token = NULL "
			   "WHERE id = $1 AND revoked_at IS NULL",
			   q.n, q.v, &rc);
	PQclear(res);
	return res ? CM_OK : rc;
}

/* ---- GitHub sign-in ---- */

int col_github_state_put(struct col_conn *c, const char *state, const char *browser,
			 const char *verifier, const char *next)
{
	char sh[65], bh[65];
	struct col_params q;
	PGresult *res;
	int rc;

	cm_sha256_hex(state, strlen(state), sh);
	cm_sha256_hex(browser, strlen(browser), bh);
	col_params_init(&q);
	col_p_str(&q, sh);
	col_p_str(&q, bh);
	col_p_str(&q, verifier);
	col_p_str(&q, next);
	res = col_db_query(c, "sign-in",
			   "WITH gone AS (DELETE FROM github_signin_states "
			   "  WHERE created_at < now() - interval '1 hour') "
			   "INSERT INTO github_signin_states (state_hash, browser_hash, verifier, "
			   "next_path) VALUES ($1, $2, $3, $4)",
			   q.n, q.v, &rc);
	PQclear(res);
	return res ? CM_OK : rc;
}

int col_github_state_take(struct col_conn *c, const char *state, const char *browser,
			  char verifier[64], char next[COL_NEXT_PATH_MAX])
{
	char sh[65], bh[65];
	struct col_params q;
	PGresult *res;
	int rc, ok;

	verifier[0] = next[0] = '\0';
	if (!state || !*state || strlen(state) > 128)
		return CM_EAUTH;
	cm_sha256_hex(state, strlen(state), sh);
	/* No cookie: no browser matches (the state is spent all the same). */
	if (browser && *browser)
		cm_sha256_hex(browser, strlen(browser), bh);
	else
		snprintf(bh, sizeof(bh), "-");
	col_params_init(&q);
	col_p_str(&q, sh);
	col_p_i64(&q, COL_GITHUB_STATE_MAX_MS);
	/* Deleted whatever follows: a state is tried once. */
	res = col_db_query(c, "sign-in",
			   "DELETE FROM github_signin_states WHERE state_hash = $1 RETURNING "
			   "browser_hash, verifier, next_path, "
			   "created_at > now() - $2::bigint * interval '1 millisecond'",
			   q.n, q.v, &rc);
	if (!res)
		return rc;
	ok =
	    PQntuples(res) == 1 && PQgetvalue(res, 0, 3)[0] == 't' &&
	    cm_consttime_eq(PQgetvalue(res, 0, 0), strlen(PQgetvalue(res, 0, 0)), bh, strlen(bh)) &&
	    strlen(PQgetvalue(res, 0, 1)) < 64 && strlen(PQgetvalue(res, 0, 2)) < COL_NEXT_PATH_MAX;
	if (ok) {
		snprintf(verifier, 64, "%s", PQgetvalue(res, 0, 1));
		snprintf(next, COL_NEXT_PATH_MAX, "%s", PQgetvalue(res, 0, 2));
	}
	PQclear(res);
	return ok ? CM_OK : CM_EAUTH;
}

int col_user_github(struct col_conn *c, int64_t github_id, const char *login, const char *name,
		    struct col_principal *p, int *created)
{
	struct col_params q;
	PGresult *res = NULL;
	int rc = CM_OK;

	memset(p, 0, sizeof(*p));
	*created = 0;
	col_params_init(&q);
	col_p_i64(&q, github_id);
	col_p_str(&q, login);
	col_p_str(&q, name);
	/*
	 * Found by GitHub's id (a login can be renamed); never linked to a local account by name:
	 * a GitHub account called like a local admin must not become that admin. Two first
	 * sign-ins at once: one inserts, the other finds nothing to update and tries again.
	 */
	for (int attempt = 0; attempt < 2 && !rc; attempt++) {
		PQclear(res);
		res = col_db_query(
		    c, "user",
		    "WITH upd AS (UPDATE users SET github_login = $2, last_login_at = now() "
		    "  WHERE github_id = $1 "
		    "  RETURNING id, username, display_name, role, disabled, false AS created), "
		    "ins AS (INSERT INTO users (username, display_name, role, github_id, "
		    "  github_login, last_login_at) "
		    "  SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE lower(username) = "
		    "    lower($2)) THEN $2 || '-gh' || $1::text ELSE $2 END, $3, 'viewer', $1, $2, "
		    "    now() WHERE NOT EXISTS (SELECT 1 FROM upd) "
		    "  ON CONFLICT (github_id) DO NOTHING "
		    "  RETURNING id, username, display_name, role, disabled, true AS created) "
		    "SELECT * FROM upd UNION ALL SELECT * FROM ins",
		    q.n, q.v, &rc);
		if (res && PQntuples(res) == 1)
			break;
	}
	if (!res)
		return rc;
	if (PQntuples(res) != 1 || col_role_parse(PQgetvalue(res, 0, 3), &p->role)) {
		PQclear(res);
		return CM_EIO;
	}
	if (PQgetvalue(res, 0, 4)[0] == 't') {
		PQclear(res);
		memset(p, 0, sizeof(*p));
		return CM_EDENIED;
	}
	user_of_row(p, res, 0);
	*created = PQgetvalue(res, 0, 5)[0] == 't';
	PQclear(res);
	return CM_OK;
}

int col_session_github_token(struct col_conn *c, int64_t session_id, const char *token,
			     int64_t expires_ms)
{
	struct col_params q;
	PGresult *res;
	int rc;

	col_params_init(&q);
	col_p_i64(&q, session_id);
	col_p_str(&q, token);
	col_p_opt_i64(&q, expires_ms > 0, expires_ms);
	res = col_db_query(c, "session",
			   "UPDATE sessions SET github_token = $2, github_token_expires_at = "
			   "'epoch'::timestamptz + $3::bigint * interval '1 millisecond' "
			   "WHERE id = $1",
			   q.n, q.v, &rc);
	PQclear(res);
	return res ? CM_OK : rc;
}

/* ---- audit log ---- */

int col_audit_record(struct col_conn *c, const struct col_principal *p, const char *remote_addr,
		     const char *action, const char *target, const char *before, const char *after)
{
	struct col_params q;
	PGresult *res;
	int rc;

	col_params_init(&q);
	col_p_str(&q, p->actor[0] ? p->actor : "anonymous");
	col_p_str(&q, p->who == COL_WHO_USER  ? "user"
		      : p->who == COL_WHO_CLI ? "cli"
		      : p->config_token	      ? "config_token"
					      : "token");
	col_p_str(&q, action);
	col_p_text(&q, target);
	col_p_str(&q, before);
	col_p_str(&q, after);
	col_p_str(&q, remote_addr);
	res = col_db_query(c, "audit",
			   "INSERT INTO audit_log (actor, actor_kind, action, target, before, "
			   "after, remote_addr) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)",
			   q.n, q.v, &rc);
	PQclear(res);
	return res ? CM_OK : rc;
}
