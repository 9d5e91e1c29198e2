/*
 * cipulsed user add|reset|disable|list: local accounts from the command line (the first admin
 * of a fresh install is made here). Passwords come on stdin, never in argv (visible in ps).
 */
#include <stdio.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "store/auth.h"
#include "store/auth_cli.h"

/* One line of stdin without its line end: 0, or CM_EINVAL (empty, too short or too long). */
static int read_password(char *out, size_t size)
{
	size_t n;

	if (!fgets(out, (int)size, stdin))
		return CM_EINVAL;
	n = strlen(out);
	if (n && out[n - 1] != '\n' && !feof(stdin))
		return CM_EINVAL; /* longer than the buffer */
	while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	return n >= COL_PASSWORD_MIN && n <= COL_PASSWORD_MAX ? CM_OK : CM_EINVAL;
}

static int usage(void)
{
	fprintf(stderr, "cipulsed: usage: user add NAME --role viewer|maintainer|admin "
			"--password-stdin [--display-name TEXT]\n"
			"                 user reset NAME --password-stdin\n"
			"                 user disable NAME | user enable NAME | user list\n");
	return 2;
}

static int list_users(struct col_conn *c)
{
	PGresult *res;
	int rc;

	res = col_db_query(c, "users",
			   "SELECT username, role, disabled, COALESCE(display_name, ''), "
			   "COALESCE(to_char(last_login_at AT TIME ZONE 'UTC', "
			   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-') FROM users ORDER BY username",
			   0, NULL, &rc);
	if (!res)
		return rc;
	printf("%-24s %-10s %-8s %-20s %s\n", "USERNAME", "ROLE", "STATE", "LAST LOGIN",
	       "DISPLAY NAME");
	for (int i = 0; i < PQntuples(res); i++)
		printf("%-24s %-10s %-8s %-20s %s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		       PQgetvalue(res, i, 2)[0] == 't' ? "disabled" : "enabled",
		       PQgetvalue(res, i, 4), PQgetvalue(res, i, 3));
	PQclear(res);
	return CM_OK;
}

int col_user_command(struct col_ctx *ctx, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "", *name = argc > 1 ? argv[1] : NULL;
	const char *role_s = NULL, *display = NULL;
	char password[COL_PASSWORD_MAX + 2], hash[COL_PASSWORD_HASH_MAX];
	int stdin_pw = 0, rc;
	enum col_role role = COL_ROLE_VIEWER;
	struct col_conn *conn;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--password-stdin"))
			stdin_pw = 1;
		else if (!strcmp(argv[i], "--role") && i + 1 < argc)
			role_s = argv[++i];
		else if (!strcmp(argv[i], "--display-name") && i + 1 < argc)
			display = argv[++i];
		else
			return usage();
	}
	if (strcmp(sub, "list") && !col_username_valid(name)) {
		if (!name)
			return usage();
		fprintf(stderr, "cipulsed: user: a name is 1 to 64 letters, digits, '.', '_' or "
				"'-', starting with a letter or digit\n");
		return 2;
	}
	if (!strcmp(sub, "add") && (!role_s || col_role_parse(role_s, &role) || !stdin_pw)) {
		fprintf(stderr, "cipulsed: user add needs --role viewer|maintainer|admin and "
				"--password-stdin\n");
		return 2;
	}
	if (!strcmp(sub, "reset") && !stdin_pw)
		return usage();
	if (strcmp(sub, "add") && strcmp(sub, "reset") && strcmp(sub, "disable") &&
	    strcmp(sub, "enable") && strcmp(sub, "list"))
		return usage();
	hash[0] = '\0';
	if (stdin_pw) {
		rc = read_password(password, sizeof(password));
		if (!rc)
			rc = col_password_hash(password, hash);
		memset(password, 0, sizeof(password));
		if (rc) {
			fprintf(stderr,
				"cipulsed: user: the password (one line on stdin) must be %d "
				"to %d bytes\n",
				COL_PASSWORD_MIN, COL_PASSWORD_MAX);
			return 2;
		}
	}
	rc = col_db_new(&ctx->db, ctx->cfg->database_url, 1);
	if (!rc)
		rc = col_db_acquire(ctx->db, &conn, COL_DB_CLI_WAIT_MS);
	if (rc) {
		fprintf(stderr,
			"cipulsed: could not connect to the database (CIPULSE_DATABASE_URL)\n");
		return 1;
	}
	if (!strcmp(sub, "list"))
		rc = list_users(conn);
	else if (!strcmp(sub, "add"))
		rc = col_user_add(conn, name, role, display, hash);
	else
		rc = col_user_update(conn, name, -1,
				     !strcmp(sub, "disable")  ? 1
				     : !strcmp(sub, "enable") ? 0
							      : -1,
				     hash[0] ? hash : NULL, NULL);
	memset(hash, 0, sizeof(hash));
	col_db_release(ctx->db, conn);
	if (rc == CM_ECONFLICT) {
		fprintf(stderr, "cipulsed: user %s exists already\n", name);
		return 1;
	}
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, "cipulsed: no user %s\n", name);
		return 1;
	}
	if (rc == CM_EDENIED) {
		fprintf(stderr,
			"cipulsed: user %s: no enabled admin would remain; make another user "
			"admin first (cipulsed user add NAME --role admin --password-stdin)\n",
			name);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "cipulsed: user %s failed: %s (run `cipulsed migrate`?)\n", sub,
			cm_strerror(rc));
		return 1;
	}
	if (strcmp(sub, "list"))
		printf("user %s: %s done\n", name, sub);
	return 0;
}
