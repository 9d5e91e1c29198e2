/*
 * `cipulsed health`: asks a running collector whether it is ready, the way a container
 * HEALTHCHECK or a supervisor would, with nothing but this binary. It calls
 * grpc.health.v1.Health/Check on CIPULSE_GRPC_ADDR and GET /readyz on CIPULSE_PROBE_ADDR (plain
 * HTTP) or else CIPULSE_HTTP_ADDR, over TLS when CIPULSE_TLS_CERT is set, exactly as `serve`
 * with the same settings listens. A wildcard listen host (0.0.0.0, ::) is reached on loopback.
 */
#ifndef COL_HEALTHCHECK_H
#define COL_HEALTHCHECK_H

#include "core/ctx.h"

/*
 * Runs the command with its own arguments (after the word "health"): --ca FILE, --server-name
 * NAME, --timeout DURATION. Prints one line per check to stdout; returns 0 when both answered
 * ready, 1 when either did not (the reason on stderr), 2 for a bad argument.
 */
int col_healthcheck_command(struct col_ctx *ctx, int argc, char **argv);

/* The command's lines for `cipulsed --help`. */
#define COL_HEALTHCHECK_HELP                                                                       \
	"  health [--ca FILE] [--server-name NAME] [--timeout DURATION]\n"                         \
	"                              ask the collector these settings describe whether it\n"     \
	"                              is ready (gRPC health Check and HTTP /readyz); exit 0\n"    \
	"                              when both say so, 1 otherwise. With TLS the server is\n"    \
	"                              verified against --ca (default CIPULSE_TLS_CERT) and\n"     \
	"                              --server-name (default the address's host); timeout\n"      \
	"                              5s\n"

#endif
