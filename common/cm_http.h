/* Pieces of HTTP that both GitHub API clients (agent, poller) need. */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stddef.h>

/*
 * When the header line "Name: value\r\n" (len bytes, as libcurl hands it over) has the name
 * `name` (case-insensitive), copies its trimmed value into out (cut to size - 1 bytes) and
 * returns 1; otherwise returns 0 and leaves out alone.
 */
int cm_http_header_value(const char *line, size_t len, const char *name, char *out, size_t size);

/*
 * The URL of rel="next" in a Link header (RFC 8288: params in any order, quoted or not, several
 * relation types). Returns 0, CM_ENOTFOUND when there is none, CM_ETOOBIG when it does not fit.
 */
int cm_http_link_next(const char *link, char *out, size_t size);

/*
 * Decodes application/x-www-form-urlencoded text (query strings, form bodies): "%XX" escapes and
 * "+" as a space. Writes at most n bytes and a NUL into out (n + 1 bytes), returns the decoded
 * length, or -1 for a bad escape ("%" not followed by two hex digits).
 */
long cm_http_form_decode(const char *raw, size_t n, char *out);

/*
 * The length of url (NULL: 0) without its trailing slashes, for building "%.*s/path" from a
 * configured base URL (CIPULSE_PUBLIC_URL, CIPULSE_GITHUB_URL) written with or without one.
 */
int cm_http_url_base_len(const char *url);

#endif
