"""GitHub App mode (issue 12.1) against the GitHub stand-in's app endpoints (ghapp.py), which
verify the app JWT with the public key and issue short-lived installation tokens: the poller and
the backfill read with installation tokens, tokens are taken anew before they expire, a 401 takes
one new token, installation webhooks register and retire repositories, installations are paced
separately, a bad key stops start-up, and the app manifest asks for exactly what is used."""
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request

import jwt
import pytest

from ghapp import (APP_ID, FakeGitHubApp, installation_payload,
                   installation_repositories_payload, new_key, write_key)
from ghutil import FakeGitHub, post_webhook, register_repo
from harness import CIPULSED, run_checked, sanitizer_env, wait_for
from test_poller_backfill import history

APP_SECRET = "app-webhook-secret-for-every-installation"


@pytest.fixture
def app_key(tmp_path):
    key = new_key()
    return key, write_key(str(tmp_path / "app.pem"), key)


def app_env(github, key_path, **extra):
    env = {"CIPULSE_GITHUB_API_URL": github.url, "CIPULSE_GITHUB_APP_ID": str(APP_ID),
           "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE": key_path,
           "CIPULSE_WEBHOOK_SECRET": APP_SECRET, "CIPULSE_POLL_STALE_AFTER": "0s"}
    env.update(extra)
    return env


def install(collector, action, inst, repos=(), secret=APP_SECRET, **kw):
    return post_webhook(collector, "installation", installation_payload(action, inst, repos),
                        secret=secret, **kw)


def install_repos(collector, action, inst, repos, secret=APP_SECRET, **kw):
    return post_webhook(collector, "installation_repositories",
                        installation_repositories_payload(action, inst, repos),
                        secret=secret, **kw)


def poll(collector, repo):
    return collector.http("POST", "/api/v1/poll/run", {"repo": repo},
                          headers=collector.admin_headers(), timeout=120)


def one_run(github, app, inst, full_name, repo_id, run_id):
    fake = FakeGitHub(github, full_name, repo_id)
    fake.add_run(run_id, jobs=[FakeGitHub.make_job(run_id * 10, run_id)])
    app.guard(fake, inst)
    return fake


# What each GitHub REST endpoint the collector calls needs of an app (GitHub's docs: "Permissions
# required for GitHub Apps"). The manifest must ask for exactly the permissions of the endpoints
# really called, read-only.
ENDPOINT_PERMISSIONS = [
    (re.compile(r"^/repos/[^/]+/[^/]+$"), "metadata"),
    (re.compile(r"^/repos/[^/]+/[^/]+/actions/runs(/\d+(/attempts/\d+(/jobs)?)?)?$"), "actions"),
    (re.compile(r"^/app/installations/\d+/access_tokens$"), None),  # the app JWT itself
]


def permission_of(path):
    path = path.split("?", 1)[0]
    for rx, perm in ENDPOINT_PERMISSIONS:
        if rx.match(path):
            return perm
    raise AssertionError("the collector called %s, which the permission table lacks" % path)


