/*
 * Slack incoming webhooks: a Block Kit message. Every piece of user text (names, branches,
 * commit messages, log lines) is escaped for mrkdwn, so a branch named "<!channel>" pings nobody
 * and a commit message cannot forge a link.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/notify.h"
#include "cm_buf.h"
#include "cm_err.h"

/* Slack's limit for a section's text is 3000 characters; stay well below it. */
#define SECTION_MAX 2900

/*
 * Appends s escaped for mrkdwn: &, < and > as entities (Slack's own rule), and the formatting
 * characters * _ ~ followed by a zero-width space and ` as a look-alike, so they stay literal.
 */
static int esc(struct cm_buf *b, const char *s, int in_code)
{
	int rc = CM_OK;

	for (; s && *s && rc == CM_OK; s++) {
		if (*s == '`') {
			/* A backtick could end the code block or start one: use U+02CB (modifier
			 * letter grave accent), which looks the same and formats nothing. */
			rc = cm_buf_adds(b, "\xcb\x8b");
		} else if (!in_code && (*s == '*' || *s == '_' || *s == '~')) {
			/* Followed by U+200B, a formatting character never pairs up. */
			rc = cm_buf_addc(b, *s);
			if (rc == CM_OK)
				rc = cm_buf_adds(b, "\xe2\x80\x8b");
		} else {
			rc = col_notify_add_escaped(b, *s, 0);
		}
	}
	return rc;
}

/* Cuts b to at most max bytes on a UTF-8 boundary, marking the cut. */
static void cut(struct cm_buf *b, size_t max)
{
	size_t n = b->len;

	if (n <= max)
		return;
	n = max - 4;
	while (n && ((unsigned char)b->data[n] & 0xc0) == 0x80)
		n--;
	cm_buf_truncate(b, n);
	/* Room was kept for the ellipsis; should it still not fit, the text ends without one. */
	if (cm_buf_adds(b, "\xe2\x80\xa6") != CM_OK)
		cm_buf_truncate(b, n);
}

static json_t *mrkdwn(const char *text)
{
	return json_pack("{s:s, s:s}", "type", "mrkdwn", "text", text);
}

static int add_section(json_t *blocks, const char *text)
{
	return json_array_append_new(
	    blocks, json_pack("{s:s, s:o}", "type", "section", "text", mrkdwn(text)));
}

/* A link <url|label>: the URL is ours or GitHub's; its label is escaped. */
static int link(struct cm_buf *b, const char *url, const char *label)
{
	int rc;

	if (!url || !*url || strchr(url, '|') || strchr(url, '>') || strchr(url, '<'))
		return esc(b, label, 0);
	rc = cm_buf_addf(b, "<%s|", url);
	if (!rc)
		rc = esc(b, label, 0);
	if (!rc)
		rc = cm_buf_addc(b, '>');
	return rc;
}

