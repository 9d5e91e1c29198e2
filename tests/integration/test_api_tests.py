"""The test-results API through the real collector: /api/v1/tests, /api/v1/tests/{id},
/api/v1/failures, /api/v1/failures/{fingerprint} and the run detail's per-job tests and failure
group (team contract of issue 13), against reports sent over gRPC."""
import time
import urllib.parse

from ingest_env import OTHER_REPO, REPO, REPO_ID, ingest  # noqa: F401
from test_failure_groups import OTHER_REPO_ID, send_failed_run
from tests_history import oracle, scripted, send_history

TEST_KEYS = {"id", "repo", "suite", "class_name", "name", "file", "runs", "failures",
             "flaky_runs", "flip_rate", "p50_duration_ms", "p95_duration_ms", "last_result",
             "last_seen", "state"}


def get(col, path, status=200, **params):
    q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    got, body = col.http("GET", path + ("?" + q if q else ""))
    assert got == status, (path, params, got, body)
    return body


def walk(col, path, key, limit, **params):
    """Every page of a list, following next_cursor."""
    items, cursor = [], None
    for _ in range(100):
        body = get(col, path, limit=str(limit), cursor=cursor, **params)
        items += body[key]
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert len(body[key]) == limit
    raise AssertionError("no end of pages")


def history(col):
    attempts, expected = scripted(int(time.time() * 1000) - 86400000)
    send_history(col.grpc_addr, col.tokens["ingest"], REPO_ID, REPO, attempts)
    return attempts, expected


def test_tests_list_filters_sorts_and_pages(ingest):
    attempts, expected = history(ingest)
    want = oracle(attempts)
    body = get(ingest, "/api/v1/tests", repo=REPO, window="30d")
    assert body["next_cursor"] is None
    got = {t["name"]: t for t in body["tests"]}
    assert {n: t["state"] for n, t in got.items()} == expected
    for name, t in got.items():
        assert set(t) == TEST_KEYS and t["repo"] == REPO and len(t["id"]) == 16
        assert (t["runs"], t["failures"], t["flaky_runs"], t["last_result"]) == \
            (want[name]["runs"], want[name]["failures"], want[name]["flaky_runs"],
             want[name]["last_result"])
    # Default sort: flakiness first.
    assert {t["name"] for t in body["tests"][:2]} == {"attempt_flaky", "retry_flaky"}
    flaky = get(ingest, "/api/v1/tests", repo=REPO, window="30d", flaky="true")["tests"]
    assert sorted(t["name"] for t in flaky) == ["attempt_flaky", "retry_flaky"]
    failing = get(ingest, "/api/v1/tests", repo=REPO, window="30d", failing="true")["tests"]
    assert sorted(t["name"] for t in failing) == ["never_main", "new_fail", "old_fail", "pr_new"]
    by_failures = get(ingest, "/api/v1/tests", repo=REPO, window="30d", sort="failures")
    counts = [t["failures"] for t in by_failures["tests"]]
    assert counts == sorted(counts, reverse=True) and counts[0] == 4
    by_duration = get(ingest, "/api/v1/tests", sort="duration", window="30d")["tests"]
    p95 = [t["p95_duration_ms"] for t in by_duration]
    assert p95 == sorted(p95, reverse=True)
    assert get(ingest, "/api/v1/tests", branch="feature", window="30d")["tests"][0]["name"] \
        in ("never_main", "pr_new", "steady")
    # Pages of 3 hold every test once, in the same order as one page.
    paged = walk(ingest, "/api/v1/tests", "tests", 3, repo=REPO, window="30d")
    assert [t["id"] for t in paged] == [t["id"] for t in body["tests"]]


def test_tests_list_refuses_bad_parameters(ingest):
    for params, param in (({"sort": "name"}, "sort"), ({"flaky": "yes"}, "flaky"),
                          ({"workflow": "5"}, "workflow"), ({"window": "2w"}, "window"),
                          ({"cursor": "bm9wZQ"}, "cursor"), ({"limit": "0"}, "limit"),
                          ({"bogus": "1"}, "bogus")):
        body = get(ingest, "/api/v1/tests", status=400, **params)
        assert body["error"]["param"] == param, (params, body)
    get(ingest, "/api/v1/tests", status=404, repo="octo/nope")
    get(ingest, "/api/v1/tests/0123", status=404)
    get(ingest, "/api/v1/tests/0123456789abcdef", status=404)


