"""Webhooks by group commit against the real collector and PostgreSQL: deliveries sent at once are
written several per transaction, each stored once and answered only after its transaction
committed; a delivery the database rejects, a duplicate and a refused one each get their own
answer; a database stopped in the middle of a batch answers 503 to all of it, stores none of it,
and loses nothing once GitHub delivers again.

The commit is held open by the test: a deferred constraint trigger on webhook_deliveries takes a
shared advisory lock that the test holds, so a batch's COMMIT waits (in pg_stat_activity) until
the test lets it go. Nothing about the collector is faked."""
import copy
import re
import threading
import time

import psycopg2
from harness import load_fixture, wait_for
from ghutil import SECRET, post_webhook, register_repo

FIXTURE = "workflow_job.completed.failure.with-organization.json"
GATE_KEY = 4242

GATE_SQL = """
CREATE FUNCTION test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_advisory_xact_lock_shared(%d); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER test_gate AFTER INSERT ON webhook_deliveries
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_gate();
""" % GATE_KEY

# A job the database refuses (a data exception), whichever transaction writes it.
POISON_SQL = """
CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned job' USING ERRCODE = '22023'; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER test_poison BEFORE INSERT OR UPDATE ON jobs
  FOR EACH ROW EXECUTE FUNCTION test_poison();
"""


def job_payload(base, n, name=None):
    p = copy.deepcopy(base)
    p["workflow_job"]["id"] = 7_000_000 + n
    p["workflow_job"]["run_id"] = 8_000_000 + n // 4
    if name:
        p["workflow_job"]["name"] = name
    return p


class Gate:
    """Holds the advisory lock that every commit of a delivery waits for."""

    def __init__(self, db):
        self.db = db
        self.conn = db.connect()
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (GATE_KEY,))

    def waiting(self):
        """Backends of the collector whose COMMIT waits for the gate."""
        return self.db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND query = 'COMMIT'")

    def open(self):
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", (GATE_KEY,))
        self.conn.close()


class Sender(threading.Thread):
    """Sends one delivery; on a 2xx, looks at once whether its delivery is in the database."""

    def __init__(self, collector, db, payload, delivery, start):
        super().__init__(daemon=True)
        self.collector, self.db, self.payload, self.delivery = collector, db, payload, delivery
        self.start_evt = start
        self.status = self.body = self.visible = None
        self.done = threading.Event()

    def run(self):
        conn = psycopg2.connect(self.db.url)
        conn.autocommit = True
        try:
            self.start_evt.wait()
            self.status, self.body = post_webhook(self.collector, "workflow_job", self.payload,
                                                  delivery=self.delivery)
            if 200 <= self.status < 300:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM webhook_deliveries WHERE delivery_id = %s",
                                (self.delivery,))
                    self.visible = cur.fetchone()[0] == 1
        finally:
            conn.close()
            self.done.set()


def metric(text, name):
    m = re.search(r'^%s\{group="webhook"\} (\S+)$' % re.escape(name), text, re.M)
    return float(m.group(1)) if m else 0.0


def queued(collector):
    return metric(collector.http("GET", "/metrics")[1], "cipulse_group_commit_queued")


def hold_a_batch_then_queue(collector, db, gate, base, senders):
    """An opener delivery's COMMIT is held by the gate; then the senders are started together and
    waited for until every one of them is queued for the next batch."""
    start = threading.Event()
    opener = Sender(collector, db, job_payload(base, 999), "opener", start)
    opener.start()
    start.set()
    wait_for(lambda: gate.waiting() >= 1, timeout=60, what="the opener's COMMIT held")
    for s in senders:
        s.start()
    for s in senders:
        s.start_evt.set()
    wait_for(lambda: queued(collector) == len(senders), timeout=60,
             what="%d deliveries queued" % len(senders))
    return opener


def join_all(senders):
    for s in senders:
        s.join(timeout=120)
        assert s.done.is_set(), s.delivery


def send_behind_one_commit(collector, db, base, senders):
    """hold_a_batch_then_queue, then the held COMMIT let go: returns the opener once it and every
    sender are answered."""
    gate = Gate(db)
    try:
        opener = hold_a_batch_then_queue(collector, db, gate, base, senders)
    finally:
        gate.open()
    join_all(senders + [opener])
    return opener


def assert_stored(senders):
    """Each answered 200 stored, and its delivery was in the database when the answer came."""
    for s in senders:
        assert (s.status, s.body.get("status")) == (200, "stored"), (s.delivery, s.body)
        assert s.visible, "%s answered before its commit was visible" % s.delivery


def start_all():
    return threading.Event()


def gated_collector(collector_factory, db):
    # Lock waits of the held commit must not time out while the test looks.
    collector = collector_factory(env={"CIPULSE_DB_LOCK_TIMEOUT": "120s"})
    base = load_fixture(FIXTURE)
    repo = base["repository"]
    register_repo(db, repo["full_name"], repo_id=repo["id"], secret=SECRET)
    db.execute(GATE_SQL)
    return collector, base


def test_deliveries_sent_at_once_are_grouped_and_each_answered_after_its_commit(
        collector_factory, db):
    collector, base = gated_collector(collector_factory, db)
    good = [Sender(collector, db, job_payload(base, i), "good-%d" % i, start_all())
            for i in range(16)]
    # The same delivery twice, at the same time: stored once, the other answer says duplicate.
    dup = [Sender(collector, db, job_payload(base, 100), "dup-1", start_all()) for _ in range(2)]
    senders = good + dup
    gate = Gate(db)
    try:
        opener = hold_a_batch_then_queue(collector, db, gate, base, senders)
        # Nothing is answered while a commit is held: not the held one, not those behind it.
        answered, deadline = [], time.monotonic() + 2
        while not answered and time.monotonic() < deadline:
            time.sleep(0.05)
            answered = [s for s in senders + [opener] if s.done.is_set()]
        assert not answered, [(s.delivery, s.status, s.body) for s in answered]
        assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 0
    finally:
        gate.open()
    join_all(senders + [opener])
    assert_stored(good + [opener])
    assert sorted(s.body["status"] for s in dup) == ["duplicate", "stored"], [s.body for s in dup]
    assert all(s.status == 200 and s.visible for s in dup)
    rows = db.query("SELECT delivery_id FROM webhook_deliveries ORDER BY 1")
    assert sorted(r["delivery_id"] for r in rows) == \
        sorted(["good-%d" % i for i in range(16)] + ["dup-1", "opener"])
    jobs = {r["job_id"] for r in db.query("SELECT job_id FROM jobs")}
    assert jobs == {7_000_000 + i for i in range(16)} | {7_000_100, 7_000_999}
    assert db.scalar("SELECT count(*) FROM steps") == 18 * len(base["workflow_job"]["steps"])

    # The 18 queued behind the held commit went in one transaction.
    text = collector.http("GET", "/metrics")[1]
    n = metric(text, "cipulse_group_commit_size_count")
    total = metric(text, "cipulse_group_commit_size_sum")
    print("transactions %d, deliveries %d" % (n, total))
    assert (n, total) == (2, 19), text[-2000:]


def test_a_bad_delivery_in_a_batch_is_answered_alone(collector_factory, db):
    collector, base = gated_collector(collector_factory, db)
    db.execute(POISON_SQL)
    good = [Sender(collector, db, job_payload(base, i), "good-%d" % i, start_all())
            for i in range(8)]
    # A job the database refuses: the batch is rolled back and written one delivery at a time.
    poison = Sender(collector, db, job_payload(base, 200, name="poison"), "poison-1", start_all())
    # Signed with the repository's secret but naming another repository id: refused.
    other = job_payload(base, 300)
    other["repository"] = dict(other["repository"], id=base["repository"]["id"] + 1)
    denied = Sender(collector, db, other, "denied-1", start_all())
    # Seen before: a duplicate.
    assert post_webhook(collector, "workflow_job", job_payload(base, 400),
                        delivery="seen-1")[0] == 200
    again = Sender(collector, db, job_payload(base, 400), "seen-1", start_all())
    senders = good + [poison, denied, again]
    opener = send_behind_one_commit(collector, db, base, senders)
    assert_stored(good + [opener])
    assert poison.status == 400 and poison.body["error"]["code"] == "invalid", poison.body
    assert denied.status == 403 and denied.body["error"]["code"] == "forbidden", denied.body
    assert (again.status, again.body["status"]) == (200, "duplicate"), again.body
    rows = db.query("SELECT delivery_id FROM webhook_deliveries ORDER BY 1")
    assert sorted(r["delivery_id"] for r in rows) == \
        sorted(["good-%d" % i for i in range(8)] + ["opener", "seen-1"])
    jobs = {r["job_id"] for r in db.query("SELECT job_id FROM jobs")}
    assert jobs == {7_000_000 + i for i in range(8)} | {7_000_400, 7_000_999}
    text = collector.http("GET", "/metrics")[1]
    assert metric(text, "cipulse_group_commit_rollbacks_total") == 1, text[-2000:]


