/*
 * cipulsed user add|reset|disable|enable|list and token create|revoke: local accounts and
 * stored tokens from the command line (the first admin of a fresh install is made here).
 * Passwords come on stdin, never in argv (visible in ps). Every change is in the audit log
 * (actor "cli:<unix user>", actor_kind cli) in the change's own transaction.
 */
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "store/auth.h"
#include "store/auth_cli.h"
#include "store/tokens.h"

static int open_db(struct col_ctx *ctx, struct col_conn **conn)
{
	int rc = col_db_new(&ctx->db, ctx->cfg->database_url, 1);

	if (!rc)
		rc = col_db_acquire(ctx->db, conn, COL_DB_CLI_WAIT_MS);
	if (rc)
		fprintf(stderr,
			"cipulsed: could not connect to the database (CIPULSE_DATABASE_URL)\n");
	return rc;
}

/* An audit entry of the command line: who is the Unix user running it. */
static int cli_audit(struct col_conn *c, const char *action, const char *target, const char *before,
		     const char *after)
{
	struct col_principal p;
	struct passwd *pw = getpwuid(getuid());

	memset(&p, 0, sizeof(p));
	p.who = COL_WHO_CLI;
	if (pw && pw->pw_name)
		snprintf(p.actor, sizeof(p.actor), "cli:%.60s", pw->pw_name);
	else
		snprintf(p.actor, sizeof(p.actor), "cli:uid-%ld", (long)getuid());
	return col_audit_record(c, &p, NULL, action, target, before, after);
}

/* The JSON of a row the audit log records, or NULL text when there is none; *out "" then. */
static int row_json(struct col_conn *c, const char *sql, const char *param, char *out, size_t size)
{
	const char *params[1] = { param };
	int rc;
	PGresult *res = col_db_query(c, "audit", sql, 1, params, &rc);

	if (!res)
		return rc;
	snprintf(out, size, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	return CM_OK;
}

/* A user as the API shows it (api/accounts.c), for before/after. */
static int user_json(struct col_conn *c, const char *username, char *out, size_t size)
{
	return row_json(c,
			"SELECT json_build_object('username', username, 'display_name', "
			"display_name, 'role', role, 'disabled', disabled, 'source', CASE WHEN "
			"github_id IS NULL THEN 'local' ELSE 'github' END) FROM users "
			"WHERE username = $1",
			username, out, size);
}

/* A stored token (never its secret) where `cond` on $1 holds, for before/after. */
static int token_json(struct col_conn *c, const char *cond, const char *param, char *out,
		      size_t size)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "SELECT json_build_object('id', t.id, 'name', COALESCE(t.name, t.description), "
		 "'scope', COALESCE(t.scope, t.kind), 'owner', u.username, 'kind', t.kind, "
		 "'repository', r.full_name) FROM api_tokens t "
		 "LEFT JOIN users u ON u.id = t.owner_id "
		 "LEFT JOIN repositories r ON r.id = t.repo_id WHERE %s",
		 cond);
	return row_json(c, sql, param, out, size);
}

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
	char before[1024] = "", after[1100] = "";
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
	if (open_db(ctx, &conn))
		return 1;
	if (!strcmp(sub, "list")) {
		rc = list_users(conn);
	} else {
		int add = !strcmp(sub, "add");

		/* The change and its audit entry commit together. */
		rc = col_db_exec(conn->pg, "BEGIN");
		if (!rc && !add)
			rc = user_json(conn, name, before, sizeof(before));
		if (!rc)
			rc = add ? col_user_add(conn, name, role, display, hash)
				 : col_user_update(conn, name, -1,
						   !strcmp(sub, "disable")  ? 1
						   : !strcmp(sub, "enable") ? 0
									    : -1,
						   hash[0] ? hash : NULL, NULL);
		if (!rc)
			rc = user_json(conn, name, after, sizeof(after));
		if (!rc && hash[0] && !add) {
			/* As the API records a new password: a flag, never the hash. */
			size_t n = strlen(after);

			if (n > 1 && n + 26 < sizeof(after))
				snprintf(after + n - 1, sizeof(after) - n + 1,
					 ", \"password_changed\": true}");
		}
		if (!rc)
			rc = cli_audit(conn, add ? "user.create" : "user.update", name,
				       before[0] ? before : NULL, after);
		if (!rc)
			rc = col_db_exec(conn->pg, "COMMIT");
	}
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

