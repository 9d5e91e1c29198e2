#!/usr/bin/python3
"""Loads sample runs into a running collector through the real code paths.

A stand-in for the GitHub REST API (the same one the poller tests use) serves a week of
generated history for a few repositories. Then:
  1. `cipulsed backfill` (the poller's code) imports runs, jobs and steps from it;
  2. `cipulse-agent run` (the real agent, run mode) reports the most recent runs again with the
     log tails of their jobs, fetched from the stand-in's job-log endpoint;
  3. `cipulse-agent` in report mode sends each of those runs' test job again with a JUnit XML
     file (CIPULSE_TEST_RESULTS): test results, a flaky test and failure groups for the
     dashboard's Tests and Failures pages.

usage: demo_data.py --cipulsed BIN --agent BIN --grpc HOST:PORT  (collector settings from env)
"""
import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
from xml.sax.saxutils import quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

from ghutil import FakeGitHub  # noqa: E402
from harness import GitHubStandIn  # noqa: E402

REPOS = [("acme/payments-api", 700001), ("acme/web-frontend", 700002), ("acme/infra", 700003)]
WORKFLOWS = [(81001, "CI", ".github/workflows/ci.yml", ["lint", "build", "test", "integration"]),
             (81002, "Deploy", ".github/workflows/deploy.yml", ["package", "deploy"])]
BRANCHES = ["main", "main", "main", "feature/checkout", "fix/flaky-cache"]
STEP_NAMES = ["Set up job", "Checkout", "Restore cache", "Install dependencies", "Run",
              "Upload artifacts", "Complete job"]

GREEN = "\x1b[32m"
RED = "\x1b[31m"
YELLOW = "\x1b[33m"
BOLD = "\x1b[1m"
RESET = "\x1b[0m"


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def log_line(t, text):
    return "%s.%07dZ %s" % (t.strftime("%Y-%m-%dT%H:%M:%S"), t.microsecond * 10, text)


def make_job(rng, job_id, run_id, attempt, name, t_created, fail):
    queue = dt.timedelta(seconds=rng.randint(2, 90))
    t = t_created + queue
    steps, lines = [], []
    conclusion = "success"
    for n, sname in enumerate(STEP_NAMES, 1):
        dur = dt.timedelta(seconds=rng.randint(1, 8) if sname != "Run" else rng.randint(40, 400))
        s_fail = fail and sname == "Run"
        steps.append({"name": sname if sname != "Run" else "Run %s" % name, "number": n,
                      "status": "completed",
                      "conclusion": "failure" if s_fail else ("skipped" if conclusion == "failure"
                                                                and sname == "Upload artifacts"
                                                                else "success"),
                      "started_at": iso(t), "completed_at": iso(t + dur)})
        lt = t + dt.timedelta(milliseconds=300)
        lines.append(log_line(lt, "##[group]%s" % steps[-1]["name"]))
        if sname == "Run":
            for i in range(rng.randint(5, 30)):
                lines.append(log_line(lt, "%s[%s]%s %s %d/%d" % (
                    BOLD, name, RESET, rng.choice(["compiling", "testing", "checking",
                                                   "linking"]), i + 1, 30)))
            if s_fail:
                lines.append(log_line(lt, "%sFAIL%s tests/test_checkout.py::test_refund_rounding"
                                      % (RED, RESET)))
                lines.append(log_line(lt, "%sAssertionError: expected 10.05, got 10.04%s"
                                      % (RED, RESET)))
                lines.append(log_line(lt, "##[error]Process completed with exit code 1."))
                conclusion = "failure"
            else:
                lines.append(log_line(lt, "%s%d passed%s, %s1 warning%s in %ds" % (
                    GREEN, rng.randint(100, 900), RESET, YELLOW, RESET, dur.seconds)))
        lines.append(log_line(lt, "##[endgroup]"))
        t = t + dur
    job = {"id": job_id, "run_id": run_id, "run_attempt": attempt, "name": name,
           "status": "completed", "conclusion": conclusion, "created_at": iso(t_created),
           "started_at": iso(t_created + queue), "completed_at": iso(t),
           "head_sha": None, "head_branch": None, "workflow_name": None,
           "runner_name": "gh-runner-%d" % rng.randint(1, 6), "labels": ["ubuntu-latest"],
           "steps": steps, "html_url": "https://github.com/runs/%d" % job_id}
    return job, "\n".join(lines) + "\n", t


