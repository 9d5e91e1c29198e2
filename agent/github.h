/*
 * A small client for the GitHub REST API: the jobs of a run attempt and the logs of a finished
 * job, over agent/http1.c, or over libcurl (loaded on first use) when a proxy is configured.
 * Works against GitHub Enterprise Server through GITHUB_API_URL.
 *
 * Every request shares one time budget: 5xx replies and network errors are retried with
 * back-off, rate-limit replies (403/429 with Retry-After or X-RateLimit-Remaining: 0 and
 * X-RateLimit-Reset) wait for the reset, all only while the budget allows; after that the
 * caller gets an error and reports what it knows without the API. Not thread safe.
 */
#ifndef AG_GITHUB_H
#define AG_GITHUB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct ag_gh {
	void *curl;	      /* CURL *, when libcurl carries the calls (else NULL) */
	void *headers;	      /* struct curl_slist * */
	char *auth;	      /* "Authorization: Bearer ..." for the native client, or NULL */
	char *api_url;	      /* without a trailing slash */
	int64_t deadline;     /* cm_time_mono_ms() at which the budget ends */
	int last_status;      /* HTTP status of the last reply (0: none) */
	char last_error[256]; /* why the last call failed, for the ::warning:: line */
	long backoff_ms;      /* first back-off (tests shorten it) */
};

/*
 * The token may be empty (public repositories). Returns 0, CM_ENOMEM, or CM_EUNAVAIL when
 * libcurl was needed (a proxy variable is set, or a GITHUB_API_URL the native client does not
 * take) and could not be loaded (the reason in gh->last_error). Then the first call loads
 * libcurl (dlopen) and initialises it (curl_global_init), on the main thread;
 * ag_gh_global_cleanup, once the agent is done with the API, undoes both (another ag_gh_init
 * loads it again) and frees the native client's TLS context.
 */
int ag_gh_init(struct ag_gh *gh, const char *api_url, const char *token, long budget_ms);
void ag_gh_global_cleanup(void);
void ag_gh_release(struct ag_gh *gh);

/*
 * All jobs of a run attempt (every page, following Link rel="next") as a new JSON array in
 * *jobs. CM_ENOTFOUND (404), CM_EAUTH (401), CM_EDENIED (403 without rate limit),
 * CM_ETIMEDOUT (budget used up), CM_EUNAVAIL (network or 5xx), CM_EPROTO (bad JSON).
 */
int ag_gh_list_jobs(struct ag_gh *gh, const char *repo, long run_id, long attempt, json_t **jobs);

/*
 * 1 when url is api (GITHUB_API_URL) or below it: the same prefix, ending where a path, a query
 * or the URL ends, so that "https://api.github.com.evil.example/" and
 * "https://api.github.com@evil.example/" are not taken for "https://api.github.com".
 */
int ag_gh_url_inside(const char *url, const char *api);

/* Where a job's log goes as it is downloaded; `reset` starts over (a retried download). */
struct ag_gh_sink {
	int (*write)(void *ctx, const char *p, size_t n); /* 0 or an error code (stops) */
	void (*reset)(void *ctx);
	void *ctx;
};

/* Streams the plain-text log of a finished job into sink, following the redirect. */
int ag_gh_job_log(struct ag_gh *gh, const char *repo, int64_t job_id,
		  const struct ag_gh_sink *sink);

/*
 * How long to wait before retrying a reply, in ms, or -1 when it is not worth retrying.
 * retry_after and reset are header values or NULL; now_s is the current epoch second.
 */
long ag_gh_retry_wait(int status, const char *retry_after, const char *remaining, const char *reset,
		      int64_t now_s, long backoff_ms);

#endif
