"""Bad input is a 400 naming the parameter (never a 500); unknown routes 404, wrong methods 405;
admin auth for writes, an optional read token, no CORS, no secrets read back."""
import base64
import urllib.error
import urllib.request

import pytest

import api_history as H


def b64(s):
    return base64.urlsafe_b64encode(s.encode()).decode().rstrip("=")


BAD_GETS = [
    ("/api/v1/repos?limit=-1", "limit"),
    ("/api/v1/repos?limit=0", "limit"),
    ("/api/v1/repos?limit=abc", "limit"),
    ("/api/v1/repos?limit=201", "limit"),
    ("/api/v1/repos?limit=1;DROP%20TABLE%20repositories", "limit"),
    ("/api/v1/repos?limit=1&limit=2", "limit"),
    ("/api/v1/repos?limit=%ff", "limit"),
    ("/api/v1/repos?limit=%zz", "limit"),
    ("/api/v1/repos?limit=%4", "limit"),
    ("/api/v1/repos?limit=1%00", "limit"),
    ("/api/v1/repos?%ff%fe=1", "query"),
    ("/api/v1/repos?bogus=1", "bogus"),
    ("/api/v1/repos?cursor=!!!", "cursor"),
    ("/api/v1/repos?cursor=Zm9v", "cursor"),
    ("/api/v1/repos?cursor=" + b64("runs|1|2"), "cursor"),
    ("/api/v1/repos?cursor=" + b64("repos|50%off"), "cursor"),  # an escape encode never writes
    ("/api/v1/repos?days=0", "days"),
    ("/api/v1/repos?days=91", "days"),
    ("/api/v1/repos?" + "a" * 10240 + "=1", "query"),
    ("/api/v1/repos?limit=" + "9" * 10240, "query"),
    ("/api/v1/metrics?window=5d", "window"),
    ("/api/v1/metrics?window=24h'--", "window"),
    ("/api/v1/metrics?window=24h&from=2024-01-01T00:00:00Z", "window"),
    ("/api/v1/metrics?from=yesterday", "from"),
    ("/api/v1/metrics?from=2024-13-01T00:00:00Z", "from"),
    ("/api/v1/metrics?from=2024-02-30T00:00:00Z", "from"),
    ("/api/v1/metrics?from=2024-01-01T00:00:00Z&to=soon", "to"),
    ("/api/v1/metrics?to=2024-01-01T00:00:00Z", "from"),
    ("/api/v1/metrics?from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z", "from"),
    ("/api/v1/metrics?from=2020-01-01T00:00:00Z&to=2024-01-01T00:00:00Z", "from"),
    ("/api/v1/metrics?repo=octo", "repo"),
    ("/api/v1/metrics?repo=octo/alpha';--", "repo"),
    ("/api/v1/metrics?repo=octo/alpha%20OR%201=1", "repo"),
    ("/api/v1/metrics?repo=octo/alpha&workflow=abc", "workflow"),
    ("/api/v1/metrics?workflow=11", "workflow"),
    ("/api/v1/metrics?branch=a..b", "branch"),
    ("/api/v1/metrics?branch=main%20OR%201=1", "branch"),
    ("/api/v1/metrics?branch=%C3%28", "branch"),
    ("/api/v1/repos/octo/alpha/runs?status=done", "status"),
    ("/api/v1/repos/octo/alpha/runs?conclusion=weird", "conclusion"),
    ("/api/v1/repos/octo/alpha/runs?from=2024-01-01", "from"),
    ("/api/v1/repos/octo/alpha/runs?from=2024-02-01T00:00:00Z&to=2024-01-01T00:00:00Z", "from"),
    ("/api/v1/repos/octo/alpha/runs?workflow=-3", "workflow"),
    ("/api/v1/repos/octo/alpha/runs?cursor=" + b64("runs|abc|1"), "cursor"),
    ("/api/v1/repos/octo/alpha/runs?cursor=" + b64("runs|1"), "cursor"),
    ("/api/v1/repos/octo/alpha/workflows?cursor=" + b64("wf|x"), "cursor"),
    ("/api/v1/runs/123?attempt=0", "attempt"),
    ("/api/v1/runs/123?attempt=1e3", "attempt"),
    ("/api/v1/logs/search?q=ab", "q"),
    ("/api/v1/logs/search", "q"),
    ("/api/v1/logs/search?q=%0Aabc", "q"),
    ("/api/v1/logs/search?q=abc&limit=101", "limit"),
    ("/api/v1/logs/search?q=abc&repo=..", "repo"),
    ("/api/v1/logs/search?q=abc&cursor=" + b64("logs|1|x"), "cursor"),
    ("/api/v1/alerts?state=closed", "state"),
    ("/api/v1/alerts?cursor=" + b64("alerts|0"), "cursor"),
    ("/api/v1/jobs/5/logs?x=1", "x"),
    ("/api/v1/settings/alerts?x=1", "x"),
]


