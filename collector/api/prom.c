/*
 * Pipeline metrics for /metrics, in the spirit of the OpenTelemetry CI/CD semantic conventions:
 *
 *   cicd_pipeline_run_duration_seconds{repository, workflow}    histogram of run attempt durations
 *   cicd_pipeline_job_queue_seconds{repository, workflow}       job queue time (sum, count)
 *   cicd_pipeline_run_attempts_total{repository, workflow, result}  run attempts completed
 *   cicd_pipeline_runs{repository, workflow, result}            runs stored, by conclusion
 *
 * The first three count every run attempt once, when it is first stored completed
 * (pipeline_counters, sql/007_replicas_retention.sql): they only ever go up, whatever re-runs,
 * late corrections or the retention sweep do, so Prometheus never sees a false counter reset.
 * cicd_pipeline_runs is a gauge over the runs stored (the latest attempt of each completed run,
 * run_rollup_daily of sql/002_api.sql): a re-run or retention lowers it.
 *
 * These series come from the database, which every replica shares: only the collector holding
 * the leader lease (store/lease.h) serves them, so a sum over replicas counts each run once;
 * cipulse_leader says which one does. Labels are bounded by the repositories
 * and workflows registered: never run ids, SHAs or runner names. The text is cached for a few
 * seconds so that several scrapers cost one query.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "store/lease.h"

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

/* Sample lines `name{repository=..,workflow=..<extra>} value` for one row. */
static int sample(struct cm_buf *b, const char *name, const PGresult *res, int row,
		  const char *extra, const char *value)
{
	int rc = cm_buf_adds(b, name);

	if (!rc)
		rc = cm_buf_addc(b, '{');
	if (!rc)
		rc = labels(b, res, row);
	if (!rc && extra)
		rc = cm_buf_adds(b, extra);
	if (!rc)
		rc = cm_buf_addf(b, "} %s\n", value);
	return rc;
}

/* Value text of a millisecond sum in seconds. */
static void secs(char *out, size_t size, const char *ms)
{
	snprintf(out, size, "%.3f", strtod(ms, NULL) / 1000.0);
}

/*
 * Columns: repo, workflow, then the counters (6 result counts, dur_n, dur_sum_ms, 11 slots,
 * queue n, sum: columns 2..22), then the stored runs' 6 result counts (23..28).
 */
