#include "summary.h"

#include <grpc/grpc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send.h"
#include "cipulse/v1/collector.pb-c.h"
#include "cm_err.h"
#include "cm_grpc.h"
#include "cm_log.h"
#include "cm_text.h"
#include "cm_time.h"

#define METHOD	     "/cipulse.v1.Collector/Summary"
#define REPLY_MAX    (1024 * 1024)
#define MARKDOWN_MAX (256 * 1024)

/* ---- Markdown ----------------------------------------------------------------------------- */

/*
 * ASCII characters that Markdown (GFM: tables, emphasis, links, code, strikethrough, math,
 * mentions) or HTML may act on: written as numeric entities, which render as the character.
 */
static int is_special(unsigned char ch)
{
	return ch && strchr("|`<>&*_[]\\#!~$@\"", ch) != NULL;
}

int ag_summary_escape(struct cm_buf *out, const char *s, size_t n)
{
	struct cm_buf clean = CM_BUF_INIT(4 * AG_SUMMARY_TEXT_MAX + 16);
	size_t len;
	int rc, cut = 0;

	if (n > 4 * AG_SUMMARY_TEXT_MAX) {
		n = 4 * AG_SUMMARY_TEXT_MAX;
		cut = 1;
	}
	rc = cm_text_sanitize(&clean, s ? s : "", s ? n : 0);
	if (rc)
		goto out;
	len = clean.len;
	if (len > AG_SUMMARY_TEXT_MAX) {
		len = AG_SUMMARY_TEXT_MAX;
		/* Not inside a UTF-8 sequence. */
		while (len && ((unsigned char)clean.data[len] & 0xC0) == 0x80)
			len--;
		cut = 1;
	}
	for (size_t i = 0; rc == CM_OK && i < len; i++) {
		unsigned char ch = (unsigned char)clean.data[i];

		if (ch < 0x20 || ch == 0x7f)
			rc = cm_buf_addc(out, ' ');
		else if (is_special(ch))
			rc = cm_buf_addf(out, "&#%d;", ch);
		else
			rc = cm_buf_addc(out, (char)ch);
	}
	if (rc == CM_OK && cut)
		rc = cm_buf_adds(out, "\xE2\x80\xA6");
out:
	cm_buf_release(&clean);
	return rc;
}

static int esc(struct cm_buf *out, const char *s)
{
	return ag_summary_escape(out, s, s ? strlen(s) : 0);
}

/* A duration the way people read them: 850ms, 12.3s, 4m 05s, 1h 02m. */
static int add_duration(struct cm_buf *out, int64_t ms)
{
	if (ms < 1000)
		return cm_buf_addf(out, "%" PRId64 "ms", ms < 0 ? 0 : ms);
	if (ms < 60000)
		return cm_buf_addf(out, "%.1fs", (double)ms / 1000.0);
	if (ms < 3600000)
		return cm_buf_addf(out, "%" PRId64 "m %02" PRId64 "s", ms / 60000, ms / 1000 % 60);
	return cm_buf_addf(out, "%" PRId64 "h %02" PRId64 "m", ms / 3600000, ms / 60000 % 60);
}

/*
 * Appends a URL for a Markdown link target: characters that could end the target or open
 * markup are percent-encoded. Only http(s) URLs are written; others append nothing (returns 1).
 */
static int add_url(struct cm_buf *out, const char *url, size_t n)
{
	int rc = CM_OK;

	if (strncmp(url, "https://", 8) && strncmp(url, "http://", 7))
		return 1;
	for (size_t i = 0; rc == CM_OK && i < n; i++) {
		unsigned char ch = (unsigned char)url[i];

		if (ch <= 0x20 || ch >= 0x7f || strchr("()<>\"'`|\\[]{}^", ch))
			rc = cm_buf_addf(out, "%%%02X", ch);
		else
			rc = cm_buf_addc(out, (char)ch);
	}
	return rc;
}

