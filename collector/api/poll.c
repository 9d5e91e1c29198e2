/*
 * POST /api/v1/poll/run (admin): poll GitHub now. {"repo": "owner/name"} polls a repository,
 * with "run_id": N only that run, with "days": N backfills that many days. It can take minutes
 * (GitHub's rate limit); it holds only its own connection's thread (http/server.h).
 */
#include <jansson.h>
#include <stdio.h>

#include "api/api_int.h"
#include "cm_err.h"
#include "github/backfill.h"
#include "github/poller.h"

static json_t *stats_json(const char *repo, const struct col_poll_stats *st)
{
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "repo", repo, "requests",
			 (json_int_t)st->requests, "not_modified", (json_int_t)st->not_modified,
			 "runs_seen", (json_int_t)st->runs_seen, "runs_written",
			 (json_int_t)st->runs_written, "jobs", (json_int_t)st->jobs);
}

void api_poll_run(const struct col_http_req *req, struct col_http_resp *resp)
{
	static const char *const allowed[] = { NULL };
	struct col_poll_stats st;
	struct col_conn *c;
	struct col_query q;
	json_t *body, *jrepo, *jrun, *jdays;
	json_error_t e;
	const char *repo;
	int rc;

	if (api_begin(req, resp, API_ADMIN, &q, allowed))
		return;
	body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &e);
	jrepo = json_object_get(body, "repo");
	jrun = json_object_get(body, "run_id");
	jdays = json_object_get(body, "days");
	if (!json_is_object(body) || !json_is_string(jrepo) || (jrun && !json_is_integer(jrun)) ||
	    (jdays && !json_is_integer(jdays)) || (jrun && json_integer_value(jrun) <= 0) ||
	    (jdays && (json_integer_value(jdays) < 1 || json_integer_value(jdays) > 3650))) {
		json_decref(body);
		api_bad_param(resp, "body",
			      "expected {\"repo\": \"owner/name\"} with optional integer "
			      "\"run_id\" or \"days\" (1..3650)");
		return;
	}
	if (api_conn(req, resp, &c)) {
		json_decref(body);
		return;
	}
	repo = json_string_value(jrepo);
	if (jdays)
		rc = col_backfill_repo(req->ctx, c, repo, (int)json_integer_value(jdays),
				       &req->ctx->stopping, NULL, NULL, &st);
	else
		rc = col_poller_poll_repo(req->ctx, c, repo,
					  jrun ? (int64_t)json_integer_value(jrun) : 0,
					  &req->ctx->stopping, &st);
	col_db_release(req->ctx->db, c);
	switch (rc) {
	case CM_OK:
		api_reply(resp, 200, stats_json(repo, &st));
		break;
	case CM_ENOTFOUND:
		api_not_found(resp, "repository or run");
		break;
	case CM_EDENIED:
		col_http_error(resp, 409, "no_github_access",
			       "no GitHub token for this repository, or GitHub refused it");
		break;
	default:
		col_http_error(resp, 502, "github_unavailable", "polling failed: %s",
			       cm_strerror(rc));
		snprintf(resp->extra_headers, sizeof(resp->extra_headers), "Retry-After: 60\r\n");
	}
	json_decref(body);
}
