#include "store/db.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ticker.h"

struct col_db {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *url;
	int size;
	int in_use;
	struct col_conn *conns; /* all slots; pg NULL: not connected */
	struct col_conn **idle; /* stack of idle slots */
	int nidle;
	int64_t ping_at;
	int ping_ok;
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
	for (int i = 0; i < size; i++)
		db->idle[i] = &db->conns[i];
	db->nidle = size;
	*out = db;
	return CM_OK;
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

static PGconn *connect_db(const char *url)
{
	/* connect_timeout bounds how long a dead server can hold up a request. */
	const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *vals[] = { url, "5", "cipulsed", NULL };
	PGconn *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		char *msg = strdup(PQerrorMessage(conn));
		char *nl = msg ? strchr(msg, '\n') : NULL;

		if (nl)
			*nl = '\0';
		cm_log_warn("db", "could not connect to the database: %s", msg ? msg : "?");
		free(msg);
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

int col_db_acquire(struct col_db *db, struct col_conn **out, long timeout_ms)
{
	struct timespec until = col_ticker_deadline(timeout_ms);
	struct col_conn *c;

	pthread_mutex_lock(&db->lock);
	while (db->nidle == 0) {
		if (pthread_cond_timedwait(&db->cond, &db->lock, &until)) {
			pthread_mutex_unlock(&db->lock);
			return CM_ETIMEDOUT;
		}
	}
	c = db->idle[--db->nidle];
	db->in_use++;
	pthread_mutex_unlock(&db->lock);

	if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (!c->pg) {
		c->prepared = 0;
		c->pg = connect_db(db->url);
	}
	if (!c->pg) {
		col_db_release(db, c);
		return CM_EUNAVAIL;
	}
	*out = c;
	return CM_OK;
}

void col_db_release(struct col_db *db, struct col_conn *c)
{
	if (c->pg && PQstatus(c->pg) == CONNECTION_OK &&
	    PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
		/* A caller left a transaction open (an error path): never hand it to the next one. */
		if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF) {
			PQfinish(c->pg);
			c->pg = NULL;
		} else {
			PQclear(PQexec(c->pg, "ROLLBACK"));
		}
	}
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	pthread_mutex_lock(&db->lock);
	db->idle[db->nidle++] = c;
	db->in_use--;
	pthread_cond_signal(&db->cond);
	pthread_mutex_unlock(&db->lock);
}

int col_db_ping(struct col_db *db)
{
	int64_t now = cm_time_mono_ms();
	struct col_conn *c;
	PGresult *res;
	int ok = 0;

	pthread_mutex_lock(&db->lock);
	if (db->ping_at && now - db->ping_at < 1000) {
		ok = db->ping_ok;
		pthread_mutex_unlock(&db->lock);
		return ok;
	}
	pthread_mutex_unlock(&db->lock);
	if (col_db_acquire(db, &c, 2000) == CM_OK) {
		res = PQexec(c->pg, "SELECT 1");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK;
		PQclear(res);
		col_db_release(db, c);
	}
	pthread_mutex_lock(&db->lock);
	db->ping_at = cm_time_mono_ms();
	db->ping_ok = ok;
	pthread_mutex_unlock(&db->lock);
	return ok;
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
	/* Class 08: connection exception; 57P: operator intervention (shutdown); 53: resources. */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2))
		return CM_EUNAVAIL;
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
