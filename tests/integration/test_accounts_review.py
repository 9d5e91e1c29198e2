"""Accounts, the review leftovers of issue 12: the last enabled admin cannot be demoted or
disabled (API and command line, race-safe); the command line's user and token changes are in
the audit log."""
import json
import os
import pwd
import threading

from harness import run_checked, wait_for
from test_access import Session, add_user, request

PW = "long-enough-password"


def cli(collector, *args, stdin=None):
    return run_checked([collector.binary, *args], env=collector.env, input=stdin,
                       capture_output=True, text=True, timeout=60)


def admins(db):
    return db.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled")


def test_last_admin_is_kept_api_and_cli(collector, db):
    add_user(collector, "root", "admin", PW)
    add_user(collector, "vera", "viewer", PW)
    s = Session(collector, "root", PW)
    # The last enabled admin: neither demoted nor disabled, by itself or by the admin token.
    for body in ({"role": "viewer"}, {"role": "maintainer"}, {"disabled": True},
                 {"role": "viewer", "disabled": True}):
        for headers in (s.headers(), collector.admin_headers()):
            status, reply, _ = request(collector, "PATCH", "/api/v1/users/root", body, headers)
            assert status == 409 and reply["error"]["code"] == "last_admin", (body, reply)
    p = cli(collector, "user", "disable", "root")
    assert p.returncode == 1 and "no enabled admin would remain" in p.stderr, p.stderr
    assert admins(db) == 1
    # Other changes of the last admin and of other users go through.
    assert request(collector, "PATCH", "/api/v1/users/root", {"display_name": "Root"},
                   s.headers())[0] == 200
    assert request(collector, "PATCH", "/api/v1/users/vera", {"disabled": True},
                   s.headers())[0] == 200
    assert cli(collector, "user", "enable", "vera").returncode == 0
    # With a second admin, the first may go; then the second is the last.
    assert request(collector, "PATCH", "/api/v1/users/vera", {"role": "admin"},
                   s.headers())[0] == 200
    assert cli(collector, "user", "disable", "root").returncode == 0
    status, reply, _ = request(collector, "PATCH", "/api/v1/users/vera", {"role": "viewer"},
                               collector.admin_headers())
    assert status == 409 and reply["error"]["code"] == "last_admin"
    # A disabled admin does not count, and may be changed freely.
    assert request(collector, "PATCH", "/api/v1/users/root", {"role": "viewer"},
                   collector.admin_headers())[0] == 200
    assert admins(db) == 1


def test_two_admins_demoting_each_other_at_once_leave_one(collector, db):
    """Both requests pass their check before either commits (the audit entry, the last write
    of each, waits on a lock the test holds): the guard's row locks make the second one see
    the first's change and refuse."""
    add_user(collector, "ann", "admin", PW)
    add_user(collector, "bob", "admin", PW)
    sessions = {n: Session(collector, n, PW) for n in ("ann", "bob")}
    holder = db.connect()
    results = {}
    try:
        holder.autocommit = False
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE audit_log IN SHARE MODE")

        def demote(by, whom):
            results[whom] = request(collector, "PATCH", "/api/v1/users/" + whom,
                                    {"role": "viewer"}, sessions[by].headers())
        threads = [threading.Thread(target=demote, args=("ann", "bob")),
                   threading.Thread(target=demote, args=("bob", "ann"))]
        for t in threads:
            t.start()
        wait_for(lambda: db.scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type"
                                   " = 'Lock' AND query LIKE '%%users%%' OR wait_event_type ="
                                   " 'Lock' AND query LIKE '%%audit_log%%'") >= 2,
                 timeout=60, what="both changes waiting")
    finally:
        holder.rollback()
        holder.close()
    for t in threads:
        t.join(60)
    statuses = sorted(r[0] for r in results.values())
    assert statuses == [200, 409], results
    assert admins(db) == 1


