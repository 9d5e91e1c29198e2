/* GET /healthz (process alive), GET /readyz (database reachable, schema current), GET /metrics. */
#ifndef COL_HEALTH_HTTP_H
#define COL_HEALTH_HTTP_H

void col_health_http_routes(void);

#endif
