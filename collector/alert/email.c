/*
 * E-mail over SMTP with libcurl: smtp:// upgrades with STARTTLS when the server offers it,
 * smtps:// is TLS from the start; AUTH uses the URL's user info (CIPULSE_SMTP_URL). The mail is
 * multipart text + HTML (user text HTML-escaped), both base64 so that no line is too long; the
 * subject is an RFC 2047 encoded word, so user text can never add a header. Message-ID is stable
 * per alert and event, and a resolve names the open mail in In-Reply-To and References so that
 * mail clients thread it under the alert.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alert/notify.h"
#include "cm_buf.h"
#include "cm_crypto.h"
#include "cm_err.h"

#define MAIL_MAX (1024 * 1024)

/* Appends base64 of data, in lines of 76 characters. */
static int add_base64(struct cm_buf *b, const char *data, size_t n, int wrap)
{
	unsigned char out[80];
	int rc = CM_OK;

	for (size_t i = 0; i < n && rc == CM_OK; i += 57) {
		size_t k = n - i < 57 ? n - i : 57;
		int len = EVP_EncodeBlock(out, (const unsigned char *)data + i, (int)k);

		rc = cm_buf_add(b, out, (size_t)len);
		if (rc == CM_OK && wrap)
			rc = cm_buf_adds(b, "\r\n");
	}
	return rc;
}

static int html_esc(struct cm_buf *b, const char *s)
{
	int rc = CM_OK;

	for (; s && *s && rc == CM_OK; s++)
		rc = col_notify_add_escaped(b, *s, 1);
	return rc;
}

