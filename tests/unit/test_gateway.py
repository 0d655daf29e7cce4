"""The gateway's request reading, without sockets."""

from __future__ import annotations

from authgate.gateway.headers import Incoming


def test_incoming_keeps_only_what_the_upstream_may_see():
    raw = [
        (b"host", b"gw.example"),
        (b"authorization", b"Bearer abc"),
        (b"connection", b"keep-alive, X-Hop"),
        (b"x-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"x-authgate-subject", b"mallory"),
        (b"X-Authgate-Meta-A", b"b"),
        (b"x-forwarded-for", b"10.0.0.1"),
        (b"x-forwarded-host", b"evil"),
        (b"content-type", b"application/json"),
        (b"content-length", b"12"),
        (b"x-custom", b"kept"),
        (b"accept", b"*/*"),
    ]
    request = Incoming(raw, b"x-authgate-")
    assert request.headers == [
        (b"content-type", b"application/json"),
        (b"x-custom", b"kept"),
        (b"accept", b"*/*"),
    ]
    assert request.authorization == [b"Bearer abc"]
    assert (request.host, request.forwarded_for) == (b"gw.example", b"10.0.0.1")
    assert (request.has_body, request.content_length) == (True, 12)


def test_incoming_chunked_body_has_no_length():
    request = Incoming([(b"transfer-encoding", b"chunked")], b"x-authgate-")
    assert (request.has_body, request.content_length, request.headers) == (True, None, [])
