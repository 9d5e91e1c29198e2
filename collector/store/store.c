/* clang-format off */
#include "store/store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alert.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "store/fingerprint.h"

/* Bit of col_conn.prepared: this module's statements exist on the connection. */
#define STORE_PREPARED 0x1u

/* A time parameter: epoch ms as text, NULL when unknown (0). */
#define TS(ms) "to_timestamp(NULLIF(" ms ", 0)::double precision / 1000)"
/*
 * Status only moves forward; the conclusion goes with the status that wins. (In a SET list
 * every expression sees the old row, so the order of assignments does not matter.)
 */
#define STATUS_SET(t)                                                                           \
	"status = CASE WHEN cipulse_status_rank(EXCLUDED.status) >= cipulse_status_rank(" t     \
	".status) THEN COALESCE(EXCLUDED.status, " t ".status) ELSE " t ".status END, "         \
	"conclusion = CASE WHEN cipulse_status_rank(EXCLUDED.status) >= "                       \
	"cipulse_status_rank(" t ".status) THEN COALESCE(EXCLUDED.conclusion, " t               \
	".conclusion) ELSE " t ".conclusion END"
#define STATUS_MERGE(t) STATUS_SET(t) ", "
#define KEEP(t, col) col " = COALESCE(EXCLUDED." col ", " t "." col "), "
/*
 * A value that belongs to a state: a description at least as far along replaces it, an older
 * one (a late in_progress or queued event) only fills a gap, so order does not matter.
 */
#define KEEP_RANKED(t, col)                                                                     \
	col " = CASE WHEN cipulse_status_rank(EXCLUDED.status) >= cipulse_status_rank(" t       \
	".status) THEN COALESCE(EXCLUDED." col ", " t "." col ") ELSE COALESCE(" t "." col     \
	", EXCLUDED." col ") END, "

struct stmt {
	const char *name;
	/* clang-format on */
	const char *sql;
	int nparams;
};

enum {
	ST_REPORT,
	ST_DELIVERY,
	ST_REPO_STATE,
	ST_REPO_ADOPT,
	ST_REPO,
	ST_WF_ADOPT_RUNS,
	ST_WF_DROP_PROVISIONAL,
	ST_WF_RELEASE_PATH,
	ST_WF,
	ST_WF_PATH,
	ST_RUN,
	ST_JOBS,
	ST_STEPS,
	ST_LOG,
	ST_TESTS,
	ST_TESTS_TRUNCATED,
	ST_FAILURE_GROUP,
	ST_JOB_FAILURE,
	ST_ALERT_EVAL,
	ST_COUNT
};