/* The domain of the sender address, for Message-IDs ("localhost" when it has none). */
static void domain_of(const char *from, char *out, size_t size)
{
	const char *at = strrchr(from, '@');
	size_t n = 0;

	if (at) {
		for (at++; at[n] && at[n] != '>' && n + 1 < size; n++)
			;
		memcpy(out, at, n);
	}
	out[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		char ch = out[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
			n = 0;
	}
	if (!n)
		snprintf(out, size, "localhost");
}

/* A bare address without angle brackets or anything that could end a header or an SMTP line. */
static int plain_address(const char *s)
{
	if (!*s || !strchr(s, '@'))
		return 0;
	for (; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' || *s == ',' || *s == 0x7f)
			return 0;
	}
	return 1;
}

static int text_part(struct cm_buf *b, const struct col_alert_msg *m)
{
	char sha[8];
	int rc;

	col_notify_short_sha(m, sha);
	rc = cm_buf_addf(b, "%s: %s\n\n", col_notify_title(m), m->summary ? m->summary : "");
	if (!rc && m->repo)
		rc = cm_buf_addf(b, "Repository: %s\n", m->repo);
	if (!rc && m->workflow)
		rc = cm_buf_addf(b, "Workflow:   %s\n", m->workflow);
	if (!rc && m->branch)
		rc = cm_buf_addf(b, "Branch:     %s\n", m->branch);
	if (!rc && m->run_id)
		rc = cm_buf_addf(b, "%s #%lld%s%s\n",
				 !strcmp(m->event, "resolve") ? "Fixed by:   run"
							      : "Run:        run",
				 (long long)(m->run_number ? m->run_number : m->run_id),
				 m->conclusion ? ", " : "", m->conclusion ? m->conclusion : "");
	if (!rc && *sha)
		rc = cm_buf_addf(b, "Commit:     %s %s\n", sha,
				 m->head_message ? m->head_message : "");
	if (!rc && m->actor)
		rc = cm_buf_addf(b, "Actor:      %s\n", m->actor);
	for (int i = 0; !rc && i < m->njobs; i++) {
		rc = cm_buf_addf(b, "\nJob %s failed%s%s\n", m->jobs[i].name ? m->jobs[i].name : "",
				 m->jobs[i].step ? " at step " : "",
				 m->jobs[i].step ? m->jobs[i].step : "");
		if (!rc && m->jobs[i].log_tail)
			rc = cm_buf_addf(b, "----\n%s\n----\n", m->jobs[i].log_tail);
	}
	if (!rc && m->html_url)
		rc = cm_buf_addf(b, "\nOn GitHub: %s\n", m->html_url);
	if (!rc && m->dashboard_url)
		rc = cm_buf_addf(b, "In cipulse: %s\n", m->dashboard_url);
	return rc;
}

static int html_row(struct cm_buf *b, const char *k, const char *v)
{
	int rc;

	if (!v)
		return CM_OK;
	rc = cm_buf_addf(b, "<tr><th align=\"left\">%s</th><td>", k);
	if (!rc)
		rc = html_esc(b, v);
	if (!rc)
		rc = cm_buf_adds(b, "</td></tr>\n");
	return rc;
}

static int html_link(struct cm_buf *b, const char *url, const char *label)
{
	int rc;

	if (!url)
		return CM_OK;
	rc = cm_buf_adds(b, "<p><a href=\"");
	if (!rc)
		rc = html_esc(b, url);
	if (!rc)
		rc = cm_buf_addf(b, "\">%s</a></p>\n", label);
	return rc;
}

static int html_part(struct cm_buf *b, const struct col_alert_msg *m)
{
	char sha[8];
	int rc;

	col_notify_short_sha(m, sha);
	rc = cm_buf_addf(b, "<!DOCTYPE html>\n<html><body>\n<h2>%s: ", col_notify_title(m));
	if (!rc)
		rc = html_esc(b, m->summary);
	if (!rc)
		rc = cm_buf_adds(b, "</h2>\n<table>\n");
	if (!rc)
		rc = html_row(b, "Repository", m->repo);
	if (!rc)
		rc = html_row(b, "Workflow", m->workflow);
	if (!rc)
		rc = html_row(b, "Branch", m->branch);
	if (!rc)
		rc = html_row(b, "Conclusion", m->conclusion);
	if (!rc && *sha)
		rc = html_row(b, "Commit", sha);
	if (!rc)
		rc = html_row(b, "Message", m->head_message);
	if (!rc)
		rc = html_row(b, "Actor", m->actor);
	if (!rc)
		rc = cm_buf_adds(b, "</table>\n");
	for (int i = 0; !rc && i < m->njobs; i++) {
		rc = cm_buf_adds(b, "<h3>Job ");
		if (!rc)
			rc = html_esc(b, m->jobs[i].name);
		if (!rc && m->jobs[i].step)
			rc = cm_buf_adds(b, " failed at step ");
		if (!rc)
			rc = html_esc(b, m->jobs[i].step);
		if (!rc)
			rc = cm_buf_adds(b, "</h3>\n");
		if (!rc && m->jobs[i].log_tail) {
			rc = cm_buf_adds(b, "<pre>");
			if (!rc)
				rc = html_esc(b, m->jobs[i].log_tail);
			if (!rc)
				rc = cm_buf_adds(b, "</pre>\n");
		}
	}
	if (!rc)
		rc = html_link(b, m->html_url, "View run on GitHub");
	if (!rc)
		rc = html_link(b, m->dashboard_url, "Open in cipulse");
	if (!rc)
		rc = cm_buf_adds(b, "</body></html>\n");
	return rc;
}

/* The whole message (headers and body) with CRLF line ends. */
static int compose(struct cm_buf *mail, const struct col_config *cfg, const char *to,
		   const struct col_alert_msg *m)
{
	struct cm_buf subject = CM_BUF_INIT(4096), text = CM_BUF_INIT(MAIL_MAX / 4);
	struct cm_buf html = CM_BUF_INIT(MAIL_MAX / 4);
	char date[64], domain[256], boundary[64], nonce[37];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	domain_of(cfg->smtp_from, domain, sizeof(domain));
	rc = cm_random_uuid(nonce);
	snprintf(boundary, sizeof(boundary), "=_cipulse_%s", rc ? "b" : nonce);
	rc = cm_buf_addf(&subject, "[cipulse] %s: %s", col_notify_title(m),
			 m->summary ? m->summary : "");
	if (!rc && m->repo)
		rc = cm_buf_addf(&subject, " (%s)", m->repo);
	if (!rc)
		rc = cm_buf_addf(mail, "Date: %s\r\nFrom: <%s>\r\nTo: ", date, cfg->smtp_from);
	/* Recipients were checked one by one (plain_address) before. */
	if (!rc) {
		const char *s = to;

		while (!rc && *s) {
			size_t n = strcspn(s, ",");

			while (n && s[n - 1] == ' ')
				n--;
			rc = cm_buf_addf(mail, "<%.*s>", (int)n, s);
			s += strcspn(s, ",");
			if (*s == ',') {
				s++;
				while (*s == ' ')
					s++;
				if (!rc && *s)
					rc = cm_buf_adds(mail, ", ");
			}
		}
	}
	if (!rc)
		rc = cm_buf_adds(mail, "\r\nSubject: =?UTF-8?B?");
	if (!rc)
		rc = add_base64(mail, subject.data, subject.len, 0);
	if (!rc)
		rc = cm_buf_adds(mail, "?=\r\n");
	if (!rc && m->alert_id)
		rc = cm_buf_addf(mail, "Message-ID: <cipulse.alert-%lld.%s@%s>\r\n",
				 (long long)m->alert_id, m->event, domain);
	else if (!rc)
		rc = cm_buf_addf(mail, "Message-ID: <cipulse.test-%s@%s>\r\n", nonce, domain);
	if (!rc && m->alert_id && strcmp(m->event, "open"))
		rc = cm_buf_addf(mail,
				 "In-Reply-To: <cipulse.alert-%lld.open@%s>\r\n"
				 "References: <cipulse.alert-%lld.open@%s>\r\n",
				 (long long)m->alert_id, domain, (long long)m->alert_id, domain);
	if (!rc)
		rc = cm_buf_addf(mail,
				 "MIME-Version: 1.0\r\n"
				 "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n"
				 "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
				 "Content-Transfer-Encoding: base64\r\n\r\n",
				 boundary, boundary);
	if (!rc)
		rc = text_part(&text, m);
	if (!rc)
		rc = add_base64(mail, text.data, text.len, 1);
	if (!rc)
		rc = cm_buf_addf(mail,
				 "\r\n--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
				 "Content-Transfer-Encoding: base64\r\n\r\n",
				 boundary);
	if (!rc)
		rc = html_part(&html, m);
	if (!rc)
		rc = add_base64(mail, html.data, html.len, 1);
	if (!rc)
		rc = cm_buf_addf(mail, "\r\n--%s--\r\n", boundary);
	cm_buf_release(&subject);
	cm_buf_release(&text);
	cm_buf_release(&html);
	return rc;
}

struct upload {
	const char *data;
	size_t len, off;
};

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t take = size * n;

	if (take > u->len - u->off)
		take = u->len - u->off;
	memcpy(p, u->data + u->off, take);
	u->off += take;
	return take;
}

