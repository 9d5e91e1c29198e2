"""The all-repository figures come from the collector's cache of merged buckets (sql/022): a
webhook that lands after the cache was filled shows in the next answer, in the current hour and
in an older day, and the cache's figures equal those of a direct read of the rollup; so they do
after the database was restored from a backup under a running collector (sql/024)."""
import copy
import datetime as dt
import os
import shutil
import subprocess
import threading

import pytest

from harness import PgCluster, collector_on_a_new_database, load_fixture, wait_for
from ghutil import post_webhook, register_repo

REPO_ID = 300029405  # the fixture's repository


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def completed_run(run_id, conclusion, at):
    p = copy.deepcopy(load_fixture("workflow_run.completed.json"))
    r = p["workflow_run"]
    r.update(id=run_id, run_number=run_id, conclusion=conclusion,
             created_at=iso(at - dt.timedelta(minutes=3)),
             run_started_at=iso(at - dt.timedelta(minutes=2)), updated_at=iso(at))
    return p


def send(collector, payload):
    status, out = post_webhook(collector, "workflow_run", payload)
    assert status == 200, out


def figures(collector, window):
    status, body = collector.http("GET", "/api/v1/metrics?window=" + window)
    assert status == 200, body
    return body


def direct(db, window):
    """runs and conclusions of the window straight from the rollup rows (the uncached read)."""
    span, grain = {"24h": ("24 hours", 3600), "30d": ("30 days", 86400)}[window]
    row = db.query("SELECT COALESCE(sum(runs), 0)::bigint AS runs,"
                   " COALESCE(sum(n_success), 0)::bigint AS success,"
                   " COALESCE(sum(n_failure), 0)::bigint AS failure FROM run_rollup_repo"
                   " WHERE grain_s = %s AND t0 >= date_bin(make_interval(secs => %s), now(),"
                   " 'epoch') + make_interval(secs => %s) - interval '" + span + "'",
                   (grain, grain, grain))[0]
    return row["runs"], {k: row[k] for k in ("success", "failure") if row[k]}


def check(collector, db, window, runs):
    body = figures(collector, window)
    assert (body["runs"], body["by_conclusion"]) == direct(db, window), (window, body)
    assert body["runs"] == runs, (window, body)
    assert sum(b["runs"] for b in body["series"]) == runs, (window, body)


def test_a_webhook_after_the_cache_filled_shows_at_once(collector, db):
    register_repo(db, "octo-org/octo-repo", REPO_ID)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    send(collector, completed_run(1001, "success", now - dt.timedelta(minutes=1)))
    check(collector, db, "24h", 1)
    check(collector, db, "30d", 1)
    # The cache holds both windows now; each write below changes a bucket it holds.
    send(collector, completed_run(1002, "failure", now - dt.timedelta(minutes=1)))
    check(collector, db, "24h", 2)
    check(collector, db, "30d", 2)
    send(collector, completed_run(1003, "success", now - dt.timedelta(days=10)))
    check(collector, db, "24h", 2)
    check(collector, db, "30d", 3)
    # A completed run corrected to another conclusion moves between conclusions, not runs.
    send(collector, completed_run(1002, "success", now - dt.timedelta(minutes=1)))
    check(collector, db, "24h", 2)
    assert figures(collector, "24h")["by_conclusion"] == {"success": 2}
    # A change whose record is pruned (the retention sweep's step, twice: an hour behind) before
    # the cache asked: the cache, older than the record kept, reads its window whole again.
    send(collector, completed_run(1004, "failure", now - dt.timedelta(days=2)))
    db.execute("SELECT cipulse_rollup_changes_prune()")
    db.execute("SELECT cipulse_rollup_changes_prune()")
    assert db.query("SELECT count(*) AS n FROM rollup_changes")[0]["n"] == 0
    check(collector, db, "30d", 4)


