"""Visibility (issue 12.3): with CIPULSE_VISIBILITY=github a GitHub user reads only the
repositories GitHub lets them read. Two GitHub users and three repositories, each with runs,
jobs, steps, log tails, tests, failure groups and an alert; each user walks every read route of
test_access.ACCESS (so a new route cannot be forgotten) and direct links to the hidden
repository's objects: its name, ids and run ids appear in no reply, and direct links are 404.
Then the cache (a revoked permission shows after the TTL), GitHub down or refusing the token
(fail closed), the principals that read everything, and visibility off (unchanged)."""
import concurrent.futures
import hashlib
import json
import secrets

import psycopg2
import pytest

from ghoauth import FakeGitHubOAuth
from ghvisibility import GitHubRepos
from harness import wait_for
from test_access import ACCESS, READ_TOKEN, add_user, request, Session
from test_github_signin import Flow, signin_env

# id, full name, a word only its log tails hold
REPOS = [(3001, "acme/open", "lantern"), (3002, "acme/shared", "compass"),
         (3003, "acme/secret", "obsidian")]
SHARED_FP = "f" * 64     # a failure group with jobs in every repository
SECRET_FP = "e" * 64     # a failure group of acme/secret only
ALICE, BOB = "alice-gh", "bob-gh"
# Who may read what on GitHub: alice open + shared, bob open only; nobody reads secret.
GRANTS = {ALICE: (3001, 3002), BOB: (3001,)}


def seed(db):
    """The three repositories' history in plain SQL; returns what each one holds."""
    out = {}
    for n, (rid, name, word) in enumerate(REPOS):
        run_id, job_id = 77000000 + rid, 88000000 + rid * 10
        db.execute("INSERT INTO repositories (id, full_name, default_branch) VALUES (%s, %s, 'main')",
                   (rid, name))
        db.execute("INSERT INTO workflows (repo_id, id, name, path) VALUES (%s, %s, %s, %s)",
                   (rid, rid * 10, "CI " + word, ".github/workflows/%s.yml" % word))
        for attempt, concl in ((1, "failure"), (2, "failure")):
            db.execute(
                "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number,"
                " name, event, status, conclusion, head_branch, head_sha, actor, created_at,"
                " run_started_at, updated_at, completed_at) VALUES (%s, %s, %s, %s, 1, %s,"
                " 'push', 'completed', %s, 'main', %s, 'dev', now() - interval '2 hours',"
                " now() - interval '2 hours', now() - interval '1 hour',"
                " now() - interval '1 hour' + %s * interval '1 minute')",
                (rid, run_id, attempt, rid * 10, "run " + word, concl, "%040x" % rid, attempt))
            jid = job_id + attempt
            db.execute(
                "INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion,"
                " created_at, started_at, completed_at, runner_name) VALUES (%s, %s, %s, %s,"
                " %s, 'completed', 'failure', now() - interval '2 hours',"
                " now() - interval '2 hours', now() - interval '1 hour', 'runner-1')",
                (rid, jid, run_id, attempt, "build " + word))
            db.execute("INSERT INTO steps (repo_id, job_id, number, name, status, conclusion,"
                       " started_at, completed_at) VALUES (%s, %s, 1, %s, 'completed', 'failure',"
                       " now() - interval '2 hours', now() - interval '1 hour')",
                       (rid, jid, "make " + word))
            db.execute("INSERT INTO logs (repo_id, job_id, step_number, content) VALUES"
                       " (%s, %s, 1, %s)",
                       (rid, jid, "compiling needle\nError: %s broke in %s\n" % (word, name)))
            db.execute("SELECT cipulse_tests_put(%s, %s, %s, %s, ARRAY['suite'], ARRAY[%s],"
                       " ARRAY['test_' || %s], ARRAY[''], ARRAY[1000]::bigint[], ARRAY['failed'],"
                       " ARRAY['assert ' || %s], ARRAY[0])",
                       (rid, jid, run_id, attempt, "C" + word, word, word))
        db.execute("INSERT INTO job_failures (repo_id, job_id, fingerprint, run_id, run_attempt,"
                   " at) VALUES (%s, %s, %s, %s, 1, now() - interval '1 hour')",
                   (rid, job_id + 1, SHARED_FP, run_id))
        alert = db.scalar("INSERT INTO alerts (kind, repo_id, condition_key, summary, run_id)"
                          " VALUES ('failure', %s, %s, %s, %s) RETURNING id",
                          (rid, "k" + word, "CI failed on " + word, run_id))
        test_id = db.scalar("SELECT test_id FROM tests WHERE repo_id = %s", (rid,))
        out[rid] = {"name": name, "word": word, "run_id": run_id, "job_id": job_id + 1,
                    "alert_id": alert, "test_id": test_id}
    secret = out[3003]
    db.execute("INSERT INTO job_failures (repo_id, job_id, fingerprint, run_id, run_attempt, at)"
               " VALUES (3003, %s, %s, %s, 2, now() - interval '1 hour')",
               (secret["job_id"] + 1, SECRET_FP, secret["run_id"]))
    for fp, title in ((SHARED_FP, "error: shared"), (SECRET_FP, "error: obsidian only")):
        db.execute("INSERT INTO failure_groups (fingerprint, title, lines) VALUES (%s, %s, %s)",
                   (fp, title, [title]))
    # Scoped alert settings: a rule and a silence on the secret repository.
    db.execute("INSERT INTO alert_rules (name, kind, repo_id) VALUES ('obsidian rule', 'failure', 3003)")
    db.execute("INSERT INTO silences (repo_id, until, comment) VALUES"
               " (3003, now() + interval '1 day', 'obsidian silence')")
    return out


