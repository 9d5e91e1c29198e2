/*
 * API tokens (ingest, admin, read). Tokens are random ("cip_" + 40 base62 characters) and
 * stored as their SHA-256 hex: a database leak reveals no usable token.
 */
#ifndef COL_TOKENS_H
#define COL_TOKENS_H

#include <stddef.h>
#include <stdint.h>

#include "store/claim.h"
#include "store/db.h"

#define COL_TOKEN_SIZE 48

/*
 * Creates a token of `kind` ("ingest", "admin" or "read"). For "ingest", repo_full_name names
 * the repository it may report for (registered by name with a provisional id if unknown).
 * Writes the token itself into out (shown once, never stored).
 */
int col_token_create(struct col_conn *c, const char *kind, const char *repo_full_name,
		     const char *description, char out[COL_TOKEN_SIZE]);
struct col_token_info {
	char kind[8];         /* "ingest", "admin" or "read" */
	int64_t repo_id;      /* 0 for tokens not bound to a repository */
	char repo_name[256];  /* full_name of that repository ("" when none) */
};

/*
 * Looks a presented token up. Returns 0 and fills info when it is valid and not revoked;
 * CM_EAUTH when unknown or revoked; CM_EUNAVAIL when the database cannot be asked.
 */
int col_token_check(struct col_conn *c, const char *token, struct col_token_info *info);
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
