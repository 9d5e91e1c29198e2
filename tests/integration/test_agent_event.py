"""What only the event payload tells: the agent reads $GITHUB_EVENT_PATH for the repository's
default branch (Repository.default_branch) and the head commit's message (Run.head_message: its
first line, secrets masked, size-limited), and the collector stores both (repositories,
workflow_runs), which is what the default alert rule's @default branch and the alert messages
rely on."""
import json
import os
import time

import pytest

from agent_fakes import AGENT, FakeGitHub, agent_env, make_job, run_agent

pytestmark = pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")

GH_TOKEN = "ghs_faketoken1234567890"  # agent_env's GITHUB_TOKEN: a secret the agent masks


def now_ms():
    return int(time.time() * 1000)


def event_file(tmp_path, payload, name="event.json"):
    p = tmp_path / name
    p.write_text(json.dumps(payload))
    return str(p)


def report_job(gh, env):
    t0 = now_ms() - 10000
    gh.jobs = [make_job(701, "build", status="in_progress", runner="runner-1", t0=t0,
                        steps=[("Set up job", "success", t0, t0 + 1000),
                               ("cipulse", None, t0 + 1000, None)])]
    r = run_agent(["report", "--job-id", "701", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout
    return r


def test_default_branch_and_head_message_stored(collector, db, tmp_path):
    token = collector.create_token("o/r")
    gh = FakeGitHub()
    try:
        spool = str(tmp_path / "spool")
        os.makedirs(os.path.join(spool, "home"))
        message = ("Rotate the key " + GH_TOKEN + " and fix <!channel> \u00e9l\u00e8ve\r\n\n"
                   "Body line that must not be kept")
        path = event_file(tmp_path, {"repository": {"id": 4242, "full_name": "o/r",
                                                    "default_branch": "trunk"},
                                     "head_commit": {"id": "a" * 40, "message": message}})
        env = agent_env(gh.url, collector.grpc_addr, spool, CIPULSE_TOKEN=token,
                        GITHUB_EVENT_PATH=path)
        report_job(gh, env)
    finally:
        gh.stop()
    assert db.scalar("SELECT default_branch FROM repositories WHERE id = 4242") == "trunk"
    stored = db.scalar("SELECT head_message FROM workflow_runs WHERE repo_id = 4242 "
                       "AND run_id = 1000")
    assert stored == "Rotate the key *** and fix <!channel> \u00e9l\u00e8ve"
    assert GH_TOKEN not in json.dumps(db.query("SELECT * FROM workflow_runs"), default=str)


def test_event_fields_are_size_limited(fake_github, fake_collector, spool, tmp_path):
    """The first line alone, cut at a character boundary to the agent's limit (1200 bytes);
    an over-long default branch is left out rather than cut into another branch's name."""
    line = "\u00e9" * 5000  # 10000 bytes of two-byte characters
    path = event_file(tmp_path, {"repository": {"default_branch": "b" * 256},
                                 "head_commit": {"message": line + "\nsecond line"}})
    fake_github.jobs = []
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_EVENT_PATH=path)
    r = run_agent(["report", "--job-id", "701", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    h = fake_collector.reports[0].header
    assert h["run"]["head_message"] == "\u00e9" * 600
    assert not h["repository"].get("default_branch")


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"action": "opened"}),
                                     json.dumps({"repository": {"default_branch": 7},
                                                 "head_commit": None})])
def test_missing_or_odd_event_payload_still_reports(fake_github, fake_collector, spool, tmp_path,
                                                    content):
    path = str(tmp_path / "absent.json")
    if content is not None:
        path = str(tmp_path / "event.json")
        with open(path, "w") as f:
            f.write(content)
    fake_github.jobs = []
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_EVENT_PATH=path)
    r = run_agent(["report", "--job-id", "701", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    assert len(fake_collector.reports) == 1
    h = fake_collector.reports[0].header
    assert not h["run"].get("head_message") and not h["repository"].get("default_branch")
