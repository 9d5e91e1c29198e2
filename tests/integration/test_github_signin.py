"""Sign in with GitHub (issue 12.2): the OAuth web flow of the GitHub App against the GitHub
stand-in (ghoauth.py), the real collector and PostgreSQL. The stand-in plays GitHub's side
strictly: the authorize step needs an S256 code_challenge, the token endpoint checks the client
secret, the code (once, unexpired), redirect_uri and the PKCE verifier against the challenge.

What is held here: the state is required, bound to the browser, single use and expires; the
verifier reaches GitHub and matches; users outside the allowed organisations, disabled users, a
cancelled authorization and GitHub being down all end without a session and with a clear error
on the sign-in page; the session is the local sign-in's (cookie flags, API access, sign-out);
the user token is kept server-side and appears in no reply and no log line; a new GitHub user is
a viewer, recorded in the audit log, and keeps the role an admin gives them."""
import http.cookies
import json
import os
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ghoauth import CLIENT_ID, CLIENT_SECRET, FakeGitHubOAuth, challenge_of
from harness import CIPULSED, run_checked, sanitizer_env, wait_for


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def get(url, cookies=None):
    """GET without following redirects: (status, headers, body text)."""
    h = {"Cookie": "; ".join("%s=%s" % kv for kv in cookies.items())} if cookies else {}
    try:
        with OPENER.open(urllib.request.Request(url, headers=h), timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def set_cookies(headers):
    """name -> (value, [attributes]) of every Set-Cookie header."""
    out = {}
    for line in headers.get_all("Set-Cookie") or []:
        parts = [p.strip() for p in line.split(";")]
        name, _, value = parts[0].partition("=")
        out[name] = (value, parts[1:])
    return out


class Flow:
    """One browser going through the sign-in; every reply it sees is kept in `seen`."""

    def __init__(self, collector, oauth):
        self.c, self.oauth = collector, oauth
        self.cookies = {}
        self.seen = []

    def _get(self, url):
        status, headers, body = get(url, self.cookies)
        self.seen.append("%s\n%s\n%s" % (status, headers, body))
        for name, (value, _) in set_cookies(headers).items():
            if value:
                self.cookies[name] = value
            else:
                self.cookies.pop(name, None)
        return status, headers, body

    def start(self, next_path=None):
        url = self.c.http_url + "/api/v1/auth/github"
        if next_path is not None:
            url += "?" + urllib.parse.urlencode({"next": next_path})
        status, headers, _ = self._get(url)
        assert status == 302, status
        self.start_headers = headers
        self.authorize = headers["Location"]
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.authorize).query)

    def approve(self, login):
        """What GitHub's page does when the user presses Authorize: the callback URL."""
        status, headers, body = get(self.authorize)  # the page itself answers
        assert status == 200 and "Authorize" in body, (status, body)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.authorize).query).items()}
        status, headers, body = get(self.oauth.standin.url + "/login/oauth/authorize/approve?" +
                                    urllib.parse.urlencode(dict(q, login=login)))
        assert status == 302, (status, body)
        return headers["Location"]

    def callback(self, url):
        status, headers, body = self._get(url)
        assert status == 302, (status, body)
        self.callback_headers = headers
        return headers["Location"]

    def sign_in(self, login, next_path=None):
        self.start(next_path)
        return self.callback(self.approve(login))

    def api(self, path):
        status, headers, body = self._get(self.c.http_url + path)
        return status, json.loads(body) if body else None


@pytest.fixture
def oauth(github):
    o = FakeGitHubOAuth(github)
    o.add_user("octo-dev", 5001, orgs={"acme": "active"}, name="Octo Dev")
    o.add_user("outsider", 5002, orgs={"other": "active"})
    o.add_user("invited", 5003, orgs={"acme": "pending"})
    o.add_user("second-org", 5004, orgs={"beta": "active"})
    o.add_user("hidden", 5005, orgs={"acme": "forbidden"})
    return o