/* token revoke ID */
static int token_revoke(struct col_ctx *ctx, int argc, char **argv)
{
	struct col_conn *conn;
	char *end = NULL;
	long long id = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
	char target[32], before[1024];
	int rc;

	if (id <= 0 || !end || *end) {
		fprintf(stderr, "cipulsed: usage: token revoke ID (the token's id)\n");
		return 2;
	}
	if (open_db(ctx, &conn))
		return 1;
	snprintf(target, sizeof(target), "token:%lld", id);
	rc = col_db_exec(conn->pg, "BEGIN");
	if (!rc)
		rc = token_json(conn, "t.id = $1::bigint", target + 6, before, sizeof(before));
	if (!rc)
		rc = col_token_revoke(conn, id, 0);
	if (!rc)
		rc = cli_audit(conn, "token.revoke", target, before, NULL);
	if (!rc)
		rc = col_db_exec(conn->pg, "COMMIT");
	col_db_release(ctx->db, conn);
	if (rc == CM_ENOTFOUND) {
		fprintf(stderr, "cipulsed: no token %lld that is not revoked already\n", id);
		return 1;
	}
	if (rc) {
		fprintf(stderr, "cipulsed: could not revoke the token: %s\n", cm_strerror(rc));
		return 1;
	}
	printf("token %lld revoked\n", id);
	return 0;
}

/* token create --kind K [--repo R] [--description D] | token revoke ID */
int col_token_command(struct col_ctx *ctx, int argc, char **argv)
{
	const char *kind = "ingest", *repo = NULL, *desc = NULL;
	char token[COL_TOKEN_SIZE], hash[65], target[32], after[1024];
	enum col_token_kind k;
	struct col_conn *conn;
	int rc;

	if (argc >= 1 && !strcmp(argv[0], "revoke"))
		return token_revoke(ctx, argc, argv);
	if (argc < 1 || strcmp(argv[0], "create")) {
		fprintf(stderr, "cipulsed: usage: token create --kind KIND [--repo owner/name] | "
				"token revoke ID\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		const char **slot = NULL;

		if (!strcmp(argv[i], "--kind"))
			slot = &kind;
		else if (!strcmp(argv[i], "--repo"))
			slot = &repo;
		else if (!strcmp(argv[i], "--description"))
			slot = &desc;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr,
				"cipulsed: token create: unknown or incomplete option \"%s\"\n",
				argv[i]);
			return 2;
		}
		*slot = argv[++i];
	}
	if (col_token_kind_parse(kind, &k) || k == COL_TOKEN_PERSONAL) {
		fprintf(stderr, "cipulsed: token create: --kind must be ingest, admin or read\n");
		return 2;
	}
	if (k == COL_TOKEN_INGEST && (!repo || !strchr(repo, '/'))) {
		fprintf(stderr, "cipulsed: token create: ingest tokens need --repo owner/name\n");
		return 2;
	}
	if (open_db(ctx, &conn))
		return 1;
	rc = col_db_exec(conn->pg, "BEGIN");
	if (!rc)
		rc = col_token_create(conn, k, repo, desc, token);
	if (!rc) {
		cm_sha256_hex(token, strlen(token), hash);
		rc = token_json(conn, "t.token_hash = $1", hash, after, sizeof(after));
	}
	if (!rc) {
		json_t *v = json_loads(after, 0, NULL);

		snprintf(target, sizeof(target), "token:%lld",
			 (long long)json_integer_value(json_object_get(v, "id")));
		json_decref(v);
		rc = cli_audit(conn, "token.create", target, NULL, after);
	}
	if (!rc)
		rc = col_db_exec(conn->pg, "COMMIT");
	col_db_release(ctx->db, conn);
	if (rc) {
		fprintf(stderr,
			"cipulsed: could not create the token: %s (run `cipulsed migrate`?)\n",
			cm_strerror(rc));
		return 1;
	}
	/* The token goes to stdout only, never to the log. */
	printf("%s\n", token);
	return 0;
}
