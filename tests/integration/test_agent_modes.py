"""The real cipulse-agent binary against a GitHub API stand-in and a recording gRPC collector.

Covers each mode end to end at the wire level: what the agent asks GitHub (pagination, late
jobs, rate limits, 5xx, 404, log redirects) and exactly what it streams to the collector
(decoded independently of the agent's protobuf code), retries, spooling and flush.
"""
import json
import os
import subprocess
import time

import grpc
import pytest

from agent_fakes import AGENT, FakeCollector, agent_env, frames, make_job, run_agent, spooled
from harness import run_checked

pytestmark = pytest.mark.skipif(not os.path.exists(AGENT), reason="agent not built")

TOKEN = "cip_ingest_secret_0123456789"
GH_TOKEN = "ghs_faketoken1234567890"


@pytest.fixture
def github(fake_github):
    return fake_github


@pytest.fixture
def collector(fake_collector):
    return fake_collector


def now_ms():
    return int(time.time() * 1000)


def three_jobs(t0):
    """Two finished jobs and this one (id 303, in progress on runner-1, step 3 running)."""
    return [
        make_job(301, "lint", runner="gh-1", t0=t0,
                 steps=[("Set up job", "success", t0, t0 + 1000),
                        ("Run lint", "success", t0 + 1000, t0 + 5000)]),
        make_job(302, "unit", conclusion="failure", runner="gh-2", t0=t0,
                 steps=[("Set up job", "success", t0, t0 + 1000),
                        ("Run tests", "failure", t0 + 1000, t0 + 9000)]),
        make_job(303, "build", status="in_progress", runner="runner-1", t0=t0,
                 steps=[("Set up job", "success", t0, t0 + 1000),
                        ("Run make", "success", t0 + 1000, t0 + 20000),
                        ("Run cipulse", None, t0 + 20000, None),
                        ("Post checkout", None, None, None)]),
    ]


