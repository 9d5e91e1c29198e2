#include "github/client.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_http.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "github/app.h"
#include "version.h"

/*
 * Rate-limit state per budget, shared by every client of this process: a token's (personal
 * tokens) or an installation's (app mode: each installation has a budget of its own, whatever
 * token of it is current).
 */
struct rate {
	char key[24]; /* first 16 hex digits of the token's SHA-256, "i<installation id>", "" for
			 anonymous */
	long remaining;
	long limit;
	int64_t reset_s;    /* epoch seconds of the window's reset */
	int64_t warned_for; /* the reset we last logged "slowing down" for */
};

#define MAX_RATES 64

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rate rates[MAX_RATES];
static int nrates;

struct col_gh_client {
	CURL *curl;
	char *base;
	char *auth; /* "Authorization: Bearer ..." or NULL */
	char key[24];
	int64_t installation; /* app mode: the installation whose tokens it uses; 0 otherwise */
	char token[COL_GH_TOKEN_MAX]; /* app mode: the installation token in use */
	volatile sig_atomic_t *stop;
	long requests;
};

/* Per-response header values, filled by the header callback. */
struct hdrs {
	struct col_gh_resp *resp;
	long remaining;
	long limit;
	int64_t reset_s;
	long retry_after;
};

static struct rate *rate_get(const char *key)
{
	for (int i = 0; i < nrates; i++) {
		if (!strcmp(rates[i].key, key))
			return &rates[i];
	}
	if (nrates == MAX_RATES)
		return &rates[MAX_RATES - 1]; /* shared overflow slot: still bounded, still safe */
	memset(&rates[nrates], 0, sizeof(rates[0]));
	snprintf(rates[nrates].key, sizeof(rates[0].key), "%s", key);
	rates[nrates].remaining = -1;
	return &rates[nrates++];
}

static struct col_metric *m_remaining, *m_throttled, *m_waits, *m_paced;

static void metrics_init(void)
{
	if (m_remaining)
		return;
	m_remaining = col_metric_gauge("cipulse_github_ratelimit_remaining", "",
				       "GitHub API requests left in the current rate-limit window "
				       "(last answer seen).");
	m_throttled =
	    col_metric_gauge("cipulse_github_ratelimit_throttled", "",
			     "1 while the poller spreads requests because the GitHub rate "
			     "limit is low.");
	m_waits = col_metric_counter("cipulse_github_ratelimit_waits_total", "",
				     "Times the poller waited for a GitHub rate-limit reset.");
	m_paced = col_metric_counter("cipulse_github_ratelimit_paced_requests_total", "",
				     "GitHub requests delayed to spread a low rate limit.");
}

static void count_request(long status)
{
	char labels[32];
	const char *cls = status == 200	  ? "200"
			  : status == 304 ? "304"
			  : status >= 500 ? "5xx"
			  : status >= 400 ? "4xx"
					  : "error";

	snprintf(labels, sizeof(labels), "status=\"%s\"", cls);
	col_metric_inc(col_metric_counter("cipulse_github_requests_total", labels,
					  "GitHub REST API requests by answer."));
}

