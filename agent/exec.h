/*
 * exec mode: runs a step's command with its output passed through unchanged, and keeps the
 * tail of that output, its exit code and timing in the spool directory ("exec records"), where
 * the job's report (report or hook mode, same run attempt, job and runner) picks them up.
 */
#ifndef AG_EXEC_H
#define AG_EXEC_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "logtail.h"

/*
 * Makes the agent ignore SIGXFSZ, so that a file-size limit (`ulimit -f`) turns writes to the
 * spool into EFBIG errors that it handles, instead of killing it. The disposition it had is
 * given back to the commands that exec mode runs. Call once, first thing in main.
 */
void ag_exec_ignore_sigxfsz(void);

/*
 * Runs argv[0] (PATH searched) and returns its exit status (128+N when killed by signal N, 127
 * when it could not be started). SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to it.
 * Recording the tail is best effort: a failure there prints a ::warning:: and changes nothing
 * about the exit status.
 */
int ag_exec_run(const struct ag_config *cfg, const char *spool_dir, char **argv,
		const struct ag_secrets *secrets);

/* The records kept for this job (matching run id, attempt, GITHUB_JOB and RUNNER_NAME). */
struct ag_exec_records {
	json_t *list; /* array of record objects */
	char **paths; /* their files, to delete once the report is delivered or spooled */
	size_t n;
};

/* Loads this job's records (oldest first); also deletes records older than a week. */
int ag_exec_load(const struct ag_config *cfg, const char *spool_dir, struct ag_exec_records *r);
/* Deletes the records' files. */
void ag_exec_remove(struct ag_exec_records *r);
void ag_exec_release(struct ag_exec_records *r);

/* Prefix of this job's record names: "exec-<run>-<attempt>-<job>-<runner>-". */
int ag_exec_prefix(const struct ag_config *cfg, char *out, size_t size);

#endif
