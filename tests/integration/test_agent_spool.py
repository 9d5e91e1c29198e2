"""The agent's spool under hostile conditions (issue 9, section 5).

- Reports are spooled per repository: a job flushes only its own repository's reports, with its
  own token; a report refused for its credential waits for that repository's next job. Spools of
  the old layout (reports directly in the spool directory) are sorted into their repository.
- A file-size limit (`ulimit -f`, SIGXFSZ) or a full file system while spooling: the agent is not
  killed, warns, exits 0 and leaves no temporary file; flush removes temporary files that a
  killed writer left (but not one that a live writer holds).
- At least once: a report answered UNAVAILABLE although the collector had committed it is sent
  again, and the retry changes nothing in the database.

Real agent; a recording gRPC stand-in where the test needs to script answers, the real collector
and PostgreSQL for the at-least-once contract.
"""
import fcntl
import os
import subprocess
import threading
import time
from concurrent import futures

import grpc
import pytest

from agent_fakes import AGENT, FakeCollector, FakeGitHub, agent_env, make_job, run_agent, spooled
from harness import run_checked

pytestmark = pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")

REPO_A = dict(GITHUB_REPOSITORY="o/a", GITHUB_REPOSITORY_ID="101", CIPULSE_TOKEN="tok-a-0123456789")
REPO_B = dict(GITHUB_REPOSITORY="o/b", GITHUB_REPOSITORY_ID="202", CIPULSE_TOKEN="tok-b-0123456789")
TOKENS = {101: "Bearer tok-a-0123456789", 202: "Bearer tok-b-0123456789"}


@pytest.fixture
def collector(fake_collector):
    return fake_collector


@pytest.fixture
def github(fake_github):
    t0 = int(time.time() * 1000) - 60000
    fake_github.jobs = [make_job(303, "build", status="in_progress", runner="runner-1", t0=t0,
                                 steps=[("Set up job", "success", t0, t0 + 1000)])]
    return fake_github


def temporaries(spool):
    return sorted(os.path.relpath(os.path.join(root, f), spool)
                  for root, dirs, files in os.walk(spool) for f in files if f.startswith(".tmp-"))


def env_of(github, collector_addr, spool, repo, **extra):
    # A send budget that a loaded machine does not use up where the report must go through (the
    # budget counts from the agent's start, and what is left of it flushes the spool); tests of
    # an unreachable collector set a short one.
    extra.setdefault("CIPULSE_SEND_BUDGET", "60s")
    return agent_env(github.url, collector_addr, spool, CIPULSE_JOB_ID=303, **repo, **extra)


def assert_each_report_sent_with_its_own_token(collector):
    for rep in collector.reports:
        repo_id = rep.header["repository"]["id"]
        assert rep.metadata.get("authorization") == TOKENS[repo_id], \
            "report of repository %d sent with another repository's token" % repo_id


def report_repos(collector):
    return [rep.header["repository"]["id"] for rep in collector.reports]


def test_a_job_flushes_only_its_own_repositorys_reports(github, collector, spool):
    # Repository A's token is refused: its report is kept for A's next job.
    collector.script = [grpc.StatusCode.UNAUTHENTICATED]
    r = run_agent(["--job-status=success"], env_of(github, collector.addr, spool, REPO_A))
    assert r.returncode == 0, r.stderr
    assert b"UNAUTHENTICATED" in r.stdout
    assert len(spooled(spool)) == 1

    # Repository B's job on the same runner: its report goes, A's stays.
    r = run_agent(["--job-status=success"], env_of(github, collector.addr, spool, REPO_B))
    assert r.returncode == 0, r.stderr
    assert_each_report_sent_with_its_own_token(collector)
    assert report_repos(collector) == [202]
    assert len(spooled(spool)) == 1
    # Nor does an explicit flush by B touch it.
    r = run_agent(["flush"], env_of(github, collector.addr, spool, REPO_B))
    assert r.returncode == 0, r.stderr
    assert report_repos(collector) == [202]
    assert len(spooled(spool)) == 1

    # A's next job (its token fixed) sends its new report and the spooled one.
    r = run_agent(["--job-status=success"], env_of(github, collector.addr, spool, REPO_A))
    assert r.returncode == 0, r.stderr
    assert_each_report_sent_with_its_own_token(collector)
    assert report_repos(collector) == [202, 101, 101]
    assert spooled(spool) == []


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAUTHENTICATED,
                                  grpc.StatusCode.PERMISSION_DENIED])