def github_user(db, login, gh_id, token, role="viewer"):
    """A user signed in with GitHub and their session (as the sign-in stores them): the
    session's cookie headers."""
    uid = db.scalar("INSERT INTO users (username, role, github_id, github_login) VALUES"
                    " (%s, %s, %s, %s) RETURNING id", (login, role, gh_id, login))
    cookie = secrets.token_urlsafe(30)
    csrf = secrets.token_urlsafe(20)
    db.execute("INSERT INTO sessions (id_hash, user_id, csrf_token, expires_at, github_token)"
               " VALUES (%s, %s, %s, now() + interval '1 day', %s)",
               (hashlib.sha256(cookie.encode()).hexdigest(), uid, csrf, token))
    return {"Cookie": "cipulse_session=" + cookie, "X-CSRF-Token": csrf}


class World:
    """A collector in github mode over the seeded history, the stand-in, and the users."""

    def __init__(self, collector_factory, db, github, ttl="1h", extra=None):
        self.gh = GitHubRepos(github)
        for rid, name, _ in REPOS:
            self.gh.add_repo(rid, name)
        env = {"CIPULSE_VISIBILITY": "github", "CIPULSE_ANONYMOUS_READ": "false",
               "CIPULSE_VISIBILITY_TTL": ttl, "CIPULSE_GITHUB_API_URL": github.url,
               "CIPULSE_READ_TOKEN": READ_TOKEN, "CIPULSE_POLL": "0"}
        env.update(extra or {})
        self.collector = collector_factory(env=env)
        self.db = db
        self.data = seed(db)
        self.tokens = {}
        self.headers = {}
        for n, login in enumerate((ALICE, BOB)):
            token = "gho_" + secrets.token_hex(18)
            self.tokens[login] = token
            self.gh.add_token(token, login)
            self.gh.grant(login, *GRANTS[login])
            self.headers[login] = github_user(db, login, 500 + n, token)

    def get(self, path, headers):
        status, body, _ = request(self.collector, "GET", path, None, headers)
        return status, body

    def names(self, login):
        status, body = self.get("/api/v1/repos", self.headers[login])
        assert status == 200, body
        return sorted(r["full_name"] for r in body["items"])


@pytest.fixture
def world(collector_factory, db, github):
    return World(collector_factory, db, github)


def marks(repo):
    """What must not appear anywhere when a repository is hidden."""
    return [repo["name"], repo["word"], str(repo["run_id"]), str(repo["job_id"]),
            str(repo["job_id"] + 1), repo["test_id"]]


