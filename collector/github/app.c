#include "github/app.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "github/client.h"
#include "version.h"

#define CACHE_SLOTS 256
/* Taken anew this long before expires_at (at most; a quarter of a short-lived token's life). */
#define REFRESH_MARGIN_S 300

struct cached {
	int64_t installation;
	char token[COL_GH_TOKEN_MAX];
	int64_t expires_s; /* GitHub's expires_at */
	int64_t refresh_s; /* when to take a new one */
	int64_t used;	   /* for eviction: last use (monotonic ms) */
};

static struct {
	pthread_mutex_t lock;
	EVP_PKEY *key;
	char *app_id;
	char *api_url;
	struct cached slots[CACHE_SLOTS];
} app = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the JWT ---- */

/* base64url without padding (RFC 7515) of n bytes into out; the length written. */
static int sign_jwt(EVP_PKEY *key, const char *app_id, int64_t now_s, char *out, size_t size)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	char claims[256], sig64[1024];
	unsigned char sig[1024];
	size_t siglen = sizeof(sig), len;
	EVP_MD_CTX *md;
	int ok;

	/* iat a minute back (GitHub's clocks and ours differ); exp 9 minutes on (cap: 10). */
	snprintf(claims, sizeof(claims), "{\"iat\":%" PRId64 ",\"exp\":%" PRId64 ",\"iss\":\"%s\"}",
		 now_s - 60, now_s + 540, app_id);
	len = cm_base64url((const unsigned char *)header, strlen(header), out, size);
	if (!len || len + 2 >= size)
		return CM_ETOOBIG;
	out[len++] = '.';
	if (!cm_base64url((const unsigned char *)claims, strlen(claims), out + len, size - len))
		return CM_ETOOBIG;
	len += strlen(out + len);
	md = EVP_MD_CTX_new();
	if (!md)
		return CM_ENOMEM;
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out, len) == 1;
	EVP_MD_CTX_free(md);
	if (!ok)
		return CM_EIO;
	if (!cm_base64url(sig, siglen, sig64, sizeof(sig64)) || len + 1 + strlen(sig64) + 1 > size)
		return CM_ETOOBIG;
	out[len++] = '.';
	memcpy(out + len, sig64, strlen(sig64) + 1);
	return CM_OK;
}

int col_gh_app_jwt(int64_t now_s, char *out, size_t size)
{
	int rc;

	pthread_mutex_lock(&app.lock);
	rc = app.key ? sign_jwt(app.key, app.app_id, now_s, out, size) : CM_EINVAL;
	pthread_mutex_unlock(&app.lock);
	return rc;
}

/* ---- set-up ---- */

/* The reason into err: CM_EINVAL (CM_ENOMEM when even that fails). */
static int fail(struct cm_buf *err, const char *msg, const char *path)
{
	int rc = cm_buf_adds(err, msg);

	if (!rc && path)
		rc = cm_buf_addf(err, ": %s", path);
	return rc ? rc : CM_EINVAL;
}

int col_gh_app_configure(const char *app_id, const char *key_file, const char *api_url,
			 struct cm_buf *err)
{
	struct stat st;
	EVP_PKEY *key;
	FILE *f;

	col_gh_app_reset();
	if ((!app_id || !*app_id) && (!key_file || !*key_file))
		return CM_OK;
	if (!app_id || !*app_id || !key_file || !*key_file)
		return fail(err,
			    "CIPULSE_GITHUB_APP_ID and CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE must be "
			    "set together",
			    NULL);
	for (const char *p = app_id; *p; p++) {
		if (*p < '0' || *p > '9' || p - app_id > 18)
			return fail(err, "CIPULSE_GITHUB_APP_ID must be the app's numeric id",
				    NULL);
	}
	f = fopen(key_file, "r");
	if (!f) {
		int e = errno;

		if (cm_buf_addf(err, "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE: cannot read %s: %s",
				key_file, strerror(e)))
			return CM_ENOMEM;
		return CM_EINVAL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		cm_log_warn("config",
			    "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE %s can be read by its group or by "
			    "others; chmod 600 it",
			    key_file);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		EVP_PKEY_free(key);
		return fail(err,
			    "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE holds no RSA private key (PEM, as "
			    "GitHub generates it for the app)",
			    key_file);
	}
	pthread_mutex_lock(&app.lock);
	app.key = key;
	app.app_id = strdup(app_id);
	app.api_url = strdup(api_url ? api_url : "https://api.github.com");
	pthread_mutex_unlock(&app.lock);
	if (!app.app_id || !app.api_url) {
		col_gh_app_reset();
		return CM_ENOMEM;
	}
	return CM_OK;
}

int col_gh_app_enabled(void)
{
	int on;

	pthread_mutex_lock(&app.lock);
	on = app.key != NULL;
	pthread_mutex_unlock(&app.lock);
	return on;
}

void col_gh_app_reset(void)
{
	pthread_mutex_lock(&app.lock);
	EVP_PKEY_free(app.key);
	app.key = NULL;
	free(app.app_id);
	free(app.api_url);
	app.app_id = app.api_url = NULL;
	/* No token outlives the cache in freed memory. */
	memset(app.slots, 0, sizeof(app.slots));
	pthread_mutex_unlock(&app.lock);
}