def test_poller_and_backfill_read_with_installation_tokens_renewed_before_expiry(
        collector_factory, db, github, app_key):
    key, key_path = app_key
    app = FakeGitHubApp(github, key.public_key(), ttl=20)
    app.add_installation(71)
    one_run(github, app, 71, "acme/svc", 501, 1001)
    collector = collector_factory(env=app_env(github, key_path, CIPULSE_POLL="1",
                                              CIPULSE_POLL_INTERVAL="1s"))
    # The app is installed with one repository: it is registered by itself and polled.
    status, body = install(collector, "created", 71, [(501, "acme/svc")])
    assert status == 200, body
    assert (body["status"], body["registered"]) == ("stored", 1)
    assert db.query("SELECT id, installation_id, retired_at FROM repositories") == \
        [{"id": 501, "installation_id": 71, "retired_at": None}]
    assert db.query("SELECT id, account_login, account_type, suspended_at, removed_at "
                    "FROM github_installations") == \
        [{"id": 71, "account_login": "acme", "account_type": "Organization",
          "suspended_at": None, "removed_at": None}]
    wait_for(lambda: db.scalar("SELECT count(*) FROM jobs WHERE repo_id = 501") == 1,
             timeout=30, what="the poller's job, read with an installation token")
    # The token exchange carried a JWT that verifies with the app's public key; repository
    # requests carried installation tokens the stand-in issued.
    exchanges = github.received("POST", "/app/installations/71/access_tokens")
    assert exchanges
    for r in exchanges:
        assert app.verify_jwt(r["headers"]["authorization"])["iss"] == str(APP_ID)
    issued = {tok for _, tok, _ in app.exchanges(71)}
    repo_reqs = github.received("GET", "/repos/acme/svc")
    assert repo_reqs and all(r["headers"]["authorization"][len("Bearer "):] in issued
                             for r in repo_reqs)
    # Tokens last 20 s here: a new one is taken before the first expires (a quarter of its life
    # ahead), and used; no request ever went out with an expired token.
    wait_for(lambda: len(app.exchanges(71)) >= 2, timeout=60, what="a renewed token")
    first, second = app.exchanges(71)[:2]
    assert second[0] < first[2], "the second token was taken only after the first expired"
    wait_for(lambda: any(tok == second[1] for _, _, tok, _ in app.used), timeout=30,
             what="a request with the renewed token")
    assert app.rejected == []
    log = collector.log()
    for _, tok, _ in app.exchanges(71):
        assert tok not in log
    assert "installation token taken installation=71" in log
    status, text = collector.http("GET", "/metrics")
    ok = [line for line in text.splitlines()
          if line.startswith('cipulse_github_app_tokens_total{result="ok"}')]
    assert ok and float(ok[0].split()[-1]) >= 2, ok

    # The backfill (its own process, its own token cache) reads with the installation too.
    hist = history(github, "acme/history", 502, n=40)
    app.guard(hist, 71)
    status, body = install_repos(collector, "added", 71, [(502, "acme/history")])
    assert (status, body["registered"]) == (200, 1), body
    p = collector.run("backfill", "--repo", "acme/history", "--days", "7")
    assert "backfill acme/history: 40 runs read" in p.stdout, p.stdout + p.stderr
    assert db.scalar("SELECT count(*) FROM workflow_runs WHERE repo_id = 502") >= 40
    assert app.rejected == []

    # The manifest asks for exactly the permissions of the endpoints really called.
    called = {permission_of(r["path"]) for r in github.requests} - {None}
    manifest = json.loads(collector.run("github-app", "manifest", "--url",
                                        "https://cipulse.example.com").stdout)
    assert manifest["default_permissions"] == {p: "read" for p in called}
    assert called == {"actions", "metadata"}


