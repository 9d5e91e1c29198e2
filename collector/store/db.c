#include "store/db.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ticker.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

/* Connections opened by every pool of the process (col_conn.serial). */
static atomic_uint_fast64_t opened;

struct col_db {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *url;
	int size;
	int in_use;
	struct col_conn *conns; /* all slots; pg NULL: not connected */
	struct col_conn **idle; /* stack of idle slots */
	int nidle;
	long statement_timeout_ms;
	long lock_timeout_ms;
	/* Outage state, under lock: while down, acquire fails until retry_at (back-off). */
	int down;
	int64_t retry_at;
	long backoff_ms;
	unsigned gen; /* outages so far: a connection opened before the last one is reopened */
};

int col_db_new(struct col_db **out, const char *url, int size)
{
	struct col_db *db = calloc(1, sizeof(*db));

	if (!db)
		return CM_ENOMEM;
	db->url = strdup(url);
	db->conns = calloc((size_t)size, sizeof(*db->conns));
	db->idle = calloc((size_t)size, sizeof(*db->idle));
	if (!db->url || !db->conns || !db->idle) {
		free(db->url);
		free(db->conns);
		free(db->idle);
		free(db);
		return CM_ENOMEM;
	}
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->cond, NULL);
	db->size = size;
	db->statement_timeout_ms = 30000;
	db->lock_timeout_ms = 5000;
	for (int i = 0; i < size; i++) {
		db->conns[i].watch_fd = -1;
		db->idle[i] = &db->conns[i];
	}
	db->nidle = size;
	*out = db;
	return CM_OK;
}

void col_db_set_limits(struct col_db *db, long statement_timeout_ms, long lock_timeout_ms)
{
	db->statement_timeout_ms = statement_timeout_ms;
	db->lock_timeout_ms = lock_timeout_ms;
}

void col_db_free(struct col_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->size; i++) {
		if (db->conns[i].pg)
			PQfinish(db->conns[i].pg);
	}
	pthread_mutex_destroy(&db->lock);
	pthread_cond_destroy(&db->cond);
	free(db->idle);
	free(db->conns);
	free(db->url);
	free(db);
}

/* The first line of libpq's message (it names host and port, never the password). */
static void first_line(char *err, size_t size, const char *msg)
{
	size_t n = strcspn(msg, "\n");

	if (!size)
		return;
	if (n >= size)
		n = size - 1;
	memcpy(err, msg, n);
	err[n] = '\0';
}

