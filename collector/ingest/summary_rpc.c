/*
 * cipulse.v1.Collector/Summary: what the agent writes into the job summary
 * ($GITHUB_STEP_SUMMARY) right after it reported the job. One request, one reply; the poller
 * reads the request, a worker checks the token and asks the database (server.c drives the
 * call). Token rules as for Report (an ingest token asks about its own repository only, an
 * admin token about any); a job that is not stored is NOT_FOUND.
 *
 * Step baselines come from one query: the same job name and step name in the same repository,
 * on the repository's default branch, step concluded success, in the last 30 days, at most the
 * last 200 per step; p50/p95 with PostgreSQL's percentile_cont. Failed tests and the failure
 * group come from sql/009's functions, the ones the run detail uses.
 */
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

#include "cipulse/v1/collector.pb-c.h"
#include "cm_buf.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "core/config.h"
#include "ingest/ingest_int.h"
#include "store/auth.h"
#include "store/db.h"
#include "store/tokens.h"

/* A SummaryRequest is four numbers; anything much bigger is not one. */
#define SUMMARY_MAX_MSG 1024
/* The contract's limits: failed tests listed, bytes of a failure message's first line. */
#define SUMMARY_MAX_TESTS   "50"
#define SUMMARY_MESSAGE_MAX 300

/*
 * Runs of the job looked at, newest first: bounds the work for a job that runs all day. A step
 * in every run gets its 200 samples from the newest 200 of them.
 */
#define SUMMARY_JOBS "1000"

#define MS(x) "floor(extract(epoch FROM " x ") * 1000)::bigint"

/* $1 repo, $2 job, $3 run, $4 attempt: the job and the repository's default branch. */
static const char job_sql[] =
    "SELECT COALESCE(r.default_branch, '') "
    "FROM jobs j JOIN repositories r ON r.id = j.repo_id "
    "WHERE j.repo_id = $1 AND j.job_id = $2 AND j.run_id = $3 AND j.run_attempt = $4";

/*
 * $1 repo, $2 job: its failed tests and its failure group, from the functions the run detail
 * uses (sql/009), which read the job of that repository only: a job of the same id in another
 * repository (a token can store any id for its own repository) never mixes in.
 */
static const char tests_sql[] =
    "SELECT test_id, suite, class_name, name, COALESCE(message, ''), flaky, new_failure, total "
    "FROM cipulse_job_failed_tests($1, $2, " SUMMARY_MAX_TESTS ")";
static const char group_sql[] =
    "SELECT fingerprint, COALESCE(title, ''), runs, repositories, "
    "COALESCE(" MS("first_seen") ", 0) "
				 "FROM cipulse_job_failure_group($1, $2)";

/*
 * $1 repo, $2 job: each step of the job with its duration and its baseline. The candidate jobs
 * are found once (same name, runs of the default branch, last 30 days, the newest
 * SUMMARY_JOBS: jobs_name_idx of sql/012 walks them newest first), their steps of the same
 * names ranked newest first per name, and the newest 200 of each name aggregated.
 */
static const char steps_sql[] =
    "WITH me AS ("
    "  SELECT j.repo_id, j.job_id, j.name, r.default_branch,"
    "         ARRAY(SELECT name FROM steps WHERE repo_id = $1 AND job_id = $2) AS names"
    "  FROM jobs j JOIN repositories r ON r.id = j.repo_id"
    "  WHERE j.repo_id = $1 AND j.job_id = $2"
    "), cand AS ("
    "  SELECT c.repo_id, c.job_id FROM me CROSS JOIN LATERAL ("
    "    SELECT j2.repo_id, j2.job_id FROM jobs j2"
    "    JOIN workflow_runs w ON w.repo_id = j2.repo_id AND w.run_id = j2.run_id"
    "     AND w.run_attempt = j2.run_attempt AND w.head_branch = me.default_branch"
    "    WHERE j2.repo_id = me.repo_id AND j2.name = me.name AND j2.job_id <> me.job_id"
    "      AND j2.completed_at >= now() - interval '30 days'"
    "    ORDER BY j2.completed_at DESC LIMIT " SUMMARY_JOBS ") c"
    "), hist AS ("
    "  SELECT s.name, extract(epoch FROM s.completed_at - s.started_at) * 1000 AS ms,"
    "         row_number() OVER (PARTITION BY s.name ORDER BY s.completed_at DESC) AS n"
    "  FROM cand JOIN steps s ON s.repo_id = cand.repo_id AND s.job_id = cand.job_id"
    "  WHERE s.conclusion = 'success' AND s.started_at IS NOT NULL"
    "    AND s.completed_at >= s.started_at AND s.completed_at >= now() - interval '30 days'"
    "    AND s.name = ANY ((SELECT names FROM me)::text[])"
    "), base AS ("
    "  SELECT name, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::bigint AS p50,"
    "         round(percentile_cont(0.95) WITHIN GROUP (ORDER BY ms))::bigint AS p95,"
    "         count(*) AS samples"
    "  FROM hist WHERE n <= 200 GROUP BY name"
    ") "
    "SELECT s.number, COALESCE(s.name, ''),"
    "       COALESCE(" MS(
	"(s.completed_at - s.started_at)") ", 0),"
					   "       COALESCE(b.p50, 0), COALESCE(b.p95, 0), COALESCE(b.samples, 0) "
					   "FROM steps s LEFT JOIN base b ON b.name = s.name "
					   "WHERE s.repo_id = $1 AND s.job_id = $2 ORDER BY s.number";

