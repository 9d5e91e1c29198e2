#include "ingest/assemble.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_buf.h"
#include "cm_err.h"
#include "cm_text.h"

struct col_asm_tail {
	int64_t job_id;
	int32_t step_number;
	int32_t next_seq;
	int done; /* the chunk marked `last` arrived */
	struct cm_buf text;
	int64_t original_size;
	int truncated;
	int has_exit_code;
	int32_t exit_code;
};

/* Every decoder allocation carries its size in front, so that free can give it back. */
#define ALLOC_HDR 16

static void *budget_alloc(void *data, size_t size)
{
	struct col_assembly *a = data;
	unsigned char *p;
	/* mem_used never exceeds mem_budget, so the subtraction cannot wrap. */
	size_t avail = a->mem_budget - a->mem_used;

	if (avail < ALLOC_HDR || size > avail - ALLOC_HDR) {
		a->over_budget = 1;
		return NULL;
	}
	p = malloc(size + ALLOC_HDR);
	if (!p)
		return NULL;
	memcpy(p, &size, sizeof(size));
	a->mem_used += size + ALLOC_HDR;
	return p + ALLOC_HDR;
}

static void budget_free(void *data, void *ptr)
{
	struct col_assembly *a = data;
	unsigned char *p = ptr;
	size_t size;

	if (!p)
		return;
	p -= ALLOC_HDR;
	memcpy(&size, p, sizeof(size));
	a->mem_used -= size + ALLOC_HDR;
	free(p);
}

void col_assembly_init(struct col_assembly *a, size_t max_bytes)
{
	memset(a, 0, sizeof(*a));
	a->max_bytes = max_bytes;
	/* Real reports decode into about as many bytes as they have on the wire; the slack is for
	 * struct overhead. A flood of empty submessages (2 wire bytes, ~80 decoded) hits this. */
	a->mem_budget = 2 * max_bytes + (1u << 20);
	a->alloc.alloc = budget_alloc;
	a->alloc.free = budget_free;
	a->alloc.allocator_data = a;
}

static void free_chunk(struct col_assembly *a, Cipulse__V1__ReportChunk *c)
{
	if (c)
		cipulse__v1__report_chunk__free_unpacked(c, &a->alloc);
}

void col_assembly_release(struct col_assembly *a)
{
	free_chunk(a, a->header);
	for (size_t i = 0; i < a->njobs; i++)
		free_chunk(a, a->jobs[i]);
	free(a->jobs);
	for (size_t i = 0; i < a->ntests; i++)
		free_chunk(a, a->tests[i]);
	free(a->tests);
	free(a->test_ptrs);
	for (size_t i = 0; i < a->ntails; i++)
		cm_buf_release(&a->tails[i].text);
	free(a->tails);
	free(a->index);
	free(a->job_ptrs);
	free(a->logs);
	col_assembly_init(a, a->max_bytes);
}

const char *col_assembly_error(const struct col_assembly *a)
{
	return a->error;
}

size_t col_assembly_mem(const struct col_assembly *a)
{
	return a->mem_used + a->text_cap + a->jobs_cap * sizeof(*a->jobs) +
	       a->tests_cap * sizeof(*a->tests) +
	       (a->test_ptrs ? a->ntests * sizeof(*a->test_ptrs) : 0) +
	       a->tails_cap * sizeof(*a->tails) + a->index_cap * sizeof(*a->index) +
	       (a->job_ptrs ? a->njobs * sizeof(*a->job_ptrs) : 0) +
	       (a->logs ? a->ntails * sizeof(*a->logs) : 0);
}

const Cipulse__V1__ReportHeader *col_assembly_header(const struct col_assembly *a)
{
	return a->header ? a->header->header : NULL;
}

static int fail(struct col_assembly *a, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct col_assembly *a, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->error, sizeof(a->error), fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- strings on the wire ------------------------------------------------------------------ */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return CM_EINVAL;
		v |= (uint64_t)(**p & 0x7f) << shift;
		if (!(*(*p)++ & 0x80)) {
			*out = v;
			return CM_OK;
		}
	}
	return CM_EINVAL;
}

