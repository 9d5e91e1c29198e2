#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "logtail.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"

/*
 * Every string in the messages is its own malloc'ed copy (empty ones too), so that one
 * protobuf_c_message_free_unpacked(msg, NULL) frees a whole message tree.
 */
static int set_str(char **slot, const char *s)
{
	char *copy = strdup(s ? s : "");

	if (!copy)
		return CM_ENOMEM;
	*slot = copy;
	return CM_OK;
}

static void msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}

/* The workflow file's path of GITHUB_WORKFLOW_REF (cm_workflow_path), copied into *slot. */
static int workflow_path(const char *ref, const char *repo, char **slot)
{
	size_t len;
	const char *p = cm_workflow_path(ref, repo, &len);

	*slot = strndup(p, len);
	return *slot ? CM_OK : CM_ENOMEM;
}

int ag_report_init(struct ag_report *r, const struct ag_config *cfg, int mode)
{
	Cipulse__V1__ReportHeader *h;
	char uuid[37], url[1024];
	int rc;

	memset(r, 0, sizeof(*r));
	r->max_tail_bytes = (size_t)cfg->log_report_bytes;
	h = calloc(1, sizeof(*h));
	if (!h)
		return CM_ENOMEM;
	cipulse__v1__report_header__init(h);
	r->header = h;
	h->repository = calloc(1, sizeof(*h->repository));
	h->workflow = calloc(1, sizeof(*h->workflow));
	h->run = calloc(1, sizeof(*h->run));
	/* Strings default to the shared empty string, which must not be freed: set them all. */
	h->report_id = h->agent_version = NULL;
	if (!h->repository || !h->workflow || !h->run)
		return CM_ENOMEM;
	cipulse__v1__repository__init(h->repository);
	cipulse__v1__workflow__init(h->workflow);
	cipulse__v1__run__init(h->run);
	rc = cm_random_uuid(uuid);
	if (rc)
		return rc;
	snprintf(url, sizeof(url), "%s/%s/actions/runs/%ld/attempts/%ld", cfg->github_server_url,
		 cfg->github_repository, cfg->github_run_id, cfg->github_run_attempt);
	h->mode = (Cipulse__V1__AgentMode)mode;
	h->sent_at = cm_time_now_ms();
	h->repository->id = cfg->github_repository_id;
	h->workflow->id = 0;
	h->run->id = cfg->github_run_id;
	h->run->attempt = (int32_t)cfg->github_run_attempt;
	h->run->number = cfg->github_run_number;
	if ((rc = set_str(&h->report_id, uuid)) || (rc = set_str(&h->agent_version, AG_VERSION)) ||
	    (rc = set_str(&h->repository->full_name, cfg->github_repository)) ||
	    (rc = set_str(&h->repository->server_url, cfg->github_server_url)) ||
	    /* ag_report_add_event fills these when the event payload tells them. */
	    (rc = set_str(&h->repository->default_branch, "")) ||
	    (rc = set_str(&h->run->head_message, "")) ||
	    (rc = set_str(&h->workflow->name, cfg->github_workflow)) ||
	    (rc = workflow_path(cfg->github_workflow_ref, cfg->github_repository,
				&h->workflow->path)) ||
	    (rc = set_str(&h->run->event, cfg->github_event_name)) ||
	    (rc = set_str(&h->run->head_branch, cfg->github_ref_name)) ||
	    (rc = set_str(&h->run->head_sha, cfg->github_sha)) ||
	    (rc = set_str(&h->run->actor, cfg->github_actor)) ||
	    (rc = set_str(&h->run->html_url, cfg->github_run_id ? url : "")) ||
	    /* The run's status is not known from inside a job: leave it to webhooks/the poller. */
	    (rc = set_str(&h->run->status, "")) || (rc = set_str(&h->run->conclusion, "")))
		return rc;
	return CM_OK;
}

/* The first line of msg, sanitized, masked and cut to AG_HEAD_MESSAGE_MAX bytes, into *slot. */
static int head_message(const char *msg, const struct ag_secrets *secrets, char **slot)
{
	const char *nl = strpbrk(msg, "\r\n");
	size_t n = nl ? (size_t)(nl - msg) : strlen(msg);
	/* Masking first: a secret cut in two by the limit would show its first half. */
	struct cm_buf out = CM_BUF_INIT(3 * n + 16);
	int truncated, rc;

	rc = ag_tail_text(msg, n, 1, 3 * n + 16, secrets, &out, &truncated);
	if (rc == CM_OK) {
		size_t keep =
		    ag_utf8_prefix(out.data ? out.data : "", out.len, AG_HEAD_MESSAGE_MAX);

		*slot = strndup(out.data ? out.data : "", keep);
		rc = *slot ? CM_OK : CM_ENOMEM;
	}
	cm_buf_release(&out);
	return rc;
}