def signin_env(github, **extra):
    env = {"CIPULSE_GITHUB_URL": github.url, "CIPULSE_GITHUB_API_URL": github.url,
           "CIPULSE_GITHUB_CLIENT_ID": CLIENT_ID, "CIPULSE_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
           "CIPULSE_GITHUB_ALLOWED_ORGS": "acme, beta"}
    env.update(extra)
    return env


@pytest.fixture
def signin_collector(collector_factory, github):
    c = collector_factory(env=signin_env(github), start=False)
    c.env["CIPULSE_PUBLIC_URL"] = c.http_url  # GitHub sends the browser back here
    return c.start()


def error_of(location, collector):
    assert location.startswith(collector.http_url + "/signin?"), location
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["github_error"][0]


def test_sign_in_with_github(signin_collector, db, oauth):
    c = signin_collector
    assert c.http("GET", "/api/v1/auth")[1]["github"] is True
    f = Flow(c, oauth)
    q = f.start("/alerts?x=1")
    # GitHub's authorize URL: the app's client id, the callback under the public URL, a state,
    # and the S256 challenge of a verifier kept server-side.
    assert f.authorize.startswith(oauth.standin.url + "/login/oauth/authorize?")
    assert q["client_id"] == [CLIENT_ID], f.authorize
    assert q["redirect_uri"] == [c.http_url + "/api/v1/auth/github/callback"]
    assert q["code_challenge_method"] == ["S256"], f.authorize
    verifier = db.scalar("SELECT verifier FROM github_signin_states")
    assert 43 <= len(verifier) <= 128 and q["code_challenge"] == [challenge_of(verifier)]
    assert verifier not in f.authorize and CLIENT_SECRET not in f.authorize
    # The app manifest registers exactly this callback with GitHub.
    manifest = json.loads(c.run("github-app", "manifest", "--url", c.http_url).stdout)
    assert manifest["callback_urls"] == q["redirect_uri"]
    # The state is stored as a hash only; the browser is bound by an HttpOnly cookie.
    state = q["state"][0]
    assert db.scalar("SELECT count(*) FROM github_signin_states WHERE state_hash = %s", (state,)) == 0
    value, flags = set_cookies(f.start_headers)["cipulse_oauth"]
    assert value and "HttpOnly" in flags and "SameSite=Lax" in flags
    assert "Path=/api/v1/auth/github" in flags and "Max-Age=600" in flags
    assert "Secure" not in flags  # plain HTTP public URL

    landing = f.callback(f.approve("octo-dev"))
    assert landing == c.http_url + "/alerts?x=1"
    cookies = set_cookies(f.callback_headers)
    session, flags = cookies["cipulse_session"]
    assert session and "HttpOnly" in flags and "SameSite=Lax" in flags and "Path=/" in flags
    assert cookies["cipulse_oauth"][0] == "" and "Max-Age=0" in cookies["cipulse_oauth"][1]
    assert f.callback_headers["Cache-Control"] == "no-store"
    # The session works for the API like a local one.
    status, body = f.api("/api/v1/session")
    assert status == 200 and body["user"] == {"username": "octo-dev", "display_name": "Octo Dev",
                                              "role": "viewer"}, body
    assert f.api("/api/v1/repos")[0] == 200
    assert c.http("GET", "/api/v1/repos")[0] == 401  # a user exists: reads are closed
    user = db.query("SELECT username, role, github_id, github_login, password_hash FROM users")
    assert user == [{"username": "octo-dev", "role": "viewer", "github_id": 5001,
                     "github_login": "octo-dev", "password_hash": None}]
    # The token is kept with the session, server-side, and nowhere else.
    (token,) = list(oauth.tokens)
    row = db.query("SELECT github_token, github_token_expires_at > now() + interval '7 hours' AS later"
                   " FROM sessions")
    assert row == [{"github_token": token, "later": True}]
    admin = c.admin_headers()
    for path in ("/api/v1/session", "/api/v1/users", "/api/v1/audit", "/api/v1/tokens?all=true"):
        f.seen.append(json.dumps(c.http("GET", path, headers=admin)[1]))
    f.seen.append(f.api("/api/v1/session")[1])
    for reply in f.seen:
        assert token not in str(reply)
    assert token not in c.log() and CLIENT_SECRET not in c.log() and verifier not in c.log()
    assert "signed in with GitHub user=octo-dev" in c.log()
    # A new account is recorded; the next sign-in finds it (no second user, no entry).
    audit = c.http("GET", "/api/v1/audit?action=user.create", headers=admin)[1]["entries"]
    assert [(e["actor"], e["target"], e["after"]["source"]) for e in audit] == [
        ("octo-dev", "octo-dev", "github")]
    # An admin's role change is kept across sign-ins; the user's GitHub login is followed.
    assert c.http("PATCH", "/api/v1/users/octo-dev", {"role": "maintainer"}, headers=admin)[0] == 200
    f2 = Flow(c, oauth)
    assert f2.sign_in("octo-dev") == c.http_url + "/"
    assert f2.api("/api/v1/session")[1]["user"]["role"] == "maintainer"
    assert db.scalar("SELECT count(*) FROM users") == 1
    assert len(c.http("GET", "/api/v1/audit?action=user.create", headers=admin)[1]["entries"]) == 1
    # Signing out ends the session like a local one.
    req = urllib.request.Request(c.http_url + "/api/v1/session", method="DELETE",
                                 headers={"Cookie": "cipulse_session=" + f2.cookies["cipulse_session"]})
    with OPENER.open(req, timeout=30) as r:
        assert r.status == 204
    assert f2.api("/api/v1/session")[0] == 401
    # and the GitHub token goes with it.
    assert db.scalar("SELECT count(*) FROM sessions WHERE github_token IS NOT NULL") == 1


