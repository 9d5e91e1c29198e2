"""The agent's own HTTP client for the GitHub API (agent/http1.c), against the stand-in in
HTTP and HTTPS, with each way a body can end (Content-Length, chunked, connection close).

HTTPS uses the throwaway CA of test_agent_tls (the openssl CLI): the agent trusts it through
SSL_CERT_FILE, OpenSSL's own variable. A server whose certificate comes from another CA, or
does not name the host the agent asked for, is refused, and the report goes without the API,
saying why. A server that accepts the connection and never answers costs the report its time
budget, not more.
"""
import os
import socket
import threading
import time

import pytest

from agent_fakes import FakeGitHub, agent_env, make_job, run_agent
from test_agent_tls import openssl, pki  # noqa: F401 (pki: the module's fixture)

GH_TOKEN = "ghs_faketoken1234567890"


def now_ms():
    return int(time.time() * 1000)


def jobs(t0):
    """A finished job with a log (301) and this one (303, in progress on runner-1)."""
    return [make_job(301, "lint", runner="gh-1", t0=t0,
                     steps=[("Set up job", "success", t0, t0 + 1000),
                            ("Run lint", "failure", t0 + 1000, t0 + 5000)]),
            make_job(303, "build", status="in_progress", runner="runner-1", t0=t0,
                     steps=[("Set up job", "success", t0, t0 + 1000)])]


@pytest.fixture
def stand_in(request, pki):  # noqa: F811
    tls = (pki["cert"], pki["key"]) if request.param == "https" else None
    gh = FakeGitHub(tls=tls)
    yield gh
    gh.stop()


