"""The agent against the real collector and PostgreSQL (conftest.py fixtures).

The issue's done-when scenario: a workflow of three jobs - one running its tests through
`cipulse-agent exec`, one failing, one reported by a self-hosted runner's job-completed hook -
ends with all three jobs, their steps and their log tails in PostgreSQL, also when the
collector was down during the first report and came back before the last.
"""
import os
import time

from agent_fakes import AGENT, FakeGitHub, agent_env, make_job, run_agent, spooled

REPO = "o/r"


def now_ms():
    return int(time.time() * 1000)


def test_three_jobs_exec_failure_hook_with_collector_down_first(collector_factory, db, tmp_path):
    assert os.path.exists(AGENT)
    col = collector_factory()
    token = col.create_token(REPO)
    gh = FakeGitHub()
    try:
        spool = str(tmp_path / "spool")  # one self-hosted machine runs jobs 601 and 602
        os.makedirs(os.path.join(spool, "home"))
        # The send budget counts from the agent's start, and what is left of it after the report
        # flushes the spool: short while the collector is down (it is waited out), generous
        # where reports must go through on a loaded machine.
        base = dict(CIPULSE_TOKEN=token, CIPULSE_SEND_BUDGET="60s", RUNNER_NAME="sh-1")

        # Job 601 runs its tests through exec while the collector is down.
        col.stop()
        t0 = now_ms() - 2000
        env = agent_env(gh.url, col.grpc_addr, spool, GITHUB_JOB="test", CIPULSE_JOB_ID=601,
                        **dict(base, CIPULSE_SEND_BUDGET="1s"))
        r = run_agent(["exec", "--", "sh", "-c", "echo 'test 1 ok'; echo 'test 2 ok'"], env)
        assert r.returncode == 0
        t1 = now_ms()
        gh.jobs = [
            make_job(601, "test", status="in_progress", runner="sh-1", t0=t0,
                     steps=[("Set up job", "success", t0, t0 + 1000),
                            ("Run tests", "success", t0 + 1000, t1 + 1000),
                            ("cipulse", None, t1 + 1000, None)]),
        ]
        r = run_agent(["report", "--job-status", "success"], env)
        assert r.returncode == 0, r.stderr
        assert b"spooled" in r.stdout
        assert len(spooled(spool)) == 1
        assert db.scalar("SELECT count(*) FROM jobs") == 0

        # The collector comes back before the next job reports.
        col.start()

        # Job 602 fails; its report also sends the spooled one of 601.
        t2 = now_ms()
        gh.jobs.append(make_job(602, "lint", status="in_progress", runner="sh-1", t0=t2,
                                steps=[("Set up job", "success", t2, t2 + 1000),
                                       ("Run lint", "failure", t2 + 1000, t2 + 2000),
                                       ("cipulse", None, t2 + 2000, None)]))
        log = tmp_path / "lint.log"
        log.write_text("src/a.c:1: error: missing semicolon\n")
        env = agent_env(gh.url, col.grpc_addr, spool, GITHUB_JOB="lint", CIPULSE_JOB_ID=602,
                        CIPULSE_LOG_FILES=str(log), **base)
        r = run_agent(["report", "--job-status", "failure"], env)
        assert r.returncode == 0, r.stderr
        assert b"::warning::" not in r.stdout, r.stdout
        assert spooled(spool) == []

        # Job 603 on another self-hosted runner, reported by its job-completed hook.
        t3 = now_ms() - 5000
        gh.jobs.append(make_job(603, "package", status="in_progress", runner="sh-2", t0=t3,
                                steps=[("Set up job", "success", t3, t3 + 1000),
                                       ("Run make dist", "success", t3 + 1000, t3 + 4000),
                                       ("Complete job", "success", t3 + 4000, t3 + 4500)]))
        spool2 = str(tmp_path / "spool2")
        os.makedirs(os.path.join(spool2, "home"))
        env = agent_env(gh.url, col.grpc_addr, spool2, GITHUB_JOB="package",
                        CIPULSE_TOKEN=token, RUNNER_NAME="sh-2",
                        CIPULSE_LOG_FILES=str(log))
        r = run_agent(["hook"], env)
        assert r.returncode == 0, r.stderr

        jobs = {j["job_id"]: j for j in db.query(
            "SELECT job_id, name, status, conclusion FROM jobs ORDER BY job_id")}
        assert set(jobs) == {601, 602, 603}
        assert jobs[601]["conclusion"] == "success"
        assert jobs[602]["conclusion"] == "failure"
        assert jobs[603]["conclusion"] == "success"
        steps = {(s["job_id"], s["number"]): s for s in db.query(
            "SELECT job_id, number, name, conclusion FROM steps")}
        assert steps[(601, 2)]["name"] == "Run tests"
        assert steps[(602, 2)]["conclusion"] == "failure"
        assert steps[(603, 3)]["name"] == "Complete job"
        logs = {(l["job_id"], l["step_number"]): l for l in db.query(
            "SELECT job_id, step_number, content, exit_code, truncated FROM logs")}
        assert logs[(601, 2)]["content"] == "test 1 ok\ntest 2 ok\n"
        assert logs[(601, 2)]["exit_code"] == 0
        assert "missing semicolon" in logs[(602, 0)]["content"]
        assert "missing semicolon" in logs[(603, 0)]["content"]
        assert db.scalar("SELECT count(*) FROM reports") == 3
    finally:
        gh.stop()


def test_flush_resends_identical_report_once(collector_factory, db, tmp_path):
    """A spooled report flushed twice (e.g. two agents racing) is stored once."""
    col = collector_factory()
    token = col.create_token(REPO)
    gh = FakeGitHub()
    try:
        spool = str(tmp_path / "spool")
        os.makedirs(os.path.join(spool, "home"))
        t0 = now_ms() - 10000
        gh.jobs = [make_job(701, "build", status="in_progress", runner="runner-1", t0=t0,
                            steps=[("Set up job", "success", t0, t0 + 1000)])]
        env = agent_env(gh.url, col.grpc_addr, spool, CIPULSE_TOKEN=token, CIPULSE_JOB_ID=701,
                        CIPULSE_SEND_BUDGET="500ms")
        col.stop()
        assert run_agent(["report", "--job-status", "success"], env).returncode == 0
        name, = spooled(spool)
        data = open(os.path.join(spool, name), "rb").read()
        col.start()
        env["CIPULSE_SEND_BUDGET"] = "60s"  # the collector is up from here on
        assert run_agent(["flush", "--strict"], env).returncode == 0
        assert spooled(spool) == []
        # The same bytes again: the collector recognises the report id.
        with open(os.path.join(spool, name), "wb") as f:
            f.write(data)
        before = db.query("SELECT * FROM reports")
        assert run_agent(["flush", "--strict"], env).returncode == 0
        # Recognised (counted as a duplicate), not stored again: the report row is untouched.
        # (Row counts could not show it: report_id and job_id are primary keys.)
        status, text = col.http("GET", "/metrics")
        assert 'cipulse_reports_total{result="duplicate"} 1\n' in text, text
        assert 'cipulse_reports_total{result="ok"} 1\n' in text, text
        assert db.query("SELECT * FROM reports") == before
    finally:
        gh.stop()
