"""Backup and restore as docs/operations.md describes it: pg_dump -Fc of a live database, the
database dropped, pg_restore into a new one, and the collector gives the same API answers
(repositories, runs, a run, log tails, metrics, /metrics) and accepts the same tokens."""
import datetime as dt
import os
import re
import subprocess

import psycopg2

import api_history as H
from harness import CIPULSED


def pg_bin(tool):
    base = "/usr/lib/postgresql"
    versions = sorted(os.listdir(base), key=lambda v: [int(x) for x in re.findall(r"\d+", v)])
    return os.path.join(base, versions[-1], "bin", tool)


def answers(collector, token, frm, to):
    hdrs = {"Authorization": "Bearer " + token}

    def get(path):
        status, body = collector.http("GET", path, headers=hdrs)
        assert status == 200, (path, status, body)
        return body

    out = {"repos": get("/api/v1/repos")}
    runs = []
    cursor = None
    while True:
        page = get("/api/v1/repos/octo/alpha/runs?limit=100" + ("&cursor=" + cursor if cursor else ""))
        runs += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    out["runs"] = runs
    run_id = runs[len(runs) // 2]["run_id"]
    out["run"] = get("/api/v1/runs/%d" % run_id)
    jobs = out["run"].get("jobs") or []
    if jobs:
        out["logs"] = get("/api/v1/jobs/%d/logs" % jobs[0]["job_id"])
    out["metrics"] = get("/api/v1/metrics?from=%s&to=%s" % (frm, to))
    out["metrics_beta"] = get("/api/v1/metrics?repo=octo/beta&from=%s&to=%s" % (frm, to))
    status, text = collector.http("GET", "/metrics")
    out["prom"] = sorted(l for l in text.splitlines() if l.startswith("cicd_"))
    return out


def test_dump_drop_restore_gives_the_same_answers(collector_factory, db, tmp_path):
    # A history 40 days old (windows relative to now then stay put), logs kept meanwhile.
    env = {"CIPULSE_LOG_RETENTION_DAYS": "3650"}
    collector = collector_factory(env=env)
    now = dt.datetime.now(H.UTC).replace(microsecond=0) - dt.timedelta(days=40)
    H.insert_history(db, seed=23, runs=300, now=now)
    read_token = collector.create_token(None, kind="read")
    frm = (now - dt.timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    to = (now + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = answers(collector, read_token, frm, to)
    assert len(before["runs"]) > 50 and before["prom"] and before.get("logs")

    # Back up the live database (the collector keeps running: pg_dump takes a consistent snapshot).
    dump = tmp_path / "cipulse.dump"
    subprocess.run([pg_bin("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), db.url],
                   check=True, capture_output=True, timeout=300)
    assert collector.stop() == 0

    # Lose the database.
    admin = psycopg2.connect(db.cluster.url())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute('DROP DATABASE "%s"' % db.name)
        cur.execute('CREATE DATABASE "%s"' % db.name)
    admin.close()
    assert db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0

    # Restore it and start a collector on it: migrations find nothing to do.
    p = subprocess.run([pg_bin("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", db.url, str(dump)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([CIPULSED, "migrate"], env=dict(os.environ, CIPULSE_DATABASE_URL=db.url),
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "applied=0" in p.stdout + p.stderr, p.stdout + p.stderr  # nothing to apply
    restored = collector_factory(env=env)
    after = answers(restored, read_token, frm, to)
    for key in before:
        assert after[key] == before[key], key
