"""A generated pipeline history for the API tests, and the DESIGN.md metrics computed from the
raw rows in Python (independently of the collector's SQL, triggers and C code).

insert_history(db, seed) writes repositories, workflows, runs (with re-run attempts on the same
sha), jobs, steps and log tails with plain SQL. raw(db) reads the raw tables back; metrics(...)
computes every figure the API reports from them.
"""
import datetime as dt
import math
import random

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
KNOWN = ["success", "failure", "cancelled", "skipped", "timed_out", "neutral", "action_required",
         "stale", "startup_failure"]
REPOS = [(1001, "octo/alpha"), (1002, "octo/beta")]
WORKFLOWS = {1001: [(11, "CI", ".github/workflows/ci.yml"), (12, "Release", ".github/workflows/rel.yml"),
                    (13, "Nightly", ".github/workflows/nightly.yml")],
             1002: [(21, "Build", ".github/workflows/build.yml"), (22, "Lint", ".github/workflows/lint.yml")]}
BRANCHES = ["main", "dev", "feature/x"]
CONCLUSIONS = (["success"] * 55 + ["failure"] * 20 + ["timed_out"] * 4 + ["cancelled"] * 8 +
               ["skipped"] * 4 + ["neutral"] * 3 + ["action_required"] * 2 + ["stale"] * 2 +
               ["startup_failure"] * 2)
LOG_WORDS = ["compiling", "linking", "test", "passed", "warning", "downloading", "cache", "hit"]


def ms(t):
    """Epoch milliseconds, floored, of an aware datetime (exact integer arithmetic)."""
    return (t - EPOCH) // dt.timedelta(milliseconds=1)


