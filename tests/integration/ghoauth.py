"""OAuth endpoints of the GitHub stand-in, for "Sign in with GitHub" (issue 12.2).

FakeGitHubOAuth registers on a harness.GitHubStandIn (web and API on one address, as the tests
point CIPULSE_GITHUB_URL and CIPULSE_GITHUB_API_URL at it):

  GET  /login/oauth/authorize      GitHub's authorize page: checks client_id, redirect_uri,
                                   state and an S256 code_challenge, and shows an "Authorize"
                                   form (a login field, prefilled with `default_login`) and a
                                   "Cancel" link
  GET  /login/oauth/authorize/approve?login=...  (the form's action) -> 302 to redirect_uri
                                   with a one-time code for that user and the state; /cancel ->
                                   302 with error=access_denied, as GitHub does
  POST /login/oauth/access_token   the code exchange, as GitHub answers it (200 with
                                   {"error": ...} when refused): the client id and secret must
                                   match, the code must be unused and unexpired, redirect_uri
                                   the one of the authorize step, and base64url(SHA-256(
                                   code_verifier)) the code_challenge (PKCE). Issues a user
                                   token ("ghu_...") with expires_in, or records the refusal in
                                   `refused`
  GET  /user                       the token's user (401 "Bad credentials" otherwise)
  GET  /user/memberships/orgs/{org}  the token's user's membership (404 when not a member;
                                   state "active" or "pending")

`users` maps login -> {"id", "name", "orgs": {org: "active"|"pending"|"forbidden"}} (forbidden:
the membership endpoint answers 403, as when GitHub will not tell the app). `down = True` makes
the token endpoint answer 503. `tokens` maps issued tokens to logins (helper B's repository
endpoints may look users up there with `user_of`).
"""
import base64
import hashlib
import html
import json
import secrets
import threading
import time
import urllib.parse

CLIENT_ID = "Iv23liCipulseTest01"
CLIENT_SECRET = "test-client-secret-0123456789abcdef0123"


def challenge_of(verifier):
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def query(path):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(path).query,
                                                      keep_blank_values=True).items()}