static const struct stmt stmts[ST_COUNT] = {
	[ST_REPORT] = { "cp_report",
			"INSERT INTO reports (report_id, repo_id, run_id, run_attempt, "
			"agent_version, mode, jobs, steps, logs) "
			"VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7, $8, $9) "
			"ON CONFLICT (report_id) DO NOTHING RETURNING 1",
			9 },
	[ST_DELIVERY] = { "cp_delivery",
			  "INSERT INTO webhook_deliveries (delivery_id, event, action, repo_id) "
			  "VALUES ($1, $2, NULLIF($3, ''), $4) "
			  "ON CONFLICT (delivery_id) DO NOTHING RETURNING 1",
			  4 },
	/*
	 * The rows that decide whose repository a report may write (store/claim.h): those of the
	 * report's id and name and of the credential's id and name, locked until the transaction
	 * ends so that the decision still holds when the report is written.
	 */
	[ST_REPO_STATE] = { "cp_repo_state",
			    "SELECT id, full_name, webhook_secret IS NOT NULL FROM repositories "
			    "WHERE id = $1 OR full_name = $2 OR id = $3 OR full_name = $4 "
			    "ORDER BY id FOR UPDATE",
			    4 },
	/* A repository registered by name before GitHub's id was known takes the real id now;
	 * ON UPDATE CASCADE carries it into tokens, workflows and runs. */
	[ST_REPO_ADOPT] = { "cp_repo_adopt",
			    "UPDATE repositories SET id = $1, updated_at = now() "
			    "WHERE id = $2 AND id < 0",
			    2 },
	/* clang-format off */
	[ST_REPO] = { "cp_repo",
		      "INSERT INTO repositories AS t (id, full_name, server_url, default_branch) "
		      "VALUES ($1, $2, COALESCE(NULLIF($3, ''), 'https://github.com'), "
		      "NULLIF($4, '')) "
		      "ON CONFLICT (id) DO UPDATE SET full_name = EXCLUDED.full_name, "
		      "server_url = CASE WHEN $3 = '' THEN t.server_url ELSE EXCLUDED.server_url END, "
		      "default_branch = COALESCE(EXCLUDED.default_branch, t.default_branch), "
		      "updated_at = now() "
		      "WHERE t.full_name IS DISTINCT FROM EXCLUDED.full_name "
		      "OR ($3 <> '' AND t.server_url IS DISTINCT FROM EXCLUDED.server_url) "
		      "OR ($4 <> '' AND t.default_branch IS DISTINCT FROM EXCLUDED.default_branch)",
		      4 },
	/* clang-format on */
	/* A workflow known by path only (agent) gets its real id (webhook, poller): move its runs.
	 */
	[ST_WF_ADOPT_RUNS] = { "cp_wf_adopt_runs",
			       "UPDATE workflow_runs SET workflow_id = $2 WHERE repo_id = $1 AND "
			       "workflow_id IN (SELECT id FROM workflows WHERE repo_id = $1 "
			       "AND path = $3 AND id < 0)",
			       3 },
	[ST_WF_DROP_PROVISIONAL] = { "cp_wf_drop",
				     "DELETE FROM workflows WHERE repo_id = $1 AND path = $2 AND id < 0",
				     2 },
	/*
	 * A workflow file deleted and created again is a new workflow (a new id) at the same path.
	 * A path belongs to the newest workflow holding it (GitHub's ids grow): older ones let go
	 * of it, and an older one's late delivery does not take it back (cp_wf).
	 */
	[ST_WF_RELEASE_PATH] = { "cp_wf_release_path",
				 "UPDATE workflows SET path = NULL, updated_at = now() "
				 "WHERE repo_id = $1 AND path = $3 AND id > 0 AND id < $2",
				 3 },
	[ST_WF] = { "cp_wf",
		    "INSERT INTO workflows AS t (repo_id, id, name, path) "
		    "VALUES ($1, $2, NULLIF($3, ''), CASE WHEN EXISTS (SELECT 1 FROM workflows w "
		    "WHERE w.repo_id = $1 AND w.path = $4 AND w.id > $2) THEN NULL "
		    "ELSE NULLIF($4, '') END) "
		    "ON CONFLICT (repo_id, id) DO UPDATE SET "
		    "name = COALESCE(EXCLUDED.name, t.name), path = COALESCE(EXCLUDED.path, t.path), "
		    "updated_at = now() "
		    "WHERE (EXCLUDED.name IS NOT NULL AND EXCLUDED.name IS DISTINCT FROM t.name) "
		    "OR (EXCLUDED.path IS NOT NULL AND EXCLUDED.path IS DISTINCT FROM t.path)",
		    4 },
	/* Workflow known by path only: a provisional row with a stable negative id from the path,
	 * unless the real one is known already. */
	/* clang-format off */
	[ST_WF_PATH] = { "cp_wf_path",
			 "INSERT INTO workflows (repo_id, id, name, path) "
			 "SELECT $1, -(hashtextextended($2, 0) & 9223372036854775807) - 1, "
			 "NULLIF($3, ''), $2 "
			 "WHERE NOT EXISTS (SELECT 1 FROM workflows WHERE repo_id = $1 AND path = $2) "
			 "ON CONFLICT DO NOTHING",
			 3 },
	[ST_RUN] = { "cp_run",
		     "INSERT INTO workflow_runs AS t (repo_id, run_id, run_attempt, workflow_id, "
		     "run_number, name, event, status, conclusion, head_branch, head_sha, actor, "
		     "html_url, created_at, run_started_at, updated_at, completed_at, sources, "
		     "head_message) "
		     "VALUES ($1, $2, $3, "
		     "CASE WHEN $4::bigint <> 0 THEN $4::bigint ELSE (SELECT id FROM workflows "
		     "  WHERE repo_id = $1 AND path = NULLIF($5, '') ORDER BY id DESC LIMIT 1) END, "
		     "NULLIF($6::bigint, 0), NULLIF($7, ''), NULLIF($8, ''), NULLIF($9, ''), "
		     "NULLIF($10, ''), NULLIF($11, ''), NULLIF($12, ''), NULLIF($13, ''), "
		     "NULLIF($14, ''), " TS("$15::bigint") ", " TS("$16::bigint") ", "
		     TS("$17::bigint") ", "
		     "CASE WHEN $9 = 'completed' THEN COALESCE(" TS("$17::bigint") ", now()) END, "
		     "ARRAY[$18], NULLIF(left(split_part($19, E'\\n', 1), 300), '')) "
		     "ON CONFLICT (repo_id, run_id, run_attempt) DO UPDATE SET "
		     "workflow_id = CASE WHEN t.workflow_id IS NULL OR EXCLUDED.workflow_id > 0 "
		     "  THEN COALESCE(EXCLUDED.workflow_id, t.workflow_id) ELSE t.workflow_id END, "
		     KEEP("t", "run_number") KEEP("t", "name") KEEP("t", "event")
		     STATUS_MERGE("t")
		     KEEP("t", "head_branch") KEEP("t", "head_sha") KEEP("t", "actor")
		     KEEP("t", "html_url") KEEP("t", "created_at") KEEP("t", "run_started_at")
		     "updated_at = GREATEST(EXCLUDED.updated_at, t.updated_at), "
		     "completed_at = CASE WHEN cipulse_status_rank(EXCLUDED.status) >= "
		     "  cipulse_status_rank(t.status) AND EXCLUDED.status = 'completed' "
		     "  THEN COALESCE(EXCLUDED.completed_at, t.completed_at) ELSE t.completed_at END, "
		     KEEP("t", "head_message")
		     "sources = CASE WHEN $18 = ANY (t.sources) THEN t.sources "
		     "  ELSE t.sources || $18 END",
		     19 },
	/*
	 * The jobs of every report of a transaction, one row per array element
	 * (send_jobs_and_steps): one statement, whatever their number; a job twice among them goes
	 * into a later statement. Labels come as array literals, one per job.
	 */
	[ST_JOBS] = { "cp_jobs",
		      "INSERT INTO jobs AS t (repo_id, job_id, run_id, run_attempt, name, status, "
		      "conclusion, created_at, started_at, completed_at, runner_name, runner_os, "
		      "runner_arch, labels, html_url, sources) "
		      "SELECT u.repo_id, u.job_id, u.run_id, u.run_attempt, NULLIF(u.name, ''), "
		      "NULLIF(u.status, ''), NULLIF(u.conclusion, ''), " TS("u.created") ", "
		      TS("u.started") ", " TS("u.completed") ", NULLIF(u.runner_name, ''), "
		      "NULLIF(u.runner_os, ''), NULLIF(u.runner_arch, ''), u.labels::text[], "
		      "NULLIF(u.html_url, ''), ARRAY[u.source] "
		      "FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::integer[], "
		      "$5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], "
		      "$11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) "
		      "AS u(repo_id, job_id, run_id, run_attempt, name, status, conclusion, created, "
		      "started, completed, runner_name, runner_os, runner_arch, labels, html_url, "
		      "source) "
		      "ON CONFLICT (repo_id, job_id) DO UPDATE SET "
		      KEEP("t", "name") STATUS_MERGE("t")
		      KEEP("t", "created_at") KEEP_RANKED("t", "started_at")
		      KEEP_RANKED("t", "completed_at")
		      KEEP_RANKED("t", "runner_name") KEEP_RANKED("t", "runner_os")
		      KEEP_RANKED("t", "runner_arch")
		      KEEP("t", "labels") KEEP("t", "html_url")
		      "sources = CASE WHEN EXCLUDED.sources[1] = ANY (t.sources) THEN t.sources "
		      "  ELSE t.sources || EXCLUDED.sources[1] END",
		      16 },
	/*
	 * The steps of every report of a transaction, one row per array element
	 * (send_jobs_and_steps): one
	 * statement, whatever their number. A step twice among them goes into a later statement.
	 */
	[ST_STEPS] = { "cp_steps",
		       "INSERT INTO steps AS t (repo_id, job_id, number, name, status, conclusion, "
		       "started_at, completed_at) "
		       "SELECT u.repo_id, u.job_id, u.number, NULLIF(u.name, ''), NULLIF(u.status, ''), "
		       "NULLIF(u.conclusion, ''), " TS("u.started") ", " TS("u.completed") " "
		       "FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::text[], $5::text[], "
		       "$6::text[], $7::bigint[], $8::bigint[]) AS u(repo_id, job_id, number, name, "
		       "status, conclusion, started, completed) "
		       "ON CONFLICT (repo_id, job_id, number) DO UPDATE SET "
		       KEEP("t", "name") KEEP_RANKED("t", "started_at")
		       KEEP_RANKED("t", "completed_at") STATUS_SET("t"),
		       8 },
	/* clang-format on */
	/* A tail is replaced by another as long (or longer): never better by worse. */
	[ST_LOG] = { "cp_log",
		     "INSERT INTO logs AS t (repo_id, job_id, step_number, content, original_size, "
		     "truncated, exit_code, source) "
		     "VALUES ($1, $2, $3, $4, NULLIF($5::bigint, 0), $6, $7::integer, $8) "
		     "ON CONFLICT (repo_id, job_id, step_number) DO UPDATE SET "
		     "content = EXCLUDED.content, original_size = COALESCE(EXCLUDED.original_size, "
		     "t.original_size), truncated = EXCLUDED.truncated, "
		     "exit_code = COALESCE(EXCLUDED.exit_code, t.exit_code), "
		     "source = EXCLUDED.source, updated_at = now() "
		     "WHERE length(EXCLUDED.content) >= length(t.content) "
		     "AND EXCLUDED.content IS DISTINCT FROM t.content",
		     8 },
	/* One batch of test cases of a job: one statement, the cases as arrays (sql/009). */
	[ST_TESTS] = { "cp_tests",
		       "SELECT cipulse_tests_put($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], "
		       "$8::text[], $9::bigint[], $10::text[], $11::text[], $12::integer[])",
		       12 },
	[ST_TESTS_TRUNCATED] = { "cp_tests_truncated",
				 "UPDATE jobs SET tests_truncated = true "
				 "WHERE repo_id = $1 AND job_id = $2 AND NOT tests_truncated",
				 2 },
	/*
	 * A failed job's failure group (store/fingerprint.h): the group once, then the job's link.
	 * An existing group is locked FOR KEY SHARE until the link commits (reports of the same
	 * group do not wait for each other), so the retention sweep, which deletes only rows it
	 * holds FOR UPDATE, cannot delete it under the new link; one the sweep deleted meanwhile
	 * is written anew (sql/017).
	 */
	[ST_FAILURE_GROUP] = { "cp_failure_group",
			       "WITH l AS (SELECT 1 FROM failure_groups WHERE fingerprint = $1 "
			       "FOR KEY SHARE) "
			       "INSERT INTO failure_groups (fingerprint, title, lines) "
			       "SELECT $1, $2, $3::text[] WHERE NOT EXISTS (SELECT 1 FROM l) "
			       "ON CONFLICT (fingerprint) DO NOTHING",
			       3 },
	[ST_JOB_FAILURE] = { "cp_job_failure",
			     "INSERT INTO job_failures AS t (repo_id, job_id, fingerprint, run_id, "
			     "run_attempt, at) VALUES ($1, $2, $3, $4, $5, COALESCE((SELECT "
			     "j.completed_at FROM jobs j WHERE j.repo_id = $1 AND j.job_id = $2), "
			     "now())) ON CONFLICT (repo_id, job_id) DO UPDATE SET "
			     "fingerprint = EXCLUDED.fingerprint, at = EXCLUDED.at "
			     "WHERE t.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint",
			     5 },
	/* Alert rules for a run that completed, in the same transaction (alert/alert.h). */
	[ST_ALERT_EVAL] = { "cp_alert_eval", COL_ALERT_EVAL_SQL, 4 },
};

