#include "github/poller.h"

#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"
#include "core/process_metrics.h"
#include "core/ticker.h"
#include "github/app.h"
#include "github/client.h"
#include "github/decode.h"
#include "github/poller_int.h"
#include "store/claim.h"
#include "store/lease.h"
#include "store/store.h"

/* Bounds on one poll, so that a huge repository cannot starve the others. */
#define RECONCILE_MAX 50
#define JOB_PAGES_MAX 10
#define ATTEMPTS_MAX  10

/* ---- database helpers ---- */

/* The repository's id and token (token "" when it has none). */
int rp_load_repo(struct col_conn *c, const char *full_name, int64_t *id, char *token, size_t size,
		 int64_t *installation)
{
	const char *params[1] = { full_name };
	PGresult *res;
	int rc;

	/* Only an installation that is there and not suspended lends its token. */
	res = col_db_query(
	    c, "poller",
	    "SELECT r.id, COALESCE(r.github_token, ''), CASE WHEN r.installation_id IS NULL THEN 0 "
	    "WHEN i.removed_at IS NULL AND i.suspended_at IS NULL THEN i.id ELSE -1 END "
	    "FROM repositories r LEFT JOIN github_installations i ON i.id = r.installation_id "
	    "WHERE r.full_name = $1",
	    1, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return CM_ENOTFOUND;
	}
	*id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	snprintf(token, size, "%s", PQgetvalue(res, 0, 1));
	if (installation)
		*installation = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	return CM_OK;
}

int rp_state_get(struct rp *p, const char *key, char *etag, size_t esize, char *value, size_t vsize)
{
	char id[24];
	const char *params[2] = { id, key };
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, p->repo_id);
	if (etag)
		etag[0] = '\0';
	if (value)
		value[0] = '\0';
	res = col_db_query(p->c, "poller",
			   "SELECT COALESCE(etag, ''), COALESCE(value, '') FROM poller_state "
			   "WHERE repo_id = $1::bigint AND key = $2",
			   2, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		if (etag)
			snprintf(etag, esize, "%s", PQgetvalue(res, 0, 0));
		if (value)
			snprintf(value, vsize, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return CM_OK;
}

int rp_state_put(struct rp *p, const char *key, const char *etag, const char *value)
{
	char id[24];
	const char *params[4] = { id, key, etag, value };
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, p->repo_id);
	res = col_db_query(p->c, "poller",
			   "INSERT INTO poller_state (repo_id, key, etag, value) "
			   "VALUES ($1::bigint, $2, NULLIF($3, ''), NULLIF($4, '')) "
			   "ON CONFLICT (repo_id, key) DO UPDATE SET etag = EXCLUDED.etag, "
			   "value = EXCLUDED.value, updated_at = now()",
			   4, params, &rc);
	PQclear(res);
	return rc;
}

int rp_state_del(struct rp *p, const char *key)
{
	char id[24];
	const char *params[2] = { id, key };
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, p->repo_id);
	res = col_db_query(p->c, "poller",
			   "DELETE FROM poller_state WHERE repo_id = $1::bigint AND key = $2", 2,
			   params, &rc);
	PQclear(res);
	return rc;
}

/* What the database knows of a run attempt, to decide whether to read its jobs. */
struct known {
	int found;
	char status[32];
	char conclusion[32];
	int64_t updated_ms;
	int by_poller;
	long jobs;
};