def test_session_ends_with_its_github_token(signin_collector, db, oauth):
    """GitHub's user token expires (expires_in; no refresh token is kept): the session it
    came with ends then, rather than living on with a token visibility can no longer use. A
    session whose token never expires (expires_at NULL, as for local sessions) is unaffected."""
    c = signin_collector
    oauth.token_ttl = 15
    f = Flow(c, oauth)
    f.sign_in("octo-dev")
    assert f.api("/api/v1/session")[0] == 200
    assert f.api("/api/v1/repos")[0] == 200
    expires = db.scalar("SELECT github_token_expires_at FROM sessions")
    wait_for(lambda: f.api("/api/v1/session")[0] == 401, timeout=120,
             what="the session to end with its GitHub token")
    assert db.scalar("SELECT now() >= %s", (expires,))
    assert f.api("/api/v1/repos")[0] == 401
    # Signing in again gives a new token and a working session.
    oauth.token_ttl = 28800
    g = Flow(c, oauth)
    g.sign_in("octo-dev")
    assert g.api("/api/v1/session")[0] == 200
    db.execute("UPDATE sessions SET github_token_expires_at = NULL WHERE revoked_at IS NULL"
               " AND github_token_expires_at > now()")
    assert g.api("/api/v1/session")[0] == 200


