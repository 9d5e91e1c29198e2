#include "github/decode.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_text.h"
#include "cm_time.h"

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return CM_EINVAL;
}

/* A string member: missing or null is "" (unknown); any other type is an error. */
static int get_str(json_t *o, const char *key, const char **out, const char *where, char *err,
		   size_t size)
{
	json_t *v = json_object_get(o, key);

	*out = "";
	if (!v || json_is_null(v))
		return CM_OK;
	if (!json_is_string(v))
		return fail(err, size, "%s.%s: not a string", where, key);
	*out = json_string_value(v);
	return CM_OK;
}

/* An integer member: missing or null is 0 (unknown); negative values are errors. */
static int get_int(json_t *o, const char *key, int64_t max, int64_t *out, const char *where,
		   char *err, size_t size)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v || json_is_null(v))
		return CM_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return fail(err, size, "%s.%s: not an integer in range", where, key);
	*out = (int64_t)json_integer_value(v);
	return CM_OK;
}

/* A timestamp member (ISO 8601) in epoch ms: missing or null is 0 (unknown). */
static int get_time(json_t *o, const char *key, int64_t *out, const char *where, char *err,
		    size_t size)
{
	json_t *v = json_object_get(o, key);

	*out = 0;
	if (!v || json_is_null(v))
		return CM_OK;
	if (!json_is_string(v) || cm_time_parse_iso8601(json_string_value(v), out) || *out <= 0)
		return fail(err, size, "%s.%s: not a timestamp", where, key);
	return CM_OK;
}

