"""Agent benchmark: one report of 30 steps with 100-line tails, sent by cipulse-agent and by an
equivalent Node.js client (@grpc/grpc-js), to the same collector in the same run.

Measures each whole process (fork to exit) with bench/agent/measure.c: CPU time (user+sys),
wall time, peak RSS (see measure.c for why not wait4() from here); runs the two alternately N
times and prints medians and ratios. The C agent does more than the Node client: it also asks
the GitHub API stand-in for the job, reads and masks the 30 exec tails from its spool, and
encodes the report itself.

exec mode: the agent (and each --compare build) also runs `exec -- true` each round, the mode
that wraps each step of a job: no report, no GitHub API.

Test results: the C agent runs once more per round with CIPULSE_TEST_RESULTS naming a generated
JUnit file of --junit-tests tests (default 20,000); CPU, wall and peak RSS are printed as ratios
to the same agent without it, with the file's and the report's sizes.

Collector: the one at --collector (scripts/bench-agent.sh starts the real cipulsed with
PostgreSQL; with --database-url every report is checked to be stored), else a recording gRPC
stand-in (Debian's python3-grpcio) that acknowledges at once.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from agent_fakes import AGENT, FakeCollector, FakeGitHub, agent_env, make_job  # noqa: E402

STEPS, LINES = 30, 100


def write_junit(path, tests):
    """A JUnit file of `tests` test cases in suites of 100, pytest's shape: 2% failed with a
    traceback, 3% skipped, the rest passed. Returns its size in bytes."""
    with open(path, "w") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?><testsuites>')
        for s in range(0, tests, 100):
            f.write('<testsuite name="suite_%03d" tests="100">' % (s // 100))
            for i in range(s, min(s + 100, tests)):
                f.write('<testcase classname="tests.test_module_%03d" name="test_case_%05d" '
                        'file="tests/test_module_%03d.py" time="0.%03d"' % (s // 100, i, s // 100,
                                                                            i % 1000))
                if i % 50 == 7:
                    f.write('><failure message="AssertionError: assert %d == %d">'
                            % (i, i + 1) + "Traceback (most recent call last):\n"
                            + "  File &quot;tests/test_module.py&quot;, line 42, in test\n" * 8
                            + "AssertionError</failure></testcase>")
                elif i % 33 == 5:
                    f.write('><skipped message="not on this platform"/></testcase>')
                else:
                    f.write("/>")
            f.write("</testsuite>")
        f.write("</testsuites>")
    return os.path.getsize(path)


def tail_text(step):
    return "".join("step %02d line %03d: compiling src/module_%03d.c -o build/module_%03d.o ok\n"
                   % (step, i, i, i) for i in range(LINES))


def measure(tool, argv, env):
    """Runs argv under the measure helper; returns cpu (s), wall (s), rss (MiB)."""
    fd, out = tempfile.mkstemp(prefix="cipulse-measure-")
    os.close(fd)
    try:
        p = subprocess.run([tool, out] + argv, env=env, capture_output=True)
        if p.returncode != 0:
            raise SystemExit("%s failed (%d): %s %s" % (argv[0], p.returncode, p.stdout, p.stderr))
        with open(out) as f:
            m = dict(kv.split("=") for kv in f.read().split())
    finally:
        os.unlink(out)
    return {"cpu": int(m["cpu_us"]) / 1e6, "wall": int(m["wall_us"]) / 1e6,
            "rss": int(m["maxrss_kb"]) / 1024.0}


def report_bytes(metrics_url):
    """cipulse_report_bytes_total of the collector's /metrics."""
    with urllib.request.urlopen(metrics_url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("cipulse_report_bytes_total"):
                return float(line.split()[-1])
    raise SystemExit("no cipulse_report_bytes_total in %s" % metrics_url)


def check_stored(url, expected):
    """Every report of the run is in the database, with the job's steps and tails."""
    import psycopg2
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM reports")
            reports = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM steps WHERE job_id = 5001")
            steps = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM logs WHERE job_id = 5001 AND step_number > 0")
            logs = cur.fetchone()[0]
    finally:
        conn.close()
    print("stored: %d reports (expected %d), job 5001 with %d steps and %d step tails"
          % (reports, expected, steps, logs))
    if reports != expected or steps != STEPS or logs != STEPS:
        raise SystemExit("bench-agent: the collector did not store every report")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--collector", help="host:port of a running collector (default: a recording one)")
    ap.add_argument("--token", default="bench-token")
    ap.add_argument("--measure", required=True, help="the measure helper (bench/agent/measure.c)")
    ap.add_argument("--metrics", help="the collector's /metrics URL (report sizes)")
    ap.add_argument("--database-url", help="the collector's database (checks what was stored)")
    ap.add_argument("--no-node", action="store_true",
                    help="leave the Node.js client out (a quick run without npm packages)")
    ap.add_argument("--junit-tests", type=int, default=20000,
                    help="also measure the agent reading a JUnit file of this many tests (0: not)")
    ap.add_argument("--compare", action="append", metavar="AGENT",
                    help="another cipulse-agent binary to measure in the same run (repeatable)")
    a = ap.parse_args()

    gh = FakeGitHub()
    fake = None if a.collector else FakeCollector()
    addr = a.collector or fake.addr
    work = tempfile.mkdtemp(prefix="cipulse-bench-agent-")
    spool = os.path.join(work, "spool")
    os.makedirs(os.path.join(spool, "home"))
    t0 = int(time.time() * 1000) - 3600 * 1000
    steps = [("Step %d" % (i + 1), "success", t0 + i * 10000, t0 + i * 10000 + 9000)
             for i in range(STEPS)]
    job_json = make_job(5001, "build", status="in_progress", runner="runner-1", t0=t0, steps=steps)
    gh.jobs = [job_json]
    env = agent_env(gh.url, addr, spool, CIPULSE_TOKEN=a.token, CIPULSE_JOB_ID=5001,
                    CIPULSE_JOB_STATUS="success", CIPULSE_LOG_LEVEL="warn")
    tails = [tail_text(i + 1) for i in range(STEPS)]

    # The same report for the Node client (what the C agent builds from the API and its tails).
    def ms(s):
        return int(time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone) * 1000
    workload = {
        "header": {"report_id": "", "agent_version": "bench", "mode": 1,
                   "sent_at": int(time.time() * 1000),
                   "repository": {"id": 4242, "full_name": "o/r", "server_url": "https://github.com"},
                   "workflow": {"name": "CI", "path": ".github/workflows/ci.yml"},
                   "run": {"id": 1000, "attempt": 1, "number": 12, "event": "push",
                           "head_branch": "main", "head_sha": "a" * 40, "actor": "octocat"}},
        "job": {"id": 5001, "name": "build", "status": "completed", "conclusion": "success",
                "started_at": ms(job_json["started_at"]), "runner_name": "runner-1",
                "labels": ["ubuntu-latest"], "runner_os": "Linux", "runner_arch": "X64",
                "steps": [{"number": s["number"], "name": s["name"], "status": s["status"],
                           "conclusion": s["conclusion"], "started_at": ms(s["started_at"]),
                           "completed_at": ms(s["completed_at"])} for s in job_json["steps"]]},
        "tails": [{"step": i + 1, "text": t, "original_size": len(t), "truncated": False}
                  for i, t in enumerate(tails)],
    }
    wpath = os.path.join(work, "workload.json")

    def record_version(agent):
        """The exec record version this agent writes (1: the tail inside the JSON; 2: a JSON
        line, then the tail raw), from one `exec -- true` in a spool of its own."""
        d = tempfile.mkdtemp(dir=work)
        os.makedirs(os.path.join(d, "home"))
        subprocess.run([agent, "exec", "--", "true"], env=dict(env, CIPULSE_SPOOL_DIR=d),
                       check=True, capture_output=True)
        name, = os.listdir(os.path.join(d, "exec"))
        with open(os.path.join(d, "exec", name), "rb") as f:
            return json.loads(f.read().split(b"\n", 1)[0])["v"]

    def write_records(version):
        """The 30 exec records as the agent's own exec would have written them."""
        d = os.path.join(spool, "exec")
        os.makedirs(d, exist_ok=True)
        for i, t in enumerate(tails):
            start = t0 + i * 10000 + 2000
            rec = {"v": version, "run_id": 1000, "run_attempt": 1, "job": "build",
                   "runner": "runner-1", "job_id": 5001, "command": "make", "started_at": start,
                   "completed_at": start + 5000, "exit_code": 0, "original_size": len(t),
                   "truncated": False}
            raw = t.encode()
            if version == 1:
                rec["text"] = t
                data = json.dumps(rec).encode()
            else:
                rec["text_bytes"] = len(raw)
                data = json.dumps(rec, separators=(",", ":")).encode() + b"\n" + raw
            with open(os.path.join(d, "exec-1000-1-build-runner_1-%013d-1.json" % start),
                      "wb") as f:
                f.write(data)

    node = ["node", os.path.join(HERE, "client.js"), wpath, addr, a.token]
    # exec mode, the most frequent one (once per wrapped step): `exec -- true`, its own spool
    # (its records must not join the report's).
    exec_spool = os.path.join(work, "exec-spool")
    os.makedirs(os.path.join(exec_spool, "home"))
    exec_env = dict(env, CIPULSE_SPOOL_DIR=exec_spool)
    exec_argv = ["exec", "--", "true"]
    # The agent under test first; --compare binaries (e.g. an older build) run in the same loop.
    clients = [("c", "cipulse-agent (C, gRPC core)", [AGENT, "report"], env),
               ("exec", "cipulse-agent exec -- true", [AGENT] + exec_argv, exec_env)]
    for k, path in enumerate(a.compare or []):
        print("compare %d: %s" % (k + 1, path))
        clients.append(("cmp%d" % k, "compare %d" % (k + 1), [path, "report"], env))
        clients.append(("cmp%d-exec" % k, "compare %d exec -- true" % (k + 1),
                        [path] + exec_argv, exec_env))
    junit_size = 0
    if a.junit_tests:
        junit = os.path.join(work, "junit.xml")
        junit_size = write_junit(junit, a.junit_tests)
        clients.append(("junit", "cipulse-agent + %d tests" % a.junit_tests, [AGENT, "report"],
                        dict(env, CIPULSE_TEST_RESULTS=junit)))
    if not a.no_node:
        clients.append(("node", "Node.js @grpc/grpc-js", node, dict(os.environ)))
    versions = {key: record_version(argv[0]) for key, _, argv, _ in clients
                if key != "node" and not key.endswith("exec")}
    results = {key: [] for key, _, _, _ in clients}
    sizes = {}
    load0 = os.getloadavg()
    for i in range(a.runs + 1):
        workload["header"]["report_id"] = "bench-node-%d-%d" % (os.getpid(), i)
        with open(wpath, "w") as f:
            json.dump(workload, f)
        for key, _, argv, cenv in clients:
            if key.endswith("exec"):
                shutil.rmtree(os.path.join(exec_spool, "exec"), ignore_errors=True)
            else:
                write_records(versions.get(key, 1))
            before = report_bytes(a.metrics) if a.metrics and i == 0 else None
            r = measure(a.measure, argv, cenv)
            if before is not None:
                sizes[key] = report_bytes(a.metrics) - before
            if i > 0:  # the first round warms caches
                results[key].append(r)
    if fake:
        sizes = [sum(len(m) for m in r.raw) for r in fake.reports]
        kinds = fake.reports[0]
        print("collector: recording gRPC stand-in (acknowledges at once)")
        print("workload: 1 job, %d steps, %d tails x %d lines; report %d bytes in %d messages (C)"
              % (len(kinds.jobs[0]["steps"]), len(kinds.logs), LINES, sizes[0], len(kinds.raw)))
        assert len(kinds.logs) == STEPS, "the C agent did not send every tail"
    else:
        print("collector: %s%s" % (addr, " (cipulsed + PostgreSQL)" if a.database_url else ""))
        print("workload: 1 job, %d steps, %d tails x %d lines; report bytes received: %s"
              % (STEPS, STEPS, LINES, ", ".join("%s %d" % (k, v) for k, v in sizes.items())
                 if sizes else "n/a"))
    load1 = os.getloadavg()
    if a.database_url:
        reporting = [k for k, _, _, _ in clients if not k.endswith("exec")]
        check_stored(a.database_url, len(reporting) * (a.runs + 1))
    print("runs: %d each, alternating, medians (whole process: start to exit)" % a.runs)
    print("load average (1, 5, 15 min): %.1f %.1f %.1f at the start, %.1f %.1f %.1f at the end"
          % (load0 + load1))
    med = {k: {m: statistics.median(r[m] for r in v) for m in ("cpu", "wall", "rss")}
           for k, v in results.items()}
    print("%-30s %10s %10s %12s" % ("client", "CPU ms", "wall ms", "peak RSS MiB"))
    for key, label, _, _ in clients:
        print("%-30s %10.1f %10.1f %12.1f" % (label, med[key]["cpu"] * 1000,
                                               med[key]["wall"] * 1000, med[key]["rss"]))
    for key, label, _, _ in clients if "node" in med else []:
        if key in ("junit", "node") or key.endswith("exec"):
            continue
        print("ratios (Node / %s): CPU %.1fx, wall %.1fx, peak RSS %.1fx"
              % ("C" if key == "c" else label.strip(), med["node"]["cpu"] / med[key]["cpu"],
                 med["node"]["wall"] / med[key]["wall"], med["node"]["rss"] / med[key]["rss"]))
    if "node" in med:
        # Issue 14 item 3: each target, its result in this run, and what the result is made of
        # (the C agent and its baseline, the Node client; a --compare build's result after it).
        c, n = med["c"], med["node"]
        cmps = [k for k, _, _, _ in clients if k.startswith("cmp") and not k.endswith("exec")]
        for what, m, goal in (("CPU, Node / C", "cpu", 15), ("peak RSS, Node / C", "rss", 4)):
            unit = "ms" if m == "cpu" else "MiB"
            scale = 1000 if m == "cpu" else 1
            print("target %-20s >= %2dx  result %5.1fx  (C %.1f %s, Node %.1f %s%s)  %s"
                  % (what, goal, n[m] / c[m], c[m] * scale, unit, n[m] * scale, unit,
                     "".join("; compare %d: %.1fx" % (int(k[3:]) + 1, n[m] / med[k][m])
                             for k in cmps),
                     "met" if n[m] / c[m] >= goal else "NOT met"))
        print("target %-20s  < 40 ms result %5.1f ms (Node %.1f ms%s)  %s"
              % ("C wall", c["wall"] * 1000, n["wall"] * 1000,
                 "".join("; compare %d: %.1f ms" % (int(k[3:]) + 1, med[k]["wall"] * 1000)
                         for k in cmps),
                 "met" if c["wall"] < 0.040 else "NOT met"))
    if a.junit_tests:
        extra = ""
        if fake:
            extra = ", report %d bytes (%d without tests)" % (
                sizes[[k for k, _, _, _ in clients].index("junit")], sizes[0])
        elif "junit" in sizes and "c" in sizes:
            extra = ", report %d bytes (%d without tests)" % (sizes["junit"], sizes["c"])
        print("test results: %d tests, JUnit file %.1f MiB%s" % (a.junit_tests,
                                                                 junit_size / 1048576.0, extra))
        print("ratios (with tests / without, same agent): CPU %.2fx, wall %.2fx, peak RSS %.2fx"
              % (med["junit"]["cpu"] / med["c"]["cpu"], med["junit"]["wall"] / med["c"]["wall"],
                 med["junit"]["rss"] / med["c"]["rss"]))
    gh.stop()
    if fake:
        fake.stop()


if __name__ == "__main__":
    main()