/* The dashboard's root: job_url up to its "/runs/" (summary.proto: job_url is BASE/runs/...). */
static size_t dashboard_base(const char *job_url)
{
	const char *p = strstr(job_url, "/runs/");

	return p ? (size_t)(p - job_url) : 0;
}

static int is_hex(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (!strchr("0123456789abcdefABCDEF", *s))
			return 0;
	}
	return 1;
}

static int steps_table(struct cm_buf *out, const Cipulse__V1__SummaryReply *r)
{
	int rc, slow = 0;

	if (!r->n_steps)
		return cm_buf_adds(out, "No steps were reported for this job.\n\n");
	rc = cm_buf_adds(out, "| # | Step | Duration | p50 | p95 | Runs | |\n"
			      "|---:|---|---:|---:|---:|---:|---|\n");
	for (size_t i = 0; rc == CM_OK && i < r->n_steps; i++) {
		const Cipulse__V1__StepBaseline *s = r->steps[i];
		int is_slow = s->samples >= AG_SUMMARY_MIN_SAMPLES && s->duration_ms > s->p95_ms;

		slow += is_slow;
		rc = cm_buf_addf(out, "| %d | ", (int)s->number);
		if (rc == CM_OK)
			rc = esc(out, s->name);
		if (rc == CM_OK)
			rc = cm_buf_adds(out, " | ");
		/* 0: not known (the step still running, like the agent's own). */
		if (rc == CM_OK)
			rc = s->duration_ms > 0 ? add_duration(out, s->duration_ms)
						: cm_buf_adds(out, "–");
		if (rc == CM_OK && s->samples > 0) {
			rc = cm_buf_adds(out, " | ");
			if (rc == CM_OK)
				rc = add_duration(out, s->p50_ms);
			if (rc == CM_OK)
				rc = cm_buf_adds(out, " | ");
			if (rc == CM_OK)
				rc = add_duration(out, s->p95_ms);
			if (rc == CM_OK)
				rc = cm_buf_addf(out, " | %d | ", (int)s->samples);
		} else if (rc == CM_OK) {
			rc = cm_buf_adds(out, " | – | – | 0 | ");
		}
		if (rc == CM_OK)
			rc = cm_buf_adds(out, is_slow ? "⚠️ slow (over p95) |\n" : " |\n");
	}
	if (rc == CM_OK)
		rc = cm_buf_adds(out, "\np50/p95: the same step of this job on the default branch");
	if (rc == CM_OK && *r->default_branch) {
		rc = cm_buf_adds(out, " (");
		if (rc == CM_OK)
			rc = esc(out, r->default_branch);
		if (rc == CM_OK)
			rc = cm_buf_adds(out, ")");
	}
	if (rc == CM_OK)
		rc = cm_buf_addf(
		    out,
		    ", successful runs of the last 30 days (at most 200). Flagged "
		    "slow: over p95 with at least %d runs to compare. %d slow step%s.\n\n",
		    AG_SUMMARY_MIN_SAMPLES, slow, slow == 1 ? "" : "s");
	return rc;
}

static int failed_tests(struct cm_buf *out, const Cipulse__V1__SummaryReply *r)
{
	int total = r->failed_tests_total > (int)r->n_failed_tests ? r->failed_tests_total
								   : (int)r->n_failed_tests;
	size_t shown = r->n_failed_tests < AG_SUMMARY_TESTS ? r->n_failed_tests : AG_SUMMARY_TESTS;
	int rc;

	if (!total)
		return CM_OK;
	rc = cm_buf_addf(out, "**Failed tests: %d**\n\n", total);
	for (size_t i = 0; rc == CM_OK && i < shown; i++) {
		const Cipulse__V1__FailedTest *t = r->failed_tests[i];

		rc = cm_buf_adds(out, "- ");
		if (rc == CM_OK)
			rc = esc(out, t->name);
		if (rc == CM_OK && *t->class_name) {
			rc = cm_buf_adds(out, " (");
			if (rc == CM_OK)
				rc = esc(out, t->class_name);
			if (rc == CM_OK)
				rc = cm_buf_adds(out, ")");
		}
		if (rc == CM_OK && t->flaky)
			rc = cm_buf_adds(out, " — **flaky**");
		if (rc == CM_OK && t->new_failure)
			rc = cm_buf_adds(out, " — **new failure**");
		if (rc == CM_OK && *t->message) {
			rc = cm_buf_adds(out, ": ");
			if (rc == CM_OK)
				rc = esc(out, t->message);
		}
		if (rc == CM_OK)
			rc = cm_buf_adds(out, "\n");
	}
	if (rc == CM_OK && (size_t)total > shown)
		rc = cm_buf_addf(out, "- and %d more\n", total - (int)shown);
	if (rc == CM_OK)
		rc = cm_buf_adds(out, "\n");
	return rc;
}

