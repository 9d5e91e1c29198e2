/*
 * A report: the header (repository, workflow, run), the jobs with their steps, and log tails,
 * as protobuf-c messages, and its wire encoding.
 *
 * The encoding ("frames") is the report stream itself: each ReportChunk message serialized and
 * prefixed with its length (4 bytes, big endian). send.c streams the frames as gRPC messages
 * and spool.c stores them, so that a spooled report is re-sent byte for byte, same report_id.
 */
#ifndef AG_REPORT_H
#define AG_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "junit.h"
#include "logtail.h"
#include "cipulse/v1/report.pb-c.h"
#include "cm_buf.h"

/* Largest text of one LogChunk message (the contract's limit). */
#define AG_CHUNK_TEXT_MAX (64 * 1024)
/* Most test cases in one TestBatch message (the contract's limit). */
#define AG_BATCH_CASES 1000
/* Most bytes of test cases in one TestBatch message: far below the collector's 1 MiB default. */
#define AG_BATCH_BYTES (256 * 1024)
/* Largest frame accepted when reading frames back (a header or job with many steps). */
#define AG_FRAME_MAX (4 * 1024 * 1024)

struct ag_rtail {
	int64_t job_id;
	int32_t step;
	char *text; /* sanitized, masked UTF-8 */
	size_t len;
	int64_t original_size;
	int truncated;
	int has_exit_code;
	int32_t exit_code;
};

struct ag_report {
	Cipulse__V1__ReportHeader *header;
	Cipulse__V1__Job **jobs;
	size_t njobs;
	struct ag_rtail *tails;
	size_t ntails;
	size_t tail_bytes;     /* sum of tails[].len */
	size_t max_tail_bytes; /* per-report cap on tail_bytes */
	/* Test cases of the job tests_job (0: none); ag_tests_init'ed by whoever fills it. */
	struct ag_tests tests;
	int64_t tests_job;
};

/*
 * Starts a report from the GitHub env vars in cfg: a new random report_id, the agent version,
 * the mode (a Cipulse__V1__AgentMode), repository, workflow and run. Returns 0 or CM_ENOMEM.
 */
int ag_report_init(struct ag_report *r, const struct ag_config *cfg, int mode);
void ag_report_release(struct ag_report *r);

/* Largest event payload file read (GitHub caps webhook payloads at 25 MB; most are small). */
#define AG_EVENT_FILE_MAX (8L * 1024 * 1024)
/* Longest head commit message line sent: the collector keeps 300 characters of it. */
#define AG_HEAD_MESSAGE_MAX 1200
/* Longest default branch name sent (Git allows 255 bytes in a ref's name). */
#define AG_BRANCH_MAX 255

/*
 * Fills what only the event payload (GITHUB_EVENT_PATH, cfg->github_event_path) tells: the
 * repository's default branch and the first line of the head commit's message, sanitized,
 * with `secrets` masked and cut to AG_HEAD_MESSAGE_MAX bytes at a character boundary. A missing,
 * oversized or unreadable file, or one without these fields, leaves them empty (logged).
 * Returns 0 or CM_ENOMEM.
 */
int ag_report_add_event(struct ag_report *r, const struct ag_config *cfg,
			const struct ag_secrets *secrets);

/* Appends a job; the report takes ownership (also on failure). */
int ag_report_add_job(struct ag_report *r, Cipulse__V1__Job *job);
/* The job with this id, or NULL. */
Cipulse__V1__Job *ag_report_job(const struct ag_report *r, int64_t id);

/*
 * Adds a log tail for (job, step). When the report's tail budget is short, only the end of the
 * text is kept and the tail is marked truncated; when it is used up, the tail is left out
 * (returns CM_ETOOBIG, the report stays valid). A second tail for the same (job, step) is
 * appended to the first.
 */
int ag_report_add_tail(struct ag_report *r, int64_t job_id, int32_t step, const char *text,
		       size_t len, int64_t original_size, int truncated, int has_exit_code,
		       int32_t exit_code);

/*
 * A Job from a GitHub API job object (jobs API or workflow_job webhook): id, name, status,
 * conclusion, times, runner, labels, html_url and steps. CM_EINVAL when `id` is missing.
 * Caller frees *out with protobuf_c_message_free_unpacked(&(*out)->base, NULL).
 */
int ag_job_from_json(const json_t *j, Cipulse__V1__Job **out);
/* A job made only from the env (the API could not be asked): completed, with `conclusion`. */
int ag_job_from_env(const struct ag_config *cfg, int64_t id, const char *conclusion,
		    Cipulse__V1__Job **out);
/* The conclusion implied by the steps: failure/cancelled if a step had it, else success. */
const char *ag_job_conclusion_from_steps(const Cipulse__V1__Job *job);
/*
 * The number of the step of `job` during which something ran from `start` to `end` (ms), or
 * 0 when none fits. Step times from the API have one-second resolution.
 */
int32_t ag_job_step_at(const Cipulse__V1__Job *job, int64_t start, int64_t end);

/*
 * Appends the frames of the report to out: the header, then each job followed by its log
 * chunks and its test batches (at most AG_BATCH_CASES cases and about AG_BATCH_BYTES each; the
 * last one carries `truncated`).
 */
int ag_report_encode(const struct ag_report *r, struct cm_buf *out);

/* 1 when the frames hold a TestBatch message. */
int ag_frames_have_tests(const char *data, size_t size);
/* Appends the frames of data to out, leaving out TestBatch messages (for older collectors). */
int ag_frames_without_tests(const char *data, size_t size, struct cm_buf *out);

/*
 * Iterates over frames: on each call sets *msg and *len to the next frame's message and returns 1;
 * returns 0 at the end, CM_EPROTO when the data is not a whole number of valid frames.
 */
int ag_frames_next(const char *data, size_t size, size_t *off, const char **msg, size_t *len);
/*
 * Checks frames and copies the header's report_id into out, and its repository id into
 * *repo_id when repo_id is not NULL (0 when the header has none).
 */
int ag_frames_report_id(const char *data, size_t size, char *out, size_t outsize, int64_t *repo_id);

#endif
