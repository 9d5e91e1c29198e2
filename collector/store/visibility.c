#include "store/visibility.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cm_err.h"
#include "cm_log.h"
#include "cm_time.h"
#include "core/ticker.h"
#include "github/client.h"

/*
 * Per user, in this process: who is asking GitHub now (one request of a user at a time: the
 * others wait for its answer, a bounded time), and after a failure (by stripe) the user whose
 * question failed and until when not to ask again.
 */
#define REFRESHES 64
#define RETRY_MS  30000
static struct refresh {
	_Atomic int64_t failed_user;
	_Atomic int64_t retry_at_ms;
} refreshes[REFRESHES];

/* A request asking GitHub for a user: on its own stack, listed in `askers` while it asks. */
struct asker {
	int64_t user_id;
	struct asker *next;
};
static pthread_mutex_t askers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t askers_done = PTHREAD_COND_INITIALIZER;
static struct asker *askers;

static struct asker **asker_find(int64_t user_id)
{
	struct asker **a = &askers;

	while (*a && (*a)->user_id != user_id)
		a = &(*a)->next;
	return a;
}

/*
 * Makes me the user's asker once no other request of the user asks GitHub: 1 then (end with
 * asker_end), or 0 when another still asks after wait_ms. Other users never wait here.
 */
static int asker_begin(struct asker *me, int64_t user_id, long wait_ms)
{
	struct timespec until = col_ticker_deadline(wait_ms);
	int mine = 1;

	pthread_mutex_lock(&askers_lock);
	while (*asker_find(user_id)) {
		if (wait_ms <= 0 || pthread_cond_timedwait(&askers_done, &askers_lock, &until)) {
			mine = *asker_find(user_id) == NULL;
			break;
		}
	}
	if (mine) {
		me->user_id = user_id;
		me->next = askers;
		askers = me;
	}
	pthread_mutex_unlock(&askers_lock);
	return mine;
}

static void asker_end(struct asker *me)
{
	pthread_mutex_lock(&askers_lock);
	*asker_find(me->user_id) = me->next;
	pthread_cond_broadcast(&askers_done);
	pthread_mutex_unlock(&askers_lock);
}

/* The literal of a GitHub user's ids can be long: 10,000 repositories are about 110 KB. */
#define IDS_MAX (1u << 20)

int col_visibility_on(const struct col_config *cfg)
{
	return cfg->visibility && !strcmp(cfg->visibility, "github");
}

/* Principals that read every repository whatever GitHub says. */
static int sees_all(const struct col_principal *p)
{
	if (p->who == COL_WHO_TOKEN) {
		if (p->config_token || p->tok.kind == COL_TOKEN_READ ||
		    p->tok.kind == COL_TOKEN_ADMIN)
			return 1;
		return p->tok.kind == COL_TOKEN_PERSONAL && !strcmp(p->tok.owner_role, "admin");
	}
	return p->who == COL_WHO_USER && p->role == COL_ROLE_ADMIN;
}

/* The ids of the repositories GitHub lists for token (GET /user/repos, every page) into ids. */
static int github_repos(struct col_ctx *ctx, const char *token, struct col_array *ids)
{
	struct col_gh_client *gh;
	struct col_gh_resp r;
	char url[sizeof(r.next)] = "/user/repos?per_page=100";
	int rc = col_gh_client_new(&gh, ctx->cfg->github_api_url, token, &ctx->stopping);

	if (rc)
		return rc;
	col_gh_resp_init(&r);
	for (int page = 0;; page++) {
		json_error_t jerr;
		json_t *root, *v;
		size_t i;

		if (page == COL_VISIBILITY_MAX_PAGES) {
			/* Fewer repositories than the user may read: narrower, never wider. */
			cm_log_warn("visibility",
				    "more than %d pages of /user/repos; the rest is "
				    "not read",
				    COL_VISIBILITY_MAX_PAGES);
			break;
		}
		rc = col_gh_get(gh, url, NULL, &r);
		if (!rc && r.status != 200)
			rc = CM_EPROTO;
		if (rc)
			break;
		root = json_loadb(r.body.data, r.body.len, 0, &jerr);
		if (!json_is_array(root)) {
			json_decref(root);
			rc = CM_EPROTO;
			break;
		}
		json_array_foreach(root, i, v)
		{
			json_t *id = json_object_get(v, "id");
			json_t *pull = json_object_get(json_object_get(v, "permissions"), "pull");

			/* Listed means readable; a listing that says otherwise is believed. */
			if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
			    json_is_false(pull))
				continue;
			rc = col_array_add_i64(ids, (int64_t)json_integer_value(id));
			if (rc)
				break;
		}
		json_decref(root);
		if (rc || !r.next[0])
			break;
		memcpy(url, r.next, sizeof(url));
	}
	col_gh_resp_release(&r);
	col_gh_client_free(gh);
	return rc;
}

