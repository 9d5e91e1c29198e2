/*
 * grpc.health.v1.Health: Check answers once; Watch streams the status until its client goes
 * away or the server stops. The status comes from the database health monitor
 * (store/db_health.c), which calls ing_health_changed when it changes.
 */
#include <grpc/grpc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "grpc/health/v1/health.pb-c.h"
#include "ingest/ingest_int.h"
#include "store/db_health.h"

/* Health requests are tiny; anything bigger is not one. */
#define HEALTH_MAX_MSG 1024

/* Sends the current status to a watcher that has no send outstanding. Under watch_lock. */
static void watch_send(struct call *c)
{
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	grpc_op ops[2];
	size_t n = 0;

	resp.status = col_health_status(c->ing->health, c->service);
	if ((int)resp.status == c->w_sent)
		return;
	if (ing_set_send(c, &resp.base))
		return;
	memset(ops, 0, sizeof(ops));
	if (!c->metadata_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->metadata_sent = 1;
	}
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->send_bb;
	c->step = STEP_SEND;
	c->w_sent = (int)resp.status;
	if (ing_start_batch(c, OP_MAIN, ops, n) == CM_OK)
		c->w_busy = 1;
}

/* Takes a watcher out of the list (dropping the list's reference). Under watch_lock. */
void ing_watch_remove(struct call *c)
{
	struct call **pp;

	if (!c->watching)
		return;
	for (pp = &c->ing->watchers; *pp; pp = &(*pp)->wnext) {
		if (*pp == c) {
			*pp = c->wnext;
			break;
		}
	}
	c->watching = 0;
	ing_call_unref(c);
}

/* Health monitor thread: the status changed. */
void ing_health_changed(void *arg)
{
	struct col_ingest *ing = arg;

	pthread_mutex_lock(&ing->watch_lock);
	for (struct call *c = ing->watchers; c; c = c->wnext) {
		if (!c->w_busy && !c->w_closed)
			watch_send(c);
	}
	pthread_mutex_unlock(&ing->watch_lock);
}

/* Ends every Watch stream (shutdown). */
void ing_watchers_end(struct col_ingest *ing)
{
	pthread_mutex_lock(&ing->watch_lock);
	while (ing->watchers) {
		struct call *c = ing->watchers;

		/* A watcher whose send is outstanding ends when the send completes. */
		if (!c->w_busy && !c->w_closed)
			ing_finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
		ing_watch_remove(c);
	}
	pthread_mutex_unlock(&ing->watch_lock);
}

/* Poller: the request of a Check or Watch arrived. */
void ing_health_recv(struct call *c, int ok)
{
	Grpc__Health__V1__HealthCheckRequest *req = NULL;
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	grpc_op op;
	int rc = ing_recv_request(c, ok, HEALTH_MAX_MSG);

	if (rc == CM_EIO)
		return;
	if (rc == CM_OK)
		req = grpc__health__v1__health_check_request__unpack(NULL, c->msg.len,
								     (const uint8_t *)c->msg.data);
	if (!req) {
		ing_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed message");
		return;
	}
	c->service = strdup(req->service);
	grpc__health__v1__health_check_request__free_unpacked(req, NULL);
	if (!c->service) {
		ing_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (c->kind == CALL_CHECK) {
		resp.status = col_health_status(c->ing->health, c->service);
		if (resp.status ==
		    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN) {
			ing_finish(c, GRPC_STATUS_NOT_FOUND, "unknown service");
			return;
		}
		if (ing_set_send(c, &resp.base)) {
			ing_finish(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		ing_finish(c, GRPC_STATUS_OK, NULL);
		return;
	}
	/* Watch: notice the client leaving, then stream statuses until it does or we stop. */
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	c->close_started = 1;
	if (ing_start_batch(c, OP_CLOSE, &op, 1))
		return;
	pthread_mutex_lock(&c->ing->watch_lock);
	if (atomic_load(&c->ing->stopping)) {
		ing_finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
	} else {
		ing_call_ref(c);
		c->watching = 1;
		c->wnext = c->ing->watchers;
		c->ing->watchers = c;
		watch_send(c);
	}
	pthread_mutex_unlock(&c->ing->watch_lock);
}

/* Poller: a Watch send completed. */
void ing_watch_sent(struct call *c, int ok)
{
	pthread_mutex_lock(&c->ing->watch_lock);
	c->w_busy = 0;
	if (!ok || c->w_closed) {
		ing_watch_remove(c);
	} else if (!c->watching || atomic_load(&c->ing->stopping)) {
		ing_watch_remove(c);
		ing_finish(c, GRPC_STATUS_UNAVAILABLE, "server shutting down");
	} else {
		watch_send(c);
	}
	pthread_mutex_unlock(&c->ing->watch_lock);
}
