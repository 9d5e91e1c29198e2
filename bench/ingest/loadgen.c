/*
 * Ingest benchmark load generator (scripts/bench-ingest.sh runs it).
 *
 *   loadgen ingest TARGET TOKEN AGENTS REPORTS RUN_BASE
 *       AGENTS threads, each one agent with its own channel, stream REPORTS reports in all to
 *       the collector's /cipulse.v1.Collector/Report (gRPC core) and wait for each ack.
 *   loadgen copy DB_URL CONNS REPORTS RUN_BASE
 *       the same rows loaded with COPY FROM STDIN over CONNS connections (libpq): the ceiling.
 *
 * Report shape from the environment: BENCH_JOBS (5), BENCH_STEPS (40), BENCH_LOG_BYTES (8192).
 * Prints one line: RESULT mode=... reports=... rows=... seconds=... reports_per_s=...
 * rows_per_s=... p50_ms=... p99_ms=... errors=...
 * Rows of a report: its run attempt, the reports row, jobs, steps and log tails.
 */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cipulse/v1/report.pb-c.h"
#include "cm_buf.h"
#include "cm_grpc.h"
#include "cm_time.h"

#define REPO_ID	  4242
#define REPO_NAME "bench/ingest"

static int njobs = 5, nsteps = 40, log_bytes = 8192;
static const char *target, *token, *db_url;
static int nreports;
static int64_t run_base;
static atomic_int next_report;
static atomic_int errors;
static int64_t *latencies_us; /* per report */
static int64_t t_origin;      /* one time base for all reports: same rows in both modes */

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A log tail like a build's: lines of about 80 characters, log_bytes in all. */
static void make_log(char *out, int job, int step)
{
	int n = 0;

	for (int line = 0; n < log_bytes; line++) {
		char buf[128];
		int k = snprintf(buf, sizeof(buf),
				 "2024-05-01T12:00:%02d.%03dZ job %d step %d line %d: cc -O2 -c "
				 "src/module_%d.c -o obj/module_%d.o\n",
				 line % 60, line % 1000, job, step, line, line, line);

		if (k > log_bytes - n)
			k = log_bytes - n;
		memcpy(out + n, buf, (size_t)k);
		n += k;
	}
	out[log_bytes] = '\0';
}

static int64_t job_id_of(int64_t run, int j)
{
	return run * 10 + j + 1;
}

/* ---- ingest ------------------------------------------------------------------------------- */

static grpc_byte_buffer *pack_chunk(Cipulse__V1__ReportChunk *c)
{
	size_t n = cipulse__v1__report_chunk__get_packed_size(c);
	uint8_t *buf = malloc(n);
	grpc_byte_buffer *bb;

	if (!buf)
		abort();
	cipulse__v1__report_chunk__pack(c, buf);
	bb = cm_grpc_bb_new(buf, n);
	free(buf);
	return bb;
}

