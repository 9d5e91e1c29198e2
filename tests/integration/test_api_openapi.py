"""Live replies of every endpoint checked against docs/openapi.yaml (JSON Schema 2020-12 through
python3-jsonschema), and every documented operation and parameter exercised."""
import datetime as dt
import glob
import json
import os
import re
import urllib.request

import jsonschema
import pytest
import yaml

import api_history as H
import tests_history
from ghutil import SECRET as H_SECRET, register_repo, sign
from harness import ROOT

SPEC_PATH = os.path.join(ROOT, "docs", "openapi.yaml")


@pytest.fixture(scope="module")
def spec():
    with open(SPEC_PATH) as f:
        return yaml.safe_load(f)


def template_of(spec, path):
    path = path.split("?", 1)[0]
    for tpl in spec["paths"]:
        rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", tpl) + "$"
        if re.match(rx, path):
            return tpl
    raise AssertionError("no documented path for %s" % path)


def check(spec, method, path, status, body):
    tpl = template_of(spec, path)
    op = spec["paths"][tpl][method.lower()]
    assert str(status) in op["responses"], "%s %s: status %s not documented" % (method, tpl, status)
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = spec["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    if "content" not in resp:  # 204
        assert body == "", (method, tpl, status, body)
        return (method.lower(), tpl)
    if "application/json" not in resp["content"]:
        # /metrics: the Prometheus text format (checked in test_api_prom.py)
        assert "text/plain" in resp["content"] and isinstance(body, str), (method, tpl, status)
        return (method.lower(), tpl)
    schema = resp["content"]["application/json"]["schema"]
    resolver = jsonschema.RefResolver.from_schema(spec)
    jsonschema.Draft202012Validator(schema, resolver=resolver).validate(body)
    return (method.lower(), tpl)


def test_spec_is_valid_openapi_shape(spec):
    assert spec["openapi"].startswith("3.1")
    for tpl, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (tpl, method)
    # Every schema is itself valid JSON Schema.
    for name, schema in spec["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_live_replies_conform(collector, db, spec):
    H.insert_history(db, seed=21, runs=120)
    test_id, fingerprint = tests_history.insert_tests(db)
    db.execute("INSERT INTO alerts (kind, repo_id, condition_key, summary, run_id)"
               " VALUES ('failure', 1001, 'k', 'CI failed on main', 9000001)")
    run_id = db.scalar("SELECT run_id FROM workflow_runs WHERE run_attempt = 2 LIMIT 1")
    job_id = db.scalar("SELECT job_id FROM logs LIMIT 1")
    alert_id = db.scalar("SELECT id FROM alerts")
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    admin = collector.admin_headers()
    register_repo(db, "octo/hook", repo_id=4242)
    ping = json.dumps({"zen": "Keep it simple.", "hook_id": 1,
                       "repository": {"id": 4242, "full_name": "octo/hook"}})

    def hook(event, body=ping, signature=None, content_type="application/json"):
        h = {"Content-Type": content_type, "X-GitHub-Delivery": "d-%s-%d" % (event, len(body)),
             "X-Hub-Signature-256": signature or sign(H_SECRET, body.encode())}
        if event:
            h["X-GitHub-Event"] = event
        return h
    calls = [
        ("GET", "/healthz", None, None),
        ("GET", "/readyz", None, None),
        ("GET", "/metrics", None, None),
        ("POST", "/webhook/github", ping, hook("ping")),
        ("POST", "/webhook/github", ping, hook("push")),
        ("POST", "/webhook/github", ping, hook("ping", signature="sha256=" + "0" * 64)),
        ("POST", "/webhook/github", ping, hook(None)),
        ("POST", "/webhook/github", ping, hook("ping", content_type="text/plain")),
        ("GET", "/api/v1/repos", None, None),
        ("GET", "/api/v1/repos?limit=1", None, None),
        ("GET", "/api/v1/repos?days=30", None, None),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec"}, admin),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec"}, admin),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec2"}, None),
        ("POST", "/api/v1/repos", {"full_name": "x"}, admin),
        ("GET", "/api/v1/repos/octo/alpha", None, None),
        ("GET", "/api/v1/repos/no/such", None, None),
        ("GET", "/api/v1/repos/octo/alpha/workflows", None, None),
        ("GET", "/api/v1/repos/octo/alpha/workflows?limit=1", None, None),
        ("GET", "/api/v1/repos/no/such/workflows", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?limit=3", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?conclusion=failure&branch=main", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?limit=0", None, None),
        ("GET", "/api/v1/runs/%d" % run_id, None, None),
        ("GET", "/api/v1/runs/%d?attempt=1" % run_id, None, None),
        ("GET", "/api/v1/runs/%d?steps=none" % run_id, None, None),
        ("GET", "/api/v1/runs/%d?steps=failed&job=%d" % (run_id, job_id), None, None),
        ("GET", "/api/v1/runs/%d?steps=some" % run_id, None, None),
        ("GET", "/api/v1/runs/1", None, None),
        ("GET", "/api/v1/runs/1?attempt=x", None, None),
        ("GET", "/api/v1/jobs/%d/logs" % job_id, None, None),
        ("GET", "/api/v1/jobs/1/logs", None, None),
        ("GET", "/api/v1/logs/search?q=segmentation&limit=2", None, None),
        ("GET", "/api/v1/logs/search?q=zzzzzz", None, None),
        ("GET", "/api/v1/logs/search?q=ab", None, None),
        ("GET", "/api/v1/logs/search?q=abc&repo=no/such", None, None),
        ("GET", "/api/v1/metrics", None, None),
        ("GET", "/api/v1/metrics?window=30d&repo=octo/alpha", None, None),
        ("GET", "/api/v1/metrics?window=1h&repo=octo/alpha&workflow=11&branch=main", None, None),
        ("GET", "/api/v1/metrics?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z", None, None),
        ("GET", "/api/v1/metrics?window=2d", None, None),
        ("GET", "/api/v1/metrics?repo=no/such", None, None),
        ("GET", "/api/v1/alerts", None, None),
        ("GET", "/api/v1/alerts?state=open&repo=octo/alpha", None, None),
        ("GET", "/api/v1/alerts?state=x", None, None),
        ("GET", "/api/v1/alerts?repo=no/such", None, None),
        ("POST", "/api/v1/settings/alerts",
         {"channels": [{"name": "ops", "kind": "webhook", "target": "https://example.com/h"}],
          "rules": [{"name": "flap", "kind": "flapping", "repo": "octo/alpha", "workflow_id": 11,
                     "params": {"failures": 3, "runs": 10}, "channels": ["ops"]}]}, admin),
        ("POST", "/api/v1/settings/alerts", {"rules": [{"kind": "x"}]}, admin),
        ("POST", "/api/v1/settings/alerts", {}, None),
        ("GET", "/api/v1/settings/alerts", None, None),
        ("POST", "/api/v1/poll/run", {"repo": "octo/alpha"}, None),
        ("POST", "/api/v1/poll/run", {"repo": "octo/alpha"},
         {"Authorization": "Bearer " + collector.create_token("octo/alpha")}),
        ("POST", "/api/v1/poll/run", {"repo": 5}, admin),
        ("POST", "/api/v1/poll/run", {"repo": "no/such"}, admin),
        ("POST", "/api/v1/poll/run", {"repo": "octo/alpha"}, admin),  # no GitHub token: 409
        ("GET", "/api/v1/alerts?kind=failure&severity=critical&from=2024-01-01T00:00:00Z",
         None, None),
        ("GET", "/api/v1/alerts/%d" % alert_id, None, None),
        ("GET", "/api/v1/alerts/999999", None, None),
        ("POST", "/api/v1/alerts/%d/ack" % alert_id, None, admin),
        ("POST", "/api/v1/alerts/999999/ack", None, admin),
        ("POST", "/api/v1/alerts/%d/ack" % alert_id, None, None),
        ("POST", "/api/v1/silences", {"repo": "octo/alpha", "until": future, "comment": "x"},
         admin),
        ("POST", "/api/v1/silences", {"until": "2000-01-01T00:00:00Z"}, admin),
        ("POST", "/api/v1/silences", {"until": future}, None),
        ("POST", "/api/v1/silences", {"repo": "no/such", "until": future}, admin),
        ("GET", "/api/v1/silences", None, None),
        ("DELETE", "/api/v1/silences/1", None, admin),
        ("DELETE", "/api/v1/silences/1", None, admin),
        ("DELETE", "/api/v1/silences/1", None, None),
        ("POST", "/api/v1/settings/alerts",
         {"channels": [{"name": "self", "kind": "webhook",
                        "target": collector.http_url + "/api/v1/nothing"}]}, admin),
        ("POST", "/api/v1/settings/alerts/test", {"channel": "self"}, admin),
        ("POST", "/api/v1/settings/alerts/test", {"channel": "nope"}, admin),
        ("POST", "/api/v1/settings/alerts/test", {"nope": 1}, admin),
        ("POST", "/api/v1/settings/alerts/test", {"channel": "self"}, None),
        ("GET", "/api/v1/tests?repo=octo/alpha&failing=true&sort=failures", None, None),
        ("GET", "/api/v1/tests?sort=nope", None, None),
        ("GET", "/api/v1/tests/" + test_id, None, None),
        ("GET", "/api/v1/tests/0123456789abcdef", None, None),
        ("GET", "/api/v1/failures?window=30d", None, None),
        ("GET", "/api/v1/failures/" + fingerprint + "?limit=1", None, None),
        ("GET", "/api/v1/failures/" + "c" * 64, None, None),
        ("GET", "/api/v1/auth", None, None),
        ("POST", "/api/v1/users", {"username": "spec", "role": "admin",
                                   "password": "spec-password"}, admin),
        ("POST", "/api/v1/users", {"username": "spec", "role": "admin",
                                   "password": "spec-password"}, admin),
        ("POST", "/api/v1/users", {"username": "x"}, admin),
        ("POST", "/api/v1/users", {"username": "y", "role": "viewer", "password": "pw-pw-pw"},
         None),
        ("GET", "/api/v1/users", None, admin),
        ("PATCH", "/api/v1/users/spec", {"display_name": "Spec"}, admin),
        ("PATCH", "/api/v1/users/nobody", {"display_name": "N"}, admin),
        ("PATCH", "/api/v1/users/spec", {"role": "boss"}, admin),
        # GitHub sign-in not configured here (its 302s: test_github_signin.py)
        ("GET", "/api/v1/auth/github", None, None),
        ("GET", "/api/v1/auth/github/callback?code=c&state=s", None, None),
        ("GET", "/api/v1/session", None, None),
        ("POST", "/api/v1/session", {"username": "spec", "password": "wrong-password"}, None),
        ("POST", "/api/v1/session", {"user": "spec"}, None),
        ("GET", "/api/v1/tokens", None, admin),
        ("GET", "/api/v1/tokens?all=true", None, admin),
        ("GET", "/api/v1/tokens", None, {"Authorization": "Bearer " + collector.create_token(
            "octo/alpha")}),
        ("POST", "/api/v1/tokens", {"name": "t", "scope": "read"}, admin),
        ("DELETE", "/api/v1/tokens/999999", None, admin),
        ("GET", "/api/v1/audit?limit=5", None, admin),
        ("GET", "/api/v1/audit?limit=0", None, admin),
        ("GET", "/api/v1/audit", None, None),
    ]
    covered = set()
    for method, path, body, headers in calls:
        status, reply = collector.http(method, path, body=body, headers=headers)
        assert status < 500, (method, path, status, reply)
        covered.add(check(spec, method, path, status, reply))
    # Signed in: the session's own answers (the cookie comes from Set-Cookie).
    req = urllib.request.Request(collector.http_url + "/api/v1/session", method="POST",
                                 data=json.dumps({"username": "spec",
                                                  "password": "spec-password"}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        session = json.loads(r.read())
        covered.add(check(spec, "POST", "/api/v1/session", r.status, session))
        cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    signed = {"Cookie": cookie, "X-CSRF-Token": session["csrf_token"]}
    status, tok = collector.http("POST", "/api/v1/tokens", {"name": "t", "scope": "write",
                                                            "expires_in_days": 7}, signed)
    for method, path, body, hdrs in (
            ("GET", "/api/v1/session", None, signed),
            ("POST", "/api/v1/tokens", {"name": "t", "scope": "x"}, signed),
            ("GET", "/api/v1/tokens", None, signed),
            ("DELETE", "/api/v1/tokens/%d" % tok["id"], None, signed),
            ("DELETE", "/api/v1/tokens/%d" % tok["id"], None, signed),
            ("POST", "/api/v1/silences", {"until": future}, {"Cookie": cookie}),  # no CSRF: 403
            ("DELETE", "/api/v1/session", None, signed)):
        status, reply = collector.http(method, path, body=body, headers=hdrs)
        assert status < 500, (method, path, status, reply)
        covered.add(check(spec, method, path, status, reply))
    assert check(spec, "POST", "/api/v1/tokens", 201, tok)
    documented = {(m, tpl) for tpl, ops in spec["paths"].items() for m in ops}
    assert documented == covered, "documented operations not exercised: %s" % (documented - covered)


def sample(param):
    """A valid value for a documented query parameter (every one must have one)."""
    s = param.get("schema", {})
    if "enum" in s:
        return s["enum"][0]
    if s.get("format") == "date-time":
        # Recent: `from` alone runs to now, and a range may span at most 400 days.
        return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    named = {"repo": "octo/alpha", "branch": "main", "q": "abc", "workflow": "11",
             "actor": "x", "action": "a.one"}
    if param["name"] in named:
        return named[param["name"]]
    if s.get("type") == "integer":
        return str(s.get("minimum", 1))
    return None


def test_every_documented_parameter_is_accepted(collector, db, spec):
    """Every GET, bare and with each documented query parameter set to a valid value, on a
    resource that exists, is answered 200 (the spec and the code agree; nothing is skipped)."""
    H.insert_history(db, seed=4, runs=30)
    for key in ("k1", "k2"):  # two alerts, so that the alert list has a second page
        db.execute("INSERT INTO alerts (kind, repo_id, condition_key, summary, run_id)"
                   " VALUES ('failure', 1001, %s, 'CI failed on main', 9000001)", (key,))
    run_id = db.scalar("SELECT run_id FROM workflow_runs w JOIN repositories r ON r.id = w.repo_id"
                       " WHERE r.full_name = 'octo/alpha' ORDER BY run_id LIMIT 1")
    job_id = db.scalar("SELECT job_id FROM logs ORDER BY job_id LIMIT 1")
    alert_id = db.scalar("SELECT min(id) FROM alerts")
    test_id, fingerprint = tests_history.insert_tests(db)
    assert run_id and job_id
    for action in ("a.one", "a.two"):  # two entries, so that the audit log has a second page
        db.execute("INSERT INTO audit_log (actor, actor_kind, action) VALUES ('x', 'user', %s)",
                   (action,))
    admin = collector.admin_headers()  # every GET answers an admin (reads may be closed)
    tried = 0
    for tpl, ops in spec["paths"].items():
        if "get" not in ops or ops["get"].get("security") == [{"cookie": []}]:
            continue  # the session's own answer is checked in test_access.py
        if "302" in ops["get"]["responses"]:
            continue  # browser redirects (GitHub sign-in): test_github_signin.py
        path = tpl.replace("{owner}", "octo").replace("{name}", "alpha").replace(
            "{run_id}", str(run_id)).replace("{job_id}", str(job_id)).replace(
            "{id}", str(alert_id)).replace("{test_id}", test_id).replace(
            "{fingerprint}", fingerprint)
        base = "&q=passed" if tpl.endswith("search") else ""  # a word of every log tail
        # The resource itself, without optional parameters.
        status, reply = collector.http("GET", "%s?%s" % (path, base[1:]) if base else path,
                                       headers=admin)
        assert status == 200, (tpl, status, reply)
        for p in ops["get"].get("parameters", []):
            if "$ref" in p:
                p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
            if p["in"] != "query":
                continue
            extra = base if p["name"] != "q" else ""
            needs_repo = "metrics" in tpl or tpl == "/api/v1/tests"
            extra += "&repo=octo/alpha" if p["name"] == "workflow" and needs_repo else ""
            if p["name"] == "to":
                extra += "&from=" + (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
            if p["name"] == "cursor":
                # A real cursor: the next page of a one-item first page.
                status, first = collector.http("GET", "%s?limit=1%s" % (path, base),
                                               headers=admin)
                assert status == 200 and first["next_cursor"], (tpl, status, first)
                value = first["next_cursor"]
            else:
                value = sample(p)
            assert value is not None, "no sample value for %s %s" % (tpl, p["name"])
            status, reply = collector.http("GET", "%s?%s=%s%s" % (path, p["name"], value, extra),
                                           headers=admin)
            assert status == 200, (tpl, p["name"], status, reply)
            tried += 1
    assert tried >= 20, tried


def server_routes():
    """Every (method, pattern) the collector registers (col_http_route in its sources)."""
    routes = set()
    for path in glob.glob(os.path.join(ROOT, "collector", "**", "*.c"), recursive=True):
        with open(path) as f:
            routes |= set(re.findall(r'col_http_route\(\s*"([A-Z]+)",\s*"([^"]+)"', f.read()))
    return routes


def pattern_rx(pattern):
    """A route pattern as a regex: its `*` stands for the rest of the path."""
    return "^" + re.escape(pattern).replace(r"\*", ".+") + "$"


def undocumented(spec, routes):
    """Routes with no documented operation."""
    missing = []
    for method, pattern in sorted(routes):
        rx = pattern_rx(pattern)
        if not any(method.lower() in ops and re.match(rx, tpl) for tpl, ops in spec["paths"].items()):
            missing.append("%s %s" % (method, pattern))
    return missing


def test_every_server_route_is_documented(spec):
    routes = server_routes()
    assert ("POST", "/webhook/github") in routes and ("GET", "/metrics") in routes and len(routes) >= 20
    assert undocumented(spec, routes) == []
    # and the check catches a route the spec leaves out
    for tpl in ("/healthz", "/api/v1/poll/run", "/api/v1/silences/{id}"):
        trimmed = dict(spec, paths={k: v for k, v in spec["paths"].items() if k != tpl})
        assert undocumented(trimmed, routes), tpl
    # and every documented operation is served
    for tpl, ops in spec["paths"].items():
        for method in ops:
            assert any(m == method.upper() and re.match(pattern_rx(p), tpl) for m, p in routes), (method, tpl)


def test_operation_ids_and_tags(spec):
    declared = {t["name"] for t in spec["tags"]}
    ids = []
    for tpl, ops in spec["paths"].items():
        for method, op in ops.items():
            assert re.fullmatch(r"[a-z][A-Za-z0-9]+", op.get("operationId", "")), (method, tpl)
            ids.append(op["operationId"])
            assert op.get("tags") and set(op["tags"]) <= declared, (method, tpl)
    assert len(ids) == len(set(ids))
    assert declared == {t for ops in spec["paths"].values() for op in ops.values() for t in op["tags"]}


def test_read_token_answers_401_where_documented(collector_factory, db, spec):
    """With CIPULSE_READ_TOKEN set, every read without a token is 401, and the spec says so
    (the probes stay open); an ingest token gets a documented status too."""
    read_token = "read-token-0123456789abcdef"
    collector = collector_factory(env={"CIPULSE_READ_TOKEN": read_token})
    H.insert_history(db, seed=5, runs=5)
    ingest = {"Authorization": "Bearer " + collector.create_token("octo/alpha")}
    checked = 0
    for tpl, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        op = ops["get"]
        if op.get("security") == [{"cookie": []}]:
            continue  # a session only (test_access.py)
        if "302" in op["responses"]:
            continue  # a browser redirect (GitHub sign-in): test_github_signin.py
        path = re.sub(r"\{[^}]+\}", "1", tpl.replace("{owner}/{name}", "octo/alpha"))
        if tpl.endswith("/search"):
            path += "?q=passed"
        status, _ = collector.http("GET", path)
        if op.get("security") == [{}]:
            assert status == 200, (tpl, status)
            continue
        assert status == 401, (tpl, status)
        assert "401" in op["responses"], tpl
        status, _ = collector.http("GET", path, headers=ingest)
        assert str(status) in op["responses"], (tpl, status)
        status, _ = collector.http("GET", path, headers={"Authorization": "Bearer " + read_token})
        assert status != 401 and str(status) in op["responses"], (tpl, status)
        checked += 1
    assert checked >= 10