static int prepare_all(struct col_conn *c)
{
	if (c->prepared & STORE_PREPARED)
		return CM_OK;
	for (int i = 0; i < ST_COUNT; i++) {
		PGresult *res =
		    PQprepare(c->pg, stmts[i].name, stmts[i].sql, stmts[i].nparams, NULL);
		int rc = col_db_ok(res) ? CM_OK : col_db_error(c->pg, res);

		if (rc) {
			cm_log_error("store", "could not prepare statement %s: %s", stmts[i].name,
				     PQresultErrorMessage(res));
			PQclear(res);
			return rc;
		}
		PQclear(res);
	}
	c->prepared |= STORE_PREPARED;
	return CM_OK;
}

static int send(struct col_conn *c, int st, const struct col_params *p, int *nsent)
{
	if (p->n < 0) {
		cm_log_error("store", "too many parameters for statement %s", stmts[st].name);
		return CM_EINVAL;
	}
	if (!PQsendQueryPrepared(c->pg, stmts[st].name, p->n, p->v, NULL, NULL, 0))
		return CM_EUNAVAIL;
	(*nsent)++;
	return CM_OK;
}

static int send_sql(struct col_conn *c, const char *sql, int *nsent)
{
	if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
		return CM_EUNAVAIL;
	(*nsent)++;
	return CM_OK;
}

/*
 * Reads the results of nsent pipelined statements and the sync that follows them. Returns the
 * first error. With keep (nsent entries), the result of statement number i (from 0) is left in
 * keep[i] for the caller to PQclear (NULL when it has none).
 */
static int read_results(struct col_conn *c, int nsent, PGresult **keep)
{
	int rc = CM_OK, seen = 0;
	PGresult *res;

	while (seen < nsent) {
		res = PQgetResult(c->pg);
		if (!res) {
			if (PQstatus(c->pg) != CONNECTION_OK) {
				rc = rc ? rc : CM_EUNAVAIL;
				return rc;
			}
			continue; /* end of one statement's results */
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			return rc ? rc : CM_EPROTO;
		}
		if (PQresultStatus(res) != PGRES_PIPELINE_ABORTED && !col_db_ok(res) &&
		    rc == CM_OK) {
			rc = col_db_error(c->pg, res);
			cm_log_warn("store", "statement failed: %s", PQresultErrorMessage(res));
		}
		if (keep && !keep[seen])
			keep[seen] = res;
		else
			PQclear(res);
		seen++;
	}
	/* Drain the NULL after the last statement and the sync point. */
	for (;;) {
		res = PQgetResult(c->pg);
		if (!res) {
			if (PQstatus(c->pg) != CONNECTION_OK)
				return rc ? rc : CM_EUNAVAIL;
			continue;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			break;
		}
		PQclear(res);
	}
	return rc;
}

static int sync_and_read(struct col_conn *c, int nsent, PGresult **keep)
{
	if (!PQpipelineSync(c->pg))
		return CM_EUNAVAIL;
	return read_results(c, nsent, keep);
}

static int is_set(const char *s)
{
	return s && *s;
}

/* The workflow file's path of a workflow ref (cm_workflow_path), cut to size bytes. */
static void workflow_path(const char *full_name, const char *in, char *out, size_t size)
{
	size_t len;
	const char *p = cm_workflow_path(in, full_name, &len);

	if (len >= size)
		len = size - 1;
	memcpy(out, p, len);
	out[len] = '\0';
}

/* Latest time a report may carry: the end of year 9999 (0 means "not known"). */
#define TIME_MAX_MS 253402300799999LL

static int bad_time(int64_t ms)
{
	return ms < 0 || ms > TIME_MAX_MS;
}

int col_store_validate(const struct col_report *r, char *field, size_t size)
{
	const Cipulse__V1__ReportHeader *h = r->header;
	const char *bad = NULL;

	if (!h)
		bad = "header";
	else if (!h->repository || h->repository->id <= 0)
		bad = "header.repository.id";
	else if (!cm_repo_name_valid(h->repository->full_name))
		bad = "header.repository.full_name";
	else if (!h->run || h->run->id <= 0)
		bad = "header.run.id";
	else if (h->run->attempt < 1)
		bad = "header.run.attempt";
	else if (bad_time(h->run->created_at))
		bad = "header.run.created_at";
	else if (bad_time(h->run->run_started_at))
		bad = "header.run.run_started_at";
	else if (bad_time(h->run->updated_at))
		bad = "header.run.updated_at";
	else if (strlen(h->report_id) > 128)
		bad = "header.report_id";
	else if (r->delivery &&
		 (!r->delivery->id || strlen(r->delivery->id) > 128 || !r->delivery->event))
		bad = "delivery.id";
	for (size_t i = 0; !bad && i < r->njobs; i++) {
		const Cipulse__V1__Job *j = r->jobs[i];

		if (j->id <= 0)
			bad = "job.id";
		else if (bad_time(j->created_at))
			bad = "job.created_at";
		else if (bad_time(j->started_at))
			bad = "job.started_at";
		else if (bad_time(j->completed_at))
			bad = "job.completed_at";
		for (size_t k = 0; !bad && k < j->n_steps; k++) {
			if (j->steps[k]->number < 1)
				bad = "job.steps.number";
			else if (bad_time(j->steps[k]->started_at))
				bad = "job.steps.started_at";
			else if (bad_time(j->steps[k]->completed_at))
				bad = "job.steps.completed_at";
		}
	}
	for (size_t i = 0; !bad && i < r->nlogs; i++) {
		size_t k;

		for (k = 0; k < r->njobs; k++) {
			if (r->jobs[k]->id == r->logs[i].job_id)
				break;
		}
		if (k == r->njobs)
			bad = "log.job_id";
		else if (r->logs[i].step_number < 0)
			bad = "log.step_number";
	}
	for (size_t i = 0; !bad && i < r->ntests; i++) {
		const Cipulse__V1__TestBatch *b = r->tests[i];
		size_t k;

		for (k = 0; k < r->njobs; k++) {
			if (r->jobs[k]->id == b->job_id)
				break;
		}
		if (k == r->njobs)
			bad = "tests.job_id";
		for (k = 0; !bad && k < b->n_cases; k++) {
			if (!col_store_test_result(b->cases[k]->result))
				bad = "tests.cases.result";
		}
	}
	if (bad) {
		snprintf(field, size, "%s", bad);
		return CM_EINVAL;
	}
	return CM_OK;
}

/* Sends the query of the rows that decide the write (ST_REPO_STATE). */
static int send_repo_state(struct col_conn *c, const struct col_report *r, int *nsent)
{
	const Cipulse__V1__Repository *repo = r->header->repository;
	struct col_params p;
	int repo_cred = r->cred->scope == COL_CRED_REPO;

	col_params_init(&p);
	col_p_i64(&p, repo->id);
	col_p_text(&p, repo->full_name);
	col_p_i64(&p, repo_cred ? r->cred->repo_id : 0);
	if (repo_cred)
		col_p_text(&p, r->cred->repo_name);
	else
		col_p_null(&p);
	return send(c, ST_REPO_STATE, &p, nsent);
}

