/*
 * Sends one encoded report (frames, see report.h) to the collector as the client stream
 * /cipulse.v1.Collector/Report over gRPC core, and waits for the ReportAck, which the collector
 * sends only after the report is committed.
 *
 * A call that ends UNAVAILABLE (no collector, database down), DEADLINE_EXCEEDED, ABORTED,
 * INTERNAL or UNKNOWN is retried with back-off (100 ms doubling to 1 s, jittered) while the
 * send budget lasts; every retry sends the same bytes, so the collector's de-duplication by
 * report_id makes them safe. Call ag_send_global_init once before and
 * ag_send_global_shutdown once after all sends.
 */
#ifndef AG_SEND_H
#define AG_SEND_H

#include <stddef.h>

struct ag_send_opts {
	const char *collector; /* host:port, grpc://host:port or grpcs://host:port */
	int tls;	       /* TLS even without grpcs:// */
	const char *tls_ca;    /* PEM file of roots, or NULL/"" for the defaults */
	const char *token;     /* ingest token, or NULL/"" */
	long budget_ms;	       /* no new attempt starts after this */
	long rpc_timeout_ms;   /* deadline of each attempt */
};

struct ag_ack {
	char report_id[64];
	int duplicate;
	int jobs, steps, logs;
	int tests;    /* test cases stored (0 from collectors older than test results) */
	int attempts; /* calls made */
};

void ag_send_global_init(void);
/*
 * A channel to the collector as the options describe it (address, TLS, roots), with the agent's
 * short reconnect back-off; NULL with `why` set when the settings do not make one. The caller
 * destroys it (grpc_channel_destroy). Also used by summary.c for its unary call.
 */
struct grpc_channel *ag_send_channel(const struct ag_send_opts *o, char *why, size_t whysize);
void ag_send_global_shutdown(void);

/*
 * Returns 0 once acknowledged (ack filled in), CM_EUNAVAIL when the collector could not take
 * it within the budget (spool it), CM_EAUTH/CM_EDENIED for a token the collector refused
 * (spool it: the token may be fixed), CM_EINVAL/CM_ETOOBIG when the collector rejected the
 * report itself (resending cannot help), CM_EIO when our own settings do not make a channel
 * (no collector, unreadable CIPULSE_TLS_CA: spool it, nothing was sent). `why` receives one
 * line for the user (no secrets).
 */
int ag_send(const struct ag_send_opts *o, const char *frames, size_t n, struct ag_ack *ack,
	    char *why, size_t whysize);

#endif
