"""Rule kinds beyond the default: a flapping rule opens once when enough of the recent runs
failed and resolves once when that no longer holds and the latest run succeeded; a failure rule
scoped to a branch with repeat_interval_s reminds while it stays broken; regression and
slow_build rules open and resolve once, on a run's completion or by the periodic sweep as their
window slides, with the same figure as GET /api/v1/metrics for that window."""
import datetime

import pytest

from alert_util import (slack,  # noqa: F401  (fixture)
                        alerts, iso, metrics_for, outbox, run_payload, send_run, setup_repo,
                        slack_env, wait_outbox_settled)
from harness import wait_for


def settings(c, body):
    status, out = c.http("POST", "/api/v1/settings/alerts", body, headers=c.admin_headers())
    assert status == 200, out
    return out


def assert_opened_and_resolved_once(db, slack, title, alert):
    """One open and one resolve message went out, titled as they should be, for one alert
    whose row (the keys of `alert`) ends as given."""
    rows = wait_outbox_settled(db)
    assert [r["event"] for r in rows] == ["open", "resolve"]
    a = db.query("SELECT %s FROM alerts" % ", ".join(alert))
    assert a == [alert]
    texts = [b["text"] for b in slack.bodies("/slack")]
    assert texts[0].startswith(title) and texts[1].startswith("Resolved")


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
    assert_opened_and_resolved_once(db, slack, "Flapping", {
        "kind": "flapping", "severity": "warning", "state": "resolved", "run_id": 12004,
        "resolved_run_id": 12006})


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


def timed_run(run_id, conclusion, completed, duration_s):
    """A completed run on main of our workflow that took duration_s (run_started_at to
    updated_at: the run's duration when it has no jobs, sql/002_api.sql)."""
    p = run_payload(run_id, conclusion, completed=completed)
    p["workflow_run"]["run_started_at"] = iso(completed - datetime.timedelta(seconds=duration_s))
    return p


def open_details(db):
    return db.scalar("SELECT details FROM alerts WHERE state = 'open'")


def test_regression_opens_and_resolves_on_completion(collector_factory, db, slack):
    # The sweep runs at start and then not for an hour: what happens here is the evaluation at
    # each run's completion.
    c = collector_factory(env=slack_env(slack, CIPULSE_ALERT_SWEEP_INTERVAL="1h"))
    setup_repo(db)
    settings(c, {"rules": [{"name": "main health", "kind": "regression", "branch": "main",
                            "severity": "warning", "channels": ["env-slack"],
                            "params": {"threshold": 0.8, "min_runs": 4, "window_s": 3600}}]})
    now = datetime.datetime.now(datetime.timezone.utc)
    # 2 of 3 is below 80 % but fewer than min_runs: nothing.
    for i, concl in enumerate(["success", "failure", "success"]):
        send_run(c, run_payload(14001 + i, concl, completed=now - datetime.timedelta(
            minutes=40 - i)))
    wait_outbox_settled(db)
    assert alerts(db) == [] and slack.delivered("/slack") == []
    # A fourth run, successful: 3 of 4 is 75 %, below 80 % with enough runs.
    send_run(c, run_payload(14004, "success", completed=now - datetime.timedelta(minutes=30)))
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the open message")
    details = open_details(db)
    assert details["value"] == 0.75 and details["runs"] == 4 and details["threshold"] == 0.8
    assert metrics_for(c, details)["success_rate"] == details["value"]
    # A fifth run succeeds: 4 of 5 is 80 %, not below: resolves when that run completes.
    send_run(c, run_payload(14005, "success", completed=now - datetime.timedelta(minutes=1)))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, timeout=60, what="the resolve message")
    assert_opened_and_resolved_once(db, slack, "Success rate regression", {
        "kind": "regression", "severity": "warning", "state": "resolved", "run_id": 14004,
        "resolved_run_id": 14005})