def test_state_is_required_bound_single_use_and_expires(signin_collector, db, oauth):
    c = signin_collector
    # No state at all, and a state nobody issued.
    f = Flow(c, oauth)
    f.start()
    back = f.approve("octo-dev")
    parts = urllib.parse.urlsplit(back)
    q = urllib.parse.parse_qs(parts.query)
    no_state = "%s?code=%s" % (back.split("?")[0], q["code"][0])
    assert error_of(f.callback(no_state), c) == "state"
    forged = "%s?code=%s&state=st_forged" % (back.split("?")[0], q["code"][0])
    assert error_of(f.callback(forged), c) == "state"
    # Another browser (no binding cookie) with a real state: refused, and the state is spent.
    f = Flow(c, oauth)
    f.start()
    back = f.approve("octo-dev")
    other = Flow(c, oauth)
    assert error_of(other.callback(back), c) == "state"
    assert error_of(f.callback(back), c) == "state"
    # Used once: the same callback again is refused.
    f = Flow(c, oauth)
    f.start()
    back = f.approve("octo-dev")
    cookie = dict(f.cookies)
    assert f.callback(back) == c.http_url + "/"
    replay = Flow(c, oauth)
    replay.cookies = cookie
    assert error_of(replay.callback(back), c) == "state"
    # Expired: older than 10 minutes.
    f = Flow(c, oauth)
    f.start()
    db.execute("UPDATE github_signin_states SET created_at = now() - interval '11 minutes'")
    assert error_of(f.callback(f.approve("octo-dev")), c) == "state"
    assert db.scalar("SELECT count(*) FROM sessions") == 1  # the one good sign-in
    # A state never reached GitHub's token endpoint when it was refused.
    assert len(oauth.exchanges) == 1


def test_pkce_verifier_is_checked(signin_collector, db, oauth):
    c = signin_collector
    f = Flow(c, oauth)
    f.start()
    # The verifier the collector will send is not the one whose challenge GitHub saw.
    db.execute("UPDATE github_signin_states SET verifier = 'pkce-" + "x" * 40 + "'")
    assert error_of(f.callback(f.approve("octo-dev")), c) == "refused"
    assert ("access_token", "PKCE code_verifier does not match") in oauth.refused
    assert db.scalar("SELECT count(*) FROM sessions") == 0
    assert db.scalar("SELECT count(*) FROM users") == 0
    # The exchange carries the verifier, the client secret and the redirect_uri.
    form = oauth.exchanges[-1]
    assert form["client_id"] == CLIENT_ID and form["client_secret"] == CLIENT_SECRET
    assert form["code_verifier"] == "pkce-" + "x" * 40
    assert form["redirect_uri"] == c.http_url + "/api/v1/auth/github/callback"
    # A code is good once: GitHub refuses it the second time (the collector's state is spent
    # first anyway).
    f = Flow(c, oauth)
    f.start()
    assert f.callback(f.approve("octo-dev")) == c.http_url + "/"


def test_outside_allowed_orgs_is_refused(signin_collector, db, oauth):
    c = signin_collector
    # another org; an invitation not yet accepted; GitHub not telling (403)
    for login in ("outsider", "invited", "hidden"):
        f = Flow(c, oauth)
        assert error_of(f.sign_in(login), c) == "org"
        assert "cipulse_session" not in f.cookies
    assert db.scalar("SELECT count(*) FROM users") == 0
    assert db.scalar("SELECT count(*) FROM sessions") == 0
    assert "GitHub sign-in refused github_login=outsider" in c.log()
    assert "GitHub refused the membership check org=acme" in c.log()
    # A member of the second allowed org is let in.
    assert Flow(c, oauth).sign_in("second-org") == c.http_url + "/"


