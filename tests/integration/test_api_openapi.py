"""Live replies of every endpoint checked against docs/openapi.yaml (JSON Schema 2020-12 through
python3-jsonschema), and every documented operation and parameter exercised."""
import datetime as dt
import os
import re

import jsonschema
import pytest
import yaml

import api_history as H
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
    db.execute("INSERT INTO alerts (kind, repo_id, condition_key, summary, run_id)"
               " VALUES ('failure', 1001, 'k', 'CI failed on main', 9000001)")
    run_id = db.scalar("SELECT run_id FROM workflow_runs WHERE run_attempt = 2 LIMIT 1")
    job_id = db.scalar("SELECT job_id FROM logs LIMIT 1")
    alert_id = db.scalar("SELECT id FROM alerts")
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    admin = collector.admin_headers()
    calls = [
        ("GET", "/api/v1/repos", None, None),
        ("GET", "/api/v1/repos?limit=1", None, None),
        ("GET", "/api/v1/repos?days=30", None, None),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec"}, admin),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec"}, admin),
        ("POST", "/api/v1/repos", {"full_name": "octo/spec2"}, None),
        ("POST", "/api/v1/repos", {"full_name": "x"}, admin),
        ("GET", "/api/v1/repos/octo/alpha/workflows", None, None),
        ("GET", "/api/v1/repos/octo/alpha/workflows?limit=1", None, None),
        ("GET", "/api/v1/repos/no/such/workflows", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?limit=3", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?conclusion=failure&branch=main", None, None),
        ("GET", "/api/v1/repos/octo/alpha/runs?limit=0", None, None),
        ("GET", "/api/v1/runs/%d" % run_id, None, None),
        ("GET", "/api/v1/runs/%d?attempt=1" % run_id, None, None),
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
    ]
    covered = set()
    for method, path, body, headers in calls:
        status, reply = collector.http(method, path, body=body, headers=headers)
        assert status < 500, (method, path, status, reply)
        covered.add(check(spec, method, path, status, reply))
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
    named = {"repo": "octo/alpha", "branch": "main", "q": "abc", "workflow": "11"}
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
    assert run_id and job_id
    tried = 0
    for tpl, ops in spec["paths"].items():
        if "get" not in ops:
            continue
        path = tpl.replace("{owner}", "octo").replace("{name}", "alpha").replace(
            "{run_id}", str(run_id)).replace("{job_id}", str(job_id)).replace(
            "{id}", str(alert_id))
        base = "&q=passed" if tpl.endswith("search") else ""  # a word of every log tail
        # The resource itself, without optional parameters.
        status, reply = collector.http("GET", "%s?%s" % (path, base[1:]) if base else path)
        assert status == 200, (tpl, status, reply)
        for p in ops["get"].get("parameters", []):
            if "$ref" in p:
                p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
            if p["in"] != "query":
                continue
            extra = base if p["name"] != "q" else ""
            extra += "&repo=octo/alpha" if p["name"] == "workflow" and "metrics" in tpl else ""
            if p["name"] == "to":
                extra += "&from=" + (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=9)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ")
            if p["name"] == "cursor":
                # A real cursor: the next page of a one-item first page.
                status, first = collector.http("GET", "%s?limit=1%s" % (path, base))
                assert status == 200 and first["next_cursor"], (tpl, status, first)
                value = first["next_cursor"]
            else:
                value = sample(p)
            assert value is not None, "no sample value for %s %s" % (tpl, p["name"])
            status, reply = collector.http("GET", "%s?%s=%s%s" % (path, p["name"], value, extra))
            assert status == 200, (tpl, p["name"], status, reply)
            tried += 1
    assert tried >= 20, tried
