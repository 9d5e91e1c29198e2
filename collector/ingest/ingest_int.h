/*
 * What the files of the gRPC server share (server.c, report_rpc.c, summary_rpc.c, health_rpc.c);
 * nothing
 * outside collector/ingest/ includes this.
 *
 * Every call has a context (struct call) and two tags inside it: OP_MAIN for the batch that
 * drives the call forward (at most one outstanding at a time) and OP_CLOSE for a
 * RECV_CLOSE_ON_SERVER started early by Watch calls to notice a client going away. A context is
 * reference counted: each outstanding batch, a place in the work queue and a place in the
 * watcher list hold one reference; the event handler's own reference is dropped when it ends.
 */
#ifndef COL_INGEST_INT_H
#define COL_INGEST_INT_H

#include <grpc/grpc.h>
#include <protobuf-c/protobuf-c.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cm_buf.h"
#include "core/ctx.h"
#include "core/process_metrics.h"
#include "ingest/assemble.h"
#include "store/claim.h"
#include "store/tokens.h"

enum call_kind { CALL_ACCEPTING, CALL_REPORT, CALL_SUMMARY, CALL_CHECK, CALL_WATCH, CALL_OTHER };
enum call_op { OP_MAIN, OP_CLOSE };
/* What the outstanding OP_MAIN batch of a call is. */
enum call_step { STEP_ACCEPT, STEP_RECV, STEP_SEND, STEP_FINISH };
enum job { JOB_AUTH, JOB_WRITE, JOB_SUMMARY };

struct call;

struct call_tag {
	struct call *call;
	enum call_op op;
};

struct call {
	struct col_ingest *ing;
	atomic_int refs;
	struct call_tag tags[2];
	grpc_call *call;
	grpc_call_details details;
	grpc_metadata_array md;
	enum call_kind kind;
	enum call_step step;
	int64_t started_ms;
	/*
	 * Time limit for the client's input (monotonic ms, 0: none); under ing->lock. timed_out is
	 * the poller's own: set when it cancelled the call for being late.
	 */
	int64_t deadline_ms;
	int timed_out;
	struct call *lprev, *lnext; /* ing->live, under ing->lock */
	int listed;
	/* Batch buffers and results. */
	grpc_byte_buffer *recv_bb;
	grpc_byte_buffer *send_bb;
	int cancelled;
	int metadata_sent;
	int close_started;
	/* Report. */
	char *token; /* only until the worker has checked it */
	struct col_token_info tok;
	struct col_cred cred; /* what the token may write (store/claim.h) */
	struct col_assembly as;
	struct cm_buf msg;
	const struct col_report *report;
	size_t charged; /* this call's share of ing->inflight */
	/* Summary: the request (the token is in `token` until the worker checked it). */
	int64_t s_repo, s_run, s_job;
	int32_t s_attempt;
	/* Work queue. */
	enum job job;
	struct call *qnext;
	/* Watch (under ing->watch_lock). */
	struct call *wnext;
	int watching;
	int w_busy;   /* a send is outstanding */
	int w_closed; /* the client went away */
	int w_sent;   /* last status sent, -1 before the first */
	char *service;
};

struct col_ingest {
	struct col_ctx *ctx;
	grpc_server *server;
	grpc_completion_queue *cq;
	struct col_health *health;
	pthread_t poller;
	pthread_t *workers;
	int nworkers;
	atomic_int stopping;   /* no new calls are accepted */
	atomic_int cancelling; /* the grace period is over: calls are being cancelled */
	struct call_tag shutdown_tag;

	/* Live calls, for shutdown; under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls_live;
	int reports_live;
	int shutdown_done;
	struct call *live; /* accepted calls, for the time limit */

	/* Memory held by reports being received (struct call.charged, summed). */
	atomic_size_t inflight;
	size_t inflight_max;
	int64_t timeout_ms;

	/* Work queue for the workers; under qlock. */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct call *qhead, *qtail;
	int qstop;

	pthread_mutex_t watch_lock;
	struct call *watchers;

	struct col_metric *m_ok, *m_duplicate, *m_invalid, *m_unauth, *m_denied, *m_too_big,
	    *m_unavailable, *m_busy, *m_timeout, *m_error, *m_latency, *m_bytes;
};

/* ---- server.c: call contexts, batches, the work queue ---------------------------------------- */

void ing_call_ref(struct call *c);
/* Drops a reference; the last one frees everything the call allocated. */
void ing_call_unref(struct call *c);
/* The call's input is all in (or it ended): the time limit no longer applies. */
void ing_deadline_clear(struct call *c);
/*
 * Starts a batch on the call's OP_MAIN (or OP_CLOSE) tag; the batch holds a reference.
 * CM_EUNAVAIL after the grace period (nothing is started then), CM_EIO if gRPC refused it.
 */
int ing_start_batch(struct call *c, enum call_op op, const grpc_op *ops, size_t n);
/* Receives the call's next message into c->recv_bb (STEP_RECV). */
void ing_start_recv(struct call *c);
/*
 * Ends the call: initial metadata (if not sent yet), an optional message (c->send_bb), the
 * status, and RECV_CLOSE_ON_SERVER unless a Watch started it already.
 */
void ing_finish(struct call *c, grpc_status_code status, const char *msg);
/*
 * Poller: the one request message of a unary call (Check, Watch, Summary) arrived; `ok` is the
 * batch's. CM_OK with its bytes in c->msg (at most max); CM_EIO when the call is over (broken,
 * cancelled: nothing to answer); CM_EINVAL when there is no message or it is too big (answer
 * INVALID_ARGUMENT).
 */
int ing_recv_request(struct call *c, int ok, size_t max);
/* A packed protobuf-c message as the next SEND_MESSAGE buffer. */
int ing_set_send(struct call *c, const ProtobufCMessage *m);
/* Hands the call to a worker thread (ing_report_auth, ing_report_write or ing_summary_run). */
void ing_enqueue(struct call *c, enum job job);

/* ---- report_rpc.c: cipulse.v1.Collector/Report -------------------------------------------- */

/* The bearer token of the call's metadata (col_bearer_parse), copied; NULL when none. */
char *ing_bearer_token(const grpc_metadata_array *md);

/* Poller: a Report call was accepted. */
void ing_report_begin(struct call *c);
/* Worker: is the token one we know? Then start receiving. */
void ing_report_auth(struct call *c);
/* Poller: one message of the stream arrived (or the client half-closed). */
void ing_report_recv(struct call *c, int ok);
/* Worker: the whole report is here and valid; store it and answer. */
void ing_report_write(struct call *c);
/* Frees what a report call holds and gives its memory charge back. */
void ing_report_free(struct call *c);

/* ---- summary_rpc.c: cipulse.v1.Collector/Summary ------------------------------------------ */

/* Poller: the request arrived; hands it to a worker (or answers an error). */
void ing_summary_recv(struct call *c, int ok);
/* Worker: checks the token, reads the job's summary from the database, answers. */
void ing_summary_run(struct call *c);

/* ---- health_rpc.c: grpc.health.v1.Health/Check and Watch ---------------------------------- */

/* Poller: the request of a Check or Watch arrived. */
void ing_health_recv(struct call *c, int ok);
/* Poller: a Watch send completed. */
void ing_watch_sent(struct call *c, int ok);
/* Takes a watcher out of the list (dropping the list's reference). Under watch_lock. */
void ing_watch_remove(struct call *c);
/* Health monitor thread (store/db_health.c): the status changed. */
void ing_health_changed(void *arg);
/* Ends every Watch stream (shutdown). */
void ing_watchers_end(struct col_ingest *ing);

#endif
