"""The poller against an HTTP stand-in for the GitHub REST API: runs only the poller sees, a lost
`completed` webhook closed by the poller, lost and out-of-order events ending in the clean state,
pagination, ETags (304), rate limits, POST /api/v1/poll/run, one poller per cluster."""
import copy
import random
import threading
import time

from harness import GitHubStandIn, wait_for
from ghutil import FakeGitHub, dump, post_webhook, register_repo
from test_webhook_merge import REPO, RUN_ID, final_rows, lifecycle

TOKEN = "ghs_test_token_0123456789"
REPO_ID = 186853002


def poller_env(github, **extra):
    env = {"CIPULSE_GITHUB_API_URL": github.url, "CIPULSE_GITHUB_TOKEN": TOKEN,
           "CIPULSE_POLL_STALE_AFTER": "0s"}
    env.update(extra)
    return env


def poll(collector, repo=REPO, **kw):
    body = dict(repo=repo, **kw)
    return collector.http("POST", "/api/v1/poll/run", body, headers=collector.admin_headers(),
                           timeout=120)


def fake_from_lifecycle(github):
    """GitHub's final state of the lifecycle's run: the completed run and its completed job."""
    events = lifecycle()
    fake = FakeGitHub(github, REPO, REPO_ID)
    final_run = [p for e, p in events if e == "workflow_run"][-1]
    final_job = [p for e, p in events if e == "workflow_job"][-1]
    run = copy.deepcopy(final_run["workflow_run"])
    run["repository"] = copy.deepcopy(final_job["repository"])
    with fake.lock:
        fake.runs[(RUN_ID, 1)] = run
        fake.jobs[(RUN_ID, 1)] = [copy.deepcopy(final_job["workflow_job"])]
    fake._routes_for_runs()
    return events, fake


def test_poller_alone_sees_runs_and_uses_etags(collector_factory, db, github):
    fake = FakeGitHub(github, "octo/poll", 77)
    fake.add_run(1001, jobs=[FakeGitHub.make_job(5001, 1001), FakeGitHub.make_job(5002, 1001)])
    fake.add_run(1002, status="in_progress", conclusion=None,
                 created="2024-05-01T11:00:00Z",
                 jobs=[FakeGitHub.make_job(5003, 1002, status="queued")])
    collector = collector_factory(env=poller_env(github, CIPULSE_POLL="1",
                                                 CIPULSE_POLL_INTERVAL="1s"))
    register_repo(db, "octo/poll")
    wait_for(lambda: db.scalar("SELECT count(*) FROM jobs") == 3, timeout=20,
             what="the poller's jobs")
    runs = db.query("SELECT run_id, status, conclusion, sources, workflow_id FROM workflow_runs "
                    "ORDER BY run_id")
    assert [(r["run_id"], r["status"], r["conclusion"], r["sources"]) for r in runs] == \
        [(1001, "completed", "success", ["poller"]), (1002, "in_progress", None, ["poller"])]
    assert db.scalar("SELECT id FROM repositories WHERE full_name = 'octo/poll'") == 77
    assert db.scalar("SELECT count(*) FROM steps WHERE job_id = 5001") == 3
    assert db.scalar("SELECT started_at FROM jobs WHERE job_id = 5003") is None
    lists = github.received("GET", "/repos/octo/poll/actions/runs?")
    assert lists and all(r["headers"]["authorization"] == "Bearer " + TOKEN for r in lists)
    assert all(r["headers"].get("x-github-api-version") for r in lists)
    # Later cycles ask conditionally and get 304s.
    wait_for(lambda: any(r["headers"].get("if-none-match")
                         for r in github.received("GET", "/repos/octo/poll/actions/runs?")),
             timeout=10, what="a conditional request")
    status, text = collector.http("GET", "/metrics")
    assert 'cipulse_github_requests_total{status="304"}' in text
    assert TOKEN not in collector.log()
    # The run in progress completes on GitHub: the poller closes it.
    with fake.lock:
        fake.runs[(1002, 1)].update(status="completed", conclusion="failure",
                                    updated_at="2024-05-01T11:09:00Z")
        fake.jobs[(1002, 1)] = [FakeGitHub.make_job(5003, 1002, conclusion="failure")]
    # (A cycle may read the run just before the change and its jobs just after: wait for both.)
    wait_for(lambda: db.scalar("SELECT conclusion FROM workflow_runs WHERE run_id = 1002")
             == "failure", timeout=20, what="the completed run")
    wait_for(lambda: db.scalar("SELECT status FROM jobs WHERE job_id = 5003") == "completed",
             timeout=20, what="the completed job")


