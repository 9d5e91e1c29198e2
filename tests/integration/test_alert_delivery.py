"""Delivery of the notification outbox against real receivers: retries with back-off, 429
Retry-After, permanent 4xx, give-up, a hanging channel that holds up only its own messages, a
collector SIGKILLed with messages pending, two collectors given the same failure at once, and
the Teams and signed-webhook channels."""
import hashlib
import hmac
import json
import threading
import time

import pytest

from alert_util import (Receiver, alerts, outbox, run_payload, send_run, setup_repo,
                        wait_outbox_settled)
from harness import wait_for


@pytest.fixture
def recv():
    r = Receiver()
    yield r
    r.close()


def env_for(recv, **extra):
    e = {"CIPULSE_ALLOW_PRIVATE_TARGETS": "1", "CIPULSE_SLACK_WEBHOOK_URL": recv.url + "/slack",
         "CIPULSE_NOTIFY_BACKOFF_MAX": "1s"}
    e.update(extra)
    return e


def test_receiver_down_then_up_delivers_once(collector_factory, db, recv):
    recv.respond("/slack", (500, {}), (502, {}), (503, {}))
    c = collector_factory(env=env_for(recv))
    setup_repo(db)
    send_run(c, run_payload(6001, "failure"))
    wait_for(lambda: len(recv.delivered("/slack")) == 1, timeout=60, what="the message")
    rows = wait_outbox_settled(db)
    assert [(r["state"], r["attempts"], r["last_status"]) for r in rows] == [("sent", 4, 200)]
    assert recv.attempts("/slack") == [500, 502, 503, 200]


def test_retry_after_is_honoured(collector_factory, db, recv):
    times = []
    recv.respond("/slack", (429, {"Retry-After": "3"}))
    orig = recv._handle

    def stamp(req):
        times.append(time.monotonic())
        return orig(req)
    recv.standin.route("POST", "/slack", stamp)
    c = collector_factory(env=env_for(recv))
    setup_repo(db)
    send_run(c, run_payload(6101, "failure"))
    wait_for(lambda: len(recv.delivered("/slack")) == 1, timeout=60, what="the message")
    assert recv.attempts("/slack") == [429, 200]
    # The back-off alone is at most 1 s here (CIPULSE_NOTIFY_BACKOFF_MAX): the wait is the
    # receiver's.
    assert times[1] - times[0] >= 2.9


def test_client_error_is_permanent(collector_factory, db, recv):
    recv.respond("/slack", (404, {}))
    c = collector_factory(env=env_for(recv))
    setup_repo(db)
    send_run(c, run_payload(6201, "failure"))
    rows = wait_for(lambda: [r for r in outbox(db) if r["state"] == "failed"], timeout=60,
                    what="the message to fail")
    assert rows[0]["attempts"] == 1 and rows[0]["last_status"] == 404
    assert "http 404" in rows[0]["last_error"]
    # A failed message does not block the channel: the resolve goes out.
    send_run(c, run_payload(6202, "success"))
    rows = wait_outbox_settled(db)
    assert [(r["event"], r["state"]) for r in rows] == [("open", "failed"), ("resolve", "sent")]
    assert recv.attempts("/slack") == [404, 200]


def test_give_up_after_notify_give_up(collector_factory, db, recv):
    recv.default = (500, {})
    recv.respond("/slack")
    c = collector_factory(env=env_for(recv, CIPULSE_NOTIFY_GIVE_UP="3s"))
    setup_repo(db)
    send_run(c, run_payload(6301, "failure"))
    rows = wait_for(lambda: [r for r in outbox(db) if r["state"] == "failed"], timeout=60,
                    what="the message to be given up")
    assert rows[0]["attempts"] >= 2 and "http 500" in rows[0]["last_error"]
    # The log line follows the database update that gave it up.
    wait_for(lambda: "notification given up" in c.log(), what="the give-up log line")


def test_slow_channel_delays_only_its_own(collector_factory, db, recv):
    recv.respond("/slow", "hang")
    recv.respond("/fast")
    c = collector_factory(env=env_for(recv, CIPULSE_NOTIFY_TIMEOUT="60s"))
    setup_repo(db)
    status, body = c.http("POST", "/api/v1/settings/alerts", {
        "channels": [{"name": "slow", "kind": "webhook", "target": recv.url + "/slow"},
                     {"name": "fast", "kind": "webhook", "target": recv.url + "/fast"}],
        "rules": [{"name": "all failures", "kind": "failure", "channels": ["slow", "fast"]}]},
        headers=c.admin_headers())
    assert status == 200, body
    send_run(c, run_payload(6401, "failure", branch="any"))
    send_run(c, run_payload(6402, "success", branch="any"))
    # Both messages of the fast channel arrive while the slow one still holds its first.
    wait_for(lambda: len(recv.delivered("/fast")) == 2, timeout=60, what="the fast channel")
    assert recv.attempts("/slow") == []
    assert [json.loads(b)["event"] for b, _ in recv.delivered("/fast")] == ["open", "resolve"]
    recv.release()
    wait_for(lambda: len(recv.delivered("/slow")) == 2, timeout=60, what="the slow channel")
    assert [json.loads(b)["event"] for b, _ in recv.delivered("/slow")] == ["open", "resolve"]


