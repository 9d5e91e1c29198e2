"""TLS end to end: the real collector with CIPULSE_TLS_CERT/CIPULSE_TLS_KEY and the real agent.

A throwaway CA and a server certificate for 127.0.0.1/localhost are made with the openssl CLI
(and a second, unrelated CA). The agent delivers over grpcs:// when it trusts the CA; a
plaintext agent and an agent trusting another CA do not get through, and spool the report
with a warning instead (delivered later by `flush` with the right CA). The HTTP server serves
HTTPS with the same certificate, and nothing in plain HTTP.
"""
import os
import ssl
import subprocess
import urllib.request

import pytest

from agent_fakes import AGENT, FakeGitHub, agent_env, make_job, run_agent, spooled
from harness import wait_for

REPO = "o/r"


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", name + ".key", "-out", name + ".pem", "-subj", "/CN=cipulse test " + name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    return os.path.join(d, name + ".pem")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("pki"))
    ca = make_ca(d, "ca")
    other = make_ca(d, "other-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=127.0.0.1", cwd=d)
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem", cwd=d)
    return {"ca": ca, "other_ca": other, "cert": os.path.join(d, "server.pem"),
            "key": os.path.join(d, "server.key")}


def https_get(url, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        return r.status, r.read()


@pytest.fixture
def tls_collector(collector_factory, pki):
    col = collector_factory(env={"CIPULSE_TLS_CERT": pki["cert"], "CIPULSE_TLS_KEY": pki["key"]},
                            start=False)
    col.start(wait=False)
    url = "https://127.0.0.1:%d/readyz" % col.http_port

    def ready():
        if col.proc.poll() is not None:
            raise RuntimeError("cipulsed exited:\n" + col.log())
        return https_get(url, pki["ca"])[0] == 200
    wait_for(ready, what="cipulsed /readyz over HTTPS")
    return col


@pytest.fixture
def job(tmp_path):
    gh = FakeGitHub()
    t0 = int(__import__("time").time() * 1000) - 60000
    gh.jobs = [make_job(701, "build", status="in_progress", runner="runner-1", t0=t0,
                        steps=[("Set up job", "success", t0, t0 + 1000),
                               ("Run make", "success", t0 + 1000, t0 + 5000)])]
    spool = str(tmp_path / "spool")
    os.makedirs(os.path.join(spool, "home"))
    yield gh, spool
    gh.stop()


def env_for(gh, spool, collector, token, budget="60s", **extra):
    """budget: the send budget; short where the agent cannot get through (it is waited out),
    generous where it must, on a loaded machine too (it counts from the agent's start)."""
    return agent_env(gh.url, collector, spool, CIPULSE_TOKEN=token, CIPULSE_JOB_ID=701,
                     CIPULSE_SEND_BUDGET=budget, **extra)


def test_agent_delivers_over_tls_with_the_ca(tls_collector, pki, job, db):
    gh, spool = job
    token = tls_collector.create_token(REPO)
    env = env_for(gh, spool, "grpcs://%s" % tls_collector.grpc_addr, token,
                  CIPULSE_TLS_CA=pki["ca"])
    r = run_agent(["report", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout + r.stderr
    assert spooled(spool) == []
    assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = 701") == 1
    assert db.scalar("SELECT count(*) FROM steps WHERE job_id = 701") == 2
    assert "tls=on" in tls_collector.log()
    # CIPULSE_TLS=1 with a plain host:port is the same as grpcs://.
    env = env_for(gh, spool, tls_collector.grpc_addr, token, CIPULSE_TLS="1",
                  CIPULSE_TLS_CA=pki["ca"])
    r = run_agent(["report", "--job-status", "success"], env)
    assert b"::warning::" not in r.stdout, r.stdout + r.stderr
    assert db.scalar("SELECT count(*) FROM reports") == 2


@pytest.mark.parametrize("how", ["plaintext", "other-ca", "system-roots"])
def test_agent_that_cannot_talk_tls_spools_then_flushes(tls_collector, pki, job, db, how):
    gh, spool = job
    token = tls_collector.create_token(REPO)
    target = "grpcs://%s" % tls_collector.grpc_addr
    extra = {"CIPULSE_TLS_CA": pki["other_ca"]}
    if how == "plaintext":
        target, extra = "grpc://%s" % tls_collector.grpc_addr, {}
    elif how == "system-roots":
        extra = {}
    r = run_agent(["report", "--job-status", "success"],
                  env_for(gh, spool, target, token, budget="1s", CIPULSE_LOG_LEVEL="debug",
                          **extra))
    assert r.returncode == 0, r.stderr
    assert b"::warning::cipulse: report" in r.stdout and b"spooled for later" in r.stdout, r.stdout
    assert token.encode() not in r.stdout + r.stderr
    # The failed connection keeps gRPC busy for its reconnect back-off; the agent waits for
    # gRPC's clean-up before it exits (it used to exit first: now and then a crash at exit, a
    # gRPC thread using OpenSSL after OpenSSL's exit handler freed it).
    assert b"send: gRPC shut down" in r.stderr, r.stderr
    assert b"still shutting down" not in r.stderr, r.stderr
    assert len(spooled(spool)) == 1
    assert db.scalar("SELECT count(*) FROM reports") == 0
    # With the right CA, the spooled report goes through.
    r = run_agent(["flush"], env_for(gh, spool, "grpcs://%s" % tls_collector.grpc_addr, token,
                                     CIPULSE_TLS_CA=pki["ca"]))
    assert r.returncode == 0, r.stderr
    assert b"::warning::" not in r.stdout, r.stdout
    assert spooled(spool) == []
    assert db.scalar("SELECT count(*) FROM jobs WHERE job_id = 701") == 1


def test_agent_with_unreadable_ca_file_spools_with_a_clear_warning(tls_collector, job, tmp_path):
    gh, spool = job
    env = env_for(gh, spool, "grpcs://%s" % tls_collector.grpc_addr, "tok", budget="1s",
                  CIPULSE_TLS_CA=str(tmp_path / "missing.pem"))
    r = run_agent(["report", "--job-status", "success"], env)
    assert r.returncode == 0, r.stderr
    assert b"could not read CIPULSE_TLS_CA file" in r.stdout, r.stdout
    # Nothing was sent: the report is kept (it used to be dropped as "rejected").
    assert b"spooled for later" in r.stdout, r.stdout
    assert len(spooled(spool)) == 1
    # A flush with the same broken setting keeps it too (it used to drop it).
    r = run_agent(["flush"], env)
    assert r.returncode == 0, r.stderr
    assert b"1 spooled report(s) not delivered yet, 0 dropped" in r.stdout, r.stdout
    assert len(spooled(spool)) == 1


def test_http_serves_https_with_the_same_certificate(tls_collector, pki):
    base = "127.0.0.1:%d" % tls_collector.http_port
    p = subprocess.run(["curl", "-sS", "--cacert", pki["ca"], "https://%s/healthz" % base],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    # The name in the certificate is checked: localhost is in it too.
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki["ca"],
                        "--resolve", "localhost:%d:127.0.0.1" % tls_collector.http_port,
                        "https://localhost:%d/healthz" % tls_collector.http_port],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0 and p.stdout == "200", p.stderr
    # Another CA is refused, and nothing is served in plain HTTP.
    p = subprocess.run(["curl", "-sS", "--cacert", pki["other_ca"], "https://%s/healthz" % base],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 60, (p.returncode, p.stderr)  # peer certificate cannot be authenticated
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                        "http://%s/healthz" % base], capture_output=True, text=True, timeout=10)
    assert p.stdout != "200", p.stdout


def test_collector_refuses_a_key_that_does_not_match(collector_factory, pki):
    col = collector_factory(env={"CIPULSE_TLS_CERT": pki["cert"],
                                 "CIPULSE_TLS_KEY": pki["ca"].replace(".pem", ".key")},
                            start=False)
    col.start(wait=False)
    rc = col.wait_exit(timeout=20)
    assert rc != 0, col.log()
    assert "BEGIN" not in col.log()  # no key material in the log