static char *none(void)
{
	return strdup("{}");
}

/*
 * What visibility_cache and the user's session say: *github whether the user signs in with
 * GitHub, *cached the cached answer (NULL when none), *fresh / *valid whether it is younger than
 * half the TTL / the TTL, *token the GitHub user token to ask with (NULL when none).
 */
struct known {
	int github, fresh, valid;
	char *cached, *token;
};

static void known_release(struct known *k)
{
	free(k->cached);
	if (k->token) {
		memset(k->token, 0, strlen(k->token));
		free(k->token);
	}
}

static int read_known(struct col_conn *c, const struct col_config *cfg,
		      const struct col_principal *p, struct known *k)
{
	/* clang-format off */
	static const char sql[] =
		"SELECT u.github_id IS NOT NULL, v.repo_ids::text, "
		"COALESCE(v.checked_at > now() - $2::bigint / 2 * interval '1 millisecond', false), "
		"COALESCE(v.checked_at > now() - $2::bigint * interval '1 millisecond', false), "
		"t.github_token FROM users u "
		"LEFT JOIN visibility_cache v ON v.user_id = u.id "
		"LEFT JOIN LATERAL (SELECT s.github_token FROM sessions s "
		"  WHERE s.user_id = u.id AND s.github_token IS NOT NULL AND s.revoked_at IS NULL "
		"  AND s.expires_at > now() AND ($3::bigint IS NULL OR s.id = $3) "
		"  AND (s.github_token_expires_at IS NULL OR s.github_token_expires_at > now()) "
		"  ORDER BY s.created_at DESC, s.id DESC LIMIT 1) t ON true "
		"WHERE u.id = $1 AND NOT u.disabled";
	/* clang-format on */
	struct col_params q;
	PGresult *res;
	int rc;

	memset(k, 0, sizeof(*k));
	col_params_init(&q);
	col_p_i64(&q, p->user_id);
	col_p_i64(&q, cfg->visibility_ttl_ms);
	/* A session asks with its own token; a personal token with its owner's newest. */
	col_p_opt_i64(&q, p->who == COL_WHO_USER, p->session_id);
	res = col_db_query(c, "visibility", sql, q.n, q.v, &rc);
	if (!res)
		return rc;
	if (PQntuples(res) == 1) {
		k->github = PQgetvalue(res, 0, 0)[0] == 't';
		k->fresh = PQgetvalue(res, 0, 2)[0] == 't';
		k->valid = PQgetvalue(res, 0, 3)[0] == 't';
		if (!PQgetisnull(res, 0, 1))
			k->cached = strdup(PQgetvalue(res, 0, 1));
		if (!PQgetisnull(res, 0, 4))
			k->token = strdup(PQgetvalue(res, 0, 4));
		if ((!PQgetisnull(res, 0, 1) && !k->cached) ||
		    (!PQgetisnull(res, 0, 4) && !k->token))
			rc = CM_ENOMEM;
	}
	PQclear(res);
	return rc;
}

/* Keeps GitHub's answer, narrowed to the registered repositories; *out gets it. */
static int store_answer(struct col_conn *c, int64_t user_id, struct col_array *ids, char **out)
{
	struct col_params q;
	const char *lit = col_array_str(ids);
	PGresult *res;
	int rc;

	if (!lit)
		return CM_ETOOBIG;
	col_params_init(&q);
	col_p_i64(&q, user_id);
	col_p_str(&q, lit);
	res = col_db_query(c, "visibility",
			   "INSERT INTO visibility_cache (user_id, repo_ids, checked_at) "
			   "SELECT $1, COALESCE(array_agg(r.id ORDER BY r.id), '{}'), now() "
			   "FROM repositories r WHERE r.id = ANY ($2::bigint[]) "
			   "ON CONFLICT (user_id) DO UPDATE SET repo_ids = EXCLUDED.repo_ids, "
			   "checked_at = EXCLUDED.checked_at RETURNING repo_ids::text",
			   q.n, q.v, &rc);
	if (!res)
		return rc;
	*out = PQntuples(res) == 1 ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return *out ? CM_OK : CM_ENOMEM;
}