/* Sleeps ms in short slices so that a stop request ends it at once. */
static int sleep_ms(const struct col_gh_client *c, int64_t ms)
{
	int64_t until = cm_time_mono_ms() + ms;

	while (!*c->stop) {
		int64_t left = until - cm_time_mono_ms();
		struct timespec ts;

		if (left <= 0)
			return CM_OK;
		if (left > 100)
			left = 100;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return CM_ETIMEDOUT;
}

int col_gh_client_new(struct col_gh_client **out, const char *base_url, const char *token,
		      volatile sig_atomic_t *stop)
{
	struct col_gh_client *c = calloc(1, sizeof(*c));

	if (!c)
		return CM_ENOMEM;
	c->stop = stop;
	c->base = strdup(base_url);
	if (!c->base)
		goto fail;
	c->base[cm_http_url_base_len(c->base)] = '\0';
	if (token && *token) {
		char hash[65];
		size_t n = strlen(token) + 32;

		c->auth = malloc(n);
		if (!c->auth)
			goto fail;
		snprintf(c->auth, n, "Authorization: Bearer %s", token);
		cm_sha256_hex(token, strlen(token), hash);
		memcpy(c->key, hash, 16);
		c->key[16] = '\0';
	}
	c->curl = curl_easy_init();
	if (!c->curl)
		goto fail;
	metrics_init();
	*out = c;
	return CM_OK;
fail:
	col_gh_client_free(c);
	return CM_ENOMEM;
}

int col_gh_client_new_installation(struct col_gh_client **out, const char *base_url,
				   int64_t installation_id, volatile sig_atomic_t *stop)
{
	struct col_gh_client *c;
	int rc = col_gh_client_new(&c, base_url, NULL, stop);

	if (rc)
		return rc;
	c->installation = installation_id;
	snprintf(c->key, sizeof(c->key), "i%" PRId64, installation_id);
	c->auth = malloc(COL_GH_TOKEN_MAX + 32);
	if (!c->auth) {
		col_gh_client_free(c);
		return CM_ENOMEM;
	}
	c->auth[0] = '\0';
	*out = c;
	return CM_OK;
}

/* App mode: the installation's current token into the Authorization line. */
static int take_token(struct col_gh_client *c, int renew)
{
	char refused[COL_GH_TOKEN_MAX];
	int rc;

	snprintf(refused, sizeof(refused), "%s", c->token);
	rc = col_gh_app_token(c->installation, renew ? refused : NULL, c->token, sizeof(c->token),
			      c->stop);
	memset(refused, 0, sizeof(refused));
	if (rc) {
		c->auth[0] = '\0';
		return rc;
	}
	snprintf(c->auth, COL_GH_TOKEN_MAX + 32, "Authorization: Bearer %s", c->token);
	return CM_OK;
}

void col_gh_client_free(struct col_gh_client *c)
{
	if (!c)
		return;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	if (c->auth) {
		memset(c->auth, 0, strlen(c->auth));
		free(c->auth);
	}
	memset(c->token, 0, sizeof(c->token));
	free(c->base);
	free(c);
}

long col_gh_client_requests(const struct col_gh_client *c)
{
	return c->requests;
}

void col_gh_resp_init(struct col_gh_resp *r)
{
	memset(r, 0, sizeof(*r));
	cm_buf_init(&r->body, COL_GH_MAX_BODY);
}

void col_gh_resp_release(struct col_gh_resp *r)
{
	cm_buf_release(&r->body);
}

/* The reply's body into a cm_buf; over its cap, returning less than given makes curl fail. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	return cm_buf_add(arg, data, size * n) == CM_OK ? size * n : 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct hdrs *h = arg;
	size_t len = size * n;
	char v[2048];

	if (cm_http_header_value(data, len, "ETag", h->resp->etag, sizeof(h->resp->etag)))
		return len;
	if (cm_http_header_value(data, len, "Link", v, sizeof(v))) {
		if (cm_http_link_next(v, h->resp->next, sizeof(h->resp->next)))
			h->resp->next[0] = '\0';
	} else if (cm_http_header_value(data, len, "X-RateLimit-Remaining", v, sizeof(v)))
		h->remaining = strtol(v, NULL, 10);
	else if (cm_http_header_value(data, len, "X-RateLimit-Limit", v, sizeof(v)))
		h->limit = strtol(v, NULL, 10);
	else if (cm_http_header_value(data, len, "X-RateLimit-Reset", v, sizeof(v)))
		h->reset_s = strtoll(v, NULL, 10);
	else if (cm_http_header_value(data, len, "Retry-After", v, sizeof(v)))
		h->retry_after = strtol(v, NULL, 10);
	return len;
}

/* arg: the stop flag (may be NULL); non-zero aborts the transfer, so shutdown is prompt. */
static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	volatile sig_atomic_t *stop = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return stop && *stop ? 1 : 0;
}

/* Appends the n header lines to *list (NULL ones skipped); CM_ENOMEM frees the whole list. */
static int header_list(struct curl_slist **list, const char *const *lines, size_t n)
{
	struct curl_slist *tmp;

	for (size_t i = 0; i < n; i++) {
		if (!lines[i])
			continue;
		tmp = curl_slist_append(*list, lines[i]);
		if (!tmp) {
			curl_slist_free_all(*list);
			*list = NULL;
			return CM_ENOMEM;
		}
		*list = tmp;
	}
	return CM_OK;
}

