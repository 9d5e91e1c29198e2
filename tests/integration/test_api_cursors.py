"""Input validation at the edges (issue 9, section 3).

- Every cursor the server emits is accepted by it: a property test over random data (repository
  names with '|', '%', the rename suffix "(-7)", ~190 characters, non-ASCII; runs created before
  1970 or with no creation time; negative workflow ids) walked through the real API page by
  page, comparing what the pages hold with the database.
- Out-of-range cursor fields are a 400, never a 500.
- Non-ASCII searches return the matching lines.
- Reports with a repository name that breaks GitHub's rules, or timestamps out of range, are
  refused with INVALID_ARGUMENT naming the field, and nothing is written.
"""
import base64
import datetime as dt
import random
import string
import urllib.parse

import grpc
import pytest

import pbwire
from ghutil import post_webhook, register_repo
from harness import load_fixture
from ingest_env import REPO, REPO_ID, db_snapshot, ingest, make_report, report_status  # noqa: F401

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def b64(s):
    raw = s.encode("latin-1") if isinstance(s, str) else s
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def get(collector, path, **params):
    q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, body = collector.http("GET", path + ("?" + q if q else ""))
    assert status == 200, (path, params, status, body)
    return body


def walk(collector, path, limit, **params):
    """Every page of a list, following next_cursor; asserts each page is a 200."""
    items, cursor, pages = [], None, 0
    while True:
        body = get(collector, path, limit=str(limit), cursor=cursor, **params)
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert len(body["items"]) == limit
        assert pages < 1000


def valid_name(rnd):
    alnum = string.ascii_letters + string.digits
    owner = "".join(rnd.choice(alnum + "-") for _ in range(rnd.randint(1, 39)))
    owner = rnd.choice(alnum) + owner[1:]
    name = "".join(rnd.choice(alnum + "._-") for _ in range(rnd.randint(3, 100)))
    return owner + "/" + name


def odd_name(rnd, i):
    """Names already in a database that GitHub's rules would not let in today (older
    versions, renamed-aside repositories): the API must still page over them."""
    kind = i % 6
    if kind == 0:
        return "acme/pipe|%d|x" % i
    if kind == 1:
        return "acme/target (-%d)" % (i + 1)
    if kind == 2:
        return "acme/" + "l" * 186 + "%03d" % i  # ~190 characters
    if kind == 3:
        return "acme/caf\u00e9-%d-\U0001F600" % i
    if kind == 4:
        return "acme/100%%-%d%%7C" % i
    return valid_name(rnd)