/* GitHub refused the token: whatever was known is forgotten at once. */
static void forget(struct col_conn *c, int64_t user_id)
{
	struct col_params q;
	PGresult *res;
	int rc;

	col_params_init(&q);
	col_p_i64(&q, user_id);
	res = col_db_query(c, "visibility", "DELETE FROM visibility_cache WHERE user_id = $1", q.n,
			   q.v, &rc);
	PQclear(res);
}

/* The last answer while it holds (a GitHub user's, younger than the TTL), else none. */
static int last_answer(struct known *k, char **repos)
{
	*repos = k->github && k->valid && k->cached ? k->cached : none();
	if (*repos == k->cached)
		k->cached = NULL;
	return *repos ? CM_OK : CM_ENOMEM;
}

/* Whether GitHub is to be asked: a GitHub user with a token whose answer is not fresh. */
static int ask_github(const struct known *k, int64_t user_id)
{
	const struct refresh *r = &refreshes[(uint64_t)user_id % REFRESHES];

	if (!k->github || !k->token || (k->fresh && k->cached))
		return 0;
	/* After a failure, not again for a while: each question could wait for a timeout. */
	return !(r->failed_user == user_id && cm_time_mono_ms() < r->retry_at_ms);
}

static int read_known_conn(struct col_ctx *ctx, const struct col_principal *p, struct known *k)
{
	struct col_conn *c;
	int rc = col_db_acquire(ctx->db, &c, COL_DB_WAIT_MS);

	if (rc)
		return rc;
	known_release(k);
	rc = read_known(c, ctx->cfg, p, k);
	col_db_release(ctx->db, c);
	return rc;
}

int col_visibility_of(struct col_ctx *ctx, const struct col_principal *p, char **repos)
{
	struct col_array ids;
	struct known k = { 0 };
	struct refresh *r = &refreshes[(uint64_t)p->user_id % REFRESHES];
	struct asker me;
	struct col_conn *c;
	int rc, gh;

	*repos = NULL;
	if (!col_visibility_on(ctx->cfg) || sees_all(p))
		return CM_OK;
	if (p->user_id <= 0 || p->who == COL_WHO_ANONYMOUS) {
		*repos = none();
		return *repos ? CM_OK : CM_ENOMEM;
	}
	/* GitHub is never asked while holding a pooled connection. */
	rc = read_known_conn(ctx, p, &k);
	if (rc || !ask_github(&k, p->user_id))
		goto answer;
	/*
	 * One question to GitHub per user at a time in this process: the dashboard sends several
	 * requests at once, and those that waited find the answer the first one stored. With a
	 * last answer that holds they do not wait; without one they wait at most the API's
	 * time-out (a listing paced by GitHub's rate limit can take minutes), then read nothing.
	 */
	if (!asker_begin(&me, p->user_id, k.valid && k.cached ? 0 : ctx->cfg->api_timeout_ms))
		goto answer;
	rc = read_known_conn(ctx, p, &k);
	if (rc || !ask_github(&k, p->user_id)) {
		asker_end(&me);
		goto answer;
	}
	col_array_init(&ids, IDS_MAX);
	gh = github_repos(ctx, k.token, &ids);
	rc = col_db_acquire(ctx->db, &c, COL_DB_WAIT_MS);
	if (!rc) {
		if (!gh)
			rc = store_answer(c, p->user_id, &ids, repos);
		else if (gh == CM_EDENIED)
			forget(c, p->user_id);
		col_db_release(ctx->db, c);
	}
	r->failed_user = gh ? p->user_id : 0;
	r->retry_at_ms = cm_time_mono_ms() + RETRY_MS;
	asker_end(&me);
	col_array_release(&ids);
	if (rc || !gh)
		goto out;
	cm_log_warn("visibility",
		    "GitHub did not say which repositories user_id=%lld may read: %s%s",
		    (long long)p->user_id, cm_strerror(gh),
		    gh != CM_EDENIED && k.valid && k.cached ? "; the last answer holds" : "");
	if (gh == CM_EDENIED)
		k.github = 0; /* refused: nothing, at once */
answer:
	if (!rc)
		rc = last_answer(&k, repos);
out:
	known_release(&k);
	return rc;
}

int col_visibility_prepare(struct col_conn *c)
{
	int rc;
	PGresult *res = col_db_query(c, "visibility policies",
				     "SELECT cipulse_visibility_prepare()", 0, NULL, &rc);

	if (!res)
		return rc;
	cm_log_info("visibility", "row-level security ready tables_added=%s",
		    PQgetvalue(res, 0, 0));
	PQclear(res);
	return CM_OK;
}
