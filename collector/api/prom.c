/*
 * Pipeline metrics for /metrics, in the spirit of the OpenTelemetry CI/CD semantic conventions:
 *
 *   cicd_pipeline_run_duration_seconds{repository, workflow}    histogram of run durations
 *   cicd_pipeline_runs{repository, workflow, result}            runs by conclusion
 *   cicd_pipeline_job_queue_seconds{repository, workflow}       job queue time (sum, count)
 *
 * over the runs stored (the latest attempt of each completed run), read from run_rollup_daily
 * (sql/002_api.sql). Labels are bounded by the repositories and workflows registered: never run
 * ids, SHAs or runner names. Because a re-run replaces its earlier attempt, a series may go down;
 * the run counts are therefore gauges. The text is cached for a few seconds so that several
 * scrapers cost one query.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"

#define CACHE_MS 10000
#define MAX_TEXT (32u << 20)

/* Upper bounds of the histogram slots; the same list as cipulse_duration_bounds() in SQL. */
static const char *const bounds[] = { "10",   "30",   "60",   "120",  "300", "600",
				      "1200", "1800", "3600", "7200", "+Inf" };
#define NSLOTS 11

static const char *const results[] = { "success",   "failure", "timed_out",
				       "cancelled", "skipped", "other" };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct cm_buf cache = CM_BUF_INIT(MAX_TEXT);
static int64_t cache_at;

/* A label value: backslash, double quote and newline escaped (exposition format rules). */
static int label(struct cm_buf *b, const char *s)
{
	int rc = CM_OK;

	for (; rc == CM_OK && *s; s++) {
		if (*s == '\\')
			rc = cm_buf_adds(b, "\\\\");
		else if (*s == '"')
			rc = cm_buf_adds(b, "\\\"");
		else if (*s == '\n')
			rc = cm_buf_adds(b, "\\n");
		else
			rc = cm_buf_addc(b, *s);
	}
	return rc;
}

static int labels(struct cm_buf *b, const PGresult *res, int row)
{
	int rc = cm_buf_adds(b, "repository=\"");

	if (!rc)
		rc = label(b, PQgetvalue(res, row, 0));
	if (!rc)
		rc = cm_buf_adds(b, "\",workflow=\"");
	if (!rc)
		rc = label(b, PQgetvalue(res, row, 1));
	if (!rc)
		rc = cm_buf_addc(b, '"');
	return rc;
}

static int render(const PGresult *res, struct cm_buf *b)
{
	int n = PQntuples(res), rc;

	/* Columns: repo, workflow, 6 result counts, dur_n, dur_sum_ms, 11 slots, queue n, sum. */
	rc = cm_buf_adds(b, "# HELP cicd_pipeline_run_duration_seconds Duration of pipeline runs "
			    "(latest attempt of each completed run).\n"
			    "# TYPE cicd_pipeline_run_duration_seconds histogram\n");
	for (int i = 0; !rc && i < n; i++) {
		long long cum = 0;

		for (int s = 0; !rc && s < NSLOTS; s++) {
			cum += strtoll(PQgetvalue(res, i, 10 + s), NULL, 10);
			rc = cm_buf_adds(b, "cicd_pipeline_run_duration_seconds_bucket{");
			if (!rc)
				rc = labels(b, res, i);
			if (!rc)
				rc = cm_buf_addf(b, ",le=\"%s\"} %lld\n", bounds[s], cum);
		}
		if (!rc)
			rc = cm_buf_adds(b, "cicd_pipeline_run_duration_seconds_sum{");
		if (!rc)
			rc = labels(b, res, i);
		if (!rc)
			rc = cm_buf_addf(b, "} %.3f\n",
					 strtod(PQgetvalue(res, i, 9), NULL) / 1000.0);
		if (!rc)
			rc = cm_buf_adds(b, "cicd_pipeline_run_duration_seconds_count{");
		if (!rc)
			rc = labels(b, res, i);
		if (!rc)
			rc = cm_buf_addf(b, "} %lld\n", cum);
	}
	if (!rc)
		rc = cm_buf_adds(b, "# HELP cicd_pipeline_runs Pipeline runs by result (latest "
				    "attempt of each completed run).\n"
				    "# TYPE cicd_pipeline_runs gauge\n");
	for (int i = 0; !rc && i < n; i++) {
		for (int k = 0; !rc && k < 6; k++) {
			rc = cm_buf_adds(b, "cicd_pipeline_runs{");
			if (!rc)
				rc = labels(b, res, i);
			if (!rc)
				rc = cm_buf_addf(b, ",result=\"%s\"} %s\n", results[k],
						 PQgetvalue(res, i, 2 + k));
		}
	}
	if (!rc)
		rc = cm_buf_adds(b, "# HELP cicd_pipeline_job_queue_seconds Time jobs waited for a "
				    "runner (started_at - created_at).\n"
				    "# TYPE cicd_pipeline_job_queue_seconds summary\n");
	for (int i = 0; !rc && i < n; i++) {
		rc = cm_buf_adds(b, "cicd_pipeline_job_queue_seconds_sum{");
		if (!rc)
			rc = labels(b, res, i);
		if (!rc)
			rc = cm_buf_addf(b, "} %.3f\n",
					 strtod(PQgetvalue(res, i, 22), NULL) / 1000.0);
		if (!rc)
			rc = cm_buf_adds(b, "cicd_pipeline_job_queue_seconds_count{");
		if (!rc)
			rc = labels(b, res, i);
		if (!rc)
			rc = cm_buf_addf(b, "} %s\n", PQgetvalue(res, i, 21));
	}
	return rc;
}