static int known_run(struct rp *p, int64_t run_id, int attempt, struct known *k)
{
	char id[24], rid[24], att[16];
	const char *params[3] = { id, rid, att };
	PGresult *res;
	int rc;

	memset(k, 0, sizeof(*k));
	snprintf(id, sizeof(id), "%" PRId64, p->repo_id);
	snprintf(rid, sizeof(rid), "%" PRId64, run_id);
	snprintf(att, sizeof(att), "%d", attempt);
	res = col_db_query(
	    p->c, "poller",
	    "SELECT COALESCE(r.status, ''), COALESCE(r.conclusion, ''), "
	    "COALESCE((extract(epoch FROM r.updated_at) * 1000)::bigint, 0), "
	    "'poller' = ANY (r.sources), (SELECT count(*) FROM jobs j WHERE j.repo_id = "
	    "r.repo_id AND j.run_id = r.run_id AND j.run_attempt = r.run_attempt) "
	    "FROM workflow_runs r WHERE r.repo_id = $1::bigint AND r.run_id = $2::bigint "
	    "AND r.run_attempt = $3::integer",
	    3, params, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		k->found = 1;
		snprintf(k->status, sizeof(k->status), "%s", PQgetvalue(res, 0, 0));
		snprintf(k->conclusion, sizeof(k->conclusion), "%s", PQgetvalue(res, 0, 1));
		k->updated_ms = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		k->by_poller = !strcmp(PQgetvalue(res, 0, 3), "t");
		k->jobs = strtol(PQgetvalue(res, 0, 4), NULL, 10);
	}
	PQclear(res);
	return CM_OK;
}

static void mark_done(struct rp *p, int64_t run_id, int attempt)
{
	if (p->ndone < (int)(sizeof(p->done) / sizeof(p->done[0]))) {
		p->done[p->ndone][0] = run_id;
		p->done[p->ndone][1] = attempt;
		p->ndone++;
	}
}

static int is_done(const struct rp *p, int64_t run_id, int attempt)
{
	for (int i = 0; i < p->ndone; i++) {
		if (p->done[i][0] == run_id && p->done[i][1] == attempt)
			return 1;
	}
	return 0;
}

/* ---- GitHub ---- */

int rp_get_json(struct rp *p, const char *path, const char *etag, struct col_gh_resp *resp,
		json_t **out)
{
	json_error_t e;
	int rc;

	*out = NULL;
	rc = col_gh_get(p->gh, path, etag, resp);
	p->st->requests = col_gh_client_requests(p->gh);
	if (rc)
		return rc;
	if (resp->status == 304) {
		p->st->not_modified++;
		return CM_OK;
	}
	*out = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, &e);
	if (!*out || !json_is_object(*out)) {
		cm_log_warn("poller", "unreadable reply from GitHub repo=%s: %s", p->full_name,
			    e.text);
		json_decref(*out);
		*out = NULL;
		return CM_EPROTO;
	}
	return CM_OK;
}

/* Adds every job of the run attempt (all pages) to the report. */
static int add_jobs(struct rp *p, struct col_gh_report *r)
{
	struct col_gh_resp resp;
	char path[sizeof(resp.next)], err[256];
	int rc = CM_OK;

	snprintf(path, sizeof(path), "%s/%" PRId64 "/attempts/%d/jobs?per_page=100", p->base,
		 r->run.id, r->run.attempt);
	col_gh_resp_init(&resp);
	for (int page = 0; page < JOB_PAGES_MAX && *path; page++) {
		json_t *doc, *jobs, *job;
		size_t i;

		rc = rp_get_json(p, path, NULL, &resp, &doc);
		if (rc)
			break;
		jobs = json_object_get(doc, "jobs");
		if (!json_is_array(jobs)) {
			json_decref(doc);
			rc = CM_EPROTO;
			break;
		}
		json_array_foreach(jobs, i, job)
		{
			rc = col_gh_add_job(r, job, NULL, err, sizeof(err));
			if (rc) {
				cm_log_warn("poller", "job skipped repo=%s run=%" PRId64 ": %s",
					    p->full_name, r->run.id, err);
				rc = CM_OK; /* one odd job does not lose the others */
			}
		}
		json_decref(doc); /* the report holds what it borrows */
		snprintf(path, sizeof(path), "%s", resp.next);
	}
	col_gh_resp_release(&resp);
	return rc;
}

static int needs_jobs(const struct known *k, const struct col_gh_report *r)
{
	return !k->found || strcmp(k->status, r->run.status) ||
	       strcmp(k->conclusion, r->run.conclusion) || k->updated_ms < r->run.updated_at ||
	       k->jobs == 0 || !k->by_poller;
}

