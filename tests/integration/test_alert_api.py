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


# Every refusal of POST /api/v1/settings/alerts, in the order the checks run: (body, param,
# message). Held fixed while put_rule/put_channel were split, so it pins their behaviour.
SETTINGS_REFUSALS = [
    ([], "body", 'must be a JSON object {"channels": [...], "rules": [...]}'),
    ({"x": 1}, "body", "unknown key (channels, rules)"),
    ({"channels": {}}, "channels", "must be a list (at most 1000 entries in all)"),
    ({"channels": [1]}, "channels[0]", "must be an object"),
    ({"channels": [{"name": "a b"}]}, "channels[0].name", "must be 1-100 of A-Z a-z 0-9 . _ -"),
    ({"channels": [{"name": "c", "kind": "pager"}]}, "channels[0].kind",
     "must be one of slack|email|teams|webhook"),
    ({"channels": [{"name": "c", "kind": "slack", "target": "ftp://x"}]}, "channels[0].target",
     "must be an http(s) URL (an e-mail address for email)"),
    ({"channels": [{"name": "c", "kind": "email", "target": "nobody"}]}, "channels[0].target",
     "must be an http(s) URL (an e-mail address for email)"),
    ({"channels": [{"name": "c", "kind": "slack", "target": "https://h.example/x",
                    "secret": "0123456789abcdef"}]}, "channels[0].secret",
     "must be a string of 16-256 printable characters (webhook channels only)"),
    ({"channels": [{"name": "c", "kind": "webhook", "target": "https://h.example/x",
                    "secret": "short"}]}, "channels[0].secret",
     "must be a string of 16-256 printable characters (webhook channels only)"),
    ({"channels": [{"name": "c", "kind": "slack", "target": "https://h.example/x",
                    "enabled": 1}]}, "channels[0].enabled", "must be true or false"),
    ({"channels": [{"name": "c", "kind": "slack"}]}, "channels[0].target",
     "is required for a new channel"),
    ({"rules": [1]}, "rules[0]", "must be an object"),
    ({"rules": [{"id": 0}]}, "rules[0].id", "must be a positive integer"),
    ({"rules": [{"delete": True}]}, "rules[0].delete", "must be true together with an id"),
    ({"rules": [{"id": 99, "delete": True}]}, "rules[0].id", "no such rule"),
    ({"rules": [{"name": "r", "kind": "failure", "severity": "low"}]}, "rules[0].severity",
     "must be one of critical|warning|info"),
    ({"rules": [{"name": "", "kind": "failure"}]}, "rules[0].name",
     "must be a non-empty string of at most 200 bytes"),
    ({"rules": [{"name": "r", "kind": "boom"}]}, "rules[0].kind",
     "must be one of failure|flapping|regression|slow_build"),
    ({"rules": [{"name": "r", "kind": "failure", "repo": "nope"}]}, "rules[0].repo",
     "must be a repository as owner/name"),
    ({"rules": [{"name": "r", "kind": "failure", "branch": ""}]}, "rules[0].branch",
     "must be a branch name"),
    ({"rules": [{"name": "r", "kind": "failure", "workflow_id": "7"}]}, "rules[0].workflow_id",
     "must be an integer"),
    ({"rules": [{"name": "r", "kind": "failure", "workflow_id": 7}]}, "rules[0].workflow_id",
     "needs repo"),
    ({"rules": [{"name": "r", "kind": "regression"}]}, "rules[0].params", "needs threshold"),
    ({"rules": [{"name": "r", "kind": "failure", "params": {"zap": 1}}]},
     "rules[0].params.zap", "unknown key (failures, runs, minutes, threshold, window_s, "
     "min_runs, stat, repeat_interval_s, conclusions)"),
    ({"rules": [{"name": "r", "kind": "failure", "enabled": "yes"}]}, "rules[0].enabled",
     "must be true or false"),
    ({"rules": [{"name": "r", "kind": "failure", "channels": "ops"}]}, "rules[0].channels",
     "must be a list of channel names"),
    ({"rules": [{"name": "r", "kind": "failure", "channels": ["a b"]}]}, "rules[0].channels",
     "must be a list of channel names"),
    ({"rules": [{"name": "r", "kind": "failure", "repo": "acme/unknown"}]}, "rules[0].repo",
     "unknown repository (register it first)"),
    ({"rules": [{"name": "r", "kind": "failure", "channels": ["ghost"]}]}, "rules[0].channels",
     "names an unknown channel (or one twice)"),
    ({"rules": [{"id": 99, "name": "r", "kind": "failure"}]}, "rules[0].id", "no such rule"),
]


def test_settings_refusals_name_the_field(collector_factory, db):
    c = collector_factory()
    setup_repo(db)
    got = []
    for body, _, _ in SETTINGS_REFUSALS:
        status, out = c.http("POST", "/api/v1/settings/alerts", body, headers=c.admin_headers())
        got.append((status, out["error"]["param"], out["error"]["message"]))
    assert got == [(400, param, 'parameter "%s": %s' % (param, msg))
                   for _, param, msg in SETTINGS_REFUSALS]
    # Nothing refused was stored; a good request still is, all of it.
    assert db.scalar("SELECT count(*) FROM alert_rules") == 0
    assert db.scalar("SELECT count(*) FROM notification_channels") == 0
    status, out = c.http("POST", "/api/v1/settings/alerts", {
        "channels": [{"name": "ops", "kind": "webhook", "target": "https://h.example/x",
                      "secret": "0123456789abcdef"}],
        "rules": [{"name": "r", "kind": "failure", "repo": REPO, "branch": "main",
                   "severity": "info", "channels": ["ops"],
                   "params": {"conclusions": ["failure"]}}]}, headers=c.admin_headers())
    assert status == 200, out
    assert [(r["name"], r["repo"], r["severity"], r["channels"]) for r in out["rules"]] == \
        [("r", REPO, "info", ["ops"])]
    assert [(x["name"], x["target_set"], x["secret_set"]) for x in out["channels"]] == \
        [("ops", True, True)]
