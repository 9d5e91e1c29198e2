"""POST /webhook/github against the real collector and PostgreSQL: every fixture event lands in the
right rows; authentication, content types, sizes and shapes answer the documented statuses."""
import glob
import http.client
import json
import os
import urllib.parse

import pytest

from harness import FIXTURES, load_fixture
from ghutil import SECRET, dump, event_of, post_webhook, register_repo, sign, ts

FIXTURE_NAMES = sorted(os.path.basename(p)
                       for p in glob.glob(os.path.join(FIXTURES, "webhooks", "workflow_*.json")))
ORG_SECRET = "org-wide-secret-for-tests"


def wipe(db):
    db.execute("TRUNCATE repositories, workflows, workflow_runs, jobs, steps, logs, "
               "webhook_deliveries CASCADE")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixture_event_lands_in_the_right_rows(collector, db, name):
    payload = load_fixture(name)
    repo = payload["repository"]
    register_repo(db, repo["full_name"])  # by name: the event teaches the real id
    status, body = post_webhook(collector, event_of(name), payload)
    assert status == 200, body
    assert body["status"] == "stored"
    assert db.scalar("SELECT id FROM repositories WHERE full_name = %s",
                     (repo["full_name"],)) == repo["id"]
    if event_of(name) == "workflow_job":
        j = payload["workflow_job"]
        row = db.query("SELECT * FROM jobs WHERE job_id = %s", (j["id"],))[0]
        assert row["repo_id"] == repo["id"]
        assert (row["run_id"], row["run_attempt"]) == (j["run_id"], j["run_attempt"])
        assert row["name"] == j["name"]
        assert row["status"] == j["status"]
        assert row["conclusion"] == j["conclusion"]
        assert row["created_at"] == ts(j["created_at"])
        if j["status"] in ("queued", "waiting"):
            # GitHub fills started_at with created_at until a runner picks the job up.
            assert row["started_at"] is None
        else:
            assert row["started_at"] == ts(j["started_at"])
        assert row["completed_at"] == ts(j["completed_at"])
        assert row["runner_name"] == j["runner_name"]
        assert row["labels"] == j["labels"]
        assert row["html_url"] == j["html_url"]
        assert row["sources"] == ["webhook"]
        steps = db.query("SELECT * FROM steps WHERE job_id = %s ORDER BY number", (j["id"],))
        assert [(s["number"], s["name"], s["status"], s["conclusion"], s["started_at"],
                 s["completed_at"]) for s in steps] == \
            [(s["number"], s["name"], s["status"], s["conclusion"], ts(s["started_at"]),
              ts(s["completed_at"])) for s in sorted(j["steps"], key=lambda s: s["number"])]
        run = db.query("SELECT * FROM workflow_runs WHERE run_id = %s", (j["run_id"],))[0]
        assert run["head_sha"] == j["head_sha"]
        assert run["head_branch"] == j["head_branch"]
        assert run["name"] == j["workflow_name"]
    else:
        r = payload["workflow_run"]
        row = db.query("SELECT * FROM workflow_runs WHERE run_id = %s", (r["id"],))[0]
        assert row["repo_id"] == repo["id"]
        assert row["run_attempt"] == r["run_attempt"]
        assert row["workflow_id"] == payload["workflow"]["id"] == r["workflow_id"]
        assert row["run_number"] == r["run_number"]
        assert row["event"] == r["event"]
        assert row["status"] == r["status"]
        assert row["conclusion"] == r["conclusion"]
        assert row["head_branch"] == r["head_branch"]
        assert row["head_sha"] == r["head_sha"]
        assert row["actor"] == r["actor"]["login"]
        assert row["html_url"] == r["html_url"]
        assert row["created_at"] == ts(r["created_at"])
        assert row["run_started_at"] == ts(r["run_started_at"])
        assert row["updated_at"] == ts(r["updated_at"])
        if r["status"] == "completed":
            assert row["completed_at"] == ts(r["updated_at"])
        else:
            assert row["completed_at"] is None
        wf = db.query("SELECT * FROM workflows WHERE repo_id = %s", (repo["id"],))
        assert [(w["id"], w["name"], w["path"]) for w in wf] == \
            [(payload["workflow"]["id"], payload["workflow"]["name"], payload["workflow"]["path"])]
        assert db.scalar("SELECT server_url FROM repositories WHERE id = %s",
                         (repo["id"],)) == "https://github.com"
    d = db.query("SELECT * FROM webhook_deliveries")
    assert len(d) == 1 and d[0]["event"] == event_of(name) and d[0]["action"] == payload["action"]