/*
 * Writes one run attempt (a run object of the API) with its jobs, unless the database already
 * has it as GitHub has it (force: always).
 */
static int sync_run(struct rp *p, json_t *run, int force)
{
	struct col_gh_report r;
	struct col_store_result res;
	struct col_cred cred = { .scope = COL_CRED_REPO };
	const char *why = "";
	struct known k;
	char err[256];
	int rc;

	col_gh_report_init(&r, "poller");
	rc = col_gh_decode_run(&r, run, NULL, NULL, err, sizeof(err));
	if (rc) {
		cm_log_warn("poller", "run skipped repo=%s: %s", p->full_name, err);
		rc = CM_OK;
		goto out;
	}
	p->st->runs_seen++;
	/*
	 * What GitHub answered about this repository may write only this repository (the store
	 * decides for good); a run that says otherwise is not worth reading the jobs of.
	 */
	cred.repo_id = p->repo_id;
	snprintf(cred.repo_name, sizeof(cred.repo_name), "%s", p->full_name);
	r.report.cred = &cred;
	if (col_claim_decide(&cred, r.repo.id, r.repo.full_name, NULL, &why) == COL_CLAIM_DENY)
		goto denied;
	mark_done(p, r.run.id, r.run.attempt);
	rc = known_run(p, r.run.id, r.run.attempt, &k);
	if (rc || (!force && !needs_jobs(&k, &r)))
		goto out;
	rc = add_jobs(p, &r);
	if (rc)
		goto out;
	rc = col_store_put_report(p->c, &r.report, &res);
	if (rc == CM_EDENIED) {
		why = res.why;
		goto denied;
	}
	if (rc) {
		cm_log_warn("poller", "could not store run repo=%s run=%" PRId64 ": %s",
			    p->full_name, r.run.id, cm_strerror(rc));
		goto out;
	}
	/* A repository registered by name takes GitHub's id with its first run. */
	p->repo_id = r.repo.id;
	p->st->runs_written++;
	p->st->jobs += res.jobs;
	cm_log_debug("poller", "run synced repo=%s run=%" PRId64 " attempt=%d status=%s jobs=%d",
		     p->full_name, r.run.id, r.run.attempt, r.run.status, res.jobs);
	goto out;
denied:
	cm_log_warn("poller", "run skipped repo=%s run=%" PRId64 ": %s", p->full_name, r.run.id,
		    why);
	rc = CM_OK;
out:
	col_gh_report_release(&r);
	return rc;
}

/* Reads one attempt of a run and writes it with its jobs. */
static int sync_attempt(struct rp *p, int64_t run_id, int attempt, int force)
{
	struct col_gh_resp resp;
	char path[512];
	json_t *doc;
	int rc;

	snprintf(path, sizeof(path), "%s/%" PRId64 "/attempts/%d", p->base, run_id, attempt);
	col_gh_resp_init(&resp);
	rc = rp_get_json(p, path, NULL, &resp, &doc);
	col_gh_resp_release(&resp);
	if (rc == CM_ENOTFOUND) {
		cm_log_info("poller", "run gone from GitHub repo=%s run=%" PRId64 " attempt=%d",
			    p->full_name, run_id, attempt);
		mark_done(p, run_id, attempt);
		return CM_OK;
	}
	if (rc)
		return rc;
	rc = sync_run(p, doc, force);
	json_decref(doc);
	return rc;
}

/* Earlier attempts of a re-run run that the database does not have yet. */
static int sync_earlier_attempts(struct rp *p, json_t *run)
{
	json_int_t n = json_integer_value(json_object_get(run, "run_attempt"));
	json_int_t id = json_integer_value(json_object_get(run, "id"));
	int rc = CM_OK;

	for (json_int_t a = n - 1; a >= 1 && n - a <= ATTEMPTS_MAX && !rc; a--) {
		struct known k;

		rc = known_run(p, id, (int)a, &k);
		if (!rc && !k.by_poller)
			rc = sync_attempt(p, id, (int)a, 0);
	}
	return rc;
}

