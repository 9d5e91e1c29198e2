#include "core/healthcheck.h"

#include <curl/curl.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_time.h"
#include "grpc/health/v1/health.pb-c.h"

#define CA_MAX	 (1024 * 1024)
#define BODY_MAX 4096

struct hc_opts {
	const char *ca;		 /* PEM roots; NULL: none (plain) */
	const char *server_name; /* name the certificate must carry; NULL: the host */
	long timeout_ms;
};

/*
 * Where to reach a listener configured as `addr` from this machine: a wildcard host (any
 * address) is reached on loopback. Writes "host:port" into out.
 */
static int reach_addr(const char *addr, char *out, size_t size)
{
	const char *colon = strrchr(addr, ':');
	size_t hostlen = colon ? (size_t)(colon - addr) : 0;
	const char *host = addr;
	int n;

	if (!colon)
		return CM_EINVAL;
	if (hostlen == 0 || (hostlen == 7 && !strncmp(addr, "0.0.0.0", 7))) {
		host = "127.0.0.1";
		hostlen = 9;
	} else if ((hostlen == 2 && !strncmp(addr, "::", 2)) ||
		   (hostlen == 4 && !strncmp(addr, "[::]", 4))) {
		host = "[::1]";
		hostlen = 5;
	}
	n = snprintf(out, size, "%.*s%s", (int)hostlen, host, colon);
	return n < 0 || (size_t)n >= size ? CM_ETOOBIG : CM_OK;
}

/* The host part of "host:port" (brackets of an IPv6 literal removed) into out. */
static void host_of(const char *hostport, char *out, size_t size)
{
	const char *colon = strrchr(hostport, ':');
	size_t len = colon ? (size_t)(colon - hostport) : strlen(hostport);

	if (len >= 2 && hostport[0] == '[' && hostport[len - 1] == ']') {
		hostport++;
		len -= 2;
	}
	snprintf(out, size, "%.*s", (int)len, hostport);
}

/* grpc.health.v1.Health/Check for the whole server. Returns 0 when SERVING. */
static int check_grpc(const struct hc_opts *o, const char *target, char *why, size_t whysize)
{
	Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
	Grpc__Health__V1__HealthCheckResponse *resp = NULL;
	struct cm_buf roots = CM_BUF_INIT(CA_MAX), got = CM_BUF_INIT(BODY_MAX);
	grpc_channel_credentials *creds;
	grpc_channel *ch = NULL;
	grpc_status_code status;
	grpc_arg arg;
	grpc_channel_args cargs = { 0, &arg };
	uint8_t msg[64];
	size_t len;
	int rc = 1;

	if (o->ca) {
		if (cm_buf_read_file(&roots, o->ca) != CM_OK) {
			snprintf(why, whysize, "could not read the CA file \"%s\"", o->ca);
			goto out;
		}
		creds = grpc_ssl_credentials_create(cm_buf_str(&roots), NULL, NULL, NULL);
		if (o->server_name) {
			arg = (grpc_arg){ GRPC_ARG_STRING,
					  GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
					  { .string = (char *)o->server_name } };
			cargs.num_args = 1;
		}
	} else {
		creds = grpc_insecure_credentials_create();
	}
	if (!creds) {
		snprintf(why, whysize, "could not set up the channel's credentials");
		goto out;
	}
	ch = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	len = grpc__health__v1__health_check_request__pack(&req, msg);
	if (cm_grpc_unary(ch, "/grpc.health.v1.Health/Check", o->timeout_ms, NULL, 0, msg, len,
			  &got, &status, why, whysize) != CM_OK) {
		if (status == GRPC_STATUS_OK)
			snprintf(why, whysize, "no answer");
		goto out;
	}
	resp = grpc__health__v1__health_check_response__unpack(NULL, got.len,
							       (const uint8_t *)got.data);
	if (!resp) {
		snprintf(why, whysize, "an answer that is not a HealthCheckResponse");
		goto out;
	}
	switch (resp->status) {
	case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING:
		rc = 0;
		snprintf(why, whysize, "SERVING");
		break;
	case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING:
		snprintf(why, whysize, "NOT_SERVING");
		break;
	default:
		snprintf(why, whysize, "status %d", (int)resp->status);
		break;
	}
out:
	if (resp)
		grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
	if (ch)
		grpc_channel_destroy(ch);
	cm_buf_release(&roots);
	cm_buf_release(&got);
	return rc;
}

static size_t keep_body(char *p, size_t size, size_t n, void *userdata)
{
	struct cm_buf *b = userdata;
	size_t len = size * n, room = b->len + 1 < b->max ? b->max - 1 - b->len : 0;

	/* Only the start is kept for the message; the rest is read and dropped. */
	if (room && cm_buf_add(b, p, len < room ? len : room) != CM_OK)
		return len; /* the message is only shorter */
	return len;
}

