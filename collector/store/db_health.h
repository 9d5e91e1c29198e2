/*
 * Serving status for grpc.health.v1: a monitor thread asks the database every half second and
 * tells a listener when the answer changes, so that Check answers without touching the
 * database and Watch streams learn about changes as they happen.
 */
#ifndef COL_HEALTH_H
#define COL_HEALTH_H

#include "store/db.h"

struct col_health;

/*
 * Pings the database once (so the first answer is real), then starts the monitor thread.
 * on_change(arg) is called from that thread after the status changed; it must not block.
 */
int col_health_start(struct col_db *db, void (*on_change)(void *arg), void *arg,
		     struct col_health **out);
/* Stops the monitor thread and frees; NULL is a no-op. */
void col_health_stop(struct col_health *h);
/* Reports NOT_SERVING from now on (shutdown), and tells the listener. */
void col_health_drain(struct col_health *h);

/*
 * The grpc.health.v1 ServingStatus of a service: the collector's own names ("" for the server
 * as a whole, and "cipulse.v1.Collector") are SERVING while the database answers, else
 * NOT_SERVING; any other name is SERVICE_UNKNOWN.
 */
int col_health_status(struct col_health *h, const char *service);

#endif
