/*
 * The dashboard's static files: the built web app (CIPULSE_WEB_DIR), served by the HTTP server
 * for GET and HEAD requests that no route takes.
 */
#ifndef COL_HTTP_STATIC_H
#define COL_HTTP_STATIC_H

#include "http/server.h"

/* Paths the web app never owns: unknown ones there are API 404s, not the app's index.html. */
int col_static_reserved(const char *path);
/*
 * Answers a file of the app; any other path answers index.html, so that the app's own paths
 * work as deep links. 404 when no web directory is configured (or it has no index.html).
 */
void col_static_serve(const struct col_http_req *req, struct col_http_resp *resp);

#endif