def generate(fake, rng, repo_index, logs):
    """A week of runs: mostly green, a flaky streak, a re-run that passes on the same sha."""
    now = dt.datetime.utcnow().replace(microsecond=0)
    run_id = 9000000 + repo_index * 100000
    job_id = 50000000 + repo_index * 1000000
    runs = []
    for k in range(40):
        wf_id, wf_name, path, jobs = WORKFLOWS[0] if k % 4 else WORKFLOWS[1]
        created = now - dt.timedelta(hours=168 * (40 - k) / 40.0, minutes=rng.randint(0, 50))
        branch = rng.choice(BRANCHES)
        sha = "%040x" % rng.getrandbits(160)
        fail_p = 0.35 if branch.startswith("fix/") else 0.12
        attempts = 1
        first_fails = rng.random() < fail_p
        if first_fails and rng.random() < 0.4:
            attempts = 2  # re-run: flaky when the second attempt passes
        run_id += rng.randint(1, 9)
        for attempt in range(1, attempts + 1):
            fail = first_fails if attempt == 1 else rng.random() < 0.2
            t0 = created + dt.timedelta(minutes=30 * (attempt - 1))
            job_objs, end = [], t0
            failed_job = rng.randrange(len(jobs)) if fail else None
            for i, jname in enumerate(jobs):
                job_id += 1
                job, text, t_end = make_job(rng, job_id, run_id, attempt, jname, t0,
                                            i == failed_job)
                job["head_sha"], job["head_branch"], job["workflow_name"] = sha, branch, wf_name
                logs[job_id] = text
                job_objs.append(job)
                end = max(end, t_end)
            run = fake.add_run(run_id, attempt=attempt, conclusion="failure" if fail else "success",
                               created=iso(created), jobs=job_objs, workflow_id=wf_id, path=path,
                               name=wf_name, run_number=k + 1, head_sha=sha, branch=branch)
            run["run_started_at"] = iso(t0)
            run["updated_at"] = iso(end)
            runs.append((run_id, attempt, wf_name, path, branch, sha, k + 1))
    return runs


TESTS = ["test_create_order", "test_refund_rounding", "test_cache_warmup", "test_currency_format",
         "test_login_redirect", "test_webhook_retry", "test_invoice_pdf", "test_search_paging"]


