"""Test results through the real cipulse-agent: JUnit files written by real pytest and Node at
test time, hostile XML (billion laughs, external entities, a 200 MB file, truncated, invalid
UTF-8, NUL bytes), and collectors older than test results (a real build of main@1fd96e9's
collector, and the recording stand-in answering like it), and end to end into PostgreSQL.

What the agent sends is decoded independently (pbwire.py); what the real collector stores is
read from PostgreSQL.
"""
import os
import re
import shutil
import subprocess
import time

import grpc
import pytest

from agent_fakes import AGENT, BUILD, REPO_ROOT, FakeGitHub, agent_env, frames, make_job, \
    run_agent, spooled
from harness import Collector, run_checked
from pbwire import CHUNK, FAILED, ERROR, PASSED, SKIPPED, decode, fields

pytestmark = pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")

TOKEN = "cip_ingest_secret_0123456789"
JOB_ID = 303
# The commit on main just before test results existed: its collector is "an old collector".
OLD_COMMIT = "1fd96e9"

PYTEST_SRC = '''
import os
import pytest

def test_ok():
    pass

def test_leaks_token():
    assert os.environ["LEAK"] == "nope", "token was " + os.environ["LEAK"]

@pytest.fixture
def broken():
    raise RuntimeError("no database")

def test_errors(broken):
    pass

@pytest.mark.skip(reason="later")
def test_skipped():
    pass
'''

NODE_SRC = '''
import { test } from 'node:test';
import assert from 'node:assert';
test('node ok', () => {});
test('node fails', () => { assert.strictEqual(1, 2, 'one is not two'); });
'''


def now_ms():
    return int(time.time() * 1000)


def this_job(t0):
    return [make_job(JOB_ID, "test", status="in_progress", runner="runner-1", t0=t0,
                     steps=[("Set up job", "success", t0, t0 + 1000),
                            ("Run tests", "failure", t0 + 1000, t0 + 9000),
                            ("cipulse", None, t0 + 9000, None)])]


def cases_of(report):
    """(all test cases of the report's batches, truncated flag of the last batch)."""
    cases = [c for b in report.tests for c in b.get("cases", [])]
    return cases, bool(report.tests and report.tests[-1].get("truncated"))


def by_name(cases):
    return {c["name"]: c for c in cases}


def write_real_junit(ws, leak=TOKEN):
    """JUnit files from the real tools of this machine, in ws/reports/; the failing pytest test
    prints `leak` (the ingest token the agent runs with) in its message."""
    reports = ws / "reports"
    reports.mkdir(parents=True)
    (ws / "test_leak.py").write_text(PYTEST_SRC)
    env = dict(os.environ, LEAK=leak)
    subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--junitxml", str(reports / "pytest.xml"), "test_leak.py"],
                   cwd=ws, env=env, capture_output=True, timeout=120)
    assert (reports / "pytest.xml").exists()
    node = shutil.which("node")
    if node:
        (ws / "sample.test.mjs").write_text(NODE_SRC)
        subprocess.run([node, "--test", "--test-reporter=junit",
                        "--test-reporter-destination=" + str(reports / "node.xml"),
                        "sample.test.mjs"], cwd=ws, capture_output=True, timeout=120)
        assert (reports / "node.xml").exists()
    return node is not None


def test_real_pytest_and_node_results_on_the_wire(fake_github, fake_collector, spool, tmp_path):
    ws = tmp_path / "ws"
    have_node = write_real_junit(ws)
    fake_github.jobs = this_job(now_ms() - 60000)
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_WORKSPACE=ws,
                    CIPULSE_TEST_RESULTS="reports/py*.xml\nreports/node.xml, reports/none-*.xml")
    r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env)
    assert r.returncode == 0, r.stderr
    # The pattern that matches nothing is named; nothing else is wrong.
    warnings = [l for l in r.stdout.decode().splitlines() if l.startswith("::warning::")]
    assert len(warnings) == 1 and "none-*.xml" in warnings[0], warnings
    (rep,) = fake_collector.reports
    cases, truncated = cases_of(rep)
    assert not truncated
    assert all(b["job_id"] == JOB_ID for b in rep.tests)
    got = by_name(cases)
    assert got["test_ok"]["result"] == PASSED
    assert got["test_ok"]["suite"] == "pytest"
    assert got["test_ok"]["class_name"] == "test_leak"
    assert got["test_leaks_token"]["result"] == FAILED
    assert "token was ***" in got["test_leaks_token"]["message"]
    assert got["test_errors"]["result"] == ERROR
    assert "no database" in got["test_errors"]["message"]
    assert got["test_skipped"]["result"] == SKIPPED
    assert "message" not in got["test_skipped"]  # "" is not sent
    if have_node:
        assert got["node ok"]["result"] == PASSED
        assert got["node fails"]["result"] == FAILED
        assert "one is not two" in got["node fails"]["message"]
        assert got["node fails"].get("duration_us", 0) > 0
    # The ingest token itself appears nowhere in what was sent.
    assert all(TOKEN.encode() not in m for m in rep.raw)


