/*
 * Which repositories a principal may read (issue 12.3, CIPULSE_VISIBILITY).
 *
 *   all      (default) every principal that may read reads every repository
 *   github   admins, CIPULSE_ADMIN_TOKEN / CIPULSE_READ_TOKEN and stored read / admin tokens
 *            read every repository; a GitHub user (users.github_id) the registered
 *            repositories that GitHub lists for their user token (GET /user/repos, every
 *            page); a personal token what its owner reads; anybody else (a local non-admin
 *            user) none
 *
 * A user's answer is kept in visibility_cache (sql/015_visibility.sql), shared by every
 * collector, for CIPULSE_VISIBILITY_TTL: it is asked again once half of that has passed, by one
 * request of the user at a time (per process; the user's other requests answer from the last
 * answer while it holds, else wait for it at most CIPULSE_API_TIMEOUT and then read none;
 * other users never wait for it). A GitHub error never widens anything: the last
 * answer holds until the TTL is over, then none; GitHub is asked again 30 s after a failure,
 * not at every request; a token GitHub refuses (401/403) reads none at once.
 *
 * The answer is enforced by PostgreSQL (col_db_restrict: role cipulse_reader, row-level
 * security policies on every table that holds a repository's rows), so a query, an SQL
 * function or a rollup cannot forget it. docs/DESIGN.md, "Visibility", says why.
 */
#ifndef COL_VISIBILITY_H
#define COL_VISIBILITY_H

#include "core/ctx.h"
#include "store/auth.h"

/* GitHub pages of /user/repos read at most (100 repositories each). */
#define COL_VISIBILITY_MAX_PAGES 100

/* 1 when CIPULSE_VISIBILITY is github. */
int col_visibility_on(const struct col_config *cfg);

/*
 * The repositories p may read: 0 with *repos NULL (every repository), or 0 with *repos a
 * malloc'ed PostgreSQL bigint[] literal ("{}" for none) that the caller frees; a database error
 * code otherwise (the request must then be refused, not served).
 */
int col_visibility_of(struct col_ctx *ctx, const struct col_principal *p, char **repos);

/*
 * At start-up in github mode: the role and row-level security policies
 * (cipulse_visibility_prepare). 0, or an error with the reason logged.
 */
int col_visibility_prepare(struct col_conn *c);

#endif
