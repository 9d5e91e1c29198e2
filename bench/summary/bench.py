"""Summary benchmark: what the job summary adds to a job. The same report (1 job, 30 steps) is
sent by cipulse-agent with the summary on and off, alternating, to the real collector with a
history of earlier runs in PostgreSQL (--history runs of the same job on the default branch);
prints the median wall time of each, their difference (what a job waits for the summary), and
the agent's own measure of the Summary call (its log line "job summary written ... ms=").

scripts/bench-summary.sh starts the collector and PostgreSQL; every summary is checked to hold
the step table (a summary that is one line "no job summary" fails the run).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from agent_fakes import AGENT, FakeGitHub, agent_env, make_job  # noqa: E402


def run(env):
    """The agent's whole process, start to exit: wall seconds and its stderr."""
    start = time.monotonic()
    p = subprocess.run([AGENT, "report"], env=env, capture_output=True, text=True)
    wall = time.monotonic() - start
    if p.returncode != 0 or "::warning::" in p.stdout:
        raise SystemExit("bench-summary: the agent failed (%d): %s %s"
                         % (p.returncode, p.stdout, p.stderr))
    return wall, p.stderr

STEPS = 30


def seed(url, runs):
    """`runs` earlier runs of job "build" (30 steps each) on the default branch, one a minute."""
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("UPDATE repositories SET default_branch = 'main' WHERE full_name = 'o/r' "
                    "RETURNING id")
        repo = cur.fetchone()[0]
        cur.execute("UPDATE repositories SET id = 4242 WHERE id = %s", (repo,))
        cur.execute(
            "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, head_branch, status, "
            "conclusion, completed_at) SELECT 4242, 100000 + i, 1, 'main', 'completed', "
            "'success', now() - make_interval(mins => i) FROM generate_series(1, %s) i", (runs,))
        cur.execute(
            "INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status, conclusion, "
            "completed_at) SELECT 4242, 1000000 + i, 100000 + i, 1, 'build', 'completed', "
            "'success', now() - make_interval(mins => i) FROM generate_series(1, %s) i", (runs,))
        cur.execute(
            "INSERT INTO steps (repo_id, job_id, number, name, status, conclusion, started_at, "
            "completed_at) SELECT 4242, 1000000 + i, s, 'Step ' || s, 'completed', 'success', "
            "now() - make_interval(mins => i, secs => 8 + (i %% 3)), now() - make_interval(mins => i) "
            "FROM generate_series(1, %s) i, generate_series(1, %s) s", (runs, STEPS))
        cur.execute("ANALYZE")
    conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--history", type=int, default=200)
    ap.add_argument("--collector", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--database-url", required=True)
    a = ap.parse_args()

    seed(a.database_url, a.history)
    gh = FakeGitHub()
    work = tempfile.mkdtemp(prefix="cipulse-bench-summary-")
    spool = os.path.join(work, "spool")
    os.makedirs(os.path.join(spool, "home"))
    summary = os.path.join(work, "summary.md")
    t0 = int(time.time() * 1000) - 3600 * 1000
    steps = [("Step %d" % (i + 1), "success", t0 + i * 10000, t0 + i * 10000 + 9000)
             for i in range(STEPS)]
    gh.jobs = [make_job(5001, "build", status="in_progress", runner="runner-1", t0=t0,
                        steps=steps)]
    base = dict(CIPULSE_TOKEN=a.token, CIPULSE_JOB_ID=5001, CIPULSE_JOB_STATUS="success",
                CIPULSE_LOG_LEVEL="info", GITHUB_STEP_SUMMARY=summary)
    runs = {"on": agent_env(gh.url, a.collector, spool, CIPULSE_SUMMARY="true", **base),
            "off": agent_env(gh.url, a.collector, spool, CIPULSE_SUMMARY="false", **base)}
    wall = {"on": [], "off": []}
    call_ms = []
    for i in range(a.runs + 1):
        for key, env in runs.items():
            if os.path.exists(summary):
                os.unlink(summary)
            w, err = run(env)
            if key == "on":
                with open(summary) as f:
                    text = f.read()
                if "| Step 30 |" not in text:
                    raise SystemExit("bench-summary: no step table in the summary:\n" + text)
                m = re.search(r"job summary written .* ms=(\d+)", err)
                if m and i > 0:
                    call_ms.append(int(m.group(1)))
            elif os.path.exists(summary):
                raise SystemExit("bench-summary: a summary with CIPULSE_SUMMARY=false")
            if i > 0:  # the first round warms caches
                wall[key].append(w)
    gh.stop()
    on, off = statistics.median(wall["on"]), statistics.median(wall["off"])
    print("workload: 1 job, %d steps; history: %d runs of the job on the default branch "
          "(%d steps rows)" % (STEPS, a.history, a.history * STEPS))
    print("runs: %d each, alternating, medians (whole agent process: start to exit)" % a.runs)
    print("agent wall, summary off: %.1f ms" % (off * 1000))
    print("agent wall, summary on:  %.1f ms" % (on * 1000))
    print("added by the summary:    %.1f ms (target < 100 ms)" % ((on - off) * 1000))
    if call_ms:
        print("Summary call as the agent logs it (channel, call, Markdown, write): median %d ms"
              % statistics.median(call_ms))


if __name__ == "__main__":
    main()