def test_duplicate_delivery_changes_nothing(collector, db):
    payload = load_fixture("workflow_job.completed.failure.with-organization.json")
    register_repo(db, payload["repository"]["full_name"])
    status, body = post_webhook(collector, "workflow_job", payload, delivery="d-1")
    assert (status, body["status"]) == (200, "stored")
    before = dump(db)
    # The same delivery again, even with other content, is recognised by its id.
    payload2 = json.loads(json.dumps(payload))
    payload2["workflow_job"]["conclusion"] = "success"
    status, body = post_webhook(collector, "workflow_job", payload2, delivery="d-1")
    assert (status, body["status"]) == (200, "duplicate")
    assert dump(db) == before
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 1
    # A redelivery of the same event under a new id is stored again and changes nothing.
    status, body = post_webhook(collector, "workflow_job", payload, delivery="d-2")
    assert (status, body["status"]) == (200, "stored")
    assert dump(db) == before


def test_signatures(collector, db):
    payload = load_fixture("workflow_job.queued.json")
    register_repo(db, payload["repository"]["full_name"])
    body = json.dumps(payload).encode()
    cases = {
        "missing": dict(secret=None),
        "wrong secret": dict(secret="not the secret"),
        "for another body": dict(signature=sign(SECRET, body + b" ")),
        "malformed": dict(signature="sha256=zz"),
        "sha1 only": dict(secret=None, headers={"X-Hub-Signature": "sha1=" + "0" * 40}),
    }
    for what, kw in cases.items():
        status, out = post_webhook(collector, "workflow_job", payload, raw=body, **kw)
        assert status == 401, what
        assert out["error"]["code"] in ("missing_signature", "bad_signature"), what
        assert SECRET not in json.dumps(out)
    assert db.scalar("SELECT count(*) FROM jobs") == 0
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 0
    assert SECRET not in collector.log()
    # The same body, rightly signed, is stored: the failures above were about the signature.
    status, out = post_webhook(collector, "workflow_job", payload, raw=body)
    assert status == 200, out


def test_a_secret_of_one_repository_cannot_write_into_another(collector, db):
    payload = load_fixture("workflow_job.queued.json")
    register_repo(db, payload["repository"]["full_name"], secret="secret-of-A")
    register_repo(db, "other/repo", secret="secret-of-B")
    # Signed with B's secret but naming A: A's secret does not match.
    status, _ = post_webhook(collector, "workflow_job", payload, secret="secret-of-B")
    assert status == 401
    # A body whose first "repository" is B's but whose second is A's: duplicate keys rejected.
    text = json.dumps(payload)
    forged = '{"repository": {"id": 5, "full_name": "other/repo"}, ' + text[1:]
    status, out = post_webhook(collector, "workflow_job", None, raw=forged.encode(),
                               secret="secret-of-B")
    assert status == 400, out
    assert db.scalar("SELECT count(*) FROM jobs") == 0


def test_unknown_repository(collector_factory, db):
    collector = collector_factory(env={"CIPULSE_WEBHOOK_SECRET": ORG_SECRET})
    payload = load_fixture("workflow_job.queued.json")
    # Not registered, signed with some secret: we cannot tell who asks -> 401.
    status, out = post_webhook(collector, "workflow_job", payload, secret=SECRET)
    assert status == 401, out
    # Signed with the organisation secret: the sender is ours, the repository is not -> 404.
    status, out = post_webhook(collector, "workflow_job", payload, secret=ORG_SECRET)
    assert status == 404 and out["error"]["code"] == "unknown_repository", out
    # Once registered (without a secret of its own), the organisation secret is enough.
    register_repo(db, payload["repository"]["full_name"], secret=None)
    status, out = post_webhook(collector, "workflow_job", payload, secret=ORG_SECRET)
    assert status == 200, out
    assert db.scalar("SELECT count(*) FROM jobs") == 1


def test_ping(collector_factory, db):
    collector = collector_factory(env={"CIPULSE_WEBHOOK_SECRET": ORG_SECRET})
    repo_ping = load_fixture("ping.payload.json")
    register_repo(db, repo_ping["repository"]["full_name"])
    status, out = post_webhook(collector, "ping", repo_ping)
    assert (status, out) == (200, {"status": "pong"})
    org_ping = load_fixture("ping.with-organization.json")
    status, out = post_webhook(collector, "ping", org_ping, secret=ORG_SECRET)
    assert (status, out) == (200, {"status": "pong"})
    status, out = post_webhook(collector, "ping", org_ping, secret=SECRET)
    assert status == 401


def test_ignored_events_answer_202(collector, db):
    payload = load_fixture("workflow_job.queued.json")
    register_repo(db, payload["repository"]["full_name"])
    for event in ("push", "check_run", "pull_request"):
        status, out = post_webhook(collector, event, payload)
        assert (status, out) == (202, {"status": "ignored"}), event
    assert db.scalar("SELECT count(*) FROM jobs") == 0