/* Poller: the request arrived. Keeps the numbers and the token; a worker does the rest. */
void ing_summary_recv(struct call *c, int ok)
{
	Cipulse__V1__SummaryRequest *req = NULL;
	int rc = ing_recv_request(c, ok, SUMMARY_MAX_MSG);

	if (rc == CM_EIO)
		return;
	if (rc == CM_OK)
		req = cipulse__v1__summary_request__unpack(NULL, c->msg.len,
							   (const uint8_t *)c->msg.data);
	if (!req) {
		ing_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed message");
		return;
	}
	c->s_repo = req->repository_id;
	c->s_run = req->run_id;
	c->s_attempt = req->run_attempt;
	c->s_job = req->job_id;
	cipulse__v1__summary_request__free_unpacked(req, NULL);
	if (c->s_job <= 0 || c->s_run <= 0 || c->s_attempt < 1) {
		ing_finish(c, GRPC_STATUS_INVALID_ARGUMENT,
			   "job_id, run_id and run_attempt must be positive");
		return;
	}
	c->token = ing_bearer_token(&c->md);
	if (!c->token) {
		ing_finish(c, GRPC_STATUS_UNAUTHENTICATED, "missing authorization: Bearer token");
		return;
	}
	ing_enqueue(c, JOB_SUMMARY);
}

/* The token's right to ask about c->s_repo: 0, or a status with its message. */
static grpc_status_code summary_auth(struct call *c, const char **why)
{
	struct col_ingest *ing = c->ing;
	struct col_token_info tok;
	int rc = col_auth_check(ing->ctx->cfg, ing->ctx->db, c->token, COL_TOKEN_INGEST, &tok);

	memset(c->token, 0, strlen(c->token));
	free(c->token);
	c->token = NULL;
	switch (rc) {
	case CM_OK:
		break;
	case CM_EAUTH:
		*why = "unknown or revoked token";
		return GRPC_STATUS_UNAUTHENTICATED;
	case CM_EDENIED:
		*why = "the token may not ask for summaries";
		return GRPC_STATUS_PERMISSION_DENIED;
	default:
		*why = "database unavailable, retry later";
		return GRPC_STATUS_UNAVAILABLE;
	}
	/* An ingest token asks about its own repository only; an admin token about any. */
	if (tok.kind != COL_TOKEN_ADMIN &&
	    (tok.kind != COL_TOKEN_INGEST || !tok.repo_id || tok.repo_id != c->s_repo)) {
		*why = "the token may not ask about this repository";
		return GRPC_STATUS_PERMISSION_DENIED;
	}
	return GRPC_STATUS_OK;
}