def read_routes(f):
    """(path) of every GET route of test_access.ACCESS, with the fixture's visible objects."""
    paths = []
    for (method, pattern), row in sorted(ACCESS.items()):
        if method != "GET":
            continue
        target = row[1]
        path = target(f)[0] if callable(target) else target
        paths.append(path)
    return paths


class Visible:
    """test_access's fixture shape, pointing at a repository the user reads."""

    def __init__(self, repo):
        self.run_id, self.job_id, self.alert_id = repo["run_id"], repo["job_id"], repo["alert_id"]


def direct_links(repo):
    """Every direct link to a repository's objects."""
    name = repo["name"]
    return ["/api/v1/repos/%s/runs" % name, "/api/v1/repos/%s/workflows" % name,
            "/api/v1/runs/%d" % repo["run_id"], "/api/v1/runs/%d?attempt=1" % repo["run_id"],
            "/api/v1/jobs/%d/logs" % repo["job_id"], "/api/v1/alerts/%d" % repo["alert_id"],
            "/api/v1/tests/%s" % repo["test_id"], "/api/v1/metrics?repo=" + name,
            "/api/v1/logs/search?q=needle&repo=" + name, "/api/v1/tests?repo=" + name,
            "/api/v1/failures?repo=" + name, "/api/v1/alerts?repo=" + name]


def all_views(repo_visible):
    """Read routes whose replies must leave hidden repositories out, with their queries."""
    extra = ["/api/v1/logs/search?q=needle", "/api/v1/logs/search?q=obsidian",
             "/api/v1/metrics?window=30d", "/api/v1/tests?window=30d",
             "/api/v1/tests?window=30d&sort=failures", "/api/v1/failures?window=30d",
             "/api/v1/failures/" + SHARED_FP, "/api/v1/alerts?state=open",
             "/api/v1/repos?days=90"]
    return read_routes(Visible(repo_visible)) + extra


def test_each_user_reads_only_what_github_lets_them(world):
    d = world.data
    # The hidden data is there: a principal that reads everything sees it.
    admin = world.collector.admin_headers()
    # First, so that the collector's all-repository cache (sql/022) holds every repository.
    assert world.get("/api/v1/metrics?window=30d", admin)[1]["runs"] == 3
    for path in ("/api/v1/repos", "/api/v1/logs/search?q=obsidian", "/api/v1/failures?window=30d"):
        status, body = world.get(path, admin)
        assert status == 200 and "acme/secret" in json.dumps(body), (path, body)
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    assert world.names(BOB) == ["acme/open"]
    checked = 0
    for login, hidden in ((ALICE, [3003]), (BOB, [3002, 3003])):
        h = world.headers[login]
        for path in all_views(d[3001]):
            status, body = world.get(path, h)
            assert status in (200, 403, 404), (login, path, status, body)
            text = json.dumps(body)
            for rid in hidden:
                for m in marks(d[rid]):
                    assert m not in text, "%s: %s leaks %r of %s: %s" % (
                        login, path, m, d[rid]["name"], text[:2000])
            checked += 1
        for rid in hidden:
            for path in direct_links(d[rid]) + ["/api/v1/failures/" + SECRET_FP]:
                status, body = world.get(path, h)
                assert status == 404, (login, path, status, body)
                checked += 1
        # What they do read is whole: the shared failure group counts their repositories only.
        status, body = world.get("/api/v1/failures/" + SHARED_FP, h)
        assert status == 200, body
        want = sorted(d[r]["name"] for r in GRANTS[login])
        assert body["failure"]["repos"] == want, body
        for rid in GRANTS[login]:
            for path in direct_links(d[rid]):
                status, body = world.get(path, h)
                assert status == 200, (login, path, status, body)
    assert checked > 60
    # Bob's metrics over "all" are acme/open's alone.
    assert world.get("/api/v1/metrics?window=30d", world.headers[BOB])[1]["runs"] == 1
    assert world.get("/api/v1/metrics?window=30d", world.headers[ALICE])[1]["runs"] == 2
    assert world.get("/api/v1/metrics?window=30d", admin)[1]["runs"] == 3


