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

#include "cm_buf.h"

struct col_db;

/*
 * A pooled connection. `prepared` is a bitmask that modules use to remember which groups of
 * prepared statements exist on this connection; it is cleared whenever the connection is
 * re-established.
 */
struct col_conn {
	PGconn *pg;
	uint32_t prepared;
	int armed;	 /* pool internal, under the pool's lock: pg's socket may be cut off */
	unsigned gen;	 /* pool internal: the outage count when pg was opened */
	int own_timeout; /* pool internal: col_db_set_timeout changed statement_timeout */
	int restricted;	 /* pool internal: col_db_restrict changed the role */
	/*
	 * When pg was opened: the connections the process's pools opened so far, this one
	 * included. Set once pg is connected, so a connection with a lower serial was connected
	 * earlier; a higher one may reach a server restarted (or restored) since. Read-only.
	 */
	uint64_t serial;
	/*
	 * A client's socket (an HTTP request's), or -1: while col_db_query waits for this
	 * connection's answer, the client hanging up cancels the query. Reset on release.
	 */
	int watch_fd;
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

/* The newest col_conn.serial handed out so far (the connections every pool opened). */
uint64_t col_db_opened(void);
/* How long a request (API, gRPC, webhook) waits for a pooled connection before giving up. */
#define COL_DB_WAIT_MS 5000
/*
 * Runs the borrowed connection's statements under statement_timeout `ms` (the REST API's
 * CIPULSE_API_TIMEOUT) until it is given back; the pool's limit applies again after release.
 * A statement cut off by it fails with CM_ETIMEDOUT.
 */
int col_db_set_timeout(struct col_conn *c, long ms);
/*
 * Runs the borrowed connection's statements as role cipulse_reader with the setting
 * cipulse.repos = repos (a bigint[] literal) until it is given back: row-level security
 * (sql/015_visibility.sql) then shows only those repositories' rows (store/visibility.h). The
 * role and setting are reset on release; a connection where that fails is closed.
 */
int col_db_restrict(struct col_conn *c, const char *repos);
/* Gives a connection back. A connection in a failed state or inside a transaction is reset. */
void col_db_release(struct col_db *db, struct col_conn *conn);
/*
 * Closes a borrowed connection that cannot be trusted any more (say, a pipeline with unread
 * results); it is still given back with col_db_release, and the next acquire reconnects. The
 * pool is the only place that closes connections.
 */
void col_db_discard(struct col_conn *conn);
/* Connections in use and in the pool, for /metrics. */
void col_db_stats(struct col_db *db, int *in_use, int *size);

/*
 * Timeouts for borrowing a connection, by who waits: a request (API, gRPC, webhook, background
 * work), a probe (/readyz, the health monitor, /metrics) that must answer fast, and a command
 * of the CLI that may wait for a database still starting.
 */
#define COL_DB_PROBE_WAIT_MS 2000
#define COL_DB_CLI_WAIT_MS   10000

/*
 * Text parameters of one query: values formatted into fixed slots, in the order of $1, $2, ...
 * One parameter too many makes n -1, which col_db_query (and the store) refuse.
 */
#define COL_DB_MAX_PARAMS 24
struct col_params {
	const char *v[COL_DB_MAX_PARAMS];
	char num[COL_DB_MAX_PARAMS][24];
	int n;
};
void col_params_init(struct col_params *p);
/* A string; NULL is SQL NULL. */
void col_p_str(struct col_params *p, const char *s);
/* A string; NULL is the empty string. */
void col_p_text(struct col_params *p, const char *s);
void col_p_null(struct col_params *p);
void col_p_i64(struct col_params *p, int64_t x);
/* x when set, else SQL NULL. */
void col_p_opt_i64(struct col_params *p, int set, int64_t x);
void col_p_bool(struct col_params *p, int b);

/*
 * A PostgreSQL array literal in text form ("{a,b}"), built one element at a time: the value of
 * one parameter that carries many rows, for a batch written by one statement (unnest). The
 * one way to pass arrays; elements are quoted and escaped as PostgreSQL's array input expects.
 */
struct col_array {
	struct cm_buf buf;
	size_t n;
};
/* An empty array whose literal may grow to max bytes (no allocation). */
void col_array_init(struct col_array *a, size_t max);
void col_array_reset(struct col_array *a);
void col_array_release(struct col_array *a);
/* Appends a string element; NULL is SQL NULL. CM_ETOOBIG past the maximum. */
int col_array_add_str(struct col_array *a, const char *s) CM_MUST_CHECK;
int col_array_add_i64(struct col_array *a, int64_t x) CM_MUST_CHECK;
/* The literal ("{}" when empty), valid until the array changes; NULL when out of room. */
const char *col_array_str(struct col_array *a);

/*
 * The one way to run a query: PQexecParams with n text parameters (values may be NULL when n
 * is 0; from a struct col_params: p.n, p.v), its result checked. Returns the result of a
 * successful query (PQclear it), or NULL with *rc set (col_db_error) and the cause logged,
 * named by `what`.
 */
PGresult *col_db_query(struct col_conn *c, const char *what, const char *sql, int n,
		       const char *const *values, int *rc);

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
