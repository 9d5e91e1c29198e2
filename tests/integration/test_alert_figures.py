"""One definition of the window figures: the regression and slow_build rules read the success
rate and the average / p95 duration of a window from the same SQL (cipulse_window_figures_by,
sql/006_window_figures.sql) as GET /api/v1/metrics, so on a history with re-runs, cancelled,
timed-out and in-progress runs, runs on another branch and runs before the window, each open
alert's figure is the API's figure for the alert's window."""
import datetime

import pytest

from alert_util import (slack,  # noqa: F401  (fixture)
                        iso, metrics_for, run_payload, send_run, setup_repo, slack_env)
from harness import wait_for


def run(run_id, conclusion, minutes_ago, duration_s, attempt=1, branch="main", status=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    done = now - datetime.timedelta(minutes=minutes_ago)
    p = run_payload(run_id, conclusion, branch=branch, attempt=attempt, completed=done,
                    sha="%040x" % run_id)
    r = p["workflow_run"]
    r["run_started_at"] = iso(done - datetime.timedelta(seconds=duration_s))
    if status:
        r.update(status=status, conclusion=None)
    return p


def test_alert_figures_equal_the_metrics_api(collector_factory, db, slack):
    # Evaluation at each run's completion only (the sweep would do the same, later).
    c = collector_factory(env=slack_env(slack, CIPULSE_ALERT_SWEEP_INTERVAL="1h"))
    setup_repo(db)
    window = {"window_s": 3600, "min_runs": 1}
    status, out = c.http("POST", "/api/v1/settings/alerts", {"rules": [
        {"name": "health", "kind": "regression", "branch": "main", "channels": ["env-slack"],
         "params": dict(window, threshold=1.0)},
        {"name": "slow avg", "kind": "slow_build", "branch": "main", "channels": ["env-slack"],
         "params": dict(window, threshold=1)},
        {"name": "slow p95", "kind": "slow_build", "branch": "main", "channels": ["env-slack"],
         "params": dict(window, threshold=1, stat="p95")}]}, headers=c.admin_headers())
    assert status == 200, out
    history = [
        run(18001, "success", 150, 50),       # before the window: in neither figure
        run(18002, "failure", 50, 400),
        run(18003, "success", 48, 95),
        run(18004, "cancelled", 46, 12),      # a run of the window, not in the success rate
        run(18005, "timed_out", 44, 3600),
        run(18006, "failure", 42, 70),        # re-run: only the latest attempt counts
        run(18006, "success", 40, 81, attempt=2),
        run(18007, "failure", 38, 600),       # re-run still going: neither attempt counts
        run(18007, None, 36, 10, attempt=2, status="in_progress"),
        run(18008, None, 35, 10, status="in_progress"),
        run(18009, "failure", 34, 900, branch="dev"),   # another branch
        run(18010, "success", 30, 33),
        run(18011, "skipped", 25, 0),
        run(18012, "failure", 1, 123),    # the last: every rule evaluates the history
    ]
    for p in history:
        send_run(c, p)
    wait_for(lambda: db.scalar("SELECT count(*) FROM alerts WHERE state = 'open' AND "
                               "last_run_id = 18012") == 3, timeout=60, what="three open alerts")
    rows = db.query("SELECT r.name, a.details FROM alerts a JOIN alert_rules r "
                    "ON r.id = a.rule_id WHERE a.state = 'open' ORDER BY r.name")
    by_rule = {r["name"]: r["details"] for r in rows}
    assert set(by_rule) == {"health", "slow avg", "slow p95"}

    health = by_rule["health"]
    m = metrics_for(c, health)
    # success 18003, 18006#2, 18010; failure 18002, 18012; timed_out 18005.
    assert m["by_conclusion"] == {"success": 3, "failure": 2, "timed_out": 1, "cancelled": 1,
                                  "skipped": 1}
    assert health["runs"] == 6 and health["value"] == m["success_rate"] == 0.5

    durations = [400, 95, 12, 3600, 81, 33, 0, 123]  # whole seconds (ISO times)
    for name, key, stat in (("slow avg", "avg_duration_s", "avg"),
                            ("slow p95", "p95_duration_s", "p95")):
        d = by_rule[name]
        m = metrics_for(c, d)
        assert d["stat"] == stat and d["runs"] == len(durations) == m["runs"]
        assert d["value"] == pytest.approx(m[key], rel=1e-12), (name, d, m)
    assert by_rule["slow avg"]["value"] == pytest.approx(sum(durations) / len(durations),
                                                         rel=1e-12)
    # p95 by linear interpolation between closest ranks: rank 0.95 * 7 = 6.65.
    s = sorted(durations)
    assert by_rule["slow p95"]["value"] == pytest.approx(s[6] + 0.65 * (s[7] - s[6]), rel=1e-12)
