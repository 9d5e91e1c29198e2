"""The job summary ($GITHUB_STEP_SUMMARY) end to end: the real agent reports its job to the real
collector, asks its Summary method, and appends Markdown; the history it is compared with is
rows of earlier runs in PostgreSQL. The Markdown is checked as a Markdown parser renders it
(Debian's python3-markdown-it with GFM tables), not as text.

Also: `summary: false` writes nothing, a collector that is down or too old (a grpcio stand-in
without Summary) or too slow gives one line and never fails the job, hostile step names cannot
break the table or inject HTML, and the RPC's token rules (no token, another repository's
token, a read token, an unknown job).
"""
import html
import re
import uuid
import os
import threading
import time
from concurrent import futures
from html.parser import HTMLParser

import grpc
import pytest
from markdown_it import MarkdownIt

from agent_fakes import AGENT, FakeCollector, agent_env, make_job, run_agent, spooled
import pbwire
from ingest_env import send_report
from pbwire import SUMMARY_REPLY, SUMMARY_REQ, decode, encode

pytestmark = pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")

REPO, REPO_ID = "o/r", 4242
PUBLIC = "https://cipulse.example.com"
HOSTILE = "Deploy | <script>alert(1)</script> `rm -rf` *x* [a](http://e.test) @team\nnext"


def now_ms():
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------ Markdown


def render(md):
    """GFM as GitHub renders a job summary: CommonMark plus tables; raw HTML stays allowed, so
    anything the agent failed to escape would show up as a tag."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(md)


class Tables(HTMLParser):
    """The rendered HTML's tables (rows of cell texts), links, and every start tag seen."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tables, self.links, self.tags = [], [], []
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def pct(values, q):
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def fmt(ms):
    """The agent's duration format (summary.c add_duration), for the durations used here."""
    if ms < 1000:
        return "%dms" % ms
    if ms < 60000:
        return "%.1fs" % (ms / 1000.0)
    return "%dm %02ds" % (ms // 60000, ms // 1000 % 60)


# ------------------------------------------------------------------------------ history


def seed_history(db):
    """Earlier runs of job "build" on the default branch, and rows that must not count."""
    db.execute("INSERT INTO repositories (id, full_name, default_branch) VALUES (%s, %s, 'main')",
               (REPO_ID, REPO))
    db.execute("INSERT INTO repositories (id, full_name, default_branch) "
               "VALUES (777, 'x/y', 'main')")
    # (repo, run/job base, branch, job name, step conclusion, age in hours, how many, ms of
    # "Run make"): the first row is the baseline, the others are noise with 99 s steps.
    runs = [
        (REPO_ID, 100, "main", "build", "success", 1, 12, None),
        (REPO_ID, 200, "feature", "build", "success", 1, 3, 99000),   # other branch
        (REPO_ID, 300, "main", "build", "failure", 1, 3, 99000),      # failed step
        (REPO_ID, 400, "main", "build", "success", 24 * 40, 3, 99000),  # 40 days old
        (REPO_ID, 500, "main", "lint", "success", 1, 3, 99000),       # other job name
        (777, 600, "main", "build", "success", 1, 3, 99000),          # other repository
    ]
    for repo, base, branch, job, concl, age_h, n, make_ms in runs:
        for g in range(1, n + 1):
            run, jid = base + g, (base + g) * 10
            done = "now() - make_interval(hours => %d, mins => %d)" % (age_h, g)
            db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, head_branch, "
                       "status, conclusion, completed_at) VALUES (%%s, %%s, 1, %%s, "
                       "'completed', 'success', %s)" % done, (repo, run, branch))
            db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, "
                       "conclusion, completed_at) VALUES (%%s, %%s, %%s, 1, %%s, 'completed', "
                       "'success', %s)" % done, (repo, jid, run, job))
            steps = [("Set up job", 1000 if g <= 3 else None),
                     ("Run make", make_ms or 10000 + 100 * g),
                     ("Run tests", 99000 if make_ms else 6000 + 100 * g)]
            for number, (name, ms) in enumerate(steps, 1):
                if ms is None:
                    continue
                db.execute("INSERT INTO steps (repo_id, job_id, number, name, status, "
                           "conclusion, started_at, completed_at) VALUES (%%s, %%s, %%s, %%s, "
                           "'completed', %%s, %s - make_interval(secs => %%s), %s)"
                           % (done, done), (repo, jid, number, name, concl, ms / 1000.0))
    # "Run bench": 250 runs, the newest 200 took 1 s, the 50 before them 100 s: only the last
    # 200 count.
    db.execute(
        "WITH g AS (SELECT i, now() - make_interval(mins => 100 + i) AS t "
        "           FROM generate_series(1, 250) i), "
        "r AS (INSERT INTO workflow_runs (repo_id, run_id, run_attempt, head_branch, status, "
        "      conclusion, completed_at) SELECT %s, 5000 + i, 1, 'main', 'completed', "
        "      'success', t FROM g), "
        "j AS (INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, "
        "      conclusion, completed_at) SELECT %s, 50000 + i, 5000 + i, 1, 'build', "
        "      'completed', 'success', t FROM g) "
        "SELECT 1", (REPO_ID, REPO_ID))
    db.execute(
        "INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, "
        "completed_at) SELECT %s, 50000 + i, 4, 'Run bench', 'completed', 'success', "
        "now() - make_interval(mins => 100 + i, secs => CASE WHEN i <= 200 THEN 1 ELSE 100 END), "
        "now() - make_interval(mins => 100 + i) FROM generate_series(1, 250) i", (REPO_ID,))