def test_lost_completed_webhook_is_closed_by_the_poller(collector_factory, db, github):
    events, fake = fake_from_lifecycle(github)
    collector = collector_factory(env=poller_env(github))
    register_repo(db, REPO)
    # Everything up to the job running; the completed events are lost.
    for event, payload in events[:4]:
        status, out = post_webhook(collector, event, payload)
        assert status == 200, out
    assert db.scalar("SELECT status FROM workflow_runs") == "in_progress"
    status, out = poll(collector)
    assert status == 200, out
    assert out["runs_written"] >= 1
    run = db.query("SELECT status, conclusion, sources FROM workflow_runs")[0]
    assert (run["status"], run["conclusion"]) == ("completed", "failure")
    assert sorted(run["sources"]) == ["poller", "webhook"]
    job = db.query("SELECT status, conclusion FROM jobs")[0]
    assert (job["status"], job["conclusion"]) == ("completed", "failure")
    assert db.scalar("SELECT count(*) FROM steps WHERE status = 'completed'") == 12


def test_lost_and_out_of_order_events_end_in_the_clean_state(collector_factory, db, github):
    events, fake = fake_from_lifecycle(github)
    collector = collector_factory(env=poller_env(github))
    register_repo(db, REPO)

    def wipe():
        db.execute("TRUNCATE workflows, workflow_runs, jobs, steps, webhook_deliveries, "
                   "poller_state CASCADE")

    def scenario(sent):
        wipe()
        for event, payload in sent:
            status, out = post_webhook(collector, event, payload)
            assert status == 200, out
        status, out = poll(collector)
        assert status == 200, out
        return dump(db)

    # The truth: GitHub's final payloads themselves (not the collector's rows for the clean case).
    clean = final_rows(events)
    assert scenario(events) == clean
    rng = random.Random(7)
    for i in range(6):
        sent = [e for e in events if rng.random() < 0.5]  # lost deliveries
        sent += sent[:2]                                     # and redelivered ones
        rng.shuffle(sent)                                    # out of order
        assert scenario(sent) == clean, [(e, p["action"]) for e, p in sent]
    # The poller alone rebuilds the same rows.
    assert scenario([]) == clean


def test_poll_run_for_one_run_and_its_attempts(collector_factory, db, github):
    fake = FakeGitHub(github, "octo/rerun", 78)
    fake.add_run(2001, attempt=1, conclusion="failure",
                 jobs=[FakeGitHub.make_job(6001, 2001, conclusion="failure")])
    fake.add_run(2001, attempt=2, jobs=[FakeGitHub.make_job(6002, 2001, attempt=2)])
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/rerun")
    status, out = poll(collector, repo="octo/rerun", run_id=2001)
    assert status == 200, out
    rows = db.query("SELECT run_attempt, conclusion FROM workflow_runs ORDER BY run_attempt")
    assert rows == [{"run_attempt": 1, "conclusion": "failure"},
                    {"run_attempt": 2, "conclusion": "success"}]
    assert db.scalar("SELECT run_attempt FROM jobs WHERE job_id = 6002") == 2
    status, out = poll(collector, repo="octo/rerun", run_id=999)
    assert status == 404, out


def test_poll_run_errors(collector, db, github):
    status, out = collector.http("POST", "/api/v1/poll/run", {"repo": "a/b"})
    assert status == 401
    # An unknown token is 401, as for every endpoint (docs/openapi.yaml); 403 is for a valid
    # token without the right.
    status, out = collector.http("POST", "/api/v1/poll/run", {"repo": "a/b"},
                                 headers={"Authorization": "Bearer wrong"})
    assert status == 401 and out["error"]["code"] == "unauthorized", out
    status, out = poll(collector, repo="not/registered")
    assert status == 404, out
    register_repo(db, "no/token")
    status, out = poll(collector, repo="no/token")
    assert status == 409, out  # neither CIPULSE_GITHUB_TOKEN nor a repository token
    status, out = collector.http("POST", "/api/v1/poll/run", {"repo": 5},
                                 headers=collector.admin_headers())
    assert status == 400


def test_poll_run_holds_no_http_thread(collector_factory, db, github):
    """A poll waiting on GitHub's rate limit holds only its own connection's thread: other
    requests are answered while it waits."""
    fake = FakeGitHub(github, "octo/slow", 82)
    fake.add_run(4101, jobs=[FakeGitHub.make_job(8101, 4101)])
    fake.remaining = 0
    fake.reset = int(time.time()) + 600  # the poll waits (interruptibly) for ten minutes
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/slow")
    answers = []
    t = threading.Thread(target=lambda: answers.append(poll(collector, repo="octo/slow")))
    t.start()
    wait_for(lambda: github.received("GET", "/repos/octo/slow"), timeout=15,
             what="the poll's first request")
    status, out = collector.http("GET", "/api/v1/repos", timeout=20)
    assert status == 200, out
    assert t.is_alive() and not answers  # the poll was still waiting meanwhile
    collector.stop()  # the poll ends with the collector
    t.join(timeout=60)
    assert not t.is_alive()