def junit(rng, fail, attempt, number):
    """A pytest-style JUnit file for a test job. A failed job fails test_refund_rounding (the
    error its log shows); test_cache_warmup is flaky: it fails in first attempts now and then,
    or passes only on its retry within the job."""
    cases = []
    for name in TESTS:
        t = "%.3f" % rng.uniform(0.01, 2.5)
        body = ""
        if name == "test_refund_rounding" and fail:
            body = ('<failure message="AssertionError: expected 10.05, got 10.04">'
                    "tests/test_checkout.py:42: AssertionError</failure>")
        elif name == "test_cache_warmup" and attempt == 1 and rng.random() < 0.3:
            body = ('<failure message="TimeoutError: cache not warm after %ds">'
                    "tests/test_cache.py:17: TimeoutError</failure>" % rng.randint(5, 30))
        elif name == "test_cache_warmup" and number % 3 == 0:
            # Failed once and passed on its retry within the job (a rerun plugin's record).
            body = ('<flakyFailure message="TimeoutError: cache not warm after 30s">'
                    "tests/test_cache.py:17: TimeoutError</flakyFailure>")
        elif name == "test_invoice_pdf":
            body = '<skipped message="needs wkhtmltopdf"/>'
        cases.append('<testcase classname="tests.test_app" name=%s file="tests/test_app.py" '
                     'time="%s">%s</testcase>' % (quoteattr(name), t, body))
    return ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" '
            'tests="%d">%s</testsuite></testsuites>\n' % (len(cases), "".join(cases)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cipulsed", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--grpc", required=True)
    ap.add_argument("--agent-runs", type=int, default=6,
                    help="most recent runs per repository reported through the agent")
    args = ap.parse_args()
    rng = random.Random(20261127)
    standin = GitHubStandIn()
    logs = {}

    def job_logs(req):
        jid = int(req["path"].split("?")[0].split("/")[6])
        if jid not in logs:
            return 404, {}, {"message": "Not Found"}
        return 302, {"Location": "%s/_blob/%d" % (standin.url, jid)}, b""

    def blob(req):
        return 200, {"Content-Type": "text/plain"}, logs[int(req["path"].split("/")[2])]

    try:
        env = dict(os.environ, CIPULSE_GITHUB_API_URL=standin.url, CIPULSE_GITHUB_TOKEN="demo")
        for i, (name, repo_id) in enumerate(REPOS):
            fake = FakeGitHub(standin, name, repo_id)
            runs = generate(fake, rng, i, logs)
            for (rid, _a), jobs in fake.jobs.items():
                for j in jobs:
                    standin.route("GET", "/repos/%s/actions/jobs/%d/logs" % (name, j["id"]),
                                  job_logs)
                    standin.route("GET", "/_blob/%d" % j["id"], blob)
            token = subprocess.run([args.cipulsed, "token", "create", "--kind", "ingest", "--repo",
                                    name], env=env, check=True, capture_output=True,
                                   text=True).stdout.strip()
            subprocess.run([args.cipulsed, "backfill", "--repo", name, "--days", "8"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            print("  %-20s %d runs imported by backfill" % (name, len(runs)))
            for (rid, attempt, wf, path, branch, sha, number) in runs[-args.agent_runs:]:
                aenv = {k: v for k, v in os.environ.items() if not k.startswith("CIPULSE_")}
                aenv.update({
                    "GITHUB_API_URL": standin.url, "GITHUB_SERVER_URL": "https://github.com",
                    "GITHUB_REPOSITORY": name, "GITHUB_REPOSITORY_ID": str(repo_id),
                    "GITHUB_WORKFLOW_REF": "%s/%s@refs/heads/%s" % (name, path, branch),
                    "GITHUB_RUN_ID": str(rid), "GITHUB_RUN_ATTEMPT": str(attempt),
                    "GITHUB_RUN_NUMBER": str(number), "GITHUB_WORKFLOW": wf,
                    "GITHUB_JOB": "cipulse", "GITHUB_SHA": sha, "GITHUB_REF_NAME": branch,
                    "GITHUB_EVENT_NAME": "push", "GITHUB_ACTOR": "octocat",
                    "RUNNER_NAME": "demo-runner", "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
                    "GITHUB_TOKEN": "demo", "CIPULSE_COLLECTOR": args.grpc,
                    "CIPULSE_TOKEN": token, "CIPULSE_LOG_LEVEL": "warn",
                    "CIPULSE_SPOOL_DIR": os.path.join(os.environ.get("DEMO_STATE", "/tmp"),
                                                      "spool"),
                })
                subprocess.run([args.agent, "run", "--strict"], env=aenv, check=True,
                               stdout=subprocess.DEVNULL)
                # The test job again, in report mode, with its JUnit results.
                job = [j for j in fake.jobs[(rid, attempt)] if j["name"] == "test"]
                if not job:
                    continue
                job = job[0]
                failed = job["conclusion"] == "failure"
                with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
                    f.write(junit(rng, failed, attempt, number))
                try:
                    renv = dict(aenv, CIPULSE_TEST_RESULTS=f.name, GITHUB_JOB="test")
                    subprocess.run([args.agent, "--job-id=%d" % job["id"],
                                    "--job-status=%s" % job["conclusion"], "--strict"],
                                   env=renv, check=True, stdout=subprocess.DEVNULL)
                finally:
                    os.unlink(f.name)
            print("  %-20s %d runs reported by cipulse-agent (run mode, with log tails; the "
                  "test jobs with JUnit results)" % (name, min(args.agent_runs, len(runs))))
    finally:
        standin.close()


if __name__ == "__main__":
    main()
