"""HTTP keep-alive: one connection serves request after request, whatever the method.

libmicrohttpd closes a connection whose answer was queued on the first call of the request
handler (before the request was read in full), so the collector answered GET, HEAD and DELETE
with "Connection: close": a new connection, and a new thread, per dashboard or API request.
"""
import socket

import pytest


def read_reply(s):
    """One reply (with Content-Length) from s: (status, headers as a lower-cased dict, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(4096)
        assert b, "the collector closed the connection before its reply: %r" % buf
        buf += b
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        b = s.recv(4096)
        assert b, "the collector closed the connection inside its reply"
        body += b
    assert len(body) == n, "more bytes than the reply's Content-Length"
    return int(lines[0].split()[1]), headers, body


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "POST"])
def test_one_connection_serves_several_requests(collector, method):
    s = socket.create_connection(("127.0.0.1", collector.http_port), timeout=15)
    try:
        for i in range(3):
            body = b"{}" if method == "POST" else b""
            s.sendall(b"%s /api/v1/repos HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                      % (method.encode(), len(body), body))
            if method == "HEAD":
                # A HEAD reply has headers only, its Content-Length is the GET's.
                buf = b""
                while b"\r\n\r\n" not in buf:
                    b = s.recv(4096)
                    assert b, "closed after HEAD request %d" % (i + 1)
                    buf += b
                head = buf.split(b"\r\n\r\n")[0].decode().lower()
                assert "connection: close" not in head, head
                continue
            status, headers, _ = read_reply(s)
            # Reads need a token (401), writes are refused (401/405): any answer will do; the
            # point is the connection stays open for the next one.
            assert 200 <= status < 500, status
            assert headers.get("connection", "").lower() != "close", (method, i, headers)
    finally:
        s.close()


def test_a_declared_oversized_body_is_refused_and_its_connection_closed(collector_factory):
    c = collector_factory(env={"CIPULSE_MAX_BODY_BYTES": "1024"})
    s = socket.create_connection(("127.0.0.1", c.http_port), timeout=15)
    try:
        s.sendall(b"GET /api/v1/repos HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        status, headers, _ = read_reply(s)
        assert status == 413, status
        # The body was not read: the connection cannot carry another request.
        assert headers.get("connection", "").lower() == "close", headers
    finally:
        s.close()