/* Applies the rule of store/claim.h to the rows ST_REPO_STATE found. */
static enum col_claim decide(const struct col_report *r, PGresult *res, struct col_claim_state *st,
			     const char **why)
{
	const Cipulse__V1__Repository *repo = r->header->repository;

	memset(st, 0, sizeof(*st));
	for (int i = 0; i < PQntuples(res); i++) {
		struct col_repo_row row = { 0 };

		row.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		snprintf(row.full_name, sizeof(row.full_name), "%s", PQgetvalue(res, i, 1));
		row.own_secret = !strcmp(PQgetvalue(res, i, 2), "t");
		col_claim_state_add(st, r->cred, repo->id, repo->full_name, &row);
	}
	return col_claim_decide(r->cred, repo->id, repo->full_name, st, why);
}

/*
 * Sends the repository's upsert (but not when skip_repo: the same values as the last one sent
 * for it), and its workflow's statements.
 */
static int send_repo_and_workflow(struct col_conn *c, const Cipulse__V1__ReportHeader *h,
				  enum col_claim claim, const struct col_claim_state *st,
				  const char *wpath, int skip_repo, int *nsent)
{
	const Cipulse__V1__Repository *repo = h->repository;
	const Cipulse__V1__Workflow *wf = h->workflow;
	struct col_params p;
	int rc = CM_OK;

	if (claim == COL_CLAIM_ADOPT) {
		col_params_init(&p);
		col_p_i64(&p, repo->id);
		col_p_i64(&p, st->by_name.id);
		rc = send(c, ST_REPO_ADOPT, &p, nsent);
	}
	col_params_init(&p);
	col_p_i64(&p, repo->id);
	col_p_text(&p, repo->full_name);
	col_p_text(&p, repo->server_url);
	col_p_text(&p, repo->default_branch);
	if (!rc && !skip_repo)
		rc = send(c, ST_REPO, &p, nsent);
	if (rc || !wf)
		return rc;
	if (wf->id > 0) {
		if (*wpath) {
			col_params_init(&p);
			col_p_i64(&p, repo->id);
			col_p_i64(&p, wf->id);
			col_p_text(&p, wpath);
			rc = send(c, ST_WF_ADOPT_RUNS, &p, nsent);
			col_params_init(&p);
			col_p_i64(&p, repo->id);
			col_p_text(&p, wpath);
			if (!rc)
				rc = send(c, ST_WF_DROP_PROVISIONAL, &p, nsent);
			col_params_init(&p);
			col_p_i64(&p, repo->id);
			col_p_i64(&p, wf->id);
			col_p_text(&p, wpath);
			if (!rc)
				rc = send(c, ST_WF_RELEASE_PATH, &p, nsent);
		}
		col_params_init(&p);
		col_p_i64(&p, repo->id);
		col_p_i64(&p, wf->id);
		col_p_text(&p, wf->name);
		col_p_text(&p, wpath);
		if (!rc)
			rc = send(c, ST_WF, &p, nsent);
	} else if (*wpath) {
		col_params_init(&p);
		col_p_i64(&p, repo->id);
		col_p_text(&p, wpath);
		col_p_text(&p, wf->name);
		rc = send(c, ST_WF_PATH, &p, nsent);
	}
	return rc;
}

/* The parameters of the report's run (ST_RUN) into p. */
static void run_params(const struct col_report *r, const char *wpath, struct col_params *p)
{
	const Cipulse__V1__ReportHeader *h = r->header;
	const Cipulse__V1__Run *run = h->run;

	col_params_init(p);
	col_p_i64(p, h->repository->id);
	col_p_i64(p, run->id);
	col_p_i64(p, run->attempt);
	col_p_i64(p, h->workflow ? h->workflow->id : 0);
	col_p_text(p, wpath);
	col_p_i64(p, run->number);
	col_p_text(p, h->workflow ? h->workflow->name : "");
	col_p_text(p, run->event);
	col_p_text(p, run->status);
	col_p_text(p, run->conclusion);
	col_p_text(p, run->head_branch);
	col_p_text(p, run->head_sha);
	col_p_text(p, run->actor);
	col_p_text(p, run->html_url);
	col_p_i64(p, run->created_at);
	col_p_i64(p, run->run_started_at);
	col_p_i64(p, run->updated_at);
	col_p_text(p, r->source);
	col_p_text(p, run->head_message);
}