def test_signed_in_with_github_sees_what_its_token_reads(collector_factory, db, github):
    """End to end: no user or session made in SQL. Alice signs in through GitHub's OAuth flow
    (authorize, token, user, membership on the stand-in), and the token GitHub issued her is
    the one visibility asks /user/repos with: her session lists what it lists, and the hidden
    repository is absent from the list and 404 on its direct links."""
    oauth = FakeGitHubOAuth(github)
    oauth.add_user(ALICE, 501, orgs={"acme": "active"})
    gh = GitHubRepos(github, oauth)
    for rid, name, _ in REPOS:
        gh.add_repo(rid, name)
    gh.grant(ALICE, *GRANTS[ALICE])
    c = collector_factory(env=signin_env(github, CIPULSE_VISIBILITY="github", CIPULSE_POLL="0",
                                         CIPULSE_ANONYMOUS_READ="false"), start=False)
    c.env["CIPULSE_PUBLIC_URL"] = c.http_url
    c.start()
    d = seed(db)
    f = Flow(c, oauth)
    assert f.sign_in(ALICE) == c.http_url + "/"
    (token,) = oauth.tokens  # issued by the sign-in, unknown to the stand-in otherwise
    assert token not in gh.tokens and gh.calls_for(ALICE) == 0
    status, body = f.api("/api/v1/repos")
    assert status == 200, body
    assert sorted(r["full_name"] for r in body["items"]) == ["acme/open", "acme/shared"]
    assert gh.calls_for(ALICE) == 1
    text = json.dumps(body)
    for m in marks(d[3003]):
        assert m not in text, (m, text)
    for path in direct_links(d[3003]):
        assert f.api(path)[0] == 404, path
    for path in direct_links(d[3002]):
        assert f.api(path)[0] == 200, path
    # What GitHub says changes what she reads (after the cache): it is her token being asked.
    gh.grant(ALICE, 3003)
    db.execute("UPDATE visibility_cache SET checked_at = now() - interval '2 hours'")
    assert sorted(r["full_name"] for r in f.api("/api/v1/repos")[1]["items"]) == [
        "acme/open", "acme/secret", "acme/shared"]


def test_writes_stay_inside(world):
    """A GitHub user who maintains: acking a hidden alert is 404 and changes nothing; a
    personal token reads what its owner reads."""
    d = world.data
    world.db.execute("UPDATE users SET role = 'maintainer' WHERE username = %s", (BOB,))
    h = world.headers[BOB]
    status, body, _ = request(world.collector, "POST", "/api/v1/alerts/%d/ack" % d[3003]["alert_id"],
                              None, h)
    assert status == 404, body
    assert world.db.scalar("SELECT acked_at FROM alerts WHERE id = %s", (d[3003]["alert_id"],)) is None
    status, body, _ = request(world.collector, "POST", "/api/v1/alerts/%d/ack" % d[3001]["alert_id"],
                              None, h)
    assert status == 200, body
    status, body, _ = request(world.collector, "POST", "/api/v1/tokens",
                              {"name": "cli", "scope": "read"}, h)
    assert status == 201, body
    bearer = {"Authorization": "Bearer " + body["token"]}
    assert world.get("/api/v1/repos", bearer)[1]["items"][0]["full_name"] == "acme/open"
    assert len(world.get("/api/v1/repos", bearer)[1]["items"]) == 1
    assert world.get("/api/v1/runs/%d" % d[3002]["run_id"], bearer)[0] == 404