/* What a GET and a POST to GitHub share: URL, headers, body into `body`, stop flag, timeouts. */
static void request_opts(CURL *curl, const char *url, struct curl_slist *list, struct cm_buf *body,
			 volatile sig_atomic_t *stop, long timeout_ms)
{
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, stop);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
}

/* Before a request: spread the remaining requests over the window, or wait for its reset. */
static int pace(struct col_gh_client *c)
{
	int64_t now = cm_time_now_ms() / 1000, delay_ms = 0;
	struct rate *r;
	long low;
	int pacing = 0;

	pthread_mutex_lock(&rate_lock);
	r = rate_get(c->key);
	low = r->limit / 10 > 50 ? r->limit / 10 : 50;
	if (r->remaining >= 0 && r->reset_s > now) {
		if (r->remaining == 0) {
			delay_ms = (r->reset_s - now + 1) * 1000;
		} else if (r->remaining <= low) {
			pacing = 1;
			delay_ms = (r->reset_s - now) * 1000 / (r->remaining + 1);
			if (delay_ms > 60000)
				delay_ms = 60000;
			if (r->warned_for != r->reset_s) {
				r->warned_for = r->reset_s;
				cm_log_warn("github",
					    "rate limit low; slowing down remaining=%ld "
					    "limit=%ld reset_in=%llds delay_ms=%lld",
					    r->remaining, r->limit, (long long)(r->reset_s - now),
					    (long long)delay_ms);
			}
		}
	}
	col_metric_set(m_throttled, delay_ms > 0 ? 1 : 0);
	pthread_mutex_unlock(&rate_lock);
	if (delay_ms > COL_GH_MAX_WAIT_MS) {
		cm_log_warn("github", "rate limit exhausted until reset reset_in=%llds",
			    (long long)(delay_ms / 1000));
		return CM_EUNAVAIL;
	}
	if (delay_ms > 0 && pacing)
		col_metric_inc(m_paced);
	if (delay_ms >= 1000 && !pacing) {
		col_metric_inc(m_waits);
		cm_log_info("github", "waiting for the rate limit wait_ms=%lld",
			    (long long)delay_ms);
	}
	return delay_ms > 0 ? sleep_ms(c, delay_ms) : CM_OK;
}

static void remember(struct col_gh_client *c, const struct hdrs *h)
{
	struct rate *r;

	if (h->remaining < 0)
		return;
	pthread_mutex_lock(&rate_lock);
	r = rate_get(c->key);
	r->remaining = h->remaining;
	if (h->limit > 0)
		r->limit = h->limit;
	if (h->reset_s > 0)
		r->reset_s = h->reset_s;
	col_metric_set(m_remaining, (double)h->remaining);
	pthread_mutex_unlock(&rate_lock);
}

static int perform(struct col_gh_client *c, const char *url, const char *if_none_match,
		   struct col_gh_resp *resp, struct hdrs *h)
{
	struct curl_slist *list = NULL;
	char inm[300], ua[64];
	const char *lines[] = { "Accept: application/vnd.github+json",
				"X-GitHub-Api-Version: 2022-11-28", ua, c->auth,
				if_none_match && *if_none_match ? inm : NULL };
	CURLcode cc;
	int rc = CM_OK;

	snprintf(ua, sizeof(ua), "User-Agent: cipulse/%s", CIPULSE_VERSION);
	if (lines[4])
		snprintf(inm, sizeof(inm), "If-None-Match: %s", if_none_match);
	if (header_list(&list, lines, sizeof(lines) / sizeof(lines[0])))
		return CM_ENOMEM;
	cm_buf_reset(&resp->body);
	resp->etag[0] = resp->next[0] = '\0';
	memset(h, 0, sizeof(*h));
	h->resp = resp;
	h->remaining = -1;
	curl_easy_reset(c->curl);
	request_opts(c->curl, url, list, &resp->body, c->stop, 60000L);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, "");
	c->requests++;
	cc = curl_easy_perform(c->curl);
	curl_slist_free_all(list);
	if (cc != CURLE_OK) {
		if (*c->stop)
			return CM_ETIMEDOUT;
		count_request(0);
		cm_log_warn("github", "request failed: %s", curl_easy_strerror(cc));
		return cc == CURLE_WRITE_ERROR ? CM_EPROTO : CM_EUNAVAIL;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	count_request(resp->status);
	remember(c, h);
	return rc;
}