/*
 * Walks a message on the wire with its descriptor and checks every string field, at any depth,
 * for UTF-8 validity without NULs. It has to work on the wire bytes: once decoded, a string
 * with a NUL is indistinguishable from a shorter one. Returns CM_EINVAL for a malformed message
 * or bad text (then *bad_text is set and path holds the field's name).
 */
static int check_strings(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
			 char *path, size_t pathlen, size_t pathsize, int depth, int *bad_text)
{
	const uint8_t *end = p + n;

	if (depth > 8)
		return CM_EINVAL;
	while (p < end) {
		const ProtobufCFieldDescriptor *f;
		uint64_t tag, len;
		size_t plen;
		int rc;

		if (read_varint(&p, end, &tag))
			return CM_EINVAL;
		switch (tag & 7) {
		case 0:
			if (read_varint(&p, end, &len))
				return CM_EINVAL;
			continue;
		case 1:
			if ((size_t)(end - p) < 8)
				return CM_EINVAL;
			p += 8;
			continue;
		case 5:
			if ((size_t)(end - p) < 4)
				return CM_EINVAL;
			p += 4;
			continue;
		case 2:
			break;
		default:
			return CM_EINVAL; /* groups: not in this schema */
		}
		if (read_varint(&p, end, &len) || len > (uint64_t)(end - p))
			return CM_EINVAL;
		f = tag >> 3 <= UINT32_MAX
			? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
			: NULL;
		if (f &&
		    (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)) {
			plen = (size_t)snprintf(path + pathlen, pathsize - pathlen, "%s%s",
						pathlen ? "." : "", f->name);
			if (plen >= pathsize - pathlen)
				plen = pathsize - pathlen - 1;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (!cm_text_valid_utf8((const char *)p, (size_t)len)) {
					*bad_text = 1;
					return CM_EINVAL;
				}
			} else {
				rc = check_strings(f->descriptor, p, (size_t)len, path,
						   pathlen + plen, pathsize, depth + 1, bad_text);
				if (rc)
					return rc;
			}
			path[pathlen] = '\0';
		}
		p += len;
	}
	return CM_OK;
}

/* ---- log tails ---------------------------------------------------------------------------- */

static size_t tail_hash(int64_t job_id, int32_t step)
{
	uint64_t h = (uint64_t)job_id * 0x9E3779B97F4A7C15ull;

	h ^= (uint64_t)(uint32_t)step * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 29));
}

static int index_grow(struct col_assembly *a)
{
	size_t cap = a->index_cap ? a->index_cap * 2 : 64;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return CM_ENOMEM;
	for (size_t i = 0; i < a->ntails; i++) {
		size_t h = tail_hash(a->tails[i].job_id, a->tails[i].step_number) & (cap - 1);

		while (idx[h])
			h = (h + 1) & (cap - 1);
		idx[h] = (uint32_t)i + 1;
	}
	free(a->index);
	a->index = idx;
	a->index_cap = cap;
	return CM_OK;
}

