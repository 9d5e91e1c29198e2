/*
 * The collector's pluggable parts, wired together in one place (wiring.c) so that main.c stays
 * the same as parts are added: HTTP routes, background services (poller, alert engine, outbox)
 * and extra commands (backfill, ...).
 */
#ifndef COL_ROUTES_H
#define COL_ROUTES_H

#include "core/ctx.h"

struct col_services;

/*
 * The process-wide state of the libraries the parts use (libcurl: GitHub sign-in, visibility,
 * the poller, notifiers): set up before the first thread that may use it starts (the HTTP and
 * gRPC servers, the services), torn down after the last one stopped.
 */
int col_libs_init(void);
void col_libs_cleanup(void);
/* Registers every HTTP route (health, API, webhook, metrics, static files). */
void col_routes_register(void);
/*
 * What must be in place before the first request is served (after migrations): the alert
 * engine's settings and the notification channels from the environment.
 */
void col_services_prepare(struct col_ctx *ctx);
/* Starts the background services; col_services_stop(NULL) is a no-op. */
int col_services_start(struct col_ctx *ctx, struct col_services **out);
void col_services_stop(struct col_services *svc);
/* Runs an extra command; returns its exit status, or -1 when `cmd` is not one. */
int col_extra_command(struct col_ctx *ctx, const char *cmd, int argc, char **argv);
/* Help lines of the extra commands, for --help. */
const char *col_extra_commands_help(void);

#endif
