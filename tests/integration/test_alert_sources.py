"""The same failure from the agent, a webhook and the poller is one alert and one message; the
message shows the failing job, its failing step and the last lines of that step's log; the
poller learns the repository's default branch from the GitHub API; a backfill of old runs pages
nobody."""
import datetime
import time
import uuid

import pbwire
from alert_util import REPO, REPO_ID, Receiver, alerts, run_payload, send_run, wait_outbox_settled
from ghutil import FakeGitHub, register_repo
from harness import wait_for
from ingest_env import send_report

WORKFLOW_ID = 77


def agent_report(run_id, lines):
    """What the agent sends for a failed run: the job, its failed step and that step's log."""
    now = int(time.time() * 1000)
    job_id = run_id * 10
    steps = [{"number": 1, "name": "checkout", "status": "completed", "conclusion": "success",
              "started_at": now - 50000, "completed_at": now - 45000},
             {"number": 2, "name": "make test", "status": "completed", "conclusion": "failure",
              "started_at": now - 45000, "completed_at": now - 1000}]
    return [
        pbwire.chunk_header(
            report_id=str(uuid.uuid4()), agent_version="0.1.0-test", mode=1, sent_at=now,
            repository={"id": REPO_ID, "full_name": REPO, "server_url": "https://github.com"},
            workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
            run={"id": run_id, "attempt": 1, "number": 7, "event": "push",
                 "head_branch": "main", "head_sha": "%040x" % run_id, "actor": "octocat",
                 "status": "completed", "conclusion": "failure", "created_at": now - 60000,
                 "run_started_at": now - 59000, "updated_at": now}),
        pbwire.chunk_job(id=job_id, name="unit tests", status="completed", conclusion="failure",
                         created_at=now - 55000, started_at=now - 50000, completed_at=now - 1000,
                         runner_name="runner-1", labels=["ubuntu-latest"], steps=steps),
        pbwire.chunk_log(job_id=job_id, step_number=2, seq=0, text="\n".join(lines) + "\n",
                         last=True, original_size=0, truncated=False),
    ]


def test_agent_webhook_and_poller_one_message(collector_factory, db, github):
    slack = Receiver()
    slack.respond("/slack")
    try:
        fake = FakeGitHub(github, REPO, REPO_ID)
        c = collector_factory(env={
            "CIPULSE_ALLOW_PRIVATE_TARGETS": "1",
            "CIPULSE_SLACK_WEBHOOK_URL": slack.url + "/slack",
            "CIPULSE_GITHUB_API_URL": github.url, "CIPULSE_GITHUB_TOKEN": "ghp_test",
            "CIPULSE_POLL_STALE_AFTER": "0s"})
        register_repo(db, REPO, repo_id=REPO_ID)
        # The poller learns the default branch (the default rule needs it) from GitHub.
        status, out = c.http("POST", "/api/v1/poll/run", {"repo": REPO},
                             headers=c.admin_headers(), timeout=120)
        assert status == 200, out
        assert db.scalar("SELECT default_branch FROM repositories WHERE id = %s",
                         (REPO_ID,)) == "main"
        token = c.create_token(REPO)
        lines = ["line %d" % i for i in range(1, 31)] + ["FAIL: <!channel> `boom`"]
        send_report(c.grpc_addr, agent_report(8001, lines), token)
        send_run(c, run_payload(8001, "failure", workflow_id=WORKFLOW_ID))
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        fake.add_run(8001, conclusion="failure", created=now, workflow_id=WORKFLOW_ID,
                     head_sha="%040x" % 8001,
                     jobs=[FakeGitHub.make_job(80010, 8001, conclusion="failure",
                                               name="unit tests", steps=0)])
        status, out = c.http("POST", "/api/v1/poll/run", {"repo": REPO, "run_id": 8001},
                             headers=c.admin_headers(), timeout=120)
        assert status == 200, out
        wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the message")
        rows = wait_outbox_settled(db)
        assert len(rows) == 1 and len(slack.delivered("/slack")) == 1
        assert [(a["state"], a["run_count"]) for a in alerts(db)] == [("open", 1)]
        sources = db.scalar("SELECT sources FROM workflow_runs WHERE run_id = 8001")
        assert sorted(sources) == ["agent", "poller", "webhook"]
        raw = slack.delivered("/slack")[0][0].decode()
        assert "unit tests" in raw and "make test" in raw
        assert "line 30" in raw and "line 12" in raw and "line 11" not in raw  # the last 20
        assert "<!channel>" not in raw and "&lt;!channel&gt;" in raw
    finally:
        slack.close()


def test_backfill_of_old_runs_pages_nobody(collector_factory, db, github):
    slack = Receiver()
    slack.respond("/slack")
    try:
        fake = FakeGitHub(github, REPO, REPO_ID)
        base = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=20)
        for i in range(10):
            t = (base + datetime.timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            failed = i % 3 or i == 9
            fake.add_run(9000 + i, conclusion="failure" if failed else "success", created=t,
                         workflow_id=WORKFLOW_ID)
        c = collector_factory(env={
            "CIPULSE_ALLOW_PRIVATE_TARGETS": "1",
            "CIPULSE_SLACK_WEBHOOK_URL": slack.url + "/slack",
            "CIPULSE_GITHUB_API_URL": github.url, "CIPULSE_GITHUB_TOKEN": "ghp_test"})
        register_repo(db, REPO, repo_id=REPO_ID)
        db.execute("UPDATE repositories SET default_branch = 'main'")
        c.run("backfill", "--repo", REPO, "--days", "30")
        assert db.scalar("SELECT count(*) FROM workflow_runs") == 10
        # Alert state follows the history (the last run failed: open), but nobody is paged.
        assert [a["state"] for a in alerts(db)][-1] == "open"
        assert db.scalar("SELECT count(*) FROM notifications") == 0
        # A fresh failure after it pages as usual (the alert is open already: it counts).
        send_run(c, run_payload(9100, "success", workflow_id=WORKFLOW_ID))
        send_run(c, run_payload(9101, "failure", workflow_id=WORKFLOW_ID))
        wait_for(lambda: len(slack.delivered("/slack")) == 1, timeout=60, what="the message")
    finally:
        slack.close()