def test_report_paginated_job_to_collector(github, collector, spool, tmp_path):
    github.jobs = three_jobs(now_ms() - 60000)
    github.per_page = 2  # this job is on page 2
    out = tmp_path / "out"
    env = agent_env(github.url, collector.addr, spool, GITHUB_OUTPUT=out)
    r = run_agent(["report", "--job-id", "303", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout

    calls = github.job_list_calls()
    assert [c["query"].get("page", ["1"])[0] for c in calls] == ["1", "2"]
    assert calls[0]["path"] == "/repos/o/r/actions/runs/1000/attempts/1/jobs"
    assert calls[0]["headers"]["Authorization"] == "Bearer " + GH_TOKEN
    assert calls[0]["headers"]["X-GitHub-Api-Version"]

    assert len(collector.reports) == 1
    rep = collector.reports[0]
    assert rep.metadata["authorization"] == "Bearer " + TOKEN
    h = rep.header
    assert h["repository"] == {"id": 4242, "full_name": "o/r", "server_url": "https://github.com"}
    assert h["workflow"]["path"] == ".github/workflows/ci.yml"
    assert h["run"]["id"] == 1000 and h["run"]["attempt"] == 1 and h["run"]["number"] == 12
    assert h["mode"] == 1 and h["agent_version"]
    assert [j["id"] for j in rep.jobs] == [303]
    job = rep.jobs[0]
    assert job["status"] == "completed" and job["conclusion"] == "success"
    assert job["runner_os"] == "Linux" and job["labels"] == ["ubuntu-latest"]
    assert [s["name"] for s in job["steps"]][:2] == ["Set up job", "Run make"]
    assert job["steps"][1]["completed_at"] > job["steps"][1]["started_at"] > 0
    assert out.read_text() == "report-id=%s\ndelivery=sent\n" % rep.report_id


def test_report_without_job_id_finds_in_progress_job_on_runner(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    env = agent_env(github.url, collector.addr, spool, CIPULSE_JOB_STATUS="failure")
    r = run_agent([], env)
    assert r.returncode == 0, r.stderr
    job = collector.reports[0].jobs[0]
    assert job["id"] == 303 and job["conclusion"] == "failure"


def test_job_listed_late_is_waited_for(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    github.late, github.late_job = 2, 303
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert len(github.job_list_calls()) == 3
    assert len(collector.reports[0].jobs[0]["steps"]) == 4


def test_rate_limit_waits_for_reset(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    reset = int(time.time()) + 1
    github.errors = [(403, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", str(reset))])]
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    calls = github.job_list_calls()
    assert len(calls) == 2
    assert calls[1]["t"] >= reset  # not before the reset
    assert len(collector.reports[0].jobs[0]["steps"]) == 4
    assert b"::warning::" not in r.stdout


def test_rate_limit_beyond_budget_degrades_quickly(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    github.always = (403, [("X-RateLimit-Remaining", "0"),
                           ("X-RateLimit-Reset", str(int(time.time()) + 3600))])
    env = agent_env(github.url, collector.addr, spool, GITHUB_JOB="build")
    # An agent that waited for the reset (an hour away) would run into run_agent's timeout.
    r = run_agent(["--job-id=303", "--job-status=cancelled"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::cipulse: report degraded" in r.stdout
    assert b"rate limited" in r.stdout
    job = collector.reports[0].jobs[0]
    # What the env says still goes.
    assert job["id"] == 303 and job["name"] == "build" and job["conclusion"] == "cancelled"
    assert "steps" not in job


def test_retry_after_header(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    github.errors = [(429, [("Retry-After", "1")])]
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    calls = github.job_list_calls()
    assert len(calls) == 2 and calls[1]["t"] - calls[0]["t"] >= 0.9


def test_server_errors_are_retried(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    github.errors = [(502, []), (503, [])]
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert len(github.job_list_calls()) == 3
    assert len(collector.reports[0].jobs[0]["steps"]) == 4


@pytest.mark.parametrize("status", [404, 401, 500])
def test_api_failure_degrades_report(github, collector, spool, status):
    github.always = (status, [])
    # A budget the retries of a 500 end well within, even on a loaded machine: the warning
    # must name the server's answer, not the budget.
    env = agent_env(github.url, collector.addr, spool, CIPULSE_TIME_BUDGET="15s")
    r = run_agent(["--job-id=303", "--job-status=failure"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::cipulse: report degraded, GitHub API failed" in r.stdout
    assert b"HTTP %d" % status in r.stdout
    job = collector.reports[0].jobs[0]
    assert job["id"] == 303 and job["conclusion"] == "failure" and job["runner_name"] == "runner-1"
    # --strict turns the degraded report into a failure.
    r = run_agent(["--job-id=303", "--job-status=failure", "--strict"], env)
    assert r.returncode == 1


def test_collector_unavailable_is_retried_with_same_bytes(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    collector.script = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert collector.calls == 3
    assert len(collector.reports) == 1
    assert spooled(spool) == []


def test_collector_down_spools_then_flush_sends_identical_report(github, spool, tmp_path):
    github.jobs = three_jobs(now_ms() - 60000)
    down = FakeCollector()
    addr, port = down.addr, down.port
    down.stop()  # nothing listens there now
    out = tmp_path / "out"
    env = agent_env(github.url, addr, spool, CIPULSE_SEND_BUDGET="1s", GITHUB_OUTPUT=out)
    # The send budget ends the attempts (an agent that kept retrying would hit the timeout).
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::cipulse: report" in r.stdout and b"spooled" in r.stdout
    files = spooled(spool)
    assert len(files) == 1
    assert "delivery=spooled" in out.read_text()
    with open(os.path.join(spool, files[0]), "rb") as f:
        data = f.read()
    assert data[:8] == b"CPSPOOL1"
    # No secret is written to disk.
    assert TOKEN.encode() not in data and GH_TOKEN.encode() not in data

    assert run_agent(["--strict"], env).returncode == 1  # still down: strict report fails

    up = FakeCollector(port)
    try:
        r = run_agent(["flush"], env)
        assert r.returncode == 0, r.stderr
        assert len(up.reports) == 2
        assert spooled(spool) == []
        first = up.reports[0]
        assert first.raw == frames(data[8:])  # byte for byte what was spooled
        assert first.report_id in files[0]
    finally:
        up.stop()


def test_spool_is_sent_on_next_successful_report(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    collector.script = [grpc.StatusCode.UNAUTHENTICATED]  # a token problem: keep the report
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0
    assert b"UNAUTHENTICATED" in r.stdout
    assert len(spooled(spool)) == 1
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert len(collector.reports) == 2
    assert collector.reports[0].report_id != collector.reports[1].report_id
    assert spooled(spool) == []


def test_rejected_report_is_not_spooled(github, collector, spool):
    github.jobs = three_jobs(now_ms() - 60000)
    collector.script = [grpc.StatusCode.INVALID_ARGUMENT]
    env = agent_env(github.url, collector.addr, spool)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0
    assert b"rejected" in r.stdout
    assert collector.calls == 1 and spooled(spool) == []


def test_exec_passes_output_and_exit_code_and_tail_reaches_report(github, collector, spool):
    env = agent_env(github.url, collector.addr, spool)
    script = ("printf 'out1\\n'; printf 'err1\\n' >&2; printf 'binary \\377 and nul \\000 x\\n';"
              " echo \"token $CIPULSE_TOKEN\"; echo '::add-mask::swordfish42';"
              " echo 'pw swordfish42'; printf '\\033[31mred\\033[0m\\n'; exit 7")
    t0 = now_ms()
    r = run_agent(["exec", "--", "sh", "-c", script], env)
    t1 = now_ms()
    assert r.returncode == 7
    # Output is passed through unchanged, stdout and stderr each on their own.
    assert r.stdout == (b"out1\nbinary \xff and nul \x00 x\ntoken " + TOKEN.encode() +
                        b"\n::add-mask::swordfish42\npw swordfish42\n\x1b[31mred\x1b[0m\n")
    assert r.stderr == b"err1\n"

    # The job's steps bracket the exec: step 2 ran it.
    job = make_job(303, "build", status="in_progress", runner="runner-1", t0=t0 - 10000,
                   steps=[("Set up job", "success", t0 - 10000, t0 - 9000),
                          ("Run tests", "failure", t0 - 1000, t1 + 1000),
                          ("Run cipulse", None, t1 + 1000, None)])
    github.jobs = [job]
    r = run_agent(["--job-id=303", "--job-status=failure"], env)
    assert r.returncode == 0, r.stderr
    tails = collector.reports[0].tails()
    text, last = tails[(303, 2)]
    assert last["exit_code"] == 7 and last["has_exit_code"] and last["last"]
    # stdout and stderr come through separate pipes: their relative order may vary.
    assert {"out1", "err1"} <= set(text.splitlines())
    assert "binary \ufffd and nul  x\n" in text
    assert TOKEN not in text and "token ***" in text
    assert "swordfish42" not in text and "pw ***" in text
    assert "\x1b[31mred\x1b[0m" in text
    assert last["original_size"] > len("out1\n")
    assert not last.get("truncated", False)
    # The exec record was used up: a second report has no tail.
    r = run_agent(["--job-id=303", "--job-status=failure"], env)
    assert collector.reports[1].logs == []


def test_exec_keeps_last_lines_only(github, collector, spool):
    env = agent_env(github.url, collector.addr, spool, CIPULSE_LOG_TAIL_LINES="5",
                    CIPULSE_JOB_ID="303")
    r = run_agent(["exec", "--", "seq", "1", "100000"], env)
    assert r.returncode == 0 and r.stdout.count(b"\n") == 100000
    github.always = (404, [])
    r = run_agent(["--job-status=success"], env)
    assert r.returncode == 0
    (key, (text, last)), = collector.reports[0].tails().items()
    assert key == (303, 0)  # no steps known (API down): the job as a whole
    assert text == "99996\n99997\n99998\n99999\n100000\n"
    assert last["truncated"] and last["original_size"] == len(b"\n".join(
        str(i).encode() for i in range(1, 100001))) + 1


def test_exec_record_keeps_the_tail_raw_and_older_records_still_count(github, collector, spool):
    env = agent_env(github.url, collector.addr, spool, CIPULSE_JOB_ID="303")
    github.always = (404, [])  # no steps known: each tail is the job's as a whole
    exec_dir = os.path.join(spool, "exec")

    def record(script):
        before = set(os.listdir(exec_dir)) if os.path.isdir(exec_dir) else set()
        assert run_agent(["exec", "--", "sh", "-c", script], env).returncode == 0
        new, = set(os.listdir(exec_dir)) - before
        return os.path.join(exec_dir, new)

    # Version 2: a line of JSON, then the tail's bytes as they are.
    path = record("printf 'quote \" back\\\\slash \\303\\251t\\303\\251\\ntab\\tend\\n'")
    with open(path, "rb") as f:
        head, raw = f.read().split(b"\n", 1)
    rec = json.loads(head)
    assert rec["v"] == 2 and rec["text_bytes"] == len(raw) and "text" not in rec
    assert raw == "quote \" back\\slash \u00e9t\u00e9\ntab\tend\n".encode()
    r = run_agent(["--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    (text, _), = collector.reports[0].tails().values()
    assert text == raw.decode()
    # Version 1 (the agent before): the tail inside the JSON. Still read.
    path = record("echo old format")
    with open(path, "rb") as f:
        head, raw = f.read().split(b"\n", 1)
    rec = json.loads(head)
    del rec["text_bytes"]
    rec.update(v=1, text=raw.decode())
    with open(path, "w") as f:
        f.write(json.dumps(rec, separators=(",", ":")))
    # A version 2 record cut short is damaged: left out, with a warning in the log.
    cut = record("echo cut short")
    with open(cut, "r+b") as f:
        f.truncate(os.path.getsize(cut) - 2)
    r = run_agent(["--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    (text, _), = collector.reports[1].tails().values()
    assert text == "old format\n"
    assert b"ignoring a damaged exec record" in r.stderr


def test_exec_missing_command(spool):
    env = agent_env("http://127.0.0.1:1", "127.0.0.1:1", spool)
    r = run_agent(["exec", "--", "/nonexistent/cmd"], env)
    assert r.returncode == 127
    r = run_agent(["exec"], env)
    assert r.returncode == 2


def _libcurl_path():
    """The file dlopen("libcurl.so.4") opens: the dynamic loader's cache entry."""
    if not os.path.exists("/sbin/ldconfig"):
        return None
    out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libcurl.so.4 ") and ("x86-64" in line or "AArch64" in line):
            return os.path.realpath(line.split("=>")[-1].strip())
    return None


def test_libcurl_is_loaded_only_to_call_the_github_api_through_a_proxy(github, collector, spool):
    # The API calls go over the agent's own HTTP client (agent/http1.c); libcurl and its ~26
    # libraries are loaded only when a proxy variable is set (docs/agent-footprint.md).
    github.jobs = three_jobs(now_ms() - 60000)
    env = agent_env(github.url, collector.addr, spool, LD_DEBUG="files")
    no_run = dict(env)
    del no_run["GITHUB_RUN_ID"]
    for args, e in ((["exec", "--", "true"], env), (["flush"], env),
                    (["report", "--job-id=303"], no_run), (["report", "--job-id=303"], env)):
        r = run_agent(args, e)
        assert r.returncode == 0, r.stdout + r.stderr
        # The loader names every library it loads (libssl: LD_DEBUG works), never libcurl.
        assert b"libssl" in r.stderr and b"libcurl" not in r.stderr, (args, r.stderr)
    assert len(collector.reports) == 2 and len(github.job_list_calls()) == 1
    assert b"::warning::" not in r.stdout, r.stdout  # the last one, with the API
    assert collector.reports[1].job(303)["name"] == "build"  # from the API
    # Behind a proxy (the stand-in answers the proxy's absolute-form requests too), for an API
    # whose name does not resolve: libcurl goes through the proxy, as it did before.
    proxied = dict(env, http_proxy=github.url, no_proxy="127.0.0.1",  # gRPC honours both
                   GITHUB_API_URL="http://api.github.invalid")
    r = run_agent(["report", "--job-id=303"], proxied)
    assert r.returncode == 0 and b"::warning::" not in r.stdout, r.stdout + r.stderr
    assert b"libcurl.so.4" in r.stderr and len(github.job_list_calls()) == 2
    assert github.job_list_calls()[1]["host"] == "api.github.invalid"


def test_without_libcurl_the_report_goes_degraded_and_says_why(github, collector, spool, tmp_path):
    lib = _libcurl_path()
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    # The library made unreadable for the agent only: an empty file mounted over it in a
    # private mount namespace.
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "mount", "--bind",
                            str(empty), lib or "/nonexistent"], capture_output=True)
    if lib is None or probe.returncode != 0:
        pytest.skip("needs libcurl.so.4 in the loader's cache and unshare -m (root)")
    github.jobs = three_jobs(now_ms() - 60000)
    # Only API calls through a proxy need libcurl.
    env = agent_env(github.url, collector.addr, spool, https_proxy=github.url, no_proxy="127.0.0.1")
    r = run_checked(["unshare", "-m", "--propagation", "private", "sh", "-c",
                     'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", str(empty), lib,
                     AGENT, "report", "--job-id=303", "--job-status=success"],
                    env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (b"::warning::cipulse: report degraded, GitHub API failed (GitHub API: could not "
            b"load libcurl.so.4, which the GitHub API calls need (") in r.stdout, r.stdout
    assert github.requests == [], github.requests
    job = collector.reports[0].jobs[0]
    assert job["id"] == 303 and job["conclusion"] == "success" and job["runner_name"] == "runner-1"


def test_large_tail_travels_in_bounded_chunks(github, collector, spool, tmp_path):
    log = tmp_path / "big.log"
    with open(log, "w") as f:
        for i in range(3000):
            f.write("line %05d %s\n" % (i, "x" * 90))
    github.jobs = three_jobs(now_ms() - 60000)
    env = agent_env(github.url, collector.addr, spool, CIPULSE_LOG_FILES="%s, /nonexistent.log" % log,
                    CIPULSE_LOG_TAIL_LINES="2000", CIPULSE_LOG_STEP_BYTES="300000")
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert b"/nonexistent.log" in r.stdout
    rep = collector.reports[0]
    chunks = [c for c in rep.logs if c["job_id"] == 303]
    assert len(chunks) >= 4
    assert all(len(c.get("text", "").encode()) <= 65536 for c in chunks)
    assert [c.get("seq", 0) for c in chunks] == list(range(len(chunks)))
    assert [c.get("last", False) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    text, last = rep.tails()[(303, 0)]
    assert text.startswith("==> %s <==\nline 01000 " % log)
    assert text.endswith("line 02999 %s\n" % ("x" * 90))
    assert last["truncated"]


def test_run_mode_reports_other_jobs_with_step_tails(github, collector, spool):
    t0 = now_ms() - 120000
    jobs = three_jobs(t0)
    # This (run-mode) job is 304, in progress on runner-1; 303 finished on another runner.
    jobs[2].update(status="completed", conclusion="success", runner_name="gh-3",
                   completed_at=jobs[2]["started_at"])
    jobs.append(make_job(304, "report", status="in_progress", runner="runner-1", t0=t0,
                         steps=[("Set up job", "success", t0, t0 + 1000)]))
    jobs.append(make_job(305, "deploy", conclusion="skipped", runner="", t0=t0, steps=[]))
    github.jobs = jobs

    def ts(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".1234567Z "
    github.logs = {
        301: "\ufeff" + ts(t0) + "setting up\n" + ts(t0 + 2000) + "lint ok\n" + "continued\n",
        302: ts(t0 + 500) + "setup\n" + "".join(ts(t0 + 3000) + "test %d\n" % i for i in range(300))
        + ts(t0 + 8000) + "FAILED: 3 tests, token " + GH_TOKEN + "\n",
        303: ts(t0 + 5000) + "built\n",
    }
    env = agent_env(github.url, collector.addr, spool, CIPULSE_LOG_TAIL_LINES="50")
    r = run_agent(["run"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout
    rep = collector.reports[0]
    assert rep.header["mode"] == 2
    assert sorted(j["id"] for j in rep.jobs) == [301, 302, 303, 305]
    tails = rep.tails()
    assert tails[(301, 1)][0].endswith("setting up\n")
    assert tails[(301, 2)][0].endswith("lint ok\ncontinued\n")
    text, last = tails[(302, 2)]
    assert text.count("\n") == 50 and last["truncated"]
    assert "FAILED: 3 tests, token ***" in text and GH_TOKEN not in text
    assert (305, 0) not in tails and (305, 1) not in tails  # skipped: no log asked for
    # The token went to the API, never to the blob host the log redirect points at.
    blobs = [q for q in github.requests if q["path"].startswith("/blob/")]
    assert len(blobs) == 3
    assert all("Authorization" not in q["headers"] for q in blobs)
    assert all(q["host"].startswith("localhost") for q in blobs)
    logs = [q for q in github.requests if q["path"].endswith("/logs")]
    assert all(q["headers"]["Authorization"] == "Bearer " + GH_TOKEN for q in logs)


def test_hook_mode_reports_job_from_runner_env(github, collector, spool):
    t0 = now_ms() - 60000
    github.jobs = [make_job(401, "build", status="in_progress", runner="self-hosted-7", t0=t0,
                            steps=[("Set up job", "success", t0, t0 + 1000),
                                   ("Run make", "failure", t0 + 1000, t0 + 5000),
                                   ("Post", "success", t0 + 5000, t0 + 6000)])]
    env = agent_env(github.url, collector.addr, spool, RUNNER_NAME="self-hosted-7")
    r = run_agent(["hook"], env)
    assert r.returncode == 0, r.stderr
    rep = collector.reports[0]
    assert rep.header["mode"] == 3
    job = rep.jobs[0]
    assert job["id"] == 401 and job["status"] == "completed" and job["conclusion"] == "failure"


@pytest.mark.parametrize("name", ["o/r|x", "o/r (-7)", "o", "o/" + "r" * 101])
def test_repository_name_github_would_not_allow_is_not_reported(github, collector, spool, name):
    github.jobs = three_jobs(now_ms() - 60000)
    env = agent_env(github.url, collector.addr, spool, GITHUB_REPOSITORY=name)
    r = run_agent(["--job-id=303", "--job-status=success"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::cipulse: no report: GITHUB_REPOSITORY" in r.stdout, r.stdout
    assert collector.calls == 0 and spooled(spool) == []
    assert run_agent(["--job-id=303", "--job-status=success", "--strict"], env).returncode == 1


def test_misuse_exits_2(spool):
    env = agent_env("http://127.0.0.1:1", "", spool)
    assert run_agent(["bogus"], env).returncode == 2
    assert run_agent(["--no-such-flag"], env).returncode == 2
    assert run_agent(["report"], env).returncode == 2  # no collector
    env["CIPULSE_LOG_TAIL_LINES"] = "many"
    r = run_agent(["report"], env)
    assert r.returncode == 2 and b"CIPULSE_LOG_TAIL_LINES" in r.stderr


def test_help_documents_every_option_and_env_var():
    r = run_agent(["--help"], {"PATH": "/usr/bin:/bin"})
    assert r.returncode == 0
    text = r.stdout.decode()
    src = open(os.path.join(os.path.dirname(AGENT), "..", "agent", "config.c")).read() \
        if os.path.exists(os.path.join(os.path.dirname(AGENT), "..", "agent", "config.c")) \
        else open(os.path.join(os.path.dirname(__file__), "..", "..", "agent", "config.c")).read()
    import re
    envs = set(re.findall(r'"((?:CIPULSE|GITHUB|RUNNER)_[A-Z_]+)"', src))
    flags = set(re.findall(r'\{ "([a-z-]+)", "CIPULSE_', src))
    assert len(envs) >= 30 and len(flags) >= 15
    for name in envs:
        assert name in text, name
    for flag in flags:
        assert "--" + flag in text, flag
    for mode in ("report", "run", "hook", "exec", "flush"):
        assert "\n  %s " % mode in text
    # Required by DESIGN.md.
    for name in ("CIPULSE_COLLECTOR", "CIPULSE_TOKEN", "CIPULSE_TLS", "CIPULSE_LOG_TAIL_LINES",
                 "CIPULSE_SPOOL_DIR", "GITHUB_API_URL", "GITHUB_TOKEN", "RUNNER_NAME"):
        assert name in text
    assert "default 100" in text
