/*
 * The store: how pipeline data is written to PostgreSQL. Agent reports (ingest), webhooks and
 * the poller all describe runs, jobs and steps with the same protobuf-c structs (the wire
 * contract, proto/cipulse/v1/report.proto) and write them through col_store_put_report, so the
 * three sources merge into the same rows by one set of rules:
 *
 * - Keys are GitHub's ids: repository id; run id + attempt; job id; step number within a job.
 * - A report writes only a repository its credential may write (store/claim.h): decided first,
 *   in the report's transaction, from the decoded report; a repository is renamed only when
 *   its id matches and the new name is free, and a provisional one is claimed only by its own.
 * - Unknown values ("" strings, 0 times) never overwrite known ones.
 * - Status only moves forward (queued/waiting/requested < in_progress < completed): a late
 *   in_progress after completed does not reopen a job or run; conclusion is taken with status.
 *   Times that belong to a state (started_at, completed_at of jobs and steps) follow the same
 *   rule: a description at least as far along replaces them, an older one only fills gaps, so
 *   events that arrive out of order end in the same row as the same events in order.
 * - Steps and logs are never deleted by a later, poorer description (a completed webhook
 *   without steps keeps the steps an agent sent).
 * - A report with a report_id (or a webhook delivery id) already stored changes nothing
 *   (duplicate = 1).
 * - Everything of one report is written in one transaction; on any error nothing is visible.
 *
 * Thread safety: one connection per thread (see db.h); the functions keep no global state.
 */
#ifndef COL_STORE_H
#define COL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cipulse/v1/report.pb-c.h"
#include "store/claim.h"
#include "store/db.h"

/* A whole log tail of one step (the concatenated LogChunks), valid UTF-8 without NULs. */
struct col_log_tail {
	int64_t job_id;
	int32_t step_number;
	char *text;
	size_t len;
	int64_t original_size;
	int truncated;
	int has_exit_code;
	int32_t exit_code;
};

/* A GitHub webhook delivery (X-GitHub-Delivery), claimed in the report's transaction. */
struct col_delivery {
	const char *id;	    /* X-GitHub-Delivery (a GUID), at most 128 bytes */
	const char *event;  /* X-GitHub-Event */
	const char *action; /* the payload's "action" ("" when none) */
};

struct col_report {
	const char *source; /* "agent", "webhook" or "poller" */
	/*
	 * Optional (NULL): the webhook delivery this report comes from. Claimed like report_id, in
	 * the same transaction: a delivery stored before makes the report a duplicate. A report
	 * with a report_id is claimed by that id only.
	 */
	const struct col_delivery *delivery;
	/*
	 * Required: the credential the report came with. The report's repository must be one it
	 * may write (store/claim.h); otherwise nothing is written and CM_EDENIED is returned.
	 */
	const struct col_cred *cred;
	Cipulse__V1__ReportHeader *header; /* required: repository.id, run.id, run.attempt */
	Cipulse__V1__Job **jobs;
	size_t njobs;
	struct col_log_tail *logs;
	size_t nlogs;
	/*
	 * Test cases in batches (agent reports), each batch of a job of the report; one statement
	 * per batch writes them (store/tests.c has the reads).
	 */
	Cipulse__V1__TestBatch **tests;
	size_t ntests;
};

struct col_store_result {
	int duplicate; /* the report id was stored before: nothing written */
	int jobs;
	int steps;
	int logs;
	int tests;	 /* test cases written */
	const char *why; /* CM_EDENIED: why (static, for the client; names no secret) */
};

/*
 * Checks that a report has what the store needs, whichever way it came (agent, webhook,
 * poller): ids, the repository's owner/name by GitHub's rules (cm_repo_name_valid), and every
 * time 0 (unknown) or within 1970 to 9999. On failure returns CM_EINVAL and writes the
 * offending field's name (e.g. "header.run.attempt") into field (size bytes).
 */
int col_store_validate(const struct col_report *r, char *field, size_t size);

/* "passed", "failed", "error", "skipped" for a TestResult, NULL for any other value. */
const char *col_store_test_result(int result);

/* A write that meets a deadlock or serialization failure is tried this many times in all. */
#define COL_STORE_WRITE_TRIES 3

/*
 * Writes a report in one transaction (see the merge rules above). Returns 0 once committed,
 * CM_EDENIED (out->why says why) when the credential may not write the report's repository
 * (store/claim.h; checked first, in the same transaction), CM_EUNAVAIL when the database
 * cannot be reached or went away (nothing committed: retry), CM_ECONFLICT when concurrent
 * writes still conflicted after COL_STORE_WRITE_TRIES tries (also "retry later": 503 /
 * UNAVAILABLE by core/status.h), CM_EINVAL for data the database rejects, CM_EIO otherwise.
 * Every caller (ingest, webhook, poller) gets the same retries.
 */
int col_store_put_report(struct col_conn *c, const struct col_report *r,
			 struct col_store_result *out);

/*
 * Group commit: writes reports r[0..n) in one transaction, with the same outcome as
 * col_store_put_report of each in this order, and gives each its own answer in rcs[i] and out[i]
 * (0 once committed, or the error col_store_put_report would have returned for it alone).
 * Returns how many reports, from the first, were decided: all n, or fewer when a report
 * registered, adopted or renamed a repository (the reports after it are decided by the rows as
 * it left them, so the caller passes them again). One report the database rejects does not fail
 * the others: the transaction is rolled back and each report is written on its own. A database
 * that goes away (or a statement timeout) gives every report CM_EUNAVAIL (CM_ETIMEDOUT) with
 * nothing of the batch stored. *alone is 1 when the reports were written one per transaction
 * after such a rollback, else 0. Memory: arrays of n entries and of the batch's jobs and steps,
 * freed before it returns.
 */
size_t col_store_put_reports(struct col_conn *c, const struct col_report *const *r, size_t n,
			     struct col_store_result *out, int *rcs, int *alone);

#endif