static int failure_group(struct cm_buf *out, const Cipulse__V1__SummaryReply *r)
{
	const Cipulse__V1__FailureGroup *g = r->failure_group;
	size_t base = dashboard_base(r->job_url);
	char since[40];
	int rc;

	if (!g)
		return CM_OK;
	cm_time_format_iso8601(g->first_seen, since, sizeof(since));
	since[10] = '\0'; /* the day */
	rc = cm_buf_adds(out, "**Failure group**: ");
	if (rc == CM_OK)
		rc = esc(out, g->title);
	if (rc == CM_OK)
		rc = cm_buf_addf(out, " — seen in %" PRId64 " run%s in %d repositor%s since %s",
				 g->runs, g->runs == 1 ? "" : "s", (int)g->repositories,
				 g->repositories == 1 ? "y" : "ies", since);
	if (rc == CM_OK && base && is_hex(g->fingerprint)) {
		rc = cm_buf_adds(out, " ([all of them](");
		if (rc == CM_OK)
			rc = add_url(out, r->job_url, base) < 0 ? CM_ENOMEM : CM_OK;
		if (rc == CM_OK)
			rc = cm_buf_addf(out, "/failures/%s))", g->fingerprint);
	}
	if (rc == CM_OK)
		rc = cm_buf_adds(out, "\n\n");
	return rc;
}

int ag_summary_markdown(const void *reply, size_t len, const char *job_name, struct cm_buf *out)
{
	Cipulse__V1__SummaryReply *r =
	    cipulse__v1__summary_reply__unpack(NULL, len, (const uint8_t *)(reply ? reply : ""));
	int rc;

	if (!r)
		return CM_EPROTO;
	rc = cm_buf_adds(out, "### cipulse: ");
	if (rc == CM_OK)
		rc = esc(out, job_name && *job_name ? job_name : "this job");
	if (rc == CM_OK)
		rc = cm_buf_adds(out, "\n\n");
	if (rc == CM_OK)
		rc = steps_table(out, r);
	if (rc == CM_OK)
		rc = failed_tests(out, r);
	if (rc == CM_OK)
		rc = failure_group(out, r);
	if (rc == CM_OK && *r->job_url) {
		size_t start = out->len;
		int u;

		rc = cm_buf_adds(out, "[Open this job in cipulse](");
		u = rc == CM_OK ? add_url(out, r->job_url, strlen(r->job_url)) : rc;
		if (u == 1)
			cm_buf_truncate(out, start); /* not an http(s) URL: no link */
		else if (u)
			rc = u;
		else
			rc = cm_buf_adds(out, ")\n\n");
	}
	cipulse__v1__summary_reply__free_unpacked(r, NULL);
	return rc;
}

/* ---- writing -------------------------------------------------------------------------------- */

static void append_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "a");

	if (!f) {
		cm_log_warn("summary", "could not open GITHUB_STEP_SUMMARY");
		return;
	}
	if (fwrite(text, 1, len, f) != len)
		cm_log_warn("summary", "could not write GITHUB_STEP_SUMMARY");
	if (fclose(f))
		cm_log_warn("summary", "could not write GITHUB_STEP_SUMMARY");
}