def test_one_test_with_its_history(ingest):
    history(ingest)
    tests = get(ingest, "/api/v1/tests", repo=REPO, window="30d")["tests"]
    t = next(x for x in tests if x["name"] == "attempt_flaky")
    body = get(ingest, "/api/v1/tests/" + t["id"], window="30d")
    assert body["test"] == t
    h = body["history"]
    assert [(x["run_id"], x["run_attempt"], x["result"]) for x in h] == [
        (504, 1, "passed"), (503, 1, "passed"), (502, 2, "passed"), (502, 1, "failed"),
        (501, 1, "passed")]
    assert h[3]["message"] == "boom attempt_flaky" and h[3]["head_sha"] == "a2"
    assert h[3]["head_branch"] == "main" and h[3]["job_name"] == "test"
    assert h[3]["job_id"] == 5021 and h[3]["duration_ms"] == 2.0 and h[3]["retries"] == 0
    paged = walk(ingest, "/api/v1/tests/" + t["id"], "history", 2)
    assert paged == h


def test_run_detail_lists_failed_tests_and_the_failure_group(ingest):
    history(ingest)
    run = get(ingest, "/api/v1/runs/502", attempt="1")
    job = run["jobs"][0]
    assert job["tests"] == {"total": 7, "passed": 4, "failed": 3, "skipped": 0,
                            "truncated": False}
    assert [(f["name"], f["flaky"], f["new_failure"]) for f in job["failed_tests"]] == [
        ("attempt_flaky", True, True), ("fixed", False, False), ("old_fail", False, False)]
    assert set(job["failed_tests"][0]) == {"id", "suite", "class_name", "name", "message",
                                           "flaky", "new_failure"}
    # The job failed through its tests: its group is made of their messages' error lines
    # ("boom old_fail" alone mentions a failure), which runs 501 and 502 share.
    group = job["failure_group"]
    assert (group["title"], group["runs"], group["repositories"]) == ("boom old_fail", 2, 1)
    assert len(group["fingerprint"]) == 64 and group["first_seen"].endswith("Z")
    # A job that sent no tests has no "tests" key.
    send_failed_run(ingest, ingest.tokens["ingest"], REPO_ID, REPO, 8801, "error: boom")
    job = get(ingest, "/api/v1/runs/8801")["jobs"][0]
    assert "tests" not in job and job["failed_tests"] == []
    assert job["failure_group"]["title"].endswith("error: boom (session <uuid>)")
    # The agent said it sent fewer tests than it met (TestBatch.truncated, on the last batch).
    send_failed_run(ingest, ingest.tokens["ingest"], REPO_ID, REPO, 8802, None,
                    tests=[{"suite": "s", "class_name": "C", "name": "t", "result": 1}],
                    truncated=True)
    job = get(ingest, "/api/v1/runs/8802")["jobs"][0]
    assert job["tests"] == {"total": 1, "passed": 1, "failed": 0, "skipped": 0,
                            "truncated": True}


def test_failure_groups_list_and_detail(ingest):
    tok, other = ingest.tokens["ingest"], ingest.tokens["other"]
    for run in range(8001, 8004):
        send_failed_run(ingest, tok, REPO_ID, REPO, run, "error: connection refused")
    send_failed_run(ingest, other, OTHER_REPO_ID, OTHER_REPO, 8101, "error: connection refused")
    send_failed_run(ingest, tok, REPO_ID, REPO, 8201, "error: disk full")
    body = get(ingest, "/api/v1/failures")
    top = body["failures"][0]
    assert set(top) == {"fingerprint", "title", "runs", "repositories", "repos", "first_seen",
                        "last_seen", "trend", "examples"}
    assert (top["runs"], top["repositories"], top["repos"]) == (4, 2, sorted([REPO, OTHER_REPO]))
    assert sum(d["runs"] for d in top["trend"]) == 4
    assert len(top["examples"]) == 3 and top["examples"][0]["run_id"] == 8101
    assert [f["runs"] for f in body["failures"]] == [4, 1]
    one_repo = get(ingest, "/api/v1/failures", repo=OTHER_REPO)["failures"]
    assert [(f["runs"], f["repos"]) for f in one_repo] == [(1, [OTHER_REPO])]
    assert walk(ingest, "/api/v1/failures", "failures", 1) == body["failures"]
    detail = get(ingest, "/api/v1/failures/" + top["fingerprint"])
    assert detail["failure"]["fingerprint"] == top["fingerprint"]
    assert detail["lines"] == ["<path>:<n>: error: connection refused (session <uuid>)"]
    assert [r["run_id"] for r in detail["runs"]] == [8101, 8003, 8002, 8001]
    assert detail["runs"][0]["repo"] == OTHER_REPO and detail["runs"][0]["head_branch"] == "main"
    assert walk(ingest, "/api/v1/failures/" + top["fingerprint"], "runs", 3) == detail["runs"]
    get(ingest, "/api/v1/failures/" + "0" * 64, status=404)
    get(ingest, "/api/v1/failures/xyz", status=404)
