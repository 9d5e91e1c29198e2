#include "gather.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "github.h"
#include "junit.h"
#include "warn.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"

/* Raw lines of API logs routed to steps: longer lines are cut. */
#define LOG_LINE_MAX (64 * 1024)

static void note(struct ag_gather *g, const char *what, const struct ag_gh *gh, int rc)
{
	g->api_failed = 1;
	snprintf(g->why, sizeof(g->why), "%s: %s", what,
		 gh && gh->last_error[0] ? gh->last_error : cm_strerror(rc));
}

/* This job in the list: by id, else the in-progress job on this runner. */
static json_t *find_job(json_t *jobs, long job_id, const char *runner)
{
	size_t i;
	json_t *j;

	json_array_foreach(jobs, i, j)
	{
		const char *st = json_string_value(json_object_get(j, "status"));
		const char *rn = json_string_value(json_object_get(j, "runner_name"));

		if (job_id && json_integer_value(json_object_get(j, "id")) == job_id)
			return j;
		if (!job_id && runner && *runner && st && rn && strcmp(st, "in_progress") == 0 &&
		    strcmp(rn, runner) == 0)
			return j;
	}
	return NULL;
}

/*
 * Lists the run attempt's jobs; when `want` (this job) is not among them yet, asks again
 * after 1 s, 2 s, ... while the budget lasts: the jobs API lags behind a starting job.
 */
static int list_jobs(const struct ag_config *cfg, struct ag_gh *gh, int want, json_t **jobs,
		     long first_wait)
{
	long wait = first_wait > 0 ? first_wait : 1000;
	int rc;

	for (;;) {
		rc = ag_gh_list_jobs(gh, cfg->github_repository, cfg->github_run_id,
				     cfg->github_run_attempt, jobs);
		if (rc || !want || find_job(*jobs, cfg->job_id, cfg->runner_name))
			return rc;
		if (cm_time_mono_ms() + wait >= gh->deadline - 200) {
			snprintf(
			    gh->last_error, sizeof(gh->last_error),
			    "this job is not in the run's job list (job id %ld, runner \"%s\")",
			    cfg->job_id, cfg->runner_name);
			return CM_ENOTFOUND;
		}
		cm_log_info("gather", "job not listed yet; asking again in %ldms", wait);
		json_decref(*jobs);
		*jobs = NULL;
		cm_time_sleep_ms(wait);
		wait *= 2;
	}
}

static int set_field(char **slot, const char *v)
{
	char *copy = strdup(v ? v : "");

	if (!copy)
		return CM_ENOMEM;
	free(*slot);
	*slot = copy;
	return CM_OK;
}

/* Tails of the files named in CIPULSE_LOG_FILES, as the job's step-0 tail. */
static int add_log_files(const struct ag_config *cfg, const struct ag_secrets *secrets,
			 struct ag_report *r, int64_t job_id, struct ag_gather *g)
{
	const char *p = cfg->log_files ? cfg->log_files : "", *s;
	size_t len;

	while ((s = cm_list_next(&p, &len))) {
		char path[4096], buf[65536];
		struct ag_secrets masks = { NULL, 0 };
		struct cm_buf text = CM_BUF_INIT(AG_TAIL_TEXT_MAX);
		struct ag_tail tail;
		size_t n;
		int truncated = 0, rc = CM_OK;
		FILE *f;

		if (len >= sizeof(path))
			continue;
		memcpy(path, s, len);
		path[len] = '\0';
		f = fopen(path, "rb");
		if (!f) {
			snprintf(g->why, sizeof(g->why), "could not read log file \"%.300s\": %s",
				 path, strerror(errno));
			printf("::warning::cipulse: %s\n", g->why);
			continue;
		}
		ag_tail_init(&tail, (size_t)cfg->log_tail_lines, (size_t)cfg->log_step_bytes,
			     &masks);
		while (rc == CM_OK && (n = fread(buf, 1, sizeof(buf), f)) > 0)
			rc = ag_tail_feed(&tail, buf, n);
		fclose(f);
		/* A header like tail(1)'s says which file the lines are from. */
		if (rc == CM_OK)
			rc = cm_buf_addf(&text, "==> %s <==\n", path);
		if (rc == CM_OK)
			rc = ag_tail_finish(&tail, secrets, &text, &truncated);
		if (rc == CM_OK)
			rc = ag_report_add_tail(r, job_id, 0, text.data, text.len, tail.total,
						truncated, 0, 0);
		ag_tail_release(&tail);
		ag_secrets_release(&masks);
		cm_buf_release(&text);
		if (rc == CM_ETOOBIG)
			cm_log_warn("gather", "report log budget used up; left out file=%s", path);
		else if (rc)
			return rc;
	}
	return CM_OK;
}