/* The one line written instead of the summary. */
static void one_line(const char *path, const char *why)
{
	struct cm_buf b = CM_BUF_INIT(4096);

	cm_log_info("summary", "no job summary: %s", why);
	if (cm_buf_adds(&b, "*cipulse: no job summary: ") == CM_OK && esc(&b, why) == CM_OK &&
	    cm_buf_adds(&b, "*\n\n") == CM_OK)
		append_file(path, b.data, b.len);
	cm_buf_release(&b);
}

/* Why the collector did not answer, in words for the job's reader. */
static void call_failed(char *out, size_t size, grpc_status_code st, const char *why)
{
	switch (st) {
	case GRPC_STATUS_UNIMPLEMENTED:
		snprintf(out, size, "the collector is older than this agent (it has no Summary)");
		break;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		snprintf(out, size, "the collector did not answer in time (%s)", why);
		break;
	case GRPC_STATUS_NOT_FOUND:
		snprintf(out, size, "the collector does not have this job (%s)", why);
		break;
	default:
		snprintf(out, size, "the collector could not answer (%s)", why);
	}
}

void ag_summary_write(const struct ag_config *cfg, const struct ag_report *r, int64_t job_id,
		      enum ag_delivery d)
{
	Cipulse__V1__SummaryRequest req = CIPULSE__V1__SUMMARY_REQUEST__INIT;
	const Cipulse__V1__Job *job = ag_report_job(r, job_id);
	const char *path = cfg->github_step_summary;
	struct cm_buf reply = CM_BUF_INIT(REPLY_MAX), md = CM_BUF_INIT(MARKDOWN_MAX);
	struct ag_send_opts o;
	grpc_channel *ch = NULL;
	grpc_metadata auth;
	grpc_status_code st;
	int has_token = cfg->token && *cfg->token;
	uint8_t msg[64];
	char why[600], line[800];
	int64_t t0 = cm_time_mono_ms();
	size_t len;
	int rc;

	memset(&auth, 0, sizeof(auth));
	if (!cfg->summary || !path || !*path)
		return;
	if (d != AG_SENT || !job) {
		one_line(path, d == AG_SPOOLED
				   ? "the report is spooled until the collector takes it"
			       : !job ? "this job is not in the report"
				      : "the report was not delivered");
		return;
	}
	req.repository_id = r->header->repository->id;
	req.run_id = r->header->run->id;
	req.run_attempt = r->header->run->attempt;
	req.job_id = job_id;
	len = cipulse__v1__summary_request__pack(&req, msg);
	ag_send_opts_from(cfg, 0, &o);
	ch = ag_send_channel(&o, why, sizeof(why));
	if (!ch) {
		one_line(path, why);
		return;
	}
	if (has_token && cm_grpc_bearer(&auth, cfg->token)) {
		has_token = 0;
		one_line(path, "the token is too long");
		goto out;
	}
	rc = cm_grpc_unary(ch, METHOD, cfg->summary_timeout_ms, &auth, has_token ? 1 : 0, msg, len,
			   &reply, &st, why, sizeof(why));
	if (rc) {
		call_failed(line, sizeof(line), st, why);
		one_line(path, line);
		goto out;
	}
	rc = ag_summary_markdown(reply.data, reply.len, job->name, &md);
	if (rc) {
		one_line(path, rc == CM_EPROTO ? "the collector's answer is not a summary"
					       : "the summary is too long");
		goto out;
	}
	append_file(path, md.data, md.len);
	cm_log_info("summary", "job summary written steps_bytes=%zu ms=%lld", md.len,
		    (long long)(cm_time_mono_ms() - t0));
out:
	if (has_token)
		cm_grpc_bearer_release(&auth);
	if (ch)
		grpc_channel_destroy(ch);
	cm_buf_release(&reply);
	cm_buf_release(&md);
}
