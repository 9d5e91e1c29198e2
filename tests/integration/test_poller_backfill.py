"""`cipulsed backfill` against the GitHub stand-in: pagination over hundreds of runs, progress
output, resume after a kill without duplicates, and the same through POST /api/v1/poll/run."""
import datetime
import os
import signal
import subprocess
import time

from harness import check_process, run_checked, wait_for
from ghutil import FakeGitHub, register_repo
from test_poller_github import TOKEN, poller_env

NRUNS = 250


def history(github, full_name="octo/history", repo_id=90, n=NRUNS):
    """n runs over the last days (newest first), one job each; an old run outside the range."""
    fake = FakeGitHub(github, full_name, repo_id)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for i in range(n):
        created = (now - datetime.timedelta(minutes=20 * i + 5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        run_id = 100000 + i
        fake.add_run(run_id, created=created,
                     jobs=[FakeGitHub.make_job(900000 + i, run_id, created=created,
                                               started=created, completed=created)])
    old = (now - datetime.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake.add_run(99999, created=old, jobs=[FakeGitHub.make_job(899999, 99999)])
    return fake


def run_backfill(collector, *args, env=None):
    e = dict(collector.env)
    e.update(env or {})
    return run_checked([collector.binary, "backfill"] + list(args), env=e,
                       capture_output=True, text=True, timeout=300)


def job_requests(github):
    return [r["path"] for r in github.requests if "/jobs" in r["path"]]


def test_backfill_pages_through_history(collector_factory, db, github):
    history(github)
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/history")
    p = run_backfill(collector, "--repo", "octo/history", "--days", "7")
    assert p.returncode == 0, p.stderr
    assert db.scalar("SELECT count(*) FROM workflow_runs") == NRUNS
    assert db.scalar("SELECT count(*) FROM jobs") == NRUNS
    assert db.scalar("SELECT count(*) FROM workflow_runs WHERE run_id = 99999") == 0
    lists = [r for r in github.requests if r["path"].startswith("/repos/octo/history/actions/"
                                                                "runs?")]
    assert len(lists) == 3  # 100 + 100 + 50, following rel="next"
    assert any("page=3" in r["path"] for r in lists)
    # Not a terminal: plain progress lines, one per page, then a summary on stdout.
    lines = [line for line in p.stderr.splitlines() if line.startswith("backfill octo/history")]
    assert len(lines) >= 3 and lines[-1].endswith("done"), p.stderr
    assert "\r" not in p.stderr
    assert "250 runs read" in p.stdout
    assert db.scalar("SELECT count(*) FROM poller_state WHERE key = 'backfill'") == 0
    # Everything stored: a second backfill reads the lists again but no job twice.
    before = len(job_requests(github))
    p = run_backfill(collector, "--repo", "octo/history", "--days", "7")
    assert p.returncode == 0, p.stderr
    assert len(job_requests(github)) == before


def test_backfill_killed_halfway_resumes_without_duplicates(collector_factory, db, github):
    fake = history(github)
    fake.delay = 0.01
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/history")
    e = dict(collector.env)
    proc = subprocess.Popen([collector.binary, "backfill", "--repo", "octo/history", "--days",
                             "7"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Killed (SIGKILL: no chance to clean up) once the second page is being worked on.
    wait_for(lambda: db.scalar("SELECT count(*) FROM workflow_runs") >= 130, timeout=60,
             interval=0.01, what="half the backfill")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    check_process("cipulsed backfill", proc.returncode, proc.stdout.read() + proc.stderr.read(),
                  sent={signal.SIGKILL})
    done_before = db.scalar("SELECT count(*) FROM workflow_runs")
    assert done_before < NRUNS
    saved = db.scalar("SELECT value FROM poller_state WHERE key = 'backfill'")
    assert saved, "no resume point saved"
    jobs_before = job_requests(github)
    p = run_backfill(collector, "--repo", "octo/history", "--days", "7")
    assert p.returncode == 0, p.stderr
    assert "resuming" in p.stderr
    # Exactly GitHub's runs, jobs and steps in the range (which ones, not how many: primary keys
    # make a count unable to show a duplicate, and blind to one run stored in place of another).
    assert {r["run_id"] for r in db.query("SELECT run_id FROM workflow_runs")} == \
        {100000 + i for i in range(NRUNS)}
    assert {(r["run_id"], r["job_id"]) for r in db.query("SELECT run_id, job_id FROM jobs")} == \
        {(100000 + i, 900000 + i) for i in range(NRUNS)}
    assert {(r["job_id"], r["number"]) for r in db.query("SELECT job_id, number FROM steps")} == \
        {(900000 + i, n) for i in range(NRUNS) for n in (1, 2, 3)}
    # The resumed backfill started below the saved point: it asked for a created range.
    resumed_lists = [r["path"] for r in github.requests[len(github.requests) - 200:]
                     if r["path"].startswith("/repos/octo/history/actions/runs?")]
    assert any(".." in path for path in resumed_lists), resumed_lists
    # No job list was read twice except those of runs the kill interrupted.
    again = set(job_requests(github)[len(jobs_before):]) & set(jobs_before)
    assert len(again) <= 100, len(again)


def test_backfill_through_the_api_and_usage_errors(collector_factory, db, github):
    history(github, n=30)
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/history")
    status, out = collector.http("POST", "/api/v1/poll/run", {"repo": "octo/history", "days": 3},
                                 headers=collector.admin_headers(), timeout=120)
    assert status == 200, out
    assert out["runs_written"] == 30
    assert db.scalar("SELECT count(*) FROM jobs") == 30
    p = run_backfill(collector, "--repo", "nope")
    assert p.returncode == 2
    p = run_backfill(collector, "--repo", "a/b", "--days", "0")
    assert p.returncode == 2
    p = run_backfill(collector, "--repo", "not/registered")
    assert p.returncode == 1 and "not registered" in p.stderr
    p = run_backfill(collector, "--repo", "octo/history", env={"CIPULSE_GITHUB_TOKEN": ""})
    assert p.returncode == 1 and "token" in p.stderr
    assert TOKEN not in p.stderr + p.stdout


def test_backfill_progress_bar_on_a_terminal(collector_factory, db, github):
    history(github, n=120)
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/history")
    master, slave = os.openpty()
    p = subprocess.Popen([collector.binary, "backfill", "--repo", "octo/history", "--days", "7"],
                         env=collector.env, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    check_process("cipulsed backfill", p.returncode, out + p.stdout.read())
    assert p.returncode == 0
    text = out.decode()
    assert "\r" in text and "[####" in text and "120/120 runs" in text, text
