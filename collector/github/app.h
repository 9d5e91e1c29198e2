/*
 * GitHub App mode (CIPULSE_GITHUB_APP_ID + CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE): the collector
 * authenticates as the app with a short-lived RS256 JWT (signed with OpenSSL EVP: iat 60 s in
 * the past against clock drift, exp 9 minutes ahead, under GitHub's 10-minute cap, iss = the
 * app id) and exchanges it for installation tokens (POST /app/installations/{id}/access_tokens).
 *
 * Installation tokens are cached in memory per installation, never logged and never stored,
 * and taken anew a few minutes before their expires_at (5 minutes, or a quarter of the token's
 * life when that is shorter). One process-wide cache, thread safe: the poller, a backfill and
 * API-triggered polls may ask at once; a token exchange holds the cache's lock, so callers that
 * ask together for one installation cause one exchange. Exchanges are counted by result in
 * cipulse_github_app_tokens_total.
 *
 * The key is loaded once at start-up (col_gh_app_configure, from col_config_load): a file that
 * is missing, unreadable or holds no RSA private key stops start-up; a file that the group or
 * others may read is accepted with a warning.
 */
#ifndef COL_GHAPP_H
#define COL_GHAPP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"

/* Longest JWT / installation token this module hands out, with the NUL. */
#define COL_GH_JWT_MAX	 2048
#define COL_GH_TOKEN_MAX 256

/*
 * Sets the app up from app_id and the PEM key file (both NULL/empty: app mode off; one without
 * the other is an error). api_url is the REST API base for the token exchange. CM_EINVAL with
 * the reason (naming the setting, never the key) in err.
 */
int col_gh_app_configure(const char *app_id, const char *key_file, const char *api_url,
			 struct cm_buf *err);
/* 1 when app mode is configured. */
int col_gh_app_enabled(void);
/* Frees the key and forgets every cached token (app mode off again). */
void col_gh_app_reset(void);

/* The app JWT for time now_s (epoch seconds) into out. CM_EINVAL when app mode is off. */
int col_gh_app_jwt(int64_t now_s, char *out, size_t size);

/*
 * An installation token for installation_id into out (at least COL_GH_TOKEN_MAX bytes): the
 * cached one while it is fresh, else a new one from GitHub. refused, when not NULL, is a token
 * GitHub has just answered 401 to: it is dropped and a new one taken (unless another thread
 * already replaced it). Returns 0; CM_EDENIED when GitHub refuses the app's JWT or the
 * installation is suspended; CM_ENOTFOUND for an installation GitHub does not know;
 * CM_EUNAVAIL when GitHub cannot be reached; CM_ETIMEDOUT when *stop became set.
 */
int col_gh_app_token(int64_t installation_id, const char *refused, char *out, size_t size,
		     volatile sig_atomic_t *stop);

/* `cipulsed github-app manifest --url URL [--name N] [--org ORG]` (manifest.c): exit status. */
int col_gh_app_command(int argc, char **argv);

#endif
