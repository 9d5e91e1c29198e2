#include "github.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"
#include "http1.h"
#include "proc.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_time.h"

#define PAGE_MAX       (16 * 1024 * 1024) /* one page of jobs JSON */
#define MAX_PAGES      50		  /* 5000 jobs: far beyond GitHub's 256 per matrix */
#define BACKOFF_MAX_MS 4000

/* Where a reply's body goes: JSON into a buffer, or logs into the caller's sink. */
struct sink {
	struct cm_buf *buf;
	const struct ag_gh_sink *out;
	int failed;
};

struct reply {
	struct ag_gh *gh;
	int status; /* of the reply being read, from its status line */
	struct sink *sink;
	struct cm_buf err; /* start of an error body, for the log */
	char link[2048];
	char retry_after[32];
	char remaining[32];
	char reset[32];
};

/*
 * The calls go over agent/http1.c, a small HTTP/1.1 client on the OpenSSL that gRPC loads
 * anyway, unless a proxy is configured (http_proxy, https_proxy, HTTPS_PROXY, all_proxy,
 * ALL_PROXY) or GITHUB_API_URL is one it does not take: then libcurl carries them, as before
 * (docs/agent-footprint.md).
 *
 * libcurl is loaded when it is first needed (dlopen), not linked: with the ~26
 * libraries it needs (nghttp2, librtmp and GnuTLS, libssh2, Kerberos, OpenLDAP, ...) it was
 * half of the agent's start-up CPU and 4.3 MiB of its memory (docs/agent-footprint.md), and
 * exec and flush never call the API. ag_gh_global_cleanup unloads it again once the agent is
 * done with the API, so in report mode its pages are gone before gRPC's arrive: the peak is
 * the larger of the two, not their sum. Debian and Ubuntu's libcurl4 (OpenSSL) is
 * libcurl.so.4; the release package bundles it (scripts/release-build.sh).
 */
#define LIBCURL "libcurl.so.4"

static struct {
	void *lib;
	int ready; /* curl_global_init succeeded (the first ag_gh_init, on the main thread) */
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} cu;

/* Loads libcurl and its functions; 0, or -1 with the reason in err. */
static int curl_load(char *err, size_t errsize)
{
	const char *e;

	if (cu.lib)
		return 0;
	cu.lib = dlopen(LIBCURL, RTLD_NOW | RTLD_LOCAL);
	if (!cu.lib) {
		e = dlerror();
		snprintf(err, errsize, "could not load %s, which the GitHub API calls need (%s)",
			 LIBCURL, e ? e : "unknown error");
		return -1;
	}
#define SYM(f, name)                                                                               \
	if (!(cu.f = (__typeof__(cu.f))dlsym(cu.lib, name))) {                                     \
		snprintf(err, errsize, "%s has no %s", LIBCURL, name);                             \
		dlclose(cu.lib);                                                                   \
		memset(&cu, 0, sizeof(cu));                                                        \
		return -1;                                                                         \
	}
	SYM(global_init, "curl_global_init")
	SYM(global_cleanup, "curl_global_cleanup")
	SYM(easy_init, "curl_easy_init")
	SYM(easy_cleanup, "curl_easy_cleanup")
	SYM(easy_reset, "curl_easy_reset")
	SYM(easy_setopt, "curl_easy_setopt")
	SYM(easy_perform, "curl_easy_perform")
	SYM(easy_getinfo, "curl_easy_getinfo")
	SYM(easy_strerror, "curl_easy_strerror")
	SYM(slist_append, "curl_slist_append")
	SYM(slist_free_all, "curl_slist_free_all")
#undef SYM
	return 0;
}

void ag_gh_global_cleanup(void)
{
	ag_http1_global_cleanup();
	if (cu.ready)
		cu.global_cleanup();
	cu.ready = 0;
	/*
	 * Unloaded only while this is the process's one thread: a transfer that timed out in
	 * name resolution leaves libcurl's resolver thread running (detached) in its code. Then
	 * it stays loaded, which costs memory only.
	 */
	if (cu.lib && ag_proc_status("Threads") == 1) {
		dlclose(cu.lib);
		memset(&cu, 0, sizeof(cu));
	}
}

