/*
 * PostgreSQL connection pool (libpq). Thread safe. A connection is borrowed with col_db_acquire
 * and must be given back with col_db_release; a connection found broken is reconnected on the
 * next acquire, so a database that goes away and comes back heals by itself.
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
};

/* Creates a pool of `size` connections to `url` (connections are opened lazily). */
int col_db_new(struct col_db **out, const char *url, int size);
void col_db_free(struct col_db *db);
/*
 * Borrows a connection, waiting up to timeout_ms for one to be free. Returns CM_EUNAVAIL when
 * the database cannot be reached, CM_ETIMEDOUT when every connection stays busy.
 */
int col_db_acquire(struct col_db *db, struct col_conn **conn, long timeout_ms);
/* Gives a connection back. A connection in a failed state or inside a transaction is reset. */
void col_db_release(struct col_db *db, struct col_conn *conn);
/* 1 when the database answered a trivial query within a few seconds (cached for 1 s). */
int col_db_ping(struct col_db *db);
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