/* Finds the tail of (job_id, step), adding an empty one if it is new. */
static int tail_get(struct col_assembly *a, int64_t job_id, int32_t step, struct col_asm_tail **out)
{
	struct col_asm_tail *t;
	size_t h;
	int rc;

	if (a->index_cap) {
		h = tail_hash(job_id, step) & (a->index_cap - 1);
		for (; a->index[h]; h = (h + 1) & (a->index_cap - 1)) {
			t = &a->tails[a->index[h] - 1];
			if (t->job_id == job_id && t->step_number == step) {
				*out = t;
				return CM_OK;
			}
		}
	}
	if (a->ntails >= COL_ASM_MAX_TAILS)
		return fail(a, CM_ETOOBIG, "too many log tails (at most %d)", COL_ASM_MAX_TAILS);
	if ((a->ntails + 1) * 2 > a->index_cap) {
		rc = index_grow(a);
		if (rc)
			return rc;
	}
	if (a->ntails == a->tails_cap) {
		size_t cap = a->tails_cap ? a->tails_cap * 2 : 16;
		struct col_asm_tail *n = realloc(a->tails, cap * sizeof(*n));

		if (!n)
			return CM_ENOMEM;
		a->tails = n;
		a->tails_cap = cap;
	}
	t = &a->tails[a->ntails];
	memset(t, 0, sizeof(*t));
	t->job_id = job_id;
	t->step_number = step;
	/* The wire bytes of all messages are bounded already; this only guards the arithmetic. */
	cm_buf_init(&t->text, a->max_bytes);
	h = tail_hash(job_id, step) & (a->index_cap - 1);
	while (a->index[h])
		h = (h + 1) & (a->index_cap - 1);
	a->index[h] = (uint32_t)a->ntails + 1;
	a->ntails++;
	*out = t;
	return CM_OK;
}

static int add_log(struct col_assembly *a, const Cipulse__V1__LogChunk *l)
{
	struct col_asm_tail *t = NULL;
	size_t old_cap;
	int rc = tail_get(a, l->job_id, l->step_number, &t);

	if (rc)
		return rc == CM_ENOMEM ? fail(a, rc, "out of memory") : rc;
	if (t->done)
		return fail(a, CM_EINVAL,
			    "log.seq: chunk %" PRId32 " after the last one (job %" PRId64
			    ", step %" PRId32 ")",
			    l->seq, l->job_id, l->step_number);
	if (l->seq != t->next_seq)
		return fail(a, CM_EINVAL,
			    "log.seq: expected %" PRId32 ", got %" PRId32 " (job %" PRId64
			    ", step %" PRId32 ")",
			    t->next_seq, l->seq, l->job_id, l->step_number);
	old_cap = t->text.cap;
	rc = cm_buf_adds(&t->text, l->text);
	if (rc)
		return fail(a, rc, "log text too large");
	/* A buffer only grows (a failed append leaves it as it was). */
	a->text_cap += t->text.cap - old_cap;
	t->next_seq++;
	if (l->last) {
		t->done = 1;
		t->original_size = l->original_size;
		t->truncated = l->truncated;
		t->has_exit_code = l->has_exit_code;
		t->exit_code = l->exit_code;
	}
	return CM_OK;
}

/* ---- messages ----------------------------------------------------------------------------- */

static int add_job(struct col_assembly *a, Cipulse__V1__ReportChunk *c)
{
	const Cipulse__V1__Job *j = c->job;

	if (a->njobs >= COL_ASM_MAX_JOBS)
		return fail(a, CM_ETOOBIG, "too many jobs (at most %d)", COL_ASM_MAX_JOBS);
	if (j->n_steps > COL_ASM_MAX_STEPS)
		return fail(a, CM_ETOOBIG, "job.steps: too many (at most %d)", COL_ASM_MAX_STEPS);
	if (j->n_labels > COL_ASM_MAX_LABELS)
		return fail(a, CM_ETOOBIG, "job.labels: too many (at most %d)", COL_ASM_MAX_LABELS);
	if (a->njobs == a->jobs_cap) {
		size_t cap = a->jobs_cap ? a->jobs_cap * 2 : 8;
		Cipulse__V1__ReportChunk **n = realloc(a->jobs, cap * sizeof(*n));

		if (!n)
			return fail(a, CM_ENOMEM, "out of memory");
		a->jobs = n;
		a->jobs_cap = cap;
	}
	a->jobs[a->njobs++] = c;
	return CM_OK;
}

static int has_job(const struct col_assembly *a, int64_t job_id)
{
	for (size_t i = 0; i < a->njobs; i++) {
		if (a->jobs[i]->job->id == job_id)
			return 1;
	}
	return 0;
}