int ag_gh_init(struct ag_gh *gh, const char *api_url, const char *token, long budget_ms)
{
	struct curl_slist *h = NULL, *n;
	struct cm_buf auth = CM_BUF_INIT(8192);
	const char *lines[] = { "Accept: application/vnd.github+json",
				"X-GitHub-Api-Version: 2022-11-28",
				"User-Agent: cipulse-agent/" AG_VERSION };

	memset(gh, 0, sizeof(*gh));
	gh->backoff_ms = 500;
	gh->deadline = cm_time_mono_ms() + budget_ms;
	gh->api_url = strndup(api_url, (size_t)cm_http_url_base_len(api_url));
	if (!gh->api_url)
		return CM_ENOMEM;
	if (!ag_http1_proxy_env() && ag_http1_url_ok(gh->api_url)) {
		/* The native client: its header lines are static, the token's line is ours. */
		if (token && *token) {
			if (cm_buf_addf(&auth, "Authorization: Bearer %s", token)) {
				cm_buf_release(&auth);
				ag_gh_release(gh);
				return CM_ENOMEM;
			}
			gh->auth = cm_buf_detach(&auth, NULL);
		}
		return CM_OK;
	}
	if (curl_load(gh->last_error, sizeof(gh->last_error))) {
		ag_gh_release(gh);
		return CM_EUNAVAIL;
	}
	/* libcurl initialises OpenSSL here (~2.4 MiB, a few ms: docs/agent-footprint.md). */
	if (!cu.ready) {
		if (cu.global_init(CURL_GLOBAL_DEFAULT)) {
			snprintf(gh->last_error, sizeof(gh->last_error),
				 "could not initialise libcurl");
			return CM_ENOMEM;
		}
		cu.ready = 1;
	}
	gh->curl = cu.easy_init();
	if (!gh->curl)
		goto fail;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		n = cu.slist_append(h, lines[i]);
		if (!n)
			goto fail;
		h = n;
	}
	if (token && *token) {
		/*
		 * libcurl (>= 7.83) sends a custom Authorization header only to the original host,
		 * so the token does not follow the log redirect to blob storage.
		 */
		if (cm_buf_addf(&auth, "Authorization: Bearer %s", token))
			goto fail;
		n = cu.slist_append(h, auth.data);
		explicit_bzero(auth.data, auth.len);
		if (!n)
			goto fail;
		h = n;
	}
	cm_buf_release(&auth);
	gh->headers = h;
	return CM_OK;
fail:
	cm_buf_release(&auth);
	cu.slist_free_all(h);
	ag_gh_release(gh);
	return CM_ENOMEM;
}

void ag_gh_release(struct ag_gh *gh)
{
	if (gh->curl)
		cu.easy_cleanup(gh->curl);
	if (gh->headers)
		cu.slist_free_all(gh->headers);
	if (gh->auth) {
		explicit_bzero(gh->auth, strlen(gh->auth));
		free(gh->auth);
	}
	free(gh->api_url);
	gh->auth = NULL;
	gh->curl = NULL;
	gh->headers = NULL;
	gh->api_url = NULL;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	if (r->status < 200 || r->status > 299) {
		/* Keep the start of an error body for the log; the rest is dropped. */
		size_t room = r->err.max - r->err.len - 1;

		if (cm_buf_add(&r->err, p, n < room ? n : room))
			return n; /* no memory for more of it: the log shows less, nothing else */
		return n;
	}
	if (r->sink->buf && cm_buf_add(r->sink->buf, p, n)) {
		r->sink->failed = CM_ETOOBIG;
		return 0;
	}
	if (r->sink->out) {
		int rc = r->sink->out->write(r->sink->out->ctx, p, n);

		if (rc) {
			r->sink->failed = rc;
			return 0;
		}
	}
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct reply *r = arg;
	size_t n = size * nmemb;

	/* A new status line (after a redirect): forget the previous reply's headers. */
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);

		r->link[0] = r->retry_after[0] = r->remaining[0] = r->reset[0] = '\0';
		r->status = 0;
		for (size_t i = sp ? (size_t)(sp - p) + 1 : n;
		     i < n && p[i] >= '0' && p[i] <= '9' && r->status < 100; i++)
			r->status = r->status * 10 + (p[i] - '0');
		return n;
	}
	cm_http_header_value(p, n, "link", r->link, sizeof(r->link));
	cm_http_header_value(p, n, "retry-after", r->retry_after, sizeof(r->retry_after));
	cm_http_header_value(p, n, "x-ratelimit-remaining", r->remaining, sizeof(r->remaining));
	cm_http_header_value(p, n, "x-ratelimit-reset", r->reset, sizeof(r->reset));
	return n;
}

/* The native client's callbacks, over libcurl's. */
static int native_header(void *ctx, const char *line, size_t n)
{
	on_header((char *)line, 1, n, ctx);
	return CM_OK;
}

static int native_body(void *ctx, const char *p, size_t n)
{
	struct reply *r = ctx;

	if (on_body((char *)p, 1, n, r) == n)
		return CM_OK;
	return r->sink->failed ? r->sink->failed : CM_ETOOBIG;
}

/*
 * One GET over the native client: CM_OK with the reply's status in *status, or a failure to
 * reach the server (status 0, the reason in gh->last_error), or a sink's error.
 */
