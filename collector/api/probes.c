#include "api/probes.h"

#include <string.h>

#include "alert/alert.h"
#include "api/api_int.h"
#include "cm_err.h"
#include "cm_log.h"
#include "store/db.h"
#include "http/server.h"
#include "core/process_metrics.h"
#include "store/db_health.h"

/* Alive: answered from process state alone, whatever the database does. */
static void healthz(const struct col_http_req *req, struct col_http_resp *resp)
{
	if (cm_buf_adds(&resp->body, "{\"status\":\"ok\"}"))
		col_http_fail(resp, CM_ENOMEM, "out of memory");
}

/*
 * Ready: the database answered the health monitor's last ping (its own connection, a short
 * timeout: never the pool) and every migration this binary carries is applied.
 */
static void readyz(const struct col_http_req *req, struct col_http_resp *resp)
{
	int db_ok = 0, schema_ok = 0;

	if (req->ctx->health)
		col_health_ready(req->ctx->health, &db_ok, &schema_ok);
	resp->status = db_ok && schema_ok ? 200 : 503;
	if (cm_buf_addf(&resp->body, "{\"status\":\"%s\",\"database\":%s,\"migrations\":%s}",
			resp->status == 200 ? "ready" : "not_ready", db_ok ? "true" : "false",
			schema_ok ? "true" : "false"))
		col_http_fail(resp, CM_ENOMEM, "out of memory");
}

static double pool_in_use(void *arg)
{
	int in_use, size;

	col_db_stats(arg, &in_use, &size);
	return in_use;
}

static double pool_size(void *arg)
{
	int in_use, size;

	col_db_stats(arg, &in_use, &size);
	return size;
}

/* Its labels name repositories and workflows: a read like the API's (CIPULSE_READ_TOKEN). */
static void metrics(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	static int registered;
	struct col_query q;

	if (api_begin(req, resp, API_READ, &q, allowed))
		return;
	/* Its series name every repository: for principals that read them all (Prometheus). */
	if (!api_sees_all(req)) {
		col_http_error(resp, 403, "forbidden",
			       "/metrics covers every repository; use a read or admin token");
		return;
	}
	if (!registered) {
		/* The pool lives as long as the server; registering twice returns the same series.
		 */
		col_metric_gauge_fn("cipulse_db_pool_connections_in_use", "",
				    "Database connections borrowed from the pool.", pool_in_use,
				    req->ctx->db);
		col_metric_gauge_fn("cipulse_db_pool_connections", "",
				    "Size of the database connection pool.", pool_size,
				    req->ctx->db);
		registered = 1;
	}
	if (col_metrics_render(&resp->body)) {
		col_http_error(resp, 500, "internal", "could not render metrics");
		return;
	}
	/* Pipeline metrics come from the database: without it, the collector's own still answer. */
	if (col_api_prom_render(req->ctx, &resp->body))
		cm_log_warn("http", "pipeline metrics left out of /metrics");
	if (col_alert_prom_render(req->ctx, &resp->body))
		cm_log_warn("http", "alert metrics left out of /metrics");
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

void col_health_http_routes(void)
{
	col_http_route("GET", "/healthz", healthz);
	col_http_route("GET", "/readyz", readyz);
	col_http_route("GET", "/metrics", metrics);
}