def test_slow_build_opens_and_resolves_by_sweep(collector_factory, db, slack):
    c = collector_factory(env=slack_env(slack, CIPULSE_ALERT_SWEEP_INTERVAL="1s"))
    setup_repo(db)
    now = datetime.datetime.now(datetime.timezone.utc)
    # A fast run and a 10-minute one completing 20 s ago (p95 of 60 s and 600 s: 573 s), all
    # successful (the default rule has nothing to say).
    send_run(c, timed_run(15001, "success", now - datetime.timedelta(seconds=25), 60))
    send_run(c, timed_run(15002, "success", now - datetime.timedelta(seconds=20), 600))
    wait_for(lambda: db.scalar("SELECT count(*) FROM workflow_runs WHERE run_id > 15000") == 2,
             what="the runs to be stored")
    # The rule arrives after the runs: the sweep finds the window too slow.
    settings(c, {"rules": [{"name": "slow main", "kind": "slow_build", "branch": "main",
                            "channels": ["env-slack"],
                            "params": {"threshold": 300, "stat": "p95", "window_s": 40}}]})
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the open message")
    details = open_details(db)
    assert details["stat"] == "p95" and details["value"] > 300
    assert metrics_for(c, details)["p95_duration_s"] == pytest.approx(details["value"], rel=1e-12)
    # A quick run now keeps it open (p95 of 30, 60, 600 s); the slow one leaves the 40 s window
    # about 20 s from now, and the sweep then finds p95 of 30 s alone below the threshold.
    send_run(c, timed_run(15003, "success", datetime.datetime.now(datetime.timezone.utc), 30))
    wait_for(lambda: len(slack.delivered("/slack")) == 2, timeout=90,
             what="the resolve message as the window slides")
    assert_opened_and_resolved_once(db, slack, "Slow builds", {
        "kind": "slow_build", "state": "resolved", "run_id": 15002, "resolved_run_id": 15003})


def test_sweep_waits_for_the_advisory_lock(collector_factory, db, slack):
    """While another collector holds the sweep's advisory lock, this one does not sweep; once it
    is free, it does."""
    c = collector_factory(env=slack_env(slack, CIPULSE_ALERT_SWEEP_INTERVAL="1s",
                                        CIPULSE_LOG_LEVEL="debug"))
    setup_repo(db)
    now = datetime.datetime.now(datetime.timezone.utc)
    send_run(c, timed_run(16001, "success", now - datetime.timedelta(seconds=5), 600))
    wait_for(lambda: db.scalar("SELECT count(*) FROM workflow_runs WHERE run_id = 16001") == 1,
             what="the run to be stored")
    holder = db.connect()
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(7263105824)")
        settings(c, {"rules": [{"name": "slow", "kind": "slow_build", "channels": ["env-slack"],
                                "params": {"threshold": 300, "window_s": 3600}}]})
        skipped = c.log().count("another collector is sweeping")
        wait_for(lambda: c.log().count("another collector is sweeping") >= skipped + 2,
                 timeout=60, what="two sweeps turned away")
        assert alerts(db) == []
        # A collector of a version before 17 calls the sweep by itself: turned away too.
        assert db.scalar("SELECT cipulse_alert_sweep()") == -1
        assert alerts(db) == []
        # The lock's holder sweeps (the duty runs it on the connection holding the key).
        with holder.cursor() as cur:
            cur.execute("SELECT cipulse_alert_sweep()")
            assert cur.fetchone()[0] == 1
        assert [a["kind"] for a in alerts(db)] == ["slow_build"]
    finally:
        holder.close()
    wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the open message")
    assert [a["kind"] for a in alerts(db)] == ["slow_build"]


def test_window_rule_params_are_checked(collector_factory, db):
    c = collector_factory()
    setup_repo(db)
    cases = [("regression", {"threshold": 1.5}, "threshold"),
             ("regression", {"threshold": 0.8, "min_runs": 0}, "min_runs"),
             ("regression", {"threshold": 0.8, "window_s": "1d"}, "window_s"),
             ("regression", {"threshold": 0.8, "stat": "p95"}, "stat"),
             ("regression", {}, "threshold"),
             ("slow_build", {"window_s": 60}, "threshold"),
             ("flapping", {"runs": 5}, "failures"),
             ("failure", [], None),
             ("slow_build", {"threshold": 0}, "threshold"),
             ("slow_build", {"threshold": 60, "stat": "p50"}, "stat")]
    for kind, params, field in cases:
        status, out = c.http("POST", "/api/v1/settings/alerts",
                             {"rules": [{"name": "r", "kind": kind, "params": params}]},
                             headers=c.admin_headers())
        assert status == 400, (params, out)
        assert out["error"]["param"] == "rules[0].params" + ("." + field if field else ""), out
    assert db.scalar("SELECT count(*) FROM alert_rules") == 0