def test_any_account_only_when_asked(collector_factory, github, oauth, db):
    c = collector_factory(env=signin_env(github, CIPULSE_GITHUB_ALLOWED_ORGS="*"), start=False)
    c.env["CIPULSE_PUBLIC_URL"] = c.http_url
    c.start()
    assert Flow(c, oauth).sign_in("outsider") == c.http_url + "/"
    # Without CIPULSE_GITHUB_ALLOWED_ORGS the collector does not start: an open sign-in to any
    # GitHub account is never the default.
    env = dict(c.env, CIPULSE_GITHUB_ALLOWED_ORGS="")
    p = run_checked([CIPULSED, "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "CIPULSE_GITHUB_ALLOWED_ORGS" in p.stderr, p.stderr
    for unset, why in (("CIPULSE_PUBLIC_URL", "needs CIPULSE_PUBLIC_URL"),
                       ("CIPULSE_GITHUB_CLIENT_SECRET", "needs CIPULSE_GITHUB_CLIENT_SECRET")):
        env = dict(c.env)
        env.pop(unset)
        p = run_checked([CIPULSED, "serve"], env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and why in p.stderr, p.stderr
        assert CLIENT_SECRET not in p.stderr


def test_secret_file(collector_factory, github, oauth, db, tmp_path):
    path = tmp_path / "client-secret"
    path.write_text(CLIENT_SECRET + "\n")
    env = signin_env(github, CIPULSE_GITHUB_CLIENT_SECRET_FILE=str(path))
    env["CIPULSE_GITHUB_CLIENT_SECRET"] = ""
    c = collector_factory(env=env, start=False)
    c.env["CIPULSE_PUBLIC_URL"] = c.http_url
    c.start()
    assert Flow(c, oauth).sign_in("octo-dev") == c.http_url + "/"
    # A wrong secret: GitHub refuses the exchange, and the sign-in page says so.
    path.write_text("not-the-secret\n")
    c2 = collector_factory(env=dict(c.env), start=False)
    c2.env["CIPULSE_HTTP_ADDR"] = "127.0.0.1:%d" % c2.http_port
    c2.env["CIPULSE_GRPC_ADDR"] = "127.0.0.1:%d" % c2.grpc_port
    c2.env["CIPULSE_PUBLIC_URL"] = c2.http_url
    c2.start()
    assert error_of(Flow(c2, oauth).sign_in("octo-dev"), c2) == "refused"
    assert ("access_token", "client id or secret") in oauth.refused


def test_disabled_user_is_refused(signin_collector, db, oauth):
    c = signin_collector
    f = Flow(c, oauth)
    f.sign_in("octo-dev")
    assert f.api("/api/v1/session")[0] == 200
    admin = c.admin_headers()
    assert c.http("PATCH", "/api/v1/users/octo-dev", {"disabled": True}, headers=admin)[0] == 200
    assert f.api("/api/v1/session")[0] == 401  # disabling ends the sessions
    g = Flow(c, oauth)
    assert error_of(g.sign_in("octo-dev"), c) == "disabled"
    assert "cipulse_session" not in g.cookies
    assert db.scalar("SELECT count(*) FROM sessions WHERE revoked_at IS NULL") == 0


def test_cancelled_and_github_down(signin_collector, db, oauth):
    c = signin_collector
    f = Flow(c, oauth)
    f.start()
    q = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(f.authorize).query).items()}
    status, headers, _ = get(oauth.standin.url + "/login/oauth/authorize/cancel?" +
                             urllib.parse.urlencode(q))
    assert error_of(f.callback(headers["Location"]), c) == "denied"
    oauth.down = True
    f = Flow(c, oauth)
    assert error_of(f.sign_in("octo-dev"), c) == "unavailable"
    assert db.scalar("SELECT count(*) FROM sessions") == 0


def test_github_login_of_a_local_user_gets_its_own_account(signin_collector, db, oauth):
    """A GitHub account named like a local user is not that user (no takeover by name)."""
    c = signin_collector
    run_checked([c.binary, "user", "add", "octo-dev", "--role", "admin", "--password-stdin"],
                env=c.env, input="local-password-1\n", capture_output=True, text=True,
                timeout=60, check=True)
    f = Flow(c, oauth)
    f.sign_in("octo-dev")
    user = f.api("/api/v1/session")[1]["user"]
    assert user == {"username": "octo-dev-gh5001", "display_name": "Octo Dev", "role": "viewer"}


def test_not_configured(collector):
    assert collector.http("GET", "/api/v1/auth")[1]["github"] is False
    status, _, body = get(collector.http_url + "/api/v1/auth/github")
    assert status == 404 and "not configured" in body
    status, _, body = get(collector.http_url + "/api/v1/auth/github/callback?code=x&state=y")
    assert status == 404