@pytest.mark.parametrize("path,param", BAD_GETS)
def test_bad_parameter_is_400_naming_it(shared_collector, path, param):
    collector = shared_collector
    status, body = collector.http("GET", path)
    assert status == 400, (path, status, body)
    assert body["error"]["code"] == "invalid_parameter"
    assert body["error"]["param"] == param
    assert '"%s"' % param in body["error"]["message"]


BAD_POSTS = [
    ("/api/v1/repos", "not json", "body"),
    ("/api/v1/repos", [], "body"),
    ("/api/v1/repos", {"full_name": "bad"}, "full_name"),
    ("/api/v1/repos", {"full_name": "a/b';--"}, "full_name"),
    ("/api/v1/repos", {"full_name": "a/b", "extra": 1}, "full_name"),
    ("/api/v1/settings/alerts", "{", "body"),
    ("/api/v1/settings/alerts", {"other": []}, "body"),
    ("/api/v1/settings/alerts", {"channels": {}}, "channels"),
    ("/api/v1/settings/alerts", {"channels": [{"name": "a b", "kind": "slack"}]}, "channels[0].name"),
    ("/api/v1/settings/alerts", {"channels": [{"name": "ops", "kind": "pager"}]}, "channels[0].kind"),
    ("/api/v1/settings/alerts", {"channels": [{"name": "ops", "kind": "slack", "target": "ftp://x"}]},
     "channels[0].target"),
    ("/api/v1/settings/alerts", {"channels": [{"name": "ops", "kind": "slack"}]}, "channels[0].target"),
    ("/api/v1/settings/alerts", {"rules": [{"name": "r", "kind": "boom"}]}, "rules[0].kind"),
    ("/api/v1/settings/alerts", {"rules": [{"name": "r", "kind": "regression"}]}, "rules[0].params.threshold"),
    ("/api/v1/settings/alerts", {"rules": [{"name": "r", "kind": "regression",
                                            "params": {"threshold": 2}}]},
     "rules[0].params.threshold"),
    ("/api/v1/settings/alerts", {"rules": [{"name": "r", "kind": "failure", "repo": "no/such"}]},
     "rules[0].repo"),
    ("/api/v1/settings/alerts", {"rules": [{"name": "r", "kind": "failure", "channels": ["nope"]}]},
     "rules[0].channels"),
    ("/api/v1/settings/alerts", {"rules": [{"id": 999, "name": "r", "kind": "failure"}]}, "rules[0].id"),
]


@pytest.mark.parametrize("path,body,param", BAD_POSTS)
def test_bad_body_is_400_naming_the_field(shared_collector, path, body, param):
    collector = shared_collector
    status, reply = collector.http("POST", path, body=body, headers=collector.admin_headers())
    assert status == 400, (body, status, reply)
    assert reply["error"]["param"] == param


def test_sql_metacharacters_in_valid_values_are_data(collector, db):
    H.insert_history(db, seed=3, runs=30)
    # One log tail holds the metacharacters literally: searches must find it, and only it.
    job = db.scalar("SELECT min(job_id) FROM logs")
    db.execute("UPDATE logs SET content = content || %s WHERE job_id = %s",
               ("\nrm '; DROP TABLE logs; -- at 100%%% done", job))
    before = db.counts()
    for path, want in [
            ("/api/v1/repos/octo/alpha/runs?branch=main';DROP_TABLE_jobs;--", []),
            ("/api/v1/logs/search?q=%27%3B%20DROP%20TABLE%20logs%3B%20--", [job]),
            ("/api/v1/logs/search?q=%25%25%25", [job]),
            ("/api/v1/logs/search?q=___", [])]:  # as LIKE wildcards these would match all
        status, body = collector.http("GET", path)
        assert status == 200, (path, body)
        assert [i["job_id"] for i in body["items"]] == want, (path, body)
    status, body = collector.http("GET", "/api/v1/metrics?repo=octo/alpha&branch=x'%2F%22y;--")
    assert status == 200, body
    assert (body["branch"], body["runs"]) == ("x'/\"y;--", 0), body
    assert db.counts() == before


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/api/v1/nope", 404), ("GET", "/api/v1", 404), ("GET", "/api/v1/repos/octo", 404),
    ("GET", "/api/v1/repos/octo/alpha/nothing", 404), ("GET", "/api/v1/repos/../x/runs", 404),
    ("GET", "/api/v1/runs/abc", 404), ("GET", "/api/v1/runs/0123", 404),
    ("GET", "/api/v1/runs/1234567890123456789012", 404), ("GET", "/api/v1/runs/12/x", 404),
    ("GET", "/api/v1/jobs/12", 404), ("GET", "/api/v1/jobs/12/log", 404),
    ("POST", "/api/v1/metrics", 405), ("DELETE", "/api/v1/repos", 405),
    ("POST", "/api/v1/runs/1", 405), ("PUT", "/api/v1/settings/alerts", 405),
])
def test_unknown_routes_and_methods(shared_collector, method, path, status):
    collector = shared_collector
    got, body = collector.http(method, path, body="" if method != "GET" else None)
    assert got == status, (method, path, got, body)
    assert body["error"]["code"] == ("not_found" if status == 404 else "method_not_allowed")