/* Whether the first n parameters of a and b are the same values (n < 0: all of them). */
static int same_params(const struct col_params *a, const struct col_params *b, int n)
{
	if (n < 0) {
		if (a->n != b->n)
			return 0;
		n = a->n;
	}
	for (int i = 0; i < n; i++) {
		if (!a->v[i] || !b->v[i] ? a->v[i] != b->v[i] : strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	}
	return 1;
}

static int send_log(struct col_conn *c, const struct col_report *r, const struct col_log_tail *l,
		    int *nsent)
{
	struct col_params p;

	col_params_init(&p);
	col_p_i64(&p, r->header->repository->id);
	col_p_i64(&p, l->job_id);
	col_p_i64(&p, l->step_number);
	col_p_text(&p, l->text ? l->text : "");
	col_p_i64(&p, l->original_size);
	col_p_bool(&p, l->truncated);
	if (l->has_exit_code)
		col_p_i64(&p, l->exit_code);
	else
		col_p_null(&p);
	col_p_text(&p, r->source);
	return send(c, ST_LOG, &p, nsent);
}

/*
 * The arrays of one statement's worth of rows (ST_TESTS, ST_JOBS, ST_STEPS), reused from statement
 * to statement.
 */
struct row_arrays {
	struct col_array labels; /* a job's labels (ST_JOBS) */
	struct col_array suite, class_name, name, file, duration, result, message, retries;
	struct col_array cols[16]; /* ST_JOBS' or ST_STEPS' parameters, in order */
};

#define ROW_ARRAY_MAX (64u << 20)

static void row_arrays_init(struct row_arrays *t)
{
	col_array_init(&t->labels, 1u << 20);
	col_array_init(&t->suite, ROW_ARRAY_MAX);
	col_array_init(&t->class_name, ROW_ARRAY_MAX);
	col_array_init(&t->name, ROW_ARRAY_MAX);
	col_array_init(&t->file, ROW_ARRAY_MAX);
	col_array_init(&t->duration, ROW_ARRAY_MAX);
	col_array_init(&t->result, ROW_ARRAY_MAX);
	col_array_init(&t->message, ROW_ARRAY_MAX);
	col_array_init(&t->retries, ROW_ARRAY_MAX);
	for (size_t i = 0; i < sizeof(t->cols) / sizeof(t->cols[0]); i++)
		col_array_init(&t->cols[i], ROW_ARRAY_MAX);
}

static void row_arrays_release(struct row_arrays *t)
{
	col_array_release(&t->labels);
	col_array_release(&t->suite);
	col_array_release(&t->class_name);
	col_array_release(&t->name);
	col_array_release(&t->file);
	col_array_release(&t->duration);
	col_array_release(&t->result);
	col_array_release(&t->message);
	col_array_release(&t->retries);
	for (size_t i = 0; i < sizeof(t->cols) / sizeof(t->cols[0]); i++)
		col_array_release(&t->cols[i]);
}

const char *col_store_test_result(int result)
{
	switch (result) {
	case CIPULSE__V1__TEST_RESULT__TEST_RESULT_PASSED:
		return "passed";
	case CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED:
		return "failed";
	case CIPULSE__V1__TEST_RESULT__TEST_RESULT_ERROR:
		return "error";
	case CIPULSE__V1__TEST_RESULT__TEST_RESULT_SKIPPED:
		return "skipped";
	default:
		return NULL;
	}
}

/* Adds the array literal of a as the next parameter (CM_ETOOBIG when it does not fit). */
static int p_array(struct col_params *p, struct col_array *a)
{
	const char *lit = col_array_str(a);

	if (!lit)
		return CM_ETOOBIG;
	col_p_str(p, lit);
	return CM_OK;
}

/* One batch of test cases: one statement, whatever the number of cases. */
static int send_tests(struct col_conn *c, const struct col_report *r,
		      const Cipulse__V1__TestBatch *b, struct row_arrays *t, int *nsent)
{
	struct col_array *all[] = { &t->suite,	  &t->class_name, &t->name,    &t->file,
				    &t->duration, &t->result,	  &t->message, &t->retries };
	struct col_params p;
	int rc = CM_OK;

	if (b->truncated) {
		col_params_init(&p);
		col_p_i64(&p, r->header->repository->id);
		col_p_i64(&p, b->job_id);
		rc = send(c, ST_TESTS_TRUNCATED, &p, nsent);
	}
	if (rc || !b->n_cases)
		return rc;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		col_array_reset(all[i]);
	for (size_t i = 0; rc == CM_OK && i < b->n_cases; i++) {
		const Cipulse__V1__TestCase *tc = b->cases[i];
		const char *res = col_store_test_result(tc->result);

		if (!res)
			return CM_EINVAL;
		rc = col_array_add_str(&t->suite, tc->suite);
		if (!rc)
			rc = col_array_add_str(&t->class_name, tc->class_name);
		if (!rc)
			rc = col_array_add_str(&t->name, tc->name);
		if (!rc)
			rc = col_array_add_str(&t->file, tc->file);
		if (!rc)
			rc = col_array_add_i64(&t->duration, tc->duration_us);
		if (!rc)
			rc = col_array_add_str(&t->result, res);
		if (!rc)
			rc = col_array_add_str(&t->message, tc->message);
		if (!rc)
			rc = col_array_add_i64(&t->retries, tc->retries);
	}
	if (rc)
		return rc;
	col_params_init(&p);
	col_p_i64(&p, r->header->repository->id);
	col_p_i64(&p, b->job_id);
	col_p_i64(&p, r->header->run->id);
	col_p_i64(&p, r->header->run->attempt);
	for (size_t i = 0; rc == CM_OK && i < sizeof(all) / sizeof(all[0]); i++)
		rc = p_array(&p, all[i]);
	if (rc)
		return rc;
	return send(c, ST_TESTS, &p, nsent);
}

/* Failed tests' messages read per job for its fingerprint at most (the rest say the same). */
#define FP_MAX_TEST_MESSAGES 200

static int is_failing(const char *conclusion)
{
	return conclusion && (!strcmp(conclusion, "failure") || !strcmp(conclusion, "timed_out"));
}

/*
 * The texts of a failed job that tell its error: the log tails of its failing steps (the whole
 * job's tail when no failing step's is there), and its failed tests' messages (a test's name
 * when it has no message). Returns CM_ENOTFOUND when the report holds none.
 */
static int job_fingerprint(const struct col_report *r, const Cipulse__V1__Job *j, struct col_fp *f)
{
	struct cm_buf line = CM_BUF_INIT(16384);
	int rc = CM_OK, from_steps = 0, ntests = 0;

	for (size_t i = 0; rc == CM_OK && i < r->nlogs; i++) {
		const struct col_log_tail *l = &r->logs[i];

		if (l->job_id != j->id || l->step_number == 0)
			continue;
		for (size_t k = 0; k < j->n_steps; k++) {
			if (j->steps[k]->number == l->step_number &&
			    is_failing(j->steps[k]->conclusion)) {
				rc = col_fp_add(f, l->text, l->len);
				from_steps = 1;
			}
		}
	}
	for (size_t i = 0; rc == CM_OK && !from_steps && i < r->nlogs; i++) {
		if (r->logs[i].job_id == j->id && r->logs[i].step_number == 0)
			rc = col_fp_add(f, r->logs[i].text, r->logs[i].len);
	}
	for (size_t i = 0; rc == CM_OK && i < r->ntests; i++) {
		const Cipulse__V1__TestBatch *b = r->tests[i];

		for (size_t k = 0; rc == CM_OK && b->job_id == j->id && k < b->n_cases; k++) {
			const Cipulse__V1__TestCase *t = b->cases[k];

			if (t->result != CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED &&
			    t->result != CIPULSE__V1__TEST_RESULT__TEST_RESULT_ERROR)
				continue;
			if (++ntests > FP_MAX_TEST_MESSAGES)
				break;
			if (is_set(t->message)) {
				rc = col_fp_add(f, t->message, strlen(t->message));
				continue;
			}
			cm_buf_reset(&line);
			rc = cm_buf_addf(&line, "%s %s failed", t->class_name ? t->class_name : "",
					 t->name ? t->name : "");
			if (rc == CM_OK)
				rc = col_fp_add(f, line.data, line.len);
		}
	}
	cm_buf_release(&line);
	if (rc == CM_ETOOBIG)
		rc = CM_OK;
	return rc ? rc : col_fp_finish(f);
}

/* Does the report say the job failed (its conclusion, or a failed test of it)? */
static int job_failed(const struct col_report *r, const Cipulse__V1__Job *j)
{
	if (is_failing(j->conclusion))
		return 1;
	for (size_t i = 0; i < r->ntests; i++) {
		for (size_t k = 0; r->tests[i]->job_id == j->id && k < r->tests[i]->n_cases; k++) {
			int res = r->tests[i]->cases[k]->result;

			if (res == CIPULSE__V1__TEST_RESULT__TEST_RESULT_FAILED ||
			    res == CIPULSE__V1__TEST_RESULT__TEST_RESULT_ERROR)
				return 1;
		}
	}
	return 0;
}

/* The failure group of each failed job whose report carries its error (a tail, failed tests). */
static int send_failures(struct col_conn *c, const struct col_report *r, struct col_array *lines,
			 int *nsent)
{
	const Cipulse__V1__ReportHeader *h = r->header;
	struct col_params p;
	struct col_fp f;
	int rc = CM_OK;

	for (size_t i = 0; rc == CM_OK && i < r->njobs; i++) {
		const Cipulse__V1__Job *j = r->jobs[i];
		const char *lit;

		if (!job_failed(r, j))
			continue;
		col_fp_init(&f);
		rc = job_fingerprint(r, j, &f);
		if (rc == CM_ENOTFOUND) {
			col_fp_release(&f);
			rc = CM_OK;
			continue;
		}
		col_array_reset(lines);
		for (size_t k = 0; rc == CM_OK && k < f.nlines; k++)
			rc = col_array_add_str(lines, f.lines[k]);
		lit = rc ? NULL : col_array_str(lines);
		if (!rc && !lit)
			rc = CM_ETOOBIG;
		if (!rc) {
			col_params_init(&p);
			col_p_text(&p, f.hex);
			col_p_text(&p, f.title);
			col_p_str(&p, lit);
			rc = send(c, ST_FAILURE_GROUP, &p, nsent);
		}
		if (!rc) {
			col_params_init(&p);
			col_p_i64(&p, h->repository->id);
			col_p_i64(&p, j->id);
			col_p_text(&p, f.hex);
			col_p_i64(&p, h->run->id);
			col_p_i64(&p, h->run->attempt);
			rc = send(c, ST_JOB_FAILURE, &p, nsent);
		}
		col_fp_release(&f);
	}
	return rc;
}

/*
 * The run completed (as far as this report says): evaluate the alert rules after everything else
 * of the report is written, so that the rules see the merged row.
 */
static int send_alert_eval(struct col_conn *c, const Cipulse__V1__ReportHeader *h, int *nsent)
{
	struct col_params p;

	col_params_init(&p);
	col_p_i64(&p, h->repository->id);
	col_p_i64(&p, h->run->id);
	col_p_i64(&p, h->run->attempt);
	snprintf(p.num[p.n], sizeof(p.num[p.n]), "%.3f", col_alert_max_age_s());
	p.v[p.n] = p.num[p.n];
	p.n++;
	return send(c, ST_ALERT_EVAL, &p, nsent);
}

/* Leaves pipeline mode after an error: results are drained, the transaction rolled back. */
static void pipeline_abort(struct col_conn *c)
{
	PGresult *res;

	if (PQstatus(c->pg) != CONNECTION_OK)
		return;
	while ((res = PQgetResult(c->pg)) || PQisBusy(c->pg)) {
		if (res)
			PQclear(res);
	}
	if (!PQexitPipelineMode(c->pg)) {
		/* Unread results remain: this connection cannot be trusted any more. */
		col_db_discard(c);
		return;
	}
	PQclear(PQexec(c->pg, "ROLLBACK"));
}

/* One try of col_store_put_report. */
/*
 * Claims the report id (or the webhook delivery id) in the open transaction: a concurrent copy
 * of the same report waits on the unique index until this transaction ends, then finds it
 * claimed. Sends nothing for a report without either.
 */
static int send_report_claim(struct col_conn *c, const struct col_report *r, int nsteps, int *nsent)
{
	const Cipulse__V1__ReportHeader *h = r->header;
	struct col_params p;

	if (is_set(h->report_id)) {
		col_params_init(&p);
		col_p_text(&p, h->report_id);
		col_p_i64(&p, h->repository->id);
		col_p_i64(&p, h->run->id);
		col_p_i64(&p, h->run->attempt);
		col_p_text(&p, h->agent_version);
		col_p_text(&p, r->source);
		col_p_i64(&p, (int64_t)r->njobs);
		col_p_i64(&p, nsteps);
		col_p_i64(&p, (int64_t)r->nlogs);
		return send(c, ST_REPORT, &p, nsent);
	}
	if (r->delivery && is_set(r->delivery->id)) {
		col_params_init(&p);
		col_p_text(&p, r->delivery->id);
		col_p_text(&p, r->delivery->event);
		col_p_text(&p, r->delivery->action);
		col_p_i64(&p, h->repository->id);
		return send(c, ST_DELIVERY, &p, nsent);
	}
	return CM_OK;
}

/* What one member of a batch is while the batch is written. */
struct member {
	int live;   /* still to be written (not refused, not a duplicate) */
	int claims; /* it sent a claim of its report id or delivery id */
	enum col_claim claim;
	struct col_claim_state st;
	char wpath[512];
	struct col_params run; /* its run's ST_RUN parameters (send_rows) */
};

/* The key of ST_RUN: its first three parameters (repository, run, attempt). */
#define RUN_KEY_PARAMS 3

static int same_str(const char *a, const char *b)
{
	return !strcmp(a ? a : "", b ? b : "");
}

/*
 * Whether member i's repository upsert repeats the last one of members since..i-1 for the same
 * repository, with the same values: after that one, it would change nothing (its update
 * happens only when a value differs). A member that adopts or renames one ends its batch.
 */
static int repeats_repo(const struct col_report *const *r, const struct member *m, size_t since,
			size_t i)
{
	const Cipulse__V1__Repository *a = r[i]->header->repository, *b;

	if (m[i].claim != COL_CLAIM_WRITE)
		return 0;
	for (size_t j = i; j-- > since;) {
		if (!m[j].live || r[j]->header->repository->id != a->id)
			continue;
		b = r[j]->header->repository;
		return m[j].claim == COL_CLAIM_WRITE && same_str(a->full_name, b->full_name) &&
		       same_str(a->server_url, b->server_url) &&
		       same_str(a->default_branch, b->default_branch);
	}
	return 0;
}

/*
 * Whether member i's run upsert (its run parameters set) repeats the last one of members
 * since..i-1 for the same run, with the same values: it would change nothing (the merge is
 * idempotent, and the jobs its figures come from are written after all the runs), so the many
 * job events of one run cost one run upsert.
 */
static int repeats_run(const struct member *m, size_t since, size_t i)
{
	for (size_t j = i; j-- > since;) {
		if (m[j].live && same_params(&m[j].run, &m[i].run, RUN_KEY_PARAMS))
			return same_params(&m[j].run, &m[i].run, -1);
	}
	return 0;
}

/* A row of the reports being written (a job, a step), and the statement (wave) it goes into. */
struct row_ref {
	int64_t key[3]; /* the row's key: repository, job, step number (0 for a job) */
	size_t ord;	/* its place among the reports' rows */
	unsigned wave;	/* how many rows with the same key come before it */
	const struct col_report *r;
	const Cipulse__V1__Job *job;
	const Cipulse__V1__Step *step; /* NULL for a job */
};

static int row_by_key(const void *a, const void *b)
{
	const struct row_ref *x = a, *y = b;

	for (int i = 0; i < 3; i++) {
		if (x->key[i] != y->key[i])
			return x->key[i] < y->key[i] ? -1 : 1;
	}
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

static int row_by_wave(const void *a, const void *b)
{
	const struct row_ref *x = a, *y = b;

	if (x->wave != y->wave)
		return x->wave < y->wave ? -1 : 1;
	return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/*
 * Orders refs (in the reports' order) into waves: the first of each key, then the second, and
 * so on, each wave in the reports' order. A statement may write a row only once, so each wave
 * is one statement, and a row's merges stay in the order the reports give them.
 */
static void into_waves(struct row_ref *refs, size_t n)
{
	qsort(refs, n, sizeof(*refs), row_by_key);
	for (size_t k = 1; k < n; k++) {
		if (!memcmp(refs[k].key, refs[k - 1].key, sizeof(refs[k].key)))
			refs[k].wave = refs[k - 1].wave + 1;
	}
	qsort(refs, n, sizeof(*refs), row_by_wave);
}

/* Adds one ST_STEPS row to the columns of a. */
static int add_step(struct row_arrays *a, const struct row_ref *ref)
{
	struct col_array *col = a->cols;
	const Cipulse__V1__Step *s = ref->step;
	int rc = col_array_add_i64(&col[0], ref->key[0]);

	if (!rc)
		rc = col_array_add_i64(&col[1], ref->key[1]);
	if (!rc)
		rc = col_array_add_i64(&col[2], ref->key[2]);
	if (!rc)
		rc = col_array_add_str(&col[3], s->name);
	if (!rc)
		rc = col_array_add_str(&col[4], s->status);
	if (!rc)
		rc = col_array_add_str(&col[5], s->conclusion);
	if (!rc)
		rc = col_array_add_i64(&col[6], s->started_at);
	if (!rc)
		rc = col_array_add_i64(&col[7], s->completed_at);
	return rc;
}

/* Adds one ST_JOBS row to the columns of a. */
static int add_job(struct row_arrays *a, const struct row_ref *ref)
{
	struct col_array *col = a->cols;
	const Cipulse__V1__Job *j = ref->job;
	const Cipulse__V1__Run *run = ref->r->header->run;
	const char *lit = NULL;
	int rc = CM_OK;

	if (j->n_labels) {
		col_array_reset(&a->labels);
		for (size_t i = 0; rc == CM_OK && i < j->n_labels; i++)
			rc = col_array_add_str(&a->labels, j->labels[i] ? j->labels[i] : "");
		lit = rc ? NULL : col_array_str(&a->labels);
		if (!rc && !lit)
			rc = CM_ETOOBIG;
	}
	if (!rc)
		rc = col_array_add_i64(&col[0], ref->key[0]);
	if (!rc)
		rc = col_array_add_i64(&col[1], ref->key[1]);
	if (!rc)
		rc = col_array_add_i64(&col[2], run->id);
	if (!rc)
		rc = col_array_add_i64(&col[3], run->attempt);
	if (!rc)
		rc = col_array_add_str(&col[4], j->name);
	if (!rc)
		rc = col_array_add_str(&col[5], j->status);
	if (!rc)
		rc = col_array_add_str(&col[6], j->conclusion);
	if (!rc)
		rc = col_array_add_i64(&col[7], j->created_at);
	if (!rc)
		rc = col_array_add_i64(&col[8], j->started_at);
	if (!rc)
		rc = col_array_add_i64(&col[9], j->completed_at);
	if (!rc)
		rc = col_array_add_str(&col[10], j->runner_name);
	if (!rc)
		rc = col_array_add_str(&col[11], j->runner_os);
	if (!rc)
		rc = col_array_add_str(&col[12], j->runner_arch);
	if (!rc)
		rc = col_array_add_str(&col[13], lit);
	if (!rc)
		rc = col_array_add_str(&col[14], j->html_url);
	if (!rc)
		rc = col_array_add_str(&col[15], ref->r->source ? ref->r->source : "");
	return rc;
}

/*
 * Sends the rows refs[0..n) (in wave order, see into_waves) as one statement st per wave,
 * each row's columns added by add; ncols: the statement's parameters (one array each).
 */
static int send_waves(struct col_conn *c, int st, const struct row_ref *refs, size_t n,
		      int (*add)(struct row_arrays *, const struct row_ref *), int ncols,
		      struct row_arrays *a, int *nsent)
{
	struct col_params p;
	size_t from, k;
	int rc = CM_OK;

	for (from = 0; rc == CM_OK && from < n; from = k) {
		for (int i = 0; i < ncols; i++)
			col_array_reset(&a->cols[i]);
		for (k = from; rc == CM_OK && k < n && refs[k].wave == refs[from].wave; k++)
			rc = add(a, &refs[k]);
		col_params_init(&p);
		for (int i = 0; rc == CM_OK && i < ncols; i++)
			rc = p_array(&p, &a->cols[i]);
		if (!rc)
			rc = send(c, st, &p, nsent);
	}
	return rc;
}

/*
 * The jobs, then the steps, of the live members' reports: one statement for all the jobs and
 * one for all the steps, and one more for each repeat of a row (into_waves).
 */
static int send_jobs_and_steps(struct col_conn *c, const struct col_report *const *r,
			       const struct member *m, size_t n, struct row_arrays *a, int *nsent)
{
	struct row_ref *refs;
	size_t njobs = 0, nsteps = 0, jk = 0, sk;
	int rc;

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; m[i].live && j < r[i]->njobs; j++) {
			njobs++;
			nsteps += r[i]->jobs[j]->n_steps;
		}
	}
	if (!njobs)
		return CM_OK;
	refs = calloc(njobs + nsteps, sizeof(*refs));
	if (!refs)
		return CM_ENOMEM;
	sk = njobs;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; m[i].live && j < r[i]->njobs; j++) {
			const Cipulse__V1__Job *job = r[i]->jobs[j];
			struct row_ref one = { .key = { r[i]->header->repository->id, job->id, 0 },
					       .r = r[i],
					       .job = job };

			one.ord = jk;
			refs[jk++] = one;
			for (size_t k = 0; k < job->n_steps; k++) {
				one.key[2] = job->steps[k]->number;
				one.step = job->steps[k];
				one.ord = sk;
				refs[sk++] = one;
			}
		}
	}
	into_waves(refs, njobs);
	into_waves(refs + njobs, nsteps);
	rc = send_waves(c, ST_JOBS, refs, njobs, add_job, 16, a, nsent);
	if (!rc)
		rc = send_waves(c, ST_STEPS, refs + njobs, nsteps, add_step, 8, a, nsent);
	free(refs);
	return rc;
}

