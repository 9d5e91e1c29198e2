"""Several collectors on one PostgreSQL (issue 11, item 5): three collectors started at once run
the migrations once; one of them (the leader) polls GitHub, sweeps retention and serves the
database's pipeline series on /metrics; agent reports over gRPC and webhooks spread over all
three store every report once and open and send every alert once; SIGKILL of the leader in the
middle of the load loses no acknowledged report, and another collector takes the lead; the real
agent spools a report the dead collector could not take and delivers it through a live one.
(The load itself goes over gRPC from Python, pbwire, so that it can be concurrent and every
acknowledgement seen.)"""
import os
import re
import threading

import grpc
import pytest

import agent_fakes
from alert_util import REPO, REPO_ID, WORKFLOW_ID, Receiver, run_payload, slack_env, wait_outbox_settled
from ghutil import FakeGitHub, SECRET, post_webhook, register_repo
from harness import wait_for
from ingest_env import encode_report, report_parts, send_report

SQL_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "sql")
N_REPORTS = 45          # success runs, reported by the agent
N_FAILED = 8            # failed runs, reported by the agent and by two webhook deliveries each


def metric(col, name):
    """The value of an unlabelled series on col's /metrics, None when absent."""
    status, text = col.http("GET", "/metrics")
    assert status == 200
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def pipeline_sum(col, name):
    """Sum of every series of a cicd_pipeline_* family on col's /metrics (0 when absent)."""
    status, text = col.http("GET", "/metrics")
    assert status == 200
    return sum(float(v) for v in re.findall(r"^%s\{[^}]*\} (\S+)$" % re.escape(name), text, re.M))


def leaders(cols):
    return [c for c in cols if metric(c, "cipulse_leader") == 1]


class Load:
    """Sends reports and webhooks spread over the collectors that are alive, each retried on
    another collector until acknowledged (as the agent's spool and GitHub's redelivery would)."""

    def __init__(self, cols, token):
        self.cols = cols
        self.token = token
        self.dead = set()
        self.lock = threading.Lock()
        self.acked = {}        # report id -> collector index that acknowledged it
        self.sent = {}         # report id -> (run_id, jobs)
        self.errors = []
        self.first_third = threading.Event()

    def alive(self, start):
        with self.lock:
            order = [(start + k) % len(self.cols) for k in range(len(self.cols))]
            return [i for i in order if i not in self.dead]

    def report(self, n, run_id, conclusion):
        parts = report_parts(REPO_ID, REPO, run_id, jobs=2, steps=2)
        header, _ = parts
        header["run"]["conclusion"] = conclusion
        # Successes on another branch: on the default branch they would resolve the failure
        # alert between failures, and the count of alerts would depend on the interleaving.
        header["run"]["head_branch"] = "main" if conclusion == "failure" else "dev"
        rid = header["report_id"]
        self.sent[rid] = (run_id, [j["id"] for j, _ in parts[1]])
        chunks = encode_report(parts)
        for _ in range(20):
            for i in self.alive(n):
                try:
                    send_report(self.cols[i].grpc_addr, chunks, self.token, timeout=30)
                except grpc.RpcError:
                    continue
                with self.lock:
                    self.acked[rid] = i
                    if len(self.acked) >= (N_REPORTS + N_FAILED) // 3:
                        self.first_third.set()
                return
        self.errors.append("report %s never acknowledged" % rid)

    def webhook(self, n, payload):
        answers = []
        for i in self.alive(n):
            try:
                status, body = post_webhook(self.cols[i], "workflow_run", payload, secret=SECRET)
            except OSError as e:
                answers.append(str(e))
                continue
            if status in (200, 202):
                return
            answers.append((status, body))
        self.errors.append("webhook of run %d not accepted: %r"
                           % (payload["workflow_run"]["id"], answers))

    def run(self, jobs):
        threads = []
        for k in range(4):  # four senders at once
            mine = jobs[k::4]
            threads.append(threading.Thread(target=lambda m=mine: [f() for f in m]))
        for t in threads:
            t.start()
        return threads


@pytest.fixture
def db(empty_db):
    """An empty database: the three collectors below migrate it at once (conftest's `db` would
    be migrated already)."""
    return empty_db