def test_answers_while_webhooks_land_are_never_older_than_the_request(collector, db):
    """Each answer holds at least every run acknowledged before it was asked for, and no more
    than those sent; at the end, exactly all of them."""
    register_repo(db, "octo-org/octo-repo", REPO_ID)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    n = 40
    acked = [0]
    sent = [0]
    errors = []

    def writer():
        try:
            for i in range(n):
                sent[0] = i + 1
                # Every other one in an older day of the 30-day window.
                at = now - dt.timedelta(minutes=1, days=0 if i % 2 else 3 + i % 5)
                send(collector, completed_run(2000 + i, "success" if i % 3 else "failure", at))
                acked[0] = i + 1
        except AssertionError as e:  # reported by the main thread
            errors.append(e)
    t = threading.Thread(target=writer)
    t.start()
    answers = 0
    while t.is_alive() or answers == 0:
        before = acked[0]
        body = figures(collector, "30d")
        assert before <= body["runs"] <= sent[0], (before, body["runs"], sent[0])
        answers += 1
    t.join()
    assert not errors, errors
    check(collector, db, "30d", n)
    check(collector, db, "24h", n // 2)


def test_a_snapshot_from_the_future_reads_everything_again(db):
    """cipulse_rollup_cells reads whole when the cache's snapshot is not in the past of the
    request's (a restore took transaction ids back), and only what changed when it is."""
    sql = ("SELECT whole FROM cipulse_rollup_cells(%s, 3600, now() - interval '8 days',"
           " now() + interval '1 day', now() - interval '1 day', now(), '{}')"
           " WHERE t0 IS NULL")
    past = db.scalar("SELECT pg_current_snapshot()::text")
    db.execute("SELECT pg_current_xact_id()")  # the current snapshot moves on
    assert db.scalar(sql, (past,)) is False
    assert db.scalar(sql, ("999999999:999999999:",)) is True
    now = db.scalar("SELECT pg_current_snapshot()::text")
    assert db.scalar(sql, (now,)) is False  # the same snapshot: nothing completed since


def xmax(db):
    return int(db.scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text"))


def send_until_stored(collector, payload):
    """Sends until the collector answers 200: after a restart of the database its first
    requests may find the connections they borrowed broken."""
    wait_for(lambda: post_webhook(collector, "workflow_run", payload)[0] == 200, timeout=30,
             what="the webhook stored")


@pytest.mark.parametrize("ids_passed", [False, True], ids=["at-once", "after-the-ids-passed"])
def test_figures_after_the_database_was_restored_from_a_backup(tmp_path, ids_passed):
    """A file-level backup, more runs (the cache reads them, its snapshot moves past the
    backup's transactions), then the backup restored under the running collector: the runs after
    the backup are gone, and the transactions of the restored database get ids that the cache's
    snapshot counts as seen. A run stored after the restore must show, and the runs gone must
    not, at once (the snapshot is from the future: sql/024) and after the restored database's
    ids passed the cache's snapshot (only the reconnection tells then). A cluster of its own:
    the restore takes every database of the cluster back."""
    cluster = PgCluster()
    try:
        with collector_on_a_new_database(cluster) as (db, collector):
            data = os.path.join(cluster.dir, "data")
            backup = str(tmp_path / "data")
            register_repo(db, "octo-org/octo-repo", REPO_ID)
            now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
            send(collector, completed_run(1001, "success", now - dt.timedelta(minutes=1)))
            check(collector, db, "24h", 1)
            check(collector, db, "30d", 1)

            cluster.stop()
            subprocess.run(["cp", "-a", data, backup], check=True)
            cluster.start()
            for i in range(10):  # each a few transactions; each answer the cache's snapshot
                send_until_stored(collector, completed_run(1100 + i, "success",
                                                           now - dt.timedelta(minutes=1)))
                check(collector, db, "24h", 2 + i)
            check(collector, db, "30d", 11)
            cached = xmax(db)  # at least the cache's snapshot's xmax

            cluster.stop()
            shutil.rmtree(data)
            subprocess.run(["cp", "-a", backup, data], check=True)
            cluster.start()
            assert db.scalar("SELECT count(*) FROM workflow_runs") == 1  # the backup's
            send_until_stored(collector, completed_run(1200, "failure",
                                                       now - dt.timedelta(minutes=1)))
            assert xmax(db) <= cached
            if ids_passed:
                conn = db.connect()
                try:
                    with conn.cursor() as cur:
                        while True:
                            cur.execute("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
                            if int(cur.fetchone()[0]) > cached:
                                break
                            cur.execute("SELECT pg_current_xact_id()")
                finally:
                    conn.close()
            wait_for(lambda: collector.http("GET", "/api/v1/metrics?window=24h")[0] == 200,
                     timeout=30, what="metrics answered")
            check(collector, db, "24h", 2)
            check(collector, db, "30d", 2)
            assert figures(collector, "24h")["by_conclusion"] == {"success": 1, "failure": 1}
    finally:
        cluster.destroy()
