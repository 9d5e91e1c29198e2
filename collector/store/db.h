/*
 * PostgreSQL connection pool (libpq). Thread safe. A connection is borrowed with col_db_acquire
 * and must be given back with col_db_release; a connection found broken is reconnected on the
 * next acquire, so a database that goes away and comes back heals by itself.
 *
 * Every wait is bounded: connections carry connect_timeout, TCP keepalives, tcp_user_timeout,
 * statement_timeout and lock_timeout; acquire has a timeout; and when the database stops
 * answering (col_db_set_down, from the health monitor), the queries in flight are cut off and
 * acquire fails at once, reconnecting with back-off. The outage is logged when it starts and
 * when it ends, never once per request.
 */
#ifndef COL_DB_H
#define COL_DB_H

#include <libpq-fe.h>
#include <stdint.h>

struct col_db;

/*
 * A pooled connection. `prepared` is a bitmask that modules use to remember which groups of
 * prepared statements exist on this connection; it is cleared whenever the connection is
 * re-established.
 */
struct col_conn {
	PGconn *pg;
	uint32_t prepared;
	int armed;    /* pool internal, under the pool's lock: pg's socket may be cut off */
	unsigned gen; /* pool internal: the outage count when pg was opened */
};

/* Creates a pool of `size` connections to `url` (connections are opened lazily). */
int col_db_new(struct col_db **out, const char *url, int size);
void col_db_free(struct col_db *db);
/* Server-side limits of every new connection, in ms (defaults 30000 and 5000; 0: none). */
void col_db_set_limits(struct col_db *db, long statement_timeout_ms, long lock_timeout_ms);
/*
 * A new connection outside the pool, with the pool's settings (the health monitor's own).
 * NULL when it fails; the reason goes to err (no password), nothing is logged.
 */
PGconn *col_db_connect(struct col_db *db, char *err, size_t size);
/*
 * The database stopped answering: cuts off every query in flight (they fail with CM_EUNAVAIL)
 * and makes acquire fail at once until col_db_set_up or a reconnect after back-off succeeds.
 */
void col_db_set_down(struct col_db *db, const char *why);
void col_db_set_up(struct col_db *db);
/*
 * Runs one statement on a connection of one's own, waiting at most timeout_ms; on timeout the
 * connection is closed (*conn set to NULL) and NULL returned.
 */
PGresult *col_db_exec_deadline(PGconn **conn, const char *sql, long timeout_ms);
/*
 * Borrows a connection, waiting up to timeout_ms for one to be free. Returns CM_EUNAVAIL when
 * the database cannot be reached, CM_ETIMEDOUT when every connection stays busy.
 */
int col_db_acquire(struct col_db *db, struct col_conn **conn, long timeout_ms);
/* Gives a connection back. A connection in a failed state or inside a transaction is reset. */
void col_db_release(struct col_db *db, struct col_conn *conn);
/* Connections in use and in the pool, for /metrics. */
void col_db_stats(struct col_db *db, int *in_use, int *size);

/* PGRES_* result helpers: 1 when the result is a success, else logs nothing and returns 0. */
int col_db_ok(const PGresult *res);
/*
 * Maps a failed result or connection to an error code: CM_EUNAVAIL for a lost or unusable
 * connection (retry later), CM_ECONFLICT for a serialization failure or deadlock, CM_EINVAL for
 * data errors (bad input), CM_EIO otherwise.
 */
int col_db_error(PGconn *conn, const PGresult *res);
/* Runs a statement without parameters and results (BEGIN, COMMIT, ...). */
int col_db_exec(PGconn *conn, const char *sql);

#endif
