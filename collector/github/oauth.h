/*
 * "Sign in with GitHub": GitHub's side of the OAuth web flow of the GitHub App (issue 12.2).
 * The flow itself (state, PKCE, sessions) is api/github_signin.c; this file talks to GitHub:
 *
 *   col_gh_oauth_authorize_url  {CIPULSE_GITHUB_URL}/login/oauth/authorize?client_id&redirect_uri
 *                               &state&code_challenge&code_challenge_method=S256
 *   col_gh_oauth_exchange       POST {CIPULSE_GITHUB_URL}/login/oauth/access_token (form:
 * client_id, client_secret, code, redirect_uri, code_verifier; JSON answer) col_gh_oauth_user GET
 * {CIPULSE_GITHUB_API_URL}/user with the user's token col_gh_oauth_member         GET
 * {CIPULSE_GITHUB_API_URL}/user/memberships/orgs/{org}: an "active" membership (a pending
 * invitation is not one)
 *
 * The user token and the client secret never reach a log or an error message.
 */
#ifndef COL_GHOAUTH_H
#define COL_GHOAUTH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define COL_GH_USER_TOKEN_MAX 512
#define COL_GH_LOGIN_MAX      40

/* The authorize URL for state and the PKCE verifier (its S256 challenge is sent) into out. */
int col_gh_oauth_authorize_url(const struct col_config *cfg, const char *state,
			       const char *verifier, char *out, size_t size);

/*
 * Exchanges code (with the PKCE verifier) for a user token: 0 and token, *expires_ms (epoch
 * ms; 0: it does not expire). CM_EDENIED when GitHub refuses (a bad, used or expired code, a
 * wrong verifier, a wrong client secret): *why gets GitHub's error code (e.g.
 * "bad_verification_code"); CM_EUNAVAIL when GitHub cannot be reached or answers 5xx.
 */
int col_gh_oauth_exchange(const struct col_config *cfg, const char *code, const char *verifier,
			  char token[COL_GH_USER_TOKEN_MAX], int64_t *expires_ms, char why[64],
			  volatile sig_atomic_t *stop);

/* The token's user: 0 and id, login (and name, "" when none). CM_EDENIED, CM_EUNAVAIL. */
int col_gh_oauth_user(const struct col_config *cfg, const char *token, int64_t *id,
		      char login[COL_GH_LOGIN_MAX + 1], char name[129],
		      volatile sig_atomic_t *stop);

/* 0 when the token's user is an active member of org; CM_EDENIED when not; CM_EUNAVAIL. */
int col_gh_oauth_member(const struct col_config *cfg, const char *token, const char *org,
			volatile sig_atomic_t *stop);

#endif