/* Runs of one list page; *oldest gets the creation time of the last one. */
int rp_sync_page(struct rp *p, json_t *doc, int with_attempts, char *oldest, size_t size)
{
	json_t *runs = json_object_get(doc, "workflow_runs"), *run;
	size_t i;
	int rc = CM_OK;

	if (!json_is_array(runs))
		return CM_EPROTO;
	json_array_foreach(runs, i, run)
	{
		const char *created = json_string_value(json_object_get(run, "created_at"));

		if (*p->stop)
			return CM_ETIMEDOUT;
		rc = sync_run(p, run, 0);
		if (!rc && with_attempts)
			rc = sync_earlier_attempts(p, run);
		if (rc)
			return rc;
		if (created && oldest)
			snprintf(oldest, size, "%s", created);
	}
	return CM_OK;
}

/* Page 1 of the recent runs, conditionally: GitHub does not count a 304 against the limit. */
static int poll_recent(struct rp *p)
{
	struct col_gh_resp resp;
	char path[512], etag[256];
	json_t *doc = NULL;
	int rc;

	rc = rp_state_get(p, "runs", etag, sizeof(etag), NULL, 0);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s?per_page=100", p->base);
	col_gh_resp_init(&resp);
	rc = rp_get_json(p, path, etag, &resp, &doc);
	if (!rc && doc)
		rc = rp_sync_page(p, doc, 0, NULL, 0);
	/* The ETag is kept only once the page is stored: a failure means reading it again. */
	if (!rc && doc)
		rc = rp_state_put(p, "runs", resp.etag, NULL);
	json_decref(doc);
	col_gh_resp_release(&resp);
	return rc;
}

/* Runs stuck queued/in progress, or not yet read by the poller, for longer than stale_ms. */
static int reconcile(struct rp *p)
{
	char id[24], stale[32];
	const char *params[2] = { id, stale };
	PGresult *res;
	int rc;

	snprintf(id, sizeof(id), "%" PRId64, p->repo_id);
	snprintf(stale, sizeof(stale), "%.3f", (double)p->ctx->cfg->poll_stale_ms / 1000.0);
	res = col_db_query(
	    p->c, "poller",
	    "SELECT run_id, run_attempt FROM workflow_runs WHERE repo_id = $1::bigint "
	    "AND (status IS DISTINCT FROM 'completed' OR NOT ('poller' = ANY (sources))) "
	    "AND inserted_at <= now() - make_interval(secs => $2::double precision) "
	    "ORDER BY inserted_at LIMIT 256",
	    2, params, &rc);
	if (!res)
		return rc;
	for (int i = 0, n = 0; i < PQntuples(res) && n < RECONCILE_MAX && !rc; i++) {
		int64_t run_id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		int attempt = atoi(PQgetvalue(res, i, 1));

		if (*p->stop) {
			rc = CM_ETIMEDOUT;
			break;
		}
		if (is_done(p, run_id, attempt))
			continue;
		n++;
		rc = sync_attempt(p, run_id, attempt, 1);
	}
	PQclear(res);
	return rc;
}

int rp_open(struct rp *p, struct col_ctx *ctx, struct col_conn *c, const char *full_name,
	    volatile sig_atomic_t *stop, struct col_poll_stats *st)
{
	char token[512];
	const char *tok;
	int64_t installation = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	memset(st, 0, sizeof(*st));
	p->ctx = ctx;
	p->c = c;
	p->st = st;
	p->stop = stop;
	/* The name goes into GitHub's URL paths: only what GitHub itself allows. */
	if (strlen(full_name) >= sizeof(p->full_name) || !cm_repo_name_valid(full_name)) {
		cm_log_warn("poller", "not polled: not a GitHub owner/name repo_len=%zu",
			    strlen(full_name));
		return CM_ENOTFOUND;
	}
	snprintf(p->full_name, sizeof(p->full_name), "%s", full_name);
	snprintf(p->base, sizeof(p->base), "/repos/%s/actions/runs", full_name);
	rc = rp_load_repo(c, full_name, &p->repo_id, token, sizeof(token), &installation);
	if (rc)
		return rc;
	if (installation && col_gh_app_enabled()) {
		/* The installation's repositories are read with its token or not at all: a
		 * suspended or removed installation is no cue to fall back on someone's personal
		 * token. */
		memset(token, 0, sizeof(token));
		if (installation < 0)
			return CM_EDENIED;
		return col_gh_client_new_installation(&p->gh, ctx->cfg->github_api_url,
						      installation, stop);
	}
	tok = *token ? token : ctx->cfg->github_token;
	if (!tok || !*tok)
		return CM_EDENIED;
	rc = col_gh_client_new(&p->gh, ctx->cfg->github_api_url, tok, stop);
	memset(token, 0, sizeof(token));
	return rc;
}