def test_cli_changes_are_audited(collector, db):
    me = "cli:" + pwd.getpwuid(os.getuid()).pw_name
    add_user(collector, "root", "admin", PW)
    assert cli(collector, "user", "add", "vera", "--role", "viewer", "--password-stdin",
               "--display-name", "Vera", stdin=PW + "\n").returncode == 0
    assert cli(collector, "user", "reset", "vera", "--password-stdin",
               stdin="another-password-2\n").returncode == 0
    assert cli(collector, "user", "disable", "vera").returncode == 0
    assert cli(collector, "user", "enable", "vera").returncode == 0
    p = cli(collector, "token", "create", "--kind", "ingest", "--repo", "octo/cli",
            "--description", "ci")
    assert p.returncode == 0, p.stderr
    secret = p.stdout.strip()
    tid = db.scalar("SELECT max(id) FROM api_tokens")
    assert cli(collector, "token", "revoke", str(tid)).returncode == 0
    # Refused changes leave no entry.
    assert cli(collector, "user", "disable", "root").returncode == 1
    assert cli(collector, "token", "revoke", str(tid)).returncode == 1
    status, log, _ = request(collector, "GET", "/api/v1/audit?actor=" + me,
                             headers=collector.admin_headers())
    assert status == 200, log
    entries = list(reversed(log["entries"]))
    assert [(e["action"], e["target"]) for e in entries] == [
        ("user.create", "root"), ("user.create", "vera"), ("user.update", "vera"),
        ("user.update", "vera"), ("user.update", "vera"),
        ("token.create", "token:%d" % tid), ("token.revoke", "token:%d" % tid)], entries
    assert {e["actor_kind"] for e in entries} == {"cli"}
    assert {e["remote_addr"] for e in entries} == {None}
    create, reset, disable, enable, tcreate, trevoke = entries[1:]
    assert create["before"] is None and create["after"]["role"] == "viewer"
    assert create["after"]["display_name"] == "Vera"
    assert reset["after"]["password_changed"] is True
    assert disable["before"]["disabled"] is False and disable["after"]["disabled"] is True
    assert enable["after"]["disabled"] is False
    assert tcreate["after"]["kind"] == "ingest" and tcreate["after"]["repository"] == "octo/cli"
    assert trevoke["before"]["id"] == tid and trevoke["after"] is None
    text = json.dumps(entries)
    for s in (PW, "another-password-2", secret, "argon2"):
        assert s not in text, s


def test_login_limit_holds_across_collectors(collector_factory, db):
    """The sign-in failure counters are in the database: failures spread over two collectors
    add up, and each collector then refuses (429, the same generic messages), until the window
    has passed."""
    env = {"CIPULSE_LOGIN_MAX_FAILURES": "3", "CIPULSE_LOGIN_WINDOW": "10m"}
    a = collector_factory(env=env)
    b = collector_factory(env=env)
    add_user(a, "vera", "viewer", PW)
    wrong = {"username": "vera", "password": "wrong-password"}
    right = {"username": "vera", "password": PW}
    for col in (a, b, a):
        status, body, _ = request(col, "POST", "/api/v1/session", wrong)
        assert status == 401 and body == {"error": {
            "code": "unauthorized", "message": "invalid username or password"}}, body
    for col in (a, b):
        status, body, h = request(col, "POST", "/api/v1/session", right)
        assert status == 429 and body["error"]["code"] == "too_many_attempts", body
        assert 0 < int(h["Retry-After"]) <= 600
    # Counted by address and by account (a digest of the name, never the name itself).
    keys = {r["key"]: r["failures"] for r in db.query("SELECT key, failures FROM login_failures")}
    assert sorted(keys.values()) == [3, 3] and "a:127.0.0.1" in keys, keys
    assert not any("vera" in k for k in keys)
    # The window passes: the counts no longer hold, and the next failure starts them afresh.
    db.execute("UPDATE login_failures SET window_start = now() - interval '11 minutes'")
    assert request(b, "POST", "/api/v1/session", wrong)[0] == 401
    assert sorted(r["failures"] for r in db.query("SELECT failures FROM login_failures")) == [1, 1]
    assert request(a, "POST", "/api/v1/session", right)[0] == 200
