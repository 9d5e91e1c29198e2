#include "store/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "store/db.h"

/* Arbitrary constant naming cipulse's migration lock among advisory locks. */
#define MIGRATE_LOCK_KEY "7263105821"

static int applied_already(PGconn *conn, const char *name, int *yes)
{
	const char *params[1] = { name };
	PGresult *res = PQexecParams(conn, "SELECT 1 FROM schema_migrations WHERE name = $1", 1,
				     NULL, params, NULL, NULL, 0);
	int rc = CM_OK;

	if (!col_db_ok(res))
		rc = col_db_error(conn, res);
	else
		*yes = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

static int apply_one(PGconn *conn, const struct col_migration *m)
{
	const char *params[1] = { m->name };
	PGresult *res;
	int rc;

	rc = col_db_exec(conn, "BEGIN");
	if (rc)
		return rc;
	res = PQexec(conn, m->sql);
	if (!col_db_ok(res)) {
		rc = col_db_error(conn, res);
		cm_log_error("migrate", "migration %s failed: %s", m->name,
			     PQresultErrorMessage(res));
		PQclear(res);
		PQclear(PQexec(conn, "ROLLBACK"));
		return rc ? rc : CM_EIO;
	}
	PQclear(res);
	res = PQexecParams(conn, "INSERT INTO schema_migrations (name) VALUES ($1)", 1, NULL,
			   params, NULL, NULL, 0);
	rc = col_db_ok(res) ? CM_OK : col_db_error(conn, res);
	PQclear(res);
	if (rc) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return rc;
	}
	return col_db_exec(conn, "COMMIT");
}

int col_migrate(PGconn *conn, int *applied)
{
	int rc, n = 0;

	*applied = 0;
	/*
	 * A migration may rewrite a large table, and another collector may hold the lock while it
	 * migrates: no statement or lock timeout here (RESET below restores the connection's).
	 */
	rc = col_db_exec(conn, "SET statement_timeout = 0; SET lock_timeout = 0");
	if (rc)
		return rc;
	rc = col_db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")");
	if (rc)
		return rc;
	rc = col_db_exec(conn,
			 "CREATE TABLE IF NOT EXISTS schema_migrations ("
			 "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
	for (size_t i = 0; rc == CM_OK && i < col_nmigrations; i++) {
		int yes = 0;

		rc = applied_already(conn, col_migrations[i].name, &yes);
		if (rc || yes)
			continue;
		rc = apply_one(conn, &col_migrations[i]);
		if (rc == CM_OK) {
			cm_log_info("migrate", "applied migration name=%s", col_migrations[i].name);
			n++;
		}
	}
	PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")"));
	PQclear(PQexec(conn, "RESET statement_timeout; RESET lock_timeout"));
	*applied = n;
	return rc;
}

int col_migrate_current(PGconn **conn, long timeout_ms)
{
	PGresult *res =
	    col_db_exec_deadline(conn, "SELECT count(*) FROM schema_migrations", timeout_ms);
	int ok = 0;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		ok = strtol(PQgetvalue(res, 0, 0), NULL, 10) >= (long)col_nmigrations;
	PQclear(res);
	return ok;
}
