"""Agent reports over gRPC: a good report lands in the tables, once."""
import grpc

import pbwire
from ingest_env import (REPO, REPO_ID, channel, db_snapshot, health_check,  # noqa: F401
                        ingest, make_report, query, report_status, send_report)


def counts_for_run(url, run_id):
    return query(url, "SELECT (SELECT count(*) FROM workflow_runs WHERE run_id = %s), "
                 "(SELECT count(*) FROM jobs WHERE run_id = %s), "
                 "(SELECT count(*) FROM steps s JOIN jobs j USING (repo_id, job_id) "
                 " WHERE j.run_id = %s), "
                 "(SELECT count(*) FROM logs l JOIN jobs j USING (repo_id, job_id) "
                 " WHERE j.run_id = %s)", run_id, run_id, run_id, run_id)[0]


def test_health_check_serving(ingest):
    assert health_check(ingest.grpc_addr) == pbwire.SERVING
    assert health_check(ingest.grpc_addr, "cipulse.v1.Collector") == pbwire.SERVING


def test_health_check_unknown_service(ingest):
    try:
        health_check(ingest.grpc_addr, "no.such.Service")
        raise AssertionError("expected NOT_FOUND")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.NOT_FOUND


def test_good_report_is_stored(ingest, db):
    chunks = make_report(REPO_ID, REPO, run_id=1001, jobs=2, steps=3, log_bytes=300)
    ack = send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    assert ack.get("jobs") == 2 and ack.get("steps") == 6 and ack.get("logs") == 6
    assert not ack.get("duplicate")
    assert counts_for_run(db.url, 1001) == (1, 2, 6, 6)
    rows = query(db.url, "SELECT r.full_name, w.path, wr.conclusion, wr.head_branch "
                 "FROM workflow_runs wr JOIN repositories r ON r.id = wr.repo_id "
                 "JOIN workflows w ON w.repo_id = wr.repo_id AND w.id = wr.workflow_id "
                 "WHERE wr.run_id = 1001")
    assert rows == [(REPO, ".github/workflows/ci.yml", "success", "main")]
    content = query(db.url, "SELECT content, truncated, original_size FROM logs "
                    "WHERE job_id = %s AND step_number = 2", 1001 * 100 + 1)
    assert content[0][0].startswith("job 0 step 2: xxx") and len(content[0][0]) == 300
    assert content[0][1] is True and content[0][2] == 900


def test_reports_are_counted_in_metrics(ingest):
    send_report(ingest.grpc_addr, make_report(REPO_ID, REPO, run_id=1005), ingest.tokens["ingest"])
    report_status(ingest.grpc_addr, [b"\xff\xff"], ingest.tokens["ingest"])
    status, text = ingest.http("GET", "/metrics")
    assert status == 200
    assert 'cipulse_reports_total{result="ok"} 1' in text, text
    assert 'cipulse_reports_total{result="invalid"} 1' in text
    assert "cipulse_ingest_seconds_count 1" in text
    assert "cipulse_report_bytes_total" in text


def test_long_log_in_many_chunks_is_concatenated(ingest, db):
    chunks = make_report(REPO_ID, REPO, run_id=1002, jobs=1, steps=1, log_bytes=70000,
                         log_chunk=1000)
    send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    content = query(db.url, "SELECT content FROM logs WHERE job_id = %s", 1002 * 100 + 1)
    assert content[0][0] == ("job 0 step 1: " + "x" * 70000)[:70000]


def test_same_report_twice_changes_nothing(ingest, db):
    chunks = make_report(REPO_ID, REPO, run_id=1003)
    first = send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    before = db_snapshot(db.url)
    second = send_report(ingest.grpc_addr, chunks, ingest.tokens["ingest"])
    assert not first.get("duplicate") and second.get("duplicate")
    assert db_snapshot(db.url) == before


def test_admin_token_may_report_for_any_repository(ingest, db):
    chunks = make_report(777, "someone/else", run_id=1004, jobs=1, steps=1)
    assert report_status(ingest.grpc_addr, chunks, ingest.tokens["admin"])[0] == \
        grpc.StatusCode.OK
    assert counts_for_run(db.url, 1004) == (1, 1, 1, 1)


def test_unknown_method_is_unimplemented(ingest):
    with channel(ingest.grpc_addr) as ch:
        call = ch.unary_unary("/cipulse.v1.Collector/Nope", request_serializer=None,
                              response_deserializer=None)
        try:
            call(b"", timeout=5)
            raise AssertionError("expected UNIMPLEMENTED")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNIMPLEMENTED
