/* Hashing, HMAC, random tokens and constant-time comparison (OpenSSL underneath). */
#ifndef CM_CRYPTO_H
#define CM_CRYPTO_H

#include <stddef.h>

/* Lower-case hex SHA-256 of data into out (65 bytes with the NUL). */
void cm_sha256_hex(const void *data, size_t n, char out[65]);
/* Constant-time equality of two byte strings (time depends only on the lengths). */
int cm_consttime_eq(const void *a, size_t alen, const void *b, size_t blen);
/*
 * Checks a GitHub "X-Hub-Signature-256" header ("sha256=<64 hex>") against HMAC-SHA256(secret,
 * body) in constant time. Returns 0 when it matches, CM_EAUTH when it does not or is malformed.
 */
int cm_hmac_sha256_verify(const char *secret, const void *body, size_t n, const char *header);
/* "sha256=<hex>" of HMAC-SHA256(secret, body) into out (72 bytes with the NUL). */
void cm_hmac_sha256_header(const char *secret, const void *body, size_t n, char out[72]);
/* A new random token: prefix followed by 40 base62 characters (~238 bits). out >=
 * strlen(prefix)+41. */
int cm_random_token(const char *prefix, char *out, size_t size);
/*
 * Unpadded base64url (RFC 4648 section 5) of in into out; returns its length, 0 when out (size
 * bytes, with the NUL) is too small.
 */
size_t cm_base64url(const void *in, size_t n, char *out, size_t size);
/* base64url(SHA-256(data)), unpadded: an OAuth PKCE S256 code_challenge (43 characters; out holds
 * 48 bytes). */
void cm_sha256_base64url(const void *data, size_t n, char out[48]);
/* A random UUID v4 string into out (37 bytes). */
int cm_random_uuid(char out[37]);

#endif