/*
 * The repository's default branch (the default alert rule watches it), read from GitHub once
 * while it is not known (webhooks carry it too). A failure here is no failure of the poll.
 */
static void learn_default_branch(struct rp *p)
{
	const char *params[3] = { p->full_name, NULL, NULL };
	char idbuf[24];
	struct col_gh_resp resp;
	const char *branch;
	char path[512];
	json_t *doc = NULL;
	PGresult *res;
	int rc, known;

	res = col_db_query(p->c, "poller",
			   "SELECT 1 FROM repositories WHERE full_name = $1 "
			   "AND default_branch IS NULL",
			   1, params, &rc);
	if (!res)
		return;
	known = PQntuples(res) == 0;
	PQclear(res);
	if (known)
		return;
	snprintf(path, sizeof(path), "/repos/%s", p->full_name);
	col_gh_resp_init(&resp);
	rc = rp_get_json(p, path, NULL, &resp, &doc);
	branch = doc ? json_string_value(json_object_get(doc, "default_branch")) : NULL;
	if (!rc && branch && *branch && strlen(branch) <= 255 &&
	    cm_text_valid_utf8(branch, strlen(branch))) {
		/*
		 * A name is only a label (store/claim.h): GitHub's answer counts for the repository
		 * whose id it names. A provisional repository learns its branch once its id is
		 * known.
		 */
		snprintf(idbuf, sizeof(idbuf), "%" PRId64,
			 (int64_t)json_integer_value(json_object_get(doc, "id")));
		params[1] = branch;
		params[2] = idbuf;
		res = col_db_query(p->c, "poller",
				   "UPDATE repositories SET default_branch = $2 "
				   "WHERE full_name = $1 AND id = $3::bigint AND id > 0 "
				   "AND default_branch IS NULL",
				   3, params, &rc);
		PQclear(res);
	} else if (rc) {
		cm_log_debug("poller", "default branch not read repo=%s: %s", p->full_name,
			     cm_strerror(rc));
	}
	json_decref(doc);
	col_gh_resp_release(&resp);
}

int col_poller_poll_repo(struct col_ctx *ctx, struct col_conn *c, const char *full_name,
			 int64_t run_id, volatile sig_atomic_t *stop, struct col_poll_stats *st)
{
	struct rp p;
	int rc;

	rc = rp_open(&p, ctx, c, full_name, stop, st);
	if (rc)
		goto out;
	if (run_id > 0) {
		struct col_gh_resp resp;
		char path[512];
		json_t *doc;

		snprintf(path, sizeof(path), "%s/%" PRId64, p.base, run_id);
		col_gh_resp_init(&resp);
		rc = rp_get_json(&p, path, NULL, &resp, &doc);
		col_gh_resp_release(&resp);
		if (!rc) {
			rc = sync_run(&p, doc, 1);
			if (!rc)
				rc = sync_earlier_attempts(&p, doc);
			json_decref(doc);
		}
		goto out;
	}
	learn_default_branch(&p);
	rc = poll_recent(&p);
	if (!rc)
		rc = reconcile(&p);
out:
	col_gh_client_free(p.gh);
	return rc;
}

/* ---- the background poller ---- */

struct col_poller {
	struct col_ctx *ctx;
	struct col_ticker *ticker;
	volatile sig_atomic_t stop; /* aborts a poll in progress (GitHub client, loops) */
};

