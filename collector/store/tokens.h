/*
 * API tokens (ingest, admin, read) and the one policy that every entry point (gRPC ingest, the
 * REST API, /api/v1/poll/run) applies to them. Tokens are random ("cip_" + 40 base62
 * characters) and stored as their SHA-256 hex: a database leak reveals no usable token.
 */
#ifndef COL_TOKENS_H
#define COL_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "store/claim.h"
#include "store/db.h"

#define COL_TOKEN_SIZE 48
/* Longest bearer token accepted (longer ones are malformed). */
#define COL_BEARER_MAX 512

/*
 * What a token may do. An admin token may do everything; ingest and read tokens one thing each;
 * a personal token what its scope and owner allow (store/auth.h).
 */
enum col_token_kind { COL_TOKEN_INGEST, COL_TOKEN_READ, COL_TOKEN_ADMIN, COL_TOKEN_PERSONAL };

/* "ingest", "read", "admin", "personal" -> the kind; CM_EINVAL for anything else. */
int col_token_kind_parse(const char *s, enum col_token_kind *out);
const char *col_token_kind_name(enum col_token_kind kind);

/*
 * Creates a token of `kind`. For an ingest token, repo_full_name names the repository it may
 * report for (registered by name with a provisional id if unknown). Writes the token itself
 * into out (shown once, never stored).
 */
int col_token_create(struct col_conn *c, enum col_token_kind kind, const char *repo_full_name,
		     const char *description, char out[COL_TOKEN_SIZE]);
struct col_token_info {
	enum col_token_kind kind;
	int64_t id;	     /* api_tokens.id; 0 for the configured tokens */
	int64_t repo_id;     /* 0 for tokens not bound to a repository */
	char repo_name[256]; /* full_name of that repository ("" when none) */
	/* Personal tokens: scope write (else read), the owner and the owner's role. */
	int write;
	int64_t owner_id;
	char owner[65];
	char owner_display[129];
	char owner_role[16];
};
/*
 * Creates a personal token for a user: scope write or read, expiring after expires_days (0:
 * never). out gets the token (shown once), *id its id.
 */
int col_token_create_personal(struct col_conn *c, int64_t owner_id, const char *name, int write,
			      int expires_days, char out[COL_TOKEN_SIZE], int64_t *id);
/*
 * Revokes token id; owner_id > 0: only when that user owns it. CM_ENOTFOUND when there is no
 * such token (or not the owner's, or revoked already).
 */
int col_token_revoke(struct col_conn *c, int64_t id, int64_t owner_id);

/*
 * Looks a presented token up. Returns 0 and fills info when it is valid: not revoked, not
 * expired, and (a personal token) its owner not disabled; a personal token's last_used_at moves
 * on (at most once a minute; the other kinds are never written by a check). CM_EAUTH
 * otherwise; CM_EUNAVAIL when the database cannot be asked.
 */
int col_token_check(struct col_conn *c, const char *token, struct col_token_info *info);

/*
 * The token of an authorization value "Bearer <token>" (len bytes, not necessarily
 * NUL-terminated; the scheme in any case, spaces after it skipped), copied into out (size at
 * least COL_BEARER_MAX + 1). CM_EAUTH when value is NULL, of another scheme, or the token is
 * empty or longer than COL_BEARER_MAX: missing and malformed tokens are answered alike.
 */
int col_bearer_parse(const char *value, size_t len, char *out, size_t size);

/* The policy that decides what a token may do is store/auth.h's. */
/*
 * The credential a checked token gives for writing reports: an ingest token its repository's
 * own, an admin token the organisation's (which may register new repositories). CM_EDENIED
 * for tokens that may not write (read tokens).
 */
int col_token_cred(const struct col_token_info *info, struct col_cred *cred);
/*
 * Makes sure a repository row exists for full_name; returns its id (the provisional negative
 * id when GitHub's id is not known yet).
 */
int col_repo_ensure(struct col_conn *c, const char *full_name, int64_t *repo_id);

#endif