def test_retries_on_the_wire(fake_github, fake_collector, spool, tmp_path):
    """Surefire's retry records through the real agent: a test that passed on its retry is sent
    passed with retries (flaky); one that kept failing, failed with its reruns counted."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "surefire.xml").write_bytes(
        open(os.path.join(REPO_ROOT, "tests", "fixtures", "junit", "surefire.xml"), "rb").read())
    fake_github.jobs = this_job(now_ms() - 60000)
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_WORKSPACE=ws,
                    CIPULSE_TEST_RESULTS="surefire.xml")
    r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env)
    assert r.returncode == 0, r.stderr
    (rep,) = fake_collector.reports
    got = by_name(cases_of(rep)[0])
    assert got["retriesPayment"]["result"] == PASSED
    assert got["retriesPayment"].get("retries") == 1, got["retriesPayment"]
    assert got["cancelsOrder"]["result"] == FAILED
    assert got["cancelsOrder"].get("retries") == 2, got["cancelsOrder"]


def write_hostile(d):
    """The hostile set, with one good file among them; returns the good file's test names."""
    d.mkdir(parents=True)
    (d / "good.xml").write_text(
        "<testsuite name='good'><testcase classname='c' name='fine' time='0.5'/>"
        "<testcase classname='c' name='bad'><failure message='boom'>trace</failure>"
        "</testcase></testsuite>")
    (d / "laughs.xml").write_text(
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        + "".join("<!ENTITY lol%d '%s'>" % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10)
                  for i in range(1, 10))
        + "]><testsuite><testcase name='&lol9;'/></testsuite>")
    (d / "xxe.xml").write_text(
        "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
        "<testsuite><testcase name='xxe'><failure>&x;</failure></testcase></testsuite>")
    (d / "truncated.xml").write_text(
        "<testsuite name='cut'><testcase name='before-cut'/><testcase name='half")
    (d / "utf8.xml").write_bytes(
        b"<testsuite name='u'><testcase name='bad\xff\xfebytes'>"
        b"<failure message='m\xc3'>x\xed\xa0\x80y</failure></testcase></testsuite>")
    (d / "nul.xml").write_bytes(
        b"<testsuite name='n'><testcase name='nul\x00name'/><testcase name='after\x00'/>"
        b"</testsuite>")
    # 200 MB: three tests and a huge <system-out> and failure text, streamed, never held.
    with open(d / "huge.xml", "wb") as f:
        f.write(b"<testsuite name='huge'><testcase name='h1'/>"
                b"<testcase name='h2'><failure message='long'>")
        block = b"0123456789abcdef" * 4096
        for _ in range(96 * 16):  # 96 MiB of failure text (64 KiB blocks)
            f.write(block)
        f.write(b"</failure></testcase><system-out>")
        for _ in range(104 * 16):  # 104 MiB of output
            f.write(block)
        f.write(b"</system-out><testcase name='h3'/></testsuite>")
    assert os.path.getsize(d / "huge.xml") > 200 * 1000 * 1000
    return ["fine", "bad", "before-cut", "bad\ufffd\ufffdbytes", "nulname", "after", "h1",
            "h2", "h3"]


def run_measured(args, env):
    """The agent under /usr/bin/time: (result, peak RSS in KiB)."""
    r = run_checked(["/usr/bin/time", "-f", "cipulse-maxrss=%M", AGENT] + args, env=env,
                    capture_output=True, timeout=300)
    m = re.search(rb"cipulse-maxrss=(\d+)", r.stderr)
    assert m, r.stderr[-2000:]
    return r, int(m.group(1))