def test_a_refused_token_is_replaced_once(collector_factory, db, github, app_key):
    key, key_path = app_key
    app = FakeGitHubApp(github, key.public_key())
    app.add_installation(72)
    one_run(github, app, 72, "acme/svc", 501, 1001)
    one_run(github, app, 72, "acme/two", 502, 1002)
    collector = collector_factory(env=app_env(github, key_path))
    assert install(collector, "created", 72, [(501, "acme/svc"), (502, "acme/two")])[0] == 200
    # Several API threads ask for the installation's first token at once (a slow exchange
    # makes them overlap): one exchange serves them all.
    app.exchange_delay = 1.0
    results = []
    threads = [threading.Thread(target=lambda r=r: results.append(poll(collector, r)))
               for r in ("acme/svc", "acme/two") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    app.exchange_delay = 0.0
    assert [s for s, _ in results] == [200] * 4, results
    assert len(app.exchanges(72)) == 1
    # The token is revoked on GitHub: the next request is a 401, a new token is taken, the poll
    # goes on with it.
    app.revoke(72)
    status, body = poll(collector, "acme/svc")
    assert status == 200, body
    assert len(app.exchanges(72)) == 2
    assert [why for _, why in app.rejected] == ["unknown token"]
    # GitHub keeps refusing: one new token, one more try, then the poll fails (no loop).
    app.refuse_tokens = 1000
    status, body = poll(collector, "acme/svc")
    assert (status, body["error"]["code"]) == (409, "no_github_access"), body
    assert len(app.exchanges(72)) == 3
    assert [why for _, why in app.rejected][1:] == ["refused", "refused"]


def test_the_stand_in_and_github_refuse_a_bad_app_jwt(collector_factory, db, github, app_key,
                                                      tmp_path):
    key, key_path = app_key
    app = FakeGitHubApp(github, key.public_key())
    app.add_installation(73)
    one_run(github, app, 73, "acme/svc", 501, 1001)
    now = int(time.time())

    def exchange(token):
        return github_post(github.url + "/app/installations/73/access_tokens", token)

    good = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
    assert exchange(jwt.encode(good, key, algorithm="RS256")) == 201
    other = new_key()
    assert exchange(jwt.encode(good, other, algorithm="RS256")) == 401  # wrong key
    assert exchange(jwt.encode(dict(good, iat=now - 700, exp=now - 100), key,
                               algorithm="RS256")) == 401  # expired
    assert exchange(jwt.encode(dict(good, iss="999"), key, algorithm="RS256")) == 401  # iss
    assert exchange(jwt.encode(dict(good, exp=now + 3600), key, algorithm="RS256")) == 401
    reasons = [why for _, why in app.rejected]
    assert len(reasons) == 4 and "Signature verification failed" in reasons[0], reasons
    # A collector with another key than the app's: GitHub refuses its JWT, the poll says so.
    wrong_path = write_key(str(tmp_path / "wrong.pem"), other)
    collector = collector_factory(env=app_env(github, wrong_path))
    assert install(collector, "created", 73, [(501, "acme/svc")])[0] == 200
    status, body = poll(collector, "acme/svc")
    assert (status, body["error"]["code"]) == (409, "no_github_access"), body
    assert "Signature verification failed" in app.rejected[-1][1]
    assert "GitHub refused an installation token installation=73 status=401" in collector.log()
    assert github.received("GET", "/repos/acme/svc") == []


def github_post(url, token):
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def list_requests(github, full_name):
    return len(github.received("GET", "/repos/%s/actions/runs?" % full_name))


def test_installation_webhooks_register_and_retire_repositories(collector_factory, db, github,
                                                                app_key):
    key, key_path = app_key
    app = FakeGitHubApp(github, key.public_key())
    app.add_installation(81)
    app.add_installation(82, account="other")
    one_run(github, app, 81, "acme/a", 601, 2001)
    one_run(github, app, 81, "acme/b", 602, 2002)
    # A personal token too: an installation's repositories are read with its tokens only.
    collector = collector_factory(env=app_env(github, key_path, CIPULSE_POLL="1",
                                              CIPULSE_POLL_INTERVAL="1s",
                                              CIPULSE_GITHUB_TOKEN="ghp_personal_token"))
    # A repository registered by hand (by name, provisional id, no secret of its own) is
    # adopted under GitHub's id when the app is given it.
    register_repo(db, "acme/a", secret=None)
    status, body = install(collector, "created", 81, [(601, "acme/a"), (602, "acme/b")])
    assert (status, body["registered"], body["skipped"]) == (200, 2, 0), body
    assert db.query("SELECT id, full_name, installation_id FROM repositories ORDER BY id") == [
        {"id": 601, "full_name": "acme/a", "installation_id": 81},
        {"id": 602, "full_name": "acme/b", "installation_id": 81}]
    wait_for(lambda: db.scalar("SELECT count(*) FROM jobs") == 2, timeout=30,
             what="both repositories polled")

    # Removed from the installation: retired (history kept), no longer polled.
    status, body = install_repos(collector, "removed", 81, [(602, "acme/b")])
    assert (status, body["retired"]) == (200, 1), body
    assert db.scalar("SELECT retired_at IS NOT NULL FROM repositories WHERE id = 602")
    assert db.scalar("SELECT count(*) FROM workflow_runs WHERE repo_id = 602") == 1
    start = list_requests(github, "acme/a")
    # Two cycles on: a cycle that began before the retirement has ended.
    wait_for(lambda: list_requests(github, "acme/a") >= start + 2, timeout=30, what="cycles")
    b_before = list_requests(github, "acme/b")
    wait_for(lambda: list_requests(github, "acme/a") >= start + 4, timeout=30, what="cycles")
    assert list_requests(github, "acme/b") == b_before
    status, runs = collector.http("GET", "/api/v1/repos/acme/b/runs")
    assert status == 200 and len(runs["items"]) == 1
    # Marked retired in the API, in the list and on its own.
    status, repos = collector.http("GET", "/api/v1/repos")
    by = {r["full_name"]: r for r in repos["items"]}
    assert by["acme/b"]["retired"] is True and by["acme/b"]["retired_at"], by
    assert (by["acme/a"]["retired"], by["acme/a"]["retired_at"]) == (False, None), by
    status, one = collector.http("GET", "/api/v1/repos/acme/b")
    assert status == 200 and one["repository"]["retired"] is True, one
    assert one["repository"]["retired_at"] == by["acme/b"]["retired_at"]
    assert collector.http("GET", "/api/v1/repos/acme/nope")[0] == 404

    # Another installation's delivery acts for its own repositories only.
    status, body = install_repos(collector, "removed", 82, [(601, "acme/a")])
    assert (status, body["retired"]) == (200, 0), body
    status, body = install_repos(collector, "added", 82, [(601, "acme/a")])
    assert (status, body["registered"], body["skipped"]) == (200, 0, 1), body
    assert db.query("SELECT installation_id, retired_at FROM repositories WHERE id = 601") == \
        [{"installation_id": 81, "retired_at": None}]
    run = {"action": "completed", "installation": {"id": 82},
           "repository": {"id": 601, "full_name": "acme/a"},
           "workflow_run": {"id": 1}}
    status, body = post_webhook(collector, "workflow_run", run, secret=APP_SECRET)
    assert (status, body["error"]["code"]) == (403, "forbidden"), body
    assert "another installation" in body["error"]["message"]

    # Added back: polled again.
    status, body = install_repos(collector, "added", 81, [(602, "acme/b")])
    assert (status, body["restored"]) == (200, 1), body
    assert db.scalar("SELECT retired_at FROM repositories WHERE id = 602") is None
    status, one = collector.http("GET", "/api/v1/repos/acme/b")
    assert (one["repository"]["retired"], one["repository"]["retired_at"]) == (False, None)
    wait_for(lambda: list_requests(github, "acme/b") > b_before, timeout=30,
             what="the restored repository polled")

    # Suspended: no token is asked for its repositories, and the personal token does not stand
    # in; unsuspended: polled again.
    def personal():
        return len([r for r in github.requests
                    if "ghp_personal_token" in r["headers"].get("authorization", "")])
    status, body = install(collector, "suspend", 81)
    assert status == 200, body
    assert db.scalar("SELECT suspended_at IS NOT NULL FROM github_installations WHERE id = 81")
    exchanges, personal_before = len(app.exchanges(81)), personal()
    status, body = poll(collector, "acme/a")
    assert (status, body["error"]["code"]) == (409, "no_github_access"), body
    assert len(app.exchanges(81)) == exchanges
    assert personal() == personal_before
    assert install(collector, "unsuspend", 81)[0] == 200
    assert db.scalar("SELECT suspended_at FROM github_installations WHERE id = 81") is None
    assert install(collector, "new_permissions_accepted", 81)[0] == 200
    assert poll(collector, "acme/a")[0] == 200

    # The same delivery twice: the second changes nothing.
    status, body = install_repos(collector, "removed", 81, [(601, "acme/a")],
                                 delivery="dup-1")
    assert (status, body["retired"]) == (200, 1)
    install_repos(collector, "added", 81, [(601, "acme/a")])
    status, body = install_repos(collector, "removed", 81, [(601, "acme/a")],
                                 delivery="dup-1")
    assert (status, body["status"]) == (200, "duplicate"), body
    assert db.scalar("SELECT retired_at FROM repositories WHERE id = 601") is None

    # Uninstalled: every repository of the installation retired, history kept.
    status, body = install(collector, "deleted", 81, [(601, "acme/a"), (602, "acme/b")])
    assert (status, body["retired"]) == (200, 2), body
    assert db.scalar("SELECT count(*) FROM repositories WHERE retired_at IS NULL") == 0
    assert db.scalar("SELECT removed_at IS NOT NULL FROM github_installations WHERE id = 81")
    assert db.scalar("SELECT count(*) FROM workflow_runs") == 2


def test_installation_webhooks_identity(collector_factory, db, github, app_key):
    key, key_path = app_key
    collector = collector_factory(env=app_env(github, key_path))
    # A repository's own secret is not the app's: it cannot speak for an installation, even
    # with a top-level repository naming its own repository.
    register_repo(db, "acme/own", repo_id=700, secret="repo-secret")
    payload = installation_repositories_payload("added", 81, [(701, "acme/new")])
    payload["repository"] = {"id": 700, "full_name": "acme/own"}
    status, body = post_webhook(collector, "installation_repositories", payload,
                                secret="repo-secret")
    assert (status, body["error"]["code"]) == (403, "forbidden"), body
    # Wrong signature, another app's installation, a payload without an installation.
    status, body = install(collector, "created", 81, [(701, "acme/new")], secret="nope")
    assert status == 401, body
    status, body = post_webhook(collector, "installation",
                                installation_payload("created", 81, [(701, "acme/new")],
                                                     app_id=APP_ID + 1), secret=APP_SECRET)
    assert (status, body["error"]["code"]) == (403, "forbidden"), body
    status, body = post_webhook(collector, "installation", {"action": "created"},
                                secret=APP_SECRET)
    assert status == 400, body
    bad = installation_payload("created", 81, [(701, "acme/new")])
    bad["repositories"][0]["full_name"] = "../etc"
    assert post_webhook(collector, "installation", bad, secret=APP_SECRET)[0] == 400
    assert db.scalar("SELECT count(*) FROM repositories") == 1
    assert db.scalar("SELECT count(*) FROM github_installations") == 0
    status, body = install(collector, "created", 81, [(701, "acme/new")])
    assert (status, body["registered"]) == (200, 1), body


def test_installation_events_ignored_without_app_mode(collector_factory, db):
    collector = collector_factory(env={"CIPULSE_WEBHOOK_SECRET": APP_SECRET})
    status, body = install(collector, "created", 81, [(701, "acme/new")])
    assert (status, body["status"]) == (202, "ignored"), body
    assert db.scalar("SELECT count(*) FROM repositories") == 0


def test_two_installations_are_paced_separately(collector_factory, db, github, app_key):
    key, key_path = app_key
    app = FakeGitHubApp(github, key.public_key())
    spent = app.add_installation(91)
    app.add_installation(92)
    spent.remaining = 0
    spent.reset = int(time.time()) + 3600
    one_run(github, app, 91, "acme/x", 901, 3001)
    one_run(github, app, 92, "acme/y", 902, 3002)
    collector = collector_factory(env=app_env(github, key_path))
    assert install(collector, "created", 91, [(901, "acme/x")])[0] == 200
    assert install(collector, "created", 92, [(902, "acme/y")])[0] == 200
    # Installation 91's budget is spent for an hour: its poll gives up at once...
    status, body = poll(collector, "acme/x")
    assert (status, body["error"]["code"]) == (502, "github_unavailable"), body
    asked_x = len(github.received("GET", "/repos/acme/x"))
    # ...while installation 92 has a budget of its own and is read at full speed.
    status, body = poll(collector, "acme/y")
    assert status == 200 and body["runs_written"] == 1, body
    # Asked again, 91 is not even tried: the collector remembers its budget, by installation.
    status, body = poll(collector, "acme/x")
    assert status == 502, body
    assert len(github.received("GET", "/repos/acme/x")) == asked_x
    assert db.scalar("SELECT count(*) FROM workflow_runs WHERE repo_id = 901") == 0


def run_cli(args, env):
    return run_checked([CIPULSED] + args, env=env, capture_output=True, text=True, timeout=60)


def test_bad_app_key_stops_start_up(db, tmp_path, app_key):
    _, key_path = app_key
    base = dict(os.environ, **sanitizer_env())
    base.update({"CIPULSE_DATABASE_URL": db.url, "CIPULSE_GITHUB_APP_ID": str(APP_ID)})
    base.pop("CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE", None)
    not_key = tmp_path / "not-a-key.pem"
    not_key.write_text("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n"
                       "-----END RSA PRIVATE KEY-----\n")
    cases = [(str(tmp_path / "missing.pem"), "cannot read"),
             (str(tmp_path), "holds no RSA private key"),  # a directory: unreadable as a file
             (str(not_key), "holds no RSA private key")]
    for path, why in cases:
        p = run_cli(["serve"], dict(base, CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE=path))
        assert p.returncode == 2, (path, p.stdout, p.stderr)
        assert "CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE" in p.stderr and why in p.stderr, p.stderr
    p = run_cli(["serve"], base)
    assert p.returncode == 2 and "must be set together" in p.stderr, p.stderr
    # A key others may read is taken, with a warning.
    write_key(str(tmp_path / "open.pem"), new_key(), mode=0o644)
    p = run_cli(["github-app", "manifest", "--url", "https://c.example.com"],
                dict(base, CIPULSE_GITHUB_APP_PRIVATE_KEY_FILE=str(tmp_path / "open.pem")))
    assert p.returncode == 0, p.stderr
    assert "chmod 600" in p.stderr


# Events GitHub can send an app. The manifest subscribes to those the receiver handles, except
# the ones every app gets without subscribing (GitHub refuses them in default_events).
CANDIDATE_EVENTS = ["workflow_run", "workflow_job", "installation", "installation_repositories",
                    "ping", "check_run", "check_suite", "push", "pull_request", "status",
                    "deployment", "deployment_status", "release", "repository", "workflow_dispatch"]
ALWAYS_SENT = {"installation", "installation_repositories", "ping"}


def test_manifest_matches_the_receiver(collector_factory, db, github, app_key):
    _, key_path = app_key
    collector = collector_factory(env=app_env(github, key_path))
    p = collector.run("github-app", "manifest", "--url", "https://cipulse.example.com/",
                      "--name", "cipulse-acme", "--org", "acme")
    m = json.loads(p.stdout)
    assert "https://github.com/organizations/acme/settings/apps/new" in p.stderr
    assert m["name"] == "cipulse-acme"
    assert m["url"] == "https://cipulse.example.com"
    assert m["hook_attributes"] == {"url": "https://cipulse.example.com/webhook/github",
                                    "active": True}
    assert m["public"] is False
    assert m["redirect_url"].startswith("https://cipulse.example.com/")
    assert all(u.startswith("https://cipulse.example.com/") for u in m["callback_urls"])
    handled = set()
    for event in CANDIDATE_EVENTS:
        action = "added" if event == "installation_repositories" else "created"
        status, body = post_webhook(collector, event, {"action": action}, secret=APP_SECRET)
        assert status != 401, (event, body)
        if status != 202:
            handled.add(event)
    assert set(m["default_events"]) == handled - ALWAYS_SENT
    assert ALWAYS_SENT <= handled
    # Usage errors.
    for args in (["manifest"], ["manifest", "--url", "ftp://x"], ["nope"],
                 ["manifest", "--url", "https://x", "--name", ""]):
        p = collector.run("github-app", *args, check=False)
        assert p.returncode == 2, (args, p.stdout)