static size_t on_discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int email_send(const struct col_config *cfg, const struct col_channel *ch,
		      const struct col_alert_msg *m, struct col_notify_result *res)
{
	struct cm_buf mail = CM_BUF_INIT(MAIL_MAX), from = CM_BUF_INIT(512);
	struct curl_slist *rcpt = NULL;
	struct upload up = { NULL, 0, 0 };
	char *list = NULL, *save = NULL;
	CURL *curl = NULL;
	CURLcode cc;
	long code = 0;
	int rc = CM_OK;

	if (!cfg->smtp_url || !*cfg->smtp_url) {
		snprintf(res->error, sizeof(res->error), "no SMTP server (CIPULSE_SMTP_URL)");
		return CM_EUNAVAIL;
	}
	if (!cfg->smtp_from || !plain_address(cfg->smtp_from)) {
		snprintf(res->error, sizeof(res->error), "CIPULSE_SMTP_FROM is not an address");
		return CM_EINVAL;
	}
	list = strdup(ch->target);
	if (!list)
		return CM_ENOMEM;
	for (char *t = strtok_r(list, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
		struct curl_slist *tmp;

		while (*t == ' ')
			t++;
		for (size_t n = strlen(t); n && t[n - 1] == ' '; n--)
			t[n - 1] = '\0';
		if (!*t)
			continue;
		if (!plain_address(t)) {
			snprintf(res->error, sizeof(res->error), "a recipient is not an address");
			rc = CM_EINVAL;
			break;
		}
		tmp = curl_slist_append(rcpt, t);
		if (!tmp)
			rc = CM_ENOMEM;
		else
			rcpt = tmp;
	}
	if (!rc && !rcpt) {
		snprintf(res->error, sizeof(res->error), "no recipients");
		rc = CM_EINVAL;
	}
	if (!rc)
		rc = compose(&mail, cfg, ch->target, m);
	if (!rc)
		rc = cm_buf_addf(&from, "<%s>", cfg->smtp_from);
	if (!rc && !(curl = curl_easy_init()))
		rc = CM_ENOMEM;
	if (rc)
		goto out;
	up.data = mail.data;
	up.len = mail.len;
	curl_easy_setopt(curl, CURLOPT_URL, cfg->smtp_url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	/* STARTTLS whenever the server offers it; smtps:// is TLS anyway. */
	curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
	if (cfg->smtp_ca_file && *cfg->smtp_ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->smtp_ca_file);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, cm_buf_str(&from));
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(curl, CURLOPT_READDATA, &up);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_discard);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, cfg->notify_timeout_ms);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, cfg->notify_timeout_ms / 3);
	cc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	res->status = code;
	if (cc != CURLE_OK) {
		snprintf(res->error, sizeof(res->error), "smtp %ld: %s", code,
			 curl_easy_strerror(cc));
		/* 5xx replies and refused logins do not get better by trying again. */
		if ((code >= 500 && code < 600) || cc == CURLE_LOGIN_DENIED ||
		    cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
			rc = CM_EINVAL;
		else
			rc = CM_EUNAVAIL;
	}
out:
	curl_easy_cleanup(curl);
	curl_slist_free_all(rcpt);
	cm_buf_release(&mail);
	cm_buf_release(&from);
	free(list);
	return rc;
}

const struct col_notifier col_notifier_email = { "email", email_send };