/*
 * The JUnit files named in CIPULSE_TEST_RESULTS, as the test cases of the job: read here, on
 * the runner that ran the tests, so only in report and hook modes.
 */
static int add_tests(const struct ag_config *cfg, const struct ag_secrets *secrets,
		     struct ag_report *r, int64_t job_id)
{
	struct ag_junit_opts o;
	int rc;

	o.max_file_bytes = cfg->test_file_bytes;
	o.max_total_bytes = cfg->test_report_bytes;
	o.secrets = secrets;
	ag_tests_release(&r->tests);
	ag_tests_init(&r->tests, (size_t)cfg->max_tests);
	rc = ag_junit_read_globs(&r->tests, cfg->test_results, cfg->github_workspace, &o);
	if (rc)
		return rc;
	r->tests_job = job_id;
	cm_log_info("gather", "test results read tests=%zu truncated=%d bytes=%lld", r->tests.n,
		    r->tests.truncated, (long long)r->tests.bytes);
	return CM_OK;
}

/* Exec records and log files become tails of the report's (only) job. */
static int add_tails(const struct ag_config *cfg, const struct ag_secrets *secrets,
		     const struct ag_exec_records *recs, struct ag_report *r, struct ag_gather *g)
{
	const Cipulse__V1__Job *job = r->njobs ? r->jobs[0] : NULL;
	size_t i;
	json_t *rec;
	int rc;

	if (!job) {
		if (recs->n || (cfg->log_files && *cfg->log_files))
			printf("::warning::cipulse: log tails left out: this job's id is not known "
			       "(pass job-id: ${{ job.check_run_id }})\n");
		if (cfg->test_results && *cfg->test_results)
			ag_warn("test results left out: this job's id is not known (pass job-id: "
				"${{ job.check_run_id }})");
		return CM_OK;
	}
	json_array_foreach(recs->list, i, rec)
	{
		const char *text = json_string_value(json_object_get(rec, "text"));
		size_t len = json_string_length(json_object_get(rec, "text"));
		int64_t t0 = json_integer_value(json_object_get(rec, "started_at"));
		int64_t t1 = json_integer_value(json_object_get(rec, "completed_at"));
		int32_t step = ag_job_step_at(job, t0, t1);

		rc = ag_report_add_tail(
		    r, job->id, step, text ? text : "", text ? len : 0,
		    json_integer_value(json_object_get(rec, "original_size")),
		    json_is_true(json_object_get(rec, "truncated")), 1,
		    (int32_t)json_integer_value(json_object_get(rec, "exit_code")));
		if (rc == CM_ETOOBIG)
			cm_log_warn("gather", "report log budget used up; left out an exec tail");
		else if (rc)
			return rc;
	}
	rc = add_log_files(cfg, secrets, r, job->id, g);
	if (rc == CM_OK && cfg->test_results && *cfg->test_results)
		rc = add_tests(cfg, secrets, r, job->id);
	return rc;
}

/*
 * Opens the GitHub client for a run; *usable is 0 (with the reason noted in g) when the
 * environment does not name a repository and run to ask about (then libcurl is not loaded)
 * or libcurl could not be loaded. gh can be released either way.
 */
static int api_open(const struct ag_config *cfg, struct ag_gather *g, struct ag_gh *gh, int *usable)
{
	int rc;

	*usable = 0;
	memset(gh, 0, sizeof(*gh));
	if (!*cfg->github_repository || !cfg->github_run_id) {
		snprintf(g->why, sizeof(g->why), "GITHUB_REPOSITORY or GITHUB_RUN_ID not set");
		g->api_failed = 1;
		return CM_OK;
	}
	rc = ag_gh_init(gh, cfg->github_api_url, ag_config_github_token(cfg), cfg->time_budget_ms);
	if (rc == CM_EUNAVAIL) {
		/* No libcurl: the report goes without the API, and says why. */
		note(g, "GitHub API", gh, rc);
		return CM_OK;
	}
	if (rc)
		return rc;
	if (g->api_backoff_ms)
		gh->backoff_ms = g->api_backoff_ms;
	*usable = 1;
	return CM_OK;
}