class FakeGitHubOAuth:
    def __init__(self, standin, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                 code_ttl=600, token_ttl=28800):
        self.standin = standin
        self.client_id = client_id
        self.client_secret = client_secret
        self.code_ttl = code_ttl
        self.token_ttl = token_ttl
        self.lock = threading.Lock()
        self.users = {}
        self.codes = {}        # code -> dict(login, challenge, method, redirect_uri, client_id, at)
        self.tokens = {}       # token -> login
        self.refused = []      # (endpoint, reason) of every refusal
        self.authorizations = []  # the query of every authorize request
        self.exchanges = []    # the form of every token request
        self.default_login = None
        self.check_pkce = True  # tests turn it off to show the check matters
        self.down = False
        standin.route("GET", "/login/oauth/authorize", self._authorize)
        standin.route("GET", "/login/oauth/authorize/approve", self._approve)
        standin.route("GET", "/login/oauth/authorize/cancel", self._cancel)
        standin.route("POST", "/login/oauth/access_token", self._access_token)
        standin.route("GET", "/user", self._user)

    def add_user(self, login, user_id, orgs=None, name=None):
        with self.lock:
            self.users[login] = {"id": user_id, "name": name, "orgs": dict(orgs or {})}
        for org in (orgs or {}):
            self.standin.route("GET", "/user/memberships/orgs/%s" % org,
                               lambda req, o=org: self._membership(req, o))

    def user_of(self, req):
        """The login of the request's bearer token, or None."""
        auth = req["headers"].get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else \
            auth[len("token "):] if auth.startswith("token ") else ""
        with self.lock:
            return self.tokens.get(token)

    def _refuse(self, endpoint, reason):
        with self.lock:
            self.refused.append((endpoint, reason))

    # ---- the authorize page ----
    def _check_authorize(self, q):
        if q.get("client_id") != self.client_id:
            return "unknown client_id"
        if not q.get("state") or not q.get("redirect_uri", "").endswith("/api/v1/auth/github/callback"):
            return "state or redirect_uri missing"
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
            return "no S256 code_challenge"
        return None

    def _authorize(self, req):
        q = query(req["path"])
        with self.lock:
            self.authorizations.append(q)
        bad = self._check_authorize(q)
        if bad:
            self._refuse("authorize", bad)
            return 400, {"Content-Type": "text/html"}, "<p>%s</p>" % html.escape(bad)
        hidden = "".join('<input type="hidden" name="%s" value="%s">' % (html.escape(k), html.escape(v))
                         for k, v in q.items())
        cancel = "/login/oauth/authorize/cancel?" + urllib.parse.urlencode(q)
        page = ("<!doctype html><title>Authorize cipulse</title><h1>Authorize cipulse</h1>"
                '<form method="get" action="/login/oauth/authorize/approve">%s'
                '<label>GitHub login <input name="login" value="%s"></label>'
                '<button type="submit">Authorize</button></form>'
                '<a href="%s">Cancel</a>') % (hidden, html.escape(self.default_login or ""),
                                              html.escape(cancel))
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    def code_for(self, q, login):
        """A one-time code for login after the authorize step of query q (what the approve
        button does)."""
        code = secrets.token_hex(10)
        with self.lock:
            self.codes[code] = {"login": login, "challenge": q["code_challenge"],
                                "redirect_uri": q["redirect_uri"], "client_id": q["client_id"],
                                "at": time.time()}
        return code

    def _approve(self, req):
        q = query(req["path"])
        bad = self._check_authorize(q)
        login = q.pop("login", "")
        if bad or login not in self.users:
            self._refuse("approve", bad or "unknown login %r" % login)
            return 400, {"Content-Type": "text/html"}, "<p>no such user</p>"
        back = "%s?%s" % (q["redirect_uri"], urllib.parse.urlencode(
            {"code": self.code_for(q, login), "state": q["state"]}))
        return 302, {"Location": back}, b""

    def _cancel(self, req):
        q = query(req["path"])
        back = "%s?%s" % (q["redirect_uri"], urllib.parse.urlencode(
            {"error": "access_denied", "error_description": "The user has denied your application access.",
             "state": q["state"]}))
        return 302, {"Location": back}, b""

    # ---- the token endpoint ----
    def _access_token(self, req):
        if self.down:
            return 503, {}, {"message": "Service Unavailable"}
        form = {k: v[0] for k, v in urllib.parse.parse_qs(req["body"].decode()).items()}
        with self.lock:
            self.exchanges.append(form)
            entry = self.codes.pop(form.get("code", ""), None)  # a code is used once

        def refuse(error, reason):
            self._refuse("access_token", reason)
            return 200, {}, {"error": error, "error_description": reason}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return refuse("incorrect_client_credentials", "client id or secret")
        if entry is None or time.time() - entry["at"] > self.code_ttl:
            return refuse("bad_verification_code", "unknown, used or expired code")
        if form.get("redirect_uri") != entry["redirect_uri"]:
            return refuse("redirect_uri_mismatch", "redirect_uri")
        if self.check_pkce and challenge_of(form.get("code_verifier", "")) != entry["challenge"]:
            return refuse("bad_verification_code", "PKCE code_verifier does not match")
        token = "ghu_" + secrets.token_hex(18)
        with self.lock:
            self.tokens[token] = entry["login"]
        return 200, {}, {"access_token": token, "token_type": "bearer", "scope": "",
                         "expires_in": self.token_ttl,
                         "refresh_token": "ghr_" + secrets.token_hex(30),
                         "refresh_token_expires_in": 15897600}

    # ---- the API as the user ----
    def _user(self, req):
        login = self.user_of(req)
        if login is None:
            return 401, {}, {"message": "Bad credentials"}
        u = self.users[login]
        return 200, {}, {"login": login, "id": u["id"], "name": u["name"], "type": "User",
                         "site_admin": False, "html_url": "https://github.com/" + login}

    def _membership(self, req, org):
        login = self.user_of(req)
        if login is None:
            return 401, {}, {"message": "Bad credentials"}
        state = self.users[login]["orgs"].get(org)
        if state is None:
            return 404, {}, {"message": "Not Found"}
        if state == "forbidden":  # GitHub will not tell this app (it may lack Members: read)
            return 403, {}, {"message": "Resource not accessible by integration"}
        return 200, {}, {"state": state, "role": "member", "organization": {"login": org},
                         "user": {"login": login, "id": self.users[login]["id"]}}


def serve():
    """`python3 ghoauth.py`: a stand-in with the OAuth endpoints for the browser test; prints
    {"url": ...} once it listens, takes JSON commands on stdin (add_user, default_login)."""
    import sys
    from harness import GitHubStandIn
    standin = GitHubStandIn()
    oauth = FakeGitHubOAuth(standin)
    print(json.dumps({"url": standin.url, "client_id": oauth.client_id,
                      "client_secret": oauth.client_secret}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "add_user":
            oauth.add_user(cmd["login"], cmd["id"], cmd.get("orgs"), cmd.get("name"))
        elif cmd["op"] == "default_login":
            oauth.default_login = cmd["login"]
        elif cmd["op"] == "refused":
            print(json.dumps(oauth.refused), flush=True)
            continue
        print(json.dumps({"ok": True}), flush=True)
    standin.close()


if __name__ == "__main__":
    serve()
