"""/metrics: valid Prometheus text exposition (checked line by line here and by the reference
parser of python3-prometheus-client), pipeline metrics equal to the raw rows, bounded labels."""
import math
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

import api_history as H

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
    for r in H.latest_attempts(data).values():
        if r["completed_at"] is None:
            continue
        key = (data["repos"][r["repo_id"]],
               wf_name.get((r["repo_id"], r["workflow_id"]), str(r["workflow_id"] or 0)))
        w = want.setdefault(key, {"results": {}, "durs": [], "qsum": 0.0, "qn": 0})
        c = r["conclusion"]
        c = c if c in ("success", "failure", "timed_out", "cancelled", "skipped") else "other"
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
        need |= {("cicd_pipeline_run_duration_seconds_bucket", key,
                  "+Inf" if b == math.inf else "%g" % b) for b in BOUNDS}
        need |= {(n, key, None) for n in ("cicd_pipeline_run_duration_seconds_count",
                                         "cicd_pipeline_run_duration_seconds_sum",
                                         "cicd_pipeline_job_queue_seconds_count",
                                         "cicd_pipeline_job_queue_seconds_sum")}
        assert need <= got_series, (key, sorted(need - got_series))
    assert ("octo/alpha", 'Quote "and\\ back') in got_keys
