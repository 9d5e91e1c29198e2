"""Accounts and access (issue 12): every registered route walked by every kind of principal
(the route x role table), sessions (cookie flags, CSRF, idle and absolute expiry, logout),
login lock-out, disabled users, personal tokens (expiry, revoke) and the audit log.

ACCESS below must have a row for every (method, pattern) the collector registers: a new route
without an access rule fails test_every_route_has_an_access_rule. Adding one is one line."""
import datetime as dt
import http.cookies
import json
import urllib.error
import urllib.request

import pytest

import api_history as H
from harness import run_checked, wait_for
from test_api_openapi import server_routes

# need: open (anyone), viewer / maintainer / admin (that role or more), session (a signed-in
# session only), user (a user: a session or a write token of one), revoke_other (admin; others
# 404 for another user's token), signature / self (checked in their own tests: the webhook's
# HMAC, sign-in and sign-out). path: a path, or a function of the fixture giving (path, body).
ACCESS = {
    ("GET", "/healthz"): ("open", "/healthz"),
    ("GET", "/readyz"): ("open", "/readyz"),
    ("GET", "/metrics"): ("viewer", "/metrics"),
    ("POST", "/webhook/github"): ("signature", None),
    ("GET", "/api/v1/repos"): ("viewer", "/api/v1/repos"),
    ("POST", "/api/v1/repos"): ("admin", lambda f: ("/api/v1/repos", {"full_name": f.unique("octo/r")})),
    ("GET", "/api/v1/repos/*"): ("viewer", "/api/v1/repos/octo/alpha/runs"),
    ("GET", "/api/v1/runs/*"): ("viewer", lambda f: ("/api/v1/runs/%d" % f.run_id, None)),
    ("GET", "/api/v1/jobs/*"): ("viewer", lambda f: ("/api/v1/jobs/%d/logs" % f.job_id, None)),
    ("GET", "/api/v1/metrics"): ("viewer", "/api/v1/metrics"),
    ("GET", "/api/v1/logs/search"): ("viewer", "/api/v1/logs/search?q=passed"),
    ("GET", "/api/v1/alerts"): ("viewer", "/api/v1/alerts"),
    ("GET", "/api/v1/alerts/*"): ("viewer", lambda f: ("/api/v1/alerts/%d" % f.alert_id, None)),
    ("POST", "/api/v1/alerts/*"): ("maintainer", lambda f: ("/api/v1/alerts/%d/ack" % f.alert_id, None)),
    ("GET", "/api/v1/silences"): ("viewer", "/api/v1/silences"),
    ("POST", "/api/v1/silences"): ("maintainer", lambda f: ("/api/v1/silences", {"until": f.future, "comment": "x"})),
    ("DELETE", "/api/v1/silences/*"): ("maintainer", lambda f: ("/api/v1/silences/%d" % f.new_silence(), None)),
    ("POST", "/api/v1/settings/alerts/test"): ("maintainer", "/api/v1/settings/alerts/test", {"channel": "nope"}, {404}),
    ("GET", "/api/v1/settings/alerts"): ("viewer", "/api/v1/settings/alerts"),
    ("POST", "/api/v1/settings/alerts"): ("maintainer", "/api/v1/settings/alerts", {"channels": [], "rules": []}),
    ("POST", "/api/v1/poll/run"): ("admin", "/api/v1/poll/run", {"repo": "octo/alpha"}, {409}),
    ("GET", "/api/v1/auth"): ("open", "/api/v1/auth"),
    # Browser redirects, the same for every principal; here GitHub sign-in is not configured
    # (404); the configured flow is test_github_signin.py's.
    ("GET", "/api/v1/auth/github"): ("open", "/api/v1/auth/github", None, {404}),
    ("GET", "/api/v1/auth/github/callback"): ("open", "/api/v1/auth/github/callback?code=c&state=s", None, {404}),
    ("GET", "/api/v1/session"): ("session", "/api/v1/session"),
    ("POST", "/api/v1/session"): ("self", None),
    ("DELETE", "/api/v1/session"): ("self", None),
    ("GET", "/api/v1/users"): ("admin", "/api/v1/users"),
    ("POST", "/api/v1/users"): ("admin", lambda f: ("/api/v1/users", {"username": f.unique("u"), "role": "viewer", "password": "long enough pw"})),
    ("PATCH", "/api/v1/users/*"): ("admin", "/api/v1/users/dora", {"display_name": "Dora"}),
    ("GET", "/api/v1/tokens"): ("viewer", "/api/v1/tokens"),
    ("POST", "/api/v1/tokens"): ("user", "/api/v1/tokens", {"name": "t", "scope": "read"}),
    ("DELETE", "/api/v1/tokens/*"): ("revoke_other", lambda f: ("/api/v1/tokens/%d" % f.dora_token(), None)),
    ("GET", "/api/v1/audit"): ("admin", "/api/v1/audit"),
    ("GET", "/api/v1/tests"): ("viewer", "/api/v1/tests"),
    ("GET", "/api/v1/tests/*"): ("viewer", "/api/v1/tests/0123456789abcdef", None, {404}),
    ("GET", "/api/v1/failures"): ("viewer", "/api/v1/failures"),
    ("GET", "/api/v1/failures/*"): ("viewer", "/api/v1/failures/" + "c" * 64, None, {404}),
}