def test_malformed_bodies(collector, db):
    payload = load_fixture("workflow_job.completed.success.with-organization.json")
    register_repo(db, payload["repository"]["full_name"])
    # Keys in an order where the repository comes first, so the secret can be found.
    ordered = {"repository": payload["repository"], "action": payload["action"],
               "workflow_job": payload["workflow_job"]}
    text = json.dumps(ordered).encode()
    for cut in (len(text) - 1, len(text) // 2, len(text) - 40):
        status, out = post_webhook(collector, "workflow_job", None, raw=text[:cut])
        assert status == 400, (cut, out)
        assert out["error"]["code"] == "malformed_json"
    # Valid JSON of an unknown shape.
    shapes = [
        {"repository": payload["repository"], "action": "completed"},
        {"repository": payload["repository"], "workflow_job": []},
        {"repository": payload["repository"], "workflow_job": {"id": "x", "run_id": 1}},
        {"repository": payload["repository"], "workflow_job": {"id": 1}},
        {"repository": payload["repository"],
         "workflow_job": dict(payload["workflow_job"], started_at="yesterday")},
        {"repository": payload["repository"],
         "workflow_job": dict(payload["workflow_job"], steps=[{"number": 0}])},
    ]
    for shape in shapes:
        status, out = post_webhook(collector, "workflow_job", shape)
        assert status == 400, (shape, out)
        assert out["error"]["code"] == "unknown_shape"
    status, out = post_webhook(collector, "workflow_run", {"repository": payload["repository"]})
    assert status == 400
    assert db.scalar("SELECT count(*) FROM jobs") == 0
    assert db.scalar("SELECT count(*) FROM workflow_runs") == 0


def send_big(collector, body):
    """Sends a large signed body; the server may answer before reading it all (then close)."""
    conn = http.client.HTTPConnection("127.0.0.1", collector.http_port, timeout=30)
    conn.putrequest("POST", "/webhook/github")
    for k, v in {"Content-Type": "application/json", "X-GitHub-Event": "workflow_job",
                 "X-GitHub-Delivery": "big-1", "X-Hub-Signature-256": sign(SECRET, body),
                 "Content-Length": str(len(body))}.items():
        conn.putheader(k, v)
    conn.endheaders()
    try:
        for i in range(0, len(body), 1 << 16):
            conn.send(body[i:i + (1 << 16)])
    except (BrokenPipeError, ConnectionResetError):
        pass
    try:
        return conn.getresponse().status
    finally:
        conn.close()


def test_too_large_and_content_types(collector, db):
    payload = load_fixture("workflow_job.in_progress.json")
    register_repo(db, payload["repository"]["full_name"])
    big = json.dumps(dict(payload, padding="x" * (10 << 20))).encode()
    assert send_big(collector, big) == 413
    for ct in ("text/plain", "application/xml", "multipart/form-data; boundary=x", ""):
        status, out = post_webhook(collector, "workflow_job", payload, content_type=ct)
        assert status == 415, (ct, out)
    assert db.scalar("SELECT count(*) FROM jobs") == 0
    # application/json with parameters is JSON.
    status, out = post_webhook(collector, "workflow_job", payload,
                               content_type="application/json; charset=utf-8")
    assert status == 200, out
    # GitHub's form encoding: payload=<url-encoded JSON>, the signature over the form body.
    payload2 = load_fixture("workflow_job.completed.success.with-organization.json")
    register_repo(db, payload2["repository"]["full_name"], repo_id=None) \
        if payload2["repository"]["full_name"] != payload["repository"]["full_name"] else None
    form = urllib.parse.urlencode({"payload": json.dumps(payload2)}).encode()
    status, out = post_webhook(collector, "workflow_job", None, raw=form,
                               content_type="application/x-www-form-urlencoded")
    assert status == 200, out
    assert db.scalar("SELECT status FROM jobs WHERE job_id = %s",
                     (payload2["workflow_job"]["id"],)) == "completed"
    status, out = post_webhook(collector, "workflow_job", None, raw=b"nopayload=1",
                               content_type="application/x-www-form-urlencoded")
    assert status in (400, 401), out


def test_metrics_count_deliveries(collector, db):
    payload = load_fixture("workflow_job.queued.json")
    register_repo(db, payload["repository"]["full_name"])
    post_webhook(collector, "workflow_job", payload)
    post_webhook(collector, "workflow_job", payload, secret="wrong")
    status, text = collector.http("GET", "/metrics")
    assert 'cipulse_webhooks_total{event="workflow_job",result="stored"} 1' in text
    assert 'cipulse_webhooks_total{event="workflow_job",result="bad_signature"} 1' in text
