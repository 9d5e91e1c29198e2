#include "alert/target.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cm_err.h"

static int v4_private(const uint8_t *a)
{
	return a[0] == 0 ||				  /* "this" network */
	       a[0] == 10 ||				  /* private */
	       (a[0] == 100 && (a[1] & 0xc0) == 64) ||	  /* carrier-grade NAT */
	       a[0] == 127 ||				  /* loopback */
	       (a[0] == 169 && a[1] == 254) ||		  /* link-local, cloud metadata */
	       (a[0] == 172 && (a[1] & 0xf0) == 16) ||	  /* private */
	       (a[0] == 192 && a[1] == 0 && a[2] == 0) || /* IETF protocol assignments */
	       (a[0] == 192 && a[1] == 168) ||		  /* private */
	       (a[0] == 198 && (a[1] & 0xfe) == 18) ||	  /* benchmarking */
	       a[0] >= 224;				  /* multicast, reserved, broadcast */
}

int col_target_addr_private(const void *p)
{
	const struct sockaddr *sa = p;

	if (sa->sa_family == AF_INET)
		return v4_private(
		    (const uint8_t *)&((const struct sockaddr_in *)p)->sin_addr.s_addr);
	if (sa->sa_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)p)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
		static const uint8_t zero[12];

		/* IPv4 inside IPv6 (mapped, compatible, NAT64, 6to4): the IPv4 address decides. */
		if (!memcmp(a, mapped, 12) || !memcmp(a, nat64, 12) || !memcmp(a, zero, 12))
			return v4_private(a + 12);
		if (a[0] == 0x20 && a[1] == 0x02)
			return v4_private(a + 2);
		return (a[0] & 0xfe) == 0xfc ||			  /* unique local */
		       (a[0] == 0xfe && (a[1] & 0x80) == 0x80) || /* link- and site-local */
		       a[0] == 0xff;				  /* multicast */
	}
	return 1;
}

int col_target_check(const char *url, int allow_private, char *pin, size_t pin_size, char *why,
		     size_t why_size)
{
	struct addrinfo hints, *ai = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL, addr[INET6_ADDRSTRLEN];
	CURLU *u = curl_url();
	size_t hlen;
	int rc = CM_EINVAL;

	if (pin_size)
		pin[0] = '\0';
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    (strcmp(scheme, "http") && strcmp(scheme, "https")) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)) {
		snprintf(why, why_size, "must be an http(s) URL");
		goto out;
	}
	hlen = strlen(host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		memmove(host, host + 1, hlen - 2);
		host[hlen - 2] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) || !ai) {
		snprintf(why, why_size, "host cannot be resolved");
		rc = CM_EUNAVAIL;
		goto out;
	}
	rc = CM_OK;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		if (!allow_private && col_target_addr_private(a->ai_addr)) {
			snprintf(why, why_size,
				 "points at a loopback, link-local or private address (set "
				 "CIPULSE_ALLOW_PRIVATE_TARGETS=1 to allow)");
			rc = CM_EDENIED;
			break;
		}
	}
	if (rc == CM_OK && pin_size &&
	    !getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST))
		snprintf(pin, pin_size, ai->ai_family == AF_INET6 ? "%s:%s:[%s]" : "%s:%s:%s", host,
			 port, addr);
out:
	if (ai)
		freeaddrinfo(ai);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}
