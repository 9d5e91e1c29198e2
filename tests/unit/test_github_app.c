/*
 * Unit tests of GitHub App mode's JWT (github/app.c): the token is taken apart and checked with
 * OpenSSL on its own — header, claims, and the RS256 signature against the public half of the
 * key — and the key file's checks at start-up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "github/app.h"

#define APP_ID "123456"
#define NOW    1700000000

static EVP_PKEY *key;
static char key_path[64];

/* Writes a PEM file of k (or of text when k is NULL) with the given mode; returns its path. */
static void write_file(char *path, EVP_PKEY *k, const char *text, mode_t mode)
{
	int fd;
	FILE *f;

	snprintf(path, 64, "/tmp/cipulse-app-key-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	if (k)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	else
		fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	key = EVP_RSA_gen(2048);
	if (!key)
		return -1;
	write_file(key_path, key, NULL, 0600);
	return 0;
}

static int teardown(void **state)
{
	col_gh_app_reset();
	unlink(key_path);
	EVP_PKEY_free(key);
	return 0;
}

/* base64url (no padding) -> bytes; the length, or -1. */
static int unb64url(const char *in, size_t n, unsigned char *out, size_t size)
{
	char buf[2048];
	size_t len = 0;
	int got;

	assert_true(n + 4 < sizeof(buf));
	for (size_t i = 0; i < n; i++) {
		assert_true(in[i] != '+' && in[i] != '/' && in[i] != '=');
		buf[len++] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	}
	while (len % 4)
		buf[len++] = '=';
	buf[len] = '\0';
	assert_true(size >= len / 4 * 3);
	got = EVP_DecodeBlock(out, (unsigned char *)buf, (int)len);
	if (got < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding's zero bytes. */
	for (size_t i = len; i > 0 && buf[i - 1] == '='; i--)
		got--;
	return got;
}

static json_t *part_json(const char *p, size_t n)
{
	unsigned char raw[1024];
	int len = unb64url(p, n, raw, sizeof(raw));

	assert_true(len > 0);
	return json_loadb((const char *)raw, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
}

static void jwt_claims_and_signature(void **state)
{
	struct cm_buf err = CM_BUF_INIT(1024);
	char jwt[COL_GH_JWT_MAX];
	const char *dot1, *dot2;
	unsigned char sig[1024];
	json_t *h, *c;
	EVP_MD_CTX *md;
	int siglen;

	assert_int_equal(col_gh_app_configure(APP_ID, key_path, "http://127.0.0.1:1", &err), CM_OK);
	assert_true(col_gh_app_enabled());
	assert_int_equal(col_gh_app_jwt(NOW, jwt, sizeof(jwt)), CM_OK);
	dot1 = strchr(jwt, '.');
	assert_non_null(dot1);
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_null(strchr(dot2 + 1, '.'));

	h = part_json(jwt, (size_t)(dot1 - jwt));
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "alg")), "RS256");
	assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
	assert_int_equal(json_object_size(h), 2);
	json_decref(h);

	c = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
	assert_non_null(c);
	/* iat a minute back, exp at most 10 minutes after it, iss the app id as a string. */
	assert_int_equal(json_integer_value(json_object_get(c, "iat")), NOW - 60);
	assert_true(json_integer_value(json_object_get(c, "exp")) > NOW);
	assert_true(json_integer_value(json_object_get(c, "exp")) -
			json_integer_value(json_object_get(c, "iat")) <=
		    600);
	assert_string_equal(json_string_value(json_object_get(c, "iss")), APP_ID);
	json_decref(c);

	/* RS256: RSASSA-PKCS1-v1_5 with SHA-256 over "header.claims", checked with the public key.
	 */
	siglen = unb64url(dot2 + 1, strlen(dot2 + 1), sig, sizeof(sig));
	assert_int_equal(siglen, 256);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, (size_t)siglen, (const unsigned char *)jwt,
					  (size_t)(dot2 - jwt)),
			 1);
	EVP_MD_CTX_free(md);
	/* One byte of the signed text changed: the signature no longer holds. */
	jwt[dot1 - jwt + 3] ^= 1;
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_not_equal(EVP_DigestVerify(md, sig, (size_t)siglen, (const unsigned char *)jwt,
					      (size_t)(dot2 - jwt)),
			     1);
	EVP_MD_CTX_free(md);
	cm_buf_release(&err);
}

static void configure_errors(void **state)
{
	struct cm_buf err = CM_BUF_INIT(1024);
	char path[64], jwt[COL_GH_JWT_MAX], tok[COL_GH_TOKEN_MAX];
	EVP_PKEY *ec;

	/* Off: nothing set. */
	assert_int_equal(col_gh_app_configure(NULL, NULL, NULL, &err), CM_OK);
	assert_false(col_gh_app_enabled());
	assert_int_equal(col_gh_app_jwt(NOW, jwt, sizeof(jwt)), CM_EINVAL);
	assert_int_equal(col_gh_app_token(1, NULL, tok, sizeof(tok), NULL), CM_EINVAL);

	/* One without the other. */
	assert_int_equal(col_gh_app_configure(APP_ID, NULL, NULL, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "must be set together"));
	cm_buf_reset(&err);
	assert_int_equal(col_gh_app_configure(NULL, key_path, NULL, &err), CM_EINVAL);
	cm_buf_reset(&err);
	/* Not a number. */
	assert_int_equal(col_gh_app_configure("my-app", key_path, NULL, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "CIPULSE_GITHUB_APP_ID"));
	cm_buf_reset(&err);
	/* Missing file. */
	assert_int_equal(col_gh_app_configure(APP_ID, "/nonexistent/key.pem", NULL, &err),
			 CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE"));
	assert_non_null(strstr(cm_buf_str(&err), "/nonexistent/key.pem"));
	cm_buf_reset(&err);
	/* Not a key. */
	write_file(path, NULL, "-----BEGIN NONSENSE-----\nabc\n-----END NONSENSE-----\n", 0600);
	assert_int_equal(col_gh_app_configure(APP_ID, path, NULL, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "no RSA private key"));
	assert_false(col_gh_app_enabled());
	unlink(path);
	cm_buf_reset(&err);
	/* A key, but not RSA (RS256 needs RSA). */
	ec = EVP_EC_gen("P-256");
	assert_non_null(ec);
	write_file(path, ec, NULL, 0600);
	assert_int_equal(col_gh_app_configure(APP_ID, path, NULL, &err), CM_EINVAL);
	assert_non_null(strstr(cm_buf_str(&err), "no RSA private key"));
	unlink(path);
	EVP_PKEY_free(ec);
	cm_buf_reset(&err);
	/* Readable by others: accepted (with a warning in the log). */
	write_file(path, key, NULL, 0644);
	assert_int_equal(col_gh_app_configure(APP_ID, path, NULL, &err), CM_OK);
	assert_true(col_gh_app_enabled());
	unlink(path);
	col_gh_app_reset();
	assert_false(col_gh_app_enabled());
	cm_buf_release(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jwt_claims_and_signature),
		cmocka_unit_test(configure_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
