/*
 * The job summary: after the report of this job was delivered, the agent asks the collector's
 * cipulse.v1.Collector/Summary (one unary call, short deadline) and appends Markdown to
 * $GITHUB_STEP_SUMMARY: this job's steps next to their usual duration on the default branch
 * (slow ones flagged), the failed tests (flaky and new failures marked), the failure group and
 * how widespread it is, and the job's page in the dashboard.
 *
 * Report mode only (the job the agent runs in). Off with CIPULSE_SUMMARY=false, and when
 * GITHUB_STEP_SUMMARY is not set. Whatever goes wrong (collector down, slow, too old to know the
 * method, the file not writable) ends in at most one line in the summary and a log line: the job
 * is never failed by the summary.
 */
#ifndef AG_SUMMARY_H
#define AG_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "cm_buf.h"
#include "config.h"
#include "deliver.h"
#include "report.h"

/* Failed tests listed by name; the rest are counted ("and K more"). */
#define AG_SUMMARY_TESTS 10
/* A step is flagged slow only against a baseline of at least this many runs. */
#define AG_SUMMARY_MIN_SAMPLES 5
/* Longest name or message shown, in bytes (cut at a character boundary, "…" appended). */
#define AG_SUMMARY_TEXT_MAX 200

/*
 * Writes the summary of job `job_id` of report r, whose delivery ended as d (only AG_SENT asks
 * the collector; otherwise one line says why there is no summary). Never fails.
 */
void ag_summary_write(const struct ag_config *cfg, const struct ag_report *r, int64_t job_id,
		      enum ag_delivery d);

/*
 * The Markdown of a SummaryReply (encoded, len bytes) for job `job_name` into out. Pure, for
 * the unit tests and the fuzzer; CM_EPROTO when the bytes are not a SummaryReply.
 */
int ag_summary_markdown(const void *reply, size_t len, const char *job_name, struct cm_buf *out);

/*
 * Appends s (n bytes) to out as plain text safe in a Markdown table cell or a list item:
 * every character Markdown or HTML would act on (| ` < > & * _ [ ] \ ...) as an HTML entity,
 * line breaks and control characters as spaces, invalid UTF-8 as U+FFFD, cut at
 * AG_SUMMARY_TEXT_MAX bytes.
 */
int ag_summary_escape(struct cm_buf *out, const char *s, size_t n);

#endif