def insert_data(db, rnd):
    conn = db.connect()
    cur = conn.cursor()
    repos = {}
    for i in range(rnd.randint(14, 22)):
        rid = 5000 + i
        name = odd_name(rnd, i)
        repos[rid] = name
        cur.execute("INSERT INTO repositories (id, full_name) VALUES (%s, %s)", (rid, name))
    # A repository that the paths can address, with runs and workflows to page over.
    main_id, main = 9000, valid_name(rnd)
    cur.execute("INSERT INTO repositories (id, full_name) VALUES (%s, %s)", (main_id, main))
    repos[main_id] = main
    wf_ids = rnd.sample(range(-10**15, 10**15), rnd.randint(5, 12))
    for wid in wf_ids:
        cur.execute("INSERT INTO workflows (repo_id, id, name, path) VALUES (%s, %s, %s, %s)",
                    (main_id, wid, "wf %d" % wid, ".github/workflows/%d.yml" % wid))
    runs = []
    job_id = 700000
    for k in range(rnd.randint(15, 30)):
        run_id = 100 + k
        r = rnd.random()
        if r < 0.3:
            created = EPOCH - dt.timedelta(seconds=rnd.uniform(1, 10**9))  # before 1970
        elif r < 0.4:
            created = None  # falls back to inserted_at
        elif r < 0.5:
            created = EPOCH + dt.timedelta(microseconds=rnd.randint(0, 999))
        else:
            created = EPOCH + dt.timedelta(seconds=rnd.uniform(0, 2 * 10**9))
        # Same creation time for a few runs: the run id must break the tie.
        if runs and rnd.random() < 0.2:
            created = runs[-1][1]
        cur.execute(
            "INSERT INTO workflow_runs (repo_id, run_id, run_attempt, workflow_id, status,"
            " created_at) VALUES (%s, %s, 1, %s, 'completed', %s)",
            (main_id, run_id, rnd.choice(wf_ids), created))
        runs.append((run_id, created))
        job_id += 1
        cur.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status)"
                    " VALUES (%s, %s, %s, 1, 'build', 'completed')", (main_id, job_id, run_id))
        for step in rnd.sample([0, 1, 2, 3, 2**31 - 1], rnd.randint(1, 3)):
            cur.execute("INSERT INTO logs (repo_id, job_id, step_number, content)"
                        " VALUES (%s, %s, %s, %s)",
                        (main_id, job_id, step, "compile\nneedle \U0001F600 here\ndone"))
    conn.close()
    return repos, main, wf_ids, [r[0] for r in runs]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_every_cursor_the_server_emits_is_accepted(collector, db, seed):
    rnd = random.Random(seed)
    repos, main, wf_ids, run_ids = insert_data(db, rnd)
    for limit in (1, 2, 3):
        got = walk(collector, "/api/v1/repos", limit)
        assert sorted(i["id"] for i in got) == sorted(repos), "seed %d" % seed
        runs = walk(collector, "/api/v1/repos/%s/runs" % main, limit)
        assert sorted(i["run_id"] for i in runs) == sorted(run_ids), "seed %d" % seed
        wfs = walk(collector, "/api/v1/repos/%s/workflows" % main, limit)
        assert sorted(i["id"] for i in wfs) == sorted(wf_ids), "seed %d" % seed
    hits = walk(collector, "/api/v1/logs/search", 2, q="needle")
    want = db.query("SELECT job_id, step_number FROM logs")
    assert sorted((h["job_id"], h["step_number"]) for h in hits) == \
        sorted((w["job_id"], w["step_number"]) for w in want)


OUT_OF_RANGE = [
    ("/api/v1/logs/search?q=abc&cursor=" + b64("logs|1|99999999999999")),
    ("/api/v1/logs/search?q=abc&cursor=" + b64("logs|1|-1")),
    ("/api/v1/logs/search?q=abc&cursor=" + b64("logs|99999999999999999999|1")),
    ("/api/v1/repos/octo/alpha/runs?cursor=" + b64("runs|999999999999999999|1")),
    ("/api/v1/repos/octo/alpha/runs?cursor=" + b64("runs|-999999999999999999|1")),
    ("/api/v1/repos/octo/alpha/runs?cursor=" + b64("runs|-0|1")),
    ("/api/v1/repos/octo/alpha/workflows?cursor=" + b64("wf|-99999999999999999999")),
    ("/api/v1/repos?cursor=" + b64("repos|\xff")),
    ("/api/v1/repos?cursor=" + b64("repos|50%off")),
    ("/api/v1/alerts?cursor=" + b64("alerts|99999999999999999999")),
]


@pytest.mark.parametrize("path", OUT_OF_RANGE)
def test_out_of_range_cursor_fields_are_400(collector, db, path):
    db.execute("INSERT INTO repositories (id, full_name) VALUES (1001, 'octo/alpha')")
    status, body = collector.http("GET", path)
    assert status == 400, (path, status, body)
    assert body["error"]["code"] == "invalid_parameter" and "cursor" in body["error"]["message"]


