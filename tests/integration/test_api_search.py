"""Log search: case-insensitive substring with the matching lines and links, the pg_trgm index in
use, LIKE wildcards taken literally, pagination and the repo filter."""
import urllib.parse

import api_history as H
from test_api_metrics import walk


def expected_hits(db, needle, repo_id=None):
    rows = db.query("SELECT repo_id, job_id, step_number, content FROM logs")
    hits = []
    for r in rows:
        if repo_id is not None and r["repo_id"] != repo_id:
            continue
        lines = [(i + 1, line) for i, line in enumerate(r["content"].split("\n"))
                 if needle.lower() in line.lower()]
        if lines:
            hits.append(((r["job_id"], r["step_number"]), lines[:10]))
    hits.sort(key=lambda h: h[0], reverse=True)
    return hits


def test_search_finds_lines_case_insensitively(collector, db):
    H.insert_history(db, seed=41, runs=300)
    items, pages = walk(collector, "/api/v1/logs/search", 3, q="segmentation fault")
    want = expected_hits(db, "segmentation fault")
    assert len(want) >= 4, "the history should contain a few matching tails"
    assert [(i["job_id"], i["step_number"]) for i in items] == [w[0] for w in want]
    for item, (_, lines) in zip(items, want):
        assert [(l["line"], l["text"]) for l in item["lines"]] == lines
        assert "FAULT" in item["lines"][0]["text"]
        run = db.query("SELECT run_id, run_attempt FROM jobs WHERE job_id = %s", (item["job_id"],))[0]
        assert (item["run_id"], item["run_attempt"]) == (run["run_id"], run["run_attempt"])
        assert item["links"]["logs"] == "/api/v1/jobs/%d/logs" % item["job_id"]
        assert item["links"]["run"] == "/api/v1/runs/%d?attempt=%d" % (run["run_id"], run["run_attempt"])
        status, logs = collector.http("GET", item["links"]["logs"])
        assert status == 200 and logs["job_id"] == item["job_id"]
    assert pages >= 2
    beta, _ = walk(collector, "/api/v1/logs/search", 50, q="SEGMENTATION", repo="octo/beta")
    assert [(i["job_id"], i["step_number"]) for i in beta] == \
        [w[0] for w in expected_hits(db, "segmentation", 1002)]
    assert all(i["repo"] == "octo/beta" for i in beta)


def test_search_wildcards_are_literal(collector, db):
    H.insert_history(db, seed=41, runs=300)
    items, _ = walk(collector, "/api/v1/logs/search", 50, q="100%_d")
    want = expected_hits(db, "100%_d")
    assert want and [(i["job_id"], i["step_number"]) for i in items] == [w[0] for w in want]
    for q in ("%%%", "1_0", "\\\\x"):
        status, body = collector.http("GET", "/api/v1/logs/search?" + urllib.parse.urlencode({"q": q}))
        assert status == 200
        assert [(i["job_id"], i["step_number"]) for i in body["items"]] == \
            [w[0] for w in expected_hits(db, q)][:20]


def test_search_uses_the_trigram_index(db, collector):
    H.insert_history(db, seed=41, runs=50)
    conn = db.connect()
    cur = conn.cursor()
    cur.execute("SET enable_seqscan = off")
    cur.execute("EXPLAIN SELECT job_id FROM logs WHERE content ILIKE '%segmentation%'")
    plan = "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    assert "logs_content_trgm_idx" in plan, plan
