/* What the notifiers share: one HTTP POST with timeouts and the outcome mapped for the outbox. */
#include "alert/notify.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/target.h"
#include "cm_err.h"
#include "cm_http.h"
#include "version.h"

const struct col_notifier *col_notifier_find(const char *kind)
{
	static const struct col_notifier *const all[] = { &col_notifier_slack, &col_notifier_teams,
							  &col_notifier_email,
							  &col_notifier_webhook };

	for (size_t i = 0; kind && i < sizeof(all) / sizeof(all[0]); i++) {
		if (!strcmp(all[i]->kind, kind))
			return all[i];
	}
	return NULL;
}

const char *col_notify_title(const struct col_alert_msg *m)
{
	if (!strcmp(m->event, "resolve"))
		return "Resolved";
	if (!strcmp(m->event, "test"))
		return "Test message";
	if (!strcmp(m->event, "repeat"))
		return "Still failing";
	if (m->kind && !strcmp(m->kind, "flapping"))
		return "Flapping";
	if (m->kind && !strcmp(m->kind, "regression"))
		return "Success rate regression";
	if (m->kind && !strcmp(m->kind, "slow_build"))
		return "Slow builds";
	return "Failure";
}

void col_notify_short_sha(const struct col_alert_msg *m, char out[8])
{
	snprintf(out, 8, "%.7s", m->head_sha ? m->head_sha : "");
}

/* Receivers' replies are read only for their first bytes (error messages). */
#define REPLY_MAX 1024

struct reply {
	char text[REPLY_MAX];
	size_t len;
	long retry_after_s;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n, take = len;

	if (take > sizeof(r->text) - 1 - r->len)
		take = sizeof(r->text) - 1 - r->len;
	memcpy(r->text + r->len, p, take);
	r->len += take;
	r->text[r->len] = '\0';
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	char v[128];

	if (cm_http_header_value(p, size * n, "Retry-After", v, sizeof(v))) {
		char *end;
		long s = strtol(v, &end, 10);

		if (end != v && !*end && s >= 0) {
			r->retry_after_s = s;
		} else {
			/* An HTTP date. */
			time_t t = curl_getdate(v, NULL);

			if (t > 0)
				r->retry_after_s = t > time(NULL) ? (long)(t - time(NULL)) : 0;
		}
	}
	return size * n;
}

/* The receiver's reply as a short, single-line error text (only printable ASCII kept). */
static void reply_error(struct col_notify_result *res, long status, const struct reply *r)
{
	size_t o;

	o = (size_t)snprintf(res->error, sizeof(res->error), "http %ld: ", status);
	for (size_t i = 0; i < r->len && o + 1 < sizeof(res->error) && o < 200; i++) {
		unsigned char ch = (unsigned char)r->text[i];

		res->error[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	res->error[o] = '\0';
}

int col_notify_post_json(const struct col_config *cfg, const char *url, const char *body,
			 const char *const *extra, struct col_notify_result *res)
{
	struct curl_slist *hdrs = NULL, *tmp, *resolve = NULL;
	struct reply reply = { .len = 0 };
	char pin[320], why[160];
	CURL *curl;
	CURLcode cc;
	long status = 0;
	int rc;

	res->status = 0;
	res->retry_after_s = 0;
	res->error[0] = '\0';
	/*
	 * Right before each send (DNS may have changed since the target was stored), and then
	 * connect to exactly the address checked.
	 */
	rc = col_target_check(url, cfg->allow_private_targets, pin, sizeof(pin), why, sizeof(why));
	if (rc) {
		snprintf(res->error, sizeof(res->error), "%s", why);
		return rc == CM_EUNAVAIL ? CM_EUNAVAIL : CM_EINVAL;
	}
	if (pin[0] && !(resolve = curl_slist_append(NULL, pin)))
		return CM_ENOMEM;
	curl = curl_easy_init();
	if (!curl) {
		curl_slist_free_all(resolve);
		return CM_ENOMEM;
	}
	tmp = curl_slist_append(hdrs, "Content-Type: application/json; charset=utf-8");
	for (size_t i = 0; tmp && extra && extra[i]; i++) {
		hdrs = tmp;
		tmp = curl_slist_append(hdrs, extra[i]);
	}
	if (!tmp) {
		curl_slist_free_all(hdrs);
		curl_slist_free_all(resolve);
		curl_easy_cleanup(curl);
		return CM_ENOMEM;
	}
	hdrs = tmp;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cipulse/" CIPULSE_VERSION);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, cfg->notify_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, cfg->notify_timeout_ms / 3);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
	cc = curl_easy_perform(curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(curl);
	curl_slist_free_all(resolve);
	res->status = status;
	if (cc != CURLE_OK) {
		/* curl's own words name no URL; the URL itself is a secret. */
		snprintf(res->error, sizeof(res->error), "%s", curl_easy_strerror(cc));
		if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
			return CM_EINVAL;
		return CM_EUNAVAIL;
	}
	if (status >= 200 && status < 300)
		return CM_OK;
	reply_error(res, status, &reply);
	if (status == 429) {
		res->retry_after_s = reply.retry_after_s;
		rc = CM_EUNAVAIL;
	} else if (status == 408 || status >= 500) {
		rc = CM_EUNAVAIL;
	} else {
		rc = CM_EINVAL;
	}
	return rc;
}

int col_notify_post_rendered(const struct col_config *cfg, const char *url, char *body,
			     const char *const *extra, struct col_notify_result *res)
{
	int rc;

	if (!body) {
		memset(res, 0, sizeof(*res));
		snprintf(res->error, sizeof(res->error), "could not render the message");
		return CM_EUNAVAIL;
	}
	rc = col_notify_post_json(cfg, url, body, extra, res);
	free(body);
	return rc;
}

int col_notify_add_escaped(struct cm_buf *b, char ch, int quotes)
{
	switch (ch) {
	case '&':
		return cm_buf_adds(b, "&amp;");
	case '<':
		return cm_buf_adds(b, "&lt;");
	case '>':
		return cm_buf_adds(b, "&gt;");
	case '"':
		return quotes ? cm_buf_adds(b, "&quot;") : cm_buf_addc(b, ch);
	case '\'':
		return quotes ? cm_buf_adds(b, "&#39;") : cm_buf_addc(b, ch);
	default:
		return cm_buf_addc(b, ch);
	}
}