def test_non_ascii_search_returns_the_matching_lines(collector, db):
    db.execute("INSERT INTO repositories (id, full_name) VALUES (1, 'octo/emoji')")
    db.execute("INSERT INTO workflow_runs (repo_id, run_id, run_attempt, status)"
               " VALUES (1, 100, 1, 'completed')")
    db.execute("INSERT INTO jobs (repo_id, job_id, run_id, run_attempt, name, status)"
               " VALUES (1, 10, 100, 1, 'build', 'completed')")
    db.execute("INSERT INTO logs (repo_id, job_id, step_number, content) VALUES (1, 10, 1, %s)",
               ("start\ndeploy \U0001F600 ok\nGr\u00fc\u00dfe aus K\u00f6ln\nend",))
    for q, line, text in (("\U0001F600", 2, "deploy \U0001F600 ok"),
                          ("gr\u00fc\u00dfe", 3, "Gr\u00fc\u00dfe aus K\u00f6ln"),
                          ("K\u00f6ln", 3, "Gr\u00fc\u00dfe aus K\u00f6ln")):
        body = get(collector, "/api/v1/logs/search", q=q)
        assert len(body["items"]) == 1, (q, body)
        assert [(x["line"], x["text"]) for x in body["items"][0]["lines"]] == [(line, text)], q


BAD_NAMES = ["octo/wid|gets", "octo/widgets (-7)", "octo/" + "w" * 101, "octo", "octo/..",
             "-" * 40 + "/x", "octo/w\u00efdgets", "octo/wid gets", "octo/widgets/x"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_report_with_a_name_github_would_not_allow_is_refused(ingest, name):
    """With the admin token, which may report for any repository (a repository's own token is
    refused for another name before the name is looked at)."""
    before = db_snapshot(ingest.db.url)
    code, details = report_status(ingest.grpc_addr, make_report(REPO_ID, name, 77),
                                  ingest.tokens["admin"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert "full_name" in details
    assert db_snapshot(ingest.db.url) == before


@pytest.mark.parametrize("field,where", [("created_at", "header.run.created_at"),
                                         ("updated_at", "header.run.updated_at")])
@pytest.mark.parametrize("value", [-1, -86400000, 253402300800000])
def test_report_with_a_timestamp_out_of_range_is_refused(ingest, field, where, value):
    before = db_snapshot(ingest.db.url)
    chunks = make_report(REPO_ID, REPO, 78)
    header = pbwire.chunk_header(
        report_id="ts-%s-%d" % (field, value), agent_version="0.1.0-test", mode=1, sent_at=1,
        repository={"id": REPO_ID, "full_name": REPO, "server_url": "https://github.com"},
        workflow={"name": "CI", "path": ".github/workflows/ci.yml"},
        run=dict({"id": 78, "attempt": 1, "status": "completed", "conclusion": "success",
                  "created_at": 1714000000000, "updated_at": 1714000060000}, **{field: value}))
    code, details = report_status(ingest.grpc_addr, [header] + chunks[1:],
                                  ingest.tokens["ingest"])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, (code, details)
    assert where in details
    assert db_snapshot(ingest.db.url) == before


@pytest.mark.parametrize("name", ["octo/wid|gets", "octo/widgets (-7)", "octo/wid gets"])
def test_webhook_with_a_name_github_would_not_allow_is_refused(collector_factory, db, name):
    """Signed with the organisation secret, for a known repository id: the name is the only
    thing wrong, and it is refused (400) instead of renaming the repository."""
    collector = collector_factory(env={"CIPULSE_WEBHOOK_SECRET": "org-secret-for-names"})
    payload = load_fixture("workflow_job.queued.json")
    register_repo(db, payload["repository"]["full_name"], repo_id=payload["repository"]["id"],
                  secret=None)
    before = db_snapshot(db.url)
    payload["repository"]["full_name"] = name
    status, out = post_webhook(collector, "workflow_job", payload, secret="org-secret-for-names")
    assert status == 400, out
    assert "full_name" in out["error"]["message"], out
    assert db_snapshot(db.url) == before