/* The messages of report number i, as byte buffers (header, jobs, log chunks). */
static size_t build_report(int i, grpc_byte_buffer **out, char *logbuf)
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
	Cipulse__V1__ReportHeader h = CIPULSE__V1__REPORT_HEADER__INIT;
	Cipulse__V1__Repository repo = CIPULSE__V1__REPOSITORY__INIT;
	Cipulse__V1__Workflow wf = CIPULSE__V1__WORKFLOW__INIT;
	Cipulse__V1__Run run = CIPULSE__V1__RUN__INIT;
	Cipulse__V1__Step *steps = calloc((size_t)nsteps, sizeof(*steps));
	Cipulse__V1__Step **sp = calloc((size_t)nsteps, sizeof(*sp));
	char rid[64];
	char *labels[1] = { "ubuntu-latest" };
	int64_t rn = run_base + i, t0 = t_origin;
	size_t n = 0;

	snprintf(rid, sizeof(rid), "bench-%" PRId64, rn);
	repo.id = REPO_ID;
	repo.full_name = REPO_NAME;
	wf.name = "CI";
	wf.path = ".github/workflows/ci.yml";
	run.id = rn;
	run.attempt = 1;
	run.number = rn;
	run.event = "push";
	run.head_branch = "main";
	run.head_sha = "0123456789abcdef0123456789abcdef01234567";
	run.actor = "octocat";
	run.status = "completed";
	run.conclusion = "success";
	run.created_at = t0;
	run.run_started_at = t0 + 1000;
	run.updated_at = t0 + 600000;
	h.report_id = rid;
	h.agent_version = "bench";
	h.mode = CIPULSE__V1__AGENT_MODE__AGENT_MODE_RUN;
	h.sent_at = t0;
	h.repository = &repo;
	h.workflow = &wf;
	h.run = &run;
	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER;
	c.header = &h;
	out[n++] = pack_chunk(&c);
	for (int j = 0; j < njobs; j++) {
		Cipulse__V1__Job job = CIPULSE__V1__JOB__INIT;
		char jname[32];

		snprintf(jname, sizeof(jname), "job %d", j);
		for (int s = 0; s < nsteps; s++) {
			cipulse__v1__step__init(&steps[s]);
			steps[s].number = s + 1;
			steps[s].name = "Run make";
			steps[s].status = "completed";
			steps[s].conclusion = "success";
			steps[s].started_at = t0 + 2000 + s * 1000;
			steps[s].completed_at = t0 + 2900 + s * 1000;
			sp[s] = &steps[s];
		}
		job.id = job_id_of(rn, j);
		job.name = jname;
		job.status = "completed";
		job.conclusion = "success";
		job.created_at = t0;
		job.started_at = t0 + 1500;
		job.completed_at = t0 + 500000;
		job.runner_name = "runner-1";
		job.runner_os = "Linux";
		job.runner_arch = "X64";
		job.n_labels = 1;
		job.labels = labels;
		job.n_steps = (size_t)nsteps;
		job.steps = sp;
		c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB;
		c.job = &job;
		out[n++] = pack_chunk(&c);
	}
	for (int j = 0; j < njobs; j++) {
		for (int s = 0; s < nsteps; s++) {
			Cipulse__V1__LogChunk l = CIPULSE__V1__LOG_CHUNK__INIT;

			make_log(logbuf, j, s + 1);
			l.job_id = job_id_of(rn, j);
			l.step_number = s + 1;
			l.text = logbuf;
			l.last = 1;
			l.original_size = log_bytes * 4;
			l.truncated = 1;
			c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_LOG;
			c.log = &l;
			out[n++] = pack_chunk(&c);
		}
	}
	free(sp);
	free(steps);
	return n;
}

static int wait_tag(grpc_completion_queue *cq, void *tag)
{
	grpc_event ev =
	    grpc_completion_queue_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);

	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static int send_one(grpc_channel *ch, grpc_completion_queue *cq, grpc_byte_buffer **msgs, size_t n)
{
	struct cm_grpc_reply r;
	grpc_metadata md;
	grpc_op ops[4];
	grpc_call *call;
	int ok = 1;

	call =
	    grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
				     grpc_slice_from_static_string("/cipulse.v1.Collector/Report"),
				     NULL, cm_grpc_deadline_ms(60000), NULL);
	if (cm_grpc_bearer(&md, token))
		abort();
	cm_grpc_reply_init(&r);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = 1;
	ops[0].data.send_initial_metadata.metadata = &md;
	cm_grpc_reply_ops(&r, ops + 1);
	/* The receiving side waits in its own batch (tag 2) while messages go out (tag 1). */
	if (grpc_call_start_batch(call, ops, 1, (void *)1, NULL) || !wait_tag(cq, (void *)1))
		ok = 0;
	if (grpc_call_start_batch(call, ops + 1, 3, (void *)2, NULL))
		abort();
	for (size_t i = 0; ok && i < n; i++) {
		grpc_op op;

		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_MESSAGE;
		op.data.send_message.send_message = msgs[i];
		if (grpc_call_start_batch(call, &op, 1, (void *)1, NULL) ||
		    !wait_tag(cq, (void *)1))
			ok = 0;
	}
	if (ok) {
		grpc_op op;

		memset(&op, 0, sizeof(op));
		op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
		if (grpc_call_start_batch(call, &op, 1, (void *)1, NULL) ||
		    !wait_tag(cq, (void *)1))
			ok = 0;
	} else {
		grpc_call_cancel(call, NULL);
	}
	wait_tag(cq, (void *)2);
	if (r.status != GRPC_STATUS_OK || !r.msg) {
		char why[256];

		cm_grpc_reply_describe(&r, why, sizeof(why));
		fprintf(stderr, "loadgen: report failed: %s\n", why);
		ok = 0;
	}
	cm_grpc_reply_release(&r);
	cm_grpc_bearer_release(&md);
	grpc_call_unref(call);
	return ok;
}