@pytest.mark.skipif(not os.path.exists("/usr/bin/time"), reason="needs /usr/bin/time")
def test_hostile_files_through_the_real_agent(fake_github, fake_collector, spool, tmp_path):
    d = tmp_path / "ws" / "junit"
    names = write_hostile(d)
    log = tmp_path / "build.log"
    log.write_text("compiling\nlinking\n")
    fake_github.jobs = this_job(now_ms() - 60000)
    args = ["report", "--job-id", str(JOB_ID), "--job-status", "failure"]

    # The same agent and report without test results: the baseline of its memory.
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_WORKSPACE=tmp_path / "ws",
                    CIPULSE_LOG_FILES=log)
    r, base_kib = run_measured(args, env)
    assert r.returncode == 0, r.stderr

    env["CIPULSE_TEST_RESULTS"] = "junit/*.xml"
    r, kib = run_measured(args, env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    # A clear warning naming each refused or broken file; the good ones read silently.
    for bad, why in [("laughs.xml", "refused"), ("xxe.xml", "refused"),
                     ("truncated.xml", "(unclosed token|no element found)")]:
        assert re.search(r"::warning::cipulse: test results \"[^\"]*%s\" not read whole: .*%s"
                         % (re.escape(bad), why), out), out
    for fine in ("good.xml", "huge.xml", "utf8.xml", "nul.xml"):
        assert fine not in out, out
    # Fixed memory: 200 MB of JUnit cost the agent far less than the file.
    assert kib - base_kib < 64 * 1024, (base_kib, kib)

    assert len(fake_collector.reports) == 2
    rep = fake_collector.reports[1]
    # The rest of the report is all there: the job, its steps and the log file's tail.
    assert rep.job(JOB_ID)["name"] == "test"
    assert "linking" in rep.tails()[(JOB_ID, 0)][0]
    cases, truncated = cases_of(rep)
    assert truncated  # some files could not be read whole
    assert sorted(c["name"] for c in cases) == sorted(names)
    got = by_name(cases)
    assert got["bad"]["message"] == "boom\ntrace"
    assert got["h2"]["result"] == FAILED
    assert got["h2"]["message"].startswith("long\n0123456789abcdef")
    assert len(got["h2"]["message"].encode()) <= 4096
    assert re.fullmatch("m\ufffd\nx\ufffd+y", got["bad\ufffd\ufffdbytes"]["message"])
    # Nothing of /etc/passwd anywhere: not on the wire, not in the output, not spooled.
    passwd = open("/etc/passwd", "rb").read().splitlines()[0]
    for m in rep.raw:
        assert b"root:" not in m and passwd not in m
    assert b"root:" not in r.stdout and b"root:" not in r.stderr
    assert spooled(spool) == []


@pytest.mark.skipif(not os.path.exists("/usr/bin/time"), reason="needs /usr/bin/time")
def test_hostile_files_report_stored_by_the_real_collector(collector, db, tmp_path):
    """The same hostile set against the real collector: jobs, steps and logs are stored."""
    token = collector.create_token("o/r")
    d = tmp_path / "ws" / "junit"
    write_hostile(d)
    log = tmp_path / "build.log"
    log.write_text("compiling\nlinking\n")
    spool = str(tmp_path / "spool")
    os.makedirs(os.path.join(spool, "home"))
    gh = FakeGitHub()
    try:
        gh.jobs = this_job(now_ms() - 60000)
        env = agent_env(gh.url, collector.grpc_addr, spool, GITHUB_WORKSPACE=tmp_path / "ws",
                        CIPULSE_TOKEN=token, CIPULSE_LOG_FILES=log,
                        CIPULSE_TEST_RESULTS="junit/*.xml")
        r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env,
                      timeout=300)
    finally:
        gh.stop()
    assert r.returncode == 0, r.stderr
    assert b"delivered" in r.stderr, r.stderr
    assert spooled(spool) == []
    assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = %s", (JOB_ID,)) == 1
    assert db.scalar("SELECT count(*) FROM steps WHERE job_id = %s", (JOB_ID,)) == 3
    texts = [row["content"]
             for row in db.query("SELECT content FROM logs WHERE job_id = %s", (JOB_ID,))]
    assert any("linking" in t for t in texts), texts
    assert not any("root:" in t for t in texts)
    # The tests read before each error are stored too, and the job says some are missing.
    results = {row["name"]: row["result"] for row in db.query(
        "SELECT t.name, r.result FROM test_results r JOIN tests t USING (repo_id, test_id) "
        "WHERE r.job_id = %s", (JOB_ID,))}
    assert results["fine"] == "passed" and results["bad"] == "failed"
    assert results["before-cut"] == "passed" and results["h2"] == "failed"
    assert db.scalar("SELECT tests_truncated FROM jobs WHERE job_id = %s", (JOB_ID,))
    assert not any("root:" in (row["message"] or "")
                   for row in db.query("SELECT message FROM test_results"))


