/* Database migrations: the numbered files of sql/, embedded into cipulsed at build time. */
#ifndef COL_MIGRATE_H
#define COL_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

struct col_migration {
	const char *name; /* file name without .sql, e.g. "001_init" */
	const char *sql;
};

extern const struct col_migration col_migrations[];
extern const size_t col_nmigrations;

/*
 * Applies the migrations not yet recorded in schema_migrations, each in its own transaction,
 * under a session advisory lock so that several collectors starting at once apply each exactly
 * once. Safe to run any number of times. *applied gets how many were applied now.
 */
int col_migrate(PGconn *conn, int *applied);
/*
 * 1 when every embedded migration is recorded in the database (for /readyz), asked within
 * timeout_ms; on timeout *conn is closed and set to NULL (see col_db_exec_deadline).
 */
int col_migrate_current(PGconn **conn, long timeout_ms);

#endif