/* One cycle over every registered repository, on the ticker's thread. */
static void poll_cycle(void *arg)
{
	struct col_poller *p = arg;
	static struct col_metric *cycles_ok, *cycles_err, *last_ok;
	struct col_conn *c;
	PGresult *res;
	int rc, errors = 0;

	if (!cycles_ok) {
		cycles_ok = col_metric_counter("cipulse_poller_cycles_total", "result=\"ok\"",
					       "Poller cycles over every repository.");
		cycles_err = col_metric_counter("cipulse_poller_cycles_total", "result=\"error\"",
						"Poller cycles over every repository.");
		last_ok = col_metric_gauge("cipulse_poller_last_success_timestamp_seconds", "",
					   "When a poller cycle last completed without error.");
	}
	/* One collector of several polls (store/lease.h). */
	if (col_duty_begin(p->ctx, COL_DUTY_POLL, &c))
		return;
	/* Retired repositories (their app installation let them go) keep their history only. */
	res = col_db_query(c, "poller",
			   "SELECT full_name FROM repositories r WHERE retired_at IS NULL "
			   "AND NOT EXISTS (SELECT 1 FROM github_installations i WHERE "
			   "i.id = r.installation_id AND i.suspended_at IS NOT NULL) "
			   "ORDER BY full_name",
			   0, NULL, &rc);
	for (int i = 0; res && i < PQntuples(res) && !p->stop; i++) {
		struct col_poll_stats st;
		const char *name = PQgetvalue(res, i, 0);
		int64_t t0 = cm_time_mono_ms();

		rc = col_poller_poll_repo(p->ctx, c, name, 0, &p->stop, &st);
		if (rc == CM_EDENIED && st.requests == 0) {
			cm_log_debug("poller", "repository skipped, no GitHub token repo=%s", name);
			continue;
		}
		if (rc && rc != CM_ETIMEDOUT) {
			errors++;
			cm_log_warn("poller", "poll failed repo=%s: %s", name, cm_strerror(rc));
		}
		col_metric_add(col_metric_counter("cipulse_poller_runs_written_total", "",
						  "Run attempts the poller wrote."),
			       (double)st.runs_written);
		cm_log_info("poller",
			    "repository polled repo=%s requests=%ld not_modified=%ld "
			    "runs=%ld written=%ld jobs=%ld ms=%lld",
			    name, st.requests, st.not_modified, st.runs_seen, st.runs_written,
			    st.jobs, (long long)(cm_time_mono_ms() - t0));
	}
	PQclear(res);
	col_duty_end(p->ctx, COL_DUTY_POLL, c);
	col_metric_inc(errors ? cycles_err : cycles_ok);
	if (!errors)
		col_metric_set(last_ok, (double)cm_time_now_ms() / 1000.0);
}

int col_poller_start(struct col_ctx *ctx, struct col_poller **out)
{
	struct col_poller *p;

	*out = NULL;
	if (!ctx->cfg->poll_enabled)
		return CM_OK;
	if (col_gh_app_enabled())
		cm_log_info("poller", "GitHub App mode: repositories of an installation are read "
				      "with its tokens");
	else if (!ctx->cfg->github_token || !*ctx->cfg->github_token)
		cm_log_info("poller", "no CIPULSE_GITHUB_TOKEN: polling only repositories with "
				      "their own token");
	p = calloc(1, sizeof(*p));
	if (!p)
		return CM_ENOMEM;
	p->ctx = ctx;
	if (col_ticker_start("poller", ctx->cfg->poll_interval_ms, poll_cycle, p, &p->ticker)) {
		free(p);
		return CM_ENOMEM;
	}
	cm_log_info("poller", "started interval_ms=%ld", ctx->cfg->poll_interval_ms);
	*out = p;
	return CM_OK;
}

void col_poller_stop(struct col_poller *p)
{
	if (!p)
		return;
	p->stop = 1; /* a poll in progress ends at its next check */
	col_ticker_stop(p->ticker);
	free(p);
}