def old_collector_binary():
    """cipulsed as of main@1fd96e9 (before test results), built once per build directory from
    `git archive` of that commit; None when the commit is not in this clone."""
    out = os.path.join(BUILD, "old-collector-" + OLD_COMMIT)
    binary = os.path.join(out, "build", "cipulsed")
    if os.path.exists(binary):
        return binary
    if subprocess.run(["git", "-C", REPO_ROOT, "cat-file", "-e", OLD_COMMIT + "^{commit}"],
                      capture_output=True).returncode != 0:
        return None
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    archive = subprocess.run(["git", "-C", REPO_ROOT, "archive", OLD_COMMIT],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
    subprocess.run(["make", "-s", "-j2", "WERROR=0", "build/cipulsed"], cwd=tmp, check=True,
                   capture_output=True, timeout=1800)
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return binary


def test_old_collector_gets_the_report_without_tests(empty_db, tmp_path):
    db = empty_db  # the old collector migrates its own, older schema
    binary = old_collector_binary()
    if binary is None:
        pytest.skip("commit %s is not in this clone" % OLD_COMMIT)
    col = Collector(db, binary=binary).start()
    gh = FakeGitHub()
    try:
        token = col.create_token("o/r")
        ws = tmp_path / "ws"
        write_real_junit(ws)
        spool = str(tmp_path / "spool")
        os.makedirs(os.path.join(spool, "home"))
        gh.jobs = this_job(now_ms() - 60000)
        env = agent_env(gh.url, col.grpc_addr, spool, GITHUB_WORKSPACE=ws, CIPULSE_TOKEN=token,
                        CIPULSE_TEST_RESULTS="reports/pytest.xml")
        r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode()
        assert out.count("collector too old for test results") == 1, out
        assert spooled(spool) == []
        assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = %s", (JOB_ID,)) == 1
        assert db.scalar("SELECT count(*) FROM steps WHERE job_id = %s", (JOB_ID,)) == 3
    finally:
        gh.stop()
        col.stop()


def test_spooled_report_keeps_its_tests(fake_github, fake_collector, spool, tmp_path):
    """Collector down: the spooled report holds its test batches. Flushed later to a collector
    answering like an old one, it goes without them (one warning); the file is then gone."""
    ws = tmp_path / "ws"
    write_real_junit(ws)
    fake_github.jobs = this_job(now_ms() - 60000)
    fake_collector.script = [grpc.StatusCode.UNAVAILABLE] * 100
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_WORKSPACE=ws,
                    CIPULSE_TEST_RESULTS="reports/pytest.xml", CIPULSE_SEND_BUDGET="300ms")
    r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env)
    assert r.returncode == 0, r.stderr
    (name,) = spooled(spool)
    with open(os.path.join(spool, name), "rb") as f:
        data = f.read()
    # A spool file is the magic "CPSPOOL1" and the report's frames (spool.h).
    assert data[:8] == b"CPSPOOL1"
    msgs = frames(data[8:])
    kinds = {fields(m)[0][0] for m in msgs}
    assert 4 in kinds, "no TestBatch in the spooled report"
    batch = next(decode(CHUNK["tests"][1][1], fields(m)[0][2]) for m in msgs
                 if fields(m)[0][0] == 4)
    assert {c["name"] for c in batch["cases"]} >= {"test_ok", "test_leaks_token"}

    fake_collector.script = []
    fake_collector.old = True
    r = run_agent(["flush"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().count("collector too old for test results") == 1
    assert fake_collector.refused == 1
    (rep,) = fake_collector.reports
    assert rep.tests == [] and rep.job(JOB_ID)
    assert spooled(spool) == []


def test_hook_mode_reads_them_run_mode_leaves_them_out(fake_github, fake_collector, spool,
                                                       tmp_path):
    """Hook mode runs on the runner that ran the job: the job's files are there. Run mode
    reports other jobs, whose files were on other runners: it warns and sends none."""
    ws = tmp_path / "ws"
    write_real_junit(ws)
    t0 = now_ms() - 60000
    fake_github.jobs = [make_job(401, "build", status="in_progress", runner="runner-1", t0=t0,
                                 steps=[("Set up job", "success", t0, t0 + 1000),
                                        ("Run tests", "failure", t0 + 1000, t0 + 5000)])]
    env = agent_env(fake_github.url, fake_collector.addr, spool, GITHUB_WORKSPACE=ws,
                    CIPULSE_TEST_RESULTS="reports/pytest.xml")
    r = run_agent(["hook"], env)
    assert r.returncode == 0, r.stderr
    rep = fake_collector.reports[0]
    assert rep.header["mode"] == 3
    cases, _ = cases_of(rep)
    assert rep.tests[0]["job_id"] == 401
    assert by_name(cases)["test_leaks_token"]["result"] == FAILED

    # Run mode: 401 finished on runner-1, this final job (402) runs on runner-2.
    fake_github.jobs[0].update(status="completed", conclusion="failure",
                               completed_at=fake_github.jobs[0]["started_at"])
    fake_github.jobs.append(make_job(402, "report", status="in_progress", runner="runner-2",
                                     t0=t0, steps=[("Set up job", "success", t0, t0 + 1000)]))
    env["RUNNER_NAME"] = "runner-2"
    r = run_agent(["run"], env)
    assert r.returncode == 0, r.stderr
    assert b"run mode leaves CIPULSE_TEST_RESULTS out" in r.stdout, r.stdout
    rep = fake_collector.reports[1]
    assert rep.header["mode"] == 2
    assert [j["id"] for j in rep.jobs] == [401] and rep.tests == []


def test_pytest_results_stored_end_to_end(collector, db, tmp_path):
    """Real pytest -> JUnit -> the real agent -> the collector -> rows in PostgreSQL."""
    token = collector.create_token("o/r")
    ws = tmp_path / "ws"
    write_real_junit(ws, leak=token)
    spool = str(tmp_path / "spool")
    os.makedirs(os.path.join(spool, "home"))
    gh = FakeGitHub()
    try:
        gh.jobs = this_job(now_ms() - 60000)
        env = agent_env(gh.url, collector.grpc_addr, spool, GITHUB_WORKSPACE=ws,
                        CIPULSE_TOKEN=token, CIPULSE_TEST_RESULTS="reports/pytest.xml")
        r = run_agent(["report", "--job-id", str(JOB_ID), "--job-status", "failure"], env)
    finally:
        gh.stop()
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout
    assert b"tests=4 " in r.stderr, r.stderr  # the collector's ReportAck.tests
    rows = {row["name"]: row for row in db.query(
        "SELECT t.suite, t.class_name, t.name, r.result, r.message, r.retries, r.run_id, "
        "r.run_attempt FROM test_results r JOIN tests t USING (repo_id, test_id) "
        "WHERE r.job_id = %s", (JOB_ID,))}
    assert set(rows) == {"test_ok", "test_leaks_token", "test_errors", "test_skipped"}
    assert rows["test_ok"]["result"] == "passed"
    assert rows["test_ok"]["suite"] == "pytest" and rows["test_ok"]["class_name"] == "test_leak"
    assert rows["test_leaks_token"]["result"] == "failed"
    assert "token was ***" in rows["test_leaks_token"]["message"]
    assert token not in rows["test_leaks_token"]["message"]
    assert rows["test_errors"]["result"] == "error"
    assert rows["test_skipped"]["result"] == "skipped"
    assert all(row["run_id"] == 1000 and row["run_attempt"] == 1 for row in rows.values())
