/*
 * Who is asking, and what they may do: the one access policy of the collector (gRPC ingest, the
 * REST API, /metrics). A request is turned into a principal
 *   anonymous    no credential
 *   user         a dashboard session (cookie cipulse_session, sessions table)
 *   token        a bearer token: CIPULSE_ADMIN_TOKEN, CIPULSE_READ_TOKEN, or one of api_tokens
 *                (ingest, read, admin, or a user's personal token)
 * with a role (viewer < maintainer < admin), and col_auth_allow decides, without the database,
 * whether that principal may do what a route needs. Local accounts (argon2id passwords) and
 * server-side sessions live here too. Roles:
 *   viewer      reads
 *   maintainer  + alert rules, channels, silences, ack
 *   admin       + repositories, tokens of others, users, settings, poll, audit log
 * CIPULSE_ADMIN_TOKEN and stored admin tokens are admin; CIPULSE_READ_TOKEN and stored read
 * tokens are viewer; ingest tokens have no role (they only ingest); a personal token of scope
 * read is viewer, of scope write its owner's role, and stops working with its owner.
 */
#ifndef COL_AUTH_H
#define COL_AUTH_H

#include <stdint.h>

#include "core/config.h"
#include "store/db.h"
#include "store/tokens.h"

enum col_role { COL_ROLE_NONE, COL_ROLE_VIEWER, COL_ROLE_MAINTAINER, COL_ROLE_ADMIN };
/* What a route needs. */
enum col_need { COL_NEED_INGEST, COL_NEED_VIEWER, COL_NEED_MAINTAINER, COL_NEED_ADMIN };
/* COL_WHO_CLI: the command line (cipulsed user/token), for the audit log only. */
enum col_who { COL_WHO_ANONYMOUS, COL_WHO_USER, COL_WHO_TOKEN, COL_WHO_CLI };

#define COL_USERNAME_MAX 64

struct col_principal {
	enum col_who who;
	enum col_role role;
	struct col_token_info tok; /* COL_WHO_TOKEN */
	int config_token;	   /* CIPULSE_ADMIN_TOKEN or CIPULSE_READ_TOKEN */
	/* The user: the session's, or a personal token's owner (0 when none). */
	int64_t user_id;
	char username[COL_USERNAME_MAX + 1];
	char display_name[129];
	int64_t session_id;		   /* COL_WHO_USER */
	char csrf[COL_TOKEN_SIZE];	   /* the session's CSRF token */
	char actor[COL_USERNAME_MAX + 16]; /* as the audit log names it */
};

/* "viewer", "maintainer", "admin" -> the role; CM_EINVAL for anything else. */
int col_role_parse(const char *s, enum col_role *out);
const char *col_role_name(enum col_role role);

/*
 * The policy, pure. anonymous_read: reads without a credential are allowed
 * (col_auth_anonymous_read). Returns 0 when p may do what `need` asks;
 *   CM_EAUTH    anonymous where a credential is needed: HTTP 401, gRPC UNAUTHENTICATED
 *   CM_EDENIED  a principal without the right: HTTP 403, gRPC PERMISSION_DENIED
 */
int col_auth_allow(const struct col_principal *p, enum col_need need, int anonymous_read);

/*
 * A bearer token (what col_bearer_parse gave; NULL when it failed) as a principal. Configured
 * tokens are recognised (in constant time) without the database; others are looked up
 * (col_token_check). 0, CM_EAUTH (missing, malformed, unknown, revoked, expired, or its owner
 * disabled), or a database error.
 */
int col_auth_token(const struct col_config *cfg, struct col_db *db, const char *token,
		   struct col_principal *p);

/*
 * Whether anonymous reads are open: CIPULSE_ANONYMOUS_READ is on, CIPULSE_READ_TOKEN is not set,
 * and no user account exists. 1 open, 0 closed, or a negative error code when the database
 * cannot say (and this process never learnt that there are no users).
 */
int col_auth_anonymous_read(const struct col_config *cfg, struct col_db *db);

/*
 * gRPC's entry: col_auth_token + col_auth_allow. need: COL_TOKEN_INGEST (report), READ or
 * ADMIN; reads are open without a token only when CIPULSE_READ_TOKEN is unset (no database
 * asked). info gets the token's.
 */
int col_auth_check(const struct col_config *cfg, struct col_db *db, const char *token,
		   enum col_token_kind need, struct col_token_info *info);

/* ---- passwords (argon2id, libargon2) ---- */

#define COL_PASSWORD_HASH_MAX 160
#define COL_PASSWORD_MIN      8
#define COL_PASSWORD_MAX      1024
/* An encoded argon2id hash of a password with a random salt. 0, CM_EINVAL (length), CM_EIO. */
int col_password_hash(const char *password, char out[COL_PASSWORD_HASH_MAX]);
/*
 * 0 when password matches the encoded hash, else CM_EAUTH. encoded NULL (no such user, no
 * password): a dummy hash is verified instead, so that the time taken does not tell.
 */