static void *agent(void *arg)
{
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	grpc_channel *ch = grpc_channel_create(target, creds, NULL);
	grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
	size_t cap = (size_t)(1 + njobs + njobs * nsteps);
	grpc_byte_buffer **msgs = calloc(cap, sizeof(*msgs));
	char *logbuf = malloc((size_t)log_bytes + 1);
	int i;

	(void)arg;
	grpc_channel_credentials_release(creds);
	while ((i = atomic_fetch_add(&next_report, 1)) < nreports) {
		/* Building the messages is the agent's work, not the collector's: not timed. */
		size_t n = build_report(i, msgs, logbuf);
		int64_t t0 = now_us();

		if (!send_one(ch, cq, msgs, n))
			atomic_fetch_add(&errors, 1);
		latencies_us[i] = now_us() - t0;
		for (size_t k = 0; k < n; k++)
			grpc_byte_buffer_destroy(msgs[k]);
	}
	free(logbuf);
	free(msgs);
	grpc_completion_queue_shutdown(cq);
	while (
	    grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	    GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(cq);
	grpc_channel_destroy(ch);
	return NULL;
}

/* A benchmark's data must be whole: a buffer that cannot grow ends the run. */
static void must(int rc)
{
	if (rc) {
		fprintf(stderr, "loadgen: out of memory building the data\n");
		exit(1);
	}
}

/* ---- COPY --------------------------------------------------------------------------------- */

/* Appends s to b escaped for COPY's text format. */
static void copy_text(struct cm_buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\n':
			must(cm_buf_add(b, "\\n", 2));
			break;
		case '\t':
			must(cm_buf_add(b, "\\t", 2));
			break;
		case '\\':
			must(cm_buf_add(b, "\\\\", 2));
			break;
		default:
			must(cm_buf_addc(b, *s));
		}
	}
}

static void ts(struct cm_buf *b, int64_t ms)
{
	char t[40];

	cm_time_format_iso8601(ms, t, sizeof(t));
	must(cm_buf_adds(b, t));
}

static int copy_rows(PGconn *pg, const char *sql, struct cm_buf *b)
{
	PGresult *res = PQexec(pg, sql);
	int ok = PQresultStatus(res) == PGRES_COPY_IN;

	PQclear(res);
	for (size_t off = 0; ok && off < b->len; off += 65536) {
		size_t n = b->len - off < 65536 ? b->len - off : 65536;

		ok = PQputCopyData(pg, b->data + off, (int)n) == 1;
	}
	if (PQputCopyEnd(pg, ok ? NULL : "failed") != 1)
		ok = 0;
	res = PQgetResult(pg);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "loadgen: COPY failed: %s", PQerrorMessage(pg));
		ok = 0;
	}
	PQclear(res);
	while ((res = PQgetResult(pg)))
		PQclear(res);
	cm_buf_reset(b);
	return ok;
}

