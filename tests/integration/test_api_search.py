"""Log search: case-insensitive substring with the matching lines and links, the pg_trgm index in
use, LIKE wildcards taken literally, pagination and the repo filter; the pages exact whichever way
the search reads (newest tails one by one, or the trigram index), and a page of a common word read
from its own tails."""
import random
import urllib.parse

import api_history as H
from test_api_metrics import get, walk


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


# A history of tails for the search's two phases (sql/023_log_search_page.sql): N tails of
# consecutive jobs STRIDE job ids apart (so that they span several of the search's ranges of job
# ids), every fourth job with three steps; words at densities from every tail to one in 300, one
# word only in the oldest and the newest tails, and a phrase rarer than its words.
N, STRIDE = 1200, 97


def insert_tails(db, stride=STRIDE):
    db.execute("""
        INSERT INTO repositories (id, full_name) VALUES (1001, 'octo/alpha'), (1002, 'octo/beta');
        INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status)
        VALUES (1001, 7001, 1, 'completed'), (1002, 7002, 1, 'completed');
        INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status)
        SELECT 1001 + i %% 2, 100000 + i * %(stride)s, 7001 + i %% 2, 1, 'job ' || i, 'completed'
          FROM generate_series(0, %(n)s - 1) i;
        INSERT INTO logs (repo_id, job_id, step_number, content)
        SELECT 1001 + i %% 2, 100000 + i * %(stride)s, s,
               concat_ws(chr(10), 'Alpha step ' || s || ' of tail ' || i,
                         CASE WHEN i %% 3 = 0 THEN 'bravo ' || i END,
                         CASE WHEN i %% 20 = 0 THEN 'CHARLIE here' END,
                         CASE WHEN i %% 300 = 7 THEN 'the DeLtA line' END,
                         CASE WHEN i < 40 OR i >= %(n)s - 2 THEN 'echo' END,
                         CASE WHEN i %% 7 = 0 THEN 'bravo charlie' END)
          FROM generate_series(0, %(n)s - 1) i,
               generate_series(1, CASE WHEN i %% 4 = 0 THEN 3 ELSE 1 END) s;
        ANALYZE logs;
        """, {"n": N, "stride": stride})


TERMS = ("alpha", "bravo", "charlie", "delta", "echo", "bravo charlie", "zulu")


def keys(rows):
    return [(r["job_id"], r["step_number"]) for r in rows]


def test_search_pages_are_exact_at_every_density(collector, db):
    insert_tails(db)
    for q in TERMS:
        want = [w[0] for w in expected_hits(db, q)]
        # Every page of the sparse terms through the API, the first pages of the dense ones.
        if len(want) <= 200:
            items, _ = walk(collector, "/api/v1/logs/search", 7, q=q)
            assert keys(items) == want, q
        body = get(collector, "/api/v1/logs/search", q=q.upper(), limit="100")
        assert keys(body["items"]) == want[:100], q
        beta = [w[0] for w in expected_hits(db, q, 1002)]
        body = get(collector, "/api/v1/logs/search", q=q, repo="octo/beta", limit="50")
        assert keys(body["items"]) == beta[:50], q
    # The function itself from cursors anywhere (inside a job's steps too), against a plain scan.
    rnd = random.Random(5)
    conn = db.connect()
    cur = conn.cursor()
    all_keys = keys(db.query("SELECT job_id, step_number FROM logs ORDER BY 1, 2"))
    for _ in range(150):
        q = rnd.choice(TERMS)
        pattern = "%" + q + "%"
        word = "%" + max(q.split(), key=len) + "%"
        bj, bs = rnd.choice(all_keys) if rnd.random() < 0.8 else (None, None)
        repos = rnd.choice([None, [1001], [1002], [1001, 1002]])
        limit = rnd.choice([1, 2, 8, 21, 101])
        args = (word, pattern, repos, bj, bs, limit)
        cur.execute("SELECT job_id, step_number FROM cipulse_log_search(%s, %s, %s, %s, %s, %s)"
                    " ORDER BY job_id DESC, step_number DESC", args)
        got = cur.fetchall()
        cur.execute("SELECT job_id, step_number FROM logs WHERE content ILIKE %s"
                    " AND (%s::bigint[] IS NULL OR repo_id = ANY (%s))"
                    " AND (%s::bigint IS NULL OR (job_id, step_number) < (%s, %s))"
                    " ORDER BY job_id DESC, step_number DESC LIMIT %s",
                    (pattern, repos, repos, bj, bj, bs, limit))
        assert got == cur.fetchall(), args
    conn.close()


def tails_read(db, q):
    """Rows of logs the search fetched for its page of 21 (the table's counters in one transaction)."""
    conn = db.connect()
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM cipulse_log_search(%s, %s, NULL, NULL, NULL, 21)",
                ("%" + q + "%", "%" + q + "%"))
    assert cur.fetchone()[0] == 21
    cur.execute("SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables"
                " WHERE relname = 'logs'")
    n = cur.fetchone()[0]
    conn.rollback()
    conn.close()
    return n


def test_search_reads_the_page_not_the_first_range(db):
    # Consecutive jobs: the first range of 4,096 job ids holds every tail.
    insert_tails(db, stride=1)
    assert db.scalar("SELECT count(*) FROM logs") == 1800
    # A word in every tail: the page's tails (and the incremental sort's first batch of 32), not
    # the 1,800 tails of the range (sql/020 read them all, then sorted them).
    assert tails_read(db, "alpha") <= 64