PGconn *col_db_connect(struct col_db *db, char *err, size_t size)
{
	/*
	 * Our defaults come first and the URL last, so that what the URL says wins; the server-side
	 * limits are added to the URL's own "options". Keepalives and tcp_user_timeout notice a
	 * peer that vanished from the network; connect_timeout bounds a dead server.
	 */
	const char *keys[] = { "connect_timeout",  "keepalives",
			       "keepalives_idle",  "keepalives_interval",
			       "keepalives_count", "tcp_user_timeout",
			       "application_name", "dbname",
			       "options",	   NULL };
	const char *vals[] = { "3", "1", "10", "5", "3", "15000", "cipulsed", db->url, NULL, NULL };
	PQconninfoOption *parsed = PQconninfoParse(db->url, NULL);
	char options[1024];
	const char *user_opts = "";
	PGconn *conn;

	for (PQconninfoOption *o = parsed; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "options") && o->val)
			user_opts = o->val;
	}
	snprintf(options, sizeof(options), "-c statement_timeout=%ld -c lock_timeout=%ld %s",
		 db->statement_timeout_ms, db->lock_timeout_ms, user_opts);
	vals[8] = options;
	conn = PQconnectdbParams(keys, vals, 1);
	PQconninfoFree(parsed);
	if (PQstatus(conn) != CONNECTION_OK) {
		first_line(err, size, PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Under lock. */
static void note_down(struct col_db *db, const char *why)
{
	if (!db->down) {
		cm_log_warn("db", "database unreachable: %s", why);
		db->down = 1;
		db->gen++;
		db->backoff_ms = BACKOFF_MIN_MS;
	}
	db->retry_at = cm_time_mono_ms() + db->backoff_ms;
	db->backoff_ms = db->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : db->backoff_ms * 2;
}

/* Under lock. */
static void note_up(struct col_db *db)
{
	if (db->down)
		cm_log_info("db", "database reachable again");
	db->down = 0;
}

void col_db_set_down(struct col_db *db, const char *why)
{
	pthread_mutex_lock(&db->lock);
	note_down(db, why);
	/* Cut off what is in flight: libpq sees the socket closed and the query fails. */
	for (int i = 0; i < db->size; i++) {
		struct col_conn *c = &db->conns[i];

		if (c->armed && c->pg && PQsocket(c->pg) >= 0) {
			shutdown(PQsocket(c->pg), SHUT_RDWR);
			c->armed = 0;
		}
	}
	pthread_mutex_unlock(&db->lock);
}

void col_db_set_up(struct col_db *db)
{
	pthread_mutex_lock(&db->lock);
	note_up(db);
	pthread_mutex_unlock(&db->lock);
}

static void arm(struct col_db *db, struct col_conn *c, int on)
{
	pthread_mutex_lock(&db->lock);
	c->armed = on;
	pthread_mutex_unlock(&db->lock);
}

static void put_back(struct col_db *db, struct col_conn *c)
{
	pthread_mutex_lock(&db->lock);
	db->idle[db->nidle++] = c;
	db->in_use--;
	pthread_cond_signal(&db->cond);
	pthread_mutex_unlock(&db->lock);
}

uint64_t col_db_opened(void)
{
	return (uint64_t)atomic_load(&opened);
}

int col_db_acquire(struct col_db *db, struct col_conn **out, long timeout_ms)
{
	struct timespec until = col_ticker_deadline(timeout_ms);
	struct col_conn *c;
	char err[256];
	unsigned gen;

	pthread_mutex_lock(&db->lock);
	if (db->down) {
		/* One caller at a time tries again, after the back-off. */
		if (cm_time_mono_ms() < db->retry_at) {
			pthread_mutex_unlock(&db->lock);
			return CM_EUNAVAIL;
		}
		db->retry_at = cm_time_mono_ms() + db->backoff_ms;
	}
	while (db->nidle == 0) {
		if (pthread_cond_timedwait(&db->cond, &db->lock, &until)) {
			pthread_mutex_unlock(&db->lock);
			return CM_ETIMEDOUT;
		}
	}
	c = db->idle[--db->nidle];
	db->in_use++;
	gen = db->gen;
	pthread_mutex_unlock(&db->lock);

	/* Opened before the last outage: its server may be gone (a restart); open a new one. */
	if (c->pg && (PQstatus(c->pg) != CONNECTION_OK || c->gen != gen)) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (!c->pg) {
		c->prepared = 0;
		c->own_timeout = 0;
		c->restricted = 0;
		c->gen = gen;
		c->pg = col_db_connect(db, err, sizeof(err));
		if (c->pg)
			c->serial = (uint64_t)atomic_fetch_add(&opened, 1) + 1;
		pthread_mutex_lock(&db->lock);
		if (c->pg)
			note_up(db);
		else
			note_down(db, err);
		pthread_mutex_unlock(&db->lock);
	}
	if (!c->pg) {
		put_back(db, c);
		return CM_EUNAVAIL;
	}
	arm(db, c, 1);
	*out = c;
	return CM_OK;
}

void col_db_release(struct col_db *db, struct col_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK &&
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		/* A caller left a transaction open (an error path): never hand it to the next one.
		 */
		if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
			arm(db, c, 0);
			PQfinish(c->pg);
			c->pg = NULL;
		} else {
			PQclear(PQexec(c->pg, "ROLLBACK"));
		}
	}
	c->watch_fd = -1;
	if (c->pg && c->own_timeout && PQstatus(c->pg) == CONNECTION_OK) {
		char sql[64];

		snprintf(sql, sizeof(sql), "SET statement_timeout = %ld", db->statement_timeout_ms);
		if (col_db_exec(c->pg, sql) == CM_OK)
			c->own_timeout = 0;
	}
	if (c->pg && c->restricted && PQstatus(c->pg) == CONNECTION_OK &&
	    col_db_exec(c->pg, "RESET ROLE; RESET cipulse.repos") == CM_OK)
		c->restricted = 0;
	arm(db, c, 0);
	/*
	 * Broken, or its statement_timeout or role could not be restored: the next acquire
	 * reconnects.
	 */
	if (c->pg && (PQstatus(c->pg) != CONNECTION_OK || c->own_timeout || c->restricted)) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	put_back(db, c);
}

int col_db_set_timeout(struct col_conn *c, long ms)
{
	char sql[64];
	int rc;

	snprintf(sql, sizeof(sql), "SET statement_timeout = %ld", ms);
	rc = col_db_exec(c->pg, sql);
	if (rc == CM_OK)
		c->own_timeout = 1;
	return rc;
}