/* cipulse_github_app_tokens_total{result}: ok, refused (GitHub said no), error (no answer). */
static void count_exchange(const char *result)
{
	char labels[32];

	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	col_metric_inc(col_metric_counter("cipulse_github_app_tokens_total", labels,
					  "GitHub App installation tokens asked for, by result."));
}

/* ---- the token exchange ---- */

/* Under app.lock: POST .../access_tokens into slot s. */
static int exchange(struct cached *s, int64_t installation, volatile sig_atomic_t *stop)
{
	char jwt[COL_GH_JWT_MAX], auth[COL_GH_JWT_MAX + 32], url[1024], ua[64];
	const char *lines[] = { "Accept: application/vnd.github+json",
				"X-GitHub-Api-Version: 2022-11-28", ua, auth };
	struct cm_buf body = CM_BUF_INIT(1 << 20);
	const char *tok, *exp;
	int64_t now = cm_time_now_ms() / 1000, exp_ms;
	json_t *doc = NULL;
	long status = 0;
	int rc;

	rc = sign_jwt(app.key, app.app_id, now, jwt, sizeof(jwt));
	if (rc)
		return rc;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", jwt);
	snprintf(ua, sizeof(ua), "User-Agent: cipulse/%s", CIPULSE_VERSION);
	snprintf(url, sizeof(url), "%s/app/installations/%" PRId64 "/access_tokens", app.api_url,
		 installation);
	rc = col_gh_post("github-app: installation token", url, lines,
			 sizeof(lines) / sizeof(lines[0]), "", 0, &body, &status, stop);
	memset(jwt, 0, sizeof(jwt));
	memset(auth, 0, sizeof(auth));
	if (rc) {
		if (rc != CM_ENOMEM)
			count_exchange("error");
		goto out;
	}
	if (status != 201 && status != 200) {
		rc = status == 404		      ? CM_ENOTFOUND
		     : status == 401 || status == 403 ? CM_EDENIED
		     : status >= 500 || status == 429 ? CM_EUNAVAIL
						      : CM_EPROTO;
		count_exchange(rc == CM_EUNAVAIL ? "error" : "refused");
		cm_log_warn("github-app",
			    "GitHub refused an installation token installation=%" PRId64
			    " status=%ld%s",
			    installation, status,
			    status == 401 ? " (check CIPULSE_GITHUB_APP_ID and the key)" : "");
		goto out;
	}
	doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
	tok = json_string_value(json_object_get(doc, "token"));
	exp = json_string_value(json_object_get(doc, "expires_at"));
	if (!tok || !*tok || strlen(tok) >= sizeof(s->token) || !exp ||
	    cm_time_parse_iso8601(exp, &exp_ms)) {
		cm_log_warn("github-app",
			    "unreadable installation token reply installation=%" PRId64,
			    installation);
		rc = CM_EPROTO;
		count_exchange("error");
		goto out;
	}
	count_exchange("ok");
	memset(s, 0, sizeof(*s));
	s->installation = installation;
	snprintf(s->token, sizeof(s->token), "%s", tok);
	s->expires_s = exp_ms / 1000;
	{
		int64_t life = s->expires_s - now, margin = life / 4;

		if (margin > REFRESH_MARGIN_S)
			margin = REFRESH_MARGIN_S;
		s->refresh_s = s->expires_s - (margin > 0 ? margin : 0);
	}
	cm_log_info("github-app",
		    "installation token taken installation=%" PRId64 " expires_in=%llds",
		    installation, (long long)(s->expires_s - now));
out:
	if (body.data)
		memset(body.data, 0, body.len);
	json_decref(doc);
	cm_buf_release(&body);
	return rc;
}

int col_gh_app_token(int64_t installation_id, const char *refused, char *out, size_t size,
		     volatile sig_atomic_t *stop)
{
	struct cached *s = NULL, *victim = &app.slots[0];
	int64_t now = cm_time_now_ms() / 1000;
	int rc = CM_OK;

	if (size < COL_GH_TOKEN_MAX)
		return CM_EINVAL;
	pthread_mutex_lock(&app.lock);
	if (!app.key) {
		pthread_mutex_unlock(&app.lock);
		return CM_EINVAL;
	}
	for (int i = 0; i < CACHE_SLOTS && !s; i++) {
		if (app.slots[i].installation == installation_id)
			s = &app.slots[i];
		else if (app.slots[i].used < victim->used)
			victim = &app.slots[i];
	}
	if (!s || now >= s->refresh_s || (refused && !strcmp(refused, s->token))) {
		/* A new one; a full cache gives up the slot used longest ago. */
		if (!s)
			s = victim;
		rc = exchange(s, installation_id, stop);
		if (rc)
			memset(s, 0, sizeof(*s));
	}
	if (!rc) {
		s->used = cm_time_mono_ms();
		snprintf(out, size, "%s", s->token);
	}
	pthread_mutex_unlock(&app.lock);
	return rc;
}