static int native_get(struct ag_gh *gh, const char *url, struct reply *r, int follow, long left,
		      long *status)
{
	static const char *const lines[] = { "Accept: application/vnd.github+json",
					     "X-GitHub-Api-Version: 2022-11-28",
					     "User-Agent: cipulse-agent/" AG_VERSION, NULL };
	struct ag_http1_req req = { url,
				    lines,
				    gh->auth,
				    follow ? 5 : 0,
				    cm_time_mono_ms() + left,
				    left < 5000 ? left : 5000,
				    { native_header, native_body, r } };
	int st = 0, rc;

	rc = ag_http1_get(&req, &st, gh->last_error, sizeof(gh->last_error));
	*status = rc == CM_OK ? st : 0;
	if (rc == CM_EUNAVAIL || rc == CM_ETIMEDOUT || rc == CM_EPROTO)
		return CM_OK; /* not reached (status 0): retried like libcurl's failures */
	return rc;
}

long ag_gh_retry_wait(int status, const char *retry_after, const char *remaining, const char *reset,
		      int64_t now_s, long backoff_ms)
{
	char *end;
	long long v;

	if (status == 403 || status == 429) {
		if (retry_after && *retry_after) {
			errno = 0;
			v = strtoll(retry_after, &end, 10);
			if (!errno && !*end && v >= 0 && v < 86400)
				return (long)v * 1000;
		}
		if (remaining && strcmp(remaining, "0") == 0 && reset && *reset) {
			errno = 0;
			v = strtoll(reset, &end, 10);
			if (!errno && !*end && v > 0) {
				/* One second more: the reset second itself may still be limited. */
				v = v - now_s + 1;
				return v < 1 ? 1000 : v < 86400 ? (long)v * 1000 : 86400000L;
			}
		}
		/* GitHub's secondary rate limit: 403/429 with neither header; back off. */
		return status == 429 ? backoff_ms : -1;
	}
	if (status == 0 || status >= 500)
		return backoff_ms;
	return -1;
}

static int status_error(int status)
{
	switch (status) {
	case 401:
		return CM_EAUTH;
	case 403:
		return CM_EDENIED;
	case 404:
		return CM_ENOTFOUND;
	case 0:
		return CM_EUNAVAIL;
	default:
		return status >= 500 || status == 429 ? CM_EUNAVAIL : CM_EPROTO;
	}
}

/*
 * One GET over libcurl: CM_OK with the reply's status in *status (0 when the server was not
 * reached: the reason in gh->last_error), or CM_ENOMEM.
 */