def test_restricted_maintainer_cannot_reach_every_repository(world):
    """A GitHub user who maintains but reads only some repositories may not change what reaches
    every repository: alert channels and rules (a shared channel's destination would receive
    every repository's alerts), global silences (they mute every repository), creating or
    deleting; a silence of a repository it reads is fine. An admin token may."""
    world.db.execute("UPDATE users SET role = 'maintainer' WHERE username = %s", (BOB,))
    h = world.headers[BOB]
    until = "2099-01-01T00:00:00Z"
    chans = {"channels": [{"name": "ops", "kind": "webhook",
                           "target": "https://hooks.example.com/x"}]}
    status, body, _ = request(world.collector, "POST", "/api/v1/settings/alerts", chans, h)
    assert status == 403 and body["error"]["code"] == "forbidden", body
    assert world.db.scalar("SELECT count(*) FROM notification_channels") == 0
    status, body, _ = request(world.collector, "POST", "/api/v1/settings/alerts/test",
                              {"channel": "ops"}, h)
    assert status == 403, body
    status, body, _ = request(world.collector, "POST", "/api/v1/silences", {"until": until}, h)
    assert status == 403, body
    status, body, _ = request(world.collector, "POST", "/api/v1/silences",
                              {"repo": "acme/open", "until": until}, h)
    assert status == 201, body
    glob = world.db.scalar("INSERT INTO silences (until) VALUES ('2099-01-01') RETURNING id")
    status, body, _ = request(world.collector, "DELETE", "/api/v1/silences/%d" % glob, None, h)
    assert status == 404, body
    assert world.db.scalar("SELECT count(*) FROM silences WHERE id = %s", (glob,)) == 1
    admin = world.collector.admin_headers()
    status, body, _ = request(world.collector, "DELETE", "/api/v1/silences/%d" % glob, None, admin)
    assert status == 200, body


def test_who_reads_everything_and_who_nothing(world):
    """Admins, the configured and stored read/admin tokens read all; a local non-admin user
    nothing; anonymous 401; /metrics only for those who read all."""
    c = world.collector
    add_user(c, "vera", "viewer", "vera-password-1")
    add_user(c, "ada", "admin", "ada-password-1")
    stored = c.create_token(None, kind="read")
    everyone = ["acme/open", "acme/secret", "acme/shared"]
    for h in (c.admin_headers(), {"Authorization": "Bearer " + READ_TOKEN},
              {"Authorization": "Bearer " + stored}, Session(c, "ada", "ada-password-1").headers()):
        status, body = world.get("/api/v1/repos", h)
        assert status == 200 and sorted(r["full_name"] for r in body["items"]) == everyone, body
        assert world.get("/metrics", h)[0] == 200
    vera = Session(c, "vera", "vera-password-1").headers()
    assert world.get("/api/v1/repos", vera) == (200, {"items": [], "next_cursor": None})
    assert world.get("/api/v1/runs/%d" % world.data[3001]["run_id"], vera)[0] == 404
    assert world.get("/api/v1/repos", {})[0] == 401
    assert world.get("/metrics", world.headers[ALICE])[0] == 403


def test_every_repository_table_is_guarded(world):
    """Row-level security covers every table holding a repository's rows (those of later
    migrations too: cipulse_visibility_prepare runs at each start)."""
    unguarded = world.db.query(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' "
        "AND c.relnamespace = current_schema()::regnamespace "
        "AND (c.relname IN ('repositories', 'failure_groups') OR EXISTS (SELECT 1 FROM "
        "pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'repo_id' AND NOT a.attisdropped)"
        " OR EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'"
        " AND k.confrelid = 'repositories'::regclass)) "
        "AND NOT (c.relrowsecurity AND EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid"
        " AND p.polname = 'cipulse_visible'))")
    assert unguarded == [], unguarded


def test_revoked_permission_shows_after_the_ttl(world):
    """Within the TTL the cached answer is used (GitHub is not asked again); once it is over,
    the revoked repository is gone."""
    d = world.data
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    asked = world.gh.calls_for(ALICE)
    world.gh.revoke(ALICE, 3002)
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    assert world.gh.calls_for(ALICE) == asked  # shared cache: no new question within the TTL
    # The TTL (1h) passes.
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '61 minutes'")
    assert world.names(ALICE) == ["acme/open"]
    assert world.get("/api/v1/runs/%d" % d[3002]["run_id"], world.headers[ALICE])[0] == 404
    world.gh.grant(ALICE, 3003)
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '31 minutes'")
    assert world.names(ALICE) == ["acme/open", "acme/secret"]


def test_one_question_at_a_time(world):
    """The dashboard's requests come together: after the answer expires, eight at once ask
    GitHub once."""
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '2 hours'")
    asked = world.gh.calls_for(ALICE)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: world.names(ALICE), range(8)))
    assert got == [["acme/open", "acme/shared"]] * 8
    assert world.gh.calls_for(ALICE) == asked + 1