/*
 * Everything the live members' reports write once their claims allowed it: each one's
 * repository, workflow and run; then every job and every step (send_jobs_and_steps); then each
 * one's log tails, tests, failure groups and, when its run completed, the alert rules' evaluation
 * (after the rows, so that the rules see the merged ones).
 */
static int send_rows(struct col_conn *c, const struct col_report *const *r, struct member *m,
		     size_t n, struct row_arrays *arrays, int *nsent, struct col_store_result *out)
{
	int rc = CM_OK;
	size_t i, k, since = 0;

	for (i = 0; !rc && i < n; i++) {
		const Cipulse__V1__ReportHeader *h = r[i]->header;

		if (!m[i].live)
			continue;
		/* Moving runs to an adopted workflow changes them: no repeat is skipped across. */
		if (h->workflow && h->workflow->id > 0 && *m[i].wpath)
			since = i;
		rc = send_repo_and_workflow(c, h, m[i].claim, &m[i].st, m[i].wpath,
					    repeats_repo(r, m, since, i), nsent);
		run_params(r[i], m[i].wpath, &m[i].run);
		if (!rc && !repeats_run(m, since, i))
			rc = send(c, ST_RUN, &m[i].run, nsent);
	}
	for (i = 0; i < n; i++) {
		for (k = 0; m[i].live && k < r[i]->njobs; k++)
			out[i].steps += (int)r[i]->jobs[k]->n_steps;
	}
	if (!rc)
		rc = send_jobs_and_steps(c, r, m, n, arrays, nsent);
	for (i = 0; !rc && i < n; i++) {
		const Cipulse__V1__ReportHeader *h = r[i]->header;

		if (!m[i].live)
			continue;
		for (k = 0; !rc && k < r[i]->nlogs; k++)
			rc = send_log(c, r[i], &r[i]->logs[k], nsent);
		for (k = 0; !rc && k < r[i]->ntests; k++)
			rc = send_tests(c, r[i], r[i]->tests[k], arrays, nsent);
		if (!rc)
			rc = send_failures(c, r[i], &arrays->labels, nsent);
		if (!rc && h->run->status && !strcmp(h->run->status, "completed"))
			rc = send_alert_eval(c, h, nsent);
	}
	return rc;
}