def this_job(t0, extra_steps=()):
    """The job the agent runs in (303 of run 1000): 2 s set-up (over its p95, but only 3 runs
    to compare), 20 s make (slow), 5 s tests, 1 s bench."""
    steps = [("Set up job", "success", t0, t0 + 2000),
             ("Run make", "success", t0 + 2000, t0 + 22000),
             ("Run tests", "success", t0 + 22000, t0 + 27000),
             ("Run bench", "success", t0 + 27000, t0 + 28000)]
    steps += list(extra_steps)
    steps.append(("cipulse", None, t0 + 40000, None))
    return [make_job(303, "build", status="in_progress", runner="runner-1", t0=t0, steps=steps)]


@pytest.fixture
def gh(fake_github):
    return fake_github


@pytest.fixture
def public_collector(collector_factory):
    return collector_factory(env={"CIPULSE_PUBLIC_URL": PUBLIC + "/"})


def summary_env(gh, addr, tmp_path, **extra):
    spool = str(tmp_path / "spool")
    os.makedirs(os.path.join(spool, "home"), exist_ok=True)
    path = tmp_path / "step_summary.md"
    # Budgets a loaded machine does not use up where the report and the summary must go
    # through; the tests of a collector that is down or does not answer set short ones.
    extra.setdefault("CIPULSE_SEND_BUDGET", "60s")
    extra.setdefault("CIPULSE_SUMMARY_TIMEOUT", "60s")
    env = agent_env(gh.url, addr, spool, GITHUB_STEP_SUMMARY=path, **extra)
    return env, path, spool


def report(env, status="success"):
    r = run_agent(["report", "--job-id", "303", "--job-status", status], env)
    assert r.returncode == 0, r.stderr
    return r


# ------------------------------------------------------------------------------ tests