def iso_ms(value):
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def insert_history(db, seed=7, runs=400, now=None):
    """Writes a history ending around `now`; returns a summary dict (ids, counts)."""
    rnd = random.Random(seed)
    now = now or dt.datetime.now(UTC)
    conn = db.connect()
    # One transaction per attempt, as the collector writes one: the /metrics counters count an
    # attempt when the transaction that completes it commits, with the jobs it stored.
    conn.autocommit = False
    cur = conn.cursor()
    for rid, name in REPOS:
        cur.execute("INSERT INTO repositories (id, full_name) VALUES (%s, %s)", (rid, name))
        for wid, wname, path in WORKFLOWS[rid]:
            cur.execute("INSERT INTO workflows (repo_id, id, name, path) VALUES (%s, %s, %s, %s)",
                        (rid, wid, wname, path))
    job_id = 500000
    run_id = 9000000
    logs = 0
    for i in range(runs):
        rid, _ = rnd.choice(REPOS)
        wid = rnd.choice(WORKFLOWS[rid])[0]
        branch = rnd.choice(BRANCHES) if rnd.random() > 0.03 else None
        sha = "%040x" % rnd.getrandbits(160)
        run_id += rnd.randint(1, 50)
        # Spread over 40 days, denser in the last day so that 1h and 24h windows have data.
        r = rnd.random()
        if r < 0.15:
            age = dt.timedelta(seconds=rnd.uniform(0, 3600))
        elif r < 0.4:
            age = dt.timedelta(seconds=rnd.uniform(0, 86400))
        else:
            age = dt.timedelta(seconds=rnd.uniform(0, 40 * 86400))
        created = now - age - dt.timedelta(seconds=rnd.uniform(60, 3000))
        nattempts = 1 if rnd.random() < 0.7 else rnd.randint(2, 3)
        t = created
        for attempt in range(1, nattempts + 1):
            started = t + dt.timedelta(seconds=rnd.uniform(1, 120))
            in_progress = attempt == nattempts and rnd.random() < 0.04
            concl = None if in_progress else rnd.choice(CONCLUSIONS)
            if attempt < nattempts and rnd.random() < 0.6:
                concl = rnd.choice(["failure", "timed_out"])  # re-runs mostly follow failures
            shape = rnd.random()  # jobs with timings / jobs without / no jobs at all
            njobs = 0 if shape < 0.08 else rnd.randint(1, 4)
            end = started
            jobs = []
            for k in range(njobs):
                jcreated = started + dt.timedelta(seconds=rnd.uniform(0, 30))
                if shape < 0.13 or (rnd.random() < 0.1):
                    jstart = jend = None  # never started (skipped or still queued)
                else:
                    jstart = jcreated + dt.timedelta(seconds=rnd.uniform(0, 400))
                    jend = None if in_progress and k == njobs - 1 else \
                        jstart + dt.timedelta(seconds=rnd.uniform(5, 1500))
                    if jend:
                        end = max(end, jend)
                job_id += rnd.randint(1, 5)
                jobs.append((job_id, "job-%d" % k, jcreated, jstart, jend))
            completed = None if in_progress else end + dt.timedelta(seconds=rnd.uniform(1, 30))
            # Some completions land a little in the future: outside every window ending now.
            if completed and rnd.random() < 0.01:
                completed = now + dt.timedelta(minutes=5)
            updated = completed if completed else end
            cur.execute(
                "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, run_number,"
                " name, event, status, conclusion, head_branch, head_sha, actor, created_at,"
                " run_started_at, updated_at, completed_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (rid, run_id, attempt, wid if rnd.random() > 0.02 else None, i + 1, "run %d" % i,
                 "push", "in_progress" if in_progress else "completed", concl, branch, sha,
                 "dev%d" % rnd.randint(1, 5), created,
                 started if rnd.random() > 0.05 else None, updated, completed))
            for (jid, jname, jc, js, je) in jobs:
                cur.execute(
                    "INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status,"
                    " conclusion, created_at, started_at, completed_at, runner_name)"
                    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (rid, jid, run_id, attempt, jname, "completed" if je else "queued",
                     concl if je else None, jc, js, je, "runner-1"))
                for n in range(1, rnd.randint(1, 3) + 1):
                    cur.execute(
                        "INSERT INTO steps (repo_id, job_id, number, name, status, conclusion,"
                        " started_at, completed_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                        (rid, jid, n, "step %d" % n, "completed", "success", js, je))
                if rnd.random() < 0.3:
                    lines = [" ".join(rnd.choice(LOG_WORDS) for _ in range(6)) for _ in range(8)]
                    if rnd.random() < 0.2:
                        lines.insert(rnd.randint(0, 8), "Error: Segmentation FAULT in job %d" % jid)
                    if rnd.random() < 0.1:
                        lines.append("coverage 100%_done literal")
                    cur.execute(
                        "INSERT INTO logs (repo_id, job_id, step_number, content) VALUES (%s,%s,%s,%s)",
                        (rid, jid, 1, "\n".join(lines)))
                    logs += 1
            conn.commit()
            t = (completed or end) + dt.timedelta(seconds=rnd.uniform(10, 600))
    conn.commit()
    cur.close()
    conn.close()
    return {"now": now, "logs": logs}


def raw(db):
    """The raw rows, without any column the API derives (is_latest, duration_s, ...)."""
    runs = db.query("SELECT repo_id, run_id, run_attempt, workflow_id, status, conclusion,"
                    " head_branch, head_sha, created_at, run_started_at, updated_at, completed_at,"
                    " inserted_at FROM workflow_runs")
    jobs = db.query("SELECT repo_id, job_id, run_id, run_attempt, created_at, started_at,"
                    " completed_at FROM jobs")
    repos = {r["id"]: r["full_name"] for r in db.query("SELECT id, full_name FROM repositories")}
    by_attempt = {}
    for j in jobs:
        by_attempt.setdefault((j["repo_id"], j["run_id"], j["run_attempt"]), []).append(j)
    return {"runs": runs, "jobs": by_attempt, "repos": repos}


def duration(run, jobs):
    starts = [j["started_at"] for j in jobs if j["started_at"] is not None]
    ends = [j["completed_at"] for j in jobs if j["completed_at"] is not None]
    if starts and ends:
        return (max(ends) - min(starts)).total_seconds()
    if run["updated_at"] is not None and run["run_started_at"] is not None:
        return (run["updated_at"] - run["run_started_at"]).total_seconds()
    return None


def latest_attempts(data):
    latest = {}
    for r in data["runs"]:
        k = (r["repo_id"], r["run_id"])
        if k not in latest or r["run_attempt"] > latest[k]["run_attempt"]:
            latest[k] = r
    return latest


def window_runs(data, from_ms, to_ms, repo_id=None, workflow=None, branch=None):
    """The runs of a window: latest attempt of each run whose completion falls in [from, to)."""
    out = []
    for r in latest_attempts(data).values():
        if r["completed_at"] is None:
            continue
        t = ms(r["completed_at"])
        if not (from_ms <= t < to_ms):
            continue
        if repo_id is not None and r["repo_id"] != repo_id:
            continue
        if workflow is not None and r["workflow_id"] != workflow:
            continue
        if branch is not None and r["head_branch"] != branch:
            continue
        out.append(r)
    return out


def percentile(values, p):
    if not values:
        return None
    v = sorted(values)
    rank = p * (len(v) - 1)
    lo = math.floor(rank)
    if lo + 1 >= len(v):
        return v[-1]
    return v[lo] + (v[lo + 1] - v[lo]) * (rank - lo)


def is_flaky(run, data):
    if run["conclusion"] != "success":
        return False
    for e in data["runs"]:
        if (e["repo_id"], e["run_id"]) == (run["repo_id"], run["run_id"]) and \
                e["run_attempt"] < run["run_attempt"] and e["head_sha"] == run["head_sha"] and \
                e["conclusion"] in ("failure", "timed_out"):
            return True
    return False


def hist_bin(d):
    """The rollup's histogram bin of a duration in seconds (sql/016_repo_rollup.sql)."""
    return 0 if d < 1 else 1 + math.floor(4 * math.log2(d))


def hist_bounds(d):
    """[low, high) of the bin holding d."""
    k = hist_bin(d)
    return (min(d, 0.0), 1.0) if k == 0 else (2 ** ((k - 1) / 4), 2 ** (k / 4))


def percentile_bounds(values, p):
    """Where a histogram's p-quantile may lie: from the bin of the lower neighbour of the rank
    p * (n - 1) to the bin of the upper one (the rollup interpolates inside the first)."""
    if not values:
        return None
    v = sorted(values)
    rank = p * (len(v) - 1)
    return (hist_bounds(v[math.floor(rank)])[0], hist_bounds(v[math.ceil(rank)])[1])


def recoveries(data):
    """The recovery of every recovering run over the whole history (the rollup's MTTR): per
    (repository, workflow, branch), decided latest attempts in completion order, from the first
    failed run of a streak to the success that ends it; {(repo_id, run_id): seconds}."""
    groups = {}
    for r in latest_attempts(data).values():
        if r["completed_at"] is not None and r["conclusion"] in ("success", "failure", "timed_out"):
            groups.setdefault((r["repo_id"], r["workflow_id"] or 0, r["head_branch"] or ""),
                              []).append(r)
    out = {}
    for g in groups.values():
        g.sort(key=lambda r: (r["completed_at"], r["run_id"]))
        start = None
        for r in g:
            if r["conclusion"] != "success":
                if start is None:
                    start = ms(r["completed_at"])
            elif start is not None:
                out[(r["repo_id"], r["run_id"])] = (ms(r["completed_at"]) - start) / 1000.0
                start = None
    return out


def figures(runs, data, rollup=None):
    """The figures of runs; rollup (recoveries(data)): as the rollup defines them, the
    percentiles as the (low, high) bounds they must lie in."""
    by = {}
    for r in runs:
        c = r["conclusion"]
        key = "none" if c is None else c if c in KNOWN else "other"
        by[key] = by.get(key, 0) + 1
    counted = by.get("success", 0) + by.get("failure", 0) + by.get("timed_out", 0)
    durs = [d for d in (duration(r, data["jobs"].get((r["repo_id"], r["run_id"], r["run_attempt"]), []))
                        for r in runs) if d is not None]
    queues = []
    for r in runs:
        for j in data["jobs"].get((r["repo_id"], r["run_id"], r["run_attempt"]), []):
            if j["started_at"] is not None and j["created_at"] is not None:
                queues.append((j["started_at"] - j["created_at"]).total_seconds())
    # MTTR per (repository, workflow, branch): first failed run of a streak -> next success.
    groups = {}
    for r in runs:
        groups.setdefault((r["repo_id"], r["workflow_id"] or 0, r["head_branch"]), []).append(r)
    recoveries = []
    for g in groups.values():
        g.sort(key=lambda r: (r["completed_at"], r["run_id"]))
        start = None
        for r in g:
            if r["conclusion"] in ("failure", "timed_out"):
                if start is None:
                    start = ms(r["completed_at"])
            elif r["conclusion"] == "success" and start is not None:
                recoveries.append((ms(r["completed_at"]) - start) / 1000.0)
                start = None
    if rollup is not None:
        recoveries_ = [rollup[(r["repo_id"], r["run_id"])] for r in runs
                       if (r["repo_id"], r["run_id"]) in rollup]
    else:
        recoveries_ = recoveries
    pct = percentile if rollup is None else percentile_bounds
    return {
        "runs": len(runs),
        "by_conclusion": by,
        "success_rate": by.get("success", 0) / counted if counted else None,
        "avg_duration_s": sum(durs) / len(durs) if durs else None,
        "p50_duration_s": pct(durs, 0.5),
        "p95_duration_s": pct(durs, 0.95),
        "avg_queue_s": sum(queues) / len(queues) if queues else None,
        "p95_queue_s": pct(queues, 0.95),
        "mttr_s": sum(recoveries_) / len(recoveries_) if recoveries_ else None,
        "flaky_runs": sum(1 for r in runs if is_flaky(r, data)),
    }


def metrics(data, from_ms, to_ms, bucket_ms, nbuckets, rollup=False, **scope):
    runs = window_runs(data, from_ms, to_ms, **scope)
    rec = recoveries(data) if rollup else None
    out = figures(runs, data, rec)
    series = []
    for b in range(nbuckets):
        lo = from_ms + b * bucket_ms
        hi = min(lo + bucket_ms, to_ms)
        f = figures([r for r in runs if lo <= ms(r["completed_at"]) < hi], data, rec)
        f["ts_ms"] = lo
        series.append(f)
    out["series"] = series
    return out


def assert_figures_equal(got, want, where):
    for key, w in want.items():
        if key in ("series", "ts_ms"):
            continue
        g = got[key]
        if isinstance(w, tuple):  # a histogram's percentile: within these bounds
            assert g is not None and w[0] - 1e-9 <= g <= w[1] + 1e-9, \
                "%s %s: got %r, want within %r" % (where, key, g, w)
        elif isinstance(w, float) or isinstance(g, float):
            assert g is not None and w is not None, "%s %s: got %r, want %r" % (where, key, g, w)
            assert math.isclose(g, w, rel_tol=1e-6, abs_tol=2e-3), \
                "%s %s: got %r, want %r" % (where, key, g, w)
        else:
            assert g == w, "%s %s: got %r, want %r" % (where, key, g, w)
