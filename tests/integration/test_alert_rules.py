"""Rule kinds beyond the default: a flapping rule opens once when enough of the recent runs
failed and resolves once when that no longer holds and the latest run succeeded; a failure rule
scoped to a branch with repeat_interval_s reminds while it stays broken."""
import datetime

from alert_util import (slack,  # noqa: F401  (fixture)
                        alerts, outbox, run_payload, send_run, setup_repo, slack_env,
                        wait_outbox_settled)
from harness import wait_for


def settings(c, body):
    status, out = c.http("POST", "/api/v1/settings/alerts", body, headers=c.admin_headers())
    assert status == 200, out
    return out


def test_flapping_opens_and_resolves_once(collector_factory, db, slack):
    c = collector_factory(env=slack_env(slack))
    setup_repo(db)
    settings(c, {"rules": [{"name": "flaky main", "kind": "flapping", "branch": "main",
                            "severity": "warning", "params": {"failures": 3, "runs": 5},
                            "channels": ["env-slack"]}]})
    base = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=30)
    history = ["failure", "success", "failure"]  # 2 of the last 3: not yet
    for i, concl in enumerate(history):
        send_run(c, run_payload(12001 + i, concl, completed=base + datetime.timedelta(minutes=i)))
    wait_outbox_settled(db)
    assert alerts(db) == [] and slack.delivered("/slack") == []
    # A third failure among the last five opens it; the success after it does not resolve
    # (three of the last five still failed), the next one does.
    for i, concl in enumerate(["failure", "success", "success"], start=len(history)):
        send_run(c, run_payload(12001 + i, concl, completed=base + datetime.timedelta(minutes=i)))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, timeout=60, what="open and resolve")
    rows = wait_outbox_settled(db)
    assert [r["event"] for r in rows] == ["open", "resolve"]
    a = db.query("SELECT kind, severity, state, run_id, resolved_run_id FROM alerts")
    assert a == [{"kind": "flapping", "severity": "warning", "state": "resolved",
                  "run_id": 12004, "resolved_run_id": 12006}]
    texts = [b["text"] for b in slack.bodies("/slack")]
    assert texts[0].startswith("Flapping") and texts[1].startswith("Resolved")


def test_failure_rule_with_repeat_interval(collector_factory, db, slack):
    c = collector_factory(env=slack_env(slack))
    setup_repo(db)
    settings(c, {"rules": [{"name": "release", "kind": "failure", "branch": "release",
                            "params": {"repeat_interval_s": 1}, "channels": ["env-slack"]}]})
    send_run(c, run_payload(13001, "failure", branch="release"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the open message")
    # On main nothing: the rule is scoped to release (and a rule exists: no default rule).
    send_run(c, run_payload(13002, "failure", branch="main"))
    wait_for(lambda: db.scalar("SELECT now() - notified_at > interval '1 second' FROM alerts"),
             what="the repeat interval to pass")
    send_run(c, run_payload(13003, "failure", branch="release"))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, timeout=60, what="the reminder")
    rows = wait_outbox_settled(db)
    assert [r["event"] for r in rows] == ["open", "repeat"]
    assert [x["branch"] for x in alerts(db)] == ["release"]
    assert "Still failing" in slack.bodies("/slack")[1]["text"]