def test_a_slow_listing_holds_up_no_other_request(world):
    """GitHub's listing of one user's repositories can take minutes (paced by the rate limit).
    Meanwhile another user is answered, even one whose id falls in the same lock stripe (ids 64
    apart), and the same user's requests are answered from the last answer, which still holds;
    the listing, once GitHub answers, is stored."""
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    alice = world.db.scalar("SELECT id FROM users WHERE username = %s", (ALICE,))
    world.db.execute("SELECT setval('users_id_seq', %s)", (alice + 63,))
    token = "gho_" + secrets.token_hex(18)
    world.gh.add_token(token, "carol-gh")
    world.gh.grant("carol-gh", 3002)
    world.headers["carol-gh"] = github_user(world.db, "carol-gh", 502, token)
    assert world.db.scalar("SELECT id FROM users WHERE username = 'carol-gh'") == alice + 64
    # Past half the TTL: asked again, and GitHub keeps the listing open.
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '40 minutes'")
    world.gh.revoke(ALICE, 3002)
    listing = world.gh.hold(ALICE)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        slow = pool.submit(world.names, ALICE)
        assert listing.wait(60), "GitHub was not asked"
        assert world.names("carol-gh") == ["acme/shared"]
        assert world.names(ALICE) == ["acme/open", "acme/shared"]
        assert not slow.done()
    finally:
        world.gh.release(ALICE)
        pool.shutdown()
    assert slow.result() == ["acme/open"]
    assert world.names(ALICE) == ["acme/open"]


def test_a_slow_first_listing_keeps_the_users_other_requests_waiting_a_bounded_time(
        collector_factory, db, github):
    """Without an answer that holds, the user's other requests wait for the listing under way
    at most CIPULSE_API_TIMEOUT (here 2 s), then read nothing; the listing, once GitHub
    answers, is stored and read."""
    w = World(collector_factory, db, github, extra={"CIPULSE_API_TIMEOUT": "2s"})
    listing = w.gh.hold(ALICE)
    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        slow = pool.submit(w.names, ALICE)
        assert listing.wait(60), "GitHub was not asked"
        assert w.names(ALICE) == []
        assert not slow.done()
    finally:
        w.gh.release(ALICE)
        pool.shutdown()
    assert slow.result() == ["acme/open", "acme/shared"]
    assert w.names(ALICE) == ["acme/open", "acme/shared"]


def test_revoked_permission_real_ttl(collector_factory, db, github):
    """The same on the clock, with a TTL of 2 s: the revoked repository disappears."""
    w = World(collector_factory, db, github, ttl="2s")
    assert w.names(BOB) == ["acme/open"]
    w.gh.revoke(BOB, 3001)
    wait_for(lambda: w.names(BOB) == [], timeout=60, what="the revoked repository to go")


def test_github_down_or_refusing_fails_closed(world):
    d = world.data
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    world.gh.down = True
    # Past half the TTL GitHub is asked again; down: the last answer holds until the TTL...
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '40 minutes'")
    assert world.names(ALICE) == ["acme/open", "acme/shared"]
    # ... and after it, nothing.
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '2 hours'")
    assert world.names(ALICE) == []
    assert world.get("/api/v1/runs/%d" % d[3001]["run_id"], world.headers[ALICE])[0] == 404
    # Back: asked again (not at once after a failure: each question could wait for a time-out).
    world.gh.down = False
    wait_for(lambda: world.names(ALICE) == ["acme/open", "acme/shared"], timeout=120,
             what="GitHub's answer after it came back")
    # A token GitHub refuses reads nothing at once, whatever was cached.
    world.gh.drop_token(world.tokens[ALICE])
    world.db.execute("UPDATE visibility_cache SET checked_at = now() - interval '40 minutes'")
    assert world.names(ALICE) == []
    assert world.db.scalar("SELECT count(*) FROM visibility_cache v JOIN users u ON u.id = v.user_id"
                           " WHERE u.username = %s", (ALICE,)) == 0
    # The user token is never in the log.
    assert world.tokens[ALICE] not in world.collector.log()


def test_many_pages(collector_factory, db, github):
    """/user/repos is read to its last page."""
    w = World(collector_factory, db, github)
    for i in range(250):
        w.gh.add_repo(900000 + i, "other/r%d" % i)
    w.gh.grant(BOB, *range(900000, 900250), 3002)
    assert w.names(BOB) == ["acme/open", "acme/shared"]
    assert w.gh.calls_for(BOB) == 3


