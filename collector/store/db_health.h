/*
 * Serving status for grpc.health.v1 and /readyz: a monitor thread asks the database every half
 * second, on a connection of its own (never waiting for the pool, which a search flood may
 * hold), with a short timeout; it tells a listener when the answer changes, so that Check and
 * /readyz answer without touching the database and Watch streams learn about changes as they
 * happen. A ping that fails or times out marks the pool down (col_db_set_down): the queries in
 * flight are cut off and new ones fail at once, instead of hanging on a hung database.
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
/* For /readyz: the database answered a recent ping, and the schema is current. */
void col_health_ready(struct col_health *h, int *db_ok, int *schema_ok);

#endif