def test_sigkill_with_pending_messages(collector_factory, db, recv):
    recv.default = (500, {})
    recv.respond("/slack")
    c = collector_factory(env=env_for(recv))
    setup_repo(db)
    send_run(c, run_payload(6501, "failure"))
    wait_for(lambda: outbox(db) and outbox(db)[0]["attempts"] >= 1, timeout=60,
             what="a failed attempt")
    c.kill()
    recv.default = (200, {})
    collector_factory(env=env_for(recv))
    wait_for(lambda: len(recv.delivered("/slack")) == 1, timeout=60, what="the message")
    rows = wait_outbox_settled(db)
    assert [r["state"] for r in rows] == ["sent"]
    assert len(recv.delivered("/slack")) == 1


def test_two_collectors_one_alert_one_message(collector_factory, db, recv):
    recv.respond("/slack")
    a = collector_factory(env=env_for(recv))
    b = collector_factory(env=env_for(recv))
    setup_repo(db)
    for run_id in range(6601, 6606):
        payload = run_payload(run_id, "failure" if run_id % 2 else "success")
        threads = [threading.Thread(target=send_run, args=(col, payload)) for col in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    wait_outbox_settled(db)
    # failure, success, failure, success, failure: three alerts, two resolved.
    assert [x["state"] for x in alerts(db)] == ["resolved", "resolved", "open"]
    events = [json.loads(b)["text"].split(":")[0] for b, _ in recv.delivered("/slack")]
    assert sorted(events) == ["Failure"] * 3 + ["Resolved"] * 2


def test_signed_webhook_and_teams(collector_factory, db, recv):
    recv.respond("/hook")
    recv.respond("/teams")
    secret = "s3cret-s3cret-s3cret"
    c = collector_factory(env={"CIPULSE_ALLOW_PRIVATE_TARGETS": "1",
                               "CIPULSE_TEAMS_WEBHOOK_URL": recv.url + "/teams"})
    setup_repo(db)
    status, body = c.http("POST", "/api/v1/settings/alerts", {
        "channels": [{"name": "hook", "kind": "webhook", "target": recv.url + "/hook",
                      "secret": secret}],
        "rules": [{"name": "main", "kind": "failure", "branch": "@default",
                   "channels": ["hook", "env-teams"]}]}, headers=c.admin_headers())
    assert status == 200, body
    assert secret not in json.dumps(body) and recv.url not in json.dumps(body)
    assert [ch["secret_set"] for ch in body["channels"] if ch["name"] == "hook"] == [True]
    send_run(c, run_payload(6701, "failure", message="oops"))
    wait_for(lambda: recv.delivered("/hook") and recv.delivered("/teams"), timeout=60,
             what="both messages")
    raw, headers = recv.delivered("/hook")[0]
    want = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["x-cipulse-signature-256"] == want
    doc = json.loads(raw)
    assert doc["event"] == "open" and doc["alert"]["kind"] == "failure"
    assert doc["run"]["id"] == 6701 and doc["run"]["head_message"] == "oops"
    card = recv.bodies("/teams")[0]
    att = card["attachments"][0]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert att["content"]["type"] == "AdaptiveCard"
    assert "acme/widgets" in json.dumps(att["content"])
    # Secrets stay out of the log.
    assert secret not in c.log() and "/hook" not in c.log() and "/teams" not in c.log()


def test_private_target_refused_without_opt_in(collector_factory, db, recv):
    recv.respond("/slack")
    c = collector_factory(env=env_for(recv, CIPULSE_ALLOW_PRIVATE_TARGETS="0"))
    setup_repo(db)
    send_run(c, run_payload(6801, "failure"))
    rows = wait_for(lambda: [r for r in outbox(db) if r["state"] == "failed"], timeout=60,
                    what="the message to be refused")
    assert "private address" in rows[0]["last_error"] and rows[0]["attempts"] == 1
    assert recv.attempts("/slack") == []
