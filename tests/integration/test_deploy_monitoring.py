"""Monitoring files (deploy/prometheus, deploy/grafana): the alerting rules pass
`promtool check rules` and their unit tests (`promtool test rules`), the dashboard's queries are
valid PromQL, and every series the rules and the dashboard use is one a real collector exposes
on /metrics."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from harness import ROOT, wait_for
from ghutil import FakeGitHub, post_webhook, register_repo
from test_poller_github import poller_env

PROM = os.path.join(ROOT, "deploy", "prometheus")
RULES = os.path.join(PROM, "cipulse-rules.yml")
RULES_TEST = os.path.join(PROM, "cipulse-rules.test.yml")
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "cipulse.json")
# Series created on first use that the scrape below does not provoke; each must still be
# registered by the collector's code (checked against the sources).
LAZY = {"cipulse_notifications_total", "cipulse_http_busy_total"}


def promtool(*args, cwd=PROM):
    if not shutil.which("promtool"):
        pytest.skip("promtool not installed (Debian package prometheus, scripts/deps.sh)")
    return subprocess.run(["promtool"] + list(args), cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def rule_exprs():
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_exprs():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs
    return [e.replace("$__rate_interval", "5m").replace("$__range", "1h")
             .replace("$job", "cipulse").replace("$repository", ".*") for e in exprs]


def test_rules_check_and_unit_tests_pass():
    p = promtool("check", "rules", RULES)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    p = promtool("test", "rules", RULES_TEST)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    # every alert has at least one unit test
    with open(RULES_TEST) as f:
        tested = {t["alertname"] for test in yaml.safe_load(f)["tests"] for t in test["alert_rule_test"]}
    with open(RULES) as f:
        alerts = {r["alert"] for g in yaml.safe_load(f)["groups"] for r in g["rules"]}
    untested = alerts - tested
    # (alerts on a sustained rate with the same shape as a tested one)
    assert untested <= {"CipulseCollectorBusy", "CipulseGitHubRateLimited", "CipulseGitHubErrors",
                        "CipulseIngestSlow"}, untested


@pytest.mark.parametrize("old,new", [
    ("up{job=\"cipulse\"} == 0\n        for: 5m", "up{job=\"cipulse\"} == 0\n        for: 15m"),
    ("cipulse_db_pool_connections{job=\"cipulse\"} >= 0.9", "cipulse_db_pool_connections{job=\"cipulse\"} > 1"),
    ("time() - max without (instance, pod)", "time() - min without (instance, pod)"),
])
def test_rule_unit_tests_catch_a_changed_rule(tmp_path, old, new):
    with open(RULES) as f:
        text = f.read()
    assert old in text
    (tmp_path / "cipulse-rules.yml").write_text(text.replace(old, new))
    shutil.copy(RULES_TEST, tmp_path)
    p = promtool("test", "rules", "cipulse-rules.test.yml", cwd=str(tmp_path))
    assert p.returncode != 0 and "FAILED" in p.stdout + p.stderr, p.stdout + p.stderr


def test_dashboard_queries_are_valid_promql(tmp_path):
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert dash["uid"] == "cipulse" and dash["panels"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    # As recording rules, promtool parses every query.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "cipulse_dashboard:q%d" % i, "expr": e} for i, e in enumerate(dashboard_exprs())]}]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    p = promtool("check", "rules", str(path))
    assert p.returncode == 0, p.stdout + p.stderr
    # ... and a broken one fails the same check
    rules["groups"][0]["rules"][0]["expr"] = "sum(rate(cipulse_reports_total[5m])"
    path.write_text(yaml.safe_dump(rules))
    assert promtool("check", "rules", str(path)).returncode != 0


def series_used(exprs):
    names = set()
    for e in exprs:
        names |= set(re.findall(r"\b((?:cipulse|cicd)_[a-z_]+)\b", e))
    return names


def exposed_families(text):
    fams = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    out = set(fams)
    for f in fams:
        out |= {f + "_bucket", f + "_sum", f + "_count"}
    return out


def test_rules_and_dashboard_use_only_series_the_collector_exposes(collector_factory, db, github):
    # A collector that polled one completed run from a GitHub stand-in and got one webhook with
    # a bad signature: its pipeline, poller, GitHub and webhook series exist.
    fake = FakeGitHub(github, "octo/mon", 78)
    fake.add_run(1101, jobs=[FakeGitHub.make_job(5101, 1101)])
    collector = collector_factory(env=poller_env(github, CIPULSE_POLL="1", CIPULSE_POLL_INTERVAL="1s"))
    register_repo(db, "octo/mon")
    wait_for(lambda: db.scalar("SELECT count(*) FROM jobs") == 1, timeout=30, what="the poller's job")
    status, _ = post_webhook(collector, "workflow_run", {"repository": {"id": 78, "full_name": "octo/mon"}},
                             signature="sha256=" + "0" * 64)
    assert status in (401, 403)

    def scraped():
        status, text = collector.http("GET", "/metrics")
        assert status == 200
        return text if "cipulse_poller_last_success_timestamp_seconds" in text and \
            "cicd_pipeline_runs{" in text else None
    text = wait_for(scraped, timeout=30, what="poller and pipeline series")
    exposed = exposed_families(text)

    used = series_used(rule_exprs()) | series_used(dashboard_exprs())
    assert {"cipulse_reports_total", "cicd_pipeline_runs", "cipulse_webhooks_total"} <= used
    missing = used - exposed - LAZY
    assert not missing, "used by the rules or the dashboard but not on /metrics: %s" % sorted(missing)
    sources = ""
    for path in glob.glob(os.path.join(ROOT, "collector", "**", "*.c"), recursive=True):
        with open(path) as f:
            sources += f.read()
    for name in LAZY & used:
        assert '"%s"' % name in sources, name
    # The dashboard covers both halves: pipeline health and the collector itself.
    dash = series_used(dashboard_exprs())
    assert any(n.startswith("cicd_") for n in dash) and len([n for n in dash if n.startswith("cipulse_")]) >= 10