int ag_gather_job(const struct ag_config *cfg, const struct ag_secrets *secrets,
		  const struct ag_exec_records *recs, struct ag_report *r, struct ag_gather *g)
{
	struct ag_gh gh;
	json_t *jobs = NULL, *mine = NULL;
	Cipulse__V1__Job *job = NULL;
	const char *status = cfg->job_status && *cfg->job_status ? cfg->job_status : NULL;
	int rc, usable;

	rc = api_open(cfg, g, &gh, &usable);
	if (rc)
		return rc;
	if (usable) {
		rc = list_jobs(cfg, &gh, 1, &jobs, g->not_listed_wait_ms);
		mine = rc == CM_OK ? find_job(jobs, cfg->job_id, cfg->runner_name) : NULL;
		if (rc)
			note(g, "GitHub API", &gh, rc);
	}
	if (mine) {
		rc = ag_job_from_json(mine, &job);
		if (rc)
			goto out;
	} else if (cfg->job_id) {
		rc = ag_job_from_env(cfg, cfg->job_id, status ? status : "", &job);
		if (rc)
			goto out;
	} else {
		/* Without a job id nothing can be said about the job: the run still goes. */
		cm_log_warn("gather", "job unknown: no --job-id and the API did not name it");
	}
	if (job) {
		/* The job is over as far as its steps go, whatever the API said a moment ago. */
		if (mine) {
			if (!status)
				status = ag_job_conclusion_from_steps(job);
			if ((rc = set_field(&job->status, "completed")) ||
			    (rc = set_field(&job->conclusion, status)))
				goto out;
			job->completed_at = cm_time_now_ms();
		}
		if ((rc = set_field(&job->runner_os, cfg->runner_os)) ||
		    (rc = set_field(&job->runner_arch, cfg->runner_arch)))
			goto out;
		rc = ag_report_add_job(r, job);
		job = NULL;
		if (rc)
			goto out;
	}
	rc = add_tails(cfg, secrets, recs, r, g);
out:
	ag_gh_release(&gh);
	json_decref(jobs);
	if (job)
		protobuf_c_message_free_unpacked(&job->base, NULL);
	return rc;
}

/*
 * Routes the lines of a job's log (as the API serves it, each line starting with an ISO 8601
 * timestamp) to per-step tails by the steps' time windows. A line without a timestamp goes
 * with the line before it.
 */
struct router {
	const Cipulse__V1__Job *job;
	struct ag_tail *tails; /* [0..n_steps): the job's steps; [n_steps]: the job as a whole */
	size_t ntails;
	size_t cur;
	struct cm_buf line;
};

static size_t step_index(const struct router *rt, const char *l, size_t n)
{
	char ts[48];
	size_t len = 0;
	int64_t t;
	int32_t num;

	if (n >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
		l += 3;
		n -= 3;
	}
	while (len < n && len < sizeof(ts) - 1 && l[len] != ' ')
		len++;
	if (len < 20 || len >= n || l[4] != '-')
		return rt->cur;
	memcpy(ts, l, len);
	ts[len] = '\0';
	if (cm_time_parse_iso8601(ts, &t))
		return rt->cur;
	num = ag_job_step_at(rt->job, t, t);
	for (size_t i = 0; i < rt->job->n_steps; i++) {
		if (rt->job->steps[i]->number == num && num != 0)
			return i;
	}
	return rt->job->n_steps;
}

static int route_line(struct router *rt)
{
	rt->cur = step_index(rt, rt->line.data ? rt->line.data : "", rt->line.len);
	return ag_tail_feed(&rt->tails[rt->cur], rt->line.data ? rt->line.data : "", rt->line.len);
}

static int router_write(void *ctx, const char *p, size_t n)
{
	struct router *rt = ctx;

	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) + 1 : n;
		size_t room = rt->line.max - rt->line.len - 1;
		int rc;

		if (seg > room) {
			/* An overlong line: what fits goes to the current step now. */
			rc = cm_buf_add(&rt->line, p, room);
			if (rc == CM_OK)
				rc = ag_tail_feed(&rt->tails[rt->cur], rt->line.data, rt->line.len);
			cm_buf_reset(&rt->line);
			if (rc)
				return rc;
			p += room;
			n -= room;
			continue;
		}
		rc = cm_buf_add(&rt->line, p, seg);
		if (rc == CM_OK && nl) {
			rc = route_line(rt);
			cm_buf_reset(&rt->line);
		}
		if (rc)
			return rc;
		p += seg;
		n -= seg;
	}
	return CM_OK;
}

static void router_reset(void *ctx)
{
	struct router *rt = ctx;

	for (size_t i = 0; i < rt->ntails; i++)
		ag_tail_reset(&rt->tails[i]);
	cm_buf_reset(&rt->line);
	rt->cur = rt->ntails - 1;
}

