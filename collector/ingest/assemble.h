/*
 * Report assembly: turns the messages of one Report stream (ReportChunk bytes, as received) into
 * a struct col_report that the store can write. No gRPC here, so that unit tests and the fuzz
 * target drive exactly the code the server runs.
 *
 * What it enforces, in the order messages arrive:
 * - every message decodes as a ReportChunk ("malformed message" otherwise);
 * - every string, at any depth, is valid UTF-8 without NUL bytes (the error names the field,
 *   e.g. "log.text"); protobuf-c checks neither, and it would cut a string at a NUL silently;
 * - the first message is the header, and there is only one;
 * - log chunks of one (job_id, step_number) come with seq 0, 1, 2, ... and none after `last`;
 * - a test batch names a job received before it, holds at most COL_ASM_MAX_BATCH_CASES cases,
 *   each with a known result, fields within their sizes, a duration and retries in range
 *   (the error names the case, e.g. "tests.cases[3].result");
 * - a message whose oneof is unset but that carries fields this collector does not know (a
 *   newer agent's new kind of message) is skipped; one with nothing in it is refused;
 * - limits: all messages together at most max_bytes, and a memory budget for the decoded
 *   structures (tiny wire messages can decode into much larger structs), jobs, steps, labels
 *   and log tails per report.
 * col_assembly_finish then checks the whole report with col_store_validate.
 *
 * Not thread safe: one assembly per stream.
 */
#ifndef COL_ASSEMBLE_H
#define COL_ASSEMBLE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "cipulse/v1/report.pb-c.h"
#include "store/claim.h"
#include "store/store.h"

#define COL_ASM_MAX_JOBS	1000
#define COL_ASM_MAX_STEPS	1000   /* per job */
#define COL_ASM_MAX_LABELS	100    /* per job */
#define COL_ASM_MAX_TAILS	20000  /* log tails per report */
#define COL_ASM_MAX_BATCH_CASES 1000   /* test cases per TestBatch (report.proto) */
#define COL_ASM_MAX_TEST_CASES	200000 /* test cases per report, all jobs together */
#define COL_ASM_MAX_TEST_FIELD	4096   /* bytes of a suite, class, name or file */
#define COL_ASM_MAX_TEST_MSG	4096   /* bytes of a failure message (report.proto) */
/* Longest test duration taken (31 days, in microseconds) and most retries. */
#define COL_ASM_MAX_TEST_US (31LL * 24 * 3600 * 1000000)
#define COL_ASM_MAX_RETRIES 1000

struct col_asm_tail;

struct col_assembly {
	size_t max_bytes; /* wire bytes of all messages together */
	size_t bytes;
	size_t mem_budget; /* bytes the decoder may allocate */
	size_t mem_used;
	int over_budget;
	ProtobufCAllocator alloc;
	Cipulse__V1__ReportChunk *header;
	Cipulse__V1__ReportChunk **jobs; /* each chunk holds one job */
	size_t njobs, jobs_cap;
	size_t text_cap; /* bytes allocated for log text, all tails together */
	struct col_asm_tail *tails;
	size_t ntails, tails_cap;
	Cipulse__V1__ReportChunk **tests; /* each chunk holds one TestBatch */
	size_t ntests, tests_cap;
	size_t ncases;	 /* test cases in all batches */
	int skipped;	 /* messages of kinds this collector does not know, skipped */
	uint32_t *index; /* open addressing on (job_id, step_number): tail number + 1, 0 = empty */
	size_t index_cap;
	int messages;
	/* Filled by col_assembly_finish. */
	Cipulse__V1__Job **job_ptrs;
	Cipulse__V1__TestBatch **test_ptrs;
	struct col_log_tail *logs;
	struct col_report report;
	/* Why the last call failed: a short message for the client, naming the field. */
	char error[192];
};

/* Prepares an empty assembly (no allocation). max_bytes bounds all messages together. */
void col_assembly_init(struct col_assembly *a, size_t max_bytes);
/* Frees everything the assembly holds, including a report returned by col_assembly_finish. */
void col_assembly_release(struct col_assembly *a);

/*
 * Adds one received message (the serialized ReportChunk). Returns 0; CM_EINVAL for a message
 * that is malformed or breaks the rules above; CM_ETOOBIG when a limit is passed. On error,
 * col_assembly_error() says why, and the assembly must not be fed further.
 */
int col_assembly_add(struct col_assembly *a, const uint8_t *data, size_t len);

/* The header once the first message has been added, else NULL. */
const Cipulse__V1__ReportHeader *col_assembly_header(const struct col_assembly *a);

/*
 * Ends the stream: builds the report (source: "agent", ...) and validates it. On success *out
 * points into the assembly (valid until col_assembly_release). CM_EINVAL as above.
 */
int col_assembly_finish(struct col_assembly *a, const char *source, const struct col_report **out);

const char *col_assembly_error(const struct col_assembly *a);

/*
 * Bytes of heap the assembly holds now: decoded messages, log text and its own tables (what
 * col_assembly_release would free). For the collector's process-wide budget of reports in
 * flight; constant time.
 */
size_t col_assembly_mem(const struct col_assembly *a);

/*
 * May the credential report about the header's repository, as far as the credential alone
 * tells (col_claim_decide without the database: the store decides for good when it writes)?
 * Returns 0 or CM_EDENIED.
 */
int col_assembly_allowed(const struct col_cred *cred, const Cipulse__V1__ReportHeader *h);

#endif