int col_db_restrict(struct col_conn *c, const char *repos)
{
	const char *v[1] = { repos };
	int rc;
	PGresult *res;

	c->restricted = 1; /* whatever happens next, release resets or closes */
	/* One round trip: set_config('role') is SET ROLE. */
	res = col_db_query(c, "visibility",
			   "SELECT set_config('cipulse.repos', $1, false), "
			   "set_config('role', 'cipulse_reader', false)",
			   1, v, &rc);
	if (!res)
		return rc;
	PQclear(res);
	return CM_OK;
}

void col_db_discard(struct col_conn *c)
{
	if (c->pg)
		PQfinish(c->pg);
	c->pg = NULL;
}

PGresult *col_db_exec_deadline(PGconn **conn, const char *sql, long timeout_ms)
{
	int64_t until = cm_time_mono_ms() + timeout_ms;
	PGresult *res = NULL, *r;

	if (!PQsendQuery(*conn, sql))
		goto fail;
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(*conn), .events = POLLIN };
		int64_t left;

		if (!PQconsumeInput(*conn))
			goto fail;
		while (!PQisBusy(*conn)) {
			r = PQgetResult(*conn);
			if (!r)
				return res;
			PQclear(res);
			res = r;
		}
		left = until - cm_time_mono_ms();
		if (left <= 0 || poll(&pfd, 1, (int)left) < 0)
			goto fail;
	}
fail:
	PQclear(res);
	PQfinish(*conn);
	*conn = NULL;
	return NULL;
}

void col_db_stats(struct col_db *db, int *in_use, int *size)
{
	pthread_mutex_lock(&db->lock);
	*in_use = db->in_use;
	*size = db->size;
	pthread_mutex_unlock(&db->lock);
}

int col_db_ok(const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);

	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int col_db_error(PGconn *conn, const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(conn) != CONNECTION_OK || !state)
		return CM_EUNAVAIL;
	/*
	 * Class 08: connection exception; 57P: operator intervention (shutdown); 53: resources;
	 * 55P03: lock_timeout. All of them: retry later.
	 */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2) ||
	    !strcmp(state, "55P03"))
		return CM_EUNAVAIL;
	/* Cut off by statement_timeout, or cancelled (a client that hung up): retry later too. */
	if (!strcmp(state, "57014"))
		return CM_ETIMEDOUT;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01"))
		return CM_ECONFLICT;
	/* Class 22: data exception; 23: integrity constraint violation. */
	if (!strncmp(state, "22", 2) || !strncmp(state, "23", 2))
		return CM_EINVAL;
	return CM_EIO;
}

int col_db_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	int rc = col_db_ok(res) ? CM_OK : col_db_error(conn, res);

	if (rc)
		cm_log_warn("db", "statement failed: %s", PQresultErrorMessage(res));
	PQclear(res);
	return rc;
}

void col_params_init(struct col_params *p)
{
	p->n = 0;
}

/* The next slot, or NULL (and n -1 for good) when there is none. */
static const char **p_slot(struct col_params *p)
{
	if (p->n < 0 || p->n >= COL_DB_MAX_PARAMS) {
		p->n = -1;
		return NULL;
	}
	return &p->v[p->n++];
}

void col_p_str(struct col_params *p, const char *s)
{
	const char **v = p_slot(p);

	if (v)
		*v = s;
}

void col_p_text(struct col_params *p, const char *s)
{
	col_p_str(p, s ? s : "");
}

void col_p_null(struct col_params *p)
{
	col_p_str(p, NULL);
}

void col_p_i64(struct col_params *p, int64_t x)
{
	const char **v = p_slot(p);
	char *num;

	if (!v)
		return;
	num = p->num[v - p->v];
	snprintf(num, sizeof(p->num[0]), "%" PRId64, x);
	*v = num;
}

void col_p_opt_i64(struct col_params *p, int set, int64_t x)
{
	if (set)
		col_p_i64(p, x);
	else
		col_p_null(p);
}

void col_p_bool(struct col_params *p, int b)
{
	col_p_str(p, b ? "t" : "f");
}

/*
 * PQexecParams, but while waiting for the answer also watching c->watch_fd: when that client
 * hangs up, the query is cancelled (PostgreSQL then answers 57014) and *gone set.
 */