int col_api_prom_render(struct col_ctx *ctx, struct cm_buf *out)
{
	static const char sql[] =
	    "SELECT r.full_name, COALESCE(w.name, w.path, d.workflow_id::text), "
	    "sum(d.n_success), sum(d.n_failure), sum(d.n_timed_out), sum(d.n_cancelled), "
	    "sum(d.n_skipped), sum(d.n_other), sum(d.dur_n), sum(d.dur_sum_ms), "
	    "sum(d.dur_hist[1]), sum(d.dur_hist[2]), sum(d.dur_hist[3]), sum(d.dur_hist[4]), "
	    "sum(d.dur_hist[5]), sum(d.dur_hist[6]), sum(d.dur_hist[7]), sum(d.dur_hist[8]), "
	    "sum(d.dur_hist[9]), sum(d.dur_hist[10]), sum(d.dur_hist[11]), sum(d.queue_n), "
	    "sum(d.queue_sum_ms) FROM run_rollup_daily d "
	    "JOIN repositories r ON r.id = d.repo_id "
	    "LEFT JOIN workflows w ON w.repo_id = d.repo_id AND w.id = d.workflow_id "
	    "GROUP BY 1, 2 ORDER BY 1, 2";
	struct cm_buf fresh = CM_BUF_INIT(MAX_TEXT);
	struct col_conn *c;
	PGresult *res;
	int64_t now = cm_time_mono_ms();
	int rc;

	pthread_mutex_lock(&lock);
	if (cache_at && now - cache_at < CACHE_MS) {
		rc = cm_buf_add(out, cache.data ? cache.data : "", cache.len);
		pthread_mutex_unlock(&lock);
		return rc;
	}
	pthread_mutex_unlock(&lock);
	rc = col_db_acquire(ctx->db, &c, COL_DB_PROBE_WAIT_MS);
	if (rc)
		return rc;
	res = PQexec(c->pg, sql);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		cm_log_warn("api", "pipeline metrics query failed: %s", PQresultErrorMessage(res));
	} else {
		rc = render(res, &fresh);
	}
	PQclear(res);
	col_db_release(ctx->db, c);
	if (rc) {
		cm_buf_release(&fresh);
		return rc;
	}
	rc = cm_buf_add(out, fresh.data ? fresh.data : "", fresh.len);
	pthread_mutex_lock(&lock);
	cm_buf_release(&cache);
	cache = fresh;
	cache_at = cm_time_mono_ms();
	pthread_mutex_unlock(&lock);
	return rc;
}