static int put_report_once(struct col_conn *c, const struct col_report *r,
			   struct col_store_result *out)
{
	const Cipulse__V1__ReportHeader *h = r->header;
	struct row_arrays arrays;
	char field[64];
	PGresult *first[3] = { NULL, NULL, NULL };
	struct member m = { .live = 1, .claim = COL_CLAIM_DENY };
	int rc, nsent = 0, nsteps = 0;

	memset(out, 0, sizeof(*out));
	if (!r->cred)
		return CM_EINVAL;
	row_arrays_init(&arrays);
	rc = col_store_validate(r, field, sizeof(field));
	if (rc)
		return rc;
	for (size_t i = 0; i < r->njobs; i++)
		nsteps += (int)r->jobs[i]->n_steps;
	if (h->workflow && is_set(h->workflow->path))
		workflow_path(h->repository->full_name, h->workflow->path, m.wpath,
			      sizeof(m.wpath));
	rc = prepare_all(c);
	if (rc)
		return rc;
	if (!PQenterPipelineMode(c->pg))
		return CM_EUNAVAIL;

	/*
	 * Round trip 1: open the transaction, read and lock the repository rows that decide
	 * whether the credential may write this report (store/claim.h), and claim the report id
	 * (or webhook delivery id). A concurrent copy of the same report waits on the unique index
	 * until this transaction ends, then finds it claimed.
	 */
	rc = send_sql(c, "BEGIN", &nsent);
	if (!rc)
		rc = send_repo_state(c, r, &nsent);
	if (!rc)
		rc = send_report_claim(c, r, nsteps, &nsent);
	if (!rc)
		rc = sync_and_read(c, nsent, first);
	if (!rc) {
		/* Refused before anything else: a duplicate answer would tell what another holds.
		 */
		m.claim = decide(r, first[1], &m.st, &out->why);
		if (m.claim == COL_CLAIM_DENY)
			rc = CM_EDENIED;
		else if (nsent == 3 && PQntuples(first[2]) == 0)
			out->duplicate = 1; /* not an error: roll back the empty transaction */
	}
	for (int i = 0; i < 3; i++)
		PQclear(first[i]);
	nsent = 0;
	if (rc || out->duplicate)
		goto fail;