/* Loads a batch of reports: one COPY per table, in one transaction (the bulk-load best case). */
static int copy_batch(PGconn *pg, int first, int count, char *logbuf, int64_t wf_id)
{
	struct cm_buf b = CM_BUF_INIT((size_t)1 << 31);
	int64_t t0 = t_origin;
	int ok;

	PQclear(PQexec(pg, "BEGIN"));
	for (int i = first; i < first + count; i++) {
		must(cm_buf_addf(
		    &b,
		    "%d\t%" PRId64 "\t1\t%" PRId64 "\t%" PRId64 "\tCI\tpush\tcompleted\t"
		    "success\tmain\t0123456789abcdef0123456789abcdef01234567\toctocat\t\\N\t",
		    REPO_ID, run_base + i, wf_id, run_base + i));
		ts(&b, t0);
		must(cm_buf_addc(&b, '\t'));
		ts(&b, t0 + 1000);
		must(cm_buf_addc(&b, '\t'));
		ts(&b, t0 + 600000);
		must(cm_buf_addc(&b, '\t'));
		ts(&b, t0 + 600000);
		must(cm_buf_adds(&b, "\t{agent}\n"));
	}
	ok = copy_rows(pg,
		       "COPY workflow_runs (repo_id, run_id, run_attempt, workflow_id, "
		       "run_number, name, event, status, conclusion, head_branch, head_sha, actor, "
		       "html_url, created_at, run_started_at, updated_at, completed_at, sources) "
		       "FROM STDIN",
		       &b);
	for (int i = first; ok && i < first + count; i++)
		must(cm_buf_addf(
		    &b, "bench-%" PRId64 "\t%d\t%" PRId64 "\t1\tbench\tagent\t%d\t%d\t%d\n",
		    run_base + i, REPO_ID, run_base + i, njobs, njobs * nsteps, njobs * nsteps));
	ok = ok && copy_rows(pg,
			     "COPY reports (report_id, repo_id, run_id, run_attempt, "
			     "agent_version, mode, jobs, steps, logs) FROM STDIN",
			     &b);
	for (int i = first; ok && i < first + count; i++) {
		for (int j = 0; j < njobs; j++) {
			must(cm_buf_addf(
			    &b, "%d\t%" PRId64 "\t%" PRId64 "\t1\tjob %d\tcompleted\tsuccess\t",
			    REPO_ID, job_id_of(run_base + i, j), run_base + i, j));
			ts(&b, t0);
			must(cm_buf_addc(&b, '\t'));
			ts(&b, t0 + 1500);
			must(cm_buf_addc(&b, '\t'));
			ts(&b, t0 + 500000);
			must(cm_buf_adds(
			    &b, "\trunner-1\tLinux\tX64\t{ubuntu-latest}\t\\N\t{agent}\n"));
		}
	}
	ok = ok && copy_rows(pg,
			     "COPY jobs (repo_id, job_id, run_id, run_attempt, name, status, "
			     "conclusion, created_at, started_at, completed_at, runner_name, "
			     "runner_os, runner_arch, labels, html_url, sources) FROM STDIN",
			     &b);
	for (int i = first; ok && i < first + count; i++) {
		for (int j = 0; j < njobs; j++) {
			for (int s = 0; s < nsteps; s++) {
				must(cm_buf_addf(
				    &b, "%d\t%" PRId64 "\t%d\tRun make\tcompleted\tsuccess\t",
				    REPO_ID, job_id_of(run_base + i, j), s + 1));
				ts(&b, t0 + 2000 + s * 1000);
				must(cm_buf_addc(&b, '\t'));
				ts(&b, t0 + 2900 + s * 1000);
				must(cm_buf_addc(&b, '\n'));
			}
		}
	}
	ok = ok && copy_rows(pg,
			     "COPY steps (repo_id, job_id, number, name, status, conclusion, "
			     "started_at, completed_at) FROM STDIN",
			     &b);
	for (int i = first; ok && i < first + count; i++) {
		for (int j = 0; j < njobs; j++) {
			for (int s = 0; s < nsteps; s++) {
				make_log(logbuf, j, s + 1);
				must(cm_buf_addf(&b, "%d\t%" PRId64 "\t%d\t", REPO_ID,
						 job_id_of(run_base + i, j), s + 1));
				copy_text(&b, logbuf);
				must(cm_buf_addf(&b, "\t%d\tt\t\\N\tagent\n", log_bytes * 4));
			}
		}
	}
	ok = ok && copy_rows(pg,
			     "COPY logs (repo_id, job_id, step_number, content, original_size, "
			     "truncated, exit_code, source) FROM STDIN",
			     &b);
	cm_buf_release(&b);
	PQclear(PQexec(pg, ok ? "COMMIT" : "ROLLBACK"));
	return ok;
}

static int64_t copy_wf_id;

