/*
 * The dashboard REST API (/api/v1/...): what the rest of the collector calls. What the handlers
 * share is api/api_int.h.
 *
 * Every reply is JSON; errors have the shape {"error": {"code", "message"[, "param"]}}. Bad input
 * is a 400 naming the parameter, never a 500. Handlers are called on their connection's own
 * thread (http/server.h) and keep no state between requests.
 */
#ifndef COL_API_H
#define COL_API_H

#include "cm_buf.h"
#include "core/ctx.h"

/* Registers every /api/v1 route (col_routes_register calls it). */
void col_api_routes(void);
/* Appends the pipeline metrics to a Prometheus exposition (the /metrics handler calls it). */
int col_api_prom_render(struct col_ctx *ctx, struct cm_buf *out);

#endif