def test_summary_steps_against_default_branch_history(public_collector, db, gh, tmp_path):
    seed_history(db)
    token = public_collector.create_token(REPO)
    t0 = now_ms() - 60000
    gh.jobs = this_job(t0, extra_steps=[(HOSTILE, "success", t0 + 28000, t0 + 29000)])
    env, path, _spool = summary_env(gh, public_collector.grpc_addr, tmp_path,
                                    CIPULSE_TOKEN=token)
    r = report(env)
    assert b"::warning::" not in r.stdout, r.stdout
    assert db.scalar("SELECT count(*) FROM steps WHERE job_id = 303") == 6

    md = path.read_text()
    out = render(md)
    doc = Tables(out)
    # Nothing from a name became markup: the only tags are the summary's own.
    assert set(doc.tags) <= {"h3", "p", "table", "thead", "tbody", "tr", "th", "td", "a",
                             "strong", "em", "ul", "li"}, doc.tags
    assert "<script" not in out
    assert len(doc.tables) == 1
    head, *rows = doc.tables[0]
    assert head == ["#", "Step", "Duration", "p50", "p95", "Runs", ""]
    assert all(len(row) == 7 for row in rows), rows
    by_name = {row[1]: row for row in rows}

    make = [10000 + 100 * g for g in range(1, 13)]
    tests_ms = [6000 + 100 * g for g in range(1, 13)]
    row = by_name["Run make"]
    assert row[0] == "2" and row[2] == "20.0s"
    assert row[3] == fmt(round(pct(make, 0.5))) and row[4] == fmt(round(pct(make, 0.95)))
    assert row[5] == "12" and "slow" in row[6]
    row = by_name["Run tests"]
    assert row[2] == "5.0s" and row[5] == "12" and "slow" not in row[6]
    assert row[3] == fmt(round(pct(tests_ms, 0.5)))
    # Over its p95 of 1 s, but 3 runs are too few to call it slow.
    row = by_name["Set up job"]
    assert row[2] == "2.0s" and row[4] == "1.0s" and row[5] == "3" and "slow" not in row[6]
    # Only the newest 200 of 250 runs: the 100 s ones before them do not count.
    row = by_name["Run bench"]
    assert row[5] == "200" and row[4] == "1.0s"
    # The hostile name is one cell, shown as its text (its newline a space), no history.
    hostile = HOSTILE.replace("\n", " ")
    assert by_name[hostile][2:6] == ["1.0s", "–", "–", "0"]
    assert "1 slow step." in html.unescape(out)
    assert PUBLIC + "/runs/1000?attempt=1&job=303" in doc.links

    # What the collector answered, independently decoded: the numbers are PostgreSQL's.
    reply = summary_call(public_collector, token, 1000, 1, 303)
    steps = {s["name"]: s for s in reply["steps"]}
    assert steps["Run make"]["p95_ms"] == pytest.approx(pct(make, 0.95), abs=1)
    assert steps["Run make"]["p50_ms"] == pytest.approx(pct(make, 0.5), abs=1)
    assert steps["Run make"]["samples"] == 12 and steps["Run make"]["duration_ms"] == 20000
    assert reply["default_branch"] == "main"
    assert reply["job_url"] == PUBLIC + "/runs/1000?attempt=1&job=303"


def test_summary_false_writes_nothing(collector, db, gh, tmp_path):
    token = collector.create_token(REPO)
    gh.jobs = this_job(now_ms() - 60000)
    env, path, _spool = summary_env(gh, collector.grpc_addr, tmp_path, CIPULSE_TOKEN=token,
                                    CIPULSE_SUMMARY="false")
    report(env)
    assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = 303") == 1
    assert not path.exists()
    # And the same job with the summary on does write one (the switch is what kept it out).
    env["CIPULSE_SUMMARY"] = "true"
    report(env)
    assert path.read_text().startswith("### cipulse: build")


def one_line(path):
    text = path.read_text()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1, text
    return html.unescape(lines[0])


def test_collector_down_one_line_and_report_spooled(gh, tmp_path):
    down = FakeCollector()
    addr = down.addr
    down.stop()  # nothing listens there now
    gh.jobs = this_job(now_ms() - 60000)
    env, path, spool = summary_env(gh, addr, tmp_path, CIPULSE_SEND_BUDGET="1s")
    r = report(env)
    assert b"spooled" in r.stdout
    assert len(spooled(spool)) == 1
    assert "no job summary" in one_line(path) and "spooled" in one_line(path)