def test_no_500_for_hostile_query_strings(collector, db):
    """A spread of malformed targets: anything but a 5xx."""
    import random
    rnd = random.Random(5)
    alphabet = "%&=+;'\"\\/?#aZ09\x7f-._~" + "".join(chr(c) for c in range(0x80, 0x90))
    for _ in range(300):
        q = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        path = rnd.choice(["/api/v1/repos", "/api/v1/metrics", "/api/v1/logs/search",
                           "/api/v1/repos/octo/alpha/runs", "/api/v1/alerts"])
        target = path + "?" + urllib.request.quote(q, safe="%&=+;/?")
        status, body = collector.http("GET", target)
        assert status < 500, (target, status, body)


def http_raw(collector, method, path, headers=None, body=None):
    req = urllib.request.Request(collector.http_url + path, method=method, headers=headers or {},
                                 data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_admin_auth(collector):
    body = {"full_name": "octo/new"}
    status, reply = collector.http("POST", "/api/v1/repos", body=body)
    assert status == 401 and reply["error"]["code"] == "unauthorized"
    status, reply = collector.http("POST", "/api/v1/repos", body=body,
                                   headers={"Authorization": "Bearer wrong"})
    assert status == 401
    ingest = collector.create_token("octo/other")
    status, reply = collector.http("POST", "/api/v1/repos", body=body,
                                   headers={"Authorization": "Bearer " + ingest})
    assert status == 403 and reply["error"]["code"] == "forbidden"
    status, reply = collector.http("POST", "/api/v1/settings/alerts", body={})
    assert status == 401
    admin = collector.create_token(None, kind="admin")
    status, reply = collector.http("POST", "/api/v1/repos", body=body,
                                   headers={"Authorization": "Bearer " + admin})
    assert status == 201, reply
    assert reply["ingest_token"].startswith("cip_") and reply["webhook_secret"]
    status, reply2 = collector.http("POST", "/api/v1/repos", body=body,
                                    headers=collector.admin_headers())
    assert status == 409
    # The secrets are shown once: never in a list, never in the log.
    status, repos = collector.http("GET", "/api/v1/repos")
    text = str(repos)
    assert reply["webhook_secret"] not in text and reply["ingest_token"] not in text
    assert reply["webhook_secret"] not in collector.log()
    assert reply["ingest_token"] not in collector.log()
    assert collector.ADMIN_TOKEN not in collector.log()


def test_registered_repo_token_ingests(collector, db):
    status, reply = collector.http("POST", "/api/v1/repos", body={"full_name": "octo/reg"},
                                   headers=collector.admin_headers())
    assert status == 201
    row = db.query("SELECT kind, r.full_name, r.webhook_secret FROM api_tokens t"
                   " JOIN repositories r ON r.id = t.repo_id")[0]
    assert row["kind"] == "ingest" and row["full_name"] == "octo/reg"
    assert row["webhook_secret"] == reply["webhook_secret"]
    # Stored hashed: the token itself is nowhere in the table.
    assert db.scalar("SELECT count(*) FROM api_tokens WHERE token_hash = %s",
                     (reply["ingest_token"],)) == 0


def test_read_token(collector_factory):
    c = collector_factory(env={"CIPULSE_READ_TOKEN": "read-secret-0123456789"})
    assert c.http("GET", "/api/v1/repos")[0] == 401
    assert c.http("GET", "/api/v1/metrics", headers={"Authorization": "Bearer nope"})[0] == 401
    assert c.http("GET", "/api/v1/repos",
                  headers={"Authorization": "Bearer read-secret-0123456789"})[0] == 200
    assert c.http("GET", "/api/v1/repos", headers=c.admin_headers())[0] == 200
    read_db = c.create_token(None, kind="read")
    assert c.http("GET", "/api/v1/alerts", headers={"Authorization": "Bearer " + read_db})[0] == 200
    ingest = c.create_token("octo/x")
    assert c.http("GET", "/api/v1/repos", headers={"Authorization": "Bearer " + ingest})[0] == 403
    status, _ = c.http("POST", "/api/v1/repos", body={"full_name": "a/b"},
                       headers={"Authorization": "Bearer read-secret-0123456789"})
    assert status == 403
    # Health and metrics stay open for probes and scrapers.
    assert c.http("GET", "/healthz")[0] == 200


def test_reads_open_by_default_and_no_cors(collector):
    status, headers, _ = http_raw(collector, "GET", "/api/v1/repos",
                                  headers={"Origin": "https://evil.example"})
    assert status == 200
    assert not any(k.lower().startswith("access-control-") for k in headers)
    status, headers, _ = http_raw(collector, "OPTIONS", "/api/v1/repos",
                                  headers={"Origin": "https://evil.example",
                                           "Access-Control-Request-Method": "POST"})
    assert status in (404, 405)
    assert not any(k.lower().startswith("access-control-") for k in headers)


def test_alert_settings_roundtrip_hides_targets(collector, db):
    H.insert_history(db, seed=2, runs=5)
    hook = "https://hooks.slack.example/services/T000/B000/SECRETSECRET"
    body = {"channels": [{"name": "ops-slack", "kind": "slack", "target": hook},
                         {"name": "mail", "kind": "email", "target": "ops@example.com"}],
            "rules": [{"name": "main failing", "kind": "failure", "repo": "octo/alpha",
                       "branch": "main", "channels": ["ops-slack", "mail"]},
                      {"name": "slow", "kind": "slow_build", "params": {"threshold": 600,
                                                                        "window_s": 86400}}]}
    status, reply = collector.http("POST", "/api/v1/settings/alerts", body=body,
                                   headers=collector.admin_headers())
    assert status == 200, reply
    assert hook not in str(reply) and "ops@example.com" not in str(reply)
    assert [c["name"] for c in reply["channels"]] == ["mail", "ops-slack"]
    assert all(c["target_set"] for c in reply["channels"])
    rule = reply["rules"][0]
    assert rule["repo"] == "octo/alpha" and rule["channels"] == ["mail", "ops-slack"]
    assert reply["rules"][1]["params"] == {"threshold": 600, "window_s": 86400}
    status, got = collector.http("GET", "/api/v1/settings/alerts")
    assert status == 200 and got == reply
    assert hook not in collector.log()
    # Update without target keeps it; disable; delete a rule.
    status, reply = collector.http("POST", "/api/v1/settings/alerts", headers=collector.admin_headers(),
                                   body={"channels": [{"name": "ops-slack", "kind": "slack",
                                                       "enabled": False}],
                                         "rules": [{"id": rule["id"], "delete": True}]})
    assert status == 200, reply
    assert db.scalar("SELECT target FROM notification_channels WHERE name = 'ops-slack'") == hook
    assert [r["name"] for r in reply["rules"]] == ["slow"]
    # A bad rule in the same request as a good channel changes nothing.
    status, _ = collector.http("POST", "/api/v1/settings/alerts", headers=collector.admin_headers(),
                               body={"channels": [{"name": "new", "kind": "teams",
                                                   "target": "https://teams.example/x"}],
                                     "rules": [{"name": "x", "kind": "nope"}]})
    assert status == 400
    assert db.scalar("SELECT count(*) FROM notification_channels WHERE name = 'new'") == 0


def test_alerts_list(collector, db):
    H.insert_history(db, seed=2, runs=5)
    for i in range(23):
        db.execute("INSERT INTO alerts (kind, repo_id, condition_key, state, summary, details)"
                   " VALUES ('failure', %s, %s, %s, %s, '{\"n\": 1}')",
                   (1001 if i % 3 else 1002, "k%d" % i, "open" if i % 2 else "resolved",
                    "alert %d" % i))
    from test_api_metrics import walk
    items, pages = walk(collector, "/api/v1/alerts", 4)
    assert [a["summary"] for a in items] == ["alert %d" % i for i in range(22, -1, -1)]
    assert pages == 6 and items[0]["details"] == {"n": 1}
    items, _ = walk(collector, "/api/v1/alerts", 50, repo="octo/beta", state="resolved")
    assert [a["summary"] for a in items] == ["alert %d" % i for i in range(22, -1, -1)
                                             if i % 3 == 0 and i % 2 == 0]
    status, body = collector.http("GET", "/api/v1/alerts?repo=no/such")
    assert status == 404