def test_rate_limit_slows_down_and_waits_for_the_reset(collector_factory, db, github):
    fake = FakeGitHub(github, "octo/limited", 79, limit=5000)
    for i in range(8):
        fake.add_run(3000 + i, created="2024-05-01T10:%02d:00Z" % i,
                     jobs=[FakeGitHub.make_job(7000 + i, 3000 + i)])
    collector = collector_factory(env=poller_env(github))
    register_repo(db, "octo/limited")
    # Few requests left, the window resets 2 s after the poll's first request: the poller must
    # spread, then wait. Set once the collector is up, and the window started by the first
    # request, so a slow start-up or a late poll cannot use up the window before the poll begins
    # (on a machine at load 12-15 the poll began after the old fixed 2 s reset: no slowing down).
    fake.remaining = 4
    fake.window = 2
    fake.reset = None  # the window starts at the poll's first request (ghutil.FakeGitHub)
    status, out = poll(collector, repo="octo/limited")
    assert status == 200, out
    assert db.scalar("SELECT count(*) FROM jobs") == 8
    # More answers than one window allows: it waited for the window instead of failing.
    assert len(fake.served) > 4, fake.served
    assert "slowing down" in collector.log()
    forbidden = [r for r in github.requests if r["path"].startswith("/repos/octo/limited")]
    # At most one request was refused per window: the client did not hammer GitHub.
    status, text = collector.http("GET", "/metrics")
    assert "cipulse_github_ratelimit_remaining" in text
    slowed = [float(line.split()[-1]) for line in text.splitlines()
              if line.startswith(("cipulse_github_ratelimit_waits_total",
                                  "cipulse_github_ratelimit_paced_requests_total"))]
    assert len(slowed) == 2 and sum(slowed) >= 1, text
    assert len(forbidden) <= 8 * 2 + 4


def test_shutdown_is_prompt_while_waiting_for_the_rate_limit(collector_factory, db, github):
    fake = FakeGitHub(github, "octo/waiting", 80)
    fake.add_run(4001, jobs=[FakeGitHub.make_job(8001, 4001)])
    fake.remaining = 0
    fake.reset = int(time.time()) + 600  # ten minutes away
    collector = collector_factory(env=poller_env(github, CIPULSE_POLL="1",
                                                 CIPULSE_POLL_INTERVAL="1s"))
    register_repo(db, "octo/waiting")
    wait_for(lambda: "rate limited; waiting" in collector.log(), timeout=15,
             what="the poller to wait for the reset")
    # Stopping must not wait for the reset, ten minutes away: stop() fails if the collector has
    # not exited (cleanly) within a generous minute.
    assert collector.stop(timeout=60) == 0


def test_one_poller_per_cluster(collector_factory, db, github):
    """Two collectors on one database: while one polls, the other is turned away and makes no
    GitHub request at all. Each talks to its own stand-in, so the requests tell them apart."""
    other = GitHubStandIn()
    try:
        gate = threading.Event()
        fakes = []
        for standin in (github, other):
            fake = FakeGitHub(standin, "octo/cluster", 81)
            for i in range(5):
                fake.add_run(5000 + i, created="2024-05-01T10:%02d:00Z" % i,
                             jobs=[FakeGitHub.make_job(9000 + i, 5000 + i)])
            fake.gate = gate  # the first poller holds the lock until the other was turned away
            fakes.append(fake)
        # One cycle each within the test (the first starts at once), with the repository known.
        cols = [collector_factory(env=poller_env(standin, CIPULSE_POLL="1",
                                                 CIPULSE_POLL_INTERVAL="1h"), start=False)
                for standin in (github, other)]
        cols[0].run("migrate")
        register_repo(db, "octo/cluster")
        for c in cols:
            c.start()
        wait_for(lambda: any("another collector is polling" in c.log() for c in cols),
                 timeout=30, what="the advisory lock to turn a collector away")
        gate.set()
        wait_for(lambda: db.scalar("SELECT count(*) FROM jobs") == 5, timeout=30, what="jobs")
        wait_for(lambda: any("repository polled repo=octo/cluster" in c.log() for c in cols),
                 timeout=30, what="the poller's cycle to end")
        turned_away = ["another collector is polling" in c.log() for c in cols]
        asked = [len(standin.received()) for standin in (github, other)]
        assert sorted(turned_away) == [False, True], turned_away
        loser = turned_away.index(True)
        assert asked[loser] == 0, "the collector turned away asked GitHub: %r" % asked
        assert asked[1 - loser] > 0, asked
    finally:
        other.close()