/* GET /readyz. Returns 0 on 200. `tls` says whether the listener speaks HTTPS. */
static int check_http(const struct hc_opts *o, const char *hostport, int tls, char *why,
		      size_t whysize)
{
	struct cm_buf body = CM_BUF_INIT(BODY_MAX);
	char url[512], host[256], connect_to[600];
	struct curl_slist *to = NULL;
	long code = 0;
	CURLcode cc;
	CURL *curl = curl_easy_init();
	int rc = 1;

	if (!curl) {
		snprintf(why, whysize, "could not set up the HTTP client");
		return 1;
	}
	host_of(hostport, host, sizeof(host));
	if (tls && o->server_name) {
		/* Ask for the certificate's name, connect to the listener's address. */
		const char *port = strrchr(hostport, ':') + 1;

		snprintf(url, sizeof(url), "https://%s:%s/readyz", o->server_name, port);
		snprintf(connect_to, sizeof(connect_to), "%s:%s:%s", o->server_name, port,
			 hostport);
		to = curl_slist_append(NULL, connect_to);
		curl_easy_setopt(curl, CURLOPT_CONNECT_TO, to);
	} else {
		snprintf(url, sizeof(url), "%s://%s/readyz", tls ? "https" : "http", hostport);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "cipulsed-health");
	/* Never through a proxy from the environment: the listener is on this machine. */
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	if (tls)
		curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca);
	cc = curl_easy_perform(curl);
	if (cc != CURLE_OK) {
		snprintf(why, whysize, "%s", curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200) {
		rc = 0;
		snprintf(why, whysize, "200");
	} else {
		/* One line: the JSON error body says why (database, schema). */
		for (size_t i = 0; i < body.len; i++) {
			if (body.data[i] == '\n' || body.data[i] == '\r')
				body.data[i] = ' ';
		}
		snprintf(why, whysize, "%ld %.300s", code,
			 cm_buf_str(&body) ? cm_buf_str(&body) : "");
	}
out:
	curl_slist_free_all(to);
	curl_easy_cleanup(curl);
	cm_buf_release(&body);
	return rc;
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "cipulsed: health: %s \"%s\" (see cipulsed --help)\n", what, arg);
	return 2;
}

int col_healthcheck_command(struct col_ctx *ctx, int argc, char **argv)
{
	const struct col_config *cfg = ctx->cfg;
	struct hc_opts o = { NULL, NULL, 5000 };
	char grpc_target[300], http_target[300], why_grpc[512], why_http[512];
	const char *http_addr = cfg->probe_addr ? cfg->probe_addr : cfg->http_addr;
	int http_tls = cfg->tls_cert && !cfg->probe_addr, bad_grpc, bad_http;
	int64_t ms;

	for (int i = 0; i < argc; i++) {
		if (i + 1 >= argc)
			return usage_error("unknown or incomplete option", argv[i]);
		if (!strcmp(argv[i], "--ca")) {
			o.ca = argv[++i];
		} else if (!strcmp(argv[i], "--server-name")) {
			o.server_name = argv[++i];
		} else if (!strcmp(argv[i], "--timeout")) {
			if (cm_time_parse_duration(argv[++i], &ms) || ms <= 0)
				return usage_error("--timeout needs a duration like 5s, not",
						   argv[i]);
			o.timeout_ms = (long)ms;
		} else {
			return usage_error("unknown or incomplete option", argv[i]);
		}
	}
	/* The collector serves TLS with this certificate: a self-signed one is its own root. */
	if (cfg->tls_cert && !o.ca)
		o.ca = cfg->tls_cert;
	if (!cfg->tls_cert)
		o.ca = NULL;
	if (reach_addr(cfg->grpc_addr, grpc_target, sizeof(grpc_target)) ||
	    reach_addr(http_addr, http_target, sizeof(http_target))) {
		fprintf(stderr, "cipulsed: health: listen address too long\n");
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "cipulsed: health: could not initialise libcurl\n");
		return 1;
	}
	grpc_init();
	bad_grpc = check_grpc(&o, grpc_target, why_grpc, sizeof(why_grpc));
	/* A refused handshake keeps gRPC busy ~100 ms; the command exits right after. */
	cm_grpc_shutdown(1000);
	bad_http = check_http(&o, http_target, http_tls, why_http, sizeof(why_http));
	curl_global_cleanup();
	printf("grpc %s%s health: %s\n", o.ca ? "grpcs://" : "", grpc_target, why_grpc);
	printf("http %s://%s/readyz: %s\n", http_tls ? "https" : "http", http_target, why_http);
	if (bad_grpc || bad_http) {
		fprintf(stderr, "cipulsed: health: not ready:%s%s%s%s\n",
			bad_grpc ? " gRPC health: " : "", bad_grpc ? why_grpc : "",
			bad_http ? " HTTP /readyz: " : "", bad_http ? why_http : "");
		return 1;
	}
	return 0;
}