def test_report_refused_for_its_credential_at_flush_waits(github, collector, spool, code):
    collector.script = [grpc.StatusCode.UNAVAILABLE] * 50
    env = env_of(github, collector.addr, spool, REPO_A, CIPULSE_SEND_BUDGET="300ms")
    assert run_agent(["--job-status=success"], env).returncode == 0
    name, = spooled(spool)
    collector.script = [code]
    env["CIPULSE_SEND_BUDGET"] = "60s"  # the collector answers from here on
    r = run_agent(["flush"], env)
    assert r.returncode == 0, r.stderr
    assert spooled(spool) == [name]  # kept, not dropped
    assert b"1 spooled report(s) not delivered yet" in r.stdout
    r = run_agent(["flush", "--strict"], env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert spooled(spool) == []
    assert report_repos(collector) == [101]
    assert_each_report_sent_with_its_own_token(collector)


def test_spool_of_the_old_layout_is_sorted_into_repositories(github, collector, spool):
    """Reports spooled by an older agent lie directly in the spool directory, whoever they
    belong to: each goes to its own repository (read from the report header), never to another."""
    for repo in (REPO_A, REPO_B):
        collector.script = [grpc.StatusCode.UNAUTHENTICATED]
        assert run_agent(["--job-status=success"],
                         env_of(github, collector.addr, spool, repo)).returncode == 0
    files = spooled(spool)
    assert len(files) == 2
    for f in files:  # the old layout: the same bytes, directly in the spool directory
        if os.path.dirname(f):
            os.rename(os.path.join(spool, f), os.path.join(spool, os.path.basename(f)))
    assert all("/" not in f for f in spooled(spool))

    third = dict(REPO_B, GITHUB_REPOSITORY="o/c", GITHUB_REPOSITORY_ID="303")
    r = run_agent(["flush"], env_of(github, collector.addr, spool, third))
    assert r.returncode == 0, r.stderr
    assert collector.reports == []
    assert len(spooled(spool)) == 2

    r = run_agent(["flush", "--strict"], env_of(github, collector.addr, spool, REPO_B))
    assert r.returncode == 0, r.stdout + r.stderr
    assert report_repos(collector) == [202]
    r = run_agent(["flush", "--strict"], env_of(github, collector.addr, spool, REPO_A))
    assert r.returncode == 0, r.stdout + r.stderr
    assert report_repos(collector) == [202, 101]
    assert_each_report_sent_with_its_own_token(collector)
    assert spooled(spool) == []


def big_log(tmp_path, kib):
    """A log file whose tail (100 lines) is about `kib` KiB."""
    p = tmp_path / "build.log"
    line = ("x" * (kib * 1024 // 100 - 10))
    p.write_text("".join("%04d %s\n" % (i, line) for i in range(100)))
    return str(p)


def test_file_size_limit_while_spooling_warns_and_exits_0(github, spool, tmp_path):
    down = FakeCollector()
    addr = down.addr
    down.stop()  # nothing listens there
    env = env_of(github, addr, spool, REPO_A, CIPULSE_SEND_BUDGET="300ms",
                 CIPULSE_LOG_FILES=big_log(tmp_path, 40))
    # bash's `ulimit -f` counts KiB: the report (~40 KiB) cannot be written whole.
    p = run_checked(["bash", "-c", 'ulimit -f 16; exec "$0" "$@"', AGENT,
                     "--job-status=success"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert b"::warning::cipulse:" in p.stdout and b"File too large" in p.stdout, p.stdout
    assert temporaries(spool) == []
    assert spooled(spool) == []
    # A small report still fits under the same limit.
    env["CIPULSE_LOG_FILES"] = ""
    p = run_checked(["bash", "-c", 'ulimit -f 16; exec "$0" "$@"', AGENT,
                     "--job-status=success"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    assert len(spooled(spool)) == 1 and temporaries(spool) == []


def test_exec_child_keeps_the_default_file_size_signal(spool, tmp_path):
    """The agent ignores SIGXFSZ for itself only: the user's command behaves as without it."""
    env = agent_env("http://127.0.0.1:9", "127.0.0.1:9", spool)
    out = tmp_path / "big"
    p = run_checked(["bash", "-c", 'ulimit -f 4; exec "$0" "$@"', AGENT, "exec", "--",
                     "sh", "-c", "head -c 20000 /dev/zero > %s" % out],
                    env=env, capture_output=True, timeout=60)
    assert p.returncode == 128 + 25, (p.returncode, p.stdout, p.stderr)  # killed by SIGXFSZ


@pytest.fixture
def small_fs(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True)
    if p.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN)")
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)


def test_full_file_system_while_spooling_warns_and_exits_0(github, small_fs, tmp_path):
    spool = os.path.join(small_fs, "spool")
    os.makedirs(os.path.join(spool, "home"))
    with open(os.path.join(small_fs, "filler"), "wb") as f:
        f.write(b"\0" * 40 * 1024)
    down = FakeCollector()
    addr = down.addr
    down.stop()
    env = env_of(github, addr, spool, REPO_A, CIPULSE_SEND_BUDGET="300ms",
                 CIPULSE_LOG_FILES=big_log(tmp_path, 40))
    r = run_agent(["--job-status=success"], env)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert b"::warning::cipulse:" in r.stdout and b"No space left on device" in r.stdout, r.stdout
    assert temporaries(spool) == []
    assert spooled(spool) == []


def test_flush_removes_temporary_files_of_dead_writers_only(github, collector, spool):
    collector.script = [grpc.StatusCode.UNAUTHENTICATED]
    env = env_of(github, collector.addr, spool, REPO_A)
    assert run_agent(["--job-status=success"], env).returncode == 0
    name, = spooled(spool)
    repo_dir = os.path.dirname(os.path.join(spool, name))
    # Left by writers that were killed mid-write (old layout and new), and by exec.
    os.makedirs(os.path.join(spool, "exec"), exist_ok=True)
    dead = [os.path.join(spool, ".tmp-999999-0000000000001-x.cpr"),
            os.path.join(repo_dir, ".tmp-999998-0000000000002-y.cpr"),
            os.path.join(spool, "exec", ".tmp-999997-z.json")]
    for p in dead:
        with open(p, "wb") as f:
            f.write(b"CPSPOOL1half a rep")
    # A writer that is alive holds a lock on its temporary file.
    live = os.path.join(repo_dir, ".tmp-%d-0000000000003-w.cpr" % os.getpid())
    fd = os.open(live, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        r = run_agent(["flush", "--strict"], env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert spooled(spool) == []
        for p in dead:
            assert not os.path.exists(p), p
        assert os.path.exists(live)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ at least once, for real

class LosingProxy:
    """A gRPC pass-through to the real collector that, on the first call, lets the collector
    commit the report and then answers UNAVAILABLE, as if the connection broke before the
    acknowledgement arrived. `on_lost` runs between the commit and the lost answer."""

    def __init__(self, upstream, on_lost):
        self.calls = 0
        self.acks = []
        self.lock = threading.Lock()
        self.on_lost = on_lost
        self.channel = grpc.insecure_channel(upstream)
        self.report = self.channel.stream_unary("/cipulse.v1.Collector/Report")
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.method_handlers_generic_handler("cipulse.v1.Collector", {
            "Report": grpc.stream_unary_rpc_method_handler(self._report),
        })
        self.server.add_generic_rpc_handlers((handler,))
        self.addr = "127.0.0.1:%d" % self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _report(self, request_iterator, context):
        raw = list(request_iterator)
        md = [(k, v) for k, v in context.invocation_metadata() if k == "authorization"]
        ack = self.report(iter(raw), metadata=md, timeout=30)
        with self.lock:
            self.calls += 1
            first = self.calls == 1
            self.acks.append(ack)
        if first:
            self.on_lost()
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset before the answer")
        return ack

    def stop(self):
        self.server.stop(0).wait()
        self.channel.close()


def dump(db):
    """Every row of every table, as text, in a stable order (but the leader lease, which the
    collector renews on its own clock whatever reports do)."""
    tables = [r["table_name"] for r in db.query(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
        "AND table_name <> 'cluster_leases' ORDER BY table_name")]
    return {t: sorted(r["row"] for r in db.query("SELECT to_jsonb(x)::text AS row FROM %s x" % t))
            for t in tables}


def test_retry_after_unavailable_for_a_committed_report_changes_nothing(collector_factory, db,
                                                                         spool, tmp_path):
    col = collector_factory()
    token = col.create_token("o/r")
    gh = FakeGitHub()
    t0 = int(time.time() * 1000) - 60000
    gh.jobs = [make_job(303, "build", status="in_progress", runner="runner-1", t0=t0,
                        steps=[("Set up job", "success", t0, t0 + 1000),
                               ("Run make", "failure", t0 + 1000, t0 + 5000)])]
    log = tmp_path / "make.log"
    log.write_text("cc -c a.c\na.c:1: error: expected ';'\n")
    after_commit = {}
    proxy = LosingProxy(col.grpc_addr, lambda: after_commit.update(dump(db)))
    try:
        env = agent_env(gh.url, proxy.addr, spool, CIPULSE_TOKEN=token, CIPULSE_JOB_ID=303,
                        CIPULSE_LOG_FILES=str(log), CIPULSE_SEND_BUDGET="20s")
        r = run_agent(["--job-status=failure", "--strict"], env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert proxy.calls == 2  # the lost answer, then the retry
        assert b"duplicate=1" in r.stderr, r.stderr
        assert spooled(spool) == []
        assert after_commit["reports"] and after_commit["jobs"] and after_commit["logs"]
        assert dump(db) == after_commit
        assert db.scalar("SELECT count(*) FROM reports") == 1
    finally:
        proxy.stop()
        gh.stop()
