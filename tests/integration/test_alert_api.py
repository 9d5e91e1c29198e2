"""The alerting API against the real collector: one alert with its deliveries, ack, filters,
silences (alerts still open and resolve; messages are dropped), the test message, and the
alerting series on /metrics. Targets never show in replies or /metrics."""
import datetime

from alert_util import (slack,  # noqa: F401  (fixture)
                        REPO, slack_env, alerts, outbox, run_payload, send_run, setup_repo,
                        wait_outbox_settled)
from harness import wait_for


def future(hours=2):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_alert_detail_ack_filters_and_metrics(collector_factory, db, slack):
    c = collector_factory(env=slack_env(slack))
    setup_repo(db)
    send_run(c, run_payload(10001, "failure"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the message")
    wait_outbox_settled(db)
    alert_id = alerts(db)[0]["id"]
    status, a = c.http("GET", "/api/v1/alerts/%d" % alert_id)
    assert status == 200, a
    assert (a["kind"], a["state"], a["severity"], a["repo"], a["run_count"]) == \
        ("failure", "open", "critical", REPO, 1)
    assert [(d["channel"], d["kind"], d["event"], d["state"], d["attempts"], d["last_status"])
            for d in a["deliveries"]] == [("env-slack", "slack", "open", "sent", 1, 200)]
    status, page = c.http("GET", "/api/v1/alerts?kind=failure&state=open&severity=critical")
    assert status == 200 and [x["id"] for x in page["items"]] == [alert_id]
    status, page = c.http("GET", "/api/v1/alerts?kind=flapping")
    assert status == 200 and page["items"] == []
    status, page = c.http("GET", "/api/v1/alerts?from=" + future())
    assert status == 200 and page["items"] == []
    status, body = c.http("POST", "/api/v1/alerts/%d/ack" % alert_id)
    assert status == 401
    status, body = c.http("POST", "/api/v1/alerts/%d/ack" % alert_id,
                          headers=c.admin_headers())
    assert status == 200 and body["acked_at"], body
    status, text = c.http("GET", "/metrics")
    assert 'cipulse_alerts_open{kind="failure"} 1' in text
    assert 'cipulse_notifications_total{kind="slack",result="sent"} 1' in text
    assert "cipulse_notifications_pending 0" in text
    assert "cipulse_notifications_oldest_pending_seconds" in text
    assert slack.url not in text


def test_silence_drops_messages_but_not_state(collector_factory, db, slack):
    c = collector_factory(env=slack_env(slack))
    setup_repo(db)
    status, s = c.http("POST", "/api/v1/silences",
                       {"repo": REPO, "branch": "main", "until": future(), "comment": "deploy"},
                       headers=c.admin_headers())
    assert status == 201 and s["active"] and s["repo"] == REPO, s
    status, bad = c.http("POST", "/api/v1/silences", {"until": "2001-01-01T00:00:00Z"},
                         headers=c.admin_headers())
    assert status == 400 and bad["error"]["param"] == "until"
    send_run(c, run_payload(11001, "failure"))
    wait_for(lambda: alerts(db), what="the alert")
    assert [(r["event"], r["state"]) for r in outbox(db)] == [("open", "silenced")]
    status, page = c.http("GET", "/api/v1/silences")
    assert status == 200 and [x["id"] for x in page["items"]] == [s["id"]]
    status, _ = c.http("DELETE", "/api/v1/silences/%d" % s["id"], headers=c.admin_headers())
    assert status == 200
    # Nobody was told it broke: its resolve is not sent either.
    send_run(c, run_payload(11002, "success"))
    wait_for(lambda: alerts(db)[0]["state"] == "resolved", what="the resolve")
    # Without the silence the next failure pages.
    send_run(c, run_payload(11003, "failure"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the message")
    rows = wait_outbox_settled(db)
    assert [(r["event"], r["state"]) for r in rows] == [("open", "silenced"), ("open", "sent")]
    assert len(slack.delivered("/slack")) == 1


def test_test_message(collector_factory, db, slack):
    slack.respond("/broken", (500, {}))
    c = collector_factory(env=slack_env(slack))
    status, body = c.http("POST", "/api/v1/settings/alerts/test", {"channel": "env-slack"},
                          headers=c.admin_headers())
    assert status == 200 and body == {"channel": "env-slack", "delivered": True, "status": 200,
                                      "error": None}, body
    assert "Test message" in str(slack.bodies("/slack")[0])
    status, body = c.http("POST", "/api/v1/settings/alerts",
                          {"channels": [{"name": "broken", "kind": "slack",
                                         "target": slack.url + "/broken"}]},
                          headers=c.admin_headers())
    assert status == 200, body
    status, body = c.http("POST", "/api/v1/settings/alerts/test", {"channel": "broken"},
                          headers=c.admin_headers())
    assert status == 200 and not body["delivered"] and body["status"] == 500
    assert slack.url not in str(body)
    status, body = c.http("POST", "/api/v1/settings/alerts/test", {"channel": "nope"},
                          headers=c.admin_headers())
    assert status == 404
    status, body = c.http("POST", "/api/v1/settings/alerts/test", {"channel": "env-slack"})
    assert status == 401