@pytest.fixture(scope="module")
def wrong_name(pki, tmp_path_factory):  # noqa: F811
    """A certificate from the trusted CA for another host name only."""
    d = os.path.dirname(pki["ca"])
    with open(os.path.join(d, "wrong.cnf"), "w") as f:
        f.write("subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "wrong.key", "-out", "wrong.csr",
            "-subj", "/CN=elsewhere.example", cwd=d)
    openssl("x509", "-req", "-in", "wrong.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "wrong.cnf", "-out", "wrong.pem", cwd=d)
    return os.path.join(d, "wrong.pem"), os.path.join(d, "wrong.key")


@pytest.mark.parametrize("stand_in", ["http", "https"], indirect=True)
@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_run_mode_reads_jobs_and_logs_however_the_body_ends(stand_in, framing, fake_collector,
                                                            spool, pki):  # noqa: F811
    t0 = now_ms() - 120000
    stand_in.framing = framing
    stand_in.jobs = jobs(t0)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 2000) // 1000)) + ".1234567Z "
    # Long enough for several reads and chunks; the last line holds the token to mask.
    stand_in.logs = {301: "".join(stamp + "lint line %d\n" % i for i in range(400))
                     + stamp + "FAILED with " + GH_TOKEN + "\n"}
    env = agent_env(stand_in.url, fake_collector.addr, spool, SSL_CERT_FILE=pki["ca"],
                    CIPULSE_LOG_TAIL_LINES="20")
    r = run_agent(["run"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout
    rep = fake_collector.reports[0]
    assert [j["id"] for j in rep.jobs] == [301]
    text, last = rep.tails()[(301, 2)]
    assert text.count("\n") == 20 and last["truncated"]
    assert text.endswith("lint line 399\n" + stamp + "FAILED with ***\n") and GH_TOKEN not in text
    # The log's redirect was followed to the other host name, without the token.
    blob = [q for q in stand_in.requests if q["path"].startswith("/blob/")]
    assert len(blob) == 1 and blob[0]["host"].startswith("localhost:")
    assert "Authorization" not in blob[0]["headers"]
    api = [q for q in stand_in.requests if not q["path"].startswith("/blob/")]
    assert all(q["headers"]["Authorization"] == "Bearer " + GH_TOKEN for q in api)


def _report_against(gh, fake_collector, spool, cafile):
    gh.jobs = jobs(now_ms() - 60000)
    env = agent_env(gh.url, fake_collector.addr, spool, SSL_CERT_FILE=cafile,
                    CIPULSE_TIME_BUDGET="3s")
    r = run_agent(["report", "--job-id=303"], env)
    assert r.returncode == 0, r.stderr
    return r


def test_https_needs_a_trusted_certificate(fake_collector, spool, pki):  # noqa: F811
    gh = FakeGitHub(tls=(pki["cert"], pki["key"]))
    try:
        r = _report_against(gh, fake_collector, spool, pki["other_ca"])
        assert gh.job_list_calls() == []
    finally:
        gh.stop()
    assert (b"::warning::cipulse: report degraded, GitHub API failed (GitHub API: TLS with "
            b"127.0.0.1 port %d: certificate not accepted: " % gh.port) in r.stdout, r.stdout
    # Still reported, from what the runner knows.
    job = fake_collector.reports[0].jobs[0]
    assert job["id"] == 303 and job["runner_name"] == "runner-1"


def test_https_needs_a_certificate_for_the_host(fake_collector, spool, pki,  # noqa: F811
                                                wrong_name):
    gh = FakeGitHub(tls=wrong_name)
    try:
        r = _report_against(gh, fake_collector, spool, pki["ca"])
        assert gh.job_list_calls() == []
    finally:
        gh.stop()
    assert b"certificate not accepted: IP address mismatch" in r.stdout, r.stdout
    assert fake_collector.reports[0].jobs[0]["id"] == 303


def test_a_server_that_never_answers_costs_the_time_budget(fake_collector, spool):
    # Accepts connections (the kernel's backlog) and never reads or answers.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []
    stop = threading.Event()

    def hold():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
    t = threading.Thread(target=hold, daemon=True)
    t.start()
    try:
        env = agent_env("http://127.0.0.1:%d" % srv.getsockname()[1], fake_collector.addr,
                        spool, CIPULSE_TIME_BUDGET="1s")
        r = run_agent(["report", "--job-id=303"], env)
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()
    assert r.returncode == 0, r.stderr
    assert (b"::warning::cipulse: report degraded, GitHub API failed (GitHub API: timed out "
            b"reading from 127.0.0.1 port ") in r.stdout, r.stdout
    assert held, "the agent never connected"
    assert fake_collector.reports[0].jobs[0]["id"] == 303


def test_https_issuers_come_from_the_hashed_directory_first(fake_collector, spool, pki,  # noqa: F811
                                                            tmp_path):
    # Parsing the whole CA bundle costs more CPU than the rest of a report: the issuer is looked
    # up in the hashed directory (SSL_CERT_DIR here, OpenSSL's default otherwise) first.
    d = tmp_path / "certs"
    d.mkdir()
    (d / "test-ca.pem").write_bytes(open(pki["ca"], "rb").read())
    openssl("rehash", str(d), cwd=str(tmp_path))
    gh = FakeGitHub(tls=(pki["cert"], pki["key"]))
    try:
        gh.jobs = jobs(now_ms() - 60000)
        env = agent_env(gh.url, fake_collector.addr, spool, SSL_CERT_DIR=str(d),
                        CIPULSE_LOG_LEVEL="debug")
        r = run_agent(["report", "--job-id=303"], env)
    finally:
        gh.stop()
    assert r.returncode == 0 and b"::warning::" not in r.stdout, r.stdout + r.stderr
    assert len(gh.job_list_calls()) == 1
    assert b"trust store: the hashed directory" in r.stderr
    assert b"CA bundle" not in r.stderr, r.stderr
    assert fake_collector.reports[0].job(303)["name"] == "build"


def test_https_tries_the_ca_bundle_before_refusing(fake_collector, spool, pki):  # noqa: F811
    # Neither the system's directory nor its bundle knows the test CA.
    gh = FakeGitHub(tls=(pki["cert"], pki["key"]))
    try:
        gh.jobs = jobs(now_ms() - 60000)
        env = agent_env(gh.url, fake_collector.addr, spool, CIPULSE_LOG_LEVEL="debug",
                        CIPULSE_TIME_BUDGET="3s")
        r = run_agent(["report", "--job-id=303"], env)
    finally:
        gh.stop()
    assert r.returncode == 0, r.stderr
    assert gh.job_list_calls() == []
    assert b"issuer not in the hashed directory" in r.stderr, r.stderr
    assert b"trust store: the CA bundle and directory" in r.stderr
    assert (b"certificate not accepted: unable to get local issuer certificate"
            in r.stdout), r.stdout


def test_https_tries_the_ca_bundle_for_a_self_signed_certificate(fake_collector, spool, pki,  # noqa: F811
                                                                 tmp_path):
    # A self-signed server certificate (a GitHub Enterprise Server's, say) is trusted through a
    # bundle on distributions without hash links: the directory's "self-signed certificate" is
    # worth a try with the bundle too, as a missing issuer is (it used to refuse at once).
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ss.key",
            "-out", "ss.pem", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            cwd=str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    gh = FakeGitHub(tls=(str(tmp_path / "ss.pem"), str(tmp_path / "ss.key")))
    try:
        gh.jobs = jobs(now_ms() - 60000)
        env = agent_env(gh.url, fake_collector.addr, spool, CIPULSE_LOG_LEVEL="debug",
                        SSL_CERT_DIR=str(empty), CIPULSE_TIME_BUDGET="3s")
        r = run_agent(["report", "--job-id=303"], env)
    finally:
        gh.stop()
    assert r.returncode == 0, r.stderr
    assert gh.job_list_calls() == []
    assert b"issuer not in the hashed directory (self-signed certificate)" in r.stderr, r.stderr
    assert b"trust store: the CA bundle and directory" in r.stderr, r.stderr
    assert b"certificate not accepted: self-signed certificate" in r.stdout, r.stdout
