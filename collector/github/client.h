/*
 * A small GitHub REST API client (libcurl) for the poller and backfill: GET with a token,
 * conditional requests (If-None-Match -> 304), the Link header's rel="next" for pagination, and
 * rate-limit awareness shared by every client of the same token in this process.
 *
 * Rate limits. Every answer's X-RateLimit-Remaining/-Limit/-Reset is remembered per token. Once
 * fewer than a tenth of the requests (at least 50) remain, requests are spread over the time
 * left until the reset instead of being spent at once ("slowing down", logged once per window,
 * cipulse_github_ratelimit_throttled = 1). At 0 remaining, or on a 403/429 that says so
 * (Retry-After or X-RateLimit-Remaining: 0), the client waits for the reset and retries once.
 * Every wait ends early when *stop becomes non-zero (shutdown); the call then fails with
 * CM_ETIMEDOUT. Waits longer than COL_GH_MAX_WAIT_MS fail with CM_EUNAVAIL instead.
 *
 * App mode (github/app.h): a client made for an installation sends that installation's token,
 * taken from the process-wide cache before each request (so a token renewed meanwhile is used
 * at once), and is paced by the installation's budget: each installation has its own rate limit
 * on GitHub. A 401 drops the token, takes a new one and tries once more.
 *
 * A client is used by one thread at a time. Tokens never appear in logs or errors.
 */
#ifndef COL_GHAPI_H
#define COL_GHAPI_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"

#define COL_GH_MAX_BODY	   (32u << 20)
#define COL_GH_MAX_WAIT_MS (15 * 60 * 1000)

struct col_gh_client;

struct col_gh_resp {
	long status;	    /* HTTP status; 304 when the ETag matched */
	struct cm_buf body; /* the reply (max COL_GH_MAX_BODY) */
	char etag[256];	    /* ETag of the reply, "" when none */
	char next[2048];    /* absolute URL of rel="next", "" on the last page */
};

/* A client for base_url (e.g. https://api.github.com) with token (NULL: anonymous). */
int col_gh_client_new(struct col_gh_client **out, const char *base_url, const char *token,
		      volatile sig_atomic_t *stop);
/* A client that authenticates as GitHub App installation installation_id (github/app.h). */
int col_gh_client_new_installation(struct col_gh_client **out, const char *base_url,
				   int64_t installation_id, volatile sig_atomic_t *stop);
void col_gh_client_free(struct col_gh_client *c);
/* Requests made by this client (200s, 304s and errors alike). */
long col_gh_client_requests(const struct col_gh_client *c);

void col_gh_resp_init(struct col_gh_resp *r);
void col_gh_resp_release(struct col_gh_resp *r);

/*
 * GET path_or_url (a path below the base URL, or an absolute URL from a Link header, which must
 * be below the base URL). if_none_match may be NULL. Returns 0 with resp->status 200 or 304;
 * CM_ENOTFOUND for 404; CM_EDENIED for 401/403 that is not a rate limit; CM_EUNAVAIL for
 * network errors, 5xx and rate limits that outlast COL_GH_MAX_WAIT_MS; CM_ETIMEDOUT when
 * stopped; CM_EPROTO for other statuses or a reply over COL_GH_MAX_BODY.
 */
int col_gh_get(struct col_gh_client *c, const char *path_or_url, const char *if_none_match,
	       struct col_gh_resp *resp);

/*
 * A POST outside the client's pacing (token exchanges: the app's installation tokens, a user's
 * sign-in code): body (len bytes; "" for none) to url with the header lines given, the reply
 * into out (its own cap), *status set. Connecting takes at most 10 s, the whole 30 s. 0 when an
 * answer came (any status); CM_EUNAVAIL when none did (logged under `what`, without the
 * headers or body); CM_ETIMEDOUT when *stop became set; CM_ENOMEM.
 */
int col_gh_post(const char *what, const char *url, const char *const *headers, size_t nheaders,
		const char *body, size_t len, struct cm_buf *out, long *status,
		volatile sig_atomic_t *stop);

#endif
