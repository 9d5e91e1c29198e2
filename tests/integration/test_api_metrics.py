"""Every number of the API against the same number computed in Python from the raw rows.

The history is written with plain SQL (api_history.insert_history): random conclusions, re-run
attempts on the same sha, queue times, branches, runs without jobs, runs still in progress.
Writing it takes a while, and the tests only read it: they share one history and collector
(module scope, one xdist worker: the xdist_group mark), except the test that changes it.
"""
import datetime as dt
import urllib.parse

import pytest

import api_history as H
from harness import collector_on_a_new_database

pytestmark = pytest.mark.xdist_group("api_metrics")


def get(collector, path, **params):
    q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, body = collector.http("GET", path + ("?" + q if q else ""))
    assert status == 200, (path, params, status, body)
    return body


@pytest.fixture(scope="module")
def shared(pg_cluster):
    with collector_on_a_new_database(pg_cluster) as (db, col):
        H.insert_history(db, seed=11, runs=450)
        yield db, col, H.raw(db)


@pytest.fixture
def db(shared):
    return shared[0]


@pytest.fixture
def collector(shared):
    return shared[1]


@pytest.fixture
def history(shared):
    return shared[2]


@pytest.fixture
def own_history(pg_cluster):
    """(collector, db, history) of the test's own, for a test that changes the history."""
    with collector_on_a_new_database(pg_cluster) as (db, col):
        H.insert_history(db, seed=11, runs=450)
        yield col, db, H.raw(db)


# The documented windows (docs/openapi.yaml, /api/v1/metrics): span and bucket size, in seconds.
WINDOWS = {"1h": (3600, 300), "24h": (86400, 3600), "7d": (7 * 86400, 6 * 3600),
           "30d": (30 * 86400, 86400)}
CUSTOM_BUCKETS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400]


def now_ms():
    return H.ms(dt.datetime.now(H.UTC))