static void *copier(void *arg)
{
	PGconn *pg = PQconnectdb(db_url);
	char *logbuf = malloc((size_t)log_bytes + 1);
	/* Batches of this many reports: big enough to be bulk, small enough to bound memory. */
	const int batch = 10;
	int i;

	(void)arg;
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "loadgen: %s", PQerrorMessage(pg));
		atomic_fetch_add(&errors, 1);
		PQfinish(pg);
		free(logbuf);
		return NULL;
	}
	while ((i = atomic_fetch_add(&next_report, batch)) < nreports) {
		int n = nreports - i < batch ? nreports - i : batch;
		int64_t t0 = now_us();

		if (!copy_batch(pg, i, n, logbuf, copy_wf_id))
			atomic_fetch_add(&errors, n);
		for (int k = 0; k < n; k++)
			latencies_us[i + k] = now_us() - t0;
	}
	PQfinish(pg);
	free(logbuf);
	return NULL;
}

/* Repository and workflow rows the COPY needs, as the first report would have made them. */
static int copy_prepare(void)
{
	PGconn *pg = PQconnectdb(db_url);
	PGresult *res;
	int ok = PQstatus(pg) == CONNECTION_OK;

	if (ok) {
		PQclear(PQexec(pg, "INSERT INTO repositories (id, full_name) VALUES (4242, "
				   "'bench/ingest') ON CONFLICT DO NOTHING"));
		PQclear(PQexec(pg,
			       "INSERT INTO workflows (repo_id, id, name, path) VALUES (4242, -1, "
			       "'CI', '.github/workflows/ci.yml') ON CONFLICT DO NOTHING"));
		res = PQexec(pg, "SELECT id FROM workflows WHERE repo_id = 4242 LIMIT 1");
		ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
		if (ok)
			copy_wf_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	if (!ok)
		fprintf(stderr, "loadgen: %s", PQerrorMessage(pg));
	PQfinish(pg);
	return ok;
}

/* ---- main --------------------------------------------------------------------------------- */

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int copy, nthreads;
	pthread_t *th;
	int64_t t0, t1;
	double secs, rows, cpu;
	struct rusage ru;

	copy = argc > 1 && !strcmp(argv[1], "copy");
	if (argc != (copy ? 6 : 7) || (strcmp(argv[1], "ingest") && !copy)) {
		fprintf(stderr, "usage: loadgen ingest TARGET TOKEN AGENTS REPORTS RUN_BASE\n"
				"       loadgen copy DB_URL CONNS REPORTS RUN_BASE\n");
		return 2;
	}
	njobs = env_int("BENCH_JOBS", 5);
	nsteps = env_int("BENCH_STEPS", 40);
	log_bytes = env_int("BENCH_LOG_BYTES", 8192);
	t_origin = cm_time_now_ms() - 3600 * 1000;
	if (copy) {
		db_url = argv[2];
		nthreads = atoi(argv[3]);
		nreports = atoi(argv[4]);
		run_base = strtoll(argv[5], NULL, 10);
	} else {
		target = argv[2];
		token = argv[3];
		nthreads = atoi(argv[4]);
		nreports = atoi(argv[5]);
		run_base = strtoll(argv[6], NULL, 10);
	}
	latencies_us = calloc((size_t)nreports, sizeof(*latencies_us));
	th = calloc((size_t)nthreads, sizeof(*th));
	if (!latencies_us || !th || nthreads < 1 || nreports < 1)
		return 2;
	if (copy && !copy_prepare())
		return 1;
	if (!copy)
		grpc_init();
	t0 = now_us();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, copy ? copier : agent, NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_us();
	if (!copy)
		grpc_shutdown();
	secs = (double)(t1 - t0) / 1e6;
	rows = (double)nreports * (2 + njobs + 2.0 * njobs * nsteps);
	/* The generator's own CPU: if it nears seconds x cores, it is the bottleneck. */
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	      ru.ru_stime.tv_usec / 1e6;
	qsort(latencies_us, (size_t)nreports, sizeof(*latencies_us), cmp64);
	printf(
	    "RESULT mode=%s reports=%d rows=%.0f seconds=%.3f reports_per_s=%.1f rows_per_s=%.0f "
	    "p50_ms=%.1f p99_ms=%.1f errors=%d loadgen_cpu_s=%.2f\n",
	    argv[1], nreports, rows, secs, nreports / secs, rows / secs,
	    latencies_us[nreports / 2] / 1000.0, latencies_us[(nreports * 99) / 100] / 1000.0,
	    atomic_load(&errors), cpu);
	free(latencies_us);
	free(th);
	return atomic_load(&errors) ? 1 : 0;
}