static int get_obj(json_t *o, const char *key, int required, json_t **out, const char *where,
		   char *err, size_t size)
{
	json_t *v = json_object_get(o, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return required ? fail(err, size, "%s.%s: missing", where, key) : CM_OK;
	if (!json_is_object(v))
		return fail(err, size, "%s.%s: not an object", where, key);
	*out = v;
	return CM_OK;
}

/* Keeps the document alive as long as the report borrows its strings. */
static int hold(struct col_gh_report *r, json_t *doc)
{
	for (size_t i = 0; i < r->ndocs; i++) {
		if (r->docs[i] == doc)
			return CM_OK;
	}
	if (r->ndocs == sizeof(r->docs) / sizeof(r->docs[0]))
		return CM_ETOOBIG;
	r->docs[r->ndocs++] = json_incref(doc);
	return CM_OK;
}

void col_gh_report_init(struct col_gh_report *r, const char *source)
{
	memset(r, 0, sizeof(*r));
	cipulse__v1__report_header__init(&r->header);
	cipulse__v1__repository__init(&r->repo);
	cipulse__v1__workflow__init(&r->workflow);
	cipulse__v1__run__init(&r->run);
	r->report.source = source;
	r->report.header = &r->header;
}

static void job_free(Cipulse__V1__Job *j)
{
	if (!j)
		return;
	if (j->steps)
		free(j->steps[0]); /* the steps themselves: one array */
	free(j->steps);
	free(j->labels);
	free(j);
}

void col_gh_report_release(struct col_gh_report *r)
{
	for (size_t i = 0; i < r->njobs; i++)
		job_free(r->jobs[i]);
	free(r->jobs);
	for (size_t i = 0; i < r->ndocs; i++)
		json_decref(r->docs[i]);
	r->jobs = NULL;
	r->njobs = r->cap = r->ndocs = 0;
	r->report.jobs = NULL;
	r->report.njobs = 0;
}

/* "https://github.com/octo/repo" with full_name "octo/repo" -> "https://github.com". */
static void server_url(const char *html_url, const char *full_name, char *out, size_t size)
{
	size_t hl = strlen(html_url), fl = strlen(full_name);

	out[0] = '\0';
	if (!fl || hl <= fl + 1 || strcmp(html_url + hl - fl, full_name) ||
	    html_url[hl - fl - 1] != '/' || hl - fl - 1 >= size)
		return;
	memcpy(out, html_url, hl - fl - 1);
	out[hl - fl - 1] = '\0';
}

static int decode_repo(struct col_gh_report *r, json_t *repo, char *err, size_t size)
{
	const char *html = "";
	int64_t id;
	int rc;

	if (!json_is_object(repo))
		return fail(err, size, "repository: missing");
	rc = get_int(repo, "id", INT64_MAX, &id, "repository", err, size);
	if (!rc)
		rc = get_str(repo, "full_name", (const char **)&r->repo.full_name, "repository",
			     err, size);
	if (!rc)
		rc = get_str(repo, "html_url", &html, "repository", err, size);
	if (!rc)
		rc = get_str(repo, "default_branch", (const char **)&r->repo.default_branch,
			     "repository", err, size);
	if (rc)
		return rc;
	if (id <= 0)
		return fail(err, size, "repository: no id");
	if (!cm_repo_name_valid(r->repo.full_name))
		return fail(err, size, "repository.full_name: not owner/name by GitHub's rules");
	r->repo.id = id;
	server_url(html, r->repo.full_name, r->server_url, sizeof(r->server_url));
	r->repo.server_url = r->server_url;
	r->header.repository = &r->repo;
	return CM_OK;
}

int col_gh_decode_run(struct col_gh_report *r, json_t *run, json_t *repository, json_t *workflow,
		      char *err, size_t size)
{
	Cipulse__V1__Run *u = &r->run;
	json_t *actor, *own_repo, *commit;
	const char *wname = "";
	int64_t attempt, v;
	int rc;

	if (!json_is_object(run))
		return fail(err, size, "workflow_run: not an object");
	rc = get_obj(run, "repository", 0, &own_repo, "workflow_run", err, size);
	if (!rc)
		rc = decode_repo(r, repository ? repository : own_repo, err, size);
	if (!rc)
		rc = get_int(run, "id", INT64_MAX, &u->id, "workflow_run", err, size);
	if (!rc)
		rc = get_int(run, "run_attempt", INT32_MAX, &attempt, "workflow_run", err, size);
	if (!rc)
		rc = get_int(run, "run_number", INT64_MAX, &u->number, "workflow_run", err, size);
	if (!rc)
		rc = get_str(run, "event", (const char **)&u->event, "workflow_run", err, size);
	if (!rc)
		rc = get_str(run, "head_branch", (const char **)&u->head_branch, "workflow_run",
			     err, size);
	if (!rc)
		rc = get_str(run, "head_sha", (const char **)&u->head_sha, "workflow_run", err,
			     size);
	if (!rc)
		rc = get_str(run, "html_url", (const char **)&u->html_url, "workflow_run", err,
			     size);
	if (!rc)
		rc = get_str(run, "status", (const char **)&u->status, "workflow_run", err, size);
	if (!rc)
		rc = get_str(run, "conclusion", (const char **)&u->conclusion, "workflow_run", err,
			     size);
	if (!rc)
		rc = get_time(run, "created_at", &u->created_at, "workflow_run", err, size);
	if (!rc)
		rc = get_time(run, "run_started_at", &u->run_started_at, "workflow_run", err, size);
	if (!rc)
		rc = get_time(run, "updated_at", &u->updated_at, "workflow_run", err, size);
	if (!rc)
		rc = get_obj(run, "actor", 0, &actor, "workflow_run", err, size);
	if (!rc && actor)
		rc = get_str(actor, "login", (const char **)&u->actor, "workflow_run.actor", err,
			     size);
	if (!rc)
		rc = get_obj(run, "head_commit", 0, &commit, "workflow_run", err, size);
	if (!rc && commit)
		rc = get_str(commit, "message", (const char **)&u->head_message,
			     "workflow_run.head_commit", err, size);
	if (rc)
		return rc;
	if (u->id <= 0)
		return fail(err, size, "workflow_run.id: missing");
	/* Payloads from before re-runs existed have no run_attempt: the first attempt. */
	u->attempt = attempt > 0 ? (int32_t)attempt : 1;

	/* The workflow: the payload's "workflow" object, else the run's own fields. */
	if (workflow && !json_is_object(workflow))
		return fail(err, size, "workflow: not an object");
	rc = get_int(workflow ? workflow : run, workflow ? "id" : "workflow_id", INT64_MAX, &v,
		     "workflow", err, size);
	if (!rc)
		rc = get_str(workflow ? workflow : run, "path", (const char **)&r->workflow.path,
			     "workflow", err, size);
	if (!rc)
		rc = get_str(workflow ? workflow : run, "name", &wname, "workflow", err, size);
	/* A run's own name is the workflow's name, sometimes left empty in payloads. */
	if (!rc && !*wname && workflow)
		rc = get_str(run, "name", &wname, "workflow_run", err, size);
	if (rc)
		return rc;
	r->workflow.id = v;
	r->workflow.name = (char *)wname;
	r->header.workflow = &r->workflow;
	r->header.run = u;
	rc = hold(r, run);
	if (!rc && repository)
		rc = hold(r, repository);
	if (!rc && workflow)
		rc = hold(r, workflow);
	return rc;
}

/* GitHub gives a job that has not started started_at = created_at: a placeholder, not a time. */
static int not_started(const char *status)
{
	return !strcmp(status, "queued") || !strcmp(status, "waiting") ||
	       !strcmp(status, "pending") || !strcmp(status, "requested");
}

static int decode_steps(Cipulse__V1__Job *j, json_t *steps, char *err, size_t size)
{
	Cipulse__V1__Step *all;
	size_t n, i;
	json_t *s;
	char where[48];
	int rc = CM_OK;

	if (!steps || json_is_null(steps))
		return CM_OK;
	if (!json_is_array(steps))
		return fail(err, size, "workflow_job.steps: not an array");
	n = json_array_size(steps);
	if (n == 0)
		return CM_OK;
	if (n > COL_GH_MAX_STEPS)
		return fail(err, size, "workflow_job.steps: more than %d", COL_GH_MAX_STEPS);
	all = calloc(n, sizeof(*all));
	j->steps = calloc(n, sizeof(*j->steps));
	if (!all || !j->steps) {
		free(all);
		return CM_ENOMEM;
	}
	j->n_steps = n;
	json_array_foreach(steps, i, s)
	{
		Cipulse__V1__Step *st = &all[i];
		int64_t num;

		cipulse__v1__step__init(st);
		j->steps[i] = st;
		snprintf(where, sizeof(where), "workflow_job.steps[%zu]", i);
		if (!json_is_object(s))
			return fail(err, size, "%s: not an object", where);
		rc = get_int(s, "number", INT32_MAX, &num, where, err, size);
		if (!rc)
			rc = get_str(s, "name", (const char **)&st->name, where, err, size);
		if (!rc)
			rc = get_str(s, "status", (const char **)&st->status, where, err, size);
		if (!rc)
			rc = get_str(s, "conclusion", (const char **)&st->conclusion, where, err,
				     size);
		if (!rc)
			rc = get_time(s, "started_at", &st->started_at, where, err, size);
		if (!rc)
			rc = get_time(s, "completed_at", &st->completed_at, where, err, size);
		if (rc)
			return rc;
		if (num < 1)
			return fail(err, size, "%s.number: missing", where);
		st->number = (int32_t)num;
	}
	return CM_OK;
}

static int decode_labels(Cipulse__V1__Job *j, json_t *labels, char *err, size_t size)
{
	size_t i, n;
	json_t *l;

	if (!labels || json_is_null(labels))
		return CM_OK;
	if (!json_is_array(labels))
		return fail(err, size, "workflow_job.labels: not an array");
	n = json_array_size(labels);
	if (n > COL_GH_MAX_LABELS)
		return fail(err, size, "workflow_job.labels: more than %d", COL_GH_MAX_LABELS);
	if (n == 0)
		return CM_OK;
	j->labels = calloc(n, sizeof(*j->labels));
	if (!j->labels)
		return CM_ENOMEM;
	json_array_foreach(labels, i, l)
	{
		if (!json_is_string(l))
			return fail(err, size, "workflow_job.labels[%zu]: not a string", i);
		j->labels[j->n_labels++] = (char *)json_string_value(l);
	}
	return CM_OK;
}

static int decode_job(Cipulse__V1__Job *j, json_t *o, int64_t *run_id, int64_t *attempt, char *err,
		      size_t size)
{
	const char *w = "workflow_job";
	int rc;

	rc = get_int(o, "id", INT64_MAX, &j->id, w, err, size);
	if (!rc)
		rc = get_int(o, "run_id", INT64_MAX, run_id, w, err, size);
	if (!rc)
		rc = get_int(o, "run_attempt", INT32_MAX, attempt, w, err, size);
	if (!rc)
		rc = get_str(o, "name", (const char **)&j->name, w, err, size);
	if (!rc)
		rc = get_str(o, "status", (const char **)&j->status, w, err, size);
	if (!rc)
		rc = get_str(o, "conclusion", (const char **)&j->conclusion, w, err, size);
	if (!rc)
		rc = get_time(o, "created_at", &j->created_at, w, err, size);
	if (!rc)
		rc = get_time(o, "started_at", &j->started_at, w, err, size);
	if (!rc)
		rc = get_time(o, "completed_at", &j->completed_at, w, err, size);
	if (!rc)
		rc = get_str(o, "runner_name", (const char **)&j->runner_name, w, err, size);
	if (!rc)
		rc = get_str(o, "html_url", (const char **)&j->html_url, w, err, size);
	if (!rc)
		rc = decode_labels(j, json_object_get(o, "labels"), err, size);
	if (!rc)
		rc = decode_steps(j, json_object_get(o, "steps"), err, size);
	if (rc)
		return rc;
	if (j->id <= 0 || *run_id <= 0)
		return fail(err, size, "workflow_job: no id or run_id");
	if (not_started(j->status))
		j->started_at = 0;
	return CM_OK;
}

int col_gh_add_job(struct col_gh_report *r, json_t *job, json_t *repository, char *err, size_t size)
{
	Cipulse__V1__Job *j;
	int64_t run_id = 0, attempt = 0;
	int rc;

	if (!json_is_object(job))
		return fail(err, size, "workflow_job: not an object");
	if (r->njobs >= COL_GH_MAX_JOBS)
		return CM_ETOOBIG;
	if (r->njobs == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		Cipulse__V1__Job **p = realloc(r->jobs, ncap * sizeof(*p));

		if (!p)
			return CM_ENOMEM;
		r->jobs = p;
		r->cap = ncap;
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return CM_ENOMEM;
	cipulse__v1__job__init(j);
	rc = decode_job(j, job, &run_id, &attempt, err, size);
	if (rc) {
		job_free(j);
		return rc;
	}
	if (!attempt)
		attempt = 1;
	if (!r->header.run) {
		/* A job event alone: the run is known by id, attempt, commit and workflow name. */
		const char *wname = "";

		rc = decode_repo(r, repository, err, size);
		if (!rc)
			rc = get_str(job, "head_sha", (const char **)&r->run.head_sha,
				     "workflow_job", err, size);
		if (!rc)
			rc = get_str(job, "head_branch", (const char **)&r->run.head_branch,
				     "workflow_job", err, size);
		if (!rc)
			rc = get_str(job, "workflow_name", &wname, "workflow_job", err, size);
		if (!rc && repository)
			rc = hold(r, repository);
		if (rc) {
			job_free(j);
			return rc;
		}
		r->run.id = run_id;
		r->run.attempt = (int32_t)attempt;
		r->workflow.name = (char *)wname;
		r->header.workflow = &r->workflow;
		r->header.run = &r->run;
	} else if (run_id != r->run.id || attempt != r->run.attempt) {
		job_free(j);
		return fail(err, size, "workflow_job: of run %lld attempt %lld, not of this run",
			    (long long)run_id, (long long)attempt);
	}
	rc = hold(r, job);
	if (rc) {
		job_free(j);
		return rc;
	}
	r->jobs[r->njobs++] = j;
	r->report.jobs = r->jobs;
	r->report.njobs = r->njobs;
	return CM_OK;
}

int col_gh_decode_event(struct col_gh_report *r, const char *event, json_t *payload, char *err,
			size_t size)
{
	json_t *repo, *obj, *wf;
	int rc;

	if (strcmp(event, "workflow_run") && strcmp(event, "workflow_job"))
		return CM_ENOTFOUND;
	if (!json_is_object(payload))
		return fail(err, size, "payload: not an object");
	rc = get_obj(payload, "repository", 1, &repo, "payload", err, size);
	if (rc)
		return rc;
	if (!strcmp(event, "workflow_run")) {
		rc = get_obj(payload, "workflow_run", 1, &obj, "payload", err, size);
		if (!rc)
			rc = get_obj(payload, "workflow", 0, &wf, "payload", err, size);
		if (!rc)
			rc = col_gh_decode_run(r, obj, repo, wf, err, size);
		return rc;
	}
	rc = get_obj(payload, "workflow_job", 1, &obj, "payload", err, size);
	if (!rc)
		rc = col_gh_add_job(r, obj, repo, err, size);
	return rc;
}
