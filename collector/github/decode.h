/*
 * GitHub's JSON (webhook payloads and REST API replies) decoded into the wire-contract structs of
 * proto/cipulse/v1/report.proto, so that webhooks and the poller write through
 * col_store_put_report by the same merge rules as agent reports.
 *
 * The REST API and webhooks describe runs and jobs with the same objects: a run is an item of
 * GET /repos/{o}/{r}/actions/runs (and a webhook's "workflow_run"), a job an item of
 * .../attempts/{n}/jobs (and a webhook's "workflow_job").
 *
 * Decoded strings borrow from the JSON document: a col_gh_report holds a reference to every
 * document it decoded from and stays valid until col_gh_report_release. Not thread safe; one
 * report per thread.
 */
#ifndef COL_GITHUB_H
#define COL_GITHUB_H

#include <jansson.h>
#include <stddef.h>

#include "store/store.h"

/* Limits on what one object may carry (GitHub's own are far lower). */
#define COL_GH_MAX_JOBS	  1000
#define COL_GH_MAX_STEPS  1000
#define COL_GH_MAX_LABELS 100

struct col_gh_report {
	struct col_report report; /* hand this to col_store_put_report */
	Cipulse__V1__ReportHeader header;
	Cipulse__V1__Repository repo;
	Cipulse__V1__Workflow workflow;
	Cipulse__V1__Run run;
	Cipulse__V1__Job **jobs;
	size_t njobs;
	size_t cap;
	char server_url[256];
	json_t *docs[16]; /* documents the strings borrow from (references held) */
	size_t ndocs;
};

/* Prepares an empty report of `source` ("webhook" or "poller"); allocates nothing. */
void col_gh_report_init(struct col_gh_report *r, const char *source);
/* Frees the jobs and drops the document references; the report may be initialised again. */
void col_gh_report_release(struct col_gh_report *r);

/*
 * Fills the report's header from a run object. The repository comes from `repository` when not
 * NULL, else from the run's own "repository"; the workflow from `workflow` when not NULL, else
 * from the run's workflow_id, path and name. Returns 0, or CM_EINVAL with a message naming the
 * offending field in err (size bytes).
 */
int col_gh_decode_run(struct col_gh_report *r, json_t *run, json_t *repository, json_t *workflow,
		      char *err, size_t size);

/*
 * Adds a job object (with its steps) to the report. When the header has no run yet, the job's
 * run_id, run_attempt, head_sha, head_branch and workflow_name fill it, and `repository` (not
 * NULL) the repository. CM_EINVAL with a message in err for a malformed job, CM_ETOOBIG past
 * COL_GH_MAX_JOBS, CM_ENOMEM.
 */
int col_gh_add_job(struct col_gh_report *r, json_t *job, json_t *repository, char *err,
		   size_t size);

/*
 * Decodes a "workflow_run" or "workflow_job" webhook payload (event names as in X-GitHub-Event).
 * CM_ENOTFOUND for another event, CM_EINVAL (message in err) for an unknown shape.
 */
int col_gh_decode_event(struct col_gh_report *r, const char *event, json_t *payload, char *err,
			size_t size);

#endif