static char *render(const struct col_alert_msg *m)
{
	struct cm_buf b = CM_BUF_INIT(64 * 1024), fallback = CM_BUF_INIT(4096);
	json_t *root = NULL, *blocks = json_array();
	char sha[8], *out = NULL;
	int rc = blocks ? CM_OK : CM_ENOMEM;
	int resolved = !strcmp(m->event, "resolve");

	col_notify_short_sha(m, sha);
	/* Headline. */
	if (!rc)
		rc = cm_buf_addf(&b, "%s *%s*", resolved ? ":large_green_circle:" : ":red_circle:",
				 col_notify_title(m));
	if (!rc && m->repo) {
		rc = cm_buf_adds(&b, ": ");
		if (!rc)
			rc = esc(&b, m->repo, 0);
		if (!rc && m->workflow)
			rc = cm_buf_adds(&b, " \xe2\x80\xba ");
		if (!rc && m->workflow)
			rc = esc(&b, m->workflow, 0);
		if (!rc && m->branch)
			rc = cm_buf_adds(&b, " on ");
		if (!rc && m->branch)
			rc = esc(&b, m->branch, 0);
	}
	if (!rc)
		rc = cm_buf_adds(&b, "\n");
	if (!rc && m->summary && !m->repo)
		rc = esc(&b, m->summary, 0);
	if (!rc && m->run_id) {
		rc = cm_buf_adds(&b, resolved ? "Fixed by run " : "Run ");
		if (!rc) {
			char label[64];

			snprintf(label, sizeof(label), "#%lld",
				 (long long)(m->run_number ? m->run_number : m->run_id));
			rc = link(&b, m->html_url, label);
		}
		if (!rc && m->conclusion)
			rc = cm_buf_adds(&b, " concluded *");
		if (!rc && m->conclusion)
			rc = esc(&b, m->conclusion, 0);
		if (!rc && m->conclusion)
			rc = cm_buf_adds(&b, "*");
		if (!rc && *sha)
			rc = cm_buf_addf(&b, " at `%s`", sha);
		if (!rc && m->head_message) {
			rc = cm_buf_adds(&b, " \xe2\x80\x9c");
			if (!rc)
				rc = esc(&b, m->head_message, 0);
			if (!rc)
				rc = cm_buf_adds(&b, "\xe2\x80\x9d");
		}
		if (!rc && m->actor) {
			rc = cm_buf_adds(&b, " by ");
			if (!rc)
				rc = esc(&b, m->actor, 0);
		}
		if (!rc && m->run_count > 1 && !resolved)
			rc = cm_buf_addf(&b, "\n%d failing runs so far", m->run_count);
	}
	if (!rc) {
		cut(&b, SECTION_MAX);
		rc = add_section(blocks, cm_buf_str(&b));
	}
	for (int i = 0; !rc && i < m->njobs; i++) {
		const struct col_alert_job *j = &m->jobs[i];

		cm_buf_reset(&b);
		rc = cm_buf_adds(&b, ":x: Job *");
		if (!rc)
			rc = link(&b, j->html_url, j->name ? j->name : "job");
		if (!rc)
			rc = cm_buf_adds(&b, "*");
		if (!rc && j->step) {
			rc = cm_buf_adds(&b, " failed at step *");
			if (!rc)
				rc = esc(&b, j->step, 0);
			if (!rc)
				rc = cm_buf_adds(&b, "*");
		}
		if (!rc && j->log_tail && *j->log_tail) {
			struct cm_buf code = CM_BUF_INIT(64 * 1024);

			rc = esc(&code, j->log_tail, 1);
			if (!rc) {
				/* Keep the end of the log, where the error is. */
				size_t room = SECTION_MAX - b.len - 16;

				if (code.len > room) {
					size_t from = code.len - room;

					while (from < code.len &&
					       ((unsigned char)code.data[from] & 0xc0) == 0x80)
						from++;
					rc = cm_buf_addf(&b, "\n```\xe2\x80\xa6%s```",
							 code.data + from);
				} else {
					rc = cm_buf_addf(&b, "\n```%s```", cm_buf_str(&code));
				}
			}
			cm_buf_release(&code);
		}
		if (!rc)
			rc = add_section(blocks, cm_buf_str(&b));
	}
	if (!rc && (m->html_url || m->dashboard_url)) {
		cm_buf_reset(&b);
		if (m->html_url)
			rc = link(&b, m->html_url, "View run on GitHub");
		if (!rc && m->html_url && m->dashboard_url)
			rc = cm_buf_adds(&b, "  \xc2\xb7  ");
		if (!rc && m->dashboard_url)
			rc = link(&b, m->dashboard_url, "Open in cipulse");
		if (!rc)
			rc = json_array_append_new(blocks,
						   json_pack("{s:s, s:[o]}", "type", "context",
							     "elements", mrkdwn(cm_buf_str(&b))));
	}
	/* The notification text (phones, screen readers): plain, escaped the same way. */
	if (!rc)
		rc = cm_buf_addf(&fallback, "%s: ", col_notify_title(m));
	if (!rc)
		rc = esc(&fallback, m->repo ? m->repo : m->summary, 0);
	if (!rc && m->branch)
		rc = cm_buf_adds(&fallback, " on ");
	if (!rc && m->branch)
		rc = esc(&fallback, m->branch, 0);
	if (!rc) {
		cut(&fallback, 2000);
		root = json_pack("{s:s, s:O}", "text", cm_buf_str(&fallback), "blocks", blocks);
	}
	if (root)
		out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	json_decref(blocks);
	cm_buf_release(&b);
	cm_buf_release(&fallback);
	return out;
}

static int slack_send(const struct col_config *cfg, const struct col_channel *ch,
		      const struct col_alert_msg *m, struct col_notify_result *res)
{
	return col_notify_post_rendered(cfg, ch->target, render(m), NULL, res);
}

const struct col_notifier col_notifier_slack = { "slack", slack_send };
