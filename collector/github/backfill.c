/*
 * Backfill: imports a range of past runs of one repository from the GitHub REST API, resumably
 * (POST /api/v1/poll/run with "days", and `cipulsed backfill`).
 */
#include "github/backfill.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "github/client.h"
#include "github/poller_int.h"

/* An arbitrary constant naming cipulse's backfill locks among advisory locks. */
#define BACKFILL_LOCK_KEY "7263105823"

/* ---- backfill ---- */

int col_backfill_repo(struct col_ctx *ctx, struct col_conn *c, const char *full_name, int days,
		      volatile sig_atomic_t *stop, col_backfill_progress_fn fn, void *arg,
		      struct col_poll_stats *st)
{
	char since[32], cursor[32] = "", saved[80], path[sizeof(((struct col_gh_resp *)0)->next)];
	char value[80];
	struct col_gh_resp resp;
	struct rp p;
	int rc;

	col_gh_resp_init(&resp);
	rc = rp_open(&p, ctx, c, full_name, stop, st);
	if (rc)
		goto out;
	{
		time_t t = (time_t)(cm_time_now_ms() / 1000 - (int64_t)days * 86400);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	/* "SINCE CURSOR": resume below the cursor, reaching back to the older of both starts. */
	rc = rp_state_get(&p, "backfill", NULL, 0, saved, sizeof(saved));
	if (rc)
		goto out;
	if (*saved) {
		char s[32], cur[32];

		if (sscanf(saved, "%31s %31s", s, cur) == 2) {
			if (strcmp(s, since) < 0)
				snprintf(since, sizeof(since), "%s", s);
			snprintf(cursor, sizeof(cursor), "%s", cur);
			cm_log_info("backfill", "resuming repo=%s since=%s before=%s", full_name,
				    since, cursor);
		}
	}
	/*
	 * GitHub answers at most 1000 runs to a filtered query: when a range has more, query again
	 * below the oldest run reached.
	 */
	for (;;) {
		char last[32] = "";
		long seen = 0, total = 0;

		if (*cursor)
			snprintf(path, sizeof(path), "%s?per_page=100&created=%s..%s", p.base,
				 since, cursor);
		else
			snprintf(path, sizeof(path), "%s?per_page=100&created=%%3E%%3D%s", p.base,
				 since);
		while (*path) {
			json_t *doc;

			rc = rp_get_json(&p, path, NULL, &resp, &doc);
			if (rc)
				goto out;
			if (!total) {
				total =
				    (long)json_integer_value(json_object_get(doc, "total_count"));
				if (!st->total)
					st->total = total;
			}
			seen += (long)json_array_size(json_object_get(doc, "workflow_runs"));
			rc = rp_sync_page(&p, doc, 1, last, sizeof(last));
			json_decref(doc);
			if (rc)
				goto out;
			/* Everything newer than the oldest run of this page is stored. */
			if (*last) {
				snprintf(value, sizeof(value), "%s %s", since, last);
				rc = rp_state_put(&p, "backfill", NULL, value);
				if (rc)
					goto out;
			}
			if (fn)
				fn(arg, full_name, st, 0);
			snprintf(path, sizeof(path), "%s", resp.next);
		}
		if (seen >= total || !*last || !strcmp(last, cursor))
			break;
		snprintf(cursor, sizeof(cursor), "%s", last);
	}
	rc = rp_state_del(&p, "backfill");
	if (fn && !rc)
		fn(arg, full_name, st, 1);
out:
	col_gh_resp_release(&resp);
	col_gh_client_free(p.gh);
	return rc;
}

/* ---- cipulsed backfill ---- */

static volatile sig_atomic_t *backfill_stop;

static void on_backfill_signal(int sig)
{
	(void)sig;
	if (backfill_stop)
		*backfill_stop = 1;
}

struct progress {
	int tty;
	long last_runs;
};

static void print_progress(void *arg, const char *full_name, const struct col_poll_stats *st,
			   int done)
{
	struct progress *pr = arg;
	long total = st->total > 0 ? st->total : st->runs_seen;
	long shown = st->runs_seen < total ? st->runs_seen : total;

	if (pr->tty) {
		char bar[31];
		int fill = total ? (int)(shown * 30 / total) : 30;

		if (done)
			fill = 30;
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '-';
		bar[30] = '\0';
		fprintf(stderr, "\rbackfill %s [%s] %ld/%ld runs, %ld requests%s", full_name, bar,
			done ? total : shown, total, st->requests, done ? "\n" : "");
	} else {
		fprintf(stderr,
			"backfill %s: %ld/%ld runs, %ld written, %ld jobs, %ld requests%s\n",
			full_name, shown, total, st->runs_written, st->jobs, st->requests,
			done ? ", done" : "");
	}
	fflush(stderr);
	pr->last_runs = st->runs_seen;
}

int col_backfill_command(struct col_ctx *ctx, int argc, char **argv)
{
	const char *repo = NULL;
	long days = 30;
	struct progress pr = { isatty(STDERR_FILENO), 0 };
	struct col_poll_stats st;
	struct sigaction sa;
	struct col_conn *c;
	PGresult *res;
	int rc, locked;

	for (int i = 0; i < argc; i++) {
		char *end;

		if (!strcmp(argv[i], "--repo") && i + 1 < argc) {
			repo = argv[++i];
		} else if (!strcmp(argv[i], "--days") && i + 1 < argc) {
			days = strtol(argv[++i], &end, 10);
			if (*end || days < 1 || days > 3650) {
				fprintf(stderr, "cipulsed: backfill: --days must be 1..3650\n");
				return 2;
			}
		} else {
			fprintf(stderr, "cipulsed: usage: backfill --repo owner/name [--days N]\n");
			return 2;
		}
	}
	if (!repo || !strchr(repo, '/')) {
		fprintf(stderr, "cipulsed: usage: backfill --repo owner/name [--days N]\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_backfill_signal;
	sigemptyset(&sa.sa_mask);
	backfill_stop = &ctx->stopping;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = col_db_new(&ctx->db, ctx->cfg->database_url, 2);
	if (!rc)
		rc = col_db_acquire(ctx->db, &c, COL_DB_CLI_WAIT_MS);
	if (rc) {
		fprintf(stderr, "cipulsed: backfill: could not connect to the database\n");
		curl_global_cleanup();
		return 1;
	}
	/* Two backfills of one repository would only spend the rate limit twice. */
	{
		const char *params[1] = { repo };
		int64_t rid = 0;
		char tok[8];

		rc = rp_load_repo(c, repo, &rid, tok, sizeof(tok), NULL);
		if (rc == CM_ENOTFOUND) {
			fprintf(stderr, "cipulsed: backfill: repository %s is not registered\n",
				repo);
			col_db_release(ctx->db, c);
			curl_global_cleanup();
			return 1;
		}
		res = col_db_query(c, "backfill",
				   "SELECT pg_try_advisory_lock(hashtextextended("
				   "'cipulse.backfill:' || $1, " BACKFILL_LOCK_KEY "))",
				   1, params, &rc);
		locked = res && !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
	}
	if (!locked) {
		fprintf(stderr, "cipulsed: backfill: another backfill of %s is running\n", repo);
		col_db_release(ctx->db, c);
		curl_global_cleanup();
		return 1;
	}
	rc = col_backfill_repo(ctx, c, repo, (int)days, &ctx->stopping, print_progress, &pr, &st);
	if (pr.tty && rc)
		fputc('\n', stderr);
	/* The lock is the session's: it ends when the process closes its connections. */
	col_db_release(ctx->db, c);
	curl_global_cleanup();
	switch (rc) {
	case CM_OK:
		printf("backfill %s: %ld runs read, %ld written, %ld jobs, %ld requests\n", repo,
		       st.runs_seen, st.runs_written, st.jobs, st.requests);
		return 0;
	case CM_ETIMEDOUT:
		fprintf(stderr, "cipulsed: backfill interrupted; run it again to resume\n");
		return 1;
	case CM_EDENIED:
		fprintf(stderr, "cipulsed: backfill: no GitHub token (CIPULSE_GITHUB_TOKEN) or "
				"GitHub refused it\n");
		return 1;
	default:
		fprintf(stderr, "cipulsed: backfill failed: %s; run it again to resume\n",
			cm_strerror(rc));
		return 1;
	}
}