RANK = {"viewer": 1, "maintainer": 2, "admin": 3}
PASSWORDS = {"vera": "vera-password-1", "mike": "mike-password-1", "ada": "ada-password-1",
             "dora": "dora-password-1"}
READ_TOKEN = "configured-read-token-0123456789"


def request(collector, method, path, body=None, headers=None):
    """One request: (status, parsed JSON or text, response headers)."""
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(collector.http_url + path, data=data, method=method,
                                 headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw, rh = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, rh = e.code, e.read(), e.headers
    try:
        return status, json.loads(raw), rh
    except ValueError:
        return status, raw.decode("utf-8", "replace"), rh


def add_user(collector, name, role, password=None):
    p = run_checked([collector.binary, "user", "add", name, "--role", role, "--password-stdin"],
                    env=collector.env, input=(password or PASSWORDS[name]) + "\n",
                    capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p


class Session:
    def __init__(self, collector, name, password=None):
        status, body, h = request(collector, "POST", "/api/v1/session",
                                  {"username": name, "password": password or PASSWORDS[name]})
        assert status == 200, (status, body)
        self.set_cookie = h.get("Set-Cookie")
        jar = http.cookies.SimpleCookie(self.set_cookie)
        self.cookie = jar["cipulse_session"].value
        self.csrf = body["csrf_token"]
        self.body = body

    def headers(self, csrf=True):
        h = {"Cookie": "cipulse_session=" + self.cookie}
        if csrf:
            h["X-CSRF-Token"] = self.csrf
        return h


def personal_token(collector, session, scope, days=None, name="t"):
    body = {"name": name, "scope": scope}
    if days is not None:
        body["expires_in_days"] = days
    status, reply, _ = request(collector, "POST", "/api/v1/tokens", body, session.headers())
    assert status == 201, (status, reply)
    assert reply["token"].startswith("cip_") and reply["scope"] == scope
    return reply


class Fixture:
    """History, an alert, users of every role and their sessions and tokens."""

    def __init__(self, collector, db):
        self.collector, self.db = collector, db
        H.insert_history(db, seed=3, runs=5)
        db.execute("INSERT INTO alerts (kind, repo_id, condition_key, summary, run_id)"
                   " VALUES ('failure', 1001, 'k', 'CI failed on main', 9000001)")
        self.alert_id = db.scalar("SELECT id FROM alerts")
        self.run_id = db.scalar("SELECT run_id FROM workflow_runs LIMIT 1")
        self.job_id = db.scalar("SELECT job_id FROM logs LIMIT 1")
        self.future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        self.n = 0
        for name, role in (("vera", "viewer"), ("mike", "maintainer"), ("ada", "admin"),
                           ("dora", "viewer")):
            add_user(collector, name, role)
        self.sessions = {n: Session(collector, n) for n in ("vera", "mike", "ada", "dora")}
        self.dora = self.sessions.pop("dora")
        ingest = collector.create_token("octo/alpha")
        pread = personal_token(collector, self.sessions["ada"], "read")["token"]
        pwrite = personal_token(collector, self.sessions["mike"], "write")["token"]
        bearer = lambda t: {"Authorization": "Bearer " + t}  # noqa: E731
        # name -> (headers, rank (None: anonymous, 0: no role), has a user, is a session)
        self.principals = {
            "anonymous": ({}, None, False, False),
            "viewer": (self.sessions["vera"].headers(), 1, True, True),
            "maintainer": (self.sessions["mike"].headers(), 2, True, True),
            "admin": (self.sessions["ada"].headers(), 3, True, True),
            "read token": (bearer(READ_TOKEN), 1, False, False),
            "admin token": (collector.admin_headers(), 3, False, False),
            "ingest token": (bearer(ingest), 0, False, False),
            "personal read token": (bearer(pread), 1, True, False),
            "personal write token": (bearer(pwrite), 2, True, False),
        }

    def unique(self, prefix):
        self.n += 1
        return "%s%d" % (prefix, self.n) if "/" not in prefix else "%s%d" % (prefix, self.n)

    def new_silence(self):
        return self.db.scalar("INSERT INTO silences (until) VALUES (now() + interval '1 hour')"
                              " RETURNING id")

    def dora_token(self):
        return personal_token(self.collector, self.dora, "read")["id"]


def expected(need, principal, ok):
    """The statuses a principal may get for a route of `need` (ok: the allowed ones)."""
    _, rank, has_user, session = principal
    denied = {401} if rank is None else {403}
    if need == "open":
        return ok
    if need == "session":
        return ok if session else {401}
    if need in RANK:
        return ok if rank is not None and rank >= RANK[need] else denied
    if need == "user":
        writes = session or (has_user and rank >= 2)
        return ok if has_user and writes else denied
    if need == "revoke_other":
        if rank is None or rank == 0:
            return denied
        if rank == 3:
            return ok
        return {404} if has_user else {403}
    raise AssertionError(need)


def test_every_route_has_an_access_rule():
    routes = server_routes()
    assert len(routes) >= 30
    missing = sorted(routes - set(ACCESS))
    stale = sorted(set(ACCESS) - routes)
    assert not missing, "routes without a row in ACCESS (test_access.py): %s" % missing
    assert not stale, "rows of ACCESS for routes that are gone: %s" % stale


def test_route_by_role(collector_factory, db):
    """Every route x every principal: 2xx (or the route's documented answer) when allowed,
    401 for anonymous, 403 for a principal without the right."""
    collector = collector_factory(env={"CIPULSE_READ_TOKEN": READ_TOKEN})
    f = Fixture(collector, db)
    checked = 0
    for (method, pattern), row in sorted(ACCESS.items()):
        need, target = row[0], row[1]
        if need in ("signature", "self"):
            continue
        for pname, principal in f.principals.items():
            path, body = target(f) if callable(target) else (target, row[2] if len(row) > 2 else None)
            if body is None and method in ("POST", "PATCH") and len(row) > 2:
                body = row[2]
            ok = row[3] if len(row) > 3 else {200, 201, 204}
            want = expected(need, principal, ok)
            status, reply, _ = request(collector, method, path, body, principal[0])
            assert status in want, "%s %s as %s: %s %s (want %s)" % (
                method, path, pname, status, reply, sorted(want))
            checked += 1
    assert checked >= 200, checked


def test_anonymous_reads(collector_factory, db):
    """Open while no user exists (today's behaviour), closed once one does, and closed by
    CIPULSE_ANONYMOUS_READ=false; /api/v1/auth says which."""
    collector = collector_factory()
    assert request(collector, "GET", "/api/v1/repos")[0] == 200
    assert request(collector, "GET", "/api/v1/auth")[1] == {
        "local": True, "github": False, "anonymous_read": True}
    assert request(collector, "POST", "/api/v1/silences", {"until": "2099-01-01T00:00:00Z"})[0] == 401
    add_user(collector, "vera", "viewer")
    status, body, h = request(collector, "GET", "/api/v1/repos")
    assert status == 401 and "WWW-Authenticate" in h, body
    assert request(collector, "GET", "/api/v1/auth")[1]["anonymous_read"] is False
    assert request(collector, "GET", "/api/v1/repos", headers=Session(collector, "vera").headers())[0] == 200
    closed = collector_factory(env={"CIPULSE_ANONYMOUS_READ": "false"})
    db.execute("DELETE FROM sessions")
    db.execute("DELETE FROM users")
    assert request(closed, "GET", "/api/v1/repos")[0] == 401
    assert request(closed, "GET", "/api/v1/auth")[1]["anonymous_read"] is False


def test_session_cookie_flags_and_logout(collector_factory, db):
    collector = collector_factory()
    add_user(collector, "vera", "viewer")
    s = Session(collector, "vera")
    flags = [p.strip() for p in s.set_cookie.split(";")]
    assert "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags
    assert "Secure" not in flags  # plain HTTP, no https public URL
    assert s.body["user"] == {"username": "vera", "display_name": "", "role": "viewer"}
    # Only a hash of the session id is stored.
    assert db.scalar("SELECT count(*) FROM sessions WHERE id_hash = %s", (s.cookie,)) == 0
    assert db.scalar("SELECT count(*) FROM sessions") == 1
    status, body, _ = request(collector, "GET", "/api/v1/session", headers=s.headers(False))
    assert status == 200 and body["csrf_token"] == s.csrf
    status, _, h = request(collector, "DELETE", "/api/v1/session", headers=s.headers(False))
    assert status == 204 and "Max-Age=0" in h["Set-Cookie"]
    assert db.scalar("SELECT revoked_at IS NOT NULL FROM sessions") is True
    # The old cookie is worth nothing now.
    assert request(collector, "GET", "/api/v1/session", headers=s.headers(False))[0] == 401
    assert request(collector, "GET", "/api/v1/repos", headers=s.headers(False))[0] == 401
    # Never in the log: passwords, cookies, CSRF tokens.
    log = collector.log()
    assert PASSWORDS["vera"] not in log and s.cookie not in log and s.csrf not in log

    secure = collector_factory(env={"CIPULSE_PUBLIC_URL": "https://ci.example.com"})
    s2 = Session(secure, "vera")
    assert "Secure" in [p.strip() for p in s2.set_cookie.split(";")]


def test_csrf(collector_factory, db):
    collector = collector_factory()
    add_user(collector, "mike", "maintainer")
    s = Session(collector, "mike")
    body = {"until": "2099-01-01T00:00:00Z"}
    status, reply, _ = request(collector, "POST", "/api/v1/silences", body, s.headers(False))
    assert status == 403 and reply["error"]["code"] == "csrf", reply
    wrong = dict(s.headers(False), **{"X-CSRF-Token": s.csrf[:-1] + ("x" if s.csrf[-1] != "x" else "y")})
    assert request(collector, "POST", "/api/v1/silences", body, wrong)[0] == 403
    assert db.scalar("SELECT count(*) FROM silences") == 0
    assert request(collector, "POST", "/api/v1/silences", body, s.headers())[0] == 201
    # Reads need no CSRF token; bearer writes neither.
    assert request(collector, "GET", "/api/v1/silences", headers=s.headers(False))[0] == 200
    assert request(collector, "POST", "/api/v1/silences", body, collector.admin_headers())[0] == 201


def test_session_idle_and_absolute_expiry(collector_factory, db):
    collector = collector_factory(env={"CIPULSE_SESSION_IDLE": "1h", "CIPULSE_SESSION_MAX": "2h"})
    add_user(collector, "vera", "viewer")
    idle, old = Session(collector, "vera"), Session(collector, "vera")
    assert db.scalar("SELECT max(expires_at - created_at) FROM sessions") == dt.timedelta(hours=2)
    for s in (idle, old):
        assert request(collector, "GET", "/api/v1/session", headers=s.headers(False))[0] == 200
    # Unused for just over CIPULSE_SESSION_IDLE: ended. Used within it: goes on.
    db.execute("UPDATE sessions SET last_seen_at = now() - interval '61 minutes' WHERE id = "
               "(SELECT min(id) FROM sessions)")
    db.execute("UPDATE sessions SET last_seen_at = now() - interval '59 minutes' WHERE id = "
               "(SELECT max(id) FROM sessions)")
    assert request(collector, "GET", "/api/v1/session", headers=idle.headers(False))[0] == 401
    assert request(collector, "GET", "/api/v1/session", headers=old.headers(False))[0] == 200
    # Past the absolute expiry, however recently used.
    db.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = "
               "(SELECT max(id) FROM sessions)")
    assert request(collector, "GET", "/api/v1/session", headers=old.headers(False))[0] == 401


def test_login_lockout_and_generic_message(collector_factory, db):
    collector = collector_factory(env={"CIPULSE_LOGIN_MAX_FAILURES": "3"})
    add_user(collector, "vera", "viewer")
    add_user(collector, "dora", "viewer")
    wrong_pw = request(collector, "POST", "/api/v1/session", {"username": "vera", "password": "nope-nope"})
    no_user = request(collector, "POST", "/api/v1/session", {"username": "nobody", "password": "nope-nope"})
    assert wrong_pw[0] == no_user[0] == 401
    assert wrong_pw[1] == no_user[1] == {
        "error": {"code": "unauthorized", "message": "invalid username or password"}}
    # The account locks after 3 failures, even with the right password; another account
    # from the same address too (3 failures from this address): 429 with Retry-After.
    request(collector, "POST", "/api/v1/session", {"username": "vera", "password": "nope-nope"})
    status, body, h = request(collector, "POST", "/api/v1/session",
                              {"username": "vera", "password": PASSWORDS["vera"]})
    assert status == 429 and int(h["Retry-After"]) > 0, body
    assert request(collector, "POST", "/api/v1/session",
                   {"username": "dora", "password": PASSWORDS["dora"]})[0] == 429
    # A disabled user is answered like a wrong password (the counters, shared by every
    # collector, cleared first: test_accounts_review.py).
    db.execute("DELETE FROM login_failures")
    other = collector_factory()
    run_checked([collector.binary, "user", "disable", "dora"], env=collector.env,
                capture_output=True, timeout=60)
    status, body, _ = request(other, "POST", "/api/v1/session",
                              {"username": "dora", "password": PASSWORDS["dora"]})
    assert status == 401 and body == wrong_pw[1]


def test_disabled_user_and_token_expiry_and_revoke(collector, db):
    add_user(collector, "vera", "viewer")
    s = Session(collector, "vera")
    tok = personal_token(collector, s, "read")
    bearer = {"Authorization": "Bearer " + tok["token"]}
    assert db.scalar("SELECT count(*) FROM api_tokens WHERE token_hash = %s", (tok["token"],)) == 0
    assert request(collector, "GET", "/api/v1/repos", headers=bearer)[0] == 200
    status, body, _ = request(collector, "GET", "/api/v1/tokens", headers=s.headers(False))
    assert status == 200 and [t["id"] for t in body["tokens"]] == [tok["id"]]
    assert body["tokens"][0]["last_used_at"] is not None and "token" not in body["tokens"][0]
    # Expired: refused.
    db.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = %s",
               (tok["id"],))
    assert request(collector, "GET", "/api/v1/repos", headers=bearer)[0] == 401
    # Revoked: refused (a fresh one, revoked through the API).
    tok2 = personal_token(collector, s, "read", days=30)
    assert tok2["expires_at"] is not None
    b2 = {"Authorization": "Bearer " + tok2["token"]}
    assert request(collector, "GET", "/api/v1/repos", headers=b2)[0] == 200
    assert request(collector, "DELETE", "/api/v1/tokens/%d" % tok2["id"], headers=s.headers())[0] == 204
    assert request(collector, "GET", "/api/v1/repos", headers=b2)[0] == 401
    assert request(collector, "DELETE", "/api/v1/tokens/%d" % tok2["id"], headers=s.headers())[0] == 404
    # Disabled: its sessions and tokens stop at once.
    tok3 = personal_token(collector, s, "read")
    b3 = {"Authorization": "Bearer " + tok3["token"]}
    status, _, _ = request(collector, "PATCH", "/api/v1/users/vera", {"disabled": True},
                           collector.admin_headers())
    assert status == 200
    assert request(collector, "GET", "/api/v1/repos", headers=b3)[0] == 401
    assert request(collector, "GET", "/api/v1/session", headers=s.headers(False))[0] == 401
    # The CLI revokes stored tokens too.
    ingest = collector.create_token("octo/alpha")
    tid = db.scalar("SELECT max(id) FROM api_tokens WHERE kind = 'ingest'")
    p = run_checked([collector.binary, "token", "revoke", str(tid)], env=collector.env,
                    capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert db.scalar("SELECT revoked_at IS NOT NULL FROM api_tokens WHERE id = %s", (tid,))
    del ingest


def test_user_cli(collector, db):
    add_user(collector, "vera", "viewer")
    dup = run_checked([collector.binary, "user", "add", "vera", "--role", "viewer",
                       "--password-stdin"], env=collector.env, input="another-password\n",
                      capture_output=True, text=True, timeout=60)
    assert dup.returncode == 1 and "exists" in dup.stderr
    short = run_checked([collector.binary, "user", "add", "bob", "--role", "viewer",
                         "--password-stdin"], env=collector.env, input="short\n",
                        capture_output=True, text=True, timeout=60)
    assert short.returncode == 2
    bad_role = run_checked([collector.binary, "user", "add", "bob", "--role", "root",
                            "--password-stdin"], env=collector.env, input="long-enough-1\n",
                           capture_output=True, text=True, timeout=60)
    assert bad_role.returncode == 2
    h = db.scalar("SELECT password_hash FROM users WHERE username = 'vera'")
    assert h.startswith("$argon2id$") and PASSWORDS["vera"] not in h
    old = Session(collector, "vera")
    p = run_checked([collector.binary, "user", "reset", "vera", "--password-stdin"],
                    env=collector.env, input="new-password-2\n", capture_output=True,
                    text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # A new password ends the sessions signed in with the old one.
    assert request(collector, "GET", "/api/v1/session", headers=old.headers(False))[0] == 401
    assert request(collector, "POST", "/api/v1/session",
                   {"username": "vera", "password": PASSWORDS["vera"]})[0] == 401
    Session(collector, "vera", "new-password-2")
    out = run_checked([collector.binary, "user", "list"], env=collector.env,
                      capture_output=True, text=True, timeout=60).stdout
    assert "vera" in out and "viewer" in out and "$argon2id" not in out


def test_users_api_and_audit(collector, db):
    admin = collector.admin_headers()
    status, body, _ = request(collector, "POST", "/api/v1/users",
                              {"username": "carol", "role": "maintainer",
                               "password": "carol-password", "display_name": "Carol"}, admin)
    assert status == 201 and body["user"]["role"] == "maintainer", body
    assert body["user"]["source"] == "local" and "password" not in json.dumps(body)
    assert request(collector, "POST", "/api/v1/users", {"username": "carol", "role": "viewer",
                                                        "password": "carol-password"}, admin)[0] == 409
    assert request(collector, "POST", "/api/v1/users", {"username": "x", "role": "boss",
                                                        "password": "carol-password"}, admin)[0] == 400
    s = Session(collector, "carol", "carol-password")
    status, body, _ = request(collector, "PATCH", "/api/v1/users/carol",
                              {"role": "viewer", "password": "carol-password-2"}, admin)
    assert status == 200 and body["user"]["role"] == "viewer"
    assert request(collector, "PATCH", "/api/v1/users/nobody", {"role": "viewer"}, admin)[0] == 404
    s = Session(collector, "carol", "carol-password-2")
    assert s.body["user"]["role"] == "viewer"
    # Changes by a maintainer: a silence and alert settings with a secret destination.
    request(collector, "PATCH", "/api/v1/users/carol", {"role": "maintainer"}, admin)
    status, sil, _ = request(collector, "POST", "/api/v1/silences",
                             {"until": "2099-01-01T00:00:00Z", "comment": "deploy"}, s.headers())
    assert status == 201
    hook = "https://hooks.example.com/very-secret-path"
    status, reply, _ = request(collector, "POST", "/api/v1/settings/alerts",
                               {"channels": [{"name": "ops", "kind": "webhook", "target": hook,
                                              "secret": "hmac-secret-value"}]}, s.headers())
    assert status == 200, reply
    assert request(collector, "DELETE", "/api/v1/silences/%d" % sil["id"], headers=s.headers())[0] == 200
    status, reg, _ = request(collector, "POST", "/api/v1/repos", {"full_name": "octo/audited"}, admin)
    assert status == 201
    tok = personal_token(collector, s, "write")
    assert request(collector, "DELETE", "/api/v1/tokens/%d" % tok["id"], headers=admin)[0] == 204
    db.execute("INSERT INTO alerts (kind, repo_id, condition_key, summary) SELECT 'failure', id,"
               " 'k', 'CI failed' FROM repositories WHERE full_name = 'octo/audited'")
    alert = db.scalar("SELECT id FROM alerts")
    assert request(collector, "POST", "/api/v1/alerts/%d/ack" % alert, headers=s.headers())[0] == 200
    status, log, _ = request(collector, "GET", "/api/v1/audit?limit=200", headers=admin)
    assert status == 200
    entries = log["entries"]
    actions = [(e["action"], e["actor"]) for e in reversed(entries)]
    assert actions == [
        ("user.create", "admin-token"), ("user.update", "admin-token"),
        ("user.update", "admin-token"), ("silence.create", "carol"),
        ("alert_settings.update", "carol"), ("silence.delete", "carol"),
        ("repository.create", "admin-token"), ("token.create", "carol"),
        ("token.revoke", "admin-token"), ("alert.ack", "carol")], actions
    by = {e["action"]: e for e in reversed(entries)}  # the newest of each action
    assert by["user.update"]["before"]["role"] == "viewer" and by["user.update"]["after"]["role"] == "maintainer"
    assert by["silence.create"]["after"]["comment"] == "deploy"
    assert by["silence.delete"]["before"]["id"] == sil["id"] and by["silence.delete"]["after"] is None
    assert by["silence.create"]["actor_kind"] == "user" and by["repository.create"]["actor_kind"] == "config_token"
    assert by["silence.create"]["remote_addr"] == "127.0.0.1"
    assert by["token.revoke"]["target"] == "token:%d" % tok["id"] and by["token.revoke"]["before"]["owner"] == "carol"
    assert by["alert.ack"]["target"] == "alert:%d" % alert
    text = json.dumps(entries)
    for secret in (hook, "hmac-secret-value", "carol-password", reg["webhook_secret"],
                   reg["ingest_token"], tok["token"]):
        assert secret not in text, secret
    assert by["alert_settings.update"]["after"]["channels"][0]["target"] == "[redacted]"
    # Filters and pages.
    status, only, _ = request(collector, "GET", "/api/v1/audit?actor=carol&action=silence.create", headers=admin)
    assert [e["action"] for e in only["entries"]] == ["silence.create"]
    status, p1, _ = request(collector, "GET", "/api/v1/audit?limit=3", headers=admin)
    status, p2, _ = request(collector, "GET", "/api/v1/audit?limit=3&cursor=" + p1["next_cursor"], headers=admin)
    assert [e["id"] for e in p1["entries"] + p2["entries"]] == [e["id"] for e in entries[:6]]
    assert p2["next_cursor"]
    # Recorded in the change's transaction: a change that fails leaves no entry.
    n = len(entries)
    assert request(collector, "POST", "/api/v1/settings/alerts",
                   {"rules": [{"kind": "nope"}]}, s.headers())[0] == 400
    assert db.scalar("SELECT count(*) FROM audit_log") == n
