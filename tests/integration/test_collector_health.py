"""`cipulsed health`: the image's HEALTHCHECK, run against a real collector.

It must say ready (exit 0) only when the collector's gRPC health service answers SERVING and
its HTTP /readyz answers 200, reached through the same settings the collector was started
with (plain, TLS, the probe listener), and exit 1 with a reason when the collector is gone.
"""
import signal

from harness import CIPULSED, free_port, run_checked
from test_agent_tls import pki, tls_collector  # noqa: F401  (fixtures)


def health(col, *args, env=None):
    e = dict(col.env)
    e.update(env or {})
    return run_checked([CIPULSED, "health"] + list(args), env=e, capture_output=True,
                       text=True, timeout=60)


def test_running_collector_is_healthy_and_a_stopped_one_is_not(collector):
    p = health(collector)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "health: SERVING" in p.stdout
    assert "/readyz: 200" in p.stdout
    assert "%d" % collector.grpc_port in p.stdout and "%d" % collector.http_port in p.stdout

    collector.stop(signal.SIGTERM)
    p = health(collector, "--timeout", "3s")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "not ready" in p.stderr
    assert "UNAVAILABLE" in p.stderr  # gRPC: nobody listening
    assert "HTTP /readyz" in p.stderr


def test_wildcard_listen_address_is_reached_on_loopback(collector_factory):
    grpc_port, http_port = free_port(), free_port()
    col = collector_factory(env={"CIPULSE_GRPC_ADDR": "0.0.0.0:%d" % grpc_port,
                                 "CIPULSE_HTTP_ADDR": "0.0.0.0:%d" % http_port}, start=False)
    col.grpc_port, col.http_port = grpc_port, http_port
    col.start()
    p = health(col)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "127.0.0.1:%d" % grpc_port in p.stdout


def test_only_grpc_down_is_not_healthy(collector):
    # HTTP answers, but the gRPC address the settings name has nobody behind it.
    p = health(collector, env={"CIPULSE_GRPC_ADDR": "127.0.0.1:%d" % free_port()})
    assert p.returncode == 1
    assert "gRPC health: UNAVAILABLE" in p.stderr and "HTTP /readyz" not in p.stderr


def test_probe_listener_is_used_when_set(collector_factory):
    probe = free_port()
    col = collector_factory(env={"CIPULSE_PROBE_ADDR": "127.0.0.1:%d" % probe})
    p = health(col)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "http://127.0.0.1:%d/readyz: 200" % probe in p.stdout


def test_tls_collector(tls_collector, pki):  # noqa: F811
    # Verified against the CA that issued the collector's certificate.
    p = health(tls_collector, "--ca", pki["ca"])
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "grpcs://" in p.stdout and "https://" in p.stdout
    # The certificate names localhost too: ask for that name, connect to the address.
    p = health(tls_collector, "--ca", pki["ca"], "--server-name", "localhost")
    assert p.returncode == 0, (p.stdout, p.stderr)
    # A CA that did not issue it: not trusted, so not healthy.
    p = health(tls_collector, "--ca", pki["other_ca"], "--timeout", "3s")
    assert p.returncode == 1, (p.stdout, p.stderr)
    # A name the certificate does not carry.
    p = health(tls_collector, "--ca", pki["ca"], "--server-name", "elsewhere.example",
               "--timeout", "3s")
    assert p.returncode == 1, (p.stdout, p.stderr)


def test_bad_arguments():
    for args in (["--timeout", "soon"], ["--bogus", "x"], ["--ca"]):
        p = run_checked([CIPULSED, "health"] + args, capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, args
        assert "cipulsed: health:" in p.stderr


def test_a_second_collector_on_the_same_grpc_address_does_not_start(collector_factory):
    """gRPC listens with SO_REUSEPORT unless told not to: a second collector on the same address
    used to start without a word and take a share of the agents' connections (a plaintext one
    beside a TLS one failed their handshakes: test_agent_tls's "Handshake read failed")."""
    first = collector_factory()
    second = collector_factory(env={"CIPULSE_GRPC_ADDR": first.grpc_addr}, start=False)
    second.start(wait=False)
    rc = second.wait_exit(timeout=60)
    assert rc != 0, second.log()
    assert "could not listen on CIPULSE_GRPC_ADDR" in second.log(), second.log()
    assert health(first).returncode == 0