static int check_field(struct col_assembly *a, size_t i, const char *name, const char *v,
		       size_t max)
{
	if (v && strlen(v) > max)
		return fail(a, CM_EINVAL, "tests.cases[%zu].%s: longer than %zu bytes", i, name,
			    max);
	return CM_OK;
}

static int check_case(struct col_assembly *a, size_t i, const Cipulse__V1__TestCase *t)
{
	int rc;

	if (!col_store_test_result(t->result))
		return fail(a, CM_EINVAL, "tests.cases[%zu].result: unknown value %d", i,
			    (int)t->result);
	if (t->duration_us < 0 || t->duration_us > COL_ASM_MAX_TEST_US)
		return fail(a, CM_EINVAL, "tests.cases[%zu].duration_us: out of range", i);
	if (t->retries < 0 || t->retries > COL_ASM_MAX_RETRIES)
		return fail(a, CM_EINVAL, "tests.cases[%zu].retries: out of range (0 to %d)", i,
			    COL_ASM_MAX_RETRIES);
	rc = check_field(a, i, "suite", t->suite, COL_ASM_MAX_TEST_FIELD);
	if (!rc)
		rc = check_field(a, i, "class_name", t->class_name, COL_ASM_MAX_TEST_FIELD);
	if (!rc)
		rc = check_field(a, i, "name", t->name, COL_ASM_MAX_TEST_FIELD);
	if (!rc)
		rc = check_field(a, i, "file", t->file, COL_ASM_MAX_TEST_FIELD);
	if (!rc)
		rc = check_field(a, i, "message", t->message, COL_ASM_MAX_TEST_MSG);
	return rc;
}

/* A batch of test cases of a job received before it (report.proto). */
static int add_tests(struct col_assembly *a, Cipulse__V1__ReportChunk *c)
{
	const Cipulse__V1__TestBatch *b = c->tests;
	int rc;

	if (!has_job(a, b->job_id))
		return fail(a, CM_EINVAL, "tests.job_id: %" PRId64 " is not a job of the report",
			    b->job_id);
	if (b->n_cases > COL_ASM_MAX_BATCH_CASES)
		return fail(a, CM_ETOOBIG, "tests.cases: too many in one batch (at most %d)",
			    COL_ASM_MAX_BATCH_CASES);
	if (b->n_cases > COL_ASM_MAX_TEST_CASES - a->ncases)
		return fail(a, CM_ETOOBIG, "tests.cases: too many in one report (at most %d)",
			    COL_ASM_MAX_TEST_CASES);
	for (size_t i = 0; i < b->n_cases; i++) {
		rc = check_case(a, i, b->cases[i]);
		if (rc)
			return rc;
	}
	if (a->ntests == a->tests_cap) {
		size_t cap = a->tests_cap ? a->tests_cap * 2 : 8;
		Cipulse__V1__ReportChunk **n = realloc(a->tests, cap * sizeof(*n));

		if (!n)
			return fail(a, CM_ENOMEM, "out of memory");
		a->tests = n;
		a->tests_cap = cap;
	}
	a->tests[a->ntests++] = c;
	a->ncases += b->n_cases;
	return CM_OK;
}

