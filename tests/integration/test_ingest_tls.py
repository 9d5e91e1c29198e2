"""gRPC over TLS (CIPULSE_TLS_CERT/KEY), seen by an independent client (python3-grpcio)."""
import grpc

import pbwire
from ingest_env import CHECK, REPO, REPO_ID, REPORT, make_report
from test_agent_tls import pki, tls_collector  # noqa: F401  (fixtures: a CA and a TLS collector)


def secure_channel(addr, ca_path):
    with open(ca_path, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    return grpc.secure_channel(addr, creds)


def test_health_and_report_over_tls(tls_collector, pki, db):  # noqa: F811
    token = tls_collector.create_token(REPO)
    with secure_channel(tls_collector.grpc_addr, pki["ca"]) as ch:
        check = ch.unary_unary(CHECK, request_serializer=None, response_deserializer=None)
        resp = check(pbwire.encode(pbwire.HEALTH_REQ, {"service": ""}), timeout=10)
        assert pbwire.decode(pbwire.HEALTH_RESP, resp)["status"] == pbwire.SERVING
        report = ch.stream_unary(REPORT, request_serializer=None, response_deserializer=None)
        ack = report(iter(make_report(REPO_ID, REPO, 5001)),
                     metadata=[("authorization", "Bearer " + token)], timeout=10)
        assert pbwire.decode(pbwire.ACK, ack)["jobs"] == 2
    assert db.scalar("SELECT count(*) FROM jobs WHERE run_id = 5001") == 2


def test_plaintext_and_untrusted_clients_get_nothing(tls_collector, pki, db):  # noqa: F811
    req = pbwire.encode(pbwire.HEALTH_REQ, {"service": ""})
    for ch in (grpc.insecure_channel(tls_collector.grpc_addr),
               secure_channel(tls_collector.grpc_addr, pki["other_ca"])):
        with ch:
            check = ch.unary_unary(CHECK, request_serializer=None, response_deserializer=None)
            try:
                check(req, timeout=5)
                raise AssertionError("a call without the right TLS went through")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNAVAILABLE
