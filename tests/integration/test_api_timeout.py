"""The REST API's queries run under CIPULSE_API_TIMEOUT (503 "timeout" with Retry-After instead of
piling up), the pool's own limit applies again to the next user of the connection, and a client
that hangs up cancels its query.

A query is made to wait by holding an ACCESS EXCLUSIVE lock on `repositories` in another session,
with the lock timeout set far above the API timeout so that only the statement timeout can end it.
"""
import socket
import threading
import time

from ghutil import post_webhook, register_repo
from harness import load_fixture

REPO = "Codertocat/Hello-World"


def waiting_on_lock(db):
    """The collector's sessions waiting for a lock on repositories."""
    return db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE %s",
        ("%repositories%",))


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


class Lock:
    """Holds ACCESS EXCLUSIVE on repositories until released."""

    def __init__(self, db):
        self.conn = db.connect()
        self.conn.autocommit = False
        with self.conn.cursor() as cur:
            cur.execute("LOCK TABLE repositories IN ACCESS EXCLUSIVE MODE")

    def release(self):
        self.conn.rollback()
        self.conn.close()


def test_a_slow_query_answers_503_and_the_pool_limit_comes_back(collector_factory, db):
    c = collector_factory(env={"CIPULSE_API_TIMEOUT": "1s", "CIPULSE_DB_LOCK_TIMEOUT": "60s",
                               "CIPULSE_DB_POOL_SIZE": "1"})
    register_repo(db, REPO)
    lock = Lock(db)
    try:
        status, body = c.http("GET", "/api/v1/repos", timeout=30)
    finally:
        lock.release()
    assert status == 503, body
    assert body["error"]["code"] == "timeout", body
    assert "CIPULSE_API_TIMEOUT" in body["error"]["message"]
    # The same (only) connection answers the API again once nothing blocks it.
    status, body = c.http("GET", "/api/v1/repos")
    assert status == 200 and [r["full_name"] for r in body["items"]] == [REPO], body

    # The webhook path borrows that connection next: the pool's 30 s limit, not the API's 1 s,
    # applies to it. Its write waits for the lock longer than 1 s and still succeeds.
    lock = Lock(db)
    result = {}

    def send():
        payload = load_fixture("workflow_job.completed.failure.with-organization.json")
        result["reply"] = post_webhook(c, "workflow_job", payload)

    t = threading.Thread(target=send)
    t.start()
    try:
        wait_for(lambda: waiting_on_lock(db) > 0, what="the webhook to wait for the lock")
        since = time.monotonic()
        wait_for(lambda: time.monotonic() - since > 1.5 or not t.is_alive(),
                 what="1.5 s of waiting")
        assert t.is_alive(), result
    finally:
        lock.release()
    t.join(30)
    assert result["reply"][0] == 200, result


def test_a_client_that_hangs_up_cancels_its_query(collector_factory, db):
    c = collector_factory(env={"CIPULSE_API_TIMEOUT": "120s", "CIPULSE_DB_LOCK_TIMEOUT": "120s"})
    register_repo(db, REPO)
    lock = Lock(db)
    try:
        s = socket.create_connection(("127.0.0.1", c.http_port))
        s.sendall(b"GET /api/v1/repos HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: waiting_on_lock(db) == 1, what="the API query to wait for the lock")
        s.close()
        # Cancelled while the lock is still held: the query no longer waits.
        wait_for(lambda: waiting_on_lock(db) == 0, timeout=20, what="the query to be cancelled")
        wait_for(lambda: "query cancelled, the client hung up" in c.log(), timeout=20,
                 what="the cancellation in the log:\n" + c.log())
    finally:
        lock.release()
    status, body = c.http("GET", "/api/v1/repos")
    assert status == 200, body


def test_an_expensive_request_past_the_limit_waits_for_a_slot(collector_factory, db):
    """Past CIPULSE_MAX_EXPENSIVE_REQUESTS a log search waits for a running one to end (up to
    the pool's wait) instead of answering 503 busy at once. The first search is held by a lock
    on `jobs`, which it joins (not on `repositories`: /metrics reads that)."""
    from ingest_env import metric

    c = collector_factory(env={"CIPULSE_API_TIMEOUT": "120s", "CIPULSE_DB_LOCK_TIMEOUT": "120s",
                               "CIPULSE_MAX_EXPENSIVE_REQUESTS": "1"})
    register_repo(db, REPO)
    replies = []

    def search():
        replies.append(c.http("GET", "/api/v1/logs/search?q=segfault", timeout=60))

    def searches_waiting():
        return db.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s", ("%cipulse_log_search%",))

    lock = db.connect()
    lock.autocommit = False
    threads = [threading.Thread(target=search) for _ in range(2)]
    try:
        with lock.cursor() as cur:
            cur.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
        threads[0].start()
        wait_for(lambda: searches_waiting() == 1, what="the first search to hold the slot")
        threads[1].start()
        wait_for(lambda: (metric(c, "cipulse_http_expensive_waits_total") or 0) >= 1,
                 what="the second search to wait for the slot")
        assert not replies and searches_waiting() == 1, replies  # the second waits in the collector
    finally:
        lock.rollback()
        lock.close()
    for t in threads:
        t.join(60)
    assert [r[0] for r in replies] == [200, 200], replies
    assert not metric(c, "cipulse_http_busy_total"), "a search answered busy"