	/* Round trip 2: everything else, then COMMIT. */
	rc = send_rows(c, &r, &m, 1, &arrays, &nsent, out);
	if (!rc)
		rc = send_sql(c, "COMMIT", &nsent);
	if (!rc)
		rc = sync_and_read(c, nsent, NULL);
	if (rc)
		goto fail;
	row_arrays_release(&arrays);
	if (!PQexitPipelineMode(c->pg))
		col_db_discard(c);
	/* COMMIT inside a failed transaction answers ROLLBACK without an error: check. */
	if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return CM_EIO;
	out->jobs = (int)r->njobs;
	out->logs = (int)r->nlogs;
	for (size_t i = 0; i < r->ntests; i++)
		out->tests += (int)r->tests[i]->n_cases;
	return CM_OK;
fail:
	row_arrays_release(&arrays);
	pipeline_abort(c);
	if (out->duplicate) {
		out->jobs = out->steps = out->logs = out->tests = 0;
		return CM_OK;
	}
	return rc;
}

int col_store_put_report(struct col_conn *c, const struct col_report *r,
			 struct col_store_result *out)
{
	int rc;

	for (int i = 1;; i++) {
		rc = put_report_once(c, r, out);
		/* The transaction was rolled back: trying again is safe, on a connection still
		 * open. */
		if (rc != CM_ECONFLICT || i >= COL_STORE_WRITE_TRIES || !c->pg)
			return rc;
		cm_log_debug("store", "report write conflicted, retrying try=%d", i + 1);
	}
}

/*
 * A member of a batch whose write would change a repository row that decides other writes
 * (store/claim.h): a new or adopted repository, or a rename. The members after it must see the
 * change, so they go into a transaction of their own.
 */
static int changes_repository(const struct col_report *r, enum col_claim claim,
			      const struct col_claim_state *st)
{
	return claim != COL_CLAIM_WRITE ||
	       strcmp(st->by_id.full_name, r->header->repository->full_name) != 0;
}

/*
 * One try of col_store_put_reports: the first *done reports in one transaction, in three round
 * trips whatever their number (lock and read the deciding repository rows; claim the ids;
 * everything else and COMMIT). Returns 0 when the transaction committed (rcs and out hold each
 * report's answer), or the error that rolled it back.
 */
static int put_batch_once(struct col_conn *c, const struct col_report *const *r, size_t n,
			  struct col_store_result *out, int *rcs, struct member *m, PGresult **keep,
			  size_t *done)
{
	struct row_arrays arrays;
	char field[64];
	int rc, nsent = 0;
	size_t i;

	*done = n;
	for (i = 0; i < n; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		memset(&m[i], 0, sizeof(m[i]));
		rcs[i] = r[i]->cred ? col_store_validate(r[i], field, sizeof(field)) : CM_EINVAL;
		m[i].live = rcs[i] == CM_OK;
		if (m[i].live && r[i]->header->workflow && is_set(r[i]->header->workflow->path))
			workflow_path(r[i]->header->repository->full_name,
				      r[i]->header->workflow->path, m[i].wpath, sizeof(m[i].wpath));
	}
	rc = prepare_all(c);
	if (rc)
		return rc;
	if (!PQenterPipelineMode(c->pg))
		return CM_EUNAVAIL;
	row_arrays_init(&arrays);

	/* Round trip 1: the rows that decide each write, locked until the batch ends. */
	rc = send_sql(c, "BEGIN", &nsent);
	for (i = 0; !rc && i < n; i++) {
		if (m[i].live)
			rc = send_repo_state(c, r[i], &nsent);
	}
	memset(keep, 0, (n + 1) * sizeof(*keep));
	if (!rc)
		rc = sync_and_read(c, nsent, keep);
	nsent = 1;
	for (i = 0; !rc && i < *done; i++) {
		if (!m[i].live)
			continue;
		m[i].claim = decide(r[i], keep[nsent++], &m[i].st, &out[i].why);
		if (m[i].claim == COL_CLAIM_DENY) {
			rcs[i] = CM_EDENIED;
			m[i].live = 0;
		} else if (changes_repository(r[i], m[i].claim, &m[i].st)) {
			*done = i + 1;
		}
	}
	for (i = 0; i < n + 1; i++)
		PQclear(keep[i]);

	/* Round trip 2: the report and delivery ids; one stored before makes a duplicate. */
	nsent = 0;
	for (i = 0; !rc && i < *done; i++) {
		int before = nsent, nsteps = 0;

		for (size_t k = 0; k < r[i]->njobs; k++)
			nsteps += (int)r[i]->jobs[k]->n_steps;
		if (m[i].live)
			rc = send_report_claim(c, r[i], nsteps, &nsent);
		m[i].claims = nsent > before;
	}
	memset(keep, 0, (n + 1) * sizeof(*keep));
	if (!rc && nsent)
		rc = sync_and_read(c, nsent, keep);
	nsent = 0;
	for (i = 0; !rc && i < *done; i++) {
		if (m[i].claims && PQntuples(keep[nsent++]) == 0) {
			out[i].duplicate = 1;
			m[i].live = 0;
		}
	}
	for (i = 0; i < n + 1; i++)
		PQclear(keep[i]);

	/* Round trip 3: everything else, then COMMIT. */
	nsent = 0;
	if (!rc)
		rc = send_rows(c, r, m, *done, &arrays, &nsent, out);
	if (!rc)
		rc = send_sql(c, "COMMIT", &nsent);
	if (!rc)
		rc = sync_and_read(c, nsent, NULL);
	row_arrays_release(&arrays);
	if (rc) {
		pipeline_abort(c);
		return rc;
	}
	if (!PQexitPipelineMode(c->pg))
		col_db_discard(c);
	/* COMMIT inside a failed transaction answers ROLLBACK without an error: check. */
	if (c->pg && PQtransactionStatus(c->pg) != PQTRANS_IDLE)
		return CM_EIO;
	for (i = 0; i < *done; i++) {
		if (!m[i].live) {
			out[i].steps = 0;
			continue;
		}
		out[i].jobs = (int)r[i]->njobs;
		out[i].logs = (int)r[i]->nlogs;
		for (size_t k = 0; k < r[i]->ntests; k++)
			out[i].tests += (int)r[i]->tests[k]->n_cases;
	}
	return CM_OK;
}

size_t col_store_put_reports(struct col_conn *c, const struct col_report *const *r, size_t n,
			     struct col_store_result *out, int *rcs, int *alone)
{
	struct member *m;
	PGresult **keep;
	size_t done = n, i;
	int rc = CM_ENOMEM;

	*alone = 0;
	if (!n)
		return 0;
	m = calloc(n, sizeof(*m));
	keep = calloc(n + 1, sizeof(*keep));
	for (int tries = 1; m && keep; tries++) {
		rc = c->pg ? put_batch_once(c, r, n, out, rcs, m, keep, &done) : CM_EUNAVAIL;
		if (rc != CM_ECONFLICT || tries >= COL_STORE_WRITE_TRIES || !c->pg)
			break;
		cm_log_debug("store", "batch write conflicted, retrying try=%d", tries + 1);
	}
	free(m);
	free(keep);
	if (rc == CM_OK)
		return done;
	if (rc == CM_EUNAVAIL || rc == CM_ETIMEDOUT) {
		/*
		 * The database went away or stopped answering in time: nothing of the batch is
		 * stored, and every report of it is to be tried again later.
		 */
		for (i = 0; i < n; i++) {
			memset(&out[i], 0, sizeof(out[i]));
			rcs[i] = rc;
		}
		return n;
	}
	/*
	 * One report failed the whole transaction (data the database rejects, say), or memory
	 * ran out: each is written on its own, so that only the failing one fails.
	 */
	cm_log_info("store", "batch of %zu rolled back (%s); writing its reports one by one", n,
		    cm_strerror(rc));
	*alone = 1;
	for (i = 0; i < n; i++)
		rcs[i] = c->pg ? col_store_put_report(c, r[i], &out[i]) : CM_EUNAVAIL;
	return n;
}
