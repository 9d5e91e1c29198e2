"""GitHub App endpoints of the GitHub stand-in, for the app-mode tests (issue 12.1).

FakeGitHubApp serves POST /app/installations/{id}/access_tokens the way GitHub does: the request
must carry an app JWT (RS256) that VERIFIES with the app's public key (PyJWT + cryptography,
Debian's python3-jwt), is not expired, was issued at most 10 minutes before it expires and names
the app as `iss`; anything else is a 401 and is recorded in `rejected`. It answers 201 with a new
installation token and its `expires_at` (`ttl` seconds ahead: tests make it short). Repository
endpoints of FakeGitHub objects attached with `guard(fake, installation)` then answer only a
valid, unexpired token of that installation (401 otherwise, like GitHub's "Bad credentials").

Each installation has its own rate-limit budget (`limit`, `remaining`, `reset`), shared by all of
its tokens, as on GitHub.

Installation webhook payloads (`installation_payload`, `installation_repositories_payload`) are
built from GitHub's documented shapes ("Webhook events and payloads": installation,
installation_repositories); /work/shared/fixtures has no installation deliveries.
"""
import datetime
import os
import secrets
import threading
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = 424242


def new_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_key(path, key, mode=0o600):
    """Writes the key as GitHub hands it out (PKCS#1 'RSA PRIVATE KEY' PEM)."""
    pem = key.private_bytes(serialization.Encoding.PEM,
                            serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    with open(path, "wb") as f:
        f.write(pem)
    os.chmod(path, mode)
    return path


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Installation:
    def __init__(self, inst_id, account, repos, limit):
        self.id = inst_id
        self.account = account
        self.repos = set(repos)      # full names it can read
        self.limit = limit
        self.remaining = limit
        self.reset = 4102444800      # far future unless a test sets it
        self.exchanges = []          # (time, token, expires) of each token issued


class FakeGitHubApp:
    def __init__(self, standin, public_key, app_id=APP_ID, ttl=3600):
        self.standin = standin
        self.public_key = public_key
        self.app_id = app_id
        self.ttl = ttl
        self.lock = threading.Lock()
        self.installations = {}
        self.tokens = {}             # token -> (installation id, expires epoch s)
        self.rejected = []           # (path, reason) of every 401 answered
        self.used = []               # (time, installation id, token, path) of accepted requests
        self.refuse_tokens = 0       # answer 401 to this many more requests with valid tokens
        self.exchange_delay = 0.0    # seconds a token exchange takes (to make callers overlap)

    # ---- installations and their tokens ----
    def add_installation(self, inst_id, account="acme", repos=(), limit=5000):
        inst = Installation(inst_id, account, repos, limit)
        with self.lock:
            self.installations[inst_id] = inst
        self.standin.route("POST", "/app/installations/%d/access_tokens" % inst_id,
                           lambda req, i=inst_id: self._access_token(req, i))
        return inst

    def verify_jwt(self, header):
        """The claims of a valid app JWT in an Authorization header; raises otherwise."""
        if not header or not header.startswith("Bearer "):
            raise jwt.InvalidTokenError("no bearer JWT")
        token = header[len("Bearer "):]
        if jwt.get_unverified_header(token).get("alg") != "RS256":
            raise jwt.InvalidAlgorithmError("not RS256")
        claims = jwt.decode(token, self.public_key, algorithms=["RS256"],
                            issuer=str(self.app_id), options={"require": ["iat", "exp", "iss"]})
        if claims["exp"] - claims["iat"] > 600:
            raise jwt.InvalidTokenError("exp more than 10 minutes after iat")
        if claims["iat"] > time.time() + 60:
            raise jwt.ImmatureSignatureError("iat in the future")
        return claims

    def _access_token(self, req, inst_id):
        if self.exchange_delay:
            time.sleep(self.exchange_delay)
        try:
            self.verify_jwt(req["headers"].get("authorization"))
        except jwt.PyJWTError as exc:
            with self.lock:
                self.rejected.append((req["path"], "jwt: %s" % exc))
            return 401, {}, {"message": "A JSON web token could not be decoded"}
        token = "ghs_" + secrets.token_hex(18)
        now = time.time()
        expires = int(now) + self.ttl
        with self.lock:
            inst = self.installations[inst_id]
            self.tokens[token] = (inst_id, expires)
            inst.exchanges.append((now, token, expires))
        return 201, {}, {"token": token, "expires_at": iso(expires),
                         "permissions": {"actions": "read", "metadata": "read"},
                         "repository_selection": "selected"}

    def revoke(self, inst_id):
        """Every token of the installation stops working (as after a key rotation)."""
        with self.lock:
            for t, (i, _) in list(self.tokens.items()):
                if i == inst_id:
                    del self.tokens[t]

    def exchanges(self, inst_id):
        with self.lock:
            return list(self.installations[inst_id].exchanges)

    # ---- guarding repository endpoints ----
    def check(self, req, full_name):
        """None when req carries a valid token of an installation that holds full_name; else
        the answer (401, or 404 as GitHub answers for a repository the token cannot see)."""
        auth = req["headers"].get("authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        now = time.time()
        with self.lock:
            entry = self.tokens.get(token)
            if entry is None or now >= entry[1]:
                why = "unknown token" if entry is None else "expired token"
                self.rejected.append((req["path"], why))
                return 401, {}, {"message": "Bad credentials"}
            if self.refuse_tokens > 0:
                self.refuse_tokens -= 1
                self.rejected.append((req["path"], "refused"))
                return 401, {}, {"message": "Bad credentials"}
            inst = self.installations[entry[0]]
            if full_name not in inst.repos:
                return 404, {}, {"message": "Not Found"}
            self.used.append((now, inst.id, token, req["path"]))
            return None

    def guard(self, fake, inst_id):
        """Makes FakeGitHub `fake` answer only the installation's tokens and spend that
        installation's rate limit."""
        inst = self.installations[inst_id]
        inst.repos.add(fake.full_name)

        def auth(req):
            denied = self.check(req, fake.full_name)
            if denied:
                return denied
            with self.lock:
                if inst.remaining <= 0:
                    return 403, {"X-RateLimit-Limit": inst.limit, "X-RateLimit-Remaining": 0,
                                 "X-RateLimit-Reset": inst.reset}, \
                        {"message": "API rate limit exceeded for installation"}
                inst.remaining -= 1
            return None
        fake.auth = auth
        # The installation's budget, not the fake's: its answers carry the installation's.
        fake.budget = lambda: (inst.limit, inst.remaining, inst.reset)


def account(login, kind="Organization", acc_id=9000):
    return {"login": login, "id": acc_id, "type": kind, "site_admin": False,
            "html_url": "https://github.com/" + login}


def installation_object(inst_id, login="acme", app_id=APP_ID, suspended=False):
    return {"id": inst_id, "account": account(login), "repository_selection": "selected",
            "access_tokens_url": "https://api.github.com/app/installations/%d/access_tokens"
            % inst_id,
            "repositories_url": "https://api.github.com/installation/repositories",
            "html_url": "https://github.com/organizations/%s/settings/installations/%d"
            % (login, inst_id),
            "app_id": app_id, "app_slug": "cipulse", "target_id": 9000,
            "target_type": "Organization",
            "permissions": {"actions": "read", "metadata": "read"},
            "events": ["workflow_job", "workflow_run"], "created_at": "2026-12-01T10:00:00Z",
            "updated_at": "2026-12-01T10:00:00Z",
            "suspended_at": "2026-12-02T10:00:00Z" if suspended else None,
            "suspended_by": None, "single_file_name": None}


def repo_short(repo_id, full_name, private=True):
    return {"id": repo_id, "node_id": "R_%d" % repo_id, "name": full_name.split("/")[1],
            "full_name": full_name, "private": private}


def installation_payload(action, inst_id, repos=(), login="acme", app_id=APP_ID):
    """An `installation` delivery (created carries the repositories the app was given)."""
    p = {"action": action,
         "installation": installation_object(inst_id, login, app_id, action == "suspend"),
         "sender": account("admin-user", "User", 1)}
    if action in ("created", "deleted"):
        p["repositories"] = [repo_short(i, n) for i, n in repos]
    if action == "created":
        p["requester"] = None
    return p


def installation_repositories_payload(action, inst_id, repos, login="acme", app_id=APP_ID):
    """An `installation_repositories` delivery: repositories added to or removed from it."""
    added = [repo_short(i, n) for i, n in repos] if action == "added" else []
    removed = [repo_short(i, n) for i, n in repos] if action == "removed" else []
    return {"action": action, "installation": installation_object(inst_id, login, app_id),
            "repository_selection": "selected", "repositories_added": added,
            "repositories_removed": removed, "requester": None,
            "sender": account("admin-user", "User", 1)}