def test_three_collectors_one_database(collector_factory, db, github, tmp_path):
    slack = Receiver()
    slack.respond("/slack")
    fake = FakeGitHub(github, REPO, REPO_ID)
    for k in range(3):
        fake.add_run(3000 + k, conclusion="success", workflow_id=WORKFLOW_ID)
    env = slack_env(slack, CIPULSE_GITHUB_API_URL=github.url, CIPULSE_GITHUB_TOKEN="ghp_test",
                    CIPULSE_POLL="1", CIPULSE_POLL_INTERVAL="1s", CIPULSE_RUN_RETENTION_DAYS="30",
                    CIPULSE_ALERT_SWEEP_INTERVAL="1s")
    cols = [collector_factory(env=env, start=False) for _ in range(3)]
    try:
        # Started at once: the migrations run once, whoever gets there first.
        for c in cols:
            c.start(wait=False)
        for c in cols:
            c.wait_ready(timeout=60)
        migrations = len([f for f in os.listdir(SQL_DIR) if re.match(r"\d+_.*\.sql$", f)])
        applied = sum(c.log().count("applied migration") for c in cols)
        assert applied == migrations
        assert db.scalar("SELECT count(*) FROM schema_migrations") == migrations

        register_repo(db, REPO, repo_id=REPO_ID, secret=SECRET)
        db.execute("UPDATE repositories SET default_branch = 'main' WHERE id = %s", (REPO_ID,))
        token = cols[0].create_token(REPO)

        # One leader: it alone polls GitHub and sweeps retention.
        wait_for(lambda: len(leaders(cols)) == 1, timeout=60, what="one leader")
        leader = leaders(cols)[0]
        wait_for(lambda: (metric(leader, 'cipulse_poller_cycles_total{result="ok"}') or 0) >= 3,
                 timeout=60, what="three poll cycles on the leader")
        for c in cols:
            if c is not leader:
                assert metric(c, 'cipulse_poller_cycles_total{result="ok"}') in (None, 0), c.log()
                assert "repository polled" not in c.log()
                assert metric(c, "cipulse_retention_sweeps_total") in (None, 0)
        assert metric(leader, "cipulse_retention_sweeps_total") == 1
        # The alert rules' sweep is a duty like the others (store/lease.c): the leader runs it,
        # the others only skip their turns.
        sweeps = 'cipulse_duty_runs_total{duty="alert_sweep"}'
        skips = 'cipulse_duty_skipped_total{duty="alert_sweep"}'
        wait_for(lambda: (metric(leader, sweeps) or 0) >= 3 and all(
            (metric(c, skips) or 0) >= 3 for c in cols if c is not leader),
            timeout=60, what="alert sweeps on the leader, turns skipped on the others")
        for c in cols:
            if c is not leader:
                assert metric(c, sweeps) in (None, 0), c.log()
        base = "/repos/%s/actions/runs" % REPO
        lists = len([r for r in github.received("GET", base) if r["path"].split("?")[0] == base])
        polled = leader.log().count("repository polled repo=%s" % REPO)
        # One list request per poll of the repository by the one poller (a poll may be under
        # way): three pollers would make about three times as many.
        assert polled >= 1 and polled <= lists <= polled + 1, (polled, lists)

        # The load: reports on every collector, failures from the agent and twice by webhook.
        load = Load(cols, token)
        jobs = []
        for n in range(N_REPORTS):
            jobs.append(lambda n=n: load.report(n, 5000 + n, "success"))
        for n in range(N_FAILED):
            run_id = 6000 + n
            jobs.append(lambda n=n, r=run_id: load.report(n, r, "failure"))
            payload = run_payload(run_id, "failure")
            jobs.append(lambda n=n, p=payload: load.webhook(n + 1, p))
            jobs.append(lambda n=n, p=payload: load.webhook(n + 2, p))
        threads = load.run(jobs)
        # SIGKILL the leader while reports are being acknowledged.
        assert load.first_third.wait(120), "no reports acknowledged"
        victim = cols.index(leader)
        with load.lock:
            load.dead.add(victim)
        leader.kill()
        for t in threads:
            t.join(300)
        assert not load.errors, load.errors

        # The real agent: a report to the dead collector is spooled (not acknowledged), and
        # the next job's report to a live one sends it along.
        gh = agent_fakes.FakeGitHub()
        try:
            spool = str(tmp_path / "spool")
            os.makedirs(os.path.join(spool, "home"))
            base = dict(CIPULSE_TOKEN=token, CIPULSE_SEND_BUDGET="2s", GITHUB_REF_NAME="dev",
                        GITHUB_REPOSITORY=REPO, GITHUB_REPOSITORY_ID=str(REPO_ID),
                        GITHUB_WORKFLOW_REF=REPO + "/.github/workflows/ci.yml@refs/heads/dev")
            for job_id, col in ((710, leader), (711, cols[(victim + 1) % 3])):
                gh.jobs.append(agent_fakes.make_job(job_id, "job-%d" % job_id,
                                                    status="in_progress"))
                env = agent_fakes.agent_env(gh.url, col.grpc_addr, spool, CIPULSE_JOB_ID=job_id,
                                            **base)
                r = agent_fakes.run_agent(["report", "--job-status", "success"], env)
                assert r.returncode == 0, r.stderr
                if col is leader:
                    assert b"spooled" in r.stdout, r.stdout
            assert agent_fakes.spooled(spool) == []
        finally:
            gh.stop()
        assert db.scalar("SELECT count(*) FROM jobs WHERE job_id IN (710, 711)") == 2

        # Nothing acknowledged is lost; every report is stored once.
        assert len(load.acked) == N_REPORTS + N_FAILED
        stored = {r["report_id"] for r in db.query("SELECT report_id FROM reports")}
        assert set(load.acked) <= stored
        assert len(stored) == N_REPORTS + N_FAILED + 2  # and the real agent's two
        for rid, (run_id, job_ids) in load.sent.items():
            got = db.query("SELECT job_id FROM jobs WHERE repo_id = %s AND run_id = %s "
                           "ORDER BY job_id", (REPO_ID, run_id))
            assert [r["job_id"] for r in got] == sorted(job_ids), (rid, run_id)
        assert db.scalar("SELECT count(*) FROM workflow_runs WHERE run_id >= 5000") == \
            N_REPORTS + N_FAILED
        assert db.scalar("SELECT count(*) FROM steps WHERE job_id >= 500000") == \
            (N_REPORTS + N_FAILED) * 2 * 2

        # Every alert opened once and sent once, whichever collector saw which source.
        outbox = wait_outbox_settled(db, timeout=120)
        alerts = db.query("SELECT id, kind, run_count FROM alerts")
        assert len(alerts) == 1 and alerts[0]["kind"] == "failure", alerts
        # Each failed run counted at most once (a run that arrives after a later one is history
        # for alert state, so fewer may count when the senders overtake each other).
        counted = db.scalar("SELECT count(*) FROM alert_runs WHERE alert_id = %s",
                            (alerts[0]["id"],))
        assert 1 <= alerts[0]["run_count"] == counted <= N_FAILED, (alerts, counted)
        sent = [m for m in outbox if m["state"] == "sent"]
        assert len(sent) == len(outbox) >= 1, outbox
        assert len(slack.delivered("/slack")) == len(sent)

        # Another collector takes the lead; the pipeline series are served once, not doubled.
        alive = [c for i, c in enumerate(cols) if i != victim]
        wait_for(lambda: len(leaders(alive)) == 1, timeout=120, what="a new leader")
        completed = db.scalar("SELECT count(*) FROM pipeline_counted")
        wait_for(lambda: sum(pipeline_sum(c, "cicd_pipeline_run_attempts_total")
                             for c in alive) == completed,
                 timeout=60, what="pipeline counters served once")
        assert sum(pipeline_sum(c, "cicd_pipeline_run_duration_seconds_count")
                   for c in alive) <= completed
    finally:
        slack.close()