def test_database_stopped_in_the_middle_of_a_batch(collector_factory, db, pg_cluster):
    collector, base = gated_collector(collector_factory, db)
    # The secret is cached by a first delivery, so that the others reach the batch without a
    # database to look it up in.
    assert post_webhook(collector, "workflow_job", job_payload(base, 500),
                        delivery="warm-up")[0] == 200
    payloads = {"batch-%d" % i: job_payload(base, i) for i in range(12)}
    senders = [Sender(collector, db, p, d, start_all()) for d, p in payloads.items()]
    gate = Gate(db)
    stopped = False
    try:
        opener = hold_a_batch_then_queue(collector, db, gate, base, senders)
        # Immediate: a fast stop ends the gate's backend, which lets go of the lock, and the held
        # COMMIT could finish before its own backend is ended (the opener answered 200 now and
        # then). Killed at once, no backend lets go of anything.
        pg_cluster.stop("immediate")
        stopped = True
        join_all(senders + [opener])
    finally:
        if stopped:
            pg_cluster.start()
        else:
            gate.open()
    payloads["opener"] = opener.payload
    for s in senders + [opener]:
        assert s.status == 503, (s.delivery, s.status, s.body)
    # Nothing of either batch is stored, not even in part.
    assert db.scalar("SELECT count(*) FROM webhook_deliveries") == 1
    assert db.scalar("SELECT count(*) FROM jobs") == 1
    assert db.scalar("SELECT count(*) FROM steps") == len(base["workflow_job"]["steps"])

    # GitHub delivers again (the same delivery ids): each stored once, nothing lost.
    def redeliver(d):
        status, body = post_webhook(collector, "workflow_job", payloads[d], delivery=d)
        return status == 200 and body
    for d in payloads:
        body = wait_for(lambda: redeliver(d), timeout=60, what="redelivery of " + d)
        assert body["status"] == "stored", (d, body)
    rows = db.query("SELECT delivery_id FROM webhook_deliveries")
    assert sorted(r["delivery_id"] for r in rows) == sorted(list(payloads) + ["warm-up"])
    assert {r["job_id"] for r in db.query("SELECT job_id FROM jobs")} == \
        {p["workflow_job"]["id"] for p in payloads.values()} | {7_000_500}
    assert db.scalar("SELECT count(*) FROM steps") == \
        14 * len(base["workflow_job"]["steps"])


def test_one_jobs_events_in_one_batch_merge_in_one_transaction(collector_factory, db):
    """A job's queued, in_progress and completed events, and another job of its run, queued
    behind one commit: one transaction writes them (a job or step that comes twice goes into a
    second statement of the batch, not a rollback), and the rows are merged as one by one."""
    collector, base = gated_collector(collector_factory, db)
    done = job_payload(base, 600)
    running = copy.deepcopy(done)
    running["action"] = "in_progress"
    running["workflow_job"].update(status="in_progress", conclusion=None, completed_at=None)
    for step in running["workflow_job"]["steps"]:
        step.update(status="in_progress", conclusion=None, completed_at=None)
    queued_ = copy.deepcopy(running)
    queued_["action"] = "queued"
    queued_["workflow_job"].update(status="queued", started_at=None, steps=[],
                                   workflow_name=None)
    other = job_payload(base, 601)  # the same run (n // 4), another job
    senders = [Sender(collector, db, p, "same-%d" % i, start_all())
               for i, p in enumerate([queued_, running, done, other])]
    opener = send_behind_one_commit(collector, db, base, senders)
    assert_stored(senders + [opener])
    text = collector.http("GET", "/metrics")[1]
    assert metric(text, "cipulse_group_commit_rollbacks_total") == 0, text[-2000:]
    assert (metric(text, "cipulse_group_commit_size_count"),
            metric(text, "cipulse_group_commit_size_sum")) == (2, 5), text[-2000:]
    job = db.query("SELECT status, conclusion, started_at IS NOT NULL AS started, "
                   "completed_at IS NOT NULL AS completed FROM jobs WHERE job_id = %s",
                   (7_000_600,))[0]
    assert job == {"status": "completed", "conclusion": "failure", "started": True,
                   "completed": True}, job
    steps = db.query("SELECT number, status, conclusion FROM steps WHERE job_id = %s "
                     "ORDER BY number", (7_000_600,))
    want = [(s["number"], s["status"], s["conclusion"]) for s in done["workflow_job"]["steps"]]
    assert [(s["number"], s["status"], s["conclusion"]) for s in steps] == want
    run = db.query("SELECT name, head_branch FROM workflow_runs WHERE run_id = %s",
                   (8_000_150,))[0]
    assert run == {"name": base["workflow_job"]["workflow_name"],
                   "head_branch": base["workflow_job"]["head_branch"]}, run