static int render(const PGresult *res, struct cm_buf *b)
{
	int n = PQntuples(res), rc;
	char v[64], extra[64];

	rc = cm_buf_adds(b, "# HELP cicd_pipeline_run_duration_seconds Duration of pipeline run "
			    "attempts, each counted once when first stored completed.\n"
			    "# TYPE cicd_pipeline_run_duration_seconds histogram\n");
	for (int i = 0; !rc && i < n; i++) {
		long long cum = 0;

		for (int s = 0; !rc && s < NSLOTS; s++) {
			cum += strtoll(PQgetvalue(res, i, 10 + s), NULL, 10);
			snprintf(v, sizeof(v), "%lld", cum);
			snprintf(extra, sizeof(extra), ",le=\"%s\"", bounds[s]);
			rc = sample(b, "cicd_pipeline_run_duration_seconds_bucket", res, i, extra,
				    v);
		}
		secs(v, sizeof(v), PQgetvalue(res, i, 9));
		if (!rc)
			rc = sample(b, "cicd_pipeline_run_duration_seconds_sum", res, i, NULL, v);
		snprintf(v, sizeof(v), "%lld", cum);
		if (!rc)
			rc = sample(b, "cicd_pipeline_run_duration_seconds_count", res, i, NULL, v);
	}
	if (!rc)
		rc = cm_buf_adds(b, "# HELP cicd_pipeline_run_attempts_total Pipeline run attempts "
				    "completed, by result, each counted once.\n"
				    "# TYPE cicd_pipeline_run_attempts_total counter\n");
	for (int i = 0; !rc && i < n; i++) {
		for (int k = 0; !rc && k < 6; k++) {
			snprintf(extra, sizeof(extra), ",result=\"%s\"", results[k]);
			rc = sample(b, "cicd_pipeline_run_attempts_total", res, i, extra,
				    PQgetvalue(res, i, 2 + k));
		}
	}
	if (!rc)
		rc = cm_buf_adds(b,
				 "# HELP cicd_pipeline_runs Pipeline runs stored by result (latest "
				 "attempt of each completed run).\n"
				 "# TYPE cicd_pipeline_runs gauge\n");
	for (int i = 0; !rc && i < n; i++) {
		for (int k = 0; !rc && k < 6; k++) {
			if (PQgetisnull(res, i, 23 + k))
				continue;
			snprintf(extra, sizeof(extra), ",result=\"%s\"", results[k]);
			rc = sample(b, "cicd_pipeline_runs", res, i, extra,
				    PQgetvalue(res, i, 23 + k));
		}
	}
	if (!rc)
		rc = cm_buf_adds(b, "# HELP cicd_pipeline_job_queue_seconds Time jobs waited for a "
				    "runner (started_at - created_at), over the attempts counted.\n"
				    "# TYPE cicd_pipeline_job_queue_seconds summary\n");
	for (int i = 0; !rc && i < n; i++) {
		secs(v, sizeof(v), PQgetvalue(res, i, 22));
		rc = sample(b, "cicd_pipeline_job_queue_seconds_sum", res, i, NULL, v);
		if (!rc)
			rc = sample(b, "cicd_pipeline_job_queue_seconds_count", res, i, NULL,
				    PQgetvalue(res, i, 21));
	}
	return rc;
}

int col_api_prom_render(struct col_ctx *ctx, struct cm_buf *out)
{
	static const char sql[] =
	    "SELECT r.full_name, COALESCE(w.name, w.path, c.workflow_id::text), "
	    "c.n_success, c.n_failure, c.n_timed_out, c.n_cancelled, c.n_skipped, c.n_other, "
	    "c.dur_n, c.dur_sum_ms, c.dur_hist[1], c.dur_hist[2], c.dur_hist[3], c.dur_hist[4], "
	    "c.dur_hist[5], c.dur_hist[6], c.dur_hist[7], c.dur_hist[8], c.dur_hist[9], "
	    "c.dur_hist[10], c.dur_hist[11], c.queue_n, c.queue_sum_ms, "
	    "d.n_success, d.n_failure, d.n_timed_out, d.n_cancelled, d.n_skipped, d.n_other "
	    "FROM pipeline_counters c JOIN repositories r ON r.id = c.repo_id "
	    "LEFT JOIN workflows w ON w.repo_id = c.repo_id AND w.id = c.workflow_id "
	    "LEFT JOIN LATERAL (SELECT sum(n_success) AS n_success, sum(n_failure) AS n_failure, "
	    "  sum(n_timed_out) AS n_timed_out, sum(n_cancelled) AS n_cancelled, "
	    "  sum(n_skipped) AS n_skipped, sum(n_other) AS n_other FROM run_rollup_daily "
	    "  WHERE repo_id = c.repo_id AND workflow_id = c.workflow_id HAVING count(*) > 0) d "
	    "ON true ORDER BY 1, 2";
	struct cm_buf fresh = CM_BUF_INIT(MAX_TEXT);
	struct col_conn *c;
	PGresult *res;
	int64_t now = cm_time_mono_ms();
	int rc, leader;

	leader = col_lease_held(&ctx->leader_until);
	rc = cm_buf_addf(out,
			 "# HELP cipulse_leader 1 on the one collector of several on a database "
			 "that polls GitHub, sweeps retention and serves the cicd_pipeline_* "
			 "series.\n"
			 "# TYPE cipulse_leader gauge\n"
			 "cipulse_leader %d\n",
			 leader);
	if (rc || !leader)
		return rc;
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