static int curl_get(struct ag_gh *gh, const char *url, struct reply *r, int follow, long left,
		    long *status)
{
	CURLcode cc;

	*status = 0;
	cu.easy_reset(gh->curl);
	if (cu.easy_setopt(gh->curl, CURLOPT_URL, url) ||
	    cu.easy_setopt(gh->curl, CURLOPT_HTTPHEADER, gh->headers) ||
	    cu.easy_setopt(gh->curl, CURLOPT_WRITEFUNCTION, on_body) ||
	    cu.easy_setopt(gh->curl, CURLOPT_WRITEDATA, r) ||
	    cu.easy_setopt(gh->curl, CURLOPT_HEADERFUNCTION, on_header) ||
	    cu.easy_setopt(gh->curl, CURLOPT_HEADERDATA, r) ||
	    cu.easy_setopt(gh->curl, CURLOPT_FOLLOWLOCATION, (long)follow) ||
	    cu.easy_setopt(gh->curl, CURLOPT_MAXREDIRS, 5L) ||
	    cu.easy_setopt(gh->curl, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    cu.easy_setopt(gh->curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ||
	    cu.easy_setopt(gh->curl, CURLOPT_ACCEPT_ENCODING, "") ||
	    cu.easy_setopt(gh->curl, CURLOPT_NOSIGNAL, 1L) ||
	    cu.easy_setopt(gh->curl, CURLOPT_CONNECTTIMEOUT_MS, left < 5000 ? left : 5000L) ||
	    cu.easy_setopt(gh->curl, CURLOPT_TIMEOUT_MS, left))
		return CM_ENOMEM;
	cc = cu.easy_perform(gh->curl);
	if (cc == CURLE_OK)
		cu.easy_getinfo(gh->curl, CURLINFO_RESPONSE_CODE, status);
	else
		snprintf(gh->last_error, sizeof(gh->last_error), "%s", cu.easy_strerror(cc));
	return CM_OK;
}

/* GETs url into sink, retrying within the budget. The final reply's Link into link. */
static int request(struct ag_gh *gh, const char *url, struct sink *sink, int follow, char *link,
		   size_t linksize)
{
	long backoff = gh->backoff_ms;
	int rc;

	for (;;) {
		struct reply r;
		int64_t left = gh->deadline - cm_time_mono_ms();
		long status = 0, wait;

		memset(&r, 0, sizeof(r));
		r.gh = gh;
		r.sink = sink;
		cm_buf_init(&r.err, 512);
		if (sink->buf)
			cm_buf_reset(sink->buf);
		if (sink->out)
			sink->out->reset(sink->out->ctx);
		sink->failed = 0;
		if (left < 200) {
			snprintf(gh->last_error, sizeof(gh->last_error),
				 "time budget used up before %s", url + strlen(gh->api_url));
			return CM_ETIMEDOUT;
		}
		rc = gh->curl ? curl_get(gh, url, &r, follow, (long)left, &status)
			      : native_get(gh, url, &r, follow, (long)left, &status);
		if (sink->failed) {
			cm_buf_release(&r.err);
			snprintf(gh->last_error, sizeof(gh->last_error), "reply too large");
			return sink->failed;
		}
		if (rc) {
			cm_buf_release(&r.err);
			return rc;
		}
		gh->last_status = (int)status;
		if (status >= 200 && status <= 299) {
			if (link)
				snprintf(link, linksize, "%s", r.link);
			cm_buf_release(&r.err);
			return CM_OK;
		}
		if (status)
			snprintf(gh->last_error, sizeof(gh->last_error), "HTTP %ld", status);
		cm_log_debug("github", "request failed url=%s status=%ld body=%.200s", url, status,
			     cm_buf_str(&r.err));
		wait = ag_gh_retry_wait((int)status, r.retry_after, r.remaining, r.reset,
					(int64_t)time(NULL), backoff);
		cm_buf_release(&r.err);
		rc = status_error((int)status);
		if (wait < 0)
			return rc;
		if (cm_time_mono_ms() + wait > gh->deadline - 200) {
			if (status == 403 || status == 429) {
				snprintf(
				    gh->last_error, sizeof(gh->last_error),
				    "rate limited (HTTP %ld); reset in %lds, beyond the time budget",
				    status, (wait + 999) / 1000);
				return CM_ETIMEDOUT;
			}
			return rc;
		}
		cm_log_info("github", "retrying in %ldms status=%ld", wait, status);
		cm_time_sleep_ms(wait);
		if (backoff < BACKOFF_MAX_MS)
			backoff *= 2;
	}
}
int ag_gh_list_jobs(struct ag_gh *gh, const char *repo, long run_id, long attempt, json_t **jobs)
{
	struct cm_buf body = CM_BUF_INIT(PAGE_MAX);
	struct sink sink = { &body, NULL, 0 };
	char url[4096], next[4096];
	json_t *all = json_array();
	int rc = CM_OK, pages = 0;

	*jobs = NULL;
	if (!all)
		return CM_ENOMEM;
	snprintf(url, sizeof(url), "%s/repos/%s/actions/runs/%ld/attempts/%ld/jobs?per_page=100",
		 gh->api_url, repo, run_id, attempt);
	while (*url) {
		json_error_t jerr;
		json_t *page, *arr;

		if (++pages > MAX_PAGES)
			break;
		rc = request(gh, url, &sink, 0, next, sizeof(next));
		if (rc)
			goto out;
		page = json_loadb(body.data ? body.data : "", body.len, 0, &jerr);
		arr = json_object_get(page, "jobs");
		if (!json_is_array(arr)) {
			json_decref(page);
			snprintf(gh->last_error, sizeof(gh->last_error), "jobs reply is not JSON");
			rc = CM_EPROTO;
			goto out;
		}
		rc = json_array_extend(all, arr) ? CM_ENOMEM : CM_OK;
		json_decref(page);
		if (rc)
			goto out;
		url[0] = '\0';
		/* Follow only links back into the API: the token must not go anywhere else. */
		if (*next && cm_http_link_next(next, url, sizeof(url)) == CM_OK &&
		    !ag_gh_url_inside(url, gh->api_url)) {
			cm_log_warn("github", "ignoring a next-page link outside GITHUB_API_URL");
			url[0] = '\0';
		}
	}
	*jobs = all;
	all = NULL;
out:
	json_decref(all);
	cm_buf_release(&body);
	return rc;
}

int ag_gh_url_inside(const char *url, const char *api)
{
	size_t n = strlen(api);

	if (!n || strncmp(url, api, n) != 0)
		return 0;
	return api[n - 1] == '/' || url[n] == '/' || url[n] == '?' || url[n] == '\0';
}

int ag_gh_job_log(struct ag_gh *gh, const char *repo, int64_t job_id, const struct ag_gh_sink *out)
{
	struct sink sink = { NULL, out, 0 };
	char url[4096];

	snprintf(url, sizeof(url), "%s/repos/%s/actions/jobs/%lld/logs", gh->api_url, repo,
		 (long long)job_id);
	return request(gh, url, &sink, 1, NULL, 0);
}