int ag_report_add_event(struct ag_report *r, const struct ag_config *cfg,
			const struct ag_secrets *secrets)
{
	const char *path = cfg->github_event_path;
	const char *branch, *msg;
	json_error_t err;
	json_t *ev;
	FILE *f;
	long size = -1;
	int rc = CM_OK;

	if (!path || !*path)
		return CM_OK;
	f = fopen(path, "rb");
	if (f && fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	if (!f || size < 0 || size > AG_EVENT_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
		cm_log_warn("report", "event payload not read: %s",
			    !f ? "cannot open GITHUB_EVENT_PATH" : "too large or unreadable");
		if (f)
			fclose(f);
		return CM_OK;
	}
	ev = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
	fclose(f);
	if (!ev) {
		cm_log_warn("report", "event payload not read: invalid JSON at line %d", err.line);
		return CM_OK;
	}
	branch =
	    json_string_value(json_object_get(json_object_get(ev, "repository"), "default_branch"));
	msg = json_string_value(json_object_get(json_object_get(ev, "head_commit"), "message"));
	if (branch && *branch && strlen(branch) <= AG_BRANCH_MAX &&
	    cm_text_valid_utf8(branch, strlen(branch))) {
		free(r->header->repository->default_branch);
		r->header->repository->default_branch = NULL;
		rc = set_str(&r->header->repository->default_branch, branch);
	}
	if (rc == CM_OK && msg) {
		free(r->header->run->head_message);
		r->header->run->head_message = NULL;
		rc = head_message(msg, secrets, &r->header->run->head_message);
	}
	json_decref(ev);
	return rc;
}

void ag_report_release(struct ag_report *r)
{
	msg_free(r->header);
	for (size_t i = 0; i < r->njobs; i++)
		msg_free(r->jobs[i]);
	free(r->jobs);
	for (size_t i = 0; i < r->ntails; i++)
		free(r->tails[i].text);
	free(r->tails);
	ag_tests_release(&r->tests);
	memset(r, 0, sizeof(*r));
}

int ag_report_add_job(struct ag_report *r, Cipulse__V1__Job *job)
{
	Cipulse__V1__Job **v = realloc(r->jobs, (r->njobs + 1) * sizeof(*v));

	if (!v) {
		msg_free(job);
		return CM_ENOMEM;
	}
	v[r->njobs++] = job;
	r->jobs = v;
	return CM_OK;
}

Cipulse__V1__Job *ag_report_job(const struct ag_report *r, int64_t id)
{
	for (size_t i = 0; i < r->njobs; i++) {
		if (r->jobs[i]->id == id)
			return r->jobs[i];
	}
	return NULL;
}

int ag_report_add_tail(struct ag_report *r, int64_t job_id, int32_t step, const char *text,
		       size_t len, int64_t original_size, int truncated, int has_exit_code,
		       int32_t exit_code)
{
	size_t room = r->max_tail_bytes > r->tail_bytes ? r->max_tail_bytes - r->tail_bytes : 0;
	struct ag_rtail *t = NULL, *v;
	char *p;

	if (len > room) {
		/* Keep the end: the last lines say most about how a step ended. */
		size_t skip = len - room;

		while (skip < len && ((unsigned char)text[skip] & 0xC0) == 0x80)
			skip++;
		text += skip;
		len -= skip;
		truncated = 1;
	}
	for (size_t i = 0; i < r->ntails; i++) {
		if (r->tails[i].job_id == job_id && r->tails[i].step == step)
			t = &r->tails[i];
	}
	if (len == 0 && room == 0 && original_size > 0)
		return CM_ETOOBIG;
	if (!t) {
		v = realloc(r->tails, (r->ntails + 1) * sizeof(*v));
		if (!v)
			return CM_ENOMEM;
		r->tails = v;
		t = &v[r->ntails];
		memset(t, 0, sizeof(*t));
		t->job_id = job_id;
		t->step = step;
		t->text = strdup("");
		if (!t->text)
			return CM_ENOMEM;
		r->ntails++;
	}
	p = realloc(t->text, t->len + len + 1);
	if (!p)
		return CM_ENOMEM;
	memcpy(p + t->len, text, len);
	p[t->len + len] = '\0';
	t->text = p;
	t->len += len;
	r->tail_bytes += len;
	t->original_size += original_size;
	t->truncated |= truncated;
	if (has_exit_code) {
		/* Of several commands in one step, the first that failed explains the step. */
		if (!t->has_exit_code || (t->exit_code == 0 && exit_code != 0))
			t->exit_code = exit_code;
		t->has_exit_code = 1;
	}
	return CM_OK;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static int64_t jtime(const json_t *o, const char *key)
{
	int64_t ms = 0;
	const char *s = json_string_value(json_object_get(o, key));

	if (s && cm_time_parse_iso8601(s, &ms))
		ms = 0;
	return ms;
}

static int step_from_json(const json_t *j, Cipulse__V1__Step **out)
{
	Cipulse__V1__Step *s = calloc(1, sizeof(*s));
	int rc;

	*out = s;
	if (!s)
		return CM_ENOMEM;
	cipulse__v1__step__init(s);
	s->name = s->status = s->conclusion = NULL;
	s->number = (int32_t)json_integer_value(json_object_get(j, "number"));
	s->started_at = jtime(j, "started_at");
	s->completed_at = jtime(j, "completed_at");
	if ((rc = set_str(&s->name, jstr(j, "name"))) ||
	    (rc = set_str(&s->status, jstr(j, "status"))) ||
	    (rc = set_str(&s->conclusion, jstr(j, "conclusion"))))
		return rc;
	return CM_OK;
}

static Cipulse__V1__Job *job_new(void)
{
	Cipulse__V1__Job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	cipulse__v1__job__init(job);
	job->name = job->status = job->conclusion = job->runner_name = NULL;
	job->html_url = job->runner_os = job->runner_arch = NULL;
	return job;
}

int ag_job_from_json(const json_t *j, Cipulse__V1__Job **out)
{
	const json_t *labels = json_object_get(j, "labels"), *steps = json_object_get(j, "steps");
	Cipulse__V1__Job *job;
	int rc;

	*out = NULL;
	if (!json_is_integer(json_object_get(j, "id")))
		return CM_EINVAL;
	job = job_new();
	if (!job)
		return CM_ENOMEM;
	job->id = json_integer_value(json_object_get(j, "id"));
	job->created_at = jtime(j, "created_at");
	job->started_at = jtime(j, "started_at");
	job->completed_at = jtime(j, "completed_at");
	if ((rc = set_str(&job->name, jstr(j, "name"))) ||
	    (rc = set_str(&job->status, jstr(j, "status"))) ||
	    (rc = set_str(&job->conclusion, jstr(j, "conclusion"))) ||
	    (rc = set_str(&job->runner_name, jstr(j, "runner_name"))) ||
	    (rc = set_str(&job->html_url, jstr(j, "html_url"))) ||
	    (rc = set_str(&job->runner_os, "")) || (rc = set_str(&job->runner_arch, "")))
		goto fail;
	if (json_is_array(labels) && json_array_size(labels) > 0) {
		size_t n = json_array_size(labels);

		job->labels = calloc(n, sizeof(*job->labels));
		if (!job->labels) {
			rc = CM_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			const char *l = json_string_value(json_array_get(labels, i));

			if (!l)
				continue;
			rc = set_str(&job->labels[job->n_labels], l);
			if (rc)
				goto fail;
			job->n_labels++;
		}
	}
	if (json_is_array(steps) && json_array_size(steps) > 0) {
		size_t n = json_array_size(steps);

		job->steps = calloc(n, sizeof(*job->steps));
		if (!job->steps) {
			rc = CM_ENOMEM;
			goto fail;
		}
		for (size_t i = 0; i < n; i++) {
			rc = step_from_json(json_array_get(steps, i), &job->steps[job->n_steps]);
			if (job->steps[job->n_steps])
				job->n_steps++;
			if (rc)
				goto fail;
		}
	}
	*out = job;
	return CM_OK;
fail:
	msg_free(job);
	return rc;
}

int ag_job_from_env(const struct ag_config *cfg, int64_t id, const char *conclusion,
		    Cipulse__V1__Job **out)
{
	Cipulse__V1__Job *job = job_new();
	int rc;

	*out = NULL;
	if (!job)
		return CM_ENOMEM;
	job->id = id;
	job->completed_at = cm_time_now_ms();
	if ((rc = set_str(&job->name, cfg->github_job)) ||
	    (rc = set_str(&job->status, conclusion && *conclusion ? "completed" : "")) ||
	    (rc = set_str(&job->conclusion, conclusion)) ||
	    (rc = set_str(&job->runner_name, cfg->runner_name)) ||
	    (rc = set_str(&job->html_url, "")) || (rc = set_str(&job->runner_os, cfg->runner_os)) ||
	    (rc = set_str(&job->runner_arch, cfg->runner_arch))) {
		msg_free(job);
		return rc;
	}
	if (!conclusion || !*conclusion)
		job->completed_at = 0;
	*out = job;
	return CM_OK;
}

const char *ag_job_conclusion_from_steps(const Cipulse__V1__Job *job)
{
	const char *c = "success";

	for (size_t i = 0; i < job->n_steps; i++) {
		if (strcmp(job->steps[i]->conclusion, "failure") == 0)
			return "failure";
		if (strcmp(job->steps[i]->conclusion, "cancelled") == 0)
			c = "cancelled";
	}
	return c;
}

int32_t ag_job_step_at(const Cipulse__V1__Job *job, int64_t start, int64_t end)
{
	int32_t best = 0;
	int64_t best_miss = INT64_MAX, best_start = -1;

	for (size_t i = 0; i < job->n_steps; i++) {
		const Cipulse__V1__Step *s = job->steps[i];
		int64_t s0 = s->started_at, s1 = s->completed_at ? s->completed_at : INT64_MAX,
			miss;

		/*
		 * Step times have one-second resolution: allow the interval to stick out by up to a
		 * second on either side, and prefer the step it sticks out of least, then the one
		 * that started last (the tightest).
		 */
		if (!s0 || start + 1000 <= s0 || (s1 != INT64_MAX && end >= s1 + 1000))
			continue;
		miss = (start < s0 ? s0 - start : 0) + (s1 != INT64_MAX && end > s1 ? end - s1 : 0);
		if (miss < best_miss || (miss == best_miss && s0 > best_start)) {
			best = s->number;
			best_miss = miss;
			best_start = s0;
		}
	}
	return best;
}

/* Appends one ReportChunk as a frame. */
static int add_frame(struct cm_buf *out, const Cipulse__V1__ReportChunk *c)
{
	size_t n = cipulse__v1__report_chunk__get_packed_size(c);
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };
	int rc;

	if (n > AG_FRAME_MAX)
		return CM_ETOOBIG;
	rc = cm_buf_add(out, len, 4);
	if (rc == CM_OK)
		rc = cm_buf_reserve(out, n + 1);
	if (rc)
		return rc;
	cipulse__v1__report_chunk__pack(c, (uint8_t *)out->data + out->len);
	out->len += n;
	out->data[out->len] = '\0';
	return CM_OK;
}

static int encode_tail(struct cm_buf *out, const struct ag_rtail *t)
{
	size_t off = 0;
	int32_t seq = 0;

	do {
		Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
		Cipulse__V1__LogChunk l = CIPULSE__V1__LOG_CHUNK__INIT;
		size_t n = ag_utf8_prefix(t->text + off, t->len - off, AG_CHUNK_TEXT_MAX);
		char *piece = strndup(t->text + off, n);
		int rc;

		if (!piece)
			return CM_ENOMEM;
		off += n;
		l.job_id = t->job_id;
		l.step_number = t->step;
		l.seq = seq++;
		l.text = piece;
		l.last = off >= t->len;
		if (l.last) {
			l.original_size = t->original_size;
			l.truncated = t->truncated;
			l.exit_code = t->exit_code;
			l.has_exit_code = t->has_exit_code;
		}
		c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_LOG;
		c.log = &l;
		rc = add_frame(out, &c);
		free(piece);
		if (rc)
			return rc;
	} while (off < t->len);
	return CM_OK;
}

/* The job's test cases as TestBatch frames; at least one when the set was truncated. */
static int encode_tests(struct cm_buf *out, const struct ag_tests *t, int64_t job_id)
{
	size_t i = 0;
	int rc;

	if (t->n == 0 && !t->truncated)
		return CM_OK;
	do {
		Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
		Cipulse__V1__TestBatch b = CIPULSE__V1__TEST_BATCH__INIT;
		size_t bytes = 0, k = 0;

		/* A case is at most ~8 KiB (4 fields of 1 KiB and a 4 KiB message). */
		while (i + k < t->n && k < AG_BATCH_CASES && bytes < AG_BATCH_BYTES) {
			bytes += cipulse__v1__test_case__get_packed_size(t->cases[i + k]) + 8;
			k++;
		}
		b.job_id = job_id;
		b.cases = t->cases + i;
		b.n_cases = k;
		i += k;
		b.truncated = i >= t->n && t->truncated;
		c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_TESTS;
		c.tests = &b;
		rc = add_frame(out, &c);
	} while (rc == CM_OK && i < t->n);
	return rc;
}

int ag_report_encode(const struct ag_report *r, struct cm_buf *out)
{
	Cipulse__V1__ReportChunk c = CIPULSE__V1__REPORT_CHUNK__INIT;
	int rc;

	c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER;
	c.header = r->header;
	rc = add_frame(out, &c);
	/* Each job goes before the log chunks that refer to it. */
	for (size_t i = 0; rc == CM_OK && i < r->njobs; i++) {
		c.chunk_case = CIPULSE__V1__REPORT_CHUNK__CHUNK_JOB;
		c.job = r->jobs[i];
		rc = add_frame(out, &c);
		for (size_t k = 0; rc == CM_OK && k < r->ntails; k++) {
			if (r->tails[k].job_id == r->jobs[i]->id)
				rc = encode_tail(out, &r->tails[k]);
		}
		if (rc == CM_OK && r->tests_job && r->tests_job == r->jobs[i]->id)
			rc = encode_tests(out, &r->tests, r->tests_job);
	}
	return rc;
}

int ag_frames_next(const char *data, size_t size, size_t *off, const char **msg, size_t *len)
{
	const unsigned char *p = (const unsigned char *)data + *off;
	size_t n;

	if (*off == size)
		return 0;
	if (size - *off < 4)
		return CM_EPROTO;
	n = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
	if (n > AG_FRAME_MAX || n > size - *off - 4)
		return CM_EPROTO;
	*msg = data + *off + 4;
	*len = n;
	*off += 4 + n;
	return 1;
}

int ag_frames_report_id(const char *data, size_t size, char *out, size_t outsize, int64_t *repo_id)
{
	Cipulse__V1__ReportChunk *c;
	const char *msg;
	size_t off = 0, len;
	int rc;

	rc = ag_frames_next(data, size, &off, &msg, &len);
	if (rc != 1)
		return CM_EPROTO;
	c = cipulse__v1__report_chunk__unpack(NULL, len, (const uint8_t *)msg);
	if (!c)
		return CM_EPROTO;
	rc = CM_EPROTO;
	if (c->chunk_case == CIPULSE__V1__REPORT_CHUNK__CHUNK_HEADER && c->header->report_id &&
	    *c->header->report_id) {
		snprintf(out, outsize, "%s", c->header->report_id);
		if (repo_id)
			*repo_id = c->header->repository ? c->header->repository->id : 0;
		rc = CM_OK;
	}
	cipulse__v1__report_chunk__free_unpacked(c, NULL);
	/* The rest must be whole frames too, or the file was damaged. */
	while (rc == CM_OK && (rc = ag_frames_next(data, size, &off, &msg, &len)) == 1)
		rc = CM_OK;
	return rc == 0 ? CM_OK : rc;
}

/*
 * A ReportChunk has exactly one field set (the oneof), so a frame's first byte is that field's
 * key: 0x22 is field 4 (tests), length-delimited.
 */
static int is_tests_frame(const char *msg, size_t len)
{
	return len > 0 && (unsigned char)msg[0] == 0x22;
}

int ag_frames_have_tests(const char *data, size_t size)
{
	const char *msg;
	size_t off = 0, len;

	while (ag_frames_next(data, size, &off, &msg, &len) == 1) {
		if (is_tests_frame(msg, len))
			return 1;
	}
	return 0;
}

int ag_frames_without_tests(const char *data, size_t size, struct cm_buf *out)
{
	const char *msg;
	size_t off = 0, start, len;
	int rc;

	for (;;) {
		start = off;
		rc = ag_frames_next(data, size, &off, &msg, &len);
		if (rc <= 0)
			return rc;
		if (is_tests_frame(msg, len))
			continue;
		rc = cm_buf_add(out, data + start, off - start);
		if (rc)
			return rc;
	}
}
