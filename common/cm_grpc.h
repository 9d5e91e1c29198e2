/*
 * Small gRPC core helpers shared by the agent (client), the collector (server, and the client
 * of `cipulsed health`) and the benchmarks: byte buffers, the receiving side of a client call,
 * bearer metadata, and a whole unary call.
 */
#ifndef CM_GRPC_H
#define CM_GRPC_H

#include <grpc/grpc.h>
#include <stddef.h>

#include "cm_buf.h"

/*
 * grpc_shutdown() and a wait, up to wait_ms, until gRPC has finished: its last reference may be
 * held by a channel's connection attempt (a failed TLS handshake keeps its subchannel until the
 * reconnect back-off timer fires, ~100 ms), and then the clean-up runs on a gRPC thread. A
 * process that exits before then races that thread against the exit handlers (OpenSSL's): a
 * crash at exit. Returns 0 when gRPC finished, -1 when it was still running after wait_ms.
 */
int cm_grpc_shutdown(long wait_ms);
/* A deadline `ms` milliseconds from now on the realtime clock. */
gpr_timespec cm_grpc_deadline_ms(long ms);
/* Appends a received message to `out` (cleared first). CM_ETOOBIG when over out->max. */
int cm_grpc_bb_read(grpc_byte_buffer *bb, struct cm_buf *out);
/* A new byte buffer holding a copy of data (caller destroys it after its batch completes). */
grpc_byte_buffer *cm_grpc_bb_new(const void *data, size_t n);
/* The name of a status code ("UNAVAILABLE"); "UNKNOWN" for codes outside the list. */
const char *cm_grpc_status_name(grpc_status_code s);

/*
 * Shuts a completion queue of the "next" kind down, drains what is left on it and destroys it.
 * Every call on it must have ended (unref'ed after its last batch completed).
 */
void cm_grpc_cq_destroy(grpc_completion_queue *cq);

/*
 * The receiving side of a client call: the server's initial metadata, its one reply message
 * and the status with its message. cm_grpc_reply_init before the batch, cm_grpc_reply_release
 * after it completed (or was never started).
 */
struct cm_grpc_reply {
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_byte_buffer *msg; /* NULL when the server sent none */
	grpc_status_code status;
	grpc_slice details;
};

void cm_grpc_reply_init(struct cm_grpc_reply *r);
void cm_grpc_reply_release(struct cm_grpc_reply *r);
/*
 * Fills ops[0..2] with RECV_INITIAL_METADATA, RECV_MESSAGE and RECV_STATUS_ON_CLIENT into r
 * (ops must have room for 3; they are zeroed first). Returns 3, the number of ops.
 */
size_t cm_grpc_reply_ops(struct cm_grpc_reply *r, grpc_op *ops);
/* "UNAVAILABLE: the server's message" (message cut to 200 bytes) into out. */
void cm_grpc_reply_describe(const struct cm_grpc_reply *r, char *out, size_t size);

/*
 * An "authorization: Bearer <token>" metadata entry (the value copied; the caller's copy may be
 * wiped right after). Release it with cm_grpc_bearer_release. CM_ETOOBIG for a token over
 * 4 KiB.
 */
int cm_grpc_bearer(grpc_metadata *md, const char *token);
void cm_grpc_bearer_release(grpc_metadata *md);

/*
 * One unary call on ch: `req` (len bytes, an encoded message) to `method` with the metadata
 * md[0..nmd), within timeout_ms; the reply's bytes into `reply` (cleared first; CM_ETOOBIG when
 * over reply->max). Blocks until the call ends, however it ends (the deadline bounds it).
 *
 * Returns CM_OK when the call ended with status OK and a reply message; otherwise *status
 * (which is set in any case) says how it ended, `why` gets one line ("DEADLINE_EXCEEDED:
 * ...", never the metadata), and the return is CM_EUNAVAIL (status not OK), CM_EPROTO (OK
 * without a message), CM_ETOOBIG or CM_ENOMEM.
 */
int cm_grpc_unary(grpc_channel *ch, const char *method, long timeout_ms, const grpc_metadata *md,
		  size_t nmd, const void *req, size_t len, struct cm_buf *reply,
		  grpc_status_code *status, char *why, size_t whysize);

#endif