int col_assembly_add(struct col_assembly *a, const uint8_t *data, size_t len)
{
	Cipulse__V1__ReportChunk *c;
	char path[128] = "";
	int rc, bad_text = 0;

	if (len > a->max_bytes || a->bytes > a->max_bytes - len)
		return fail(a, CM_ETOOBIG, "report larger than %zu bytes", a->max_bytes);
	a->bytes += len;
	a->messages++;
	c = cipulse__v1__report_chunk__unpack(&a->alloc, len, data);
	if (!c) {
		if (a->over_budget)
			return fail(a, CM_ETOOBIG, "report decodes too large");
		return fail(a, CM_EINVAL, "malformed message");
	}
	rc = check_strings(&cipulse__v1__report_chunk__descriptor, data, len, path, 0, sizeof(path),
			   0, &bad_text);
	if (rc) {
		free_chunk(a, c);
		if (bad_text)
			return fail(a, CM_EINVAL, "invalid UTF-8 or NUL byte in %s", path);
		return fail(a, CM_EINVAL, "malformed message");
	}
	if (c->chunk_case != CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER && !a->header) {
		free_chunk(a, c);
		return fail(a, CM_EINVAL, "header: the first message must be the header");
	}
	switch (c->chunk_case) {
	case CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER:
		if (a->header) {
			free_chunk(a, c);
			return fail(a, CM_EINVAL, "header: only one header per report");
		}
		a->header = c;
		return CM_OK;
	case CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB:
		rc = add_job(a, c);
		if (rc)
			free_chunk(a, c);
		return rc;
	case CIPULSE__V1__REPORT_CHUNK__CHUNK_LOG:
		rc = add_log(a, c->log);
		free_chunk(a, c);
		return rc;
	case CIPULSE__V1__REPORT_CHUNK__CHUNK_TESTS:
		rc = add_tests(a, c);
		if (rc)
			free_chunk(a, c);
		return rc;
	default:
		/*
		 * No kind this collector knows, but fields it does not know: a newer agent's new
		 * kind of message, which an older collector skips (forward compatibility).
		 */
		rc = c->base.n_unknown_fields ? CM_OK : CM_EINVAL;
		free_chunk(a, c);
		if (rc)
			return fail(a, rc, "chunk: empty message");
		a->skipped++;
		return CM_OK;
	}
}

int col_assembly_finish(struct col_assembly *a, const char *source, const struct col_report **out)
{
	char field[64];
	int rc;

	*out = NULL;
	if (!a->header)
		return fail(a, CM_EINVAL, "header: a report needs a header");
	free(a->job_ptrs);
	free(a->logs);
	free(a->test_ptrs);
	a->job_ptrs = calloc(a->njobs ? a->njobs : 1, sizeof(*a->job_ptrs));
	a->logs = calloc(a->ntails ? a->ntails : 1, sizeof(*a->logs));
	a->test_ptrs = calloc(a->ntests ? a->ntests : 1, sizeof(*a->test_ptrs));
	if (!a->job_ptrs || !a->logs || !a->test_ptrs)
		return fail(a, CM_ENOMEM, "out of memory");
	for (size_t i = 0; i < a->ntests; i++)
		a->test_ptrs[i] = a->tests[i]->tests;
	for (size_t i = 0; i < a->njobs; i++)
		a->job_ptrs[i] = a->jobs[i]->job;
	for (size_t i = 0; i < a->ntails; i++) {
		const struct col_asm_tail *t = &a->tails[i];
		struct col_log_tail *l = &a->logs[i];

		l->job_id = t->job_id;
		l->step_number = t->step_number;
		/* cm_buf_str: "" for a tail whose chunks were all empty. */
		l->text = (char *)cm_buf_str(&t->text);
		l->len = t->text.len;
		l->original_size = t->original_size;
		l->truncated = t->truncated;
		l->has_exit_code = t->has_exit_code;
		l->exit_code = t->exit_code;
	}
	a->report.source = source;
	a->report.header = a->header->header;
	a->report.jobs = a->job_ptrs;
	a->report.njobs = a->njobs;
	a->report.logs = a->logs;
	a->report.nlogs = a->ntails;
	a->report.tests = a->test_ptrs;
	a->report.ntests = a->ntests;
	rc = col_store_validate(&a->report, field, sizeof(field));
	if (rc)
		return fail(a, CM_EINVAL, "%s: missing or invalid", field);
	*out = &a->report;
	return CM_OK;
}

int col_assembly_allowed(const struct col_cred *cred, const Cipulse__V1__ReportHeader *h)
{
	const Cipulse__V1__Repository *r = h ? h->repository : NULL;

	/* A header without a repository is invalid, which the assembly's validation says. */
	if (r && col_claim_decide(cred, r->id, r->full_name, NULL, NULL) == COL_CLAIM_DENY)
		return CM_EDENIED;
	return CM_OK;
}
