#include "cm_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "cm_err.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void cm_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	hex(md, 32, out);
}

size_t cm_base64url(const void *in, size_t n, char *out, size_t size)
{
	size_t need = 4 * ((n + 2) / 3) + 1, len;

	if (size < need)
		return 0;
	len = (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (size_t i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return len;
}

void cm_sha256_base64url(const void *data, size_t n, char out[48])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	cm_base64url(md, sizeof(md), out, 48);
}

int cm_consttime_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return 0;
	return CRYPTO_memcmp(a, b, alen) == 0;
}

void cm_hmac_sha256_header(const char *secret, const void *body, size_t n, char out[72])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), body, n, md, &mdlen);
	memcpy(out, "sha256=", 7);
	hex(md, 32, out + 7);
}

int cm_hmac_sha256_verify(const char *secret, const void *body, size_t n, const char *header)
{
	char want[72];
	int ok;

	if (!secret || !*secret || !header)
		return CM_EAUTH;
	cm_hmac_sha256_header(secret, body, n, want);
	ok = cm_consttime_eq(want, strlen(want), header, strlen(header));
	OPENSSL_cleanse(want, sizeof(want));
	return ok ? CM_OK : CM_EAUTH;
}

int cm_random_token(const char *prefix, char *out, size_t size)
{
	static const char alphabet[] =
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t plen = strlen(prefix), i = 0;

	if (size < plen + 41)
		return CM_EINVAL;
	memcpy(out, prefix, plen);
	while (i < 40) {
		unsigned char r[64];

		if (RAND_bytes(r, sizeof(r)) != 1)
			return CM_EIO;
		/* Rejection sampling keeps every character equally likely. */
		for (size_t k = 0; k < sizeof(r) && i < 40; k++) {
			if (r[k] < 248)
				out[plen + i++] = alphabet[r[k] % 62];
		}
	}
	out[plen + 40] = '\0';
	return CM_OK;
}

int cm_random_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return CM_EIO;
	b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return CM_OK;
}
