/* The `cipulsed user ...` and `cipulsed token ...` commands (store/auth_cli.c). */
#ifndef COL_AUTH_CLI_H
#define COL_AUTH_CLI_H

#include "core/ctx.h"

#define COL_USER_HELP                                                                              \
	"  user add NAME --role ROLE --password-stdin [--display-name TEXT]\n"                     \
	"                              create a local account (role: viewer, maintainer,\n"        \
	"                              admin); the password is one line on stdin\n"                \
	"  user reset NAME --password-stdin\n"                                                     \
	"                              set a new password (ends the user's sessions)\n"            \
	"  user disable NAME | user enable NAME\n"                                                 \
	"                              a disabled user's sessions and tokens stop at once\n"       \
	"  user list                   list the accounts\n"

/* Runs `user SUB ...` (argv after "user"): the exit status. */
int col_user_command(struct col_ctx *ctx, int argc, char **argv);
/* Runs `token create ...` / `token revoke ID` (argv after "token"): the exit status. */
int col_token_command(struct col_ctx *ctx, int argc, char **argv);

#endif
