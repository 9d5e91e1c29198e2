/*
 * The dashboard's static files (the built web app in CIPULSE_WEB_DIR).
 */
#include "http/static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int col_static_reserved(const char *path)
{
	static const char *const prefixes[] = { "/api/", "/webhook/" };
	static const char *const exact[] = { "/api", "/webhook", "/metrics", "/healthz",
					     "/readyz" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (!strncmp(path, prefixes[i], strlen(prefixes[i])))
			return 1;
	}
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		if (!strcmp(path, exact[i]))
			return 1;
	}
	return 0;
}

static const char *mime_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".map", "application/json" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++) {
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	}
	return "application/octet-stream";
}

/* The answer is the file at path (server.c sends it), or 500 without the file's headers. */
static void serve_file(struct col_http_resp *resp, const char *path, const char *type)
{
	resp->file_path = strdup(path);
	if (!resp->file_path) {
		resp->extra_headers[0] = '\0';
		col_http_error(resp, 500, "internal", "out of memory");
		return;
	}
	resp->status = 200;
	resp->content_type = type;
}

void col_static_serve(const struct col_http_req *req, struct col_http_resp *resp)
{
	const char *dir = req->ctx->cfg->web_dir;
	char path[4096];
	struct stat st;

	if (!dir || !*dir) {
		col_http_error(resp, 404, "not_found", "no such resource");
		return;
	}
	if (strstr(req->path, "..") || strlen(req->path) > 1024) {
		col_http_error(resp, 404, "not_found", "no such resource");
		return;
	}
	snprintf(path, sizeof(path), "%s%s", dir, req->path);
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(path, sizeof(path), "%s/index.html", dir);
		if (stat(path, &st) != 0) {
			col_http_error(resp, 404, "not_found", "no such resource");
			return;
		}
		snprintf(resp->extra_headers, sizeof(resp->extra_headers),
			 "Cache-Control: no-cache\r\n");
	} else if (!strncmp(req->path, "/assets/", 8)) {
		/* Vite puts content hashes in asset names: they never change. */
		char gz[sizeof(path) + 3];
		struct stat gst;
		int has_gz, use_gz;

		/*
		 * The build writes a gzip copy beside each script and style sheet (vite.config.js,
		 * precompress): answered to a client that accepts gzip, the file as it is to one
		 * that does not; the answer varies with Accept-Encoding either way. No ETag is sent
		 * (the names carry the content's hash), so the two forms share none.
		 */
		snprintf(gz, sizeof(gz), "%s.gz", path);
		has_gz = stat(gz, &gst) == 0 && S_ISREG(gst.st_mode);
		use_gz = has_gz && col_http_accepts_gzip(col_http_header(req, "Accept-Encoding"));
		snprintf(resp->extra_headers, sizeof(resp->extra_headers),
			 "Cache-Control: public, max-age=31536000, immutable\r\n%s%s",
			 has_gz ? "Vary: Accept-Encoding\r\n" : "",
			 use_gz ? "Content-Encoding: gzip\r\n" : "");
		if (use_gz) {
			serve_file(resp, gz, mime_type(path));
			return;
		}
	}
	serve_file(resp, path, mime_type(path));
}