def test_a_duty_lock_that_cannot_be_released_leaves_with_its_connection(collector_factory, db):
    """A duty's lock that col_duty_end cannot release (the unlock fails on a live connection)
    goes with the connection, which is closed, instead of staying in the pool and keeping the
    duty from every other collector. The failure is injected: a pg_advisory_unlock ahead of
    pg_catalog's on the search path fails for the alert sweep's key. Once this collector stops
    leading (its lease taken), no connection of it holds the key any more."""
    c = collector_factory(env={"CIPULSE_ALERT_SWEEP_INTERVAL": "1s", "CIPULSE_POLL": "0"},
                          start=False)
    c.run("migrate")
    db.execute("CREATE FUNCTION public.pg_advisory_unlock(k bigint) RETURNS boolean"
               " LANGUAGE plpgsql AS $$ BEGIN IF k = 7263105824 THEN"
               " RAISE EXCEPTION 'injected: cannot unlock'; END IF;"
               " RETURN pg_catalog.pg_advisory_unlock(k); END $$")
    db.execute('ALTER DATABASE "%s" SET search_path = public, pg_catalog' % db.name)
    c.start()
    sweeps = 'cipulse_duty_runs_total{duty="alert_sweep"}'
    wait_for(lambda: (metric(c, sweeps) or 0) >= 2, timeout=60, what="two alert sweeps")
    assert "injected: cannot unlock" in c.log()
    # Another collector leads from now on: this one starts no duty any more.
    db.execute("UPDATE cluster_leases SET holder = 'elsewhere',"
               " expires_at = now() + interval '1 hour' WHERE name = 'leader'")
    wait_for(lambda: "not holding lease=leader" in c.log(), timeout=60,
             what="the collector to stop leading")
    held = ("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND (classid::bigint << 32 | objid::bigint) = 7263105824 AND objsubid = 1")
    wait_for(lambda: db.scalar(held) == 0, timeout=30,
             what="the alert sweep's lock to be free")
