"""The failure rule end to end: webhooks into the real collector and PostgreSQL, messages out to
a recording Slack stand-in. Each alert notifies once when it opens and once when it resolves."""
import datetime

from alert_util import (slack,  # noqa: F401  (fixture)
                        REPO, alerts, outbox, run_payload, send_run, setup_repo,
                        wait_outbox_settled)
from harness import wait_for


def start(collector_factory, slack, **env):
    e = {"CIPULSE_ALLOW_PRIVATE_TARGETS": "1", "CIPULSE_SLACK_WEBHOOK_URL": slack.url + "/slack",
         "CIPULSE_NOTIFY_BACKOFF_MAX": "1s",
         "CIPULSE_PUBLIC_URL": "https://cipulse.example.com/"}
    e.update(env)
    return collector_factory(env=e)


def test_failure_opens_once_and_resolves_once(collector_factory, db, slack):
    c = start(collector_factory, slack)
    setup_repo(db)
    send_run(c, run_payload(1001, "failure", message="break the widget\n\nlong body"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, what="the open message")
    a = alerts(db)
    assert [(x["kind"], x["state"], x["branch"], x["run_id"]) for x in a] == \
        [("failure", "open", "main", 1001)]
    # The same failure again (a second delivery), and a further failure: no new message.
    send_run(c, run_payload(1001, "failure"))
    send_run(c, run_payload(1002, "failure"))
    wait_for(lambda: alerts(db)[0]["run_count"] == 2, what="the alert to count the second run")
    send_run(c, run_payload(1003, "success", message="mend the widget"))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, what="the resolve message")
    rows = wait_outbox_settled(db)
    assert [(r["channel"], r["event"], r["state"]) for r in rows] == \
        [("env-slack", "open", "sent"), ("env-slack", "resolve", "sent")]
    a = alerts(db)
    assert [(x["state"], x["run_count"], x["resolved_run_id"]) for x in a] == \
        [("resolved", 2, 1003)]
    opened, resolved = slack.bodies("/slack")
    text = str(opened)
    assert "Failure" in text and REPO in text and "break the widget" in text
    assert "long body" not in text  # the first line of the message only
    assert "https://github.com/%s/actions/runs/1001" % REPO in text
    assert "https://cipulse.example.com/runs/1001?attempt=1" in text
    assert "Resolved" in str(resolved) and "mend the widget" in str(resolved)
    # A later success changes nothing; a new failure opens a new alert.
    send_run(c, run_payload(1004, "success"))
    send_run(c, run_payload(1005, "failure"))
    wait_for(lambda: len(slack.delivered("/slack")) == 3, what="the second alert's message")
    assert [x["state"] for x in alerts(db)] == ["resolved", "open"]


def test_default_rule_watches_the_default_branch_only(collector_factory, db, slack):
    c = start(collector_factory, slack)
    setup_repo(db)
    send_run(c, run_payload(2001, "failure", branch="feature/x"))
    send_run(c, run_payload(2002, "failure", branch="main"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, what="the message for main")
    wait_outbox_settled(db)
    assert [x["branch"] for x in alerts(db)] == ["main"]
    assert db.scalar("SELECT default_branch FROM repositories WHERE full_name = %s", (REPO,)) \
        == "main"


def test_rerun_that_succeeds_resolves(collector_factory, db, slack):
    c = start(collector_factory, slack)
    setup_repo(db)
    send_run(c, run_payload(3001, "failure"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, what="the open message")
    send_run(c, run_payload(3001, "success", attempt=2))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, what="the resolve message")
    # The first attempt's failure delivered late changes nothing: attempt 2 is the latest.
    send_run(c, run_payload(3001, "failure", attempt=1))
    rows = wait_outbox_settled(db)
    assert [r["event"] for r in rows] == ["open", "resolve"]
    assert [x["state"] for x in alerts(db)] == ["resolved"]


def test_history_does_not_page(collector_factory, db, slack):
    c = start(collector_factory, slack, CIPULSE_ALERT_MAX_AGE="1h")
    setup_repo(db)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)
    send_run(c, run_payload(4001, "failure", completed=old))
    send_run(c, run_payload(4002, "failure", completed=old + datetime.timedelta(hours=1)))
    wait_for(lambda: alerts(db) and alerts(db)[0]["run_count"] == 2, what="the alert state")
    a = alerts(db)
    assert [(x["state"], x["notified"]) for x in a] == [("open", False)]
    assert outbox(db) == []
    # History resolving it sends nothing either: nobody was told it broke.
    send_run(c, run_payload(4003, "success", completed=old + datetime.timedelta(hours=2)))
    wait_for(lambda: alerts(db)[0]["state"] == "resolved", what="the resolve")
    assert outbox(db) == []
    # A late delivery of an older run does not reopen it.
    send_run(c, run_payload(4000, "failure", completed=old - datetime.timedelta(hours=1)))
    assert [x["state"] for x in alerts(db)] == ["resolved"]
    # A fresh failure pages.
    send_run(c, run_payload(4004, "failure"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, what="the fresh failure's message")


def test_hostile_text_is_escaped(collector_factory, db, slack):
    c = start(collector_factory, slack)
    setup_repo(db)
    branch = "<!channel>"
    send_run(c, run_payload(5001, "failure", branch=branch, default_branch=branch,
                            message="*bold* <https://evil.example|click> `code` & more",
                            name="CI <!here>", actor="<@U123>"))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, what="the message")
    raw = slack.delivered("/slack")[0][0].decode()
    for bad in ("<!channel>", "<!here>", "<https://evil.example", "<@U123>"):
        assert bad not in raw
    assert "&lt;!channel&gt;" in raw and "&lt;@U123&gt;" in raw and "&amp; more" in raw
