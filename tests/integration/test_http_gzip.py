"""Compressed answers (collector/http): the dashboard's scripts and styles from the gzip copies
the build writes beside them, and large in-memory answers (JSON, /metrics) gzipped on the fly,
each only to a client whose Accept-Encoding allows gzip, with Vary: Accept-Encoding."""
import gzip
import http.client
import json

import pytest

from harness import collector_on_a_new_database

APP_JS = b"console.log('cipulse');\n" * 200  # 4.8 kB
STYLE = b"body{color:#123}\n" * 100


@pytest.fixture(scope="module")
def served(pg_cluster, tmp_path_factory):
    web = tmp_path_factory.mktemp("web")
    (web / "assets").mkdir()
    (web / "index.html").write_text("<!doctype html><title>cipulse</title>\n")
    (web / "assets" / "app-1a2b.js").write_bytes(APP_JS)
    (web / "assets" / "app-1a2b.js.gz").write_bytes(gzip.compress(APP_JS))
    (web / "assets" / "style-3c4d.css").write_bytes(STYLE)  # no gzip copy
    with collector_on_a_new_database(pg_cluster, env={"CIPULSE_WEB_DIR": str(web)}) as (_db, col):
        for i in range(12):  # a repository list over 1 kB
            status, _ = col.http("POST", "/api/v1/repos", {"full_name": "octo/gz%02d" % i},
                                 headers=col.admin_headers())
            assert status in (200, 201)
        yield col


def get(col, path, accept=None, headers=None):
    """GET on a connection of its own: (status, lower-cased headers, raw body bytes)."""
    hdrs = dict(headers or {})
    if accept is not None:
        hdrs["Accept-Encoding"] = accept
    conn = http.client.HTTPConnection("127.0.0.1", col.http_port, timeout=30)
    try:
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        conn.close()


@pytest.mark.parametrize("accept", ["gzip, deflate, br, zstd", "br;q=1, gzip;q=0.5", "*"])
def test_an_asset_with_a_gzip_copy_is_answered_from_it(served, accept):
    status, h, body = get(served, "/assets/app-1a2b.js", accept)
    assert status == 200 and h.get("content-encoding") == "gzip", h
    assert h["vary"] == "Accept-Encoding" and h["content-type"].startswith("text/javascript")
    assert "immutable" in h["cache-control"]
    assert int(h["content-length"]) == len(body) < len(APP_JS)
    assert gzip.decompress(body) == APP_JS


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0", "deflate, br", "gzip;q=0, *"])
def test_an_asset_goes_as_it_is_to_a_client_without_gzip(served, accept):
    status, h, body = get(served, "/assets/app-1a2b.js", accept)
    assert status == 200 and "content-encoding" not in h, h
    assert h["vary"] == "Accept-Encoding" and body == APP_JS


def test_an_asset_without_a_gzip_copy_does_not_vary(served):
    status, h, body = get(served, "/assets/style-3c4d.css", "gzip")
    assert status == 200 and body == STYLE
    assert "content-encoding" not in h and "vary" not in h, h
    # index.html (and the app's paths that answer it) are small: as they are.
    status, h, body = get(served, "/repos/octo/gz01", "gzip")
    assert status == 200 and b"<title>cipulse</title>" in body and "content-encoding" not in h


def test_large_answers_are_gzipped_for_clients_that_accept_it(served):
    admin = served.admin_headers()
    status, h, plain = get(served, "/api/v1/repos?limit=50", None, admin)
    assert status == 200 and "content-encoding" not in h and h["vary"] == "Accept-Encoding"
    assert len(plain) >= 1024, len(plain)
    status, h, body = get(served, "/api/v1/repos?limit=50", "gzip", admin)
    assert status == 200 and h["content-encoding"] == "gzip" and h["vary"] == "Accept-Encoding"
    assert h["content-type"] == "application/json"
    assert int(h["content-length"]) == len(body) < len(plain)
    assert json.loads(gzip.decompress(body)) == json.loads(plain)
    # The Prometheus exposition too (Prometheus asks for gzip).
    status, h, body = get(served, "/metrics", "gzip")
    assert status == 200 and h["content-encoding"] == "gzip"
    assert b"# TYPE cipulse_reports_total counter" in gzip.decompress(body)


def test_small_answers_go_as_they_are(served):
    status, h, body = get(served, "/api/v1/repos/octo/gz01", "gzip", served.admin_headers())
    assert status == 200 and len(body) < 1024, len(body)
    assert "content-encoding" not in h and "vary" not in h, h
    assert "octo/gz01" in body.decode()
    status, h, body = get(served, "/api/v1/no-such", "gzip")
    assert status == 404 and "content-encoding" not in h and json.loads(body)["error"]