int col_gh_get(struct col_gh_client *c, const char *path_or_url, const char *if_none_match,
	       struct col_gh_resp *resp)
{
	char url[4096];
	struct hdrs h;
	int rc;

	if (path_or_url[0] == '/') {
		snprintf(url, sizeof(url), "%s%s", c->base, path_or_url);
	} else {
		/* A Link header must not send our token to another host. */
		size_t blen = strlen(c->base);

		if (strncmp(path_or_url, c->base, blen) ||
		    (path_or_url[blen] != '/' && path_or_url[blen] != '?'))
			return CM_EPROTO;
		snprintf(url, sizeof(url), "%s", path_or_url);
	}
	for (int attempt = 0, renewed = 0;; attempt++) {
		int limited;

		rc = pace(c);
		if (rc)
			return rc;
		if (c->installation) {
			/* The cached token, or a new one a few minutes before it expires. */
			rc = take_token(c, 0);
			if (rc)
				return rc;
		}
		rc = perform(c, url, if_none_match, resp, &h);
		if (rc)
			return rc;
		if (resp->status == 401 && c->installation && !renewed) {
			/* Revoked or expired early: one new token, one more try. */
			renewed = 1;
			attempt--;
			cm_log_info("github",
				    "installation token refused; taking a new one "
				    "installation=%" PRId64,
				    c->installation);
			rc = take_token(c, 1);
			if (rc)
				return rc;
			continue;
		}
		limited = (resp->status == 403 || resp->status == 429) &&
			  (h.remaining == 0 || h.retry_after > 0);
		if (!limited || attempt > 0)
			break;
		/* Secondary limits say Retry-After; primary ones X-RateLimit-Reset. */
		{
			int64_t wait_ms = h.retry_after > 0
					      ? (int64_t)h.retry_after * 1000
					      : (h.reset_s - cm_time_now_ms() / 1000 + 1) * 1000;

			if (wait_ms < 0)
				wait_ms = 0;
			if (wait_ms > COL_GH_MAX_WAIT_MS) {
				cm_log_warn("github",
					    "rate limited; giving up until the reset "
					    "reset_in=%llds",
					    (long long)(wait_ms / 1000));
				return CM_EUNAVAIL;
			}
			col_metric_inc(m_waits);
			cm_log_warn("github", "rate limited; waiting wait_ms=%lld",
				    (long long)wait_ms);
			rc = sleep_ms(c, wait_ms);
			if (rc)
				return rc;
		}
	}
	switch (resp->status) {
	case 200:
	case 304:
		return CM_OK;
	case 404:
		return CM_ENOTFOUND;
	case 401:
	case 403:
	case 429:
		return (resp->status == 401 || h.remaining != 0) && resp->status != 429
			   ? CM_EDENIED
			   : CM_EUNAVAIL;
	default:
		return resp->status >= 500 ? CM_EUNAVAIL : CM_EPROTO;
	}
}

int col_gh_post(const char *what, const char *url, const char *const *headers, size_t nheaders,
		const char *body, size_t len, struct cm_buf *out, long *status,
		volatile sig_atomic_t *stop)
{
	struct curl_slist *list = NULL;
	CURLcode cc;
	CURL *curl;

	*status = 0;
	if (header_list(&list, headers, nheaders))
		return CM_ENOMEM;
	curl = curl_easy_init();
	if (!curl) {
		curl_slist_free_all(list);
		return CM_ENOMEM;
	}
	request_opts(curl, url, list, out, stop, 30000L);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)len);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(list);
	if (cc == CURLE_OK)
		return CM_OK;
	if (stop && *stop)
		return CM_ETIMEDOUT;
	cm_log_warn("github", "%s: request failed: %s", what, curl_easy_strerror(cc));
	return CM_EUNAVAIL;
}