class OldCollector(FakeCollector):
    """A collector from before Summary (grpcio: Report only), or with a Summary that does not
    answer until `release` is set."""

    def __init__(self, slow=False):
        self.release = threading.Event()
        self.slow = slow
        super().__init__()
        if slow:
            handler = grpc.method_handlers_generic_handler("cipulse.v1.Collector", {
                "Summary": grpc.unary_unary_rpc_method_handler(self._summary),
            })
            self.server.add_generic_rpc_handlers((handler,))

    def _summary(self, request, context):
        self.release.wait(60)
        return b""


def test_old_collector_unimplemented_one_line(fake_collector, gh, tmp_path):
    gh.jobs = this_job(now_ms() - 60000)
    env, path, spool = summary_env(gh, fake_collector.addr, tmp_path)
    r = report(env)
    assert b"::warning::" not in r.stdout, r.stdout
    assert len(fake_collector.reports) == 1 and spooled(spool) == []
    assert "older than this agent" in one_line(path)


def test_slow_collector_one_line_within_deadline(gh, tmp_path):
    col = OldCollector(slow=True)
    try:
        gh.jobs = this_job(now_ms() - 60000)
        env, path, _spool = summary_env(gh, col.addr, tmp_path,
                                        CIPULSE_SUMMARY_TIMEOUT="300ms")
        report(env)
        assert len(col.reports) == 1
        assert "did not answer in time" in one_line(path)
    finally:
        col.release.set()
        col.stop()


# ------------------------------------------------------------------------------ the RPC


def summary_call(col, token, run_id, attempt, job_id, repo_id=REPO_ID):
    """Summary over grpcio; returns the decoded reply or raises grpc.RpcError."""
    with grpc.insecure_channel(col.grpc_addr) as ch:
        call = ch.unary_unary("/cipulse.v1.Collector/Summary")
        md = [("authorization", "Bearer " + token)] if token else []
        req = encode(SUMMARY_REQ, {"repository_id": repo_id, "run_id": run_id,
                                   "run_attempt": attempt, "job_id": job_id})
        return decode(SUMMARY_REPLY, call(req, metadata=md, timeout=30), strict=True)


