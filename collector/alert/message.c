/* clang-format off */
/* What a notification says: the alert, its run and the failing jobs, read when it is sent. */
#include "alert/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"

#define MS(x) "floor(extract(epoch FROM " x ") * 1000)::bigint"

static char *dup_col(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	/* clang-format on */
	return strdup(PQgetvalue(res, row, col));
}

static int64_t int_col(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* The last `lines` lines of text (a trailing newline does not count as a line). */
static char *tail_lines(const char *text, int lines)
{
	size_t n = strlen(text);
	const char *p;

	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	p = text + n;
	while (p > text) {
		if (p[-1] == '\n' && --lines == 0)
			break;
		p--;
	}
	return strndup(p, (size_t)(text + n - p));
}

void col_alert_msg_release(struct col_alert_msg *m)
{
	char **strs[] = { &m->kind,	&m->severity,	  &m->state,	&m->summary,
			  &m->repo,	&m->server_url,	  &m->workflow, &m->branch,
			  &m->head_sha, &m->head_message, &m->actor,	&m->conclusion,
			  &m->html_url, &m->dashboard_url };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (int i = 0; i < m->njobs; i++) {
		free(m->jobs[i].name);
		free(m->jobs[i].html_url);
		free(m->jobs[i].conclusion);
		free(m->jobs[i].step);
		free(m->jobs[i].log_tail);
	}
	m->njobs = 0;
}

static PGresult *query(struct col_conn *c, const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(c->pg, sql, n, NULL, params, NULL, NULL, 0);

	if (!col_db_ok(res))
		cm_log_warn("alert", "message query failed: %s", PQresultErrorMessage(res));
	return res;
}

int col_alert_msg_load(struct col_conn *c, const struct col_config *cfg, int64_t alert_id,
		       const char *event, int64_t run_id, int run_attempt, struct col_alert_msg *m)
{
	/* clang-format off */
	static const char alert_sql[] =
		"SELECT a.kind, a.severity, a.state, a.summary, a.run_count, " MS("a.opened_at") ", "
		MS("a.resolved_at") ", r.full_name, r.server_url, wf.name, a.branch, a.repo_id "
		"FROM alerts a JOIN repositories r ON r.id = a.repo_id "
		"LEFT JOIN workflows wf ON wf.repo_id = a.repo_id AND wf.id = a.workflow_id "
		"WHERE a.id = $1";
	/* clang-format on */
	static const char run_sql[] =
	    "SELECT run_number, head_sha, head_message, actor, conclusion, html_url, name "
	    "FROM workflow_runs WHERE repo_id = $1 AND run_id = $2 AND run_attempt = $3";
	static const char jobs_sql[] =
	    "SELECT j.name, j.html_url, j.conclusion, s.name, l.content FROM jobs j "
	    "LEFT JOIN LATERAL (SELECT number, name FROM steps s WHERE s.repo_id = j.repo_id "
	    "  AND s.job_id = j.job_id AND s.conclusion IN ('failure', 'timed_out') "
	    "  ORDER BY number LIMIT 1) s ON true "
	    "LEFT JOIN LATERAL (SELECT content FROM logs l WHERE l.repo_id = j.repo_id "
	    "  AND l.job_id = j.job_id AND l.step_number IN (COALESCE(s.number, 0), 0) "
	    "  ORDER BY l.step_number DESC LIMIT 1) l ON true "
	    "WHERE j.repo_id = $1 AND j.run_id = $2 AND j.run_attempt = $3 "
	    "AND j.conclusion IN ('failure', 'timed_out') ORDER BY j.job_id LIMIT 10";
	char ids[4][24];
	const char *p[3];
	PGresult *res;
	int rc = CM_OK;

	memset(m, 0, sizeof(*m));
	m->alert_id = alert_id;
	snprintf(m->event, sizeof(m->event), "%s", event);
	snprintf(ids[0], sizeof(ids[0]), "%lld", (long long)alert_id);
	p[0] = ids[0];
	res = query(c, alert_sql, 1, p);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		goto out;
	}
	if (PQntuples(res) != 1) {
		rc = CM_ENOTFOUND;
		goto out;
	}
	m->kind = dup_col(res, 0, 0);
	m->severity = dup_col(res, 0, 1);
	m->state = dup_col(res, 0, 2);
	m->summary = dup_col(res, 0, 3);
	m->run_count = (int)int_col(res, 0, 4);
	m->opened_ms = int_col(res, 0, 5);
	m->resolved_ms = int_col(res, 0, 6);
	m->repo = dup_col(res, 0, 7);
	m->server_url = dup_col(res, 0, 8);
	m->workflow = dup_col(res, 0, 9);
	m->branch = dup_col(res, 0, 10);
	snprintf(ids[1], sizeof(ids[1]), "%s", PQgetvalue(res, 0, 11));
	PQclear(res);
	res = NULL;
	if (run_id <= 0)
		goto out;
	m->run_id = run_id;
	m->run_attempt = run_attempt;
	snprintf(ids[2], sizeof(ids[2]), "%lld", (long long)run_id);
	snprintf(ids[3], sizeof(ids[3]), "%d", run_attempt);
	p[0] = ids[1];
	p[1] = ids[2];
	p[2] = ids[3];
	res = query(c, run_sql, 3, p);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		goto out;
	}
	if (PQntuples(res) == 1) {
		m->run_number = int_col(res, 0, 0);
		m->head_sha = dup_col(res, 0, 1);
		m->head_message = dup_col(res, 0, 2);
		m->actor = dup_col(res, 0, 3);
		m->conclusion = dup_col(res, 0, 4);
		m->html_url = dup_col(res, 0, 5);
		if (!m->workflow)
			m->workflow = dup_col(res, 0, 6);
	}
	PQclear(res);
	res = NULL;
	if (cfg->public_url && *cfg->public_url) {
		char url[1200];

		col_config_run_url(cfg, (long long)run_id, run_attempt, 0, url, sizeof(url));
		m->dashboard_url = strdup(url);
	}
	if (strcmp(event, "open") && strcmp(event, "repeat"))
		goto out;
	res = query(c, jobs_sql, 3, p);
	if (!col_db_ok(res)) {
		rc = col_db_error(c->pg, res);
		goto out;
	}
	for (int i = 0; i < PQntuples(res) && m->njobs < COL_ALERT_MAX_JOBS; i++) {
		struct col_alert_job *j = &m->jobs[m->njobs++];

		j->name = dup_col(res, i, 0);
		j->html_url = dup_col(res, i, 1);
		j->conclusion = dup_col(res, i, 2);
		j->step = dup_col(res, i, 3);
		if (!PQgetisnull(res, i, 4))
			j->log_tail = tail_lines(PQgetvalue(res, i, 4), COL_ALERT_LOG_LINES);
	}
out:
	PQclear(res);
	if (rc)
		col_alert_msg_release(m);
	return rc;
}

void col_alert_msg_test(struct col_alert_msg *m, const struct col_config *cfg)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->event, sizeof(m->event), "test");
	m->kind = strdup("failure");
	m->severity = strdup("info");
	m->state = strdup("open");
	m->summary = strdup("Test message from cipulse: this channel works.");
	m->run_count = 1;
	if (cfg->public_url && *cfg->public_url)
		m->dashboard_url = strdup(cfg->public_url);
}
