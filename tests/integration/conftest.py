"""pytest fixtures: one PostgreSQL cluster per session, a fresh database and collector per test.

scripts/run-integration.sh runs the tests in pytest-xdist workers: each worker is a session of its
own, so each has its own cluster; workers share only the source tree and the port reservations
(harness.free_port)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from agent_fakes import FakeCollector, FakeGitHub  # noqa: E402
from harness import (CIPULSED, Collector, Database, GitHubStandIn, PgCluster,  # noqa: E402
                     release_ports)

# The only skips a run may have, by reason, each with why it is expected. Any other skip (a tool
# or a binary missing) fails the run: a suite that skips silently claims more than it checks.
# scripts/run-integration.sh runs pytest with -rs, which lists every skip and its reason. Under
# pytest-xdist the hooks below run in the controlling process too, which sees every worker's reports.
EXPECTED_SKIPS = {  # reason (its beginning) -> why the skip is expected
    "mounting a small tmpfs needs root (CAP_SYS_ADMIN)": "the full-disk test of the agent's spool "
                                                          "fills a 64 KiB tmpfs, which only root "
                                                          "can mount",
    "commit 1fd96e9 is not in this clone": "the old-collector test builds main@1fd96e9's "
                                            "collector from git history, which a source "
                                            "tarball lacks (the stand-in answering like it "
                                            "still runs: test_spooled_report_keeps_its_tests)",
    "asset name below is for x64": "release assets are built for x86_64 only; the check of "
                                   "their names cannot run on other machines",
}
_unexpected_skips = []


def _skip_reason(report):
    if isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
    else:
        reason = str(report.longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if not any(reason.startswith(known) for known in EXPECTED_SKIPS):
            _unexpected_skips.append((report.nodeid, reason))


def pytest_terminal_summary(terminalreporter):
    if _unexpected_skips:
        terminalreporter.section("unexpected skips (not in conftest.EXPECTED_SKIPS)")
        for nodeid, reason in _unexpected_skips:
            terminalreporter.write_line("%s: %s" % (nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    if _unexpected_skips and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _port_reservations():
    """Ends the reservations of the ports the test took (harness.free_port) after its teardown:
    by then its collectors have stopped, and the session's PostgreSQL holds its port bound."""
    yield
    release_ports()


@pytest.fixture(scope="session")
def pg_cluster():
    if not os.path.exists(CIPULSED):
        pytest.fail("%s is missing: run `make` first" % CIPULSED)
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def db(pg_cluster):
    """A fresh database with the schema applied: a copy of one migrated once per cluster
    (PgCluster.migrated_template), dropped after the test."""
    d = Database(pg_cluster, pg_cluster.create_database(template=pg_cluster.migrated_template()))
    yield d
    pg_cluster.drop_database(d.name)


@pytest.fixture
def empty_db(pg_cluster):
    """A fresh, empty database, for tests of the migrations themselves (the collector applies
    them when it starts, `cipulsed migrate` does); dropped after the test."""
    d = Database(pg_cluster, pg_cluster.create_database())
    yield d
    pg_cluster.drop_database(d.name)


@pytest.fixture
def collector_factory(db):
    """Starts collectors against the test's database: factory(env=None, start=True)."""
    started = []

    def make(env=None, start=True):
        c = Collector(db, env=env)
        started.append(c)
        if start:
            c.start()
        return c

    yield make
    errors = []
    for c in started:
        try:
            c.stop()
        except AssertionError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def collector(collector_factory):
    """A running collector with migrations applied."""
    return collector_factory()


@pytest.fixture
def github():
    """An HTTP stand-in for the GitHub REST API that records requests."""
    g = GitHubStandIn()
    yield g
    g.close()


@pytest.fixture
def fake_github():
    """The agent tests' GitHub API stand-in (agent_fakes.FakeGitHub)."""
    g = FakeGitHub()
    yield g
    g.stop()


@pytest.fixture
def fake_collector():
    """A recording gRPC collector stand-in that can be scripted (agent_fakes.FakeCollector)."""
    c = FakeCollector()
    yield c
    c.stop()


@pytest.fixture
def spool(tmp_path):
    """An empty spool directory with a home directory for the agent inside."""
    d = tmp_path / "spool"
    (d / "home").mkdir(parents=True)
    return str(d)
