/*
 * GitHub App installation webhooks (github/app.h): `installation` (created, deleted, suspend,
 * unsuspend, new_permissions_accepted) and `installation_repositories` (added, removed) keep the
 * repositories of each installation registered by themselves.
 *
 * - created / added: each repository is registered under GitHub's id with the installation
 *   (sql/011_github_app.sql, cipulse_installation_add_repo): a repository registered by name
 *   takes the id, a retired one is polled again, one another live installation holds or whose
 *   name another repository holds is skipped.
 * - deleted / removed: the installation's repositories are retired: the poller leaves them
 *   alone, their runs, metrics and alerts stay (retired_at). Repositories of other
 *   installations are never touched.
 * - suspend / unsuspend: the installation lends no token while suspended (the poller skips its
 *   repositories); new_permissions_accepted only refreshes the installation's row.
 *
 * Called by the webhook receiver once the delivery is verified with the organisation-wide
 * secret (CIPULSE_WEBHOOK_SECRET, the app's: one for all installations), in app mode only. One
 * transaction per delivery, de-duplicated by X-GitHub-Delivery like every other delivery.
 */
#ifndef COL_INSTALLATION_H
#define COL_INSTALLATION_H

#include <jansson.h>

#include "http/server.h"
#include "store/db.h"

/* Applies the delivery (event "installation" or "installation_repositories"); writes the answer. */
void col_installation_event(const struct col_http_req *req, struct col_http_resp *resp,
			    struct col_conn *c, const char *event, json_t *payload);

#endif