static PGresult *exec_watched(struct col_conn *c, const char *sql, int n, const char *const *values,
			      int *gone)
{
	PGresult *res = NULL, *r;

	if (!PQsendQueryParams(c->pg, sql, n, NULL, values, NULL, NULL, 0))
		return NULL;
	for (;;) {
		struct pollfd pfd[2] = { { .fd = PQsocket(c->pg), .events = POLLIN },
					 { .fd = c->watch_fd, .events = POLLRDHUP } };

		if (!PQconsumeInput(c->pg))
			break;
		while (!PQisBusy(c->pg)) {
			r = PQgetResult(c->pg);
			if (!r)
				return res;
			PQclear(res);
			res = r;
		}
		if (poll(pfd, *gone ? 1 : 2, -1) < 0 && errno != EINTR)
			break;
		if (!*gone && (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) {
			PGcancel *cancel = PQgetCancel(c->pg);
			char err[256];

			*gone = 1;
			if (cancel && !PQcancel(cancel, err, sizeof(err)))
				cm_log_warn("db", "could not cancel a query: %s", err);
			PQfreeCancel(cancel);
		}
	}
	/* The connection broke (PQstatus tells the caller), or poll failed: then read the rest
	 * blocking, so that the connection goes back to the pool idle. */
	PQclear(res);
	while (PQstatus(c->pg) == CONNECTION_OK && (r = PQgetResult(c->pg)) != NULL)
		PQclear(r);
	return NULL;
}

PGresult *col_db_query(struct col_conn *c, const char *what, const char *sql, int n,
		       const char *const *values, int *rc)
{
	PGresult *res;
	int gone = 0;

	if (n < 0 || n > COL_DB_MAX_PARAMS) {
		cm_log_error("db", "query has too many parameters what=%s", what);
		*rc = CM_EINVAL;
		return NULL;
	}
	if (c->watch_fd >= 0)
		res = exec_watched(c, sql, n, n ? values : NULL, &gone);
	else
		res = PQexecParams(c->pg, sql, n, NULL, n ? values : NULL, NULL, NULL, 0);
	if (col_db_ok(res)) {
		*rc = CM_OK;
		return res;
	}
	*rc = col_db_error(c->pg, res);
	if (gone) {
		cm_log_info("db", "query cancelled, the client hung up what=%s", what);
		PQclear(res);
		return NULL;
	}
	cm_log_warn("db", "query failed what=%s: %s", what,
		    res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg));
	PQclear(res);
	return NULL;
}

/*
 * The literal is kept without its closing brace while elements are added; col_array_str adds
 * it, and the next element takes it off again.
 */
void col_array_init(struct col_array *a, size_t max)
{
	cm_buf_init(&a->buf, max);
	a->n = 0;
}

void col_array_reset(struct col_array *a)
{
	cm_buf_reset(&a->buf);
	a->n = 0;
}

void col_array_release(struct col_array *a)
{
	cm_buf_release(&a->buf);
	a->n = 0;
}

/* Takes off the closing brace that col_array_str added, if any. */
static void array_open(struct col_array *a)
{
	if (a->buf.len && a->buf.data[a->buf.len - 1] == '}')
		cm_buf_truncate(&a->buf, a->buf.len - 1);
}

/* Opens the literal or separates the next element from the last one. */
static int array_next(struct col_array *a)
{
	if (a->n)
		return cm_buf_addc(&a->buf, ',');
	/* An empty array whose literal was taken keeps its "{". */
	return a->buf.len ? CM_OK : cm_buf_addc(&a->buf, '{');
}

int col_array_add_str(struct col_array *a, const char *s)
{
	size_t len;
	int rc;

	array_open(a);
	len = a->buf.len;
	rc = array_next(a);
	if (rc == CM_OK && !s)
		rc = cm_buf_adds(&a->buf, "NULL");
	else if (rc == CM_OK) {
		rc = cm_buf_addc(&a->buf, '"');
		while (rc == CM_OK && *s) {
			size_t span = strcspn(s, "\"\\");

			rc = cm_buf_add(&a->buf, s, span);
			s += span;
			if (rc == CM_OK && *s) {
				char esc[2] = { '\\', *s++ };

				rc = cm_buf_add(&a->buf, esc, 2);
			}
		}
		if (rc == CM_OK)
			rc = cm_buf_addc(&a->buf, '"');
	}
	if (rc) {
		cm_buf_truncate(&a->buf, len);
		return rc;
	}
	a->n++;
	return CM_OK;
}

int col_array_add_i64(struct col_array *a, int64_t x)
{
	size_t len;
	int rc;

	array_open(a);
	len = a->buf.len;
	rc = array_next(a);

	if (rc == CM_OK)
		rc = cm_buf_addf(&a->buf, "%" PRId64, x);
	if (rc) {
		cm_buf_truncate(&a->buf, len);
		return rc;
	}
	a->n++;
	return CM_OK;
}

const char *col_array_str(struct col_array *a)
{
	if (a->buf.len && a->buf.data[a->buf.len - 1] == '}')
		return cm_buf_str(&a->buf);
	if (a->buf.len == 0 && cm_buf_addc(&a->buf, '{'))
		return NULL;
	if (cm_buf_addc(&a->buf, '}'))
		return NULL;
	return cm_buf_str(&a->buf);
}