def status_of(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value.code(), e.value.details()


def test_summary_rpc_auth(collector, db, gh, tmp_path):
    seed_history(db)
    token = collector.create_token(REPO)
    other = collector.create_token("x/y")
    read = collector.create_token(None, kind="read")
    gh.jobs = this_job(now_ms() - 60000)
    env, _path, _spool = summary_env(gh, collector.grpc_addr, tmp_path, CIPULSE_TOKEN=token)
    report(env)

    assert status_of(lambda: summary_call(collector, None, 1000, 1, 303))[0] == \
        grpc.StatusCode.UNAUTHENTICATED
    assert status_of(lambda: summary_call(collector, "cip_nope", 1000, 1, 303))[0] == \
        grpc.StatusCode.UNAUTHENTICATED
    # Another repository's token, asking about this one (and about its own id with this job).
    assert status_of(lambda: summary_call(collector, other, 1000, 1, 303))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    assert status_of(lambda: summary_call(collector, other, 1000, 1, 303, repo_id=777))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert status_of(lambda: summary_call(collector, read, 1000, 1, 303))[0] == \
        grpc.StatusCode.PERMISSION_DENIED
    # Unknown job, and a known job under another run or attempt.
    assert status_of(lambda: summary_call(collector, token, 1000, 1, 999))[0] == \
        grpc.StatusCode.NOT_FOUND
    assert status_of(lambda: summary_call(collector, token, 1000, 2, 303))[0] == \
        grpc.StatusCode.NOT_FOUND
    code, details = status_of(lambda: summary_call(collector, token, 0, 1, 303))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "run_id" in details
    # The repository's own token and the admin token may ask; no public URL: no job_url.
    reply = summary_call(collector, token, 1000, 1, 303)
    assert [s["name"] for s in reply["steps"]][:2] == ["Set up job", "Run make"]
    assert "job_url" not in reply
    assert summary_call(collector, collector.ADMIN_TOKEN, 1000, 1, 303)["steps"]


# ------------------------------------------------------------------------------ tests, group

ERROR = "error: connection refused by the database at 10.0.0.5:5432"


def send(col, token, repo_id, name, run_id, job_id, conclusion, at_ms, head_sha, tests=(),
         tail=None):
    """One report like an agent's, with test cases (a TestBatch) and a failing step's tail."""
    header = dict(report_id=str(uuid.uuid4()), agent_version="0.1.0-test", mode=1,
                  repository={"id": repo_id, "full_name": name, "default_branch": "main"},
                  workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
                  run={"id": run_id, "attempt": 1, "head_branch": "main", "head_sha": head_sha,
                       "status": "completed", "conclusion": conclusion,
                       "created_at": at_ms - 60000, "updated_at": at_ms})
    job = dict(id=job_id, name="build", status="completed", conclusion=conclusion,
               started_at=at_ms - 50000, completed_at=at_ms,
               steps=[{"number": 1, "name": "Run tests", "status": "completed",
                       "conclusion": conclusion, "started_at": at_ms - 40000,
                       "completed_at": at_ms}])
    chunks = [pbwire.chunk_header(**header), pbwire.chunk_job(**job)]
    if tail:
        chunks.append(pbwire.chunk_log(job_id=job_id, step_number=1, seq=0, text=tail,
                                       last=True))
    if tests:
        chunks.append(pbwire.chunk_tests(job_id=job_id, cases=list(tests)))
    send_report(col.grpc_addr, chunks, token)


def case(name, result, message=""):
    return {"suite": "unit", "class_name": "app.Test", "name": name, "duration_us": 1000,
            "result": result, "message": message}


def test_summary_failed_tests_and_failure_group(public_collector, gh, tmp_path):
    col = public_collector
    token, other = col.create_token(REPO), col.create_token("x/y")
    t = now_ms() - 3600 * 1000
    sha = "a" * 40  # the agent's GITHUB_SHA: run 1000's commit
    # The default branch before: test_a already failing, test_b passing.
    send(col, token, REPO_ID, REPO, 801, 8011, "failure", t, "b" * 40,
         tests=[case("test_a", pbwire.FAILED, "boom"), case("test_b", pbwire.PASSED)])
    # The same error in three failed runs of another repository.
    for k in range(3):
        send(col, other, 777, "x/y", 900 + k, 9001 + k * 10, "failure", t + k * 1000,
             "c" * 40, tail="2024-05-01T10:00:0%dZ %s (attempt %d)" % (k, ERROR, k))
    # Another job of this commit passed test_c: failing here makes it flaky.
    send(col, token, REPO_ID, REPO, 1000, 304, "success", t + 10000, sha,
         tests=[case("test_c", pbwire.PASSED)])
    # This job's tests and its failing tail, then the agent reports it and writes the summary.
    failed = [case("test_a", pbwire.FAILED, "got 2, want 1\nlong trace"),
              case("test_b", pbwire.FAILED, "<b>|x|</b> is not y"),
              case("test_c", pbwire.ERROR, "no answer")]
    failed += [case("test_z%02d" % i, pbwire.FAILED, "z") for i in range(9)]
    send(col, token, REPO_ID, REPO, 1000, 303, "failure", t + 20000, sha, tests=failed,
         tail="2024-05-02T11:11:11Z %s (attempt 9)" % ERROR)
    gh.jobs = this_job(now_ms() - 60000)
    env, path, _spool = summary_env(gh, col.grpc_addr, tmp_path, CIPULSE_TOKEN=token)
    report(env, status="failure")

    doc = render(path.read_text())
    text = html.unescape(re.sub(r"<[^>]+>", "", doc))
    items = re.findall(r"<li>(.*?)</li>", doc, re.S)
    items = [html.unescape(re.sub(r"<[^>]+>", "", i)) for i in items]
    assert "Failed tests: 12" in text
    assert len(items) == 11 and items[-1] == "and 2 more", items
    by_name = {i.split(" ")[0]: i for i in items[:-1]}
    assert by_name["test_a"] == "test_a (app.Test): got 2, want 1"  # already failing
    assert by_name["test_b"] == "test_b (app.Test) — new failure: <b>|x|</b> is not y"
    assert by_name["test_c"].startswith("test_c (app.Test) — flaky")
    assert "<b>" not in doc  # the message's tag is text, not markup
    m = re.search(r"seen in (\d+) runs in (\d+) repositories since (\d{4}-\d\d-\d\d)", text)
    assert m and m.group(1) == "4" and m.group(2) == "2", text
    fp = col.db.scalar("SELECT fingerprint FROM job_failures WHERE job_id = 303")
    assert PUBLIC + "/failures/" + fp in Tables(doc).links

    # A job of the same id in another repository (a token may store any id for its own): the
    # summary reads this repository's job only, and the run detail too.
    send(col, other, 777, "x/y", 1001, 303, "failure", t + 30000, "d" * 40,
         tests=[case("secret_test", pbwire.FAILED, "x")], tail="ANOTHER ERROR entirely")
    reply = summary_call(col, token, 1000, 1, 303)
    names = [f["name"] for f in reply["failed_tests"]]
    assert reply["steps"] and "secret_test" not in names and len(names) == 12, names
    assert reply["failure_group"]["fingerprint"] == fp
    status, run = col.http("GET", "/api/v1/runs/1000")
    assert status == 200, run
    jobs = [j for j in run["jobs"] if j["job_id"] == 303]
    assert jobs and "secret_test" not in [f["name"] for f in jobs[0]["failed_tests"]], jobs
    assert jobs[0]["failure_group"]["fingerprint"] == fp


def test_summary_of_the_agents_own_junit_results(collector, gh, tmp_path):
    """The whole path: the agent reads JUnit XML (CIPULSE_TEST_RESULTS), sends the tests with its
    report, and its summary lists the failed ones, hostile names as text."""
    token = collector.create_token(REPO)
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites><testsuite name="unit" tests="3" failures="2">\n'
        '<testcase classname="app.T" name="ok_test" time="0.1"/>\n'
        '<testcase classname="app.T" name="bad | &lt;script&gt;x&lt;/script&gt; `y`" time="0.2">'
        '<failure message="got &lt;img src=x onerror=alert(1)&gt; | 2">trace</failure></testcase>\n'
        '<testcase classname="app.T" name="plain_fail" time="0.3"><failure message="no"/>'
        '</testcase>\n'
        '</testsuite></testsuites>\n')
    gh.jobs = this_job(now_ms() - 60000)
    env, path, _spool = summary_env(gh, collector.grpc_addr, tmp_path, CIPULSE_TOKEN=token,
                                    CIPULSE_TEST_RESULTS=str(junit))
    r = report(env, status="failure")
    assert b"::warning::" not in r.stdout, r.stdout
    doc = render(path.read_text())
    assert "<script" not in doc and "<img" not in doc
    items = [html.unescape(re.sub(r"<[^>]+>", "", i))
             for i in re.findall(r"<li>(.*?)</li>", doc, re.S)]
    assert "Failed tests: 2" in html.unescape(re.sub(r"<[^>]+>", "", doc))
    assert sorted(items) == sorted([
        "bad | <script>x</script> `y` (app.T): got <img src=x onerror=alert(1)> | 2",
        "plain_fail (app.T): no"]), items
