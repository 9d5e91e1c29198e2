"""/metrics: valid Prometheus text exposition (checked line by line here and by the reference
parser of python3-prometheus-client), pipeline metrics equal to the raw rows, bounded labels."""
import math
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

import api_history as H
from harness import wait_for

BOUNDS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, math.inf]
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(\{(%s)(,%s)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$" % (NAME, LABEL, LABEL))


def parse_strict(text):
    """Every line is a HELP, a TYPE or a sample of a declared family; returns samples."""
    types, samples = {}, []
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert name not in types, "family declared twice: " + name
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "sample of an undeclared family: " + line
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples.append((name, labels, float(m.group(5))))
    return types, samples


def test_metrics_exposition_and_pipeline_values(collector, db):
    H.insert_history(db, seed=31, runs=250)
    db.execute("UPDATE workflows SET name = 'Quote \"and\\ back' WHERE id = 13")
    status, text = collector.http("GET", "/metrics")
    assert status == 200 and isinstance(text, str)
    types, samples = parse_strict(text)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["cicd_pipeline_run_duration_seconds"].type == "histogram"
    assert types["cicd_pipeline_runs"] == "gauge"
    assert "cipulse_http_request_duration_seconds" in types  # the collector's own health

    data = H.raw(db)
    names = {r["id"]: r for r in db.query("SELECT repo_id, id, name FROM workflows")}
    wf_name = {(w["repo_id"], w["id"]): w["name"] for w in names.values()}
    want = {}
    latest = {(r["repo_id"], r["run_id"], r["run_attempt"]) for r in H.latest_attempts(data).values()}
    for r in data["runs"]:
        if r["completed_at"] is None:
            continue
        key = (data["repos"][r["repo_id"]],
               wf_name.get((r["repo_id"], r["workflow_id"]), str(r["workflow_id"] or 0)))
        w = want.setdefault(key, {"results": {}, "attempts": {}, "durs": [], "qsum": 0.0, "qn": 0})
        c = r["conclusion"]
        c = c if c in ("success", "failure", "timed_out", "cancelled", "skipped") else "other"
        # Counters: every completed attempt; the gauge: the latest attempt of each run.
        w["attempts"][c] = w["attempts"].get(c, 0) + 1
        if (r["repo_id"], r["run_id"], r["run_attempt"]) in latest:
            w["results"][c] = w["results"].get(c, 0) + 1
        jobs = data["jobs"].get((r["repo_id"], r["run_id"], r["run_attempt"]), [])
        d = H.duration(r, jobs)
        if d is not None:
            w["durs"].append(d)
        for j in jobs:
            if j["started_at"] is not None and j["created_at"] is not None:
                w["qsum"] += (j["started_at"] - j["created_at"]).total_seconds()
                w["qn"] += 1
    got_keys, got_series = set(), set()
    for name, labels, value in samples:
        if not name.startswith("cicd_"):
            continue
        assert set(labels) <= {"repository", "workflow", "result", "le"}, labels
        key = (labels["repository"], labels["workflow"].replace('\\"', '"').replace("\\\\", "\\"))
        got_keys.add(key)
        got_series.add((name, key, labels.get("result") or labels.get("le")))
        w = want[key]
        if name == "cicd_pipeline_runs":
            assert value == w["results"].get(labels["result"], 0), (key, labels, value)
        elif name == "cicd_pipeline_run_attempts_total":
            assert value == w["attempts"].get(labels["result"], 0), (key, labels, value)
        elif name == "cicd_pipeline_run_duration_seconds_bucket":
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            assert value == sum(1 for d in w["durs"] if d <= le), (key, le)
        elif name == "cicd_pipeline_run_duration_seconds_count":
            assert value == len(w["durs"])
        elif name == "cicd_pipeline_run_duration_seconds_sum":
            assert value == pytest.approx(sum(w["durs"]), abs=1e-3 * max(1, len(w["durs"])))
        elif name == "cicd_pipeline_job_queue_seconds_count":
            assert value == w["qn"]
        elif name == "cicd_pipeline_job_queue_seconds_sum":
            assert value == pytest.approx(w["qsum"], abs=1e-3 * max(1, w["qn"]))
    assert got_keys == set(want)
    # Every series the rows call for is there (a missing one would pass the loop above).
    for key, w in want.items():
        need = {("cicd_pipeline_runs", key, result) for result in w["results"]}
        need |= {("cicd_pipeline_run_attempts_total", key, result) for result in w["attempts"]}
        need |= {("cicd_pipeline_run_duration_seconds_bucket", key,
                  "+Inf" if b == math.inf else "%g" % b) for b in BOUNDS}
        need |= {(n, key, None) for n in ("cicd_pipeline_run_duration_seconds_count",
                                         "cicd_pipeline_run_duration_seconds_sum",
                                         "cicd_pipeline_job_queue_seconds_count",
                                         "cicd_pipeline_job_queue_seconds_sum")}
        assert need <= got_series, (key, sorted(need - got_series))
    assert ("octo/alpha", 'Quote "and\\ back') in got_keys


def pipeline_samples(collector):
    status, text = collector.http("GET", "/metrics")
    assert status == 200
    _, samples = parse_strict(text)
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in samples
            if name.startswith("cicd_pipeline_") and name != "cicd_pipeline_runs"}


def test_counters_and_histograms_never_go_down(collector, db):
    """A re-run replacing an attempt, and the retention sweep deleting runs, leave every counter
    and histogram series where it was (Prometheus would read a decrease as a counter reset)."""
    db.execute("INSERT INTO repositories (id, full_name) VALUES (7, 'o/mono')")
    db.execute("INSERT INTO workflows (repo_id, id, name) VALUES (7, 70, 'CI')")

    def attempt(n, seconds, conclusion):
        db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, status,"
                   " conclusion, run_started_at, updated_at, completed_at) VALUES"
                   " (7, 700, %s, 70, 'completed', %s, now() - make_interval(secs => %s), now(),"
                   " now())", (n, conclusion, seconds))

    attempt(1, 5000, "failure")  # slot le=7200
    first = {}

    def counted(want):
        first.clear()
        first.update(pipeline_samples(collector))
        return first.get(("cicd_pipeline_run_duration_seconds_count",
                          (("repository", "o/mono"), ("workflow", "CI")))) == want
    wait_for(lambda: counted(1), timeout=60, what="first attempt on /metrics")
    before = dict(first)
    attempt(2, 20, "success")  # the re-run: the first attempt is no longer the latest
    wait_for(lambda: counted(2), timeout=60, what="re-run on /metrics")
    after_rerun = dict(first)
    for key, value in before.items():
        assert after_rerun.get(key, 0) >= value, (key, value, after_rerun.get(key))
    slow = ("cicd_pipeline_run_duration_seconds_bucket",
            (("le", "7200"), ("repository", "o/mono"), ("workflow", "CI")))
    assert after_rerun[slow] == 2  # both attempts, the replaced one included
    # The gauge of runs stored follows the latest attempt only.
    status, text = collector.http("GET", "/metrics")
    assert 'cicd_pipeline_runs{repository="o/mono",workflow="CI",result="failure"} 0' in text

    # Runs gone (as the retention sweep deletes them): the counters stay.
    db.execute("DELETE FROM workflow_runs WHERE repo_id = 7")
    attempt(3, 30, "success")
    wait_for(lambda: counted(3), timeout=60, what="third attempt on /metrics")
    for key, value in after_rerun.items():
        assert first.get(key, 0) >= value, (key, value, first.get(key))


def test_an_attempt_is_counted_once_with_the_jobs_of_its_transaction(collector, db):
    """Counted at commit: the duration is the jobs' (written after the run row in the same
    transaction), and later writes to the same attempt do not count it again."""
    db.execute("INSERT INTO repositories (id, full_name) VALUES (8, 'o/once')")
    conn = db.connect()
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status, conclusion,"
                " completed_at) VALUES (8, 800, 1, 'completed', 'success', now())")
    cur.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, created_at, started_at,"
                " completed_at) VALUES (8, 1, 800, 1, now() - interval '100 s',"
                " now() - interval '90 s', now() - interval '45 s')")
    conn.commit()
    for _ in range(3):
        cur.execute("UPDATE workflow_runs SET conclusion = 'failure' WHERE repo_id = 8")
        conn.commit()
    conn.close()
    row = db.query("SELECT n_success, n_failure, dur_n, dur_sum_ms, queue_n, queue_sum_ms"
                   " FROM pipeline_counters WHERE repo_id = 8")
    assert row == [{"n_success": 1, "n_failure": 0, "dur_n": 1, "dur_sum_ms": 45000,
                    "queue_n": 1, "queue_sum_ms": 10000}]
