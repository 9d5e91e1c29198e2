/*
 * Generic webhooks: the message as JSON, signed with the channel's secret in
 * X-Cipulse-Signature-256 ("sha256=" + hex HMAC-SHA256 of the body, as GitHub signs its own),
 * so that a receiver can check it came from us.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/notify.h"
#include "cm_crypto.h"
#include "cm_err.h"
#include "cm_time.h"

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
	char t[32];

	if (!ms)
		return json_null();
	cm_time_format_iso8601(ms, t, sizeof(t));
	return json_string(t);
}

static char *render(const struct col_alert_msg *m)
{
	json_t *root, *jobs = json_array(), *run = NULL;
	char *out = NULL;

	for (int i = 0; jobs && i < m->njobs; i++) {
		const struct col_alert_job *j = &m->jobs[i];

		json_array_append_new(
		    jobs, json_pack("{s:o, s:o, s:o, s:o, s:o}", "name", str_or_null(j->name),
				    "html_url", str_or_null(j->html_url), "conclusion",
				    str_or_null(j->conclusion), "failed_step", str_or_null(j->step),
				    "log_tail", str_or_null(j->log_tail)));
	}
	if (m->run_id)
		run = json_pack(
		    "{s:I, s:i, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "id", (json_int_t)m->run_id,
		    "attempt", m->run_attempt, "number", (json_int_t)m->run_number, "head_sha",
		    str_or_null(m->head_sha), "head_message", str_or_null(m->head_message), "actor",
		    str_or_null(m->actor), "conclusion", str_or_null(m->conclusion), "html_url",
		    str_or_null(m->html_url), "dashboard_url", str_or_null(m->dashboard_url));
	root = json_pack(
	    "{s:s, s:{s:I, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:o}, "
	    "s:o, s:O}",
	    "event", m->event, "alert", "id", (json_int_t)m->alert_id, "kind", str_or_null(m->kind),
	    "severity", str_or_null(m->severity), "state", str_or_null(m->state), "summary",
	    str_or_null(m->summary), "run_count", m->run_count, "repo", str_or_null(m->repo),
	    "workflow", str_or_null(m->workflow), "branch", str_or_null(m->branch), "opened_at",
	    time_or_null(m->opened_ms), "resolved_at", time_or_null(m->resolved_ms), "run",
	    run ? run : json_null(), "failing_jobs", jobs ? jobs : json_array());
	if (root)
		out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	json_decref(jobs);
	return out;
}

static int webhook_send(const struct col_config *cfg, const struct col_channel *ch,
			const struct col_alert_msg *m, struct col_notify_result *res)
{
	char *body = render(m), sig[72], header[128], event[64];
	const char *extra[3] = { event, NULL, NULL };

	snprintf(event, sizeof(event), "X-Cipulse-Event: %s", m->event);
	if (body && ch->secret && *ch->secret) {
		cm_hmac_sha256_header(ch->secret, body, strlen(body), sig);
		snprintf(header, sizeof(header), "X-Cipulse-Signature-256: %s", sig);
		extra[1] = header;
	}
	return col_notify_post_rendered(cfg, ch->target, body, extra, res);
}

const struct col_notifier col_notifier_webhook = { "webhook", webhook_send };
