"""Flaky / new-failure classification (sql/009_tests_failures.sql: cipulse_test_window,
cipulse_job_failed_tests) against the ground truth of generated histories sent through the
real collector (tests_history.py)."""
import time

import pytest

from ingest_env import ingest, query  # noqa: F401
from tests_history import generated, oracle, scripted, send_history

WINDOW = "SELECT t.name, w.runs, w.failures, w.flaky_runs, w.flip_rate, w.last_result, " \
    "w.state FROM cipulse_test_window(now() - interval '30 days', %s, NULL, NULL, NULL) w " \
    "JOIN tests t USING (repo_id, test_id)"


def classified(url, repo_id):
    return {r[0]: {"runs": r[1], "failures": r[2], "flaky_runs": r[3], "flip_rate": r[4],
                   "last_result": r[5], "state": r[6]} for r in query(url, WINDOW, repo_id)}


def assert_matches(got, want):
    assert set(got) == set(want)
    for name in want:
        w, g = want[name], got[name]
        assert g["flip_rate"] == pytest.approx(w["flip_rate"]), name
        assert {k: v for k, v in g.items() if k != "flip_rate"} == \
            {k: v for k, v in w.items() if k != "flip_rate"}, name


def test_scripted_history(ingest, db):
    """One hand-written history per state: flaky across attempts, flaky by retries, a new
    failure on main, one on a branch, already failing, fixed, never run on main."""
    attempts, expected = scripted(int(time.time() * 1000) - 86400000)
    send_history(ingest.grpc_addr, ingest.tokens["ingest"], 424242, "octo/widgets", attempts)
    got = classified(db.url, 424242)
    assert {k: v["state"] for k, v in got.items()} == expected
    # The oracle agrees with the hand-written states (it is the rule written twice).
    assert {k: v["state"] for k, v in oracle(attempts).items()} == expected
    assert_matches(got, oracle(attempts))
    assert got["attempt_flaky"]["flaky_runs"] == 1 and got["old_fail"]["runs"] == 4
    assert got["fixed"]["flip_rate"] == pytest.approx(1 / 4)
    # Per job, as the run detail and the job summary see it.
    job_502_1 = query(db.url, "SELECT f.name, f.flaky, f.new_failure FROM "
                      "jobs j, cipulse_job_failed_tests(j.repo_id, j.job_id, 50) f WHERE j.job_id = 5021")
    # attempt_flaky failed on main after passing there: flaky and, by the rule, new.
    assert job_502_1 == [("attempt_flaky", True, True), ("fixed", False, False),
                         ("old_fail", False, False)]
    job_505 = query(db.url, "SELECT f.name, f.flaky, f.new_failure, f.total FROM "
                    "jobs j, cipulse_job_failed_tests(j.repo_id, j.job_id, 50) f WHERE j.job_id = 5051")
    assert job_505 == [("never_main", False, False, 2), ("pr_new", False, True, 2)]
    job_504 = query(db.url, "SELECT f.name, f.new_failure FROM jobs j, cipulse_job_failed_tests(j.repo_id, j.job_id, 1) f WHERE j.job_id = 5041")
    assert job_504 == [("new_fail", True)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_history_matches_the_ground_truth(ingest, db, seed):
    attempts = generated(int(time.time() * 1000) - 86400000, seed)
    send_history(ingest.grpc_addr, ingest.tokens["ingest"], 424242, "octo/widgets", attempts)
    want = oracle(attempts)
    got = classified(db.url, 424242)
    assert_matches(got, want)
    # The history exercises every state, so a rule that lost one would show.
    assert {"flaky", "passing"} <= {w["state"] for w in want.values()}