/* Downloads one job's log and adds its per-step tails to the report. */
static int job_log_tails(const struct ag_config *cfg, struct ag_gh *gh,
			 const struct ag_secrets *secrets, const Cipulse__V1__Job *job,
			 struct ag_report *r, struct ag_gather *g)
{
	struct ag_secrets masks = { NULL, 0 };
	struct router rt;
	struct ag_gh_sink sink = { router_write, router_reset, &rt };
	int rc;

	memset(&rt, 0, sizeof(rt));
	rt.job = job;
	rt.ntails = job->n_steps + 1;
	rt.cur = job->n_steps;
	cm_buf_init(&rt.line, LOG_LINE_MAX);
	rt.tails = calloc(rt.ntails, sizeof(*rt.tails));
	if (!rt.tails)
		return CM_ENOMEM;
	for (size_t i = 0; i < rt.ntails; i++)
		ag_tail_init(&rt.tails[i], (size_t)cfg->log_tail_lines, (size_t)cfg->log_step_bytes,
			     &masks);
	rc = ag_gh_job_log(gh, cfg->github_repository, job->id, &sink);
	if (rc == CM_OK && rt.line.len)
		rc = route_line(&rt);
	if (rc) {
		/* One job's log missing degrades the report; the others still come. */
		char what[64];

		snprintf(what, sizeof(what), "log of job %lld", (long long)job->id);
		note(g, what, gh, rc);
		rc = CM_OK;
		goto out;
	}
	for (size_t i = 0; rc == CM_OK && i < rt.ntails; i++) {
		struct cm_buf text = CM_BUF_INIT(AG_TAIL_TEXT_MAX);
		int truncated = 0;
		int32_t step = i < job->n_steps ? job->steps[i]->number : 0;

		if (rt.tails[i].total == 0)
			continue;
		rc = ag_tail_finish(&rt.tails[i], secrets, &text, &truncated);
		if (rc == CM_OK)
			rc = ag_report_add_tail(r, job->id, step, text.data ? text.data : "",
						text.len, rt.tails[i].total, truncated, 0, 0);
		cm_buf_release(&text);
		if (rc == CM_ETOOBIG) {
			cm_log_warn("gather",
				    "report log budget used up; left out job=%lld step=%d",
				    (long long)job->id, step);
			rc = CM_OK;
		}
	}
out:
	for (size_t i = 0; i < rt.ntails; i++)
		ag_tail_release(&rt.tails[i]);
	free(rt.tails);
	cm_buf_release(&rt.line);
	ag_secrets_release(&masks);
	return rc;
}

int ag_gather_run(const struct ag_config *cfg, const struct ag_secrets *secrets,
		  struct ag_report *r, struct ag_gather *g)
{
	struct ag_gh gh;
	json_t *jobs = NULL, *j, *self;
	size_t i;
	int rc, usable;

	/* The other jobs ran on other runners: their JUnit files are not here to read. */
	if (cfg->test_results && *cfg->test_results)
		ag_warn("test results are read in report mode (the job that ran the tests); run "
			"mode leaves CIPULSE_TEST_RESULTS out");
	rc = api_open(cfg, g, &gh, &usable);
	if (rc)
		return rc;
	if (!usable)
		goto out;
	rc = list_jobs(cfg, &gh, 0, &jobs, g->not_listed_wait_ms);
	if (rc) {
		note(g, "GitHub API", &gh, rc);
		rc = CM_OK;
		goto out;
	}
	self = find_job(jobs, cfg->job_id, cfg->runner_name);
	json_array_foreach(jobs, i, j)
	{
		Cipulse__V1__Job *job;
		const char *st = json_string_value(json_object_get(j, "status"));
		const char *concl = json_string_value(json_object_get(j, "conclusion"));

		if (j == self)
			continue;
		rc = ag_job_from_json(j, &job);
		if (rc == CM_EINVAL)
			continue;
		if (rc == CM_OK)
			rc = ag_report_add_job(r, job);
		if (rc)
			goto out;
		/* Only a finished job that ran has a log (skipped jobs never started). */
		if (!st || strcmp(st, "completed") != 0 ||
		    (concl && strcmp(concl, "skipped") == 0) || cfg->log_tail_lines == 0)
			continue;
		rc = job_log_tails(cfg, &gh, secrets, job, r, g);
		if (rc)
			goto out;
	}
out:
	ag_gh_release(&gh);
	json_decref(jobs);
	return rc;
}
