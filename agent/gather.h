/*
 * Gathering what a report says: the job (report and hook modes) or the run's other jobs (run
 * mode) from the GitHub API, falling back to what the env vars tell when the API fails, plus
 * log tails from exec records, named log files and (run mode) the API's job logs.
 */
#ifndef AG_GATHER_H
#define AG_GATHER_H

#include "config.h"
#include "exec.h"
#include "logtail.h"
#include "report.h"

struct ag_gather {
	int api_failed;		 /* the report is degraded: the API did not answer */
	char why[512];		 /* what went wrong, for the ::warning:: line */
	long api_backoff_ms;	 /* first back-off of the API client (0: default) */
	long not_listed_wait_ms; /* first wait when the job is not listed yet (0: default 1 s) */
};

/*
 * Report and hook modes: adds this job (from the jobs API, or from env vars) with its tails
 * from the exec records `recs` (loaded by the caller, who deletes them once the report is
 * delivered or spooled) and the named log files.
 */
int ag_gather_job(const struct ag_config *cfg, const struct ag_secrets *secrets,
		  const struct ag_exec_records *recs, struct ag_report *r, struct ag_gather *g);

/* Run mode: adds every other job of the run attempt, with log tails from the API. */
int ag_gather_run(const struct ag_config *cfg, const struct ag_secrets *secrets,
		  struct ag_report *r, struct ag_gather *g);

#endif