int col_password_verify(const char *encoded, const char *password);
/* Valid user name: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
int col_username_valid(const char *s);

/* ---- sign-in limits ---- */

/*
 * Failed sign-ins per address and per account, counted in the database (login_failures,
 * sql/017) so that every collector of a cluster sees the same counts: the limit holds however
 * a client spreads its attempts over replicas. A count lasts window_ms from its first failure.
 * col_login_limited: 1 when addr or username has `max` failures or more in its current window
 * (*retry_s: seconds until the later of the two windows ends, at least 1), 0 when not, or an
 * error (negative). col_login_failed counts one failure of each (and deletes counts whose
 * window has passed).
 */
int col_login_limited(struct col_conn *c, const char *addr, const char *username, long max,
		      long window_ms, long *retry_s);
int col_login_failed(struct col_conn *c, const char *addr, const char *username, long window_ms);

/* ---- users ---- */

/* Creates a user (hash: from col_password_hash, or NULL). CM_ECONFLICT when the name is taken. */
int col_user_add(struct col_conn *c, const char *username, enum col_role role,
		 const char *display_name, const char *hash);
/*
 * Changes a user: fields NULL / -1 are kept. Disabling revokes the user's sessions in the same
 * statement. CM_ENOTFOUND when there is no such user; CM_EDENIED, nothing changed, when the
 * change would leave no enabled admin among the users (demoting or disabling the last one;
 * CIPULSE_ADMIN_TOKEN does not count). Race-safe: the enabled admins are locked first, so two
 * admins demoting each other at once leave one (the second sees the first's change).
 */
int col_user_update(struct col_conn *c, const char *username, int role, int disabled,
		    const char *hash, const char *display_name);
/*
 * Checks a user name and password: 0 and p filled (COL_WHO_USER without a session) when they
 * match an enabled user; CM_EAUTH for every other case, in about the same time.
 */
int col_user_login(struct col_conn *c, const char *username, const char *password,
		   struct col_principal *p);

/* ---- sessions ---- */

#define COL_SESSION_COOKIE "cipulse_session"
/*
 * Opens a session for p's user (expires after max_ms at the latest). out gets the cookie's
 * value (only its hash is stored), p->csrf and p->session_id are set.
 */
int col_session_create(struct col_conn *c, struct col_principal *p, long max_ms,
		       const char *remote_addr, const char *user_agent, char out[COL_TOKEN_SIZE]);
/*
 * The session of a cookie value, when it is not revoked, not past its absolute expiry, seen
 * within idle_ms, its GitHub user token (GitHub sign-in) not expired and its user is enabled:
 * 0 and p (COL_WHO_USER); its last_seen_at moves on.
 * CM_EAUTH otherwise.
 */
int col_session_lookup(struct col_conn *c, const char *cookie, long idle_ms,
		       struct col_principal *p);
/* Ends a session (sign-out); a GitHub user token kept with it is dropped at once. */
int col_session_revoke(struct col_conn *c, int64_t session_id);

/* ---- GitHub sign-in (api/github_signin.c) ---- */

/* A sign-in under way lasts this long (GitHub's own authorization codes last 10 minutes). */
#define COL_GITHUB_STATE_MAX_MS 600000L
#define COL_NEXT_PATH_MAX	512

/*
 * Remembers a sign-in under way: state (sent to GitHub), browser (the value of the browser's
 * binding cookie), the PKCE verifier and where to go afterwards. Only hashes of state and
 * browser are stored. Rows older than an hour go at the same time.
 */
int col_github_state_put(struct col_conn *c, const char *state, const char *browser,
			 const char *verifier, const char *next);
/*
 * Takes (deletes: single use) the sign-in of state: 0 and verifier, next when it exists, is
 * younger than COL_GITHUB_STATE_MAX_MS and was started by this browser; CM_EAUTH otherwise.
 */
int col_github_state_take(struct col_conn *c, const char *state, const char *browser,
			  char verifier[64], char next[COL_NEXT_PATH_MAX]);
/*
 * The user of a GitHub account, made when new (role viewer, username the login when free,
 * else "<login>-gh<id>"; display name GitHub's name), its github_login kept current: 0 and p
 * (COL_WHO_USER without a session), *created 1 when new. CM_EDENIED when the user is disabled.
 */
int col_user_github(struct col_conn *c, int64_t github_id, const char *login, const char *name,
		    struct col_principal *p, int *created);
/* Keeps the GitHub user token with the session (expires_ms epoch ms; 0: does not expire). */
int col_session_github_token(struct col_conn *c, int64_t session_id, const char *token,
			     int64_t expires_ms);

/* ---- audit log ---- */

/*
 * Records a change by p (JSON texts before/after may be NULL; they must hold no secrets) on the
 * caller's connection, so that it commits or rolls back with the change.
 */
int col_audit_record(struct col_conn *c, const struct col_principal *p, const char *remote_addr,
		     const char *action, const char *target, const char *before, const char *after);

#endif