def expected_window(params, before_ms, after_ms):
    """(from_ms or None, to_ms or None, span_ms, bucket_ms) by the documented rules, from the
    request and the clock alone. None: "now", known only to lie in [before_ms, after_ms]."""
    if "from" not in params:
        span, bucket = WINDOWS[params.get("window", "24h")]
        return None, None, span * 1000, bucket * 1000
    frm = H.ms(H.iso_ms(params["from"]))
    to = H.ms(H.iso_ms(params["to"])) if "to" in params else None
    span = (to if to is not None else before_ms) - frm
    bucket = next(b for b in CUSTOM_BUCKETS if -(-span // (b * 1000)) <= 60)
    return frm, to, span, bucket * 1000


def from_rollup(params):
    """Named windows of whole hours over all repositories come from the rollup (DESIGN.md
    "Metrics over all repositories")."""
    return not any(params.get(k) for k in ("repo", "workflow", "branch", "from", "to")) and \
        params.get("window", "24h") in ("24h", "7d", "30d")


def check_metrics(collector, data, **params):
    before = now_ms()
    body = get(collector, "/api/v1/metrics", **params)
    after = now_ms()
    from_ms, to_ms = H.ms(H.iso_ms(body["from"])), H.ms(H.iso_ms(body["to"]))
    # The window against the clock and the documented rules, not against the reply itself.
    want_from, want_to, span_ms, bucket_ms = expected_window(params, before, after)
    where = "metrics %r: from %s to %s" % (params, body["from"], body["to"])
    rollup = from_rollup(params)
    if rollup:  # whole buckets, the last one holding now
        assert to_ms in {(t // bucket_ms + 1) * bucket_ms for t in (before, after)}, where
    elif want_to is None:
        assert before - 1000 <= to_ms <= after + 1000, where  # "now", to the second
    else:
        assert to_ms == want_to, where
    if want_from is None:
        assert to_ms - from_ms == span_ms, where
    else:
        assert from_ms == want_from, where
    assert body["bucket_s"] * 1000 == bucket_ms, where
    nb = len(body["series"])
    assert nb == -(-(to_ms - from_ms) // bucket_ms), where
    scope = {}
    if params.get("repo"):
        scope["repo_id"] = {v: k for k, v in data["repos"].items()}[params["repo"]]
    if params.get("workflow"):
        scope["workflow"] = int(params["workflow"])
    if params.get("branch"):
        scope["branch"] = params["branch"]
    want = H.metrics(data, from_ms, to_ms, bucket_ms, nb, rollup=rollup, **scope)
    where = "metrics %r" % (params,)
    H.assert_figures_equal(body, want, where)
    for i, (g, w) in enumerate(zip(body["series"], want["series"])):
        assert H.ms(H.iso_ms(g["ts"])) == w["ts_ms"]
        H.assert_figures_equal(g, w, "%s bucket %d" % (where, i))
    return body, want


@pytest.mark.parametrize("window", ["1h", "24h", "7d", "30d"])
def test_metrics_match_raw_rows(collector, history, window):
    scopes = [{}, {"repo": "octo/alpha"}, {"repo": "octo/beta", "workflow": "21"},
              {"repo": "octo/alpha", "branch": "main"},
              {"repo": "octo/alpha", "workflow": "11", "branch": "feature/x"}]
    nonempty = 0
    for scope in scopes:
        body, want = check_metrics(collector, history, window=window, **scope)
        assert body["window"] == window
        nonempty += body["runs"] > 0
    assert nonempty >= 3, "the generated history should fill most scopes"


def test_metrics_exercise_every_definition(collector, history):
    """The 30d window over everything must exercise each figure (else the comparison proves little)."""
    body, _ = check_metrics(collector, history, window="30d")
    assert body["flaky_runs"] > 0
    assert body["mttr_s"] is not None
    assert {"success", "failure", "cancelled"} <= set(body["by_conclusion"])
    assert 0 < body["success_rate"] < 1
    assert body["p95_queue_s"] > body["avg_queue_s"] * 0.5


def test_metrics_custom_range(collector, history):
    now = dt.datetime.now(H.UTC).replace(microsecond=0)
    frm = (now - dt.timedelta(days=3, hours=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    to = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body, _ = check_metrics(collector, history, **{"from": frm, "to": to})
    assert body["window"] == "custom"
    assert body["from"].startswith(frm[:19]) and body["to"].startswith(to[:19])
    assert len(body["series"]) <= 60
    body, _ = check_metrics(collector, history, **{"from": frm, "repo": "octo/beta"})


def test_metrics_follow_later_writes(own_history):
    """Re-runs, late jobs, deleted runs and moved workflows keep every figure right, also those
    over all repositories that the collector had cached before the writes (sql/022)."""
    collector, db, history = own_history
    for window in ("24h", "7d", "30d"):
        check_metrics(collector, history, window=window)
    now = dt.datetime.now(H.UTC)
    r = db.query("SELECT repo_id, run_id, run_attempt AS a FROM workflow_runs w"
                 " WHERE completed_at > now() - interval '20 hours' AND conclusion = 'failure'"
                 " AND NOT EXISTS (SELECT 1 FROM workflow_runs x WHERE x.repo_id = w.repo_id"
                 " AND x.run_id = w.run_id AND x.run_attempt > w.run_attempt) LIMIT 3")
    assert r
    for row in r:
        db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, status,"
                   " conclusion, head_branch, head_sha, created_at, run_started_at, updated_at,"
                   " completed_at) SELECT repo_id, run_id, %s, workflow_id, 'completed', 'success',"
                   " head_branch, head_sha, created_at, %s, %s, %s FROM workflow_runs"
                   " WHERE repo_id = %s AND run_id = %s AND run_attempt = %s",
                   (row["a"] + 1, now - dt.timedelta(minutes=9), now - dt.timedelta(minutes=2),
                    now - dt.timedelta(minutes=2), row["repo_id"], row["run_id"], row["a"]))
        db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, created_at, started_at,"
                   " completed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                   (row["repo_id"], 90000000 + row["run_id"], row["run_id"], row["a"] + 1,
                    now - dt.timedelta(minutes=9), now - dt.timedelta(minutes=8),
                    now - dt.timedelta(minutes=3)))
    # A job's times corrected later; a run deleted; a workflow id learnt later.
    db.execute("UPDATE jobs SET started_at = started_at - interval '50 seconds'"
               " WHERE job_id IN (SELECT job_id FROM jobs WHERE started_at IS NOT NULL"
               " ORDER BY job_id LIMIT 40)")
    db.execute("DELETE FROM workflow_runs WHERE (repo_id, run_id) IN (SELECT repo_id, run_id"
               " FROM workflow_runs WHERE run_attempt = 2 ORDER BY run_id LIMIT 2)")
    db.execute("UPDATE workflow_runs SET workflow_id = 12 WHERE workflow_id IS NULL AND repo_id = 1001")
    data = H.raw(db)
    for window in ("24h", "7d", "30d"):
        check_metrics(collector, data, window=window)
        check_metrics(collector, data, window=window, repo="octo/alpha", workflow="12")
    check_repo_list(collector, data, 30)
    # The rollups kept by triggers equal ones rebuilt from scratch (histograms compared by their
    # non-zero bins: the triggers may leave zeros and other array bounds).
    repo_rollup = ("SELECT r.*, (SELECT array_agg(ARRAY[k, r.dur_hist[k]] ORDER BY k)"
                   " FROM generate_subscripts(r.dur_hist, 1) k WHERE r.dur_hist[k] <> 0) AS dh,"
                   " (SELECT array_agg(ARRAY[k, r.queue_hist[k]] ORDER BY k)"
                   " FROM generate_subscripts(r.queue_hist, 1) k WHERE r.queue_hist[k] <> 0) AS qh"
                   " FROM run_rollup_repo r ORDER BY 1, 2, 3")
    marks = ("SELECT repo_id, run_id, run_attempt, flaky, recovery_ms FROM workflow_runs"
             " ORDER BY 1, 2, 3")

    def kept():
        return (db.query("SELECT * FROM run_rollup_daily ORDER BY 1, 2, 3"),
                [{k: v for k, v in r.items() if k not in ("dur_hist", "queue_hist")}
                 for r in db.query(repo_rollup)], db.query(marks))
    before = kept()
    assert any(r["recovery_ms"] for r in before[2]) and any(r["flaky"] for r in before[2])
    db.execute("SELECT cipulse_api_rebuild()")
    after = kept()
    for b, a, what in zip(before, after, ("run_rollup_daily", "run_rollup_repo", "marks")):
        assert a == b, what


def check_repo_list(collector, data, days, path="/api/v1/repos", workflow_of=None):
    body = get(collector, path, days=str(days))
    today = dt.datetime.now(H.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - dt.timedelta(days=days - 1)
    for item in body["items"]:
        assert H.iso_ms(item["window_from"]) == start
        scope = {"repo_id": {v: k for k, v in data["repos"].items()}[item["full_name"]]} \
            if workflow_of is None else {"repo_id": workflow_of, "workflow": item["id"]}
        runs = H.window_runs(data, H.ms(start), 2 ** 62, **scope)
        want = H.figures(runs, data)
        assert item["runs"] == want["runs"]
        assert item["success_rate"] == pytest.approx(want["success_rate"], rel=1e-9) \
            if want["success_rate"] is not None else item["success_rate"] is None
        if want["avg_duration_s"] is None:
            assert item["avg_duration_s"] is None
        else:
            # Sums are kept in whole milliseconds.
            assert item["avg_duration_s"] == pytest.approx(want["avg_duration_s"], abs=1e-3)
        grouped = {}
        for k, n in want["by_conclusion"].items():
            k = k if k in ("success", "failure", "timed_out", "cancelled", "skipped") else "other"
            grouped[k] = grouped.get(k, 0) + n
        assert item["by_conclusion"] == grouped
        done = [r for r in H.latest_attempts(data).values()
                if r["completed_at"] is not None and all(
                    r[k] == v for k, v in (("repo_id", scope["repo_id"]),
                                           ("workflow_id", scope.get("workflow", r["workflow_id"]))))]
        if done:
            last = max(done, key=lambda r: r["completed_at"])
            assert item["last_run"]["run_id"] == last["run_id"]
            assert item["last_run"]["conclusion"] == last["conclusion"]
        else:
            assert item["last_run"] is None
    return body


@pytest.mark.parametrize("days", [1, 7, 30])
def test_repo_list_figures(collector, history, days):
    body = check_repo_list(collector, history, days)
    assert [i["full_name"] for i in body["items"]] == ["octo/alpha", "octo/beta"]


def test_workflow_list_figures(collector, history):
    body = check_repo_list(collector, history, 30, "/api/v1/repos/octo/alpha/workflows", 1001)
    assert [i["id"] for i in body["items"]] == [11, 12, 13]
    assert body["items"][0]["name"] == "CI"


def walk(collector, path, limit, **params):
    items, cursor, pages = [], None, 0
    while True:
        body = get(collector, path, limit=str(limit), cursor=cursor, **params)
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert len(body["items"]) == limit
        assert pages < 1000


def expected_runs(data, repo_id, pred=lambda r: True):
    runs = [r for r in H.latest_attempts(data).values() if r["repo_id"] == repo_id and pred(r)]
    runs.sort(key=lambda r: (r["created_at"] or r["inserted_at"], r["run_id"]), reverse=True)
    return [(r["run_id"], r["run_attempt"]) for r in runs]


def test_run_list_pages_without_gaps_or_duplicates(collector, history):
    items, pages = walk(collector, "/api/v1/repos/octo/alpha/runs", 7)
    got = [(i["run_id"], i["run_attempt"]) for i in items]
    assert len(set(got)) == len(got)
    assert got == expected_runs(history, 1001)
    assert pages == -(-len(got) // 7) or pages == len(got) // 7 + 1


@pytest.mark.parametrize("params,pred", [
    ({"status": "in_progress"}, lambda r: r["status"] == "in_progress"),
    ({"conclusion": "failure"}, lambda r: r["conclusion"] == "failure"),
    ({"branch": "feature/x"}, lambda r: r["head_branch"] == "feature/x"),
    ({"workflow": "12"}, lambda r: r["workflow_id"] == 12),
    ({"conclusion": "success", "branch": "main", "workflow": "11"},
     lambda r: r["conclusion"] == "success" and r["head_branch"] == "main" and r["workflow_id"] == 11),
])
def test_run_list_filters(collector, history, params, pred):
    items, _ = walk(collector, "/api/v1/repos/octo/alpha/runs", 5, **params)
    want = expected_runs(history, 1001, pred)
    assert want, "the filter should match something"
    assert [(i["run_id"], i["run_attempt"]) for i in items] == want


def test_run_list_time_range(collector, history):
    now = dt.datetime.now(H.UTC)
    frm, to = now - dt.timedelta(days=5), now - dt.timedelta(days=1)
    fs, ts = frm.strftime("%Y-%m-%dT%H:%M:%SZ"), to.strftime("%Y-%m-%dT%H:%M:%SZ")
    fb, tb = H.iso_ms(fs), H.iso_ms(ts)
    items, _ = walk(collector, "/api/v1/repos/octo/beta/runs", 50, **{"from": fs, "to": ts})
    want = expected_runs(history, 1002, lambda r: fb <= (r["created_at"] or r["inserted_at"]) < tb)
    assert want and [(i["run_id"], i["run_attempt"]) for i in items] == want


def test_run_detail(collector, db, history):
    row = db.query("SELECT repo_id, run_id FROM workflow_runs WHERE run_attempt = 3 LIMIT 1")[0]
    body = get(collector, "/api/v1/runs/%d" % row["run_id"])
    assert body["run_attempt"] == 3 and body["repo"] == history["repos"][row["repo_id"]]
    assert [a["run_attempt"] for a in body["attempts"]] == [3, 2, 1]
    first = get(collector, "/api/v1/runs/%d" % row["run_id"], attempt="1")
    assert first["run_attempt"] == 1 and len(first["attempts"]) == 3
    jobs = db.query("SELECT job_id FROM jobs WHERE repo_id = %s AND run_id = %s AND run_attempt = 1",
                    (row["repo_id"], row["run_id"]))
    assert sorted(j["job_id"] for j in first["jobs"]) == sorted(j["job_id"] for j in jobs)
    for j in first["jobs"]:
        steps = db.query("SELECT number FROM steps WHERE job_id = %s ORDER BY number", (j["job_id"],))
        assert [s["number"] for s in j["steps"]] == [s["number"] for s in steps]
    want = H.duration(next(r for r in history["runs"] if r["run_id"] == row["run_id"]
                           and r["run_attempt"] == 1),
                      history["jobs"].get((row["repo_id"], row["run_id"], 1), []))
    assert first["duration_s"] == pytest.approx(want, abs=1e-3) if want is not None \
        else first["duration_s"] is None
    status, err = collector.http("GET", "/api/v1/runs/%d?attempt=9" % row["run_id"])
    assert status == 404 and err["error"]["code"] == "not_found"
    status, err = collector.http("GET", "/api/v1/runs/1")
    assert status == 404 and err["error"]["code"] == "not_found"


def test_run_detail_without_steps(collector, db, history):
    """steps=none leaves every job's steps out, steps=failed keeps those of the failed and timed
    out jobs, job=ID answers that job alone with its steps; the jobs are the same either way.
    (The shared history's jobs end as their run does: a failed run and a green one.)"""
    def attempt_with(conclusion):
        return db.query("SELECT j.run_id, j.run_attempt FROM jobs j WHERE j.conclusion = %s"
                        " AND EXISTS (SELECT 1 FROM steps s WHERE s.repo_id = j.repo_id"
                        "  AND s.job_id = j.job_id)"
                        " GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 1, 2 LIMIT 1", (conclusion,))[0]

    for row in (attempt_with("failure"), attempt_with("success")):
        path = "/api/v1/runs/%d" % row["run_id"]
        attempt = str(row["run_attempt"])
        full = get(collector, path, attempt=attempt)
        assert len(full["jobs"]) > 1 and all(j["steps"] for j in full["jobs"])
        assert get(collector, path, attempt=attempt, steps="all") == full
        bare = get(collector, path, attempt=attempt, steps="none")
        assert [{k: v for k, v in j.items() if k != "steps"} for j in full["jobs"]] == bare["jobs"]
        assert {k: v for k, v in bare.items() if k != "jobs"} == \
            {k: v for k, v in full.items() if k != "jobs"}
        failed = get(collector, path, attempt=attempt, steps="failed")
        assert failed["jobs"] == [j if j["conclusion"] in ("failure", "timed_out") else
                                  {k: v for k, v in j.items() if k != "steps"} for j in full["jobs"]]
        for j in full["jobs"]:
            one = get(collector, path, attempt=attempt, job=str(j["job_id"]))
            assert one["jobs"] == [j] and one["run_attempt"] == row["run_attempt"]
            assert get(collector, path, attempt=attempt, job=str(j["job_id"]),
                       steps="none")["jobs"] == [{k: v for k, v in j.items() if k != "steps"}]
        assert get(collector, path, attempt=attempt, job="1")["jobs"] == []
    for bad in ({"steps": "some"}, {"steps": ""}, {"job": "x"}, {"job": "0"}):
        status, err = collector.http("GET", path + "?" + urllib.parse.urlencode(bad))
        assert status == 400 and err["error"]["code"] == "invalid_parameter", (bad, status, err)
        assert err["error"]["param"] == next(iter(bad))


def test_job_logs(collector, db, history):
    row = db.query("SELECT job_id, content FROM logs LIMIT 1")[0]
    body = get(collector, "/api/v1/jobs/%d/logs" % row["job_id"])
    assert body["job_id"] == row["job_id"]
    assert body["logs"][0]["content"] == row["content"]
    assert body["logs"][0]["step_name"] == "step 1"
    status, err = collector.http("GET", "/api/v1/jobs/1/logs")
    assert status == 404 and err["error"]["code"] == "not_found"