def test_visibility_off_is_unchanged(collector_factory, db, github):
    """CIPULSE_VISIBILITY=all (the default): a GitHub user reads everything, GitHub is not
    asked, and no table has row-level security."""
    gh = GitHubRepos(github)
    c = collector_factory(env={"CIPULSE_GITHUB_API_URL": github.url, "CIPULSE_POLL": "0"})
    d = seed(db)
    h = github_user(db, ALICE, 500, "gho_x")
    status, body, _ = request(c, "GET", "/api/v1/repos", None, h)
    assert status == 200
    assert sorted(r["full_name"] for r in body["items"]) == ["acme/open", "acme/secret", "acme/shared"]
    assert request(c, "GET", "/api/v1/runs/%d" % d[3003]["run_id"], None, h)[0] == 200
    assert gh.calls == []
    assert db.scalar("SELECT count(*) FROM pg_class WHERE relrowsecurity") == 0


def test_github_mode_refuses_anonymous_reads(collector_factory):
    c = collector_factory(env={"CIPULSE_VISIBILITY": "github"}, start=False)
    c.start(wait=False)
    assert c.wait_exit() == 2
    assert "CIPULSE_ANONYMOUS_READ=false" in c.log()


def test_reader_role_reads_no_secret(world):
    """Defence in depth: cipulse_reader, the role of a restricted principal's queries, can read
    no credential: not the sessions (their GitHub tokens, CSRF tokens, id hashes), stored token
    hashes, the sign-in's PKCE verifiers, password hashes, repositories' webhook secrets and
    GitHub tokens, alert channels' destinations and secrets; nor any column named like a
    secret that a later migration adds. What its reads need stays readable."""
    secret = ["SELECT github_token FROM sessions", "SELECT csrf_token FROM sessions",
              "SELECT id_hash FROM sessions", "SELECT token_hash FROM api_tokens",
              "SELECT * FROM api_tokens",
              "SELECT verifier FROM github_signin_states", "SELECT password_hash FROM users",
              "SELECT webhook_secret FROM repositories", "SELECT github_token FROM repositories",
              "SELECT target FROM notification_channels",
              "SELECT secret FROM notification_channels", "SELECT * FROM users",
              "SELECT repo_ids FROM visibility_cache"]
    conn = world.db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT c.relname || '.' || a.attname FROM pg_attribute a"
                        " JOIN pg_class c ON c.oid = a.attrelid"
                        " WHERE c.relnamespace = current_schema()::regnamespace"
                        " AND a.attnum > 0 AND NOT a.attisdropped"
                        " AND a.attname ~ '(token|hash|secret|password|verifier)'"
                        " AND a.attname !~ '^has_'"
                        " AND has_column_privilege('cipulse_reader', c.oid, a.attnum, 'SELECT')")
            assert cur.fetchall() == []
            cur.execute("SET ROLE cipulse_reader")
            cur.execute("SELECT set_config('cipulse.repos', '{3001}', false)")
            for sql in secret:
                with pytest.raises(psycopg2.errors.InsufficientPrivilege):
                    cur.execute(sql)
            cur.execute("SELECT full_name FROM repositories")
            assert cur.fetchall() == [("acme/open",)]
            cur.execute("SELECT count(*) FROM users")
            cur.execute("SELECT count(*) FROM jobs")
            assert cur.fetchone() == (2,)
    finally:
        conn.close()
    # The alert settings still say whether a channel has a destination and a secret.
    world.db.execute("INSERT INTO notification_channels (name, kind, target, secret) VALUES"
                     " ('hook', 'webhook', 'https://hooks.example.com/x', 'signing-secret-0123')")
    status, body = world.get("/api/v1/settings/alerts", world.headers[BOB])
    assert status == 200, body
    hook = [ch for ch in body["channels"] if ch["name"] == "hook"]
    assert [(ch["target_set"], ch["secret_set"]) for ch in hook] == [(True, True)]
    assert "hooks.example.com" not in json.dumps(body)
