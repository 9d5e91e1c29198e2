/*
 * Microsoft Teams: an Adaptive Card posted to a Teams Workflows webhook ("Post to a channel when
 * a webhook request is received"), the successor of Office 365 connectors. Card text is markdown:
 * user text is escaped so that it cannot format or link.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/notify.h"
#include "cm_buf.h"
#include "cm_err.h"

/* Backslash before markdown's special characters; < and > as look-alikes (no HTML). */
static char *md(const char *s)
{
	struct cm_buf b = CM_BUF_INIT(64 * 1024);
	int rc = CM_OK;

	for (; s && *s && rc == CM_OK; s++) {
		if (strchr("\\`*_[]~", *s))
			rc = cm_buf_addc(&b, '\\');
		if (rc == CM_OK && *s == '<')
			rc = cm_buf_adds(&b, "\xe2\x80\xb9");
		else if (rc == CM_OK && *s == '>')
			rc = cm_buf_adds(&b, "\xe2\x80\xba");
		else if (rc == CM_OK)
			rc = cm_buf_addc(&b, *s);
	}
	if (rc) {
		cm_buf_release(&b);
		return NULL;
	}
	return cm_buf_detach(&b, NULL);
}

static int add_fact(json_t *facts, const char *title, const char *value)
{
	char *v;
	int rc;

	if (!value)
		return 0;
	v = md(value);
	if (!v)
		return -1;
	rc = json_array_append_new(facts, json_pack("{s:s, s:s}", "title", title, "value", v));
	free(v);
	return rc;
}

static int add_text(json_t *body, const char *text, int mono)
{
	json_t *t = json_pack("{s:s, s:s, s:b}", "type", "TextBlock", "text", text, "wrap", 1);

	if (t && mono)
		json_object_set_new(t, "fontType", json_string("Monospace"));
	return json_array_append_new(body, t);
}

static char *render(const struct col_alert_msg *m)
{
	json_t *body = json_array(), *facts = json_array(), *actions = json_array(), *root;
	struct cm_buf head = CM_BUF_INIT(8192);
	char sha[8], num[32], *s = NULL, *out = NULL;
	int rc = body && facts && actions ? 0 : -1;

	col_notify_short_sha(m, sha);
	s = md(m->repo ? m->repo : m->summary);
	if (!rc)
		rc = cm_buf_addf(&head, "**%s**: %s", col_notify_title(m), s ? s : "");
	free(s);
	if (!rc)
		rc = json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b}", "type",
							   "TextBlock", "size", "Medium", "weight",
							   "Bolder", "text", cm_buf_str(&head),
							   "wrap", 1));
	snprintf(num, sizeof(num), "#%lld", (long long)(m->run_number ? m->run_number : m->run_id));
	if (!rc)
		rc = add_fact(facts, "Workflow", m->workflow);
	if (!rc)
		rc = add_fact(facts, "Branch", m->branch);
	if (!rc && m->run_id)
		rc = add_fact(facts, !strcmp(m->event, "resolve") ? "Fixed by run" : "Run", num);
	if (!rc)
		rc = add_fact(facts, "Conclusion", m->conclusion);
	if (!rc && *sha)
		rc = add_fact(facts, "Commit", sha);
	if (!rc)
		rc = add_fact(facts, "Message", m->head_message);
	if (!rc)
		rc = add_fact(facts, "Actor", m->actor);
	if (!rc && !m->repo)
		rc = add_fact(facts, "Summary", m->summary);
	if (!rc)
		rc = json_array_append_new(
		    body, json_pack("{s:s, s:O}", "type", "FactSet", "facts", facts));
	for (int i = 0; !rc && i < m->njobs; i++) {
		const struct col_alert_job *j = &m->jobs[i];
		char *name = md(j->name ? j->name : "job"), *step = md(j->step ? j->step : "");
		char *logs = md(j->log_tail ? j->log_tail : "");
		struct cm_buf t = CM_BUF_INIT(8192);

		rc = name && step && logs ? 0 : -1;
		if (!rc)
			rc = cm_buf_addf(&t, "Job **%s** failed%s%s%s", name,
					 *step ? " at step **" : "", step, *step ? "**" : "");
		if (!rc)
			rc = add_text(body, cm_buf_str(&t), 0);
		if (!rc && *logs)
			rc = add_text(body, logs, 1);
		cm_buf_release(&t);
		free(name);
		free(step);
		free(logs);
	}
	if (!rc && m->html_url)
		rc = json_array_append_new(
		    actions, json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl", "title",
				       "View run on GitHub", "url", m->html_url));
	if (!rc && m->dashboard_url)
		rc = json_array_append_new(
		    actions, json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl", "title",
				       "Open in cipulse", "url", m->dashboard_url));
	root =
	    rc ? NULL
	       : json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:O, s:O}}]}", "type", "message",
			   "attachments", "contentType", "application/vnd.microsoft.card.adaptive",
			   "contentUrl", "content", "$schema",
			   "http://adaptivecards.io/schemas/adaptive-card.json", "type",
			   "AdaptiveCard", "version", "1.4", "body", body, "actions", actions);
	if (root)
		out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	json_decref(body);
	json_decref(facts);
	json_decref(actions);
	cm_buf_release(&head);
	return out;
}

static int teams_send(const struct col_config *cfg, const struct col_channel *ch,
		      const struct col_alert_msg *m, struct col_notify_result *res)
{
	return col_notify_post_rendered(cfg, ch->target, render(m), NULL, res);
}

const struct col_notifier col_notifier_teams = { "teams", teams_send };