/* The first line of a message or title, at most SUMMARY_MESSAGE_MAX bytes, cut in place. */
static char *first_line(char *s)
{
	size_t n = strcspn(s, "\r\n");

	if (n > SUMMARY_MESSAGE_MAX) {
		n = SUMMARY_MESSAGE_MAX;
		/* Not inside a UTF-8 sequence: protobuf strings must stay valid UTF-8. */
		while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	s[n] = '\0';
	return s;
}

static int64_t col_i64(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The failed tests of the reply from tests_sql's rows (the strings stay in res). */
static int add_tests(Cipulse__V1__SummaryReply *reply, PGresult *res,
		     Cipulse__V1__FailedTest **tests, Cipulse__V1__FailedTest ***testp)
{
	int n = PQntuples(res);

	*tests = calloc((size_t)n + 1, sizeof(**tests));
	*testp = calloc((size_t)n + 1, sizeof(**testp));
	if (!*tests || !*testp)
		return CM_ENOMEM;
	for (int i = 0; i < n; i++) {
		Cipulse__V1__FailedTest *t = &(*tests)[i];

		cipulse__v1__failed_test__init(t);
		t->test_id = PQgetvalue(res, i, 0);
		t->suite = PQgetvalue(res, i, 1);
		t->class_name = PQgetvalue(res, i, 2);
		t->name = PQgetvalue(res, i, 3);
		t->message = first_line(PQgetvalue(res, i, 4));
		t->flaky = PQgetvalue(res, i, 5)[0] == 't';
		t->new_failure = PQgetvalue(res, i, 6)[0] == 't';
		reply->failed_tests_total = (int32_t)col_i64(res, i, 7);
		(*testp)[i] = t;
	}
	reply->n_failed_tests = (size_t)n;
	reply->failed_tests = *testp;
	return CM_OK;
}

/* Worker: checks the token, asks the database, answers. */
void ing_summary_run(struct call *c)
{
	struct col_ingest *ing = c->ing;
	Cipulse__V1__SummaryReply reply = CIPULSE__V1__SUMMARY_REPLY__INIT;
	Cipulse__V1__StepBaseline *steps = NULL, **stepp = NULL;
	Cipulse__V1__FailedTest *tests = NULL, **testp = NULL;
	Cipulse__V1__FailureGroup group = CIPULSE__V1__FAILURE_GROUP__INIT;
	PGresult *job = NULL, *st = NULL, *ft = NULL, *fg = NULL;
	struct col_conn *conn = NULL;
	struct col_params p;
	grpc_status_code status;
	const char *why = NULL;
	char url[1200];
	int rc, n;

	if (atomic_load(&ing->cancelling))
		return;
	status = summary_auth(c, &why);
	if (status != GRPC_STATUS_OK)
		goto out;
	status = GRPC_STATUS_UNAVAILABLE;
	why = "database unavailable, retry later";
	if (col_db_acquire(ing->ctx->db, &conn, COL_DB_WAIT_MS))
		goto out;
	col_params_init(&p);
	col_p_i64(&p, c->s_repo);
	col_p_i64(&p, c->s_job);
	col_p_i64(&p, c->s_run);
	col_p_i64(&p, c->s_attempt);
	job = col_db_query(conn, "summary", job_sql, p.n, p.v, &rc);
	if (!job)
		goto out;
	if (PQntuples(job) != 1) {
		status = GRPC_STATUS_NOT_FOUND;
		why = "job not found";
		goto out;
	}
	st = col_db_query(conn, "summary", steps_sql, 2, p.v, &rc);
	if (!st)
		goto out;
	ft = col_db_query(conn, "summary", tests_sql, 2, p.v, &rc);
	fg = ft ? col_db_query(conn, "summary", group_sql, 2, p.v, &rc) : NULL;
	if (!fg)
		goto out;
	n = PQntuples(st);
	steps = calloc((size_t)n + 1, sizeof(*steps));
	stepp = calloc((size_t)n + 1, sizeof(*stepp));
	status = GRPC_STATUS_RESOURCE_EXHAUSTED;
	why = "out of memory";
	if (!steps || !stepp || (ft && add_tests(&reply, ft, &tests, &testp)))
		goto out;
	for (int i = 0; i < n; i++) {
		cipulse__v1__step_baseline__init(&steps[i]);
		steps[i].number = (int32_t)col_i64(st, i, 0);
		steps[i].name = PQgetvalue(st, i, 1);
		steps[i].duration_ms = col_i64(st, i, 2);
		steps[i].p50_ms = col_i64(st, i, 3);
		steps[i].p95_ms = col_i64(st, i, 4);
		steps[i].samples = (int32_t)col_i64(st, i, 5);
		stepp[i] = &steps[i];
	}
	reply.n_steps = (size_t)n;
	reply.steps = stepp;
	if (fg && PQntuples(fg) > 0) {
		group.fingerprint = PQgetvalue(fg, 0, 0);
		group.title = first_line(PQgetvalue(fg, 0, 1));
		group.runs = col_i64(fg, 0, 2);
		group.repositories = (int32_t)col_i64(fg, 0, 3);
		group.first_seen = col_i64(fg, 0, 4);
		reply.failure_group = &group;
	}
	reply.default_branch = PQgetvalue(job, 0, 0);
	col_config_run_url(ing->ctx->cfg, (long long)c->s_run, (int)c->s_attempt,
			   (long long)c->s_job, url, sizeof(url));
	reply.job_url = url;
	if (ing_set_send(c, &reply.base))
		goto out;
	status = GRPC_STATUS_OK;
	why = NULL;
out:
	if (conn)
		col_db_release(ing->ctx->db, conn);
	PQclear(job);
	PQclear(st);
	PQclear(ft);
	PQclear(fg);
	free(steps);
	free(stepp);
	free(tests);
	free(testp);
	if (status != GRPC_STATUS_OK)
		cm_log_info("ingest", "summary refused status=%d reason=\"%s\"", (int)status, why);
	ing_finish(c, status, why);
}
